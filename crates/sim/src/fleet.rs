//! A fleet of hollow nodes in one process: N real agents (the `shoal-edge-agent` library) on
//! the simulated runtime.
//!
//! ```text
//!   main thread: progress every few seconds, shutdown
//!   arbiter 0 ── QUIC endpoint 0 ── node 0, node T, node 2T, ...   (agents as actors)
//!   arbiter 1 ── QUIC endpoint 1 ── node 1, node T+1, ...
//! ```
//!
//! Each node is a complete agent as far as the hub can tell: it joins with the token (own key,
//! certificate, MQTT credentials), keeps its own QUIC connection and MQTT session, publishes
//! node status on the usual schedule and pod status as its simulated containers start. What
//! the nodes of one arbiter share is the thread, the tokio runtime and one QUIC endpoint (one
//! UDP socket); each keeps its desired pods in an in-memory local store. Nodes start at
//! `join_rate` per second (each within its slot at a jittered moment), so a big fleet does not
//! hit the hub in one burst. Credentials live under `DIR/<node>/`, so a second run with the
//! same directory reconnects the same nodes instead of joining new ones.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Arbiter;
use shoal_edge_agent::runtime::{SimProfile, SimulatedRuntime};
use shoal_edge_agent::{AgentConfig, Embedding, HostFacts, LocalStore};
use shoal_transport::quic;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::flap::FlapConfig;

/// How long shutdown waits for the agents to stop.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How often progress is printed.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Everything a fleet run needs, validated by the binary's flag parsing.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// Hub QUIC address, `HOST:PORT`.
    pub hub: String,
    /// Join token file.
    pub token_file: PathBuf,
    pub nodes: usize,
    /// Node names are `<prefix><index, 5 digits>`.
    pub name_prefix: String,
    /// Credentials of every node go under `<data_dir>/<node>/`.
    pub data_dir: PathBuf,
    /// Node starts per second.
    pub join_rate: f64,
    /// Threads (actix arbiters) the agents are spread over.
    pub threads: usize,
    /// Labels every node carries.
    pub labels: Vec<(String, String)>,
    /// How simulated containers behave (the seed is mixed with each node's index).
    pub profile: SimProfile,
    pub flap: Option<FlapConfig>,
}

/// Counters the fleet keeps; read for progress.
#[derive(Default)]
pub struct FleetStats {
    /// Agents started at least once.
    pub started: AtomicUsize,
    /// Agents running now.
    pub running: AtomicUsize,
    /// Agent stops caused by flapping.
    pub flaps: AtomicUsize,
    /// Agents that ended with an error (join refused, ...).
    pub failed: AtomicUsize,
    runtimes: Mutex<Vec<Arc<SimulatedRuntime>>>,
}

impl FleetStats {
    /// (pods, running containers) over every node's runtime.
    pub fn pods(&self) -> (usize, usize) {
        let runtimes = self.runtimes.lock().unwrap_or_else(|p| p.into_inner());
        runtimes.iter().fold((0, 0), |(p, c), rt| {
            let (pods, running) = rt.counts();
            (p + pods, c + running)
        })
    }

