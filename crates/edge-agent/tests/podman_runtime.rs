//! The Podman runtime against a real Podman: each test starts its own `podman system service`
//! on a unique socket, runs pods under a unique node name, and removes everything labelled with
//! that node name when it ends, pass or fail.
//!
//! These tests need Podman 4 (see `.ci/setup-host.sh`) and the `localhost/busybox:latest`
//! image; without them they fail with a message saying so rather than pass vacuously.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shoal_edge_agent::pods::{pod_status, ProbeBook, RestartBook};
use shoal_edge_agent::runtime::podman::spec::{
    LABEL_CONTAINER, LABEL_MANAGED, LABEL_NODE, LABEL_POD_UID,
};
use shoal_edge_agent::runtime::{
    ContainerRuntime, ObservedPod, ObservedState, PodmanRuntime, RuntimeError,
};
use shoal_transport::wire::{
    ContainerPlan, MountPlan, PodPlan, PortPlan, PullPolicy, RestartPolicy, VolumePlan,
};

const IMAGE: &str = "localhost/busybox:latest";

/// An infra container that needs nothing but busybox (the default one needs `catatonit`).
fn infra_command() -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done".into(),
    ]
}

/// One test's Podman service, node name and data directory. Dropping it removes every pod,
/// container and volume labelled with its node names and stops the service.
struct TestEnv {
    node: String,
    socket: PathBuf,
    service: Child,
    data: tempfile::TempDir,
}

