//! `?watch=true`: a chunked stream of `{"type":...,"object":...}` lines, as the Kubernetes
//! API server sends them.
//!
//! Design: a watch holds only a cursor (the last revision it sent) and reads the store's
//! history ring from there, so a slow client costs no memory on the hub. When the ring has
//! moved past its cursor it gets an `ERROR` event with a 410 `Expired` status, and clients
//! re-list, exactly as with etcd compaction. Objects that start or stop matching a
//! selector are sent as `ADDED` / `DELETED`, as Kubernetes does.

use std::time::Duration;

use actix_web::HttpResponse;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;

use super::error::ApiError;
use super::handlers::Filter;
use super::request::{Query, Target};
use super::table;
use super::ApiState;
use crate::resources::ResourceInfo;
use crate::store::{list_prefix, EventType, StoredObject, WatchEvent};

/// Longest a watch runs when the client gives no `timeoutSeconds` (Kubernetes picks 30-60 min).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// How often a bookmark is sent to clients that allow them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);
/// Events read from the store per wake-up.
const BATCH: usize = 512;
/// Most bytes sent as one chunk. Design: the lines pending after a wake-up (a group commit's
/// worth of events) go out as one chunk, so a burst costs one write and one TLS record
/// instead of one per event, which is what kept the watch lag behind etcd's under load.
/// Clients read a watch as a stream of newline-terminated objects, whatever the chunking.
const MAX_CHUNK: usize = 256 * 1024;

struct WatchState {
    state: ApiState,
    res: &'static ResourceInfo,
    prefix: String,
    filter: Filter,
    visible: Box<dyn Fn(&StoredObject) -> bool + Send>,
    cursor: u64,
    as_table: bool,
    bookmarks: bool,
    deadline: tokio::time::Instant,
    next_bookmark: tokio::time::Instant,
    pending: std::collections::VecDeque<Bytes>,
    rx: tokio::sync::watch::Receiver<u64>,
    done: bool,
}

