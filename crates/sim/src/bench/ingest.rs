//! Status ingestion through the hub's embedded MQTT broker against a real Mosquitto, side by
//! side: the same stream of the agent's own status payloads, the same publishers, once per
//! broker.
//!
//! ```text
//!   N publishers (rumqttc, one per node, the agent's MQTT options and credentials)
//!        │ QoS 1, retained: online marker, node status, pod status (shoal_transport::status)
//!        v
//!   broker: the hub's embedded one (gate + rumqttd) | Mosquitto (--mqtt-url), loopback only
//!        v
//!   hub StatusIngest ──> store ──> API watch on pods (the bench's watcher)
//! ```
//!
//! Each run starts its own hub (fresh data directory whose `mqtt-users` already holds the N
//! nodes' credentials, as joins would have written them), creates the N Nodes and their pods
//! through the API, then:
//! - **flood**: every node publishes `rounds` rounds of one node status and one status per
//!   pod, as fast as the brokers take them. Node heartbeats after the first change nothing
//!   (the hub must not write them); pod status changes every `change_every` rounds and in the
//!   last one (a container's `restartCount` carries the round, so the watcher knows which
//!   report it sees). Messages/s = messages published / time from the first publish until
//!   the watch has seen every pod's last change.
//! - **lag**: `lag_messages` changed pod reports paced at `lag_rate` per second; lag is from
//!   the publish call to the change arriving at the watch.
//!
//! Hub (and Mosquitto) CPU over the flood and peak resident memory come from `/proc`. With
//! the embedded broker the hub's CPU includes the broker's; with Mosquitto the broker's is
//! reported apart, so compare the sum too.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde::Serialize;
use serde_json::{json, Value};
use shoal_edge_agent::status_reporter::{mqtt_options, node_status_report, BrokerAddr, NodeBase};
use shoal_transport::status::{
    self, ContainerState, ContainerStatus, OnlineMarker, PodStatus, PodStatusReport, StateRunning,
};
use shoal_transport::wire::MqttCredentials;

use super::api::Api;
use super::latency::{Latencies, Summary};
use super::proc_stats;
use super::process::{free_port, hub_command, Guard};
use super::scenario::{machine, wait_api};

/// What to run.
#[derive(Clone, Debug)]
pub struct IngestBench {
    pub nodes: usize,
    pub pods_per_node: usize,
    pub rounds: usize,
    pub change_every: usize,
    pub lag_messages: usize,
    pub lag_rate: f64,
    pub bin_dir: PathBuf,
    /// The Mosquitto binary.
    pub mosquitto: PathBuf,
    pub out: PathBuf,
}

/// One broker's figures.
#[derive(Clone, Debug, Serialize)]
pub struct BrokerRun {
    pub broker: String,
    /// Messages published in the flood (online markers included).
    pub messages: usize,
    /// Of those, reports that change a Node or Pod (the hub must write them).
    pub changes: usize,
    /// First publish to the last change seen through the watch.
    pub ingest_s: f64,
    pub messages_per_s: f64,
    /// Pods whose last flood change was seen (all of them when nothing was lost).
    pub pods_done: usize,
    pub pods: usize,
    /// Publish to seen through the watch, paced stream.
    pub lag: Option<Summary>,
    pub lag_rate: f64,
    /// Store revisions written during the flood (changes are `changes`; more means
    /// heartbeats were written).
    pub revisions_written: u64,
    pub hub_cpu_cores: f64,
    pub hub_rss_peak_mib: f64,
    /// Mosquitto's own process, when it is the broker.
    pub broker_cpu_cores: Option<f64>,
    pub broker_rss_peak_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub scenario: &'static str,
    pub machine: Value,
    pub nodes: usize,
    pub pods_per_node: usize,
    pub rounds: usize,
    pub change_every: usize,
    pub runs: Vec<BrokerRun>,
    /// Embedded messages/s divided by Mosquitto's (above 1: the embedded broker is faster).
    pub throughput_ratio: Option<f64>,
    /// Embedded lag p99 divided by Mosquitto's (below 1: the embedded broker is faster).
    pub lag_p99_ratio: Option<f64>,
}

