//! Turning the `--hub HOST:PORT` string into a socket address, at every connection attempt (a
//! device may boot before DNS works, and a hub may move).

use std::net::SocketAddr;

use crate::config::split_host_port;

/// Why the hub address could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("the hub address {hub:?} is invalid: {reason}")]
    Invalid { hub: String, reason: String },
    #[error("looking up the hub address {hub} failed")]
    Lookup {
        hub: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the hub address {hub} resolves to no address")]
    NoAddress { hub: String },
}

/// Resolves `HOST:PORT`, preferring an IPv4 address when the name has both kinds (the agent's
/// QUIC endpoint binds the unspecified address of the family it dials).
pub async fn resolve_hub(hub: &str) -> Result<SocketAddr, ResolveError> {
    let (host, port) = split_host_port(hub).map_err(|reason| ResolveError::Invalid {
        hub: hub.to_string(),
        reason,
    })?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|source| ResolveError::Lookup {
            hub: hub.to_string(),
            source,
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| ResolveError::NoAddress {
            hub: hub.to_string(),
        })
}

/// The host half of `HOST:PORT` (brackets of an IPv6 literal removed); empty when invalid.
pub fn hub_host(hub: &str) -> String {
    split_host_port(hub).map(|(h, _)| h).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literal_addresses_resolve_without_dns() {
        let a = resolve_hub("127.0.0.1:7443").await.expect("resolves");
        assert_eq!(a, "127.0.0.1:7443".parse().expect("addr"));
        let a = resolve_hub("[::1]:7443").await.expect("resolves");
        assert_eq!(a, "[::1]:7443".parse().expect("addr"));
        assert!(matches!(
            resolve_hub("nope").await,
            Err(ResolveError::Invalid { .. })
        ));
    }

    #[test]
    fn host_of_hub() {
        assert_eq!(hub_host("hub.example:7443"), "hub.example");
        assert_eq!(hub_host("[::1]:7443"), "::1");
        assert_eq!(hub_host("bad"), "");
    }
}
