//! The hub's store against etcd, side by side in one run, on the same workload at equal
//! durability.
//!
//! Both are driven through their own loopback APIs by the same client code: the hub through
//! its Kubernetes API (HTTPS, ConfigMaps in `default`), etcd (Debian's `etcd-server`, single
//! node, default fsync on every commit) through its JSON gRPC gateway (`/v3/kv/put`,
//! `/v3/kv/range`, `/v3/watch`), with the same bytes as values (the ConfigMap's JSON under
//! `/registry/configmaps/default/<name>`, the key layout Kubernetes uses in etcd).
//!
//! Workloads, each with `clients` concurrent clients:
//! - `put`: `ops` new objects;
//! - `get`: `ops` reads of them;
//! - `watch`: one watcher on the whole prefix while `ops` more objects are written; the lag is
//!   from a put's start to its event at the watcher.
//!
//! The hub pays for more per write than etcd does (decoding into k8s-openapi types, admission,
//! TLS); etcd pays for raft. Ratios are reported, not only times: the machine is shared.
//!
//! Equal client work: both clients keep up to [`StoreBench::pool`] idle connections per
//! server, so with `pool >= clients` every call reuses its connection on both sides. (With
//! ureq's default of 3, most calls to the hub paid a TLS handshake and the p99 measured that.)

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};

use super::api::Api;
use super::latency::{Latencies, Summary};
use super::process::{free_port, hub_command, Guard};
use super::scenario::{machine, wait_api};

/// What to run.
#[derive(Clone, Debug)]
pub struct StoreBench {
    pub ops: usize,
    pub clients: usize,
    /// Bytes of the ConfigMap's data value.
    pub value_bytes: usize,
    pub bin_dir: PathBuf,
    /// The etcd binary.
    pub etcd: PathBuf,
    /// Idle connections each client pool keeps per server (both systems alike). At least
    /// `clients` reuses a connection per client; ureq's default of 3 reproduces the first
    /// figures, where most shoal calls paid a TLS handshake.
    pub pool: usize,
    pub out: PathBuf,
}

/// One system's figures for one workload.
#[derive(Clone, Debug, Serialize)]
pub struct Workload {
    pub ops_per_s: f64,
    pub latency: Summary,
}

#[derive(Debug, Serialize)]
pub struct StoreReport {
    pub scenario: &'static str,
    pub machine: Value,
    pub ops: usize,
    pub clients: usize,
    pub value_bytes: usize,
    /// workload -> system -> figures.
    pub results: BTreeMap<String, BTreeMap<String, Workload>>,
    /// workload -> shoal ops/s divided by etcd ops/s (above 1: shoal is faster).
    pub throughput_ratio: BTreeMap<String, f64>,
    /// workload -> shoal p99 divided by etcd p99 (below 1: shoal is faster).
    pub p99_ratio: BTreeMap<String, f64>,
}

/// One of the two systems under test.
trait Kv: Send + Sync {
    fn put(&self, name: &str, body: &Value) -> Result<(), String>;
    fn get(&self, name: &str) -> Result<(), String>;
    /// Streams the names of created objects to `seen` until `stop`.
    fn watch(&self, seen: &dyn Fn(String), stop: &AtomicBool) -> Result<(), String>;
}

struct Shoal(Api);

impl Kv for Shoal {
    fn put(&self, _name: &str, body: &Value) -> Result<(), String> {
        self.0
            .post("/api/v1/namespaces/default/configmaps", body)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn get(&self, name: &str) -> Result<(), String> {
        self.0
            .get(&format!("/api/v1/namespaces/default/configmaps/{name}"))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn watch(&self, seen: &dyn Fn(String), stop: &AtomicBool) -> Result<(), String> {
        let rv = self
            .0
            .get("/api/v1/namespaces/default/configmaps?limit=1")
            .map_err(|e| e.to_string())?["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string();
        let reader = self
            .0
            .stream(&format!(
                "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=3600"
            ))
            .map_err(|e| e.to_string())?;
        for line in std::io::BufReader::new(reader).lines() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(n) = v["object"]["metadata"]["name"].as_str() {
                    seen(n.to_string());
                }
            }
        }
        Ok(())
    }
}

struct Etcd {
    agent: ureq::Agent,
    base: String,
}

const PREFIX: &str = "/registry/configmaps/default/";

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl Etcd {
    fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let mut resp = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .send(serde_json::to_vec(body).unwrap_or_default().as_slice())
            .map_err(|e| e.to_string())?;
        let code = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        if code != 200 {
            return Err(format!("HTTP {code}: {}", String::from_utf8_lossy(&bytes)));
        }
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }
}

