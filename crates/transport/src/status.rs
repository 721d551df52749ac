//! The MQTT status contract: topic names and JSON payloads the agent publishes and the hub
//! (or any integration on the broker) reads.
//!
//! Payloads are JSON shaped like Kubernetes' own `PodStatus` / `NodeStatus` where they overlap,
//! so the hub can read them straight into its API types and a dashboard sees familiar fields.
//! See docs/mqtt.md for the documented tree.
//!
//! ```text
//! shoal/v1/nodes/{node}/online                          retained, QoS 1, set by the last will
//! shoal/v1/nodes/{node}/status                          retained, QoS 1
//! shoal/v1/nodes/{node}/pods/{namespace}/{pod}/status   retained, QoS 1 (empty payload = gone)
//! shoal/v1/nodes/{node}/events                          not retained, QoS 1 (see event_report)
//! ```

use serde::{Deserialize, Serialize};

/// Root of every shoal topic; the `v1` is the payload schema version.
pub const TOPIC_ROOT: &str = "shoal/v1";

/// Largest status payload the hub accepts; bigger ones are dropped and logged.
pub const MAX_STATUS_PAYLOAD: usize = 256 * 1024;

pub fn online_topic(node: &str) -> String {
    format!("{TOPIC_ROOT}/nodes/{node}/online")
}

pub fn node_status_topic(node: &str) -> String {
    format!("{TOPIC_ROOT}/nodes/{node}/status")
}

/// Resource usage of the node and its pods (`MetricsReport`), published periodically.
pub fn metrics_topic(node: &str) -> String {
    format!("{TOPIC_ROOT}/nodes/{node}/metrics")
}

pub fn pod_status_topic(node: &str, namespace: &str, pod: &str) -> String {
    format!("{TOPIC_ROOT}/nodes/{node}/pods/{namespace}/{pod}/status")
}

/// Kubelet-style events about the node's pods ([`crate::event_report::EventReport`]).
pub fn events_topic(node: &str) -> String {
    format!("{TOPIC_ROOT}/nodes/{node}/events")
}

/// Subscription filter for everything shoal publishes.
pub fn all_topics_filter() -> String {
    format!("{TOPIC_ROOT}/nodes/#")
}

/// What a topic under [`TOPIC_ROOT`] is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic {
    Online {
        node: String,
    },
    NodeStatus {
        node: String,
    },
    Metrics {
        node: String,
    },
    Events {
        node: String,
    },
    PodStatus {
        node: String,
        namespace: String,
        pod: String,
    },
}

impl Topic {
    /// Parses a topic name; `None` for anything that is not one of ours.
    pub fn parse(topic: &str) -> Option<Topic> {
        let rest = topic.strip_prefix(TOPIC_ROOT)?.strip_prefix("/nodes/")?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        match parts.as_slice() {
            [node, "online"] => Some(Topic::Online {
                node: node.to_string(),
            }),
            [node, "status"] => Some(Topic::NodeStatus {
                node: node.to_string(),
            }),
            [node, "metrics"] => Some(Topic::Metrics {
                node: node.to_string(),
            }),
            [node, "events"] => Some(Topic::Events {
                node: node.to_string(),
            }),
            [node, "pods", ns, pod, "status"] => Some(Topic::PodStatus {
                node: node.to_string(),
                namespace: ns.to_string(),
                pod: pod.to_string(),
            }),
            _ => None,
        }
    }

    pub fn node(&self) -> &str {
        match self {
            Topic::Online { node }
            | Topic::NodeStatus { node }
            | Topic::Metrics { node }
            | Topic::Events { node }
            | Topic::PodStatus { node, .. } => node,
        }
    }
}

/// Payload of the retained online marker. The last will publishes `{"online":false}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineMarker {
    pub online: bool,
}

/// A Kubernetes-style condition (`type`, `status` "True"/"False"/"Unknown", ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Node status report (`.../status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatusReport {
    pub node_name: String,
    /// Milliseconds since the Unix epoch when the agent made this report; the hub ignores a
    /// report older than the last one it folded in.
    pub observed_at_ms: u64,
    pub conditions: Vec<Condition>,
    /// `[{ "type": "InternalIP", "address": "127.0.0.2" }, ...]`
    pub addresses: Vec<NodeAddress>,
    pub capacity: std::collections::BTreeMap<String, String>,
    pub allocatable: std::collections::BTreeMap<String, String>,
    pub runtimes: Vec<String>,
    pub agent_version: String,
    /// Number of pods the agent is running.
    pub pods: u32,
}

