//! `shoalctl fleet [--by LABEL]`: the fleet at a glance. Nodes are grouped by the value of a
//! label (all together without `--by`) and counted as online (Ready), offline (Ready Unknown:
//! the node's MQTT last will fired or its heartbeats stopped), NotReady (Ready False) and
//! cordoned, with the agent versions and runtimes seen in the group; then every DaemonSet
//! with its rollout across the fleet (desired / updated / available / unavailable, and
//! whether it is rolled out, rolling, or waiting for its spec to be observed).
//!
//! [`groups`] and [`daemonset_row`] are pure; the shell lists nodes and DaemonSets once.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::Value;

use super::rollout::status::{progress, Progress};
use super::rollout::Workload;
use super::{CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::fields::{arr, condition, i, s};
use crate::output::Table;

/// The annotation where the hub records the runtimes a node's agent offers.
pub const RUNTIMES: &str = "node.shoal.io/runtimes";

#[derive(Debug, clap::Args)]
pub struct Fleet {
    /// Group nodes by this label's value (e.g. room, site, kubernetes.io/arch).
    #[arg(long, value_name = "LABEL")]
    by: Option<String>,
    /// Only nodes matching this label selector.
    #[arg(short = 'l', long)]
    selector: Option<String>,
}

/// One group of nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub nodes: usize,
    pub online: usize,
    pub offline: usize,
    pub not_ready: usize,
    pub cordoned: usize,
    /// Agent versions with their node counts, e.g. `v1.33.0-shoal.0.1.0 (3)`.
    pub versions: BTreeMap<String, usize>,
    pub runtimes: BTreeMap<String, usize>,
}

/// Groups nodes by the value of `by` (pure). Nodes without the label are in `<none>`.
pub fn groups(nodes: &[Value], by: Option<&str>) -> Vec<Group> {
    let mut out: BTreeMap<String, Group> = BTreeMap::new();
    for n in nodes {
        let key = match by {
            Some(label) => n
                .pointer("/metadata/labels")
                .and_then(|l| l.get(label))
                .and_then(Value::as_str)
                .unwrap_or("<none>")
                .to_string(),
            None => "<all>".to_string(),
        };
        let g = out.entry(key.clone()).or_insert_with(|| Group {
            name: key,
            ..Default::default()
        });
        g.nodes += 1;
        match condition(n, "Ready").map(|c| s(c, "/status")) {
            Some("True") => g.online += 1,
            Some("False") => g.not_ready += 1,
            _ => g.offline += 1,
        }
        if n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
            g.cordoned += 1;
        }
        let v = s(n, "/status/nodeInfo/kubeletVersion");
        *g.versions
            .entry(if v.is_empty() {
                "<unknown>".into()
            } else {
                v.into()
            })
            .or_default() += 1;
        let rts = n
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(RUNTIMES))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let rts: Vec<&str> = rts
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .collect();
        if rts.is_empty() {
            let crv = s(n, "/status/nodeInfo/containerRuntimeVersion");
            *g.runtimes
                .entry(if crv.is_empty() {
                    "<unknown>".into()
                } else {
                    crv.into()
                })
                .or_default() += 1;
        }
        for r in rts {
            *g.runtimes.entry(r.to_string()).or_default() += 1;
        }
    }
    out.into_values().collect()
}

