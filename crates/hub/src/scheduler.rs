//! The scheduler: binds each pending pod to a node.
//!
//! [`place`] is the pure core: a pod and the nodes as they stand in, a node name or the
//! reasons nothing fits out. It filters and scores as the default Kubernetes scheduler does,
//! with a smaller set of plugins:
//! - **filters**: node Ready and schedulable; `nodeSelector` and required node affinity;
//!   `NoSchedule`/`NoExecute` taints tolerated (the not-ready/unreachable lifecycle taints are
//!   left to the Ready filter); cpu, memory and pod-count requests within
//!   `allocatable` (minus what bound pods request); no host-port conflict;
//! - **scores**: least requested (cpu and memory, or pod count on nodes that report no
//!   allocatable), plus spreading the pods of one owner (ReplicaSet, Job, ...) across nodes.
//!   Ties go to the node with fewer pods, then the name, so placement is deterministic.
//!
//! The [`Scheduler`] actor follows the store's changes with one cursor and keeps per-node
//! usage (requests, host ports, pods per owner) up to date from them, so placing a pod costs
//! O(nodes) in memory and never lists pods. Unschedulable pods are retried when nodes or pods
//! change (and on a slow timer), with a `FailedScheduling` Event ("0/N nodes are
//! available: ...") when the reason changes; bound pods get a `Scheduled` Event. Binding goes
//! through [`bind_pod`], as the `pods/binding` subresource does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use serde_json::{json, Value};

use crate::api::handlers::bind_pod;
use crate::controllers::daemonset::{required_affinity_matches, NodeInfo};
use crate::controllers::node_lifecycle::{TAINT_NOT_READY, TAINT_UNREACHABLE};
use crate::resources::{EVENTS, NODES, PODS};
use crate::store::{EventType, Store, StoreError};

/// Pods a node takes when it reports no `pods` allocatable (Kubernetes' kubelet default).
pub const DEFAULT_MAX_PODS: i64 = 110;

/// Parses a Kubernetes quantity ("500m", "1.5", "128Mi", "1G", "2e3") into base units.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let suffixes: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suf, mult) in suffixes {
        if let Some(num) = s.strip_suffix(suf) {
            return num.parse::<f64>().ok().map(|n| n * mult);
        }
    }
    s.parse::<f64>().ok()
}

/// What a pod asks of a node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodDemand {
    pub cpu_milli: i64,
    pub memory: i64,
    /// `(protocol, hostIP, hostPort)`.
    pub host_ports: Vec<(String, String, i64)>,
    /// The controller owner's uid, for spreading.
    pub owner: Option<String>,
}

impl PodDemand {
    pub fn from_pod(pod: &Value) -> PodDemand {
        let sum = |list: &str| -> (i64, i64) {
            let mut cpu = 0i64;
            let mut mem = 0i64;
            for c in pod
                .pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let req = |k: &str| {
                    c.pointer(&format!("/resources/requests/{k}"))
                        .or_else(|| c.pointer(&format!("/resources/limits/{k}")))
                        .and_then(Value::as_str)
                        .and_then(parse_quantity)
                        .unwrap_or(0.0)
                };
                cpu += (req("cpu") * 1000.0).round() as i64;
                mem += req("memory").round() as i64;
            }
            (cpu, mem)
        };
        let (cpu, mem) = sum("containers");
        // Init containers run one at a time before the others: the pod needs the larger.
        let mut init = (0i64, 0i64);
        for c in pod
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let one = PodDemand::from_pod(&json!({"spec": {"containers": [c]}}));
            init = (init.0.max(one.cpu_milli), init.1.max(one.memory));
        }
        let host_ports = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| {
                let port = p
                    .get("hostPort")
                    .and_then(Value::as_i64)
                    .filter(|p| *p > 0)?;
                Some((
                    p.get("protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("TCP")
                        .to_string(),
                    p.get("hostIP")
                        .and_then(Value::as_str)
                        .unwrap_or("0.0.0.0")
                        .to_string(),
                    port,
                ))
            })
            .collect();
        PodDemand {
            cpu_milli: cpu.max(init.0),
            memory: mem.max(init.1),
            host_ports,
            owner: crate::controllers::controller_of(pod).map(|(_, _, uid)| uid.to_string()),
        }
    }
}

