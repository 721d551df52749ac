//! How a [`PodPlan`] maps onto Podman objects: names, ownership labels, published ports,
//! volumes and mounts, resource limits. Pure functions, so the mapping is unit-tested without a
//! Podman service; `super` turns the results into API calls.
//!
//! Design: every object the agent creates carries [`LABEL_MANAGED`] and [`LABEL_NODE`]. The agent
//! only ever lists, changes or removes objects with both, so it never touches containers made by
//! other tools, and two agents sharing one machine (tests, or a device running two nodes) never
//! see each other's pods. Names are for humans; lookups always go through labels.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use podman_api::models::{
    ContainerMount, LinuxCpu, LinuxMemory, LinuxResources, NamedVolume, PortMapping,
};
use shoal_transport::wire::{ContainerPlan, MountPlan, PodPlan, VolumePlan};

use crate::runtime::RuntimeError;

/// `"true"` on everything shoal created.
pub const LABEL_MANAGED: &str = "io.shoal.managed";
/// Name of the node (agent) that owns the object.
pub const LABEL_NODE: &str = "io.shoal.node";
/// UID of the Kubernetes pod the object belongs to.
pub const LABEL_POD_UID: &str = "io.shoal.pod-uid";
pub const LABEL_NAMESPACE: &str = "io.shoal.namespace";
pub const LABEL_NAME: &str = "io.shoal.name";
/// Container name in the pod spec (only on application containers, not on the pod's infra
/// container, which inherits the pod's labels).
pub const LABEL_CONTAINER: &str = "io.shoal.container";
/// `"true"` on init containers.
pub const LABEL_INIT: &str = "io.shoal.init";

/// CFS period used to express CPU limits (the kernel default, 100 ms).
const CPU_PERIOD_US: u64 = 100_000;

/// Podman pod name: `shoal_<namespace>_<name>_<first 8 of uid>`.
pub fn pod_name(plan: &PodPlan) -> String {
    let uid8: String = plan.uid.chars().take(8).collect();
    format!(
        "shoal_{}_{}_{}",
        sanitize(&plan.namespace),
        sanitize(&plan.name),
        sanitize(&uid8)
    )
}

/// Podman container name: the pod name, then the container's name.
pub fn container_name(plan: &PodPlan, container: &ContainerPlan) -> String {
    format!("{}_{}", pod_name(plan), sanitize(&container.name))
}

/// Podman names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; Kubernetes names always fit, but the plan
/// comes over the network, so anything else becomes `-`.
fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if out.is_empty() {
        "-".to_string()
    } else {
        out
    }
}

/// Labels of the Podman pod (its infra container inherits them).
pub fn pod_labels(node: &str, plan: &PodPlan) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_NODE.to_string(), node.to_string()),
        (LABEL_POD_UID.to_string(), plan.uid.clone()),
        (LABEL_NAMESPACE.to_string(), plan.namespace.clone()),
        (LABEL_NAME.to_string(), plan.name.clone()),
    ])
}

/// Labels of one container: the pod's plus [`LABEL_CONTAINER`] (and [`LABEL_INIT`] on init
/// containers).
pub fn container_labels(
    node: &str,
    plan: &PodPlan,
    container: &ContainerPlan,
) -> BTreeMap<String, String> {
    let mut labels = pod_labels(node, plan);
    labels.insert(LABEL_CONTAINER.to_string(), container.name.clone());
    if plan
        .init_containers
        .iter()
        .any(|c| c.name == container.name)
    {
        labels.insert(LABEL_INIT.to_string(), "true".to_string());
    }
    labels
}

/// Whether `labels` mark an object as owned by `node` (and, if given, as part of pod `uid`).
pub fn is_ours<'a>(
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    node: &str,
    uid: Option<&str>,
) -> bool {
    let (mut managed, mut on_node, mut of_pod) = (false, false, uid.is_none());
    for (k, v) in labels {
        match k.as_str() {
            LABEL_MANAGED => managed = v == "true",
            LABEL_NODE => on_node = v == node,
            LABEL_POD_UID => of_pod = of_pod || Some(v.as_str()) == uid,
            _ => {}
        }
    }
    managed && on_node && of_pod
}

