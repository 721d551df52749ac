//! StatusIngest: the hub's MQTT subscriber. It folds node and pod status that agents publish
//! into the store.
//!
//! - A persistent session (client id `shoal-hub`, `clean_session = false`) and QoS 1, so
//!   status published while the hub restarts is delivered when it reconnects (on an external
//!   broker; the embedded one restarts with the hub, and agents then republish everything).
//! - A report only becomes a write when something a client can see changed: a heartbeat
//!   that repeats the last status costs no revision (its time is kept in memory, in
//!   [`Heartbeats`], for node lifecycle decisions).
//! - Reports older than the last one folded in are ignored: per topic in memory, and against
//!   the `observedAtMs` of the report that last changed the object, which is kept in the
//!   object's [`OBSERVED_ANNOTATION`] (so a hub restart, or a broker redelivering old QoS 1
//!   messages after newer retained ones, cannot roll status back).
//! - A node may only report pods bound to it (the topic's node must be the pod's
//!   `spec.nodeName`); the broker already refuses a node's publishes on other nodes' topics.
//! - The retained last will `{"online":false}` turns the node's Ready condition Unknown at
//!   once; node reports that would make it Ready again are held back until the node's
//!   `{"online":true}` arrives (retained messages of different topics come in any order).
//! - Events (`.../events`) become `v1/Event` objects through [`crate::event_ingest`], which
//!   also drops (and logs) events about pods not bound to the publishing node.
//! - Oversized or malformed payloads are logged and dropped.
//! - The connection state goes to [`Heartbeats::set_broker`]: node lifecycle pauses while the
//!   hub hears no broker.
//! - Writes are pipelined: each message's write is queued in arrival order
//!   ([`Store::enqueue_mutate`]) and up to [`MAX_IN_FLIGHT`] wait for their commit at once, so
//!   a burst of status shares group commits instead of paying one fsync per message (at fleet
//!   scale the serial fold was the limit on pods reported Running per second). Order per
//!   object is the queue's order; the freshness checks above still run in the writes.
//! - Unchanged reports skip the writer: a report is first applied (the same pure
//!   [`apply_node_report`] / [`apply_pod_report`] the write runs) to the committed object, and
//!   when that changes nothing and no write of this ingest for the object is still in flight,
//!   nothing is queued. Heartbeats (most of the traffic) then cost one in-memory read instead
//!   of a slot in the write queue behind an fsync.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use shoal_transport::event_report::{EventReport, MAX_EVENT_PAYLOAD};
use shoal_transport::status::{
    self, MetricsReport, NodeStatusReport, OnlineMarker, PodStatusReport, Topic,
};

use crate::controllers::node_lifecycle::taints_follow_ready;
pub use crate::liveness::Heartbeats;
use crate::resources::{NODES, PODS};
use crate::store::{PendingWrite, Store, StoreError};

/// Annotation holding the `observedAtMs` of the report that last changed a Node's or Pod's
/// status.
pub const OBSERVED_ANNOTATION: &str = "status.shoal.io/observed-at-ms";
/// Largest packet the hub's client reads. Bigger than [`status::MAX_STATUS_PAYLOAD`] on
/// purpose: an oversized status must reach [`Folder::fold`] to be dropped and logged there,
/// since a packet over the client's limit would fail (and, with a persistent session,
/// endlessly re-fail) the connection.
pub const MAX_INCOMING_PACKET: usize = 4 * 1024 * 1024;
/// Most status writes queued and not yet committed; the next message waits for one.
pub const MAX_IN_FLIGHT: usize = 512;

/// A status write waiting for its commit.
type InFlight =
    std::pin::Pin<Box<dyn std::future::Future<Output = (String, String, Result<(), String>)>>>;

