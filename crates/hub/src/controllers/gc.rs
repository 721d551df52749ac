//! The garbage collector: dependents (objects with `metadata.ownerReferences`) go away with
//! their owners.
//!
//! Propagation policies, as Kubernetes defines them:
//! - **Background** (the default): the owner is deleted at once; the collector then deletes
//!   every dependent whose owners are all gone, and strips references to gone owners from
//!   dependents that still have a live one.
//! - **Foreground**: the owner is marked (`deletionTimestamp` + finalizer
//!   `foregroundDeletion`) instead of deleted; the collector deletes its dependents, and once
//!   none is left it drops the finalizer and deletes the owner.
//! - **Orphan**: the owner is marked with finalizer `orphan`; the collector removes the
//!   owner's references from its dependents (which keep running), then drops the finalizer and
//!   deletes the owner.
//!
//! The marking is the API's job (DELETE with `propagationPolicy`); this module does the rest.
//!
//! Work is proportional to what changed: an index owner uid -> dependents, fed by the change
//! stream, says which objects to look at when an owner goes. Keys are store keys
//! (`{resource}/{namespace}/{name}`, second element empty), since dependents can be of any
//! kind. [`decide`] is the pure core.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::replicaset::ignore_not_found;
use super::{is_deleting, resource_for_kind, Controller, ControllerError, Key, Millis};
use crate::resources::{self, ResourceInfo};
use crate::store::{EventType, Store, StoreError, WatchEvent};

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

/// What became of one owner reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists with the referenced uid and is not being deleted.
    Live,
    /// Gone (or replaced by a new object of the same name).
    Gone,
    /// Being deleted in the foreground: its dependents must go first.
    DeletingForeground,
    /// Being deleted with the orphan policy: its dependents are released.
    DeletingOrphan,
}

/// What to do with one dependent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Keep,
    Delete,
    /// Remove the owner references with these uids.
    RemoveRefs(Vec<String>),
}

/// Decides a dependent's fate from the state of each of its owner references (uid, state).
pub fn decide(owners: &[(String, OwnerState)]) -> Decision {
    if owners.is_empty() {
        return Decision::Keep;
    }
    let live = owners
        .iter()
        .filter(|(_, s)| *s == OwnerState::Live)
        .count();
    let to_drop: Vec<String> = owners
        .iter()
        .filter(|(_, s)| matches!(s, OwnerState::Gone | OwnerState::DeletingOrphan))
        .map(|(u, _)| u.clone())
        .collect();
    let foreground = owners
        .iter()
        .any(|(_, s)| *s == OwnerState::DeletingForeground);
    let orphaned = owners.iter().any(|(_, s)| *s == OwnerState::DeletingOrphan);
    if live == 0 && !orphaned {
        // Every owner is gone or deleting in the foreground.
        return Decision::Delete;
    }
    if live == 0 && foreground {
        return Decision::Delete;
    }
    if to_drop.is_empty() {
        Decision::Keep
    } else {
        Decision::RemoveRefs(to_drop)
    }
}

/// What to do with an owner that is marked for deletion, given how many dependents still
/// reference it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerDecision {
    /// Nothing to do (not marked, or dependents remain).
    Wait,
    /// Drop these finalizers; delete the object when none remain.
    Finish { drop: Vec<String>, delete: bool },
}

pub fn decide_owner(owner: &Value, remaining_dependents: usize) -> OwnerDecision {
    if !is_deleting(owner) {
        return OwnerDecision::Wait;
    }
    let finalizers: Vec<String> = owner
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let ours: Vec<String> = finalizers
        .iter()
        .filter(|f| *f == FOREGROUND || *f == ORPHAN)
        .cloned()
        .collect();
    if ours.is_empty() {
        // Someone else's finalizers; when they are all gone, the object goes.
        return if finalizers.is_empty() {
            OwnerDecision::Finish {
                drop: vec![],
                delete: true,
            }
        } else {
            OwnerDecision::Wait
        };
    }
    if remaining_dependents > 0 {
        return OwnerDecision::Wait;
    }
    OwnerDecision::Finish {
        delete: finalizers.len() == ours.len(),
        drop: ours,
    }
}

fn owner_state(store: &Store, dependent_ns: &str, r: &Value) -> Option<(String, OwnerState)> {
    let uid = r.get("uid")?.as_str()?.to_string();
    let kind = r.get("kind")?.as_str()?;
    let name = r.get("name")?.as_str()?;
    let api_version = r
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(res) = resource_for_kind(api_version, kind) else {
        // A kind the hub does not serve: never collect on its account.
        return Some((uid, OwnerState::Live));
    };
    let ns = if res.namespaced { dependent_ns } else { "" };
    let state = match store.get(res, ns, name) {
        None => OwnerState::Gone,
        Some(o) => {
            let v = o.value();
            if v.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
                OwnerState::Gone
            } else if has_finalizer(&v, FOREGROUND) && is_deleting(&v) {
                OwnerState::DeletingForeground
            } else if has_finalizer(&v, ORPHAN) && is_deleting(&v) {
                OwnerState::DeletingOrphan
            } else {
                OwnerState::Live
            }
        }
    };
    Some((uid, state))
}

