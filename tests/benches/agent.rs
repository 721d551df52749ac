//! Agent footprint and pod start latency, next to `podman kube play` on the same machine.
//!
//! ```text
//! cargo bench -p shoal-e2e --bench agent          # 10 pods, 5 start-latency rounds each
//! ```
//!
//! Prints: the agent's resident memory (VmRSS) idle and with 10 pods running; the pod start
//! latency from `kubectl create` to the watch seeing `Running` through shoal, and the wall
//! time of `podman kube play` of the same pod (which returns once the containers started),
//! with the median of each and their ratio. Under `cargo test --all-targets` it runs one
//! round only (a smoke run that checks the bench still works).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shoal_e2e::*;

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: NAME
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: localhost/busybox:latest
    imagePullPolicy: Never
    command: ["/bin/sleep", "3600"]
"#;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `kubectl create` of one pod until a watch sees it Running, in ms.
fn shoal_start_ms(hub: &Hub, node: &str, name: &str) -> f64 {
    let mut watch = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(hub.kubeconfig())
        .args(["get", "pods", "--watch", "--field-selector"])
        .arg(format!("metadata.name={name}"))
        .args(["-o", "jsonpath={.status.phase}{\"\\n\"}"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl watch");
    // Let the watch establish before the create.
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let out = hub.kubectl_stdin(
        &["create", "-f", "-"],
        &POD.replace("NAME", name).replace("NODE", node),
    );
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    let stdout = watch.stdout.take().expect("stdout");
    let mut elapsed = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line.trim() == "Running" {
            elapsed = Some(t0.elapsed());
            break;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    elapsed
        .expect("the pod never reached Running")
        .as_secs_f64()
        * 1000.0
}

/// `podman kube play` of the same pod, in ms; the pod is torn down afterwards.
fn kube_play_ms(dir: &std::path::Path, name: &str) -> f64 {
    let file = dir.join(format!("{name}.yaml"));
    let spec = POD
        .replace("NAME", name)
        .replace("  nodeSelector: {kubernetes.io/hostname: NODE}\n", "");
    std::fs::write(&file, spec).expect("write pod yaml");
    let t0 = Instant::now();
    let out = Command::new("podman")
        .arg("kube")
        .arg("play")
        .arg(&file)
        .output()
        .expect("podman kube play");
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let _ = Command::new("podman")
        .args(["kube", "down"])
        .arg(&file)
        .output();
    let _ = Command::new("podman")
        .args(["pod", "rm", "-f", "-t", "0", name])
        .output();
    assert!(
        out.status.success(),
        "podman kube play: {}",
        text(&out.stderr)
    );
    ms
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let (pods, rounds) = if measuring { (10, 5) } else { (1, 1) };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut podman = PodmanService::start(tmp.path());
    let node = format!("bench-agent-{}", rand_u64() % 100_000);
    podman.own_node(&node);
    let hub = Hub::start(&tmp.path().join("hub"));
    let agent = Agent::start(&hub, &node, &tmp.path().join("agent"), &podman, &[]);
    wait_for("the node to be Ready", Duration::from_secs(60), || {
        let out = hub.kubectl(&["get", "node", &node, "--no-headers"]);
        text(&out.stdout).contains(" Ready").then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let idle = rss_kib(agent.proc.pid());

    let mut shoal = Vec::new();
    let mut play = Vec::new();
    for r in 0..rounds {
        let name = format!("lat-{r}");
        shoal.push(shoal_start_ms(&hub, &node, &name));
        hub.kubectl_ok(&["delete", "pod", &name, "--wait=true", "--timeout=60s"]);
        play.push(kube_play_ms(
            tmp.path(),
            &format!("shoal-bench-play-{}-{r}", std::process::id()),
        ));
    }
    for i in 0..pods {
        let name = format!("load-{i}");
        let out = hub.kubectl_stdin(
            &["create", "-f", "-"],
            &POD.replace("NAME", &name).replace("NODE", &node),
        );
        assert!(out.status.success(), "create: {}", text(&out.stderr));
    }
    wait_for("every pod Running", Duration::from_secs(180), || {
        let out = hub.kubectl(&["get", "pods", "--no-headers"]);
        let t = text(&out.stdout);
        (t.lines().filter(|l| l.contains(" Running ")).count() == pods).then_some(())
    });
    std::thread::sleep(Duration::from_secs(12)); // a usage sample and a status round
    let loaded = rss_kib(agent.proc.pid());

    let (s, p) = (median(shoal.clone()), median(play.clone()));
    println!(
        "agent resident memory: idle {:.1} MiB, with {pods} pods {:.1} MiB",
        idle as f64 / 1024.0,
        loaded as f64 / 1024.0
    );
    println!("pod start latency (create -> Running seen by a watch), {rounds} rounds:");
    println!("  shoal (kubectl create -> hub -> agent -> Podman -> MQTT -> watch): median {s:.0} ms  {shoal:.0?}");
    println!("  podman kube play (same pod, local):                             median {p:.0} ms  {play:.0?}");
    println!("  ratio shoal / kube play: {:.2}", s / p.max(1.0));
    hub.kubectl_ok(&["delete", "pods", "--all", "--wait=false"]);
    drop(agent);
}
