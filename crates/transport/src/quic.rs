//! quinn endpoints for the hub<->agent link, and the TLS rules that make them safe.
//!
//! One hub endpoint serves two kinds of connection, told apart by [`peer_node_name`]:
//! - **join** (no client certificate): the agent authenticates the hub by pinning the CA
//!   hash from its join token ([`join_client_config`]); the hub authenticates the agent by
//!   the token secret inside the `JoinRequest`.
//! - **mTLS** (node certificate signed by the hub CA): the everyday connection
//!   ([`mtls_client_config`]); the certificate's CN is the node's identity.
//!
//! All connections use TLS 1.3 with ALPN [`ALPN`], the server name
//! [`HUB_SERVER_NAME`], and one bounded transport config ([`transport_config`]).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{NoInitialCipherSuite, QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::pki::{ca_hash, node_name_from_cert, IssuedCert};
use crate::tls::{self, TlsError, TLS13_ONLY};
use crate::token::{normalize_ca_hash, TokenError};
use crate::wire::{ALPN, HUB_SERVER_NAME};

/// Interval of QUIC keep-alive pings; keeps NAT bindings of devices open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// A connection with no traffic (keep-alives included) for this long is dead.
pub const IDLE_TIMEOUT_MS: u32 = 30_000;
/// Most bidirectional streams a peer may have open at once (sync, logs, exec, ...).
pub const MAX_BIDI_STREAMS: u32 = 16;
/// Most unidirectional streams a peer may have open at once.
pub const MAX_UNI_STREAMS: u32 = 16;

/// What a join client prints when the hub is not the one its token names.
pub const CA_MISMATCH_MESSAGE: &str = "hub CA does not match the join token's CA hash";

/// Errors of setting up endpoints and connections.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    #[error("building the TLS configuration failed")]
    Tls {
        #[source]
        source: TlsError,
    },
    #[error("the TLS configuration has no cipher suite QUIC can use")]
    CipherSuite {
        #[source]
        source: NoInitialCipherSuite,
    },
    #[error("invalid pinned CA hash")]
    CaHash {
        #[source]
        source: TokenError,
    },
    #[error("binding a QUIC endpoint on {addr} failed")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("starting a QUIC connection to {addr} failed")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: quinn::ConnectError,
    },
    #[error("the hub at {addr} is not the hub of this join token: {CA_MISMATCH_MESSAGE}; check the token and the --hub address")]
    HubCaMismatch { addr: SocketAddr },
    #[error("QUIC handshake with {addr} failed")]
    Handshake {
        addr: SocketAddr,
        #[source]
        source: quinn::ConnectionError,
    },
}

impl From<TlsError> for QuicError {
    fn from(source: TlsError) -> Self {
        QuicError::Tls { source }
    }
}

/// The transport parameters of shoal QUIC connections: `keep_alive` on the side that sends
/// keep-alives.
///
/// Design: only agents send keep-alives (they are the side behind NAT, and the traffic
/// either way keeps both ends' idle timers fresh). When the hub sent them too, a 10,000-node
/// hub sent 1,000 pings a second and processed the acknowledgements, all on the thread that
/// drives every node's connection.
pub fn transport_config(keep_alive: bool) -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.keep_alive_interval(keep_alive.then_some(KEEP_ALIVE))
        .max_idle_timeout(Some(IdleTimeout::from(VarInt::from_u32(IDLE_TIMEOUT_MS))))
        .max_concurrent_bidi_streams(VarInt::from_u32(MAX_BIDI_STREAMS))
        .max_concurrent_uni_streams(VarInt::from_u32(MAX_UNI_STREAMS));
    Arc::new(t)
}

/// The hub's quinn server config: chain `[server leaf, CA]`, TLS 1.3, ALPN, optional client
/// certificates verified against the CA.
pub fn server_config(
    ca_cert_der: &[u8],
    server: &IssuedCert,
) -> Result<quinn::ServerConfig, QuicError> {
    let mut crypto = tls::server_config(ca_cert_der, server, TLS13_ONLY)?;
    crypto.alpn_protocols = vec![ALPN.to_vec()];
    let crypto =
        QuicServerConfig::try_from(crypto).map_err(|source| QuicError::CipherSuite { source })?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport_config(false));
    Ok(config)
}

/// Binds the hub's QUIC endpoint on `addr` (port 0 picks a free port; read it back with
/// `endpoint.local_addr()`). Must run inside a tokio runtime.
///
/// `reset_secret` keys QUIC stateless resets. Design: the hub keeps it across restarts (in its
/// data directory), so after a crash the restarted hub's reset for an old connection is one
/// the agent can verify, and the agent reconnects at once instead of waiting for its idle
/// timeout.
pub fn server_endpoint(
    addr: SocketAddr,
    ca_cert_der: &[u8],
    server: &IssuedCert,
    reset_secret: &[u8],
) -> Result<quinn::Endpoint, QuicError> {
    let config = server_config(ca_cert_der, server)?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset_secret);
    let endpoint_config = quinn::EndpointConfig::new(Arc::new(key));
    let socket =
        std::net::UdpSocket::bind(addr).map_err(|source| QuicError::Bind { addr, source })?;
    let runtime = quinn::default_runtime().ok_or_else(|| QuicError::Bind {
        addr,
        source: std::io::Error::other("no async runtime found for QUIC"),
    })?;
    quinn::Endpoint::new(endpoint_config, Some(config), socket, runtime)
        .map_err(|source| QuicError::Bind { addr, source })
}

