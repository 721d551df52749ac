//! `shoalctl top nodes|pods`: CPU and memory use, in kubectl's columns.
//!
//! Usage comes from the standard `metrics.k8s.io/v1beta1` API when the hub serves it, else
//! from `status.usage` (`{"cpu": "250m", "memory": "64Mi"}`) on the Node and Pod objects,
//! where the hub folds what agents report. Percentages are of the node's `allocatable`.

use std::io::Write;

use serde_json::Value;

use super::{CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::fields::{arr, s};
use crate::output::Table;

#[derive(Debug, clap::Args)]
pub struct Top {
    #[command(subcommand)]
    what: TopWhat,
}

#[derive(Debug, clap::Subcommand)]
enum TopWhat {
    /// CPU and memory of each node.
    #[command(alias = "node", alias = "no")]
    Nodes {
        /// Label selector.
        #[arg(short = 'l', long)]
        selector: Option<String>,
    },
    /// CPU and memory of each pod.
    #[command(alias = "pod", alias = "po")]
    Pods {
        /// Label selector.
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// Pods of every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
}

/// A CPU quantity in millicores (`250m`, `2`, `1500000n`, `10u`), pure.
pub fn millicores(q: &str) -> Option<u64> {
    let q = q.trim();
    let (num, unit) = split_unit(q);
    let n: f64 = num.parse().ok()?;
    let m = match unit {
        "" => n * 1000.0,
        "m" => n,
        "u" => n / 1000.0,
        "n" => n / 1_000_000.0,
        _ => return None,
    };
    Some(m.round() as u64)
}

/// A memory quantity in bytes (`64Mi`, `1Gi`, `1000k`, `123`), pure.
pub fn bytes(q: &str) -> Option<u64> {
    let (num, unit) = split_unit(q.trim());
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return None,
    };
    Some((n * mult).round() as u64)
}

fn split_unit(q: &str) -> (&str, &str) {
    let i = q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len());
    q.split_at(i)
}

/// `(cpu, memory)` use of an object: from its metrics object or `status.usage`.
fn usage(v: &Value) -> Option<(u64, u64)> {
    let u = v.get("usage").or_else(|| v.pointer("/status/usage"))?;
    Some((millicores(s(u, "/cpu"))?, bytes(s(u, "/memory"))?))
}

fn pct(used: u64, total: Option<u64>) -> String {
    match total {
        Some(t) if t > 0 => format!("{}%", used * 100 / t),
        _ => "<unknown>".into(),
    }
}

/// The node rows: NAME CPU(cores) CPU% MEMORY(bytes) MEMORY% (pure). `metrics` are the
/// `NodeMetrics` items when the hub serves them.
pub fn node_rows(nodes: &[Value], metrics: &[Value]) -> Vec<Vec<String>> {
    nodes
        .iter()
        .map(|n| {
            let name = s(n, "/metadata/name");
            let u = metrics
                .iter()
                .find(|m| s(m, "/metadata/name") == name)
                .and_then(usage)
                .or_else(|| usage(n));
            let cap_cpu = millicores(s(n, "/status/allocatable/cpu"));
            let cap_mem = bytes(s(n, "/status/allocatable/memory"));
            match u {
                Some((c, m)) => vec![
                    name.into(),
                    format!("{c}m"),
                    pct(c, cap_cpu),
                    format!("{}Mi", m / (1024 * 1024)),
                    pct(m, cap_mem),
                ],
                None => vec![
                    name.into(),
                    "<unknown>".into(),
                    "<unknown>".into(),
                    "<unknown>".into(),
                    "<unknown>".into(),
                ],
            }
        })
        .collect()
}

