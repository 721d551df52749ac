//! The MQTT status path on an external Mosquitto started by the test (`--mqtt-url`), with
//! the password and ACL files the hub writes to `DATA/mosquitto/`:
//! retained status readable by a plain client and matching docs/mqtt.md; a node's credentials
//! cannot publish under another node's topics; a hub restart loses no status published
//! meanwhile (persistent session); a broker outage pauses node lifecycle and ends with the
//! store up to date; SIGKILL of the agent -> offline marker and node NotReady within 10 s;
//! and all of it over `mqtts://` (hub and agents) with a TLS-only listener.

mod mqtt_common;

use std::time::{Duration, Instant};

use mqtt_common::*;
use shoal_e2e::*;

fn restart_count(hub: &Hub) -> Option<u64> {
    pod_field(hub, "web", "{.status.containerStatuses[0].restartCount}")
        .parse()
        .ok()
}

#[test]
fn status_over_an_external_mosquitto() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut podman = PodmanService::start(tmp.path());
    let node = format!("e2e-mosq-{}", rand_u64() % 100_000);
    podman.own_node(&node);
    let port = free_port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let hub_dir = tmp.path().join("hub");
    // Longer than the agents' 10 s status period (as Kubernetes' grace period is), short
    // enough for the outage below to outlast it.
    let hub_args = ["--mqtt-url", url.as_str(), "--node-unknown-after", "12"];
    let hub = Hub::start_with(
        &hub_dir,
        free_port(),
        free_udp_port(),
        free_port(),
        &hub_args,
    );
    let files = hub_dir.join("mosquitto");
    let mosq_dir = tmp.path().join("mosquitto");
    let mut mosq = Mosquitto::start(&mosq_dir, port, &files.join("passwd"), &files.join("acl"));

    let agent_dir = tmp.path().join("agent");
    let mut agent = Agent::start(&hub, &node, &agent_dir, &podman, &[]);
    // The hub rewrote the files when the node joined; Mosquitto reloads them on SIGHUP.
    wait_for("the node to be Ready", Duration::from_secs(60), || {
        mosq.reload();
        (node_ready(&hub, &node) == "True").then_some(())
    });
    hub.kubectl_stdin(&["apply", "-f", "-"], &pod_yaml(&node, "web"));
    wait_for("pod web Running", Duration::from_secs(90), || {
        (pod_field(&hub, "web", "{.status.phase}") == "Running").then_some(())
    });

    // Retained status, read with the reader credentials, matches the schema.
    let (ru, rp) = hub.mqtt_reader();
    let ns = wait_for("retained node status", Duration::from_secs(20), || {
        retained_json(port, &ru, &rp, &format!("shoal/v1/nodes/{node}/status"))
    });
    check_node_status_schema(&ns).expect("node status matches the schema");
    let pod_topic = format!("shoal/v1/nodes/{node}/pods/default/web/status");
    let ps = wait_for("retained pod status", Duration::from_secs(20), || {
        retained_json(port, &ru, &rp, &pod_topic).filter(|v| v["status"]["phase"] == "Running")
    });
    check_pod_status_schema(&ps).expect("pod status matches the schema");

    // The node's credentials cannot publish under another node's topics, readers nowhere.
    let (nu, np) = agent_mqtt_credentials(&agent_dir);
    let other = "shoal/v1/nodes/someone-else/status";
    mqtt_pub(
        port,
        &nu,
        &np,
        "forger",
        other,
        b"{\"nodeName\":\"someone-else\"}",
        true,
    );
    mqtt_pub(port, &ru, &rp, "dash", other, b"{}", true);
    assert!(
        mqtt_retained(port, &ru, &rp, "shoal/v1/nodes/someone-else/#").is_empty(),
        "Mosquitto's ACL dropped both"
    );

    // Hub restart: status published while it is down arrives afterwards.
    let (api, quic) = (hub.api_port, hub.quic_port);
    drop(hub); // SIGTERM
    kill_node_containers(&node);
    wait_for(
        "the agent to publish the restart",
        Duration::from_secs(30),
        || {
            retained_json(port, &ru, &rp, &pod_topic)
                .filter(|v| v["status"]["containerStatuses"][0]["restartCount"].as_u64() >= Some(1))
        },
    );
    let hub = Hub::start_with(&hub_dir, api, quic, free_port(), &hub_args);
    wait_for(
        "the restart count in the store",
        Duration::from_secs(30),
        || (restart_count(&hub)? >= 1).then_some(()),
    );

    // Broker outage (longer than --node-unknown-after): lifecycle pauses, nothing goes
    // NotReady, and after recovery the store has what changed during the outage.
    let ready_since = hub.kubectl_ok(&[
        "get",
        "node",
        &node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}",
    ]);
    mosq.proc.kill9();
    drop(mosq);
    let before = restart_count(&hub).unwrap_or(0);
    kill_node_containers(&node);
    std::thread::sleep(Duration::from_secs(16));
    assert_eq!(
        node_ready(&hub, &node),
        "True",
        "no lifecycle decision while the hub has no broker"
    );
    let mosq = Mosquitto::start(&mosq_dir, port, &files.join("passwd"), &files.join("acl"));
    wait_for(
        "the store to catch up after the outage",
        Duration::from_secs(60),
        || (restart_count(&hub)? > before).then_some(()),
    );
    std::thread::sleep(Duration::from_secs(14));
    assert_eq!(
        node_ready(&hub, &node),
        "True",
        "nodes got time to report after the outage"
    );
    let ready_since_after = hub.kubectl_ok(&[
        "get",
        "node",
        &node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}",
    ]);
    assert_eq!(ready_since, ready_since_after, "Ready never flipped");

    // SIGKILL of the agent: the last will marks it offline, the node NotReady within 10 s.
    agent.proc.kill9();
    let killed = Instant::now();
    wait_for(
        "node NotReady after SIGKILL",
        Duration::from_secs(10),
        || (node_ready(&hub, &node) == "Unknown").then_some(()),
    );
    println!(
        "agent SIGKILL -> node NotReady in {:?} (Mosquitto)",
        killed.elapsed()
    );
    let marker = retained_json(port, &ru, &rp, &format!("shoal/v1/nodes/{node}/online"))
        .expect("online marker");
    assert_eq!(marker["online"], false);
    drop(agent);
    drop(mosq);
    remove_node_pods(&node);
}

