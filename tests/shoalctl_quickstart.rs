//! The newcomer's path, as the README tells it, from a fresh clone: `git clone` of this
//! repository at HEAD into a temp dir, the README's first command (`./scripts/cluster`)
//! brings up the one-machine cluster (hub, embedded broker, local agent on a private Podman
//! API service), `shoalctl apply -f configs/examples/` applies every example, and their pods
//! reach Running (the Job's Succeeded). Then the cluster is stopped with SIGTERM, as Ctrl-C
//! would, and the test removes the containers its node ran. The README's second command must
//! be the one `.ci/run` runs.
//!
//! The script runs the binaries this test run already built (`SHOAL_BIN_DIR`, from the same
//! commit): rebuilding shoal in the clone would only repeat the build `.ci/run` itself does,
//! and costs minutes on a 2-core machine. Everything else is the clone's own: its script,
//! README, examples. Ports are free ones on 127.0.0.1, passed through the environment
//! variables the script documents.
//!
//! Also here: the example config files document every flag of `shoal-hub` and `shoal-agent`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use shoal_e2e::*;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The first command of each ```sh block of the README, in order.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut first = false;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block && line.trim() == "```sh";
            first = in_block;
            continue;
        }
        if in_block && first && !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            out.push(line.trim().to_string());
            first = false;
        }
    }
    out
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_readme_from_a_fresh_clone_runs_the_examples() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = repo_root();
    let head = git(&root, &["rev-parse", "HEAD"]).trim().to_string();
    let clone = tmp.path().join("shoal");
    git(
        tmp.path(),
        &[
            "clone",
            "--quiet",
            "--no-checkout",
            root.to_str().expect("utf-8"),
            "shoal",
        ],
    );
    git(&clone, &["checkout", "--quiet", &head]);

    let readme = std::fs::read_to_string(clone.join("README.md")).expect("README");
    let cmds = readme_commands(&readme);
    assert_eq!(
        cmds.first().map(String::as_str),
        Some("./scripts/cluster"),
        "{cmds:?}"
    );
    assert_eq!(
        cmds.get(1).map(String::as_str),
        Some("./scripts/test"),
        "{cmds:?}"
    );
    let ci = std::fs::read_to_string(clone.join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "exec ./scripts/test"),
        "the second command is what CI runs:\n{ci}"
    );
    assert!(
        readme.contains("export KUBECONFIG=$PWD/.shoal/hub/admin.kubeconfig"),
        "the tour's kubeconfig"
    );
    assert!(
        readme.contains("shoalctl apply -f configs/examples/"),
        "the tour applies the examples"
    );

    // The first command, with private ports, Podman socket and node name.
    let node = format!("quickstart-{}", rand_u64() % 1_000_000);
    let podman_sock = tmp.path().join("podman.sock");
    let mut cluster = Command::new("bash");
    cluster
        .arg(&cmds[0])
        .current_dir(&clone)
        .env(
            "SHOAL_BIN_DIR",
            bin("shoal-hub").parent().expect("the binaries' directory"),
        )
        .env("SHOAL_API_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("SHOAL_QUIC_ADDR", format!("127.0.0.1:{}", free_udp_port()))
        .env("SHOAL_MQTT_ADDR", format!("127.0.0.1:{}", free_port()))
        .env(
            "SHOAL_PODMAN_SOCKET",
            format!("unix://{}", podman_sock.display()),
        )
        .env("SHOAL_AGENT_NODE_NAME", &node)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cluster.spawn().expect("scripts/cluster starts");
    // Removes the node's containers even when an assertion fails below.
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            remove_node_pods(&self.0);
        }
    }
    let _cleanup = Cleanup(node.clone());
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    // The script builds first: allow for a compile of shoal's own crates.
    let up = loop {
        match rx.recv_timeout(Duration::from_secs(900)) {
            Ok(line) => {
                let done = line.starts_with("Press Ctrl-C");
                printed.push(line);
                if done {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let guard = ScriptGuard(child);
    assert!(
        up,
        "scripts/cluster did not come up; it printed:\n{}",
        printed.join("\n")
    );
    let said = printed.join("\n");
    assert!(
        said.contains("runtime:     podman (API at unix://"),
        "it says which runtime: {said}"
    );
    let kubeconfig = clone.join(".shoal/hub/admin.kubeconfig");
    assert!(
        said.contains(&format!("export KUBECONFIG={}", kubeconfig.display())),
        "{said}"
    );
    let shoalctl = said
        .lines()
        .find_map(|l| l.trim().strip_suffix(" get nodes"))
        .expect("a shoalctl command in the greeting")
        .to_string();

    let ctl = |args: &[&str]| {
        Command::new(&shoalctl)
            .args(args)
            .current_dir(&clone)
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", tmp.path())
            .stdin(Stdio::null())
            .output()
            .expect("shoalctl runs")
    };
    wait_for(
        "the local node to be Ready",
        Duration::from_secs(120),
        || {
            let out = ctl(&["get", "nodes"]);
            text(&out.stdout)
                .lines()
                .any(|l| l.starts_with(&format!("{node} ")) && l.contains(" Ready"))
                .then_some(())
        },
    );

    // The tour: apply every example.
    let out = ctl(&["apply", "-f", "configs/examples/"]);
    assert!(out.status.success(), "apply: {}", text(&out.stderr));
    let applied = text(&out.stdout);
    for line in [
        "namespace/team-a created",
        "deployment.apps/web created",
        "service/web created",
        "daemonset.apps/collector created",
        "job.batch/report created",
        "pod/hello created",
        "replicationcontroller/pinger created",
        "pod/volumes created",
    ] {
        assert!(
            applied.lines().any(|l| l == line),
            "{line:?} missing in:\n{applied}"
        );
    }

    // Their pods: hello, volumes, web x2, collector x1, pinger x2 Running; report Succeeded.
    let want_running = [
        ("default", "hello"),
        ("default", "volumes"),
        ("default", "web-"),
        ("default", "collector-"),
        ("team-a", "pinger-"),
    ];
    let last = std::cell::RefCell::new(String::new());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(
            "the examples' pods to run",
            Duration::from_secs(240),
            || {
                let out = ctl(&["get", "pods", "-A", "-o", "json"]);
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                let pods: Vec<(String, String, String)> = v["items"]
                    .as_array()?
                    .iter()
                    .map(|p| {
                        let s = |ptr: &str| {
                            p.pointer(ptr)
                                .and_then(serde_json::Value::as_str)
                                .unwrap_or_default()
                                .to_string()
                        };
                        (
                            s("/metadata/namespace"),
                            s("/metadata/name"),
                            s("/status/phase"),
                        )
                    })
                    .collect();
                *last.borrow_mut() = format!("{pods:?}");
                let running = |ns: &str, prefix: &str| {
                    pods.iter()
                        .filter(|(n, name, ph)| {
                            n == ns && name.starts_with(prefix) && ph == "Running"
                        })
                        .count()
                };
                let ok = want_running.iter().all(|(ns, p)| running(ns, p) >= 1)
                    && running("default", "web-") == 2
                    && running("team-a", "pinger-") == 2
                    && pods
                        .iter()
                        .any(|(_, n, ph)| n.starts_with("report-") && ph == "Succeeded");
                ok.then_some(())
            },
        )
    }));
    if result.is_err() {
        let log = std::fs::read_to_string(clone.join(".shoal/hub.log")).unwrap_or_default();
        panic!(
            "the examples did not run; pods: {}\n--- hub log ---\n{}",
            last.borrow(),
            tail(&log, 60)
        );
    }
    // The README's kubectl works against the same cluster.
    let out = kubectl_with(
        "kubectl",
        &kubeconfig,
        &["get", "pods", "-n", "team-a", "-o", "name"],
        None,
    );
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "{}",
        text(&out.stderr)
    );
    let fleet = text(&ctl(&["fleet", "--by", "kubernetes.io/hostname"]).stdout);
    assert!(
        fleet
            .lines()
            .any(|l| l.starts_with(&node) && l.split_whitespace().nth(2) == Some("1")),
        "{fleet}"
    );
    assert!(
        fleet
            .lines()
            .any(|l| l.contains("collector") && l.contains("rolled out")),
        "{fleet}"
    );

    // Ctrl-C (SIGTERM): the script stops the hub and its Podman service, and exits.
    let mut guard = guard;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(guard.0.id().to_string())
        .status();
    let status = wait_for("scripts/cluster to exit", Duration::from_secs(60), || {
        guard.0.try_wait().ok().flatten()
    });
    assert!(
        status.success(),
        "the script exits cleanly on SIGTERM: {status}"
    );
    assert!(
        !podman_sock.exists()
            || Command::new("podman")
                .arg("--url")
                .arg(format!("unix://{}", podman_sock.display()))
                .arg("version")
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(true),
        "the Podman service it started is gone"
    );
}

