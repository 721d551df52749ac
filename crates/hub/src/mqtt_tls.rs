//! TLS for the hub's MQTT client on an external broker (`mqtts://`): the broker's
//! certificate must chain to the CA given with `--mqtt-ca` (a PEM file), and its name must
//! match the URL's host.

use std::path::Path;
use std::sync::Arc;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use rustls::{ClientConfig, RootCertStore};

#[derive(Debug, thiserror::Error)]
pub enum MqttTlsError {
    #[error("cannot read the MQTT CA file {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the MQTT CA file {path} holds no usable certificate")]
    Certificates {
        path: String,
        #[source]
        source: shoal_transport::tls::TlsError,
    },
    #[error("the MQTT CA file {path} holds a certificate rustls rejects as a trust anchor")]
    Anchor {
        path: String,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot build a TLS client config")]
    Config(#[source] rustls::Error),
}

/// A client config trusting exactly the CAs in the PEM file at `path`.
pub fn client_config(path: &Path) -> Result<Arc<ClientConfig>, MqttTlsError> {
    let p = path.display().to_string();
    let pem = std::fs::read_to_string(path).map_err(|source| MqttTlsError::Read {
        path: p.clone(),
        source,
    })?;
    let certs = shoal_transport::tls::parse_cert_chain(&pem, "MQTT CA").map_err(|source| {
        MqttTlsError::Certificates {
            path: p.clone(),
            source,
        }
    })?;
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c).map_err(|source| MqttTlsError::Anchor {
            path: p.clone(),
            source,
        })?;
    }
    let cfg = ClientConfig::builder_with_provider(shoal_transport::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(MqttTlsError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Makes `opts` use TLS with `tls`; plain TCP when `None`.
pub fn apply(opts: &mut MqttOptions, tls: Option<Arc<ClientConfig>>) {
    if let Some(cfg) = tls {
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(cfg)));
    }
}
