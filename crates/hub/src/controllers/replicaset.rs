//! ReplicaSet and ReplicationController: keep `replicas` pods matching a selector.
//!
//! Both kinds share [`reconcile`]; they differ only in the selector (a ReplicaSet's is a
//! set-based `metav1.LabelSelector`, a ReplicationController's an equality map that defaults
//! to the template's labels) and in the kind written into owner references.
//!
//! The pure core sees the owner and the candidate pods (those matching the selector plus
//! those it owns) and plans: adopt matching orphans, release owned pods that stopped
//! matching, create pods up to `replicas`, delete the least valuable pods above it, and the
//! new status. The actor ([`ReplicaController`]) keeps two small indexes fed by the change
//! stream: owner -> owned pods (to find pods to release) and owner -> selector (to find which
//! owners an orphan pod could be adopted by), so one pod change touches only its owners.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::{
    controller_of, is_deleting, labels_of, name_of, pod_availability, pod_from_template,
    pod_is_active, pod_is_ready, selector_from_label_selector, selector_from_map, str_at, uid_of,
    Controller, ControllerError, Key, Millis,
};
use crate::resources::{ResourceInfo, PODS, REPLICASETS, REPLICATIONCONTROLLERS};
use crate::selector::LabelSelector;
use crate::store::{EventType, Store, StoreError, WatchEvent};

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
    pods: &[Value],
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
    let mut mine: Vec<&Value> = Vec::new();
    for p in pods {
        let matches = selector
            .as_ref()
            .is_some_and(|s| s.matches_map(&labels_of(p)));
        match controller_of(p) {
            Some((_, _, owner_uid)) if owner_uid == uid => {
                if matches {
                    mine.push(p);
                } else {
                    actions.push(Action::Release {
                        name: name_of(p).to_string(),
                    });
                }
            }
            Some(_) => {}
            None => {
                if matches && !deleting && pod_is_active(p) {
                    actions.push(Action::Adopt {
                        name: name_of(p).to_string(),
                    });
                    mine.push(p);
                }
            }
        }
    }
    let active: Vec<&Value> = mine.iter().copied().filter(|p| pod_is_active(p)).collect();
    if !deleting && selector.is_some() {
        if active.len() < replicas {
            let missing = (replicas - active.len()).min(BURST);
            for _ in 0..missing {
                actions.push(Action::Create(pod_from_template(
                    &template,
                    owner,
                    kind.resource(),
                    &[],
                    None,
                )?));
            }
        } else if active.len() > replicas {
            let mut ranked = active.clone();
            ranked.sort_by_cached_key(|p| deletion_rank(p));
            for p in ranked.iter().take((active.len() - replicas).min(BURST)) {
                actions.push(Action::Delete {
                    name: name_of(p).to_string(),
                });
            }
        }
    }
    let mut requeue: Option<Duration> = None;
    let mut ready = 0;
    let mut available = 0;
    let mut fully_labeled = 0;
    for p in &active {
        if pod_is_ready(p) {
            ready += 1;
        }
        match pod_availability(p, min_ready, now) {
            Ok(true) => available += 1,
            Ok(false) => {}
            Err(wait) => requeue = Some(requeue.map_or(wait, |r: Duration| r.min(wait))),
        }
        let labels = labels_of(p);
        if template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
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
fn deletion_rank(p: &Value) -> (bool, u8, bool, std::cmp::Reverse<String>, String) {
    let assigned = !str_at(p, "/spec/nodeName").is_empty();
    let phase = match str_at(p, "/status/phase") {
        "Pending" | "" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    (
        assigned,
        phase,
        pod_is_ready(p),
        std::cmp::Reverse(str_at(p, "/metadata/creationTimestamp").to_string()),
        name_of(p).to_string(),
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
    /// Owner -> names of pods whose controller reference names it.
    owned: HashMap<Key, HashSet<String>>,
    /// Owner -> its selector, for finding owners of orphan pods.
    selectors: HashMap<String, HashMap<String, LabelSelector>>,
}

impl ReplicaController {
    pub fn new(kind: ReplicaKind) -> Self {
        ReplicaController {
            kind,
            owned: HashMap::new(),
            selectors: HashMap::new(),
        }
    }

    fn kind_name(&self) -> &'static str {
        self.kind.resource().kind
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

    fn index_pod(&mut self, ns: &str, pod: &str, old_owner: Option<&str>, new_owner: Option<&str>) {
        if old_owner != new_owner {
            if let Some(o) = old_owner {
                let k = (ns.to_string(), o.to_string());
                if let Some(set) = self.owned.get_mut(&k) {
                    set.remove(pod);
                    if set.is_empty() {
                        self.owned.remove(&k);
                    }
                }
            }
        }
        if let Some(o) = new_owner {
            self.owned
                .entry((ns.to_string(), o.to_string()))
                .or_default()
                .insert(pod.to_string());
        }
    }

    fn our_owner<'a>(&self, pod: &'a Value) -> Option<&'a str> {
        controller_of(pod)
            .filter(|(k, _, _)| *k == self.kind_name())
            .map(|(_, n, _)| n)
    }
}

impl Controller for ReplicaController {
    const NAME: &'static str = "replicaset";

    fn resync(&mut self, store: &Store) -> Vec<Key> {
        self.owned.clear();
        self.selectors.clear();
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
            let v = o.value();
            if let Some(owner) = self.our_owner(&v) {
                let (ns, name) = o.namespace_and_name();
                self.index_pod(ns, name, None, Some(owner));
            }
        }
        keys
    }

    fn keys_for(&mut self, _store: &Store, ev: &WatchEvent, out: &mut Vec<Key>) {
        let (ns, name) = ev.object.namespace_and_name();
        let (ns, name) = (ns.to_string(), name.to_string());
        if ev
            .object
            .key
            .starts_with(&format!("{}/", self.kind.resource().key_prefix))
        {
            let v = (ev.event_type != EventType::Deleted).then(|| ev.object.value());
            self.index_owner(&ns, &name, v.as_ref());
            out.push((ns, name));
            return;
        }
        if !ev.object.key.starts_with("pods/") {
            return;
        }
        let new = ev.object.value();
        let old = ev.previous.as_ref().map(|p| p.value());
        let old_owner = old
            .as_ref()
            .and_then(|o| self.our_owner(o))
            .map(str::to_string);
        let new_owner = if ev.event_type == EventType::Deleted {
            None
        } else {
            self.our_owner(&new).map(str::to_string)
        };
        self.index_pod(&ns, &name, old_owner.as_deref(), new_owner.as_deref());
        for o in [&old_owner, &new_owner].into_iter().flatten() {
            out.push((ns.clone(), o.clone()));
        }
        // An orphan may be adopted by any owner whose selector matches it.
        if ev.event_type != EventType::Deleted && controller_of(&new).is_none() {
            if let Some(sels) = self.selectors.get(&ns) {
                let labels = labels_of(&new);
                for (owner, sel) in sels {
                    if sel.matches_map(&labels) {
                        out.push((ns.clone(), owner.clone()));
                    }
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
        let res = self.kind.resource();
        let Some(owner) = store.get(res, &key.0, &key.1) else {
            return Ok(None);
        };
        let owner = owner.value();
        let selector = self.kind.selector(&owner).ok().flatten();
        let mut seen: HashSet<String> = HashSet::new();
        let mut pods: Vec<Value> = Vec::new();
        if let Some(sel) = &selector {
            for o in store
                .list(&PODS, Some(&key.0), &|o| sel.matches(o), None, 0)
                .items
            {
                seen.insert(o.namespace_and_name().1.to_string());
                pods.push(o.value());
            }
        }
        if let Some(owned) = self.owned.get(key) {
            for p in owned {
                if !seen.contains(p) {
                    if let Some(o) = store.get(&PODS, &key.0, p) {
                        pods.push(o.value());
                    }
                }
            }
        }
        let plan = reconcile(self.kind, &owner, &pods, now)?;
        execute(store, self.kind, &owner, plan).await
    }
}

/// Carries a plan out: pod writes first, then the status.
async fn execute(
    store: &Store,
    kind: ReplicaKind,
    owner: &Value,
    plan: Plan,
) -> Result<Option<Duration>, ControllerError> {
    let ns = str_at(owner, "/metadata/namespace").to_string();
    let uid = uid_of(owner).to_string();
    let open = super::namespace_open(store, &ns);
    let mut writes: Vec<super::Write<'_>> = Vec::new();
    for a in plan.actions {
        let ns = ns.clone();
        let w: super::Write<'_> = match a {
            Action::Create(_) if !open => continue,
            Action::Create(pod) => Box::pin(async move {
                store
                    .create(&PODS, &ns, pod)
                    .await
                    .map(|_| ())
                    .map_err(Into::into)
            }),
            Action::Delete { name } => Box::pin(async move {
                ignore_not_found(store.delete(&PODS, &ns, &name, None).await).map_err(Into::into)
            }),
            Action::Adopt { name } => {
                let reference = super::owner_reference(owner, kind.resource());
                Box::pin(async move {
                    ignore_not_found(
                        store
                            .mutate(&PODS, &ns, &name, Box::new(move |v| adopt(v, reference)))
                            .await,
                    )
                    .map_err(Into::into)
                })
            }
            Action::Release { name } => {
                let uid = uid.clone();
                Box::pin(async move {
                    ignore_not_found(
                        store
                            .mutate(&PODS, &ns, &name, Box::new(move |v| Ok(release(v, &uid))))
                            .await,
                    )
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
    ignore_not_found(r)?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(plan.requeue_after),
    }
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
            let plan = reconcile(ReplicaKind::ReplicaSet, &c.owner, &c.pods, NOW).expect(c.what);
            let (creates, del, adopt, rel) = summary(&plan);
            assert_eq!(creates, c.creates, "{}: creates", c.what);
            assert_eq!(del, c.deletes, "{}: deletes", c.what);
            assert_eq!(adopt, c.adopts, "{}: adopts", c.what);
            assert_eq!(rel, c.releases, "{}: releases", c.what);
            // Running it again on the same input plans the same thing (level-triggered).
            assert_eq!(
                summary(&reconcile(ReplicaKind::ReplicaSet, &c.owner, &c.pods, NOW).expect(c.what)),
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
        let plan = reconcile(ReplicaKind::ReplicaSet, &rs(4, 10), &pods, NOW).expect("plan");
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
        let plan = reconcile(ReplicaKind::ReplicaSet, &rs(1, 0), &[], NOW).expect("plan");
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
    fn replication_controllers_use_equality_selectors_defaulting_to_template_labels() {
        let rc = json!({"metadata": {"name": "rc", "namespace": "d", "uid": "rc-1"},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}});
        let plan = reconcile(
            ReplicaKind::ReplicationController,
            &rc,
            &[pod("o", "web", "", "n", Some(1))],
            NOW,
        )
        .expect("plan");
        assert_eq!(summary(&plan), (0, vec![], vec!["o".to_string()], vec![]));
        let mut explicit = rc.clone();
        explicit["spec"]["selector"] = json!({"app": "db"});
        let plan = reconcile(
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
        let plan = reconcile(
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
