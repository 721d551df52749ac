//! The agent's pod lifecycle as pure code: no I/O, no clock.
//!
//! The PodManager actor owns the state (desired plans from the local store, the latest
//! [`ObservedPod`](crate::runtime::ObservedPod)s from the runtime, a [`RestartBook`]) and the
//! clock. It calls [`reconcile`] to learn which runtime calls to make, [`pod_status`] to learn
//! what to report, and [`next_wake_ms`] to learn when a back-off ends. Everything here is a
//! function of its arguments, so it is tested table by table without Podman.
//!
//! - [`restart`]: restart policy, crash back-off, the [`RestartBook`];
//! - [`reconcile`](mod@reconcile): desired + observed -> [`Effect`]s;
//! - [`probe`]: probe schedule and thresholds, the [`ProbeBook`];
//! - [`status`]: plan + observed -> Kubernetes `PodStatus`;
//! - [`events`]: what happened -> kubelet-style [`PodEvent`]s;
//! - [`report_book`]: what the StatusReporter was last sent, and the events waiting for it.

pub mod events;
#[cfg(test)]
mod fixtures;
pub mod probe;
pub mod reconcile;
pub mod report_book;
pub mod restart;
pub mod status;

pub use events::PodEvent;
pub use probe::{DueProbe, ProbeBook, ProbeKind, ProbeView};
pub use reconcile::{next_wake_ms, reconcile, Effect, ORPHAN_GRACE};
pub use report_book::{ReportBook, MAX_PENDING_EVENTS};
pub use restart::{effective_policy, should_restart, RestartBook, RestartEntry};
pub use status::pod_status;
