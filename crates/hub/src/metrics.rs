//! The hub's view of resource usage (the metrics-server role): the latest [`MetricsReport`]
//! of every node, kept in memory only. Usage changes with every sample, so writing it into
//! the store would create a revision per node every few seconds for nothing: the API serves
//! it from here as `metrics.k8s.io/v1beta1` (what `kubectl top` reads).
//!
//! Bounded: one report per node (a node's new report replaces its old one, pods included),
//! and reports older than [`STALE_AFTER`] are neither served nor kept.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use shoal_transport::status::{now_ms, MetricsReport, PodMetricsReport};

/// A report this old no longer describes the node (metrics-server drops them too).
pub const STALE_AFTER: Duration = Duration::from_secs(5 * 60);

/// Shared, cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    inner: Arc<RwLock<Reports>>,
}

/// How often [`Metrics::record`] drops stale reports.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Reports {
    reports: HashMap<String, MetricsReport>,
    pruned_at_ms: u64,
}

impl Metrics {
    /// Takes a node's report, unless an equally new or newer one is already there.
    ///
    /// Stale reports are dropped at most once per [`PRUNE_EVERY`] (readers skip them anyway):
    /// pruning on every report was a full pass over the fleet per message, the status
    /// ingest's largest cost at 10,000 nodes.
    pub fn record(&self, report: MetricsReport) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        if now.saturating_sub(inner.pruned_at_ms) >= PRUNE_EVERY.as_millis() as u64 {
            let cutoff = now.saturating_sub(STALE_AFTER.as_millis() as u64);
            inner.reports.retain(|_, r| r.observed_at_ms >= cutoff);
            inner.pruned_at_ms = now;
        }
        let map = &mut inner.reports;
        match map.get(&report.node_name) {
            Some(old) if old.observed_at_ms >= report.observed_at_ms => {}
            _ => {
                map.insert(report.node_name.clone(), report);
            }
        }
    }

    /// Forgets a node (it was deleted).
    pub fn forget(&self, node: &str) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .reports
            .remove(node);
    }

    /// Fresh node reports, sorted by node name.
    pub fn nodes(&self) -> Vec<MetricsReport> {
        let cutoff = now_ms().saturating_sub(STALE_AFTER.as_millis() as u64);
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<MetricsReport> = inner
            .reports
            .values()
            .filter(|r| r.observed_at_ms >= cutoff)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.node_name.cmp(&b.node_name));
        out
    }

    /// Fresh pod reports as (node report time, window, pod), filtered by namespace when given,
    /// sorted by namespace and name.
    pub fn pods(&self, namespace: Option<&str>) -> Vec<(u64, u64, PodMetricsReport)> {
        let mut out: Vec<(u64, u64, PodMetricsReport)> = self
            .nodes()
            .into_iter()
            .flat_map(|n| {
                let (at, window) = (n.observed_at_ms, n.window_ms);
                n.pods.into_iter().map(move |p| (at, window, p))
            })
            .filter(|(_, _, p)| namespace.is_none_or(|ns| p.namespace == ns))
            .collect();
        out.sort_by(|a, b| (&a.2.namespace, &a.2.name).cmp(&(&b.2.namespace, &b.2.name)));
        out
    }
}

/// Kubernetes CPU quantity from nanocores, as metrics-server prints it ("12345n" becomes
/// "13m" for readability; kubectl converts either).
pub fn cpu_quantity(nanocores: u64) -> String {
    if nanocores == 0 {
        "0".to_string()
    } else {
        format!("{}n", nanocores)
    }
}

/// Kubernetes memory quantity from bytes, in Ki like metrics-server.
pub fn memory_quantity(bytes: u64) -> String {
    format!("{}Ki", bytes.div_ceil(1024))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_transport::status::ContainerMetricsReport;

    fn report(node: &str, at: u64, pods: &[(&str, &str)]) -> MetricsReport {
        MetricsReport {
            node_name: node.into(),
            observed_at_ms: at,
            window_ms: 15_000,
            cpu_nanocores: 5,
            memory_bytes: 2048,
            pods: pods
                .iter()
                .map(|(ns, name)| PodMetricsReport {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    uid: format!("{ns}-{name}"),
                    containers: vec![ContainerMetricsReport {
                        name: "c".into(),
                        cpu_nanocores: 1,
                        memory_bytes: 1,
                    }],
                })
                .collect(),
        }
    }

    #[test]
    fn newest_report_per_node_wins_and_replaces_its_pods() {
        let m = Metrics::default();
        let now = now_ms();
        m.record(report("a", now, &[("default", "x"), ("kube-system", "y")]));
        m.record(report("b", now, &[("default", "z")]));
        m.record(report("a", now - 1, &[("default", "old")]));
        assert_eq!(m.nodes().len(), 2);
        let names: Vec<String> = m
            .pods(Some("default"))
            .into_iter()
            .map(|p| p.2.name)
            .collect();
        assert_eq!(names, vec!["x", "z"]);
        m.record(report("a", now + 1, &[]));
        assert_eq!(m.pods(None).len(), 1, "a's pods went with its newer report");
        m.record(report(
            "old",
            now - STALE_AFTER.as_millis() as u64 - 1,
            &[("default", "s")],
        ));
        assert!(
            m.nodes().iter().all(|n| n.node_name != "old"),
            "stale reports are not served"
        );
        m.forget("b");
        assert!(m.pods(None).is_empty());
    }

    #[test]
    fn quantities() {
        assert_eq!(cpu_quantity(0), "0");
        assert_eq!(cpu_quantity(250_000_000), "250000000n");
        assert_eq!(memory_quantity(1), "1Ki");
        assert_eq!(memory_quantity(4096), "4Ki");
    }
}
