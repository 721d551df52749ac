//! An owner -> pods index of [`PodSummary`]s, kept from the change stream.
//!
//! The replica controllers reconcile an owner against its candidate pods: the pods its
//! controller reference names, plus orphans in its namespace that its selector matches
//! (which it may adopt). Both sets live here, parsed once per pod change, so a sync of a
//! 10,000-replica ReplicaSet reads 10,000 small summaries instead of listing and parsing
//! 10,000 pods, and one pod change costs one small parse (kube-controller-manager's
//! informer cache plays this part).
//!
//! Pods controlled by another kind are not kept: no owner of this kind may touch them.

use std::collections::HashMap;

use super::pod_summary::PodSummary;
use super::Key;
use crate::selector::LabelSelector;

/// Where a pod sits in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    /// Under this owner name (the controller reference names our kind).
    Owned(String),
    /// No controller reference: an adoption candidate.
    Orphan,
}

/// The pods of one owner kind, by owner, plus the orphans, by namespace.
#[derive(Debug)]
pub struct PodIndex {
    kind: &'static str,
    owned: HashMap<Key, HashMap<String, PodSummary>>,
    orphans: HashMap<String, HashMap<String, PodSummary>>,
    slots: HashMap<Key, Slot>,
}

impl PodIndex {
    /// An index of the pods controlled by owners of `kind` (and of orphans).
    pub fn new(kind: &'static str) -> Self {
        PodIndex {
            kind,
            owned: HashMap::new(),
            orphans: HashMap::new(),
            slots: HashMap::new(),
        }
    }

    pub fn clear(&mut self) {
        self.owned.clear();
        self.orphans.clear();
        self.slots.clear();
    }

    /// Records the latest state of pod `ns/name` (`None`: deleted). Returns the owner names
    /// it was filed under before and is filed under now, whose syncs it may change.
    pub fn set(
        &mut self,
        ns: &str,
        name: &str,
        pod: Option<PodSummary>,
    ) -> (Option<String>, Option<String>) {
        let pod_key = (ns.to_string(), name.to_string());
        let old = self.slots.remove(&pod_key);
        match &old {
            Some(Slot::Owned(o)) => {
                let k = (ns.to_string(), o.clone());
                if let Some(m) = self.owned.get_mut(&k) {
                    m.remove(name);
                    if m.is_empty() {
                        self.owned.remove(&k);
                    }
                }
            }
            Some(Slot::Orphan) => {
                if let Some(m) = self.orphans.get_mut(ns) {
                    m.remove(name);
                    if m.is_empty() {
                        self.orphans.remove(ns);
                    }
                }
            }
            None => {}
        }
        let old_owner = match old {
            Some(Slot::Owned(o)) => Some(o),
            _ => None,
        };
        let Some(pod) = pod else {
            return (old_owner, None);
        };
        let slot = match &pod.controller {
            Some(c) if c.kind == self.kind => Slot::Owned(c.name.clone()),
            Some(_) => return (old_owner, None),
            None => Slot::Orphan,
        };
        let new_owner = match &slot {
            Slot::Owned(o) => {
                self.owned
                    .entry((ns.to_string(), o.clone()))
                    .or_default()
                    .insert(name.to_string(), pod);
                Some(o.clone())
            }
            Slot::Orphan => {
                self.orphans
                    .entry(ns.to_string())
                    .or_default()
                    .insert(name.to_string(), pod);
                None
            }
        };
        self.slots.insert(pod_key, slot);
        (old_owner, new_owner)
    }

    /// The candidates of owner `key`: the pods filed under it and the orphans of its
    /// namespace that `selector` matches (`None` matches no orphan).
    pub fn candidates(&self, key: &Key, selector: Option<&LabelSelector>) -> Vec<&PodSummary> {
        let mut out: Vec<&PodSummary> = self
            .owned
            .get(key)
            .map(|m| m.values().collect())
            .unwrap_or_default();
        if let (Some(sel), Some(orphans)) = (selector, self.orphans.get(&key.0)) {
            out.extend(orphans.values().filter(|p| sel.matches_map(&p.labels)));
        }
        out
    }

