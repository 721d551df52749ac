//! Events from agents (`shoal/v1/nodes/<node>/events`, see
//! `shoal_transport::event_report`) folded into `v1/Event` objects, so `kubectl get events`
//! and `kubectl describe pod` show what kubelet would have reported.
//!
//! - One Event per series: named `{pod}.{id}`, created by the first report and updated by
//!   later ones (`count`, `lastTimestamp`, only ever forward, so a late or repeated QoS 1
//!   message changes nothing).
//! - A node may report only about pods bound to it: the pod must exist with the report's
//!   UID and `spec.nodeName` = the topic's node. Anything else (another node's pod, a pod
//!   that is gone) is dropped and logged, like malformed or oversized payloads
//!   (`status_ingest::classify`).
//! - Bounded: each node may create or update at most [`NODE_BURST`] Events at once and one
//!   more every [`NODE_REFILL_MS`] (agents already rate-limit; this keeps a misbehaving one
//!   from filling the store), and `EventGc` deletes Events an hour after they were last seen.
//!   The token is taken before anything else (store lookups, JSON, logging), so a flood of
//!   forged reports costs the hub no more than a flood of good ones.
//! - Node clocks are not trusted ([`clamp_times`]): a `lastTimestampMs` more than
//!   [`MAX_FUTURE_MS`] ahead of the hub is pulled back to that limit (a node clock running
//!   fast, and an Event `EventGc` could never expire or Go clients could not parse), and a
//!   report whose latest occurrence is more than [`MAX_AGE_MS`] old is dropped.
//! - A series id names one series: a report whose reason, message, type, pod UID or field
//!   path differ from the stored Event's ([`same_series`]) is another series that happens to
//!   reuse the id (an id collision), and is dropped instead of bumping the wrong Event.
//!
//! [`event_object`], [`advance`], [`clamp_times`], [`admit`] and [`NodeBuckets`] are pure;
//! [`EventSink`] queues the writes.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use shoal_transport::event_report::EventReport;
use shoal_transport::status::rfc3339_from_ms;

use crate::resources::{EVENTS, PODS};
use crate::store::{PendingWrite, Store, StoreError};

/// Events a node may write at once.
pub const NODE_BURST: u32 = 50;
/// One more Event write per node this often.
pub const NODE_REFILL_MS: u64 = 200;
/// Most Event names remembered as created (see [`EventSink`]); the set is cleared past it.
const MAX_REMEMBERED: usize = 20_000;
/// Furthest a report's `lastTimestampMs` may be ahead of the hub's clock; later ones are
/// clamped to it (clock skew of a few minutes is normal on devices).
pub const MAX_FUTURE_MS: u64 = 5 * 60 * 1000;
/// Oldest a report's `lastTimestampMs` may be; older reports are dropped (`EventGc` would
/// delete their Event within a minute anyway).
pub const MAX_AGE_MS: u64 = 24 * 60 * 60 * 1000;

/// Brings `report`'s times within what the hub accepts at `now_ms`: `lastTimestampMs` at
/// most [`MAX_FUTURE_MS`] ahead, `firstTimestampMs` at most `lastTimestampMs`; `Err` (the
/// reason) when the latest occurrence is more than [`MAX_AGE_MS`] ago. Pure.
pub fn clamp_times(report: &mut EventReport, now_ms: u64) -> Result<(), &'static str> {
    // Design: clamp rather than drop a report from the future, as kube-apiserver would
    // store it as is: the event still happened, the node's clock is off.
    report.last_timestamp_ms = report
        .last_timestamp_ms
        .min(now_ms.saturating_add(MAX_FUTURE_MS));
    report.first_timestamp_ms = report.first_timestamp_ms.min(report.last_timestamp_ms);
    if report.last_timestamp_ms < now_ms.saturating_sub(MAX_AGE_MS) {
        return Err("lastTimestampMs is more than a day old");
    }
    Ok(())
}

