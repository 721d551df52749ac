//! Messages exchanged between hub and agent over QUIC.
//!
//! These are plain structs and externally tagged enums so that bincode 2 (serde mode) can
//! encode and decode them: no `skip_serializing_if`, no internally tagged enums, no
//! `serde_json::Value`. Kubernetes objects never cross this wire: the hub compiles a Pod into
//! a [`PodPlan`], which holds only what the agent needs to run it.
//!
//! Streams:
//! - **join** (one bi-stream on a connection without a client certificate):
//!   `JoinRequest` -> `JoinResponse`.
//! - **sync** (the first bi-stream the agent opens on an mTLS connection): `AgentHello`, then
//!   the hub sends `HubMessage`s and the agent answers each `Snapshot`/`Delta` with
//!   `AgentMessage::Ack` once it has persisted it.

use serde::{Deserialize, Serialize};

/// Version of the frame format and of the messages in this module. A peer that receives a
/// frame with another version refuses it with a clear error instead of misreading it.
pub const PROTOCOL_VERSION: u8 = 2;

/// The SNI name the agent uses and the hub's server certificate carries.
pub const HUB_SERVER_NAME: &str = "shoal-hub";

/// ALPN protocol id for the hub<->agent QUIC connection.
pub const ALPN: &[u8] = b"shoal/1";

/// First message on a join connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The secret half of the join token (the CA hash half is checked by the agent's TLS
    /// verifier before anything is sent).
    pub token_secret: String,
    /// Name the node wants; it becomes the Node object's name and the certificate's CN.
    pub node_name: String,
    /// PEM certificate signing request for the node's key (the key never leaves the agent).
    pub csr_pem: String,
}

/// The hub's answer to a [`JoinRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinResponse {
    Accepted(JoinAccepted),
    /// Human-readable reason, e.g. "join token is invalid or expired".
    Rejected(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinAccepted {
    /// The node certificate (PEM), signed by the hub CA, CN = node name.
    pub node_cert_pem: String,
    /// The hub CA (PEM); the agent trusts only this CA from now on.
    pub ca_cert_pem: String,
    /// Where and how to publish status.
    pub mqtt: MqttCredentials,
}

/// MQTT broker address and credentials handed to an agent at join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttCredentials {
    /// `mqtt://host:port`. An empty host means "the host the agent reached the hub at".
    pub url: String,
    pub username: String,
    pub password: String,
}

/// Facts about the node the agent sends when it connects; the hub writes them into the Node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node_name: String,
    pub labels: Vec<(String, String)>,
    /// The address the node is reached at (NodePorts, proxy, DNS bind here).
    pub node_ip: String,
    pub hostname: String,
    pub architecture: String,
    pub operating_system: String,
    pub os_image: String,
    pub kernel_version: String,
    pub agent_version: String,
    /// e.g. "podman://4.3.1".
    pub container_runtime_version: String,
    /// Runtime classes this node can run: "podman", "process", "simulated".
    pub runtimes: Vec<String>,
    /// Kubernetes quantities, e.g. ("cpu","2"), ("memory","24000Mi"), ("pods","110").
    pub capacity: Vec<(String, String)>,
    pub allocatable: Vec<(String, String)>,
}

/// First message on the sync stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentHello {
    pub node: NodeInfo,
    /// Highest desired-state revision the agent has persisted; 0 when it has none. The hub
    /// resumes from here with a delta when it can, and sends a snapshot otherwise.
    pub last_acked_revision: u64,
}

/// Hub -> agent on the sync stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HubMessage {
    /// The complete desired set of pods for this node as of `revision`; pods the agent has
    /// that are not in it must go.
    Snapshot { revision: u64, pods: Vec<PodPlan> },
    /// Changes since the previous snapshot/delta, up to `revision`.
    Delta {
        revision: u64,
        upserts: Vec<PodPlan>,
        /// UIDs of pods that no longer belong on this node.
        deletes: Vec<String>,
    },
    /// Keep-alive carrying the hub's current revision; needs no ack.
    Ping { revision: u64 },
    /// The cluster's Services (with their endpoints) for the agent's service proxy and DNS.
    /// `full` replaces the agent's whole set (sent first in every session); otherwise
    /// `upserts` replace Services by key and `deletes` (`namespace/name`) remove them. The agent
    /// persists it, then acks `revision`; it does not move the pods' revision.
    Services {
        revision: u64,
        full: bool,
        upserts: Vec<ServicePlan>,
        deletes: Vec<String>,
    },
}