/// configs/mosquitto/ works as shipped: Mosquitto starts with its config (paths and port
/// pointed at the test's), the example users log in, and the ACL template keeps a node to its
/// own topics and readers read-only.
#[test]
fn shipped_mosquitto_config_and_files_work() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/mosquitto");
    let port = free_port();
    let shipped = std::fs::read_to_string(root.join("mosquitto.conf")).expect("mosquitto.conf");
    let user = text(
        &std::process::Command::new("id")
            .arg("-un")
            .output()
            .expect("id")
            .stdout,
    );
    let conf: String = shipped
        .lines()
        .map(|l| {
            if l.starts_with("password_file ") {
                format!("password_file {}", root.join("passwd.example").display())
            } else if l.starts_with("acl_file ") {
                format!("acl_file {}", root.join("acl.template").display())
            } else if l.starts_with("listener 1883") {
                format!("listener {port} 127.0.0.1")
            } else if l.starts_with("persistence") {
                String::new()
            } else {
                l.to_string()
            }
        })
        .chain([format!("user {}", user.trim())])
        .collect::<Vec<_>>()
        .join("\n");
    let conf_path = tmp.path().join("mosquitto.conf");
    std::fs::write(&conf_path, conf + "\n").expect("conf");
    let mut cmd = std::process::Command::new("mosquitto");
    cmd.arg("-c").arg(&conf_path);
    let _mosq = Proc::spawn("mosquitto", &mut cmd, tmp.path().join("mosquitto.log"));
    wait_for("mosquitto to listen", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    });
    let (nu, np) = ("node-edge-1", "node-example-password");
    let (ru, rp) = ("reader", "reader-example-password");
    assert!(mqtt_pub(
        port,
        nu,
        np,
        "shoal-node-edge-1",
        "shoal/v1/nodes/edge-1/status",
        b"{\"own\":1}",
        true
    ));
    assert!(mqtt_pub(
        port,
        nu,
        np,
        "shoal-node-edge-1",
        "shoal/v1/nodes/edge-2/status",
        b"{\"forged\":1}",
        true
    ));
    assert!(mqtt_pub(
        port,
        ru,
        rp,
        "dash",
        "shoal/v1/nodes/edge-1/online",
        b"{\"online\":false}",
        true
    ));
    assert!(!mqtt_pub(
        port,
        ru,
        "wrong",
        "dash",
        "shoal/v1/nodes/edge-1/online",
        b"{}",
        true
    ));
    let all = mqtt_retained(port, ru, rp, "shoal/v1/nodes/#");
    assert_eq!(
        all,
        [(
            "shoal/v1/nodes/edge-1/status".to_string(),
            "{\"own\":1}".to_string()
        )],
        "only the node's own publish is on the broker"
    );
    assert!(mqtt_pub(
        port,
        "shoal-hub",
        "hub-example-password",
        "shoal-hub",
        "shoal/v1/cluster/deployments/default/web",
        b"{}",
        true
    ));
}