/// Name of the Event of `report`'s series: `{pod}.{id}`, the pod's name cut so that the
/// whole stays within 253 characters.
pub fn event_name(report: &EventReport) -> String {
    let pod = &report.involved_object.name;
    let room = 253 - 1 - report.id.len();
    let mut cut = pod.len().min(room);
    while !pod.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}.{}", &pod[..cut], report.id)
}

/// The `v1/Event` for the first report of a series from `node`.
pub fn event_object(node: &str, report: &EventReport) -> Value {
    let o = &report.involved_object;
    let mut involved = json!({"kind": "Pod", "apiVersion": "v1", "namespace": o.namespace,
        "name": o.name, "uid": o.uid});
    if !o.field_path.is_empty() {
        involved["fieldPath"] = json!(o.field_path);
    }
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": event_name(report), "namespace": o.namespace},
        "involvedObject": involved,
        "reason": report.reason, "message": report.message, "type": report.type_,
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet", "reportingInstance": node,
        "firstTimestamp": rfc3339_from_ms(report.first_timestamp_ms),
        "lastTimestamp": rfc3339_from_ms(report.last_timestamp_ms),
        "count": report.count,
    })
}

/// Whether the stored Event `old` is of `report`'s series: same reason, message, type, pod
/// UID and field path (a series id reused by another series is not).
pub fn same_series(old: &Value, report: &EventReport) -> bool {
    let o = &report.involved_object;
    let str_at = |p: &str| old.pointer(p).and_then(Value::as_str);
    str_at("/reason") == Some(report.reason.as_str())
        && str_at("/message") == Some(report.message.as_str())
        && str_at("/type") == Some(report.type_.as_str())
        && str_at("/involvedObject/uid") == Some(o.uid.as_str())
        && str_at("/involvedObject/fieldPath").unwrap_or("") == o.field_path
}

/// The stored Event moved forward by a later report of its series; `None` when the report
/// adds nothing (not a higher count) or is not of the Event's series ([`same_series`]).
/// `report`'s times must have been clamped ([`clamp_times`]).
pub fn advance(old: &Value, report: &EventReport) -> Option<Value> {
    if !same_series(old, report) {
        return None;
    }
    let count = old.get("count").and_then(Value::as_u64).unwrap_or(0);
    if u64::from(report.count) <= count {
        return None;
    }
    let mut v = old.clone();
    v["count"] = json!(report.count);
    v["lastTimestamp"] = json!(rfc3339_from_ms(report.last_timestamp_ms));
    Some(v)
}

/// Whether `pod` (a stored Pod) is the one `report` names and is bound to `node`.
pub fn pod_matches(pod: &Value, node: &str, report: &EventReport) -> Result<(), &'static str> {
    if pod.pointer("/metadata/uid").and_then(Value::as_str)
        != Some(report.involved_object.uid.as_str())
    {
        return Err("the pod has another uid (an earlier pod of that name)");
    }
    if pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return Err("the pod is not bound to the publishing node");
    }
    Ok(())
}

/// Per-node token buckets for Event writes.
#[derive(Debug, Default)]
pub struct NodeBuckets {
    buckets: HashMap<String, (u32, u64)>,
}

impl NodeBuckets {
    /// Takes one token of `node` at `now_ms`; false when it has none.
    pub fn take(&mut self, node: &str, now_ms: u64) -> bool {
        let (tokens, refilled) = self
            .buckets
            .entry(node.to_string())
            .or_insert((NODE_BURST, now_ms));
        if now_ms < *refilled {
            // Design: the wall clock stepped back (NTP); refills count from now, or they
            // would stop for as long as it jumped.
            *refilled = now_ms;
        }
        let refills = now_ms.saturating_sub(*refilled) / NODE_REFILL_MS;
        if refills > 0 {
            *tokens = (u64::from(*tokens) + refills).min(u64::from(NODE_BURST)) as u32;
            *refilled += refills * NODE_REFILL_MS;
        }
        if *tokens == 0 {
            return false;
        }
        *tokens -= 1;
        true
    }
}

