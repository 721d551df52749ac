//! Talking to the hub's API.
//!
//! [`Client`] turns requests into answers or [`ClientError`]s a person can act on: an
//! unreachable hub, refused credentials, or the API's own `Status` (printed as kubectl does,
//! `Error from server (NotFound): ...`). The bytes go through a [`Transport`]; the real one,
//! [`UreqTransport`], is ureq over rustls with the ring provider set explicitly and the
//! kubeconfig's CA as its only root. Tests can put a fake transport underneath.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde_json::Value;

use crate::kubeconfig::Connection;

/// Largest response body read (a list of many objects); larger answers are an error, not
/// unbounded memory.
pub const MAX_RESPONSE: u64 = 64 * 1024 * 1024;
/// How long to wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `Accept` for plain objects.
pub const JSON: &str = "application/json";
/// `Accept` for server-side printed tables, falling back to JSON.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
/// `Content-Type` of a Kubernetes strategic merge patch.
pub const STRATEGIC_PATCH: &str = "application/strategic-merge-patch+json";
/// `Content-Type` of a JSON merge patch (RFC 7386).
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// `Content-Type` of a JSON patch (RFC 6902).
pub const JSON_PATCH: &str = "application/json-patch+json";
/// `Accept` for plain text (pod logs).
pub const TEXT: &str = "text/plain, */*";

