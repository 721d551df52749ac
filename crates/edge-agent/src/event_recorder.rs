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
//!   [`shoal_transport::event_report::MAX_EVENT_MESSAGE`] bytes. While the broker is
//!   unreachable nothing is polled, so pending series wait (bounded by the same cap); the
//!   StatusReporter saves them ([`EventRecorder::pending`]) with its outbox file and a
//!   restarted agent restores them ([`EventRecorder::restore`]).
//! - **Ids.** A series id is a fixed-width prefix of the recorder ([`ID_PREFIX_LEN`]
//!   characters: the start time and random bits, both in base 36) followed by a counter, so
//!   ids of one run never repeat and those of two runs differ unless both the start
//!   millisecond and 5 random digits (about 26 bits) coincide. The fixed width is the
//!   separator: `[0-9a-z]` has no character to spare, and `1`+`11` and `11`+`1` cannot both
//!   occur.
//! - **Clock steps.** `now` is the wall clock, which NTP may move back: a rate-limit or
//!   republish reference in the future is reset to `now`, so nothing stalls for as long as
//!   the clock jumped.

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
/// Width of a series id's prefix: 9 base-36 digits of the start time (in ms, modulo 36^9,
/// about 3,200 years) and 5 of random bits. With a base-36 `u64` counter (at most 13
/// digits) an id stays within `MAX_EVENT_ID`.
pub const ID_PREFIX_LEN: usize = 14;
const TIME_DIGITS: usize = 9;
const RANDOM_DIGITS: usize = ID_PREFIX_LEN - TIME_DIGITS;

/// What makes two occurrences the same series.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    field_path: String,
    warning: bool,
    reason: String,
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
    /// Prefix of series ids, unique per recorder ([`ID_PREFIX_LEN`] characters).
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

/// `n` modulo 36^`width` in exactly `width` base-36 digits.
fn base36_fixed(n: u64, width: usize) -> String {
    let modulus = 36u64.checked_pow(width as u32).unwrap_or(u64::MAX);
    format!("{:0>width$}", base36(n % modulus))
}

