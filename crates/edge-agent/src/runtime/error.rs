//! Errors a [`ContainerRuntime`](super::ContainerRuntime) call can fail with.
//!
//! Each variant names what the agent was doing and with which object, so an error that ends up
//! in a pod's status or the agent's log tells the operator what to fix without a debugger.

use std::path::PathBuf;

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime endpoint could not be used at all.
    #[error("cannot use the Podman API at {url}: is `podman system service` (or podman.socket) running there?")]
    Connect {
        url: String,
        #[source]
        source: podman_api::Error,
    },

    /// The image is not on the device and the pull policy forbids pulling it.
    #[error("image {image} is not present on this device and imagePullPolicy is Never; load it with `podman load` or allow pulling")]
    ImageNotPresent { image: String },

    /// The image had to be pulled and could not be.
    #[error("cannot pull image {image} and it is not present on this device")]
    ImagePull {
        image: String,
        #[source]
        source: podman_api::Error,
    },

    /// The plan asks for something this runtime cannot do or that would be unsafe
    /// (a UID or volume name that is not a plain name, a mount of an undeclared volume, ...).
    #[error("pod {uid} cannot be run: {reason}")]
    InvalidPlan { uid: String, reason: String },

    /// `restart_container` named a pod or container this agent does not run.
    #[error("pod {uid} has no container {container} on this node")]
    ContainerNotFound { uid: String, container: String },

    /// Exec needs a running container.
    #[error("container {container} of pod {uid} is not running")]
    ContainerNotRunning { uid: String, container: String },

    /// The runtime cannot do this at all (e.g. exec in a simulated container).
    #[error("the {runtime} runtime does not support {what}")]
    Unsupported {
        runtime: &'static str,
        what: &'static str,
    },

    /// A call to the Podman API failed; `op` says which and on what.
    #[error("podman: {op} failed")]
    Podman {
        op: String,
        #[source]
        source: podman_api::Error,
    },

    /// Preparing or removing a pod's files on the host failed.
    #[error("{op} {path} failed")]
    Filesystem {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A failure the [`FakeRuntime`](super::FakeRuntime) was told to produce.
    #[error("{op} failed (injected by the fake runtime)")]
    Injected { op: String },
}
