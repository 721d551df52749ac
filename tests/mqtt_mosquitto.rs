//! The MQTT status path on an external Mosquitto started by the test (`--mqtt-url`), with
//! the password and ACL files the hub writes to `DATA/mosquitto/`:
//! retained status readable by a plain client and matching docs/mqtt.md; a node's credentials
//! cannot publish under another node's topics; a hub restart loses no status published
//! meanwhile (persistent session); a broker outage pauses node lifecycle and ends with the
//! store up to date; SIGKILL of the agent -> offline marker and node NotReady within 10 s.

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
    let hub_args = ["--mqtt-url", url.as_str(), "--node-unknown-after", "5"];
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
    std::thread::sleep(Duration::from_secs(12));
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
    std::thread::sleep(Duration::from_secs(6));
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

/// `--mqtt-url mqtts://` with `--mqtt-ca`: the hub reads status from a Mosquitto TLS
/// listener whose certificate chains to the given CA (made here with openssl).
#[test]
fn hub_reads_status_over_mqtts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let sh = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    };
    sh(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-mqtt-ca",
    ]);
    sh(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    sh(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);

    let hub_dir = d.join("hub");
    std::fs::create_dir_all(&hub_dir).expect("dir");
    std::fs::write(hub_dir.join("mqtt-users"), "node-tls-a:pwT:node:tls-a\n").expect("users");
    let tls_port = free_port();
    let url = format!("mqtts://127.0.0.1:{tls_port}");
    let ca = d.join("ca.pem");
    let hub = Hub::start_with(
        &hub_dir,
        free_port(),
        free_udp_port(),
        free_port(),
        &[
            "--mqtt-url",
            &url,
            "--mqtt-ca",
            ca.to_str().expect("utf-8 path"),
        ],
    );
    let files = hub_dir.join("mosquitto");
    let user = text(
        &std::process::Command::new("id")
            .arg("-un")
            .output()
            .expect("id")
            .stdout,
    );
    let conf = d.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "user {}\nper_listener_settings false\nallow_anonymous false\npassword_file {}\nacl_file {}\n\
             listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
            user.trim(),
            files.join("passwd").display(),
            files.join("acl").display(),
            ca.display(),
            d.join("server.pem").display(),
            d.join("server.key").display()
        ),
    )
    .expect("conf");
    let mut cmd = std::process::Command::new("mosquitto");
    cmd.arg("-c").arg(&conf);
    let _mosq = Proc::spawn("mosquitto", &mut cmd, d.join("mosquitto.log"));
    wait_for("mosquitto to listen", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", tls_port))
            .ok()
            .map(|_| ())
    });
    hub.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: tls-a\n",
    );
    let report = serde_json::json!({
        "nodeName": "tls-a", "observedAtMs": 1_800_000_000_000u64,
        "conditions": [{"type": "Ready", "status": "True"}],
        "addresses": [], "capacity": {}, "allocatable": {}, "runtimes": [], "agentVersion": "t", "pods": 0
    })
    .to_string();
    let published = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &tls_port.to_string(),
            "--cafile",
            ca.to_str().expect("path"),
        ])
        .args([
            "-u",
            "node-tls-a",
            "-P",
            "pwT",
            "-i",
            "shoal-node-tls-a",
            "-q",
            "1",
            "-r",
        ])
        .args(["-t", "shoal/v1/nodes/tls-a/status", "-m", &report])
        .status()
        .expect("mosquitto_pub");
    assert!(published.success());
    wait_for(
        "the hub to fold the status read over TLS",
        Duration::from_secs(30),
        || (node_ready(&hub, "tls-a") == "True").then_some(()),
    );
    assert!(hub.proc.log_text().contains("status ingest connected"));
}
