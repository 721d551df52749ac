//! Server-side printing: `meta.k8s.io/v1` `Table` responses with the columns kubectl shows
//! for each kind (`kubectl get` asks for them with `Accept: ...;as=Table`). Columns with
//! priority 1 are the extra ones `-o wide` shows.

use serde_json::{json, Value};

use crate::resources::ResourceInfo;

struct Column {
    name: &'static str,
    type_: &'static str,
    format: &'static str,
    priority: u8,
    description: &'static str,
}

const fn col(name: &'static str, type_: &'static str, priority: u8, description: &'static str) -> Column {
    Column { name, type_, format: "", priority, description }
}

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace.",
};
const AGE: Column = col("Age", "string", 0, "CreationTimestamp is a timestamp representing the server time when this object was created.");

fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Pod" => vec![
            NAME,
            col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            col("Status", "string", 0, "The aggregate status of the containers in this pod."),
            col("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
            AGE,
            col("IP", "string", 1, "IP address allocated to the pod. Routable at least within the cluster."),
            col("Node", "string", 1, "NodeName is a request to schedule this pod onto a specific node."),
            col("Nominated Node", "string", 1, "nominatedNodeName is set when this pod preempts other pods on the node."),
            col("Readiness Gates", "string", 1, "If specified, all readiness gates will be evaluated for pod readiness."),
        ],
        "Node" => vec![
            NAME,
            col("Status", "string", 0, "The status of the node"),
            col("Roles", "string", 0, "The roles of the node"),
            AGE,
            col("Version", "string", 0, "Kubelet Version reported by the node."),
            col("Internal-IP", "string", 1, "List of internal IPs of the node."),
            col("External-IP", "string", 1, "List of external IPs of the node."),
            col("OS-Image", "string", 1, "OS Image reported by the node."),
            col("Kernel-Version", "string", 1, "Kernel Version reported by the node."),
            col("Container-Runtime", "string", 1, "Container Runtime Version reported by the node."),
        ],
        "Namespace" => vec![NAME, col("Status", "string", 0, "The status of the namespace"), AGE],
        "Event" => vec![
            col("Last Seen", "string", 0, "Time when this Event was last observed."),
            col("Type", "string", 0, "Type of this event (Normal, Warning)."),
            col("Reason", "string", 0, "This should be a short, machine understandable string."),
            col("Object", "string", 0, "The object that this event is about."),
            col("Subobject", "string", 1, "The subobject that this event is about."),
            col("Source", "string", 1, "The component reporting this event."),
            col("Message", "string", 0, "A human-readable description of the status of this operation."),
            col("First Seen", "string", 1, "The time at which the event was first recorded."),
            col("Count", "string", 1, "The number of times this event has occurred."),
            Column { priority: 1, ..NAME },
        ],
        _ => vec![NAME, AGE],
    }
}

/// Column definitions as JSON.
pub fn column_definitions(res: &ResourceInfo) -> Vec<Value> {
    columns(res.kind)
        .iter()
        .map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect()
}

/// A table row for one object.
pub fn row(res: &ResourceInfo, obj: &Value, now_ms: u64) -> Value {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let age = |p: &str| age_since(&s(p), now_ms);
    let cells: Vec<Value> = match res.kind {
        "Pod" => pod_cells(obj, now_ms),
        "Node" => node_cells(obj, now_ms),
        "Namespace" => vec![json!(s("/metadata/name")), json!(s("/status/phase")), json!(age("/metadata/creationTimestamp"))],
        "Event" => {
            let last = if s("/lastTimestamp").is_empty() { age("/eventTime") } else { age("/lastTimestamp") };
            let object = format!("{}/{}", s("/involvedObject/kind").to_lowercase(), s("/involvedObject/name"));
            let source = {
                let c = s("/source/component");
                if c.is_empty() { s("/reportingComponent") } else { c }
            };
            vec![
                json!(last),
                json!(s("/type")),
                json!(s("/reason")),
                json!(object),
                json!(s("/involvedObject/fieldPath")),
                json!(source),
                json!(s("/message")),
                json!(age("/firstTimestamp")),
                json!(obj.get("count").and_then(Value::as_i64).unwrap_or(1).to_string()),
                json!(s("/metadata/name")),
            ]
        }
        _ => vec![json!(s("/metadata/name")), json!(age("/metadata/creationTimestamp"))],
    };
    let metadata = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({
        "cells": cells,
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata},
    })
}

/// A whole Table.
pub fn table(res: &ResourceInfo, rows: Vec<Value>, resource_version: &str, cont: Option<&str>) -> Value {
    let mut meta = json!({"resourceVersion": resource_version});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": column_definitions(res),
        "rows": rows,
    })
}

