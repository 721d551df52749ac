//! shoal's fleet simulator and fleet benchmarks.
//!
//! - [`fleet`]: `shoal-sim`, N hollow agents in one process (the edge agent library on its
//!   simulated runtime, sharing threads and QUIC endpoints), like Kubernetes' hollow nodes.
//! - [`flap`]: which nodes drop their links and when (pure).
//! - [`bench`]: `shoal-bench`, the scenario runner: starts a hub and a fleet, drives the
//!   Kubernetes API, and prints and writes the figures (`docs/benchmarks.md`).

pub mod bench;
pub mod flap;
pub mod fleet;
