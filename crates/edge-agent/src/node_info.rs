//! Facts about this device for the hub's Node object ([`NodeInfo`], sent in every
//! `AgentHello`) and for the node status the agent publishes.
//!
//! Reading the host (`/etc/os-release`, `/proc`) is kept apart from parsing it: the parsers are
//! pure and tested with fixed text; [`gather`] does the (small, blocking) reads and is run on
//! the blocking pool.

use std::collections::BTreeMap;

use shoal_transport::wire::NodeInfo;

use crate::config::AgentConfig;

/// Pods a node admits, as Kubernetes' default `maxPods`.
pub const MAX_PODS: &str = "110";

/// Version of this agent, reported as the Node's `kubeletVersion`-like `agent_version`.
pub const AGENT_VERSION: &str = concat!("shoal-agent/", env!("CARGO_PKG_VERSION"));

/// What the host says about itself (all best effort: unknown values are empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    pub os_image: String,
    pub kernel_version: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// `MemTotal` in KiB; 0 when unknown.
    pub memory_ki: u64,
}

impl HostFacts {
    /// Reads the facts of this host. Blocks (a few small files under `/proc` and `/etc`).
    pub fn read() -> HostFacts {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        HostFacts {
            hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
            os_image: parse_os_release(&read("/etc/os-release")).unwrap_or_default(),
            kernel_version: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_ki: parse_meminfo_total_ki(&read("/proc/meminfo")).unwrap_or(0),
        }
    }

    /// Capacity as Kubernetes quantities: cpu, memory (`<n>Ki`), pods.
    pub fn capacity(&self) -> Vec<(String, String)> {
        vec![
            ("cpu".to_string(), self.cpus.to_string()),
            ("memory".to_string(), format!("{}Ki", self.memory_ki)),
            ("pods".to_string(), MAX_PODS.to_string()),
        ]
    }
}

/// The `NodeInfo` of this node. `runtime` is the runtime's name (e.g. `podman`) and
/// `runtime_version` its version. Allocatable equals capacity: the agent reserves nothing yet.
pub fn node_info(
    config: &AgentConfig,
    facts: &HostFacts,
    runtime: &str,
    runtime_version: &str,
) -> NodeInfo {
    let capacity = facts.capacity();
    NodeInfo {
        node_name: config.node_name.clone(),
        labels: config.labels.clone(),
        node_ip: config.node_ip.to_string(),
        hostname: if facts.hostname.is_empty() {
            config.node_name.clone()
        } else {
            facts.hostname.clone()
        },
        architecture: go_arch(std::env::consts::ARCH).to_string(),
        operating_system: "linux".to_string(),
        os_image: facts.os_image.clone(),
        kernel_version: facts.kernel_version.clone(),
        agent_version: AGENT_VERSION.to_string(),
        container_runtime_version: format!("{runtime}://{runtime_version}"),
        runtimes: vec![runtime.to_string()],
        allocatable: capacity.clone(),
        capacity,
    }
}

/// Capacity or allocatable pairs as the map the MQTT node status carries.
pub fn quantities(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

/// Rust's `std::env::consts::ARCH` as Go/Kubernetes names it (`kubernetes.io/arch`).
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// `PRETTY_NAME` from os-release text, unquoted.
pub fn parse_os_release(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PRETTY_NAME=")?;
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        Some(unquoted.to_string())
    })
}

/// `MemTotal` of `/proc/meminfo` in KiB.
pub fn parse_meminfo_total_ki(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("MemTotal:")?;
        let mut parts = rest.split_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") | None => Some(n),
            Some(_) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_follow_go() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("arm"), "arm");
        assert_eq!(go_arch("mips"), "mips");
    }

    #[test]
    fn os_release_pretty_name() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n";
        assert_eq!(
            parse_os_release(debian).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            parse_os_release("ID=x\nPRETTY_NAME=Alpine\n").as_deref(),
            Some("Alpine")
        );
        assert_eq!(
            parse_os_release("PRETTY_NAME='Yocto 4'").as_deref(),
            Some("Yocto 4")
        );
        assert_eq!(parse_os_release("NAME=x"), None);
    }

    #[test]
    fn meminfo_total() {
        let text = "MemTotal:        8037232 kB\nMemFree:         1234 kB\n";
        assert_eq!(parse_meminfo_total_ki(text), Some(8_037_232));
        assert_eq!(parse_meminfo_total_ki("MemFree: 1 kB"), None);
        assert_eq!(parse_meminfo_total_ki("MemTotal: lots kB"), None);
    }

    #[test]
    fn node_info_from_config_and_facts() {
        let mut config = AgentConfig::new("127.0.0.1:7443", "/t", "edge-1", "/d");
        config.labels = vec![("zone".into(), "a".into())];
        config.node_ip = "127.0.0.2".parse().expect("ip");
        let facts = HostFacts {
            hostname: String::new(),
            os_image: "Debian".into(),
            kernel_version: "6.1.0".into(),
            cpus: 4,
            memory_ki: 1024,
        };
        let info = node_info(&config, &facts, "podman", "4.3.1");
        assert_eq!(info.hostname, "edge-1", "falls back to the node name");
        assert_eq!(info.node_ip, "127.0.0.2");
        assert_eq!(info.container_runtime_version, "podman://4.3.1");
        assert_eq!(info.runtimes, ["podman"]);
        assert_eq!(info.operating_system, "linux");
        assert_eq!(
            info.capacity,
            [
                ("cpu".to_string(), "4".to_string()),
                ("memory".to_string(), "1024Ki".to_string()),
                ("pods".to_string(), "110".to_string())
            ]
        );
        assert_eq!(info.allocatable, info.capacity);
        assert_eq!(info.labels, config.labels);
    }
}
