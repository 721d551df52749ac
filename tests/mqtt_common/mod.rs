//! Helpers shared by the MQTT end-to-end tests: Mosquitto's clients as a plain MQTT client,
//! a private Mosquitto broker, and checks of payloads against the schemas in docs/mqtt.md.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use shoal_e2e::*;

/// Publishes `payload` (QoS 1) with `mosquitto_pub`; true when the broker acknowledged it.
pub fn mqtt_pub(
    port: u16,
    user: &str,
    pass: &str,
    client_id: &str,
    topic: &str,
    payload: &[u8],
    retain: bool,
) -> bool {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-u",
        user,
        "-P",
        pass,
    ])
    .args(["-i", client_id, "-q", "1", "-t", topic, "-s"]);
    if retain {
        cmd.arg("-r");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_pub runs (install mosquitto-clients)");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(payload);
    }
    child.wait().map(|s| s.success()).unwrap_or(false)
}

/// Every retained message under `filter`, as `(topic, payload)`.
pub fn mqtt_retained(port: u16, user: &str, pass: &str, filter: &str) -> Vec<(String, String)> {
    mqtt_retained_with(port, None, user, pass, filter)
}

/// [`mqtt_retained`] over TLS when `cafile` is given (the broker's CA).
pub fn mqtt_retained_with(
    port: u16,
    cafile: Option<&Path>,
    user: &str,
    pass: &str,
    filter: &str,
) -> Vec<(String, String)> {
    mosquitto_sub(
        port,
        cafile,
        user,
        pass,
        &["-t", filter, "--retained-only", "-W", "2"],
    )
}

/// The retained JSON on `topic`, if any.
pub fn retained_json(port: u16, user: &str, pass: &str, topic: &str) -> Option<Value> {
    mqtt_retained(port, user, pass, topic)
        .into_iter()
        .find(|(t, _)| t == topic)
        .and_then(|(_, p)| serde_json::from_str(&p).ok())
}

/// Subscribes to `filter` for `secs` seconds (not only retained messages) and returns
/// every message seen, as `(topic, payload)`; TLS when `cafile` is given.
pub fn mqtt_collect(
    port: u16,
    cafile: Option<&Path>,
    user: &str,
    pass: &str,
    filter: &str,
    secs: u32,
) -> Vec<(String, String)> {
    mosquitto_sub(
        port,
        cafile,
        user,
        pass,
        &["-t", filter, "-W", &secs.to_string()],
    )
}

/// Runs `mosquitto_sub -v` on the loopback broker at `port` (TLS when `cafile` is given)
/// with `args`, and returns the `(topic, payload)` lines it printed.
fn mosquitto_sub(
    port: u16,
    cafile: Option<&Path>,
    user: &str,
    pass: &str,
    args: &[&str],
) -> Vec<(String, String)> {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-u",
        user,
        "-P",
        pass,
        "-v",
    ]);
    if let Some(ca) = cafile {
        cmd.arg("--cafile").arg(ca);
    }
    let out = cmd.args(args).output().expect("mosquitto_sub runs");
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(t, p)| (t.to_string(), p.to_string()))
        .collect()
}

/// A test CA and a server certificate for 127.0.0.1 signed by it, made with the openssl
/// CLI in `dir`: `(ca.pem, server.pem, server.key)`.
pub fn make_tls_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("cert dir");
    let sh = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
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
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
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
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A Mosquitto broker on 127.0.0.1:`port` with the hub's password and ACL files.
pub struct Mosquitto {
    pub proc: Proc,
    pub port: u16,
    pub conf: PathBuf,
}

impl Mosquitto {
    pub fn start(dir: &Path, port: u16, passwd: &Path, acl: &Path) -> Mosquitto {
        Self::start_with_tls(dir, port, passwd, acl, None)
    }

    /// With `tls = (ca, cert, key)` the listener speaks only TLS.
    pub fn start_with_tls(
        dir: &Path,
        port: u16,
        passwd: &Path,
        acl: &Path,
        tls: Option<(&Path, &Path, &Path)>,
    ) -> Mosquitto {
        std::fs::create_dir_all(dir).expect("mosquitto dir");
        let conf = dir.join("mosquitto.conf");
        // Started as root, Mosquitto would switch to the `mosquitto` user, which cannot read
        // the hub's 0600 files: it keeps running as whoever runs the test.
        let user = Command::new("id")
            .arg("-un")
            .output()
            .map(|o| text(&o.stdout).trim().to_string())
            .unwrap_or_default();
        std::fs::write(
            &conf,
            format!(
                "user {user}\nper_listener_settings false\nlistener {port} 127.0.0.1\nallow_anonymous false\n\
                 password_file {}\nacl_file {}\npersistence false\nmax_packet_size 300000\n{}",
                passwd.display(),
                acl.display(),
                match tls {
                    Some((ca, cert, key)) => format!(
                        "cafile {}\ncertfile {}\nkeyfile {}\n",
                        ca.display(),
                        cert.display(),
                        key.display()
                    ),
                    None => String::new(),
                }
            ),
        )
        .expect("mosquitto.conf");
        let mut cmd = Command::new("mosquitto");
        cmd.arg("-c").arg(&conf);
        let proc = Proc::spawn(
            "mosquitto",
            &mut cmd,
            dir.join(format!("mosquitto-{}.log", rand_u64())),
        );
        wait_for("mosquitto to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        Mosquitto { proc, port, conf }
    }

    /// Makes Mosquitto re-read its password and ACL files.
    pub fn reload(&self) {
        let _ = Command::new("kill")
            .arg("-HUP")
            .arg(self.proc.pid().to_string())
            .status();
    }
}

/// `(username, password)` the agent got at join (`DIR/mqtt.json`).
pub fn agent_mqtt_credentials(agent_dir: &Path) -> (String, String) {
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(agent_dir.join("mqtt.json")).expect("mqtt.json"),
    )
    .expect("mqtt.json is JSON");
    (
        v["username"].as_str().expect("username").to_string(),
        v["password"].as_str().expect("password").to_string(),
    )
}