/// Which broker a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Broker {
    Embedded,
    Mosquitto,
}

impl Broker {
    fn name(self) -> &'static str {
        match self {
            Broker::Embedded => "embedded",
            Broker::Mosquitto => "mosquitto",
        }
    }
}

fn node_name(i: usize) -> String {
    format!("ingest-{i}")
}

fn pod_name(node: usize, j: usize) -> String {
    format!("ingest-{node}-{j}")
}

/// Runs both brokers and writes the report.
pub fn run(cfg: &IngestBench) -> anyhow::Result<IngestReport> {
    let mut runs = Vec::new();
    for broker in [Broker::Embedded, Broker::Mosquitto] {
        let r = run_one(cfg, broker)?;
        println!(
            "{:>9}: {:>8.0} messages/s ({} messages, {} changes, {:.2} s), {} / {} pods done, lag p50 {:.1} ms p99 {:.1} ms",
            r.broker,
            r.messages_per_s,
            r.messages,
            r.changes,
            r.ingest_s,
            r.pods_done,
            r.pods,
            r.lag.as_ref().map_or(0.0, |l| l.p50_ms),
            r.lag.as_ref().map_or(0.0, |l| l.p99_ms),
        );
        runs.push(r);
    }
    let by = |b: Broker| runs.iter().find(|r| r.broker == b.name());
    let (e, m) = (by(Broker::Embedded), by(Broker::Mosquitto));
    let throughput_ratio = match (e, m) {
        (Some(e), Some(m)) if m.messages_per_s > 0.0 => Some(e.messages_per_s / m.messages_per_s),
        _ => None,
    };
    let lag_p99_ratio = match (
        e.and_then(|e| e.lag.as_ref()),
        m.and_then(|m| m.lag.as_ref()),
    ) {
        (Some(e), Some(m)) if m.p99_ms > 0.0 => Some(e.p99_ms / m.p99_ms),
        _ => None,
    };
    let report = IngestReport {
        scenario: "ingest",
        machine: machine(),
        nodes: cfg.nodes,
        pods_per_node: cfg.pods_per_node,
        rounds: cfg.rounds,
        change_every: cfg.change_every,
        runs,
        throughput_ratio,
        lag_p99_ratio,
    };
    print_report(&report);
    std::fs::write(&cfg.out, serde_json::to_vec_pretty(&report)?)?;
    println!("shoal-bench: report written to {}", cfg.out.display());
    Ok(report)
}

fn print_report(r: &IngestReport) {
    println!(
        "\nstatus ingestion: {} nodes x {} pods, {} rounds, pod status changing every {} rounds",
        r.nodes, r.pods_per_node, r.rounds, r.change_every
    );
    println!("| broker | messages/s | messages | changes | revisions | pods done | lag p50 / p99 ms | hub CPU (cores) | hub RSS peak | broker CPU | broker RSS peak |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for x in &r.runs {
        println!(
            "| {} | {:.0} | {} | {} | {} | {}/{} | {:.1} / {:.1} | {:.2} | {:.0} MiB | {} | {} |",
            x.broker,
            x.messages_per_s,
            x.messages,
            x.changes,
            x.revisions_written,
            x.pods_done,
            x.pods,
            x.lag.as_ref().map_or(0.0, |l| l.p50_ms),
            x.lag.as_ref().map_or(0.0, |l| l.p99_ms),
            x.hub_cpu_cores,
            x.hub_rss_peak_mib,
            x.broker_cpu_cores
                .map_or("in the hub".to_string(), |c| format!("{c:.2}")),
            x.broker_rss_peak_mib
                .map_or("in the hub".to_string(), |m| format!("{m:.0} MiB")),
        );
    }
    if let Some(t) = r.throughput_ratio {
        println!("embedded / mosquitto: messages/s {t:.2}");
    }
    if let Some(l) = r.lag_p99_ratio {
        println!("embedded / mosquitto: lag p99 {l:.2}");
    }
}

