//! Deployment: rolls a pod template out through ReplicaSets.
//!
//! The pure core [`reconcile`] takes the Deployment and the ReplicaSets it owns (or may
//! adopt) and plans ReplicaSet creations, scalings, revision bumps, deletions beyond
//! `revisionHistoryLimit`, and the Deployment's status and conditions, as the Kubernetes
//! deployment controller does:
//! - the **new** ReplicaSet is the one whose template is semantically equal to the
//!   Deployment's (both run through the API's pod defaults, `pod-template-hash` ignored), so
//!   `kubectl rollout undo` (which patches the old template back) scales the old ReplicaSet
//!   up again instead of making a duplicate; it is named `<deployment>-<pod-template-hash>`;
//! - **RollingUpdate** never lets the pods of all ReplicaSets exceed `replicas + maxSurge`
//!   (counting, per ReplicaSet, the larger of wanted and observed pods, so pods that are still
//!   on their way out count) nor the available ones drop below `replicas - maxUnavailable`;
//! - **Recreate** scales every old ReplicaSet to zero and waits for their pods to be gone
//!   before scaling the new one up;
//! - `paused` stops rollouts (status is still kept); `progressDeadlineSeconds` turns the
//!   Progressing condition False with `ProgressDeadlineExceeded` when nothing moved for that
//!   long; `minReadySeconds` is passed to the ReplicaSets, whose `availableReplicas` honour it.
//!
//! The actor ([`DeploymentController`]) indexes ReplicaSets by their controlling Deployment,
//! so a ReplicaSet status change syncs only its Deployment.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::replicaset::{adopt, ignore_not_found, release};
use super::{
    canonical_template, controller_of, int_or_percent, is_deleting, labels_of, name_of,
    owner_reference, parse_time_ms, rfc3339, selector_from_label_selector, str_at, template_hash,
    uid_of, Controller, ControllerError, Key, Millis,
};
use crate::api::admission::{self, FieldValidation};
use crate::resources::{DEPLOYMENTS, REPLICASETS};
use crate::selector::LabelSelector;
use crate::store::{EventType, Store, WatchEvent};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreateReplicaSet(Value),
    /// Set `spec.replicas`, `spec.minReadySeconds` and these annotations.
    UpdateReplicaSet {
        name: String,
        replicas: i64,
        min_ready_seconds: i64,
        annotations: Vec<(String, String)>,
    },
    DeleteReplicaSet {
        name: String,
    },
    AdoptReplicaSet {
        name: String,
    },
    ReleaseReplicaSet {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// The Deployment's whole new status.
    pub status: Value,
    /// The Deployment's `deployment.kubernetes.io/revision` annotation.
    pub revision: Option<String>,
    pub requeue_after: Option<Duration>,
}

/// The working view of one ReplicaSet during a reconcile.
#[derive(Debug, Clone)]
struct Rs {
    name: String,
    created: String,
    revision: i64,
    spec: i64,
    original_spec: i64,
    observed: i64,
    ready: i64,
    available: i64,
    annotations: Vec<(String, String)>,
    is_new: bool,
}