    /// One progress line.
    pub fn line(&self, nodes: usize) -> String {
        let (pods, running) = self.pods();
        format!(
            "agents {}/{} running ({} started), pods {pods}, containers running {running}, flaps {}, failed {}",
            self.running.load(Ordering::Relaxed),
            nodes,
            self.started.load(Ordering::Relaxed),
            self.flaps.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// The name of node `index`.
pub fn node_name(prefix: &str, index: usize) -> String {
    format!("{prefix}{index:05}")
}

/// When node `index` starts, counted from the fleet's start: its slot at `join_rate`, plus a
/// jitter within the slot.
pub fn start_offset(index: usize, join_rate: f64) -> Duration {
    if join_rate <= 0.0 || !join_rate.is_finite() {
        return Duration::ZERO;
    }
    let slot = 1.0 / join_rate;
    let jitter = ((index as u64).wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0;
    Duration::from_secs_f64((index as f64 + jitter) * slot)
}

/// What a hollow node reports about its "hardware".
fn facts() -> HostFacts {
    HostFacts {
        hostname: String::new(), // the node name
        os_image: "shoal-sim hollow node".into(),
        kernel_version: "sim".into(),
        cpus: 4,
        memory_ki: 4 * 1024 * 1024,
    }
}

/// Runs the fleet until `shutdown` fires. Call inside an actix System.
pub async fn run(cfg: FleetConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let stats = Arc::new(FleetStats::default());
    let threads = cfg.threads.max(1);
    let arbiters: Vec<Arbiter> = (0..threads).map(|_| Arbiter::new()).collect();
    let epoch = Instant::now();
    for (k, arbiter) in arbiters.iter().enumerate() {
        let indices: Vec<usize> = (k..cfg.nodes).step_by(threads).collect();
        let (cfg, stats, shutdown) = (cfg.clone(), stats.clone(), shutdown.clone());
        arbiter.spawn_fn(move || {
            actix_rt::spawn(drive_shard(cfg, indices, epoch, stats, shutdown));
        });
    }
    info!(nodes = cfg.nodes, threads, hub = %cfg.hub, "fleet starting");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(PROGRESS_EVERY) => {
                println!("shoal-sim: {}", stats.line(cfg.nodes));
            }
        }
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while stats.running.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("shoal-sim: stopped; {}", stats.line(cfg.nodes));
    for arbiter in &arbiters {
        arbiter.stop();
    }
    Ok(())
}

/// Starts this arbiter's nodes on schedule, all dialing from one endpoint.
async fn drive_shard(
    cfg: FleetConfig,
    indices: Vec<usize>,
    epoch: Instant,
    stats: Arc<FleetStats>,
    shutdown: CancellationToken,
) {
    let addr = match shoal_edge_agent::hub_addr::resolve_hub(&cfg.hub).await {
        Ok(a) => a,
        Err(e) => {
            error!(hub = %cfg.hub, error = %e, "cannot resolve the hub; this shard's nodes do not start");
            stats.failed.fetch_add(indices.len(), Ordering::Relaxed);
            return;
        }
    };
    let endpoint = match quic::client_endpoint(addr) {
        Ok(e) => e,
        Err(e) => {
            error!(error = %e, "cannot open a QUIC endpoint; this shard's nodes do not start");
            stats.failed.fetch_add(indices.len(), Ordering::Relaxed);
            return;
        }
    };
    for i in indices {
        let at = epoch + start_offset(i, cfg.join_rate);
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(at.into()) => {}
        }
        actix_rt::spawn(run_node(
            i,
            cfg.clone(),
            endpoint.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
    }
    shutdown.cancelled().await;
    // Design: give this shard's agents time to close their connections before the endpoint
    // goes away with the arbiter.
    let deadline = Instant::now() + STOP_TIMEOUT;
    while stats.running.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    endpoint.close(0u32.into(), b"simulator stopping");
}

/// One hollow node for as long as the fleet runs, flapping if it was chosen to.
async fn run_node(
    index: usize,
    cfg: FleetConfig,
    endpoint: quinn::Endpoint,
    stats: Arc<FleetStats>,
    shutdown: CancellationToken,
) {
    let name = node_name(&cfg.name_prefix, index);
    let mut config = AgentConfig::new(
        cfg.hub.clone(),
        cfg.token_file.clone(),
        name.clone(),
        cfg.data_dir.join(&name),
    );
    config.labels = cfg.labels.clone();
    let runtime = Arc::new(SimulatedRuntime::new(SimProfile {
        seed: cfg.profile.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ..cfg.profile
    }));
    stats
        .runtimes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(runtime.clone());
    let embedding = Embedding {
        endpoint: Some(endpoint),
        store: Some(LocalStore::in_memory(&name)),
        facts: Some(facts()),
        no_outbox_file: true,
    };
    let flap = cfg.flap.filter(|f| f.flaps(index));
    stats.started.fetch_add(1, Ordering::Relaxed);
    let mut up_for = flap.map(|f| f.first_up(index));
    loop {
        let agent_stop = shutdown.child_token();
        let agent = shoal_edge_agent::run_embedded(
            config.clone(),
            runtime.clone(),
            embedding.clone(),
            agent_stop.clone(),
        );
        tokio::pin!(agent);
        stats.running.fetch_add(1, Ordering::Relaxed);
        let result = match up_for {
            None => agent.await,
            Some(up) => tokio::select! {
                r = &mut agent => r,
                () = tokio::time::sleep(up) => {
                    agent_stop.cancel();
                    agent.await
                }
            },
        };
        stats.running.fetch_sub(1, Ordering::Relaxed);
        if let Err(e) = result {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            error!(node = %name, error = %error_chain(&e), "hollow agent failed");
            return;
        }
        let Some(f) = flap else { return };
        if shutdown.is_cancelled() {
            return;
        }
        stats.flaps.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(f.down) => {}
        }
        up_for = Some(f.up);
    }
}

/// An error and its sources on one line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.ends_with(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_spread_at_the_join_rate_in_order() {
        let offsets: Vec<Duration> = (0..1000).map(|i| start_offset(i, 100.0)).collect();
        assert!(offsets
            .windows(2)
            .all(|w| w[0] <= w[1] + Duration::from_millis(10)));
        assert!(
            offsets[999] >= Duration::from_millis(9_990) && offsets[999] < Duration::from_secs(10)
        );
        assert_eq!(start_offset(5, 0.0), Duration::ZERO, "0 = all at once");
    }

    #[test]
    fn node_names_sort_like_their_indices() {
        assert_eq!(node_name("sim-", 7), "sim-00007");
        assert!(node_name("n", 99) < node_name("n", 100));
    }
}