/// What the watcher has seen: per pod the newest marker (`restartCount`), and publish times
/// of markers still expected.
#[derive(Default)]
struct Seen {
    marker: HashMap<String, i32>,
    published: HashMap<(String, i32), Instant>,
    lag: Latencies,
    /// Pods at or past `target`.
    done: usize,
    target: i32,
}

impl Seen {
    fn see(&mut self, pod: &str, marker: i32) {
        let prev = self.marker.insert(pod.to_string(), marker);
        if marker >= self.target && prev.is_none_or(|p| p < self.target) {
            self.done += 1;
        }
        if let Some(t) = self.published.remove(&(pod.to_string(), marker)) {
            self.lag.record("lag", "pod", Some(t.elapsed()));
        }
    }
}

fn run_one(cfg: &IngestBench, broker: Broker) -> anyhow::Result<BrokerRun> {
    let tmp = tempfile::Builder::new()
        .prefix("shoal-bench-ingest-")
        .tempdir()?;
    let dir = tmp.path();
    let hub_dir = dir.join("hub");
    std::fs::create_dir_all(&hub_dir)?;
    // The nodes' broker credentials, as the hub appends them at join.
    let passwords: Vec<String> = (0..cfg.nodes)
        .map(|i| format!("bench-pass-{i}-x"))
        .collect();
    let mut users = String::new();
    for (i, p) in passwords.iter().enumerate() {
        let n = node_name(i);
        users.push_str(&format!("node-{n}:{p}:node:{n}\n"));
    }
    write_private(&hub_dir.join("mqtt-users"), &users)?;

    let (api_port, quic_port, mqtt_port) = (free_port(false)?, free_port(true)?, free_port(false)?);
    // With Mosquitto the embedded broker still listens (on a port nobody uses) while the
    // hub's own client goes to Mosquitto.
    let embedded_port = match broker {
        Broker::Embedded => mqtt_port,
        Broker::Mosquitto => free_port(false)?,
    };
    let mut hub_cmd = hub_command(&cfg.bin_dir, &hub_dir, api_port, quic_port, embedded_port);
    if let Broker::Mosquitto = broker {
        hub_cmd
            .arg("--mqtt-url")
            .arg(format!("mqtt://127.0.0.1:{mqtt_port}"));
    }
    let hub = Guard::spawn("shoal-hub", &mut hub_cmd, &dir.join("hub.log"))?;
    wait_api(&hub_dir.join("admin.kubeconfig"))?;
    let api = Api::from_kubeconfig(&hub_dir.join("admin.kubeconfig"))?;
    let mosquitto = match broker {
        Broker::Embedded => None,
        Broker::Mosquitto => Some(start_mosquitto(cfg, dir, &hub_dir, mqtt_port)?),
    };
    wait_port(mqtt_port)?;

    // Nodes and their pods, bound.
    let uids = create_objects(&api, cfg)?;
    let pods = uids.len();

    let seen = Arc::new(Mutex::new(Seen {
        target: cfg.rounds.saturating_sub(1) as i32,
        ..Default::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let rv = api.get("/api/v1/namespaces/default/pods?limit=1")?["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let watcher = {
        let (api, seen, stop) = (api.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || watch_pods(&api, &rv, &seen, &stop))
    };
    // Peak resident memory of the hub (and Mosquitto), sampled throughout.
    let peaks = Arc::new(Mutex::new((0u64, 0u64)));
    let sampler = {
        let (peaks, stop) = (peaks.clone(), stop.clone());
        let (hub_pid, mosq_pid) = (hub.pid(), mosquitto.as_ref().map(Guard::pid));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let h = proc_stats::read(hub_pid).map_or(0, |r| r.rss);
                let m = mosq_pid.and_then(proc_stats::read).map_or(0, |r| r.rss);
                {
                    let mut p = peaks.lock().unwrap_or_else(|e| e.into_inner());
                    p.0 = p.0.max(h);
                    p.1 = p.1.max(m);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let addr = BrokerAddr {
        host: "127.0.0.1".into(),
        port: mqtt_port,
        tls: false,
    };
    let clients = rt.block_on(connect_all(cfg, &addr, &passwords))?;

    // Flood.
    let revision_before = revision(&api)?;
    let hub_before = proc_stats::read(hub.pid());
    let mosq_before = mosquitto.as_ref().and_then(|m| proc_stats::read(m.pid()));
    let started = Instant::now();
    let (messages, changes) = rt.block_on(flood(cfg, &clients, &uids))?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last_done = 0;
    let mut last_progress = Instant::now();
    loop {
        let done = seen.lock().unwrap_or_else(|e| e.into_inner()).done;
        if done >= pods {
            break;
        }
        if done != last_done {
            last_done = done;
            last_progress = Instant::now();
        }
        // Stuck for 30 s: something was lost; report what arrived.
        if Instant::now() > deadline || last_progress.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "{}: only {done} of {pods} pods reached their last change",
                broker.name()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let ingest = started.elapsed();
    let hub_after = proc_stats::read(hub.pid());
    let mosq_after = mosquitto.as_ref().and_then(|m| proc_stats::read(m.pid()));
    let pods_done = seen.lock().unwrap_or_else(|e| e.into_inner()).done;
    let revisions_written = revision(&api)?.saturating_sub(revision_before);

    // Paced lag.
    rt.block_on(paced(cfg, &clients, &uids, &seen));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && !seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .published
            .is_empty()
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let lag = seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .lag
        .summaries()
        .get("lag")
        .and_then(|k| k.get("pod"))
        .cloned();

    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for c in &clients {
            let _ = c.disconnect().await;
        }
    });
    drop(rt);
    let _ = sampler.join();
    drop(mosquitto);
    drop(hub);
    let _ = watcher.join();
    let (hub_peak, mosq_peak) = *peaks.lock().unwrap_or_else(|e| e.into_inner());
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let cores = |a: Option<proc_stats::Reading>, b: Option<proc_stats::Reading>| match (a, b) {
        (Some(a), Some(b)) => proc_stats::cores(&a, &b),
        _ => 0.0,
    };
    Ok(BrokerRun {
        broker: broker.name().into(),
        messages,
        changes,
        ingest_s: ingest.as_secs_f64(),
        messages_per_s: messages as f64 / ingest.as_secs_f64().max(1e-9),
        pods_done,
        pods,
        lag,
        lag_rate: cfg.lag_rate,
        revisions_written,
        hub_cpu_cores: cores(hub_before, hub_after),
        hub_rss_peak_mib: mib(hub_peak),
        broker_cpu_cores: (broker == Broker::Mosquitto).then(|| cores(mosq_before, mosq_after)),
        broker_rss_peak_mib: (broker == Broker::Mosquitto).then(|| mib(mosq_peak)),
    })
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Mosquitto on loopback with the credential and ACL files the hub wrote. Design:
/// `max_queued_messages` is raised from Mosquitto's default of 1,000 so that a flood the hub
/// falls behind on is queued, not dropped, as the embedded broker does; the comparison is
/// then of the same, lossless work.
fn start_mosquitto(
    cfg: &IngestBench,
    dir: &Path,
    hub_dir: &Path,
    port: u16,
) -> anyhow::Result<Guard> {
    let files = hub_dir.join("mosquitto");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(files.join("passwd").exists() && files.join("acl").exists()) {
        if Instant::now() > deadline {
            anyhow::bail!("the hub wrote no Mosquitto files under {}", files.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let user = Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "user {user}\nper_listener_settings false\nlistener {port} 127.0.0.1\nallow_anonymous false\n\
             password_file {}\nacl_file {}\npersistence false\nmax_packet_size 300000\n\
             max_queued_messages 1000000\n",
            files.join("passwd").display(),
            files.join("acl").display()
        ),
    )?;
    Guard::spawn(
        "mosquitto",
        Command::new(&cfg.mosquitto).arg("-c").arg(&conf),
        &dir.join("mosquitto.log"),
    )
}

fn wait_port(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            anyhow::bail!("nothing listens for MQTT on 127.0.0.1:{port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn revision(api: &Api) -> anyhow::Result<u64> {
    Ok(
        api.get("/api/v1/namespaces?limit=1")?["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    )
}

/// Creates the Nodes and pods (bound to them); returns each pod's uid, node-major.
fn create_objects(api: &Api, cfg: &IngestBench) -> anyhow::Result<Vec<String>> {
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cfg.nodes {
                    break;
                }
                let n = node_name(i);
                let body = json!({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}}});
                if let Err(e) = api.post("/api/v1/nodes", &body) {
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                }
            });
        }
    });
    let total = cfg.nodes * cfg.pods_per_node;
    let uids = Mutex::new(vec![String::new(); total]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total {
                    break;
                }
                let (i, j) = (k / cfg.pods_per_node.max(1), k % cfg.pods_per_node.max(1));
                let body = json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod_name(i, j), "namespace": "default"},
                    "spec": {"nodeName": node_name(i), "containers": [{"name": "c", "image": "localhost/busybox:latest"}]}});
                match api.post("/api/v1/namespaces/default/pods", &body) {
                    Ok(v) => {
                        uids.lock().unwrap_or_else(|p| p.into_inner())[k] =
                            v["metadata"]["uid"].as_str().unwrap_or_default().to_string()
                    }
                    Err(e) => {
                        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string())
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        anyhow::bail!("creating the benchmark's nodes and pods failed: {e}");
    }
    Ok(uids.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Reads pod changes from the API until `stop`, recording each pod's marker.
fn watch_pods(api: &Api, rv: &str, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let reader = match api.stream(&format!(
        "/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}&timeoutSeconds=3600"
    )) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pod watch: {e}");
            return;
        }
    };
    for line in std::io::BufReader::new(reader).lines() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let o = &v["object"];
        let (Some(name), Some(marker)) = (
            o["metadata"]["name"].as_str(),
            o["status"]["containerStatuses"][0]["restartCount"].as_i64(),
        ) else {
            continue;
        };
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .see(name, marker as i32);
    }
}