/// The node name of an mTLS peer (CN of its verified node certificate), or `None` for a
/// join connection, which has no client certificate. A user certificate (not a node's) also
/// gives `None`, so it cannot pose as a node.
pub fn peer_node_name(conn: &quinn::Connection) -> Option<String> {
    let identity = conn.peer_identity()?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    node_name_from_cert(chain.first()?)
}

/// Client config for joining: accepts the hub only if its chain holds a CA whose
/// [`ca_hash`] is `pinned_ca_hash` (`sha256:<hex>`) and the leaf verifies against that CA for
/// `shoal-hub`. No client certificate.
pub fn join_client_config(pinned_ca_hash: &str) -> Result<quinn::ClientConfig, QuicError> {
    let pinned =
        normalize_ca_hash(pinned_ca_hash).map_err(|source| QuicError::CaHash { source })?;
    let provider = tls::crypto_provider();
    let verifier = PinnedCaVerifier {
        pinned,
        provider: provider.clone(),
    };
    let mut crypto = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(TLS13_ONLY)
        .map_err(|source| TlsError::Config {
            what: "join client",
            source,
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    crypto.alpn_protocols = vec![ALPN.to_vec()];
    quic_client_config(crypto)
}

/// Client config for the everyday connection: trusts only the CA in `ca_pem` and presents the
/// node certificate.
pub fn mtls_client_config(
    ca_pem: &str,
    node_cert_pem: &str,
    node_key_pem: &str,
) -> Result<quinn::ClientConfig, QuicError> {
    let mut crypto = tls::client_config(ca_pem, Some((node_cert_pem, node_key_pem)), TLS13_ONLY)?;
    crypto.alpn_protocols = vec![ALPN.to_vec()];
    quic_client_config(crypto)
}

fn quic_client_config(crypto: rustls::ClientConfig) -> Result<quinn::ClientConfig, QuicError> {
    let crypto =
        QuicClientConfig::try_from(crypto).map_err(|source| QuicError::CipherSuite { source })?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport_config(true));
    Ok(config)
}

/// A client endpoint on an ephemeral port of the unspecified address of `remote`'s family.
/// Must run inside a tokio runtime.
pub fn client_endpoint(remote: SocketAddr) -> Result<quinn::Endpoint, QuicError> {
    let local = match remote {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    quinn::Endpoint::client(local).map_err(|source| QuicError::Bind {
        addr: local,
        source,
    })
}

/// Connects to the hub at `addr` as [`HUB_SERVER_NAME`] and waits for the handshake. A join
/// config whose pinned CA is not the hub's fails with [`QuicError::HubCaMismatch`].
pub fn connect(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
) -> impl std::future::Future<Output = Result<quinn::Connection, QuicError>> + Send + 'static {
    let connecting = endpoint
        .connect_with(config, addr, HUB_SERVER_NAME)
        .map_err(|source| QuicError::Connect { addr, source });
    async move {
        connecting?.await.map_err(|source| {
            if is_ca_mismatch(&source) {
                QuicError::HubCaMismatch { addr }
            } else {
                QuicError::Handshake { addr, source }
            }
        })
    }
}

/// Whether a failed handshake was our own verifier refusing the hub's CA. quinn reports a
/// local TLS failure as a transport error whose reason is the rustls error text.
fn is_ca_mismatch(err: &quinn::ConnectionError) -> bool {
    matches!(err, quinn::ConnectionError::TransportError(t) if t.reason.contains(CA_MISMATCH_MESSAGE))
}

/// The error our verifier raises on a CA hash mismatch.
///
/// Design: rustls renders `CertificateError::Other` with `Debug`, and that text is all quinn
/// keeps of a local TLS failure, so `Debug` prints the message [`is_ca_mismatch`] looks for.
struct CaMismatch;

impl std::fmt::Debug for CaMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(CA_MISMATCH_MESSAGE)
    }
}

impl std::fmt::Display for CaMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(CA_MISMATCH_MESSAGE)
    }
}

impl std::error::Error for CaMismatch {}

/// Verifies a hub by the CA hash pinned in a join token (see [`join_client_config`]).
#[derive(Debug)]
struct PinnedCaVerifier {
    /// `sha256:<lowercase hex>`.
    pinned: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Design: the pin selects the trust anchor from what the hub sent; everything else
        // (signature, validity, name, usages) is ordinary WebPKI verification against it.
        let Some(ca) = intermediates
            .iter()
            .find(|c| ca_hash(c.as_ref()) == self.pinned)
        else {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(CaMismatch)),
            )));
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(format!("pinned CA verifier: {e}")))?;
        webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