/// What placement needs to know about a node.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `(key, value, effect)`.
    pub taints: Vec<(String, String, String)>,
    pub ready: bool,
    pub unschedulable: bool,
    /// Allocatable cpu (millicores) and memory (bytes); `None` when the node does not say.
    pub alloc_cpu_milli: Option<i64>,
    pub alloc_memory: Option<i64>,
    pub alloc_pods: i64,
    /// What bound pods use.
    pub pods: usize,
    pub used_cpu_milli: i64,
    pub used_memory: i64,
    pub used_ports: Vec<(String, String, i64)>,
    /// Pods per owner uid.
    pub owners: HashMap<String, usize>,
}

impl NodeView {
    pub fn from_value(v: &Value, pods: usize) -> NodeView {
        let info = NodeInfo::from_value(v);
        let ready = v
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        let alloc = |k: &str| {
            v.pointer(&format!("/status/allocatable/{k}"))
                .and_then(Value::as_str)
                .and_then(parse_quantity)
        };
        NodeView {
            name: info.name,
            labels: info.labels,
            taints: info.taints,
            ready,
            unschedulable: v
                .pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            alloc_cpu_milli: alloc("cpu").map(|c| (c * 1000.0).round() as i64),
            alloc_memory: alloc("memory").map(|m| m.round() as i64),
            alloc_pods: alloc("pods").map(|p| p as i64).unwrap_or(DEFAULT_MAX_PODS),
            pods,
            ..Default::default()
        }
    }

    /// Accounts for a pod bound here.
    pub fn add(&mut self, d: &PodDemand) {
        self.pods += 1;
        self.used_cpu_milli += d.cpu_milli;
        self.used_memory += d.memory;
        self.used_ports.extend(d.host_ports.iter().cloned());
        if let Some(o) = &d.owner {
            *self.owners.entry(o.clone()).or_default() += 1;
        }
    }

    pub fn remove(&mut self, d: &PodDemand) {
        self.pods = self.pods.saturating_sub(1);
        self.used_cpu_milli -= d.cpu_milli;
        self.used_memory -= d.memory;
        for p in &d.host_ports {
            if let Some(i) = self.used_ports.iter().position(|x| x == p) {
                self.used_ports.remove(i);
            }
        }
        if let Some(o) = &d.owner {
            if let Some(n) = self.owners.get_mut(o) {
                *n -= 1;
                if *n == 0 {
                    self.owners.remove(o);
                }
            }
        }
    }

    fn as_node_info(&self) -> NodeInfo {
        NodeInfo {
            name: self.name.clone(),
            labels: self.labels.clone(),
            taints: self.taints.clone(),
        }
    }
}

fn tolerated(tolerations: &[Value], key: &str, value: &str, effect: &str) -> bool {
    tolerations.iter().any(|t| {
        let t_effect = t.get("effect").and_then(Value::as_str).unwrap_or_default();
        if !t_effect.is_empty() && t_effect != effect {
            return false;
        }
        let t_key = t.get("key").and_then(Value::as_str).unwrap_or_default();
        match t.get("operator").and_then(Value::as_str).unwrap_or("Equal") {
            "Exists" => t_key.is_empty() || t_key == key,
            _ => {
                t_key == key && t.get("value").and_then(Value::as_str).unwrap_or_default() == value
            }
        }
    })
}

fn ports_conflict(wanted: &[(String, String, i64)], used: &[(String, String, i64)]) -> bool {
    wanted.iter().any(|(proto, ip, port)| {
        used.iter().any(|(p2, ip2, port2)| {
            proto == p2 && port == port2 && (ip == ip2 || ip == "0.0.0.0" || ip2 == "0.0.0.0")
        })
    })
}

