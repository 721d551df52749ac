//! ServiceProxy: the agent's kube-proxy. For every Service it listens on the ClusterIP and
//! port (when `--cluster-ip-proxy` is on) and on `--node-ip` at the NodePort (NodePort and
//! LoadBalancer Services), and forwards each TCP connection, or each UDP client's datagrams,
//! to a backend the [`Balancer`] picks (round robin over ready endpoints, skipping ones that
//! just refused, `sessionAffinity: ClientIP` honoured).
//!
//! Data flow: [`DesiredServices`] (from the HubLink, or the local store at start) -> for each
//! listen address the actor keeps one listener task and its balancer. A changed Service or
//! endpoint set only swaps the balancer's backends, so established connections are never
//! dropped by an update; a listener whose Service port is gone stops accepting, and its open
//! connections run to their end.
//!
//! Design (shared machines and ClusterIPs): listeners set SO_REUSEADDR, SO_REUSEPORT and
//! IP_FREEBIND. REUSEPORT lets several agents on one machine (tests, or a device hosting two
//! nodes) all serve the same ClusterIP; FREEBIND lets an agent bind a ClusterIP that is not
//! (yet) local. For pods and host processes to reach ClusterIPs the service CIDR must be local
//! to the host, e.g. `ip route add local 10.43.0.0/16 dev lo` once at device setup (the agent
//! does not change host routing itself); a CIDR inside 127.0.0.0/8 needs nothing (tests).
//!
//! Bounds: at most [`MAX_CONNECTIONS`] proxied TCP connections at once (accepting waits
//! beyond), [`MAX_UDP_SESSIONS`] UDP clients per listener (idle ones expire after
//! [`UDP_IDLE`]), connects time out after [`CONNECT_TIMEOUT`] and are tried on at most
//! [`CONNECT_TRIES`] backends.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use shoal_transport::wire::ServicePlan;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::proxy_balancer::{backends_for, Balancer};
use crate::services::DesiredServices;

/// Most proxied TCP connections at once, over all Services.
pub const MAX_CONNECTIONS: usize = 4096;
/// Most UDP clients tracked per listener.
pub const MAX_UDP_SESSIONS: usize = 1024;
/// A UDP client with no traffic for this long is forgotten.
pub const UDP_IDLE: Duration = Duration::from_secs(30);
/// Connect timeout per backend.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Backends tried per connection before giving up.
pub const CONNECT_TRIES: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Proto {
    Tcp,
    Udp,
}

/// One address the proxy listens on.
type ListenKey = (SocketAddr, Proto);

struct Listener {
    balancer: Arc<Mutex<Balancer>>,
    stop: CancellationToken,
    service: String,
}

/// What the proxy wants for one listen address (pure result of the Services).
#[derive(Debug, PartialEq)]
struct Want {
    service: String,
    backends: Vec<SocketAddr>,
    affinity: Option<Duration>,
}

/// The listen addresses and backends the Services ask for on this node.
fn wanted(
    services: &[ServicePlan],
    node_name: &str,
    node_ip: IpAddr,
    cluster_ips: bool,
) -> HashMap<ListenKey, Want> {
    let mut out = HashMap::new();
    for s in services {
        let cluster_ip: Option<IpAddr> = s.cluster_ip.parse().ok();
        let affinity = s
            .client_ip_affinity
            .then(|| Duration::from_secs(u64::from(s.affinity_timeout_seconds.max(1))));
        for p in &s.ports {
            let proto = match p.protocol.as_str() {
                "TCP" | "" => Proto::Tcp,
                "UDP" => Proto::Udp,
                _ => continue,
            };
            let want = || Want {
                service: format!("{}/{}:{}", s.namespace, s.name, p.port),
                backends: backends_for(s, &p.name, node_name),
                affinity,
            };
            if let (true, Some(ip)) = (cluster_ips, cluster_ip) {
                if p.port != 0 {
                    out.insert((SocketAddr::new(ip, p.port), proto), want());
                }
            }
            if p.node_port != 0 {
                out.insert((SocketAddr::new(node_ip, p.node_port), proto), want());
            }
        }
    }
    out
}

