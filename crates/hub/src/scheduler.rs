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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{json, Value};

use crate::api::handlers::bind_pod;
use crate::controllers::daemonset::{required_affinity_matches, NodeInfo};
use crate::controllers::node_lifecycle::{TAINT_NOT_READY, TAINT_UNREACHABLE};
use crate::resources::{EVENTS, NODES, PODS};
use crate::store::{EventType, Store, StoreError, StoredObject};

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
    /// The Node object exists (false for a placeholder that only accounts for pods bound to
    /// a node name with no Node, or to a deleted Node; dropped once its last pod goes).
    pub present: bool,
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
            present: true,
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

/// One pod's scheduling question, read from its JSON once and then asked of each node.
pub struct PodQuery<'a> {
    spec: &'a Value,
    demand: PodDemand,
    tolerations: &'a [Value],
    node_selector: Option<&'a serde_json::Map<String, Value>>,
    required_affinity: bool,
}

impl<'a> PodQuery<'a> {
    pub fn new(pod: &'a Value) -> PodQuery<'a> {
        let spec = pod.get("spec").unwrap_or(&Value::Null);
        PodQuery {
            spec,
            demand: PodDemand::from_pod(pod),
            tolerations: spec
                .get("tolerations")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default(),
            node_selector: spec.get("nodeSelector").and_then(Value::as_object),
            required_affinity: spec
                .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution")
                .is_some(),
        }
    }

    pub fn demand(&self) -> &PodDemand {
        &self.demand
    }
}

/// Why a node does not fit, in the words of the Kubernetes scheduler.
fn filter(q: &PodQuery<'_>, n: &NodeView) -> Option<String> {
    if !n.ready {
        return Some("node(s) were not ready".into());
    }
    if n.unschedulable {
        return Some("node(s) were unschedulable".into());
    }
    if let Some(sel) = q.node_selector {
        if !sel
            .iter()
            .all(|(k, v)| n.labels.get(k).map(String::as_str) == v.as_str())
        {
            return Some("node(s) didn't match Pod's node affinity/selector".into());
        }
    }
    if q.required_affinity && !required_affinity_matches(q.spec, &n.as_node_info()) {
        return Some("node(s) didn't match Pod's node affinity/selector".into());
    }
    for (k, v, e) in &n.taints {
        // Design: the node lifecycle taints restate the Ready filter above, set and cleared
        // up to one lifecycle period late; Ready itself is the fresher signal.
        if k == TAINT_NOT_READY || k == TAINT_UNREACHABLE {
            continue;
        }
        if (e == "NoSchedule" || e == "NoExecute") && !tolerated(q.tolerations, k, v, e) {
            return Some(format!("node(s) had untolerated taint {{{k}: {v}}}"));
        }
    }
    let demand = &q.demand;
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
    let (mut sum, mut parts) = (0.0, 0u32);
    for f in [
        frac(n.used_cpu_milli, demand.cpu_milli, n.alloc_cpu_milli),
        frac(n.used_memory, demand.memory, n.alloc_memory),
    ]
    .into_iter()
    .flatten()
    {
        sum += f;
        parts += 1;
    }
    let pods_free =
        ((n.alloc_pods - n.pods as i64 - 1) as f64 / n.alloc_pods.max(1) as f64).clamp(0.0, 1.0);
    let least = if parts == 0 || (demand.cpu_milli == 0 && demand.memory == 0) {
        // Nothing requested (or nothing known): fewer pods is emptier.
        pods_free * 100.0
    } else {
        sum / f64::from(parts) * 100.0
    };
    let spread = match (&demand.owner, max_owner) {
        (Some(o), m) if m > 0 => {
            100.0 * (1.0 - n.owners.get(o).copied().unwrap_or(0) as f64 / m as f64)
        }
        _ => 100.0,
    };
    least + spread
}

/// Fewest feasible nodes placement looks for before it scores (kube-scheduler's
/// `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;

/// How many feasible nodes to find before scoring, out of `all`: kube-scheduler's adaptive
/// `percentageOfNodesToScore` (50 % minus 1 % per 125 nodes, at least 5 %, at least
/// [`MIN_FEASIBLE_NODES_TO_FIND`] nodes). 1,000 nodes: 420; 5,000: 500; 10,000: 500.
pub fn feasible_nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percent = (50 - (all / 125) as i64).max(5) as usize;
    (all * percent / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The outcome of [`place_sampled`].
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The index of the chosen node, or the Kubernetes-style message.
    pub node: Result<usize, String>,
    /// How many nodes were looked at: the next pod starts that far after this one's start.
    pub examined: usize,
}

/// Picks a node for a pod, looking at the nodes from `start` on (wrapping around) and
/// scoring only the first `want` feasible ones, as kube-scheduler does: with a rotating
/// `start` every node gets its turn, and a pod costs O(want) filter runs, not O(nodes),
/// when most nodes fit. A pod that fits nowhere has looked at every node, so its message
/// counts them all.
pub fn place_sampled(q: &PodQuery<'_>, nodes: &[NodeView], start: usize, want: usize) -> Placement {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut feasible: Vec<usize> = Vec::new();
    let want = want.max(1);
    let total = nodes.len();
    let start = if total == 0 { 0 } else { start % total };
    let mut examined = 0;
    for i in 0..total {
        let at = (start + i) % total;
        examined += 1;
        match filter(q, &nodes[at]) {
            Some(r) => *reasons.entry(r).or_default() += 1,
            None => {
                feasible.push(at);
                if feasible.len() >= want {
                    break;
                }
            }
        }
    }
    let demand = &q.demand;
    let max_owner = demand
        .owner
        .as_ref()
        .map(|o| {
            feasible
                .iter()
                .map(|i| nodes[*i].owners.get(o).copied().unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    let best = feasible
        .iter()
        .map(|i| (score(demand, &nodes[*i], max_owner), *i))
        .max_by(|(sa, a), (sb, b)| {
            let (a, b) = (&nodes[*a], &nodes[*b]);
            sa.partial_cmp(sb)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| b.pods.cmp(&a.pods))
                .then_with(|| b.name.cmp(&a.name))
        });
    let node = match best {
        Some((_, i)) => Ok(i),
        None => {
            let detail: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
            let mut msg = format!("0/{total} nodes are available");
            if !detail.is_empty() {
                msg.push_str(": ");
                msg.push_str(&detail.join(", "));
            }
            msg.push('.');
            Err(msg)
        }
    };
    Placement { node, examined }
}

/// Picks the node for a pod among all nodes. `Err` is the Kubernetes-style message.
pub fn place(pod: &Value, nodes: &[NodeView]) -> Result<String, String> {
    let q = PodQuery::new(pod);
    place_sampled(&q, nodes, 0, nodes.len())
        .node
        .map(|i| nodes[i].name.clone())
}

/// The scheduler actor. Start it on an arbiter of its own ([`Scheduler::start_own_thread`])
/// so that the API's, the node sessions' and the controllers' work does not delay placement,
/// nor placement theirs.
pub struct Scheduler {
    pub store: Store,
}

impl Scheduler {
    /// Starts the scheduler on a new arbiter (thread); returns it so the caller can stop it.
    pub fn start_own_thread(store: Store) -> Arbiter {
        let arbiter = Arbiter::new();
        Scheduler::start_in_arbiter(&arbiter.handle(), move |_| Scheduler { store });
        arbiter
    }
}

/// How often unschedulable pods are retried even without a node change.
const RETRY_EVERY: Duration = Duration::from_secs(10);
/// Pods placed between two reads of the change stream.
const BATCH: usize = 1024;
/// Binds (each with its `Scheduled` Event) in flight at once. Design: placement does not
/// wait for binds; a placed pod is *assumed* on its node in the cache at once (as
/// kube-scheduler's cache assumes pods), so the next pod sees it, and up to this many binds
/// queue at the store together and share its group commits.
const BINDS_IN_FLIGHT: usize = 512;

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        ctx.spawn(run(store).into_actor(self));
    }
}

type PodKey = (String, String);

fn pending_key(v: &Value) -> Option<PodKey> {
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

/// Whether a stored pod may be waiting for this scheduler, from its extracted fields only
/// (no JSON parse); [`pending_key`] confirms on the parsed pod before placing it.
fn maybe_pending(o: &StoredObject) -> bool {
    o.field("spec.nodeName").unwrap_or_default().is_empty()
        && matches!(
            o.field("spec.schedulerName").unwrap_or_default(),
            "" | "default-scheduler"
        )
}

/// The scheduler's view of the cluster, kept current from the change stream.
///
/// Design: nodes live in a `Vec` (placement walks it from a rotating start) with a name ->
/// index map; removal swaps the last node into the hole.
#[derive(Default)]
struct Cache {
    nodes: Vec<NodeView>,
    index: HashMap<String, usize>,
    /// Bound (or assumed) active pods: key -> (node, demand).
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
            c.observe_pod(&o);
        }
        c
    }

