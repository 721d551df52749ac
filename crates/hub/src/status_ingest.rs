//! StatusIngest: the hub's MQTT subscriber. It folds node and pod status that agents publish
//! into the store.
//!
//! - A persistent session (`clean_session = false`), so status published while the hub
//!   restarts is delivered when it reconnects.
//! - A report only becomes a write when something a client can see changed: a heartbeat
//!   that repeats the last status costs no revision (its time is kept in memory, for node
//!   lifecycle decisions).
//! - Reports older than the last one folded in for the same object are ignored, and a node
//!   may only report pods bound to it (the topic's node must be the pod's `spec.nodeName`).
//! - Oversized or malformed payloads are logged and dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use shoal_transport::status::{self, NodeStatusReport, OnlineMarker, PodStatusReport, Topic};

use crate::resources::{NODES, PODS};
use crate::store::{Store, StoreError};

/// Last time each node was heard from (ms since the epoch), shared with node lifecycle.
pub type Heartbeats = Arc<Mutex<HashMap<String, u64>>>;

pub struct StatusIngest {
    pub store: Store,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub heartbeats: Heartbeats,
}

impl Actor for StatusIngest {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let mut opts = MqttOptions::new("shoal-hub", self.host.clone(), self.port);
        opts.set_credentials(self.username.clone(), self.password.clone());
        opts.set_clean_session(false);
        opts.set_keep_alive(Duration::from_secs(10));
        opts.set_max_packet_size(status::MAX_STATUS_PAYLOAD + 1024, 64 * 1024);
        let (client, mut eventloop) = AsyncClient::new(opts, 256);
        let store = self.store.clone();
        let heartbeats = self.heartbeats.clone();
        let fut = async move {
            let mut folder = Folder {
                store,
                heartbeats,
                last_seen: HashMap::new(),
            };
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        tracing::info!("status ingest connected to the MQTT broker");
                        if let Err(e) = client
                            .subscribe(status::all_topics_filter(), QoS::AtLeastOnce)
                            .await
                        {
                            tracing::warn!(error = %e, "cannot subscribe to status topics");
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        folder.fold(&p.topic, &p.payload).await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "MQTT connection to the broker failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        };
        ctx.spawn(fut.into_actor(self));
    }
}

struct Folder {
    store: Store,
    heartbeats: Heartbeats,
    /// Newest `observedAtMs` folded in per topic.
    last_seen: HashMap<String, u64>,
}

impl Folder {
    async fn fold(&mut self, topic: &str, payload: &[u8]) {
        if payload.len() > status::MAX_STATUS_PAYLOAD {
            tracing::warn!(%topic, bytes = payload.len(), "dropping an oversized status message");
            return;
        }
        let Some(t) = Topic::parse(topic) else { return };
        if payload.is_empty() {
            return; // a cleared retained topic
        }
        let result = match &t {
            Topic::Online { node } => match serde_json::from_slice::<OnlineMarker>(payload) {
                Ok(m) => self.online(node, m.online).await,
                Err(e) => Err(format!("malformed online marker: {e}")),
            },
            Topic::NodeStatus { node } => match serde_json::from_slice::<NodeStatusReport>(payload)
            {
                Ok(r) if &r.node_name == node => {
                    if self.fresh(topic, r.observed_at_ms) {
                        self.node_status(node, r).await
                    } else {
                        Ok(())
                    }
                }
                Ok(r) => Err(format!("node status names node {:?}", r.node_name)),
                Err(e) => Err(format!("malformed node status: {e}")),
            },
            Topic::PodStatus {
                node,
                namespace,
                pod,
            } => match serde_json::from_slice::<PodStatusReport>(payload) {
                Ok(r) if &r.namespace == namespace && &r.name == pod => {
                    if self.fresh(topic, r.observed_at_ms) {
                        self.pod_status(node, r).await
                    } else {
                        Ok(())
                    }
                }
                Ok(_) => Err("pod status names another pod than its topic".to_string()),
                Err(e) => Err(format!("malformed pod status: {e}")),
            },
        };
        if let Err(e) = result {
            tracing::warn!(%topic, error = %e, "dropped a status message");
        }
    }

    fn fresh(&mut self, topic: &str, observed: u64) -> bool {
        match self.last_seen.get(topic) {
            Some(&prev) if observed < prev => false,
            _ => {
                self.last_seen.insert(topic.to_string(), observed);
                true
            }
        }
    }

