//! The shoal hub: one process holding the desired state of the fleet and deciding where
//! workloads run.
//!
//! - [`store`]: objects, revisions and watch history on fjall.
//! - [`resources`]: the Kubernetes kinds served.
pub mod resources;
pub mod store;
