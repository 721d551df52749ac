//! The fleet scenario: one hub, one simulator, phases run in order, figures per phase.
//!
//! Phases (each timed from its trigger to its condition, polled):
//! 1. `join`: the simulator starts N nodes; done when N Nodes are Ready (with flapping links,
//!    when every node has registered and all but the flapping share are Ready).
//! 2. `daemonset`: a DaemonSet is created; done when it has N pods, all updated and Ready
//!    (with flapping links: a pod on every eligible node, and at least the non-flapping ones).
//! 3. `rolling_update`: its template changes (`maxUnavailable: 10%`); done when the new
//!    generation is observed and all N pods are updated and available.
//! 4. `deployment`: a Deployment of `replicas` is created; `all_bound` when every pod has a
//!    node (scheduler throughput = replicas / that time), done when all are available.
//!
//! In the background a prober makes mutating calls (ConfigMap create + delete) every 200 ms
//! and lists (nodes, `limit=500`) every second, and samples the hub's and the simulator's CPU
//! and resident memory every second; all of it is kept per phase.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use super::api::Api;
use super::latency::{Latencies, Summary};
use super::proc_stats::{self, Reading};
use super::process::{free_port, hub_command, Guard};

/// What to run.
#[derive(Clone, Debug)]
pub struct FleetBench {
    pub nodes: usize,
    pub replicas: usize,
    pub flap_fraction: f64,
    pub join_rate: f64,
    pub sim_threads: usize,
    /// Where `shoal-hub` and `shoal-sim` are.
    pub bin_dir: PathBuf,
    /// JSON report path.
    pub out: PathBuf,
    /// Longest wait of one phase.
    pub phase_timeout: Duration,
    /// Keep the temporary directory (logs, hub data).
    pub keep: bool,
}

/// One phase's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub name: String,
    /// Seconds from trigger to condition (or to the timeout).
    pub seconds: f64,
    pub done: bool,
    /// The last progress line.
    pub detail: String,
    /// Hub: peak resident memory (MiB) and mean CPU (cores) during the phase.
    pub hub_rss_mib_max: f64,
    pub hub_cpu_cores_mean: f64,
    pub sim_rss_mib_max: f64,
    pub sim_cpu_cores_mean: f64,
    /// Most open file descriptors of the hub and of the simulator during the phase.
    pub hub_fds_max: u64,
    pub sim_fds_max: u64,
}

/// The whole report (also the JSON file).
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub machine: Value,
    pub nodes: usize,
    pub replicas: usize,
    pub flap_fraction: f64,
    pub phases: Vec<Phase>,
    /// Pods per second from Deployment create to the last pod bound.
    pub scheduler_pods_per_s: Option<f64>,
    pub latency_ms: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Summary>>,
    pub hub_rss_mib_end: f64,
}

/// One sample: (phase, hub reading, simulator reading).
type Sample = (String, Option<Reading>, Option<Reading>);

/// What the prober and sampler share with the phases.
#[derive(Default)]
struct Shared {
    phase: Mutex<String>,
    latencies: Mutex<Latencies>,
    /// (phase, hub reading, sim reading)
    readings: Mutex<Vec<Sample>>,
    stop: AtomicBool,
}

impl Shared {
    fn phase(&self) -> String {
        self.phase.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_phase(&self, p: &str) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = p.to_string();
    }

    fn usage(&self, phase: &str) -> (f64, f64, f64, f64) {
        let r = self.readings.lock().unwrap_or_else(|p| p.into_inner());
        let mine: Vec<_> = r.iter().filter(|(p, _, _)| p == phase).collect();
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let peak = |f: fn(&Sample) -> Option<Reading>| {
            mine.iter()
                .filter_map(|x| f(x))
                .map(|r| mib(r.rss))
                .fold(0.0, f64::max)
        };
        let mean = |f: fn(&Sample) -> Option<Reading>| {
            let v: Vec<Reading> = mine.iter().filter_map(|x| f(x)).collect();
            match (v.first(), v.last()) {
                (Some(a), Some(b)) if v.len() > 1 => proc_stats::cores(a, b),
                _ => 0.0,
            }
        };
        (peak(|x| x.1), mean(|x| x.1), peak(|x| x.2), mean(|x| x.2))
    }

