//! The walking skeleton, end to end with real processes: a Pod applied with stock kubectl
//! becomes a Podman container on an agent, its status comes back over MQTT, delete removes
//! it, and the hub's store survives `kill -9`.

use std::time::Duration;

use shoal_e2e::*;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 2
  nodeSelector:
    kubernetes.io/hostname: NODE
  containers:
  - name: httpd
    image: localhost/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["httpd", "-f", "-p", "8080"]
    ports: [{containerPort: 8080}]
"#;

fn pod_yaml(node: &str, name: &str) -> String {
    POD.replace("NODE", node)
        .replace("name: web\n", &format!("name: {name}\n"))
}

fn pod_status_column(hub: &Hub, name: &str) -> Option<String> {
    let out = hub.kubectl(&["get", "pod", name, "--no-headers"]);
    if !out.status.success() {
        return None;
    }
    text(&out.stdout)
        .split_whitespace()
        .nth(2)
        .map(str::to_string)
}

#[test]
fn pod_runs_on_podman_reports_over_mqtt_and_survives_a_hub_crash() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut podman = PodmanService::start(tmp.path());
    let node = format!("e2e-skel-{}", rand_u64() % 100_000);
    podman.own_node(&node);
    let hub_dir = tmp.path().join("hub");
    let mut hub = Hub::start(&hub_dir);
    let agent = Agent::start(&hub, &node, &tmp.path().join("agent"), &podman, &[]);

    // The node joins and turns Ready (status over MQTT).
    wait_for("the node to be Ready", Duration::from_secs(60), || {
        let out = hub.kubectl(&["get", "node", &node, "--no-headers"]);
        text(&out.stdout)
            .split_whitespace()
            .nth(1)
            .filter(|s| *s == "Ready")
            .map(|_| ())
    });

    // kubectl apply -> scheduled -> Running, and a real container in `podman ps`.
    let applied = hub.kubectl_stdin(&["apply", "-f", "-"], &pod_yaml(&node, "web"));
    assert!(
        applied.status.success(),
        "apply failed: {}",
        text(&applied.stderr)
    );
    assert!(
        text(&applied.stdout).contains("pod/web created"),
        "{}",
        text(&applied.stdout)
    );
    wait_for("pod web to be Running", Duration::from_secs(90), || {
        (pod_status_column(&hub, "web").as_deref() == Some("Running")).then_some(())
    });
    let wide = hub.kubectl_ok(&["get", "pod", "web", "-o", "wide", "--no-headers"]);
    assert!(wide.contains(&node), "pod is bound to our node: {wide}");
    let ctrs = podman_containers(&node, false);
    assert!(!ctrs.is_empty(), "a running container in podman ps");
    let ip = hub.kubectl_ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);
    assert!(
        ip.parse::<std::net::IpAddr>().is_ok(),
        "pod IP reported: {ip:?}"
    );

    // Status is readable straight off the broker with the read-only integration credentials.
    let (user, pass) = hub.mqtt_reader();
    let node_status = wait_for(
        "retained node status on MQTT",
        Duration::from_secs(20),
        || {
            mqtt_read_retained(
                hub.mqtt_port,
                &user,
                &pass,
                &format!("shoal/v1/nodes/{node}/status"),
            )
        },
    );
    let ns: serde_json::Value = serde_json::from_str(&node_status).expect("node status is JSON");
    assert_eq!(ns["nodeName"], node.as_str());
    assert!(
        ns["conditions"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")),
        "{ns}"
    );
    let online = mqtt_read_retained(
        hub.mqtt_port,
        &user,
        &pass,
        &format!("shoal/v1/nodes/{node}/online"),
    )
    .expect("online marker");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&online).expect("json")["online"],
        true
    );
    let pod_status = wait_for(
        "retained pod status on MQTT",
        Duration::from_secs(20),
        || {
            let s = mqtt_read_retained(
                hub.mqtt_port,
                &user,
                &pass,
                &format!("shoal/v1/nodes/{node}/pods/default/web/status"),
            )?;
            let v: serde_json::Value = serde_json::from_str(&s).ok()?;
            (v["status"]["phase"] == "Running").then_some(v)
        },
    );
    assert_eq!(pod_status["name"], "web");
    assert_eq!(pod_status["status"]["containerStatuses"][0]["ready"], true);
    // A wrong password is refused by the embedded broker.
    assert!(mqtt_read_retained(
        hub.mqtt_port,
        &user,
        "wrong",
        &format!("shoal/v1/nodes/{node}/status")
    )
    .is_none());

    // kubectl delete removes the containers.
    let del = hub.kubectl_ok(&["delete", "pod", "web"]);
    assert!(del.contains("pod \"web\" deleted"), "{del}");
    wait_for(
        "containers of pod web to be gone",
        Duration::from_secs(60),
        || podman_containers(&node, true).is_empty().then_some(()),
    );

    // kill -9 of the hub loses nothing it acknowledged.
    let created = hub.kubectl_stdin(&["create", "-f", "-"], &pod_yaml(&node, "survivor"));
    assert!(created.status.success(), "{}", text(&created.stderr));
    let uid_before = hub.kubectl_ok(&["get", "pod", "survivor", "-o", "jsonpath={.metadata.uid}"]);
    hub.proc.kill9();
    let (api, quic, mqtt) = (hub.api_port, hub.quic_port, hub.mqtt_port);
    drop(hub);
    let hub = Hub::start_with(&hub_dir, api, quic, mqtt, &[]);
    let uid_after = hub.kubectl_ok(&["get", "pod", "survivor", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(uid_before, uid_after, "the pod object survived the crash");
    // The agent reconnects to the restarted hub and runs it.
    wait_for(
        "pod survivor to be Running after the hub restart",
        Duration::from_secs(90),
        || (pod_status_column(&hub, "survivor").as_deref() == Some("Running")).then_some(()),
    );
    hub.kubectl_ok(&["delete", "pod", "survivor"]);
    wait_for(
        "containers of pod survivor to be gone",
        Duration::from_secs(60),
        || podman_containers(&node, true).is_empty().then_some(()),
    );
    drop(agent);
}

#[test]
fn bad_input_gets_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));

    // An invalid name: 422 with the field and the rule.
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], &pod_yaml("node-x", "Bad_Name"));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("is invalid") && err.contains("metadata.name") && err.contains("RFC 1123"),
        "{err}"
    );

    // Not YAML at all.
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], "kind: Pod\n  metadata: [unclosed\n");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).to_lowercase().contains("yaml") || text(&out.stderr).contains("error"),
        "{}",
        text(&out.stderr)
    );

    // A namespace that does not exist.
    let out = hub.kubectl_stdin(
        &["apply", "-n", "nowhere", "-f", "-"],
        &pod_yaml("node-x", "p1"),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("namespaces \"nowhere\" not found"),
        "{}",
        text(&out.stderr)
    );

    // A wrong token.
    let out = hub.kubectl(&["--token", "not-a-valid-token-at-all", "get", "pods"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Unauthorized"),
        "{}",
        text(&out.stderr)
    );

    // A stale resourceVersion: 409 Conflict.
    let ns = hub.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: stale\n",
    );
    assert!(ns.status.success(), "{}", text(&ns.stderr));
    let old = hub.kubectl_ok(&["get", "namespace", "stale", "-o", "json"]);
    hub.kubectl_ok(&["label", "namespace", "stale", "touched=yes"]);
    let out = hub.kubectl_stdin(&["replace", "-f", "-"], &old);
    assert!(
        !out.status.success(),
        "a replace with a stale resourceVersion must fail"
    );
    assert!(
        text(&out.stderr).contains("the object has been modified"),
        "{}",
        text(&out.stderr)
    );

    // Garbage bodies straight at the API get a Status, not a crash.
    let raw = hub.kubectl(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/pods",
        "-f",
        "-",
    ]);
    assert!(!raw.status.success());
    assert!(
        hub.kubectl(&["get", "--raw", "/healthz"]).status.success(),
        "the hub is still up"
    );
}

