//! ReplicaSet and ReplicationController: keep `replicas` pods matching a selector.
//!
//! Both kinds share [`reconcile`]; they differ only in the selector (a ReplicaSet's is a
//! set-based `metav1.LabelSelector`, a ReplicationController's an equality map that defaults
//! to the template's labels) and in the kind written into owner references.
//!
//! The pure core sees the owner and the candidate pods (those matching the selector plus
//! those it owns) and plans: adopt matching orphans, release owned pods that stopped
//! matching, create pods up to `replicas`, delete the least valuable pods above it, and the
//! new status. It reads pods as [`PodSummary`]s, not JSON.
//!
//! The actor ([`ReplicaController`]) keeps indexes fed by the change stream, so one pod
//! change costs one small parse and touches only its owners, and a sync costs O(its pods)
//! in memory with no store reads but the owner:
//! - a [`PodIndex`]: owner -> summaries of the pods it controls, and the orphans of each
//!   namespace (adoption candidates);
//! - owner -> selector, to find which owners an orphan pod could be adopted by;
//! - [`Expectations`]: an owner is synced again only once the index has seen the writes of
//!   its last sync, so pods in flight are never created twice.
//!
//! Syncs are coalesced by the shared work queue (a key is queued at most once, and all
//! changes read in one step are folded in before any sync runs), so a burst of 500 pod
//! status changes of one ReplicaSet costs one sync, not 500.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::expectations::Expectations;
use super::pod_index::PodIndex;
use super::pod_summary::PodSummary;
use super::{
    controller_of, is_deleting, labels_of, name_of, pod_from_template,
    selector_from_label_selector, selector_from_map, str_at, uid_of, Controller, ControllerError,
    Key, Millis,
};
use crate::api::admission;
use crate::resources::{ResourceInfo, PODS, REPLICASETS, REPLICATIONCONTROLLERS};
use crate::selector::LabelSelector;
use crate::store::{EventType, Store, StoreError, StoredObject, WatchEvent};

/// Most pods created or deleted by one sync; the rest follow on the next (bounds one sync's
/// work and the write queue's burst).
pub const BURST: usize = 500;

/// Which of the two kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaKind {
    ReplicaSet,
    ReplicationController,
}

impl ReplicaKind {
    pub fn resource(self) -> &'static ResourceInfo {
        match self {
            ReplicaKind::ReplicaSet => &REPLICASETS,
            ReplicaKind::ReplicationController => &REPLICATIONCONTROLLERS,
        }
    }

    /// The owner's selector; `None` matches nothing.
    pub fn selector(self, owner: &Value) -> Result<Option<LabelSelector>, String> {
        match self {
            ReplicaKind::ReplicaSet => {
                selector_from_label_selector(owner.pointer("/spec/selector"))
            }
            ReplicaKind::ReplicationController => {
                Ok(selector_from_map(owner.pointer("/spec/selector"))
                    .or_else(|| selector_from_map(owner.pointer("/spec/template/metadata/labels"))))
            }
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create this pod (already built from the template, owner reference included).
    Create(Value),
    Delete {
        name: String,
    },
    /// Add our controller reference to an orphan.
    Adopt {
        name: String,
    },
    /// Remove our owner reference from a pod that no longer matches.
    Release {
        name: String,
    },
}

/// What a reconcile decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// The status to write (the owner's other status fields are kept).
    pub status: Value,
    /// Sync again after this (a pod becomes available after `minReadySeconds`).
    pub requeue_after: Option<Duration>,
}