    /// Most open descriptors of (hub, simulator) during `phase`.
    fn fds(&self, phase: &str) -> (u64, u64) {
        let r = self.readings.lock().unwrap_or_else(|p| p.into_inner());
        let mine = r.iter().filter(|(p, _, _)| p == phase);
        mine.fold((0, 0), |(h, s), (_, hub, sim)| {
            (
                h.max(hub.map(|r| r.fds).unwrap_or(0)),
                s.max(sim.map(|r| r.fds).unwrap_or(0)),
            )
        })
    }
}

/// Runs the scenario and writes the report.
pub fn run(cfg: &FleetBench) -> anyhow::Result<Report> {
    let tmp = tempfile::Builder::new().prefix("shoal-bench-").tempdir()?;
    let dir = tmp.path().to_path_buf();
    let hub_dir = dir.join("hub");
    std::fs::create_dir_all(&hub_dir)?;
    let (api_port, quic_port, mqtt_port) = (free_port(false)?, free_port(true)?, free_port(false)?);
    println!("shoal-bench: work dir {}", dir.display());
    let mut hub = Guard::spawn(
        "shoal-hub",
        &mut hub_command(&cfg.bin_dir, &hub_dir, api_port, quic_port, mqtt_port),
        &dir.join("hub.log"),
    )?;
    let kubeconfig = hub_dir.join("admin.kubeconfig");
    let api = wait_api(&kubeconfig)?;

    let shared = Arc::new(Shared::default());
    shared.set_phase("idle");
    let sim_pid = Arc::new(Mutex::new(None::<u32>));
    let prober = {
        let (api, shared, sim_pid, hub_pid) =
            (api.clone(), shared.clone(), sim_pid.clone(), hub.pid());
        std::thread::spawn(move || probe(api, shared, hub_pid, sim_pid))
    };

    let mut phases = Vec::new();
    let mut scheduler = None;
    let result = (|| -> anyhow::Result<()> {
        // 1. join
        shared.set_phase("join");
        let start = Instant::now();
        let mut sim = Guard::spawn(
            "shoal-sim",
            Command::new(cfg.bin_dir.join("shoal-sim"))
                .arg("--hub")
                .arg(format!("127.0.0.1:{quic_port}"))
                .arg("--token-file")
                .arg(hub_dir.join("join-token"))
                .arg("--nodes")
                .arg(cfg.nodes.to_string())
                .arg("--data-dir")
                .arg(dir.join("sim"))
                .arg("--join-rate")
                .arg(cfg.join_rate.to_string())
                .arg("--threads")
                .arg(cfg.sim_threads.to_string())
                .arg("--flap-fraction")
                .arg(cfg.flap_fraction.to_string()),
            &dir.join("sim.log"),
        )?;
        *sim_pid.lock().unwrap_or_else(|p| p.into_inner()) = Some(sim.pid());
        let n = cfg.nodes;
        let must_be_ready = n - (n as f64 * cfg.flap_fraction).floor() as usize;
        phases.push(phase(cfg, &shared, "join", start, |_| {
            let nodes = api.get("/api/v1/nodes")?;
            let items = nodes["items"].as_array().cloned().unwrap_or_default();
            let ready = items.iter().filter(|n| is_ready(n)).count();
            Ok((
                items.len() == n && ready >= must_be_ready,
                format!("{} nodes registered, {ready} Ready", items.len()),
            ))
        }));

        // 2. DaemonSet create
        shared.set_phase("daemonset");
        let start = Instant::now();
        api.post("/apis/apps/v1/namespaces/default/daemonsets", &daemonset())?;
        let ds_path = "/apis/apps/v1/namespaces/default/daemonsets/bench-ds";
        phases.push(phase(cfg, &shared, "daemonset", start, |_| {
            let ds = api.get(ds_path)?;
            ds_done(&ds, must_be_ready, 0)
        }));

        // 3. rolling update
        shared.set_phase("rolling_update");
        let start = Instant::now();
        let patched = api.merge_patch(
            ds_path,
            &json!({"spec": {"template": {"metadata": {"annotations": {"bench.shoal.io/rev": "2"}}}}}),
        )?;
        let generation = patched["metadata"]["generation"].as_i64().unwrap_or(2);
        phases.push(phase(cfg, &shared, "rolling_update", start, |_| {
            let ds = api.get(ds_path)?;
            ds_done(&ds, must_be_ready, generation)
        }));

        // 4. Deployment
        if cfg.replicas > 0 {
            shared.set_phase("deployment");
            let start = Instant::now();
            api.post(
                "/apis/apps/v1/namespaces/default/deployments",
                &deployment(cfg.replicas),
            )?;
            let mut bound_at = None;
            let r = cfg.replicas;
            phases.push(phase(cfg, &shared, "deployment", start, |elapsed| {
                let d = api.get("/apis/apps/v1/namespaces/default/deployments/bench-deploy")?;
                let created = d["status"]["replicas"].as_u64().unwrap_or(0) as usize;
                let available = d["status"]["availableReplicas"].as_u64().unwrap_or(0) as usize;
                if bound_at.is_none() && created == r {
                    let unbound = api.get(
                        "/api/v1/namespaces/default/pods?labelSelector=app%3Dbench-deploy&fieldSelector=spec.nodeName%3D&limit=1",
                    )?;
                    if unbound["items"].as_array().is_some_and(|a| a.is_empty()) {
                        bound_at = Some(elapsed);
                    }
                }
                Ok((
                    available == r && bound_at.is_some(),
                    format!(
                        "{created} pods, {available} available, all bound after {}",
                        bound_at.map_or("-".to_string(), |b: Duration| format!("{:.1} s", b.as_secs_f64()))
                    ),
                ))
            }));
            scheduler = bound_at
                .filter(|b| !b.is_zero())
                .map(|b| r as f64 / b.as_secs_f64());
        }
        shared.set_phase("end");
        std::thread::sleep(Duration::from_secs(2));
        sim.stop();
        Ok(())
    })();

    shared.stop.store(true, Ordering::Relaxed);
    let _ = prober.join();
    let hub_rss_mib_end = {
        let r = shared.readings.lock().unwrap_or_else(|p| p.into_inner());
        r.iter()
            .filter(|(p, _, _)| p != "end")
            .filter_map(|(_, h, _)| *h)
            .next_back()
            .map_or(0.0, |h| h.rss as f64 / (1024.0 * 1024.0))
    };
    hub.stop();
    let report = Report {
        scenario: "fleet",
        machine: machine(),
        nodes: cfg.nodes,
        replicas: cfg.replicas,
        flap_fraction: cfg.flap_fraction,
        phases,
        scheduler_pods_per_s: scheduler,
        latency_ms: shared
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .summaries(),
        hub_rss_mib_end,
    };
    std::fs::write(&cfg.out, serde_json::to_vec_pretty(&report)?)?;
    print_report(&report);
    println!("shoal-bench: report written to {}", cfg.out.display());
    if cfg.keep {
        let kept = tmp.keep();
        println!("shoal-bench: kept {}", kept.display());
    }
    result?;
    Ok(report)
}

