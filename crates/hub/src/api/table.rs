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

const fn col(
    name: &'static str,
    type_: &'static str,
    priority: u8,
    description: &'static str,
) -> Column {
    Column {
        name,
        type_,
        format: "",
        priority,
        description,
    }
}

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace.",
};
const AGE: Column = col(
    "Age",
    "string",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

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
        "ReplicationController" | "ReplicaSet" => vec![
            NAME,
            col("Desired", "integer", 0, "Number of desired pods."),
            col("Current", "integer", 0, "Number of actual replicas."),
            col("Ready", "integer", 0, "The number of ready replicas for this replica set."),
            AGE,
            col("Containers", "string", 1, "Names of each container in the template."),
            col("Images", "string", 1, "Images referenced by each container in the template."),
            col("Selector", "string", 1, "Label selector for pods."),
        ],
        "Deployment" => vec![
            NAME,
            col("Ready", "string", 0, "Number of the pod with ready state"),
            col("Up-to-date", "string", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            col("Available", "string", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
            AGE,
            col("Containers", "string", 1, "Names of each container in the template."),
            col("Images", "string", 1, "Images referenced by each container in the template."),
            col("Selector", "string", 1, "Label selector for pods."),
        ],
        "DaemonSet" => vec![
            NAME,
            col("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod."),
            col("Current", "integer", 0, "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
            col("Ready", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
            col("Up-to-date", "integer", 0, "The total number of nodes that are running updated daemon pod"),
            col("Available", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
            col("Node Selector", "string", 0, "NodeSelector is a selector which must be true for the pod to fit on a node."),
            AGE,
            col("Containers", "string", 1, "Names of each container in the template."),
            col("Images", "string", 1, "Images referenced by each container in the template."),
            col("Selector", "string", 1, "A label query over pods that are managed by the daemon set."),
        ],
        "Job" => vec![
            NAME,
            col("Status", "string", 0, "Status of the job."),
            col("Completions", "string", 0, "The desired number of successfully finished pods the job should be run with."),
            col("Duration", "string", 0, "Time required to complete the job."),
            AGE,
            col("Containers", "string", 1, "Names of each container in the template."),
            col("Images", "string", 1, "Images referenced by each container in the template."),
            col("Selector", "string", 1, "A label query over pods that should match the pod count."),
        ],
        "Service" => vec![
            NAME,
            col("Type", "string", 0, "type determines how the Service is exposed."),
            col("Cluster-IP", "string", 0, "clusterIP is the IP address of the service."),
            col("External-IP", "string", 0, "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
            col("Port(s)", "string", 0, "The list of ports that are exposed by this service."),
            AGE,
            col("Selector", "string", 1, "Route service traffic to pods with label keys and values matching this selector."),
        ],
        "Endpoints" => vec![NAME, col("Endpoints", "string", 0, "Endpoints of the service"), AGE],
        "ConfigMap" => vec![NAME, col("Data", "string", 0, "Data contains the configuration data."), AGE],
        "Secret" => vec![NAME, col("Type", "string", 0, "The type of the secret"), col("Data", "string", 0, "The number of entries in the secret data"), AGE],
        "ControllerRevision" => vec![
            NAME,
            col("Controller", "string", 0, "Controller of the object"),
            col("Revision", "string", 0, "Revision number"),
            AGE,
        ],
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
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let age = |p: &str| age_since(&s(p), now_ms);
    let cells: Vec<Value> = match res.kind {
        "Pod" => pod_cells(obj, now_ms),
        "Node" => node_cells(obj, now_ms),
        "Namespace" => vec![
            json!(s("/metadata/name")),
            json!(s("/status/phase")),
            json!(age("/metadata/creationTimestamp")),
        ],
        "Event" => {
            let last = if s("/lastTimestamp").is_empty() {
                age("/eventTime")
            } else {
                age("/lastTimestamp")
            };
            let object = format!(
                "{}/{}",
                s("/involvedObject/kind").to_lowercase(),
                s("/involvedObject/name")
            );
            let source = {
                let c = s("/source/component");
                if c.is_empty() {
                    s("/reportingComponent")
                } else {
                    c
                }
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
                json!(obj
                    .get("count")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
                    .to_string()),
                json!(s("/metadata/name")),
            ]
        }
        _ => workload_cells(res.kind, obj, now_ms),
    };
    let metadata = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({
        "cells": cells,
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata},
    })
}

/// A whole Table.
pub fn table(
    res: &ResourceInfo,
    rows: Vec<Value>,
    resource_version: &str,
    cont: Option<&str>,
) -> Value {
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

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// `app=web,tier in (a,b)` for a label selector (or an RC's plain map).
fn selector_string(sel: Option<&Value>) -> String {
    let Some(sel) = sel.and_then(Value::as_object) else {
        return "<none>".into();
    };
    let structured = sel.contains_key("matchLabels") || sel.contains_key("matchExpressions");
    let mut parts: Vec<String> = Vec::new();
    let labels = if structured {
        sel.get("matchLabels").and_then(Value::as_object)
    } else {
        Some(sel)
    };
    for (k, v) in labels.into_iter().flatten() {
        parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let vals: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

fn template_containers(v: &Value) -> (String, String) {
    let cs = v
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs.iter().filter_map(|c| c["name"].as_str()).collect();
    let images: Vec<&str> = cs.iter().filter_map(|c| c["image"].as_str()).collect();
    (names.join(","), images.join(","))
}

fn workload_cells(kind: &str, v: &Value, now_ms: u64) -> Vec<Value> {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let name = json!(s("/metadata/name"));
    let age = json!(age_since(&s("/metadata/creationTimestamp"), now_ms));
    let (containers, images) = template_containers(v);
    let selector = selector_string(v.pointer("/spec/selector"));
    match kind {
        "ReplicationController" | "ReplicaSet" => vec![
            name,
            json!(int(v, "/spec/replicas")),
            json!(int(v, "/status/replicas")),
            json!(int(v, "/status/readyReplicas")),
            age,
            json!(containers),
            json!(images),
            json!(selector),
        ],
        "Deployment" => vec![
            name,
            json!(format!(
                "{}/{}",
                int(v, "/status/readyReplicas"),
                int(v, "/spec/replicas")
            )),
            json!(int(v, "/status/updatedReplicas")),
            json!(int(v, "/status/availableReplicas")),
            age,
            json!(containers),
            json!(images),
            json!(selector),
        ],
        "DaemonSet" => {
            let ns: Vec<String> = v
                .pointer("/spec/template/spec/nodeSelector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                name,
                json!(int(v, "/status/desiredNumberScheduled")),
                json!(int(v, "/status/currentNumberScheduled")),
                json!(int(v, "/status/numberReady")),
                json!(int(v, "/status/updatedNumberScheduled")),
                json!(int(v, "/status/numberAvailable")),
                json!(if ns.is_empty() {
                    "<none>".to_string()
                } else {
                    ns.join(",")
                }),
                age,
                json!(containers),
                json!(images),
                json!(selector),
            ]
        }
        "Job" => {
            let conds = v
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let has = |t: &str| {
                conds
                    .iter()
                    .any(|c| c["type"] == t && c["status"] == "True")
            };
            let status = if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else if v.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
                "Suspended"
            } else {
                "Running"
            };
            let completions = match v.pointer("/spec/completions").and_then(Value::as_i64) {
                Some(c) => format!("{}/{c}", int(v, "/status/succeeded")),
                None => format!(
                    "{}/1 of {}",
                    int(v, "/status/succeeded"),
                    int(v, "/spec/parallelism")
                ),
            };
            let start = parse_rfc3339_ms(&s("/status/startTime"));
            let end = parse_rfc3339_ms(&s("/status/completionTime")).unwrap_or(now_ms);
            let duration = start
                .map(|st| human_duration(end.saturating_sub(st) / 1000))
                .unwrap_or_default();
            vec![
                name,
                json!(status),
                json!(completions),
                json!(duration),
                age,
                json!(containers),
                json!(images),
                json!(selector),
            ]
        }
        "Service" => {
            let ports: Vec<String> = v
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(np) => format!("{}:{np}/{proto}", p["port"]),
                        None => format!("{}/{proto}", p["port"]),
                    }
                })
                .collect();
            let mut external: Vec<String> = v
                .pointer("/spec/externalIPs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            for ing in v
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(ip) = ing["ip"].as_str() {
                    external.push(ip.to_string());
                }
            }
            let type_ = s("/spec/type");
            let external = if !external.is_empty() {
                external.join(",")
            } else if type_ == "LoadBalancer" {
                "<pending>".into()
            } else if type_ == "ExternalName" {
                s("/spec/externalName")
            } else {
                "<none>".into()
            };
            let cip = s("/spec/clusterIP");
            vec![
                name,
                json!(type_),
                json!(if cip.is_empty() {
                    "<none>".to_string()
                } else {
                    cip
                }),
                json!(external),
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                }),
                age,
                json!(selector_string(v.pointer("/spec/selector"))),
            ]
        }
        "Endpoints" => {
            let mut eps: Vec<String> = Vec::new();
            for subset in v
                .pointer("/subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ports: Vec<i64> = subset["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["port"].as_i64())
                    .collect();
                for a in subset["addresses"].as_array().into_iter().flatten() {
                    let ip = a["ip"].as_str().unwrap_or_default();
                    if ports.is_empty() {
                        eps.push(ip.to_string());
                    }
                    for p in &ports {
                        eps.push(format!("{ip}:{p}"));
                    }
                }
            }
            let shown = if eps.is_empty() {
                "<none>".to_string()
            } else if eps.len() > 3 {
                format!("{} + {} more...", eps[..3].join(","), eps.len() - 3)
            } else {
                eps.join(",")
            };
            vec![name, json!(shown), age]
        }
        "ConfigMap" => {
            let n = v
                .get("data")
                .and_then(Value::as_object)
                .map(|m| m.len())
                .unwrap_or(0)
                + v.get("binaryData")
                    .and_then(Value::as_object)
                    .map(|m| m.len())
                    .unwrap_or(0);
            vec![name, json!(n), age]
        }
        "Secret" => {
            let n = v
                .get("data")
                .and_then(Value::as_object)
                .map(|m| m.len())
                .unwrap_or(0);
            vec![name, json!(s("/type")), json!(n), age]
        }
        "ControllerRevision" => {
            let owner = v
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|o| o.iter().find(|r| r["controller"] == true))
                .map(|r| {
                    format!(
                        "{}/{}",
                        r["kind"].as_str().unwrap_or_default().to_lowercase(),
                        r["name"].as_str().unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "<none>".into());
            vec![name, json!(owner), json!(int(v, "/revision")), age]
        }
        _ => vec![name, age],
    }
}

fn pod_cells(p: &Value, now_ms: u64) -> Vec<Value> {
    let s = |ptr: &str| {
        p.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let statuses = p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = p
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    let ready = statuses
        .iter()
        .filter(|c| c["ready"].as_bool() == Some(true))
        .count();
    let restarts: i64 = statuses
        .iter()
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let mut reason = s("/status/reason");
    if reason.is_empty() {
        reason = s("/status/phase");
    }
    let mut restarts = restarts;
    // Init containers first, as kubectl prints them: the first one not completed names the
    // state ("Init:1/2", "Init:Error", "Init:CrashLoopBackOff").
    let inits = p
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let init_total = p
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    let mut initializing = false;
    for (i, c) in inits.iter().enumerate() {
        restarts += c["restartCount"].as_i64().unwrap_or(0);
        let st = &c["state"];
        let waiting = st
            .pointer("/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty() && *r != "PodInitializing");
        if let Some(t) = st.get("terminated") {
            let code = t["exitCode"].as_i64().unwrap_or(0);
            if code == 0 {
                continue;
            }
            reason = match t
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                Some(r) => format!("Init:{r}"),
                None => format!("Init:ExitCode:{code}"),
            };
        } else if let Some(w) = waiting {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    let mut has_running = false;
    for c in statuses.iter().rev().filter(|_| !initializing) {
        let st = &c["state"];
        if let Some(r) = st
            .pointer("/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            reason = r.to_string();
        } else if let Some(t) = st.get("terminated") {
            reason = match t
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
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
    let none = |v: String| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v
        }
    };
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
    let s = |ptr: &str| {
        n.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let conditions = n
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut status = match conditions
        .iter()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str())
    {
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
        .map(|m| {
            m.keys()
                .filter_map(|k| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(str::to_string)
                })
                .collect()
        })
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
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
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
    let Some(then) = parse_rfc3339_ms(ts) else {
        return "<unknown>".into();
    };
    human_duration(now_ms.saturating_sub(then) / 1000)
}

pub fn human_duration(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
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
        for (s, want) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (9 * 3600, "9h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }

    #[test]
    fn pod_row_shows_init_progress_like_kubectl() {
        let pod = |inits: Value| {
            json!({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
                   "spec": {"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "c"}]},
                   "status": {"phase": "Pending", "initContainerStatuses": inits,
                              "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0,
                                                     "state": {"waiting": {"reason": "PodInitializing"}}}]}})
        };
        let status = |p: &Value| pod_cells(p, 0)[2].clone();
        let done = json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        let table = [
            (
                json!([{"name": "a", "state": {"running": {}}}, {"name": "b", "state": {"waiting": {"reason": "PodInitializing"}}}]),
                "Init:0/2",
            ),
            (
                json!([{"name": "a", "state": done}, {"name": "b", "state": {"running": {}}}]),
                "Init:1/2",
            ),
            (
                json!([{"name": "a", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
                "Init:Error",
            ),
            (
                json!([{"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 3}]),
                "Init:CrashLoopBackOff",
            ),
            (
                json!([{"name": "a", "state": done}, {"name": "b", "state": done}]),
                "PodInitializing",
            ),
        ];
        for (inits, want) in table {
            assert_eq!(status(&pod(inits.clone())), json!(want), "{inits}");
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
        assert_eq!(
            r["cells"],
            json!([
                "web",
                "1/2",
                "CrashLoopBackOff",
                "3",
                "30s",
                "10.0.0.2",
                "n1",
                "<none>",
                "<none>"
            ])
        );
        assert_eq!(r["object"]["metadata"]["name"], "web");
    }

    #[test]
    fn workload_rows() {
        use crate::resources::{DEPLOYMENTS, SERVICES};
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let now = parse_rfc3339_ms("2026-01-01T00:00:10Z").expect("ts");
        assert_eq!(
            row(&DEPLOYMENTS, &d, now)["cells"],
            json!(["web", "2/3", 3, 2, "10s", "c", "busybox", "app=web"])
        );
        let svc = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"type": "NodePort", "clusterIP": "10.43.0.10", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}], "selector": {"app": "web"}}});
        assert_eq!(
            row(&SERVICES, &svc, now)["cells"],
            json!([
                "web",
                "NodePort",
                "10.43.0.10",
                "<none>",
                "80:30080/TCP",
                "10s",
                "app=web"
            ])
        );
    }

    #[test]
    fn node_row_reports_readiness() {
        let node = json!({"metadata": {"name": "n1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "127.0.0.2"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.0-shoal"}}});
        let r = row(
            &NODES,
            &node,
            parse_rfc3339_ms("2026-01-01T01:00:00Z").expect("ts"),
        );
        assert_eq!(r["cells"][1], "Ready,SchedulingDisabled");
        assert_eq!(r["cells"][3], "60m");
        assert_eq!(r["cells"][5], "127.0.0.2");
    }
}