/// Agent -> hub on the sync stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentMessage {
    /// Everything up to `revision` is persisted on the device.
    Ack { revision: u64 },
}

/// What the agent needs to run one pod: compiled by the hub from a Kubernetes Pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodPlan {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// Revision (resourceVersion) of the Pod this plan was compiled from.
    pub revision: u64,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub restart_policy: RestartPolicy,
    pub termination_grace_period_seconds: u64,
    /// `spec.runtimeClassName`, empty for the node's default runtime.
    pub runtime_class: String,
    pub hostname: String,
    pub host_network: bool,
    pub init_containers: Vec<ContainerPlan>,
    pub containers: Vec<ContainerPlan>,
    pub volumes: Vec<VolumePlan>,
    /// Set when the pod is being deleted on the hub: stop it gracefully within the period.
    pub deletion_grace_period_seconds: Option<u64>,
    /// `spec.enableServiceLinks`: the agent adds the Services' environment variables to
    /// containers it creates (from the Services it knows at that moment).
    pub enable_service_links: bool,
    /// `spec.dnsPolicy` ("ClusterFirst", "Default", "None", ...).
    pub dns_policy: String,
    /// The pod's resolver configuration. Empty from the hub; the agent fills it in for
    /// `ClusterFirst` pods (its cluster DNS and Kubernetes' search path) before the runtime
    /// creates the pod.
    pub dns_servers: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPlan {
    pub name: String,
    pub image: String,
    pub image_pull_policy: PullPolicy,
    /// `command` (entrypoint override); empty keeps the image's.
    pub command: Vec<String>,
    /// `args`; empty keeps the image's.
    pub args: Vec<String>,
    pub working_dir: String,
    /// Resolved environment, in order.
    pub env: Vec<(String, String)>,
    pub ports: Vec<PortPlan>,
    pub volume_mounts: Vec<MountPlan>,
    /// CPU limit in millicores, 0 for none.
    pub cpu_limit_millis: u64,
    /// Memory limit in bytes, 0 for none.
    pub memory_limit_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortPlan {
    pub name: String,
    pub container_port: u16,
    /// 0 when the port is not published on the host.
    pub host_port: u16,
    pub host_ip: String,
    /// "TCP" or "UDP".
    pub protocol: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPlan {
    pub name: String,
    pub mount_path: String,
    pub read_only: bool,
    pub sub_path: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumePlan {
    EmptyDir {
        name: String,
        medium_memory: bool,
    },
    HostPath {
        name: String,
        path: String,
        kind: String,
    },
}

/// One Service as an agent's proxy, DNS and environment variables need it: compiled by the hub
/// from the Service and its Endpoints, with each endpoint's node address and published host
/// port looked up, so the agent never needs the Kubernetes objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePlan {
    pub namespace: String,
    pub name: String,
    /// "ClusterIP", "NodePort", "LoadBalancer" or "ExternalName".
    pub service_type: String,
    /// The virtual IP; "None" for a headless Service, empty for ExternalName.
    pub cluster_ip: String,
    pub external_name: String,
    /// `sessionAffinity: ClientIP`.
    pub client_ip_affinity: bool,
    /// `sessionAffinityConfig.clientIP.timeoutSeconds` (Kubernetes' default 10800).
    pub affinity_timeout_seconds: u32,
    pub ports: Vec<ServicePortPlan>,
    /// Ready and not-ready endpoints (the proxy skips the not-ready ones).
    pub endpoints: Vec<EndpointPlan>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePortPlan {
    /// Empty for a single unnamed port.
    pub name: String,
    /// "TCP" or "UDP" (SCTP Services are not proxied).
    pub protocol: String,
    pub port: u16,
    /// 0 unless the Service is NodePort or LoadBalancer.
    pub node_port: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointPlan {
    /// The pod's IP.
    pub ip: String,
    pub pod_name: String,
    /// Node the pod runs on, and that node's address (empty when unknown).
    pub node_name: String,
    pub node_ip: String,
    pub ready: bool,
    /// The endpoint's port for each Service port (by Service port name).
    pub ports: Vec<EndpointPortPlan>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointPortPlan {
    /// The Service port name this is for.
    pub name: String,
    pub protocol: String,
    /// Port on the pod IP.
    pub port: u16,
    /// Port the pod publishes on its node's address for it (`hostPort`), 0 when none.
    pub host_port: u16,
}
