//! The StatusReporter's pure core: the latest status of every pod this node reports, and the
//! bounded queue of topics that still need publishing.
//!
//! Every status topic is retained, so only its latest value matters: the outbox keeps at most
//! one pending entry per topic (a newer status supersedes an unsent older one), which bounds
//! the queue by the number of pods. On top of that [`Outbox::new`] takes a hard limit; past it
//! the **oldest unsent pod report is dropped** instead of the agent blocking or growing memory.
//! Nothing is lost for good by that: the pod's status stays in the outbox and the periodic
//! refresh ([`Outbox::mark_stale`]) queues it again. Clears (empty payloads for removed pods)
//! are dropped only when no pod report is left to drop.
//!
//! **Offline and across restarts**: what was not yet handed to the broker can be saved
//! ([`Outbox::saved`], the reporter writes it to `DIR/status-outbox.json` while the broker is
//! unreachable) and restored at start ([`Outbox::restore`]): bounded by the same limit, pod
//! reports and clears only (the online marker and node status are rebuilt anyway).
//!
//! **Latest state first**: after a (re)connect [`Outbox::mark_all`] queues the online
//! marker, then the node status, then pods from the most recently changed to the least, so
//! what changed last (most likely what an operator is waiting for) is on the broker first.
//!
//! Flow: the reporter feeds changes in ([`Outbox::update_pod`], [`Outbox::remove_pod`],
//! [`Outbox::mark_node`], ...), then repeatedly [`Outbox::peek`]s the next topic, builds its
//! payload, hands it to the MQTT client and, if the client took it, calls [`Outbox::sent`].

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use shoal_transport::status::{node_status_topic, online_topic, pod_status_topic, PodStatus};

/// Unsent reports, as saved to disk. Version 1.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedOutbox {
    pub version: u32,
    /// Pod reports not yet published, oldest change first.
    pub pods: Vec<SavedPod>,
    /// `(namespace, name)` of pods whose topic still needs clearing.
    pub clears: Vec<(String, String)>,
    /// Event series not yet published (see [`crate::event_recorder`]), oldest first. Absent
    /// in files written before events existed.
    #[serde(default)]
    pub events: Vec<shoal_transport::event_report::EventReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedPod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub status: PodStatus,
}

/// What to publish on a pending topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// `{"online":true}` on the node's online topic.
    Online,
    /// The node status report.
    Node,
    /// The pod's current [`PodEntry`] as a status report.
    Pod,
    /// An empty retained payload: the pod is gone from this node.
    Clear,
}

/// The latest known status of one pod.
#[derive(Clone, Debug, PartialEq)]
pub struct PodEntry {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub status: PodStatus,
    /// When it was last handed to the MQTT client (ms since the epoch).
    pub last_published_ms: Option<u64>,
    /// Order of the last change (higher = more recent).
    pub changed: u64,
}

/// Latest pod statuses plus the queue of topics to publish.
#[derive(Debug)]
pub struct Outbox {
    online_topic: String,
    node_topic: String,
    node: String,
    pods: BTreeMap<String, PodEntry>,
    /// topic -> (sequence, what)
    pending: HashMap<String, (u64, Pending)>,
    /// sequence -> topic, oldest first.
    order: BTreeMap<u64, String>,
    next_seq: u64,
    max_pending: usize,
    dropped: u64,
}

impl Outbox {
    /// An empty outbox for `node` that queues at most `max_pending` topics (at least 2, so the
    /// online marker and node status always fit).
    pub fn new(node: &str, max_pending: usize) -> Outbox {
        Outbox {
            online_topic: online_topic(node),
            node_topic: node_status_topic(node),
            node: node.to_string(),
            pods: BTreeMap::new(),
            pending: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            max_pending: max_pending.max(2),
            dropped: 0,
        }
    }

    /// Records a pod's new status and queues its topic.
    pub fn update_pod(&mut self, uid: &str, namespace: &str, name: &str, status: PodStatus) {
        let topic = pod_status_topic(&self.node, namespace, name);
        let last_published_ms = self
            .pods
            .get(&topic)
            .filter(|e| e.uid == uid)
            .and_then(|e| e.last_published_ms);
        let changed = self.next_seq;
        self.pods.insert(
            topic.clone(),
            PodEntry {
                uid: uid.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
                status,
                last_published_ms,
                changed,
            },
        );
        self.mark(topic, Pending::Pod);
    }

