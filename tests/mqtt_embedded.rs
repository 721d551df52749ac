//! The MQTT status path on the hub's embedded broker, with Mosquitto's clients as the
//! outside MQTT client:
//! - per-node ACLs (a node cannot publish under another node's topics or take its client
//!   id), read-only integration credentials, malformed / oversized / forged / stale payloads
//!   dropped without harm, unchanged heartbeats written as no revision, and the last will
//!   turning a node NotReady (no agent needed: the test plays the nodes);
//! - with a real agent on Podman, publishing over the embedded broker's TLS listener
//!   (`--mqtts-addr`): retained node and pod status matching docs/mqtt.md, SIGKILL
//!   of the agent -> retained offline marker and node NotReady within 10 s, and a hub restart
//!   losing no status that changed meanwhile;
//! - events: a node's events about its pods become v1/Events, forged / malformed / oversized
//!   / day-old ones are dropped, times from the future are clamped, and a crash-looping
//!   container's Warning events reach the API and a plain MQTT subscriber.

mod mqtt_common;

use std::time::{Duration, Instant};

use mqtt_common::*;
use serde_json::{json, Value};
use shoal_e2e::*;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn node_report(node: &str, observed: u64, ready: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "nodeName": node, "observedAtMs": observed,
        "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady",
            "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "capacity": {"cpu": "2", "memory": "1Gi", "pods": "10"},
        "allocatable": {"cpu": "2", "memory": "1Gi", "pods": "10"},
        "runtimes": ["podman"], "agentVersion": "test", "pods": 0
    }))
    .expect("json")
}

fn pod_report(node: &str, uid: &str, observed: u64, phase: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "uid": uid, "namespace": "default", "name": "p1", "nodeName": node,
        "observedAtMs": observed, "status": {"phase": phase, "conditions": []}
    }))
    .expect("json")
}

fn node_rv(hub: &Hub, node: &str) -> String {
    hub.kubectl_ok(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ])
}

