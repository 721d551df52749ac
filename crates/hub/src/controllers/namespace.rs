//! Namespace: a namespace being deleted is emptied, then removed.
//!
//! Deleting a namespace (the API's job, see [`mark_terminating`]) sets its
//! `deletionTimestamp`, `status.phase: Terminating` and the `kubernetes` finalizer. This
//! controller then deletes everything inside, workload controllers first (so nothing
//! recreates pods behind it) and pods last, reports what remains in the
//! `NamespaceContentRemaining` condition, and deletes the namespace once it is empty.
//! [`reconcile`] is the pure core: the namespace and the count of what is left per kind in,
//! a decision out.
//!
//! Keys are `("", namespace)`. A terminating namespace is synced again whenever something
//! inside it is deleted, so the final removal follows the last deletion.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::replicaset::ignore_not_found;
use super::{is_deleting, rfc3339, str_at, Controller, ControllerError, Key, Millis};
use crate::resources::{self, ResourceInfo, NAMESPACES};
use crate::store::{EventType, Store, StoreError, WatchEvent};

/// The finalizer Kubernetes puts in `spec.finalizers` of a namespace.
pub const FINALIZER: &str = "kubernetes";

/// Deletion order: controllers before what they create, pods last.
const ORDER: &[&str] = &[
    "Deployment",
    "DaemonSet",
    "Job",
    "ReplicaSet",
    "ReplicationController",
    "ControllerRevision",
    "Service",
    "Endpoints",
    "ConfigMap",
    "Secret",
    "Event",
    "Pod",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not being deleted.
    Nothing,
    /// Delete everything of these kinds (in this order) and write `status`.
    DeleteContents {
        kinds: Vec<&'static str>,
        status: Value,
    },
    /// Empty, but only just: look again after [`QUIET`] (a controller that read its owner
    /// before it was deleted may still create something).
    WaitQuiet,
    /// Empty for [`QUIET`]: remove the namespace.
    Remove,
}

/// How long a terminating namespace must stay empty before it is removed.
pub const QUIET: Duration = Duration::from_secs(1);

/// Is the namespace being deleted?
pub fn terminating(ns: &Value) -> bool {
    is_deleting(ns) || str_at(ns, "/status/phase") == "Terminating"
}