/// Why a node does not fit, in the words of the Kubernetes scheduler.
fn filter(pod: &Value, demand: &PodDemand, tolerations: &[Value], n: &NodeView) -> Option<String> {
    if !n.ready {
        return Some("node(s) were not ready".into());
    }
    if n.unschedulable {
        return Some("node(s) were unschedulable".into());
    }
    if let Some(sel) = pod.pointer("/spec/nodeSelector").and_then(Value::as_object) {
        if !sel
            .iter()
            .all(|(k, v)| n.labels.get(k).map(String::as_str) == v.as_str())
        {
            return Some("node(s) didn't match Pod's node affinity/selector".into());
        }
    }
    if pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution")
        .is_some()
        && !required_affinity_matches(pod.get("spec").unwrap_or(&Value::Null), &n.as_node_info())
    {
        return Some("node(s) didn't match Pod's node affinity/selector".into());
    }
    for (k, v, e) in &n.taints {
        // Design: the node lifecycle taints restate the Ready filter above, set and cleared
        // up to one lifecycle period late; Ready itself is the fresher signal.
        if k == TAINT_NOT_READY || k == TAINT_UNREACHABLE {
            continue;
        }
        if (e == "NoSchedule" || e == "NoExecute") && !tolerated(tolerations, k, v, e) {
            return Some(format!("node(s) had untolerated taint {{{k}: {v}}}"));
        }
    }
    if n.pods as i64 + 1 > n.alloc_pods {
        return Some("Too many pods".into());
    }
    if let Some(c) = n.alloc_cpu_milli {
        if demand.cpu_milli > 0 && n.used_cpu_milli + demand.cpu_milli > c {
            return Some("Insufficient cpu".into());
        }
    }
    if let Some(m) = n.alloc_memory {
        if demand.memory > 0 && n.used_memory + demand.memory > m {
            return Some("Insufficient memory".into());
        }
    }
    if ports_conflict(&demand.host_ports, &n.used_ports) {
        return Some("node(s) didn't have free ports for the requested pod ports".into());
    }
    None
}

/// Least requested (0..=100) plus spreading by owner (0..=100).
fn score(demand: &PodDemand, n: &NodeView, max_owner: usize) -> f64 {
    let frac = |used: i64, want: i64, alloc: Option<i64>| -> Option<f64> {
        alloc
            .filter(|a| *a > 0)
            .map(|a| ((a - used - want) as f64 / a as f64).clamp(0.0, 1.0))
    };
    let parts: Vec<f64> = [
        frac(n.used_cpu_milli, demand.cpu_milli, n.alloc_cpu_milli),
        frac(n.used_memory, demand.memory, n.alloc_memory),
    ]
    .into_iter()
    .flatten()
    .collect();
    let pods_free =
        ((n.alloc_pods - n.pods as i64 - 1) as f64 / n.alloc_pods.max(1) as f64).clamp(0.0, 1.0);
    let least = if parts.is_empty() || (demand.cpu_milli == 0 && demand.memory == 0) {
        // Nothing requested (or nothing known): fewer pods is emptier.
        pods_free * 100.0
    } else {
        parts.iter().sum::<f64>() / parts.len() as f64 * 100.0
    };
    let spread = match (&demand.owner, max_owner) {
        (Some(o), m) if m > 0 => {
            100.0 * (1.0 - n.owners.get(o).copied().unwrap_or(0) as f64 / m as f64)
        }
        _ => 100.0,
    };
    least + spread
}