#[test]
fn embedded_broker_enforces_acls_and_ingest_drops_bad_status() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub_dir = tmp.path().join("hub");
    std::fs::create_dir_all(&hub_dir).expect("dir");
    // Two nodes' credentials, as the hub would have issued them at join.
    std::fs::write(
        hub_dir.join("mqtt-users"),
        "node-fake-a:pwA:node:fake-a\nnode-fake-b:pwB:node:fake-b\n",
    )
    .expect("mqtt-users");
    let hub = Hub::start_with(
        &hub_dir,
        free_port(),
        free_udp_port(),
        free_port(),
        &["--mqtt-summaries"],
    );
    let port = hub.mqtt_port;
    let (ru, rp) = hub.mqtt_reader();
    for n in ["fake-a", "fake-b"] {
        hub.kubectl_stdin(
            &["apply", "-f", "-"],
            &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {n}\n"),
        );
    }
    hub.kubectl_stdin(&["apply", "-f", "-"], &pod_yaml("fake-a", "p1"));
    let uid = hub.kubectl_ok(&["get", "pod", "p1", "-o", "jsonpath={.metadata.uid}"]);
    let a = |topic: &str, payload: &[u8]| {
        mqtt_pub(
            port,
            "node-fake-a",
            "pwA",
            "shoal-node-fake-a",
            topic,
            payload,
            true,
        )
    };
    let a_status = "shoal/v1/nodes/fake-a/status";
    let b_status = "shoal/v1/nodes/fake-b/status";
    let p1_topic = "shoal/v1/nodes/fake-a/pods/default/p1/status";

    // A node's own reports are folded in.
    let t0 = now_ms();
    assert!(a(a_status, &node_report("fake-a", t0, "True")));
    wait_for("fake-a Ready", Duration::from_secs(20), || {
        (node_ready(&hub, "fake-a") == "True").then_some(())
    });
    assert!(a(p1_topic, &pod_report("fake-a", &uid, t0, "Running")));
    wait_for("p1 Running", Duration::from_secs(20), || {
        (pod_field(&hub, "p1", "{.status.phase}") == "Running").then_some(())
    });

    // Forged: fake-a publishing as fake-b is acknowledged by the gate but goes nowhere.
    assert!(
        a(b_status, &node_report("fake-b", now_ms(), "True")),
        "the broker acknowledges (and drops) a QoS 1 publish outside the node's topics"
    );
    // ... nor can fake-a take fake-b's client id, nor a reader publish anything.
    assert!(!mqtt_pub(
        port,
        "node-fake-a",
        "pwA",
        "shoal-node-fake-b",
        a_status,
        b"{}",
        true
    ));
    assert!(mqtt_pub(
        port,
        &ru,
        &rp,
        "dashboard-1",
        a_status,
        &node_report("fake-a", now_ms(), "False"),
        true
    ));
    // Sentinel: a later legit report from fake-a proves the forged ones were processed.
    let t1 = now_ms();
    assert!(a(p1_topic, &pod_report("fake-a", &uid, t1, "Succeeded")));
    wait_for("p1 Succeeded", Duration::from_secs(20), || {
        (pod_field(&hub, "p1", "{.status.phase}") == "Succeeded").then_some(())
    });
    let retained = mqtt_retained(port, &ru, &rp, "shoal/v1/nodes/#");
    assert!(
        !retained
            .iter()
            .any(|(t, _)| t.starts_with("shoal/v1/nodes/fake-b/")),
        "nothing under fake-b's topics: {retained:?}"
    );
    let a_now = retained_json(port, &ru, &rp, a_status).expect("fake-a's retained status");
    assert_eq!(
        a_now["observedAtMs"], t0,
        "the reader's publish was dropped"
    );
    assert_eq!(node_ready(&hub, "fake-b"), "", "fake-b got no status");
    assert_eq!(node_ready(&hub, "fake-a"), "True");

    // A repeated heartbeat (newer, same content) writes no revision.
    let rv = node_rv(&hub, "fake-a");
    assert!(a(a_status, &node_report("fake-a", now_ms(), "True")));
    // Malformed, mismatched, stale and oversized payloads are dropped.
    assert!(a(a_status, b"{not json"));
    assert!(a(a_status, &node_report("fake-b", now_ms(), "False")));
    assert!(a(p1_topic, &pod_report("fake-a", &uid, t0 - 1, "Failed")));
    assert!(a(p1_topic, &json!({"uid": uid, "namespace": "default", "name": "p1", "nodeName": "fake-a", "observedAtMs": "soon", "status": {}}).to_string().into_bytes()));
    let big = vec![b' '; 300 * 1024];
    let _ = a(p1_topic, &big); // refused by the broker (the connection is closed)
    let t2 = now_ms();
    assert!(a(p1_topic, &pod_report("fake-a", &uid, t2, "Running")));
    wait_for("p1 Running again", Duration::from_secs(20), || {
        (pod_field(&hub, "p1", "{.status.phase}") == "Running").then_some(())
    });
    assert_eq!(
        node_rv(&hub, "fake-a"),
        rv,
        "no revision for heartbeats or bad reports"
    );
    assert_eq!(node_ready(&hub, "fake-a"), "True");
    let log = hub.proc.log_text();
    assert!(
        log.contains("dropped a status message"),
        "{}",
        tail(&log, 30)
    );
    assert!(
        log.contains("refused an MQTT publish"),
        "{}",
        tail(&log, 30)
    );
    assert!(
        hub.kubectl(&["get", "--raw", "/healthz"]).status.success(),
        "the hub is still serving"
    );

    // Events: fake-a's events about its own pod become v1/Events (one per series, the
    // count moving forward); events about another node's pod, on another node's topic,
    // malformed or oversized ones are dropped.
    hub.kubectl_stdin(&["apply", "-f", "-"], &pod_yaml("fake-b", "p2"));
    let uid2 = hub.kubectl_ok(&["get", "pod", "p2", "-o", "jsonpath={.metadata.uid}"]);
    let a_events = "shoal/v1/nodes/fake-a/events";
    let ev = |node: &str, id: &str, pod: &str, uid: &str, count: u32| {
        serde_json::to_vec(&json!({
            "nodeName": node, "id": id, "type": "Warning", "reason": "BackOff",
            "message": format!("Back-off restarting failed container httpd in pod {pod}"),
            "count": count, "firstTimestampMs": t0, "lastTimestampMs": t0 + u64::from(count),
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": pod, "uid": uid,
                "fieldPath": "spec.containers{httpd}"}
        }))
        .expect("json")
    };
    let pub_event = |user: &str, pass: &str, client: &str, topic: &str, payload: &[u8]| {
        mqtt_pub(port, user, pass, client, topic, payload, false)
    };
    // fake-a publishing on its own events topic.
    let as_a =
        |payload: &[u8]| pub_event("node-fake-a", "pwA", "shoal-node-fake-a", a_events, payload);
    assert!(as_a(&ev("fake-a", "s1", "p1", &uid, 1)));
    let event_json = |name: &str| {
        let out = hub.kubectl(&["get", "event", name, "-o", "json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice::<Value>(&out.stdout).ok())
            .flatten()
    };
    let e1 = wait_for("the event in the API", Duration::from_secs(20), || {
        event_json("p1.s1")
    });
    assert_eq!(e1["type"], "Warning");
    assert_eq!(e1["reason"], "BackOff");
    assert_eq!(e1["count"], 1);
    assert_eq!(e1["source"]["component"], "kubelet");
    assert_eq!(e1["source"]["host"], "fake-a");
    assert_eq!(e1["involvedObject"]["uid"], uid.as_str());
    assert_eq!(e1["involvedObject"]["fieldPath"], "spec.containers{httpd}");
    assert!(e1["firstTimestamp"].is_string() && e1["lastTimestamp"].is_string());
    // Forged: fake-a about fake-b's pod on its own topic; on fake-b's topic (the gate
    // drops it); a reader's publish; malformed and oversized payloads; a stale repeat.
    assert!(as_a(&ev("fake-a", "s2", "p2", &uid2, 1)));
    assert!(pub_event(
        "node-fake-a",
        "pwA",
        "shoal-node-fake-a",
        "shoal/v1/nodes/fake-b/events",
        &ev("fake-b", "s3", "p2", &uid2, 1)
    ));
    assert!(pub_event(
        &ru,
        &rp,
        "dashboard-2",
        a_events,
        &ev("fake-a", "s4", "p1", &uid, 1)
    ));
    assert!(as_a(b"{\"nodeName\":\"fake-a\""));
    let mut huge: Value = serde_json::from_slice(&ev("fake-a", "s5", "p1", &uid, 1)).expect("json");
    huge["message"] = json!("x".repeat(20 * 1024));
    assert!(as_a(&serde_json::to_vec(&huge).expect("json")));
    // The series moves forward; a late repeat of an older count changes nothing.
    assert!(as_a(&ev("fake-a", "s1", "p1", &uid, 3)));
    assert!(as_a(&ev("fake-a", "s1", "p1", &uid, 2)));
    // Node clocks are bounded by the hub's: a lastTimestampMs of u64::MAX is clamped to a
    // date Go clients parse (kubectl fails on a 9-digit year); a day-old report is dropped.
    let mut far: Value = serde_json::from_slice(&ev("fake-a", "s7", "p1", &uid, 1)).expect("json");
    far["lastTimestampMs"] = json!(u64::MAX);
    assert!(as_a(&serde_json::to_vec(&far).expect("json")));
    let mut stale: Value =
        serde_json::from_slice(&ev("fake-a", "s8", "p1", &uid, 1)).expect("json");
    stale["firstTimestampMs"] = json!(t0 - 2 * 86_400_000);
    stale["lastTimestampMs"] = json!(t0 - 2 * 86_400_000);
    assert!(as_a(&serde_json::to_vec(&stale).expect("json")));
    // Sentinel: a later event of fake-a's shows the ones before were processed.
    assert!(as_a(&ev("fake-a", "s6", "p1", &uid, 1)));
    wait_for("the sentinel event", Duration::from_secs(20), || {
        event_json("p1.s6")
    });
    assert_eq!(event_json("p1.s1").expect("series")["count"], 3);
    let clamped = event_json("p1.s7").expect("a clamped event kubectl can read");
    let last = clamped["lastTimestamp"].as_str().unwrap_or_default();
    assert!(
        last.len() == 20 && last.as_bytes()[4] == b'-',
        "a four-digit year: {last}"
    );
    hub.kubectl_ok(&["get", "events", "-o", "json"]);
    for forged in ["p2.s2", "p2.s3", "p1.s4", "p1.s5", "p1.s8"] {
        assert!(
            event_json(forged).is_none(),
            "{forged} must have been dropped"
        );
    }
    let listed = hub.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=p2",
    ]);
    assert!(
        !listed.contains("BackOff"),
        "no event about fake-b's pod: {listed}"
    );
    let described = hub.kubectl_ok(&["describe", "pod", "p1"]);
    assert!(
        described.contains("BackOff") && described.contains("kubelet"),
        "{described}"
    );
    let log = hub.proc.log_text();
    assert!(
        log.contains("not bound to the publishing node"),
        "{}",
        tail(&log, 30)
    );

    // Last will: a connection of fake-a with a will that dies (SIGKILL) -> NotReady.
    let mut sub = Proc::spawn(
        "mosquitto_sub",
        std::process::Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-u",
                "node-fake-a",
                "-P",
                "pwA",
            ])
            .args([
                "-i",
                "shoal-node-fake-a",
                "-t",
                "shoal/v1/nodes/fake-a/#",
                "-q",
                "1",
            ])
            .args([
                "--will-topic",
                "shoal/v1/nodes/fake-a/online",
                "--will-payload",
                "{\"online\":false}",
            ])
            .args(["--will-retain", "--will-qos", "1"]),
        tmp.path().join("sub.log"),
    );
    std::thread::sleep(Duration::from_millis(500));
    sub.kill9();
    let killed = Instant::now();
    wait_for(
        "fake-a NotReady after its will",
        Duration::from_secs(10),
        || (node_ready(&hub, "fake-a") == "Unknown").then_some(()),
    );
    println!("will -> NotReady in {:?}", killed.elapsed());
    let marker = retained_json(port, &ru, &rp, "shoal/v1/nodes/fake-a/online").expect("marker");
    assert_eq!(marker["online"], false);

    // Rollout summaries (--mqtt-summaries): a Deployment's appear under shoal/v1/cluster/.
    hub.kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "--image=localhost/busybox:latest",
        "--replicas=2",
    ]);
    let summary = wait_for("a Deployment summary", Duration::from_secs(20), || {
        retained_json(port, &ru, &rp, "shoal/v1/cluster/deployments/default/web")
            .filter(|v| v["replicas"] == 2)
    });
    assert_eq!(summary["kind"], "Deployment");
    assert!(summary["rolloutComplete"].is_boolean(), "{summary}");
    hub.kubectl_ok(&["delete", "deployment", "web"]);
    wait_for("the summary to be cleared", Duration::from_secs(20), || {
        retained_json(port, &ru, &rp, "shoal/v1/cluster/deployments/default/web")
            .is_none()
            .then_some(())
    });
}

