//! TLS for the hub's MQTT client on an external broker (`mqtts://`): the broker's
//! certificate must chain to the CA given with `--mqtt-ca` (a PEM file), and its name must
//! match the URL's host.

use std::path::Path;
use std::sync::Arc;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use rustls::ClientConfig;

#[derive(Debug, thiserror::Error)]
pub enum MqttTlsError {
    #[error("cannot read the MQTT CA file {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the MQTT CA file {path} holds no usable CA certificate")]
    Certificates {
        path: String,
        #[source]
        source: shoal_transport::tls::TlsError,
    },
}

/// The CA PEM at `path` and a client config trusting exactly its certificates. The PEM is
/// also what agents get at join when their broker URL is `mqtts://`.
pub fn load_ca(path: &Path) -> Result<(String, Arc<ClientConfig>), MqttTlsError> {
    let p = path.display().to_string();
    let pem = std::fs::read_to_string(path).map_err(|source| MqttTlsError::Read {
        path: p.clone(),
        source,
    })?;
    let cfg = shoal_transport::tls::mqtt_client_config(&pem)
        .map_err(|source| MqttTlsError::Certificates { path: p, source })?;
    Ok((pem, cfg))
}

/// Makes `opts` use TLS with `tls`; plain TCP when `None`.
pub fn apply(opts: &mut MqttOptions, tls: Option<Arc<ClientConfig>>) {
    if let Some(cfg) = tls {
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(cfg)));
    }
}