impl Kv for Etcd {
    fn put(&self, name: &str, body: &Value) -> Result<(), String> {
        let value = serde_json::to_vec(body).unwrap_or_default();
        self.post(
            "/v3/kv/put",
            &json!({"key": b64(format!("{PREFIX}{name}").as_bytes()), "value": b64(&value)}),
        )
        .map(|_| ())
    }

    fn get(&self, name: &str) -> Result<(), String> {
        let v = self.post(
            "/v3/kv/range",
            &json!({"key": b64(format!("{PREFIX}{name}").as_bytes())}),
        )?;
        if v["kvs"].as_array().is_some_and(|a| !a.is_empty()) {
            Ok(())
        } else {
            Err(format!("{name} not found"))
        }
    }

    fn watch(&self, seen: &dyn Fn(String), stop: &AtomicBool) -> Result<(), String> {
        let mut end = PREFIX.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let body =
            json!({"create_request": {"key": b64(PREFIX.as_bytes()), "range_end": b64(&end)}});
        let resp = self
            .agent
            .post(&format!("{}/v3/watch", self.base))
            .header("Content-Type", "application/json")
            .send(serde_json::to_vec(&body).unwrap_or_default().as_slice())
            .map_err(|e| e.to_string())?;
        let reader = resp.into_body().into_reader();
        for line in std::io::BufReader::new(reader).lines() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            for ev in v["result"]["events"].as_array().into_iter().flatten() {
                let key = ev["kv"]["key"].as_str().unwrap_or_default();
                let Ok(key) = base64::engine::general_purpose::STANDARD.decode(key) else {
                    continue;
                };
                let key = String::from_utf8_lossy(&key);
                if let Some(name) = key.strip_prefix(PREFIX) {
                    seen(name.to_string());
                }
            }
        }
        Ok(())
    }
}

fn configmap(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"v": value}})
}

/// Runs `ops` calls of `op(i)` over `clients` threads; returns ops/s and records latencies.
fn drive(
    clients: usize,
    ops: usize,
    lat: &Mutex<Latencies>,
    system: &str,
    workload: &str,
    op: &(dyn Fn(usize) -> Result<(), String> + Sync),
) -> f64 {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let errors = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..clients.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    break;
                }
                let t = Instant::now();
                let r = op(i);
                let took = t.elapsed();
                if let Err(e) = &r {
                    if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("{system} {workload}: {e}");
                    }
                }
                lat.lock().unwrap_or_else(|p| p.into_inner()).record(
                    system,
                    workload,
                    r.ok().map(|()| took),
                );
            });
        }
    });
    ops as f64 / start.elapsed().as_secs_f64()
}

/// Watch workload: lag from put start to the watcher seeing it.
fn watch_run(
    kv: &dyn Kv,
    clients: usize,
    ops: usize,
    value: &str,
    lat: &Mutex<Latencies>,
    system: &str,
) -> f64 {
    let started: Mutex<BTreeMap<String, Instant>> = Mutex::new(BTreeMap::new());
    let seen_count = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut rate = 0.0;
    std::thread::scope(|s| {
        s.spawn(|| {
            let seen = |name: String| {
                let t0 = started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&name)
                    .copied();
                if let Some(t0) = t0 {
                    lat.lock().unwrap_or_else(|p| p.into_inner()).record(
                        system,
                        "watch_lag",
                        Some(t0.elapsed()),
                    );
                    seen_count.fetch_add(1, Ordering::Relaxed);
                }
            };
            if let Err(e) = kv.watch(&seen, &stop) {
                eprintln!("{system} watch: {e}");
            }
        });
        // Let the watch establish before writing.
        std::thread::sleep(Duration::from_millis(500));
        let scratch = Mutex::new(Latencies::default());
        rate = drive(clients, ops, &scratch, system, "watch_put", &|i| {
            let name = format!("w-{i}");
            started
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.clone(), Instant::now());
            kv.put(&name, &configmap(&name, value))
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen_count.load(Ordering::Relaxed) < ops && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        // One more write wakes both watchers so they notice `stop`.
        let _ = kv.put("w-stop", &configmap("w-stop", value));
    });
    rate
}

