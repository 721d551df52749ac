//! Following a watch: `GET ...?watch=1&resourceVersion=RV` read line by line, one
//! `{"type": ..., "object": ...}` event per line, resumed from the last revision seen when the
//! hub ends the stream (its watches time out), until the caller has seen enough.
//!
//! Design: one event line is at most [`MAX_EVENT`] bytes, so a broken or hostile stream
//! cannot grow memory without bound.

use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use super::{CmdError, Session};
use crate::client::ClientError;
use crate::fields::s;

/// Largest watch event line read.
pub const MAX_EVENT: u64 = 16 * 1024 * 1024;

/// What the caller wants after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    More,
    Stop,
}

/// `path` with more query pairs appended (it may already have a query).
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let q = crate::client::query(pairs);
    match (path.contains('?'), q.strip_prefix('?')) {
        (true, Some(rest)) => format!("{path}&{rest}"),
        _ => format!("{path}{q}"),
    }
}

/// Watches `path` (a collection path, maybe with selectors) from `rv` ("" = current state
/// first, as ADDED events) and calls `on` with each event's type and object. BOOKMARKs only
/// move the revision; an ERROR event (410 Expired and the like) ends with an error.
pub fn follow(
    s: &Session,
    path: &str,
    accept: &'static str,
    mut rv: String,
    mut on: impl FnMut(&str, &Value) -> Result<Next, CmdError>,
) -> Result<(), CmdError> {
    loop {
        let url = with_query(
            path,
            &[
                ("watch", "1"),
                ("resourceVersion", &rv),
                ("allowWatchBookmarks", "true"),
            ],
        );
        let body = s.client.stream(&url, accept)?;
        let mut lines = BufReader::new(body);
        loop {
            let mut line = Vec::new();
            let n = (&mut lines)
                .take(MAX_EVENT)
                .read_until(b'\n', &mut line)
                .map_err(CmdError::Stdout)?;
            if n == 0 {
                break; // the hub ended this watch; resume from `rv`
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let ev: Value = serde_json::from_slice(&line).map_err(|source| {
                CmdError::Client(ClientError::Decode {
                    path: url.clone(),
                    source,
                })
            })?;
            let kind = s_str(&ev, "/type");
            let obj = ev.get("object").cloned().unwrap_or(Value::Null);
            let obj_rv = s_str(&obj, "/metadata/resourceVersion");
            if !obj_rv.is_empty() {
                rv = obj_rv.to_string();
            }
            match kind {
                "BOOKMARK" => continue,
                "ERROR" => {
                    return Err(CmdError::Client(ClientError::Status {
                        code: obj.get("code").and_then(Value::as_u64).unwrap_or(500) as u16,
                        reason: s_str(&obj, "/reason").to_string(),
                        message: s_str(&obj, "/message").to_string(),
                    }))
                }
                _ => {
                    if on(kind, &obj)? == Next::Stop {
                        return Ok(());
                    }
                }
            }
        }
    }
}

fn s_str<'a>(v: &'a Value, p: &str) -> &'a str {
    s(v, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_appended() {
        assert_eq!(
            with_query("/api/v1/pods", &[("watch", "1")]),
            "/api/v1/pods?watch=1"
        );
        assert_eq!(
            with_query(
                "/api/v1/pods?labelSelector=a%3Db",
                &[("watch", "1"), ("resourceVersion", "")]
            ),
            "/api/v1/pods?labelSelector=a%3Db&watch=1"
        );
    }
}