    async fn online(&mut self, node: &str, online: bool) -> Result<(), String> {
        if online {
            self.heartbeats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(node.to_string(), status::now_ms());
            return Ok(());
        }
        let now = status::rfc3339_from_ms(status::now_ms());
        let r = self
            .store
            .mutate(&NODES, "", node, Box::new(move |old| {
                let mut v = old.clone();
                let cond = json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "The node's agent went offline (MQTT last will).", "lastHeartbeatTime": now, "lastTransitionTime": now});
                set_condition(&mut v, cond, true);
                Ok(Some(v))
            }))
            .await;
        ignore_missing(r)
    }

    async fn node_status(&mut self, node: &str, r: NodeStatusReport) -> Result<(), String> {
        self.heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.to_string(), r.observed_at_ms);
        let res = self
            .store
            .mutate(
                &NODES,
                "",
                node,
                Box::new(move |old| {
                    let mut v = old.clone();
                    for c in &r.conditions {
                        let cond = serde_json::to_value(c).unwrap_or_default();
                        set_condition(&mut v, cond, false);
                    }
                    if !r.addresses.is_empty() {
                        v["status"]["addresses"] =
                            serde_json::to_value(&r.addresses).unwrap_or_default();
                    }
                    if !r.capacity.is_empty() {
                        v["status"]["capacity"] = json!(r.capacity);
                    }
                    if !r.allocatable.is_empty() {
                        v["status"]["allocatable"] = json!(r.allocatable);
                    }
                    Ok(Some(v))
                }),
            )
            .await;
        ignore_missing(res)
    }

    async fn pod_status(&mut self, node: &str, r: PodStatusReport) -> Result<(), String> {
        let node = node.to_string();
        let res = self
            .store
            .mutate(
                &PODS,
                &r.namespace.clone(),
                &r.name.clone(),
                Box::new(move |old| {
                    if old.pointer("/metadata/uid").and_then(Value::as_str) != Some(r.uid.as_str())
                    {
                        return Ok(None); // a report about an earlier pod of the same name
                    }
                    if old.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node.as_str())
                    {
                        return Err(StoreError::Invalid(format!(
                            "node {node} reported a pod that is not bound to it"
                        )));
                    }
                    let mut v = old.clone();
                    let mut new_status = serde_json::to_value(&r.status).unwrap_or_default();
                    // Fields the agent does not own stay as the hub set them.
                    if let Some(q) = old.pointer("/status/qosClass") {
                        new_status["qosClass"] = q.clone();
                    }
                    // Keep lastTransitionTime stable when a condition's status did not change.
                    if let Some(conds) = new_status
                        .get_mut("conditions")
                        .and_then(Value::as_array_mut)
                    {
                        for c in conds.iter_mut() {
                            if let Some(prev) = old
                                .pointer("/status/conditions")
                                .and_then(Value::as_array)
                                .and_then(|a| a.iter().find(|p| p["type"] == c["type"]))
                            {
                                if prev["status"] == c["status"] {
                                    if let Some(t) = prev.get("lastTransitionTime") {
                                        c["lastTransitionTime"] = t.clone();
                                    }
                                }
                            }
                        }
                    }
                    v["status"] = new_status;
                    Ok(Some(v))
                }),
            )
            .await;
        ignore_missing(res)
    }
}

fn ignore_missing<T>(r: Result<T, StoreError>) -> Result<(), String> {
    match r {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Sets a node condition, keeping `lastTransitionTime` when the status did not change and
/// the previous `lastHeartbeatTime` unless `stamp` (so a repeated heartbeat is no change).
fn set_condition(node: &mut Value, mut cond: Value, stamp: bool) {
    if !node["status"]["conditions"].is_array() {
        node["status"]["conditions"] = json!([]);
    }
    let Some(conds) = node["status"]["conditions"].as_array_mut() else {
        return;
    };
    match conds.iter_mut().find(|c| c["type"] == cond["type"]) {
        Some(existing) => {
            if existing["status"] == cond["status"] {
                if let Some(t) = existing.get("lastTransitionTime") {
                    cond["lastTransitionTime"] = t.clone();
                }
                if !stamp {
                    if let Some(t) = existing.get("lastHeartbeatTime") {
                        cond["lastHeartbeatTime"] = t.clone();
                    }
                }
            }
            *existing = cond;
        }
        None => conds.push(cond),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_conditions_do_not_change_the_node() {
        let mut node = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "a", "lastTransitionTime": "a"}]}});
        let before = node.clone();
        set_condition(
            &mut node,
            json!({"type": "Ready", "status": "True", "lastHeartbeatTime": "b", "lastTransitionTime": "b"}),
            false,
        );
        assert_eq!(node, before, "a heartbeat alone is not a change");
        set_condition(
            &mut node,
            json!({"type": "Ready", "status": "False", "lastHeartbeatTime": "c", "lastTransitionTime": "c"}),
            false,
        );
        assert_eq!(node["status"]["conditions"][0]["lastTransitionTime"], "c");
        set_condition(
            &mut node,
            json!({"type": "MemoryPressure", "status": "False"}),
            false,
        );
        assert_eq!(
            node["status"]["conditions"].as_array().map(Vec::len),
            Some(2)
        );
    }
}