/// Why an event report was dropped with a warning (an event about a pod that does not exist
/// is dropped with a debug line only).
#[derive(Debug, PartialEq, Eq)]
pub enum EventDropped {
    RateLimited,
    Forged(&'static str),
    /// Its times are out of bounds ([`clamp_times`]).
    Stale(&'static str),
}

/// What to do with a report, before any write: the checks of [`EventSink::fold`] in their
/// order. `pod` looks the pod up; it is only called once the node's token is taken. Pure
/// (but for `pod`).
pub fn admit(
    buckets: &mut NodeBuckets,
    node: &str,
    report: &mut EventReport,
    now_ms: u64,
    pod: impl FnOnce() -> Option<Value>,
) -> Result<Admitted, EventDropped> {
    // Design: the token first, so forged or unknown reports cost a store lookup, a JSON
    // parse or a log line only within the node's budget.
    if !buckets.take(node, now_ms) {
        return Err(EventDropped::RateLimited);
    }
    clamp_times(report, now_ms).map_err(EventDropped::Stale)?;
    let Some(pod) = pod() else {
        return Ok(Admitted::NoPod);
    };
    pod_matches(&pod, node, report).map_err(EventDropped::Forged)?;
    Ok(Admitted::Write)
}

/// A report that passed [`admit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Admitted {
    /// Create or update its Event.
    Write,
    /// The pod does not exist (usually deleted while its last events were in flight):
    /// dropped with a debug line only.
    NoPod,
}

/// Queues Event writes in arrival order.
pub struct EventSink {
    store: Store,
    buckets: NodeBuckets,
    /// Events this sink queued a create for: a later report of the series must update the
    /// Event even if the create is not committed yet (the write queue keeps the order).
    created: HashSet<String>,
}

impl EventSink {
    pub fn new(store: Store) -> EventSink {
        EventSink {
            store,
            buckets: NodeBuckets::default(),
            created: HashSet::new(),
        }
    }