#[test]
fn agent_status_will_and_hub_restart_on_the_embedded_broker() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut podman = PodmanService::start(tmp.path());
    let node = format!("e2e-mqtt-{}", rand_u64() % 100_000);
    podman.own_node(&node);
    let hub_dir = tmp.path().join("hub");
    // The embedded broker also listens over TLS: the agent gets mqtts:// and the hub CA.
    let tls_port = free_port();
    let tls_addr = format!("127.0.0.1:{tls_port}");
    let hub_args = ["--mqtts-addr", tls_addr.as_str()];
    let mut hub = Hub::start_with(
        &hub_dir,
        free_port(),
        free_udp_port(),
        free_port(),
        &hub_args,
    );
    let agent_dir = tmp.path().join("agent");
    let mut agent = Agent::start(&hub, &node, &agent_dir, &podman, &[]);
    wait_for("the node to be Ready", Duration::from_secs(60), || {
        (node_ready(&hub, &node) == "True").then_some(())
    });
    let hub_ca = hub_dir.join("pki/ca.crt");
    let joined: Value = serde_json::from_str(
        &std::fs::read_to_string(agent_dir.join("mqtt.json")).expect("mqtt.json"),
    )
    .expect("json");
    assert_eq!(joined["url"], format!("mqtts://127.0.0.1:{tls_port}"));
    let agent_log = agent.proc.log_text();
    assert!(
        agent_log.contains(&format!("mqtts://127.0.0.1:{tls_port}"))
            && agent_log.contains("connected to the MQTT broker"),
        "{}",
        tail(&agent_log, 20)
    );
    assert_eq!(
        joined["ca_pem"].as_str(),
        Some(std::fs::read_to_string(&hub_ca).expect("hub CA").as_str())
    );
    hub.kubectl_stdin(&["apply", "-f", "-"], &pod_yaml(&node, "web"));
    wait_for("pod web Running", Duration::from_secs(90), || {
        (pod_field(&hub, "web", "{.status.phase}") == "Running").then_some(())
    });

    // A plain MQTT client reads retained status that matches the documented schema.
    let (ru, rp) = hub.mqtt_reader();
    let port = hub.mqtt_port;
    let ns = wait_for("retained node status", Duration::from_secs(20), || {
        retained_json(port, &ru, &rp, &format!("shoal/v1/nodes/{node}/status"))
    });
    check_node_status_schema(&ns).expect("node status matches the schema");
    let ps = wait_for("retained pod status", Duration::from_secs(20), || {
        retained_json(
            port,
            &ru,
            &rp,
            &format!("shoal/v1/nodes/{node}/pods/default/web/status"),
        )
        .filter(|v| v["status"]["phase"] == "Running")
    });
    check_pod_status_schema(&ps).expect("pod status matches the schema");
    // The same retained status over the TLS listener (the hub's certificate names
    // 127.0.0.1 too, so a stock client verifies it with the hub CA).
    let over_tls = mqtt_retained_with(
        tls_port,
        Some(&hub_ca),
        &ru,
        &rp,
        &format!("shoal/v1/nodes/{node}/status"),
    );
    assert_eq!(over_tls.len(), 1, "{over_tls:?}");

    // A crash-looping container: kubelet-style Warning events reach the API (kubectl get
    // events / describe pod) and a plain MQTT subscriber with the reader credentials.
    let sub_log = tmp.path().join("events-sub.log");
    let mut events_sub = Proc::spawn(
        "mosquitto_sub",
        std::process::Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-u",
                &ru,
                "-P",
                &rp,
            ])
            .args([
                "-t",
                &format!("shoal/v1/nodes/{node}/events"),
                "-v",
                "-q",
                "1",
            ]),
        sub_log.clone(),
    );
    std::thread::sleep(Duration::from_millis(500));
    hub.kubectl_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: crash\nspec:\n  nodeName: {node}\n  \
             restartPolicy: Always\n  containers:\n  - name: app\n    image: localhost/busybox:latest\n    \
             imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\", \"exit 3\"]\n"
        ),
    );
    let crash_uid = hub.kubectl_ok(&["get", "pod", "crash", "-o", "jsonpath={.metadata.uid}"]);
    let warning = wait_for("a BackOff Warning event", Duration::from_secs(90), || {
        let out = hub.kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=crash,type=Warning",
            "-o",
            "json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["items"]
            .as_array()?
            .iter()
            .find(|e| e["reason"] == "BackOff")
            .cloned()
    });
    assert_eq!(warning["source"]["component"], "kubelet");
    assert_eq!(warning["source"]["host"], node.as_str());
    assert_eq!(warning["involvedObject"]["uid"], crash_uid.as_str());
    assert_eq!(
        warning["involvedObject"]["fieldPath"],
        "spec.containers{app}"
    );
    assert!(warning["count"].as_u64() >= Some(1));
    let described = hub.kubectl_ok(&["describe", "pod", "crash"]);
    for reason in [
        "Started",
        "BackOff",
        "Back-off restarting failed container app",
    ] {
        assert!(described.contains(reason), "{reason} in: {described}");
    }
    let seen = wait_for("the BackOff event on MQTT", Duration::from_secs(20), || {
        let log = std::fs::read_to_string(&sub_log).ok()?;
        log.lines()
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(_, p)| serde_json::from_str::<Value>(p).ok())
            .find(|e| e["reason"] == "BackOff" && e["involvedObject"]["name"] == "crash")
    });
    assert_eq!(seen["type"], "Warning");
    assert_eq!(seen["nodeName"], node.as_str());
    check_event_schema(&seen).expect("event matches the schema");
    events_sub.kill9();
    hub.kubectl_ok(&["delete", "pod", "crash", "--wait=false"]);

    // The hub restarts; status that changes while it is down is not lost.
    let (api, quic, mqtt) = (hub.api_port, hub.quic_port, hub.mqtt_port);
    hub.proc.kill9();
    drop(hub);
    kill_node_containers(&node);
    std::thread::sleep(Duration::from_secs(3));
    let hub = Hub::start_with(&hub_dir, api, quic, mqtt, &hub_args);
    wait_for(
        "the restart count to reach the store after the hub restart",
        Duration::from_secs(60),
        || {
            let n: u64 = pod_field(&hub, "web", "{.status.containerStatuses[0].restartCount}")
                .parse()
                .ok()?;
            (n >= 1).then_some(())
        },
    );

    // SIGKILL of the agent: offline marker and NotReady within 10 s.
    wait_for("the node Ready again", Duration::from_secs(30), || {
        (node_ready(&hub, &node) == "True").then_some(())
    });
    agent.proc.kill9();
    let killed = Instant::now();
    wait_for(
        "node NotReady after SIGKILL",
        Duration::from_secs(10),
        || (node_ready(&hub, &node) == "Unknown").then_some(()),
    );
    println!("agent SIGKILL -> node NotReady in {:?}", killed.elapsed());
    let marker = retained_json(port, &ru, &rp, &format!("shoal/v1/nodes/{node}/online"))
        .expect("online marker");
    assert_eq!(marker, Value::from(json!({"online": false})));
    let get = hub.kubectl_ok(&["get", "node", &node, "--no-headers"]);
    assert!(get.contains("NotReady"), "{get}");
    drop(agent);
    remove_node_pods(&node);
}
