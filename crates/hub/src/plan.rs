//! Compiles a Kubernetes Pod into the compact [`PodPlan`] an agent runs, so the agent never
//! needs the Kubernetes object model. Pure: object in, plan out.

use k8s_openapi::api::core::v1::{Container, Pod};
use shoal_transport::wire::{
    ContainerPlan, MountPlan, PodPlan, PortPlan, PullPolicy, RestartPolicy, VolumePlan,
};

pub fn compile(pod: &Pod, revision: u64) -> PodPlan {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let pairs = |m: &Option<std::collections::BTreeMap<String, String>>| -> Vec<(String, String)> {
        m.as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let pod_name = meta.name.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    let node_name = spec.node_name.clone().unwrap_or_default();
    let downward = |c: &Container| {
        container(
            c,
            &pod_name,
            &namespace,
            &node_name,
            meta.uid.as_deref().unwrap_or_default(),
        )
    };
    let volumes = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            if let Some(e) = &v.empty_dir {
                Some(VolumePlan::EmptyDir {
                    name: v.name.clone(),
                    medium_memory: e.medium.as_deref() == Some("Memory"),
                })
            } else {
                v.host_path.as_ref().map(|h| VolumePlan::HostPath {
                    name: v.name.clone(),
                    path: h.path.clone(),
                    kind: h.type_.clone().unwrap_or_default(),
                })
            }
        })
        .collect();
    PodPlan {
        uid: meta.uid.clone().unwrap_or_default(),
        namespace: namespace.clone(),
        name: pod_name.clone(),
        revision,
        labels: pairs(&meta.labels),
        annotations: pairs(&meta.annotations),
        restart_policy: match spec.restart_policy.as_deref() {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        },
        termination_grace_period_seconds: spec.termination_grace_period_seconds.unwrap_or(30).max(0)
            as u64,
        runtime_class: spec.runtime_class_name.clone().unwrap_or_default(),
        hostname: spec.hostname.clone().unwrap_or_else(|| pod_name.clone()),
        host_network: spec.host_network.unwrap_or(false),
        init_containers: spec
            .init_containers
            .iter()
            .flatten()
            .map(downward)
            .collect(),
        containers: spec.containers.iter().map(downward).collect(),
        volumes,
        deletion_grace_period_seconds: meta.deletion_grace_period_seconds.map(|s| s.max(0) as u64),
        enable_service_links: spec.enable_service_links.unwrap_or(true),
        dns_policy: spec
            .dns_policy
            .clone()
            .unwrap_or_else(|| "ClusterFirst".into()),
        dns_servers: Vec::new(),
        dns_search: Vec::new(),
        dns_options: Vec::new(),
    }
}

fn container(c: &Container, pod: &str, namespace: &str, node: &str, uid: &str) -> ContainerPlan {
    let mut env = Vec::new();
    for e in c.env.iter().flatten() {
        if let Some(v) = &e.value {
            env.push((e.name.clone(), expand(v, &env)));
        } else if let Some(f) = e.value_from.as_ref().and_then(|vf| vf.field_ref.as_ref()) {
            let v = match f.field_path.as_str() {
                "metadata.name" => pod.to_string(),
                "metadata.namespace" => namespace.to_string(),
                "metadata.uid" => uid.to_string(),
                "spec.nodeName" => node.to_string(),
                _ => String::new(),
            };
            env.push((e.name.clone(), v));
        } else {
            env.push((e.name.clone(), String::new()));
        }
    }
    let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
    ContainerPlan {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_pull_policy: match c.image_pull_policy.as_deref() {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            _ => PullPolicy::IfNotPresent,
        },
        command: c.command.clone().unwrap_or_default(),
        args: c.args.clone().unwrap_or_default(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        env,
        ports: c
            .ports
            .iter()
            .flatten()
            .map(|p| PortPlan {
                name: p.name.clone().unwrap_or_default(),
                container_port: u16::try_from(p.container_port).unwrap_or(0),
                host_port: p.host_port.and_then(|h| u16::try_from(h).ok()).unwrap_or(0),
                host_ip: p.host_ip.clone().unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            })
            .collect(),
        volume_mounts: c
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| MountPlan {
                name: m.name.clone(),
                mount_path: m.mount_path.clone(),
                read_only: m.read_only.unwrap_or(false),
                sub_path: m.sub_path.clone().unwrap_or_default(),
            })
            .collect(),
        cpu_limit_millis: limits
            .and_then(|l| l.get("cpu"))
            .map(|q| cpu_millis(&q.0))
            .unwrap_or(0),
        memory_limit_bytes: limits
            .and_then(|l| l.get("memory"))
            .map(|q| memory_bytes(&q.0))
            .unwrap_or(0),
    }
}

/// `$(VAR)` references to earlier variables, as Kubernetes expands them; `$$` escapes.
fn expand(v: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match env.iter().rev().find(|(k, _)| k == name) {
                        Some((_, val)) => out.push_str(val),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Kubernetes CPU quantity to millicores ("500m", "1", "0.5").
pub fn cpu_millis(q: &str) -> u64 {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().unwrap_or(0);
    }
    q.parse::<f64>()
        .map(|c| (c * 1000.0).round().max(0.0) as u64)
        .unwrap_or(0)
}

/// Kubernetes memory quantity to bytes ("128Mi", "1G", "1e6", "1024").
pub fn memory_bytes(q: &str) -> u64 {
    let q = q.trim();
    const SUFFIXES: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
        ("Ei", 1 << 60),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
        ("E", 1_000_000_000_000_000_000),
    ];
    for (s, mult) in SUFFIXES {
        if let Some(n) = q.strip_suffix(s) {
            return n
                .parse::<f64>()
                .map(|v| (v * *mult as f64) as u64)
                .unwrap_or(0);
        }
    }
    q.parse::<f64>().map(|v| v.max(0.0) as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_a_pod() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "restartPolicy": "OnFailure", "containers": [{
                "name": "httpd", "image": "localhost/busybox:latest", "command": ["httpd"], "args": ["-f", "-p", "8080"],
                "env": [{"name": "A", "value": "x"}, {"name": "B", "value": "$(A)-y-$$(A)"},
                        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                "ports": [{"containerPort": 8080, "hostPort": 18080}],
                "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}
            }], "volumes": [{"name": "scratch", "emptyDir": {}}]}
        }))
        .expect("pod");
        let p = compile(&pod, 42);
        assert_eq!(p.uid, "u1");
        assert_eq!(p.revision, 42);
        assert_eq!(p.restart_policy, RestartPolicy::OnFailure);
        let c = &p.containers[0];
        assert_eq!(c.command, vec!["httpd"]);
        assert_eq!(
            c.env,
            vec![
                ("A".into(), "x".into()),
                ("B".into(), "x-y-$(A)".into()),
                ("NODE".into(), "n1".into())
            ]
        );
        assert_eq!(c.ports[0].host_port, 18080);
        assert_eq!(c.cpu_limit_millis, 250);
        assert_eq!(c.memory_limit_bytes, 64 << 20);
        assert_eq!(
            p.volumes,
            vec![VolumePlan::EmptyDir {
                name: "scratch".into(),
                medium_memory: false
            }]
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(cpu_millis("2"), 2000);
        assert_eq!(cpu_millis("0.5"), 500);
        assert_eq!(memory_bytes("1Gi"), 1 << 30);
        assert_eq!(memory_bytes("1e3"), 1000);
        assert_eq!(memory_bytes("junk"), 0);
    }
}
