//! Services end to end with real processes: a hub and two agents (127.0.0.2 and 127.0.0.3) on
//! real Podman, three httpd pods that answer with their own name spread over both nodes, and
//! a NodePort Service over them. Requests through either node's NodePort and through the
//! ClusterIP come back round robin from all three (pods on the other node are reached through
//! its address and their published host port), an unready pod gets no traffic, and a deleted
//! pod drops out. A pod started later gets the Service environment variables and resolves
//! the Service (and a headless one) through the agent's cluster DNS. All traffic stays on
//! loopback and inside Podman's own network.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use shoal_e2e::*;

const LIMIT: Duration = Duration::from_secs(90);

/// An httpd pod bound to `node` that serves its hostname (= pod name), publishing 8080 as
/// `host_port` on the node's address. `extra_container` adds a second container.
fn web_pod(name: &str, node: &str, node_ip: &str, host_port: u16, extra_container: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: web}}
spec:
  nodeName: {node}
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: localhost/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080, hostPort: {host_port}, hostIP: {node_ip}}}]
{extra_container}"#
    )
}

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
"#;

const HEADLESS: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web-headless
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
"#;

/// A pod that prints its environment and looks the Services up by DNS.
const CLIENT: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeName: NODE
  restartPolicy: Never
  containers:
  - name: c
    image: localhost/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "env; nslookup web.default.svc.cluster.local; echo headless:; nslookup web-headless.default.svc.cluster.local; echo done.; sleep 3600"]
"#;

/// One HTTP GET; the body (the answering pod's name), or `None` if the connection failed.
fn get(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let body = out.split_once("\r\n\r\n")?.1.trim().to_string();
    (!body.is_empty()).then_some(body)
}

/// `n` requests; answers counted by pod name (failures under "").
fn spread(addr: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        *m.entry(get(addr).unwrap_or_default()).or_default() += 1;
    }
    m
}

