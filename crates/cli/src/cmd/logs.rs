//! `shoalctl logs POD|TYPE/NAME [-c CONTAINER] [-f] [--tail N] [--since D] [-p]
//! [--timestamps]`: a container's log from the hub's standard
//! `GET /api/v1/namespaces/NS/pods/NAME/log` endpoint (which fetches it from the node's
//! agent), copied to stdout as it arrives. For a workload (`deploy/web`, `ds/collector`,
//! `job/x`, `rc/x`, `rs/x`) the first of its pods is used, as kubectl does.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::Value;

use super::{parse_duration, CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::fields::{arr, pairs, s};

#[derive(Debug, clap::Args)]
pub struct Logs {
    /// POD, or TYPE/NAME of a pod or workload.
    #[arg(value_name = "POD")]
    target: String,
    /// Container name (needed when the pod has several).
    #[arg(short = 'c', long)]
    container: Option<String>,
    /// Keep streaming new lines.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only the last N lines (-1: all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    tail: i64,
    /// Only lines newer than this: 30s, 5m, 1h.
    #[arg(long, value_parser = parse_duration)]
    since: Option<Duration>,
    /// The previous (crashed) instance's log.
    #[arg(short = 'p', long)]
    previous: bool,
    /// Prefix each line with its RFC 3339 timestamp.
    #[arg(long)]
    timestamps: bool,
}

/// The log endpoint's query (pure).
pub fn log_query(
    container: Option<&str>,
    follow: bool,
    tail: i64,
    since: Option<Duration>,
    previous: bool,
    timestamps: bool,
) -> String {
    let tail = if tail >= 0 {
        tail.to_string()
    } else {
        String::new()
    };
    let since = since
        .map(|d| d.as_secs().max(1).to_string())
        .unwrap_or_default();
    client::query(&[
        ("container", container.unwrap_or_default()),
        ("follow", if follow { "true" } else { "" }),
        ("tailLines", &tail),
        ("sinceSeconds", &since),
        ("previous", if previous { "true" } else { "" }),
        ("timestamps", if timestamps { "true" } else { "" }),
    ])
}

impl Logs {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let sess = Session::connect(g)?;
        let pod = pod_of(&sess, &self.target)?;
        let ns = sess.conn.namespace.clone();
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}/log{}",
            client::encode(&ns),
            client::encode(&pod),
            log_query(
                self.container.as_deref(),
                self.follow,
                self.tail,
                self.since,
                self.previous,
                self.timestamps
            )
        );
        let mut body = sess.client.stream(&path, client::TEXT)?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = body.read(&mut buf).map_err(CmdError::Stdout)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
        Ok(Outcome::Done)
    }
}

/// The pod a logs/exec target names: `NAME`, `pod/NAME`, or a workload's first pod
/// (running ones first).
pub fn pod_of(sess: &Session, target: &str) -> Result<String, CmdError> {
    let Some((t, name)) = target.split_once('/') else {
        return Ok(target.to_string());
    };
    let r = sess.resolve(t)?;
    if r.kind == "Pod" {
        return Ok(name.to_string());
    }
    let obj = sess
        .client
        .get(&r.item_path(sess.namespace_for(r), name), client::JSON)?;
    let mut sel: Vec<String> = pairs(&obj, "/spec/selector/matchLabels")
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if sel.is_empty() {
        sel = pairs(&obj, "/spec/selector")
            .into_iter()
            .filter(|(_, v)| !v.starts_with('{') && !v.starts_with('['))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
    }
    if sel.is_empty() {
        return Err(CmdError::Usage(format!(
            "cannot find the pods of {target}: it has no label selector"
        )));
    }
    let q = client::query(&[("labelSelector", &sel.join(","))]);
    let list = sess.client.get(
        &format!(
            "/api/v1/namespaces/{}/pods{q}",
            client::encode(&sess.conn.namespace)
        ),
        client::JSON,
    )?;
    let mut pods: Vec<&Value> = arr(&list, "/items").iter().collect();
    pods.sort_by_key(|p| {
        (
            s(p, "/status/phase") != "Running",
            s(p, "/metadata/name").to_string(),
        )
    });
    pods.first()
        .map(|p| s(p, "/metadata/name").to_string())
        .ok_or_else(|| CmdError::Usage(format!("{target} has no pods")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_carries_every_option() {
        assert_eq!(log_query(None, false, -1, None, false, false), "");
        assert_eq!(
            log_query(
                Some("c1"),
                true,
                10,
                Some(Duration::from_secs(300)),
                true,
                true
            ),
            "?container=c1&follow=true&tailLines=10&sinceSeconds=300&previous=true&timestamps=true"
        );
    }
}
