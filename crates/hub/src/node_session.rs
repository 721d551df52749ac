//! The hub's side of the QUIC link: the accept loop ([`QuicServer`]), joins, and one
//! [`NodeSession`] actor per connected agent.
//!
//! A session reads the agent's hello, writes the Node object, then streams the node's desired
//! pods: a delta from the agent's last acknowledged revision when the store's history still
//! reaches back that far, a full snapshot otherwise, and deltas as the store changes. Pod
//! status writes do not change a pod's plan, so they are not sent (the session remembers
//! what it sent). The changes come from the [`NodeRouter`], which reads the change stream
//! once for all sessions and hands each only its node's pods and the ConfigMap / Secret /
//! Service / Endpoints changes, so the work per change does not grow with the number of
//! connected nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use shoal_transport::frame::{self, read_frame, write_frame};
use shoal_transport::pki::CertAuthority;
use shoal_transport::token::{secrets_equal, JoinToken};
use shoal_transport::wire::{
    AgentHello, AgentMessage, HubMessage, JoinAccepted, JoinRequest, JoinResponse, MqttCredentials,
    NodeInfo, PodPlan, ServicePlan,
};

use crate::broker::MqttUsers;
use crate::config_source::{config_key, ConfigDeps, StoreConfig};
use crate::node_router::{NodeRouter, Routed};
use crate::plan;
use crate::resources::{NODES, PODS};
use crate::service_plan;
use crate::store::{EventType, Store, StoreError, StoredObject};

/// Largest frame an agent may send (hellos and acks are small).
const MAX_AGENT_FRAME: usize = 1024 * 1024;
/// Joins decided at once (CSR signing and the credentials' sync, on the blocking pool).
const JOIN_WORKERS: usize = 8;
static JOIN_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(JOIN_WORKERS);
/// Joins waiting for or holding a slot; past this a join connection is closed unanswered.
const MAX_JOIN_QUEUE: usize = 256;
static JOINS_QUEUED: AtomicUsize = AtomicUsize::new(0);
/// QUIC handshakes in flight; past this new connections are refused.
const MAX_HANDSHAKES: usize = 256;
static HANDSHAKES: AtomicUsize = AtomicUsize::new(0);

/// One join counted in [`JOINS_QUEUED`] while it lives.
struct JoinQueued;

impl JoinQueued {
    fn enter() -> Option<JoinQueued> {
        if JOINS_QUEUED.fetch_add(1, Ordering::AcqRel) >= MAX_JOIN_QUEUE {
            JOINS_QUEUED.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(JoinQueued)
    }
}

impl Drop for JoinQueued {
    fn drop(&mut self) {
        JOINS_QUEUED.fetch_sub(1, Ordering::AcqRel);
    }
}
/// How often a session tells the agent the current revision (which the agent acknowledges,
/// so a later reconnect resumes with a delta from there). Every frame a session sends does
/// the same; QUIC keep-alives, not this, keep the connection open.
const PING_EVERY: Duration = Duration::from_secs(30);

/// What every session and join needs.
pub struct HubLink {
    pub store: Store,
    pub ca: CertAuthority,
    pub join_token: JoinToken,
    pub mqtt_users: MqttUsers,
    /// Broker URL handed to agents (`mqtt://:1883` = the host they reached the hub at).
    pub mqtt_url: String,
    /// CA (PEM) handed to agents with `mqtt_url` when it is `mqtts://`; empty otherwise.
    pub mqtt_ca_pem: String,
    pub kubelet_version: String,
    /// Connected nodes, for the API's logs and exec streams.
    pub conns: crate::node_conns::NodeConns,
    /// Hands each session its node's changes.
    pub router: NodeRouter,
}

/// Accepts QUIC connections and hands them to joins or sessions.
pub struct QuicServer {
    pub endpoint: quinn::Endpoint,
    pub link: Arc<HubLink>,
}

impl Actor for QuicServer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let endpoint = self.endpoint.clone();
        let link = self.link.clone();
        let accept = async move {
            while let Some(incoming) = endpoint.accept().await {
                // Design: admission control. A fleet starting at once offers more handshakes
                // than the hub can finish; accepting them all makes every one slow, agents
                // time out and retry, and the retries are more load (a retry storm). Past
                // MAX_HANDSHAKES in flight a new connection is refused at once (one packet,
                // no crypto); the agent retries it with its back-off.
                if HANDSHAKES.fetch_add(1, Ordering::AcqRel) >= MAX_HANDSHAKES {
                    HANDSHAKES.fetch_sub(1, Ordering::AcqRel);
                    incoming.refuse();
                    continue;
                }
                let link = link.clone();
                actix::spawn(async move {
                    let conn = incoming.await;
                    HANDSHAKES.fetch_sub(1, Ordering::AcqRel);
                    let conn = match conn {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::debug!(error = %e, "QUIC handshake failed");
                            return;
                        }
                    };
                    match shoal_transport::quic::peer_node_name(&conn) {
                        None => handle_join(conn, link).await,
                        Some(node) => {
                            NodeSession { node, conn, link }.start();
                        }
                    }
                });
            }
        };
        ctx.spawn(accept.into_actor(self));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.endpoint.close(0u32.into(), b"hub shutting down");
    }
}