fn has_finalizer(v: &Value, f: &str) -> bool {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(f)))
}

fn owner_uids(v: &Value) -> Vec<String> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The metadata the collector follows, read without building a `Value` tree.
#[derive(Debug, Default, PartialEq)]
struct Meta {
    uid: String,
    owner_uids: Vec<String>,
    deleting: bool,
}

impl Meta {
    fn of(json: &[u8]) -> Meta {
        #[derive(serde::Deserialize)]
        struct Obj {
            #[serde(default)]
            metadata: Option<M>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct M {
            #[serde(default)]
            uid: Option<String>,
            #[serde(default)]
            owner_references: Option<Vec<R>>,
            #[serde(default)]
            deletion_timestamp: Option<serde::de::IgnoredAny>,
        }
        #[derive(serde::Deserialize)]
        struct R {
            #[serde(default)]
            uid: Option<String>,
        }
        match serde_json::from_slice::<Obj>(json) {
            Ok(o) => {
                let m = o.metadata;
                Meta {
                    uid: m.as_ref().and_then(|m| m.uid.clone()).unwrap_or_default(),
                    deleting: m.as_ref().is_some_and(|m| m.deletion_timestamp.is_some()),
                    owner_uids: m
                        .and_then(|m| m.owner_references)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|r| r.uid)
                        .collect(),
                }
            }
            // Not the usual shape: the full parse decides.
            Err(_) => {
                let v: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
                Meta {
                    uid: super::uid_of(&v).to_string(),
                    owner_uids: owner_uids(&v),
                    deleting: is_deleting(&v),
                }
            }
        }
    }
}

/// Resolves a store key into its resource, namespace and name.
fn split_key(key: &str) -> Option<(&'static ResourceInfo, String, String)> {
    let mut parts = key.splitn(3, '/');
    let prefix = parts.next()?;
    let ns = parts.next()?.to_string();
    let name = parts.next()?.to_string();
    let res = resources::ALL
        .iter()
        .copied()
        .find(|r| r.key_prefix == prefix)?;
    Some((res, ns, name))
}

/// The collector's state: who depends on whom.
#[derive(Default)]
pub struct GarbageCollector {
    /// Owner uid -> store keys of its dependents.
    dependents: HashMap<String, HashSet<String>>,
    /// Store key -> uid, for objects that own something or are being deleted.
    uids: HashMap<String, String>,
}

impl GarbageCollector {
    fn index(&mut self, key: &str, old: &[String], new: &[String]) {
        for u in old.iter().filter(|u| !new.contains(u)) {
            if let Some(set) = self.dependents.get_mut(u) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(u);
                }
            }
        }
        for u in new {
            self.dependents
                .entry(u.clone())
                .or_default()
                .insert(key.to_string());
        }
    }
}

impl Controller for GarbageCollector {
    const NAME: &'static str = "garbage-collector";

    fn resync(&mut self, store: &Store) -> Vec<Key> {
        self.dependents.clear();
        let mut keys = Vec::new();
        for res in resources::ALL.iter().copied() {
            for o in store.list(res, None, &|_| true, None, 0).items {
                let v = o.value();
                let owners = owner_uids(&v);
                if !owners.is_empty() {
                    self.index(&o.key, &[], &owners);
                    keys.push((o.key.clone(), String::new()));
                }
                if is_deleting(&v) {
                    keys.push((o.key.clone(), String::new()));
                }
            }
        }
        keys
    }

    fn keys_for(&mut self, _store: &Store, ev: &WatchEvent, out: &mut Vec<Key>) {
        let key = ev.object.key.clone();
        if key.starts_with("events/") {
            return;
        }
        // Design: every change of every object passes here (pod status writes above all);
        // it reads only uid, owner uids and deletionTimestamp, with a small parse.
        let meta = Meta::of(&ev.object.json);
        let old = ev
            .previous
            .as_ref()
            .map(|p| Meta::of(&p.json).owner_uids)
            .unwrap_or_default();
        let new = if ev.event_type == EventType::Deleted {
            vec![]
        } else {
            meta.owner_uids
        };
        self.index(&key, &old, &new);
        if ev.event_type == EventType::Added && !new.is_empty() {
            // Created with references to owners that may already be gone.
            out.push((key.clone(), String::new()));
        }
        let uid = meta.uid;
        if let Some(deps) = self.dependents.get(&uid) {
            let owner_changed = ev.event_type == EventType::Deleted || meta.deleting;
            if owner_changed {
                out.extend(deps.iter().map(|d| (d.clone(), String::new())));
            }
        }
        if ev.event_type != EventType::Deleted && meta.deleting {
            self.uids.insert(key.clone(), uid);
            out.push((key, String::new()));
        } else if ev.event_type == EventType::Deleted {
            self.uids.remove(&key);
            // A dependent went: its owner being deleted in the foreground may now finish.
            for u in &old {
                if let Some(owner_key) = self
                    .uids
                    .iter()
                    .find(|(_, x)| *x == u)
                    .map(|(k, _)| k.clone())
                {
                    out.push((owner_key, String::new()));
                }
            }
        }
    }