/// Where and how the hub's MQTT client connects.
#[derive(Clone)]
pub struct BrokerConnection {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    /// TLS (for `mqtts://`); `None` is plain TCP.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

pub struct StatusIngest {
    pub store: Store,
    pub broker: BrokerConnection,
    pub heartbeats: Heartbeats,
    /// Where resource usage reports go (never into the store).
    pub metrics: crate::metrics::Metrics,
}

/// MQTT options of the hub's subscriber.
pub fn mqtt_options(b: &BrokerConnection) -> MqttOptions {
    let mut opts = MqttOptions::new(crate::broker_acl::HUB_CLIENT_ID, b.host.clone(), b.port);
    opts.set_credentials(b.username.clone(), b.password.clone());
    opts.set_clean_session(false);
    opts.set_keep_alive(Duration::from_secs(10));
    opts.set_max_packet_size(MAX_INCOMING_PACKET, 64 * 1024);
    crate::mqtt_tls::apply(&mut opts, b.tls.clone());
    opts
}

impl Actor for StatusIngest {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let opts = mqtt_options(&self.broker);
        let (client, mut eventloop) = AsyncClient::new(opts, 256);
        let store = self.store.clone();
        let heartbeats = self.heartbeats.clone();
        let metrics = self.metrics.clone();
        heartbeats.set_broker(false, status::now_ms());
        let fut = async move {
            use futures::{FutureExt as _, StreamExt as _};
            let mut folder = Folder::new(store, heartbeats.clone(), metrics);
            let mut failures = 0u32;
            let mut in_flight = futures::stream::FuturesUnordered::<InFlight>::new();
            loop {
                // Completed writes are only logged; a full pipeline waits for one.
                while let Some(Some((object, topic, r))) = in_flight.next().now_or_never() {
                    folder.write_done(&object);
                    log_failed(&topic, r);
                }
                if in_flight.len() >= MAX_IN_FLIGHT {
                    if let Some((object, topic, r)) = in_flight.next().await {
                        folder.write_done(&object);
                        log_failed(&topic, r);
                    }
                }
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        failures = 0;
                        if ack.code != rumqttc::ConnectReturnCode::Success {
                            tracing::warn!(code = ?ack.code, "the MQTT broker refused the hub");
                            continue;
                        }
                        tracing::info!(
                            session_present = ack.session_present,
                            "status ingest connected to the MQTT broker"
                        );
                        heartbeats.set_broker(true, status::now_ms());
                        if let Err(e) = client
                            .subscribe(status::all_topics_filter(), QoS::AtLeastOnce)
                            .await
                        {
                            tracing::warn!(error = %e, "cannot subscribe to status topics");
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Some((object, write)) = folder.fold(&p.topic, &p.payload).await {
                            let topic = p.topic.clone();
                            in_flight.push(Box::pin(async move {
                                (object, topic, ignore_missing(write.await))
                            }));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        heartbeats.set_broker(false, status::now_ms());
                        failures = failures.saturating_add(1);
                        let wait = Duration::from_millis(250 * u64::from(failures.min(8)));
                        tracing::warn!(error = %e, retry_in = ?wait, "MQTT connection to the broker failed; node lifecycle is paused until it is back");
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        };
        ctx.spawn(fut.into_actor(self));
    }
}

/// Why a message was dropped (logged by [`Folder::fold`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Dropped {
    Oversized(usize),
    NotOurs,
    Malformed(String),
    Mismatch(&'static str),
}

/// A parsed, validated status message.
#[derive(Debug)]
pub enum Report {
    /// An empty retained payload (a cleared topic): nothing to do.
    Cleared,
    Online {
        node: String,
        online: bool,
    },
    Node(NodeStatusReport),
    Metrics(MetricsReport),
    Pod {
        node: String,
        report: PodStatusReport,
    },
    Event {
        node: String,
        report: EventReport,
    },
}

/// Parses and checks one message: size, topic, JSON shape, and that the payload names the
/// same node / pod as its topic. Pure.
pub fn classify(topic: &str, payload: &[u8]) -> Result<Report, Dropped> {
    if payload.len() > status::MAX_STATUS_PAYLOAD {
        return Err(Dropped::Oversized(payload.len()));
    }
    let t = Topic::parse(topic).ok_or(Dropped::NotOurs)?;
    if payload.is_empty() {
        return Ok(Report::Cleared);
    }
    match t {
        Topic::Online { node } => serde_json::from_slice::<OnlineMarker>(payload)
            .map(|m| Report::Online {
                node,
                online: m.online,
            })
            .map_err(|e| Dropped::Malformed(format!("online marker: {e}"))),
        Topic::NodeStatus { node } => {
            let r = serde_json::from_slice::<NodeStatusReport>(payload)
                .map_err(|e| Dropped::Malformed(format!("node status: {e}")))?;
            if r.node_name != node {
                return Err(Dropped::Mismatch("node status names another node"));
            }
            Ok(Report::Node(r))
        }
        Topic::Metrics { node } => {
            let r = serde_json::from_slice::<MetricsReport>(payload)
                .map_err(|e| Dropped::Malformed(format!("metrics: {e}")))?;
            if r.node_name != node {
                return Err(Dropped::Mismatch("metrics name another node"));
            }
            Ok(Report::Metrics(r))
        }
        Topic::Events { node } => {
            if payload.len() > MAX_EVENT_PAYLOAD {
                return Err(Dropped::Oversized(payload.len()));
            }
            let r = serde_json::from_slice::<EventReport>(payload)
                .map_err(|e| Dropped::Malformed(format!("event: {e}")))?;
            r.validate()
                .map_err(|e| Dropped::Malformed(format!("event: {e}")))?;
            if r.node_name != node {
                return Err(Dropped::Mismatch("event names another node"));
            }
            Ok(Report::Event { node, report: r })
        }
        Topic::PodStatus {
            node,
            namespace,
            pod,
        } => {
            let r = serde_json::from_slice::<PodStatusReport>(payload)
                .map_err(|e| Dropped::Malformed(format!("pod status: {e}")))?;
            if r.namespace != namespace || r.name != pod {
                return Err(Dropped::Mismatch("pod status names another pod"));
            }
            if r.node_name != node {
                return Err(Dropped::Mismatch("pod status names another node"));
            }
            Ok(Report::Pod { node, report: r })
        }
    }
}

struct Folder {
    store: Store,
    heartbeats: Heartbeats,
    metrics: crate::metrics::Metrics,
    /// Newest `observedAtMs` folded in per topic.
    last_seen: HashMap<String, u64>,
    /// Nodes whose last will said offline and that have not said online since.
    offline: HashSet<String>,
    /// The newest node report held back while its node was offline.
    held: HashMap<String, NodeStatusReport>,
    events: crate::event_ingest::EventSink,
    /// Writes of this ingest queued and not yet committed, per object
    /// ([`node_object`] / [`pod_object`]). Bounded by [`MAX_IN_FLIGHT`] entries.
    pending: HashMap<String, usize>,
    /// Per object, the revision it had and the [`fingerprint`] of the last report found to
    /// change nothing in it: the same report content against the same revision changes
    /// nothing again, so it is skipped without parsing the stored object.
    quiet: HashMap<String, (u64, u64)>,
}

/// Most topics [`Folder::fresh`] remembers before it starts over.
const MAX_TOPICS_REMEMBERED: usize = 200_000;

/// The key [`Folder::pending`] counts a Node's writes under.
fn node_object(node: &str) -> String {
    format!("node/{node}")
}

/// The key [`Folder::pending`] counts a Pod's writes under.
fn pod_object(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

impl Folder {
    fn new(store: Store, heartbeats: Heartbeats, metrics: crate::metrics::Metrics) -> Folder {
        Folder {
            events: crate::event_ingest::EventSink::new(store.clone()),
            store,
            heartbeats,
            metrics,
            last_seen: HashMap::new(),
            offline: HashSet::new(),
            held: HashMap::new(),
            pending: HashMap::new(),
            quiet: HashMap::new(),
        }
    }

    /// Counts a queued write of `object`.
    fn queued(&mut self, object: &str, w: PendingWrite) -> (String, PendingWrite) {
        *self.pending.entry(object.to_string()).or_default() += 1;
        (object.to_string(), w)
    }

    /// A write of `object` was committed (or failed).
    fn write_done(&mut self, object: &str) {
        if let Some(n) = self.pending.get_mut(object) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(object);
            }
        }
    }

    /// Whether a report may skip the write queue: applying it (`apply`) to the committed
    /// `current` object changes nothing.
    ///
    /// Design: only when none of this ingest's writes to the object is still in flight; a
    /// queued earlier report could otherwise be committed after, and win over, the skipped
    /// newer one. A racing write of another component is healed by the node's next report.
    ///
    /// Design: most reports are heartbeats that repeat the last status. Parsing the stored
    /// object to find that out cost more than everything else the ingest does per message,
    /// so a report whose [`fingerprint`] matches the last unchanged one against the same
    /// object revision is known to change nothing without looking.
    fn unchanged(
        &mut self,
        object: &str,
        fingerprint: u64,
        current: Option<std::sync::Arc<crate::store::StoredObject>>,
        apply: impl FnOnce(&Value) -> Result<Option<Value>, StoreError>,
    ) -> bool {
        if self.pending.contains_key(object) {
            return false;
        }
        let Some(o) = current else {
            // Missing: the write would fail with NotFound, which is ignored anyway.
            return true;
        };
        if self.quiet.get(object) == Some(&(o.revision, fingerprint)) {
            return true;
        }
        if !matches!(apply(&o.value()), Ok(None)) {
            return false;
        }
        if self.quiet.len() >= MAX_TOPICS_REMEMBERED {
            self.quiet.clear();
        }
        self.quiet
            .insert(object.to_string(), (o.revision, fingerprint));
        true
    }

    /// Folds one message; returns its store write, queued, when there is one, with the
    /// object it writes.
    async fn fold(&mut self, topic: &str, payload: &[u8]) -> Option<(String, PendingWrite)> {
        let report = match classify(topic, payload) {
            Ok(r) => r,
            Err(Dropped::NotOurs) => return None,
            Err(e) => {
                tracing::warn!(%topic, bytes = payload.len(), reason = ?e, "dropped a status message");
                return None;
            }
        };
        let result = match report {
            Report::Cleared => Ok(None),
            Report::Online { node, online } => self.online(&node, online).await,
            Report::Node(r) => {
                if !self.fresh(topic, r.observed_at_ms) {
                    tracing::debug!(%topic, "ignored an out-of-order node status");
                    Ok(None)
                } else if self.offline.contains(&r.node_name) {
                    self.held.insert(r.node_name.clone(), r);
                    Ok(None)
                } else {
                    let node = r.node_name.clone();
                    self.node_status(&node, r).await
                }
            }
            Report::Metrics(r) => {
                self.heartbeats.record(&r.node_name, r.observed_at_ms);
                // Usage lives in memory only; the store never sees it.
                self.metrics.record(r);
                Ok(None)
            }
            Report::Event { node, report } => {
                self.heartbeats.record(&node, report.last_timestamp_ms);
                // Event writes are not counted in `pending`: no report is folded onto an Event.
                self.events
                    .fold(&node, report, status::now_ms())
                    .await
                    .map(|w| w.map(|w| (String::new(), w)))
            }
            Report::Pod { node, report } => {
                // Any report is a sign of life, dated when the agent observed it (a retained
                // one replayed to the hub is not news).
                self.heartbeats.record(&node, report.observed_at_ms);
                if self.fresh(topic, report.observed_at_ms) {
                    self.pod_status(&node, report).await
                } else {
                    tracing::debug!(%topic, "ignored an out-of-order pod status");
                    Ok(None)
                }
            }
        };
        match result {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(%topic, error = %e, "dropped a status message");
                None
            }
        }
    }