    /// How many pods are filed in all (for tests and metrics).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::pod_summary::OwnerRef;
    use crate::selector::Requirement;

    fn pod(name: &str, app: &str, owner: Option<(&str, &str)>) -> PodSummary {
        PodSummary {
            name: name.into(),
            labels: [("app".to_string(), app.to_string())].into(),
            controller: owner.map(|(kind, n)| OwnerRef {
                kind: kind.into(),
                name: n.into(),
                uid: format!("{n}-uid"),
            }),
            ..Default::default()
        }
    }

    fn names(v: Vec<&PodSummary>) -> Vec<String> {
        let mut n: Vec<String> = v.into_iter().map(|p| p.name.clone()).collect();
        n.sort();
        n
    }

    #[test]
    fn pods_move_between_owners_orphans_and_out() {
        let web = LabelSelector {
            requirements: vec![Requirement::Eq("app".into(), "web".into())],
        };
        let key = |o: &str| ("d".to_string(), o.to_string());
        // (step, pod change, returned (old, new) owners, candidates of rs "a" with the web
        // selector, candidates of rs "b")
        #[allow(clippy::type_complexity)]
        let steps: Vec<(
            &str,
            &str,
            Option<PodSummary>,
            (Option<&str>, Option<&str>),
            &[&str],
            &[&str],
        )> = vec![
            (
                "a pod of a",
                "p1",
                Some(pod("p1", "web", Some(("ReplicaSet", "a")))),
                (None, Some("a")),
                &["p1"],
                &[],
            ),
            (
                "a web orphan is a candidate of both",
                "o1",
                Some(pod("o1", "web", None)),
                (None, None),
                &["o1", "p1"],
                &["o1"],
            ),
            (
                "a db orphan matches neither",
                "o2",
                Some(pod("o2", "db", None)),
                (None, None),
                &["o1", "p1"],
                &["o1"],
            ),
            (
                "b adopts the web orphan",
                "o1",
                Some(pod("o1", "web", Some(("ReplicaSet", "b")))),
                (None, Some("b")),
                &["p1"],
                &["o1"],
            ),
            (
                "a Job takes p1 over: out of the index",
                "p1",
                Some(pod("p1", "web", Some(("Job", "j")))),
                (Some("a"), None),
                &[],
                &["o1"],
            ),
            (
                "the same change again is idempotent",
                "p1",
                Some(pod("p1", "web", Some(("Job", "j")))),
                (None, None),
                &[],
                &["o1"],
            ),
            ("o1 deleted", "o1", None, (Some("b"), None), &[], &[]),
            (
                "deleting an unknown pod is harmless",
                "zz",
                None,
                (None, None),
                &[],
                &[],
            ),
        ];
        let mut ix = PodIndex::new("ReplicaSet");
        for (what, name, change, owners, cand_a, cand_b) in steps {
            let got = ix.set("d", name, change);
            assert_eq!(
                (got.0.as_deref(), got.1.as_deref()),
                owners,
                "{what}: owners"
            );
            assert_eq!(
                names(ix.candidates(&key("a"), Some(&web))),
                cand_a,
                "{what}: a"
            );
            assert_eq!(
                names(ix.candidates(&key("b"), Some(&web))),
                cand_b,
                "{what}: b"
            );
        }
        // Only the db orphan is left.
        assert_eq!(ix.len(), 1);
        assert!(
            ix.candidates(&key("a"), None).is_empty(),
            "no selector, no orphans"
        );
        ix.clear();
        assert!(ix.is_empty());
    }

    #[test]
    fn namespaces_are_apart() {
        let mut ix = PodIndex::new("ReplicaSet");
        ix.set("x", "p", Some(pod("p", "web", Some(("ReplicaSet", "a")))));
        ix.set("y", "o", Some(pod("o", "web", None)));
        let any = LabelSelector {
            requirements: vec![Requirement::Exists("app".into())],
        };
        assert_eq!(
            names(ix.candidates(&("x".into(), "a".into()), Some(&any))),
            ["p"]
        );
        assert_eq!(
            names(ix.candidates(&("y".into(), "a".into()), Some(&any))),
            ["o"]
        );
    }
}
