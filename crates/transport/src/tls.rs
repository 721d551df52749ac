//! rustls configurations built from shoal's PEM material, shared by QUIC (`quic`) and the
//! hub's HTTPS API / HTTPS clients.
//!
//! Design: every config is built with an explicit ring [`CryptoProvider`] from
//! [`crypto_provider`]; nothing relies on a process-wide default provider, which a binary may
//! never install (and which panics in rustls when two providers are linked).
//!
//! - Servers present the chain `[leaf, CA]` (a joining agent finds the pinned CA in it) and
//!   accept an optional client certificate, verified against the hub CA when present.
//! - Clients trust only the hub CA and may present a client certificate.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::pki::IssuedCert;
use crate::wire::HUB_SERVER_NAME;

/// TLS 1.3 only: what QUIC requires.
pub static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
/// TLS 1.3 and 1.2: for HTTPS, where older clients may still speak 1.2.
pub static TLS12_AND_13: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Errors while building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the {what} PEM is invalid")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the {what} PEM contains no certificate")]
    NoCertificate { what: &'static str },
    #[error("the CA certificate cannot be used as a trust anchor")]
    TrustAnchor {
        #[source]
        source: rustls::Error,
    },
    #[error("building the certificate verifier failed")]
    Verifier {
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    #[error("building the {what} TLS configuration failed")]
    Config {
        what: &'static str,
        #[source]
        source: rustls::Error,
    },
}

/// The ring crypto provider every shoal TLS config uses.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// All certificates in a PEM string, in order; at least one.
pub fn parse_cert_chain(
    pem: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { what });
    }
    Ok(chain)
}

/// The private key in a PEM string (PKCS#8, SEC1 or PKCS#1).
pub fn parse_private_key(
    pem: &str,
    what: &'static str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|source| TlsError::Pem { what, source })
}

/// A client config for an MQTT broker over TLS (`mqtts://`) that trusts exactly the CA
/// certificates in `ca_pem` (hub and agent share it; ring is the one crypto provider, since
/// rustls panics when two are compiled in and none is chosen). The broker's certificate must
/// also name the host the client dials (a DNS name or an IP SAN).
pub fn mqtt_client_config(ca_pem: &str) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in parse_cert_chain(ca_pem, "MQTT CA")? {
        roots
            .add(c)
            .map_err(|source| TlsError::TrustAnchor { source })?;
    }
    let cfg = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Config {
            what: "MQTT client",
            source,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// A client config for the hub's embedded broker over TLS (`--mqtts-addr`): trusts only the
/// hub CA in `ca_pem` and checks the broker's certificate for the name [`HUB_SERVER_NAME`],
/// whatever host the agent dialed.
///
/// Design: the host an agent dials (an address behind NAT, a DNS name, the hub's `0.0.0.0`
/// bind) is not known when the hub issues its certificate, so it cannot be checked; the QUIC
/// link solves the same problem with this same fixed name. It is sound because the hub CA is
/// private to the cluster (pinned by the join token) and signs `shoal-hub` only into the hub's
/// own server certificate (node CSRs' names are ignored).
pub fn hub_mqtt_client_config(ca_pem: &str) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = crypto_provider();
    let mut roots = RootCertStore::empty();
    for c in parse_cert_chain(ca_pem, "hub CA")? {
        roots
            .add(c)
            .map_err(|source| TlsError::TrustAnchor { source })?;
    }
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|source| TlsError::Verifier { source })?;
    let verifier = Arc::new(HubNameVerifier {
        inner,
        name: ServerName::try_from(HUB_SERVER_NAME).map_err(|_| TlsError::NoCertificate {
            what: "hub server name",
        })?,
    });
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Config {
            what: "MQTT client",
            source,
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// WebPKI verification against the hub CA for the fixed name [`HUB_SERVER_NAME`].
#[derive(Debug)]
struct HubNameVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for HubNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialed: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A root store holding only the hub CA.
pub fn ca_roots(ca_cert_der: &[u8]) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_cert_der.to_vec()))
        .map_err(|source| TlsError::TrustAnchor { source })?;
    Ok(Arc::new(roots))
}

/// A server config presenting `[server leaf, CA]`. Client certificates are optional and,
/// when presented, must chain to the CA: the application decides what an anonymous peer
/// may do (join over QUIC; nothing but unauthenticated endpoints over HTTPS).
pub fn server_config(
    ca_cert_der: &[u8],
    server: &IssuedCert,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ServerConfig, TlsError> {
    let provider = crypto_provider();
    let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        ca_roots(ca_cert_der)?,
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|source| TlsError::Verifier { source })?;
    let mut chain = parse_cert_chain(&server.cert_pem, "server certificate")?;
    // Design: the chain must end with the CA so a joining agent can pin it by hash.
    let ca = CertificateDer::from(ca_cert_der.to_vec());
    if !chain.contains(&ca) {
        chain.push(ca);
    }
    let key = parse_private_key(&server.key_pem, "server key")?;
    ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|source| TlsError::Config {
            what: "server",
            source,
        })?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Config {
            what: "server",
            source,
        })
}