impl TestEnv {
    async fn start(test: &str) -> (TestEnv, PodmanRuntime) {
        match Command::new("podman").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("`podman --version` failed ({}); these tests need a working Podman 4", out.status),
            Err(e) => panic!("podman is not installed ({e}); these tests need Podman 4 (run .ci/setup-host.sh as root)"),
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let node = format!("t-{test}-{}-{:x}", std::process::id(), nanos % 0xffff_ffff);
        let socket = std::env::temp_dir().join(format!("shoal-{node}.sock"));
        let service = Command::new("podman")
            .args([
                "system",
                "service",
                "--time=0",
                &format!("unix://{}", socket.display()),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn `podman system service`");
        let env = TestEnv {
            node,
            socket,
            service,
            data: tempfile::tempdir().expect("temp dir"),
        };
        let url = format!("unix://{}", env.socket.display());
        let deadline = Instant::now() + Duration::from_secs(30);
        let runtime = loop {
            match PodmanRuntime::connect(&url, &env.node, env.data.path()).await {
                Ok(rt) => break rt,
                Err(e) if Instant::now() > deadline => {
                    panic!("podman service at {url} never answered: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        (env, runtime.with_infra_container(IMAGE, infra_command()))
    }

    /// A node name that is not ours, for objects this test makes to check isolation.
    fn other_node(&self) -> String {
        format!("{}-other", self.node)
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for node in [self.node.clone(), self.other_node()] {
            let filter = format!("label={LABEL_NODE}={node}");
            let pods = podman_lines(&["pod", "ps", "-q", "--filter", &filter]);
            if !pods.is_empty() {
                let mut args = vec!["pod", "rm", "-f", "-t", "0"];
                args.extend(pods.iter().map(String::as_str));
                let _ = podman(&args);
            }
            let containers = podman_lines(&["ps", "-aq", "--filter", &filter]);
            if !containers.is_empty() {
                let mut args = vec!["rm", "-f", "-t", "0"];
                args.extend(containers.iter().map(String::as_str));
                let _ = podman(&args);
            }
            let volumes = podman_lines(&["volume", "ls", "-q", "--filter", &filter]);
            if !volumes.is_empty() {
                let mut args = vec!["volume", "rm", "-f"];
                args.extend(volumes.iter().map(String::as_str));
                let _ = podman(&args);
            }
        }
        // Our own child, by its pid.
        let _ = self.service.kill();
        let _ = self.service.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Runs the podman CLI; stdout on success.
fn podman(args: &[&str]) -> Result<String, String> {
    let out = Command::new("podman")
        .args(args)
        .output()
        .map_err(|e| format!("podman {args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn podman_lines(args: &[&str]) -> Vec<String> {
    podman(args)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn unique_uid() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        nanos % 0xffff_ffff,
        std::process::id() % 0xffff,
        nanos % 0xffff_ffff_ffff
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Polls `list_pods` until `pred` holds for pod `uid` (or fails after `timeout`).
async fn wait_for_pod(
    rt: &dyn ContainerRuntime,
    uid: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&ObservedPod) -> bool,
) -> ObservedPod {
    let deadline = Instant::now() + timeout;
    loop {
        let pods = rt.list_pods().await.expect("list_pods");
        let pod = pods.into_iter().find(|p| p.uid == uid);
        match pod {
            Some(p) if pred(&p) => return p,
            other if Instant::now() > deadline => {
                panic!("timed out waiting for {what}; last seen: {other:#?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn state_of(pod: &ObservedPod, container: &str) -> ObservedState {
    pod.container(container)
        .map(|c| c.state)
        .unwrap_or_else(|| panic!("no container {container} in {pod:#?}"))
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

async fn wait_for_file(path: &Path, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never contained {needle:?} (has {text:?})",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn web_pod(uid: &str, greeting: &str, host_port: u16) -> PodPlan {
    let www = MountPlan {
        name: "www".into(),
        mount_path: "/www".into(),
        ..Default::default()
    };
    PodPlan {
        uid: uid.into(),
        namespace: "default".into(),
        name: "web".into(),
        revision: 1,
        restart_policy: RestartPolicy::Always,
        // Long on purpose: stop_pod must use the grace it is given, not this.
        termination_grace_period_seconds: 30,
        containers: vec![
            ContainerPlan {
                name: "web".into(),
                image: IMAGE.into(),
                command: vec!["httpd".into()],
                args: vec!["-f".into(), "-p".into(), "8080".into(), "-h".into(), "/www".into()],
                ports: vec![PortPlan {
                    name: "http".into(),
                    container_port: 8080,
                    host_port,
                    host_ip: "127.0.0.1".into(),
                    protocol: "TCP".into(),
                }],
                volume_mounts: vec![www.clone()],
                ..Default::default()
            },
            ContainerPlan {
                name: "probe".into(),
                image: IMAGE.into(),
                // Always: the pull fails (no registry), the local image is used.
                image_pull_policy: PullPolicy::Always,
                command: vec!["sh".into(), "-c".into()],
                args: vec![
                    "echo \"$GREETING\" > /www/index.html; echo in-memory > /mem/note; \
                     while true; do wget -q -O /www/probe.txt http://127.0.0.1:8080/index.html; sleep 1; done"
                        .into(),
                ],
                env: vec![("GREETING".into(), greeting.into())],
                working_dir: "/www".into(),
                volume_mounts: vec![www, MountPlan { name: "mem".into(), mount_path: "/mem".into(), ..Default::default() }],
                ..Default::default()
            },
            ContainerPlan {
                name: "once".into(),
                image: IMAGE.into(),
                command: vec!["sh".into(), "-c".into(), "exit 3".into()],
                ..Default::default()
            },
        ],
        volumes: vec![
            VolumePlan::EmptyDir { name: "www".into(), medium_memory: false },
            VolumePlan::EmptyDir { name: "mem".into(), medium_memory: true },
        ],
        ..Default::default()
    }
}

#[tokio::test]
async fn runs_a_pod_on_real_podman_and_removes_it() {
    let (env, podman_rt) = TestEnv::start("run").await;
    let rt: &dyn ContainerRuntime = &podman_rt;
    assert_eq!(rt.name(), "podman");
    let version = rt.version().await.expect("version");
    assert!(
        version.starts_with('4') || version.starts_with('5'),
        "podman version {version:?}"
    );

    let uid = unique_uid();
    let greeting = format!("hello-from-{}", env.node);
    let port = free_port();
    let plan = web_pod(&uid, &greeting, port);

    // Someone else's pod with the same UID (another agent's node label): never ours.
    podman(&[
        "pod",
        "create",
        "--infra=false",
        "--name",
        &format!("foreign-{}", env.node),
        "--label",
        &format!("{LABEL_MANAGED}=true"),
        "--label",
        &format!("{LABEL_NODE}={}", env.other_node()),
        "--label",
        &format!("{LABEL_POD_UID}={uid}"),
    ])
    .expect("create foreign pod");

    rt.start_pod(&plan).await.expect("start_pod");
    let pod = wait_for_pod(
        rt,
        &uid,
        Duration::from_secs(60),
        "web and probe running, once exited 3, pod IP",
        |p| {
            p.pod_ip.is_some()
                && p.containers.len() == 3
                && state_of(p, "web").is_running()
                && state_of(p, "probe").is_running()
                && matches!(
                    state_of(p, "once"),
                    ObservedState::Exited { exit_code: 3, .. }
                )
        },
    )
    .await;
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("default", "web")
    );
    assert!(pod.created_at_ms.is_some());
    let web = pod.container("web").expect("web");
    assert!(web.id.starts_with("podman://"), "{}", web.id);
    assert!(web.image_id.starts_with("sha256:"), "{}", web.image_id);
    let all = rt.list_pods().await.expect("list");
    assert_eq!(
        all.iter().filter(|p| p.uid == uid).count(),
        1,
        "the foreign pod is not listed: {all:#?}"
    );

    // The pure core reads the real observation.
    let status = pod_status(
        &plan,
        Some(&pod),
        &RestartBook::new(),
        &ProbeBook::new(),
        now_ms(),
        "127.0.0.1",
    );
    assert_eq!(status.phase, "Running");
    assert_eq!(status.pod_ip, pod.pod_ip);
    let web_status = status
        .container_statuses
        .iter()
        .find(|c| c.name == "web")
        .expect("web status");
    assert!(web_status.ready && web_status.state.running.is_some());

    // start_pod is idempotent: same containers, and the exited one is not restarted by it.
    let once_before = state_of(&pod, "once");
    rt.start_pod(&plan).await.expect("start_pod again");
    let again = rt
        .list_pods()
        .await
        .expect("list")
        .into_iter()
        .find(|p| p.uid == uid)
        .expect("pod");
    let ids = |p: &ObservedPod| {
        p.containers
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again), ids(&pod));
    assert_eq!(state_of(&again, "once"), once_before);

    // Host port -> pod; emptyDir shared between containers; localhost shared inside the pod.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match http_get(port, "/index.html") {
            Ok(body) if body.contains(&greeting) => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "http://127.0.0.1:{port}/index.html never served the greeting: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    let www = env
        .data
        .path()
        .join("pods")
        .join(&uid)
        .join("volumes")
        .join("www");
    wait_for_file(&www.join("probe.txt"), &greeting, Duration::from_secs(20)).await;

    // The CLI sees our containers with our labels.
    let listed = podman(&[
        "ps",
        "-a",
        "--format",
        "json",
        "--filter",
        &format!("label={LABEL_POD_UID}={uid}"),
        "--filter",
        &format!("label={LABEL_NODE}={}", env.node),
    ])
    .expect("podman ps");
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("podman ps JSON");
    let listed = listed.as_array().expect("array");
    let pod_prefix = format!("shoal_default_web_{}", &uid[..8]);
    for name in ["web", "probe", "once"] {
        let c = listed
            .iter()
            .find(|c| c["Labels"][LABEL_CONTAINER] == name)
            .unwrap_or_else(|| panic!("podman ps has no container {name}: {listed:#?}"));
        assert_eq!(c["Labels"][LABEL_MANAGED], "true");
        assert_eq!(c["Labels"][LABEL_NODE], env.node.as_str());
        assert_eq!(c["Names"][0], format!("{pod_prefix}_{name}").as_str());
    }
    assert_eq!(
        podman_lines(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label={LABEL_POD_UID}={uid}")
        ])
        .len(),
        1
    );

    // restart_container runs an exited container again.
    let ObservedState::Exited {
        started_at_ms: first_start,
        ..
    } = state_of(&pod, "once")
    else {
        panic!("once was waited for to be exited")
    };
    rt.restart_container(&uid, "once")
        .await
        .expect("restart once");
    wait_for_pod(rt, &uid, Duration::from_secs(20), "once to run again", |p| {
        matches!(state_of(p, "once"), ObservedState::Exited { exit_code: 3, started_at_ms, .. } if started_at_ms > first_start)
    })
    .await;
    assert!(matches!(
        rt.restart_container(&uid, "nope").await,
        Err(RuntimeError::ContainerNotFound { .. })
    ));

    // stop_pod honours the grace it is given (1 s), not the 30 s the containers were made with.
    let t0 = Instant::now();
    rt.stop_pod(&uid, Duration::from_secs(1))
        .await
        .expect("stop_pod");
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "stop took {:?}",
        t0.elapsed()
    );
    let stopped = wait_for_pod(rt, &uid, Duration::from_secs(10), "all stopped", |p| {
        p.containers
            .iter()
            .all(|c| matches!(c.state, ObservedState::Exited { .. }))
    })
    .await;
    assert_eq!(stopped.pod_ip, None, "a stopped pod has no address");
    rt.stop_pod(&uid, Duration::from_secs(1))
        .await
        .expect("stop_pod is idempotent");

    // A container of a stopped pod can be started again (its infra comes back with it).
    rt.restart_container(&uid, "web")
        .await
        .expect("restart web in a stopped pod");
    wait_for_pod(
        rt,
        &uid,
        Duration::from_secs(20),
        "web running again",
        |p| state_of(p, "web").is_running() && p.pod_ip.is_some(),
    )
    .await;

    // As the pod core's RemovePod effect does: stop with the grace, then remove.
    rt.stop_pod(&uid, Duration::from_secs(1))
        .await
        .expect("stop_pod");
    rt.remove_pod(&uid).await.expect("remove_pod");
    assert!(rt
        .list_pods()
        .await
        .expect("list")
        .iter()
        .all(|p| p.uid != uid));
    let node_filter = format!("label={LABEL_NODE}={}", env.node);
    assert_eq!(
        podman_lines(&["ps", "-aq", "--filter", &node_filter]),
        Vec::<String>::new(),
        "containers left"
    );
    assert_eq!(
        podman_lines(&["pod", "ps", "-q", "--filter", &node_filter]),
        Vec::<String>::new(),
        "pods left"
    );
    assert_eq!(
        podman_lines(&["volume", "ls", "-q", "--filter", &node_filter]),
        Vec::<String>::new(),
        "volumes left"
    );
    assert!(
        !env.data.path().join("pods").join(&uid).exists(),
        "pod directory left"
    );
    rt.remove_pod(&uid).await.expect("remove_pod is idempotent");

    // The foreign pod with the same UID was never touched.
    let foreign = podman_lines(&[
        "pod",
        "ps",
        "-q",
        "--filter",
        &format!("label={LABEL_NODE}={}", env.other_node()),
    ]);
    assert_eq!(
        foreign.len(),
        1,
        "the other node's pod must survive our remove_pod"
    );
}

#[tokio::test]
async fn image_pull_policies_on_an_offline_device() {
    let (_env, podman_rt) = TestEnv::start("img").await;
    let rt: &dyn ContainerRuntime = &podman_rt;
    let uid = unique_uid();
    let missing = "localhost/shoal-test-no-such-image:1";
    let mut plan = PodPlan {
        uid: uid.clone(),
        namespace: "default".into(),
        name: "img".into(),
        containers: vec![ContainerPlan {
            name: "c".into(),
            image: missing.into(),
            image_pull_policy: PullPolicy::Never,
            ..Default::default()
        }],
        ..Default::default()
    };
    match rt.start_pod(&plan).await {
        Err(RuntimeError::ImageNotPresent { image }) => assert_eq!(image, missing),
        other => panic!("Never with a missing image must fail with ImageNotPresent, got {other:?}"),
    }
    plan.containers[0].image_pull_policy = PullPolicy::IfNotPresent;
    match rt.start_pod(&plan).await {
        Err(RuntimeError::ImagePull { image, .. }) => assert_eq!(image, missing),
        other => {
            panic!("IfNotPresent with an unpullable image must fail with ImagePull, got {other:?}")
        }
    }
    assert!(
        rt.list_pods().await.expect("list").is_empty(),
        "a pod whose image is missing creates nothing"
    );

    // Never with a present image runs.
    plan.containers[0].image = IMAGE.into();
    plan.containers[0].image_pull_policy = PullPolicy::Never;
    plan.containers[0].command = vec!["sleep".into(), "60".into()];
    plan.termination_grace_period_seconds = 0;
    rt.start_pod(&plan).await.expect("start with a local image");
    wait_for_pod(rt, &uid, Duration::from_secs(30), "c running", |p| {
        state_of(p, "c").is_running()
    })
    .await;
    rt.remove_pod(&uid).await.expect("remove_pod");
    assert!(rt.list_pods().await.expect("list").is_empty());
}

#[tokio::test]
async fn host_network_pod_runs_without_its_own_address() {
    let (_env, podman_rt) = TestEnv::start("hostnet").await;
    let rt: &dyn ContainerRuntime = &podman_rt;
    let uid = unique_uid();
    let plan = PodPlan {
        uid: uid.clone(),
        namespace: "kube-system".into(),
        name: "agent-helper".into(),
        host_network: true,
        containers: vec![ContainerPlan {
            name: "c".into(),
            image: IMAGE.into(),
            command: vec!["sleep".into(), "60".into()],
            // Published ports mean nothing on the host network and must not break it.
            ports: vec![PortPlan {
                container_port: 9,
                host_port: 9,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    rt.start_pod(&plan).await.expect("start host-network pod");
    let pod = wait_for_pod(rt, &uid, Duration::from_secs(30), "c running", |p| {
        state_of(p, "c").is_running()
    })
    .await;
    assert_eq!(pod.pod_ip, None, "no pod network, no pod address");
    let status = pod_status(
        &plan,
        Some(&pod),
        &RestartBook::new(),
        &ProbeBook::new(),
        now_ms(),
        "127.0.0.1",
    );
    assert_eq!(
        status.pod_ip.as_deref(),
        Some("127.0.0.1"),
        "the pod IP of a host-network pod is the node's"
    );
    rt.stop_pod(&uid, Duration::ZERO).await.expect("stop_pod");
    rt.remove_pod(&uid).await.expect("remove_pod");
    assert!(rt.list_pods().await.expect("list").is_empty());
}
