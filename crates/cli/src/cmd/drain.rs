//! `shoalctl drain NODE [--ignore-daemonsets] [--force] [--delete-emptydir-data]
//! [--timeout D]`: cordon the node, then evict its pods as kubectl does.
//!
//! [`plan`] applies kubectl's filters to the node's pods (pure): finished pods go without
//! question; DaemonSet pods are refused unless `--ignore-daemonsets`, and then left alone
//! (their controller would put them right back, and on an edge fleet they are the device's
//! own agents); pods without a controller are refused unless `--force` (nothing would
//! recreate them); pods with `emptyDir` data are refused unless `--delete-emptydir-data`.
//! Anything refused stops the drain before a pod is touched. Pods are evicted through
//! `pods/{name}/eviction` when the hub serves it, else deleted; then the command waits until
//! they are gone.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::cordon::set_unschedulable;
use super::{parse_duration, CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::fields::{arr, s};

#[derive(Debug, clap::Args)]
pub struct Drain {
    /// The node to drain.
    #[arg(value_name = "NODE")]
    node: String,
    /// Leave DaemonSet-managed pods in place instead of refusing to drain.
    #[arg(long)]
    ignore_daemonsets: bool,
    /// Also delete pods that no controller manages (they are gone for good).
    #[arg(long)]
    force: bool,
    /// Also delete pods with emptyDir volumes (their data is lost).
    #[arg(long)]
    delete_emptydir_data: bool,
    /// How long to wait for the pods to go: 30s, 5m; 0 waits forever.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    timeout: Duration,
}

/// Options of [`plan`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub ignore_daemonsets: bool,
    pub force: bool,
    pub delete_emptydir_data: bool,
}

/// What a drain will do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// `(namespace, name)` to evict.
    pub evict: Vec<(String, String)>,
    /// Warnings to print first.
    pub warnings: Vec<String>,
}

/// kubectl's drain filters over the node's pods (pure). `Err` lists every refusal.
pub fn plan(pods: &[Value], o: Options) -> Result<Plan, String> {
    let mut p = Plan::default();
    let mut ds_pods = Vec::new();
    let mut unmanaged = Vec::new();
    let mut local = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for pod in pods {
        let id = format!(
            "{}/{}",
            s(pod, "/metadata/namespace"),
            s(pod, "/metadata/name")
        );
        if pod
            .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
            .is_some()
        {
            continue;
        }
        let finished = matches!(s(pod, "/status/phase"), "Succeeded" | "Failed");
        let controller = arr(pod, "/metadata/ownerReferences")
            .iter()
            .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
        if !finished {
            if controller.is_some_and(|c| s(c, "/kind") == "DaemonSet") {
                ds_pods.push(id);
                continue;
            }
            if controller.is_none() {
                unmanaged.push(id.clone());
            }
            if arr(pod, "/spec/volumes")
                .iter()
                .any(|v| v.get("emptyDir").is_some())
            {
                local.push(id.clone());
            }
        }
        p.evict.push((
            s(pod, "/metadata/namespace").to_string(),
            s(pod, "/metadata/name").to_string(),
        ));
    }
    if !ds_pods.is_empty() {
        if o.ignore_daemonsets {
            p.warnings.push(format!(
                "Warning: ignoring DaemonSet-managed Pods: {}",
                ds_pods.join(", ")
            ));
        } else {
            refused.push(format!(
                "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): {}",
                ds_pods.join(", ")
            ));
        }
    }
    if !unmanaged.is_empty() {
        if o.force {
            p.warnings.push(format!(
                "Warning: deleting Pods that declare no controller: {}",
                unmanaged.join(", ")
            ));
        } else {
            refused.push(format!(
                "cannot delete Pods that declare no controller (use --force to override): {}",
                unmanaged.join(", ")
            ));
        }
    }
    if !local.is_empty() && !o.delete_emptydir_data {
        refused.push(format!(
            "cannot delete Pods with local storage (use --delete-emptydir-data to override): {}",
            local.join(", ")
        ));
    }
    if refused.is_empty() {
        Ok(p)
    } else {
        Err(refused.join("; "))
    }
}

