//! DaemonSet: one pod on every eligible node, rolled out in waves.
//!
//! Placement: a node is eligible when it matches the template's `nodeSelector` and required
//! node affinity and every `NoSchedule`/`NoExecute` taint on it is tolerated. DaemonSet pods
//! tolerate the not-ready, unreachable, pressure and unschedulable taints as upstream's do, so
//! a device that goes offline keeps its pod. Pods are created **already bound**
//! (`spec.nodeName` set by the controller, the scheduler is bypassed): on an edge fleet the
//! node is the whole point, and binding in the controller saves a scheduler round trip per
//! device. (Upstream binds through node affinity and the scheduler; resource fit is not
//! checked here.)
//!
//! Updates: `RollingUpdate` replaces pods node by node with at most `maxUnavailable` nodes
//! without an available pod (or, with `maxSurge`, starts the new pod next to the old one and
//! removes the old one once the new one is available); `OnDelete` only uses the new template
//! for pods that are (re)created. Every template gets a ControllerRevision
//! (`<name>-<hash>`, data = the template as kubectl's strategic-merge patch), which
//! `kubectl rollout history/undo` read.
//!
//! Work per event is proportional to what changed: the actor caches each node's labels and
//! taints and, per DaemonSet, the set of eligible nodes and an index node -> its pods. A node
//! change re-checks that node against each DaemonSet (O(DaemonSets)); a pod change touches its
//! DaemonSet. A sync is pure in-memory work over that DaemonSet's index ([`reconcile`]); it
//! never lists pods or nodes from the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{json, Value};

use super::replicaset::ignore_not_found;
use super::{
    canonical_template, controller_of, int_or_percent, is_deleting, name_of, owner_reference,
    parse_time_ms, pod_from_template, pod_is_ready, str_at, template_hash, uid_of, Controller,
    ControllerError, Key, Millis,
};
use crate::resources::{CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS};
use crate::store::{EventType, Store, WatchEvent};

pub const REVISION_HASH: &str = "controller-revision-hash";
pub const TEMPLATE_GENERATION: &str = "pod-template-generation";

/// What eligibility needs to know about a node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `(key, value, effect)`.
    pub taints: Vec<(String, String, String)>,
}

impl NodeInfo {
    pub fn from_value(v: &Value) -> NodeInfo {
        let taints = v
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|t| {
                        (
                            str_at(t, "/key").to_string(),
                            str_at(t, "/value").to_string(),
                            str_at(t, "/effect").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        NodeInfo {
            name: name_of(v).to_string(),
            labels: super::labels_of(v),
            taints,
        }
    }
}

/// What the rollout needs to know about one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub name: String,
    pub hash: String,
    pub ready: bool,
    /// When the Ready condition last turned True.
    pub ready_since: Option<Millis>,
    pub failed: bool,
    pub created: String,
}

impl PodInfo {
    pub fn from_value(v: &Value) -> PodInfo {
        let ready = pod_is_ready(v);
        let ready_since = v
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| c.get("lastTransitionTime"))
            .and_then(Value::as_str)
            .and_then(parse_time_ms)
            .filter(|_| ready);
        PodInfo {
            name: name_of(v).to_string(),
            hash: str_at(v, &format!("/metadata/labels/{REVISION_HASH}")).to_string(),
            ready,
            ready_since,
            failed: matches!(str_at(v, "/status/phase"), "Failed" | "Succeeded"),
            created: str_at(v, "/metadata/creationTimestamp").to_string(),
        }
    }

    fn available(&self, min_ready_ms: u64, now: Millis) -> bool {
        self.ready && self.ready_since.is_none_or(|s| s + min_ready_ms <= now)
    }
}

/// The tolerations every DaemonSet pod gets (as upstream adds them).
pub fn daemon_tolerations() -> Vec<Value> {
    let mut t = vec![
        json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}),
        json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}),
    ];
    for k in [
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/unschedulable",
    ] {
        t.push(json!({"key": k, "operator": "Exists", "effect": "NoSchedule"}));
    }
    t
}

