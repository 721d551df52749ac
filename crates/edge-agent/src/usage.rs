//! Resource usage of the node and its pods (kubelet's cAdvisor role), sampled every
//! [`SAMPLE_EVERY`] and published by the StatusReporter on the node's metrics topic, where the
//! hub serves it as `metrics.k8s.io` (`kubectl top`) and any MQTT client can read it.
//!
//! CPU is a counter, so a report needs two samples: [`report`] (pure) turns the previous and
//! the current sample into rates over the window between them. Memory is the current value.
//! Node figures come from `/proc/stat` (busy = all time but idle and iowait) and
//! `/proc/meminfo` (total minus available), container figures from the runtime.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use shoal_transport::status::{now_ms, ContainerMetricsReport, MetricsReport, PodMetricsReport};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::error_chain;
use crate::runtime::{ContainerRuntime, ContainerUsage};

/// How often usage is sampled and reported (metrics-server's default resolution is 15 s).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Kernel clock ticks per second in `/proc/stat` (USER_HZ, 100 on every Linux ABI).
const USER_HZ: u64 = 100;

/// One sample of everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub at_ms: u64,
    /// Busy CPU time of the whole node since boot, in ns.
    pub node_cpu_ns: u64,
    pub node_memory_bytes: u64,
    pub containers: Vec<ContainerUsage>,
}

/// How long one reading of `/proc` serves every agent of the process.
const HOST_READING_TTL: Duration = Duration::from_secs(1);

/// Busy CPU ns and used memory bytes of the host, from `/proc` (blocks).
///
/// Design: one reading per [`HOST_READING_TTL`] for the whole process. A device runs one
/// agent, which samples every 10 s and never sees the cache; the simulator runs thousands of
/// agents in one process on one host, and reading `/proc/stat` for each was a visible share
/// of its CPU (two reads per node every 10 s).
fn host_usage() -> (Option<u64>, Option<u64>) {
    type Reading = (std::time::Instant, Option<u64>, Option<u64>);
    static LAST: std::sync::Mutex<Option<Reading>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, cpu, mem)) = *last {
        if at.elapsed() < HOST_READING_TTL {
            return (cpu, mem);
        }
    }
    let cpu = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| parse_proc_stat(&t));
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo(&t));
    *last = Some((std::time::Instant::now(), cpu, mem));
    (cpu, mem)
}

/// The report for the window from `prev` to `cur`; `None` when the window is empty.
pub fn report(node: &str, prev: &Sample, cur: &Sample) -> Option<MetricsReport> {
    let window_ms = cur.at_ms.checked_sub(prev.at_ms).filter(|w| *w > 0)?;
    // ns used per ms of wall time, times 1000 = ns per s = nanocores.
    let rate = |now: u64, before: u64| now.saturating_sub(before).saturating_mul(1000) / window_ms;
    let mut pods: Vec<PodMetricsReport> = Vec::new();
    for c in &cur.containers {
        let before = prev
            .containers
            .iter()
            .find(|p| p.uid == c.uid && p.container == c.container)
            .map(|p| p.cpu_total_ns)
            // New (or restarted, the counter went back) in this window: its whole counter.
            .filter(|b| *b <= c.cpu_total_ns)
            .unwrap_or(0);
        let metrics = ContainerMetricsReport {
            name: c.container.clone(),
            cpu_nanocores: rate(c.cpu_total_ns, before),
            memory_bytes: c.memory_bytes,
        };
        match pods.iter_mut().find(|p| p.uid == c.uid) {
            Some(p) => p.containers.push(metrics),
            None => pods.push(PodMetricsReport {
                namespace: c.namespace.clone(),
                name: c.pod.clone(),
                uid: c.uid.clone(),
                containers: vec![metrics],
            }),
        }
    }
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Some(MetricsReport {
        node_name: node.to_string(),
        observed_at_ms: cur.at_ms,
        window_ms,
        cpu_nanocores: rate(cur.node_cpu_ns, prev.node_cpu_ns),
        memory_bytes: cur.node_memory_bytes,
        pods,
    })
}

/// Busy CPU ns from the first line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Some(
        total
            .saturating_sub(idle)
            .saturating_mul(1_000_000_000 / USER_HZ),
    )
}

/// Memory in use (MemTotal - MemAvailable) from `/proc/meminfo`, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    };
    Some(field("MemTotal:")?.saturating_sub(field("MemAvailable:")?) * 1024)
}

/// A report ready to publish.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct PublishMetrics(pub MetricsReport);

