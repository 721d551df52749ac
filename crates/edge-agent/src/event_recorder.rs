//! EventRecorder: aggregates and rate-limits the node's pod events before they go out on
//! `shoal/v1/nodes/<node>/events`, like kubelet's event recorder (correlator + spam filter).
//! Pure: events and `now` in ([`EventRecorder::record`]), reports to publish out
//! ([`EventRecorder::poll`]); the StatusReporter carries them to the broker.
//!
//! - **Aggregation.** Occurrences with the same pod, field path, type, reason and message
//!   within [`AGGREGATE_WINDOW`] of the previous one form one series: one `id`, a growing
//!   `count`, the first and the latest time. The hub upserts one Event per series.
//! - **Coalescing.** A series goes out at once when new, and then at most every
//!   [`REPUBLISH_AFTER`] while it keeps counting (the newest count carries the others).
//! - **Rate limit.** A token bucket ([`BURST`] reports, one more every [`REFILL`]) caps what
//!   a node publishes; series that find no token stay pending and go out later, oldest first.
//! - **Bounds.** At most [`MAX_SERIES`] series are remembered; past that the one seen least
//!   recently is forgotten (a later occurrence starts a new series). Messages are cut to
//!   [`shoal_transport::event_report::MAX_EVENT_MESSAGE`] bytes. While the broker is unreachable nothing is polled, so
//!   pending series simply wait (bounded by the same cap).

use std::collections::HashMap;

use shoal_transport::event_report::{truncate_message, EventObject, EventReport};

use crate::pods::PodEvent;

/// Occurrences closer than this to the previous one of the same series join it.
pub const AGGREGATE_WINDOW_MS: u64 = 10 * 60 * 1000;
/// Most series remembered.
pub const MAX_SERIES: usize = 1024;
/// A counting series is republished at most this often.
pub const REPUBLISH_AFTER_MS: u64 = 10_000;
/// Reports a node may publish at once.
pub const BURST: u32 = 25;
/// One report token comes back this often.
pub const REFILL_MS: u64 = 1_000;

/// What makes two occurrences the same series.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    field_path: String,
    warning: bool,
    reason: &'static str,
    message: String,
}

#[derive(Clone, Debug)]
struct Series {
    id: String,
    namespace: String,
    name: String,
    count: u32,
    first_ms: u64,
    last_ms: u64,
    /// Counted since it was last handed out.
    pending: bool,
    /// When it was last handed out; `None` before the first time.
    published_ms: Option<u64>,
}

