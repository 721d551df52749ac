//! [`DesiredPods`]: what one node should run now.

use actix::Message;
use shoal_transport::wire::PodPlan;

/// The complete desired set of pods of one node, as of `revision`.
///
/// Sent whenever the set changes (after it was persisted, for the edge agent) and once at start
/// from the local store. Level-triggered: the receiver replaces whatever set it had; pods it
/// runs that are not in `pods` must go.
#[derive(Clone, Debug, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct DesiredPods {
    /// Desired-state revision these plans reflect (0: never synced with a hub).
    pub revision: u64,
    /// One plan per pod, unique by UID.
    pub pods: Vec<PodPlan>,
}