/// The ServiceProxy actor.
pub struct ServiceProxy {
    node_name: String,
    node_ip: IpAddr,
    cluster_ips: bool,
    listeners: HashMap<ListenKey, Listener>,
    connections: Arc<Semaphore>,
    shutdown: CancellationToken,
    /// The last Services received, re-applied every [`RETRY_BIND`] so a listen address that
    /// could not be bound (still in use, say) is retried.
    last: Vec<ServicePlan>,
    /// Addresses whose bind failed (warned about once, then retried quietly).
    failed: std::collections::HashSet<ListenKey>,
}

/// How often listen addresses that failed to bind are retried.
pub const RETRY_BIND: Duration = Duration::from_secs(10);

impl ServiceProxy {
    pub fn new(
        node_name: String,
        node_ip: IpAddr,
        cluster_ips: bool,
        shutdown: CancellationToken,
    ) -> ServiceProxy {
        ServiceProxy {
            node_name,
            node_ip,
            cluster_ips,
            listeners: HashMap::new(),
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            shutdown,
            last: Vec::new(),
            failed: Default::default(),
        }
    }

    fn apply(&mut self, services: &[ServicePlan]) {
        let wanted = wanted(services, &self.node_name, self.node_ip, self.cluster_ips);
        self.failed.retain(|k| wanted.contains_key(k));
        self.listeners.retain(|key, l| {
            let keep = wanted.contains_key(key);
            if !keep {
                info!(service = %l.service, addr = %key.0, "service proxy stops listening");
                l.stop.cancel();
            }
            keep
        });
        for (key, want) in wanted {
            if let Some(l) = self.listeners.get_mut(&key) {
                l.balancer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .update(want.backends, want.affinity);
                l.service = want.service;
                continue;
            }
            let balancer = Arc::new(Mutex::new(Balancer::new(want.backends, want.affinity)));
            let stop = self.shutdown.child_token();
            let started = match key.1 {
                Proto::Tcp => bind_tcp(key.0).map(|l| {
                    tokio::spawn(serve_tcp(
                        l,
                        balancer.clone(),
                        self.connections.clone(),
                        stop.clone(),
                    ));
                }),
                Proto::Udp => bind_udp(key.0).map(|s| {
                    tokio::spawn(serve_udp(s, balancer.clone(), stop.clone()));
                }),
            };
            match started {
                Ok(()) => {
                    self.failed.remove(&key);
                    info!(service = %want.service, addr = %key.0, proto = ?key.1, "service proxy listening");
                    self.listeners.insert(
                        key,
                        Listener {
                            balancer,
                            stop,
                            service: want.service,
                        },
                    );
                }
                // Retried every RETRY_BIND and with the next update of the Services.
                Err(e) => {
                    if self.failed.insert(key) {
                        warn!(service = %want.service, addr = %key.0, error = %e, "service proxy cannot listen; retrying");
                    } else {
                        debug!(service = %want.service, addr = %key.0, error = %e, "service proxy still cannot listen");
                    }
                }
            }
        }
    }
}

impl Actor for ServiceProxy {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let shutdown = self.shutdown.clone();
        ctx.spawn(
            async move { shutdown.cancelled().await }
                .into_actor(self)
                .map(|(), _, ctx| ctx.stop()),
        );
        ctx.run_interval(RETRY_BIND, |act, _| {
            let last = std::mem::take(&mut act.last);
            act.apply(&last);
            act.last = last;
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        for l in self.listeners.values() {
            l.stop.cancel();
        }
    }
}

impl Handler<DesiredServices> for ServiceProxy {
    type Result = ();

    fn handle(&mut self, msg: DesiredServices, _: &mut Context<Self>) {
        self.apply(&msg.services);
        self.last = msg.services;
    }
}

fn socket_for(addr: SocketAddr, ty: socket2::Type) -> std::io::Result<socket2::Socket> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, ty, None)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if addr.is_ipv4() {
        s.set_freebind_v4(true)?;
    } else {
        s.set_freebind_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = socket_for(addr, socket2::Type::STREAM)?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = socket_for(addr, socket2::Type::DGRAM)?;
    UdpSocket::from_std(s.into())
}