    fn fresh(&mut self, topic: &str, observed: u64) -> bool {
        match self.last_seen.get(topic) {
            Some(&prev) if observed < prev => false,
            _ => {
                // Bounded: topics of pods long gone would pile up. Forgetting is safe, the
                // store's observed-at annotation still refuses an older report.
                if self.last_seen.len() >= MAX_TOPICS_REMEMBERED {
                    self.last_seen.clear();
                }
                self.last_seen.insert(topic.to_string(), observed);
                true
            }
        }
    }

    async fn online(
        &mut self,
        node: &str,
        online: bool,
    ) -> Result<Option<(String, PendingWrite)>, String> {
        if online {
            self.heartbeats.record(node, status::now_ms());
            self.offline.remove(node);
            if let Some(r) = self.held.remove(node) {
                return self.node_status(node, r).await;
            }
            return Ok(None);
        }
        self.offline.insert(node.to_string());
        let now = status::rfc3339_from_ms(status::now_ms());
        let r = self
            .store
            .enqueue_mutate(&NODES, "", node, Box::new(move |old| {
                let mut v = old.clone();
                let cond = json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "The node's agent went offline (MQTT last will).", "lastHeartbeatTime": now, "lastTransitionTime": now});
                set_condition(&mut v, cond, false);
                taints_follow_ready(&mut v, &now);
                Ok(Some(v))
            }))
            .await;
        r.map(|w| Some(self.queued(&node_object(node), w)))
            .map_err(|e| e.to_string())
    }

    async fn node_status(
        &mut self,
        node: &str,
        r: NodeStatusReport,
    ) -> Result<Option<(String, PendingWrite)>, String> {
        self.heartbeats.record(node, r.observed_at_ms);
        let object = node_object(node);
        let current = self.store.get(&NODES, "", node);
        let fp = node_fingerprint(&r);
        if self.unchanged(&object, fp, current, |old| Ok(apply_node_report(old, &r))) {
            return Ok(None);
        }
        let res = self
            .store
            .enqueue_mutate(
                &NODES,
                "",
                node,
                Box::new(move |old| Ok(apply_node_report(old, &r))),
            )
            .await;
        res.map(|w| Some(self.queued(&object, w)))
            .map_err(|e| e.to_string())
    }

    async fn pod_status(
        &mut self,
        node: &str,
        r: PodStatusReport,
    ) -> Result<Option<(String, PendingWrite)>, String> {
        let node = node.to_string();
        let object = pod_object(&r.namespace, &r.name);
        let current = self.store.get(&PODS, &r.namespace, &r.name);
        let fp = pod_fingerprint(&r);
        if self.unchanged(&object, fp, current, |old| apply_pod_report(old, &r, &node)) {
            return Ok(None);
        }
        let (namespace, name) = (r.namespace.clone(), r.name.clone());
        let res = self
            .store
            .enqueue_mutate(
                &PODS,
                &namespace,
                &name,
                Box::new(move |old| apply_pod_report(old, &r, &node)),
            )
            .await;
        res.map(|w| Some(self.queued(&object, w)))
            .map_err(|e| e.to_string())
    }
}

