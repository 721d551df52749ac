//! The shoal hub: one process holding the desired state of the fleet and deciding where
//! workloads run.
//!
//! - [`store`]: objects, revisions and watch history on fjall.
//! - [`resources`]: the Kubernetes kinds served.
//! - [`api`]: the Kubernetes-compatible HTTPS API.
//! - [`scheduler`]: binds pending pods to nodes.
//! - [`controllers`]: ReplicaSet, ReplicationController, Deployment, DaemonSet, Job, garbage
//!   collection: workloads turned into pods.
//! - [`node_session`]: joins and one session actor per connected agent, over QUIC.
//! - [`node_conns`]: connected nodes by name, for logs and exec streams.
//! - [`node_router`]: reads the change stream once and hands each session its node's changes.
//! - [`status_ingest`]: folds MQTT status from agents into the store.
//! - [`broker`]: the embedded MQTT broker.
//! - [`plan`]: compiles Pods into the agent's runtime plans.
//! - [`bootstrap`]: first-start certificates, tokens and kubeconfig.
//! - [`hub`]: wires it all together.
pub mod api;
pub mod bootstrap;
pub mod broker;
pub mod broker_acl;
pub mod broker_gate;
pub mod config_source;
pub mod controllers;
pub mod event_gc;
pub mod event_ingest;
pub mod hub;
pub mod join_secrets;
pub mod liveness;
pub mod metrics;
pub mod mosquitto_files;
pub mod mqtt_tls;
pub mod node_conns;
pub mod node_router;
pub mod node_session;
pub mod plan;
pub mod resources;
pub mod rollout_summary;
pub mod scheduler;
pub mod selector;
pub mod service_alloc;
pub mod service_plan;
pub mod status_ingest;
pub mod store;
pub mod users_log;
pub mod validation;
