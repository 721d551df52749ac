//! NodeRouter: follows the store's change stream once for every node session and hands each
//! session only the changes that concern its node.
//!
//! Without it, every session read the whole change stream itself, so the hub's work per change
//! grew with the number of connected nodes (10,000 sessions each looking at every pod write).
//! Now one task reads each change once and routes it by key:
//!
//! - `pods/...`: to the session of the pod's `spec.nodeName` (bound pods only), if connected;
//! - `configmaps/...`, `secrets/...`: to every session (each knows which of its pods use it);
//! - anything else: nowhere.
//!
//! Bounds: a session's queue holds [`QUEUE_BATCHES`] batches; a session that falls that far
//! behind loses its queued changes and gets [`Routed::Resync`] instead (it sends its node a
//! fresh snapshot), as does every session if the router itself falls behind the store's
//! history. Memory per session is one channel; per change, one routing decision.
//!
//! Ordering: a session subscribes *before* it reads the store for its first snapshot, so every
//! change after that snapshot reaches it; changes at or below the snapshot's revision may also
//! arrive and are skipped by the session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config_source::config_key;
use crate::store::{Store, StoreError, WatchEvent};

/// Batches queued per session before it is told to resync.
pub const QUEUE_BATCHES: usize = 256;
/// Changes read from the store per step.
const READ_BATCH: usize = 4096;
/// How often sessions owed a resync are retried while their queue stays full.
const RESYNC_RETRY: Duration = Duration::from_millis(200);

/// What a session receives.
#[derive(Debug)]
pub enum Routed {
    /// Changes concerning the node, in revision order.
    Events(Vec<WatchEvent>),
    /// Changes were lost (the session or the router fell behind): start over from the store.
    Resync,
}

struct Sub {
    id: u64,
    tx: mpsc::Sender<Routed>,
    /// Changes were dropped; a `Resync` is owed.
    lagged: bool,
}

#[derive(Default)]
struct Subs {
    next_id: u64,
    by_node: HashMap<String, Sub>,
}

/// Handle to the router; cheap to clone.
#[derive(Clone)]
pub struct NodeRouter {
    subs: Arc<Mutex<Subs>>,
}

/// A session's subscription; unsubscribes when dropped.
pub struct Subscription {
    pub rx: mpsc::Receiver<Routed>,
    node: String,
    id: u64,
    subs: Arc<Mutex<Subs>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subs = lock(&self.subs);
        if subs
            .by_node
            .get(&self.node)
            .is_some_and(|s| s.id == self.id)
        {
            subs.by_node.remove(&self.node);
        }
    }
}

fn lock(m: &Mutex<Subs>) -> std::sync::MutexGuard<'_, Subs> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl NodeRouter {
    /// Starts the routing task (on the current tokio runtime) from the store's current
    /// revision.
    pub fn start(store: Store) -> NodeRouter {
        let router = NodeRouter {
            subs: Arc::new(Mutex::new(Subs::default())),
        };
        let subs = router.subs.clone();
        tokio::spawn(route(store, subs));
        router
    }

    /// Subscribes the session of `node`. A newer subscription for the same node replaces the
    /// older one, whose receiver then ends (its connection is stale).
    pub fn subscribe(&self, node: &str) -> Subscription {
        let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
        let mut subs = lock(&self.subs);
        subs.next_id += 1;
        let id = subs.next_id;
        subs.by_node.insert(
            node.to_string(),
            Sub {
                id,
                tx,
                lagged: false,
            },
        );
        Subscription {
            rx,
            node: node.to_string(),
            id,
            subs: self.subs.clone(),
        }
    }

    /// Sessions subscribed now.
    pub fn sessions(&self) -> usize {
        lock(&self.subs).by_node.len()
    }
}

/// Where one change goes (pure).
#[derive(Debug, PartialEq, Eq)]
pub enum Destination<'a> {
    Node(&'a str),
    Everyone,
    Nowhere,
}

/// Routes one change by its key and (for pods) its node.
pub fn destination(ev: &WatchEvent) -> Destination<'_> {
    let key = ev.object.key.as_str();
    if key.starts_with("pods/") {
        return match ev.object.field("spec.nodeName") {
            Some(node) if !node.is_empty() => Destination::Node(node),
            _ => Destination::Nowhere,
        };
    }
    // ConfigMaps and Secrets (plans depend on them), Services and Endpoints (every agent's
    // proxy and DNS serve them all) go to every session.
    if config_key(key).is_some() || key.starts_with("services/") || key.starts_with("endpoints/") {
        return Destination::Everyone;
    }
    Destination::Nowhere
}

