//! The agent's configuration: command-line flags and `SHOAL_*` environment variables, merged
//! once into an [`AgentConfig`] without `Option`s.
//!
//! Layering today is defaults < environment < flags (clap's `env`); a config file can slot in
//! under the environment later without changing [`AgentConfig`]. Every value is checked in
//! [`AgentConfig::from_args`] and all problems are reported together, so an operator fixes a
//! unit file in one go.
//!
//! The hub's `--with-agent` mode and tests do not go through flags: they build an
//! [`AgentConfig`] with [`AgentConfig::new`] and adjust the public fields.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use shoal_transport::names::validate_node_name;

/// Default Podman API socket (rootful `podman.socket`).
pub const DEFAULT_PODMAN_SOCKET: &str = "unix:///run/podman/podman.sock";
/// Default node address.
pub const DEFAULT_NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Where pods find the cluster DNS by default: the gateway of Podman's default network.
pub const DEFAULT_CLUSTER_DNS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 88, 0, 1));

/// Flags of `shoal-agent`; each also reads a `SHOAL_*` environment variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "shoal-agent",
    version,
    about = "The shoal edge agent: runs this device's pods and reports their status to the hub"
)]
pub struct Args {
    /// Hub QUIC address, HOST:PORT (e.g. hub.example:7443 or 127.0.0.1:7443).
    #[arg(long, env = "SHOAL_HUB", value_name = "HOST:PORT")]
    pub hub: String,
    /// File holding the join token (`shoal1.<ca-hash>.<secret>`); read only on the first join.
    #[arg(long, env = "SHOAL_TOKEN_FILE", value_name = "FILE")]
    pub token_file: PathBuf,
    /// This node's name (a DNS-1123 subdomain); fixed once the node has joined.
    #[arg(long, env = "SHOAL_NODE_NAME", value_name = "NAME")]
    pub node_name: String,
    /// Directory for the node's credentials, desired pods and pod volumes.
    #[arg(long, env = "SHOAL_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Address the node is reached at (NodePorts, service proxy and DNS bind here).
    #[arg(long, env = "SHOAL_NODE_IP", value_name = "ADDR", default_value_t = DEFAULT_NODE_IP)]
    pub node_ip: IpAddr,
    /// Node labels, `k=v,k2=v2`.
    #[arg(long, env = "SHOAL_LABELS", value_name = "K=V,...", default_value = "")]
    pub labels: String,
    /// Container runtime for this node's pods.
    #[arg(long, env = "SHOAL_RUNTIME", value_enum, default_value_t = RuntimeKind::Podman)]
    pub runtime: RuntimeKind,
    /// Podman API endpoint (`unix:///path`, a bare socket path, or `tcp://host:port`).
    #[arg(long, env = "SHOAL_PODMAN_SOCKET", value_name = "URL", default_value = DEFAULT_PODMAN_SOCKET)]
    pub podman_socket: String,
    /// Log filter (tracing-subscriber env-filter syntax, e.g. `info,shoal_edge_agent=debug`);
    /// defaults to `RUST_LOG`, then `info`.
    #[arg(long, env = "SHOAL_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Whether this agent's service proxy listens on ClusterIPs (NodePorts are always served
    /// on --node-ip). Agents sharing one machine share its ClusterIPs: turn it off on all but
    /// one of them, or leave it on and let the kernel spread connections (SO_REUSEPORT).
    #[arg(long, env = "SHOAL_CLUSTER_IP_PROXY", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub cluster_ip_proxy: bool,
    /// Address pods use as their DNS server (this agent's cluster DNS listens there, UDP 53);
    /// the default is the gateway of Podman's default network. `off` turns cluster DNS off.
    #[arg(
        long,
        env = "SHOAL_CLUSTER_DNS",
        value_name = "ADDR|off",
        default_value = "10.88.0.1"
    )]
    pub cluster_dns: String,
    /// The cluster domain Service names live under.
    #[arg(
        long,
        env = "SHOAL_CLUSTER_DOMAIN",
        value_name = "DOMAIN",
        default_value = "cluster.local"
    )]
    pub cluster_domain: String,
    /// MQTT broker for status and events (`mqtt://HOST:PORT` or `mqtts://HOST:PORT`),
    /// overriding the URL the hub handed out at join; an empty host means the hub's host.
    #[arg(long, env = "SHOAL_MQTT_URL", value_name = "URL")]
    pub mqtt_url: Option<String>,
    /// CA certificate file (PEM) the broker's TLS certificate must chain to, for mqtts://;
    /// overrides the CA the hub handed out at join.
    #[arg(long, env = "SHOAL_MQTT_CA", value_name = "FILE")]
    pub mqtt_ca: Option<PathBuf>,
}