/// Resource usage report (`.../metrics`): the cAdvisor role of kubelet. Rates are averages
/// over `windowMs` ending at `observedAtMs`; memory is the working set in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsReport {
    pub node_name: String,
    pub observed_at_ms: u64,
    pub window_ms: u64,
    /// CPU the whole node used, in nanocores (1e9 = one core busy).
    pub cpu_nanocores: u64,
    pub memory_bytes: u64,
    pub pods: Vec<PodMetricsReport>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetricsReport {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub containers: Vec<ContainerMetricsReport>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerMetricsReport {
    pub name: String,
    pub cpu_nanocores: u64,
    pub memory_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeAddress {
    #[serde(rename = "type")]
    pub type_: String,
    pub address: String,
}

/// Pod status report (`.../pods/{ns}/{pod}/status`): a Kubernetes `PodStatus` plus identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatusReport {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub node_name: String,
    pub observed_at_ms: u64,
    pub status: PodStatus,
}

/// Mirrors `io.k8s.api.core.v1.PodStatus` (the subset the agent fills in).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "hostIP")]
    pub host_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default)]
    pub init_container_statuses: Vec<ContainerStatus>,
    #[serde(default)]
    pub container_statuses: Vec<ContainerStatus>,
}

/// Mirrors `io.k8s.api.core.v1.ContainerStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    pub image: String,
    #[serde(rename = "imageID")]
    pub image_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "containerID")]
    pub container_id: Option<String>,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    pub restart_count: i32,
    pub state: ContainerState,
    #[serde(default, skip_serializing_if = "ContainerState::is_empty")]
    pub last_state: ContainerState,
}

/// Mirrors `io.k8s.api.core.v1.ContainerState`: at most one member is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<StateWaiting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<StateRunning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<StateTerminated>,
}

impl ContainerState {
    pub fn is_empty(&self) -> bool {
        self.waiting.is_none() && self.running.is_none() && self.terminated.is_none()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateWaiting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateRunning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateTerminated {
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "containerID")]
    pub container_id: Option<String>,
}

/// RFC 3339 (UTC, second precision) for a time in milliseconds since the epoch, the format
/// Kubernetes uses for `metav1.Time`.
pub fn rfc3339_from_ms(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip() {
        assert_eq!(
            Topic::parse(&online_topic("n1")),
            Some(Topic::Online { node: "n1".into() })
        );
        assert_eq!(
            Topic::parse(&node_status_topic("n1")),
            Some(Topic::NodeStatus { node: "n1".into() })
        );
        assert_eq!(
            Topic::parse(&pod_status_topic("n1", "default", "web")),
            Some(Topic::PodStatus {
                node: "n1".into(),
                namespace: "default".into(),
                pod: "web".into()
            })
        );
        assert_eq!(
            Topic::parse(&events_topic("n1")),
            Some(Topic::Events { node: "n1".into() })
        );
        assert_eq!(Topic::parse("shoal/v1/nodes//status"), None);
        assert_eq!(Topic::parse("other/v1/nodes/a/status"), None);
        assert_eq!(Topic::parse("shoal/v1/nodes/a/pods/x/status"), None);
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_from_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_from_ms(1_795_000_000_123), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn pod_status_json_is_kubernetes_shaped() {
        let st = PodStatus {
            phase: "Running".into(),
            pod_ip: Some("10.88.0.2".into()),
            container_statuses: vec![ContainerStatus {
                name: "web".into(),
                ready: true,
                state: ContainerState {
                    running: Some(StateRunning { started_at: None }),
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = serde_json::to_value(&st).expect("serializes");
        assert_eq!(v["podIP"], "10.88.0.2");
        assert_eq!(
            v["containerStatuses"][0]["state"]["running"],
            serde_json::json!({})
        );
        assert!(v["containerStatuses"][0].get("lastState").is_none());
    }
}
