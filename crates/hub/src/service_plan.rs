//! Compiles a Service and its Endpoints into the compact [`ServicePlan`] every agent's service
//! proxy, DNS server and environment variables work from. Pure: objects and two look-ups in,
//! plan out.
//!
//! Design: Endpoints list pod IPs, as in Kubernetes. An edge fleet has no overlay network, so
//! the plan also carries, per endpoint, its node's address and the host port the pod publishes
//! for the endpoint's port (if any): an agent reaches a pod on another device through
//! `node_ip:host_port`, and a pod on its own device (or any pod whose IP is routable from it)
//! through `pod_ip:port`.

use serde_json::Value;
use shoal_transport::wire::{EndpointPlan, EndpointPortPlan, ServicePlan, ServicePortPlan};

use crate::store::{Store, StoredObject};

/// Kubernetes' default `sessionAffinityConfig.clientIP.timeoutSeconds`.
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn port_u16(v: Option<&Value>) -> u16 {
    v.and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(0)
}

/// The plan for `svc` with the subsets of `endpoints`. `node_ip(node)` gives a node's
/// address; `host_port(pod, port, protocol)` the host port a pod publishes for a container port.
pub fn compile(
    svc: &Value,
    endpoints: Option<&Value>,
    node_ip: &dyn Fn(&str) -> String,
    host_port: &dyn Fn(&str, u16, &str) -> u16,
) -> ServicePlan {
    let ports: Vec<ServicePortPlan> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| ServicePortPlan {
            name: s(p, "/name").to_string(),
            protocol: p
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string(),
            port: port_u16(p.get("port")),
            node_port: port_u16(p.get("nodePort")),
        })
        .collect();
    let mut eps: Vec<EndpointPlan> = Vec::new();
    for subset in endpoints
        .and_then(|e| e.get("subsets"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (list, ready) in [("addresses", true), ("notReadyAddresses", false)] {
            for a in subset
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let pod = s(a, "/targetRef/name");
                let node = s(a, "/nodeName");
                let ports = subset
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let port = port_u16(p.get("port"));
                        let protocol = p
                            .get("protocol")
                            .and_then(Value::as_str)
                            .unwrap_or("TCP")
                            .to_string();
                        EndpointPortPlan {
                            name: s(p, "/name").to_string(),
                            host_port: if pod.is_empty() {
                                0
                            } else {
                                host_port(pod, port, &protocol)
                            },
                            protocol,
                            port,
                        }
                    })
                    .collect();
                eps.push(EndpointPlan {
                    ip: s(a, "/ip").to_string(),
                    pod_name: pod.to_string(),
                    node_name: node.to_string(),
                    node_ip: if node.is_empty() {
                        String::new()
                    } else {
                        node_ip(node)
                    },
                    ready,
                    ports,
                });
            }
        }
    }
    ServicePlan {
        namespace: s(svc, "/metadata/namespace").to_string(),
        name: s(svc, "/metadata/name").to_string(),
        service_type: svc
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string(),
        cluster_ip: s(svc, "/spec/clusterIP").to_string(),
        external_name: s(svc, "/spec/externalName").to_string(),
        client_ip_affinity: s(svc, "/spec/sessionAffinity") == "ClientIP",
        affinity_timeout_seconds: svc
            .pointer("/spec/sessionAffinityConfig/clientIP/timeoutSeconds")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(DEFAULT_AFFINITY_TIMEOUT),
        ports,
        endpoints: eps,
    }
}

/// The InternalIP of a Node object.
pub fn node_internal_ip(node: &Value) -> String {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .map(|a| s(a, "/address").to_string())
        .unwrap_or_default()
}

/// The host port `pod` publishes for container port `port`/`protocol`, 0 when none.
pub fn pod_host_port(pod: &Value, port: u16, protocol: &str) -> u16 {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .find(|p| {
            port_u16(p.get("containerPort")) == port
                && p.get("protocol").and_then(Value::as_str).unwrap_or("TCP") == protocol
        })
        .map(|p| port_u16(p.get("hostPort")))
        .unwrap_or(0)
}

/// Compiles the Service `namespace/name` from the store (`None` when it does not exist).
pub fn compile_from_store(store: &Store, namespace: &str, name: &str) -> Option<ServicePlan> {
    let svc = store
        .get(&crate::resources::SERVICES, namespace, name)?
        .value();
    let eps = store
        .get(&crate::resources::ENDPOINTS, namespace, name)
        .map(|o| o.value());
    let node_ip = |node: &str| {
        store
            .get(&crate::resources::NODES, "", node)
            .map(|n| node_internal_ip(&n.value()))
            .unwrap_or_default()
    };
    let host_port = |pod: &str, port: u16, proto: &str| {
        store
            .get(&crate::resources::PODS, namespace, pod)
            .map(|p| pod_host_port(&p.value(), port, proto))
            .unwrap_or(0)
    };
    Some(compile(&svc, eps.as_ref(), &node_ip, &host_port))
}

/// Every Service in the store, compiled.
pub fn compile_all(store: &Store) -> Vec<ServicePlan> {
    store
        .list(&crate::resources::SERVICES, None, &|_| true, None, 0)
        .items
        .iter()
        .filter_map(|o: &std::sync::Arc<StoredObject>| {
            let (ns, name) = o.namespace_and_name();
            compile_from_store(store, ns, name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_ports_endpoints_and_reachability() {
        let svc = json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "NodePort", "clusterIP": "10.43.0.7", "sessionAffinity": "ClientIP",
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}]}});
        let eps = json!({"subsets": [{
            "addresses": [{"ip": "10.88.0.5", "nodeName": "a", "targetRef": {"name": "p1"}}],
            "notReadyAddresses": [{"ip": "10.88.0.6", "nodeName": "b", "targetRef": {"name": "p2"}}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]});
        let plan = compile(
            &svc,
            Some(&eps),
            &|n| format!("ip-of-{n}"),
            &|pod, port, _| {
                if pod == "p1" && port == 8080 {
                    18080
                } else {
                    0
                }
            },
        );
        assert_eq!(plan.cluster_ip, "10.43.0.7");
        assert_eq!(plan.service_type, "NodePort");
        assert!(plan.client_ip_affinity);
        assert_eq!(plan.affinity_timeout_seconds, DEFAULT_AFFINITY_TIMEOUT);
        assert_eq!(plan.ports[0].node_port, 30080);
        assert_eq!(plan.endpoints.len(), 2);
        assert!(plan.endpoints[0].ready && !plan.endpoints[1].ready);
        assert_eq!(plan.endpoints[0].node_ip, "ip-of-a");
        assert_eq!(plan.endpoints[0].ports[0].host_port, 18080);
        assert_eq!(plan.endpoints[1].ports[0].host_port, 0);
    }

    #[test]
    fn host_ports_come_from_the_pod_spec() {
        let pod = json!({"spec": {"containers": [{"ports": [
            {"containerPort": 8080, "hostPort": 18080, "protocol": "TCP"},
            {"containerPort": 53, "protocol": "UDP"}]}]}});
        assert_eq!(pod_host_port(&pod, 8080, "TCP"), 18080);
        assert_eq!(pod_host_port(&pod, 8080, "UDP"), 0);
        assert_eq!(pod_host_port(&pod, 53, "UDP"), 0);
    }
}
