//! `shoalctl exec POD|TYPE/NAME [-c CONTAINER] [-i] [-t] -- COMMAND [ARG...]`: runs a
//! command in a container through the hub's standard
//! `/api/v1/namespaces/NS/pods/NAME/exec` endpoint, over WebSocket with Kubernetes' channel
//! protocol (`v5.channel.k8s.io`, falling back to `v4`), as kubectl 1.30+ does.
//!
//! ```text
//!  stdin thread ──(bounded channel)──> loop ── ws [0]+bytes / [255,0] (v5: stdin closed)
//!  stdout <── [1]+bytes ── loop <── ws    stderr <── [2]+bytes    exit <── [3]+Status
//! ```
//!
//! The TLS connection is rustls (ring) trusting only the kubeconfig's CA, like every other
//! request; the WebSocket handshake is tungstenite's over that stream. A failed upgrade's
//! `Status` body is reported as kubectl reports API errors. The command's exit code becomes
//! shoalctl's (`command terminated with exit code N` on stderr, as kubectl says).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

use super::logs::pod_of;
use super::{CmdError, GlobalArgs, Outcome, Session};
use crate::client::{self, ClientError, TransportError};

/// Channel numbers of the Kubernetes stream protocol.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
/// v5: "this stream is closed" (followed by the stream's number).
const CLOSE: u8 = 255;
/// Largest stdin chunk sent in one message.
const CHUNK: usize = 32 * 1024;

#[derive(Debug, clap::Args)]
pub struct Exec {
    /// POD, or TYPE/NAME of a pod or workload (its first pod).
    #[arg(value_name = "POD")]
    target: String,
    /// Container name (needed when the pod has several).
    #[arg(short = 'c', long)]
    container: Option<String>,
    /// Pass stdin to the command.
    #[arg(short = 'i', long)]
    stdin: bool,
    /// Ask for a TTY (the local terminal is not switched to raw mode).
    #[arg(short = 't', long)]
    tty: bool,
    /// The command and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// The exec endpoint's query (pure).
pub fn exec_query(command: &[String], container: Option<&str>, stdin: bool, tty: bool) -> String {
    let mut parts: Vec<String> = command
        .iter()
        .map(|c| format!("command={}", client::encode(c)))
        .collect();
    if let Some(c) = container {
        parts.push(format!("container={}", client::encode(c)));
    }
    parts.push(format!("stdin={stdin}"));
    parts.push("stdout=true".into());
    parts.push(format!("stderr={}", !tty));
    parts.push(format!("tty={tty}"));
    format!("?{}", parts.join("&"))
}

/// How the command ended, from the channel-3 `Status` (pure): `Ok(0)` on Success, the code of
/// a `NonZeroExitCode`, or the message of any other failure.
pub fn exit_of(status: &Value) -> Result<u8, String> {
    if status.get("status").and_then(Value::as_str) == Some("Success") {
        return Ok(0);
    }
    if status.get("reason").and_then(Value::as_str) == Some("NonZeroExitCode") {
        let code = status
            .pointer("/details/causes")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|c| c.get("reason").and_then(Value::as_str) == Some("ExitCode"))
            })
            .and_then(|c| c.get("message").and_then(Value::as_str))
            .and_then(|m| m.parse::<i64>().ok())
            .unwrap_or(1);
        return Ok(u8::try_from(code.clamp(1, 255)).unwrap_or(1));
    }
    Err(status
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the command failed")
        .to_string())
}

/// `(host, port)` of an `https://host:port` server URL.
fn host_port(server: &str) -> Option<(String, u16)> {
    let rest = server.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once(']')?;
        let port = p.strip_prefix(':').map_or(Some(443), |p| p.parse().ok())?;
        return Some((h.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), 443)),
    }
}

