//! `shoal-bench`: fleet benchmark scenarios, one command, figures printed and written as JSON.
//!
//! ```text
//!   shoal-bench fleet ──spawns──> shoal-hub (release, temp data dir, free loopback ports)
//!        │          └──spawns──> shoal-sim --nodes N (hollow agents)
//!        ├── phases: join -> DaemonSet create -> DaemonSet rolling update -> Deployment
//!        ├── prober thread: mutating calls and lists every 200 ms, latency per phase
//!        └── sampler: the hub's CPU and resident memory from /proc, per phase
//! ```
//!
//! - [`api`]: the Kubernetes API client (admin kubeconfig, timed calls).
//! - [`latency`]: latency samples and percentiles per phase.
//! - [`proc_stats`]: CPU time and resident memory of a process from `/proc`.
//! - [`scenario`]: the fleet scenario itself.
//! - [`store_vs_etcd`]: the hub's store against etcd on one put / get / watch workload.
//! - [`ingest`]: MQTT status ingestion through the embedded broker against Mosquitto.
//! - [`process`]: child processes and free ports.
//!
//! Nothing here asserts on time: figures are printed and written; `docs/benchmarks.md` holds
//! them with the machine they ran on.

pub mod api;
pub mod ingest;
pub mod latency;
pub mod proc_stats;
pub mod process;
pub mod scenario;
pub mod store_vs_etcd;
