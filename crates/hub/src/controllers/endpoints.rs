//! The Endpoints controller: keeps one Endpoints object per Service with a selector, listing
//! the addresses of the selected pods, ready ones in `addresses` and the others in
//! `notReadyAddresses`, with each Service port resolved against each pod (`targetPort` by
//! number, or by container port name).
//!
//! Data flow: Service changes queue that Service; pod changes queue the Services of the pod's
//! namespace whose selector matches the pod's old or new labels (kept in a small in-memory
//! index of selectors); changes to an Endpoints object queue its Service, so a hand edit is
//! put back. [`endpoints_subsets`] is the pure core: the Service and its pods in, the
//! `subsets` out. The sync writes only when the subsets changed.
//!
//! Services without a selector keep whatever Endpoints the user wrote; a deleted Service takes
//! its Endpoints with it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{json, Value};

use super::{
    name_of, pod_is_ready, selector_from_map, str_at, Controller, ControllerError, Key, Millis,
};
use crate::resources::{ENDPOINTS, PODS, SERVICES};
use crate::selector::LabelSelector;
use crate::store::{EventType, Store, StoreError, WatchEvent};

/// Endpoints for every Service with a selector.
#[derive(Default)]
pub struct EndpointsController {
    /// namespace -> service name -> selector.
    selectors: HashMap<String, HashMap<String, LabelSelector>>,
}

impl EndpointsController {
    fn index(&mut self, ns: &str, name: &str, svc: Option<&Value>) {
        let sel = svc.and_then(|s| selector_from_map(s.pointer("/spec/selector")));
        match sel {
            Some(sel) => {
                self.selectors
                    .entry(ns.to_string())
                    .or_default()
                    .insert(name.to_string(), sel);
            }
            None => {
                if let Some(m) = self.selectors.get_mut(ns) {
                    m.remove(name);
                }
            }
        }
    }
}

impl Controller for EndpointsController {
    const NAME: &'static str = "endpoints";

    fn resync(&mut self, store: &Store) -> Vec<Key> {
        self.selectors.clear();
        let mut keys = Vec::new();
        for o in store.list(&SERVICES, None, &|_| true, None, 0).items {
            let v = o.value();
            let (ns, name) = o.namespace_and_name();
            self.index(ns, name, Some(&v));
            keys.push((ns.to_string(), name.to_string()));
        }
        // Endpoints whose Service is gone (deleted while the hub was down).
        for o in store.list(&ENDPOINTS, None, &|_| true, None, 0).items {
            let (ns, name) = o.namespace_and_name();
            if store.get(&SERVICES, ns, name).is_none() {
                keys.push((ns.to_string(), name.to_string()));
            }
        }
        keys
    }

    fn keys_for(&mut self, _store: &Store, ev: &WatchEvent, out: &mut Vec<Key>) {
        let (ns, name) = ev.object.namespace_and_name();
        let (ns, name) = (ns.to_string(), name.to_string());
        if ev.object.key.starts_with("services/") {
            let v = (ev.event_type != EventType::Deleted).then(|| ev.object.value());
            self.index(&ns, &name, v.as_ref());
            out.push((ns, name));
            return;
        }
        if ev.object.key.starts_with("endpoints/") {
            out.push((ns, name));
            return;
        }
        if !ev.object.key.starts_with("pods/") {
            return;
        }
        let Some(sels) = self.selectors.get(&ns) else {
            return;
        };
        // Design: the store extracted the labels at write time; no parse per pod change.
        for (svc, sel) in sels {
            if sel.matches(&ev.object) || ev.previous.as_deref().is_some_and(|p| sel.matches(p)) {
                out.push((ns.clone(), svc.clone()));
            }
        }
    }

