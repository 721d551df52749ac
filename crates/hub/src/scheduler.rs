//! The scheduler: binds each pending pod to a node.
//!
//! [`place`] is the pure core: a pod and the nodes as they stand in, a node name or the
//! reasons nothing fits out. The [`Scheduler`] actor follows the store's changes, queues pods
//! that have no node, retries unschedulable pods when nodes change (and on a slow timer),
//! binds, and records a `FailedScheduling` Event when a pod fits nowhere.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use serde_json::{json, Value};

use crate::api::handlers::bind_pod;
use crate::resources::{EVENTS, NODES, PODS};
use crate::store::{EventType, Store, StoreError};

/// What placement needs to know about a node.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ready: bool,
    pub unschedulable: bool,
    pub pods: usize,
}

impl NodeView {
    pub fn from_value(v: &Value, pods: usize) -> NodeView {
        let labels = v.pointer("/metadata/labels").and_then(Value::as_object).map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()).unwrap_or_default();
        let ready = v.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        NodeView {
            name: v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string(),
            labels,
            ready,
            unschedulable: v.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false),
            pods,
        }
    }
}

/// Picks the node for a pod: Ready, schedulable, matching `nodeSelector`; the least loaded
/// wins (ties by name, so placement is deterministic). `Err` is the Kubernetes-style message.
pub fn place(pod: &Value, nodes: &[NodeView]) -> Result<String, String> {
    let selector: BTreeMap<String, String> = pod
        .pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut best: Option<&NodeView> = None;
    for n in nodes {
        let reason = if !n.ready {
            Some("node(s) were not ready")
        } else if n.unschedulable {
            Some("node(s) were unschedulable")
        } else if !selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)) {
            Some("node(s) didn't match Pod's node affinity/selector")
        } else {
            None
        };
        match reason {
            Some(r) => *reasons.entry(r).or_default() += 1,
            None => {
                if best.is_none_or(|b| (n.pods, &n.name) < (b.pods, &b.name)) {
                    best = Some(n);
                }
            }
        }
    }
    match best {
        Some(n) => Ok(n.name.clone()),
        None => {
            let detail: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
            let mut msg = format!("0/{} nodes are available", nodes.len());
            if !detail.is_empty() {
                msg.push_str(": ");
                msg.push_str(&detail.join(", "));
            }
            msg.push('.');
            Err(msg)
        }
    }
}

pub struct Scheduler {
    pub store: Store,
}

/// How often unschedulable pods are retried even without a node change.
const RETRY_EVERY: Duration = Duration::from_secs(10);

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        ctx.spawn(run(store).into_actor(self));
    }
}

fn pending_key(v: &Value) -> Option<(String, String)> {
    let unbound = v.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().is_empty();
    let ours = v.pointer("/spec/schedulerName").and_then(Value::as_str).is_none_or(|s| s == "default-scheduler");
    let deleting = v.pointer("/metadata/deletionTimestamp").is_some();
    if unbound && ours && !deleting {
        Some((v.pointer("/metadata/namespace")?.as_str()?.to_string(), v.pointer("/metadata/name")?.as_str()?.to_string()))
    } else {
        None
    }
}

async fn run(store: Store) {
    let mut changes = store.subscribe();
    let initial = store.list(&PODS, None, &|o| o.field("spec.nodeName") == Some(""), None, 0);
    let mut cursor = initial.revision;
    let mut queue: HashSet<(String, String)> = initial.items.iter().filter_map(|o| pending_key(&o.value())).collect();
    let mut unschedulable: HashSet<(String, String)> = HashSet::new();
    let mut reported: HashMap<(String, String), String> = HashMap::new();
    let mut retry = tokio::time::interval(RETRY_EVERY);
    loop {
        match store.events_after(cursor, 4096) {
            Ok(events) => {
                for ev in &events {
                    cursor = ev.revision;
                    if ev.object.key.starts_with("nodes/") {
                        queue.extend(unschedulable.drain());
                    } else if ev.object.key.starts_with("pods/") {
                        let v = ev.object.value();
                        if ev.event_type == EventType::Deleted {
                            if let Some(k) = v.pointer("/metadata/name").and_then(Value::as_str) {
                                let ns = v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
                                let key = (ns.to_string(), k.to_string());
                                queue.remove(&key);
                                unschedulable.remove(&key);
                                reported.remove(&key);
                            }
                            // A freed node may fit a waiting pod.
                            queue.extend(unschedulable.drain());
                        } else if let Some(k) = pending_key(&v) {
                            queue.insert(k);
                        }
                    }
                }
            }
            Err(StoreError::Expired { .. }) => {
                let now = store.list(&PODS, None, &|o| o.field("spec.nodeName") == Some(""), None, 0);
                cursor = now.revision;
                queue.extend(now.items.iter().filter_map(|o| pending_key(&o.value())));
            }
            Err(e) => tracing::error!(error = %e, "scheduler cannot read store changes"),
        }
        if !queue.is_empty() {
            schedule_batch(&store, &mut queue, &mut unschedulable, &mut reported).await;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = retry.tick() => queue.extend(unschedulable.drain()),
        }
    }
}