/// Everything over `mqtts://`: Mosquitto with only a TLS listener (a CA and a 127.0.0.1
/// certificate made here with openssl), the hub with `--mqtt-url mqtts://... --mqtt-ca`, and a
/// real agent that gets the broker's CA at join: the node turns Ready and a pod's status
/// reaches the store through TLS, a plain `mosquitto_sub` over TLS with the reader
/// credentials reads the retained status, and an agent restarted while the hub is down
/// reconnects to the broker with the CA it kept in its data directory.
#[test]
fn agents_and_hub_over_mqtts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let (ca, cert, key) = make_tls_certs(&d.join("certs"));
    let mut podman = PodmanService::start(d);
    let node = format!("e2e-tls-{}", rand_u64() % 100_000);
    podman.own_node(&node);

    let hub_dir = d.join("hub");
    let tls_port = free_port();
    let url = format!("mqtts://127.0.0.1:{tls_port}");
    let hub_args = [
        "--mqtt-url",
        url.as_str(),
        "--mqtt-ca",
        ca.to_str().expect("utf-8 path"),
    ];
    let hub = Hub::start_with(
        &hub_dir,
        free_port(),
        free_udp_port(),
        free_port(),
        &hub_args,
    );
    let files = hub_dir.join("mosquitto");
    let mosq = Mosquitto::start_with_tls(
        &d.join("mosquitto"),
        tls_port,
        &files.join("passwd"),
        &files.join("acl"),
        Some((&ca, &cert, &key)),
    );

    let agent_dir = d.join("agent");
    let mut agent = Agent::start(&hub, &node, &agent_dir, &podman, &[]);
    wait_for("the node to be Ready", Duration::from_secs(60), || {
        mosq.reload();
        (node_ready(&hub, &node) == "True").then_some(())
    });
    assert!(hub.proc.log_text().contains("status ingest connected"));
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(agent_dir.join("mqtt.json")).expect("mqtt.json"),
    )
    .expect("json");
    assert_eq!(saved["url"], url.as_str());
    assert_eq!(
        saved["ca_pem"].as_str(),
        Some(std::fs::read_to_string(&ca).expect("ca").as_str()),
        "the agent keeps the broker's CA with its credentials"
    );
    assert!(
        agent
            .proc
            .log_text()
            .contains("connected to the MQTT broker"),
        "{}",
        tail(&agent.proc.log_text(), 20)
    );

    hub.kubectl_stdin(&["apply", "-f", "-"], &pod_yaml(&node, "web"));
    wait_for(
        "pod web Running in the store (status over TLS)",
        Duration::from_secs(90),
        || (pod_field(&hub, "web", "{.status.phase}") == "Running").then_some(()),
    );

    // A plain client over TLS, with the reader credentials, reads the retained status.
    let (ru, rp) = hub.mqtt_reader();
    let read = |topic: &str| {
        mqtt_retained_with(tls_port, Some(&ca), &ru, &rp, topic)
            .into_iter()
            .find(|(t, _)| t == topic)
            .and_then(|(_, p)| serde_json::from_str::<serde_json::Value>(&p).ok())
    };
    let status_topic = format!("shoal/v1/nodes/{node}/status");
    let ns = wait_for(
        "retained node status over TLS",
        Duration::from_secs(20),
        || read(&status_topic),
    );
    check_node_status_schema(&ns).expect("node status matches the schema");
    let ps = wait_for(
        "retained pod status over TLS",
        Duration::from_secs(20),
        || {
            read(&format!("shoal/v1/nodes/{node}/pods/default/web/status"))
                .filter(|v| v["status"]["phase"] == "Running")
        },
    );
    check_pod_status_schema(&ps).expect("pod status matches the schema");

    // The hub goes away; the agent restarts without it and still reaches the broker over
    // TLS with the CA from its data directory: a node status newer than the restart.
    drop(hub);
    agent.proc.kill9();
    drop(agent);
    let restarted_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let agent = Agent::start_at(
        free_udp_port(),
        &node,
        &agent_dir,
        &podman,
        &d.join("no-token"),
        &[],
    );
    wait_for(
        "a node status published by the restarted agent, hub down",
        Duration::from_secs(30),
        || read(&status_topic).filter(|v| v["observedAtMs"].as_u64() > Some(restarted_ms)),
    );
    drop(agent);

    // The agent's flags win over what it joined with, and the broker is really verified:
    // another CA (--mqtt-ca), or a host the certificate does not name (--mqtt-url), is a
    // TLS failure, logged.
    let (other_ca, _, _) = make_tls_certs(&d.join("other-certs"));
    let localhost_url = format!("mqtts://localhost:{tls_port}");
    for (flag, value) in [
        ("--mqtt-ca", other_ca.to_str().expect("utf-8 path")),
        ("--mqtt-url", localhost_url.as_str()),
    ] {
        let agent = Agent::start_at(
            free_udp_port(),
            &node,
            &agent_dir,
            &podman,
            &d.join("no-token"),
            &[flag, value],
        );
        let line = wait_for(
            &format!("a TLS failure with {flag} {value}"),
            Duration::from_secs(30),
            || {
                agent
                    .proc
                    .log_text()
                    .lines()
                    .find(|l| l.contains("cannot reach the MQTT broker"))
                    .map(str::to_string)
            },
        );
        assert!(
            line.to_lowercase().contains("certificate"),
            "{flag}: {line}"
        );
        assert!(
            !agent
                .proc
                .log_text()
                .contains("connected to the MQTT broker"),
            "{flag}: {}",
            tail(&agent.proc.log_text(), 20)
        );
        drop(agent);
    }
    drop(mosq);
    remove_node_pods(&node);
}
