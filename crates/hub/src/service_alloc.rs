//! ClusterIP and NodePort allocation for Services.
//!
//! The allocations live in the Services themselves (`spec.clusterIP`, `spec.ports[*].nodePort`),
//! so they are as durable as the store and nothing else has to be kept in step with it: the
//! set of addresses and ports in use is read from the stored Services at the moment of each
//! allocation.
//!
//! Data flow: the API handlers take [`ServiceAllocator::lock`] before they read the used set
//! and hold it until the store has acknowledged the Service write, so two concurrent creates
//! can never pick the same address or port (the store publishes a write to readers before it
//! acknowledges it, so the next holder of the lock sees it). [`allocate`] is the pure core:
//! the Service as written, the stored one (on updates), what is in use, and the configured
//! ranges in; the Service with its allocations (or 422 field errors) out.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::validation::FieldError;

/// K3s' default service CIDR.
pub const DEFAULT_SERVICE_CIDR: &str = "10.43.0.0/16";
/// Kubernetes' default NodePort range.
pub const DEFAULT_NODE_PORT_RANGE: &str = "30000-32767";

/// Why a `--service-cidr` or `--service-node-port-range` value is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    #[error("service CIDR {value:?} is not an IPv4 CIDR like 10.43.0.0/16 (prefix 8 to 30)")]
    Cidr { value: String },
    #[error("NodePort range {value:?} is not a range like 30000-32767 (1-65535, low <= high)")]
    Ports { value: String },
}

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, RangeError> {
        let err = || RangeError::Cidr {
            value: s.to_string(),
        };
        let (ip, prefix) = s.trim().split_once('/').ok_or_else(err)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| err())?;
        let prefix: u8 = prefix.parse().map_err(|_| err())?;
        if !(8..=30).contains(&prefix) {
            return Err(err());
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Cidr {
            base: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        })
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.base)
    }

    /// Usable addresses: everything but the network and broadcast addresses.
    fn usable(&self) -> (u32, u32) {
        let first = u32::from(self.base) + 1;
        let last = u32::from(self.base) | !self.mask();
        (first, last - 1)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The hub's service network settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNetwork {
    pub cidr: Cidr,
    pub node_port_low: u16,
    pub node_port_high: u16,
}

impl ServiceNetwork {
    pub fn parse(cidr: &str, node_ports: &str) -> Result<ServiceNetwork, RangeError> {
        let cidr = Cidr::parse(cidr)?;
        let err = || RangeError::Ports {
            value: node_ports.to_string(),
        };
        let (lo, hi) = node_ports.trim().split_once('-').ok_or_else(err)?;
        let lo: u16 = lo.trim().parse().map_err(|_| err())?;
        let hi: u16 = hi.trim().parse().map_err(|_| err())?;
        if lo == 0 || lo > hi {
            return Err(err());
        }
        Ok(ServiceNetwork {
            cidr,
            node_port_low: lo,
            node_port_high: hi,
        })
    }
}

impl Default for ServiceNetwork {
    fn default() -> Self {
        ServiceNetwork::parse(DEFAULT_SERVICE_CIDR, DEFAULT_NODE_PORT_RANGE)
            .expect("the defaults parse")
    }
}

/// Addresses and NodePorts held by the other Services.
#[derive(Debug, Default, Clone)]
pub struct Used {
    pub ips: HashSet<Ipv4Addr>,
    pub node_ports: HashSet<u16>,
}

impl Used {
    /// What `services` hold, leaving out `(namespace, name)` (the Service being written).
    pub fn from_services<'a>(
        services: impl IntoIterator<Item = &'a Value>,
        except: (&str, &str),
    ) -> Used {
        let mut used = Used::default();
        for s in services {
            let ns = s
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = s
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if (ns, name) == except {
                continue;
            }
            if let Some(ip) = s
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .and_then(|ip| ip.parse().ok())
            {
                used.ips.insert(ip);
            }
            for p in s
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(np) = p
                    .get("nodePort")
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok())
                {
                    used.node_ports.insert(np);
                }
            }
        }
        used
    }
}

/// Serializes Service allocations (see the module docs).
pub struct ServiceAllocator {
    pub network: ServiceNetwork,
    lock: tokio::sync::Mutex<()>,
}