async fn handle_join(conn: quinn::Connection, link: Arc<HubLink>) {
    let remote = conn.remote_address();
    let result = async {
        let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
        let req: JoinRequest = read_frame(&mut recv, MAX_AGENT_FRAME)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("join stream closed before a request")?;
        // Design: signing the CSR and syncing the node's MQTT credentials to disk are
        // blocking work; they run on the blocking pool, at most JOIN_WORKERS at once, so the
        // hub's actor thread keeps serving sessions and a burst of joins shares the
        // credential file's group commits instead of queueing one sync each.
        let answer = {
            // A join that would wait behind more than MAX_JOIN_QUEUE others is closed now
            // (the agent retries with back-off) rather than answered after the agent gave up.
            let _waiting =
                JoinQueued::enter().ok_or_else(|| "too many joins queued; closed".to_string())?;
            let _slot = JOIN_SLOTS.acquire().await.map_err(|e| e.to_string())?;
            let (link, req) = (link.clone(), req.clone());
            tokio::task::spawn_blocking(move || decide_join(&link, &req))
                .await
                .map_err(|e| e.to_string())?
        };
        if let JoinResponse::Rejected(reason) = &answer {
            tracing::warn!(%remote, node = %req.node_name, %reason, "join refused");
        } else {
            tracing::info!(%remote, node = %req.node_name, "node joined");
        }
        write_frame(&mut send, &answer)
            .await
            .map_err(|e| e.to_string())?;
        let _ = send.finish();
        // Let the agent read the answer before the connection goes.
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        Ok::<(), String>(())
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(%remote, error = %e, "join connection ended with an error");
    }
}

fn decide_join(link: &HubLink, req: &JoinRequest) -> JoinResponse {
    let now = shoal_transport::status::now_ms();
    if !secrets_equal(&req.token_secret, &link.join_token.secret)
        && !crate::join_secrets::valid(&link.store, &req.token_secret, now)
    {
        return JoinResponse::Rejected("join token is invalid or expired".into());
    }
    if let Err(e) = shoal_transport::names::validate_node_name(&req.node_name) {
        return JoinResponse::Rejected(format!("invalid node name {:?}: {e}", req.node_name));
    }
    let cert = match link.ca.sign_node_csr(&req.csr_pem, &req.node_name) {
        Ok(c) => c,
        Err(e) => {
            return JoinResponse::Rejected(format!("cannot sign the certificate request: {e}"))
        }
    };
    let (username, password) = match link.mqtt_users.issue_for_node(&req.node_name) {
        Ok(c) => c,
        Err(e) => return JoinResponse::Rejected(format!("cannot issue MQTT credentials: {e}")),
    };
    JoinResponse::Accepted(JoinAccepted {
        node_cert_pem: cert,
        ca_cert_pem: link.ca.cert_pem.clone(),
        mqtt: MqttCredentials {
            url: link.mqtt_url.clone(),
            username,
            password,
            ca_pem: link.mqtt_ca_pem.clone(),
        },
    })
}

/// One connected agent.
pub struct NodeSession {
    pub node: String,
    pub conn: quinn::Connection,
    pub link: Arc<HubLink>,
}

