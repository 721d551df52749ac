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
//!
//! [`event_object`], [`advance`] and [`NodeBuckets`] are pure; [`EventSink`] queues the
//! writes.

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

/// The stored Event moved forward by a later report of its series; `None` when the report
/// adds nothing (not a higher count).
pub fn advance(old: &Value, report: &EventReport) -> Option<Value> {
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
        report: EventReport,
        now_ms: u64,
    ) -> Result<Option<PendingWrite>, String> {
        let o = &report.involved_object;
        let Some(pod) = self.store.get(&PODS, &o.namespace, &o.name) else {
            // Usually a pod deleted while its last events (Killing) were in flight: not worth
            // a warning, but still dropped.
            tracing::debug!(%node, pod = %format!("{}/{}", o.namespace, o.name), reason = %report.reason, "dropped an event about a pod that does not exist");
            return Ok(None);
        };
        if let Err(why) = pod_matches(&pod.value(), node, &report) {
            return Err(format!("{:?}", EventDropped::Forged(why)));
        }
        if !self.buckets.take(node, now_ms) {
            return Err(format!("{:?}", EventDropped::RateLimited));
        }
        let name = event_name(&report);
        let ns = o.namespace.clone();
        let known = self.created.contains(&name) || self.store.get(&EVENTS, &ns, &name).is_some();
        let queued = if known {
            self.store
                .enqueue_mutate(
                    &EVENTS,
                    &ns,
                    &name,
                    Box::new(move |old| Ok(advance(old, &report))),
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
}