    async fn sync(
        &mut self,
        store: &Store,
        key: &Key,
        _now: Millis,
    ) -> Result<Option<Duration>, ControllerError> {
        let Some((res, ns, name)) = split_key(&key.0) else {
            return Ok(None);
        };
        let Some(obj) = store.get(res, &ns, &name) else {
            return Ok(None);
        };
        let v = obj.value();
        // As a dependent.
        let refs: Vec<Value> = v
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let states: Vec<(String, OwnerState)> = refs
            .iter()
            .filter_map(|r| owner_state(store, &ns, r))
            .collect();
        match decide(&states) {
            Decision::Keep => {}
            Decision::Delete => {
                let foreground = states
                    .iter()
                    .any(|(_, s)| *s == OwnerState::DeletingForeground);
                let has_dependents = self
                    .dependents
                    .get(super::uid_of(&v))
                    .is_some_and(|d| !d.is_empty());
                if foreground && has_dependents && res.kind != "Namespace" {
                    // Design: foreground deletion goes down the whole tree, so the owner is
                    // removed only after its dependents' dependents are gone too.
                    let now = shoal_transport::status::now_ms();
                    ignore_not_found(
                        mark_for_deletion(store, res, &ns, &name, FOREGROUND, now).await,
                    )?;
                } else {
                    tracing::info!(object = %key.0, "garbage collecting: its owners are gone");
                    ignore_not_found(store.delete(res, &ns, &name, Some(obj.revision)).await)?;
                    return Ok(None);
                }
            }
            Decision::RemoveRefs(uids) => {
                let r = store
                    .mutate(
                        res,
                        &ns,
                        &name,
                        Box::new(move |v| {
                            let mut out = v.clone();
                            let mut changed = false;
                            for u in &uids {
                                if let Some(x) = super::replicaset::release(&out, u) {
                                    out = x;
                                    changed = true;
                                }
                            }
                            Ok(changed.then_some(out))
                        }),
                    )
                    .await;
                ignore_not_found(r)?;
            }
        }
        // As an owner marked for deletion (namespaces are the namespace controller's).
        if is_deleting(&v) && res.kind != "Namespace" {
            let uid = super::uid_of(&v).to_string();
            let remaining = self
                .dependents
                .get(&uid)
                .map(|d| {
                    d.iter()
                        .filter(|k| {
                            split_key(k).is_some_and(|(r, n, m)| {
                                store
                                    .get(r, &n, &m)
                                    .is_some_and(|o| owner_uids(&o.value()).contains(&uid))
                            })
                        })
                        .count()
                })
                .unwrap_or(0);
            if let OwnerDecision::Finish { drop, delete } = decide_owner(&v, remaining) {
                if delete {
                    ignore_not_found(store.delete(res, &ns, &name, None).await)?;
                } else {
                    let r = store
                        .mutate(
                            res,
                            &ns,
                            &name,
                            Box::new(move |v| {
                                let mut out = v.clone();
                                if let Some(fs) = out
                                    .pointer_mut("/metadata/finalizers")
                                    .and_then(Value::as_array_mut)
                                {
                                    fs.retain(|f| {
                                        !f.as_str().is_some_and(|f| drop.iter().any(|d| d == f))
                                    });
                                }
                                Ok(Some(out))
                            }),
                        )
                        .await;
                    ignore_not_found(r)?;
                }
            } else if remaining > 0 {
                // Dependents are on their way; look again soon in case an event was missed.
                return Ok(Some(Duration::from_secs(5)));
            }
        }
        Ok(None)
    }
}