/// One HTTP request, as the client hands it to a transport.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    /// Path and query, starting with `/`.
    pub path: String,
    pub accept: &'static str,
    /// `(content type, bytes)`.
    pub body: Option<(&'static str, Vec<u8>)>,
    pub token: Option<String>,
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Warning` header texts (`299 - "..."` unwrapped).
    pub warnings: Vec<String>,
}

/// Why no response arrived.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("connection refused")]
    Refused,
    #[error("host not found")]
    HostNotFound,
    #[error("timed out ({0})")]
    TimedOut(String),
    #[error("TLS handshake failed: {detail} (is {ca_origin} the hub's CA?)")]
    Tls { detail: String, ca_origin: String },
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Other(String),
}

/// A response whose body is read as it arrives (watches, followed logs).
pub struct Streamed {
    pub status: u16,
    pub body: Box<dyn std::io::Read>,
}

/// Sends requests; the seam between the client's logic and the network.
pub trait Transport {
    fn send(&self, req: &Request) -> Result<Response, TransportError>;

    /// Sends a request whose answer may never end; no overall timeout applies. The default
    /// reads the whole answer with [`Transport::send`] (enough for fakes).
    fn stream(&self, req: &Request) -> Result<Streamed, TransportError> {
        let r = self.send(req)?;
        Ok(Streamed {
            status: r.status,
            body: Box::new(std::io::Cursor::new(r.body)),
        })
    }
}

/// What a request to the hub can end in, besides success.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the hub at {server}")]
    Unreachable {
        server: String,
        source: TransportError,
    },
    #[error("the hub refused your credentials (Unauthorized): the token is wrong, expired or revoked; {hint}")]
    Unauthorized { hint: String },
    /// A Kubernetes `Status` failure; `message` may carry a prefix saying what was being done.
    #[error("Error from server ({reason}): {message}")]
    Status {
        code: u16,
        reason: String,
        message: String,
    },
    #[error("the hub answered {method} {path} with HTTP {code}: {snippet}")]
    Unexpected {
        method: &'static str,
        path: String,
        code: u16,
        snippet: String,
    },
    #[error("the hub's answer to {path} is not the JSON expected")]
    Decode {
        path: String,
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The `Status` reason (`NotFound`, `AlreadyExists`, ...), if the API answered with one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ClientError::Status { reason, .. } => Some(reason),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.reason() == Some("NotFound")
    }

    /// Prefixes a `Status` message with what was being done, as kubectl does
    /// (`error when creating "pod.yaml": ...`); other errors are returned unchanged.
    pub fn context(self, what: &str) -> ClientError {
        match self {
            ClientError::Status {
                code,
                reason,
                message,
            } => ClientError::Status {
                code,
                reason,
                message: format!("{what}: {message}"),
            },
            other => other,
        }
    }
}

/// The hub's API, authenticated.
pub struct Client {
    transport: Box<dyn Transport>,
    server: String,
    token: Option<String>,
    credentials_hint: String,
}

impl Client {
    pub fn new(transport: Box<dyn Transport>, conn: &Connection) -> Client {
        Client {
            transport,
            server: conn.server.clone(),
            token: conn.token.clone(),
            credentials_hint: conn.credentials_hint.clone(),
        }
    }

    /// Sends a request; a 2xx answer is `Ok`, everything else a [`ClientError`].
    /// API warnings are printed on stderr as kubectl prints them.
    pub fn send(
        &self,
        method: &'static str,
        path: &str,
        accept: &'static str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Vec<u8>, ClientError> {
        let req = Request {
            method,
            path: path.to_string(),
            accept,
            body,
            token: self.token.clone(),
        };
        let resp = self
            .transport
            .send(&req)
            .map_err(|source| ClientError::Unreachable {
                server: self.server.clone(),
                source,
            })?;
        for w in &resp.warnings {
            eprintln!("Warning: {w}");
        }
        if (200..300).contains(&resp.status) {
            return Ok(resp.body);
        }
        Err(self.error_from(method, path, resp))
    }

    fn error_from(&self, method: &'static str, path: &str, resp: Response) -> ClientError {
        if resp.status == 401 {
            return ClientError::Unauthorized {
                hint: self.credentials_hint.clone(),
            };
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&resp.body) {
            if v.get("kind").and_then(Value::as_str) == Some("Status") {
                let reason = v
                    .get("reason")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                    .unwrap_or("Unknown")
                    .to_string();
                let message = v
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                return ClientError::Status {
                    code: resp.status,
                    reason,
                    message,
                };
            }
        }
        let text = String::from_utf8_lossy(&resp.body);
        let snippet: String = text.trim().chars().take(200).collect();
        ClientError::Unexpected {
            method,
            path: path.to_string(),
            code: resp.status,
            snippet,
        }
    }

    /// `GET` decoded as JSON.
    pub fn get(&self, path: &str, accept: &'static str) -> Result<Value, ClientError> {
        let body = self.send("GET", path, accept, None)?;
        decode(path, &body)
    }

    /// `POST` of a JSON object.
    pub fn post(&self, path: &str, obj: &Value) -> Result<Value, ClientError> {
        let body = self.send("POST", path, JSON, Some((JSON, to_bytes(obj))))?;
        decode(path, &body)
    }

    /// `PATCH` with a strategic merge patch.
    pub fn strategic_patch(&self, path: &str, patch: &Value) -> Result<Value, ClientError> {
        self.patch(path, STRATEGIC_PATCH, patch)
    }

    /// `PATCH` with a patch of the given content type ([`STRATEGIC_PATCH`], [`MERGE_PATCH`],
    /// [`JSON_PATCH`]).
    pub fn patch(
        &self,
        path: &str,
        content_type: &'static str,
        patch: &Value,
    ) -> Result<Value, ClientError> {
        let body = self.send("PATCH", path, JSON, Some((content_type, to_bytes(patch))))?;
        decode(path, &body)
    }

    /// `GET` whose body is read as it arrives (a watch, a followed log). A non-2xx answer is
    /// read whole and turned into a [`ClientError`].
    pub fn stream(
        &self,
        path: &str,
        accept: &'static str,
    ) -> Result<Box<dyn std::io::Read>, ClientError> {
        let req = Request {
            method: "GET",
            path: path.to_string(),
            accept,
            body: None,
            token: self.token.clone(),
        };
        let mut resp = self
            .transport
            .stream(&req)
            .map_err(|source| ClientError::Unreachable {
                server: self.server.clone(),
                source,
            })?;
        if (200..300).contains(&resp.status) {
            return Ok(resp.body);
        }
        let mut body = Vec::new();
        let _ = std::io::Read::read_to_end(
            &mut std::io::Read::take(&mut resp.body, 64 * 1024),
            &mut body,
        );
        Err(self.error_from(
            "GET",
            path,
            Response {
                status: resp.status,
                body,
                warnings: Vec::new(),
            },
        ))
    }

    /// `DELETE` of one object.
    pub fn delete(&self, path: &str) -> Result<Value, ClientError> {
        let body = self.send("DELETE", path, JSON, None)?;
        decode(path, &body)
    }
}

fn to_bytes(v: &Value) -> Vec<u8> {
    // Serializing a `Value` cannot fail (its map keys are strings).
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode(path: &str, body: &[u8]) -> Result<Value, ClientError> {
    serde_json::from_slice(body).map_err(|source| ClientError::Decode {
        path: path.to_string(),
        source,
    })
}

/// Percent-encodes a path segment or query value (everything but RFC 3986 unreserved).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k=v&...` for the pairs with non-empty values, or "".
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// ureq 3 over rustls (ring), trusting only the given CA certificates.
pub struct UreqTransport {
    agent: ureq::Agent,
    /// The same, without the overall timeout, for answers that stream.
    streaming: ureq::Agent,
    server: String,
    ca_origin: String,
}

impl UreqTransport {
    /// `timeout` bounds each whole request; `None` waits as long as the hub takes.
    pub fn new(conn: &Connection, timeout: Option<Duration>) -> UreqTransport {
        use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
        let roots: Vec<Certificate<'static>> = conn
            .ca
            .iter()
            .map(|c: &CertificateDer<'static>| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        // Design: the crypto provider is passed explicitly; the process-wide default is never
        // consulted (rustls is built with only `ring`, and nothing installs a default).
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .root_certs(RootCerts::new_with_certs(&roots))
            .build();
        let build = |timeout: Option<Duration>| {
            ureq::Agent::config_builder()
                .tls_config(tls.clone())
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_global(timeout)
                .user_agent(concat!("shoalctl/", env!("CARGO_PKG_VERSION")))
                .build()
                .new_agent()
        };
        UreqTransport {
            agent: build(timeout),
            streaming: build(None),
            server: conn.server.clone(),
            ca_origin: conn.ca_origin.clone(),
        }
    }

    fn classify(&self, e: ureq::Error) -> TransportError {
        let tls = |detail: String| TransportError::Tls {
            detail,
            ca_origin: self.ca_origin.clone(),
        };
        match e {
            ureq::Error::Io(io) => {
                if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    return tls(r.to_string());
                }
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => TransportError::Refused,
                    std::io::ErrorKind::TimedOut => TransportError::TimedOut(io.to_string()),
                    _ => TransportError::Other(io.to_string()),
                }
            }
            ureq::Error::Rustls(r) => tls(r.to_string()),
            ureq::Error::Tls(m) => tls(m.to_string()),
            ureq::Error::HostNotFound => TransportError::HostNotFound,
            ureq::Error::Timeout(t) => TransportError::TimedOut(t.to_string()),
            ureq::Error::BodyExceedsLimit(limit) => TransportError::TooLarge { limit },
            ureq::Error::ConnectionFailed => TransportError::Other("connection failed".into()),
            other => TransportError::Other(other.to_string()),
        }
    }
}