/// Samples usage and hands reports to the StatusReporter.
pub struct UsageSampler {
    pub node: String,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub reporter: Recipient<PublishMetrics>,
    prev: Option<Sample>,
    sampling: bool,
    shutdown: CancellationToken,
}

impl UsageSampler {
    /// A sampler for `node`; stops when `shutdown` fires.
    pub fn new(
        node: String,
        runtime: Arc<dyn ContainerRuntime>,
        reporter: Recipient<PublishMetrics>,
        shutdown: CancellationToken,
    ) -> Self {
        UsageSampler {
            node,
            runtime,
            reporter,
            prev: None,
            sampling: false,
            shutdown,
        }
    }

    fn sample(&mut self, ctx: &mut Context<Self>) {
        if self.sampling {
            return;
        }
        self.sampling = true;
        let runtime = self.runtime.clone();
        ctx.spawn(
            async move {
                let containers = runtime.container_usage().await;
                let (cpu, mem) = tokio::task::spawn_blocking(host_usage)
                    .await
                    .unwrap_or((None, None));
                (containers, cpu, mem)
            }
            .into_actor(self)
            .map(|(containers, cpu, mem), act, _ctx| {
                act.sampling = false;
                let containers = match containers {
                    Ok(c) => c,
                    Err(e) => {
                        debug!(error = %error_chain(&e), "cannot read container usage");
                        Vec::new()
                    }
                };
                let cur = Sample {
                    at_ms: now_ms(),
                    node_cpu_ns: cpu.unwrap_or(0),
                    node_memory_bytes: mem.unwrap_or(0),
                    containers,
                };
                if let Some(r) = act
                    .prev
                    .as_ref()
                    .and_then(|prev| report(&act.node, prev, &cur))
                {
                    let _ = act.reporter.try_send(PublishMetrics(r));
                }
                act.prev = Some(cur);
            }),
        );
    }
}

impl Actor for UsageSampler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.sample(ctx);
        ctx.run_interval(SAMPLE_EVERY, |act, ctx| act.sample(ctx));
        let shutdown = self.shutdown.clone();
        ctx.spawn(
            async move { shutdown.cancelled().await }
                .into_actor(self)
                .map(|(), _act, ctx| ctx.stop()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(uid: &str, c: &str, cpu: u64, mem: u64) -> ContainerUsage {
        ContainerUsage {
            uid: uid.into(),
            namespace: "default".into(),
            pod: format!("pod-{uid}"),
            container: c.into(),
            cpu_total_ns: cpu,
            memory_bytes: mem,
        }
    }

    #[test]
    fn rates_over_the_window() {
        let prev = Sample {
            at_ms: 10_000,
            node_cpu_ns: 1_000_000_000,
            node_memory_bytes: 5,
            containers: vec![usage("a", "web", 100_000_000, 1), usage("b", "x", 900, 1)],
        };
        let cur = Sample {
            at_ms: 20_000,
            node_cpu_ns: 6_000_000_000,
            node_memory_bytes: 7,
            containers: vec![
                usage("a", "web", 600_000_000, 4096),
                usage("a", "side", 10_000_000, 8),
                usage("b", "x", 100, 2), // restarted: counter went back
            ],
        };
        let r = report("n1", &prev, &cur).expect("report");
        assert_eq!(r.window_ms, 10_000);
        assert_eq!(
            r.cpu_nanocores, 500_000_000,
            "5 s busy in 10 s = half a core"
        );
        assert_eq!(r.memory_bytes, 7);
        assert_eq!(r.pods.len(), 2);
        let a = &r.pods[0];
        assert_eq!(a.uid, "a");
        assert_eq!(a.containers[0].cpu_nanocores, 50_000_000, "0.5 s in 10 s");
        assert_eq!(a.containers[0].memory_bytes, 4096);
        assert_eq!(
            a.containers[1].cpu_nanocores, 1_000_000,
            "new container: its whole counter"
        );
        assert_eq!(r.pods[1].containers[0].cpu_nanocores, 10);
        assert!(report("n1", &cur, &cur).is_none(), "an empty window");
    }

    #[test]
    fn proc_files() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n";
        assert_eq!(parse_proc_stat(stat), Some(150 * 10_000_000));
        assert_eq!(parse_proc_stat("garbage"), None);
        let mem = "MemTotal:       1000 kB\nMemFree:  1 kB\nMemAvailable:    400 kB\n";
        assert_eq!(parse_meminfo(mem), Some(600 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
        // The real files parse on this machine.
        let real = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
        assert!(parse_proc_stat(&real).is_some_and(|v| v > 0));
        let real = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
        assert!(parse_meminfo(&real).is_some_and(|v| v > 0));
    }
}
