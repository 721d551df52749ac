//! The node's desired pods as the hub last sent them, and the pure rules for folding a
//! `Snapshot` or `Delta` into them.
//!
//! Data flow: the HubLink reads a [`HubMessage`], asks [`DesiredSet::plan`] for the
//! [`DesiredWrite`] it implies (what to put, what to remove, which revision), has the local store
//! persist exactly that write durably, then [`DesiredSet::commit`]s it, acks the revision and
//! hands [`DesiredSet::plans`] to the PodManager. Planning does not change the set, so a write
//! that fails to persist leaves memory and disk agreeing.

use std::collections::BTreeMap;

use shoal_transport::wire::{HubMessage, PodPlan};

/// One change to the desired set, in the form the local store persists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredWrite {
    /// The revision the set is at once the write is applied; the agent acks it.
    pub revision: u64,
    /// Plans to insert or replace (by UID).
    pub puts: Vec<PodPlan>,
    /// UIDs to remove.
    pub removes: Vec<String>,
}

/// Desired pods by UID plus the revision they reflect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredSet {
    revision: u64,
    pods: BTreeMap<String, PodPlan>,
}

impl DesiredSet {
    /// An empty set at revision 0 (a node that never synced).
    pub fn new() -> Self {
        Self::default()
    }

    /// A set loaded from the local store.
    pub fn from_parts(revision: u64, pods: impl IntoIterator<Item = PodPlan>) -> Self {
        DesiredSet {
            revision,
            pods: pods.into_iter().map(|p| (p.uid.clone(), p)).collect(),
        }
    }

    /// Highest revision folded in (and persisted); what the agent tells the hub it has.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    pub fn get(&self, uid: &str) -> Option<&PodPlan> {
        self.pods.get(uid)
    }

    /// Every plan, ordered by UID.
    pub fn plans(&self) -> Vec<PodPlan> {
        self.pods.values().cloned().collect()
    }

    /// The write a hub message implies, or `None` for a message that changes nothing
    /// (`Ping`). Does not modify the set.
    ///
    /// - `Snapshot` replaces the set: every plan is put, every UID not in it is removed.
    /// - `Delta` puts its upserts and removes its deletes. A UID both upserted and deleted in
    ///   one delta is removed (deletes win: the pod must not run here).
    /// - Within one message a UID listed twice keeps its last plan.
    ///
    /// Design: the revision is taken as sent, even when lower than the current one. The hub is
    /// the authority; a hub restored from an older backup must be able to roll the node back
    /// with a snapshot, and the ack tells it exactly where the node now stands.
    pub fn plan(&self, msg: HubMessage) -> Option<DesiredWrite> {
        match msg {
            HubMessage::Ping { .. } | HubMessage::Services { .. } => None,
            HubMessage::Snapshot { revision, pods } => {
                let puts = dedup_last(pods);
                let removes = self
                    .pods
                    .keys()
                    .filter(|uid| !puts.iter().any(|p| &p.uid == *uid))
                    .cloned()
                    .collect();
                Some(DesiredWrite {
                    revision,
                    puts,
                    removes,
                })
            }
            HubMessage::Delta {
                revision,
                upserts,
                mut deletes,
            } => {
                let mut puts = dedup_last(upserts);
                puts.retain(|p| !deletes.contains(&p.uid));
                deletes.sort();
                deletes.dedup();
                Some(DesiredWrite {
                    revision,
                    puts,
                    removes: deletes,
                })
            }
        }
    }

    /// Applies a write (after it was persisted).
    pub fn commit(&mut self, write: DesiredWrite) {
        for uid in &write.removes {
            self.pods.remove(uid);
        }
        for plan in write.puts {
            self.pods.insert(plan.uid.clone(), plan);
        }
        self.revision = write.revision;
    }
}