/// Kills the script (by its pid) if the test ends early.
struct ScriptGuard(std::process::Child);

impl Drop for ScriptGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.0.id().to_string())
                .status();
            for _ in 0..200 {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Every `SHOAL_*` variable a binary's flags read is documented in its example env file.
#[test]
fn the_example_configs_document_every_flag() {
    for (binary, file) in [("shoal-hub", "hub.env"), ("shoal-agent", "agent.env")] {
        let out = Command::new(bin(binary))
            .arg("--help")
            .output()
            .expect("--help");
        let help = text(&out.stdout);
        let vars: Vec<&str> = help
            .split("[env: ")
            .skip(1)
            .filter_map(|rest| rest.split(['=', ']']).next())
            .collect();
        assert!(
            vars.len() >= 5,
            "{binary} --help lists its variables: {help}"
        );
        let doc =
            std::fs::read_to_string(repo_root().join("configs").join(file)).expect("env file");
        for v in vars {
            assert!(
                doc.contains(&format!("{v}=")),
                "{file} does not document {v}"
            );
        }
    }
    for unit in ["shoal-hub.service", "shoal-agent.service"] {
        let text = std::fs::read_to_string(repo_root().join("configs").join(unit)).expect("unit");
        assert!(
            text.contains("EnvironmentFile=/etc/shoal/")
                && text.contains("ExecStart=/usr/local/bin/shoal-"),
            "{unit}"
        );
    }
}