/// The hub's HTTPS server config (TLS 1.2/1.3, optional client certs against the CA). ALPN
/// is left to the HTTP server (actix-web sets `h2`/`http/1.1` itself).
pub fn https_server_config(
    ca_cert_der: &[u8],
    server: &IssuedCert,
) -> Result<ServerConfig, TlsError> {
    server_config(ca_cert_der, server, TLS12_AND_13)
}

/// A client config trusting only the CA in `ca_pem` (standard WebPKI verification, server
/// name checked by the caller's connect), optionally presenting `client` = (cert PEM, key PEM).
pub fn client_config(
    ca_pem: &str,
    client: Option<(&str, &str)>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ClientConfig, TlsError> {
    let provider = crypto_provider();
    let ca = parse_cert_chain(ca_pem, "CA certificate")?;
    let mut roots = RootCertStore::empty();
    for cert in ca {
        roots
            .add(cert)
            .map_err(|source| TlsError::TrustAnchor { source })?;
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|source| TlsError::Config {
            what: "client",
            source,
        })?
        .with_root_certificates(roots);
    match client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_pem, key_pem)) => {
            let chain = parse_cert_chain(cert_pem, "client certificate")?;
            let key = parse_private_key(key_pem, "client key")?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| TlsError::Config {
                    what: "client",
                    source,
                })
        }
    }
}

/// An HTTPS client config (for shoalctl and tests) trusting the hub CA, with an optional
/// client certificate.
pub fn https_client_config(
    ca_pem: &str,
    client: Option<(&str, &str)>,
) -> Result<ClientConfig, TlsError> {
    client_config(ca_pem, client, TLS12_AND_13)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CertAuthority;

    #[test]
    fn configs_build_from_issued_material() {
        let ca = CertAuthority::generate("ca").expect("ca");
        let server = ca.issue_server_cert(&[], &[]).expect("server");
        let admin = ca
            .issue_client_cert("admin", "system:masters")
            .expect("admin");
        assert!(https_server_config(&ca.cert_der, &server).is_ok());
        assert!(server_config(&ca.cert_der, &server, TLS13_ONLY).is_ok());
        assert!(https_client_config(&ca.cert_pem, None).is_ok());
        assert!(https_client_config(&ca.cert_pem, Some((&admin.cert_pem, &admin.key_pem))).is_ok());
    }

    #[test]
    fn the_embedded_broker_is_verified_by_the_hub_name_whatever_host_was_dialed() {
        let ca = CertAuthority::generate("test-ca").expect("ca");
        let server = ca.issue_server_cert(&[], &[]).expect("server");
        assert!(hub_mqtt_client_config(&ca.cert_pem).is_ok());
        assert!(hub_mqtt_client_config("not a cert").is_err());
        let roots = {
            let mut r = RootCertStore::empty();
            r.add(CertificateDer::from(ca.cert_der.clone()))
                .expect("root");
            Arc::new(r)
        };
        let v = HubNameVerifier {
            inner: rustls::client::WebPkiServerVerifier::builder_with_provider(
                roots,
                crypto_provider(),
            )
            .build()
            .expect("verifier"),
            name: ServerName::try_from(HUB_SERVER_NAME).expect("name"),
        };
        let dialed = ServerName::try_from("203.0.113.9").expect("ip");
        let leaf = |pem: &str| parse_cert_chain(pem, "leaf").expect("pem").remove(0);
        assert!(v
            .verify_server_cert(&leaf(&server.cert_pem), &[], &dialed, &[], UnixTime::now())
            .is_ok());
        // A node certificate of the same CA is no broker, nor is another CA's server.
        let key = crate::pki::NodeKey::generate().expect("key");
        let node = ca
            .sign_node_csr(&key.csr_pem("shoal-hub").expect("csr"), "shoal-hub")
            .expect("node cert");
        assert!(v
            .verify_server_cert(&leaf(&node), &[], &dialed, &[], UnixTime::now())
            .is_err());
        let other = CertAuthority::generate("other-ca").expect("ca");
        let foreign = other.issue_server_cert(&[], &[]).expect("server");
        assert!(v
            .verify_server_cert(&leaf(&foreign.cert_pem), &[], &dialed, &[], UnixTime::now())
            .is_err());
    }

    #[test]
    fn bad_pem_is_an_error() {
        assert!(matches!(
            parse_cert_chain("hello", "x"),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(parse_private_key("hello", "x").is_err());
        assert!(https_client_config("not a cert", None).is_err());
        let ca = CertAuthority::generate("ca").expect("ca");
        let bad = IssuedCert {
            cert_pem: ca.cert_pem.clone(),
            key_pem: "nope".into(),
        };
        assert!(https_server_config(&ca.cert_der, &bad).is_err());
    }
}