    fn node_mut(&mut self, name: &str) -> Option<&mut NodeView> {
        let i = *self.index.get(name)?;
        self.nodes.get_mut(i)
    }

    fn set_node(&mut self, v: &Value) {
        let mut view = NodeView::from_value(v, 0);
        if let Some(old) = self.node_mut(&view.name) {
            view.pods = old.pods;
            view.used_cpu_milli = old.used_cpu_milli;
            view.used_memory = old.used_memory;
            view.used_ports = std::mem::take(&mut old.used_ports);
            view.owners = std::mem::take(&mut old.owners);
            *old = view;
        } else {
            self.index.insert(view.name.clone(), self.nodes.len());
            self.nodes.push(view);
        }
    }

    fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
    }

    /// Records a stored pod's current state; parses its JSON only when its node changed.
    fn observe_pod(&mut self, o: &StoredObject) {
        let node = o.field("spec.nodeName").unwrap_or_default();
        let finished = matches!(o.field("status.phase"), Some("Succeeded") | Some("Failed"));
        if !node.is_empty() && !finished {
            if let Some((n, _)) = self.bound.get(&o.key) {
                if n == node {
                    // Design: a pod's requests, ports and owner do not change once it is
                    // bound; a status change is nothing to the cache.
                    return;
                }
            }
        }
        self.set_pod(&o.key, Some(&o.value()));
    }

    /// Records a pod's current state (`None` = deleted); idempotent per key.
    fn set_pod(&mut self, key: &str, v: Option<&Value>) {
        let Some(v) = v else {
            self.forget(key);
            return;
        };
        let node = v
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let finished = matches!(
            v.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded") | Some("Failed")
        );
        if node.is_empty() || finished {
            self.forget(key);
            return;
        }
        self.assume(key, node, PodDemand::from_pod(v));
    }

    /// Accounts for a pod on `node` (bound, or placed and being bound).
    fn assume(&mut self, key: &str, node: &str, d: PodDemand) {
        self.forget(key);
        match self.node_mut(node) {
            Some(n) => n.add(&d),
            None => {
                // The node object is not there (yet): account when it appears.
                let mut n = NodeView {
                    name: node.to_string(),
                    ..Default::default()
                };
                n.add(&d);
                self.index.insert(node.to_string(), self.nodes.len());
                self.nodes.push(n);
            }
        }
        self.bound.insert(key.to_string(), (node.to_string(), d));
    }

    /// Stops accounting for a pod.
    fn forget(&mut self, key: &str) {
        if let Some((node, d)) = self.bound.remove(key) {
            if let Some(n) = self.node_mut(&node) {
                n.remove(&d);
                if !n.present && n.pods == 0 {
                    self.remove_node(&node);
                }
            }
        }
    }
}