/// Runs the comparison and writes the report.
pub fn run(cfg: &StoreBench) -> anyhow::Result<StoreReport> {
    let tmp = tempfile::Builder::new()
        .prefix("shoal-bench-store-")
        .tempdir()?;
    let dir = tmp.path();
    let hub_dir = dir.join("hub");
    std::fs::create_dir_all(&hub_dir)?;
    let (api_port, quic_port, mqtt_port) = (free_port(false)?, free_port(true)?, free_port(false)?);
    let _hub = Guard::spawn(
        "shoal-hub",
        &mut hub_command(&cfg.bin_dir, &hub_dir, api_port, quic_port, mqtt_port),
        &dir.join("hub.log"),
    )?;
    wait_api(&hub_dir.join("admin.kubeconfig"))?;
    let api = Api::from_kubeconfig_with_pool(&hub_dir.join("admin.kubeconfig"), cfg.pool)?;

    let (client_port, peer_port) = (free_port(false)?, free_port(false)?);
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let _etcd = Guard::spawn(
        "etcd",
        Command::new(&cfg.etcd)
            .arg("--name")
            .arg("bench")
            .arg("--data-dir")
            .arg(dir.join("etcd"))
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("bench={peer_url}"))
            .arg("--log-level")
            .arg("warn"),
        &dir.join("etcd.log"),
    )?;
    let etcd = Etcd {
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .max_idle_connections(cfg.pool.max(1))
            .max_idle_connections_per_host(cfg.pool.max(1))
            .build()
            .new_agent(),
        base: client_url,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while etcd
        .post("/v3/kv/range", &json!({"key": b64(b"x")}))
        .is_err()
    {
        if Instant::now() > deadline {
            anyhow::bail!(
                "etcd did not come up within 30 s (see {})",
                dir.join("etcd.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let value = "x".repeat(cfg.value_bytes);
    let lat = Mutex::new(Latencies::default());
    let mut rates: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let systems: [(&str, Arc<dyn Kv>); 2] =
        [("shoal", Arc::new(Shoal(api))), ("etcd", Arc::new(etcd))];
    // Interleaved per workload, so both see the same machine conditions as far as possible.
    for workload in ["put", "get", "watch"] {
        for (name, kv) in &systems {
            let rate = match workload {
                "put" => drive(cfg.clients, cfg.ops, &lat, name, "put", &|i| {
                    let n = format!("bench-{i}");
                    kv.put(&n, &configmap(&n, &value))
                }),
                "get" => drive(cfg.clients, cfg.ops, &lat, name, "get", &|i| {
                    kv.get(&format!("bench-{i}"))
                }),
                _ => watch_run(kv.as_ref(), cfg.clients, cfg.ops, &value, &lat, name),
            };
            println!("{workload:>6} {name:>6}: {rate:>8.0} ops/s");
            rates
                .entry(workload.to_string())
                .or_default()
                .insert(name.to_string(), rate);
        }
    }

    let summaries = lat.lock().unwrap_or_else(|p| p.into_inner()).summaries();
    let mut results: BTreeMap<String, BTreeMap<String, Workload>> = BTreeMap::new();
    let mut throughput_ratio = BTreeMap::new();
    let mut p99_ratio = BTreeMap::new();
    for (workload, by_system) in &rates {
        let kind = if workload == "watch" {
            "watch_lag"
        } else {
            workload.as_str()
        };
        for (system, rate) in by_system {
            if let Some(s) = summaries.get(system).and_then(|k| k.get(kind)) {
                results.entry(workload.clone()).or_default().insert(
                    system.clone(),
                    Workload {
                        ops_per_s: *rate,
                        latency: s.clone(),
                    },
                );
            }
        }
        if let (Some(a), Some(b)) = (by_system.get("shoal"), by_system.get("etcd")) {
            throughput_ratio.insert(workload.clone(), a / b);
        }
        let p99 = |sys: &str| {
            summaries
                .get(sys)
                .and_then(|k| k.get(kind))
                .map(|s| s.p99_ms)
        };
        if let (Some(a), Some(b)) = (p99("shoal"), p99("etcd")) {
            if b > 0.0 {
                p99_ratio.insert(workload.clone(), a / b);
            }
        }
    }
    let report = StoreReport {
        scenario: "store-vs-etcd",
        machine: machine(),
        ops: cfg.ops,
        clients: cfg.clients,
        value_bytes: cfg.value_bytes,
        results,
        throughput_ratio,
        p99_ratio,
    };
    println!(
        "\nstore vs etcd: {} ops, {} clients, {} byte values",
        cfg.ops, cfg.clients, cfg.value_bytes
    );
    println!("| workload | system | ops/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    for (w, by) in &report.results {
        for (sys, r) in by {
            println!(
                "| {w} | {sys} | {:.0} | {:.1} | {:.1} | {} |",
                r.ops_per_s, r.latency.p50_ms, r.latency.p99_ms, r.latency.errors
            );
        }
    }
    for (w, r) in &report.throughput_ratio {
        println!(
            "{w}: shoal/etcd throughput {r:.2}, p99 {:.2}",
            report.p99_ratio.get(w).copied().unwrap_or(0.0)
        );
    }
    std::fs::write(&cfg.out, serde_json::to_vec_pretty(&report)?)?;
    println!("shoal-bench: report written to {}", cfg.out.display());
    Ok(report)
}
