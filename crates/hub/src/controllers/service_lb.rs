//! LoadBalancer Services without a cloud, as K3s' ServiceLB does on bare metal: every agent
//! serves every Service's NodePorts, so a LoadBalancer Service is reachable at each Ready
//! node's address, and `status.loadBalancer.ingress` lists those addresses.
//!
//! Data flow: LoadBalancer Service changes queue that Service; Node changes queue every
//! LoadBalancer Service (few of them; nodes change rarely, heartbeats write no revision).
//! [`ingress_for`] is the pure core.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::{str_at, Controller, ControllerError, Key, Millis};
use crate::resources::{NODES, SERVICES};
use crate::store::{EventType, Store, StoreError, WatchEvent};

#[derive(Default)]
pub struct LoadBalancerController {
    /// Keys of the LoadBalancer Services.
    services: BTreeSet<Key>,
}

fn is_lb(v: &Value) -> bool {
    str_at(v, "/spec/type") == "LoadBalancer"
}

impl Controller for LoadBalancerController {
    const NAME: &'static str = "service-lb";

    fn resync(&mut self, store: &Store) -> Vec<Key> {
        self.services = store
            .list(&SERVICES, None, &|_| true, None, 0)
            .items
            .iter()
            .filter(|o| is_lb(&o.value()))
            .map(|o| {
                let (ns, n) = o.namespace_and_name();
                (ns.to_string(), n.to_string())
            })
            .collect();
        self.services.iter().cloned().collect()
    }

    fn keys_for(&mut self, _store: &Store, ev: &WatchEvent, out: &mut Vec<Key>) {
        if ev.object.key.starts_with("services/") {
            let (ns, n) = ev.object.namespace_and_name();
            let key = (ns.to_string(), n.to_string());
            if ev.event_type != EventType::Deleted && is_lb(&ev.object.value()) {
                self.services.insert(key.clone());
                out.push(key);
            } else {
                self.services.remove(&key);
            }
        } else if ev.object.key.starts_with("nodes/") {
            out.extend(self.services.iter().cloned());
        }
    }

    async fn sync(
        &mut self,
        store: &Store,
        key: &Key,
        _now: Millis,
    ) -> Result<Option<Duration>, ControllerError> {
        let nodes: Vec<Value> = store
            .list(&NODES, None, &|_| true, None, 0)
            .items
            .iter()
            .map(|o| o.value())
            .collect();
        let ingress = ingress_for(&nodes);
        let r = store
            .mutate(
                &SERVICES,
                &key.0,
                &key.1,
                Box::new(move |old| {
                    if !is_lb(old) {
                        return Ok(None);
                    }
                    let mut v = old.clone();
                    v["status"]["loadBalancer"] = if ingress.is_empty() {
                        json!({})
                    } else {
                        json!({ "ingress": ingress })
                    };
                    Ok(Some(v))
                }),
            )
            .await;
        match r {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// `status.loadBalancer.ingress` entries: the InternalIP of every Ready node, sorted.
pub fn ingress_for(nodes: &[Value]) -> Vec<Value> {
    let mut ips: Vec<String> = nodes
        .iter()
        .filter(|n| {
            n.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
        .filter_map(|n| {
            n.pointer("/status/addresses")
                .and_then(Value::as_array)?
                .iter()
                .find(|a| a["type"] == "InternalIP")
                .and_then(|a| a["address"].as_str())
                .filter(|a| !a.is_empty())
                .map(str::to_string)
        })
        .collect();
    ips.sort();
    ips.dedup();
    ips.into_iter()
        .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ip: &str, ready: &str) -> Value {
        json!({"status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": "h"}],
            "conditions": [{"type": "Ready", "status": ready}]}})
    }

    #[test]
    fn ready_nodes_are_the_ingress() {
        let nodes = [
            node("127.0.0.3", "True"),
            node("127.0.0.2", "True"),
            node("127.0.0.4", "Unknown"),
        ];
        assert_eq!(
            ingress_for(&nodes),
            vec![
                json!({"ip": "127.0.0.2", "ipMode": "VIP"}),
                json!({"ip": "127.0.0.3", "ipMode": "VIP"})
            ]
        );
        assert!(ingress_for(&[]).is_empty());
    }
}
