//! `metrics.k8s.io/v1beta1`, served from the in-memory [`crate::metrics::Metrics`] the agents
//! fill over MQTT, so `kubectl top nodes|pods` works without a metrics-server. Read-only
//! (`get`, `list`); authorised like reading nodes and pods.

use serde_json::{json, Value};

use super::error::ApiError;
use super::handlers::json_response;
use super::{authz, ApiState};
use crate::metrics::{cpu_quantity, memory_quantity};
use shoal_transport::status::rfc3339_from_ms;

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";

/// Discovery: the group's versions.
pub fn group() -> Value {
    let v = json!({"groupVersion": format!("{GROUP}/{VERSION}"), "version": VERSION});
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [v], "preferredVersion": v})
}

/// Discovery: the group's resources.
pub fn resource_list() -> Value {
    let res = |name: &str, kind: &str, namespaced: bool| json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get", "list"]});
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/{VERSION}"),
           "resources": [res("nodes", "NodeMetrics", false), res("pods", "PodMetrics", true)]})
}

fn window(ms: u64) -> String {
    format!("{}s", (ms / 1000).max(1))
}

/// Serves `/apis/metrics.k8s.io/v1beta1/<rest>` for GETs.
pub fn serve(
    state: &ApiState,
    user: &super::auth::User,
    rest: &[&str],
) -> Result<actix_web::HttpResponse, ApiError> {
    let perms = authz::Permissions::of(user);
    let check = |core_path: &[&str]| -> Result<(), ApiError> {
        let target = super::request::parse_target("", "v1", core_path)?;
        authz::authorize(user, &perms, &target, "list")
    };
    let list = |kind: &str, items: Vec<Value>| {
        json!({"kind": format!("{kind}List"), "apiVersion": format!("{GROUP}/{VERSION}"),
               "metadata": {}, "items": items})
    };
    match rest {
        ["nodes"] | ["nodes", _] => {
            check(&["nodes"])?;
            let items: Vec<Value> = state
                .metrics
                .nodes()
                .into_iter()
                .filter(|n| rest.get(1).is_none_or(|name| n.node_name == *name))
                .map(|n| {
                    json!({"metadata": {"name": n.node_name, "creationTimestamp": rfc3339_from_ms(n.observed_at_ms)},
                           "timestamp": rfc3339_from_ms(n.observed_at_ms), "window": window(n.window_ms),
                           "usage": {"cpu": cpu_quantity(n.cpu_nanocores), "memory": memory_quantity(n.memory_bytes)}})
                })
                .collect();
            match rest {
                ["nodes", name] => items
                    .into_iter()
                    .next()
                    .map(|n| json_response(200, &with_kind(n, "NodeMetrics")))
                    .ok_or_else(|| {
                        ApiError::not_found(format!(
                            "nodemetrics.metrics.k8s.io \"{name}\" not found"
                        ))
                    }),
                _ => Ok(json_response(200, &list("NodeMetrics", items))),
            }
        }
        ["pods"] | ["namespaces", _, "pods"] | ["namespaces", _, "pods", _] => {
            let namespace = match rest {
                ["namespaces", ns, ..] => Some(*ns),
                _ => None,
            };
            match namespace {
                Some(ns) => check(&["namespaces", ns, "pods"])?,
                None => check(&["pods"])?,
            }
            let name = rest.get(3).copied();
            let items: Vec<Value> = state
                .metrics
                .pods(namespace)
                .into_iter()
                .filter(|(_, _, p)| name.is_none_or(|n| p.name == n))
                .filter(|(_, _, p)| perms.can_read_namespace(&p.namespace))
                .map(|(at, win, p)| {
                    let containers: Vec<Value> = p
                        .containers
                        .iter()
                        .map(|c| json!({"name": c.name, "usage": {"cpu": cpu_quantity(c.cpu_nanocores), "memory": memory_quantity(c.memory_bytes)}}))
                        .collect();
                    json!({"metadata": {"name": p.name, "namespace": p.namespace, "creationTimestamp": rfc3339_from_ms(at)},
                           "timestamp": rfc3339_from_ms(at), "window": window(win), "containers": containers})
                })
                .collect();
            match name {
                Some(n) => items
                    .into_iter()
                    .next()
                    .map(|p| json_response(200, &with_kind(p, "PodMetrics")))
                    .ok_or_else(|| {
                        ApiError::not_found(format!("podmetrics.metrics.k8s.io \"{n}\" not found"))
                    }),
                None => Ok(json_response(200, &list("PodMetrics", items))),
            }
        }
        _ => Err(ApiError::not_found(
            "the server could not find the requested resource",
        )),
    }
}

fn with_kind(mut v: Value, kind: &str) -> Value {
    v["kind"] = json!(kind);
    v["apiVersion"] = json!(format!("{GROUP}/{VERSION}"));
    v
}