    /// Forgets a pod and queues the clearing of its topic.
    ///
    /// Design: topics are named by namespace/name but pods are identified by UID. If another
    /// pod with the same name (a newer UID) already owns the topic, its status must survive, so
    /// the removal of the old UID is ignored.
    pub fn remove_pod(&mut self, uid: &str, namespace: &str, name: &str) {
        let topic = pod_status_topic(&self.node, namespace, name);
        if self.pods.get(&topic).is_some_and(|e| e.uid != uid) {
            return;
        }
        self.pods.remove(&topic);
        self.mark(topic, Pending::Clear);
    }

    /// Queues the online marker.
    pub fn mark_online(&mut self) {
        self.mark(self.online_topic.clone(), Pending::Online);
    }

    /// Queues the node status.
    pub fn mark_node(&mut self) {
        self.mark(self.node_topic.clone(), Pending::Node);
    }

    /// Queues everything: after (re)connecting, the broker may have missed changes. Node
    /// status first, then pods most recently changed first (pending clears keep their place
    /// ahead of them).
    pub fn mark_all(&mut self) {
        self.mark_online();
        self.mark_node();
        let mut topics: Vec<(u64, String)> = self
            .pods
            .iter()
            .map(|(t, e)| (e.changed, t.clone()))
            .collect();
        topics.sort_by_key(|t| std::cmp::Reverse(t.0));
        for (_, topic) in topics {
            self.mark(topic, Pending::Pod);
        }
    }