/// `<data_dir>/pods/<uid>`: everything of one pod on the host; removed with the pod.
pub fn pod_dir(data_dir: &Path, uid: &str) -> PathBuf {
    data_dir.join("pods").join(uid)
}

/// Host directory backing an on-disk `emptyDir`.
pub fn empty_dir_path(data_dir: &Path, uid: &str, volume: &str) -> PathBuf {
    pod_dir(data_dir, uid).join("volumes").join(volume)
}

/// Name of the Podman volume (a tmpfs) backing a `medium: Memory` `emptyDir`. Podman volume
/// names are global, so the pod UID is part of it.
pub fn memory_volume_name(uid: &str, volume: &str) -> String {
    format!("shoal_{uid}_{volume}")
}

/// Checks everything in the plan that ends up in a path, a name or a mount, before anything
/// is created.
///
/// Design: the plan comes from the network; a UID like `../../etc` must never become a path,
/// so UIDs and volume names are restricted to plain names here, once, and every later use can
/// rely on it.
pub fn validate(plan: &PodPlan) -> Result<(), RuntimeError> {
    let invalid = |reason: String| RuntimeError::InvalidPlan {
        uid: plan.uid.clone(),
        reason,
    };
    if !is_valid_uid(&plan.uid) {
        return Err(invalid(format!(
            "pod UID {:?} is not a plain name (letters, digits, '-')",
            plan.uid
        )));
    }
    if plan.containers.is_empty() {
        return Err(invalid("the pod has no containers".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in plan.init_containers.iter().chain(&plan.containers) {
        if !is_plain_name(&c.name) {
            return Err(invalid(format!(
                "container name {:?} is not a plain name",
                c.name
            )));
        }
        if !seen.insert(c.name.as_str()) {
            return Err(invalid(format!(
                "container name {:?} is used twice",
                c.name
            )));
        }
        if c.image.is_empty() {
            return Err(invalid(format!("container {} has no image", c.name)));
        }
    }
    let mut volumes = std::collections::BTreeSet::new();
    for v in &plan.volumes {
        let name = volume_name(v);
        if !is_plain_name(name) {
            return Err(invalid(format!("volume name {name:?} is not a plain name")));
        }
        if !volumes.insert(name) {
            return Err(invalid(format!("volume name {name:?} is used twice")));
        }
        if let VolumePlan::HostPath { path, .. } = v {
            if !Path::new(path).is_absolute() {
                return Err(invalid(format!(
                    "hostPath {path:?} of volume {name} is not absolute"
                )));
            }
        }
    }
    Ok(())
}

/// Whether `uid` is safe to use as a path component and in names: letters, digits and `-`
/// (Kubernetes UIDs are UUIDs).
pub fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 128
        && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Kubernetes container and volume names are DNS labels; anything that could be a path trick
/// or break a Podman name is refused.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub fn volume_name(v: &VolumePlan) -> &str {
    match v {
        VolumePlan::EmptyDir { name, .. }
        | VolumePlan::HostPath { name, .. }
        | VolumePlan::Files { name, .. } => name,
    }
}

/// Ports published on the host, for the pod's infra container (the pod's network namespace
/// is shared, so publishing there reaches every container). Host-network pods publish nothing.
pub fn port_mappings(plan: &PodPlan) -> Result<Vec<PortMapping>, RuntimeError> {
    if plan.host_network {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for port in plan
        .containers
        .iter()
        .flat_map(|c| &c.ports)
        .filter(|p| p.host_port != 0)
    {
        let protocol = match port.protocol.to_ascii_lowercase().as_str() {
            "" | "tcp" => "tcp",
            "udp" => "udp",
            "sctp" => "sctp",
            other => {
                return Err(RuntimeError::InvalidPlan {
                    uid: plan.uid.clone(),
                    reason: format!(
                        "port {} has unknown protocol {other:?}",
                        port.container_port
                    ),
                })
            }
        };
        out.push(PortMapping {
            container_port: Some(port.container_port),
            host_ip: (!port.host_ip.is_empty()).then(|| port.host_ip.clone()),
            host_port: Some(port.host_port),
            protocol: Some(protocol.to_string()),
            range: None,
        });
    }
    Ok(out)
}

/// How one volume mount of a container is realised.
#[derive(Clone, Debug, PartialEq)]
pub enum MountSource {
    /// A bind mount of a host path (an `emptyDir` directory or a `hostPath`).
    Bind(ContainerMount),
    /// A Podman tmpfs volume (a `medium: Memory` `emptyDir`).
    Volume(NamedVolume),
}

/// The mounts of `container`, resolved against the pod's volumes.
pub fn mounts(
    plan: &PodPlan,
    container: &ContainerPlan,
    data_dir: &Path,
) -> Result<Vec<MountSource>, RuntimeError> {
    container
        .volume_mounts
        .iter()
        .map(|m| mount(plan, container, m, data_dir))
        .collect()
}

fn mount(
    plan: &PodPlan,
    container: &ContainerPlan,
    m: &MountPlan,
    data_dir: &Path,
) -> Result<MountSource, RuntimeError> {
    let invalid = |reason: String| RuntimeError::InvalidPlan {
        uid: plan.uid.clone(),
        reason,
    };
    if !Path::new(&m.mount_path).is_absolute() {
        return Err(invalid(format!(
            "mountPath {:?} in container {} is not absolute",
            m.mount_path, container.name
        )));
    }
    let sub_path = sub_path(&m.sub_path).ok_or_else(|| {
        invalid(format!(
            "subPath {:?} in container {} must be relative without '..'",
            m.sub_path, container.name
        ))
    })?;
    let volume = plan
        .volumes
        .iter()
        .find(|v| volume_name(v) == m.name)
        .ok_or_else(|| {
            invalid(format!(
                "container {} mounts volume {:?}, which the pod does not declare",
                container.name, m.name
            ))
        })?;
    let source = match volume {
        VolumePlan::EmptyDir {
            name,
            medium_memory: true,
        } => {
            if sub_path.is_some() {
                return Err(invalid(format!(
                    "subPath on the medium: Memory emptyDir {name} is not supported"
                )));
            }
            let mut options = vec![if m.read_only { "ro" } else { "rw" }.to_string()];
            options.push("nosuid".into());
            return Ok(MountSource::Volume(NamedVolume {
                dest: Some(m.mount_path.clone()),
                is_anonymous: None,
                name: Some(memory_volume_name(&plan.uid, name)),
                options: Some(options),
            }));
        }
        VolumePlan::EmptyDir {
            name,
            medium_memory: false,
        } => empty_dir_path(data_dir, &plan.uid, name),
        VolumePlan::HostPath { path, .. } => PathBuf::from(path),
        // Projected files are the pod's own directory, always read-only (as kubelet mounts them).
        VolumePlan::Files { name, .. } => {
            let dir = empty_dir_path(data_dir, &plan.uid, name);
            let source = match sub_path {
                Some(sub) => dir.join(sub),
                None => dir,
            };
            return Ok(MountSource::Bind(bind(&m.mount_path, &source, true)));
        }
    };
    let source = match sub_path {
        Some(sub) => source.join(sub),
        None => source,
    };
    Ok(MountSource::Bind(bind(&m.mount_path, &source, m.read_only)))
}

fn bind(destination: &str, source: &Path, read_only: bool) -> ContainerMount {
    ContainerMount {
        destination: Some(destination.to_string()),
        options: Some(vec![
            "rbind".into(),
            if read_only { "ro" } else { "rw" }.into(),
        ]),
        source: Some(source.to_string_lossy().into_owned()),
        _type: Some("bind".into()),
        uid_mappings: None,
        gid_mappings: None,
    }
}

/// `Some(None)` for no subPath, `Some(Some(p))` for a safe relative one, `None` if unsafe.
fn sub_path(s: &str) -> Option<Option<&Path>> {
    if s.is_empty() {
        return Some(None);
    }
    let p = Path::new(s);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(Some(p))
}

/// CPU and memory limits of the container, if it has any.
pub fn resource_limits(container: &ContainerPlan) -> Option<LinuxResources> {
    if container.cpu_limit_millis == 0 && container.memory_limit_bytes == 0 {
        return None;
    }
    let cpu = (container.cpu_limit_millis > 0).then(|| LinuxCpu {
        cpus: None,
        mems: None,
        period: Some(CPU_PERIOD_US),
        // millicores -> microseconds of CPU per period: 1000m = one full period.
        quota: i64::try_from(container.cpu_limit_millis.saturating_mul(CPU_PERIOD_US) / 1000).ok(),
        realtime_period: None,
        realtime_runtime: None,
        shares: None,
    });
    let memory = (container.memory_limit_bytes > 0).then(|| LinuxMemory {
        disable_oom_killer: None,
        kernel: None,
        kernel_tcp: None,
        limit: i64::try_from(container.memory_limit_bytes).ok(),
        reservation: None,
        swap: None,
        swappiness: None,
        use_hierarchy: None,
    });
    Some(LinuxResources {
        block_io: None,
        cpu,
        devices: None,
        hugepage_limits: None,
        memory,
        network: None,
        pids: None,
        rdma: None,
        unified: None,
    })
}

#[cfg(test)]
mod tests {
    use shoal_transport::wire::PortPlan;

    use super::*;

    fn plan() -> PodPlan {
        PodPlan {
            uid: "0123456789abcdef".into(),
            namespace: "default".into(),
            name: "web".into(),
            containers: vec![ContainerPlan {
                name: "httpd".into(),
                image: "localhost/busybox:latest".into(),
                ports: vec![
                    PortPlan {
                        container_port: 8080,
                        host_port: 18080,
                        host_ip: "127.0.0.1".into(),
                        protocol: "TCP".into(),
                        ..Default::default()
                    },
                    PortPlan {
                        container_port: 9090,
                        host_port: 0,
                        ..Default::default()
                    },
                    PortPlan {
                        container_port: 53,
                        host_port: 1053,
                        protocol: "UDP".into(),
                        ..Default::default()
                    },
                ],
                volume_mounts: vec![
                    MountPlan {
                        name: "scratch".into(),
                        mount_path: "/www".into(),
                        ..Default::default()
                    },
                    MountPlan {
                        name: "etc".into(),
                        mount_path: "/host".into(),
                        read_only: true,
                        sub_path: "conf.d".into(),
                    },
                    MountPlan {
                        name: "mem".into(),
                        mount_path: "/run/mem".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            volumes: vec![
                VolumePlan::EmptyDir {
                    name: "scratch".into(),
                    medium_memory: false,
                },
                VolumePlan::HostPath {
                    name: "etc".into(),
                    path: "/etc".into(),
                    kind: String::new(),
                },
                VolumePlan::EmptyDir {
                    name: "mem".into(),
                    medium_memory: true,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn names_and_labels() {
        let p = plan();
        assert_eq!(pod_name(&p), "shoal_default_web_01234567");
        assert_eq!(
            container_name(&p, &p.containers[0]),
            "shoal_default_web_01234567_httpd"
        );
        let labels = container_labels("edge-1", &p, &p.containers[0]);
        assert_eq!(
            labels.get(LABEL_CONTAINER).map(String::as_str),
            Some("httpd")
        );
        assert!(is_ours(&labels, "edge-1", None));
        assert!(is_ours(&labels, "edge-1", Some("0123456789abcdef")));
        assert!(!is_ours(&labels, "edge-2", None), "another node's pod");
        assert!(!is_ours(&labels, "edge-1", Some("other")), "another pod");
        let mut foreign = labels.clone();
        foreign.remove(LABEL_MANAGED);
        assert!(!is_ours(&foreign, "edge-1", None));
        let mut odd = p.clone();
        odd.name = "we b/x".into();
        assert_eq!(pod_name(&odd), "shoal_default_we-b-x_01234567");
    }

    #[test]
    fn ports_are_published_with_host_ip_and_protocol() {
        let p = plan();
        let ports = port_mappings(&p).expect("ports");
        assert_eq!(ports.len(), 2, "unpublished port 9090 is skipped");
        assert_eq!(
            (
                ports[0].host_port,
                ports[0].host_ip.as_deref(),
                ports[0].protocol.as_deref()
            ),
            (Some(18080), Some("127.0.0.1"), Some("tcp"))
        );
        assert_eq!(
            (
                ports[1].container_port,
                ports[1].host_ip.as_deref(),
                ports[1].protocol.as_deref()
            ),
            (Some(53), None, Some("udp"))
        );
        let mut host = p.clone();
        host.host_network = true;
        assert!(port_mappings(&host).expect("ports").is_empty());
        let mut bad = p;
        bad.containers[0].ports[0].protocol = "QUIC".into();
        assert!(matches!(
            port_mappings(&bad),
            Err(RuntimeError::InvalidPlan { .. })
        ));
    }

    #[test]
    fn mounts_resolve_volumes() {
        let p = plan();
        let m = mounts(&p, &p.containers[0], Path::new("/var/lib/shoal")).expect("mounts");
        let MountSource::Bind(scratch) = &m[0] else {
            panic!("emptyDir is a bind mount: {m:?}")
        };
        assert_eq!(
            scratch.source.as_deref(),
            Some("/var/lib/shoal/pods/0123456789abcdef/volumes/scratch")
        );
        assert_eq!(
            scratch.options,
            Some(vec!["rbind".to_string(), "rw".to_string()])
        );
        let MountSource::Bind(etc) = &m[1] else {
            panic!("hostPath is a bind mount")
        };
        assert_eq!(etc.source.as_deref(), Some("/etc/conf.d"));
        assert_eq!(etc.destination.as_deref(), Some("/host"));
        assert_eq!(
            etc.options,
            Some(vec!["rbind".to_string(), "ro".to_string()])
        );
        let MountSource::Volume(mem) = &m[2] else {
            panic!("memory emptyDir is a volume")
        };
        assert_eq!(mem.name.as_deref(), Some("shoal_0123456789abcdef_mem"));
    }

    #[test]
    fn validation_refuses_path_tricks() {
        type Mutation = Box<dyn Fn(&mut PodPlan)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("uid with slash", Box::new(|p| p.uid = "../../etc".into())),
            ("empty uid", Box::new(|p| p.uid = String::new())),
            (
                "volume name ..",
                Box::new(|p| {
                    p.volumes[0] = VolumePlan::EmptyDir {
                        name: "..".into(),
                        medium_memory: false,
                    }
                }),
            ),
            (
                "relative hostPath",
                Box::new(|p| {
                    p.volumes[1] = VolumePlan::HostPath {
                        name: "etc".into(),
                        path: "etc".into(),
                        kind: String::new(),
                    }
                }),
            ),
            (
                "duplicate container",
                Box::new(|p| p.containers.push(p.containers[0].clone())),
            ),
            ("no containers", Box::new(|p| p.containers.clear())),
        ];
        for (what, mutate) in cases {
            let mut p = plan();
            mutate(&mut p);
            assert!(
                matches!(validate(&p), Err(RuntimeError::InvalidPlan { .. })),
                "{what}"
            );
        }
        assert!(validate(&plan()).is_ok());

        for (sub, ok) in [
            ("a/b", true),
            ("../x", false),
            ("/abs", false),
            ("a/../b", false),
        ] {
            let mut p = plan();
            p.containers[0].volume_mounts[1].sub_path = sub.into();
            assert_eq!(
                mounts(&p, &p.containers[0], Path::new("/d")).is_ok(),
                ok,
                "subPath {sub}"
            );
        }
        let mut p = plan();
        p.containers[0].volume_mounts[0].name = "undeclared".into();
        assert!(mounts(&p, &p.containers[0], Path::new("/d")).is_err());
    }

    #[test]
    fn limits() {
        let mut c = ContainerPlan::default();
        assert!(resource_limits(&c).is_none());
        c.cpu_limit_millis = 250;
        c.memory_limit_bytes = 64 << 20;
        let r = resource_limits(&c).expect("limits");
        let cpu = r.cpu.expect("cpu");
        assert_eq!((cpu.quota, cpu.period), (Some(25_000), Some(100_000)));
        assert_eq!(r.memory.and_then(|m| m.limit), Some(64 << 20));
    }
}