async fn serve_tcp(
    listener: TcpListener,
    balancer: Arc<Mutex<Balancer>>,
    connections: Arc<Semaphore>,
    stop: CancellationToken,
) {
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            p = connections.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (client, peer) = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let balancer = balancer.clone();
        tokio::spawn(async move {
            forward_tcp(client, peer, &balancer).await;
            drop(permit);
        });
    }
}

/// Connects to a backend (trying up to [`CONNECT_TRIES`]) and copies both ways until either
/// side closes.
async fn forward_tcp(mut client: TcpStream, peer: SocketAddr, balancer: &Mutex<Balancer>) {
    let _ = client.set_nodelay(true);
    for _ in 0..CONNECT_TRIES {
        let Some(backend) = balancer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pick(peer.ip(), Instant::now())
        else {
            return; // no endpoints: the client sees the connection close
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backend)).await {
            Ok(Ok(mut upstream)) => {
                let _ = upstream.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                return;
            }
            Ok(Err(_)) | Err(_) => {
                debug!(%backend, "backend unreachable; trying another");
                balancer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .mark_unreachable(backend, Instant::now());
            }
        }
    }
}

/// UDP: one upstream socket per client (so replies find their way back), relayed until the
/// client has been idle for [`UDP_IDLE`].
async fn serve_udp(socket: UdpSocket, balancer: Arc<Mutex<Balancer>>, stop: CancellationToken) {
    let socket = Arc::new(socket);
    let mut sessions: HashMap<SocketAddr, (Arc<UdpSocket>, tokio::task::JoinHandle<()>)> =
        HashMap::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, client) = tokio::select! {
            () = stop.cancelled() => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(_) => continue,
            },
        };
        let live = sessions
            .get(&client)
            .filter(|(_, task)| !task.is_finished())
            .map(|(s, _)| s.clone());
        let upstream = match live {
            Some(u) => u,
            None => {
                sessions.retain(|_, (_, t)| !t.is_finished());
                if sessions.len() >= MAX_UDP_SESSIONS {
                    continue; // full: drop the datagram, as a congested network would
                }
                let Some(backend) = balancer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pick(client.ip(), Instant::now())
                else {
                    continue;
                };
                let any: SocketAddr = if backend.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                let Ok(up) = UdpSocket::bind(any).await else {
                    continue;
                };
                if up.connect(backend).await.is_err() {
                    continue;
                }
                let up = Arc::new(up);
                let task = tokio::spawn(relay_replies(
                    up.clone(),
                    socket.clone(),
                    client,
                    stop.clone(),
                ));
                sessions.insert(client, (up.clone(), task));
                up
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
    for (_, (_, t)) in sessions {
        t.abort();
    }
}

async fn relay_replies(
    upstream: Arc<UdpSocket>,
    listener: Arc<UdpSocket>,
    client: SocketAddr,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(UDP_IDLE) => return,
            r = upstream.recv(&mut buf) => match r {
                Ok(n) => { let _ = listener.send_to(&buf[..n], client).await; }
                Err(_) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_transport::wire::{EndpointPlan, EndpointPortPlan, ServicePortPlan};

    fn plan() -> ServicePlan {
        ServicePlan {
            namespace: "default".into(),
            name: "web".into(),
            service_type: "NodePort".into(),
            cluster_ip: "127.43.0.9".into(),
            ports: vec![ServicePortPlan {
                name: "http".into(),
                protocol: "TCP".into(),
                port: 80,
                node_port: 30080,
            }],
            endpoints: vec![EndpointPlan {
                ip: "10.88.0.2".into(),
                node_name: "a".into(),
                ready: true,
                ports: vec![EndpointPortPlan {
                    name: "http".into(),
                    protocol: "TCP".into(),
                    port: 8080,
                    host_port: 0,
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn listens_on_cluster_ip_and_node_port() {
        let node_ip: IpAddr = "127.0.0.2".parse().expect("ip");
        let w = wanted(&[plan()], "a", node_ip, true);
        let keys: std::collections::BTreeSet<_> = w.keys().copied().collect();
        assert_eq!(
            keys,
            [
                ("127.43.0.9:80".parse().expect("addr"), Proto::Tcp),
                ("127.0.0.2:30080".parse().expect("addr"), Proto::Tcp)
            ]
            .into_iter()
            .collect()
        );
        let no_cluster_ips = wanted(&[plan()], "a", node_ip, false);
        assert_eq!(no_cluster_ips.len(), 1);
        let mut headless = plan();
        headless.cluster_ip = "None".into();
        headless.ports[0].node_port = 0;
        assert!(wanted(&[headless], "a", node_ip, true).is_empty());
    }

    #[actix_rt::test]
    async fn forwards_round_robin_and_keeps_connections_across_updates() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Three loopback "pods" that answer with their name.
        let mut backends = Vec::new();
        for name in ["one", "two", "three"] {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            backends.push(l.local_addr().expect("addr"));
            tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    tokio::spawn(async move {
                        let mut b = [0u8; 4];
                        while let Ok(n) = s.read(&mut b).await {
                            if n == 0 || s.write_all(name.as_bytes()).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            });
        }
        let balancer = Arc::new(Mutex::new(Balancer::new(backends.clone(), None)));
        let listener = bind_tcp("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let front = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        tokio::spawn(serve_tcp(
            listener,
            balancer.clone(),
            Arc::new(Semaphore::new(8)),
            stop.clone(),
        ));
        async fn ask(s: &mut TcpStream) -> String {
            s.write_all(b"?").await.expect("write");
            let mut b = [0u8; 16];
            let n = s.read(&mut b).await.expect("read");
            String::from_utf8_lossy(&b[..n]).into_owned()
        }
        let mut seen = Vec::new();
        for _ in 0..6 {
            let mut c = TcpStream::connect(front).await.expect("connect");
            seen.push(ask(&mut c).await);
        }
        assert_eq!(seen, ["one", "two", "three", "one", "two", "three"]);
        // An open connection survives an update that removes its backend.
        let mut held = TcpStream::connect(front).await.expect("connect");
        assert_eq!(ask(&mut held).await, "one");
        balancer
            .lock()
            .expect("lock")
            .update(backends[1..].to_vec(), None);
        assert_eq!(ask(&mut held).await, "one", "established connection kept");
        let mut c = TcpStream::connect(front).await.expect("connect");
        assert_ne!(
            ask(&mut c).await,
            "one",
            "new connections avoid the removed backend"
        );
        stop.cancel();
    }

    #[actix_rt::test]
    async fn udp_clients_get_replies_from_round_robin_backends() {
        let mut backends = Vec::new();
        for name in ["one", "two"] {
            let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            backends.push(s.local_addr().expect("addr"));
            tokio::spawn(async move {
                let mut b = [0u8; 64];
                while let Ok((_, from)) = s.recv_from(&mut b).await {
                    let _ = s.send_to(name.as_bytes(), from).await;
                }
            });
        }
        let balancer = Arc::new(Mutex::new(Balancer::new(backends, None)));
        let front_sock = bind_udp("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let front = front_sock.local_addr().expect("addr");
        let stop = CancellationToken::new();
        tokio::spawn(serve_udp(front_sock, balancer, stop.clone()));
        let mut answers = Vec::new();
        for _ in 0..2 {
            // A new client socket per round: each is a new UDP session.
            let c = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            c.connect(front).await.expect("connect");
            for _ in 0..2 {
                c.send(b"?").await.expect("send");
                let mut b = [0u8; 16];
                let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut b))
                    .await
                    .expect("a reply in time")
                    .expect("recv");
                answers.push(String::from_utf8_lossy(&b[..n]).into_owned());
            }
        }
        assert_eq!(
            answers,
            ["one", "one", "two", "two"],
            "a client's datagrams stay on its backend; the next client gets the next one"
        );
        stop.cancel();
    }
}