impl UreqTransport {
    fn call(
        &self,
        agent: &ureq::Agent,
        req: &Request,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        let url = format!("{}{}", self.server, req.path);
        let auth = req.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match req.method {
            "GET" | "DELETE" => {
                let mut b = if req.method == "GET" {
                    agent.get(&url)
                } else {
                    agent.delete(&url)
                };
                b = b.header("Accept", req.accept);
                if let Some(a) = &auth {
                    b = b.header("Authorization", a);
                }
                b.call()
            }
            method => {
                let mut b = match method {
                    "POST" => agent.post(&url),
                    "PUT" => agent.put(&url),
                    _ => agent.patch(&url),
                };
                b = b.header("Accept", req.accept);
                if let Some(a) = &auth {
                    b = b.header("Authorization", a);
                }
                match &req.body {
                    Some((ct, bytes)) => b.header("Content-Type", *ct).send(&bytes[..]),
                    None => b.send_empty(),
                }
            }
        };
        result.map_err(|e| self.classify(e))
    }
}

impl Transport for UreqTransport {
    fn stream(&self, req: &Request) -> Result<Streamed, TransportError> {
        let resp = self.call(&self.streaming, req)?;
        let status = resp.status().as_u16();
        let body = resp.into_body().into_with_config().limit(u64::MAX).reader();
        Ok(Streamed {
            status,
            body: Box::new(body),
        })
    }

    fn send(&self, req: &Request) -> Result<Response, TransportError> {
        let mut resp = self.call(&self.agent, req)?;
        let status = resp.status().as_u16();
        let warnings = resp
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(unwrap_warning)
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| self.classify(e))?;
        Ok(Response {
            status,
            body,
            warnings,
        })
    }
}