/// The pod rows: [NAMESPACE] NAME CPU(cores) MEMORY(bytes) (pure); a pod's use is its own
/// `status.usage`, or the sum of its containers' in its `PodMetrics`.
pub fn pod_rows(pods: &[Value], metrics: &[Value], with_ns: bool) -> Vec<Vec<String>> {
    pods.iter()
        .map(|p| {
            let (ns, name) = (s(p, "/metadata/namespace"), s(p, "/metadata/name"));
            let from_metrics = metrics
                .iter()
                .find(|m| s(m, "/metadata/name") == name && s(m, "/metadata/namespace") == ns)
                .and_then(|m| {
                    arr(m, "/containers")
                        .iter()
                        .try_fold((0, 0), |(c, mm), ctr| {
                            usage(ctr).map(|(a, b)| (c + a, mm + b))
                        })
                });
            let mut row = Vec::new();
            if with_ns {
                row.push(ns.to_string());
            }
            row.push(name.to_string());
            match from_metrics.or_else(|| usage(p)) {
                Some((c, m)) => row.extend([format!("{c}m"), format!("{}Mi", m / (1024 * 1024))]),
                None => row.extend(["<unknown>".to_string(), "<unknown>".to_string()]),
            }
            row
        })
        .collect()
}

impl Top {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let sess = Session::connect(g)?;
        let metrics = |path: &str| -> Result<Vec<Value>, CmdError> {
            match sess.client.get(path, client::JSON) {
                Ok(v) => Ok(arr(&v, "/items").to_vec()),
                Err(e) if e.is_not_found() || e.reason() == Some("MethodNotAllowed") => {
                    Ok(Vec::new())
                }
                Err(e) => Err(e.into()),
            }
        };
        let (headers, rows): (Vec<&str>, Vec<Vec<String>>) = match &self.what {
            TopWhat::Nodes { selector } => {
                let q =
                    client::query(&[("labelSelector", selector.as_deref().unwrap_or_default())]);
                let nodes = sess
                    .client
                    .get(&format!("/api/v1/nodes{q}"), client::JSON)?;
                let m = metrics(&format!("/apis/metrics.k8s.io/v1beta1/nodes{q}"))?;
                (
                    vec!["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
                    node_rows(arr(&nodes, "/items"), &m),
                )
            }
            TopWhat::Pods {
                selector,
                all_namespaces,
            } => {
                let q =
                    client::query(&[("labelSelector", selector.as_deref().unwrap_or_default())]);
                let (pods_path, m_path) = if *all_namespaces {
                    (
                        format!("/api/v1/pods{q}"),
                        format!("/apis/metrics.k8s.io/v1beta1/pods{q}"),
                    )
                } else {
                    let ns = client::encode(&sess.conn.namespace);
                    (
                        format!("/api/v1/namespaces/{ns}/pods{q}"),
                        format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods{q}"),
                    )
                };
                let pods = sess.client.get(&pods_path, client::JSON)?;
                let m = metrics(&m_path)?;
                let mut h = vec!["NAME", "CPU(cores)", "MEMORY(bytes)"];
                if *all_namespaces {
                    h.insert(0, "NAMESPACE");
                }
                (h, pod_rows(arr(&pods, "/items"), &m, *all_namespaces))
            }
        };
        if rows.is_empty() {
            eprintln!("No resources found");
            return Ok(Outcome::Done);
        }
        let t = Table {
            headers: headers.into_iter().map(String::from).collect(),
            rows,
        };
        out.write_all(t.render(true).as_bytes())?;
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_parse() {
        assert_eq!(millicores("250m"), Some(250));
        assert_eq!(millicores("2"), Some(2000));
        assert_eq!(millicores("1500000n"), Some(2));
        assert_eq!(millicores("x"), None);
        assert_eq!(bytes("64Mi"), Some(64 * 1024 * 1024));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("12"), Some(12));
    }

    #[test]
    fn rows_use_status_usage_and_allocatable() {
        let n = json!({"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "4", "memory": "1Gi"}, "usage": {"cpu": "1", "memory": "256Mi"}}});
        assert_eq!(
            node_rows(&[n], &[]),
            [["n1", "1000m", "25%", "256Mi", "25%"]]
        );
        let bare = json!({"metadata": {"name": "n2"}, "status": {}});
        assert_eq!(node_rows(&[bare], &[])[0][1], "<unknown>");
        let p = json!({"metadata": {"namespace": "d", "name": "web"}});
        let m = json!({"metadata": {"namespace": "d", "name": "web"}, "containers": [{"usage": {"cpu": "100m", "memory": "10Mi"}}, {"usage": {"cpu": "50m", "memory": "6Mi"}}]});
        assert_eq!(pod_rows(&[p], &[m], true), [["d", "web", "150m", "16Mi"]]);
    }
}
