//! EventGc: Events expire, as in Kubernetes (one hour by default), so the store's size stays
//! bounded however chatty the fleet is.
//!
//! [`expired`] is the pure core: an Event and `now` in, whether it has expired out.

use std::time::Duration;

use actix::prelude::*;
use serde_json::Value;

use crate::api::table::parse_rfc3339_ms;
use crate::resources::EVENTS;
use crate::store::{Store, StoreError};

/// How long an Event lives after it was last seen.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);
/// How often expired Events are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Most deletions per sweep, so a backlog cannot starve other writers.
const MAX_PER_SWEEP: usize = 2000;

/// Whether an Event last seen at `lastTimestamp` (or `eventTime`, or its creation) is older
/// than `ttl` at `now_ms`.
pub fn expired(ev: &Value, now_ms: u64, ttl: Duration) -> bool {
    let seen = [
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| ev.pointer(p).and_then(Value::as_str))
    .find_map(parse_rfc3339_ms);
    match seen {
        Some(t) => now_ms.saturating_sub(t) > ttl.as_millis() as u64,
        None => false,
    }
}

pub struct EventGc {
    pub store: Store,
    pub ttl: Duration,
}

impl Actor for EventGc {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (store, ttl) = (self.store.clone(), self.ttl);
        let fut = async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                let now = shoal_transport::status::now_ms();
                let old = store
                    .list(
                        &EVENTS,
                        None,
                        &|o| expired(&o.value(), now, ttl),
                        None,
                        MAX_PER_SWEEP,
                    )
                    .items;
                for o in old.iter().take(MAX_PER_SWEEP) {
                    let (ns, name) = o.namespace_and_name();
                    match store.delete(&EVENTS, ns, name, Some(o.revision)).await {
                        Ok(_)
                        | Err(StoreError::NotFound { .. })
                        | Err(StoreError::Conflict { .. }) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot delete an expired event"),
                    }
                }
            }
        };
        ctx.spawn(fut.into_actor(self));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_expire_an_hour_after_they_were_last_seen() {
        let now = parse_rfc3339_ms("2026-01-01T02:00:00Z").expect("ts");
        let ttl = EVENT_TTL;
        assert!(expired(
            &json!({"lastTimestamp": "2026-01-01T00:59:59Z"}),
            now,
            ttl
        ));
        assert!(!expired(
            &json!({"lastTimestamp": "2026-01-01T01:00:01Z"}),
            now,
            ttl
        ));
        assert!(!expired(
            &json!({"lastTimestamp": "2026-01-01T01:30:00Z", "metadata": {"creationTimestamp": "2020-01-01T00:00:00Z"}}),
            now,
            ttl
        ));
        assert!(expired(
            &json!({"metadata": {"creationTimestamp": "2020-01-01T00:00:00Z"}}),
            now,
            ttl
        ));
        assert!(!expired(&json!({}), now, ttl), "no time at all: keep");
    }
}
