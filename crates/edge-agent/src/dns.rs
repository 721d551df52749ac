//! ClusterDns: the agent's DNS server for pods. It answers Service names from the agent's own
//! copy of the Services ([`crate::dns_answer`], so it works offline) and relays every other
//! query to the host's upstream resolver (the first `nameserver` of `/etc/resolv.conf`).
//!
//! Where it listens: `--cluster-dns` (default `10.88.0.1`, the gateway of Podman's default
//! bridge network), UDP port 53. Pods reach it from their network namespace through the
//! bridge; the pod runtime sets it as their resolver with Kubernetes' search path
//! (`<ns>.svc.<domain> svc.<domain> <domain>`, `ndots:5`). The socket uses IP_FREEBIND, so the
//! server can start before Podman has brought the bridge up, and SO_REUSEPORT, so several agents
//! on one machine can all serve it (they answer alike).
//!
//! Bounds: at most [`MAX_FORWARDS`] upstream queries in flight (more are dropped, and the
//! client retries), each waiting at most [`FORWARD_TIMEOUT`].

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use shoal_transport::wire::ServicePlan;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::dns_answer::{answer, Answer};
use crate::services::DesiredServices;

/// Upstream queries in flight at once.
pub const MAX_FORWARDS: usize = 256;
/// How long an upstream answer is waited for.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// The ClusterDns actor.
pub struct ClusterDns {
    listen: SocketAddr,
    domain: String,
    services: Arc<RwLock<Vec<ServicePlan>>>,
    shutdown: CancellationToken,
}

impl ClusterDns {
    pub fn new(listen: SocketAddr, domain: String, shutdown: CancellationToken) -> ClusterDns {
        ClusterDns {
            listen,
            domain,
            services: Arc::new(RwLock::new(Vec::new())),
            shutdown,
        }
    }
}

/// The first nameserver in resolv.conf text.
pub fn upstream_from_resolv_conf(text: &str) -> Option<SocketAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if addr.is_ipv4() {
        s.set_freebind_v4(true)?;
    } else {
        s.set_freebind_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

impl Actor for ClusterDns {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let socket = match bind(self.listen) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                warn!(addr = %self.listen, error = %e, "cluster DNS cannot listen; pods will not resolve Services by name");
                return;
            }
        };
        info!(addr = %self.listen, domain = %self.domain, "cluster DNS listening");
        let upstream = std::fs::read_to_string("/etc/resolv.conf")
            .ok()
            .and_then(|t| upstream_from_resolv_conf(&t));
        let (services, domain, stop) = (
            self.services.clone(),
            self.domain.clone(),
            self.shutdown.clone(),
        );
        let forwards = Arc::new(Semaphore::new(MAX_FORWARDS));
        ctx.spawn(
            async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let (n, client) = tokio::select! {
                        () = stop.cancelled() => return,
                        r = socket.recv_from(&mut buf) => match r { Ok(x) => x, Err(_) => continue },
                    };
                    let query = &buf[..n];
                    let verdict = {
                        let s = services.read().unwrap_or_else(|p| p.into_inner());
                        answer(query, &s, &domain)
                    };
                    match verdict {
                        Answer::Reply(r) => {
                            let _ = socket.send_to(&r, client).await;
                        }
                        Answer::Drop => {}
                        Answer::Forward => {
                            let (Some(up), Ok(permit)) = (upstream, forwards.clone().try_acquire_owned()) else {
                                continue;
                            };
                            let (socket, query) = (socket.clone(), query.to_vec());
                            tokio::spawn(async move {
                                let _permit = permit;
                                if let Some(r) = forward(up, &query).await {
                                    let _ = socket.send_to(&r, client).await;
                                }
                            });
                        }
                    }
                }
            }
            .into_actor(self),
        );
        let shutdown = self.shutdown.clone();
        ctx.spawn(
            async move { shutdown.cancelled().await }
                .into_actor(self)
                .map(|(), _, ctx| ctx.stop()),
        );
    }
}

async fn forward(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let any: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let s = UdpSocket::bind(any).await.ok()?;
    s.connect(upstream).await.ok()?;
    s.send(query).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(FORWARD_TIMEOUT, s.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

impl Handler<DesiredServices> for ClusterDns {
    type Result = ();

    fn handle(&mut self, msg: DesiredServices, _: &mut Context<Self>) {
        *self.services.write().unwrap_or_else(|p| p.into_inner()) = msg.services;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_is_the_first_nameserver() {
        let conf = "# comment\nsearch example\nnameserver 192.0.2.53\nnameserver 1.1.1.1\n";
        assert_eq!(
            upstream_from_resolv_conf(conf),
            Some("192.0.2.53:53".parse().expect("addr"))
        );
        assert_eq!(upstream_from_resolv_conf("search x\n"), None);
    }
}