    async fn sync(
        &mut self,
        store: &Store,
        key: &Key,
        _now: Millis,
    ) -> Result<Option<Duration>, ControllerError> {
        let (ns, name) = (key.0.as_str(), key.1.as_str());
        let existing = store.get(&ENDPOINTS, ns, name);
        let Some(svc) = store.get(&SERVICES, ns, name).map(|o| o.value()) else {
            if existing.is_some() {
                match store.delete(&ENDPOINTS, ns, name, None).await {
                    Ok(_) | Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(None);
        };
        let Some(sel) = selector_from_map(svc.pointer("/spec/selector")) else {
            return Ok(None); // user-managed Endpoints
        };
        let pods: Vec<Value> = store
            .list(
                &PODS,
                Some(ns),
                &|o| {
                    let labels: BTreeMap<String, String> = o.labels.iter().cloned().collect();
                    sel.matches_map(&labels)
                },
                None,
                0,
            )
            .items
            .iter()
            .map(|o| o.value())
            .collect();
        let subsets = endpoints_subsets(&svc, &pods);
        let labels = svc
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or_else(|| json!({}));
        match existing {
            None => {
                let ep = json!({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "subsets": subsets});
                match store.create(&ENDPOINTS, ns, ep).await {
                    Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Some(_) => {
                store
                    .mutate(
                        &ENDPOINTS,
                        ns,
                        name,
                        Box::new(move |old| {
                            let mut v = old.clone();
                            v["subsets"] = subsets;
                            v["metadata"]["labels"] = labels;
                            Ok(Some(v))
                        }),
                    )
                    .await?;
            }
        }
        Ok(None)
    }
}

/// One pod's address entry.
fn address(pod: &Value, ip: &str) -> Value {
    let mut a = json!({
        "ip": ip,
        "targetRef": {"kind": "Pod", "namespace": str_at(pod, "/metadata/namespace"),
                      "name": name_of(pod), "uid": str_at(pod, "/metadata/uid")},
    });
    let node = str_at(pod, "/spec/nodeName");
    if !node.is_empty() {
        a["nodeName"] = json!(node);
    }
    a
}

/// The container port a Service port's `targetPort` names in `pod`: a number as is, a name
/// looked up among the pod's container ports (`None` when the pod has no such port).
pub fn resolve_target_port(service_port: &Value, pod: &Value) -> Option<i64> {
    match service_port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => match s.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)?
                .iter()
                .flat_map(|c| {
                    c.get("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                })
                .find(|p| p.get("name").and_then(Value::as_str) == Some(s.as_str()))
                .and_then(|p| p.get("containerPort"))
                .and_then(Value::as_i64),
        },
        _ => service_port.get("port").and_then(Value::as_i64),
    }
}

/// The Endpoints `subsets` for `svc` over the pods its selector matches (pure). Pods that
/// finished, are being deleted or have no IP yet are left out; the rest are grouped by the
/// ports they resolve to (pods with the same container ports share a subset), addresses
/// sorted by IP so the result is stable.
pub fn endpoints_subsets(svc: &Value, pods: &[Value]) -> Value {
    let ports: Vec<Value> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let publish_not_ready = svc
        .pointer("/spec/publishNotReadyAddresses")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    /// One subset being built: its ports, ready and not-ready addresses.
    #[derive(Default)]
    struct Group {
        ports: Vec<Value>,
        ready: Vec<Value>,
        not_ready: Vec<Value>,
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for pod in pods {
        if !super::pod_is_active(pod) {
            continue;
        }
        let ip = str_at(pod, "/status/podIP");
        if ip.is_empty() {
            continue;
        }
        let resolved: Vec<Value> = ports
            .iter()
            .filter_map(|p| {
                let port = resolve_target_port(p, pod)?;
                let mut e = json!({"port": port, "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))});
                if let Some(n) = p.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                    e["name"] = json!(n);
                }
                Some(e)
            })
            .collect();
        if !ports.is_empty() && resolved.is_empty() {
            continue;
        }
        let gkey = serde_json::to_string(&resolved).unwrap_or_default();
        let g = groups.entry(gkey).or_insert_with(|| Group {
            ports: resolved.clone(),
            ..Default::default()
        });
        if pod_is_ready(pod) || publish_not_ready {
            g.ready.push(address(pod, ip));
        } else {
            g.not_ready.push(address(pod, ip));
        }
    }
    let by_ip = |a: &Value, b: &Value| {
        let ip = |v: &Value| {
            str_at(v, "/ip")
                .parse::<std::net::Ipv4Addr>()
                .map(u32::from)
                .unwrap_or(0)
        };
        ip(a)
            .cmp(&ip(b))
            .then_with(|| str_at(a, "/ip").cmp(str_at(b, "/ip")))
    };
    let subsets: Vec<Value> = groups
        .into_values()
        .map(
            |Group {
                 ports,
                 mut ready,
                 mut not_ready,
             }| {
                ready.sort_by(by_ip);
                not_ready.sort_by(by_ip);
                let mut s = json!({});
                if !ready.is_empty() {
                    s["addresses"] = json!(ready);
                }
                if !not_ready.is_empty() {
                    s["notReadyAddresses"] = json!(not_ready);
                }
                if !ports.is_empty() {
                    s["ports"] = json!(ports);
                }
                s
            },
        )
        .collect();
    json!(subsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, ready: bool, phase: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": phase, "podIP": ip,
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    fn svc(ports: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": ports}})
    }

    #[test]
    fn ready_and_not_ready_pods_are_apart_and_sorted() {
        let s = svc(
            json!([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                           {"name": "alt", "port": 81, "targetPort": 9090, "protocol": "TCP"}]),
        );
        let pods = vec![
            pod("b", "10.88.0.10", true, "Running"),
            pod("a", "10.88.0.9", true, "Running"),
            pod("c", "10.88.0.11", false, "Running"),
            pod("done", "10.88.0.12", true, "Succeeded"),
            pod("new", "", false, "Pending"),
        ];
        let subsets = endpoints_subsets(&s, &pods);
        assert_eq!(subsets.as_array().map(Vec::len), Some(1), "{subsets}");
        let s0 = &subsets[0];
        let ips: Vec<&str> = s0["addresses"]
            .as_array()
            .expect("ready")
            .iter()
            .map(|a| a["ip"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(ips, vec!["10.88.0.9", "10.88.0.10"]);
        assert_eq!(s0["addresses"][0]["targetRef"]["name"], "a");
        assert_eq!(s0["addresses"][0]["nodeName"], "n1");
        assert_eq!(s0["notReadyAddresses"][0]["ip"], "10.88.0.11");
        assert_eq!(
            s0["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "alt", "port": 9090, "protocol": "TCP"}])
        );
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let s = svc(json!([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]));
        let mut other = pod("o", "10.88.0.20", true, "Running");
        other["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(9000);
        let mut unnamed = pod("u", "10.88.0.21", true, "Running");
        unnamed["spec"]["containers"][0]["ports"] = json!([]);
        let subsets = endpoints_subsets(
            &s,
            &[pod("a", "10.88.0.9", true, "Running"), other, unnamed],
        );
        let arr = subsets.as_array().expect("subsets");
        assert_eq!(arr.len(), 2, "two port sets: {subsets}");
        let ports: Vec<i64> = arr
            .iter()
            .map(|s| s["ports"][0]["port"].as_i64().unwrap_or_default())
            .collect();
        assert!(ports.contains(&8080) && ports.contains(&9000), "{ports:?}");
        assert!(
            !subsets.to_string().contains("10.88.0.21"),
            "a pod without the named port is no endpoint"
        );
    }

    #[test]
    fn deleting_pods_drop_out_and_headless_needs_no_ports() {
        let s = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "selector": {"app": "web"}}});
        let mut going = pod("g", "10.88.0.30", true, "Running");
        going["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let subsets = endpoints_subsets(&s, &[pod("a", "10.88.0.9", true, "Running"), going]);
        assert_eq!(
            subsets,
            json!([{"addresses": [address(&pod("a", "10.88.0.9", true, "Running"), "10.88.0.9")]}])
        );
        assert_eq!(endpoints_subsets(&s, &[]), json!([]));
    }

    #[test]
    fn target_port_defaults_to_the_port() {
        let p = pod("a", "1.2.3.4", true, "Running");
        assert_eq!(resolve_target_port(&json!({"port": 80}), &p), Some(80));
        assert_eq!(
            resolve_target_port(&json!({"port": 80, "targetPort": "8080"}), &p),
            Some(8080)
        );
        assert_eq!(
            resolve_target_port(&json!({"port": 80, "targetPort": "nope"}), &p),
            None
        );
    }
}
