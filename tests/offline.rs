//! Offline autonomy with real processes and real Podman (the agent issue's offline test):
//!
//! 0. the device joins with a TTL join token made by `shoalctl token create --join`;
//! 1. the hub is killed: the pods keep running;
//! 2. the agent is killed and restarted while the hub is still down: it restores its pods from
//!    its local store and adopts the running containers (same container IDs, nothing new);
//! 3. the agent is down (the device is offline) while the hub comes back and a pod is deleted
//!    there; when the agent returns, the deleted pod's containers go and the other pod is left
//!    untouched (same container, no restart).

use std::process::Command;
use std::time::Duration;

use shoal_e2e::*;

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: keeper}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: localhost/busybox:latest, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: doomed}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: localhost/busybox:latest, command: ["sleep", "3600"]}
"#;

/// Full IDs of the containers of pod `pod` on `node` (running ones, or all with `all`).
fn container_ids(node: &str, pod: &str, all: bool) -> Vec<String> {
    let mut cmd = Command::new("podman");
    cmd.args(["ps", "-q", "--no-trunc", "--filter"])
        .arg(format!("label=io.shoal.node={node}"))
        .arg("--filter")
        .arg(format!("label=io.shoal.name={pod}"))
        // Application containers only (the pod's infra container carries the pod's labels).
        .args(["--filter", "label=io.shoal.container"]);
    if all {
        cmd.arg("-a");
    }
    let out = cmd.output().expect("podman ps");
    let mut ids: Vec<String> = text(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

fn phase(hub: &Hub, pod: &str) -> String {
    text(
        &hub.kubectl(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"])
            .stdout,
    )
}

#[test]
fn pods_survive_hub_and_agent_restarts_and_converge_on_reconnect() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut podman = PodmanService::start(tmp.path());
    let node = format!("e2e-offline-{}", rand_u64() % 100_000);
    podman.own_node(&node);
    let hub_dir = tmp.path().join("hub");
    let agent_dir = tmp.path().join("agent");
    let mut hub = Hub::start(&hub_dir);
    let (api, quic, mqtt) = (hub.api_port, hub.quic_port, hub.mqtt_port);
    // The device joins with a join token of its own, with a TTL (`shoalctl token create
    // --join`: only its digest is stored, in a kube-system Secret the handshake checks).
    let out = std::process::Command::new(bin("shoalctl"))
        .arg("--kubeconfig")
        .arg(hub.kubeconfig())
        .args(["token", "create", "--join", "--ttl", "1h"])
        .output()
        .expect("shoalctl");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token_file = tmp.path().join("device-join-token");
    std::fs::write(&token_file, text(&out.stdout).trim()).expect("token file");
    let mut agent = Agent::start_with_token(&hub, &node, &agent_dir, &podman, &token_file, &[]);
    wait_for("the node to be Ready", Duration::from_secs(60), || {
        let out = hub.kubectl(&["get", "node", &node, "--no-headers"]);
        text(&out.stdout).contains(" Ready").then_some(())
    });
    let applied = hub.kubectl_stdin(&["apply", "-f", "-"], &PODS.replace("NODE", &node));
    assert!(applied.status.success(), "apply: {}", text(&applied.stderr));
    for pod in ["keeper", "doomed"] {
        wait_for(&format!("{pod} to run"), Duration::from_secs(90), || {
            (phase(&hub, pod) == "Running").then_some(())
        });
    }
    let keeper = container_ids(&node, "keeper", false);
    let doomed = container_ids(&node, "doomed", false);
    assert_eq!(keeper.len(), 1);
    assert_eq!(doomed.len(), 1);

    // 1. The hub dies: nothing on the device notices.
    hub.proc.kill9();
    drop(hub);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(container_ids(&node, "keeper", false), keeper);
    assert_eq!(container_ids(&node, "doomed", false), doomed);

    // 2. The agent restarts while the hub is still down: it runs from its local store and
    //    adopts the containers instead of recreating them.
    agent.proc.kill9();
    drop(agent);
    let agent = Agent::start_at(
        quic,
        &node,
        &agent_dir,
        &podman,
        &hub_dir.join("join-token"),
        &[],
    );
    wait_for(
        "the restarted agent to load its pods",
        Duration::from_secs(30),
        || {
            agent
                .proc
                .log_text()
                .contains("pod manager started")
                .then_some(())
        },
    );
    // Several reconcile passes (every 2 s) with the hub still down.
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        agent.proc.log_text().contains("pods=2"),
        "the agent restored both pods from its store:\n{}",
        tail(&agent.proc.log_text(), 30)
    );
    assert_eq!(
        container_ids(&node, "keeper", true),
        keeper,
        "adopted, not recreated"
    );
    assert_eq!(
        container_ids(&node, "doomed", true),
        doomed,
        "adopted, not recreated"
    );
    assert_eq!(
        container_ids(&node, "keeper", false),
        keeper,
        "still running"
    );

    // 3. The device goes offline; meanwhile the hub returns and `doomed` is deleted there.
    let mut agent = agent;
    agent.proc.kill9();
    drop(agent);
    let hub = Hub::start_with(&hub_dir, api, quic, mqtt, &[]);
    let deleted = hub.kubectl(&["delete", "pod", "doomed", "--wait=false"]);
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    assert_eq!(
        container_ids(&node, "doomed", false),
        doomed,
        "nobody told the device yet"
    );
    let _agent = Agent::start(&hub, &node, &agent_dir, &podman, &[]);
    wait_for("doomed's containers to go", Duration::from_secs(90), || {
        container_ids(&node, "doomed", true)
            .is_empty()
            .then_some(())
    });
    wait_for("doomed to leave the API", Duration::from_secs(60), || {
        let out = hub.kubectl(&["get", "pod", "doomed"]);
        (!out.status.success()).then_some(())
    });
    // keeper: the same container, never restarted.
    assert_eq!(container_ids(&node, "keeper", true), keeper);
    wait_for(
        "keeper to be reported Running again",
        Duration::from_secs(60),
        || (phase(&hub, "keeper") == "Running").then_some(()),
    );
    let restarts = hub.kubectl_ok(&[
        "get",
        "pod",
        "keeper",
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount}",
    ]);
    assert_eq!(restarts, "0");
    hub.kubectl_ok(&["delete", "pod", "keeper", "--wait=false"]);
}