fn tolerates(tolerations: &[Value], key: &str, value: &str, effect: &str) -> bool {
    tolerations.iter().any(|t| {
        let t_effect = str_at(t, "/effect");
        if !t_effect.is_empty() && t_effect != effect {
            return false;
        }
        let t_key = str_at(t, "/key");
        match str_at(t, "/operator") {
            "Exists" => t_key.is_empty() || t_key == key,
            _ => t_key == key && str_at(t, "/value") == value,
        }
    })
}

fn match_expression(e: &Value, get: &dyn Fn(&str) -> Option<String>) -> bool {
    let key = str_at(e, "/key");
    let values: Vec<&str> = e
        .get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let got = get(key);
    match str_at(e, "/operator") {
        "In" => got.is_some_and(|g| values.contains(&g.as_str())),
        "NotIn" => !got.is_some_and(|g| values.contains(&g.as_str())),
        "Exists" => got.is_some(),
        "DoesNotExist" => got.is_none(),
        "Gt" | "Lt" => {
            let (Some(g), Some(v)) = (
                got.and_then(|g| g.parse::<i64>().ok()),
                values.first().and_then(|v| v.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if str_at(e, "/operator") == "Gt" {
                g > v
            } else {
                g < v
            }
        }
        _ => false,
    }
}

/// Whether `pod_spec`'s `requiredDuringSchedulingIgnoredDuringExecution` node affinity admits
/// the node (terms are ORed, expressions within a term ANDed).
pub fn required_affinity_matches(pod_spec: &Value, node: &NodeInfo) -> bool {
    let Some(terms) = pod_spec.pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms").and_then(Value::as_array) else { return true };
    let labels = |k: &str| node.labels.get(k).cloned();
    let fields = |k: &str| (k == "metadata.name").then(|| node.name.clone());
    terms.iter().any(|term| {
        let exprs = term
            .get("matchExpressions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let fexprs = term
            .get("matchFields")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        (!exprs.is_empty() || !fexprs.is_empty())
            && exprs.iter().all(|e| match_expression(e, &labels))
            && fexprs.iter().all(|e| match_expression(e, &fields))
    })
}

/// Whether a DaemonSet with this pod template should run on the node.
pub fn node_eligible(template: &Value, node: &NodeInfo) -> bool {
    let spec = template.get("spec").cloned().unwrap_or_default();
    if let Some(sel) = spec.get("nodeSelector").and_then(Value::as_object) {
        if !sel
            .iter()
            .all(|(k, v)| node.labels.get(k).map(String::as_str) == v.as_str())
        {
            return false;
        }
    }
    if !required_affinity_matches(&spec, node) {
        return false;
    }
    let mut tolerations: Vec<Value> = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    tolerations.extend(daemon_tolerations());
    node.taints
        .iter()
        .filter(|(_, _, e)| e == "NoSchedule" || e == "NoExecute")
        .all(|(k, v, e)| tolerates(&tolerations, k, v, e))
}

/// The pod a DaemonSet runs on `node`.
pub fn daemon_pod(ds: &Value, hash: &str, node: &str) -> Result<Value, ControllerError> {
    let mut template = ds
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut tolerations: Vec<Value> = template
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in daemon_tolerations() {
        if !tolerations
            .iter()
            .any(|x| x["key"] == t["key"] && x["effect"] == t["effect"])
        {
            tolerations.push(t);
        }
    }
    template["spec"]["tolerations"] = Value::Array(tolerations);
    let generation = ds
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .to_string();
    pod_from_template(
        &template,
        ds,
        &DAEMONSETS,
        &[(REVISION_HASH, hash), (TEMPLATE_GENERATION, &generation)],
        Some(node),
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create { node: String },
    Delete { name: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub status: Value,
    pub requeue_after: Option<Duration>,
}

/// Reconciles one DaemonSet: `hash` is its current template's, `eligible` the nodes it should
/// run on, `pods` its active pods by node.
pub fn reconcile(
    ds: &Value,
    hash: &str,
    eligible: &BTreeSet<String>,
    pods: &BTreeMap<String, Vec<PodInfo>>,
    now: Millis,
) -> Plan {
    let min_ready_ms = ds
        .pointer("/spec/minReadySeconds")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        * 1000;
    let desired = eligible.len() as i64;
    let on_delete = str_at(ds, "/spec/updateStrategy/type") == "OnDelete";
    let ru = ds.pointer("/spec/updateStrategy/rollingUpdate");
    let max_surge = int_or_percent(ru.and_then(|r| r.get("maxSurge")), desired, true, 0).max(0);
    let mut max_unavailable =
        int_or_percent(ru.and_then(|r| r.get("maxUnavailable")), desired, false, 1).max(0);
    if max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    let deleting = is_deleting(ds);
    let mut actions = Vec::new();
    let mut requeue: Option<Duration> = None;
    let mut note_wait = |p: &PodInfo| {
        if let Some(s) = p.ready_since {
            if s + min_ready_ms > now {
                let w = Duration::from_millis(s + min_ready_ms - now);
                requeue = Some(requeue.map_or(w, |r: Duration| r.min(w)));
            }
        }
    };
    // Status.
    let (mut current, mut ready, mut updated, mut available, mut misscheduled) = (0, 0, 0, 0, 0);
    for (node, ps) in pods {
        let live: Vec<&PodInfo> = ps.iter().filter(|p| !p.failed).collect();
        if live.is_empty() {
            continue;
        }
        if !eligible.contains(node) {
            misscheduled += 1;
            continue;
        }
        current += 1;
        if live.iter().any(|p| p.ready) {
            ready += 1;
        }
        if live.iter().any(|p| p.hash == hash) {
            updated += 1;
        }
        if live.iter().any(|p| p.available(min_ready_ms, now)) {
            available += 1;
        }
        for p in &live {
            note_wait(p);
        }
    }
    let mut status = json!({
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberUnavailable": (desired - available).max(0),
    });
    if let Some(g) = ds.pointer("/metadata/generation") {
        status["observedGeneration"] = g.clone();
    }
    if deleting {
        return Plan {
            actions,
            status,
            requeue_after: requeue,
        };
    }

    // Placement: pods where they belong, none elsewhere; failed pods are replaced.
    let mut unavailable_nodes = 0i64;
    let mut candidates: Vec<(&String, &PodInfo)> = Vec::new(); // old pods that may be replaced
    let mut surging = 0i64;
    for (node, ps) in pods {
        if !eligible.contains(node) {
            actions.extend(ps.iter().map(|p| Action::Delete {
                name: p.name.clone(),
            }));
        }
    }
    for node in eligible {
        let ps: Vec<&PodInfo> = pods
            .get(node)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        for p in ps.iter().filter(|p| p.failed) {
            actions.push(Action::Delete {
                name: p.name.clone(),
            });
        }
        let live: Vec<&PodInfo> = ps.into_iter().filter(|p| !p.failed).collect();
        if live.is_empty() {
            actions.push(Action::Create { node: node.clone() });
            unavailable_nodes += 1;
            continue;
        }
        let new: Vec<&&PodInfo> = live.iter().filter(|p| p.hash == hash).collect();
        let old: Vec<&&PodInfo> = live.iter().filter(|p| p.hash != hash).collect();
        if !live.iter().any(|p| p.available(min_ready_ms, now)) {
            unavailable_nodes += 1;
        }
        // Duplicates of the same template: keep the oldest.
        for dup in [&new, &old] {
            if dup.len() > 1 {
                let mut sorted = dup.to_vec();
                sorted.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
                actions.extend(sorted.iter().skip(1).map(|p| Action::Delete {
                    name: p.name.clone(),
                }));
            }
        }
        match (new.first(), old.first()) {
            (Some(n), Some(o)) => {
                // A surge pair: drop the old pod once the new one is available.
                surging += 1;
                if n.available(min_ready_ms, now) {
                    actions.push(Action::Delete {
                        name: o.name.clone(),
                    });
                }
            }
            (None, Some(o)) if !on_delete => candidates.push((node, o)),
            _ => {}
        }
    }
    if !on_delete && !candidates.is_empty() {
        // Old pods that are not available cost nothing to replace.
        let (unhealthy, healthy): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|(_, p)| !p.available(min_ready_ms, now));
        for (_, p) in &unhealthy {
            actions.push(Action::Delete {
                name: p.name.clone(),
            });
        }
        if max_surge > 0 {
            let budget = (max_surge - surging).max(0) as usize;
            actions.extend(healthy.iter().take(budget).map(|(node, _)| Action::Create {
                node: (*node).clone(),
            }));
        } else {
            let budget = (max_unavailable - unavailable_nodes).max(0) as usize;
            actions.extend(healthy.iter().take(budget).map(|(_, p)| Action::Delete {
                name: p.name.clone(),
            }));
        }
    }
    Plan {
        actions,
        status,
        requeue_after: requeue,
    }
}

/// The ControllerRevision for a template.
pub fn controller_revision(ds: &Value, hash: &str, revision: i64) -> Value {
    let mut template = ds
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    template["$patch"] = json!("replace");
    let mut labels = ds
        .pointer("/spec/selector/matchLabels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    labels[REVISION_HASH] = json!(hash);
    json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": format!("{}-{hash}", name_of(ds)), "namespace": str_at(ds, "/metadata/namespace"), "labels": labels,
            "ownerReferences": [owner_reference(ds, &DAEMONSETS)]},
        "data": {"spec": {"template": template}},
        "revision": revision,
    })
}

/// Per DaemonSet: what the actor caches.
#[derive(Default)]
struct DsCache {
    /// Whether `eligible` was computed for `template`.
    known: bool,
    template: Value,
    eligible: BTreeSet<String>,
    /// Node -> this DaemonSet's pods there.
    pods: BTreeMap<String, Vec<PodInfo>>,
}

/// The DaemonSet controller's caches.
#[derive(Default)]
pub struct DaemonSetController {
    nodes: HashMap<String, NodeInfo>,
    sets: HashMap<Key, DsCache>,
    /// Pod (namespace, name) -> (DaemonSet name, node), to move or drop index entries.
    pod_home: HashMap<Key, (String, String)>,
}

impl DaemonSetController {
    fn set_ds(&mut self, key: &Key, v: Option<&Value>) {
        match v {
            None => {
                self.sets.remove(key);
            }
            Some(v) => {
                let template = v.pointer("/spec/template").cloned().unwrap_or_default();
                let entry = self.sets.entry(key.clone()).or_default();
                if !entry.known || entry.template != template {
                    entry.known = true;
                    entry.eligible = self
                        .nodes
                        .values()
                        .filter(|n| node_eligible(&template, n))
                        .map(|n| n.name.clone())
                        .collect();
                    entry.template = template;
                }
            }
        }
    }

    fn set_pod(&mut self, ns: &str, name: &str, v: Option<&Value>) {
        let pk = (ns.to_string(), name.to_string());
        if let Some((ds, node)) = self.pod_home.remove(&pk) {
            if let Some(c) = self.sets.get_mut(&(ns.to_string(), ds)) {
                if let Some(list) = c.pods.get_mut(&node) {
                    list.retain(|p| p.name != name);
                    if list.is_empty() {
                        c.pods.remove(&node);
                    }
                }
            }
        }
        let Some(v) = v else { return };
        let Some(ds) = controller_of(v)
            .filter(|(k, _, _)| *k == "DaemonSet")
            .map(|(_, n, _)| n.to_string())
        else {
            return;
        };
        let node = str_at(v, "/spec/nodeName").to_string();
        if is_deleting(v) {
            return;
        }
        let info = PodInfo::from_value(v);
        let c = self.sets.entry((ns.to_string(), ds.clone())).or_default();
        c.pods.entry(node.clone()).or_default().push(info);
        self.pod_home.insert(pk, (ds, node));
    }
}

impl Controller for DaemonSetController {
    const NAME: &'static str = "daemonset";

    fn resync(&mut self, store: &Store) -> Vec<Key> {
        self.nodes.clear();
        self.sets.clear();
        self.pod_home.clear();
        for o in store.list(&NODES, None, &|_| true, None, 0).items {
            let n = NodeInfo::from_value(&o.value());
            self.nodes.insert(n.name.clone(), n);
        }
        let mut keys = Vec::new();
        for o in store.list(&DAEMONSETS, None, &|_| true, None, 0).items {
            let (ns, name) = o.namespace_and_name();
            let k = (ns.to_string(), name.to_string());
            self.set_ds(&k, Some(&o.value()));
            keys.push(k);
        }
        for o in store.list(&PODS, None, &|_| true, None, 0).items {
            let (ns, name) = o.namespace_and_name();
            self.set_pod(ns, name, Some(&o.value()));
        }
        keys
    }

    fn keys_for(&mut self, _store: &Store, ev: &WatchEvent, out: &mut Vec<Key>) {
        let (ns, name) = ev.object.namespace_and_name();
        let k = (ns.to_string(), name.to_string());
        let live = ev.event_type != EventType::Deleted;
        if ev.object.key.starts_with("daemonsets.apps/") {
            self.set_ds(&k, live.then(|| ev.object.value()).as_ref());
            out.push(k);
        } else if ev.object.key.starts_with("nodes/") {
            let node = live.then(|| NodeInfo::from_value(&ev.object.value()));
            let old = self.nodes.get(name).cloned();
            if node.as_ref() == old.as_ref() {
                return; // status-only change: nothing placement depends on
            }
            match &node {
                Some(n) => {
                    self.nodes.insert(name.to_string(), n.clone());
                }
                None => {
                    self.nodes.remove(name);
                }
            }
            for (dk, c) in self.sets.iter_mut() {
                let now_eligible = node.as_ref().is_some_and(|n| node_eligible(&c.template, n));
                let was = c.eligible.contains(name);
                if now_eligible != was {
                    if now_eligible {
                        c.eligible.insert(name.to_string());
                    } else {
                        c.eligible.remove(name);
                    }
                    out.push(dk.clone());
                }
            }
        } else if ev.object.key.starts_with("pods/") {
            let before = self.pod_home.get(&k).map(|(ds, _)| ds.clone());
            // Design: most pod changes are not DaemonSet pods' (a 10,000-replica Deployment's
            // status writes); a small parse of the owner reference tells, and only a
            // DaemonSet's pod is parsed in full.
            let ours = live
                && super::pod_summary::PodSummary::from_json(&ev.object.json)
                    .and_then(|p| p.controller)
                    .is_some_and(|c| c.kind == "DaemonSet");
            if !ours && before.is_none() {
                return;
            }
            let v = ours.then(|| ev.object.value());
            self.set_pod(ns, name, v.as_ref());
            let after = self.pod_home.get(&k).map(|(ds, _)| ds.clone());
            for ds in [before, after].into_iter().flatten() {
                out.push((ns.to_string(), ds));
            }
        }
    }

    async fn sync(
        &mut self,
        store: &Store,
        key: &Key,
        now: Millis,
    ) -> Result<Option<Duration>, ControllerError> {
        let Some(o) = store.get(&DAEMONSETS, &key.0, &key.1) else {
            self.sets.remove(key);
            return Ok(None);
        };
        let ds = o.value();
        self.set_ds(key, Some(&ds));
        let collision = ds
            .pointer("/status/collisionCount")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32;
        let template = ds.pointer("/spec/template").cloned().unwrap_or_default();
        let hash = template_hash(&template, collision);
        if !is_deleting(&ds) {
            ensure_revision(store, &ds, &hash).await?;
        }
        let Some(cache) = self.sets.get(key) else {
            return Ok(None);
        };
        let plan = reconcile(&ds, &hash, &cache.eligible, &cache.pods, now);
        let open = super::namespace_open(store, &key.0);
        let mut writes: Vec<super::Write<'_>> = Vec::new();
        for a in plan.actions {
            let ns = key.0.clone();
            let w: super::Write<'_> = match a {
                Action::Create { .. } if !open => continue,
                Action::Create { node } => match daemon_pod(&ds, &hash, &node) {
                    Ok(p) => Box::pin(async move {
                        store
                            .create(&PODS, &ns, p)
                            .await
                            .map(|_| ())
                            .map_err(ControllerError::from)
                    }),
                    Err(e) => Box::pin(async move { Err(e) }),
                },
                Action::Delete { name } => Box::pin(async move {
                    ignore_not_found(store.delete(&PODS, &ns, &name, None).await)
                        .map_err(ControllerError::from)
                }),
            };
            writes.push(w);
        }
        let first_error = super::run_writes(writes).await;
        let status = plan.status;
        let r = store
            .mutate(
                &DAEMONSETS,
                &key.0,
                &key.1,
                Box::new(move |v| Ok(Some(super::replicaset::merge_status(v, &status)))),
            )
            .await;
        ignore_not_found(r)?;
        match first_error {
            Some(e) => Err(e),
            None => Ok(plan.requeue_after),
        }
    }
}

/// Makes sure the current template has a ControllerRevision with the highest revision number,
/// and trims unused ones beyond `revisionHistoryLimit`.
async fn ensure_revision(store: &Store, ds: &Value, hash: &str) -> Result<(), ControllerError> {
    let ns = str_at(ds, "/metadata/namespace").to_string();
    let uid = uid_of(ds).to_string();
    let prefix = format!("{}-", name_of(ds));
    let revs: Vec<Value> = store
        .list(
            &CONTROLLERREVISIONS,
            Some(&ns),
            &|o| o.namespace_and_name().1.starts_with(&prefix),
            None,
            0,
        )
        .items
        .iter()
        .map(|o| o.value())
        .filter(|v| controller_of(v).is_some_and(|(_, _, u)| u == uid))
        .collect();
    let max = revs
        .iter()
        .filter_map(|r| r.get("revision").and_then(Value::as_i64))
        .max()
        .unwrap_or(0);
    let canon = canonical_template(ds.pointer("/spec/template").unwrap_or(&Value::Null));
    let current = revs.iter().find(|r| {
        r.pointer("/data/spec/template").is_some_and(|t| {
            let mut t = t.clone();
            if let Some(m) = t.as_object_mut() {
                m.remove("$patch");
            }
            canonical_template(&t) == canon
        })
    });
    match current {
        Some(r) if r.get("revision").and_then(Value::as_i64) == Some(max) => {}
        Some(r) => {
            let name = name_of(r).to_string();
            ignore_not_found(
                store
                    .mutate(
                        &CONTROLLERREVISIONS,
                        &ns,
                        &name,
                        Box::new(move |v| {
                            let mut v = v.clone();
                            v["revision"] = json!(max + 1);
                            Ok(Some(v))
                        }),
                    )
                    .await,
            )?;
        }
        None => {
            let cr = controller_revision(ds, hash, max + 1);
            let (mut cr, _) = crate::api::admission::normalize(
                &CONTROLLERREVISIONS,
                cr,
                crate::api::admission::FieldValidation::Ignore,
            )
            .map_err(|e| ControllerError::Build {
                what: "a ControllerRevision".into(),
                message: e.message,
            })?;
            crate::api::admission::prepare_create(&CONTROLLERREVISIONS, &mut cr).map_err(|e| {
                ControllerError::Build {
                    what: "a ControllerRevision".into(),
                    message: e.message,
                }
            })?;
            match store.create(&CONTROLLERREVISIONS, &ns, cr).await {
                Ok(_) | Err(crate::store::StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let limit = ds
        .pointer("/spec/revisionHistoryLimit")
        .and_then(Value::as_i64)
        .unwrap_or(10)
        .max(0) as usize;
    let mut old: Vec<&Value> = revs
        .iter()
        .filter(|r| !name_of(r).ends_with(&format!("-{hash}")))
        .collect();
    if old.len() > limit {
        old.sort_by_key(|r| r.get("revision").and_then(Value::as_i64).unwrap_or(0));
        for r in old.iter().take(old.len() - limit) {
            ignore_not_found(
                store
                    .delete(&CONTROLLERREVISIONS, &ns, name_of(r), None)
                    .await,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_764_300_000_000;

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            taints: taints
                .iter()
                .map(|(k, e)| (k.to_string(), String::new(), e.to_string()))
                .collect(),
        }
    }

    #[test]
    fn eligibility() {
        let t = |spec: Value| json!({"spec": spec});
        let cases: Vec<(&str, Value, NodeInfo, bool)> = vec![
            ("no constraints", t(json!({})), node("n", &[], &[]), true),
            (
                "nodeSelector match",
                t(json!({"nodeSelector": {"kind": "cam"}})),
                node("n", &[("kind", "cam")], &[]),
                true,
            ),
            (
                "nodeSelector miss",
                t(json!({"nodeSelector": {"kind": "cam"}})),
                node("n", &[("kind", "gw")], &[]),
                false,
            ),
            (
                "affinity In",
                t(
                    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}}}),
                ),
                node("n", &[("zone", "b")], &[]),
                true,
            ),
            (
                "affinity terms are ORed",
                t(
                    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]}}}}),
                ),
                node("n", &[("zone", "c")], &[]),
                true,
            ),
            (
                "affinity NotIn",
                t(
                    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}]}}}}),
                ),
                node("n", &[("zone", "a")], &[]),
                false,
            ),
            (
                "untolerated NoSchedule taint",
                t(json!({})),
                node("n", &[], &[("dedicated", "NoSchedule")]),
                false,
            ),
            (
                "PreferNoSchedule is not a filter",
                t(json!({})),
                node("n", &[], &[("dedicated", "PreferNoSchedule")]),
                true,
            ),
            (
                "tolerated taint",
                t(json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]})),
                node("n", &[], &[("dedicated", "NoSchedule")]),
                true,
            ),
            (
                "not-ready and unreachable are tolerated",
                t(json!({})),
                node(
                    "n",
                    &[],
                    &[
                        ("node.kubernetes.io/not-ready", "NoExecute"),
                        ("node.kubernetes.io/unreachable", "NoExecute"),
                    ],
                ),
                true,
            ),
            (
                "cordoned nodes still run daemons",
                t(json!({})),
                node(
                    "n",
                    &[],
                    &[("node.kubernetes.io/unschedulable", "NoSchedule")],
                ),
                true,
            ),
        ];
        for (what, tmpl, n, want) in cases {
            assert_eq!(node_eligible(&tmpl, &n), want, "{what}");
        }
    }

    fn ds(strategy: Value) -> Value {
        json!({"metadata": {"name": "agent", "namespace": "d", "uid": "ds-1", "generation": 2},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "updateStrategy": strategy,
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "a:1"}]}}}})
    }

    fn p(name: &str, hash: &str, ready: bool) -> PodInfo {
        PodInfo {
            name: name.into(),
            hash: hash.into(),
            ready,
            ready_since: ready.then_some(NOW - 60_000),
            failed: false,
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn nodes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn pods(list: Vec<(&str, PodInfo)>) -> BTreeMap<String, Vec<PodInfo>> {
        let mut m: BTreeMap<String, Vec<PodInfo>> = BTreeMap::new();
        for (n, p) in list {
            m.entry(n.to_string()).or_default().push(p);
        }
        m
    }

    fn create(n: &str) -> Action {
        Action::Create { node: n.into() }
    }
    fn delete(n: &str) -> Action {
        Action::Delete { name: n.into() }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn placement_and_rolling_updates() {
        let rolling = |u: Value, s: Value| json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": u, "maxSurge": s}});
        let cases: Vec<(
            &str,
            Value,
            BTreeSet<String>,
            BTreeMap<String, Vec<PodInfo>>,
            Vec<Action>,
        )> = vec![
            (
                "one pod per eligible node",
                ds(json!({})),
                nodes(&["a", "b"]),
                pods(vec![]),
                vec![create("a"), create("b")],
            ),
            (
                "steady",
                ds(json!({})),
                nodes(&["a"]),
                pods(vec![("a", p("pa", "h2", true))]),
                vec![],
            ),
            (
                "a node that left or lost its label loses its pod",
                ds(json!({})),
                nodes(&["a"]),
                pods(vec![
                    ("a", p("pa", "h2", true)),
                    ("gone", p("pg", "h2", true)),
                ]),
                vec![delete("pg")],
            ),
            (
                "failed pods are replaced",
                ds(json!({})),
                nodes(&["a"]),
                pods(vec![(
                    "a",
                    PodInfo {
                        failed: true,
                        ..p("pf", "h2", false)
                    },
                )]),
                vec![delete("pf"), create("a")],
            ),
            (
                "duplicates are removed",
                ds(json!({})),
                nodes(&["a"]),
                pods(vec![
                    ("a", p("p1", "h2", true)),
                    (
                        "a",
                        PodInfo {
                            created: "2026-01-02T00:00:00Z".into(),
                            ..p("p2", "h2", true)
                        },
                    ),
                ]),
                vec![delete("p2")],
            ),
            (
                "rolling update: maxUnavailable 2 replaces two nodes at a time",
                ds(rolling(json!(2), json!(0))),
                nodes(&["a", "b", "c"]),
                pods(vec![
                    ("a", p("pa", "h1", true)),
                    ("b", p("pb", "h1", true)),
                    ("c", p("pc", "h1", true)),
                ]),
                vec![delete("pa"), delete("pb")],
            ),
            (
                "rolling update: budget used by a node still starting",
                ds(rolling(json!(1), json!(0))),
                nodes(&["a", "b", "c"]),
                pods(vec![
                    ("a", p("pa", "h2", false)),
                    ("b", p("pb", "h1", true)),
                    ("c", p("pc", "h1", true)),
                ]),
                vec![],
            ),
            (
                "rolling update: unavailable old pods are replaced without budget",
                ds(rolling(json!(1), json!(0))),
                nodes(&["a", "b"]),
                pods(vec![
                    ("a", p("pa", "h1", false)),
                    ("b", p("pb", "h1", true)),
                ]),
                vec![delete("pa")],
            ),
            (
                "percent of desired nodes, rounded down",
                ds(rolling(json!("50%"), json!(0))),
                nodes(&["a", "b", "c"]),
                pods(vec![
                    ("a", p("pa", "h1", true)),
                    ("b", p("pb", "h1", true)),
                    ("c", p("pc", "h1", true)),
                ]),
                vec![delete("pa")],
            ),
            (
                "surge: start the new pod next to the old one",
                ds(rolling(json!(0), json!(1))),
                nodes(&["a", "b"]),
                pods(vec![("a", p("pa", "h1", true)), ("b", p("pb", "h1", true))]),
                vec![create("a")],
            ),
            (
                "surge: the old pod goes once the new one is available",
                ds(rolling(json!(0), json!(1))),
                nodes(&["a", "b"]),
                pods(vec![
                    ("a", p("pa", "h1", true)),
                    ("a", p("na", "h2", true)),
                    ("b", p("pb", "h1", true)),
                ]),
                vec![delete("pa")],
            ),
            (
                "OnDelete leaves old pods alone",
                ds(json!({"type": "OnDelete"})),
                nodes(&["a", "b"]),
                pods(vec![("a", p("pa", "h1", true))]),
                vec![create("b")],
            ),
        ];
        for (what, d, eligible, ps, want) in cases {
            let plan = reconcile(&d, "h2", &eligible, &ps, NOW);
            assert_eq!(plan.actions, want, "{what}");
        }
    }

    #[test]
    fn status_counts() {
        let eligible = nodes(&["a", "b", "c", "d"]);
        let ps = pods(vec![
            ("a", p("pa", "h2", true)),
            ("b", p("pb", "h1", true)),
            ("c", p("pc", "h2", false)),
            ("x", p("px", "h2", true)),
        ]);
        let plan = reconcile(&ds(json!({"type": "OnDelete"})), "h2", &eligible, &ps, NOW);
        assert_eq!(
            plan.status,
            json!({"desiredNumberScheduled": 4, "currentNumberScheduled": 3, "numberMisscheduled": 1, "numberReady": 2,
                "updatedNumberScheduled": 2, "numberAvailable": 2, "numberUnavailable": 2, "observedGeneration": 2})
        );
    }

    #[test]
    fn daemon_pods_are_bound_labelled_and_tolerant() {
        let pod = daemon_pod(&ds(json!({})), "h2", "n1").expect("pod");
        assert_eq!(pod["spec"]["nodeName"], "n1");
        assert_eq!(pod["metadata"]["labels"][REVISION_HASH], "h2");
        assert_eq!(pod["metadata"]["labels"][TEMPLATE_GENERATION], "2");
        let ts = pod["spec"]["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let unreachable = ts
            .iter()
            .find(|t| t["key"] == "node.kubernetes.io/unreachable")
            .expect("tolerates unreachable");
        assert!(
            unreachable.get("tolerationSeconds").is_none(),
            "forever, not 300 s"
        );
        assert_eq!(controller_of(&pod).map(|c| c.0), Some("DaemonSet"));
    }

    #[test]
    fn controller_revisions_hold_the_template_as_a_patch() {
        let cr = controller_revision(&ds(json!({})), "h2", 3);
        assert_eq!(cr["metadata"]["name"], "agent-h2");
        assert_eq!(cr["revision"], 3);
        assert_eq!(cr["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(cr["metadata"]["labels"][REVISION_HASH], "h2");
    }
}