impl Rs {
    fn from_value(v: &Value) -> Rs {
        let spec = v
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let observed = v
            .pointer("/status/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        Rs {
            name: name_of(v).to_string(),
            created: str_at(v, "/metadata/creationTimestamp").to_string(),
            revision: str_at(
                v,
                &format!("/metadata/annotations/{}", REVISION.replace('/', "~1")),
            )
            .parse()
            .unwrap_or(0),
            spec,
            original_spec: spec,
            observed,
            ready: v
                .pointer("/status/readyReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            // Design: never trust more available pods than the ReplicaSet is asked to keep
            // (its status may not have caught up with a scale-down yet).
            available: v
                .pointer("/status/availableReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .min(spec),
            annotations: Vec::new(),
            is_new: false,
        }
    }

    /// Pods that exist or are about to: the larger of wanted and observed.
    fn footprint(&self) -> i64 {
        self.spec.max(self.observed)
    }
}

fn deployment_selector(d: &Value) -> Result<Option<LabelSelector>, ControllerError> {
    selector_from_label_selector(d.pointer("/spec/selector")).map_err(|message| {
        ControllerError::Build {
            what: format!("the selector of deployment {}", name_of(d)),
            message,
        }
    })
}

/// Reconciles one Deployment against the ReplicaSets it owns or may adopt.
pub fn reconcile(d: &Value, replica_sets: &[Value], now: Millis) -> Result<Plan, ControllerError> {
    let uid = uid_of(d);
    let selector = deployment_selector(d)?;
    let replicas = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0);
    let paused = d
        .pointer("/spec/paused")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let deleting = is_deleting(d);
    let min_ready = d
        .pointer("/spec/minReadySeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let history_limit = d
        .pointer("/spec/revisionHistoryLimit")
        .and_then(Value::as_i64)
        .unwrap_or(10)
        .max(0) as usize;
    let recreate = str_at(d, "/spec/strategy/type") == "Recreate";
    let rolling = d.pointer("/spec/strategy/rollingUpdate");
    let mut max_surge = if recreate {
        0
    } else {
        int_or_percent(rolling.and_then(|r| r.get("maxSurge")), replicas, true, -1)
    };
    if max_surge < 0 {
        max_surge = int_or_percent(Some(&json!("25%")), replicas, true, 1);
    }
    let mut max_unavailable = if recreate {
        replicas
    } else {
        int_or_percent(
            rolling.and_then(|r| r.get("maxUnavailable")),
            replicas,
            false,
            -1,
        )
    };
    if max_unavailable < 0 {
        max_unavailable = int_or_percent(Some(&json!("25%")), replicas, false, 1);
    }
    if max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    let mut actions = Vec::new();
    let template = d
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let canon = canonical_template(&template);

    // Which ReplicaSets are ours.
    let mut ours: Vec<(Rs, &Value)> = Vec::new();
    for rs in replica_sets {
        let matches = selector
            .as_ref()
            .is_some_and(|s| s.matches_map(&labels_of(rs)));
        match controller_of(rs) {
            Some((_, _, u)) if u == uid => {
                if matches {
                    ours.push((Rs::from_value(rs), rs));
                } else {
                    actions.push(Action::ReleaseReplicaSet {
                        name: name_of(rs).to_string(),
                    });
                }
            }
            Some(_) => {}
            None if matches && !deleting && !is_deleting(rs) => {
                actions.push(Action::AdoptReplicaSet {
                    name: name_of(rs).to_string(),
                });
                ours.push((Rs::from_value(rs), rs));
            }
            None => {}
        }
    }
    ours.sort_by(|a, b| {
        (a.0.created.as_str(), a.0.name.as_str()).cmp(&(b.0.created.as_str(), b.0.name.as_str()))
    });
    let new_index = ours.iter().position(|(_, v)| {
        canonical_template(v.pointer("/spec/template").unwrap_or(&Value::Null)) == canon
    });
    let mut sets: Vec<Rs> = ours.iter().map(|(r, _)| r.clone()).collect();
    if let Some(i) = new_index {
        sets[i].is_new = true;
    }
    let max_old_revision = sets
        .iter()
        .filter(|r| !r.is_new)
        .map(|r| r.revision)
        .max()
        .unwrap_or(0);
    let old_status = d.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut collision_count = old_status
        .get("collisionCount")
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32;
    let mut created_name: Option<String> = None;

    if selector.is_some() && !paused && !deleting {
        // The new ReplicaSet: create it, or make it the latest revision again (rollback).
        match sets.iter().position(|r| r.is_new) {
            Some(i) => {
                if sets[i].revision <= max_old_revision {
                    sets[i].revision = max_old_revision + 1;
                }
            }
            None => {
                let mut hash = template_hash(&template, collision_count);
                while sets
                    .iter()
                    .any(|r| r.name == format!("{}-{hash}", name_of(d)))
                {
                    collision_count += 1;
                    hash = template_hash(&template, collision_count);
                }
                let rs = new_replica_set(d, &template, &hash, max_old_revision + 1, min_ready)?;
                let name = name_of(&rs).to_string();
                actions.push(Action::CreateReplicaSet(rs));
                created_name = Some(name.clone());
                sets.push(Rs {
                    name,
                    created: rfc3339(now),
                    revision: max_old_revision + 1,
                    spec: 0,
                    original_spec: 0,
                    observed: 0,
                    ready: 0,
                    available: 0,
                    annotations: vec![],
                    is_new: true,
                });
            }
        }
        let ni = sets.iter().position(|r| r.is_new).unwrap_or(0);
        if recreate {
            let mut old_left = false;
            for r in sets.iter_mut().filter(|r| !r.is_new) {
                r.spec = 0;
                old_left |= r.observed > 0;
            }
            sets[ni].spec = if old_left { 0 } else { replicas };
            if old_left && sets[ni].original_spec > 0 {
                sets[ni].spec = sets[ni].original_spec;
            }
        } else {
            // Scale the new ReplicaSet up within the surge bound.
            let footprint: i64 = sets.iter().map(Rs::footprint).sum();
            if sets[ni].spec > replicas {
                sets[ni].spec = replicas;
            } else if sets[ni].spec < replicas {
                let room = (replicas + max_surge - footprint).max(0);
                sets[ni].spec = (sets[ni].spec + room).min(replicas);
            }
            // Scale old ReplicaSets down within the availability bound.
            let min_available = replicas - max_unavailable;
            let new_unavailable = (sets[ni].spec - sets[ni].available).max(0);
            let total_spec: i64 = sets.iter().map(|r| r.spec).sum();
            let mut cleanup = (total_spec - min_available - new_unavailable).max(0);
            for r in sets.iter_mut().filter(|r| !r.is_new) {
                if cleanup == 0 {
                    break;
                }
                let unhealthy = (r.spec - r.available).max(0).min(cleanup);
                r.spec -= unhealthy;
                cleanup -= unhealthy;
            }
            let available: i64 = sets.iter().map(|r| r.available.min(r.spec)).sum();
            let mut can_remove = (available - min_available).max(0);
            for r in sets.iter_mut().filter(|r| !r.is_new) {
                if can_remove == 0 {
                    break;
                }
                let d = r.spec.min(can_remove);
                r.spec -= d;
                can_remove -= d;
            }
        }
        if created_name.is_some() {
            let target = sets[ni].spec;
            for a in actions.iter_mut() {
                if let Action::CreateReplicaSet(v) = a {
                    v["spec"]["replicas"] = json!(target);
                }
            }
        }
        for r in sets.iter_mut() {
            if r.is_new {
                r.annotations = vec![(REVISION.into(), r.revision.to_string())];
                r.annotations.extend(copied_annotations(d));
            }
        }
        // Writes for ReplicaSets that changed.
        for (r, v) in sets.iter().zip(
            ours.iter()
                .map(|(_, v)| Some(*v))
                .chain(std::iter::repeat(None)),
        ) {
            let Some(v) = v else { continue };
            let rs_min_ready = v
                .pointer("/spec/minReadySeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let annotations_differ = r.annotations.iter().any(|(k, val)| {
                v.pointer("/metadata/annotations")
                    .and_then(|a| a.get(k))
                    .and_then(Value::as_str)
                    != Some(val.as_str())
            });
            if r.spec != r.original_spec
                || annotations_differ
                || (r.is_new && rs_min_ready != min_ready)
            {
                actions.push(Action::UpdateReplicaSet {
                    name: r.name.clone(),
                    replicas: r.spec,
                    min_ready_seconds: if r.is_new { min_ready } else { rs_min_ready },
                    annotations: r.annotations.clone(),
                });
            }
        }
        // History beyond revisionHistoryLimit.
        let mut idle: Vec<&Rs> = sets
            .iter()
            .filter(|r| !r.is_new && r.spec == 0 && r.observed == 0 && r.original_spec == 0)
            .collect();
        idle.sort_by_key(|r| r.revision);
        if idle.len() > history_limit {
            for r in idle.iter().take(idle.len() - history_limit) {
                actions.push(Action::DeleteReplicaSet {
                    name: r.name.clone(),
                });
            }
        }
    }

    // Status, from what the ReplicaSets report.
    let new_rs = sets.iter().find(|r| r.is_new);
    let observed: i64 = sets.iter().map(|r| r.observed).sum();
    let ready: i64 = sets.iter().map(|r| r.ready).sum();
    let available: i64 = sets.iter().map(|r| r.available).sum();
    let updated = new_rs.map(|r| r.observed).unwrap_or(0);
    let total_spec: i64 = sets.iter().map(|r| r.spec).sum();
    let mut status = json!({
        "replicas": observed,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": (total_spec.max(replicas) - available).max(0),
    });
    if let Some(g) = d.pointer("/metadata/generation") {
        status["observedGeneration"] = g.clone();
    }
    if collision_count > 0 {
        status["collisionCount"] = json!(collision_count);
    }
    let now_s = rfc3339(now);
    let mut conds: Vec<Value> = old_status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if available >= replicas - max_unavailable {
        super::set_condition(
            &mut conds,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            &now_s,
        );
    } else {
        super::set_condition(
            &mut conds,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            &now_s,
        );
    }
    let new_name = new_rs.map(|r| r.name.clone()).unwrap_or_default();
    let complete = new_rs.is_some()
        && updated == replicas
        && observed == replicas
        && available >= replicas
        && new_rs.is_some_and(|r| r.spec == replicas);
    let progressed = created_name.is_some()
        || updated
            > old_status
                .get("updatedReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        || ready
            > old_status
                .get("readyReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        || available
            > old_status
                .get("availableReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        || observed
            < old_status
                .get("replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        || actions
            .iter()
            .any(|a| matches!(a, Action::UpdateReplicaSet { .. }));
    let deadline = d
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(600);
    let mut requeue = None;
    let prev_progress = conds.iter().find(|c| c["type"] == "Progressing").cloned();
    let set_progress =
        |conds: &mut Vec<Value>, status: &str, reason: &str, message: String, bump: bool| {
            super::set_condition(conds, "Progressing", status, reason, &message, &now_s);
            if bump {
                if let Some(c) = conds.iter_mut().find(|c| c["type"] == "Progressing") {
                    c["lastUpdateTime"] = json!(now_s);
                }
            }
        };
    if paused {
        set_progress(
            &mut conds,
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
            false,
        );
    } else if let Some(name) = &created_name {
        set_progress(
            &mut conds,
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{name}\""),
            true,
        );
    } else if complete {
        set_progress(
            &mut conds,
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            false,
        );
    } else if progressed
        || prev_progress.as_ref().is_none_or(|c| {
            c["reason"] == "DeploymentPaused" || c["reason"] == "NewReplicaSetAvailable"
        })
    {
        set_progress(
            &mut conds,
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{new_name}\" is progressing."),
            true,
        );
        requeue = Some(Duration::from_secs(deadline) + Duration::from_millis(100));
    } else if prev_progress
        .as_ref()
        .is_some_and(|c| c["reason"] != "ProgressDeadlineExceeded")
    {
        let last = prev_progress
            .as_ref()
            .and_then(|c| c.get("lastUpdateTime"))
            .and_then(Value::as_str)
            .and_then(parse_time_ms)
            .unwrap_or(now);
        let due = last + deadline * 1000;
        if now >= due {
            set_progress(
                &mut conds,
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                true,
            );
        } else {
            requeue = Some(Duration::from_millis(due - now + 100));
        }
    }
    conds.sort_by_key(|c| if c["type"] == "Available" { 0 } else { 1 });
    status["conditions"] = Value::Array(conds);
    let revision = new_rs.map(|r| r.revision.to_string());
    Ok(Plan {
        actions,
        status,
        revision,
        requeue_after: requeue,
    })
}

/// Deployment annotations a ReplicaSet inherits.
fn copied_annotations(d: &Value) -> Vec<(String, String)> {
    const SKIP: &[&str] = &[
        REVISION,
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
    ];
    d.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !SKIP.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A new ReplicaSet for the Deployment's current template.
fn new_replica_set(
    d: &Value,
    template: &Value,
    hash: &str,
    revision: i64,
    min_ready: i64,
) -> Result<Value, ControllerError> {
    let mut template = template.clone();
    if !template
        .pointer("/metadata/labels")
        .is_some_and(Value::is_object)
    {
        template["metadata"]["labels"] = json!({});
    }
    template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
    let mut selector = d
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !selector.get("matchLabels").is_some_and(Value::is_object) {
        selector["matchLabels"] = json!({});
    }
    selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
    let mut labels = template["metadata"]["labels"].clone();
    labels[POD_TEMPLATE_HASH] = json!(hash);
    // The Deployment's own annotations travel to the ReplicaSet (so `kubectl rollout
    // history` shows `kubernetes.io/change-cause`), except the controller's and kubectl's.
    let mut annotations = json!({REVISION: revision.to_string()});
    for (k, v) in copied_annotations(d) {
        annotations[k] = json!(v);
    }
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{}-{hash}", name_of(d)),
            "namespace": str_at(d, "/metadata/namespace"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(d, &DEPLOYMENTS)],
        },
        "spec": {"replicas": 0, "minReadySeconds": min_ready, "selector": selector, "template": template},
    });
    let err = |message: String| ControllerError::Build {
        what: format!("a ReplicaSet for deployment {}", name_of(d)),
        message,
    };
    let (mut rs, _) = admission::normalize(&REPLICASETS, rs, FieldValidation::Ignore)
        .map_err(|e| err(e.message))?;
    admission::prepare_create(&REPLICASETS, &mut rs).map_err(|e| err(e.message))?;
    Ok(rs)
}

/// The Deployment controller's indexes.
#[derive(Default)]
pub struct DeploymentController {
    /// Deployment -> names of the ReplicaSets it controls.
    owned: HashMap<Key, HashSet<String>>,
    /// Namespace -> Deployment -> selector, for orphan ReplicaSets.
    selectors: HashMap<String, HashMap<String, LabelSelector>>,
}

impl DeploymentController {
    fn index_rs(&mut self, ns: &str, rs: &str, old: Option<&str>, new: Option<&str>) {
        if old != new {
            if let Some(o) = old {
                let k = (ns.to_string(), o.to_string());
                if let Some(s) = self.owned.get_mut(&k) {
                    s.remove(rs);
                    if s.is_empty() {
                        self.owned.remove(&k);
                    }
                }
            }
        }
        if let Some(o) = new {
            self.owned
                .entry((ns.to_string(), o.to_string()))
                .or_default()
                .insert(rs.to_string());
        }
    }
}

fn deployment_owner(rs: &Value) -> Option<&str> {
    controller_of(rs)
        .filter(|(k, _, _)| *k == "Deployment")
        .map(|(_, n, _)| n)
}

impl Controller for DeploymentController {
    const NAME: &'static str = "deployment";

