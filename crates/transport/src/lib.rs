//! shoal's hub<->agent wire.
//!
//! - [`wire`]: the messages on QUIC streams (plain bincode-friendly structs).
//! - [`status`]: the MQTT topic tree and JSON status payloads.
pub mod status;
pub mod wire;