/// Keeps the last plan of each UID, in first-appearance order.
fn dedup_last(plans: Vec<PodPlan>) -> Vec<PodPlan> {
    let mut out: Vec<PodPlan> = Vec::with_capacity(plans.len());
    for plan in plans {
        match out.iter_mut().find(|p| p.uid == plan.uid) {
            Some(slot) => *slot = plan,
            None => out.push(plan),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(uid: &str, revision: u64) -> PodPlan {
        PodPlan {
            uid: uid.into(),
            namespace: "default".into(),
            name: format!("pod-{uid}"),
            revision,
            ..Default::default()
        }
    }

    fn uids(set: &DesiredSet) -> Vec<String> {
        set.plans().into_iter().map(|p| p.uid).collect()
    }

    fn apply(set: &mut DesiredSet, msg: HubMessage) -> Option<DesiredWrite> {
        let write = set.plan(msg)?;
        set.commit(write.clone());
        Some(write)
    }

    #[test]
    fn snapshot_replaces_everything() {
        let mut set = DesiredSet::from_parts(3, [plan("a", 1), plan("b", 2)]);
        let write = apply(
            &mut set,
            HubMessage::Snapshot {
                revision: 9,
                pods: vec![plan("b", 8), plan("c", 9)],
            },
        )
        .expect("a write");
        assert_eq!(write.removes, ["a"]);
        assert_eq!(write.puts, [plan("b", 8), plan("c", 9)]);
        assert_eq!(set.revision(), 9);
        assert_eq!(uids(&set), ["b", "c"]);
        assert_eq!(set.get("b").map(|p| p.revision), Some(8));
    }

    #[test]
    fn empty_snapshot_clears_the_node() {
        let mut set = DesiredSet::from_parts(3, [plan("a", 1)]);
        apply(
            &mut set,
            HubMessage::Snapshot {
                revision: 4,
                pods: vec![],
            },
        );
        assert!(set.is_empty());
        assert_eq!(set.revision(), 4);
    }

    #[test]
    fn delta_upserts_and_deletes() {
        let mut set = DesiredSet::from_parts(3, [plan("a", 1), plan("b", 2)]);
        let write = apply(
            &mut set,
            HubMessage::Delta {
                revision: 5,
                upserts: vec![plan("a", 5), plan("c", 4)],
                deletes: vec!["b".into(), "missing".into(), "b".into()],
            },
        )
        .expect("a write");
        assert_eq!(
            write.removes,
            ["b", "missing"],
            "deduplicated, unknown is harmless"
        );
        assert_eq!(uids(&set), ["a", "c"]);
        assert_eq!(set.get("a").map(|p| p.revision), Some(5));
        assert_eq!(set.revision(), 5);
    }

    #[test]
    fn delete_wins_over_upsert_and_last_duplicate_wins() {
        let mut set = DesiredSet::new();
        apply(
            &mut set,
            HubMessage::Delta {
                revision: 2,
                upserts: vec![plan("x", 1), plan("y", 1), plan("y", 2)],
                deletes: vec!["x".into()],
            },
        );
        assert_eq!(uids(&set), ["y"]);
        assert_eq!(set.get("y").map(|p| p.revision), Some(2));
    }

    #[test]
    fn ping_changes_nothing_and_plan_is_pure() {
        let set = DesiredSet::from_parts(3, [plan("a", 1)]);
        assert_eq!(set.plan(HubMessage::Ping { revision: 99 }), None);
        let before = set.clone();
        let _ = set.plan(HubMessage::Snapshot {
            revision: 10,
            pods: vec![],
        });
        assert_eq!(set, before, "planning does not modify the set");
    }

    #[test]
    fn applying_the_same_message_twice_is_idempotent() {
        let msg = HubMessage::Delta {
            revision: 7,
            upserts: vec![plan("a", 7)],
            deletes: vec!["b".into()],
        };
        let mut once = DesiredSet::from_parts(6, [plan("b", 1)]);
        apply(&mut once, msg.clone());
        let mut twice = once.clone();
        apply(&mut twice, msg);
        assert_eq!(once, twice);
    }

    #[test]
    fn older_snapshot_rolls_back() {
        let mut set = DesiredSet::from_parts(50, [plan("a", 50)]);
        apply(
            &mut set,
            HubMessage::Snapshot {
                revision: 10,
                pods: vec![plan("z", 10)],
            },
        );
        assert_eq!(set.revision(), 10);
        assert_eq!(uids(&set), ["z"]);
    }
}
