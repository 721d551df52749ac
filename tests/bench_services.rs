//! Service proxy benchmark with real processes: a hub, one agent (node address 127.0.0.2) on
//! real Podman, one busybox httpd pod and a NodePort Service over it. Measures HTTP requests
//! (one connection each, as `wget` would) sent directly to the pod (its IP on Podman's
//! network) and through the agent's proxy (the NodePort), one at a time (latency) and from
//! several client threads (throughput), and prints the figures. Every request goes to
//! loopback or into Podman's network; the loops are bounded in count.
//!
//! Run: `cargo build -p shoal-hub -p shoal-edge-agent --bins && cargo bench -p shoal-e2e --bench service_proxy`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use shoal_e2e::*;

/// Requests one at a time, client threads, requests per thread: `(2000, 8, 500)` under
/// `cargo bench`; `cargo test --all-targets` runs this without `--bench`, and then it is a
/// small smoke run that checks the scenario still works, not a measurement.
fn sizes() -> (usize, usize, usize) {
    if std::env::args().any(|a| a == "--bench") {
        (2000, 8, 500)
    } else {
        (50, 2, 25)
    }
}

fn get(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).is_ok() && out.starts_with(b"HTTP/1")
}

struct Figures {
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
    rps: f64,
}

fn measure(addr: SocketAddr) -> Figures {
    let (sequential, threads, per_thread) = sizes();
    let mut lat: Vec<f64> = Vec::with_capacity(sequential);
    for _ in 0..sequential {
        let t = Instant::now();
        assert!(get(addr), "request to {addr} failed");
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    let mean_us = lat.iter().sum::<f64>() / lat.len() as f64;
    let p50_us = lat[lat.len() / 2];
    let p99_us = lat[lat.len() * 99 / 100];
    let start = Instant::now();
    let threads: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(move || (0..per_thread).filter(|_| get(addr)).count()))
        .collect();
    let ok: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    let rps = ok as f64 / start.elapsed().as_secs_f64();
    Figures {
        mean_us,
        p50_us,
        p99_us,
        rps,
    }
}

fn json(hub: &Hub, args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&hub.kubectl(args).stdout).unwrap_or_default()
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut podman = PodmanService::start(tmp.path());
    let node = format!("bench-svc-{}", rand_u64() % 100_000);
    podman.own_node(&node);
    let hub = Hub::start(&tmp.path().join("hub"));
    let _agent = Agent::start(
        &hub,
        &node,
        &tmp.path().join("agent"),
        &podman,
        &["--node-ip", "127.0.0.2", "--cluster-ip-proxy", "false"],
    );
    let limit = Duration::from_secs(90);
    wait_for("the node to be Ready", limit, || {
        let out = hub.kubectl(&["get", "node", &node, "--no-headers"]);
        (text(&out.stdout).split_whitespace().nth(1) == Some("Ready")).then_some(())
    });
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: bench, labels: {{app: bench}}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: localhost/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: bench}}
spec:
  type: NodePort
  selector: {{app: bench}}
  ports: [{{port: 80, targetPort: http}}]
"#
    );
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pod_ip = wait_for("the pod's IP", limit, || {
        let p = json(&hub, &["get", "pod", "bench", "-o", "json"]);
        p["status"]["podIP"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    });
    let node_port = json(&hub, &["get", "service", "bench", "-o", "json"])["spec"]["ports"][0]
        ["nodePort"]
        .as_u64()
        .unwrap_or_default();
    let direct: SocketAddr = format!("{pod_ip}:8080").parse().expect("addr");
    let proxied: SocketAddr = format!("127.0.0.2:{node_port}").parse().expect("addr");
    wait_for("the proxy to serve", limit, || get(proxied).then_some(()));
    wait_for("the pod to serve", limit, || get(direct).then_some(()));
    // Warm up both paths.
    for _ in 0..100 {
        get(direct);
        get(proxied);
    }
    let d = measure(direct);
    let p = measure(proxied);
    println!(
        "service proxy, one HTTP/1.0 request per TCP connection, busybox httpd in a Podman pod"
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>12}",
        "path", "mean us", "p50 us", "p99 us", "req/s"
    );
    for (name, f) in [
        ("direct to the pod IP", &d),
        ("through the NodePort proxy", &p),
    ] {
        println!(
            "{:<28} {:>10.0} {:>10.0} {:>10.0} {:>12.0}",
            name, f.mean_us, f.p50_us, f.p99_us, f.rps
        );
    }
    println!(
        "added latency: mean {:.0} us, p50 {:.0} us; throughput {:.0}% of direct",
        p.mean_us - d.mean_us,
        p.p50_us - d.p50_us,
        100.0 * p.rps / d.rps
    );
    hub.kubectl(&["delete", "pod", "bench", "--wait=false"]);
}