/// Which container runtime runs the node's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// Podman through its libpod REST API.
    Podman,
    /// Containers' commands as plain host processes (devices without Podman).
    Process,
}

impl RuntimeKind {
    /// The runtime class name pods ask for with `runtimeClassName`.
    pub fn class_name(self) -> &'static str {
        match self {
            RuntimeKind::Podman => "podman",
            RuntimeKind::Process => "process",
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.class_name())
    }
}

/// Everything the agent needs to run, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Hub QUIC address as given (`HOST:PORT`); resolved at every connection attempt so a
    /// changed DNS record is picked up.
    pub hub: String,
    /// Join token file; read only when `data_dir` holds no node credentials yet.
    pub token_file: PathBuf,
    /// Node name: Node object name, certificate CN, MQTT client id and topic segment.
    pub node_name: String,
    /// Agent data directory (see the crate docs for its layout).
    pub data_dir: PathBuf,
    /// The node's address; reported as `InternalIP` and used as pods' `hostIP`.
    pub node_ip: IpAddr,
    /// Node labels, in the order given.
    pub labels: Vec<(String, String)>,
    /// Runtime used when the agent builds its own (see [`crate::run`]).
    pub runtime: RuntimeKind,
    /// Podman API endpoint, for [`RuntimeKind::Podman`].
    pub podman_socket: String,
    /// Whether the service proxy listens on ClusterIPs (see [`Args::cluster_ip_proxy`]).
    pub cluster_ip_proxy: bool,
    /// Where the cluster DNS listens and pods send queries; `None` = off.
    pub cluster_dns: Option<IpAddr>,
    /// e.g. `cluster.local`.
    pub cluster_domain: String,
    /// Broker URL overriding the one handed out at join; `None` = the join's.
    pub mqtt_url: Option<String>,
    /// CA file (PEM) overriding the one handed out at join; `None` = the join's.
    pub mqtt_ca: Option<PathBuf>,
}