/// A FIFO of pods to place, each at most once.
#[derive(Default)]
struct PodQueue {
    order: VecDeque<PodKey>,
    queued: HashSet<PodKey>,
}

impl PodQueue {
    fn push(&mut self, k: PodKey) {
        if self.queued.insert(k.clone()) {
            self.order.push_back(k);
        }
    }

    fn pop(&mut self) -> Option<PodKey> {
        let k = self.order.pop_front()?;
        self.queued.remove(&k);
        Some(k)
    }

    fn remove(&mut self, k: &PodKey) {
        if self.queued.remove(k) {
            self.order.retain(|x| x != k);
        }
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// What the run loop keeps between steps.
struct State {
    store: Store,
    cache: Cache,
    queue: PodQueue,
    unschedulable: HashSet<PodKey>,
    reported: HashMap<PodKey, String>,
    /// Pods placed whose bind has not answered yet.
    binding: HashSet<PodKey>,
    /// Where the next placement starts looking (rotates by the nodes each one examined).
    next_start: usize,
}

/// A bind's outcome: the pod, the node, and the bound pod or why not.
type BindResult = (PodKey, String, Result<Arc<StoredObject>, String>);

async fn run(store: Store) {
    use futures::stream::FuturesUnordered;
    use futures::{FutureExt, StreamExt};
    let mut changes = store.subscribe();
    let mut cursor = store.revision();
    let mut st = State {
        cache: Cache::load(&store),
        queue: PodQueue::default(),
        unschedulable: HashSet::new(),
        reported: HashMap::new(),
        binding: HashSet::new(),
        next_start: 0,
        store: store.clone(),
    };
    st.enqueue_all_pending();
    let mut binds: FuturesUnordered<futures::future::LocalBoxFuture<'static, BindResult>> =
        FuturesUnordered::new();
    let mut retry = tokio::time::interval(RETRY_EVERY);
    loop {
        match store.events_after(cursor, 4096) {
            Ok(events) => {
                for ev in &events {
                    cursor = ev.revision;
                    st.apply_event(ev);
                }
            }
            Err(StoreError::Expired { .. }) => {
                cursor = store.revision();
                st.cache = Cache::load(&store);
                st.enqueue_all_pending();
            }
            Err(e) => tracing::error!(error = %e, "scheduler cannot read store changes"),
        }
        while let Some(Some(done)) = binds.next().now_or_never() {
            st.bind_done(done);
        }
        if !st.queue.is_empty() && binds.len() < BINDS_IN_FLIGHT {
            let room = (BINDS_IN_FLIGHT - binds.len()).min(BATCH);
            for job in st.place_some(room).await {
                binds.push(job);
            }
        }
        if !st.queue.is_empty() && binds.len() < BINDS_IN_FLIGHT {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            Some(done) = binds.next(), if !binds.is_empty() => st.bind_done(done),
            _ = retry.tick() => st.retry_unschedulable(),
        }
    }
}

impl State {
    fn enqueue_all_pending(&mut self) {
        let now = self.store.list(
            &PODS,
            None,
            &|o| o.field("spec.nodeName") == Some(""),
            None,
            0,
        );
        for o in now.items.iter().filter(|o| maybe_pending(o)) {
            let (ns, name) = o.namespace_and_name();
            self.queue.push((ns.to_string(), name.to_string()));
        }
    }

    fn retry_unschedulable(&mut self) {
        for k in self.unschedulable.drain() {
            self.queue.push(k);
        }
    }

    fn apply_event(&mut self, ev: &crate::store::WatchEvent) {
        if ev.object.key.starts_with("nodes/") {
            let (_, name) = ev.object.namespace_and_name();
            if ev.event_type == EventType::Deleted {
                if self.cache.node_mut(name).is_some_and(|n| n.pods == 0) {
                    self.cache.remove_node(name);
                } else if let Some(n) = self.cache.node_mut(name) {
                    // Pods still bound there keep their accounting until they go; the last
                    // one to go removes the node (`Cache::forget`).
                    n.ready = false;
                    n.present = false;
                }
            } else {
                self.cache.set_node(&ev.object.value());
            }
            self.retry_unschedulable();
        } else if ev.object.key.starts_with("pods/") {
            let (ns, name) = ev.object.namespace_and_name();
            if ev.event_type == EventType::Deleted {
                let key = (ns.to_string(), name.to_string());
                self.cache.set_pod(&ev.object.key, None);
                self.queue.remove(&key);
                self.unschedulable.remove(&key);
                self.reported.remove(&key);
                // A freed node may fit a waiting pod.
                self.retry_unschedulable();
            } else if maybe_pending(&ev.object) {
                let key = (ns.to_string(), name.to_string());
                if !self.binding.contains(&key) {
                    self.queue.push(key);
                }
            } else {
                let was = self.cache.bound.contains_key(&ev.object.key);
                self.cache.observe_pod(&ev.object);
                if was && !self.cache.bound.contains_key(&ev.object.key) {
                    // A pod finished: its node has room again.
                    self.retry_unschedulable();
                }
            }
        }
    }

    /// Places up to `max` queued pods, each seeing the ones before it (assumed in the
    /// cache), and returns their binds.
    async fn place_some(
        &mut self,
        max: usize,
    ) -> Vec<futures::future::LocalBoxFuture<'static, BindResult>> {
        let mut jobs: Vec<futures::future::LocalBoxFuture<'static, BindResult>> = Vec::new();
        let want = feasible_nodes_to_find(self.cache.nodes.len());
        while jobs.len() < max {
            let Some(key) = self.queue.pop() else { break };
            if self.binding.contains(&key) {
                continue;
            }
            let Some(obj) = self.store.get(&PODS, &key.0, &key.1) else {
                continue;
            };
            let v = obj.value();
            if pending_key(&v).is_none() {
                continue;
            }
            let q = PodQuery::new(&v);
            let placed = place_sampled(&q, &self.cache.nodes, self.next_start, want);
            if !self.cache.nodes.is_empty() {
                self.next_start = (self.next_start + placed.examined) % self.cache.nodes.len();
            }
            match placed.node {
                Ok(i) => {
                    let node = self.cache.nodes[i].name.clone();
                    let demand = q.demand().clone();
                    self.cache.assume(&obj.key, &node, demand);
                    self.binding.insert(key.clone());
                    let store = self.store.clone();
                    jobs.push(Box::pin(bind_and_record(store, key, node, v)));
                }
                Err(msg) => {
                    if self.reported.get(&key) != Some(&msg) {
                        tracing::info!(pod = %format!("{}/{}", key.0, key.1), %msg, "unschedulable");
                        record_event(&self.store, &v, "Warning", "FailedScheduling", &msg).await;
                        self.reported.insert(key.clone(), msg);
                    }
                    self.unschedulable.insert(key);
                }
            }
        }
        jobs
    }

    fn bind_done(&mut self, (key, node, r): BindResult) {
        self.binding.remove(&key);
        let store_key = crate::store::object_key(PODS.key_prefix, &key.0, &key.1);
        match r {
            // The assumption already accounts for the pod on `node`. Design: the cache is not
            // set from the bind's result, which may be older than what the change stream has
            // applied meanwhile (the pod deleted or finished while its Event was written).
            Ok(_) => {
                tracing::debug!(pod = %format!("{}/{}", key.0, key.1), %node, "bound");
                self.reported.remove(&key);
            }
            // The assumption goes; the pod is accounted as the store has it now (someone else
            // may have bound it meanwhile), and retried with the unschedulable pods if it is
            // still pending (on the next node or pod change, or the timer).
            Err(e) => {
                tracing::debug!(error = %e, "bind failed; will retry");
                let now = self.store.get(&PODS, &key.0, &key.1);
                self.cache
                    .set_pod(&store_key, now.as_ref().map(|o| o.value()).as_ref());
                if now.is_some_and(|o| maybe_pending(&o)) {
                    self.unschedulable.insert(key);
                }
            }
        }
    }
}

/// Binds a pod and records its `Scheduled` Event.
async fn bind_and_record(store: Store, key: PodKey, node: String, pod: Value) -> BindResult {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let r = bind_pod(&store, &key.0, &key.1, uid.as_deref(), &node).await;
    if r.is_ok() {
        record_event(
            &store,
            &pod,
            "Normal",
            "Scheduled",
            &format!("Successfully assigned {}/{} to {node}", key.0, key.1),
        )
        .await;
    }
    (key, node, r.map_err(|e| e.to_string()))
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
            assert_eq!(filter(&PodQuery::new(&pod), &n).as_deref(), want, "{what}");
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
        let n = |c: &mut Cache| {
            let v = c.node_mut("n").expect("node n");
            (v.pods, v.used_cpu_milli)
        };
        c.set_pod("pods/d/p", Some(&p));
        c.set_pod("pods/d/p", Some(&p));
        assert_eq!(n(&mut c), (1, 1000));
        let mut done = p.clone();
        done["status"]["phase"] = json!("Succeeded");
        c.set_pod("pods/d/p", Some(&done));
        assert_eq!(n(&mut c), (0, 0), "finished pods free their node");
        c.set_pod("pods/d/p", Some(&p));
        c.set_pod("pods/d/p", None);
        assert_eq!(n(&mut c).0, 0);
        // A node update keeps the usage.
        c.set_pod("pods/d/p", Some(&p));
        c.set_node(&json!({"metadata": {"name": "n", "labels": {"a": "b"}}}));
        assert_eq!(n(&mut c).0, 1);
    }