#[test]
fn agents_with_a_wrong_token_or_a_forged_ca_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let podman = PodmanService::start(tmp.path());
    let hub = Hub::start(&tmp.path().join("hub"));
    let real = std::fs::read_to_string(hub.join_token_file()).expect("token");
    let parts: Vec<&str> = real.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "shoal1.<ca-hash>.<secret>");

    // Right CA, wrong secret: the hub refuses the join.
    let wrong_secret = tmp.path().join("wrong-secret");
    std::fs::write(
        &wrong_secret,
        format!("{}.{}.{}\n", parts[0], parts[1], "x".repeat(32)),
    )
    .expect("write");
    let mut a = Agent::start_with_token(
        &hub,
        "bad-secret",
        &tmp.path().join("a1"),
        &podman,
        &wrong_secret,
        &[],
    );
    let st = a
        .proc
        .wait_exit(Duration::from_secs(30))
        .expect("agent exits");
    assert!(!st.success());
    let log = a.proc.log_text();
    assert!(log.contains("join token is invalid"), "{log}");

    // A token pinning another CA: the agent refuses the hub.
    let forged = tmp.path().join("forged-ca");
    std::fs::write(
        &forged,
        format!("{}.{}.{}\n", parts[0], "ab".repeat(32), parts[2]),
    )
    .expect("write");
    let mut b = Agent::start_with_token(
        &hub,
        "forged-ca",
        &tmp.path().join("a2"),
        &podman,
        &forged,
        &[],
    );
    let st = b
        .proc
        .wait_exit(Duration::from_secs(30))
        .expect("agent exits");
    assert!(!st.success());
    let log = b.proc.log_text();
    assert!(log.contains("hub CA does not match"), "{log}");

    // Neither became a node.
    let nodes = hub.kubectl_ok(&["get", "nodes", "-o", "name"]);
    assert!(nodes.trim().is_empty(), "{nodes}");
}