impl AgentConfig {
    /// A config with defaults for everything but the four required values: node IP
    /// 127.0.0.1, no labels, Podman at [`DEFAULT_PODMAN_SOCKET`].
    pub fn new(
        hub: impl Into<String>,
        token_file: impl Into<PathBuf>,
        node_name: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> AgentConfig {
        AgentConfig {
            hub: hub.into(),
            token_file: token_file.into(),
            node_name: node_name.into(),
            data_dir: data_dir.into(),
            node_ip: DEFAULT_NODE_IP,
            labels: Vec::new(),
            runtime: RuntimeKind::Podman,
            podman_socket: DEFAULT_PODMAN_SOCKET.to_string(),
            cluster_ip_proxy: true,
            cluster_dns: Some(DEFAULT_CLUSTER_DNS),
            cluster_domain: "cluster.local".into(),
            mqtt_url: None,
            mqtt_ca: None,
        }
    }

    /// Validates parsed flags; every problem found is in the error.
    pub fn from_args(args: Args) -> Result<AgentConfig, ConfigError> {
        let mut problems = Vec::new();
        let labels = match parse_labels(&args.labels) {
            Ok(labels) => labels,
            Err(mut p) => {
                problems.append(&mut p);
                Vec::new()
            }
        };
        let config = AgentConfig {
            hub: args.hub,
            token_file: args.token_file,
            node_name: args.node_name,
            data_dir: args.data_dir,
            node_ip: args.node_ip,
            labels,
            runtime: args.runtime,
            podman_socket: args.podman_socket,
            cluster_ip_proxy: args.cluster_ip_proxy,
            cluster_dns: match args.cluster_dns.as_str() {
                "off" | "" => None,
                other => match other.parse() {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        problems.push(format!(
                            "--cluster-dns {other:?} is not an IP address or \"off\""
                        ));
                        None
                    }
                },
            },
            cluster_domain: args.cluster_domain.trim_matches('.').to_string(),
            mqtt_url: args.mqtt_url.filter(|u| !u.trim().is_empty()),
            mqtt_ca: args.mqtt_ca.filter(|p| !p.as_os_str().is_empty()),
        };
        if let Err(mut p) = config.validate() {
            problems.append(&mut p.problems);
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Checks a config built in code (flags are checked by [`AgentConfig::from_args`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if let Err(e) = split_host_port(&self.hub) {
            problems.push(format!("--hub: {e}"));
        }
        if let Err(e) = validate_node_name(&self.node_name) {
            problems.push(format!("--node-name: {e}"));
        }
        if self.data_dir.as_os_str().is_empty() {
            problems.push("--data-dir: must not be empty".to_string());
        }
        if self.node_ip.is_unspecified() {
            problems.push(format!(
                "--node-ip: {} is not an address the node can be reached at; give the device's own address",
                self.node_ip
            ));
        }
        for (k, v) in &self.labels {
            if let Err(e) = validate_label(k, v) {
                problems.push(format!("--labels: {e}"));
            }
        }
        if let Some(url) = &self.mqtt_url {
            let (host, _) = split_host_port(&self.hub).unwrap_or_default();
            if let Err(e) = crate::status_reporter::parse_broker_url(url, &host) {
                problems.push(format!("--mqtt-url: {e}"));
            }
        }
        if self.runtime == RuntimeKind::Podman && self.podman_socket.trim().is_empty() {
            problems.push("--podman-socket: must not be empty with --runtime podman".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Directory of the node's key and certificates.
    pub fn pki_dir(&self) -> PathBuf {
        self.data_dir.join("pki")
    }

    /// The fjall directory of the local store.
    pub fn state_dir(&self) -> PathBuf {
        self.data_dir.join("state")
    }

    /// The MQTT credentials file written at join.
    pub fn mqtt_file(&self) -> PathBuf {
        self.data_dir.join("mqtt.json")
    }
}

/// All configuration problems found at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid agent configuration:")?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// Splits `HOST:PORT` (`[v6]:PORT` for IPv6 literals) into host and port.
pub fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let bad =
        || format!("{s:?} is not HOST:PORT (e.g. hub.example:7443, 127.0.0.1:7443, [::1]:7443)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host = match host.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').ok_or_else(bad)?,
        None if host.contains(':') => return Err(bad()),
        None => host,
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Parses `k=v,k2=v2` (empty string: no labels). Keys and values are checked like
/// Kubernetes label keys and values.
pub fn parse_labels(s: &str) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            problems.push(format!("--labels: {item:?} is not key=value"));
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if let Err(e) = validate_label(k, v) {
            problems.push(format!("--labels: {e}"));
            continue;
        }
        if labels.iter().any(|(existing, _)| existing == k) {
            problems.push(format!("--labels: key {k:?} is given twice"));
            continue;
        }
        labels.push((k.to_string(), v.to_string()));
    }
    if problems.is_empty() {
        Ok(labels)
    } else {
        Err(problems)
    }
}

/// Kubernetes' rules: key = optional DNS-subdomain prefix + `/` + name; name and value are at
/// most 63 of `[A-Za-z0-9-_.]`, starting and ending alphanumeric (the value may be empty).
fn validate_label(key: &str, value: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        validate_node_name(prefix)
            .map_err(|_| format!("label key {key:?} has a prefix that is not a DNS subdomain"))?;
    }
    if name.is_empty() || !is_label_segment(name) {
        return Err(format!(
            "label key {key:?}: the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    if !value.is_empty() && !is_label_segment(value) {
        return Err(format!(
            "label {key}={value:?}: the value must be empty or 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn is_label_segment(s: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    s.len() <= 63
        && edge(s.chars().next())
        && edge(s.chars().last())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(extra: &[&str]) -> Result<Args, clap::Error> {
        let mut argv = vec![
            "shoal-agent",
            "--hub",
            "127.0.0.1:7443",
            "--token-file",
            "/tmp/token",
            "--node-name",
            "edge-1",
            "--data-dir",
            "/tmp/agent",
        ];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv)
    }

    #[test]
    fn defaults_fill_in() {
        let config = AgentConfig::from_args(args(&[]).expect("parses")).expect("valid");
        assert_eq!(
            config,
            AgentConfig::new("127.0.0.1:7443", "/tmp/token", "edge-1", "/tmp/agent")
        );
        assert_eq!(config.node_ip.to_string(), "127.0.0.1");
        assert_eq!(config.podman_socket, "unix:///run/podman/podman.sock");
        assert_eq!(config.runtime, RuntimeKind::Podman);
        assert_eq!(config.state_dir(), PathBuf::from("/tmp/agent/state"));
    }

    #[test]
    fn flags_are_taken() {
        let a = args(&[
            "--node-ip",
            "127.0.0.3",
            "--labels",
            "zone=a, example.com/tier=edge,empty=",
            "--runtime",
            "process",
            "--podman-socket",
            "/run/user/1000/podman/podman.sock",
        ])
        .expect("parses");
        let config = AgentConfig::from_args(a).expect("valid");
        assert_eq!(config.node_ip.to_string(), "127.0.0.3");
        assert_eq!(
            config.labels,
            [
                ("zone".to_string(), "a".to_string()),
                ("example.com/tier".to_string(), "edge".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
        assert_eq!(config.runtime, RuntimeKind::Process);
        assert_eq!(config.mqtt_url, None);
    }

    #[test]
    fn mqtt_broker_and_ca_flags() {
        let a = args(&[
            "--mqtt-url",
            "mqtts://broker.local:8883",
            "--mqtt-ca",
            "/etc/shoal/broker-ca.pem",
        ])
        .expect("parses");
        let config = AgentConfig::from_args(a).expect("valid");
        assert_eq!(
            config.mqtt_url.as_deref(),
            Some("mqtts://broker.local:8883")
        );
        assert_eq!(
            config.mqtt_ca,
            Some(PathBuf::from("/etc/shoal/broker-ca.pem"))
        );
        let bad = AgentConfig::from_args(args(&["--mqtt-url", "wss://b:1"]).expect("parses"))
            .expect_err("websockets are refused");
        assert!(bad.problems[0].starts_with("--mqtt-url"), "{bad:?}");
    }

    #[test]
    fn all_problems_are_reported_together() {
        let mut a = args(&["--labels", "novalue,Bad Key=x,ok=-bad-"]).expect("parses");
        a.hub = "nohost".into();
        a.node_name = "Edge_1".into();
        a.node_ip = "0.0.0.0".parse().expect("ip");
        let err = AgentConfig::from_args(a).expect_err("invalid");
        let text = err.to_string();
        assert_eq!(err.problems.len(), 6, "{text}");
        for needle in [
            "--hub",
            "--node-name",
            "--node-ip",
            "novalue",
            "Bad Key",
            "-bad-",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
    }

    #[test]
    fn bad_flag_values_fail_in_clap() {
        assert!(args(&["--node-ip", "not-an-ip"]).is_err());
        assert!(args(&["--runtime", "docker"]).is_err());
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("hub:7443"), Ok(("hub".into(), 7443)));
        assert_eq!(split_host_port("[::1]:7443"), Ok(("::1".into(), 7443)));
        assert_eq!(split_host_port("10.0.0.1:1"), Ok(("10.0.0.1".into(), 1)));
        for bad in [
            "hub",
            ":7443",
            "hub:",
            "hub:0",
            "hub:99999",
            "::1:7443",
            "[::1:7443",
        ] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duplicate_label_keys_are_refused() {
        let err = parse_labels("a=1,a=2").expect_err("dup");
        assert!(err[0].contains("twice"), "{err:?}");
        assert_eq!(parse_labels(""), Ok(vec![]));
        assert_eq!(parse_labels(" , "), Ok(vec![]));
    }
}