/// The recorder of one node.
#[derive(Debug)]
pub struct EventRecorder {
    node: String,
    /// Prefix of series ids, unique per recorder (the agent's start time in base 36).
    id_prefix: String,
    next_id: u64,
    series: HashMap<Key, Series>,
    tokens: u32,
    refilled_ms: u64,
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl EventRecorder {
    /// A recorder for `node` started at `now_ms` (which makes its series ids unique across
    /// agent restarts).
    pub fn new(node: &str, now_ms: u64) -> EventRecorder {
        EventRecorder {
            node: node.to_string(),
            id_prefix: base36(now_ms),
            next_id: 0,
            series: HashMap::new(),
            tokens: BURST,
            refilled_ms: now_ms,
        }
    }

    /// Series remembered.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Counts one occurrence at `now_ms`.
    pub fn record(&mut self, ev: PodEvent, now_ms: u64) {
        let message = truncate_message(&ev.message);
        let key = Key {
            uid: ev.uid,
            field_path: ev.field_path,
            warning: ev.warning,
            reason: ev.reason,
            message,
        };
        if let Some(s) = self.series.get_mut(&key) {
            if now_ms.saturating_sub(s.last_ms) <= AGGREGATE_WINDOW_MS {
                s.count = s.count.saturating_add(1);
                s.last_ms = s.last_ms.max(now_ms);
                s.pending = true;
                return;
            }
        }
        if !self.series.contains_key(&key) && self.series.len() >= MAX_SERIES {
            if let Some(oldest) = self
                .series
                .iter()
                .min_by_key(|(_, s)| s.last_ms)
                .map(|(k, _)| k.clone())
            {
                self.series.remove(&oldest);
            }
        }
        let id = format!("{}{}", self.id_prefix, base36(self.next_id));
        self.next_id += 1;
        self.series.insert(
            key,
            Series {
                id,
                namespace: ev.namespace,
                name: ev.name,
                count: 1,
                first_ms: now_ms,
                last_ms: now_ms,
                pending: true,
                published_ms: None,
            },
        );
    }

    /// Reports due at `now_ms`, oldest occurrence first, within the rate limit. Each
    /// returned report counts as published; hand one back with [`EventRecorder::unsent`]
    /// if it could not be.
    pub fn poll(&mut self, now_ms: u64) -> Vec<EventReport> {
        let refills = now_ms.saturating_sub(self.refilled_ms) / REFILL_MS;
        if refills > 0 {
            self.tokens = (self.tokens as u64 + refills).min(BURST as u64) as u32;
            self.refilled_ms += refills * REFILL_MS;
        }
        let mut due: Vec<(&Key, &mut Series)> = self
            .series
            .iter_mut()
            .filter(|(_, s)| {
                s.pending
                    && s.published_ms
                        .is_none_or(|p| now_ms.saturating_sub(p) >= REPUBLISH_AFTER_MS)
            })
            .collect();
        due.sort_by_key(|(_, s)| (s.last_ms, s.first_ms));
        let mut out = Vec::new();
        for (key, s) in due {
            if self.tokens == 0 {
                break;
            }
            self.tokens -= 1;
            s.pending = false;
            s.published_ms = Some(now_ms);
            out.push(EventReport {
                node_name: self.node.clone(),
                id: s.id.clone(),
                involved_object: EventObject {
                    kind: "Pod".into(),
                    namespace: s.namespace.clone(),
                    name: s.name.clone(),
                    uid: key.uid.clone(),
                    field_path: key.field_path.clone(),
                },
                type_: if key.warning { "Warning" } else { "Normal" }.into(),
                reason: key.reason.to_string(),
                message: key.message.clone(),
                count: s.count,
                first_timestamp_ms: s.first_ms,
                last_timestamp_ms: s.last_ms,
            });
        }
        out
    }

    /// `report` (from [`EventRecorder::poll`]) was not published: it goes out again.
    pub fn unsent(&mut self, report: &EventReport) {
        if let Some(s) = self.series.values_mut().find(|s| s.id == report.id) {
            s.pending = true;
            s.published_ms = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use shoal_transport::event_report::MAX_EVENT_MESSAGE;

    use super::*;

    fn ev(uid: &str, reason: &'static str, message: &str) -> PodEvent {
        PodEvent {
            uid: uid.into(),
            namespace: "default".into(),
            name: format!("pod-{uid}"),
            field_path: "spec.containers{app}".into(),
            warning: reason == "BackOff",
            reason,
            message: message.into(),
        }
    }

    #[test]
    fn repeats_within_the_window_count_up_one_series() {
        let mut r = EventRecorder::new("edge-1", 1_000_000);
        r.record(ev("u1", "BackOff", "back-off app"), 1_000_000);
        let first = r.poll(1_000_000);
        assert_eq!(first.len(), 1);
        let f = &first[0];
        assert_eq!(
            (f.count, f.type_.as_str(), f.reason.as_str()),
            (1, "Warning", "BackOff")
        );
        assert_eq!(f.node_name, "edge-1");
        assert_eq!(f.involved_object.uid, "u1");
        assert_eq!(f.validate(), Ok(()));

        r.record(ev("u1", "BackOff", "back-off app"), 1_002_000);
        r.record(ev("u1", "BackOff", "back-off app"), 1_004_000);
        assert!(
            r.poll(1_005_000).is_empty(),
            "coalesced until the republish time"
        );
        let again = r.poll(1_000_000 + REPUBLISH_AFTER_MS);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, f.id, "same series");
        assert_eq!(again[0].count, 3);
        assert_eq!(again[0].first_timestamp_ms, 1_000_000);
        assert_eq!(again[0].last_timestamp_ms, 1_004_000);
        assert!(
            r.poll(1_000_000 + 3 * REPUBLISH_AFTER_MS).is_empty(),
            "nothing new"
        );

        // Another message, another pod, or a repeat after the window: new series.
        r.record(ev("u1", "BackOff", "other"), 1_050_000);
        r.record(ev("u2", "BackOff", "back-off app"), 1_050_000);
        r.record(
            ev("u1", "BackOff", "back-off app"),
            1_004_000 + AGGREGATE_WINDOW_MS + 1,
        );
        let later = r.poll(1_004_000 + AGGREGATE_WINDOW_MS + 1);
        assert_eq!(later.len(), 3);
        let ids: std::collections::HashSet<_> = later.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids.len(), 3);
        assert!(!ids.contains(&f.id));
    }

    #[test]
    fn a_burst_is_rate_limited_and_the_rest_goes_out_later() {
        let mut r = EventRecorder::new("edge-1", 0);
        for i in 0..(BURST + 10) {
            r.record(ev(&format!("u{i}"), "Started", "Started container app"), 0);
        }
        assert_eq!(r.poll(0).len(), BURST as usize);
        assert!(r.poll(REFILL_MS / 2).is_empty());
        assert_eq!(r.poll(5 * REFILL_MS).len(), 5);
        assert_eq!(r.poll(100 * REFILL_MS).len(), 5);
        assert!(r.poll(200 * REFILL_MS).is_empty());
    }

    #[test]
    fn unsent_reports_go_out_again() {
        let mut r = EventRecorder::new("edge-1", 0);
        r.record(ev("u1", "Started", "Started container app"), 0);
        let out = r.poll(0);
        r.unsent(&out[0]);
        assert_eq!(r.poll(1).len(), 1);
    }

    #[test]
    fn series_are_bounded_and_messages_cut() {
        let mut r = EventRecorder::new("edge-1", 0);
        for i in 0..(MAX_SERIES + 50) {
            r.record(ev(&format!("u{i}"), "Started", "m"), i as u64);
        }
        assert_eq!(r.len(), MAX_SERIES);
        let mut r = EventRecorder::new("edge-1", 0);
        r.record(ev("u1", "Failed", &"x".repeat(5000)), 0);
        let out = r.poll(0);
        assert_eq!(out[0].message.len(), MAX_EVENT_MESSAGE);
        assert_eq!(out[0].validate(), Ok(()));
    }
}
