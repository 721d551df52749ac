//! What the hub knows about node liveness without writing it to the store: when each node
//! was last heard over MQTT, and whether the hub's own MQTT connection is up.
//!
//! Status ingest writes it; node lifecycle reads it. Design: heartbeats are deliberately kept
//! in memory (a write per beat would cost a store revision each, fleet-wide); the broker
//! state lets node lifecycle pause while the hub cannot hear anyone, instead of declaring
//! the whole fleet lost because of the hub's own outage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
struct State {
    heard: HashMap<String, u64>,
    broker_up: bool,
    /// When `broker_up` last changed (ms since the epoch).
    broker_since: u64,
}

/// Shared liveness state; cheap to clone. The default says "broker up since the epoch", so
/// code that runs without status ingest (benchmarks, tests) is never paused.
#[derive(Clone, Debug)]
pub struct Heartbeats {
    inner: Arc<Mutex<State>>,
}

impl Default for Heartbeats {
    fn default() -> Self {
        Heartbeats {
            inner: Arc::new(Mutex::new(State {
                heard: HashMap::new(),
                broker_up: true,
                broker_since: 0,
            })),
        }
    }
}

impl Heartbeats {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `node` was heard at `ms` (kept only if newer than what is known; a time in the future,
    /// from a node's wrong clock, counts as now).
    pub fn record(&self, node: &str, ms: u64) {
        let ms = ms.min(shoal_transport::status::now_ms());
        let mut s = self.lock();
        let e = s.heard.entry(node.to_string()).or_insert(ms);
        *e = (*e).max(ms);
    }

    /// When each node was last heard.
    pub fn snapshot(&self) -> HashMap<String, u64> {
        self.lock().heard.clone()
    }

    /// The hub's broker connection went up or down at `now`.
    pub fn set_broker(&self, up: bool, now: u64) {
        let mut s = self.lock();
        if s.broker_up != up {
            s.broker_up = up;
            s.broker_since = now;
        }
    }

    /// `(up, since)`: whether the hub hears the broker, and since when.
    pub fn broker(&self) -> (bool, u64) {
        let s = self.lock();
        (s.broker_up, s.broker_since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_keep_the_newest_and_broker_transitions_are_dated() {
        let h = Heartbeats::default();
        assert_eq!(h.broker(), (true, 0));
        h.record("a", 10);
        h.record("a", 5);
        assert_eq!(h.snapshot().get("a"), Some(&10));
        h.set_broker(false, 100);
        h.set_broker(false, 200);
        assert_eq!(h.broker(), (false, 100), "a repeated state keeps its date");
        h.set_broker(true, 300);
        assert_eq!(h.broker(), (true, 300));
    }
}