/// Connects one client per node (the agent's own MQTT options) and waits for every ConnAck.
async fn connect_all(
    cfg: &IngestBench,
    addr: &BrokerAddr,
    passwords: &[String],
) -> anyhow::Result<Vec<AsyncClient>> {
    let connected = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(cfg.nodes);
    for (i, pass) in passwords.iter().enumerate() {
        let node = node_name(i);
        let creds = MqttCredentials {
            url: String::new(),
            username: format!("node-{node}"),
            password: pass.clone(),
            ca_pem: String::new(),
        };
        let opts = mqtt_options(&node, addr, &creds, None);
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        let connected = connected.clone();
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::RequestsDone) => break,
                    Err(e) => {
                        failures += 1;
                        if failures > 20 {
                            eprintln!("{node}: MQTT connection failed for good: {e}");
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        clients.push(client);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::Relaxed) < cfg.nodes {
        if Instant::now() > deadline {
            anyhow::bail!(
                "only {} of {} MQTT clients connected",
                connected.load(Ordering::Relaxed),
                cfg.nodes
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(clients)
}

fn node_base(i: usize) -> NodeBase {
    NodeBase {
        node_name: node_name(i),
        node_ip: "127.0.0.1".into(),
        hostname: node_name(i),
        capacity: vec![
            ("cpu".into(), "2".into()),
            ("memory".into(), "2048Mi".into()),
            ("pods".into(), "110".into()),
        ],
        allocatable: vec![
            ("cpu".into(), "2".into()),
            ("memory".into(), "1900Mi".into()),
            ("pods".into(), "110".into()),
        ],
        runtimes: vec!["podman".into()],
        agent_version: "bench".into(),
        started_ms: 1_700_000_000_000,
    }
}

/// A running pod's report, `marker` in its container's `restartCount`.
fn pod_report(node: usize, j: usize, uid: &str, marker: i32, now_ms: u64) -> Vec<u8> {
    let started = status::rfc3339_from_ms(1_700_000_000_000);
    let cond = |t: &str| status::Condition {
        type_: t.into(),
        status: "True".into(),
        last_transition_time: Some(started.clone()),
        ..Default::default()
    };
    let report = PodStatusReport {
        uid: uid.to_string(),
        namespace: "default".into(),
        name: pod_name(node, j),
        node_name: node_name(node),
        observed_at_ms: now_ms,
        status: PodStatus {
            phase: "Running".into(),
            conditions: vec![
                cond("PodScheduled"),
                cond("Initialized"),
                cond("ContainersReady"),
                cond("Ready"),
            ],
            host_ip: Some("127.0.0.1".into()),
            pod_ip: Some(format!("10.88.{}.{}", node % 250, j + 2)),
            start_time: Some(started.clone()),
            container_statuses: vec![ContainerStatus {
                name: "c".into(),
                image: "localhost/busybox:latest".into(),
                image_id: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
                    .into(),
                container_id: Some(format!("podman://{node:08x}{j:08x}")),
                ready: true,
                started: Some(true),
                restart_count: marker,
                state: ContainerState {
                    running: Some(StateRunning {
                        started_at: Some(started.clone()),
                    }),
                    ..Default::default()
                },
                last_state: ContainerState::default(),
            }],
            ..Default::default()
        },
    };
    serde_json::to_vec(&report).unwrap_or_default()
}

/// Every node publishes its rounds at once; returns (messages, changing messages).
async fn flood(
    cfg: &IngestBench,
    clients: &[AsyncClient],
    uids: &[String],
) -> anyhow::Result<(usize, usize)> {
    let mut tasks = Vec::new();
    let ppn = cfg.pods_per_node;
    let (rounds, every) = (cfg.rounds.max(1), cfg.change_every.max(1));
    for (i, client) in clients.iter().enumerate() {
        let client = client.clone();
        let uids: Vec<String> = uids[i * ppn..(i + 1) * ppn].to_vec();
        tasks.push(tokio::spawn(async move {
            let node = node_name(i);
            let base = node_base(i);
            let online = serde_json::to_vec(&OnlineMarker { online: true }).unwrap_or_default();
            client
                .publish(status::online_topic(&node), QoS::AtLeastOnce, true, online)
                .await?;
            let mut marker = 0;
            for r in 0..rounds {
                let now = status::now_ms();
                let ns = serde_json::to_vec(&node_status_report(&base, ppn as u32, now))
                    .unwrap_or_default();
                client
                    .publish(status::node_status_topic(&node), QoS::AtLeastOnce, true, ns)
                    .await?;
                if r % every == 0 || r + 1 == rounds {
                    marker = r as i32;
                }
                for (j, uid) in uids.iter().enumerate() {
                    let topic = status::pod_status_topic(&node, "default", &pod_name(i, j));
                    client
                        .publish(
                            topic,
                            QoS::AtLeastOnce,
                            true,
                            pod_report(i, j, uid, marker, now),
                        )
                        .await?;
                }
            }
            Ok::<(), rumqttc::ClientError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let per_node = 1 + rounds * (1 + ppn);
    let changing_rounds = (0..rounds)
        .filter(|r| r % every == 0 || r + 1 == rounds)
        .count();
    // The node's first report changes it; pods change in their changing rounds.
    let changes = cfg.nodes * (1 + changing_rounds * ppn);
    Ok((cfg.nodes * per_node, changes))
}

/// Changed pod reports, round-robin over the pods, at `lag_rate` per second.
async fn paced(cfg: &IngestBench, clients: &[AsyncClient], uids: &[String], seen: &Mutex<Seen>) {
    if cfg.lag_messages == 0 || uids.is_empty() || cfg.lag_rate <= 0.0 {
        return;
    }
    let ppn = cfg.pods_per_node.max(1);
    let gap = Duration::from_secs_f64(1.0 / cfg.lag_rate);
    let mut tick = tokio::time::interval(gap);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for k in 0..cfg.lag_messages {
        tick.tick().await;
        let p = k % uids.len();
        let (i, j) = (p / ppn, p % ppn);
        let marker = (cfg.rounds + k) as i32;
        let payload = pod_report(i, j, &uids[p], marker, status::now_ms());
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .published
            .insert((pod_name(i, j), marker), Instant::now());
        let topic = status::pod_status_topic(&node_name(i), "default", &pod_name(i, j));
        if let Err(e) = clients[i]
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .await
        {
            eprintln!("lag publish: {e}");
        }
    }
}
