//! RolloutSummary: optional (`--mqtt-summaries`) republishing of cluster-level rollout state
//! on MQTT, so a dashboard can follow a fleet rollout without the Kubernetes API.
//!
//! ```text
//! shoal/v1/cluster/deployments/{namespace}/{name}   retained, QoS 1
//! shoal/v1/cluster/daemonsets/{namespace}/{name}    retained, QoS 1
//! ```
//!
//! Payloads are built by the pure [`summary`] from the object's spec and status (see
//! docs/mqtt.md); an empty retained payload clears the topic when the object is deleted.
//!
//! The actor follows the store's change stream with one cursor (like the controllers),
//! publishes a topic only when its payload changed, and republishes everything after every
//! (re)connect, since the broker may have lost its retained messages. Bounds: the last
//! payload per topic is kept (one per Deployment / DaemonSet); publishes go through rumqttc's
//! bounded request channel and wait when it is full; at most [`BATCH`] changes are read at once.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::{json, Value};

use crate::resources::{ResourceInfo, DAEMONSETS, DEPLOYMENTS};
use crate::status_ingest::BrokerConnection;
use crate::store::{EventType, Store, StoreError};

/// Client id of the summary publisher (the hub's credentials, a second session).
pub const CLIENT_ID: &str = crate::broker_acl::HUB_SUMMARY_CLIENT_ID;
/// Changes read from the store at once.
pub const BATCH: usize = 1024;

/// The summary topic of an object of `res`.
pub fn topic(res: &ResourceInfo, namespace: &str, name: &str) -> String {
    format!(
        "{}{}/{namespace}/{name}",
        crate::broker_acl::cluster_prefix(),
        res.plural
    )
}

fn int(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

fn condition(v: &Value, type_: &str) -> Option<String> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .and_then(|c| c["status"].as_str())
        .map(str::to_string)
}

