//! Helpers for shoal's end-to-end tests: they start the real binaries (`shoal-hub`,
//! `shoal-agent`), a private Podman API service, and drive them with the installed `kubectl`
//! and Mosquitto's clients, on loopback addresses only.
//!
//! Every process a test starts is owned by a guard that kills it (by its pid) when dropped,
//! so a failing test leaves nothing running. Podman pods are labelled with the test's own
//! node name and removed by label.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace's target directory with the built binaries (`cargo build --workspace --bins`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> -> target/debug/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (and, by luck of the allocator, usually free for UDP too).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.to_string(),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A running hub with its own data directory and ports.
pub struct Hub {
    pub proc: Proc,
    pub dir: PathBuf,
    pub api_port: u16,
    pub quic_port: u16,
    pub mqtt_port: u16,
}

impl Hub {
    pub fn start(dir: &Path) -> Hub {
        Self::start_with(dir, free_port(), free_udp_port(), free_port(), &[])
    }

    pub fn start_with(
        dir: &Path,
        api_port: u16,
        quic_port: u16,
        mqtt_port: u16,
        extra: &[&str],
    ) -> Hub {
        std::fs::create_dir_all(dir).expect("hub dir");
        let mut cmd = Command::new(bin("shoal-hub"));
        cmd.arg("--data-dir")
            .arg(dir)
            .arg("--api-addr")
            .arg(format!("127.0.0.1:{api_port}"))
            .arg("--quic-addr")
            .arg(format!("127.0.0.1:{quic_port}"))
            .arg("--mqtt-addr")
            .arg(format!("127.0.0.1:{mqtt_port}"))
            .args(extra)
            .env("SHOAL_LOG", "info");
        let log = dir.join(format!(
            "hub-{}.log",
            Instant::now().elapsed().as_nanos() ^ std::process::id() as u128 ^ rand_u64() as u128
        ));
        let proc = Proc::spawn("shoal-hub", &mut cmd, log);
        let hub = Hub {
            proc,
            dir: dir.to_path_buf(),
            api_port,
            quic_port,
            mqtt_port,
        };
        wait_for("the hub's API to answer", Duration::from_secs(30), || {
            let out = hub.kubectl(&["get", "--raw", "/healthz"]);
            out.status.success().then_some(())
        });
        hub
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    pub fn join_token_file(&self) -> PathBuf {
        self.dir.join("join-token")
    }

    /// Runs the default `kubectl` against this hub.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl_with("kubectl", &self.kubeconfig(), args, None)
    }

    /// Runs `kubectl` with `stdin` as input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        kubectl_with("kubectl", &self.kubeconfig(), args, Some(stdin))
    }

    /// `kubectl` that must succeed; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n--- hub log ---\n{}",
            text(&out.stderr),
            tail(&self.proc.log_text(), 40)
        );
        text(&out.stdout)
    }

    /// `(user, password)` of the read-only MQTT integration credentials.
    pub fn mqtt_reader(&self) -> (String, String) {
        let s = std::fs::read_to_string(self.dir.join("mqtt-reader")).expect("mqtt-reader");
        let (u, p) = s.trim().split_once(':').expect("user:password");
        (u.to_string(), p.to_string())
    }
}

