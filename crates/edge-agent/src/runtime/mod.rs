//! Container runtimes: the one place where the agent's pod logic meets whatever really runs
//! containers.
//!
//! The pure pod core (`crate::pods`) decides *what* should happen and returns effects; a
//! [`ContainerRuntime`] carries them out and reports what it sees ([`ObservedPod`]). Keeping the
//! boundary this small is what lets the same decision logic drive Podman on a device
//! ([`PodmanRuntime`]), an in-memory fake in tests ([`FakeRuntime`]), hollow nodes of the
//! simulator ([`SimulatedRuntime`]) and, later, the `process` runtime.
//!
//! Runtimes are addressed by pod UID and container *name*, never by runtime IDs: the agent's
//! desired state is keyed the same way, and the IDs change whenever a runtime recreates
//! something.

mod error;
pub mod fake;
pub mod multi;
pub mod observed;
pub mod podman;
pub mod process;
pub mod projected;
pub mod simulated;
mod stream_io;

use std::time::Duration;

use futures::future::BoxFuture;
use shoal_transport::wire::PodPlan;

pub use error::RuntimeError;
pub use fake::FakeRuntime;
pub use multi::MultiRuntime;
pub use observed::{ContainerUsage, ObservedContainer, ObservedPod, ObservedState};
pub use podman::PodmanRuntime;
pub use process::ProcessRuntime;
pub use simulated::{SimProfile, SimulatedRuntime};
pub use stream_io::{
    ExecChunk, ExecSession, ExecSpec, ExecStdin, LogOptions, LogStream, STREAM_BUFFER_CHUNKS,
};

/// The future every runtime call returns. Boxed so that the trait stays dyn-compatible: callers
/// hold an `Arc<dyn ContainerRuntime>` and pick the implementation at start-up.
pub type RuntimeFuture<'a, T> = BoxFuture<'a, Result<T, RuntimeError>>;

/// Runs pods. Every method is idempotent, so a caller that lost track of whether a call
/// succeeded (a timeout, an agent restart) can simply make it again.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Short runtime name, e.g. `"podman"`; also the scheme of container IDs
    /// (`podman://<id>`) and of the node's `containerRuntimeVersion`.
    fn name(&self) -> &'static str;

    /// Runtime class names this runtime serves (`runtimeClassName`); the node reports them.
    fn runtime_classes(&self) -> Vec<String> {
        vec![self.name().to_string()]
    }

    /// Version of the runtime itself (e.g. `"4.3.1"`), for the Node's `nodeInfo`.
    fn version(&self) -> RuntimeFuture<'_, String>;

    /// Creates the pod and any of its containers that do not exist yet, then starts the
    /// containers that have never been started.
    ///
    /// Containers that already ran and exited are left alone: restarting them is a decision
    /// (restart policy, back-off) that belongs to the pod core and goes through
    /// [`restart_container`](Self::restart_container). Init containers are not touched (see
    /// [`start_init_container`](Self::start_init_container)), nor are containers whose plan
    /// carries a `config_error`.
    fn start_pod<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()>;

    /// Creates the pod (and its volumes) if needed, then creates the init container
    /// `container` if it does not exist and starts it if it never ran.
    fn start_init_container<'a>(
        &'a self,
        plan: &'a PodPlan,
        container: &'a str,
    ) -> RuntimeFuture<'a, ()>;

    /// Rewrites the pod's projected (`Files`) volumes to the plan's files; running containers
    /// see the new files without a restart.
    fn sync_volumes<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()>;

    /// Stops one container: SIGTERM, then SIGKILL after `grace` (a failed liveness probe).
    fn stop_container<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        grace: Duration,
    ) -> RuntimeFuture<'a, ()>;

    /// Runs `command` in the running container (an exec probe) and returns its exit code and
    /// the start of its output; fails when it does not finish within `timeout`.
    fn probe_exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        command: &'a [String],
        timeout: Duration,
    ) -> RuntimeFuture<'a, (i32, String)>;

    /// Starts an exited container of a pod again (or restarts it if it is still running).
    /// Fails with [`RuntimeError::ContainerNotFound`] when the pod has no such container.
    fn restart_container<'a>(&'a self, uid: &'a str, container: &'a str) -> RuntimeFuture<'a, ()>;

    /// Stops every container of the pod: SIGTERM, then SIGKILL after `grace`. The pod and its
    /// containers stay (their exit codes remain observable). A pod that does not exist is
    /// already stopped.
    fn stop_pod<'a>(&'a self, uid: &'a str, grace: Duration) -> RuntimeFuture<'a, ()>;

    /// Stops (with each container's own grace period) and removes the pod, its containers and
    /// its volumes. A pod that does not exist is already removed.
    fn remove_pod<'a>(&'a self, uid: &'a str) -> RuntimeFuture<'a, ()>;

    /// Cumulative CPU time and current memory of every running container of ours, for the
    /// node's resource usage reports.
    fn container_usage(&self) -> RuntimeFuture<'_, Vec<ContainerUsage>>;

    /// Every pod this agent manages, as the runtime sees it now. Pods and containers that are
    /// not ours (other tools, other agents on the same machine) are never listed.
    fn list_pods(&self) -> RuntimeFuture<'_, Vec<ObservedPod>>;

    /// The log of one container of a pod (stdout and stderr merged), as [`LogOptions`] select.
    /// Fails with [`RuntimeError::ContainerNotFound`] when the pod has no such container here.
    /// Runtimes without logs keep the default, which fails with [`RuntimeError::Unsupported`].
    fn logs<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        opts: LogOptions,
    ) -> RuntimeFuture<'a, LogStream> {
        let _ = (uid, container, opts);
        let e = RuntimeError::Unsupported {
            runtime: self.name(),
            what: "logs",
        };
        Box::pin(async move { Err(e) })
    }

    /// Runs a command in a running container of a pod. Fails with
    /// [`RuntimeError::ContainerNotFound`] when the pod has no such container here and with
    /// [`RuntimeError::ContainerNotRunning`] when it does not run. Runtimes without exec keep
    /// the default, which fails with [`RuntimeError::Unsupported`].
    fn exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        spec: ExecSpec,
    ) -> RuntimeFuture<'a, ExecSession> {
        let _ = (uid, container, spec);
        let e = RuntimeError::Unsupported {
            runtime: self.name(),
            what: "exec",
        };
        Box::pin(async move { Err(e) })
    }
}
