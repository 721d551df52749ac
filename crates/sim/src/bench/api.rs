//! A minimal Kubernetes API client for the benchmarks: the hub's `admin.kubeconfig` (server,
//! CA, bearer token), JSON in and out, every call timed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

/// Largest answer read (a list of 100,000 pods is far bigger; the benchmarks never list them).
pub const MAX_RESPONSE: u64 = 256 * 1024 * 1024;
/// Idle connections kept open to the hub. Design: at least as many as a benchmark has
/// concurrent clients, so every call reuses a connection (ureq's default of 3 per host made
/// most calls of 16 clients pay a new TCP connection and TLS handshake, which is what the
/// store benchmark's p99 measured).
pub const POOL: usize = 64;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("reading the kubeconfig {path} failed: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("{method} {path}: {reason}")]
    Transport {
        method: &'static str,
        path: String,
        reason: String,
    },
    #[error("{method} {path}: HTTP {code}: {body}")]
    Status {
        method: &'static str,
        path: String,
        code: u16,
        body: String,
    },
}

/// Client of one hub.
#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    server: String,
    auth: String,
}

impl Api {
    /// A client from a kubeconfig written by the hub (`certificate-authority-data`, `token`).
    pub fn from_kubeconfig(path: &Path) -> Result<Api, ApiError> {
        Self::from_kubeconfig_with_pool(path, POOL)
    }

    /// [`Api::from_kubeconfig`] keeping at most `pool` idle connections (1 or more).
    pub fn from_kubeconfig_with_pool(path: &Path, pool: usize) -> Result<Api, ApiError> {
        let pool = pool.max(1);
        let bad = |reason: String| ApiError::Kubeconfig {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let server = doc
            .pointer("/clusters/0/cluster/server")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no clusters[0].cluster.server".into()))?
            .trim_end_matches('/')
            .to_string();
        let ca_b64 = doc
            .pointer("/clusters/0/cluster/certificate-authority-data")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no certificate-authority-data".into()))?;
        let token = doc
            .pointer("/users/0/user/token")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no users[0].user.token".into()))?;
        let ca_pem = base64::engine::general_purpose::STANDARD
            .decode(ca_b64)
            .map_err(|e| bad(format!("certificate-authority-data: {e}")))?;
        let ca = ureq::tls::Certificate::from_pem(&ca_pem)
            .map_err(|e| bad(format!("certificate-authority-data: {e}")))?;
        use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .root_certs(RootCerts::new_with_certs(&[ca]))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .max_idle_connections(pool)
            .max_idle_connections_per_host(pool)
            .user_agent("shoal-bench")
            .build()
            .new_agent();
        Ok(Api {
            agent,
            server,
            auth: format!("Bearer {token}"),
        })
    }

    /// Sends one request; returns the JSON answer and how long the call took.
    pub fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<(&'static str, &Value)>,
    ) -> Result<(Value, Duration), ApiError> {
        let url = format!("{}{}", self.server, path);
        let transport = |reason: String| ApiError::Transport {
            method,
            path: path.to_string(),
            reason,
        };
        let start = Instant::now();
        let result = match (method, body) {
            ("GET", _) => self
                .agent
                .get(&url)
                .header("Authorization", &self.auth)
                .call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &self.auth)
                .call(),
            (m, body) => {
                let b = match m {
                    "POST" => self.agent.post(&url),
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.patch(&url),
                };
                let b = b.header("Authorization", &self.auth);
                match body {
                    Some((ct, v)) => b
                        .header("Content-Type", ct)
                        .send(serde_json::to_vec(v).unwrap_or_default().as_slice()),
                    None => b.send_empty(),
                }
            }
        };
        let mut resp = result.map_err(|e| transport(e.to_string()))?;
        let code = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| transport(e.to_string()))?;
        let took = start.elapsed();
        if !(200..300).contains(&code) {
            return Err(ApiError::Status {
                method,
                path: path.to_string(),
                code,
                body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            });
        }
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((value, took))
    }

    /// A streaming GET (a watch): the body as a reader, once the answer is 200.
    pub fn stream(&self, path: &str) -> Result<impl std::io::Read + Send + 'static, ApiError> {
        let resp = self
            .agent
            .get(&format!("{}{}", self.server, path))
            .header("Authorization", &self.auth)
            .call()
            .map_err(|e| ApiError::Transport {
                method: "GET",
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        let code = resp.status().as_u16();
        if code != 200 {
            return Err(ApiError::Status {
                method: "GET",
                path: path.to_string(),
                code,
                body: String::new(),
            });
        }
        Ok(resp.into_body().into_reader())
    }

    pub fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call("GET", path, None).map(|(v, _)| v)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call("POST", path, Some(("application/json", body)))
            .map(|(v, _)| v)
    }

    pub fn merge_patch(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call("PATCH", path, Some(("application/merge-patch+json", body)))
            .map(|(v, _)| v)
    }
}