    #[test]
    fn feasible_nodes_to_find_follows_kube_scheduler() {
        let cases = [
            (0, 0),
            (50, 50),
            (99, 99),
            (100, 100),
            (200, 100),
            (500, 230),
            (1_000, 420),
            (5_000, 500),
            (10_000, 500),
            (100_000, 5_000),
        ];
        for (all, want) in cases {
            assert_eq!(feasible_nodes_to_find(all), want, "{all} nodes");
        }
    }

    /// Places `pods` pods one after the other as the actor does: each sees the ones before
    /// it, and the next starts where the last one stopped looking.
    fn place_all(pod: &Value, nodes: &mut [NodeView], pods: usize) -> Vec<Result<usize, String>> {
        let q = PodQuery::new(pod);
        let want = feasible_nodes_to_find(nodes.len());
        let mut start = 0;
        let mut out = Vec::new();
        for _ in 0..pods {
            let p = place_sampled(&q, nodes, start, want);
            start = (start + p.examined) % nodes.len();
            if let Ok(i) = p.node {
                nodes[i].add(q.demand());
            }
            out.push(p.node);
        }
        out
    }

    #[test]
    fn sampling_looks_at_a_share_of_the_nodes_and_still_reaches_every_one() {
        let mut nodes: Vec<NodeView> = (0..1000)
            .map(|i| node(&format!("n{i:04}"), true, &[], 0))
            .collect();
        let bare = json!({"spec": {}});
        let q = PodQuery::new(&bare);
        let p = place_sampled(&q, &nodes, 990, feasible_nodes_to_find(1000));
        assert_eq!(p.examined, 420, "stops once 420 feasible nodes were found");
        // Pods of one owner on 1,000 equal nodes: the rotating start and the spread score
        // keep them even, and every node is chosen (each pod sees only 420 nodes).
        let pod = json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "r", "uid": "rs-1", "controller": true}]}, "spec": {}});
        let placed = place_all(&pod, &mut nodes, 1000);
        assert!(placed.iter().all(Result::is_ok));
        let spread = |nodes: &[NodeView]| {
            let min = nodes.iter().map(|n| n.pods).min().unwrap_or(0);
            let max = nodes.iter().map(|n| n.pods).max().unwrap_or(0);
            (min, max)
        };
        assert_eq!(spread(&nodes).1, 2, "1,000 pods: at most 2 on a node");
        place_all(&pod, &mut nodes, 1000);
        assert_eq!(
            spread(&nodes),
            (1, 3),
            "2,000 pods: every node has one, none more than 3"
        );
    }

    #[test]
    fn sampling_still_respects_filters() {
        // 1,000 nodes; only every 97th is labelled zone=x, every 89th tainted, a few full.
        let mut nodes: Vec<NodeView> = (0..1000)
            .map(|i| {
                let zone = if i % 97 == 0 { "x" } else { "y" };
                let mut n = node(&format!("n{i:04}"), i % 13 != 5, &[("zone", zone)], 0);
                if i % 89 == 0 {
                    n.taints = vec![("dedicated".into(), "gpu".into(), "NoSchedule".into())];
                }
                n
            })
            .collect();
        let fits = |n: &NodeView, tolerate: bool| {
            n.ready
                && n.labels.get("zone").map(String::as_str) == Some("x")
                && (tolerate || n.taints.is_empty())
        };
        let by_selector = json!({"spec": {"nodeSelector": {"zone": "x"}}});
        let by_affinity = json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]}]}}}}});
        let tolerating = json!({"spec": {"nodeSelector": {"zone": "x"}, "tolerations": [{"key": "dedicated", "operator": "Exists"}]}});
        for (what, pod, tolerate) in [
            ("nodeSelector", &by_selector, false),
            ("required affinity", &by_affinity, false),
            ("toleration", &tolerating, true),
        ] {
            let feasible = nodes.iter().filter(|n| fits(n, tolerate)).count();
            let before: Vec<usize> = nodes.iter().map(|n| n.pods).collect();
            for r in place_all(pod, &mut nodes, 3 * feasible) {
                let i = r.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(
                    fits(&nodes[i], tolerate),
                    "{what}: {} does not fit",
                    nodes[i].name
                );
            }
            for (n, b) in nodes.iter().zip(before) {
                if fits(n, tolerate) {
                    assert!(n.pods > b, "{what}: {} got nothing", n.name);
                } else {
                    assert_eq!(n.pods, b, "{what}: {} must get nothing", n.name);
                }
            }
        }
        // Resources: two small nodes among many busy ones take exactly what fits.
        let mut nodes: Vec<NodeView> = (0..500)
            .map(|i| {
                let mut n = sized(&format!("n{i:03}"), "1", "1Gi");
                if i != 7 && i != 400 {
                    n.add(&PodDemand {
                        cpu_milli: 1000,
                        ..Default::default()
                    });
                }
                n
            })
            .collect();
        let placed = place_all(&pod_requesting("500m", "1Mi"), &mut nodes, 5);
        let ok: Vec<&str> = placed
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|i| nodes[*i].name.as_str()))
            .collect();
        assert_eq!(ok.len(), 4, "2 nodes x 2 pods of 500m");
        assert!(ok.iter().all(|n| *n == "n007" || *n == "n400"), "{ok:?}");
        assert_eq!(
            placed[4],
            Err("0/500 nodes are available: 500 Insufficient cpu.".into()),
            "a pod that fits nowhere looked at every node"
        );
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

    #[test]
    fn placeholder_and_deleted_nodes_go_with_their_last_pod() {
        let pod = |node: &str| json!({"spec": {"nodeName": node, "containers": [{"name": "c"}]}});
        let mut c = Cache::default();

        // A pod bound to a name with no Node: accounted on a placeholder, dropped with it.
        c.set_pod("pods/default/a", Some(&pod("ghost")));
        assert_eq!(
            c.node_mut("ghost").map(|n| (n.pods, n.present)),
            Some((1, false))
        );
        c.set_pod("pods/default/a", None);
        assert!(c.node_mut("ghost").is_none() && c.nodes.is_empty());

        // A real node keeps its entry when its last pod goes...
        c.set_node(&json!({"metadata": {"name": "n1"}}));
        c.set_pod("pods/default/b", Some(&pod("n1")));
        c.set_pod("pods/default/c", Some(&pod("n1")));
        c.set_pod("pods/default/b", None);
        assert_eq!(c.node_mut("n1").map(|n| n.pods), Some(1));
        // ...until it is deleted: then its last pod takes it along (as `apply_event` marks it).
        if let Some(n) = c.node_mut("n1") {
            n.present = false;
        }
        c.set_pod("pods/default/c", None);
        assert!(c.node_mut("n1").is_none() && c.index.is_empty());
    }
}
