//! Runs one container probe (exec, httpGet, tcpSocket) and says whether it passed, with a
//! message for failures. The schedule and thresholds are pure code in [`crate::pods::probe`];
//! this module only performs the check, bounded by the probe's timeout.
//!
//! Network probes go from the agent (the host) to the pod: its IP on the container network,
//! or the node's address for host-network pods, as kubelet does. HTTPS probes do not verify
//! the certificate (kubelet's `InsecureSkipVerify`); redirects are not followed and any status
//! from 200 to 399 passes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shoal_transport::wire::ProbeAction;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error_chain;
use crate::pods::DueProbe;
use crate::runtime::ContainerRuntime;

/// Most bytes of an HTTP response the prober reads (the status line is all it needs).
const HTTP_READ_LIMIT: usize = 4096;

/// Where a probe of a pod connects when the probe names no host.
#[derive(Clone, Debug)]
pub struct ProbeTarget {
    /// The pod's IP, or the node's address for host-network pods.
    pub host: Option<String>,
}

/// Runs `due` and returns (passed, message).
pub async fn run(
    runtime: &dyn ContainerRuntime,
    target: &ProbeTarget,
    due: &DueProbe,
) -> (bool, String) {
    let timeout = Duration::from_secs(u64::from(due.probe.timeout_seconds.max(1)));
    let result = match &due.probe.action {
        ProbeAction::Exec { command } => {
            match runtime
                .probe_exec(&due.uid, &due.container, command, timeout)
                .await
            {
                Ok((0, _)) => Ok(()),
                Ok((code, output)) => Err(format!(
                    "command {command:?} exited with {code}: {}",
                    output.trim()
                )),
                Err(e) => Err(error_chain(&e)),
            }
        }
        ProbeAction::TcpSocket { host, port } => {
            match tokio::time::timeout(timeout, connect(host, target, *port)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(format!("dial tcp port {port}: i/o timeout")),
            }
        }
        ProbeAction::HttpGet {
            scheme,
            host,
            port,
            path,
            headers,
        } => {
            let get = http_get(scheme, host, target, *port, path, headers);
            match tokio::time::timeout(timeout, get).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "Get \"{}://{}:{port}{path}\": context deadline exceeded",
                    scheme.to_ascii_lowercase(),
                    target.host.as_deref().unwrap_or("?")
                )),
            }
        }
    };
    match result {
        Ok(()) => (true, String::new()),
        Err(message) => (false, message),
    }
}

async fn connect(host: &str, target: &ProbeTarget, port: u16) -> Result<TcpStream, String> {
    let host = if host.is_empty() {
        target
            .host
            .clone()
            .ok_or_else(|| "the pod has no IP address yet".to_string())?
    } else {
        host.to_string()
    };
    let addr: SocketAddr = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("lookup {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("lookup {host}: no address"))?,
    };
    TcpStream::connect(addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: {e}"))
}

async fn http_get(
    scheme: &str,
    host: &str,
    target: &ProbeTarget,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Result<(), String> {
    let tcp = connect(host, target, port).await?;
    let host_header = if host.is_empty() {
        target.host.clone().unwrap_or_default()
    } else {
        host.to_string()
    };
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host_header}:{port}\r\nUser-Agent: shoal-probe/1.0\r\nAccept: */*\r\nConnection: close\r\n");
    for (k, v) in headers {
        // Header names and values came from the API; refuse anything that could split lines.
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err(format!("invalid probe header {k:?}"));
        }
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let status = if scheme.eq_ignore_ascii_case("HTTPS") {
        let connector = tokio_rustls::TlsConnector::from(insecure_tls()?);
        let name = rustls_pki_types::ServerName::try_from(host_header.clone())
            .map_err(|e| format!("invalid TLS server name {host_header:?}: {e}"))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        exchange(tls, &request).await?
    } else {
        exchange(tcp, &request).await?
    };
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {status}"))
    }
}

/// Sends the request, reads the status code.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
) -> Result<u16, String> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < HTTP_READ_LIMIT {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    parse_status(&buf).ok_or_else(|| "malformed HTTP response".to_string())
}

/// The status code of an HTTP/1.x status line.
fn parse_status(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

fn insecure_tls() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any server certificate, as kubelet's HTTPS probes do.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use shoal_transport::wire::ProbePlan;
    use tokio::net::TcpListener;

    use super::*;
    use crate::pods::ProbeKind;
    use crate::runtime::FakeRuntime;

    fn due(action: ProbeAction) -> DueProbe {
        DueProbe {
            uid: "u".into(),
            container: "c".into(),
            kind: ProbeKind::Readiness,
            probe: ProbePlan {
                action,
                initial_delay_seconds: 0,
                period_seconds: 1,
                timeout_seconds: 1,
                success_threshold: 1,
                failure_threshold: 1,
            },
            started_at_ms: 0,
        }
    }

    fn local() -> ProbeTarget {
        ProbeTarget {
            host: Some("127.0.0.1".into()),
        }
    }

    /// A one-shot HTTP server answering every connection with `status`.
    async fn http_server(status: u16) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                    )
                    .await;
            }
        });
        port
    }

    #[tokio::test]
    async fn http_and_tcp_probes() {
        let rt = FakeRuntime::new();
        let ok = http_server(200).await;
        let bad = http_server(503).await;
        let get = |port| {
            due(ProbeAction::HttpGet {
                scheme: "HTTP".into(),
                host: String::new(),
                port,
                path: "/healthz".into(),
                headers: vec![("X-Probe".into(), "1".into())],
            })
        };
        assert_eq!(run(&rt, &local(), &get(ok)).await, (true, String::new()));
        let (passed, message) = run(&rt, &local(), &get(bad)).await;
        assert!(!passed);
        assert!(message.contains("503"), "{message}");
        let tcp = due(ProbeAction::TcpSocket {
            host: String::new(),
            port: ok,
        });
        assert!(run(&rt, &local(), &tcp).await.0);
        // A port nobody listens on.
        let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let tcp = due(ProbeAction::TcpSocket {
            host: String::new(),
            port,
        });
        let (passed, message) = run(&rt, &local(), &tcp).await;
        assert!(!passed && message.contains("dial tcp"), "{message}");
        // No pod IP yet.
        let nowhere = ProbeTarget { host: None };
        assert!(!run(&rt, &nowhere, &get(ok)).await.0);
    }

    #[tokio::test]
    async fn exec_probe_uses_the_exit_code() {
        let rt = FakeRuntime::new();
        let exec = due(ProbeAction::Exec {
            command: vec!["true".into()],
        });
        assert!(run(&rt, &local(), &exec).await.0);
        rt.set_probe_exit("c", 1);
        let (passed, message) = run(&rt, &local(), &exec).await;
        assert!(!passed && message.contains("exited with 1"), "{message}");
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 302 Found\r\n"), Some(302));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }
}