/// A hash of what a node report says, leaving out when it was made (`observedAtMs` and the
/// conditions' heartbeat times): two reports with one fingerprint applied to one object
/// version give the same result.
fn node_fingerprint(r: &NodeStatusReport) -> u64 {
    let mut quiet = NodeStatusReport {
        observed_at_ms: 0,
        ..r.clone()
    };
    for c in &mut quiet.conditions {
        c.last_heartbeat_time = None;
    }
    hash_of(&quiet)
}

/// [`node_fingerprint`] for pod reports.
fn pod_fingerprint(r: &PodStatusReport) -> u64 {
    let mut quiet = PodStatusReport {
        observed_at_ms: 0,
        ..r.clone()
    };
    for c in &mut quiet.status.conditions {
        c.last_heartbeat_time = None;
    }
    hash_of(&quiet)
}

/// A 64-bit hash of `v`, the same for equal values within this process (what the ingest's
/// and the node sessions' "unchanged since last time" memories compare).
pub(crate) fn hash_of(v: &impl std::hash::Hash) -> u64 {
    use std::hash::{BuildHasher as _, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(v)
}

/// A node status report applied to the stored Node `old`: `None` when it changes nothing a
/// client can see (a heartbeat) or is older than what the Node has. Pure.
pub fn apply_node_report(old: &Value, r: &NodeStatusReport) -> Option<Value> {
    if observed_in(old) > Some(r.observed_at_ms) {
        return None; // older than what the store has
    }
    let mut v = old.clone();
    for c in &r.conditions {
        let cond = serde_json::to_value(c).unwrap_or_default();
        set_condition(&mut v, cond, false);
    }
    if !r.addresses.is_empty() {
        v["status"]["addresses"] = serde_json::to_value(&r.addresses).unwrap_or_default();
    }
    if !r.capacity.is_empty() {
        v["status"]["capacity"] = json!(r.capacity);
    }
    if !r.allocatable.is_empty() {
        v["status"]["allocatable"] = json!(r.allocatable);
    }
    taints_follow_ready(&mut v, &status::rfc3339_from_ms(r.observed_at_ms));
    stamp_if_changed(old, v, r.observed_at_ms)
}

/// A pod status report from `node` applied to the stored Pod `old`: `None` when it changes
/// nothing, is about an earlier pod of the same name, or is older than what the Pod has;
/// an error when the pod is not bound to `node`. Pure.
pub fn apply_pod_report(
    old: &Value,
    r: &PodStatusReport,
    node: &str,
) -> Result<Option<Value>, StoreError> {
    if old.pointer("/metadata/uid").and_then(Value::as_str) != Some(r.uid.as_str()) {
        return Ok(None); // a report about an earlier pod of the same name
    }
    if old.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return Err(StoreError::Invalid(format!(
            "node {node} reported a pod that is not bound to it"
        )));
    }
    if observed_in(old) > Some(r.observed_at_ms) {
        return Ok(None); // older than what the store has
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
    Ok(stamp_if_changed(old, v, r.observed_at_ms))
}

/// The [`OBSERVED_ANNOTATION`] of a stored object.
fn observed_in(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(OBSERVED_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// `Some(new)` with the report time stamped when `new` differs from `old`; `None` (no write)
/// when the report changed nothing.
fn stamp_if_changed(old: &Value, mut new: Value, observed: u64) -> Option<Value> {
    if &new == old {
        return None;
    }
    if !new["metadata"]["annotations"].is_object() {
        new["metadata"]["annotations"] = json!({});
    }
    new["metadata"]["annotations"][OBSERVED_ANNOTATION] = json!(observed.to_string());
    Some(new)
}

fn log_failed(topic: &str, r: Result<(), String>) {
    if let Err(e) = r {
        tracing::warn!(%topic, error = %e, "dropped a status message");
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
    use shoal_transport::status::{Condition, PodStatus};

    fn heartbeat(observed: u64) -> NodeStatusReport {
        NodeStatusReport {
            node_name: "n1".into(),
            observed_at_ms: observed,
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: "True".into(),
                last_heartbeat_time: Some(format!("t{observed}")),
                last_transition_time: Some("t0".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_repeated_heartbeat_changes_nothing_and_an_older_report_is_ignored() {
        let node = json!({"metadata": {"name": "n1"}});
        let first =
            apply_node_report(&node, &heartbeat(100)).expect("the first report changes the node");
        assert_eq!(first["status"]["conditions"][0]["status"], "True");
        assert_eq!(observed_in(&first), Some(100));
        assert_eq!(
            apply_node_report(&first, &heartbeat(200)),
            None,
            "heartbeat only"
        );
        let mut not_ready = heartbeat(50);
        not_ready.conditions[0].status = "False".into();
        assert_eq!(
            apply_node_report(&first, &not_ready),
            None,
            "older than the stored one"
        );
        not_ready.observed_at_ms = 300;
        let changed = apply_node_report(&first, &not_ready).expect("a real change");
        assert_eq!(changed["status"]["conditions"][0]["status"], "False");
    }

    #[test]
    fn pod_reports_change_only_their_own_bound_pod() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"nodeName": "n1"}, "status": {"phase": "Pending", "qosClass": "BestEffort"}});
        let report = |uid: &str, phase: &str, observed: u64| PodStatusReport {
            uid: uid.into(),
            namespace: "default".into(),
            name: "p".into(),
            node_name: "n1".into(),
            observed_at_ms: observed,
            status: PodStatus {
                phase: phase.into(),
                ..Default::default()
            },
        };
        let running = apply_pod_report(&pod, &report("u1", "Running", 10), "n1")
            .expect("bound")
            .expect("changed");
        assert_eq!(running["status"]["phase"], "Running");
        assert_eq!(
            running["status"]["qosClass"], "BestEffort",
            "the hub's field stays"
        );
        assert!(matches!(
            apply_pod_report(&running, &report("u1", "Running", 20), "n1"),
            Ok(None)
        ));
        assert!(matches!(
            apply_pod_report(&running, &report("u0", "Failed", 30), "n1"),
            Ok(None)
        ));
        assert!(apply_pod_report(&running, &report("u1", "Failed", 30), "n2").is_err());
    }

    #[test]
    fn event_payloads_are_checked_before_anything_else() {
        let topic = status::events_topic("edge-1");
        let good = json!({"nodeName": "edge-1", "id": "a1", "type": "Warning", "reason": "BackOff",
            "message": "m", "count": 1, "firstTimestampMs": 1, "lastTimestampMs": 1,
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u"}});
        let bytes = serde_json::to_vec(&good).expect("json");
        assert!(matches!(
            classify(&topic, &bytes),
            Ok(Report::Event { ref node, .. }) if node == "edge-1"
        ));
        assert!(matches!(
            classify(&status::events_topic("edge-2"), &bytes),
            Err(Dropped::Mismatch(_))
        ));
        let mut bad = good.clone();
        bad["reason"] = json!("no spaces allowed");
        assert!(matches!(
            classify(&topic, &serde_json::to_vec(&bad).expect("json")),
            Err(Dropped::Malformed(_))
        ));
        assert!(matches!(
            classify(&topic, b"{not json"),
            Err(Dropped::Malformed(_))
        ));
        let mut big = good.clone();
        big["message"] = json!("x".repeat(MAX_EVENT_PAYLOAD));
        assert!(matches!(
            classify(&topic, &serde_json::to_vec(&big).expect("json")),
            Err(Dropped::Oversized(_))
        ));
    }

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

    /// Folds `report` on its topic and waits for the write, if there is one; whether there was.
    async fn fold_node(folder: &mut Folder, report: &NodeStatusReport) -> bool {
        let topic = status::node_status_topic(&report.node_name);
        let payload = serde_json::to_vec(report).expect("json");
        match folder.fold(&topic, &payload).await {
            Some((object, w)) => {
                w.await.expect("committed");
                folder.write_done(&object);
                true
            }
            None => false,
        }
    }

    #[tokio::test]
    async fn repeated_reports_skip_the_store_until_the_object_or_the_report_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), crate::resources::ALL).expect("store");
        store
            .create(
                &NODES,
                "",
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
            )
            .await
            .expect("node");
        let mut folder = Folder::new(
            store.clone(),
            Heartbeats::default(),
            crate::metrics::Metrics::default(),
        );
        assert!(
            fold_node(&mut folder, &heartbeat(100)).await,
            "first report writes"
        );
        let rev = store.get(&NODES, "", "n1").expect("node").revision;
        assert!(
            !fold_node(&mut folder, &heartbeat(200)).await,
            "heartbeat only"
        );
        assert!(
            !fold_node(&mut folder, &heartbeat(300)).await,
            "known quiet report"
        );
        // Another writer changes the Node: the same report content is looked at again and
        // puts the condition back.
        store
            .mutate(
                &NODES,
                "",
                "n1",
                Box::new(|old| {
                    let mut v = old.clone();
                    v["status"]["conditions"] = json!([]);
                    Ok(Some(v))
                }),
            )
            .await
            .expect("mutate");
        assert!(
            fold_node(&mut folder, &heartbeat(400)).await,
            "the object changed"
        );
        let node = store.get(&NODES, "", "n1").expect("node");
        assert_eq!(node.value()["status"]["conditions"][0]["status"], "True");
        assert!(node.revision > rev);
        // A report that says something new writes even right after a quiet one.
        assert!(!fold_node(&mut folder, &heartbeat(500)).await);
        let mut not_ready = heartbeat(600);
        not_ready.conditions[0].status = "False".into();
        assert!(fold_node(&mut folder, &not_ready).await, "a real change");
        assert_eq!(
            store.get(&NODES, "", "n1").expect("node").value()["status"]["conditions"][0]["status"],
            "False"
        );
    }
}