/// Marks an object for foreground or orphan deletion (what the DELETE handler does for
/// `propagationPolicy: Foreground|Orphan`); the collector finishes the deletion.
pub async fn mark_for_deletion(
    store: &Store,
    res: &'static ResourceInfo,
    ns: &str,
    name: &str,
    finalizer: &'static str,
    now: Millis,
) -> Result<std::sync::Arc<crate::store::StoredObject>, StoreError> {
    let ts = super::rfc3339(now);
    store
        .mutate(
            res,
            ns,
            name,
            Box::new(move |v| {
                let mut out = v.clone();
                if out.pointer("/metadata/deletionTimestamp").is_none() {
                    out["metadata"]["deletionTimestamp"] = json!(ts);
                }
                if !has_finalizer(&out, finalizer) {
                    match out
                        .pointer_mut("/metadata/finalizers")
                        .and_then(Value::as_array_mut)
                    {
                        Some(fs) => fs.push(json!(finalizer)),
                        None => out["metadata"]["finalizers"] = json!([finalizer]),
                    }
                }
                Ok(Some(out))
            }),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_reads_agree_with_the_full_parse() {
        for v in [
            json!({}),
            json!({"metadata": {"uid": "u", "deletionTimestamp": null}}),
            json!({"metadata": {"uid": "u", "deletionTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [{"uid": "a", "kind": "ReplicaSet"}, {"uid": "b"}]},
                "spec": {"x": [1, 2, {"y": "z"}]}}),
            json!({"metadata": {"uid": 7}}),
        ] {
            let want = Meta {
                uid: super::super::uid_of(&v).to_string(),
                owner_uids: owner_uids(&v),
                deleting: is_deleting(&v),
            };
            assert_eq!(
                Meta::of(&serde_json::to_vec(&v).expect("json")),
                want,
                "{v}"
            );
        }
    }
    use OwnerState::*;

    fn owners(list: &[(&str, OwnerState)]) -> Vec<(String, OwnerState)> {
        list.iter().map(|(u, s)| (u.to_string(), *s)).collect()
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn dependents_follow_their_owners() {
        let cases: &[(&str, &[(&str, OwnerState)], Decision)] = &[
            ("no owners: not ours to collect", &[], Decision::Keep),
            ("live owner", &[("a", Live)], Decision::Keep),
            (
                "owner gone: background delete",
                &[("a", Gone)],
                Decision::Delete,
            ),
            (
                "all owners gone",
                &[("a", Gone), ("b", Gone)],
                Decision::Delete,
            ),
            (
                "one owner left: drop the dead reference",
                &[("a", Gone), ("b", Live)],
                Decision::RemoveRefs(vec!["a".into()]),
            ),
            (
                "foreground owner: delete the dependent",
                &[("a", DeletingForeground)],
                Decision::Delete,
            ),
            (
                "foreground owner, other live owner: keep",
                &[("a", DeletingForeground), ("b", Live)],
                Decision::Keep,
            ),
            (
                "orphan owner: release",
                &[("a", DeletingOrphan)],
                Decision::RemoveRefs(vec!["a".into()]),
            ),
            (
                "orphan owner and a gone one: release both",
                &[("a", DeletingOrphan), ("b", Gone)],
                Decision::RemoveRefs(vec!["a".into(), "b".into()]),
            ),
        ];
        for (what, list, want) in cases {
            assert_eq!(decide(&owners(list)), *want, "{what}");
        }
    }

    #[test]
    fn marked_owners_finish_when_their_dependents_are_gone() {
        let marked = |fs: Value| json!({"metadata": {"name": "o", "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": fs}});
        let cases: &[(Value, usize, OwnerDecision)] = &[
            (json!({"metadata": {"name": "o"}}), 0, OwnerDecision::Wait),
            (
                marked(json!(["foregroundDeletion"])),
                2,
                OwnerDecision::Wait,
            ),
            (
                marked(json!(["foregroundDeletion"])),
                0,
                OwnerDecision::Finish {
                    drop: vec![FOREGROUND.into()],
                    delete: true,
                },
            ),
            (
                marked(json!(["orphan"])),
                0,
                OwnerDecision::Finish {
                    drop: vec![ORPHAN.into()],
                    delete: true,
                },
            ),
            (
                marked(json!(["orphan", "example.com/other"])),
                0,
                OwnerDecision::Finish {
                    drop: vec![ORPHAN.into()],
                    delete: false,
                },
            ),
            (marked(json!(["example.com/other"])), 0, OwnerDecision::Wait),
            (
                marked(json!([])),
                0,
                OwnerDecision::Finish {
                    drop: vec![],
                    delete: true,
                },
            ),
        ];
        for (owner, remaining, want) in cases {
            assert_eq!(
                decide_owner(owner, *remaining),
                *want,
                "{owner} with {remaining} dependents"
            );
        }
    }

    #[test]
    fn store_keys_resolve() {
        let (res, ns, name) = split_key("replicasets.apps/default/web-abc").expect("known");
        assert_eq!(
            (res.kind, ns.as_str(), name.as_str()),
            ("ReplicaSet", "default", "web-abc")
        );
        assert!(split_key("bogus/x/y").is_none());
    }
}