pub fn watch(
    state: &ApiState,
    t: &Target,
    q: &Query,
    as_table: bool,
    visible: Box<dyn Fn(&StoredObject) -> bool + Send>,
) -> Result<HttpResponse, ApiError> {
    let filter = Filter::from_query(t.res, q)?;
    let timeout = q
        .u64("timeoutSeconds")?
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let rx = state.store.subscribe();
    let prefix = list_prefix(t.res.key_prefix, t.namespace.as_deref());
    let mut pending = std::collections::VecDeque::new();
    // No resourceVersion (or "0"): start with the current state as ADDED events.
    let cursor = match q
        .get("resourceVersion")
        .filter(|rv| !rv.is_empty() && *rv != "0")
    {
        Some(rv) => rv
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        None => {
            let list = state.store.list(
                t.res,
                t.namespace.as_deref(),
                &|o| filter.matches(o) && visible(o),
                None,
                0,
            );
            for o in &list.items {
                pending.push_back(event_line(t.res, EventType::Added, o, as_table));
            }
            list.revision
        }
    };
    let now = tokio::time::Instant::now();
    let ws = WatchState {
        state: state.clone(),
        res: t.res,
        prefix,
        filter,
        visible,
        cursor,
        as_table,
        bookmarks: q.flag("allowWatchBookmarks"),
        deadline: now + timeout,
        next_bookmark: now + BOOKMARK_EVERY,
        pending,
        rx,
        done: false,
    };
    let stream = futures::stream::unfold(ws, |mut ws| async move {
        loop {
            if let Some(first) = ws.pending.pop_front() {
                let chunk = coalesce(first, &mut ws.pending);
                return Some((Ok::<Bytes, actix_web::Error>(chunk), ws));
            }
            if ws.done {
                return None;
            }
            match ws.state.store.events_after(ws.cursor, BATCH) {
                Err(e) => {
                    let err = ApiError::from(e);
                    let line =
                        serde_json::to_vec(&json!({"type": "ERROR", "object": err.status_body()}))
                            .unwrap_or_default();
                    ws.pending.push_back(with_newline(line));
                    ws.done = true;
                    continue;
                }
                Ok(events) if !events.is_empty() => {
                    for ev in &events {
                        ws.cursor = ev.revision;
                        if let Some(line) = ws.translate(ev) {
                            ws.pending.push_back(line);
                        }
                    }
                    continue;
                }
                Ok(_) => {}
            }
            let wake = ws.deadline.min(if ws.bookmarks {
                ws.next_bookmark
            } else {
                ws.deadline
            });
            tokio::select! {
                changed = ws.rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    let now = tokio::time::Instant::now();
                    if now >= ws.deadline {
                        return None;
                    }
                    if ws.bookmarks && now >= ws.next_bookmark {
                        ws.next_bookmark = now + BOOKMARK_EVERY;
                        let bm = json!({"type": "BOOKMARK", "object": {"kind": ws.res.kind, "apiVersion": ws.res.api_version(),
                            "metadata": {"resourceVersion": ws.cursor.max(ws.state.store.revision()).to_string()}}});
                        ws.pending.push_back(with_newline(serde_json::to_vec(&bm).unwrap_or_default()));
                    }
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream.boxed_local()))
}

impl WatchState {
    fn matches(&self, o: &StoredObject) -> bool {
        o.key.starts_with(&self.prefix) && self.filter.matches(o) && (self.visible)(o)
    }

    /// The line to send for one change, if this watch sees it.
    fn translate(&self, ev: &WatchEvent) -> Option<Bytes> {
        if !ev.object.key.starts_with(&self.prefix) {
            return None;
        }
        let now_match = self.matches(&ev.object);
        let was_match = ev.previous.as_ref().map(|p| self.matches(p));
        let kind = match (ev.event_type, was_match, now_match) {
            (EventType::Deleted, _, true) => EventType::Deleted,
            (EventType::Deleted, _, false) => return None,
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Modified, Some(true), true) | (EventType::Modified, None, true) => {
                EventType::Modified
            }
            (EventType::Modified, Some(false), true) => EventType::Added,
            (EventType::Modified, Some(true), false) => {
                // Left the selection: report it gone, with its new state's revision.
                return Some(event_line(
                    self.res,
                    EventType::Deleted,
                    &ev.object,
                    self.as_table,
                ));
            }
            _ => return None,
        };
        Some(event_line(self.res, kind, &ev.object, self.as_table))
    }
}

/// `first` and as many of the following pending lines as fit in [`MAX_CHUNK`], as one chunk.
fn coalesce(first: Bytes, pending: &mut std::collections::VecDeque<Bytes>) -> Bytes {
    let fits = |len: usize, next: Option<&Bytes>| next.is_some_and(|n| len + n.len() <= MAX_CHUNK);
    if !fits(first.len(), pending.front()) {
        return first;
    }
    let mut chunk = Vec::with_capacity(MAX_CHUNK.min(first.len() * (pending.len() + 1)));
    chunk.extend_from_slice(&first);
    while fits(chunk.len(), pending.front()) {
        if let Some(line) = pending.pop_front() {
            chunk.extend_from_slice(&line);
        }
    }
    Bytes::from(chunk)
}

fn with_newline(mut v: Vec<u8>) -> Bytes {
    v.push(b'\n');
    Bytes::from(v)
}

fn event_line(res: &ResourceInfo, kind: EventType, o: &StoredObject, as_table: bool) -> Bytes {
    let mut line = Vec::with_capacity(o.json.len() + 40);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(kind.as_str().as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    if as_table {
        let t = table::table(
            res,
            vec![table::row(
                res,
                &o.value(),
                shoal_transport::status::now_ms(),
            )],
            &o.revision.to_string(),
            None,
        );
        line.extend_from_slice(&serde_json::to_vec(&t).unwrap_or_default());
    } else {
        line.extend_from_slice(&o.json);
    }
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_lines_go_out_as_one_bounded_chunk() {
        let line = |c: u8, n: usize| Bytes::from(vec![c; n]);
        let mut pending: std::collections::VecDeque<Bytes> =
            [line(b'b', 10), line(b'c', 10)].into_iter().collect();
        let chunk = coalesce(line(b'a', 10), &mut pending);
        assert_eq!(chunk.len(), 30);
        assert!(pending.is_empty());

        let mut pending: std::collections::VecDeque<Bytes> =
            [line(b'b', MAX_CHUNK - 10), line(b'c', 10)]
                .into_iter()
                .collect();
        let chunk = coalesce(line(b'a', 10), &mut pending);
        assert_eq!(chunk.len(), MAX_CHUNK, "filled up to the limit");
        assert_eq!(pending.len(), 1, "the rest waits for the next chunk");

        let mut pending: std::collections::VecDeque<Bytes> = [line(b'b', 10)].into_iter().collect();
        let big = coalesce(line(b'a', MAX_CHUNK + 1), &mut pending);
        assert_eq!(big.len(), MAX_CHUNK + 1, "a line over the limit goes alone");
        assert_eq!(pending.len(), 1);
    }
}