impl ServiceAllocator {
    pub fn new(network: ServiceNetwork) -> ServiceAllocator {
        ServiceAllocator {
            network,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Held from reading the used set until the Service write is acknowledged.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }
}

fn service_type(v: &Value) -> &str {
    v.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn wants_node_ports(v: &Value) -> bool {
    matches!(service_type(v), "NodePort" | "LoadBalancer")
}

/// Fills in `spec.clusterIP` and the NodePorts of `svc` (a Service as it will be stored),
/// honouring fixed values and keeping what `old` (the stored version, on updates) had.
/// `seed` picks where the search for a free address or port starts (random in the API; fixed
/// in tests).
pub fn allocate(
    svc: &mut Value,
    old: Option<&Value>,
    used: &Used,
    net: &ServiceNetwork,
    seed: u64,
) -> Result<(), Vec<FieldError>> {
    let mut errs = Vec::new();
    if !svc.get("spec").is_some_and(Value::is_object) {
        return Ok(());
    }
    let type_ = service_type(svc).to_string();
    // ClusterIP.
    let old_ip = old
        .and_then(|o| o.pointer("/spec/clusterIP"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let asked = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let ip: Option<String> = if type_ == "ExternalName" {
        None
    } else {
        match (asked, old_ip) {
            (None, Some(old)) => Some(old),
            (Some(a), Some(old)) if a == old => Some(old),
            (Some(a), Some(_)) => {
                errs.push(FieldError::invalid(
                    "spec.clusterIP",
                    &a,
                    "field is immutable",
                ));
                None
            }
            (Some(a), None) if a == "None" => Some(a),
            (Some(a), None) => match a.parse::<Ipv4Addr>() {
                Err(_) => {
                    errs.push(FieldError::invalid(
                        "spec.clusterIP",
                        &a,
                        "must be a valid IPv4 address or None",
                    ));
                    None
                }
                Ok(addr) if !net.cidr.contains(addr) => {
                    errs.push(FieldError::invalid(
                        "spec.clusterIP",
                        &a,
                        format!(
                            "provided IP is not in the valid range. The range of valid IPs is {}",
                            net.cidr
                        ),
                    ));
                    None
                }
                Ok(addr) if used.ips.contains(&addr) => {
                    errs.push(FieldError::invalid(
                        "spec.clusterIP",
                        &a,
                        "provided IP is already allocated",
                    ));
                    None
                }
                Ok(_) => Some(a),
            },
            (None, None) => match free_ip(used, net, seed) {
                Some(addr) => Some(addr.to_string()),
                None => {
                    errs.push(FieldError {
                        field: "spec.clusterIP".into(),
                        reason: "FieldValueInvalid",
                        message: format!(
                            "Internal error: failed to allocate a serviceIP: range is full ({})",
                            net.cidr
                        ),
                    });
                    None
                }
            },
        }
    };
    let spec = svc["spec"].as_object_mut().expect("checked above");
    match &ip {
        Some(ip) => {
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
            if ip != "None" {
                spec.insert("ipFamilies".into(), json!(["IPv4"]));
                spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
            }
        }
        None => {
            if type_ == "ExternalName" {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
        }
    }
    if ip.as_deref() == Some("None") && wants_node_ports(svc) {
        errs.push(FieldError::invalid(
            "spec.clusterIP",
            "None",
            format!("may not be set to 'None' for {type_} services"),
        ));
    }

    // NodePorts.
    let node_ports = wants_node_ports(svc);
    if node_ports {
        svc["spec"]
            .as_object_mut()
            .expect("checked above")
            .entry("externalTrafficPolicy")
            .or_insert(json!("Cluster"));
    }
    let old_ports: Vec<Value> = old
        .filter(|o| wants_node_ports(o))
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut taken: HashSet<u16> = HashSet::new();
    let mut picked: Vec<(usize, u16)> = Vec::new();
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Fixed ones first, so an automatic pick never takes a port asked for further down.
    let mut automatic = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let asked = p
            .get("nodePort")
            .and_then(Value::as_i64)
            .filter(|n| *n != 0);
        if !node_ports {
            if let Some(n) = asked {
                errs.push(FieldError {
                    field: format!("spec.ports[{i}].nodePort"),
                    reason: "FieldValueForbidden",
                    message: format!(
                        "Forbidden: may not be used when `type` is '{type_}' (nodePort {n})"
                    ),
                });
            }
            continue;
        }
        let kept = old_node_port(&old_ports, p);
        match asked {
            Some(n) => {
                let ok_range = u16::try_from(n)
                    .ok()
                    .filter(|n| (net.node_port_low..=net.node_port_high).contains(n));
                let Some(n16) = ok_range else {
                    errs.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &n.to_string(),
                        format!(
                            "provided port is not in the valid range. The range of valid ports is {}-{}",
                            net.node_port_low, net.node_port_high
                        ),
                    ));
                    continue;
                };
                // The same nodePort for two protocols of one port is allowed (DNS on TCP and
                // UDP); any other reuse is a conflict.
                let same_port_other_proto = ports.iter().take(i).any(|q| {
                    q.get("nodePort").and_then(Value::as_i64) == Some(n)
                        && q.get("port") == p.get("port")
                        && q.get("protocol") != p.get("protocol")
                });
                if used.node_ports.contains(&n16)
                    || (taken.contains(&n16) && !same_port_other_proto)
                {
                    errs.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &n.to_string(),
                        "provided port is already allocated",
                    ));
                    continue;
                }
                taken.insert(n16);
            }
            None => automatic.push((i, kept)),
        }
    }
    let mut cursor = seed;
    for (i, kept) in automatic {
        let n = match kept.filter(|k| !taken.contains(k) && !used.node_ports.contains(k)) {
            Some(k) => Some(k),
            None => free_node_port(used, &taken, net, cursor),
        };
        cursor = cursor.wrapping_add(1);
        match n {
            Some(n) => {
                taken.insert(n);
                picked.push((i, n));
            }
            None => errs.push(FieldError {
                field: format!("spec.ports[{i}].nodePort"),
                reason: "FieldValueInvalid",
                message: format!(
                    "Internal error: failed to allocate a nodePort: range {}-{} is full",
                    net.node_port_low, net.node_port_high
                ),
            }),
        }
    }
    if let Some(list) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for (i, n) in picked {
            if let Some(p) = list.get_mut(i).and_then(Value::as_object_mut) {
                p.insert("nodePort".into(), json!(n));
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// The nodePort the stored Service had for the same port (matched by name, then by port and
/// protocol), so an update that leaves it out keeps it, as Kubernetes does.
fn old_node_port(old_ports: &[Value], p: &Value) -> Option<u16> {
    let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
    old_ports
        .iter()
        .find(|o| {
            let oname = o.get("name").and_then(Value::as_str).unwrap_or_default();
            if !name.is_empty() || !oname.is_empty() {
                oname == name
            } else {
                o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol")
            }
        })
        .and_then(|o| o.get("nodePort"))
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
}

fn free_ip(used: &Used, net: &ServiceNetwork, seed: u64) -> Option<Ipv4Addr> {
    let (first, last) = net.cidr.usable();
    let size = u64::from(last - first) + 1;
    let start = seed % size;
    (0..size)
        .map(|k| Ipv4Addr::from(first + ((start + k) % size) as u32))
        .find(|ip| !used.ips.contains(ip))
}

fn free_node_port(
    used: &Used,
    taken: &HashSet<u16>,
    net: &ServiceNetwork,
    seed: u64,
) -> Option<u16> {
    let size = u64::from(net.node_port_high - net.node_port_low) + 1;
    let start = seed % size;
    (0..size)
        .map(|k| net.node_port_low + ((start + k) % size) as u16)
        .find(|p| !used.node_ports.contains(p) && !taken.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn net() -> ServiceNetwork {
        ServiceNetwork::parse("10.43.0.0/29", "30000-30002").expect("valid")
    }

    #[test]
    fn ranges_parse() {
        let n = ServiceNetwork::default();
        assert_eq!(n.cidr.to_string(), "10.43.0.0/16");
        assert_eq!((n.node_port_low, n.node_port_high), (30000, 32767));
        assert_eq!(
            Cidr::parse("10.43.7.9/16").expect("masked").to_string(),
            "10.43.0.0/16"
        );
        for bad in ["10.43.0.0", "10.43.0.0/33", "x/16", "10.0.0.0/31"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        for bad in ["30000", "0-10", "200-100", "1-70000"] {
            assert!(ServiceNetwork::parse("10.43.0.0/16", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cluster_ips_come_from_the_cidr_and_never_twice() {
        let net = net(); // 10.43.0.1 .. 10.43.0.6 usable
        let mut used = Used::default();
        for seed in 0..6 {
            let mut s = svc(json!({"ports": [{"port": 80}]}));
            allocate(&mut s, None, &used, &net, seed).expect("room");
            let ip: Ipv4Addr = s["spec"]["clusterIP"]
                .as_str()
                .expect("ip")
                .parse()
                .expect("v4");
            assert!(net.cidr.contains(ip) && ip != net.cidr.base, "{ip}");
            assert!(used.ips.insert(ip), "{ip} handed out twice");
            assert_eq!(s["spec"]["clusterIPs"], json!([ip.to_string()]));
        }
        let mut full = svc(json!({"ports": [{"port": 80}]}));
        let errs = allocate(&mut full, None, &used, &net, 3).expect_err("range is full");
        assert!(errs[0].message.contains("range is full"), "{errs:?}");
    }

    #[test]
    fn fixed_cluster_ips_are_honoured_or_refused() {
        let net = net();
        let mut used = Used::default();
        used.ips.insert("10.43.0.2".parse().expect("ip"));
        let mut ok = svc(json!({"clusterIP": "10.43.0.3", "ports": [{"port": 80}]}));
        allocate(&mut ok, None, &used, &net, 0).expect("free");
        assert_eq!(ok["spec"]["clusterIP"], "10.43.0.3");
        let cases = [
            ("10.43.0.2", "already allocated"),
            ("10.44.0.2", "not in the valid range"),
            ("banana", "valid IPv4"),
        ];
        for (ip, why) in cases {
            let mut s = svc(json!({"clusterIP": ip, "ports": [{"port": 80}]}));
            let errs = allocate(&mut s, None, &used, &net, 0).expect_err(ip);
            assert_eq!(errs[0].field, "spec.clusterIP");
            assert!(errs[0].message.contains(why), "{ip}: {errs:?}");
        }
        let mut headless = svc(json!({"clusterIP": "None"}));
        allocate(&mut headless, None, &used, &net, 0).expect("headless");
        assert_eq!(headless["spec"]["clusterIP"], "None");
        let mut ext = svc(json!({"type": "ExternalName", "externalName": "example.org"}));
        allocate(&mut ext, None, &used, &net, 0).expect("external");
        assert!(ext["spec"].get("clusterIP").is_none());
    }

    #[test]
    fn updates_keep_the_cluster_ip_and_node_ports() {
        let net = net();
        let used = Used::default();
        let old = svc(
            json!({"type": "NodePort", "clusterIP": "10.43.0.4", "ports": [{"name": "http", "port": 80, "nodePort": 30001}]}),
        );
        let mut upd = svc(json!({"type": "NodePort", "ports": [{"name": "http", "port": 8080}]}));
        allocate(&mut upd, Some(&old), &used, &net, 0).expect("update");
        assert_eq!(upd["spec"]["clusterIP"], "10.43.0.4");
        assert_eq!(upd["spec"]["ports"][0]["nodePort"], 30001);
        let mut moved = svc(json!({"clusterIP": "10.43.0.5", "ports": [{"port": 80}]}));
        let errs = allocate(&mut moved, Some(&old), &used, &net, 0).expect_err("immutable");
        assert!(errs[0].message.contains("immutable"));
        // Back to ClusterIP: the nodePorts go.
        let mut back = svc(json!({"type": "ClusterIP", "ports": [{"name": "http", "port": 80}]}));
        allocate(&mut back, Some(&old), &used, &net, 0).expect("type change");
        assert!(back["spec"]["ports"][0].get("nodePort").is_none());
    }

    #[test]
    fn node_ports_are_allocated_in_range_and_conflicts_refused() {
        let net = net(); // 30000..=30002
        let mut used = Used::default();
        used.node_ports.insert(30000);
        let mut s = svc(json!({"type": "LoadBalancer", "ports": [
            {"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": 30002}]}));
        allocate(&mut s, None, &used, &net, 0).expect("room for one more");
        assert_eq!(
            s["spec"]["ports"][0]["nodePort"], 30001,
            "the only free one"
        );
        assert_eq!(s["spec"]["ports"][1]["nodePort"], 30002);
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        let cases = [
            (
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30000}]}),
                "already allocated",
            ),
            (
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 31000}]}),
                "valid range",
            ),
            (
                json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30001}]}),
                "may not be used",
            ),
            (
                json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]}),
                "may not be set to 'None'",
            ),
            (
                json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30001}, {"name": "b", "port": 81, "nodePort": 30001}]}),
                "already allocated",
            ),
        ];
        for (spec, why) in cases {
            let mut s = svc(spec.clone());
            let errs = allocate(&mut s, None, &used, &net, 0).expect_err(why);
            assert!(
                errs.iter().any(|e| e.message.contains(why)),
                "{spec}: {errs:?}"
            );
        }
        // One nodePort for TCP and UDP of the same port is fine.
        let mut dns = svc(json!({"type": "NodePort", "ports": [
            {"name": "t", "port": 53, "protocol": "TCP", "nodePort": 30001},
            {"name": "u", "port": 53, "protocol": "UDP", "nodePort": 30001}]}));
        allocate(&mut dns, None, &used, &net, 0).expect("tcp+udp");
    }

    #[test]
    fn used_comes_from_the_other_services() {
        let a = json!({"metadata": {"name": "a", "namespace": "x"}, "spec": {"clusterIP": "10.43.0.9", "ports": [{"port": 1, "nodePort": 30005}]}});
        let b = json!({"metadata": {"name": "b", "namespace": "x"}, "spec": {"clusterIP": "None"}});
        let used = Used::from_services([&a, &b], ("x", "b"));
        assert!(used.ips.contains(&"10.43.0.9".parse().expect("ip")));
        assert!(used.node_ports.contains(&30005));
        let without_a = Used::from_services([&a, &b], ("x", "a"));
        assert!(without_a.ips.is_empty() && without_a.node_ports.is_empty());
    }
}