impl EventRecorder {
    /// A recorder for `node` started at `now_ms`; `nonce` is random bits (the caller's, so
    /// this stays pure). Both make its series ids unique across agent restarts.
    pub fn new(node: &str, now_ms: u64, nonce: u64) -> EventRecorder {
        EventRecorder {
            node: node.to_string(),
            id_prefix: format!(
                "{}{}",
                base36_fixed(now_ms, TIME_DIGITS),
                base36_fixed(nonce, RANDOM_DIGITS)
            ),
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
            reason: ev.reason.to_string(),
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
        self.next_id = self.next_id.wrapping_add(1);
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
        if now_ms < self.refilled_ms {
            // Design: the clock stepped back; refills count from now (see the module doc).
            self.refilled_ms = now_ms;
        }
        let refills = now_ms.saturating_sub(self.refilled_ms) / REFILL_MS;
        if refills > 0 {
            self.tokens = (self.tokens as u64 + refills).min(BURST as u64) as u32;
            self.refilled_ms += refills * REFILL_MS;
        }
        let mut due: Vec<(u64, u64, Key)> = self
            .series
            .iter()
            .filter(|(_, s)| {
                // A publication "in the future" is from before the clock stepped back.
                s.pending
                    && s.published_ms
                        .is_none_or(|p| now_ms < p || now_ms - p >= REPUBLISH_AFTER_MS)
            })
            .map(|(k, s)| (s.last_ms, s.first_ms, k.clone()))
            .collect();
        due.sort_by_key(|a| (a.0, a.1));
        let mut out = Vec::new();
        for (_, _, key) in due {
            if self.tokens == 0 {
                break;
            }
            let Some(s) = self.series.get(&key) else {
                continue;
            };
            let report = self.report(&key, s);
            self.tokens -= 1;
            if let Some(s) = self.series.get_mut(&key) {
                s.pending = false;
                s.published_ms = Some(now_ms);
            }
            out.push(report);
        }
        out
    }

    /// Series counted but not yet handed out, as reports (oldest occurrence first), for
    /// saving while the broker is unreachable. Takes no tokens.
    pub fn pending(&self) -> Vec<EventReport> {
        let mut out: Vec<(u64, EventReport)> = self
            .series
            .iter()
            .filter(|(_, s)| s.pending)
            .map(|(k, s)| (s.last_ms, self.report(k, s)))
            .collect();
        out.sort_by_key(|(t, _)| *t);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// Series saved by an earlier run (see [`EventRecorder::pending`]): they go out again
    /// with their ids and counts, so the hub updates the same Events. Invalid ones, ones of
    /// another node and those beyond [`MAX_SERIES`] are skipped.
    pub fn restore(&mut self, saved: Vec<EventReport>) {
        for r in saved {
            if r.validate().is_err() || r.node_name != self.node || self.series.len() >= MAX_SERIES
            {
                continue;
            }
            let key = Key {
                uid: r.involved_object.uid.clone(),
                field_path: r.involved_object.field_path.clone(),
                warning: r.type_ == "Warning",
                reason: r.reason.clone(),
                message: r.message.clone(),
            };
            self.series.insert(
                key,
                Series {
                    id: r.id,
                    namespace: r.involved_object.namespace,
                    name: r.involved_object.name,
                    count: r.count,
                    first_ms: r.first_timestamp_ms,
                    last_ms: r.last_timestamp_ms,
                    pending: true,
                    published_ms: None,
                },
            );
        }
    }

    fn report(&self, key: &Key, s: &Series) -> EventReport {
        EventReport {
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
            reason: key.reason.clone(),
            message: key.message.clone(),
            count: s.count,
            first_timestamp_ms: s.first_ms,
            last_timestamp_ms: s.last_ms,
        }
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
        let mut r = EventRecorder::new("edge-1", 1_000_000, 7);
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
        let mut r = EventRecorder::new("edge-1", 0, 7);
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
    fn pending_series_survive_a_restart_with_their_ids() {
        let mut r = EventRecorder::new("edge-1", 0, 7);
        r.record(ev("u1", "BackOff", "back-off app"), 10);
        r.record(ev("u1", "BackOff", "back-off app"), 20);
        r.record(ev("u2", "Started", "Started container app"), 5);
        let saved = r.pending();
        assert_eq!(saved.len(), 2);
        assert_eq!(saved[0].involved_object.uid, "u2", "oldest first");
        assert_eq!(saved[1].count, 2);
        assert_eq!(r.poll(30).len(), 2, "pending() takes no tokens");

        let mut later = EventRecorder::new("edge-1", 1_000, 8);
        let mut foreign = saved[0].clone();
        foreign.node_name = "edge-2".into();
        later.restore(vec![saved[0].clone(), saved[1].clone(), foreign]);
        let out = later.poll(1_000);
        assert_eq!(out, saved, "same ids and counts, nothing of another node");
        // A new occurrence joins the restored series.
        later.record(
            ev("u1", "BackOff", "back-off app"),
            1_000 + REPUBLISH_AFTER_MS,
        );
        let next = later.poll(1_000 + REPUBLISH_AFTER_MS);
        assert_eq!(next.len(), 1);
        assert_eq!(
            (next[0].id.as_str(), next[0].count),
            (saved[1].id.as_str(), 3)
        );
    }

    #[test]
    fn unsent_reports_go_out_again() {
        let mut r = EventRecorder::new("edge-1", 0, 7);
        r.record(ev("u1", "Started", "Started container app"), 0);
        let out = r.poll(0);
        r.unsent(&out[0]);
        assert_eq!(r.poll(1).len(), 1);
    }

    #[test]
    fn series_are_bounded_and_messages_cut() {
        let mut r = EventRecorder::new("edge-1", 0, 7);
        for i in 0..(MAX_SERIES + 50) {
            r.record(ev(&format!("u{i}"), "Started", "m"), i as u64);
        }
        assert_eq!(r.len(), MAX_SERIES);
        let mut r = EventRecorder::new("edge-1", 0, 7);
        r.record(ev("u1", "Failed", &"x".repeat(5000)), 0);
        let out = r.poll(0);
        assert_eq!(out[0].message.len(), MAX_EVENT_MESSAGE);
        assert_eq!(out[0].validate(), Ok(()));
    }

    #[test]
    fn ids_of_two_runs_do_not_collide() {
        // Start times 1 and 37 ms with counters 37 and 1 both gave "111" without a
        // fixed-width prefix.
        let ids = |start: u64, nonce: u64, n: usize| {
            let mut r = EventRecorder::new("edge-1", start, nonce);
            for i in 0..n {
                r.record(ev(&format!("u{i}"), "Started", "m"), start);
            }
            r.pending().into_iter().map(|r| r.id).collect::<Vec<_>>()
        };
        let cases: [((u64, u64), (u64, u64)); 3] = [
            ((1, 0), (37, 0)),
            ((1_795_000_000_000, 1), (1_795_000_000_000, 2)),
            ((u64::MAX, u64::MAX), (u64::MAX - 1, u64::MAX)),
        ];
        for ((s1, n1), (s2, n2)) in cases {
            let a = ids(s1, n1, 40);
            let b = ids(s2, n2, 40);
            let all: std::collections::HashSet<_> = a.iter().chain(&b).collect();
            assert_eq!(all.len(), 80, "{s1}/{n1} vs {s2}/{n2}");
            for id in a.iter().chain(&b) {
                assert!(id.len() > ID_PREFIX_LEN && id.len() <= 32, "{id}");
            }
        }
        let mut r = EventRecorder::new("edge-1", u64::MAX, u64::MAX);
        r.next_id = u64::MAX;
        r.record(ev("u1", "Started", "m"), 0);
        assert_eq!(r.poll(0)[0].validate(), Ok(()), "the longest id is valid");
    }

    #[test]
    fn a_clock_stepped_back_stalls_neither_tokens_nor_republishing() {
        let t = 10_000_000;
        let mut r = EventRecorder::new("edge-1", t, 7);
        for i in 0..BURST {
            r.record(ev(&format!("u{i}"), "Started", "m"), t);
        }
        r.record(ev("u-last", "BackOff", "back-off app"), t + 1);
        assert_eq!(r.poll(t + 1).len(), BURST as usize);
        // NTP moves the clock back an hour.
        let back = t - 3_600_000;
        assert!(r.poll(back).is_empty(), "no token yet");
        let out = r.poll(back + REFILL_MS);
        assert_eq!(out.len(), 1, "a token after one period");
        assert_eq!(out[0].reason, "BackOff");
        // A series published "in the future" is republished when it counts again.
        r.record(ev("u0", "Started", "m"), back + 2 * REFILL_MS);
        let again = r.poll(back + 3 * REFILL_MS);
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!(
            (again[0].involved_object.uid.as_str(), again[0].count),
            ("u0", 2)
        );
    }
}
