//! `shoalctl describe TYPE [NAME...]`, `describe TYPE/NAME`, `describe TYPE -l SELECTOR`: a
//! page per object as a person reads it (kubectl's layout: `Name:`, `Labels:`, the kind's
//! own sections, then the object's `Events:`).
//!
//! The page is rendered by the pure [`page`] from the object and its events; Pods, Nodes,
//! Deployments, DaemonSets, ReplicaSets/RCs, Jobs and Services have sections of their own,
//! other kinds print their `spec` as YAML.

use std::io::Write;

use serde_json::Value;

use super::get::parse_args;
use super::{report, CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::fields::{age, arr, i, now_secs, pairs, s};
use crate::output::Table;

#[derive(Debug, clap::Args)]
pub struct Describe {
    /// TYPE [NAME...], or TYPE/NAME...
    #[arg(required = true, value_name = "TYPE [NAME...]")]
    args: Vec<String>,
    /// Describe the objects of TYPE matching this label selector.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Leave out the events.
    #[arg(long = "show-events", default_value_t = true, action = clap::ArgAction::Set)]
    show_events: bool,
}

impl Describe {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let requests = parse_args(&self.args)
            .map_err(|e| CmdError::Usage(e.replace("to get", "to describe")))?;
        let s = Session::connect(g)?;
        let mut outcome = Outcome::Done;
        let mut first = true;
        for req in &requests {
            let r = s.resolve(&req.typed)?;
            let ns = s.namespace_for(r);
            let objects: Vec<Result<Value, client::ClientError>> = if req.names.is_empty() {
                let q = client::query(&[(
                    "labelSelector",
                    self.selector.as_deref().unwrap_or_default(),
                )]);
                let list = s
                    .client
                    .get(&format!("{}{q}", r.collection_path(ns)), client::JSON)?;
                let items: Vec<Value> = arr(&list, "/items").to_vec();
                if items.is_empty() {
                    eprintln!("No resources found in {} namespace.", s.conn.namespace);
                }
                items.into_iter().map(Ok).collect()
            } else {
                req.names
                    .iter()
                    .map(|n| s.client.get(&r.item_path(ns, n), client::JSON))
                    .collect()
            };
            for o in objects {
                match o {
                    Ok(mut obj) => {
                        if obj.get("kind").is_none() {
                            obj["kind"] = Value::String(r.kind.clone());
                        }
                        let events = if self.show_events {
                            events_about(&s, &obj).unwrap_or_default()
                        } else {
                            Vec::new()
                        };
                        let extra = extra_for(&s, &obj);
                        if !first {
                            writeln!(out)?;
                            writeln!(out)?;
                        }
                        first = false;
                        out.write_all(
                            page(
                                &obj,
                                &extra,
                                self.show_events.then_some(events.as_slice()),
                                now_secs(),
                            )
                            .as_bytes(),
                        )?;
                    }
                    Err(e) => {
                        report(e);
                        outcome = Outcome::Failed;
                    }
                }
            }
        }
        Ok(outcome)
    }
}

/// The events whose `involvedObject` is `obj` (by namespace and name, then kind and uid),
/// oldest first.
pub fn events_about(s: &Session, obj: &Value) -> Result<Vec<Value>, CmdError> {
    let ns = s_or(obj, "/metadata/namespace", "default");
    let name = crate::fields::s(obj, "/metadata/name");
    let q = client::query(&[("fieldSelector", &format!("involvedObject.name={name}"))]);
    let path = format!("/api/v1/namespaces/{}/events{q}", client::encode(ns));
    let list = s.client.get(&path, client::JSON)?;
    let kind = crate::fields::s(obj, "/kind");
    let uid = crate::fields::s(obj, "/metadata/uid");
    let mut events: Vec<Value> = arr(&list, "/items")
        .iter()
        .filter(|e| {
            let k = crate::fields::s(e, "/involvedObject/kind");
            let u = crate::fields::s(e, "/involvedObject/uid");
            (k.is_empty() || k == kind) && (u.is_empty() || uid.is_empty() || u == uid)
        })
        .cloned()
        .collect();
    events.sort_by_key(|e| crate::fields::parse_time(last_seen(e)).unwrap_or(0));
    Ok(events)
}