pub fn kubectl_with(
    kubectl: &str,
    kubeconfig: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(kubectl);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG");
    match stdin {
        None => cmd.stdin(Stdio::null()).output().expect("kubectl runs"),
        Some(input) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("kubectl runs");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
            child.wait_with_output().expect("kubectl output")
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}

/// A private Podman API service on its own socket, stopped (by pid) when dropped. Pods the
/// tests' agents created are removed by their node label.
pub struct PodmanService {
    pub proc: Proc,
    pub socket: PathBuf,
    pub node_labels: Vec<String>,
}

impl PodmanService {
    pub fn start(dir: &Path) -> PodmanService {
        assert!(
            Command::new("podman")
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false),
            "podman is not installed: run .ci/setup-host.sh (as root) first"
        );
        let socket = dir.join("podman.sock");
        let mut cmd = Command::new("podman");
        cmd.arg("system")
            .arg("service")
            .arg("--time=0")
            .arg(format!("unix://{}", socket.display()));
        let proc = Proc::spawn(
            "podman system service",
            &mut cmd,
            dir.join("podman-service.log"),
        );
        wait_for("the Podman API socket", Duration::from_secs(20), || {
            socket.exists().then_some(())
        });
        PodmanService {
            proc,
            socket,
            node_labels: Vec::new(),
        }
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Cleans up after an agent of this node name when the service is dropped.
    pub fn own_node(&mut self, node: &str) {
        self.node_labels.push(node.to_string());
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        for node in &self.node_labels {
            remove_node_pods(node);
        }
    }
}

/// Names of the containers that belong to `node`'s agent: running ones, or all with `all`.
pub fn podman_containers(node: &str, all: bool) -> Vec<String> {
    let mut cmd = Command::new("podman");
    cmd.arg("ps")
        .arg("--filter")
        .arg(format!("label=io.shoal.node={node}"))
        .arg("--format")
        .arg("{{.Names}}");
    if all {
        cmd.arg("-a");
    } else {
        cmd.arg("--filter").arg("status=running");
    }
    let out = cmd.output().expect("podman ps");
    text(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Removes every Podman pod and container labelled for `node`.
pub fn remove_node_pods(node: &str) {
    let filter = format!("label=io.shoal.node={node}");
    let pods = Command::new("podman")
        .args(["pod", "ps", "-q", "--filter", &filter])
        .output();
    if let Ok(out) = pods {
        for id in text(&out.stdout).split_whitespace() {
            let _ = Command::new("podman")
                .args(["pod", "rm", "-f", "-t", "0", id])
                .output();
        }
    }
    let ctrs = Command::new("podman")
        .args(["ps", "-aq", "--filter", &filter])
        .output();
    if let Ok(out) = ctrs {
        for id in text(&out.stdout).split_whitespace() {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0", id])
                .output();
        }
    }
}

/// A running agent.
pub struct Agent {
    pub proc: Proc,
    pub node: String,
    pub dir: PathBuf,
}

impl Agent {
    pub fn start(
        hub: &Hub,
        node: &str,
        dir: &Path,
        podman: &PodmanService,
        extra: &[&str],
    ) -> Agent {
        Self::start_with_token(hub, node, dir, podman, &hub.join_token_file(), extra)
    }

    pub fn start_with_token(
        hub: &Hub,
        node: &str,
        dir: &Path,
        podman: &PodmanService,
        token: &Path,
        extra: &[&str],
    ) -> Agent {
        Self::start_at(hub.quic_port, node, dir, podman, token, extra)
    }

    /// An agent for the hub at `127.0.0.1:quic_port`, which need not be running.
    pub fn start_at(
        quic_port: u16,
        node: &str,
        dir: &Path,
        podman: &PodmanService,
        token: &Path,
        extra: &[&str],
    ) -> Agent {
        std::fs::create_dir_all(dir).expect("agent dir");
        let mut cmd = Command::new(bin("shoal-agent"));
        cmd.arg("--hub")
            .arg(format!("127.0.0.1:{quic_port}"))
            .arg("--token-file")
            .arg(token)
            .arg("--node-name")
            .arg(node)
            .arg("--data-dir")
            .arg(dir);
        // `extra` may name another node address (several agents on one machine).
        if !extra.contains(&"--node-ip") {
            cmd.arg("--node-ip").arg("127.0.0.1");
        }
        cmd.arg("--podman-socket")
            .arg(podman.url())
            .args(extra)
            .env("SHOAL_LOG", "info");
        let proc = Proc::spawn(
            "shoal-agent",
            &mut cmd,
            dir.join(format!("agent-{}.log", rand_u64())),
        );
        Agent {
            proc,
            node: node.to_string(),
            dir: dir.to_path_buf(),
        }
    }
}

/// Reads one retained message from the broker with `mosquitto_sub`.
pub fn mqtt_read_retained(port: u16, user: &str, pass: &str, topic: &str) -> Option<String> {
    let out = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            user,
            "-P",
            pass,
            "-t",
            topic,
            "-C",
            "1",
            "-W",
            "5",
            "--retained-only",
        ])
        .output()
        .expect("mosquitto_sub runs (install mosquitto-clients)");
    let s = text(&out.stdout);
    (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_string())
}