async fn schedule_batch(
    store: &Store,
    queue: &mut HashSet<(String, String)>,
    unschedulable: &mut HashSet<(String, String)>,
    reported: &mut HashMap<(String, String), String>,
) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for o in store.list(&PODS, None, &|o| o.field("spec.nodeName") != Some(""), None, 0).items {
        *counts.entry(o.field("spec.nodeName").unwrap_or_default().to_string()).or_default() += 1;
    }
    let mut nodes: Vec<NodeView> = store
        .list(&NODES, None, &|_| true, None, 0)
        .items
        .iter()
        .map(|o| {
            let v = o.value();
            let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            NodeView::from_value(&v, counts.get(&name).copied().unwrap_or(0))
        })
        .collect();
    let mut batch: Vec<(String, String)> = queue.drain().collect();
    batch.sort();
    for key in batch {
        let Some(obj) = store.get(&PODS, &key.0, &key.1) else { continue };
        let v = obj.value();
        if pending_key(&v).is_none() {
            continue;
        }
        match place(&v, &nodes) {
            Ok(node) => match bind_pod(store, &key.0, &key.1, &node).await {
                Ok(_) => {
                    tracing::info!(pod = %format!("{}/{}", key.0, key.1), %node, "bound");
                    if let Some(n) = nodes.iter_mut().find(|n| n.name == node) {
                        n.pods += 1;
                    }
                    reported.remove(&key);
                    record_event(store, &v, "Normal", "Scheduled", &format!("Successfully assigned {}/{} to {node}", key.0, key.1)).await;
                }
                Err(e) => tracing::debug!(error = %e, "bind failed; will retry"),
            },
            Err(msg) => {
                if reported.get(&key) != Some(&msg) {
                    tracing::info!(pod = %format!("{}/{}", key.0, key.1), %msg, "unschedulable");
                    record_event(store, &v, "Warning", "FailedScheduling", &msg).await;
                    reported.insert(key.clone(), msg);
                }
                unschedulable.insert(key);
            }
        }
    }
}

/// Records an Event about a pod, as the default scheduler does.
pub async fn record_event(store: &Store, pod: &Value, type_: &str, reason: &str, message: &str) {
    let ns = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
    let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let now = shoal_transport::status::rfc3339_from_ms(shoal_transport::status::now_ms());
    let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{suffix}"), "namespace": ns},
        "involvedObject": {"kind": "Pod", "namespace": ns, "name": name, "apiVersion": "v1",
            "uid": pod.pointer("/metadata/uid").cloned().unwrap_or_default(),
            "resourceVersion": pod.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()},
        "reason": reason, "message": message, "type": type_,
        "source": {"component": "default-scheduler"},
        "reportingComponent": "default-scheduler", "reportingInstance": "shoal-hub",
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    });
    if let Err(e) = store.create(&EVENTS, ns, ev).await {
        tracing::debug!(error = %e, "cannot record event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ready: bool, labels: &[(&str, &str)], pods: usize) -> NodeView {
        NodeView { name: name.into(), labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ready, unschedulable: false, pods }
    }

    #[test]
    fn places_on_the_least_loaded_matching_ready_node() {
        let nodes = vec![node("a", true, &[("zone", "x")], 3), node("b", true, &[("zone", "x")], 1), node("c", false, &[("zone", "x")], 0), node("d", true, &[("zone", "y")], 0)];
        let pod = json!({"spec": {"nodeSelector": {"zone": "x"}}});
        assert_eq!(place(&pod, &nodes), Ok("b".into()));
        assert_eq!(place(&json!({"spec": {}}), &nodes), Ok("d".into()));
    }

    #[test]
    fn explains_why_nothing_fits() {
        let mut cordoned = node("b", true, &[], 0);
        cordoned.unschedulable = true;
        let nodes = vec![node("a", false, &[], 0), cordoned, node("c", true, &[], 0)];
        let pod = json!({"spec": {"nodeSelector": {"gpu": "yes"}}});
        assert_eq!(
            place(&pod, &nodes),
            Err("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were not ready, 1 node(s) were unschedulable.".into())
        );
        assert_eq!(place(&pod, &[]), Err("0/0 nodes are available.".into()));
    }

    #[test]
    fn unbound_pods_of_other_schedulers_are_not_ours() {
        assert!(pending_key(&json!({"metadata": {"namespace": "d", "name": "p"}, "spec": {}})).is_some());
        assert!(pending_key(&json!({"metadata": {"namespace": "d", "name": "p"}, "spec": {"nodeName": "n"}})).is_none());
        assert!(pending_key(&json!({"metadata": {"namespace": "d", "name": "p"}, "spec": {"schedulerName": "other"}})).is_none());
    }
}