/// `299 - "text"` -> `text`.
fn unwrap_warning(h: &str) -> String {
    let rest = h
        .trim()
        .strip_prefix("299")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('-'))
        .map(str::trim);
    match rest {
        Some(r) if r.len() >= 2 && r.starts_with('"') && r.ends_with('"') => {
            r[1..r.len() - 1].replace("\\\"", "\"")
        }
        Some(r) => r.to_string(),
        None => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A transport that answers from a script and records what was asked.
    struct Fake {
        answers: RefCell<Vec<Result<Response, TransportError>>>,
        seen: Arc<std::sync::Mutex<Vec<Request>>>,
    }

    impl Transport for Fake {
        fn send(&self, req: &Request) -> Result<Response, TransportError> {
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(req.clone());
            self.answers.borrow_mut().remove(0)
        }
    }

    fn client(
        answers: Vec<Result<Response, TransportError>>,
    ) -> (Client, Arc<std::sync::Mutex<Vec<Request>>>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let conn = Connection {
            server: "https://127.0.0.1:6443".into(),
            ca: vec![],
            ca_origin: String::new(),
            token: Some("tok".into()),
            credentials_hint: "check the token in /k".into(),
            namespace: "default".into(),
            namespace_from_flag: false,
        };
        (
            Client::new(
                Box::new(Fake {
                    answers: RefCell::new(answers),
                    seen: seen.clone(),
                }),
                &conn,
            ),
            seen,
        )
    }

    fn answer(status: u16, body: &str) -> Result<Response, TransportError> {
        Ok(Response {
            status,
            body: body.as_bytes().to_vec(),
            warnings: vec![],
        })
    }

    #[test]
    fn errors_read_like_kubectl() {
        let (c, seen) = client(vec![
            answer(
                404,
                r#"{"kind":"Status","reason":"NotFound","message":"pods \"x\" not found","code":404}"#,
            ),
            answer(
                401,
                r#"{"kind":"Status","reason":"Unauthorized","message":"Unauthorized","code":401}"#,
            ),
            Err(TransportError::Refused),
            answer(502, "<html>bad gateway</html>"),
            answer(200, "not json"),
        ]);
        let e = c
            .get("/api/v1/namespaces/default/pods/x", JSON)
            .expect_err("404");
        assert_eq!(
            e.to_string(),
            "Error from server (NotFound): pods \"x\" not found"
        );
        assert!(e.is_not_found());
        assert_eq!(
            e.context("error when creating \"p.yaml\"").to_string(),
            "Error from server (NotFound): error when creating \"p.yaml\": pods \"x\" not found"
        );
        let e = c.get("/api", JSON).expect_err("401");
        assert_eq!(
            e.to_string(),
            "the hub refused your credentials (Unauthorized): the token is wrong, expired or revoked; check the token in /k"
        );
        let e = c.get("/api", JSON).expect_err("refused");
        assert_eq!(
            crate::cmd::chain(&e),
            "cannot reach the hub at https://127.0.0.1:6443: connection refused"
        );
        let e = c.get("/api", JSON).expect_err("502");
        assert_eq!(
            e.to_string(),
            "the hub answered GET /api with HTTP 502: <html>bad gateway</html>"
        );
        assert!(matches!(
            c.get("/api", JSON),
            Err(ClientError::Decode { .. })
        ));
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(seen[0].token.as_deref(), Some("tok"));
        assert_eq!(seen[0].path, "/api/v1/namespaces/default/pods/x");
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            query(&[
                ("labelSelector", "app=web,tier in (a b)"),
                ("fieldSelector", "")
            ]),
            "?labelSelector=app%3Dweb%2Ctier%20in%20%28a%20b%29"
        );
        assert_eq!(query(&[("a", "")]), "");
        assert_eq!(encode("web-1.x_y~"), "web-1.x_y~");
    }

    #[test]
    fn warnings_are_unwrapped() {
        assert_eq!(
            unwrap_warning(r#"299 - "unknown field \"spec.foo\"""#),
            r#"unknown field "spec.foo""#
        );
        assert_eq!(unwrap_warning("something else"), "something else");
    }
}
