//! Compiles a Kubernetes Pod into the compact [`PodPlan`] an agent runs, so the agent never
//! needs the Kubernetes object model. Pure: the pod, its revision and a read-only view of the
//! ConfigMaps and Secrets it references ([`ConfigSource`]) in, a plan out.
//!
//! What the hub resolves here, so that a device needs nothing but its plan (and keeps running
//! from it while offline): environment (literals with `$(VAR)` expansion, the downward API,
//! `configMapKeyRef`, `secretKeyRef`, `envFrom`), ConfigMap / Secret / downwardAPI / projected
//! volumes as files, probes with defaults applied and named ports resolved. A reference that
//! cannot be resolved (a missing ConfigMap that is not `optional`) does not fail the pod here:
//! the container's plan carries a `config_error`, the agent reports
//! `CreateContainerConfigError` like kubelet, and the node session recompiles the pod when the
//! ConfigMap or Secret appears or changes (see [`config_refs`]).

mod env;
mod probes;
mod quantity;
mod volumes;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use shoal_transport::wire::{
    ContainerPlan, MountPlan, PodPlan, PortPlan, PullPolicy, RestartPolicy,
};

pub use quantity::{cpu_millis, memory_bytes};

/// The keys and values of a ConfigMap (`data` and `binaryData`) or a Secret (`data`, decoded).
pub type ConfigData = BTreeMap<String, Vec<u8>>;

/// Read access to the ConfigMaps and Secrets a pod may reference.
pub trait ConfigSource {
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigData>;
    fn secret(&self, namespace: &str, name: &str) -> Option<ConfigData>;
}

/// A source with no ConfigMaps or Secrets at all.
pub struct NoConfig;

impl ConfigSource for NoConfig {
    fn config_map(&self, _: &str, _: &str) -> Option<ConfigData> {
        None
    }
    fn secret(&self, _: &str, _: &str) -> Option<ConfigData> {
        None
    }
}

/// Which kind of object a pod references.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigKind {
    ConfigMap,
    Secret,
}

/// Everything a pod's plan depends on besides the pod: when one of these changes, the plan
/// may change.
pub fn config_refs(pod: &Pod) -> Vec<(ConfigKind, String)> {
    let mut refs = Vec::new();
    let Some(spec) = &pod.spec else {
        return refs;
    };
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        env::refs(c, &mut refs);
    }
    for v in spec.volumes.iter().flatten() {
        volumes::refs(v, &mut refs);
    }
    refs.sort();
    refs.dedup();
    refs
}

/// Everything about the pod that environment and file projections may read.
pub(crate) struct PodFacts<'a> {
    pub pod: &'a Pod,
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    pub node: &'a str,
    pub config: &'a dyn ConfigSource,
}

impl PodFacts<'_> {
    /// A downward API `fieldRef`; `None` for fields the hub cannot know (the pod's IP).
    pub fn field(&self, path: &str) -> Option<String> {
        let meta = &self.pod.metadata;
        let spec = self.pod.spec.as_ref();
        let keyed = |m: &Option<BTreeMap<String, String>>, prefix: &str| -> Option<String> {
            let key = path
                .strip_prefix(prefix)?
                .strip_prefix("['")?
                .strip_suffix("']")?;
            Some(
                m.as_ref()
                    .and_then(|m| m.get(key))
                    .cloned()
                    .unwrap_or_default(),
            )
        };
        match path {
            "metadata.name" => Some(self.name.to_string()),
            "metadata.namespace" => Some(self.namespace.to_string()),
            "metadata.uid" => Some(self.uid.to_string()),
            "spec.nodeName" => Some(self.node.to_string()),
            "spec.serviceAccountName" => Some(
                spec.and_then(|s| s.service_account_name.clone())
                    .unwrap_or_else(|| "default".into()),
            ),
            "metadata.labels" => Some(format_map(&meta.labels)),
            "metadata.annotations" => Some(format_map(&meta.annotations)),
            _ => keyed(&meta.labels, "metadata.labels")
                .or_else(|| keyed(&meta.annotations, "metadata.annotations")),
        }
    }
}

/// Labels or annotations as the downward API writes them: `key="value"` lines, sorted.
fn format_map(m: &Option<BTreeMap<String, String>>) -> String {
    m.iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v:?}\n"))
        .collect()
}

