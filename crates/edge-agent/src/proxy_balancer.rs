//! The service proxy's pure core: which backend address serves each Service port on this
//! node, and which backend gets the next connection.
//!
//! - [`backends_for`]: a Service port's ready endpoints as socket addresses this node can
//!   reach: a pod on this node at `pod_ip:port`; a pod on another node at `node_ip:host_port`
//!   when it publishes one (devices have no overlay network), else at `pod_ip:port` (for
//!   networks where pod IPs route, such as several agents on one machine).
//! - [`Balancer`]: round robin over the backends, skipping ones that recently refused a
//!   connection (for [`UNREACHABLE_FOR`]), with `sessionAffinity: ClientIP` pinning a client to
//!   its backend until the affinity times out. Replacing the backends keeps the rotation and
//!   the pins that are still valid.
//!
//! Everything is bounded: the affinity table holds at most [`MAX_AFFINITY`] clients (the
//! oldest pin is dropped first).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use shoal_transport::wire::ServicePlan;

/// How long a backend that refused a connection is skipped.
pub const UNREACHABLE_FOR: Duration = Duration::from_secs(5);
/// Most clients pinned per Service port.
pub const MAX_AFFINITY: usize = 4096;

/// The addresses serving Service port `port_name` of `plan` from node `own_node`, in endpoint
/// order (ready endpoints only).
pub fn backends_for(plan: &ServicePlan, port_name: &str, own_node: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for ep in plan.endpoints.iter().filter(|e| e.ready) {
        let Some(p) = ep.ports.iter().find(|p| p.name == port_name) else {
            continue;
        };
        let local = ep.node_name == own_node || ep.node_name.is_empty();
        let addr = if !local && p.host_port != 0 && !ep.node_ip.is_empty() {
            format!("{}:{}", ep.node_ip, p.host_port).parse().ok()
        } else {
            ep.ip
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, p.port))
        };
        if let Some(a) = addr {
            if p.port != 0 && !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// Round robin with unreachable-skipping and optional client-IP affinity.
#[derive(Debug, Default)]
pub struct Balancer {
    backends: Vec<SocketAddr>,
    next: usize,
    /// `Some(timeout)` with `sessionAffinity: ClientIP`.
    affinity: Option<Duration>,
    pinned: HashMap<IpAddr, (SocketAddr, Instant)>,
    unreachable: HashMap<SocketAddr, Instant>,
}

impl Balancer {
    pub fn new(backends: Vec<SocketAddr>, affinity: Option<Duration>) -> Balancer {
        Balancer {
            backends,
            affinity,
            ..Default::default()
        }
    }

    pub fn backends(&self) -> &[SocketAddr] {
        &self.backends
    }

    /// Replaces the backends and affinity setting (an endpoints or Service update).
    pub fn update(&mut self, backends: Vec<SocketAddr>, affinity: Option<Duration>) {
        self.pinned.retain(|_, (b, _)| backends.contains(b));
        self.unreachable.retain(|b, _| backends.contains(b));
        if affinity.is_none() {
            self.pinned.clear();
        }
        self.affinity = affinity;
        self.backends = backends;
        if !self.backends.is_empty() {
            self.next %= self.backends.len();
        }
    }

    /// The backend for the next connection from `client`, or `None` when there is none.
    /// Backends marked unreachable are skipped while any other is left.
    pub fn pick(&mut self, client: IpAddr, now: Instant) -> Option<SocketAddr> {
        if self.backends.is_empty() {
            return None;
        }
        self.unreachable.retain(|_, until| *until > now);
        if let Some(timeout) = self.affinity {
            if let Some((b, at)) = self.pinned.get(&client).copied() {
                if now.duration_since(at) < timeout && !self.unreachable.contains_key(&b) {
                    self.pinned.insert(client, (b, now));
                    return Some(b);
                }
            }
        }
        let n = self.backends.len();
        let mut chosen = None;
        for k in 0..n {
            let b = self.backends[(self.next + k) % n];
            if !self.unreachable.contains_key(&b) {
                chosen = Some(b);
                self.next = (self.next + k + 1) % n;
                break;
            }
        }
        let b = match chosen {
            Some(b) => b,
            None => {
                // Everything failed recently: try in turn anyway rather than refuse.
                let b = self.backends[self.next % n];
                self.next = (self.next + 1) % n;
                b
            }
        };
        if self.affinity.is_some() {
            if self.pinned.len() >= MAX_AFFINITY && !self.pinned.contains_key(&client) {
                if let Some(oldest) = self
                    .pinned
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(c, _)| *c)
                {
                    self.pinned.remove(&oldest);
                }
            }
            self.pinned.insert(client, (b, now));
        }
        Some(b)
    }

    /// A connection to `backend` failed: skip it for [`UNREACHABLE_FOR`].
    pub fn mark_unreachable(&mut self, backend: SocketAddr, now: Instant) {
        if self.backends.contains(&backend) {
            self.unreachable.insert(backend, now + UNREACHABLE_FOR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_transport::wire::{EndpointPlan, EndpointPortPlan};

    fn a(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn client(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn round_robin_visits_every_backend_in_turn() {
        let bs = vec![a("10.0.0.1:80"), a("10.0.0.2:80"), a("10.0.0.3:80")];
        let mut b = Balancer::new(bs.clone(), None);
        let now = Instant::now();
        let picks: Vec<SocketAddr> = (0..6).filter_map(|_| b.pick(client(1), now)).collect();
        assert_eq!(picks, [bs.clone(), bs].concat());
        assert_eq!(Balancer::new(vec![], None).pick(client(1), now), None);
    }

    #[test]
    fn unreachable_backends_are_skipped_for_a_while() {
        let bs = vec![a("10.0.0.1:80"), a("10.0.0.2:80")];
        let mut b = Balancer::new(bs.clone(), None);
        let now = Instant::now();
        b.mark_unreachable(bs[0], now);
        for _ in 0..4 {
            assert_eq!(b.pick(client(1), now), Some(bs[1]));
        }
        b.mark_unreachable(bs[1], now);
        assert!(b.pick(client(1), now).is_some(), "all down: still try one");
        let later = now + UNREACHABLE_FOR + Duration::from_millis(1);
        let picks: Vec<_> = (0..2).filter_map(|_| b.pick(client(1), later)).collect();
        assert!(
            picks.contains(&bs[0]) && picks.contains(&bs[1]),
            "{picks:?}"
        );
    }

    #[test]
    fn client_ip_affinity_pins_until_timeout() {
        let bs = vec![a("10.0.0.1:80"), a("10.0.0.2:80"), a("10.0.0.3:80")];
        let mut b = Balancer::new(bs.clone(), Some(Duration::from_secs(10)));
        let now = Instant::now();
        let first = b.pick(client(1), now).expect("backend");
        for i in 0..5 {
            assert_eq!(b.pick(client(1), now + Duration::from_secs(i)), Some(first));
        }
        let other = b.pick(client(2), now).expect("backend");
        assert_ne!(other, first, "a new client goes round robin");
        // Pinned backend gone: re-pinned elsewhere.
        b.update(
            bs.iter().copied().filter(|x| *x != first).collect(),
            Some(Duration::from_secs(10)),
        );
        let moved = b.pick(client(1), now).expect("backend");
        assert_ne!(moved, first);
        // Timed out: round robin again.
        let mut b = Balancer::new(bs, Some(Duration::from_secs(1)));
        let p1 = b.pick(client(1), now);
        let p2 = b.pick(client(1), now + Duration::from_secs(2));
        assert_ne!(p1, p2);
    }

    #[test]
    fn updates_keep_the_rotation_going() {
        let mut b = Balancer::new(vec![a("10.0.0.1:80"), a("10.0.0.2:80")], None);
        let now = Instant::now();
        b.pick(client(1), now);
        b.update(vec![a("10.0.0.2:80"), a("10.0.0.3:80")], None);
        let picks: Vec<_> = (0..2).filter_map(|_| b.pick(client(1), now)).collect();
        assert_eq!(picks, vec![a("10.0.0.3:80"), a("10.0.0.2:80")]);
    }

    #[test]
    fn backends_are_reached_locally_or_through_the_node() {
        let ep = |ip: &str, node: &str, node_ip: &str, ready: bool, host_port: u16| EndpointPlan {
            ip: ip.into(),
            pod_name: String::new(),
            node_name: node.into(),
            node_ip: node_ip.into(),
            ready,
            ports: vec![EndpointPortPlan {
                name: "http".into(),
                protocol: "TCP".into(),
                port: 8080,
                host_port,
            }],
        };
        let plan = ServicePlan {
            endpoints: vec![
                ep("10.88.0.2", "a", "127.0.0.2", true, 18080),
                ep("10.88.0.3", "b", "127.0.0.3", true, 18081),
                ep("10.88.0.4", "b", "127.0.0.3", true, 0),
                ep("10.88.0.5", "b", "127.0.0.3", false, 18082),
            ],
            ..Default::default()
        };
        assert_eq!(
            backends_for(&plan, "http", "a"),
            vec![
                a("10.88.0.2:8080"),
                a("127.0.0.3:18081"),
                a("10.88.0.4:8080")
            ]
        );
        assert!(backends_for(&plan, "other", "a").is_empty());
    }
}
