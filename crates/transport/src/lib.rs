//! shoal's hub<->agent wire: everything two processes need to trust each other and exchange
//! messages, and nothing about what the messages mean.
//!
//! - [`wire`]: the messages on QUIC streams (plain bincode-friendly structs).
//! - [`frame`]: the length-prefixed, versioned, size-limited bincode framing of those messages.
//! - [`status`]: the MQTT topic tree and JSON status payloads.
//! - [`pki`]: the hub's certificate authority, node/server/user certificates, certificate readers.
//! - [`token`]: join tokens (`shoal1.<ca-hash>.<secret>`).
//! - [`names`]: node name validation (DNS-1123 subdomain).
//! - [`tls`]: rustls configs from shoal's PEM material (ring provider, always explicit).
//! - [`quic`]: quinn endpoints: the hub server, the pinned-CA join client, the mTLS client.
//!
//! Data flow of a join: the hub's [`pki::CertAuthority`] yields a [`token::JoinToken`] that pins
//! its hash; the agent dials with [`quic::join_client_config`], sends a
//! [`wire::JoinRequest`] carrying a CSR from [`pki::NodeKey`] over a [`frame`]d bi-stream, gets
//! back a certificate from [`pki::CertAuthority::sign_node_csr`], and reconnects with
//! [`quic::mtls_client_config`]; the hub then knows it by [`quic::peer_node_name`].
pub mod event_report;
pub mod frame;
pub mod names;
pub mod pki;
pub mod quic;
pub mod status;
pub mod tls;
pub mod token;
pub mod wire;