/// Decides from what is left per kind; `empty_since` is when it was first seen empty.
pub fn reconcile(
    ns: &Value,
    remaining: &[(&'static str, usize)],
    empty_since: Option<Millis>,
    now: Millis,
) -> Decision {
    if !terminating(ns) {
        return Decision::Nothing;
    }
    let mut left: Vec<(&'static str, usize)> =
        remaining.iter().copied().filter(|(_, n)| *n > 0).collect();
    if left.is_empty() {
        return if empty_since.is_some_and(|t| now >= t + QUIET.as_millis() as u64) {
            Decision::Remove
        } else {
            Decision::WaitQuiet
        };
    }
    left.sort_by_key(|(k, _)| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len() - 1));
    let message = format!(
        "Some resources are remaining: {}",
        left.iter()
            .map(|(k, n)| format!("{} has {n} resource instances", k.to_lowercase()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut conds: Vec<Value> = ns
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    super::set_condition(
        &mut conds,
        "NamespaceContentRemaining",
        "True",
        "SomeResourcesRemain",
        &message,
        &rfc3339(now),
    );
    for c in conds.iter_mut() {
        if let Some(o) = c.as_object_mut() {
            o.remove("lastUpdateTime");
        }
    }
    Decision::DeleteContents {
        kinds: left.iter().map(|(k, _)| *k).collect(),
        status: json!({"phase": "Terminating", "conditions": conds}),
    }
}

/// What the API's DELETE of a namespace should do instead of deleting it at once.
pub async fn mark_terminating(store: &Store, name: &str, now: Millis) -> Result<(), StoreError> {
    let ts = rfc3339(now);
    store
        .mutate(
            &NAMESPACES,
            "",
            name,
            Box::new(move |v| {
                let mut v = v.clone();
                if v.pointer("/metadata/deletionTimestamp").is_none() {
                    v["metadata"]["deletionTimestamp"] = json!(ts);
                }
                v["spec"]["finalizers"] = json!([FINALIZER]);
                v["status"]["phase"] = json!("Terminating");
                Ok(Some(v))
            }),
        )
        .await
        .map(|_| ())
}

fn namespaced() -> impl Iterator<Item = &'static ResourceInfo> {
    resources::ALL.iter().copied().filter(|r| r.namespaced)
}

/// The namespace controller: remembers which namespaces are terminating.
#[derive(Default)]
pub struct NamespaceController {
    terminating: HashSet<String>,
    /// Terminating namespace -> when it was first seen empty.
    empty_since: HashMap<String, Millis>,
}

impl Controller for NamespaceController {
    const NAME: &'static str = "namespace";

    fn resync(&mut self, store: &Store) -> Vec<Key> {
        self.terminating = store
            .list(
                &NAMESPACES,
                None,
                &|o| o.field("status.phase") == Some("Terminating"),
                None,
                0,
            )
            .items
            .iter()
            .map(|o| o.namespace_and_name().1.to_string())
            .collect();
        self.terminating
            .iter()
            .map(|n| (String::new(), n.clone()))
            .collect()
    }

    fn keys_for(&mut self, _store: &Store, ev: &WatchEvent, out: &mut Vec<Key>) {
        let (ns, name) = ev.object.namespace_and_name();
        if ev.object.key.starts_with("namespaces/") {
            if ev.event_type != EventType::Deleted && terminating(&ev.object.value()) {
                self.terminating.insert(name.to_string());
                out.push((String::new(), name.to_string()));
            } else {
                self.terminating.remove(name);
            }
        } else if ev.event_type == EventType::Deleted
            && !ns.is_empty()
            && self.terminating.contains(ns)
        {
            out.push((String::new(), ns.to_string()));
        }
    }

    async fn sync(
        &mut self,
        store: &Store,
        key: &Key,
        now: Millis,
    ) -> Result<Option<Duration>, ControllerError> {
        let name = &key.1;
        let Some(ns) = store.get(&NAMESPACES, "", name) else {
            return Ok(None);
        };
        let ns = ns.value();
        let remaining: Vec<(&'static str, usize)> = namespaced()
            .map(|r| {
                (
                    r.kind,
                    store.list(r, Some(name), &|_| true, None, 0).items.len(),
                )
            })
            .collect();
        let empty = remaining.iter().all(|(_, n)| *n == 0);
        if !empty {
            self.empty_since.remove(name);
        }
        let empty_since = self.empty_since.get(name).copied();
        match reconcile(&ns, &remaining, empty_since, now) {
            Decision::Nothing => Ok(None),
            Decision::WaitQuiet => {
                self.empty_since.entry(name.clone()).or_insert(now);
                Ok(Some(QUIET))
            }
            Decision::Remove => {
                tracing::info!(namespace = %name, "namespace is empty; removing it");
                self.empty_since.remove(name);
                ignore_not_found(store.delete(&NAMESPACES, "", name, None).await)?;
                Ok(None)
            }
            Decision::DeleteContents { kinds, status } => {
                ignore_not_found(
                    store
                        .mutate(
                            &NAMESPACES,
                            "",
                            name,
                            Box::new(move |v| {
                                let mut v = v.clone();
                                v["status"] = status;
                                Ok(Some(v))
                            }),
                        )
                        .await,
                )?;
                for kind in kinds {
                    let Some(res) = namespaced().find(|r| r.kind == kind) else {
                        continue;
                    };
                    for o in store.list(res, Some(name), &|_| true, None, 0).items {
                        ignore_not_found(
                            store
                                .delete(res, name, o.namespace_and_name().1, None)
                                .await,
                        )?;
                    }
                }
                // The deletions' own events bring the namespace back here; look again anyway.
                Ok(Some(Duration::from_secs(2)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empties_then_removes() {
        let active = json!({"metadata": {"name": "team"}, "status": {"phase": "Active"}});
        let deleting = json!({"metadata": {"name": "team", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Terminating"}});
        assert_eq!(
            reconcile(&active, &[("Pod", 3)], None, 0),
            Decision::Nothing
        );
        assert_eq!(
            reconcile(&deleting, &[("Pod", 0), ("ConfigMap", 0)], None, 5_000),
            Decision::WaitQuiet
        );
        assert_eq!(
            reconcile(&deleting, &[("Pod", 0)], Some(4_500), 5_000),
            Decision::WaitQuiet
        );
        assert_eq!(
            reconcile(
                &deleting,
                &[("Pod", 0), ("ConfigMap", 0)],
                Some(4_000),
                5_000
            ),
            Decision::Remove
        );
        let Decision::DeleteContents { kinds, status } = reconcile(
            &deleting,
            &[("Pod", 3), ("Deployment", 1), ("ConfigMap", 0)],
            Some(0),
            5_000,
        ) else {
            panic!("delete contents")
        };
        assert_eq!(
            kinds,
            vec!["Deployment", "Pod"],
            "controllers before pods; nothing for empty kinds"
        );
        assert_eq!(status["phase"], "Terminating");
        assert_eq!(status["conditions"][0]["type"], "NamespaceContentRemaining");
        assert_eq!(status["conditions"][0]["message"], "Some resources are remaining: deployment has 1 resource instances, pod has 3 resource instances");
    }
}