impl Actor for NodeSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (node, conn, link) = (self.node.clone(), self.conn.clone(), self.link.clone());
        tracing::info!(%node, remote = %conn.remote_address(), "node connected");
        let fut = async move {
            let _registered = link.conns.register(&node, conn.clone());
            if let Err(e) = run_session(&node, &conn, &link).await {
                tracing::info!(%node, error = %e, "node session ended");
            }
            conn.close(0u32.into(), b"session ended");
        };
        ctx.spawn(fut.into_actor(self).map(|_, _, ctx| ctx.stop()));
    }
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("stream: {0}")]
    Stream(String),
    #[error("frame: {0}")]
    Frame(#[from] frame::FrameError),
    #[error("the agent's hello names node {claimed:?} but its certificate is for {node:?}")]
    WrongNode { claimed: String, node: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What a session remembers of a plan it sent: a digest of the plan without its revision
/// (`None` when it cannot be encoded, which then never equals anything: the plan is sent).
///
/// Design: a digest, not the plan. A session compares each routed pod's new plan with what
/// it sent, so a status write (which does not change the plan) is not sent; keeping whole
/// plans for that was one of the hub's larger costs per pod (every container, env var and
/// volume of every pod, once more per node session).
fn plan_digest(p: &PodPlan) -> Option<u64> {
    let bytes = frame::encode(&PodPlan {
        revision: 0,
        ..p.clone()
    })
    .ok()?;
    Some(crate::status_ingest::hash_of(&bytes))
}

/// Whether `p` differs from what was sent of it (also when its digest is unknown).
fn changed(sent: &HashMap<String, Option<u64>>, p: &PodPlan, digest: Option<u64>) -> bool {
    digest.is_none() || sent.get(&p.uid) != Some(&digest)
}

/// The plan of a stored pod, reading the ConfigMaps and Secrets it references from `store`;
/// records those references in `deps` (forgets them for a deleted pod).
fn compile(
    o: &StoredObject,
    store: &Store,
    deps: &mut ConfigDeps,
    deleted: bool,
) -> Option<PodPlan> {
    let pod: Pod = serde_json::from_slice(&o.json).ok()?;
    let plan = plan::compile(&pod, o.revision, &StoreConfig(store));
    deps.track(&plan.uid, (!deleted).then_some(&pod));
    Some(plan)
}

/// Plans of this node's pods that depend on the ConfigMap or Secret stored under `key`,
/// recompiled from the store now.
fn dependents_of(key: &str, store: &Store, deps: &mut ConfigDeps, node: &str) -> Vec<PodPlan> {
    let Some((kind, ns, name)) = config_key(key) else {
        return Vec::new();
    };
    deps.dependents(kind, ns, name)
        .into_iter()
        .filter_map(|(ns, pod)| store.get(&PODS, &ns, &pod))
        .filter(|o| o.field("spec.nodeName") == Some(node))
        .filter_map(|o| compile(&o, store, deps, false))
        .collect()
}

async fn run_session(
    node: &str,
    conn: &quinn::Connection,
    link: &HubLink,
) -> Result<(), SessionError> {
    let (mut send, mut recv) = conn
        .accept_bi()
        .await
        .map_err(|e| SessionError::Stream(e.to_string()))?;
    let hello: AgentHello = read_frame(&mut recv, MAX_AGENT_FRAME)
        .await?
        .ok_or_else(|| SessionError::Stream("closed before hello".into()))?;
    if hello.node.node_name != node {
        return Err(SessionError::WrongNode {
            claimed: hello.node.node_name,
            node: node.to_string(),
        });
    }
    upsert_node(&link.store, &hello.node, &link.kubelet_version).await?;

    // Design: subscribe before reading the store, so no change after the snapshot is missed.
    let mut routed = link.router.subscribe(node);
    let store = &link.store;
    let on_node = |o: &StoredObject| o.field("spec.nodeName") == Some(node);
    let current = store.list(&PODS, None, &on_node, None, 0);
    let mut sent: HashMap<String, Option<u64>> = HashMap::new();
    let mut deps = ConfigDeps::default();
    let desired: Vec<PodPlan> = current
        .items
        .iter()
        .filter_map(|o| compile(o, store, &mut deps, false))
        .collect();
    let resume = hello.last_acked_revision;
    let first = match (resume > 0 && resume <= current.revision)
        .then(|| store.events_after(resume, usize::MAX))
    {
        Some(Ok(events)) => {
            // The agent holds the set as of `resume`: send what changed since.
            let mut upserts: HashMap<String, PodPlan> = HashMap::new();
            let mut deletes = Vec::new();
            // Pods whose ConfigMaps or Secrets changed get their current plan.
            for ev in events.iter().filter(|e| e.revision <= current.revision) {
                for p in dependents_of(&ev.object.key, store, &mut deps, node) {
                    upserts.insert(p.uid.clone(), p);
                }
            }
            for ev in events.iter().filter(|e| {
                e.revision <= current.revision
                    && e.object.key.starts_with("pods/")
                    && on_node(&e.object)
            }) {
                let deleted = ev.event_type == EventType::Deleted;
                let Some(p) = compile(&ev.object, store, &mut deps, deleted) else {
                    continue;
                };
                if ev.event_type == EventType::Deleted {
                    upserts.remove(&p.uid);
                    deletes.push(p.uid);
                } else {
                    deletes.retain(|u| u != &p.uid);
                    upserts.insert(p.uid.clone(), p);
                }
            }
            tracing::info!(%node, from = resume, to = current.revision, upserts = upserts.len(), deletes = deletes.len(), "resuming node sync with a delta");
            HubMessage::Delta {
                revision: current.revision,
                upserts: upserts.into_values().collect(),
                deletes,
            }
        }
        _ => {
            tracing::info!(%node, revision = current.revision, pods = desired.len(), "sending node a snapshot");
            HubMessage::Snapshot {
                revision: current.revision,
                pods: desired.clone(),
            }
        }
    };
    for p in &desired {
        sent.insert(p.uid.clone(), plan_digest(p));
    }
    // Design: Services go to every node in full at the start of each session (they are few
    // and small), then as changes; only pods resume from the acknowledged revision.
    let mut sent_services: HashMap<String, ServicePlan> = HashMap::new();
    write_frame(
        &mut send,
        &full_services(store, current.revision, &mut sent_services),
    )
    .await?;
    write_frame(&mut send, &first).await?;

    let acked = Arc::new(AtomicU64::new(resume));
    let acks = {
        let acked = acked.clone();
        async move {
            loop {
                match read_frame::<AgentMessage>(&mut recv, MAX_AGENT_FRAME).await {
                    Ok(Some(AgentMessage::Ack { revision })) => {
                        acked.store(revision, Ordering::Relaxed)
                    }
                    Ok(None) => return "agent closed the sync stream".to_string(),
                    Err(e) => return e.to_string(),
                }
            }
        }
    };
    tokio::pin!(acks);
    let mut cursor = current.revision;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            why = &mut acks => return Err(SessionError::Stream(why)),
            _ = ping.tick() => {
                write_frame(&mut send, &HubMessage::Ping { revision: cursor }).await?;
            }
            msg = routed.rx.recv() => {
                let events = match msg {
                    // Replaced by a newer session of this node, or the hub is stopping.
                    None => return Ok(()),
                    Some(Routed::Resync) => {
                        // Changes were lost on the way: start over with a snapshot.
                        let now = store.list(&PODS, None, &on_node, None, 0);
                        deps = ConfigDeps::default();
                        let pods: Vec<PodPlan> = now.items.iter().filter_map(|o| compile(o, store, &mut deps, false)).collect();
                        sent = pods.iter().map(|p| (p.uid.clone(), plan_digest(p))).collect();
                        cursor = now.revision;
                        write_frame(&mut send, &full_services(store, cursor, &mut sent_services)).await?;
                        write_frame(&mut send, &HubMessage::Snapshot { revision: cursor, pods }).await?;
                        continue;
                    }
                    Some(Routed::Events(events)) => events,
                };
                let mut upserts = Vec::new();
                let mut deletes = Vec::new();
                let mut services_touched: std::collections::BTreeSet<(String, String)> = Default::default();
                // Changes up to the snapshot (or the last resync) are already in what was sent.
                let from = cursor;
                for ev in events.iter().filter(|e| e.revision > from) {
                    cursor = ev.revision;
                    for p in dependents_of(&ev.object.key, store, &mut deps, node) {
                        let digest = plan_digest(&p);
                        if changed(&sent, &p, digest) {
                            sent.insert(p.uid.clone(), digest);
                            upserts.retain(|u: &PodPlan| u.uid != p.uid);
                            upserts.push(p);
                        }
                    }
                    if ev.object.key.starts_with("services/") || ev.object.key.starts_with("endpoints/") {
                        let (ns, name) = ev.object.namespace_and_name();
                        services_touched.insert((ns.to_string(), name.to_string()));
                        continue;
                    }
                    if !ev.object.key.starts_with("pods/") || !on_node(&ev.object) {
                        continue;
                    }
                    let deleted = ev.event_type == EventType::Deleted;
                    let Some(p) = compile(&ev.object, store, &mut deps, deleted) else { continue };
                    let digest = (!deleted).then(|| plan_digest(&p)).flatten();
                    if deleted {
                        upserts.retain(|u: &PodPlan| u.uid != p.uid);
                        if sent.remove(&p.uid).is_some() {
                            deletes.push(p.uid);
                        }
                    } else if changed(&sent, &p, digest) {
                        sent.insert(p.uid.clone(), digest);
                        upserts.retain(|u: &PodPlan| u.uid != p.uid);
                        upserts.push(p);
                    }
                }
                if let Some(msg) = service_changes(store, cursor, &services_touched, &mut sent_services) {
                    write_frame(&mut send, &msg).await?;
                }
                if !upserts.is_empty() || !deletes.is_empty() {
                    write_frame(&mut send, &HubMessage::Delta { revision: cursor, upserts, deletes }).await?;
                }
            }
        }
    }
}