fn counted(m: &BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, n)| format!("{k}({n})"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One DaemonSet's row: NAMESPACE NAME DESIRED UPDATED AVAILABLE UNAVAILABLE STRATEGY ROLLOUT.
pub fn daemonset_row(ds: &Value) -> Vec<String> {
    let strategy = match s(ds, "/spec/updateStrategy/type") {
        "" => "RollingUpdate",
        x => x,
    };
    let desired = i(ds, "/status/desiredNumberScheduled");
    let updated = i(ds, "/status/updatedNumberScheduled");
    let state = if strategy == "OnDelete" {
        if updated < desired {
            format!(
                "OnDelete: {} nodes wait for their pod to be deleted",
                desired - updated
            )
        } else {
            "up to date".into()
        }
    } else {
        match progress(Workload::DaemonSet, ds).0 {
            Progress::Done(_) => "rolled out".into(),
            Progress::Failed(m) => m,
            Progress::Waiting(_)
                if i(ds, "/metadata/generation") > i(ds, "/status/observedGeneration") =>
            {
                "waiting for the controller".into()
            }
            Progress::Waiting(_) if updated < desired => {
                format!("rolling: {updated}/{desired} updated")
            }
            Progress::Waiting(_) => format!(
                "rolling: {}/{desired} available",
                i(ds, "/status/numberAvailable")
            ),
        }
    };
    vec![
        s(ds, "/metadata/namespace").into(),
        s(ds, "/metadata/name").into(),
        desired.to_string(),
        updated.to_string(),
        i(ds, "/status/numberAvailable").to_string(),
        i(ds, "/status/numberUnavailable").to_string(),
        strategy.into(),
        state,
    ]
}

impl Fleet {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let sess = Session::connect(g)?;
        let q = client::query(&[(
            "labelSelector",
            self.selector.as_deref().unwrap_or_default(),
        )]);
        let nodes = sess
            .client
            .get(&format!("/api/v1/nodes{q}"), client::JSON)?;
        let gs = groups(arr(&nodes, "/items"), self.by.as_deref());
        let first = self
            .by
            .as_deref()
            .map(str::to_uppercase)
            .unwrap_or_else(|| "GROUP".into());
        let t = Table {
            headers: [
                first.as_str(),
                "NODES",
                "ONLINE",
                "OFFLINE",
                "NOTREADY",
                "CORDONED",
                "VERSIONS",
                "RUNTIMES",
            ]
            .map(String::from)
            .to_vec(),
            rows: gs
                .iter()
                .map(|g| {
                    vec![
                        g.name.clone(),
                        g.nodes.to_string(),
                        g.online.to_string(),
                        g.offline.to_string(),
                        g.not_ready.to_string(),
                        g.cordoned.to_string(),
                        counted(&g.versions),
                        counted(&g.runtimes),
                    ]
                })
                .collect(),
        };
        if gs.is_empty() {
            writeln!(out, "No nodes have joined.")?;
        } else {
            out.write_all(t.render(true).as_bytes())?;
        }
        writeln!(out)?;
        let dss = sess.client.get("/apis/apps/v1/daemonsets", client::JSON)?;
        let rows: Vec<Vec<String>> = arr(&dss, "/items").iter().map(daemonset_row).collect();
        if rows.is_empty() {
            writeln!(out, "No DaemonSets.")?;
        } else {
            let t = Table {
                headers: [
                    "NAMESPACE",
                    "DAEMONSET",
                    "DESIRED",
                    "UPDATED",
                    "AVAILABLE",
                    "UNAVAILABLE",
                    "STRATEGY",
                    "ROLLOUT",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            };
            out.write_all(t.render(true).as_bytes())?;
        }
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, room: Option<&str>, ready: &str, version: &str, cordoned: bool) -> Value {
        let mut labels = json!({"kubernetes.io/hostname": name});
        if let Some(r) = room {
            labels["room"] = json!(r);
        }
        json!({"metadata": {"name": name, "labels": labels, "annotations": {RUNTIMES: "podman,process"}},
               "spec": {"unschedulable": cordoned},
               "status": {"nodeInfo": {"kubeletVersion": version}, "conditions": [{"type": "Ready", "status": ready}]}})
    }

    #[test]
    fn nodes_are_counted_per_label_value() {
        let nodes = [
            node("a", Some("kitchen"), "True", "v1", false),
            node("b", Some("kitchen"), "Unknown", "v1", true),
            node("c", Some("garage"), "False", "v2", false),
            node("d", None, "True", "v2", false),
        ];
        let gs = groups(&nodes, Some("room"));
        let names: Vec<&str> = gs.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["<none>", "garage", "kitchen"]);
        let k = &gs[2];
        assert_eq!(
            (k.nodes, k.online, k.offline, k.not_ready, k.cordoned),
            (2, 1, 1, 0, 1)
        );
        assert_eq!(counted(&k.versions), "v1(2)");
        assert_eq!(counted(&k.runtimes), "podman(2),process(2)");
        assert_eq!(gs[1].not_ready, 1);
        let all = groups(&nodes, None);
        assert_eq!(all.len(), 1);
        assert_eq!(counted(&all[0].versions), "v1(2),v2(2)");
    }

    #[test]
    fn daemonset_rows_say_where_the_rollout_is() {
        let ds = |st: Value| json!({"metadata": {"namespace": "edge", "name": "col", "generation": 2}, "spec": {"updateStrategy": {"type": "RollingUpdate"}}, "status": st});
        let row = daemonset_row(&ds(
            json!({"observedGeneration": 2, "desiredNumberScheduled": 10, "updatedNumberScheduled": 4, "numberAvailable": 8, "numberUnavailable": 2}),
        ));
        assert_eq!(
            row,
            [
                "edge",
                "col",
                "10",
                "4",
                "8",
                "2",
                "RollingUpdate",
                "rolling: 4/10 updated"
            ]
        );
        let row = daemonset_row(&ds(
            json!({"observedGeneration": 2, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}),
        ));
        assert_eq!(row[7], "rolled out");
        let row = daemonset_row(&ds(json!({"observedGeneration": 1})));
        assert_eq!(row[7], "waiting for the controller");
    }
}