fn has(v: &Value, fields: &[&str]) -> Result<(), String> {
    for f in fields {
        if v.get(f).is_none() {
            return Err(format!("missing {f} in {v}"));
        }
    }
    Ok(())
}

/// Checks a node status payload against docs/mqtt.md's schema.
pub fn check_node_status_schema(v: &Value) -> Result<(), String> {
    has(
        v,
        &[
            "nodeName",
            "observedAtMs",
            "conditions",
            "addresses",
            "capacity",
            "allocatable",
            "runtimes",
            "agentVersion",
            "pods",
        ],
    )?;
    if !v["observedAtMs"].is_u64() || !v["pods"].is_u64() {
        return Err(format!(
            "observedAtMs and pods are non-negative integers: {v}"
        ));
    }
    for c in v["conditions"].as_array().ok_or("conditions is an array")? {
        has(c, &["type", "status"])?;
        if !["True", "False", "Unknown"].contains(&c["status"].as_str().unwrap_or("")) {
            return Err(format!("condition status: {c}"));
        }
    }
    for a in v["addresses"].as_array().ok_or("addresses is an array")? {
        has(a, &["type", "address"])?;
    }
    for m in ["capacity", "allocatable"] {
        if !v[m]
            .as_object()
            .is_some_and(|o| o.values().all(Value::is_string))
        {
            return Err(format!("{m} maps to strings: {v}"));
        }
    }
    if !v["runtimes"]
        .as_array()
        .is_some_and(|a| a.iter().all(Value::is_string))
    {
        return Err(format!("runtimes: {v}"));
    }
    Ok(())
}

/// Checks a pod status payload against docs/mqtt.md's schema.
/// An event report against the schema in docs/mqtt.md.
pub fn check_event_schema(v: &Value) -> Result<(), String> {
    has(
        v,
        &[
            "nodeName",
            "id",
            "involvedObject",
            "type",
            "reason",
            "message",
            "count",
            "firstTimestampMs",
            "lastTimestampMs",
        ],
    )?;
    has(&v["involvedObject"], &["kind", "namespace", "name", "uid"])?;
    if !matches!(v["type"].as_str(), Some("Normal" | "Warning")) {
        return Err(format!("type in {v}"));
    }
    if v["count"].as_u64().unwrap_or(0) < 1 {
        return Err(format!("count in {v}"));
    }
    let id = v["id"].as_str().unwrap_or_default();
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    {
        return Err(format!("id in {v}"));
    }
    Ok(())
}

pub fn check_pod_status_schema(v: &Value) -> Result<(), String> {
    has(
        v,
        &[
            "uid",
            "namespace",
            "name",
            "nodeName",
            "observedAtMs",
            "status",
        ],
    )?;
    let st = &v["status"];
    has(st, &["phase"])?;
    if !["Pending", "Running", "Succeeded", "Failed", "Unknown"]
        .contains(&st["phase"].as_str().unwrap_or(""))
    {
        return Err(format!("phase: {st}"));
    }
    for cs in st["containerStatuses"].as_array().into_iter().flatten() {
        has(
            cs,
            &["name", "image", "imageID", "ready", "restartCount", "state"],
        )?;
        let state = cs["state"].as_object().ok_or("state is an object")?;
        if state.len() > 1
            || !state
                .keys()
                .all(|k| ["waiting", "running", "terminated"].contains(&k.as_str()))
        {
            return Err(format!(
                "state has at most one of waiting/running/terminated: {cs}"
            ));
        }
    }
    Ok(())
}

/// A busybox httpd pod bound to `node`.
pub fn pod_yaml(node: &str, name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  nodeName: {node}
  restartPolicy: Always
  containers:
  - name: httpd
    image: localhost/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["httpd", "-f", "-p", "8080"]
"#
    )
}

/// The node's Ready condition status ("True", "False", "Unknown") or "" when it has none.
pub fn node_ready(hub: &Hub, node: &str) -> String {
    let out = hub.kubectl(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    text(&out.stdout).trim().to_string()
}

/// A pod field through kubectl's jsonpath ("" when absent or the pod is not there).
pub fn pod_field(hub: &Hub, pod: &str, path: &str) -> String {
    let out = hub.kubectl(&["get", "pod", pod, "-o", &format!("jsonpath={path}")]);
    text(&out.stdout).trim().to_string()
}

/// Kills the container(s) of `node`'s pods with SIGKILL (the agent sees them die and restarts
/// them, so their restart counts go up).
pub fn kill_node_containers(node: &str) {
    for c in podman_containers(node, false)
        .into_iter()
        .filter(|c| !c.contains("infra"))
    {
        let _ = Command::new("podman")
            .args(["kill", "-s", "KILL", &c])
            .output();
    }
}