    fn resync(&mut self, store: &Store) -> Vec<Key> {
        self.owned.clear();
        self.selectors.clear();
        let mut keys = Vec::new();
        for o in store.list(&DEPLOYMENTS, None, &|_| true, None, 0).items {
            let (ns, name) = o.namespace_and_name();
            if let Ok(Some(s)) = deployment_selector(&o.value()) {
                self.selectors
                    .entry(ns.to_string())
                    .or_default()
                    .insert(name.to_string(), s);
            }
            keys.push((ns.to_string(), name.to_string()));
        }
        for o in store.list(&REPLICASETS, None, &|_| true, None, 0).items {
            let v = o.value();
            let (ns, name) = o.namespace_and_name();
            if let Some(owner) = deployment_owner(&v) {
                self.index_rs(ns, name, None, Some(owner));
            }
        }
        keys
    }

    fn keys_for(&mut self, _store: &Store, ev: &WatchEvent, out: &mut Vec<Key>) {
        let (ns, name) = ev.object.namespace_and_name();
        let (ns, name) = (ns.to_string(), name.to_string());
        if ev.object.key.starts_with("deployments.apps/") {
            let sel = if ev.event_type == EventType::Deleted {
                None
            } else {
                deployment_selector(&ev.object.value()).ok().flatten()
            };
            let m = self.selectors.entry(ns.clone()).or_default();
            match sel {
                Some(s) => {
                    m.insert(name.clone(), s);
                }
                None => {
                    m.remove(&name);
                }
            }
            out.push((ns, name));
        } else if ev.object.key.starts_with("replicasets.apps/") {
            let new = ev.object.value();
            let old = ev.previous.as_ref().map(|p| p.value());
            let old_owner = old.as_ref().and_then(deployment_owner).map(str::to_string);
            let new_owner = if ev.event_type == EventType::Deleted {
                None
            } else {
                deployment_owner(&new).map(str::to_string)
            };
            self.index_rs(&ns, &name, old_owner.as_deref(), new_owner.as_deref());
            for o in [&old_owner, &new_owner].into_iter().flatten() {
                out.push((ns.clone(), o.clone()));
            }
            if ev.event_type != EventType::Deleted && controller_of(&new).is_none() {
                if let Some(sels) = self.selectors.get(&ns) {
                    let labels = labels_of(&new);
                    out.extend(
                        sels.iter()
                            .filter(|(_, s)| s.matches_map(&labels))
                            .map(|(d, _)| (ns.clone(), d.clone())),
                    );
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
        let Some(d) = store.get(&DEPLOYMENTS, &key.0, &key.1) else {
            return Ok(None);
        };
        let d = d.value();
        let selector = deployment_selector(&d)?;
        let mut seen = HashSet::new();
        let mut sets = Vec::new();
        if let Some(sel) = &selector {
            for o in store
                .list(&REPLICASETS, Some(&key.0), &|o| sel.matches(o), None, 0)
                .items
            {
                seen.insert(o.namespace_and_name().1.to_string());
                sets.push(o.value());
            }
        }
        for n in self.owned.get(key).into_iter().flatten() {
            if !seen.contains(n) {
                if let Some(o) = store.get(&REPLICASETS, &key.0, n) {
                    sets.push(o.value());
                }
            }
        }
        let plan = reconcile(&d, &sets, now)?;
        execute(store, &d, plan).await
    }
}

async fn execute(
    store: &Store,
    d: &Value,
    plan: Plan,
) -> Result<Option<Duration>, ControllerError> {
    let ns = str_at(d, "/metadata/namespace").to_string();
    let uid = uid_of(d).to_string();
    let mut first_error: Option<ControllerError> = None;
    for a in plan.actions {
        let r = match a {
            Action::CreateReplicaSet(rs) if super::namespace_open(store, &ns) => {
                store.create(&REPLICASETS, &ns, rs).await.map(|_| ())
            }
            Action::CreateReplicaSet(_) => Ok(()),
            Action::UpdateReplicaSet {
                name,
                replicas,
                min_ready_seconds,
                annotations,
            } => {
                let r = store
                    .mutate(
                        &REPLICASETS,
                        &ns,
                        &name,
                        Box::new(move |v| {
                            let mut v = v.clone();
                            v["spec"]["replicas"] = json!(replicas);
                            v["spec"]["minReadySeconds"] = json!(min_ready_seconds);
                            if !annotations.is_empty()
                                && !v
                                    .pointer("/metadata/annotations")
                                    .is_some_and(Value::is_object)
                            {
                                v["metadata"]["annotations"] = json!({});
                            }
                            for (k, x) in &annotations {
                                v["metadata"]["annotations"][k] = json!(x);
                            }
                            Ok(Some(v))
                        }),
                    )
                    .await;
                ignore_not_found(r)
            }
            Action::DeleteReplicaSet { name } => {
                ignore_not_found(store.delete(&REPLICASETS, &ns, &name, None).await)
            }
            Action::AdoptReplicaSet { name } => {
                let reference = owner_reference(d, &DEPLOYMENTS);
                ignore_not_found(
                    store
                        .mutate(
                            &REPLICASETS,
                            &ns,
                            &name,
                            Box::new(move |v| adopt(v, reference)),
                        )
                        .await,
                )
            }
            Action::ReleaseReplicaSet { name } => {
                let uid = uid.clone();
                ignore_not_found(
                    store
                        .mutate(
                            &REPLICASETS,
                            &ns,
                            &name,
                            Box::new(move |v| Ok(release(v, &uid))),
                        )
                        .await,
                )
            }
        };
        if let Err(e) = r {
            first_error.get_or_insert(e.into());
        }
    }
    let status = plan.status;
    let revision = plan.revision;
    let r = store
        .mutate(
            &DEPLOYMENTS,
            &ns,
            name_of(d),
            Box::new(move |v| {
                let mut v = v.clone();
                v["status"] = status;
                if let Some(rev) = revision {
                    if !v
                        .pointer("/metadata/annotations")
                        .is_some_and(Value::is_object)
                    {
                        v["metadata"]["annotations"] = json!({});
                    }
                    v["metadata"]["annotations"][REVISION] = json!(rev);
                }
                Ok(Some(v))
            }),
        )
        .await;
    ignore_not_found(r)?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(plan.requeue_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_764_300_000_000;

    fn deploy(replicas: i64, image: &str, strategy: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "d", "uid": "d-1", "generation": 2},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "strategy": strategy,
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    fn rolling(surge: Value, unavailable: Value) -> Value {
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
    }

    /// A ReplicaSet of the Deployment running `image` with `spec` wanted, `observed` pods of
    /// which `available` are available.
    fn rs(image: &str, revision: i64, spec: i64, observed: i64, available: i64) -> Value {
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}});
        let hash = template_hash(&t, 0);
        let mut t2 = t.clone();
        t2["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
        json!({"metadata": {"name": format!("web-{hash}"), "namespace": "d", "labels": {"app": "web", POD_TEMPLATE_HASH: hash},
                "creationTimestamp": format!("2026-01-01T00:00:{:02}Z", revision), "annotations": {REVISION: revision.to_string()},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d-1", "controller": true}]},
            "spec": {"replicas": spec, "template": t2},
            "status": {"replicas": observed, "readyReplicas": available, "availableReplicas": available}})
    }

    fn scales(plan: &Plan) -> Vec<(String, i64)> {
        plan.actions
            .iter()
            .filter_map(|a| match a {
                Action::UpdateReplicaSet { name, replicas, .. } => Some((name.clone(), *replicas)),
                Action::CreateReplicaSet(v) => Some((
                    format!("new:{}", v["metadata"]["name"].as_str().unwrap_or_default()),
                    v["spec"]["replicas"].as_i64().unwrap_or(-1),
                )),
                _ => None,
            })
            .collect()
    }

    fn rs_name(image: &str) -> String {
        rs(image, 1, 0, 0, 0)["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn rolling_updates_stay_within_surge_and_unavailability() {
        let (v1, v2) = (rs_name("app:1"), rs_name("app:2"));
        struct Case {
            what: &'static str,
            d: Value,
            sets: Vec<Value>,
            want: Vec<(String, i64)>,
        }
        let cases = vec![
            Case {
                what: "first rollout creates the new ReplicaSet at full size",
                d: deploy(3, "app:1", rolling(json!(1), json!(0))),
                sets: vec![],
                want: vec![(format!("new:{v1}"), 3)],
            },
            Case {
                what: "a template change creates the new ReplicaSet with the surge",
                d: deploy(3, "app:2", rolling(json!(1), json!(0))),
                sets: vec![rs("app:1", 1, 3, 3, 3)],
                want: vec![(format!("new:{v2}"), 1)],
            },
            Case {
                what: "scale the new ReplicaSet to replicas (nothing old)",
                d: deploy(3, "app:1", rolling(json!(1), json!(0))),
                sets: vec![rs("app:1", 1, 0, 0, 0)],
                want: vec![(v1.clone(), 3)],
            },
            Case {
                what: "steady state",
                d: deploy(3, "app:1", rolling(json!(1), json!(0))),
                sets: vec![rs("app:1", 1, 3, 3, 3)],
                want: vec![],
            },
            Case {
                what: "surge 1, unavailable 0: one new pod, no old pod removed yet",
                d: deploy(3, "app:2", rolling(json!(1), json!(0))),
                sets: vec![rs("app:1", 1, 3, 3, 3), rs("app:2", 2, 0, 0, 0)],
                want: vec![(v2.clone(), 1)],
            },
            Case {
                what:
                    "new pod available: one old pod can go, and no more surge room until it is gone",
                d: deploy(3, "app:2", rolling(json!(1), json!(0))),
                sets: vec![rs("app:1", 1, 3, 3, 3), rs("app:2", 2, 1, 1, 1)],
                want: vec![(v1.clone(), 2)],
            },
            Case {
                what: "old pod still observed: the surge room stays used",
                d: deploy(3, "app:2", rolling(json!(1), json!(0))),
                sets: vec![rs("app:1", 1, 2, 3, 3), rs("app:2", 2, 1, 1, 1)],
                want: vec![],
            },
            Case {
                what: "surge 0, unavailable 1: remove an old pod first",
                d: deploy(3, "app:2", rolling(json!(0), json!(1))),
                sets: vec![rs("app:1", 1, 3, 3, 3), rs("app:2", 2, 0, 0, 0)],
                want: vec![(v1.clone(), 2)],
            },
            Case {
                what: "percentages: 25% of 4 is surge 1 (up) and unavailable 1 (down)",
                d: deploy(4, "app:2", rolling(json!("25%"), json!("25%"))),
                sets: vec![rs("app:1", 1, 4, 4, 4), rs("app:2", 2, 0, 0, 0)],
                want: vec![(v1.clone(), 3), (v2.clone(), 1)],
            },
            Case {
                what: "unavailable old pods are cleaned up first",
                d: deploy(3, "app:2", rolling(json!(1), json!(0))),
                sets: vec![rs("app:1", 1, 3, 3, 1), rs("app:2", 2, 1, 1, 1)],
                want: vec![(v1.clone(), 2)],
            },
            Case {
                what: "recreate: old scaled to zero first",
                d: deploy(2, "app:2", json!({"type": "Recreate"})),
                sets: vec![rs("app:1", 1, 2, 2, 2), rs("app:2", 2, 0, 0, 0)],
                want: vec![(v1.clone(), 0)],
            },
            Case {
                what: "recreate: new scaled up once old pods are gone",
                d: deploy(2, "app:2", json!({"type": "Recreate"})),
                sets: vec![rs("app:1", 1, 0, 0, 0), rs("app:2", 2, 0, 0, 0)],
                want: vec![(v2.clone(), 2)],
            },
            Case {
                what: "rollback: the old ReplicaSet is the new one again, with a new revision",
                d: deploy(2, "app:1", rolling(json!(1), json!(0))),
                sets: vec![rs("app:1", 1, 0, 0, 0), rs("app:2", 2, 2, 2, 2)],
                want: vec![(v1.clone(), 1)],
            },
            Case {
                what: "paused: nothing moves",
                d: {
                    let mut d = deploy(3, "app:2", rolling(json!(1), json!(0)));
                    d["spec"]["paused"] = json!(true);
                    d
                },
                sets: vec![rs("app:1", 1, 3, 3, 3)],
                want: vec![],
            },
            Case {
                what: "scale down in place",
                d: deploy(1, "app:1", rolling(json!(1), json!(0))),
                sets: vec![rs("app:1", 1, 3, 3, 3)],
                want: vec![(v1.clone(), 1)],
            },
        ];
        for c in cases {
            let plan = reconcile(&c.d, &c.sets, NOW).expect(c.what);
            assert_eq!(scales(&plan), c.want, "{}", c.what);
        }
    }

    #[test]
    fn rollback_reuses_the_old_replicaset_and_bumps_its_revision() {
        let plan = reconcile(
            &deploy(2, "app:1", rolling(json!(1), json!(0))),
            &[rs("app:1", 1, 0, 0, 0), rs("app:2", 2, 2, 2, 2)],
            NOW,
        )
        .expect("plan");
        assert!(
            !plan
                .actions
                .iter()
                .any(|a| matches!(a, Action::CreateReplicaSet(_))),
            "no duplicate"
        );
        assert_eq!(plan.revision.as_deref(), Some("3"));
        let Some(Action::UpdateReplicaSet { annotations, .. }) = plan.actions.iter().find(
            |a| matches!(a, Action::UpdateReplicaSet { name, .. } if *name == rs_name("app:1")),
        ) else {
            panic!("update")
        };
        assert!(annotations.contains(&(REVISION.to_string(), "3".to_string())));
    }

    #[test]
    fn new_replicasets_are_named_by_hash_and_labelled() {
        let plan = reconcile(&deploy(2, "app:1", json!({})), &[], NOW).expect("plan");
        let Some(Action::CreateReplicaSet(v)) = plan.actions.first() else {
            panic!("create")
        };
        let hash = v["metadata"]["labels"][POD_TEMPLATE_HASH]
            .as_str()
            .expect("hash")
            .to_string();
        assert_eq!(v["metadata"]["name"], format!("web-{hash}"));
        assert_eq!(
            v["spec"]["selector"]["matchLabels"],
            json!({"app": "web", POD_TEMPLATE_HASH: hash})
        );
        assert_eq!(
            v["spec"]["template"]["metadata"]["labels"][POD_TEMPLATE_HASH],
            json!(hash)
        );
        assert_eq!(v["metadata"]["annotations"][REVISION], "1");
        let mut annotated = deploy(2, "app:1", json!({}));
        annotated["metadata"]["annotations"] = json!({"kubernetes.io/change-cause": "first", "kubectl.kubernetes.io/last-applied-configuration": "{}", REVISION: "7"});
        let plan2 = reconcile(&annotated, &[], NOW).expect("plan");
        let Some(Action::CreateReplicaSet(v2)) = plan2.actions.first() else {
            panic!("create")
        };
        assert_eq!(
            v2["metadata"]["annotations"],
            json!({REVISION: "1", "kubernetes.io/change-cause": "first"})
        );
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "Deployment");
        assert_eq!(
            plan.status["conditions"][1]["reason"],
            "NewReplicaSetCreated"
        );
    }

    #[test]
    fn old_history_is_trimmed() {
        let mut d = deploy(1, "app:9", rolling(json!(1), json!(0)));
        d["spec"]["revisionHistoryLimit"] = json!(1);
        let sets = vec![
            rs("app:1", 1, 0, 0, 0),
            rs("app:2", 2, 0, 0, 0),
            rs("app:3", 3, 0, 0, 0),
            rs("app:9", 4, 1, 1, 1),
        ];
        let plan = reconcile(&d, &sets, NOW).expect("plan");
        let deleted: Vec<&str> = plan
            .actions
            .iter()
            .filter_map(|a| {
                if let Action::DeleteReplicaSet { name } = a {
                    Some(name.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(deleted, vec![rs_name("app:1"), rs_name("app:2")]);
    }

    #[test]
    fn status_and_conditions() {
        let d = deploy(3, "app:1", rolling(json!(1), json!(0)));
        let plan = reconcile(&d, &[rs("app:1", 1, 3, 3, 3)], NOW).expect("plan");
        assert_eq!(plan.status["replicas"], 3);
        assert_eq!(plan.status["updatedReplicas"], 3);
        assert_eq!(plan.status["availableReplicas"], 3);
        assert_eq!(plan.status["unavailableReplicas"], 0);
        assert_eq!(plan.status["observedGeneration"], 2);
        let cond = |p: &Plan, t: &str| {
            p.status["conditions"]
                .as_array()
                .and_then(|a| a.iter().find(|c| c["type"] == t).cloned())
                .unwrap_or_default()
        };
        assert_eq!(cond(&plan, "Available")["status"], "True");
        assert_eq!(
            cond(&plan, "Progressing")["reason"],
            "NewReplicaSetAvailable"
        );

        // Stuck: no progress for longer than the deadline.
        let mut stuck = deploy(3, "app:2", rolling(json!(1), json!(0)));
        stuck["spec"]["progressDeadlineSeconds"] = json!(60);
        let sets = [rs("app:1", 1, 3, 3, 3), rs("app:2", 2, 1, 1, 0)];
        let first = reconcile(&stuck, &sets, NOW).expect("plan");
        assert_eq!(cond(&first, "Progressing")["reason"], "ReplicaSetUpdated");
        assert_eq!(first.requeue_after, Some(Duration::from_millis(60_100)));
        stuck["status"] = first.status.clone();
        let later = reconcile(&stuck, &sets, NOW + 30_000).expect("plan");
        assert_eq!(cond(&later, "Progressing")["status"], "True");
        stuck["status"] = later.status.clone();
        let late = reconcile(&stuck, &sets, NOW + 61_000).expect("plan");
        assert_eq!(cond(&late, "Progressing")["status"], "False");
        assert_eq!(
            cond(&late, "Progressing")["reason"],
            "ProgressDeadlineExceeded"
        );

        let mut paused = d.clone();
        paused["spec"]["paused"] = json!(true);
        assert_eq!(
            cond(
                &reconcile(&paused, &[rs("app:1", 1, 3, 3, 3)], NOW).expect("plan"),
                "Progressing"
            )["reason"],
            "DeploymentPaused"
        );
    }

    #[test]
    fn adopts_orphans_and_ignores_others() {
        let mut orphan = rs("app:1", 1, 3, 3, 3);
        orphan["metadata"]
            .as_object_mut()
            .map(|m| m.remove("ownerReferences"));
        let mut foreign = rs("app:1", 1, 3, 3, 3);
        foreign["metadata"]["ownerReferences"][0]["uid"] = json!("other");
        let plan = reconcile(&deploy(3, "app:1", json!({})), &[orphan], NOW).expect("plan");
        assert!(plan.actions.contains(&Action::AdoptReplicaSet {
            name: rs_name("app:1")
        }));
        let plan = reconcile(&deploy(3, "app:1", json!({})), &[foreign], NOW).expect("plan");
        assert!(
            matches!(plan.actions.first(), Some(Action::CreateReplicaSet(_)))
                || plan.actions.is_empty()
        );
    }
}