/// Reconciles one ReplicaSet or ReplicationController. `pods` are the candidates in its
/// namespace: every pod matching the selector and every pod it owns, in any order.
pub fn reconcile(
    kind: ReplicaKind,
    owner: &Value,
    pods: &[&PodSummary],
    now: Millis,
) -> Result<Plan, ControllerError> {
    let selector = kind
        .selector(owner)
        .map_err(|message| ControllerError::Build {
            what: format!("the selector of {}", name_of(owner)),
            message,
        })?;
    let uid = uid_of(owner);
    let deleting = is_deleting(owner);
    let replicas = owner
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let min_ready = owner
        .pointer("/spec/minReadySeconds")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let template_labels = labels_of(&template);
    let mut actions = Vec::new();
    let mut mine: Vec<&PodSummary> = Vec::new();
    for p in pods.iter().copied() {
        let matches = selector.as_ref().is_some_and(|s| s.matches_map(&p.labels));
        match &p.controller {
            Some(c) if c.uid == uid => {
                if matches {
                    mine.push(p);
                } else {
                    actions.push(Action::Release {
                        name: p.name.clone(),
                    });
                }
            }
            Some(_) => {}
            None => {
                if matches && !deleting && p.is_active() {
                    actions.push(Action::Adopt {
                        name: p.name.clone(),
                    });
                    mine.push(p);
                }
            }
        }
    }
    let active: Vec<&PodSummary> = mine.iter().copied().filter(|p| p.is_active()).collect();
    if !deleting && selector.is_some() {
        if active.len() < replicas {
            let missing = (replicas - active.len()).min(BURST);
            if missing > 0 {
                // Design: the template goes through admission once; each further pod is a
                // copy that only gets its own generated name (prepare_create is idempotent on
                // a defaulted pod), so a burst of 500 creates costs one normalization.
                let first = pod_from_template(&template, owner, kind.resource(), &[], None)?;
                for _ in 1..missing {
                    let mut p = first.clone();
                    if let Some(m) = p.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("name");
                    }
                    admission::prepare_create(&PODS, &mut p).map_err(|e| {
                        ControllerError::Build {
                            what: format!("a pod for {} {}", kind.resource().kind, name_of(owner)),
                            message: e.message,
                        }
                    })?;
                    actions.push(Action::Create(p));
                }
                actions.push(Action::Create(first));
            }
        } else if active.len() > replicas {
            let mut ranked = active.clone();
            ranked.sort_by_cached_key(|p| deletion_rank(p));
            for p in ranked.iter().take((active.len() - replicas).min(BURST)) {
                actions.push(Action::Delete {
                    name: p.name.clone(),
                });
            }
        }
    }
    let mut requeue: Option<Duration> = None;
    let mut ready = 0;
    let mut available = 0;
    let mut fully_labeled = 0;
    for p in &active {
        if p.ready {
            ready += 1;
        }
        match p.availability(min_ready, now) {
            Ok(true) => available += 1,
            Ok(false) => {}
            Err(wait) => requeue = Some(requeue.map_or(wait, |r: Duration| r.min(wait))),
        }
        if template_labels
            .iter()
            .all(|(k, v)| p.labels.get(k) == Some(v))
        {
            fully_labeled += 1;
        }
    }
    let mut status = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
    });
    if let Some(g) = owner.pointer("/metadata/generation") {
        status["observedGeneration"] = g.clone();
    }
    Ok(Plan {
        actions,
        status,
        requeue_after: requeue,
    })
}

