//! Joining the hub once: token in, node credentials out.
//!
//! Flow ([`ensure_joined`]): if the data directory already holds credentials for this node,
//! use them. Otherwise read the join token, make a key and CSR ([`pki::NodeKey`]), dial the hub
//! with the token's pinned CA ([`quic::join_client_config`]), send a [`JoinRequest`] on one
//! bi-stream, read the [`JoinResponse`], check the CA the hub hands out is the pinned one, and
//! save everything ([`crate::credentials::save`]).
//!
//! Failures split in two ([`JoinError::is_retryable`]): an unreachable hub is retried with
//! [`crate::backoff::LINK`] until shutdown; a hub that refuses the token, a hub whose CA is not
//! the token's (a forged or wrong hub), or an unusable token ends the agent with the reason.

use std::path::PathBuf;

use shoal_transport::frame::{self, FrameError};
use shoal_transport::pki::{self, NodeKey, PkiError};
use shoal_transport::quic::{self, QuicError};
use shoal_transport::token::{JoinToken, TokenError};
use shoal_transport::wire::{JoinRequest, JoinResponse};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backoff::{Backoff, LINK};
use crate::config::AgentConfig;
use crate::credentials::{self, CredentialsError, NodeCredentials};
use crate::error_chain;
use crate::hub_addr::{resolve_hub, ResolveError};

/// Largest join answer accepted (certificates and credentials are a few KiB).
pub const MAX_JOIN_RESPONSE: usize = 256 * 1024;
/// Longest wait for the hub's join answer once connected; then the attempt is retried.
/// Design: keep-alives keep a connection whose stream got stuck open forever, so without this
/// bound a node could wait for its answer indefinitely (seen with 3,000 hollow nodes joining
/// at once).
pub const JOIN_ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("reading the join token file {path} failed")]
    ReadToken {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the join token in {path} is invalid")]
    Token {
        path: PathBuf,
        #[source]
        source: TokenError,
    },
    #[error("hub refused the join: {message}")]
    Rejected { message: String },
    /// The hub's TLS chain holds no CA with the token's hash: the wrong hub, or a forged one.
    #[error(transparent)]
    HubCaMismatch(QuicError),
    #[error(
        "the hub handed out CA {got}, but the join token pins {expected}; refusing to trust it"
    )]
    CaPin { expected: String, got: String },
    #[error("the hub issued a certificate for node {got:?} instead of {expected:?}")]
    WrongNode { expected: String, got: String },
    #[error("the hub's join answer holds an unusable {what}")]
    BadAnswer {
        what: &'static str,
        #[source]
        source: PkiError,
    },
    #[error("making the node key or certificate request failed")]
    Key {
        #[source]
        source: PkiError,
    },
    #[error("building the join client's TLS configuration failed")]
    ClientConfig {
        #[source]
        source: QuicError,
    },
    #[error("the hub speaks another protocol version")]
    Version {
        #[source]
        source: FrameError,
    },
    #[error("reading the node credentials failed")]
    Load {
        #[source]
        source: CredentialsError,
    },
    #[error("saving the node credentials failed")]
    Save {
        #[source]
        source: CredentialsError,
    },
    #[error("a blocking task did not complete")]
    Blocking {
        #[source]
        source: tokio::task::JoinError,
    },
    // Retryable from here on.
    #[error("the hub address could not be resolved")]
    Resolve {
        #[source]
        source: ResolveError,
    },
    #[error("connecting to the hub failed")]
    Connect {
        #[source]
        source: QuicError,
    },
    #[error("the join stream failed while {what}")]
    Stream {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the hub closed the join stream without answering")]
    NoAnswer,
    #[error("the hub did not answer the join within {}s", JOIN_ANSWER_TIMEOUT.as_secs())]
    NoAnswerInTime,
}

impl JoinError {
    /// Whether trying again later can help (the hub was unreachable or the link broke).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            JoinError::Resolve { .. }
                | JoinError::Connect { .. }
                | JoinError::Stream { .. }
                | JoinError::NoAnswer
                | JoinError::NoAnswerInTime
        )
    }
}