/// Every Service, compiled, as a full [`HubMessage::Services`]; remembers what was sent.
fn full_services(
    store: &Store,
    revision: u64,
    sent: &mut HashMap<String, ServicePlan>,
) -> HubMessage {
    let upserts = service_plan::compile_all(store);
    *sent = upserts
        .iter()
        .map(|p| (format!("{}/{}", p.namespace, p.name), p.clone()))
        .collect();
    HubMessage::Services {
        revision,
        full: true,
        upserts,
        deletes: Vec::new(),
    }
}

/// The Services among `touched` whose plan differs from what was sent, as a
/// [`HubMessage::Services`] change, or `None` when nothing the agent has changed.
fn service_changes(
    store: &Store,
    revision: u64,
    touched: &std::collections::BTreeSet<(String, String)>,
    sent: &mut HashMap<String, ServicePlan>,
) -> Option<HubMessage> {
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for (ns, name) in touched {
        let key = format!("{ns}/{name}");
        match service_plan::compile_from_store(store, ns, name) {
            Some(p) => {
                if sent.get(&key) != Some(&p) {
                    sent.insert(key, p.clone());
                    upserts.push(p);
                }
            }
            None => {
                if sent.remove(&key).is_some() {
                    deletes.push(key);
                }
            }
        }
    }
    (!upserts.is_empty() || !deletes.is_empty()).then_some(HubMessage::Services {
        revision,
        full: false,
        upserts,
        deletes,
    })
}