/// Sort key: pods that should go first when scaling down sort first (as Kubernetes ranks
/// them: unscheduled, then pending, then not ready, then the newest).
fn deletion_rank(p: &PodSummary) -> (bool, u8, bool, std::cmp::Reverse<String>, String) {
    let assigned = !p.node_name.is_empty();
    let phase = match p.phase.as_str() {
        "Pending" | "" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    (
        assigned,
        phase,
        p.ready,
        std::cmp::Reverse(p.creation_timestamp.clone()),
        p.name.clone(),
    )
}

/// Writes `status` fields into the owner's status, keeping other fields (conditions).
pub fn merge_status(owner: &Value, status: &Value) -> Value {
    let mut v = owner.clone();
    if !v.get("status").is_some_and(Value::is_object) {
        v["status"] = json!({});
    }
    if let Some(m) = status.as_object() {
        for (k, x) in m {
            v["status"][k] = x.clone();
        }
    }
    v
}

/// The actor-side state of the ReplicaSet or ReplicationController controller.
pub struct ReplicaController {
    kind: ReplicaKind,
    /// Owner -> the summaries of its pods, and orphans by namespace.
    pods: PodIndex,
    /// Owner -> its selector, for finding owners of orphan pods.
    selectors: HashMap<String, HashMap<String, LabelSelector>>,
    /// Owners whose last writes the index has not seen yet.
    expectations: Expectations,
}

impl ReplicaController {
    pub fn new(kind: ReplicaKind) -> Self {
        ReplicaController {
            kind,
            pods: PodIndex::new(kind.resource().kind),
            selectors: HashMap::new(),
            expectations: Expectations::default(),
        }
    }

    fn index_owner(&mut self, ns: &str, name: &str, v: Option<&Value>) {
        let sel = v.and_then(|v| self.kind.selector(v).ok().flatten());
        let m = self.selectors.entry(ns.to_string()).or_default();
        match sel {
            Some(s) => {
                m.insert(name.to_string(), s);
            }
            None => {
                m.remove(name);
            }
        }
    }
}

/// How long a sync waits for the change stream to show its owner's last writes before it
/// looks again (it is normally a matter of one read of the stream).
const EXPECTATION_RETRY: Duration = Duration::from_millis(5);

impl Controller for ReplicaController {
    const NAME: &'static str = "replicaset";

    fn resync(&mut self, store: &Store) -> Vec<Key> {
        self.pods.clear();
        self.selectors.clear();
        self.expectations.clear(store.revision());
        let mut keys = Vec::new();
        for o in store
            .list(self.kind.resource(), None, &|_| true, None, 0)
            .items
        {
            let (ns, name) = o.namespace_and_name();
            self.index_owner(ns, name, Some(&o.value()));
            keys.push((ns.to_string(), name.to_string()));
        }
        for o in store.list(&PODS, None, &|_| true, None, 0).items {
            let (ns, name) = o.namespace_and_name();
            self.pods.set(ns, name, PodSummary::from_json(&o.json));
        }
        keys
    }

    fn keys_for(&mut self, _store: &Store, ev: &WatchEvent, out: &mut Vec<Key>) {
        self.expectations.observe(ev.revision);
        let (ns, name) = ev.object.namespace_and_name();
        if ev
            .object
            .key
            .strip_prefix(self.kind.resource().key_prefix)
            .is_some_and(|rest| rest.starts_with('/'))
        {
            let (ns, name) = (ns.to_string(), name.to_string());
            let v = (ev.event_type != EventType::Deleted).then(|| ev.object.value());
            self.index_owner(&ns, &name, v.as_ref());
            if v.is_none() {
                self.expectations.forget(&(ns.clone(), name.clone()));
            }
            out.push((ns, name));
            return;
        }
        if !ev.object.key.starts_with("pods/") {
            return;
        }
        // Design: one small parse per pod change (not of the previous version: the index
        // remembers where the pod was filed).
        let new = if ev.event_type == EventType::Deleted {
            None
        } else {
            PodSummary::from_json(&ev.object.json)
        };
        let orphan_labels = new
            .as_ref()
            .filter(|p| p.controller.is_none())
            .map(|p| p.labels.clone());
        let (old_owner, new_owner) = self.pods.set(ns, name, new);
        for o in [old_owner, new_owner].into_iter().flatten() {
            out.push((ns.to_string(), o));
        }
        // An orphan may be adopted by any owner whose selector matches it.
        if let (Some(labels), Some(sels)) = (orphan_labels, self.selectors.get(ns)) {
            for (owner, sel) in sels {
                if sel.matches_map(&labels) {
                    out.push((ns.to_string(), owner.clone()));
                }
            }
        }
    }

    async fn sync(
        &mut self,
        store: &Store,
        key: &Key,
        now: Millis,
    ) -> Result<Option<Duration>, ControllerError> {
        if !self.expectations.satisfied(key) {
            return Ok(Some(EXPECTATION_RETRY));
        }
        let res = self.kind.resource();
        let Some(owner) = store.get(res, &key.0, &key.1) else {
            return Ok(None);
        };
        let owner = owner.value();
        let selector = self.kind.selector(&owner).ok().flatten();
        let pods = self.pods.candidates(key, selector.as_ref());
        let plan = reconcile(self.kind, &owner, &pods, now)?;
        let (again, wrote) = execute(store, self.kind, &owner, plan).await;
        self.expectations.expect(key, wrote);
        again
    }
}

/// Carries a plan out: pod writes first, then the status. Also returns the highest revision
/// the pod writes produced (0 if none), for the expectations.
async fn execute(
    store: &Store,
    kind: ReplicaKind,
    owner: &Value,
    plan: Plan,
) -> (Result<Option<Duration>, ControllerError>, u64) {
    let wrote = std::cell::Cell::new(0u64);
    let wrote = &wrote;
    let note = move |r: Result<Arc<StoredObject>, StoreError>| {
        if let Ok(o) = &r {
            wrote.set(wrote.get().max(o.revision));
        }
        r
    };
    let ns = str_at(owner, "/metadata/namespace").to_string();
    let uid = uid_of(owner).to_string();
    let open = super::namespace_open(store, &ns);
    let mut writes: Vec<super::Write<'_>> = Vec::new();
    for a in plan.actions {
        let ns = ns.clone();
        let w: super::Write<'_> = match a {
            Action::Create(_) if !open => continue,
            Action::Create(pod) => Box::pin(async move {
                note(store.create(&PODS, &ns, pod).await)
                    .map(|_| ())
                    .map_err(Into::into)
            }),
            Action::Delete { name } => Box::pin(async move {
                ignore_not_found(note(store.delete(&PODS, &ns, &name, None).await))
                    .map_err(Into::into)
            }),
            Action::Adopt { name } => {
                let reference = super::owner_reference(owner, kind.resource());
                Box::pin(async move {
                    ignore_not_found(note(
                        store
                            .mutate(&PODS, &ns, &name, Box::new(move |v| adopt(v, reference)))
                            .await,
                    ))
                    .map_err(Into::into)
                })
            }
            Action::Release { name } => {
                let uid = uid.clone();
                Box::pin(async move {
                    ignore_not_found(note(
                        store
                            .mutate(&PODS, &ns, &name, Box::new(move |v| Ok(release(v, &uid))))
                            .await,
                    ))
                    .map_err(Into::into)
                })
            }
        };
        writes.push(w);
    }
    let first_error = super::run_writes(writes).await;
    let status = plan.status;
    let r = store
        .mutate(
            kind.resource(),
            &ns,
            name_of(owner),
            Box::new(move |v| Ok(Some(merge_status(v, &status)))),
        )
        .await;
    let result = match (ignore_not_found(r), first_error) {
        (Err(e), _) => Err(e.into()),
        (Ok(()), Some(e)) => Err(e),
        (Ok(()), None) => Ok(plan.requeue_after),
    };
    (result, wrote.get())
}