fn s_or<'a>(v: &'a Value, ptr: &str, dflt: &'a str) -> &'a str {
    match crate::fields::s(v, ptr) {
        "" => dflt,
        x => x,
    }
}

/// When an event was last seen: `lastTimestamp`, else `eventTime`, else `firstTimestamp`.
pub fn last_seen(e: &Value) -> &str {
    [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .map(|p| s(e, p))
    .find(|t| !t.is_empty())
    .unwrap_or_default()
}

/// Who reported an event.
pub fn source_of(e: &Value) -> String {
    let c = s(e, "/source/component");
    let c = if c.is_empty() {
        s(e, "/reportingComponent")
    } else {
        c
    };
    match s(e, "/source/host") {
        "" => c.to_string(),
        h => format!("{c}, {h}"),
    }
}

/// Facts from other objects a page shows: a node's pods, a workload's pods.
#[derive(Debug, Default, Clone)]
pub struct Extra {
    /// `(namespace, name, phase)` of the pods on a node.
    pub pods: Vec<(String, String, String)>,
}

fn extra_for(sess: &Session, obj: &Value) -> Extra {
    let mut extra = Extra::default();
    if s(obj, "/kind") == "Node" {
        let q = client::query(&[(
            "fieldSelector",
            &format!("spec.nodeName={}", s(obj, "/metadata/name")),
        )]);
        if let Ok(list) = sess.client.get(&format!("/api/v1/pods{q}"), client::JSON) {
            for p in arr(&list, "/items") {
                extra.pods.push((
                    s(p, "/metadata/namespace").into(),
                    s(p, "/metadata/name").into(),
                    s(p, "/status/phase").into(),
                ));
            }
        }
    }
    extra
}

/// Lines of `key: value` with values aligned at column 14, as kubectl does.
struct Page {
    text: String,
}

impl Page {
    fn line(&mut self, indent: usize, key: &str, value: impl AsRef<str>) {
        let label = format!("{}{key}:", " ".repeat(indent));
        let value = value.as_ref();
        if value.is_empty() {
            self.text.push_str(&label);
        } else {
            let pad = 14usize.saturating_sub(label.len()).max(2);
            self.text
                .push_str(&format!("{label}{}{value}", " ".repeat(pad)));
        }
        self.text.push('\n');
    }

    /// A map as `k=v` lines, the first beside the key, `<none>` when empty.
    fn map(&mut self, key: &str, items: &[(String, String)]) {
        if items.is_empty() {
            self.line(0, key, "<none>");
            return;
        }
        for (n, (k, v)) in items.iter().enumerate() {
            let kv = format!("{k}={v}");
            if n == 0 {
                self.line(0, key, kv);
            } else {
                self.text.push_str(&format!("{}{kv}\n", " ".repeat(14)));
            }
        }
    }

    fn raw(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn table(&mut self, indent: usize, headers: &[&str], rows: Vec<Vec<String>>) {
        let mut t = Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: vec![headers.iter().map(|h| "-".repeat(h.len())).collect()],
        };
        t.rows.extend(rows);
        for l in t.render(true).lines() {
            self.text.push_str(&format!("{}{l}\n", " ".repeat(indent)));
        }
    }
}

/// The describe page of one object (pure).
pub fn page(obj: &Value, extra: &Extra, events: Option<&[Value]>, now: i64) -> String {
    let mut p = Page {
        text: String::new(),
    };
    let kind = s(obj, "/kind");
    p.line(0, "Name", s(obj, "/metadata/name"));
    if !s(obj, "/metadata/namespace").is_empty() {
        p.line(0, "Namespace", s(obj, "/metadata/namespace"));
    }
    p.map("Labels", &pairs(obj, "/metadata/labels"));
    let annotations: Vec<(String, String)> = pairs(obj, "/metadata/annotations")
        .into_iter()
        .filter(|(k, _)| k != super::apply::LAST_APPLIED)
        .collect();
    p.map("Annotations", &annotations);
    p.line(
        0,
        "CreationTimestamp",
        s(obj, "/metadata/creationTimestamp"),
    );
    if let Some(owner) = arr(obj, "/metadata/ownerReferences")
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
    {
        p.line(
            0,
            "Controlled By",
            format!("{}/{}", s(owner, "/kind"), s(owner, "/name")),
        );
    }
    match kind {
        "Pod" => pod(&mut p, obj),
        "Node" => node(&mut p, obj, extra),
        "Deployment" => deployment(&mut p, obj),
        "DaemonSet" => daemonset(&mut p, obj),
        "ReplicaSet" | "ReplicationController" => replicaset(&mut p, obj),
        "Job" => job(&mut p, obj),
        "Service" => service(&mut p, obj),
        _ => {
            for part in ["spec", "data"] {
                if let Some(v) = obj.get(part) {
                    p.line(0, &capitalized(part), "");
                    for l in crate::output::to_yaml(v).unwrap_or_default().lines() {
                        p.raw(&format!("  {l}\n"));
                    }
                }
            }
        }
    }
    if let Some(events) = events {
        if events.is_empty() {
            p.line(0, "Events", "<none>");
        } else {
            p.line(0, "Events", "");
            let rows = events
                .iter()
                .map(|e| {
                    let count = i(e, "/count");
                    let seen = age(last_seen(e), now);
                    let when = if count > 1 {
                        format!(
                            "{seen} (x{count} over {})",
                            age(s(e, "/firstTimestamp"), now)
                        )
                    } else {
                        seen
                    };
                    vec![
                        s(e, "/type").to_string(),
                        s(e, "/reason").to_string(),
                        when,
                        source_of(e),
                        s(e, "/message").replace('\n', " "),
                    ]
                })
                .collect();
            p.table(2, &["Type", "Reason", "Age", "From", "Message"], rows);
        }
    }
    p.text
}

fn capitalized(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn none(v: &str) -> &str {
    if v.is_empty() {
        "<none>"
    } else {
        v
    }
}

fn selector_text(obj: &Value) -> String {
    let mut parts: Vec<String> = pairs(obj, "/spec/selector/matchLabels")
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if parts.is_empty() {
        parts = pairs(obj, "/spec/selector")
            .into_iter()
            .filter(|(k, _)| k != "matchExpressions")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
    }
    for e in arr(obj, "/spec/selector/matchExpressions") {
        let vals: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
        parts.push(format!(
            "{} {} ({})",
            s(e, "/key"),
            s(e, "/operator").to_lowercase(),
            vals.join(",")
        ));
    }
    none(&parts.join(",")).to_string()
}

fn conditions(p: &mut Page, obj: &Value, with_reason: bool) {
    let conds = arr(obj, "/status/conditions");
    if conds.is_empty() {
        return;
    }
    p.line(0, "Conditions", "");
    let rows = conds
        .iter()
        .map(|c| {
            let mut r = vec![s(c, "/type").to_string(), s(c, "/status").to_string()];
            if with_reason {
                r.push(s(c, "/reason").to_string());
            }
            r
        })
        .collect();
    if with_reason {
        p.table(2, &["Type", "Status", "Reason"], rows);
    } else {
        p.table(2, &["Type", "Status"], rows);
    }
}

fn pod(p: &mut Page, o: &Value) {
    p.line(0, "Node", none(s(o, "/spec/nodeName")));
    p.line(0, "Start Time", none(s(o, "/status/startTime")));
    p.line(0, "Status", none(s(o, "/status/phase")));
    p.line(0, "IP", none(s(o, "/status/podIP")));
    if !s(o, "/spec/runtimeClassName").is_empty() {
        p.line(0, "Runtime Class Name", s(o, "/spec/runtimeClassName"));
    }
    p.line(0, "Containers", "");
    let statuses = arr(o, "/status/containerStatuses");
    for c in arr(o, "/spec/containers") {
        let name = s(c, "/name");
        p.raw(&format!("  {name}:\n"));
        p.line(4, "Image", s(c, "/image"));
        let cmd: Vec<&str> = arr(c, "/command")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if !cmd.is_empty() {
            p.line(4, "Command", cmd.join(" "));
        }
        let ports: Vec<String> = arr(c, "/ports")
            .iter()
            .map(|pt| format!("{}/{}", i(pt, "/containerPort"), none(s(pt, "/protocol"))))
            .collect();
        if !ports.is_empty() {
            p.line(4, "Port", ports.join(", "));
        }
        if let Some(st) = statuses.iter().find(|st| s(st, "/name") == name) {
            let state = st
                .get("state")
                .and_then(Value::as_object)
                .and_then(|m| m.keys().next().cloned())
                .unwrap_or_default();
            p.line(4, "State", capitalized(&state));
            let reason = s(st, &format!("/state/{state}/reason"));
            if !reason.is_empty() {
                p.line(6, "Reason", reason);
            }
            p.line(
                4,
                "Ready",
                st.get("ready")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            );
            p.line(4, "Restart Count", i(st, "/restartCount").to_string());
        }
        let mounts: Vec<String> = arr(c, "/volumeMounts")
            .iter()
            .map(|m| format!("{} from {}", s(m, "/mountPath"), s(m, "/name")))
            .collect();
        if !mounts.is_empty() {
            p.line(4, "Mounts", mounts.join(", "));
        }
    }
    conditions(p, o, false);
    let vols = arr(o, "/spec/volumes");
    if !vols.is_empty() {
        p.line(0, "Volumes", "");
        for v in vols {
            let ty = v
                .as_object()
                .and_then(|m| m.keys().find(|k| *k != "name").cloned())
                .unwrap_or_default();
            p.raw(&format!("  {}: {ty}\n", s(v, "/name")));
        }
    }
}

fn node(p: &mut Page, o: &Value, extra: &Extra) {
    let unschedulable = o
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    p.line(0, "Unschedulable", unschedulable.to_string());
    let taints: Vec<String> = arr(o, "/spec/taints")
        .iter()
        .map(|t| match s(t, "/value") {
            "" => format!("{}:{}", s(t, "/key"), s(t, "/effect")),
            v => format!("{}={v}:{}", s(t, "/key"), s(t, "/effect")),
        })
        .collect();
    p.line(0, "Taints", none(&taints.join(", ")));
    conditions(p, o, true);
    let addrs: Vec<String> = arr(o, "/status/addresses")
        .iter()
        .map(|a| format!("{}: {}", s(a, "/type"), s(a, "/address")))
        .collect();
    p.line(0, "Addresses", none(&addrs.join(", ")));
    p.line(0, "System Info", "");
    for (k, ptr) in [
        ("Kubelet Version", "/status/nodeInfo/kubeletVersion"),
        (
            "Container Runtime",
            "/status/nodeInfo/containerRuntimeVersion",
        ),
        ("OS Image", "/status/nodeInfo/osImage"),
        ("Kernel Version", "/status/nodeInfo/kernelVersion"),
        ("Architecture", "/status/nodeInfo/architecture"),
    ] {
        p.raw(&format!("  {k}: {}\n", none(s(o, ptr))));
    }
    for (title, ptr) in [
        ("Capacity", "/status/capacity"),
        ("Allocatable", "/status/allocatable"),
    ] {
        let items = pairs(o, ptr);
        if !items.is_empty() {
            p.line(0, title, "");
            for (k, v) in items {
                p.raw(&format!("  {k}: {v}\n"));
            }
        }
    }
    p.line(0, "Pods", format!("({} in total)", extra.pods.len()));
    if !extra.pods.is_empty() {
        let rows = extra
            .pods
            .iter()
            .map(|(ns, n, ph)| vec![ns.clone(), n.clone(), ph.clone()])
            .collect();
        p.table(2, &["Namespace", "Name", "Phase"], rows);
    }
}

fn deployment(p: &mut Page, o: &Value) {
    p.line(0, "Selector", selector_text(o));
    let want = o
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    p.line(
        0,
        "Replicas",
        format!(
            "{want} desired | {} updated | {} total | {} available | {} unavailable",
            i(o, "/status/updatedReplicas"),
            i(o, "/status/replicas"),
            i(o, "/status/availableReplicas"),
            i(o, "/status/unavailableReplicas")
        ),
    );
    p.line(0, "StrategyType", none(s(o, "/spec/strategy/type")));
    if s(o, "/spec/strategy/type") == "RollingUpdate" {
        p.line(
            0,
            "RollingUpdateStrategy",
            format!(
                "{} max unavailable, {} max surge",
                scalar(o, "/spec/strategy/rollingUpdate/maxUnavailable"),
                scalar(o, "/spec/strategy/rollingUpdate/maxSurge")
            ),
        );
    }
    if o.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        p.line(0, "Paused", "true");
    }
    template(p, o);
    conditions(p, o, true);
}

fn scalar(o: &Value, ptr: &str) -> String {
    match o.pointer(ptr) {
        Some(Value::String(x)) => x.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => "<unset>".into(),
    }
}

fn template(p: &mut Page, o: &Value) {
    p.line(0, "Pod Template", "");
    let labels: Vec<String> = pairs(o, "/spec/template/metadata/labels")
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    p.line(2, "Labels", none(&labels.join(",")));
    for c in arr(o, "/spec/template/spec/containers") {
        p.raw(&format!("  {}:\n", s(c, "/name")));
        p.line(4, "Image", s(c, "/image"));
    }
}

fn daemonset(p: &mut Page, o: &Value) {
    p.line(0, "Selector", selector_text(o));
    let ns: Vec<String> = pairs(o, "/spec/template/spec/nodeSelector")
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    p.line(0, "Node-Selector", none(&ns.join(",")));
    p.line(
        0,
        "Desired Number of Nodes Scheduled",
        i(o, "/status/desiredNumberScheduled").to_string(),
    );
    p.line(
        0,
        "Current Number of Nodes Scheduled",
        i(o, "/status/currentNumberScheduled").to_string(),
    );
    p.line(
        0,
        "Number of Nodes Scheduled with Up-to-date Pods",
        i(o, "/status/updatedNumberScheduled").to_string(),
    );
    p.line(
        0,
        "Number of Nodes Scheduled with Available Pods",
        i(o, "/status/numberAvailable").to_string(),
    );
    p.line(
        0,
        "Number of Nodes Misscheduled",
        i(o, "/status/numberMisscheduled").to_string(),
    );
    p.line(
        0,
        "Pods Status",
        format!(
            "{} Ready / {} Unavailable",
            i(o, "/status/numberReady"),
            i(o, "/status/numberUnavailable")
        ),
    );
    p.line(
        0,
        "Update Strategy",
        none(s(o, "/spec/updateStrategy/type")),
    );
    template(p, o);
}

fn replicaset(p: &mut Page, o: &Value) {
    p.line(0, "Selector", selector_text(o));
    let want = o
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    p.line(
        0,
        "Replicas",
        format!("{} current / {want} desired", i(o, "/status/replicas")),
    );
    p.line(
        0,
        "Pods Status",
        format!(
            "{} Ready / {} Available",
            i(o, "/status/readyReplicas"),
            i(o, "/status/availableReplicas")
        ),
    );
    template(p, o);
}

fn job(p: &mut Page, o: &Value) {
    p.line(0, "Selector", selector_text(o));
    p.line(0, "Parallelism", scalar(o, "/spec/parallelism"));
    p.line(0, "Completions", scalar(o, "/spec/completions"));
    p.line(0, "Start Time", none(s(o, "/status/startTime")));
    if !s(o, "/status/completionTime").is_empty() {
        p.line(0, "Completed At", s(o, "/status/completionTime"));
    }
    p.line(
        0,
        "Pods Statuses",
        format!(
            "{} Active / {} Succeeded / {} Failed",
            i(o, "/status/active"),
            i(o, "/status/succeeded"),
            i(o, "/status/failed")
        ),
    );
    template(p, o);
    conditions(p, o, true);
}

fn service(p: &mut Page, o: &Value) {
    let sel: Vec<String> = pairs(o, "/spec/selector")
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    p.line(0, "Selector", none(&sel.join(",")));
    p.line(0, "Type", none(s(o, "/spec/type")));
    p.line(0, "IP", none(s(o, "/spec/clusterIP")));
    for port in arr(o, "/spec/ports") {
        p.line(
            0,
            "Port",
            format!(
                "{}  {}/{}",
                none(s(port, "/name")),
                i(port, "/port"),
                none(s(port, "/protocol"))
            ),
        );
        p.line(0, "TargetPort", scalar(port, "/targetPort"));
        if i(port, "/nodePort") > 0 {
            p.line(0, "NodePort", i(port, "/nodePort").to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_page_has_kubectl_sections_and_events() {
        let pod = json!({
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"},
                         "creationTimestamp": "2025-01-01T00:00:00Z",
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "httpd", "image": "busybox", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.2", "containerStatuses": [{"name": "httpd", "ready": true, "restartCount": 2, "state": {"running": {}}}],
                       "conditions": [{"type": "Ready", "status": "True"}]}
        });
        let events = vec![
            json!({"type": "Normal", "reason": "Scheduled", "message": "assigned default/web to n1",
                                 "lastTimestamp": "2025-01-01T00:00:00Z", "source": {"component": "scheduler"}}),
        ];
        let now = crate::fields::parse_time("2025-01-01T00:05:00Z").expect("time");
        let text = page(&pod, &Extra::default(), Some(&events), now);
        assert!(
            text.starts_with("Name:         web\nNamespace:    default\n"),
            "{text}"
        );
        assert!(
            text.contains("Labels:       app=web\n              tier=front\n"),
            "{text}"
        );
        assert!(text.contains("Annotations:  <none>\n"), "{text}");
        assert!(
            text.contains("Controlled By:  ReplicaSet/web-abc\n"),
            "{text}"
        );
        assert!(text.contains("Node:         n1\n"), "{text}");
        assert!(text.contains("    Restart Count:  2\n"), "{text}");
        assert!(text.contains("    State:"), "{text}");
        let ev = text.split("Events:\n").nth(1).expect("events section");
        let lines: Vec<&str> = ev.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["Type", "Reason", "Age", "From", "Message"]
        );
        assert!(
            lines[2].contains("Scheduled")
                && lines[2].contains("5m")
                && lines[2].contains("scheduler"),
            "{ev}"
        );
        let none = page(&pod, &Extra::default(), Some(&[]), now);
        assert!(none.ends_with("Events:       <none>\n"), "{none}");
    }

    #[test]
    fn deployment_page_counts_replicas() {
        let d = json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"replicas": 3, "updatedReplicas": 2, "availableReplicas": 1, "unavailableReplicas": 2}});
        let text = page(&d, &Extra::default(), None, 0);
        assert!(
            text.contains(
                "Replicas:     3 desired | 2 updated | 3 total | 1 available | 2 unavailable\n"
            ),
            "{text}"
        );
        assert!(text.contains("Selector:     app=web\n"), "{text}");
        assert!(
            text.contains("RollingUpdateStrategy:  25% max unavailable, 25% max surge"),
            "{text}"
        );
        assert!(!text.contains("Events"), "{text}");
    }
}
