//! Actor messages that cross crate boundaries: the hub, the edge agent and the simulator send
//! them to each other's actors. Wire types (`shoal_transport::wire`) are not actor messages;
//! each message here is its own small type with a documented sender and receiver.
//!
//! - [`DesiredPods`]: the complete set of pods a node should run (agent HubLink -> PodManager,
//!   and the simulator's hollow nodes -> their PodManagers).

pub mod desired;

pub use desired::DesiredPods;
