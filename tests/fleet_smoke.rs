//! A CI-sized fleet: one real hub and `shoal-sim` with a few hundred hollow nodes (simulated
//! runtime, 5 % of container starts failing). Asserts correctness, not speed: every node
//! Ready, a DaemonSet's pod Running on every node, and a `maxUnavailable: 10%` rolling update
//! that replaces every pod. The figures at scale come from `shoal-bench` (docs/benchmarks.md).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use shoal_e2e::{bin, tail, wait_for, Hub, Proc};

const NODES: usize = 300;
/// Generous bounds for a loaded CI machine (debug builds); not what is measured.
const PATIENCE: Duration = Duration::from_secs(600);

fn json(hub: &Hub, args: &[&str]) -> Value {
    serde_json::from_str(&hub.kubectl_ok(args)).expect("kubectl prints JSON")
}

fn ready(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Pods of the DaemonSet that are Running and Ready, with `rev` as their template annotation
/// when given; `None` unless there is exactly one on every node.
fn ds_pods_everywhere(hub: &Hub, rev: Option<&str>) -> Option<usize> {
    let pods = json(hub, &["get", "pods", "-l", "app=smoke-ds", "-o", "json"]);
    let items = pods["items"].as_array()?;
    let mut nodes = HashSet::new();
    for p in items {
        let running = p["status"]["phase"] == "Running"
            && p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
        let rev_ok = rev.is_none_or(|r| p["metadata"]["annotations"]["smoke/rev"] == r);
        let node = p["spec"]["nodeName"].as_str().unwrap_or_default();
        if !running || !rev_ok || !nodes.insert(node.to_string()) {
            return None;
        }
    }
    (nodes.len() == NODES).then_some(nodes.len())
}

#[test]
fn a_few_hundred_hollow_nodes_run_a_daemonset_and_roll_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&dir.path().join("hub"));
    let sim_dir = dir.path().join("sim");
    let sim = Proc::spawn(
        "shoal-sim",
        std::process::Command::new(bin("shoal-sim"))
            .arg("--hub")
            .arg(format!("127.0.0.1:{}", hub.quic_port))
            .arg("--token-file")
            .arg(hub.join_token_file())
            .arg("--nodes")
            .arg(NODES.to_string())
            .arg("--name-prefix")
            .arg("smoke-")
            .arg("--data-dir")
            .arg(&sim_dir)
            .arg("--join-rate")
            .arg("100")
            .arg("--start-delay-min-ms")
            .arg("50")
            .arg("--start-delay-max-ms")
            .arg("300")
            .arg("--failure-rate")
            .arg("0.05"),
        dir.path().join("sim.log"),
    );

    let names = wait_for("every hollow node to be Ready", PATIENCE, || {
        let nodes = json(&hub, &["get", "nodes", "-o", "json"]);
        let items = nodes["items"].as_array()?.clone();
        (items.len() == NODES && items.iter().all(ready)).then(|| {
            items
                .iter()
                .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
                .collect::<HashSet<_>>()
        })
    });
    assert!(names.contains("smoke-00000") && names.contains(&format!("smoke-{:05}", NODES - 1)));
    let node = json(&hub, &["get", "node", "smoke-00007", "-o", "json"]);
    assert_eq!(
        node["status"]["nodeInfo"]["containerRuntimeVersion"],
        "sim://0.1.0"
    );

    hub.kubectl_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: smoke-ds, namespace: default}
spec:
  selector: {matchLabels: {app: smoke-ds}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: "10%"}}
  template:
    metadata: {labels: {app: smoke-ds}, annotations: {smoke/rev: "1"}}
    spec:
      containers: [{name: main, image: localhost/busybox:latest, command: [sleep, "3600"]}]
"#,
    );
    wait_for("a Running DaemonSet pod on every node", PATIENCE, || {
        ds_pods_everywhere(&hub, Some("1"))
    });
    let ds = json(&hub, &["get", "ds", "smoke-ds", "-o", "json"]);
    assert_eq!(ds["status"]["desiredNumberScheduled"], NODES);

    // Rolling update in waves of at most 10 %.
    hub.kubectl_ok(&[
        "patch",
        "ds",
        "smoke-ds",
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"metadata":{"annotations":{"smoke/rev":"2"}}}}}"#,
    ]);
    wait_for("every DaemonSet pod replaced and Running", PATIENCE, || {
        ds_pods_everywhere(&hub, Some("2"))
    });
    let ds = json(&hub, &["get", "ds", "smoke-ds", "-o", "json"]);
    assert_eq!(ds["status"]["updatedNumberScheduled"], NODES);
    assert_eq!(ds["status"]["numberAvailable"], NODES);

    // The simulator itself saw every node's agent up and no agent failing.
    let log = sim.log_text();
    assert!(!log.contains("hollow agent failed"), "{}", tail(&log, 20));
    drop(sim);
}