impl Drain {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let sess = Session::connect(g)?;
        writeln!(out, "{}", set_unschedulable(&sess, &self.node, true)?)?;
        let q = client::query(&[("fieldSelector", &format!("spec.nodeName={}", self.node))]);
        let list = sess.client.get(&format!("/api/v1/pods{q}"), client::JSON)?;
        let pods = arr(&list, "/items");
        let opts = Options {
            ignore_daemonsets: self.ignore_daemonsets,
            force: self.force,
            delete_emptydir_data: self.delete_emptydir_data,
        };
        let p = plan(pods, opts).map_err(|e| {
            CmdError::Usage(format!(
                "unable to drain node \"{}\" (it stays cordoned): {e}",
                self.node
            ))
        })?;
        for w in &p.warnings {
            eprintln!("{w}");
        }
        let eviction = serves_eviction(&sess)?;
        let mut uids = Vec::new();
        for (ns, name) in &p.evict {
            let item = format!(
                "/api/v1/namespaces/{}/pods/{}",
                client::encode(ns),
                client::encode(name)
            );
            let uid = pods
                .iter()
                .find(|x| s(x, "/metadata/namespace") == ns && s(x, "/metadata/name") == name)
                .map(|x| s(x, "/metadata/uid").to_string())
                .unwrap_or_default();
            writeln!(out, "evicting pod {ns}/{name}")?;
            let result = if eviction {
                sess.client.post(
                    &format!("{item}/eviction"),
                    &json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}}),
                )
            } else {
                sess.client.delete(&item)
            };
            match result {
                Ok(_) => uids.push((item, uid, name.clone())),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let deadline = (!self.timeout.is_zero()).then(|| Instant::now() + self.timeout);
        for (item, uid, name) in uids {
            loop {
                match sess.client.get(&item, client::JSON) {
                    Err(e) if e.is_not_found() => break,
                    Ok(v) if s(&v, "/metadata/uid") != uid => break,
                    Ok(_) => {}
                    Err(e) => return Err(e.into()),
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(CmdError::Usage(format!(
                        "drain did not complete within {}s: pod {name} is still there",
                        self.timeout.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            writeln!(out, "pod/{name} evicted")?;
        }
        writeln!(out, "node/{} drained", self.node)?;
        Ok(Outcome::Done)
    }
}

/// Whether `/api/v1` lists the `pods/eviction` subresource.
fn serves_eviction(s: &Session) -> Result<bool, CmdError> {
    let v = s.client.get("/api/v1", client::JSON)?;
    Ok(arr(&v, "/resources")
        .iter()
        .any(|r| crate::fields::s(r, "/name") == "pods/eviction"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, owner: Option<&str>, phase: &str, empty_dir: bool) -> Value {
        let mut p = json!({"metadata": {"namespace": "default", "name": name}, "status": {"phase": phase}, "spec": {}});
        if let Some(kind) = owner {
            p["metadata"]["ownerReferences"] =
                json!([{"kind": kind, "name": "o", "controller": true}]);
        }
        if empty_dir {
            p["spec"]["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
        }
        p
    }

    #[test]
    fn daemonset_pods_are_refused_or_left_alone() {
        let pods = [
            pod("web-1", Some("ReplicaSet"), "Running", false),
            pod("col-1", Some("DaemonSet"), "Running", false),
        ];
        let e = plan(&pods, Options::default()).expect_err("refused");
        assert_eq!(e, "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/col-1");
        let p = plan(
            &pods,
            Options {
                ignore_daemonsets: true,
                ..Default::default()
            },
        )
        .expect("plan");
        assert_eq!(p.evict, [("default".to_string(), "web-1".to_string())]);
        assert_eq!(
            p.warnings,
            ["Warning: ignoring DaemonSet-managed Pods: default/col-1"]
        );
    }

    #[test]
    fn unmanaged_and_local_storage_pods_need_flags() {
        let pods = [
            pod("bare", None, "Running", false),
            pod("scratch", Some("ReplicaSet"), "Running", true),
            pod("done", None, "Succeeded", true),
        ];
        let e = plan(&pods, Options::default()).expect_err("refused");
        assert!(
            e.contains("declare no controller (use --force to override): default/bare"),
            "{e}"
        );
        assert!(
            e.contains("local storage (use --delete-emptydir-data to override): default/scratch"),
            "{e}"
        );
        let p = plan(
            &pods,
            Options {
                force: true,
                delete_emptydir_data: true,
                ..Default::default()
            },
        )
        .expect("plan");
        assert_eq!(p.evict.len(), 3, "finished pods go without a flag");
    }
}