fn json(hub: &Hub, args: &[&str]) -> serde_json::Value {
    let out = hub.kubectl(args);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn ready_ips(hub: &Hub) -> Vec<String> {
    let ep = json(hub, &["get", "endpoints", "web", "-o", "json"]);
    ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().into_iter().flatten())
        .filter_map(|a| a["targetRef"]["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn services_balance_across_two_podman_nodes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut podman = PodmanService::start(tmp.path());
    let id = rand_u64() % 100_000;
    let (na, nb) = (format!("e2e-svc-a-{id}"), format!("e2e-svc-b-{id}"));
    podman.own_node(&na);
    podman.own_node(&nb);
    // ClusterIPs inside 127.0.0.0/8 are local without touching the host's routes.
    let hub = Hub::start_with(
        &tmp.path().join("hub"),
        free_port(),
        free_udp_port(),
        free_port(),
        &["--service-cidr", "127.43.0.0/16"],
    );
    let _a = Agent::start(
        &hub,
        &na,
        &tmp.path().join("a"),
        &podman,
        &["--node-ip", "127.0.0.2"],
    );
    // One agent per machine serves the (shared) ClusterIPs.
    let _b = Agent::start(
        &hub,
        &nb,
        &tmp.path().join("b"),
        &podman,
        &["--node-ip", "127.0.0.3", "--cluster-ip-proxy", "false"],
    );
    for n in [&na, &nb] {
        wait_for(&format!("node {n} Ready"), LIMIT, || {
            let out = hub.kubectl(&["get", "node", n, "--no-headers"]);
            (text(&out.stdout).split_whitespace().nth(1) == Some("Ready")).then_some(())
        });
    }

    let pods = [
        ("web-1", &na, "127.0.0.2"),
        ("web-2", &nb, "127.0.0.3"),
        ("web-3", &nb, "127.0.0.3"),
    ];
    for (name, node, ip) in pods {
        let out = hub.kubectl_stdin(
            &["apply", "-f", "-"],
            &web_pod(name, node, ip, free_port(), ""),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], SERVICE);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Allocation: a ClusterIP from the CIDR and a NodePort from the default range.
    let svc = json(&hub, &["get", "service", "web", "-o", "json"]);
    let cluster_ip = svc["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(cluster_ip.starts_with("127.43."), "{svc}");
    let node_port = svc["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .unwrap_or_default() as u16;
    assert!((30000..=32767).contains(&node_port), "{svc}");
    // A second Service asking for the same NodePort is refused with 422.
    let clash = SERVICE.replace("name: web\n", "name: clash\n").replace(
        "targetPort: http}",
        &format!("targetPort: http, nodePort: {node_port}}}"),
    );
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], &clash);
    assert!(!out.status.success(), "a NodePort conflict must fail");
    assert!(
        text(&out.stderr).contains("provided port is already allocated"),
        "{}",
        text(&out.stderr)
    );

    wait_for("3 ready endpoints", LIMIT, || {
        (ready_ips(&hub).len() == 3).then_some(())
    });

    let via_a: SocketAddr = format!("127.0.0.2:{node_port}").parse().expect("addr");
    let via_b: SocketAddr = format!("127.0.0.3:{node_port}").parse().expect("addr");
    let via_cluster_ip: SocketAddr = format!("{cluster_ip}:80").parse().expect("addr");
    let names = ["web-1", "web-2", "web-3"];
    for (what, addr) in [
        ("node a", via_a),
        ("node b", via_b),
        ("the ClusterIP", via_cluster_ip),
    ] {
        // The proxies learn the endpoints over the hub link; wait until all three answer.
        wait_for(&format!("all pods through {what}"), LIMIT, || {
            let m = spread(addr, 6);
            names.iter().all(|n| m.contains_key(*n)).then_some(())
        });
        let m = spread(addr, 30);
        eprintln!("through {what}: {m:?}");
        for n in names {
            assert_eq!(m.get(n), Some(&10), "round robin through {what}: {m:?}");
        }
    }

    // Discovery: a pod started after the Services sees their variables and resolves them
    // through the agent's cluster DNS (on Podman's bridge gateway); a headless Service
    // resolves to the ready pods' addresses.
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], HEADLESS);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for("headless endpoints", LIMIT, || {
        let ep = json(&hub, &["get", "endpoints", "web-headless", "-o", "json"]);
        (ep["subsets"][0]["addresses"].as_array().map(Vec::len) == Some(3)).then_some(())
    });
    let pod_ips: Vec<String> = names
        .iter()
        .map(|n| {
            json(&hub, &["get", "pod", n, "-o", "json"])["status"]["podIP"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], &CLIENT.replace("NODE", &na));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let logs = wait_for("the client pod's output", LIMIT, || {
        let out = std::process::Command::new("podman")
            .args([
                "ps",
                "-a",
                "-q",
                "--filter",
                &format!("label=io.shoal.node={na}"),
            ])
            .args([
                "--filter",
                "label=io.shoal.name=client",
                "--filter",
                "label=io.shoal.container=c",
            ])
            .output()
            .ok()?;
        let id = text(&out.stdout).split_whitespace().next()?.to_string();
        let logs = std::process::Command::new("podman")
            .args(["logs", &id])
            .output()
            .ok()?;
        let all = format!("{}{}", text(&logs.stdout), text(&logs.stderr));
        all.contains("done.").then_some(all)
    });
    eprintln!("client pod output:\n{logs}");
    assert!(
        logs.contains(&format!("WEB_SERVICE_HOST={cluster_ip}")),
        "{logs}"
    );
    assert!(logs.contains("WEB_SERVICE_PORT=80"), "{logs}");
    assert!(logs.contains("WEB_SERVICE_PORT_HTTP=80"), "{logs}");
    assert!(
        logs.contains(&format!("WEB_PORT=tcp://{cluster_ip}:80")),
        "{logs}"
    );
    assert!(
        logs.contains(&format!("WEB_PORT_80_TCP_ADDR={cluster_ip}")),
        "{logs}"
    );
    let (by_name, headless) = logs.split_once("headless:").expect("both lookups ran");
    assert!(
        by_name.contains(&format!("Address: {cluster_ip}")),
        "{logs}"
    );
    for ip in &pod_ips {
        assert!(
            headless.contains(ip.as_str()),
            "headless answer lacks {ip}: {logs}"
        );
    }

    // An unready pod (its second container has finished) is kept apart and gets no traffic.
    let sidecar = "  - name: once\n    image: localhost/busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [\"true\"]\n";
    let out = hub.kubectl_stdin(
        &["apply", "-f", "-"],
        &web_pod("web-4", &na, "127.0.0.2", free_port(), sidecar),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for("web-4 listed as not ready", LIMIT, || {
        let ep = json(&hub, &["get", "endpoints", "web", "-o", "json"]);
        ep.to_string().contains("notReadyAddresses").then_some(())
    });
    let m = spread(via_a, 30);
    assert!(
        !m.contains_key("web-4"),
        "an unready pod got traffic: {m:?}"
    );
    assert_eq!(m.len(), 3, "{m:?}");

    // A deleted pod drops out within seconds.
    hub.kubectl_ok(&["delete", "pod", "web-3", "--wait=false"]);
    wait_for("web-3 to get no traffic", Duration::from_secs(30), || {
        let m = spread(via_a, 9);
        (!m.contains_key("web-3") && !m.contains_key("")).then_some(())
    });
    let m = spread(via_b, 10);
    assert_eq!(m.get("web-1"), Some(&5), "{m:?}");
    assert_eq!(m.get("web-2"), Some(&5), "{m:?}");

    for p in ["web-1", "web-2", "web-4", "client"] {
        hub.kubectl_ok(&["delete", "pod", p, "--wait=false"]);
    }
    hub.kubectl_ok(&["delete", "service", "web", "web-headless"]);
}