/// The summary payload of a Deployment or DaemonSet. Pure.
pub fn summary(res: &ResourceInfo, obj: &Value) -> Option<Value> {
    let meta = |k: &str| {
        obj.pointer(&format!("/metadata/{k}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let generation = int(obj, "/metadata/generation");
    let observed = int(obj, "/status/observedGeneration");
    if res.plural == DEPLOYMENTS.plural {
        let desired = obj
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let updated = int(obj, "/status/updatedReplicas");
        let available = int(obj, "/status/availableReplicas");
        let total = int(obj, "/status/replicas");
        Some(json!({
            "kind": "Deployment", "namespace": meta("namespace"), "name": meta("name"),
            "generation": generation, "observedGeneration": observed,
            "replicas": desired, "updatedReplicas": updated,
            "readyReplicas": int(obj, "/status/readyReplicas"),
            "availableReplicas": available,
            "unavailableReplicas": int(obj, "/status/unavailableReplicas"),
            "available": condition(obj, "Available").as_deref() == Some("True"),
            "rolloutComplete": observed >= generation && updated == desired && total == desired && available == desired,
        }))
    } else if res.plural == DAEMONSETS.plural {
        let desired = int(obj, "/status/desiredNumberScheduled");
        let updated = int(obj, "/status/updatedNumberScheduled");
        let available = int(obj, "/status/numberAvailable");
        Some(json!({
            "kind": "DaemonSet", "namespace": meta("namespace"), "name": meta("name"),
            "generation": generation, "observedGeneration": observed,
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": int(obj, "/status/currentNumberScheduled"),
            "updatedNumberScheduled": updated,
            "numberReady": int(obj, "/status/numberReady"),
            "numberAvailable": available,
            "numberUnavailable": int(obj, "/status/numberUnavailable"),
            "rolloutComplete": observed >= generation && updated == desired && available == desired,
        }))
    } else {
        None
    }
}

/// The summary publisher.
pub struct RolloutSummary {
    pub store: Store,
    pub broker: BrokerConnection,
}

fn kind_of(key: &str) -> Option<&'static ResourceInfo> {
    [&DEPLOYMENTS, &DAEMONSETS]
        .into_iter()
        .find(|r| key.starts_with(&format!("{}/", r.key_prefix)))
}

/// Every current summary, by topic.
fn all_summaries(store: &Store) -> (u64, HashMap<String, Vec<u8>>) {
    let mut out = HashMap::new();
    let mut revision = store.revision();
    for res in [&DEPLOYMENTS, &DAEMONSETS] {
        let list = store.list(res, None, &|_| true, None, 0);
        revision = revision.min(list.revision);
        for o in list.items {
            let (ns, name) = o.namespace_and_name();
            if let Some(s) = summary(res, &o.value()) {
                out.insert(topic(res, ns, name), s.to_string().into_bytes());
            }
        }
    }
    (revision, out)
}

impl Actor for RolloutSummary {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let mut opts = crate::status_ingest::mqtt_options(&self.broker);
        opts.set_client_id(CLIENT_ID.to_string());
        opts.set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(opts, 256);
        let store = self.store.clone();
        // The connection: tells the publisher about every (re)connect.
        let (connected_tx, mut connected_rx) = tokio::sync::watch::channel(0u64);
        ctx.spawn(
            async move {
                let mut n = 0u64;
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            n += 1;
                            let _ = connected_tx.send(n);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!(error = %e, "rollout summaries: MQTT connection failed; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            }
            .into_actor(self),
        );
        ctx.spawn(
            async move {
                let mut changes = store.subscribe();
                let mut published: HashMap<String, Vec<u8>> = HashMap::new();
                let mut cursor = 0u64;
                let mut resync = true;
                loop {
                    if connected_rx.has_changed().unwrap_or(false) {
                        connected_rx.borrow_and_update();
                        published.clear();
                        resync = true;
                    }
                    if *connected_rx.borrow() == 0 {
                        if connected_rx.changed().await.is_err() {
                            return;
                        }
                        continue;
                    }
                    let mut updates: Vec<(String, Vec<u8>)> = Vec::new();
                    if resync {
                        resync = false;
                        let (rev, all) = all_summaries(&store);
                        cursor = rev;
                        for t in published.keys() {
                            if !all.contains_key(t) {
                                updates.push((t.clone(), Vec::new()));
                            }
                        }
                        updates.extend(all);
                    } else {
                        match store.events_after(cursor, BATCH) {
                            Ok(events) => {
                                for e in events {
                                    cursor = e.revision;
                                    let Some(res) = kind_of(&e.object.key) else { continue };
                                    let (ns, name) = e.object.namespace_and_name();
                                    let t = topic(res, ns, name);
                                    let payload = match e.event_type {
                                        EventType::Deleted => Vec::new(),
                                        _ => summary(res, &e.object.value())
                                            .map(|s| s.to_string().into_bytes())
                                            .unwrap_or_default(),
                                    };
                                    updates.push((t, payload));
                                }
                            }
                            Err(StoreError::Expired { .. }) => {
                                resync = true;
                                continue;
                            }
                            Err(e) => tracing::warn!(error = %e, "rollout summaries: cannot read changes"),
                        }
                    }
                    for (t, payload) in updates {
                        if published.get(&t) == Some(&payload) {
                            continue;
                        }
                        if let Err(e) = client.publish(t.clone(), QoS::AtLeastOnce, true, payload.clone()).await {
                            tracing::debug!(error = %e, "rollout summaries: publish failed; republishing after the reconnect");
                            resync = true;
                            break;
                        }
                        if payload.is_empty() {
                            published.remove(&t);
                        } else {
                            published.insert(t, payload);
                        }
                    }
                    if !resync && store.revision() <= cursor {
                        tokio::select! {
                            r = changes.changed() => if r.is_err() { return },
                            r = connected_rx.changed() => if r.is_err() { return },
                        }
                    }
                }
            }
            .into_actor(self),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_summary_tracks_the_rollout() {
        let mut d = json!({"metadata": {"namespace": "default", "name": "web", "generation": 2},
            "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "readyReplicas": 3,
                "availableReplicas": 3, "unavailableReplicas": 1,
                "conditions": [{"type": "Available", "status": "True"}]}});
        let s = summary(&DEPLOYMENTS, &d).expect("summary");
        assert_eq!(s["kind"], "Deployment");
        assert_eq!(s["updatedReplicas"], 2);
        assert_eq!(s["available"], true);
        assert_eq!(s["rolloutComplete"], false);
        d["status"]["replicas"] = json!(3);
        d["status"]["updatedReplicas"] = json!(3);
        assert_eq!(
            summary(&DEPLOYMENTS, &d).expect("summary")["rolloutComplete"],
            true
        );
        d["metadata"]["generation"] = json!(3);
        assert_eq!(
            summary(&DEPLOYMENTS, &d).expect("summary")["rolloutComplete"],
            false,
            "a new generation not yet observed is not complete"
        );
        assert_eq!(
            topic(&DEPLOYMENTS, "default", "web"),
            "shoal/v1/cluster/deployments/default/web"
        );
    }

    #[test]
    fn daemonset_summary_counts_nodes() {
        let ds = json!({"metadata": {"namespace": "kube-system", "name": "agent", "generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 10, "currentNumberScheduled": 10,
                "updatedNumberScheduled": 10, "numberReady": 9, "numberAvailable": 9, "numberUnavailable": 1}});
        let s = summary(&DAEMONSETS, &ds).expect("summary");
        assert_eq!(s["desiredNumberScheduled"], 10);
        assert_eq!(s["numberUnavailable"], 1);
        assert_eq!(s["rolloutComplete"], false);
        assert_eq!(
            topic(&DAEMONSETS, "kube-system", "agent"),
            "shoal/v1/cluster/daemonsets/kube-system/agent"
        );
        assert!(summary(&crate::resources::PODS, &ds).is_none());
    }
}