pub(crate) fn wait_api(kubeconfig: &Path) -> anyhow::Result<Api> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(api) = Api::from_kubeconfig(kubeconfig) {
            if api.get("/api/v1/namespaces/default").is_ok() {
                return Ok(api);
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("the hub's API did not come up within 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls `check(elapsed)` until it reports done or the phase times out.
fn phase(
    cfg: &FleetBench,
    shared: &Shared,
    name: &str,
    start: Instant,
    mut check: impl FnMut(Duration) -> anyhow::Result<(bool, String)>,
) -> Phase {
    let mut detail = String::new();
    let mut done = false;
    let mut last_print = Instant::now();
    let poll = if cfg.nodes > 2000 {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(500)
    };
    while start.elapsed() < cfg.phase_timeout {
        match check(start.elapsed()) {
            Ok((d, text)) => {
                detail = text;
                if d {
                    done = true;
                    break;
                }
            }
            Err(e) => detail = format!("poll failed: {e}"),
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            println!("  {name} {:>6.1}s  {detail}", start.elapsed().as_secs_f64());
            last_print = Instant::now();
        }
        std::thread::sleep(poll);
    }
    let seconds = start.elapsed().as_secs_f64();
    let (hub_rss, hub_cpu, sim_rss, sim_cpu) = shared.usage(name);
    let (hub_fds, sim_fds) = shared.fds(name);
    println!(
        "{name}: {} in {seconds:.1} s ({detail}); hub {hub_rss:.0} MiB, {hub_fds} fds",
        if done { "done" } else { "TIMED OUT" }
    );
    Phase {
        name: name.to_string(),
        seconds,
        done,
        detail,
        hub_rss_mib_max: hub_rss,
        hub_cpu_cores_mean: hub_cpu,
        sim_rss_mib_max: sim_rss,
        sim_cpu_cores_mean: sim_cpu,
        hub_fds_max: hub_fds,
        sim_fds_max: sim_fds,
    }
}

fn is_ready(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Whether the DaemonSet is done: the generation observed, at least `n` nodes eligible, and
/// every eligible node's pod updated, Ready and available. (With flapping links a node that
/// is away carries the `unreachable` taints, so, as in Kubernetes, it gets no new pod until it
/// is back: the eligible count moves.)
fn ds_done(ds: &Value, n: usize, generation: i64) -> anyhow::Result<(bool, String)> {
    let s = &ds["status"];
    let get = |k: &str| s[k].as_u64().unwrap_or(0) as usize;
    let observed = s["observedGeneration"].as_i64().unwrap_or(0);
    let (desired, updated, ready, available) = (
        get("desiredNumberScheduled"),
        get("updatedNumberScheduled"),
        get("numberReady"),
        get("numberAvailable"),
    );
    Ok((
        observed >= generation
            && desired >= n
            && updated == desired
            && ready == desired
            && available == desired,
        format!("desired {desired}, updated {updated}, ready {ready}, available {available}"),
    ))
}

fn daemonset() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "bench-ds", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "bench-ds"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {
                "metadata": {"labels": {"app": "bench-ds"}},
                "spec": {"containers": [{"name": "main", "image": "localhost/busybox:latest", "command": ["sleep", "3600"]}]}
            }
        }
    })
}