pub fn compile(pod: &Pod, revision: u64, config: &dyn ConfigSource) -> PodPlan {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let pairs = |m: &Option<BTreeMap<String, String>>| -> Vec<(String, String)> {
        m.as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let pod_name = meta.name.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    let node_name = spec.node_name.clone().unwrap_or_default();
    let facts = PodFacts {
        pod,
        name: &pod_name,
        namespace: &namespace,
        uid: meta.uid.as_deref().unwrap_or_default(),
        node: &node_name,
        config,
    };
    let (volumes, volume_errors) = volumes::compile(&facts, spec.volumes.as_deref().unwrap_or(&[]));
    let compile_container = |c: &Container| {
        let mut plan = container(c, &facts);
        if plan.config_error.is_empty() {
            // The first volume this container mounts that could not be projected.
            if let Some(err) = c
                .volume_mounts
                .iter()
                .flatten()
                .find_map(|m| volume_errors.get(&m.name))
            {
                plan.config_error = err.clone();
            }
        }
        plan
    };
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
            .map(compile_container)
            .collect(),
        containers: spec.containers.iter().map(compile_container).collect(),
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

fn container(c: &Container, facts: &PodFacts<'_>) -> ContainerPlan {
    let (env, env_error) = env::compile(c, facts);
    let expand_all = |v: &Option<Vec<String>>| -> Vec<String> {
        v.iter().flatten().map(|a| env::expand(a, &env)).collect()
    };
    let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
    let (liveness_probe, readiness_probe, startup_probe, probe_error) = probes::compile(c);
    ContainerPlan {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_pull_policy: match c.image_pull_policy.as_deref() {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            _ => PullPolicy::IfNotPresent,
        },
        command: expand_all(&c.command),
        args: expand_all(&c.args),
        working_dir: c.working_dir.clone().unwrap_or_default(),
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
        env,
        config_error: env_error.or(probe_error).unwrap_or_default(),
        liveness_probe,
        readiness_probe,
        startup_probe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shoal_transport::wire::{ProbeAction, VolumePlan};

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
        let p = compile(&pod, 42, &NoConfig);
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

    struct Config;

    impl ConfigSource for Config {
        fn config_map(&self, ns: &str, name: &str) -> Option<ConfigData> {
            (ns == "default" && name == "settings").then(|| {
                [
                    ("LEVEL", "debug"),
                    ("app.conf", "port=80\n"),
                    ("bad key", "x"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect()
            })
        }
        fn secret(&self, ns: &str, name: &str) -> Option<ConfigData> {
            (ns == "default" && name == "creds")
                .then(|| [("password".to_string(), b"s3cret".to_vec())].into())
        }
    }

    fn pod_with(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1",
                         "labels": {"app": "web", "tier": "fe"}},
            "spec": spec,
        }))
        .expect("pod")
    }

    #[test]
    fn env_from_config_maps_secrets_and_the_downward_api() {
        let pod = pod_with(json!({"nodeName": "n1", "containers": [{
            "name": "c", "image": "i",
            "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
            "env": [
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}},
                {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": true}}},
                {"name": "CFG_LEVEL", "value": "override-$(LEVEL)"}
            ],
            "command": ["echo", "$(PASS)"],
            "resources": {"limits": {"memory": "100M"}}
        }]}));
        let c = &compile(&pod, 1, &Config).containers[0];
        assert_eq!(c.config_error, "");
        let env: BTreeMap<_, _> = c.env.iter().cloned().collect();
        assert_eq!(env["CFG_LEVEL"], "override-debug");
        assert_eq!(env["CFG_app.conf"], "port=80\n");
        assert!(
            !env.contains_key("CFG_bad key"),
            "invalid names are skipped"
        );
        assert_eq!(env["LEVEL"], "debug");
        assert_eq!(env["PASS"], "s3cret");
        assert_eq!(env["APP"], "web");
        assert_eq!(env["MEM"], "96");
        assert!(!env.contains_key("OPT"));
        assert_eq!(c.command, vec!["echo", "s3cret"]);
    }

    #[test]
    fn missing_references_become_config_errors() {
        let pod = pod_with(json!({"containers": [
            {"name": "a", "image": "i", "envFrom": [{"secretRef": {"name": "gone"}}]},
            {"name": "b", "image": "i",
             "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "nokey"}}}]},
            {"name": "c", "image": "i", "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]},
            {"name": "d", "image": "i"}
        ], "volumes": [{"name": "cfg", "configMap": {"name": "absent"}}]}));
        let p = compile(&pod, 1, &Config);
        assert_eq!(p.containers[0].config_error, "secret \"gone\" not found");
        assert_eq!(
            p.containers[1].config_error,
            "couldn't find key nokey in ConfigMap default/settings"
        );
        assert!(p.containers[2]
            .config_error
            .contains("configmap \"absent\" not found"));
        assert_eq!(p.containers[3].config_error, "");
        assert_eq!(
            config_refs(&pod),
            vec![
                (ConfigKind::ConfigMap, "absent".to_string()),
                (ConfigKind::ConfigMap, "settings".to_string()),
                (ConfigKind::Secret, "gone".to_string())
            ]
        );
    }

    #[test]
    fn projected_files() {
        let pod = pod_with(
            json!({"containers": [{"name": "c", "image": "i"}], "volumes": [
                {"name": "all", "configMap": {"name": "settings", "defaultMode": 0o600}},
                {"name": "some", "secret": {"secretName": "creds", "items": [{"key": "password", "path": "db/pass", "mode": 0o400}]}},
                {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "mix", "projected": {"sources": [
                    {"configMap": {"name": "settings", "items": [{"key": "LEVEL", "path": "level"}]}},
                    {"secret": {"name": "creds"}}]}},
                {"name": "evil", "configMap": {"name": "settings", "items": [{"key": "LEVEL", "path": "../../etc/passwd"}]}}
            ]}),
        );
        let p = compile(&pod, 1, &Config);
        let files = |name: &str| -> Vec<(String, String, u32)> {
            p.volumes
                .iter()
                .find_map(|v| match v {
                    VolumePlan::Files { name: n, files } if n == name => Some(
                        files
                            .iter()
                            .map(|f| {
                                (
                                    f.path.clone(),
                                    String::from_utf8_lossy(&f.data).into_owned(),
                                    f.mode,
                                )
                            })
                            .collect(),
                    ),
                    _ => None,
                })
                .unwrap_or_default()
        };
        assert_eq!(files("all").len(), 3);
        assert!(files("all").iter().all(|f| f.2 == 0o600));
        assert_eq!(
            files("some"),
            vec![("db/pass".into(), "s3cret".into(), 0o400)]
        );
        assert_eq!(
            files("info"),
            vec![("labels".into(), "app=\"web\"\ntier=\"fe\"\n".into(), 0o644)]
        );
        assert_eq!(
            files("mix"),
            vec![
                ("level".into(), "debug".into(), 0o644),
                ("password".into(), "s3cret".into(), 0o644)
            ]
        );
        assert!(files("evil").is_empty(), "unsafe paths are refused");
    }

    #[test]
    fn probes_get_defaults_and_named_ports() {
        let pod = pod_with(json!({"containers": [{"name": "c", "image": "i",
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"port": "http", "path": "/ready"}, "successThreshold": 2},
            "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 3, "successThreshold": 5},
            "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30}
        }, {"name": "g", "image": "i", "livenessProbe": {"grpc": {"port": 9000}}},
           {"name": "n", "image": "i", "readinessProbe": {"httpGet": {"port": "nope"}}}]}));
        let p = compile(&pod, 1, &NoConfig);
        let c = &p.containers[0];
        let r = c.readiness_probe.as_ref().expect("readiness");
        assert_eq!(
            r.action,
            ProbeAction::HttpGet {
                scheme: "HTTP".into(),
                host: String::new(),
                port: 8080,
                path: "/ready".into(),
                headers: vec![]
            }
        );
        assert_eq!(
            (
                r.period_seconds,
                r.timeout_seconds,
                r.success_threshold,
                r.failure_threshold
            ),
            (10, 1, 2, 3)
        );
        let l = c.liveness_probe.as_ref().expect("liveness");
        assert_eq!((l.period_seconds, l.success_threshold), (3, 1));
        assert_eq!(
            c.startup_probe.as_ref().map(|s| s.failure_threshold),
            Some(30)
        );
        assert!(p.containers[1].config_error.contains("grpc"));
        assert!(p.containers[2].config_error.contains("no port named"));
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