    /// The unsent pod reports and clears, oldest first, for saving to disk.
    pub fn saved(&self) -> SavedOutbox {
        let mut out = SavedOutbox {
            version: 1,
            ..Default::default()
        };
        for topic in self.order.values() {
            match self.pending.get(topic) {
                Some((_, Pending::Pod)) => {
                    if let Some(e) = self.pods.get(topic) {
                        out.pods.push(SavedPod {
                            uid: e.uid.clone(),
                            namespace: e.namespace.clone(),
                            name: e.name.clone(),
                            status: e.status.clone(),
                        });
                    }
                }
                Some((_, Pending::Clear)) => {
                    if let Some((ns, name)) = self.pod_of_topic(topic) {
                        out.clears.push((ns, name));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Queues what a previous run saved (clears first, then pod reports in their order);
    /// anything this run already knows about a pod supersedes the saved entry.
    pub fn restore(&mut self, saved: SavedOutbox) {
        if saved.version != 1 {
            return;
        }
        for (ns, name) in saved.clears {
            let topic = pod_status_topic(&self.node, &ns, &name);
            if !self.pods.contains_key(&topic) && !self.pending.contains_key(&topic) {
                self.mark(topic, Pending::Clear);
            }
        }
        for p in saved.pods {
            let topic = pod_status_topic(&self.node, &p.namespace, &p.name);
            if !self.pods.contains_key(&topic) && !self.pending.contains_key(&topic) {
                self.update_pod(&p.uid, &p.namespace, &p.name, p.status);
            }
        }
    }

    /// `(namespace, name)` from one of this node's pod topics.
    fn pod_of_topic(&self, topic: &str) -> Option<(String, String)> {
        match shoal_transport::status::Topic::parse(topic)? {
            shoal_transport::status::Topic::PodStatus { namespace, pod, .. } => {
                Some((namespace, pod))
            }
            _ => None,
        }
    }

    /// Queues every pod whose status was not published within `max_age_ms` of `now_ms`.
    pub fn mark_stale(&mut self, now_ms: u64, max_age_ms: u64) {
        let stale: Vec<String> = self
            .pods
            .iter()
            .filter(|(topic, e)| {
                !self.pending.contains_key(*topic)
                    && e.last_published_ms
                        .is_none_or(|t| now_ms.saturating_sub(t) >= max_age_ms)
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        for topic in stale {
            self.mark(topic, Pending::Pod);
        }
    }

    /// The next topic to publish: the online marker first, then oldest first.
    pub fn peek(&self) -> Option<(String, Pending)> {
        if let Some((_, kind)) = self.pending.get(&self.online_topic) {
            return Some((self.online_topic.clone(), *kind));
        }
        let (_, topic) = self.order.first_key_value()?;
        let (_, kind) = self.pending.get(topic)?;
        Some((topic.clone(), *kind))
    }

    /// The topic was handed to the MQTT client at `now_ms`: unqueue it.
    pub fn sent(&mut self, topic: &str, now_ms: u64) {
        if let Some((seq, _)) = self.pending.remove(topic) {
            self.order.remove(&seq);
        }
        if let Some(entry) = self.pods.get_mut(topic) {
            entry.last_published_ms = Some(now_ms);
        }
    }

    /// The status of the pod published on `topic`, if the node still has it.
    pub fn pod(&self, topic: &str) -> Option<&PodEntry> {
        self.pods.get(topic)
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Pending entries dropped because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn mark(&mut self, topic: String, kind: Pending) {
        if let Some((old_seq, _)) = self.pending.remove(&topic) {
            self.order.remove(&old_seq);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, topic.clone());
        self.pending.insert(topic, (seq, kind));
        while self.pending.len() > self.max_pending {
            if !self.drop_oldest(Pending::Pod) && !self.drop_oldest(Pending::Clear) {
                break;
            }
        }
    }

    fn drop_oldest(&mut self, kind: Pending) -> bool {
        let victim = self
            .order
            .iter()
            .find(|(_, topic)| self.pending.get(*topic).is_some_and(|(_, k)| *k == kind))
            .map(|(seq, topic)| (*seq, topic.clone()));
        let Some((seq, topic)) = victim else {
            return false;
        };
        self.order.remove(&seq);
        self.pending.remove(&topic);
        self.dropped += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(phase: &str) -> PodStatus {
        PodStatus {
            phase: phase.into(),
            ..Default::default()
        }
    }

    fn drain(outbox: &mut Outbox, now: u64) -> Vec<(String, Pending)> {
        let mut out = Vec::new();
        while let Some((topic, kind)) = outbox.peek() {
            outbox.sent(&topic, now);
            out.push((topic, kind));
        }
        out
    }

    fn pod_topic(name: &str) -> String {
        pod_status_topic("n1", "default", name)
    }

    #[test]
    fn newer_status_supersedes_unsent_one() {
        let mut o = Outbox::new("n1", 100);
        o.update_pod("u1", "default", "web", status("Pending"));
        o.update_pod("u1", "default", "web", status("Running"));
        assert_eq!(o.pending_len(), 1);
        assert_eq!(drain(&mut o, 10), [(pod_topic("web"), Pending::Pod)]);
        assert_eq!(
            o.pod(&pod_topic("web")).map(|e| e.status.phase.as_str()),
            Some("Running")
        );
        assert_eq!(
            o.pod(&pod_topic("web")).and_then(|e| e.last_published_ms),
            Some(10)
        );
    }

    #[test]
    fn online_goes_first_then_oldest_first() {
        let mut o = Outbox::new("n1", 100);
        o.update_pod("u1", "default", "a", status("Running"));
        o.mark_node();
        o.mark_online();
        let got = drain(&mut o, 1);
        assert_eq!(
            got,
            [
                (online_topic("n1"), Pending::Online),
                (pod_topic("a"), Pending::Pod),
                (node_status_topic("n1"), Pending::Node),
            ]
        );
    }

    #[test]
    fn removal_clears_unless_a_newer_pod_owns_the_name() {
        let mut o = Outbox::new("n1", 100);
        o.update_pod("old", "default", "web", status("Running"));
        drain(&mut o, 1);
        // Recreated under the same name with a new UID, then the old UID's removal arrives.
        o.update_pod("new", "default", "web", status("Pending"));
        o.remove_pod("old", "default", "web");
        assert_eq!(drain(&mut o, 2), [(pod_topic("web"), Pending::Pod)]);
        assert_eq!(
            o.pod(&pod_topic("web")).map(|e| e.uid.as_str()),
            Some("new")
        );
        o.remove_pod("new", "default", "web");
        assert_eq!(drain(&mut o, 3), [(pod_topic("web"), Pending::Clear)]);
        assert_eq!(o.pod_count(), 0);
    }

    #[test]
    fn full_queue_drops_oldest_pod_report_and_refresh_brings_it_back() {
        let mut o = Outbox::new("n1", 3);
        o.mark_online();
        o.update_pod("u1", "default", "a", status("Running"));
        o.update_pod("u2", "default", "b", status("Running"));
        o.update_pod("u3", "default", "c", status("Running"));
        assert_eq!(o.pending_len(), 3);
        assert_eq!(o.dropped(), 1);
        let got: Vec<String> = drain(&mut o, 1_000).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            got,
            [online_topic("n1"), pod_topic("b"), pod_topic("c")],
            "a was dropped"
        );
        // "a" was never published: the next refresh queues it (and only it).
        o.mark_stale(1_001, 60_000);
        assert_eq!(drain(&mut o, 1_001), [(pod_topic("a"), Pending::Pod)]);
        o.mark_stale(2_000, 60_000);
        assert_eq!(o.pending_len(), 0, "nothing is stale yet");
        o.mark_stale(61_000, 60_000);
        assert_eq!(o.pending_len(), 2, "b and c are a minute old");
    }

    #[test]
    fn clears_are_dropped_only_after_pod_reports() {
        let mut o = Outbox::new("n1", 2);
        o.remove_pod("u1", "default", "x");
        o.update_pod("u2", "default", "y", status("Running"));
        o.remove_pod("u3", "default", "z");
        let got = drain(&mut o, 1);
        assert_eq!(
            got,
            [
                (pod_topic("x"), Pending::Clear),
                (pod_topic("z"), Pending::Clear)
            ]
        );
        let mut o = Outbox::new("n1", 2);
        for name in ["p", "q", "r"] {
            o.remove_pod("u", "default", name);
        }
        assert_eq!(drain(&mut o, 1).len(), 2);
        assert_eq!(o.dropped(), 1);
    }

    #[test]
    fn reconnect_publishes_the_latest_changes_first() {
        let mut o = Outbox::new("n1", 100);
        o.update_pod("u1", "default", "a", status("Running"));
        o.update_pod("u2", "default", "b", status("Running"));
        o.update_pod("u3", "default", "c", status("Running"));
        drain(&mut o, 1);
        o.update_pod("u1", "default", "a", status("Failed"));
        drain(&mut o, 2);
        o.mark_all();
        let got: Vec<String> = drain(&mut o, 3).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            got,
            [
                online_topic("n1"),
                node_status_topic("n1"),
                pod_topic("a"),
                pod_topic("c"),
                pod_topic("b")
            ]
        );
    }

    #[test]
    fn unsent_reports_survive_a_save_and_restore() {
        let mut o = Outbox::new("n1", 100);
        o.update_pod("u1", "default", "a", status("Running"));
        o.update_pod("u2", "default", "b", status("Running"));
        drain(&mut o, 1);
        // Offline from here: a changes, b goes away, c appears.
        o.update_pod("u1", "default", "a", status("Failed"));
        o.remove_pod("u2", "default", "b");
        o.update_pod("u3", "default", "c", status("Pending"));
        o.mark_node();
        let saved = o.saved();
        assert_eq!(saved.pods.len(), 2);
        assert_eq!(saved.clears, [("default".to_string(), "b".to_string())]);
        let json = serde_json::to_string(&saved).expect("json");
        let back: SavedOutbox = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, saved);

        // A restarted agent: c is already known again (newer), a and b only from disk.
        let mut o2 = Outbox::new("n1", 100);
        o2.update_pod("u3", "default", "c", status("Running"));
        o2.restore(back);
        let got = drain(&mut o2, 5);
        assert_eq!(
            got,
            [
                (pod_topic("c"), Pending::Pod),
                (pod_topic("b"), Pending::Clear),
                (pod_topic("a"), Pending::Pod)
            ]
        );
        assert_eq!(
            o2.pod(&pod_topic("a")).map(|e| e.status.phase.as_str()),
            Some("Failed")
        );
        assert_eq!(
            o2.pod(&pod_topic("c")).map(|e| e.status.phase.as_str()),
            Some("Running"),
            "what this run knows wins"
        );
        // Bounded like everything else, and an unknown version is ignored.
        let mut small = Outbox::new("n1", 2);
        small.restore(o.saved());
        assert!(small.pending_len() <= 2);
        let mut o3 = Outbox::new("n1", 100);
        o3.restore(SavedOutbox {
            version: 2,
            ..o.saved()
        });
        assert_eq!(o3.pending_len(), 0);
    }

    #[test]
    fn mark_all_requeues_everything_known() {
        let mut o = Outbox::new("n1", 100);
        o.update_pod("u1", "default", "a", status("Running"));
        o.update_pod("u2", "default", "b", status("Running"));
        drain(&mut o, 1);
        o.mark_all();
        assert_eq!(o.pending_len(), 4);
        assert_eq!(o.peek().map(|(_, k)| k), Some(Pending::Online));
    }
}