/// Adds a controller reference to a pod that has none (checked against the latest state).
pub fn adopt(v: &Value, reference: Value) -> Result<Option<Value>, StoreError> {
    if controller_of(v).is_some() {
        return Ok(None);
    }
    let mut v = v.clone();
    match v
        .pointer_mut("/metadata/ownerReferences")
        .and_then(Value::as_array_mut)
    {
        Some(refs) => refs.push(reference),
        None => v["metadata"]["ownerReferences"] = json!([reference]),
    }
    Ok(Some(v))
}

/// Removes the owner references with `uid`.
pub fn release(v: &Value, uid: &str) -> Option<Value> {
    let refs = v.pointer("/metadata/ownerReferences")?.as_array()?;
    let kept: Vec<Value> = refs
        .iter()
        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid))
        .cloned()
        .collect();
    if kept.len() == refs.len() {
        return None;
    }
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if kept.is_empty() {
            m.remove("ownerReferences");
        } else {
            m.insert("ownerReferences".into(), Value::Array(kept));
        }
    }
    Some(v)
}

pub fn ignore_not_found<T>(r: Result<T, StoreError>) -> Result<(), StoreError> {
    match r {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_764_300_000_000;

    /// [`reconcile`] on pods given as JSON.
    fn rec(
        kind: ReplicaKind,
        owner: &Value,
        pods: &[Value],
        now: Millis,
    ) -> Result<Plan, ControllerError> {
        let summaries: Vec<PodSummary> = pods.iter().map(PodSummary::from_value).collect();
        let refs: Vec<&PodSummary> = summaries.iter().collect();
        reconcile(kind, owner, &refs, now)
    }

    fn rs(replicas: i64, min_ready: i64) -> Value {
        json!({"metadata": {"name": "web", "namespace": "d", "uid": "rs-1", "generation": 3},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web", "tier": "f"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}})
    }

    /// A pod: `owner` "" = orphan; `ready_since` = seconds before NOW it became ready.
    fn pod(name: &str, app: &str, owner: &str, node: &str, ready_since: Option<u64>) -> Value {
        let mut p = json!({"metadata": {"name": name, "namespace": "d", "labels": {"app": app, "tier": "f"}, "creationTimestamp": format!("2026-01-01T00:00:0{}Z", name.len() % 10)},
            "spec": {"nodeName": node}, "status": {"phase": if ready_since.is_some() { "Running" } else { "Pending" }}});
        if !owner.is_empty() {
            p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": owner, "controller": true}]);
        }
        if let Some(s) = ready_since {
            p["status"]["conditions"] = json!([{"type": "Ready", "status": "True", "lastTransitionTime": super::super::rfc3339(NOW - s * 1000)}]);
        }
        p
    }

    fn summary(plan: &Plan) -> (usize, Vec<String>, Vec<String>, Vec<String>) {
        let mut creates = 0;
        let (mut del, mut adopt, mut rel) = (vec![], vec![], vec![]);
        for a in &plan.actions {
            match a {
                Action::Create(_) => creates += 1,
                Action::Delete { name } => del.push(name.clone()),
                Action::Adopt { name } => adopt.push(name.clone()),
                Action::Release { name } => rel.push(name.clone()),
            }
        }
        (creates, del, adopt, rel)
    }

    #[test]
    fn keeps_the_replica_count() {
        struct Case {
            what: &'static str,
            owner: Value,
            pods: Vec<Value>,
            creates: usize,
            deletes: &'static [&'static str],
            adopts: &'static [&'static str],
            releases: &'static [&'static str],
        }
        let cases = vec![
            Case {
                what: "scale up from nothing",
                owner: rs(3, 0),
                pods: vec![],
                creates: 3,
                deletes: &[],
                adopts: &[],
                releases: &[],
            },
            Case {
                what: "steady state",
                owner: rs(2, 0),
                pods: vec![
                    pod("a", "web", "rs-1", "n", Some(5)),
                    pod("b", "web", "rs-1", "n", Some(5)),
                ],
                creates: 0,
                deletes: &[],
                adopts: &[],
                releases: &[],
            },
            Case {
                what: "scale down removes unscheduled, then not ready, first",
                owner: rs(1, 0),
                pods: vec![
                    pod("ready", "web", "rs-1", "n", Some(5)),
                    pod("pending", "web", "rs-1", "n", None),
                    pod("unbound", "web", "rs-1", "", None),
                ],
                creates: 0,
                deletes: &["unbound", "pending"],
                adopts: &[],
                releases: &[],
            },
            Case {
                what: "scale to zero",
                owner: rs(0, 0),
                pods: vec![pod("a", "web", "rs-1", "n", Some(5))],
                creates: 0,
                deletes: &["a"],
                adopts: &[],
                releases: &[],
            },
            Case {
                what: "adopts a matching orphan",
                owner: rs(2, 0),
                pods: vec![pod("o", "web", "", "n", Some(5))],
                creates: 1,
                deletes: &[],
                adopts: &["o"],
                releases: &[],
            },
            Case {
                what: "leaves other controllers' pods alone",
                owner: rs(1, 0),
                pods: vec![pod("x", "web", "other", "n", Some(5))],
                creates: 1,
                deletes: &[],
                adopts: &[],
                releases: &[],
            },
            Case {
                what: "releases a pod that stopped matching",
                owner: rs(1, 0),
                pods: vec![
                    pod("r", "db", "rs-1", "n", Some(5)),
                    pod("a", "web", "rs-1", "n", Some(5)),
                ],
                creates: 0,
                deletes: &[],
                adopts: &[],
                releases: &["r"],
            },
            Case {
                what: "finished pods do not count",
                owner: rs(1, 0),
                pods: vec![{
                    let mut p = pod("f", "web", "rs-1", "n", None);
                    p["status"]["phase"] = json!("Failed");
                    p
                }],
                creates: 1,
                deletes: &[],
                adopts: &[],
                releases: &[],
            },
            Case {
                what: "an owner being deleted creates nothing and adopts nothing",
                owner: {
                    let mut o = rs(3, 0);
                    o["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                    o
                },
                pods: vec![pod("o", "web", "", "n", Some(5))],
                creates: 0,
                deletes: &[],
                adopts: &[],
                releases: &[],
            },
        ];
        for c in cases {
            let plan = rec(ReplicaKind::ReplicaSet, &c.owner, &c.pods, NOW).expect(c.what);
            let (creates, del, adopt, rel) = summary(&plan);
            assert_eq!(creates, c.creates, "{}: creates", c.what);
            assert_eq!(del, c.deletes, "{}: deletes", c.what);
            assert_eq!(adopt, c.adopts, "{}: adopts", c.what);
            assert_eq!(rel, c.releases, "{}: releases", c.what);
            // Running it again on the same input plans the same thing (level-triggered).
            assert_eq!(
                summary(&rec(ReplicaKind::ReplicaSet, &c.owner, &c.pods, NOW).expect(c.what)),
                summary(&plan),
                "{}",
                c.what
            );
        }
    }

    #[test]
    fn status_counts_ready_available_and_fully_labeled() {
        let mut unlabeled = pod("u", "web", "rs-1", "n", Some(100));
        unlabeled["metadata"]["labels"] = json!({"app": "web"});
        let pods = vec![
            pod("a", "web", "rs-1", "n", Some(100)),
            pod("b", "web", "rs-1", "n", Some(2)),
            pod("c", "web", "rs-1", "n", None),
            unlabeled,
        ];
        let plan = rec(ReplicaKind::ReplicaSet, &rs(4, 10), &pods, NOW).expect("plan");
        assert_eq!(
            plan.status,
            json!({"replicas": 4, "fullyLabeledReplicas": 3, "readyReplicas": 3, "availableReplicas": 2, "observedGeneration": 3})
        );
        assert_eq!(
            plan.requeue_after,
            Some(Duration::from_secs(8)),
            "b becomes available 8 s from now"
        );
    }

    #[test]
    fn created_pods_come_from_the_template() {
        let plan = rec(ReplicaKind::ReplicaSet, &rs(1, 0), &[], NOW).expect("plan");
        let Action::Create(p) = &plan.actions[0] else {
            panic!("expected a create")
        };
        assert_eq!(p["metadata"]["labels"], json!({"app": "web", "tier": "f"}));
        assert_eq!(p["metadata"]["generateName"], "web-");
        assert_eq!(
            p["metadata"]["ownerReferences"][0],
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-1", "controller": true, "blockOwnerDeletion": true})
        );
        assert_eq!(
            p["spec"]["dnsPolicy"], "ClusterFirst",
            "API defaults applied"
        );
    }

    #[test]
    fn a_burst_of_creates_differs_only_in_names() {
        let plan = rec(ReplicaKind::ReplicaSet, &rs(3, 0), &[], NOW).expect("plan");
        let mut pods: Vec<Value> = plan
            .actions
            .into_iter()
            .map(|a| match a {
                Action::Create(p) => p,
                other => panic!("expected creates, got {other:?}"),
            })
            .collect();
        let mut names: Vec<String> = pods.iter().map(|p| name_of(p).to_string()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 3, "three distinct names: {names:?}");
        assert!(names.iter().all(|n| n.starts_with("web-")));
        for p in &mut pods {
            p["metadata"]["name"] = json!("x");
        }
        assert_eq!(pods[0], pods[1]);
        assert_eq!(pods[1], pods[2]);
    }

    #[test]
    fn replication_controllers_use_equality_selectors_defaulting_to_template_labels() {
        let rc = json!({"metadata": {"name": "rc", "namespace": "d", "uid": "rc-1"},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}});
        let plan = rec(
            ReplicaKind::ReplicationController,
            &rc,
            &[pod("o", "web", "", "n", Some(1))],
            NOW,
        )
        .expect("plan");
        assert_eq!(summary(&plan), (0, vec![], vec!["o".to_string()], vec![]));
        let mut explicit = rc.clone();
        explicit["spec"]["selector"] = json!({"app": "db"});
        let plan = rec(
            ReplicaKind::ReplicationController,
            &explicit,
            &[pod("o", "web", "", "n", Some(1))],
            NOW,
        )
        .expect("plan");
        assert_eq!(summary(&plan).0, 1, "the web pod does not match app=db");
    }

    #[test]
    fn an_empty_replicaset_selector_matches_nothing() {
        let mut o = rs(2, 0);
        o["spec"]["selector"] = json!({});
        let plan = rec(
            ReplicaKind::ReplicaSet,
            &o,
            &[pod("o", "web", "", "n", Some(1))],
            NOW,
        )
        .expect("plan");
        assert!(plan.actions.is_empty());
    }

    #[test]
    fn adopt_and_release_check_the_latest_state() {
        let orphan = pod("o", "web", "", "n", None);
        let adopted = adopt(
            &orphan,
            json!({"uid": "rs-1", "controller": true, "kind": "ReplicaSet", "name": "web"}),
        )
        .expect("ok")
        .expect("changed");
        assert_eq!(controller_of(&adopted).map(|c| c.2), Some("rs-1"));
        assert_eq!(
            adopt(&adopted, json!({"uid": "rs-2", "controller": true})).expect("ok"),
            None,
            "already owned"
        );
        let released = release(&adopted, "rs-1").expect("changed");
        assert!(released["metadata"].get("ownerReferences").is_none());
        assert_eq!(release(&released, "rs-1"), None);
    }
}