    /// Checks `report` from `node` against the store and queues its create or update.
    pub async fn fold(
        &mut self,
        node: &str,
        mut report: EventReport,
        now_ms: u64,
    ) -> Result<Option<PendingWrite>, String> {
        let store = &self.store;
        let (ns, pod) = (
            report.involved_object.namespace.clone(),
            report.involved_object.name.clone(),
        );
        let admitted = admit(&mut self.buckets, node, &mut report, now_ms, || {
            store.get(&PODS, &ns, &pod).map(|p| p.value())
        });
        match admitted.map_err(|e| format!("{e:?}"))? {
            Admitted::Write => {}
            Admitted::NoPod => {
                tracing::debug!(%node, pod = %format!("{ns}/{pod}"), reason = %report.reason, "dropped an event about a pod that does not exist");
                return Ok(None);
            }
        }
        let name = event_name(&report);
        let known = self.created.contains(&name) || self.store.get(&EVENTS, &ns, &name).is_some();
        let queued = if known {
            self.store
                .enqueue_mutate(
                    &EVENTS,
                    &ns,
                    &name,
                    Box::new(move |old| {
                        if !same_series(old, &report) {
                            // An id reused by another series (a collision): a new series
                            // would need a new name, so it is dropped.
                            tracing::debug!(event = %event_name(&report), reason = %report.reason, "dropped an event report whose id names another series");
                        }
                        Ok(advance(old, &report))
                    }),
                )
                .await
        } else {
            let mut v = event_object(node, &report);
            crate::api::admission::prepare_create(&EVENTS, &mut v).map_err(|e| e.to_string())?;
            if self.created.len() >= MAX_REMEMBERED {
                self.created.clear();
            }
            self.created.insert(name);
            self.store.enqueue_create(&EVENTS, &ns, v).await
        };
        queued.map(Some).map_err(|e: StoreError| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use shoal_transport::event_report::EventObject;

    use super::*;

    fn report(count: u32) -> EventReport {
        EventReport {
            node_name: "edge-1".into(),
            id: "k3x1".into(),
            involved_object: EventObject {
                kind: "Pod".into(),
                namespace: "default".into(),
                name: "web".into(),
                uid: "u-1".into(),
                field_path: "spec.containers{app}".into(),
            },
            type_: "Warning".into(),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container app".into(),
            count,
            first_timestamp_ms: 1_795_000_000_000,
            last_timestamp_ms: 1_795_000_060_000,
        }
    }

    #[test]
    fn the_event_is_kubelets() {
        let v = event_object("edge-1", &report(2));
        assert_eq!(v["metadata"]["name"], "web.k3x1");
        assert_eq!(v["metadata"]["namespace"], "default");
        assert_eq!(v["involvedObject"]["uid"], "u-1");
        assert_eq!(v["involvedObject"]["fieldPath"], "spec.containers{app}");
        assert_eq!(
            v["source"],
            json!({"component": "kubelet", "host": "edge-1"})
        );
        assert_eq!(v["type"], "Warning");
        assert_eq!(v["count"], 2);
        assert_eq!(v["firstTimestamp"], "2026-11-18T11:06:40Z");
        assert_eq!(v["lastTimestamp"], "2026-11-18T11:07:40Z");
        let long = EventReport {
            involved_object: EventObject {
                name: "p".repeat(253),
                ..report(1).involved_object
            },
            ..report(1)
        };
        assert_eq!(event_name(&long).len(), 253);
    }

    #[test]
    fn later_reports_only_move_the_series_forward() {
        let stored = event_object("edge-1", &report(2));
        assert_eq!(
            advance(&stored, &report(2)),
            None,
            "a repeat changes nothing"
        );
        assert_eq!(advance(&stored, &report(1)), None, "an older one neither");
        let mut r5 = report(5);
        r5.last_timestamp_ms += 60_000;
        let v = advance(&stored, &r5).expect("moves forward");
        assert_eq!(v["count"], 5);
        assert_eq!(v["lastTimestamp"], "2026-11-18T11:08:40Z");
        assert_eq!(v["firstTimestamp"], stored["firstTimestamp"]);
    }

    #[test]
    fn only_the_bound_pod_with_that_uid_matches() {
        let pod = json!({"metadata": {"uid": "u-1"}, "spec": {"nodeName": "edge-1"}});
        assert_eq!(pod_matches(&pod, "edge-1", &report(1)), Ok(()));
        assert!(
            pod_matches(&pod, "edge-2", &report(1)).is_err(),
            "another node's pod"
        );
        let other = json!({"metadata": {"uid": "u-9"}, "spec": {"nodeName": "edge-1"}});
        assert!(pod_matches(&other, "edge-1", &report(1)).is_err());
    }

    #[test]
    fn each_node_has_its_own_bucket() {
        let mut b = NodeBuckets::default();
        for _ in 0..NODE_BURST {
            assert!(b.take("a", 0));
        }
        assert!(!b.take("a", 0), "burst spent");
        assert!(b.take("b", 0), "another node is not affected");
        assert!(!b.take("a", NODE_REFILL_MS - 1));
        assert!(b.take("a", NODE_REFILL_MS));
    }

    #[test]
    fn a_clock_stepped_back_does_not_stall_the_bucket() {
        let mut b = NodeBuckets::default();
        let t = 10_000_000;
        for _ in 0..NODE_BURST {
            assert!(b.take("a", t));
        }
        assert!(!b.take("a", t));
        // NTP moves the clock back an hour: refills go on from the new time.
        let back = t - 3_600_000;
        assert!(!b.take("a", back), "no token yet");
        assert!(
            b.take("a", back + NODE_REFILL_MS),
            "refilled after one period"
        );
    }

    #[test]
    fn node_times_are_clamped_or_the_report_dropped() {
        let now = 1_795_000_000_000;
        let future = now + MAX_FUTURE_MS;
        // (first, last) in -> (first, last) out, or None when dropped.
        type Times = Option<(u64, u64)>;
        let cases: [(u64, u64, Times); 7] = [
            (now - 60_000, now, Some((now - 60_000, now))),
            (now - 3 * MAX_AGE_MS, now, Some((now - 3 * MAX_AGE_MS, now))),
            (now, now + 60_000, Some((now, now + 60_000))),
            // Year 9000: kept at the limit, so EventGc expires it.
            (now, 221_845_392_000_000, Some((now, future))),
            (u64::MAX, u64::MAX, Some((future, future))),
            (now - MAX_AGE_MS - 1, now - MAX_AGE_MS - 1, None),
            (0, 0, None),
        ];
        for (first, last, want) in cases {
            let mut r = report(1);
            (r.first_timestamp_ms, r.last_timestamp_ms) = (first, last);
            let got = clamp_times(&mut r, now)
                .ok()
                .map(|()| (r.first_timestamp_ms, r.last_timestamp_ms));
            assert_eq!(got, want, "({first}, {last})");
        }
        let mut r = report(1);
        r.last_timestamp_ms = u64::MAX;
        r.first_timestamp_ms = u64::MAX;
        clamp_times(&mut r, now).expect("clamped");
        let v = event_object("edge-1", &r);
        assert_eq!(v["lastTimestamp"], "2026-11-18T11:11:40Z", "a 4-digit year");
    }

    #[test]
    fn a_reused_id_does_not_advance_another_series() {
        let stored = event_object("edge-1", &report(2));
        type Edit = fn(&mut EventReport);
        let cases: [(Edit, &str); 6] = [
            (|r| r.reason = "Started".into(), "reason"),
            (|r| r.message = "Started container app".into(), "message"),
            (|r| r.type_ = "Normal".into(), "type"),
            (|r| r.involved_object.uid = "u-2".into(), "uid"),
            (
                |r| r.involved_object.field_path = "spec.containers{side}".into(),
                "fieldPath",
            ),
            (|r| r.involved_object.field_path.clear(), "no fieldPath"),
        ];
        for (edit, what) in cases {
            let mut r = report(9);
            edit(&mut r);
            assert!(!same_series(&stored, &r), "{what}");
            assert_eq!(advance(&stored, &r), None, "{what}");
        }
        assert!(
            advance(&stored, &report(9)).is_some(),
            "the same series moves"
        );
        let mut whole = report(1);
        whole.involved_object.field_path.clear();
        let stored = event_object("edge-1", &whole);
        whole.count = 2;
        assert!(advance(&stored, &whole).is_some(), "a whole-pod series too");
    }

    #[test]
    fn the_token_is_taken_before_the_pod_is_looked_up() {
        let mut b = NodeBuckets::default();
        let now = 1_795_000_060_000;
        let bound = || Some(json!({"metadata": {"uid": "u-1"}, "spec": {"nodeName": "edge-1"}}));
        assert_eq!(
            admit(&mut b, "edge-1", &mut report(1), now, bound),
            Ok(Admitted::Write)
        );
        assert_eq!(
            admit(&mut b, "edge-1", &mut report(1), now, || None),
            Ok(Admitted::NoPod)
        );
        let forged = || Some(json!({"metadata": {"uid": "u-1"}, "spec": {"nodeName": "edge-2"}}));
        assert!(matches!(
            admit(&mut b, "edge-1", &mut report(1), now, forged),
            Err(EventDropped::Forged(_))
        ));
        let mut stale = report(1);
        stale.last_timestamp_ms = now - MAX_AGE_MS - 1;
        stale.first_timestamp_ms = stale.last_timestamp_ms;
        assert!(matches!(
            admit(&mut b, "edge-1", &mut stale, now, bound),
            Err(EventDropped::Stale(_))
        ));
        // Spend the rest: forged reports used tokens too.
        while b.take("edge-1", now) {}
        let looked = std::cell::Cell::new(false);
        let got = admit(&mut b, "edge-1", &mut report(1), now, || {
            looked.set(true);
            forged()
        });
        assert_eq!(got, Err(EventDropped::RateLimited));
        assert!(!looked.get(), "no pod lookup without a token");
    }
}
