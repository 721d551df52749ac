//! What a runtime reports about the pods it runs: the "observed" half of reconciliation.
//!
//! These are plain values with times in milliseconds since the Unix epoch, so the pure pod core
//! can compare them with its `now_ms` input without knowing which runtime produced them.

/// One pod as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedPod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// The pod's address on the container network; `None` while the pod's network is down or
    /// when it uses the host network.
    pub pod_ip: Option<String>,
    /// When the runtime created the pod, if it knows.
    pub created_at_ms: Option<u64>,
    /// The pod's containers (application and init), in no particular order.
    pub containers: Vec<ObservedContainer>,
    /// Projected (`Files`) volumes as they are on disk: (volume name, digest of the files it
    /// shows, see `runtime::projected`).
    pub file_volumes: Vec<(String, String)>,
}

impl ObservedPod {
    /// The container called `name`, if the pod has one.
    pub fn container(&self, name: &str) -> Option<&ObservedContainer> {
        self.containers.iter().find(|c| c.name == name)
    }
}

/// One container of an [`ObservedPod`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedContainer {
    /// The container's name in the pod spec.
    pub name: String,
    /// Kubernetes-style container ID, `<runtime>://<id>` (e.g. `podman://3f2a...`).
    pub id: String,
    /// The image reference the container runs, as the runtime names it.
    pub image: String,
    /// The image's ID (e.g. `sha256:...`), empty when unknown.
    pub image_id: String,
    pub state: ObservedState,
    /// An init container (runs to completion before the application containers start).
    pub init: bool,
    /// Restarts the runtime itself counted. Podman does not count restarts the agent asks for,
    /// so this is usually 0 there; the authoritative count is the pod core's `RestartBook`.
    pub restart_count: u32,
}

/// Lifecycle of one container as the runtime reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservedState {
    /// Created but never started.
    Created,
    Running {
        started_at_ms: u64,
    },
    /// Ran and stopped. `started_at_ms` is 0 when it never really started (e.g. its command
    /// could not be executed).
    Exited {
        exit_code: i32,
        started_at_ms: u64,
        finished_at_ms: u64,
        oom_killed: bool,
    },
}

impl ObservedState {
    pub fn is_running(&self) -> bool {
        matches!(self, ObservedState::Running { .. })
    }
}

/// Resource usage of one running container, as a runtime measures it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerUsage {
    pub uid: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// CPU time used since the container started, in nanoseconds (a counter: rates come from
    /// two samples).
    pub cpu_total_ns: u64,
    /// Memory in use now, in bytes.
    pub memory_bytes: u64,
}

/// Usage of every running container of `pods` for runtimes that model it (fake, simulated):
/// `cpu_ns_per_ms` of CPU per millisecond since the container started, `memory_bytes` each.
pub fn modelled_usage(
    pods: &[ObservedPod],
    now_ms: u64,
    cpu_ns_per_ms: u64,
    memory_bytes: u64,
) -> Vec<ContainerUsage> {
    pods.iter()
        .flat_map(|p| {
            p.containers.iter().filter_map(move |c| match c.state {
                ObservedState::Running { started_at_ms } => Some(ContainerUsage {
                    uid: p.uid.clone(),
                    namespace: p.namespace.clone(),
                    pod: p.name.clone(),
                    container: c.name.clone(),
                    cpu_total_ns: now_ms.saturating_sub(started_at_ms) * cpu_ns_per_ms,
                    memory_bytes,
                }),
                _ => None,
            })
        })
        .collect()
}