impl Exec {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let sess = Session::connect(g)?;
        let pod = pod_of(&sess, &self.target)?;
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}/exec{}",
            client::encode(&sess.conn.namespace),
            client::encode(&pod),
            exec_query(
                &self.command,
                self.container.as_deref(),
                self.stdin,
                self.tty
            )
        );
        let server = sess.conn.server.clone();
        let unreachable = |source: TransportError| ClientError::Unreachable {
            server: server.clone(),
            source,
        };
        let (host, port) = host_port(&server).ok_or_else(|| {
            CmdError::Usage(format!("exec needs an https:// server, not {server}"))
        })?;
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|_| unreachable(TransportError::HostNotFound))?
            .next()
            .ok_or_else(|| unreachable(TransportError::HostNotFound))?;
        let tcp = TcpStream::connect_timeout(&addr, client::CONNECT_TIMEOUT).map_err(|e| {
            unreachable(match e.kind() {
                std::io::ErrorKind::ConnectionRefused => TransportError::Refused,
                _ => TransportError::Other(e.to_string()),
            })
        })?;
        // The upgrade answer is bounded by --request-timeout like any request.
        let handshake_timeout = (!g.request_timeout.is_zero()).then_some(g.request_timeout);
        let _ = tcp.set_read_timeout(handshake_timeout);
        let tls = tls_stream(&sess, &host, tcp).map_err(unreachable)?;
        let url = format!("wss://{host}:{port}{path}");
        let mut req = url
            .into_client_request()
            .map_err(|e| CmdError::Usage(format!("cannot build the exec request: {e}")))?;
        let headers = req.headers_mut();
        let header = |v: &str| {
            tungstenite::http::HeaderValue::from_str(v)
                .map_err(|_| CmdError::Usage("the token is not a valid HTTP header".into()))
        };
        headers.insert(
            "Sec-WebSocket-Protocol",
            header("v5.channel.k8s.io, v4.channel.k8s.io")?,
        );
        if let Some(t) = &sess.conn.token {
            headers.insert("Authorization", header(&format!("Bearer {t}"))?);
        }
        let (mut ws, resp) = match tungstenite::client::client(req, tls) {
            Ok(x) => x,
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
                return Err(upgrade_refused(&path, r.status().as_u16(), r.body().as_deref()).into())
            }
            Err(tungstenite::HandshakeError::Interrupted(_)) => {
                return Err(unreachable(TransportError::TimedOut(format!(
                    "no answer to the exec upgrade within {}s; does the hub serve exec?",
                    g.request_timeout.as_secs()
                )))
                .into())
            }
            Err(e) => {
                return Err(unreachable(TransportError::Other(format!(
                    "the exec upgrade failed: {e}"
                )))
                .into())
            }
        };
        let v5 = resp
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            == Some("v5.channel.k8s.io");
        // Reads wake up regularly to pass on stdin.
        let _ = ws
            .get_mut()
            .sock
            .set_read_timeout(Some(Duration::from_millis(50)));

        let input = self.stdin.then(spawn_stdin);
        let mut stdin_open = input.is_some();
        let mut stderr = std::io::stderr();
        let mut exit: Option<Result<u8, String>> = None;
        loop {
            if let (true, Some(rx)) = (stdin_open, &input) {
                loop {
                    match rx.try_recv() {
                        Ok(Some(bytes)) => {
                            let mut msg = Vec::with_capacity(bytes.len() + 1);
                            msg.push(STDIN);
                            msg.extend_from_slice(&bytes);
                            send(&mut ws, msg)?;
                        }
                        Ok(None) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                            stdin_open = false;
                            if v5 {
                                send(&mut ws, vec![CLOSE, STDIN])?;
                            }
                            break;
                        }
                        Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    }
                }
            }
            match ws.read() {
                Ok(Message::Binary(b)) if !b.is_empty() => match b[0] {
                    STDOUT => {
                        out.write_all(&b[1..])?;
                        out.flush()?;
                    }
                    STDERR => {
                        stderr.write_all(&b[1..])?;
                    }
                    ERROR if b.len() > 1 => {
                        let status: Value = serde_json::from_slice(&b[1..]).unwrap_or(Value::Null);
                        exit = Some(exit_of(&status));
                    }
                    _ => {}
                },
                Ok(Message::Close(_)) => break,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    break
                }
                Err(e) => {
                    if exit.is_some() {
                        break;
                    }
                    return Err(unreachable(TransportError::Other(format!(
                        "the exec stream broke: {e}"
                    )))
                    .into());
                }
            }
        }
        let _ = ws.close(None);
        match exit {
            None | Some(Ok(0)) => Ok(Outcome::Done),
            Some(Ok(code)) => {
                eprintln!("command terminated with exit code {code}");
                Ok(Outcome::Exit(code))
            }
            Some(Err(message)) => Err(CmdError::Usage(message)),
        }
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_stream(sess: &Session, host: &str, tcp: TcpStream) -> Result<Tls, TransportError> {
    let tls_err = |detail: String| TransportError::Tls {
        detail,
        ca_origin: sess.conn.ca_origin.clone(),
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in &sess.conn.ca {
        roots.add(c.clone()).map_err(|e| tls_err(e.to_string()))?;
    }
    // Design: the ring provider is passed explicitly, as in the HTTP client.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_err(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| tls_err(e.to_string()))?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| tls_err(e.to_string()))?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

fn send(ws: &mut tungstenite::WebSocket<Tls>, msg: Vec<u8>) -> Result<(), CmdError> {
    ws.send(Message::Binary(msg.into())).map_err(|e| {
        CmdError::Client(ClientError::Unexpected {
            method: "GET",
            path: "exec".into(),
            code: 0,
            snippet: format!("cannot send stdin: {e}"),
        })
    })
}

/// Reads stdin on its own thread into a bounded channel; `None` marks the end.
fn spawn_stdin() -> std::sync::mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = std::sync::mpsc::sync_channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; CHUNK];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    if tx.send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// The error for a refused upgrade: the API's `Status` when the body is one.
fn upgrade_refused(path: &str, code: u16, body: Option<&[u8]>) -> ClientError {
    if let Some(v) = body.and_then(|b| serde_json::from_slice::<Value>(b).ok()) {
        if v.get("kind").and_then(Value::as_str) == Some("Status") {
            return ClientError::Status {
                code,
                reason: v
                    .get("reason")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                    .unwrap_or("Unknown")
                    .to_string(),
                message: v
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            };
        }
    }
    if code == 401 {
        return ClientError::Status {
            code,
            reason: "Unauthorized".into(),
            message: "the hub refused the token".into(),
        };
    }
    ClientError::Unexpected {
        method: "GET",
        path: path.split('?').next().unwrap_or(path).to_string(),
        code,
        snippet: String::from_utf8_lossy(body.unwrap_or_default())
            .chars()
            .take(200)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_query_repeats_command() {
        let cmd = vec!["sh".to_string(), "-c".to_string(), "echo a b".to_string()];
        assert_eq!(
            exec_query(&cmd, Some("c1"), true, false),
            "?command=sh&command=-c&command=echo%20a%20b&container=c1&stdin=true&stdout=true&stderr=true&tty=false"
        );
        assert!(exec_query(&cmd, None, false, true)
            .ends_with("stdin=false&stdout=true&stderr=false&tty=true"));
    }

    #[test]
    fn exit_codes_come_from_the_status() {
        assert_eq!(exit_of(&json!({"status": "Success"})), Ok(0));
        assert_eq!(
            exit_of(
                &json!({"status": "Failure", "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}})
            ),
            Ok(3)
        );
        assert_eq!(
            exit_of(&json!({"status": "Failure", "message": "container not found"})),
            Err("container not found".into())
        );
    }

    #[test]
    fn servers_split_into_host_and_port() {
        assert_eq!(
            host_port("https://127.0.0.1:6443"),
            Some(("127.0.0.1".into(), 6443))
        );
        assert_eq!(
            host_port("https://hub.example"),
            Some(("hub.example".into(), 443))
        );
        assert_eq!(host_port("https://[::1]:8443"), Some(("::1".into(), 8443)));
        assert_eq!(host_port("http://x:1"), None);
    }
}