async fn route(store: Store, subs: Arc<Mutex<Subs>>) {
    let mut changes = store.subscribe();
    let mut cursor = store.revision();
    let mut retry = tokio::time::interval(RESYNC_RETRY);
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return; // the store is gone
                }
            }
            _ = retry.tick() => {}
        }
        loop {
            let events = match store.events_after(cursor, READ_BATCH) {
                Ok(e) => e,
                Err(StoreError::Expired { .. }) => {
                    let mut s = lock(&subs);
                    for sub in s.by_node.values_mut() {
                        sub.lagged = true;
                    }
                    cursor = store.revision();
                    tracing::warn!(
                        revision = cursor,
                        "node router fell behind the store's history; every session resyncs"
                    );
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "node router cannot read the change stream");
                    break;
                }
            };
            let Some(last) = events.last() else { break };
            cursor = last.revision;
            dispatch(&subs, events);
        }
        owe_resyncs(&subs);
    }
}

/// Hands one read of changes to the sessions they concern.
fn dispatch(subs: &Mutex<Subs>, events: Vec<WatchEvent>) {
    let mut per_node: HashMap<String, Vec<WatchEvent>> = HashMap::new();
    let mut s = lock(subs);
    for ev in events {
        match destination(&ev) {
            Destination::Node(node) => {
                if s.by_node.contains_key(node) {
                    per_node.entry(node.to_string()).or_default().push(ev);
                }
            }
            Destination::Everyone => {
                for node in s.by_node.keys() {
                    per_node.entry(node.clone()).or_default().push(ev.clone());
                }
            }
            Destination::Nowhere => {}
        }
    }
    for (node, batch) in per_node {
        let Some(sub) = s.by_node.get_mut(&node) else {
            continue;
        };
        if sub.lagged {
            continue; // it resyncs anyway
        }
        match sub.tx.try_send(Routed::Events(batch)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(%node, "node session fell behind; it will resync");
                sub.lagged = true;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Sends owed resyncs where there is room again.
fn owe_resyncs(subs: &Mutex<Subs>) {
    let mut s = lock(subs);
    for sub in s.by_node.values_mut().filter(|s| s.lagged) {
        if sub.tx.try_send(Routed::Resync).is_ok() {
            sub.lagged = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str) -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})
    }

    async fn recv(sub: &mut Subscription) -> Vec<String> {
        match tokio::time::timeout(Duration::from_secs(10), sub.rx.recv()).await {
            Ok(Some(Routed::Events(evs))) => evs.iter().map(|e| e.object.key.clone()).collect(),
            other => panic!("expected events, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn each_session_gets_its_nodes_pods_and_every_config_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), crate::resources::ALL).expect("store");
        let router = NodeRouter::start(store.clone());
        let mut a = router.subscribe("a");
        let mut b = router.subscribe("b");
        let pods = &crate::resources::PODS;
        store
            .create(&pods, "default", pod("p1", "a"))
            .await
            .expect("p1");
        assert_eq!(recv(&mut a).await, ["pods/default/p1"]);
        store
            .create(&pods, "default", pod("p2", "b"))
            .await
            .expect("p2");
        assert_eq!(recv(&mut b).await, ["pods/default/p2"]);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}});
        store
            .create(&crate::resources::CONFIGMAPS, "default", cm)
            .await
            .expect("cm");
        assert_eq!(recv(&mut a).await, ["configmaps/default/cfg"]);
        assert_eq!(recv(&mut b).await, ["configmaps/default/cfg"]);
        assert!(
            a.rx.try_recv().is_err() && b.rx.try_recv().is_err(),
            "nothing else"
        );

        // A reconnect replaces the subscription; the old receiver ends.
        let mut a2 = router.subscribe("a");
        assert!(matches!(
            tokio::time::timeout(Duration::from_secs(5), a.rx.recv()).await,
            Ok(None)
        ));
        drop(a); // must not unsubscribe the newer session
        store
            .create(&pods, "default", pod("p3", "a"))
            .await
            .expect("p3");
        assert_eq!(recv(&mut a2).await, ["pods/default/p3"]);
        drop(b);
        assert_eq!(router.sessions(), 1);
    }

    #[tokio::test]
    async fn a_session_that_falls_behind_gets_a_resync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), crate::resources::ALL).expect("store");
        let router = NodeRouter::start(store.clone());
        let mut slow = router.subscribe("slow");
        let pods = &crate::resources::PODS;
        // One write per batch fills the queue (writes are awaited one by one).
        for i in 0..(QUEUE_BATCHES * 2) {
            store
                .create(pods, "default", pod(&format!("p{i}"), "slow"))
                .await
                .expect("pod");
        }
        let mut got_resync = false;
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(5), slow.rx.recv()).await {
            if matches!(m, Routed::Resync) {
                got_resync = true;
                break;
            }
        }
        assert!(got_resync, "the overflowing session is told to resync");
    }
}