/// Returns this node's credentials, joining the hub first if the data directory has none.
/// `Ok(None)` when `shutdown` fired before the join completed.
pub async fn ensure_joined(
    config: &AgentConfig,
    endpoint: &quinn::Endpoint,
    shutdown: &CancellationToken,
) -> Result<Option<NodeCredentials>, JoinError> {
    let data_dir = config.data_dir.clone();
    let node = config.node_name.clone();
    let existing = tokio::task::spawn_blocking(move || credentials::load(&data_dir, &node))
        .await
        .map_err(|source| JoinError::Blocking { source })?
        .map_err(|source| JoinError::Load { source })?;
    if let Some(creds) = existing {
        return Ok(Some(creds));
    }

    let text = tokio::fs::read_to_string(&config.token_file)
        .await
        .map_err(|source| JoinError::ReadToken {
            path: config.token_file.clone(),
            source,
        })?;
    let token = JoinToken::parse(&text).map_err(|source| JoinError::Token {
        path: config.token_file.clone(),
        source,
    })?;
    info!(hub = %config.hub, node = %config.node_name, "joining the hub");

    let mut backoff = Backoff::new(LINK);
    let creds = loop {
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            r = join(endpoint, &config.hub, &token, &config.node_name) => r,
        };
        match attempt {
            Ok(creds) => break creds,
            Err(e) if e.is_retryable() => {
                let delay = backoff.next_delay();
                warn!(hub = %config.hub, node = %config.node_name, error = %error_chain(&e), retry_in = ?delay, "joining the hub failed; will retry");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => return Err(e),
        }
    };

    let data_dir = config.data_dir.clone();
    let to_save = creds.clone();
    tokio::task::spawn_blocking(move || credentials::save(&data_dir, &to_save))
        .await
        .map_err(|source| JoinError::Blocking { source })?
        .map_err(|source| JoinError::Save { source })?;
    info!(node = %config.node_name, data_dir = %config.data_dir.display(), "joined the hub; credentials saved");
    Ok(Some(creds))
}

/// One join attempt against the hub at `hub` (`HOST:PORT`).
pub async fn join(
    endpoint: &quinn::Endpoint,
    hub: &str,
    token: &JoinToken,
    node_name: &str,
) -> Result<NodeCredentials, JoinError> {
    let addr = resolve_hub(hub)
        .await
        .map_err(|source| JoinError::Resolve { source })?;
    let key = NodeKey::generate().map_err(|source| JoinError::Key { source })?;
    let csr_pem = key
        .csr_pem(node_name)
        .map_err(|source| JoinError::Key { source })?;
    let client_config = quic::join_client_config(&token.ca_hash)
        .map_err(|source| JoinError::ClientConfig { source })?;
    let conn = quic::connect(endpoint, client_config, addr)
        .await
        .map_err(|e| match e {
            QuicError::HubCaMismatch { .. } => JoinError::HubCaMismatch(e),
            source => JoinError::Connect { source },
        })?;
    let request = JoinRequest {
        token_secret: token.secret.clone(),
        node_name: node_name.to_string(),
        csr_pem,
    };
    let answer = tokio::time::timeout(JOIN_ANSWER_TIMEOUT, exchange(&conn, &request))
        .await
        .unwrap_or(Err(JoinError::NoAnswerInTime));
    conn.close(0u32.into(), b"join done");
    let accepted = match answer? {
        JoinResponse::Accepted(a) => a,
        JoinResponse::Rejected(message) => return Err(JoinError::Rejected { message }),
    };

    let got =
        pki::ca_hash_of_pem(&accepted.ca_cert_pem).map_err(|source| JoinError::BadAnswer {
            what: "CA certificate",
            source,
        })?;
    if got != token.ca_hash {
        return Err(JoinError::CaPin {
            expected: token.ca_hash.clone(),
            got,
        });
    }
    let der = pki::first_cert_der(&accepted.node_cert_pem, "node").map_err(|source| {
        JoinError::BadAnswer {
            what: "node certificate",
            source,
        }
    })?;
    let issued_for = pki::node_name_from_cert(&der).unwrap_or_default();
    if issued_for != node_name {
        return Err(JoinError::WrongNode {
            expected: node_name.to_string(),
            got: issued_for,
        });
    }
    Ok(NodeCredentials {
        ca_cert_pem: accepted.ca_cert_pem,
        node_cert_pem: accepted.node_cert_pem,
        node_key_pem: key.key_pem().to_string(),
        mqtt: accepted.mqtt,
    })
}

/// Request out, answer in, on one bi-stream.
async fn exchange(
    conn: &quinn::Connection,
    request: &JoinRequest,
) -> Result<JoinResponse, JoinError> {
    let stream_err = |what: &'static str| {
        move |e: Box<dyn std::error::Error + Send + Sync>| JoinError::Stream { what, source: e }
    };
    let frame_err = |what: &'static str| {
        move |e: FrameError| match e {
            FrameError::WrongVersion { .. } => JoinError::Version { source: e },
            other => JoinError::Stream {
                what,
                source: Box::new(other),
            },
        }
    };
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| stream_err("opening the stream")(Box::new(e)))?;
    frame::write_frame(&mut send, request)
        .await
        .map_err(frame_err("sending the join request"))?;
    send.finish()
        .map_err(|e| stream_err("finishing the request")(Box::new(e)))?;
    frame::read_frame::<JoinResponse>(&mut recv, MAX_JOIN_RESPONSE)
        .await
        .map_err(frame_err("reading the join answer"))?
        .ok_or(JoinError::NoAnswer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hub_that_does_not_answer_in_time_is_retried_a_refusal_is_not() {
        assert!(JoinError::NoAnswerInTime.is_retryable());
        assert!(JoinError::NoAnswer.is_retryable());
        assert!(!JoinError::Rejected {
            message: "bad token".into()
        }
        .is_retryable());
    }
}