fn pod_cells(p: &Value, now_ms: u64) -> Vec<Value> {
    let s = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).unwrap_or_default().to_string();
    let statuses = p.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
    let total = p.pointer("/spec/containers").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
    let ready = statuses.iter().filter(|c| c["ready"].as_bool() == Some(true)).count();
    let restarts: i64 = statuses.iter().map(|c| c["restartCount"].as_i64().unwrap_or(0)).sum();
    let mut reason = s("/status/reason");
    if reason.is_empty() {
        reason = s("/status/phase");
    }
    let mut has_running = false;
    for c in statuses.iter().rev() {
        let st = &c["state"];
        if let Some(r) = st.pointer("/waiting/reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            reason = r.to_string();
        } else if let Some(t) = st.get("terminated") {
            reason = match t.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                Some(r) => r.to_string(),
                None => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
            };
        } else if st.get("running").is_some() && c["ready"].as_bool() == Some(true) {
            has_running = true;
        }
    }
    if reason == "Completed" && has_running {
        reason = "Running".into();
    }
    if p.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    let none = |v: String| if v.is_empty() { "<none>".to_string() } else { v };
    vec![
        json!(p.pointer("/metadata/name").cloned().unwrap_or_default()),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        json!(age_since(&s("/metadata/creationTimestamp"), now_ms)),
        json!(none(s("/status/podIP"))),
        json!(none(s("/spec/nodeName"))),
        json!(none(s("/status/nominatedNodeName"))),
        json!("<none>"),
    ]
}

fn node_cells(n: &Value, now_ms: u64) -> Vec<Value> {
    let s = |ptr: &str| n.pointer(ptr).and_then(Value::as_str).unwrap_or_default().to_string();
    let conditions = n.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut status = match conditions.iter().find(|c| c["type"] == "Ready").and_then(|c| c["status"].as_str()) {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = n
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/").map(str::to_string)).collect())
        .unwrap_or_default();
    roles.sort();
    let addr = |t: &str| {
        n.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["type"] == t))
            .and_then(|x| x["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    vec![
        json!(s("/metadata/name")),
        json!(status),
        json!(if roles.is_empty() { "<none>".to_string() } else { roles.join(",") }),
        json!(age_since(&s("/metadata/creationTimestamp"), now_ms)),
        json!(s("/status/nodeInfo/kubeletVersion")),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(s("/status/nodeInfo/osImage")),
        json!(s("/status/nodeInfo/kernelVersion")),
        json!(s("/status/nodeInfo/containerRuntimeVersion")),
    ]
}

/// Kubernetes' `HumanDuration` of the time since an RFC 3339 timestamp.
pub fn age_since(ts: &str, now_ms: u64) -> String {
    let Some(then) = parse_rfc3339_ms(ts) else { return "<unknown>".into() };
    human_duration(now_ms.saturating_sub(then) / 1000)
}

pub fn human_duration(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 { format!("{m}m") } else { format!("{m}m{}s", secs % 60) }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 { format!("{h}h") } else { format!("{h}h{}m", m % 60) }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 { format!("{d}d") } else { format!("{d}d{}h", h % 24) }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        format!("{}y{}d", d / 365, d % 365)
    } else {
        format!("{}y", d / 365)
    }
}

/// Milliseconds since the epoch for `YYYY-MM-DDTHH:MM:SS[.frac]Z`.
pub fn parse_rfc3339_ms(ts: &str) -> Option<u64> {
    let ts: k8s_openapi::jiff::Timestamp = ts.parse().ok()?;
    u64::try_from(ts.as_millisecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{NODES, PODS};

    #[test]
    fn human_durations_match_kubectl() {
        for (s, want) in [(5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (9 * 3600, "9h"), (3 * 86400 + 3600, "3d1h"), (30 * 86400, "30d")] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }

    #[test]
    fn pod_row_shows_status_like_kubectl() {
        let pod = json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.2", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 1, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        });
        let now = parse_rfc3339_ms("2026-01-01T00:00:30Z").expect("ts");
        let r = row(&PODS, &pod, now);
        assert_eq!(r["cells"], json!(["web", "1/2", "CrashLoopBackOff", "3", "30s", "10.0.0.2", "n1", "<none>", "<none>"]));
        assert_eq!(r["object"]["metadata"]["name"], "web");
    }

    #[test]
    fn node_row_reports_readiness() {
        let node = json!({"metadata": {"name": "n1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "127.0.0.2"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.0-shoal"}}});
        let r = row(&NODES, &node, parse_rfc3339_ms("2026-01-01T01:00:00Z").expect("ts"));
        assert_eq!(r["cells"][1], "Ready,SchedulingDisabled");
        assert_eq!(r["cells"][3], "60m");
        assert_eq!(r["cells"][5], "127.0.0.2");
    }
}
