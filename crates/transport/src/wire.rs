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
//! - **logs / exec** (one bi-stream the *hub* opens on the agent's connection per request, see
//!   [`StreamRequest`]): the hub writes a `StreamRequest`; the agent answers with a
//!   [`StreamReply`], then for logs the raw log bytes until it finishes the stream, and for exec
//!   [`ExecOutput`] frames ending with `Exit`, while the hub sends [`ExecInput`] frames.

use serde::{Deserialize, Serialize};

/// Version of the frame format and of the messages in this module. A peer that receives a
/// frame with another version refuses it with a clear error instead of misreading it.
/// Version 3 added [`MqttCredentials::ca_pem`] (the broker's CA for `mqtts://`).
pub const PROTOCOL_VERSION: u8 = 3;

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
    /// `mqtt://host:port` or `mqtts://host:port`. An empty host means "the host the agent
    /// reached the hub at".
    pub url: String,
    pub username: String,
    pub password: String,
    /// PEM CA certificate(s) the broker's TLS certificate must chain to, for `mqtts://`;
    /// empty for plain `mqtt://`. The agent keeps it in `DIR/mqtt.json` with the rest, so it
    /// reconnects after a restart without the hub. (`serde(default)` only lets a `mqtt.json`
    /// written before this field existed load; on the wire it is always present.)
    #[serde(default)]
    pub ca_pem: String,
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
    /// Why the hub could not complete this container's configuration (a ConfigMap or Secret
    /// it needs is missing); empty when complete. The agent does not start a container with
    /// an error and reports `CreateContainerConfigError` with this message.
    pub config_error: String,
    pub liveness_probe: Option<ProbePlan>,
    pub readiness_probe: Option<ProbePlan>,
    pub startup_probe: Option<ProbePlan>,
}

/// A container probe with Kubernetes' defaults already applied and named ports resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbePlan {
    pub action: ProbeAction,
    pub initial_delay_seconds: u32,
    /// At least 1.
    pub period_seconds: u32,
    /// At least 1.
    pub timeout_seconds: u32,
    /// At least 1 (always 1 for liveness and startup probes).
    pub success_threshold: u32,
    /// At least 1.
    pub failure_threshold: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeAction {
    /// Run a command in the container; exit code 0 is success.
    Exec { command: Vec<String> },
    /// `GET http(s)://host:port/path`; 200..400 is success. An empty host means the pod's IP.
    HttpGet {
        scheme: String,
        host: String,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    /// A TCP connection to host:port succeeds. An empty host means the pod's IP.
    TcpSocket { host: String, port: u16 },
}

/// One file of a [`VolumePlan::Files`] volume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePlan {
    /// Relative path inside the volume (validated by the hub: no `..`, not absolute).
    pub path: String,
    pub data: Vec<u8>,
    /// Permission bits, e.g. 0o644.
    pub mode: u32,
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
    /// Files the hub projected from ConfigMaps, Secrets or the downward API. The agent writes
    /// them atomically into a directory of the pod and rewrites them when the plan changes,
    /// without restarting containers (as kubelet does).
    Files {
        name: String,
        files: Vec<FilePlan>,
    },
}

// ---------------------------------------------------------------------------------------------
// Logs and exec streams (hub -> agent bi-streams).
// ---------------------------------------------------------------------------------------------

/// Largest piece of log output, exec output or stdin carried by one frame. Readers bound
/// these frames with [`MAX_STREAM_FRAME`].
pub const MAX_STREAM_CHUNK: usize = 32 * 1024;

/// Largest frame on a logs/exec stream (a chunk plus its framing, or a request with a long
/// command line).
pub const MAX_STREAM_FRAME: usize = 256 * 1024;

/// Which pod a logs/exec request is for. The agent looks the pod up by `uid`; namespace and
/// name are for its log lines and error messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    pub uid: String,
    pub namespace: String,
    pub name: String,
}

/// The first frame the hub writes on a stream it opens on an agent's connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamRequest {
    Logs(LogsRequest),
    Exec(ExecRequest),
}

/// `GET .../pods/NAME/log`, resolved by the hub (container name filled in, times absolute).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsRequest {
    pub pod: PodRef,
    pub container: String,
    /// Keep the stream open and send new output as it comes.
    pub follow: bool,
    /// Only the last this many lines.
    pub tail_lines: Option<u64>,
    /// Only output written at or after this time (milliseconds since the Unix epoch).
    pub since_ms: Option<u64>,
    /// The previous (terminated) instance of the container instead of the current one.
    pub previous: bool,
    /// Prefix every line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<u64>,
}

/// `.../pods/NAME/exec`: run `command` in the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    pub pod: PodRef,
    pub container: String,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// The agent's first frame on a logs/exec stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamReply {
    /// The output follows.
    Ready,
    /// Nothing follows; the stream ends.
    Failed(StreamFailure),
}

/// Why the agent could not serve a logs/exec request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamFailure {
    pub kind: StreamFailureKind,
    /// Human-readable, e.g. "container web of pod default/web-1 is not running on this node".
    pub message: String,
}

/// Which Kubernetes error a [`StreamFailure`] becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamFailureKind {
    /// 404: no such pod or container on the node (yet).
    NotFound,
    /// 400: the request cannot be served as asked (e.g. exec in a container that is not running).
    BadRequest,
    /// 500: the runtime failed.
    Internal,
}

/// Agent -> hub on an exec stream, after [`StreamReply::Ready`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecOutput {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The last frame: the command ended with `code` (or could not run: `message`).
    Exit {
        code: i32,
        message: String,
    },
}

/// Hub -> agent on an exec stream, after the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecInput {
    Stdin(Vec<u8>),
    /// The client closed its stdin; the command sees end of file.
    CloseStdin,
    /// The client's terminal changed size (tty sessions).
    Resize {
        width: u16,
        height: u16,
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
