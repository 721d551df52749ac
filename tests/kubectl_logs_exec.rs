//! `kubectl logs` and `kubectl exec` end to end: real hub, real agent, real Podman, stock
//! kubectl. Logs and exec go from the hub to the agent over the agent's own QUIC connection.
//!
//! kubectl 1.30 and newer run exec over WebSocket (v5.channel.k8s.io), which the hub serves,
//! and so does 1.29 with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true; otherwise 1.27 to 1.29 speak
//! only SPDY, which it does not serve (they get a clear 400).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use shoal_e2e::*;

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: chatty
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector:
    kubernetes.io/hostname: NODE
  containers:
  - name: talker
    image: localhost/busybox:latest
    command: ["sh", "-c", "echo line1; echo err1 >&2; echo line2; i=0; while true; i=$((i+1)); do echo tick $i; sleep 1; done"]
  - name: quiet
    image: localhost/busybox:latest
    command: ["sh", "-c", "echo quiet-start; exec sleep 100000"]
---
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector:
    kubernetes.io/hostname: NODE
  containers:
  - name: app
    image: localhost/busybox:latest
    command: ["sh", "-c", "echo run-$(date +%s%N); sleep 3; exit 1"]
---
apiVersion: v1
kind: Pod
metadata:
  name: solo
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector:
    kubernetes.io/hostname: NODE
  containers:
  - name: only
    image: localhost/busybox:latest
    command: ["sleep", "100000"]
"#;

/// Where the versioned kubectl binaries of the Google Cloud SDK live.
const SDK_BIN: &str = "/usr/lib/google-cloud-sdk/bin";

fn kubectl_version(minor: u32) -> Option<String> {
    let p = format!("{SDK_BIN}/kubectl.1.{minor}");
    Path::new(&p).exists().then_some(p)
}

fn kubectl_as(
    hub: &Hub,
    kubectl: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    kubectl_with(kubectl, &hub.kubeconfig(), args, stdin)
}

fn must(out: std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn restart_count(hub: &Hub, pod: &str) -> u32 {
    let out = hub.kubectl(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount}",
    ]);
    text(&out.stdout).trim().parse().unwrap_or(0)
}

/// Issues a namespace-scoped user token (as `shoalctl token create` does).
fn issue_token(hub: &Hub, token: &str, user: &str, groups: &str) {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let hex: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shoal-token-{}\n  namespace: kube-system\ntype: shoal.io/user-token\ndata:\n  token-sha256: {}\n  user: {}\n  groups: {}\n  expires-at: {}\n",
        &hex[..20],
        b64(&hex),
        b64(user),
        b64(groups),
        b64("0")
    );
    must(
        hub.kubectl_stdin(&["apply", "-f", "-"], &manifest),
        "issuing a token",
    );
}