fn deployment(replicas: usize) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bench-deploy", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "bench-deploy"}},
            "template": {
                "metadata": {"labels": {"app": "bench-deploy"}},
                "spec": {"containers": [{"name": "main", "image": "localhost/busybox:latest", "command": ["sleep", "3600"]}]}
            }
        }
    })
}

/// The prober/sampler thread.
fn probe(api: Api, shared: Arc<Shared>, hub_pid: u32, sim_pid: Arc<Mutex<Option<u32>>>) {
    let mut i: u64 = 0;
    let mut last_sample = Instant::now() - Duration::from_secs(10);
    while !shared.stop.load(Ordering::Relaxed) {
        let phase = shared.phase();
        let name = format!("bench-probe-{i}");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"i": i.to_string()}});
        let created = api
            .call(
                "POST",
                "/api/v1/namespaces/default/configmaps",
                Some(("application/json", &cm)),
            )
            .map(|(_, d)| d)
            .ok();
        let deleted = api
            .call(
                "DELETE",
                &format!("/api/v1/namespaces/default/configmaps/{name}"),
                None,
            )
            .map(|(_, d)| d)
            .ok();
        {
            let mut l = shared.latencies.lock().unwrap_or_else(|p| p.into_inner());
            l.record(&phase, "mutate", created);
            l.record(&phase, "mutate", deleted);
        }
        if last_sample.elapsed() >= Duration::from_secs(1) {
            last_sample = Instant::now();
            let listed = api
                .call("GET", "/api/v1/nodes?limit=500", None)
                .map(|(_, d)| d)
                .ok();
            shared
                .latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(&phase, "list_nodes_500", listed);
            let sim = sim_pid
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .and_then(proc_stats::read);
            shared
                .readings
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((phase, proc_stats::read(hub_pid), sim));
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn machine() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_default();
    let mem_kb: u64 = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    json!({
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "cpu_model": model,
        "memory_gib": mem_kb / (1024 * 1024),
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "loadavg_at_end": read("/proc/loadavg").trim(),
    })
}

fn print_report(r: &Report) {
    println!();
    println!(
        "fleet: {} nodes, {} replicas, flapping {:.0}%",
        r.nodes,
        r.replicas,
        r.flap_fraction * 100.0
    );
    println!("| phase | seconds | done | hub RSS max (MiB) | hub CPU (cores) | sim CPU (cores) | detail |");
    println!("|---|---|---|---|---|---|---|");
    for p in &r.phases {
        println!(
            "| {} | {:.1} | {} | {:.0} | {:.2} | {:.2} | {} |",
            p.name,
            p.seconds,
            p.done,
            p.hub_rss_mib_max,
            p.hub_cpu_cores_mean,
            p.sim_cpu_cores_mean,
            p.detail
        );
    }
    if let Some(s) = r.scheduler_pods_per_s {
        println!("scheduler: {s:.0} pods/s (create to all bound)");
    }
    println!("| phase | call | count | errors | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    for (phase, kinds) in &r.latency_ms {
        for (kind, s) in kinds {
            println!(
                "| {phase} | {kind} | {} | {} | {:.1} | {:.1} | {:.1} |",
                s.count, s.errors, s.p50_ms, s.p99_ms, s.max_ms
            );
        }
    }
    println!("hub RSS at the end: {:.0} MiB", r.hub_rss_mib_end);
}
