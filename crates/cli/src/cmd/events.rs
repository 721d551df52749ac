//! `shoalctl events [--for TYPE/NAME] [--types Warning,...] [-A] [-w]`: the namespace's
//! events, oldest first, in kubectl's `events` columns (LAST SEEN, TYPE, REASON, OBJECT,
//! MESSAGE); `-w` keeps printing new ones.

use std::io::Write;

use serde_json::Value;

use super::describe::last_seen;
use super::watch::{follow, Next};
use super::{CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::fields::{age, arr, now_secs, parse_time, s};
use crate::output::{render_line, Table};

#[derive(Debug, clap::Args)]
pub struct Events {
    /// Only events about this object (TYPE/NAME).
    #[arg(long = "for", value_name = "TYPE/NAME")]
    for_object: Option<String>,
    /// Only events of these types (Normal, Warning), comma-separated.
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    /// Events of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Keep printing new events (Ctrl-C ends).
    #[arg(short = 'w', long)]
    watch: bool,
    /// Print without the header line.
    #[arg(long)]
    no_headers: bool,
}

/// One event's row (pure).
pub fn row(e: &Value, now: i64, with_namespace: bool) -> Vec<String> {
    let mut r = Vec::with_capacity(6);
    if with_namespace {
        r.push(s(e, "/metadata/namespace").to_string());
    }
    let obj = format!(
        "{}/{}",
        s(e, "/involvedObject/kind"),
        s(e, "/involvedObject/name")
    );
    r.extend([
        age(last_seen(e), now),
        s(e, "/type").to_string(),
        s(e, "/reason").to_string(),
        obj,
        s(e, "/message").replace('\n', " "),
    ]);
    r
}

impl Events {
    fn wanted(&self, e: &Value) -> bool {
        self.types.is_empty()
            || self
                .types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(s(e, "/type")))
    }

    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let sess = Session::connect(g)?;
        let mut fields = Vec::new();
        if let Some(f) = &self.for_object {
            let (t, name) = f
                .split_once('/')
                .filter(|(t, n)| !t.is_empty() && !n.is_empty())
                .ok_or_else(|| CmdError::Usage(format!("--for must be TYPE/NAME, not {f:?}")))?;
            let r = sess.resolve(t)?;
            fields.push(format!("involvedObject.kind={}", r.kind));
            fields.push(format!("involvedObject.name={name}"));
        }
        let ns = (!self.all_namespaces).then_some(sess.conn.namespace.as_str());
        let base = match ns {
            Some(ns) => format!("/api/v1/namespaces/{}/events", client::encode(ns)),
            None => "/api/v1/events".to_string(),
        };
        let path = format!(
            "{base}{}",
            client::query(&[("fieldSelector", &fields.join(","))])
        );
        let list = sess.client.get(&path, client::JSON)?;
        let mut items: Vec<Value> = arr(&list, "/items")
            .iter()
            .filter(|e| self.wanted(e))
            .cloned()
            .collect();
        items.sort_by_key(|e| parse_time(last_seen(e)).unwrap_or(0));
        let now = now_secs();
        let mut headers: Vec<String> = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
            .map(String::from)
            .to_vec();
        if self.all_namespaces {
            headers.insert(0, "NAMESPACE".into());
        }
        let t = Table {
            headers,
            rows: items
                .iter()
                .map(|e| row(e, now, self.all_namespaces))
                .collect(),
        };
        let mut widths = Vec::new();
        t.widen(&mut widths, !self.no_headers);
        if t.rows.is_empty() && !self.watch {
            match ns {
                Some(ns) => eprintln!("No events found in {ns} namespace."),
                None => eprintln!("No events found."),
            }
            return Ok(Outcome::Done);
        }
        if !self.no_headers {
            out.write_all(render_line(&t.headers, &widths).as_bytes())?;
        }
        for r in &t.rows {
            out.write_all(render_line(r, &widths).as_bytes())?;
        }
        out.flush()?;
        if self.watch {
            let rv = s(&list, "/metadata/resourceVersion").to_string();
            follow(&sess, &path, client::JSON, rv, |kind, e| {
                if kind != "DELETED" && self.wanted(e) {
                    out.write_all(
                        render_line(&row(e, now_secs(), self.all_namespaces), &widths).as_bytes(),
                    )?;
                    out.flush()?;
                }
                Ok(Next::More)
            })?;
        }
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_name_the_object_and_age() {
        let e = json!({"metadata": {"namespace": "default"}, "type": "Warning", "reason": "FailedScheduling",
                       "involvedObject": {"kind": "Pod", "name": "web"}, "message": "0/1 nodes\nare available",
                       "lastTimestamp": "2025-01-01T00:00:00Z"});
        let now = parse_time("2025-01-01T00:00:30Z").expect("time");
        assert_eq!(
            row(&e, now, false),
            [
                "30s",
                "Warning",
                "FailedScheduling",
                "Pod/web",
                "0/1 nodes are available"
            ]
        );
        assert_eq!(row(&e, now, true)[0], "default");
    }
}