#[test]
fn kubectl_logs_and_exec_reach_podman_containers_through_the_hub() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut podman = PodmanService::start(tmp.path());
    let node = format!("e2e-logs-{}", rand_u64() % 100_000);
    podman.own_node(&node);
    let hub = Hub::start(&tmp.path().join("hub"));
    let mut agent = Agent::start(&hub, &node, &tmp.path().join("agent"), &podman, &[]);
    wait_for("the node to be Ready", Duration::from_secs(60), || {
        let out = hub.kubectl(&["get", "node", &node, "--no-headers"]);
        (text(&out.stdout).split_whitespace().nth(1) == Some("Ready")).then_some(())
    });
    must(
        hub.kubectl_stdin(&["apply", "-f", "-"], &PODS.replace("NODE", &node)),
        "apply",
    );
    for pod in ["chatty", "crasher", "solo"] {
        wait_for(
            &format!("pod {pod} to run"),
            Duration::from_secs(90),
            || {
                let out = hub.kubectl(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
                (text(&out.stdout) == "Running").then_some(())
            },
        );
    }
    let kubectl = "kubectl";

    // --- logs ---------------------------------------------------------------------------
    // Several containers and no container named: Kubernetes' 400 (kubectl itself picks the
    // first container, so ask the REST endpoint directly).
    let out = hub.kubectl(&["get", "--raw", "/api/v1/namespaces/default/pods/chatty/log"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(
            "a container name must be specified for pod chatty, choose one of: [talker quiet]"
        ),
        "{}",
        text(&out.stderr)
    );
    let all = wait_for("talker's first lines", Duration::from_secs(30), || {
        let s = text(&hub.kubectl(&["logs", "chatty", "-c", "talker"]).stdout);
        s.contains("line2").then_some(s)
    });
    assert!(all.starts_with("line1\n"), "{all}");
    assert!(all.contains("err1\n"), "stderr is in the log: {all}");
    let quiet = must(
        hub.kubectl(&["logs", "chatty", "-c", "quiet"]),
        "logs -c quiet",
    );
    assert_eq!(quiet, "quiet-start\n");

    // (conmon may record stderr after a later stdout line, so wait for ticks at the end.)
    let tail = wait_for(
        "two ticks at the end of the log",
        Duration::from_secs(30),
        || {
            let tail = must(
                hub.kubectl(&["logs", "chatty", "-c", "talker", "--tail=2"]),
                "--tail",
            );
            tail.lines().all(|l| l.starts_with("tick ")).then_some(tail)
        },
    );
    assert_eq!(tail.lines().count(), 2, "{tail}");

    let stamped = must(
        hub.kubectl(&["logs", "chatty", "-c", "quiet", "--timestamps"]),
        "--timestamps",
    );
    let (stamp, line) = stamped
        .trim_end()
        .split_once(' ')
        .expect("timestamp and line");
    assert_eq!(line, "quiet-start");
    assert!(
        stamp.len() >= 20 && stamp.as_bytes()[10] == b'T' && stamp.ends_with('Z'),
        "RFC 3339 timestamp: {stamp}"
    );

    let recent = must(
        hub.kubectl(&["logs", "chatty", "-c", "quiet", "--since=1h"]),
        "--since",
    );
    assert_eq!(recent, "quiet-start\n");
    let future = must(
        hub.kubectl(&[
            "logs",
            "chatty",
            "-c",
            "quiet",
            "--since-time=2999-01-01T00:00:00Z",
        ]),
        "--since-time",
    );
    assert_eq!(future, "", "nothing was written after the since time");

    let limited = must(
        hub.kubectl(&["logs", "chatty", "-c", "quiet", "--limit-bytes=5"]),
        "--limit-bytes",
    );
    assert_eq!(limited, "quiet");

    // Logs are plain HTTP: every kubectl version works.
    for k in (27..=33).filter_map(kubectl_version) {
        let out = must(
            kubectl_as(&hub, &k, &["logs", "chatty", "-c", "quiet"], None),
            &format!("{k} logs"),
        );
        assert_eq!(out, "quiet-start\n", "{k}");
    }

    // The plain REST endpoint, as the Python client calls it.
    let raw = must(
        hub.kubectl(&[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/chatty/log?container=quiet&tailLines=1",
        ]),
        "get --raw .../log",
    );
    assert_eq!(raw, "quiet-start\n");

    // -f follows new output; stopping the client stops the agent following.
    let mut follow = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(hub.kubeconfig())
        .args(["logs", "-f", "chatty", "-c", "talker", "--tail=1"])
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl logs -f");
    let mut lines = BufReader::new(follow.stdout.take().expect("stdout")).lines();
    let tick = |l: &str| l.strip_prefix("tick ").and_then(|n| n.parse::<u64>().ok());
    let first = tick(&lines.next().expect("a line").expect("utf-8")).expect("a tick");
    let mut last = first;
    while last < first + 3 {
        let l = lines
            .next()
            .expect("followed lines keep coming")
            .expect("utf-8");
        last = tick(&l).expect("ticks");
    }
    assert_eq!(last, first + 3, "followed lines arrive in order, none lost");
    let _ = follow.kill();
    let _ = follow.wait();
    // A silent followed log too: the agent drops Podman's log call once kubectl is gone.
    let mut silent = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(hub.kubeconfig())
        .args(["logs", "-f", "chatty", "-c", "quiet"])
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl logs -f");
    let first = BufReader::new(silent.stdout.take().expect("stdout"))
        .lines()
        .next()
        .expect("a line")
        .expect("utf-8");
    assert_eq!(first, "quiet-start");
    let _ = silent.kill();
    let _ = silent.wait();
    wait_for(
        "the agent to stop following both logs once kubectl is gone",
        Duration::from_secs(30),
        || {
            let log = agent.proc.log_text();
            (log.matches("the hub stopped reading the log; no longer following")
                .count()
                >= 2
                && log
                    .matches("log reader gone; Podman log call closed")
                    .count()
                    >= 2)
                .then_some(())
        },
    );

    // --previous: 400 without an earlier run; the earlier run's output after a restart.
    let out = hub.kubectl(&["logs", "chatty", "-c", "quiet", "--previous"]);
    assert!(
        text(&out.stderr)
            .contains("previous terminated container \"quiet\" in pod \"chatty\" not found"),
        "{}",
        text(&out.stderr)
    );
    wait_for("crasher to restart", Duration::from_secs(90), || {
        (restart_count(&hub, "crasher") >= 1).then_some(())
    });
    let (previous, current) = wait_for(
        "the previous and the current run's logs",
        Duration::from_secs(60),
        || {
            let prev = text(&hub.kubectl(&["logs", "crasher", "--previous"]).stdout);
            let cur = text(&hub.kubectl(&["logs", "crasher"]).stdout);
            (prev.lines().count() == 1 && cur.lines().count() == 1).then_some((prev, cur))
        },
    );
    assert!(previous.starts_with("run-") && current.starts_with("run-"));
    assert_ne!(
        previous, current,
        "--previous shows the run before the current one"
    );

    // Bad input: unknown pod, unknown container.
    let out = hub.kubectl(&["logs", "nope"]);
    assert!(
        text(&out.stderr).contains("pods \"nope\" not found"),
        "{}",
        text(&out.stderr)
    );
    let out = hub.kubectl(&["logs", "chatty", "-c", "nope"]);
    assert!(
        text(&out.stderr).contains("container nope is not valid for pod chatty"),
        "{}",
        text(&out.stderr)
    );

    // --- exec -------------------------------------------------------------------------
    let mut versions: Vec<String> = (30..=33).filter_map(kubectl_version).collect();
    versions.push("kubectl".to_string());
    assert!(
        versions.iter().any(|v| v.ends_with("1.33")),
        "kubectl 1.33 is installed under {SDK_BIN}"
    );
    for k in &versions {
        let out = kubectl_as(
            &hub,
            k,
            &[
                "exec",
                "chatty",
                "-c",
                "quiet",
                "--",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
            None,
        );
        assert_eq!(text(&out.stdout), "out\n", "{k}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("err\n"),
            "{k}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "{k}: the exit code comes through"
        );

        let echoed = must(
            kubectl_as(
                &hub,
                k,
                &["exec", "-i", "chatty", "-c", "quiet", "--", "cat"],
                Some("hello\nworld\n"),
            ),
            &format!("{k} exec -i cat"),
        );
        assert_eq!(
            echoed, "hello\nworld\n",
            "{k}: stdin reaches the command and ends"
        );
    }
    // The default container when there is only one.
    let out = must(
        hub.kubectl(&["exec", "solo", "--", "echo", "one"]),
        "exec without -c",
    );
    assert_eq!(out, "one\n");
    // Interactive: kubectl in a terminal (util-linux `script` gives it one) sends the
    // terminal's size, which reaches the command's TTY.
    let kubeconfig = hub.kubeconfig().display().to_string();
    let probe = "for i in $(busybox seq 40); do busybox stty -a | busybox grep -q \"rows 45; columns 123\" && echo SIZE-OK && exit 0; sleep 0.25; done; exit 1";
    let out = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "stty cols 123 rows 45; kubectl --kubeconfig {kubeconfig} exec -it solo -- sh -c '{probe}'"
        ))
        .arg("/dev/null")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    assert!(
        text(&out.stdout).contains("SIZE-OK"),
        "kubectl exec -it: {} {}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // A container that is not running: the reason, for WebSocket and SPDY clients alike.
    wait_for(
        "crasher to be between runs",
        Duration::from_secs(60),
        || {
            let out = hub.kubectl(&["exec", "crasher", "--", "true"]);
            text(&out.stderr)
                .contains("container \"app\" in pod \"crasher\" is not running")
                .then_some(())
        },
    );

    // SPDY (kubectl 1.29's default) gets a clear refusal.
    if let Some(k) = kubectl_version(29) {
        let out = kubectl_as(
            &hub,
            &k,
            &["exec", "chatty", "-c", "quiet", "--", "true"],
            None,
        );
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("WebSocket"),
            "{}",
            text(&out.stderr)
        );
        // kubectl 1.29 has WebSocket exec behind a switch.
        let out = Command::new(&k)
            .arg("--kubeconfig")
            .arg(hub.kubeconfig())
            .args(["exec", "chatty", "-c", "quiet", "--", "echo", "ws"])
            .env_remove("KUBECONFIG")
            .env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "true")
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs");
        assert_eq!(text(&out.stdout), "ws\n", "{}", text(&out.stderr));
    }
    let out = hub.kubectl(&["exec", "chatty", "-c", "nope", "--", "true"]);
    assert!(
        text(&out.stderr).contains("container nope is not valid for pod chatty"),
        "{}",
        text(&out.stderr)
    );
    let out = hub.kubectl(&["exec", "nope", "--", "true"]);
    assert!(
        text(&out.stderr).contains("pods \"nope\" not found"),
        "{}",
        text(&out.stderr)
    );

    // --- authorization: view may read logs, exec needs edit ------------------------------
    issue_token(
        &hub,
        "viewer-token-0123456789abcdefgh",
        "vera",
        "shoal:ns:default:view",
    );
    issue_token(
        &hub,
        "editor-token-0123456789abcdefgh",
        "ed",
        "shoal:ns:default:edit",
    );
    let viewer_logs = must(
        hub.kubectl(&[
            "--token",
            "viewer-token-0123456789abcdefgh",
            "logs",
            "chatty",
            "-c",
            "quiet",
        ]),
        "viewer logs",
    );
    assert_eq!(viewer_logs, "quiet-start\n");
    let out = hub.kubectl(&[
        "--token",
        "viewer-token-0123456789abcdefgh",
        "exec",
        "chatty",
        "-c",
        "quiet",
        "--",
        "true",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("User \"vera\" cannot create resource \"pods/exec\""),
        "{}",
        text(&out.stderr)
    );
    let out = must(
        hub.kubectl(&[
            "--token",
            "editor-token-0123456789abcdefgh",
            "exec",
            "chatty",
            "-c",
            "quiet",
            "--",
            "echo",
            "ok",
        ]),
        "editor exec",
    );
    assert_eq!(out, "ok\n");

    // --- the official Python client: logs (plain and followed) and exec (WebSocket) -------
    let python = "/opt/shoal-pyenv/bin/python";
    if Path::new(python).exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/logs_exec_check.py");
        let out = Command::new(python)
            .arg(&script)
            .arg(hub.kubeconfig())
            .args(["chatty", "quiet"])
            .env_remove("KUBECONFIG")
            .output()
            .expect("python runs");
        assert!(
            out.status.success() && text(&out.stdout).contains("all checks passed"),
            "python client check failed:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    // --- the node goes offline: a clear error, not a hang ----------------------------------
    agent.proc.kill9();
    wait_for(
        "logs to report the node as not connected",
        Duration::from_secs(90),
        || {
            let out = hub.kubectl(&["logs", "chatty", "-c", "quiet"]);
            let err = text(&out.stderr);
            (!out.status.success() && err.contains("is not connected to the hub")).then_some(())
        },
    );
}