/// Picks the node for a pod. `Err` is the Kubernetes-style message.
pub fn place(pod: &Value, nodes: &[NodeView]) -> Result<String, String> {
    let demand = PodDemand::from_pod(pod);
    let tolerations: Vec<Value> = pod
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut feasible: Vec<&NodeView> = Vec::new();
    for n in nodes {
        match filter(pod, &demand, &tolerations, n) {
            Some(r) => *reasons.entry(r).or_default() += 1,
            None => feasible.push(n),
        }
    }
    let max_owner = demand
        .owner
        .as_ref()
        .map(|o| {
            feasible
                .iter()
                .map(|n| n.owners.get(o).copied().unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    let best = feasible
        .iter()
        .map(|n| (score(&demand, n, max_owner), *n))
        .max_by(|(sa, a), (sb, b)| {
            sa.partial_cmp(sb)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| b.pods.cmp(&a.pods))
                .then_with(|| b.name.cmp(&a.name))
        });
    match best {
        Some((_, n)) => Ok(n.name.clone()),
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
/// Pods placed between two reads of the change stream.
const BATCH: usize = 1024;
/// Binds (with their Events) in flight at once.
const BINDS_IN_FLIGHT: usize = 64;

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        ctx.spawn(run(store).into_actor(self));
    }
}

fn pending_key(v: &Value) -> Option<(String, String)> {
    let unbound = v
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty();
    let ours = v
        .pointer("/spec/schedulerName")
        .and_then(Value::as_str)
        .is_none_or(|s| s == "default-scheduler");
    let deleting = v.pointer("/metadata/deletionTimestamp").is_some();
    if unbound && ours && !deleting {
        Some((
            v.pointer("/metadata/namespace")?.as_str()?.to_string(),
            v.pointer("/metadata/name")?.as_str()?.to_string(),
        ))
    } else {
        None
    }
}

/// The scheduler's view of the cluster, kept current from the change stream.
#[derive(Default)]
struct Cache {
    nodes: BTreeMap<String, NodeView>,
    /// Bound, active pods: key -> (node, demand).
    bound: HashMap<String, (String, PodDemand)>,
}

impl Cache {
    fn load(store: &Store) -> Cache {
        let mut c = Cache::default();
        for o in store.list(&NODES, None, &|_| true, None, 0).items {
            c.set_node(&o.value());
        }
        for o in store
            .list(
                &PODS,
                None,
                &|o| o.field("spec.nodeName") != Some(""),
                None,
                0,
            )
            .items
        {
            c.set_pod(&o.key, Some(&o.value()));
        }
        c
    }

    fn set_node(&mut self, v: &Value) {
        let mut view = NodeView::from_value(v, 0);
        if let Some(old) = self.nodes.remove(&view.name) {
            view.pods = old.pods;
            view.used_cpu_milli = old.used_cpu_milli;
            view.used_memory = old.used_memory;
            view.used_ports = old.used_ports;
            view.owners = old.owners;
        }
        self.nodes.insert(view.name.clone(), view);
    }

    /// Records a pod's current state (`None` = deleted); idempotent per key.
    fn set_pod(&mut self, key: &str, v: Option<&Value>) {
        if let Some((node, d)) = self.bound.remove(key) {
            if let Some(n) = self.nodes.get_mut(&node) {
                n.remove(&d);
            }
        }
        let Some(v) = v else { return };
        let node = v
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let finished = matches!(
            v.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded") | Some("Failed")
        );
        if node.is_empty() || finished {
            return;
        }
        let d = PodDemand::from_pod(v);
        if let Some(n) = self.nodes.get_mut(node) {
            n.add(&d);
        } else {
            // The node object is not there (yet): account when it appears.
            let mut n = NodeView {
                name: node.to_string(),
                ..Default::default()
            };
            n.add(&d);
            self.nodes.insert(node.to_string(), n);
        }
        self.bound.insert(key.to_string(), (node.to_string(), d));
    }
}

async fn run(store: Store) {
    let mut changes = store.subscribe();
    let mut cursor = store.revision();
    let mut cache = Cache::load(&store);
    let initial = store.list(
        &PODS,
        None,
        &|o| o.field("spec.nodeName") == Some(""),
        None,
        0,
    );
    let mut queue: HashSet<(String, String)> = initial
        .items
        .iter()
        .filter_map(|o| pending_key(&o.value()))
        .collect();
    let mut unschedulable: HashSet<(String, String)> = HashSet::new();
    let mut reported: HashMap<(String, String), String> = HashMap::new();
    let mut retry = tokio::time::interval(RETRY_EVERY);
    loop {
        match store.events_after(cursor, 4096) {
            Ok(events) => {
                for ev in &events {
                    cursor = ev.revision;
                    if ev.object.key.starts_with("nodes/") {
                        if ev.event_type == EventType::Deleted {
                            let (_, name) = ev.object.namespace_and_name();
                            if cache.nodes.get(name).is_some_and(|n| n.pods == 0) {
                                cache.nodes.remove(name);
                            } else if let Some(n) = cache.nodes.get_mut(name) {
                                // Pods still bound there keep their accounting until they go.
                                n.ready = false;
                            }
                        } else {
                            cache.set_node(&ev.object.value());
                        }
                        queue.extend(unschedulable.drain());
                    } else if ev.object.key.starts_with("pods/") {
                        let v = ev.object.value();
                        if ev.event_type == EventType::Deleted {
                            cache.set_pod(&ev.object.key, None);
                            let (ns, name) = ev.object.namespace_and_name();
                            let key = (ns.to_string(), name.to_string());
                            queue.remove(&key);
                            unschedulable.remove(&key);
                            reported.remove(&key);
                            // A freed node may fit a waiting pod.
                            queue.extend(unschedulable.drain());
                        } else {
                            cache.set_pod(&ev.object.key, Some(&v));
                            if let Some(k) = pending_key(&v) {
                                queue.insert(k);
                            }
                        }
                    }
                }
            }
            Err(StoreError::Expired { .. }) => {
                cursor = store.revision();
                cache = Cache::load(&store);
                let now = store.list(
                    &PODS,
                    None,
                    &|o| o.field("spec.nodeName") == Some(""),
                    None,
                    0,
                );
                queue.extend(now.items.iter().filter_map(|o| pending_key(&o.value())));
            }
            Err(e) => tracing::error!(error = %e, "scheduler cannot read store changes"),
        }
        if !queue.is_empty() {
            schedule_batch(
                &store,
                &mut cache,
                &mut queue,
                &mut unschedulable,
                &mut reported,
            )
            .await;
        }
        if !queue.is_empty() {
            continue;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = retry.tick() => queue.extend(unschedulable.drain()),
        }
    }
}

async fn schedule_batch(
    store: &Store,
    cache: &mut Cache,
    queue: &mut HashSet<(String, String)>,
    unschedulable: &mut HashSet<(String, String)>,
    reported: &mut HashMap<(String, String), String>,
) {
    let mut batch: Vec<(String, String)> = queue.iter().cloned().collect();
    batch.sort();
    batch.truncate(BATCH);
    for k in &batch {
        queue.remove(k);
    }
    let mut nodes: Vec<NodeView> = cache.nodes.values().cloned().collect();
    // Placement is sequential (each decision sees the ones before it); the binds and Events
    // then go to the store together, sharing its group commits.
    let mut binds: Vec<((String, String), String, Value, String)> = Vec::new();
    for key in batch {
        let Some(obj) = store.get(&PODS, &key.0, &key.1) else {
            continue;
        };
        let v = obj.value();
        if pending_key(&v).is_none() {
            continue;
        }
        match place(&v, &nodes) {
            Ok(node) => {
                let d = PodDemand::from_pod(&v);
                if let Some(n) = nodes.iter_mut().find(|n| n.name == node) {
                    n.add(&d);
                }
                binds.push((key, node, v, obj.key.clone()));
            }
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
    use futures::StreamExt;
    let mut done = futures::stream::iter(binds.into_iter().map(
        |(key, node, v, store_key)| async move {
            let r = bind_pod(store, &key.0, &key.1, &node).await;
            if r.is_ok() {
                record_event(
                    store,
                    &v,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {}/{} to {node}", key.0, key.1),
                )
                .await;
            }
            (key, node, store_key, r)
        },
    ))
    .buffer_unordered(BINDS_IN_FLIGHT);
    while let Some((key, node, store_key, r)) = done.next().await {
        match r {
            Ok(bound) => {
                tracing::debug!(pod = %format!("{}/{}", key.0, key.1), %node, "bound");
                cache.set_pod(&store_key, Some(&bound.value()));
                reported.remove(&key);
            }
            // Retried with the unschedulable pods (on the next node or pod change, or the timer).
            Err(e) => {
                tracing::debug!(error = %e, "bind failed; will retry");
                unschedulable.insert(key);
            }
        }
    }
}

/// Records an Event about a pod, as the default scheduler does.
pub async fn record_event(store: &Store, pod: &Value, type_: &str, reason: &str, message: &str) {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
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
        NodeView {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ready,
            pods,
            alloc_pods: DEFAULT_MAX_PODS,
            ..Default::default()
        }
    }

    fn sized(name: &str, cpu: &str, mem: &str) -> NodeView {
        NodeView::from_value(
            &json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}}),
            0,
        )
    }

    fn pod_requesting(cpu: &str, mem: &str) -> Value {
        json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}})
    }

    #[test]
    fn quantities() {
        let cases: &[(&str, Option<f64>)] = &[
            ("500m", Some(0.5)),
            ("2", Some(2.0)),
            ("1.5", Some(1.5)),
            ("128Mi", Some(134_217_728.0)),
            ("1G", Some(1e9)),
            ("1Ki", Some(1024.0)),
            ("", None),
            ("lots", None),
        ];
        for (q, want) in cases {
            assert_eq!(parse_quantity(q), *want, "{q}");
        }
    }

    #[test]
    fn places_on_the_least_loaded_matching_ready_node() {
        let nodes = vec![
            node("a", true, &[("zone", "x")], 3),
            node("b", true, &[("zone", "x")], 1),
            node("c", false, &[("zone", "x")], 0),
            node("d", true, &[("zone", "y")], 0),
        ];
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
    fn filters() {
        let mut tainted = node("t", true, &[], 0);
        tainted.taints = vec![("dedicated".into(), "gpu".into(), "NoSchedule".into())];
        let mut soft = node("s", true, &[], 0);
        soft.taints = vec![("dedicated".into(), "gpu".into(), "PreferNoSchedule".into())];
        let mut full = node("f", true, &[], 110);
        full.alloc_pods = 110;
        let mut busy = sized("busy", "2", "1Gi");
        busy.add(&PodDemand {
            cpu_milli: 1500,
            memory: 0,
            ..Default::default()
        });
        let mut port = node("p", true, &[], 0);
        port.used_ports = vec![("TCP".into(), "0.0.0.0".into(), 8080)];
        let affinity = |zone: &str| json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": [zone]}]}]}}}}});
        let cases: Vec<(&str, Value, NodeView, Option<&str>)> = vec![
            (
                "untolerated taint",
                json!({"spec": {}}),
                tainted.clone(),
                Some("node(s) had untolerated taint {dedicated: gpu}"),
            ),
            (
                "tolerated taint",
                json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}}),
                tainted,
                None,
            ),
            (
                "PreferNoSchedule does not filter",
                json!({"spec": {}}),
                soft,
                None,
            ),
            (
                "too many pods",
                json!({"spec": {}}),
                full,
                Some("Too many pods"),
            ),
            (
                "insufficient cpu",
                pod_requesting("600m", "1Mi"),
                busy.clone(),
                Some("Insufficient cpu"),
            ),
            (
                "cpu fits",
                pod_requesting("500m", "1Mi"),
                busy.clone(),
                None,
            ),
            (
                "insufficient memory",
                pod_requesting("1m", "2Gi"),
                busy,
                Some("Insufficient memory"),
            ),
            (
                "host port taken",
                json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}}),
                port.clone(),
                Some("node(s) didn't have free ports for the requested pod ports"),
            ),
            (
                "other host port free",
                json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8081}]}]}}),
                port.clone(),
                None,
            ),
            (
                "UDP is another port",
                json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]}]}}),
                port,
                None,
            ),
            (
                "required affinity matches",
                affinity("x"),
                node("z", true, &[("zone", "x")], 0),
                None,
            ),
            (
                "required affinity misses",
                affinity("y"),
                node("z", true, &[("zone", "x")], 0),
                Some("node(s) didn't match Pod's node affinity/selector"),
            ),
        ];
        for (what, pod, n, want) in cases {
            let d = PodDemand::from_pod(&pod);
            let tolerations: Vec<Value> = pod
                .pointer("/spec/tolerations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                filter(&pod, &d, &tolerations, &n).as_deref(),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn scores_least_requested_and_spread() {
        // Least requested: the emptier node wins.
        let mut a = sized("a", "4", "4Gi");
        a.add(&PodDemand {
            cpu_milli: 3000,
            memory: 3 << 30,
            ..Default::default()
        });
        let b = sized("b", "4", "4Gi");
        assert_eq!(
            place(&pod_requesting("100m", "10Mi"), &[a, b]),
            Ok("b".into())
        );
        // Spread: pods of one owner go where that owner has fewer, even if busier otherwise.
        let mut x = node("x", true, &[], 5);
        let y = node("y", true, &[], 2);
        let mut y2 = y.clone();
        for _ in 0..2 {
            y2.add(&PodDemand {
                owner: Some("rs-1".into()),
                ..Default::default()
            });
        }
        x.add(&PodDemand {
            owner: Some("other".into()),
            ..Default::default()
        });
        let pod = json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "r", "uid": "rs-1", "controller": true}]}, "spec": {}});
        assert_eq!(place(&pod, &[x, y2]), Ok("x".into()));
    }

    #[test]
    fn demand_sums_containers_and_takes_the_larger_init() {
        let pod = json!({"spec": {
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}, {"name": "b", "resources": {"limits": {"cpu": "250m"}}, "ports": [{"containerPort": 53, "hostPort": 53, "protocol": "UDP"}]}]}});
        let d = PodDemand::from_pod(&pod);
        assert_eq!((d.cpu_milli, d.memory), (2000, 1 << 30));
        assert_eq!(
            d.host_ports,
            vec![("UDP".to_string(), "0.0.0.0".to_string(), 53)]
        );
    }

    #[test]
    fn usage_accounting_is_idempotent_per_pod() {
        let mut c = Cache::default();
        c.set_node(&json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
        let p = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n", "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}});
        c.set_pod("pods/d/p", Some(&p));
        c.set_pod("pods/d/p", Some(&p));
        assert_eq!((c.nodes["n"].pods, c.nodes["n"].used_cpu_milli), (1, 1000));
        let mut done = p.clone();
        done["status"]["phase"] = json!("Succeeded");
        c.set_pod("pods/d/p", Some(&done));
        assert_eq!(
            (c.nodes["n"].pods, c.nodes["n"].used_cpu_milli),
            (0, 0),
            "finished pods free their node"
        );
        c.set_pod("pods/d/p", Some(&p));
        c.set_pod("pods/d/p", None);
        assert_eq!(c.nodes["n"].pods, 0);
        // A node update keeps the usage.
        c.set_pod("pods/d/p", Some(&p));
        c.set_node(&json!({"metadata": {"name": "n", "labels": {"a": "b"}}}));
        assert_eq!(c.nodes["n"].pods, 1);
    }

    #[test]
    fn unbound_pods_of_other_schedulers_are_not_ours() {
        assert!(
            pending_key(&json!({"metadata": {"namespace": "d", "name": "p"}, "spec": {}}))
                .is_some()
        );
        assert!(pending_key(
            &json!({"metadata": {"namespace": "d", "name": "p"}, "spec": {"nodeName": "n"}})
        )
        .is_none());
        assert!(pending_key(&json!({"metadata": {"namespace": "d", "name": "p"}, "spec": {"schedulerName": "other"}})).is_none());
    }
}
