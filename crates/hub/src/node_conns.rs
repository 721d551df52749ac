//! Which agents are connected right now, by node name: the QUIC connection the API opens logs
//! and exec streams on.
//!
//! Design: agents dial out (they sit behind NAT), so the hub can reach a node only over the
//! connection the node made. Each [`NodeSession`](crate::node_session::NodeSession) registers
//! its connection for as long as it runs; the map holds one entry per connected node (bounded
//! by the fleet) and never a closed session's: the [`Registration`] guard removes its entry
//! when the session ends, unless a newer connection of the same node replaced it already.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct NodeConns {
    inner: Arc<Mutex<HashMap<String, quinn::Connection>>>,
}

impl NodeConns {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, quinn::Connection>> {
        // Every critical section is a single map operation: the data is consistent even if a
        // holder panicked.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `conn` the node's connection until the returned guard is dropped.
    pub fn register(&self, node: &str, conn: quinn::Connection) -> Registration {
        let id = conn.stable_id();
        self.lock().insert(node.to_string(), conn);
        Registration {
            conns: self.clone(),
            node: node.to_string(),
            id,
        }
    }

    /// The node's live connection, if it is connected.
    pub fn get(&self, node: &str) -> Option<quinn::Connection> {
        let conn = self.lock().get(node).cloned()?;
        conn.close_reason().is_none().then_some(conn)
    }

    /// How many nodes are connected.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes a node's registration when dropped (if it is still this connection's).
pub struct Registration {
    conns: NodeConns,
    node: String,
    id: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self.conns.lock();
        if map
            .get(&self.node)
            .is_some_and(|c| c.stable_id() == self.id)
        {
            map.remove(&self.node);
        }
    }
}