/// Creates or refreshes the Node object from what the agent reports.
async fn upsert_node(
    store: &Store,
    info: &NodeInfo,
    kubelet_version: &str,
) -> Result<(), StoreError> {
    let mut labels = serde_json::Map::new();
    labels.insert("kubernetes.io/hostname".into(), json!(info.node_name));
    labels.insert("kubernetes.io/os".into(), json!(info.operating_system));
    labels.insert("kubernetes.io/arch".into(), json!(info.architecture));
    labels.insert("node.shoal.io/edge".into(), json!("true"));
    for (k, v) in &info.labels {
        labels.insert(k.clone(), json!(v));
    }
    let map = |pairs: &[(String, String)]| -> Value {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let mut addresses = vec![json!({"type": "InternalIP", "address": info.node_ip})];
    if !info.hostname.is_empty() {
        addresses.push(json!({"type": "Hostname", "address": info.hostname}));
    }
    let node_info = json!({
        "machineID": "", "systemUUID": "", "bootID": "",
        "kernelVersion": info.kernel_version,
        "osImage": info.os_image,
        "containerRuntimeVersion": info.container_runtime_version,
        "kubeletVersion": kubelet_version,
        "kubeProxyVersion": "",
        "operatingSystem": info.operating_system,
        "architecture": info.architecture,
    });
    let capacity = map(&info.capacity);
    let allocatable = map(&info.allocatable);
    let runtimes = info.runtimes.join(",");
    if store.get(&NODES, "", &info.node_name).is_none() {
        let now = shoal_transport::status::rfc3339_from_ms(shoal_transport::status::now_ms());
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": info.node_name, "labels": labels, "annotations": {"node.shoal.io/runtimes": runtimes}},
            "spec": {},
            "status": {
                "capacity": capacity, "allocatable": allocatable, "addresses": addresses, "nodeInfo": node_info,
                "conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                                "message": "Kubelet never posted node status.", "lastHeartbeatTime": now, "lastTransitionTime": now}],
            }
        });
        match store.create(&NODES, "", node).await {
            Ok(_) => return Ok(()),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    store
        .mutate(
            &NODES,
            "",
            &info.node_name,
            Box::new(move |old| {
                let mut v = old.clone();
                for (k, val) in labels {
                    v["metadata"]["labels"][k] = val;
                }
                v["metadata"]["annotations"]["node.shoal.io/runtimes"] = json!(runtimes);
                v["status"]["capacity"] = capacity;
                v["status"]["allocatable"] = allocatable;
                v["status"]["addresses"] = json!(addresses);
                v["status"]["nodeInfo"] = node_info;
                Ok(Some(v))
            }),
        )
        .await
        .map(|_| ())
}
