//! What the API server does to an object between decoding and storing it: defaulting,
//! validation, and which parts a write may change (status vs spec), per kind.
//!
//! These are pure functions of the incoming object and the stored one, so they are tested
//! without a server.

use serde_json::{json, Value};

use super::error::ApiError;
use crate::resources::ResourceInfo;
use crate::validation::{self, FieldError};

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: spec and metadata; status is kept as stored.
    Main,
    /// The `/status` subresource: status only; spec and metadata are kept as stored.
    Status,
}

/// The `fieldValidation` query parameter: what to do about fields the kind does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    /// The API server's default: accept, and warn in a `Warning` header.
    Warn,
    /// What kubectl sends: refuse with 400.
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> Result<FieldValidation, ApiError> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be Ignore, Warn or Strict, not {other:?}"
            ))),
        }
    }
}

/// Decodes into the Kubernetes type (so field types are checked) and back. Returns the
/// normalized object and warnings about unknown fields (which are dropped, or refused with
/// `Strict`).
pub fn normalize(
    res: &ResourceInfo,
    mut v: Value,
    fv: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), json!(res.api_version()));
        o.insert("kind".into(), json!(res.kind));
    }
    let normalized = (res.normalize)(v.clone())
        .map_err(|e| ApiError::bad_request(format!("{} in body is invalid: {e}", res.kind)))?;
    let mut unknown = Vec::new();
    if fv != FieldValidation::Ignore {
        unknown_fields(&v, &normalized, "", &mut unknown);
    }
    if fv == FieldValidation::Strict && !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            list.join(", ")
        )));
    }
    Ok((
        normalized,
        unknown
            .into_iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect(),
    ))
}

/// Paths of fields present in `input` that the typed round trip dropped.
fn unknown_fields(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(i), Value::Object(t)) => {
            for (k, v) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match t.get(k) {
                    Some(tv) => unknown_fields(v, tv, &p, out),
                    None if v.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(t)) => {
            for (n, (iv, tv)) in i.iter().zip(t.iter()).enumerate() {
                unknown_fields(iv, tv, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

/// Checks the body's `apiVersion`/`kind` (when given) match the endpoint.
pub fn check_type(res: &ResourceInfo, v: &Value) -> Result<(), ApiError> {
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "the body of a {} must be a JSON or YAML object",
            res.kind
        )));
    }
    if let Some(kind) = v.get("kind").and_then(Value::as_str) {
        if kind != res.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the body ({kind}) does not match the endpoint ({})",
                res.kind
            )));
        }
    }
    if let Some(av) = v.get("apiVersion").and_then(Value::as_str) {
        if av != res.api_version() {
            return Err(ApiError::bad_request(format!(
                "the apiVersion in the body ({av}) does not match the endpoint ({})",
                res.api_version()
            )));
        }
    }
    Ok(())
}

/// Defaults and validates a new object. `namespace` is the request's namespace.
pub fn prepare_create(res: &ResourceInfo, v: &mut Value) -> Result<(), ApiError> {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        // Server-owned fields are never taken from a create.
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ] {
            m.remove(f);
        }
    }
    if let Some(prefix) = v
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
        .map(str::to_string)
    {
        if v.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
        {
            v["metadata"]["name"] = json!(format!("{prefix}{}", random_suffix()));
        }
    }
    match res.kind {
        "Pod" => default_pod(v),
        "ReplicationController" | "ReplicaSet" | "Deployment" | "DaemonSet" | "Job" => {
            default_workload(res.kind, v)
        }
        "Service" => default_service(v),
        "Secret" => default_secret(v),
        "Namespace" => {
            let name = v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            v["status"] = json!({"phase": "Active"});
            if !v.pointer("/metadata/labels").is_some_and(Value::is_object) {
                v["metadata"]["labels"] = json!({});
            }
            v["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        }
        _ => {}
    }
    validate(res, v)
}

/// Merges an update into the stored object for the addressed part, then validates.
pub fn prepare_update(
    res: &ResourceInfo,
    old: &Value,
    new: &mut Value,
    part: Part,
) -> Result<(), ApiError> {
    match part {
        Part::Main => {
            if let Some(st) = old.get("status") {
                new["status"] = st.clone();
            } else if let Some(o) = new.as_object_mut() {
                o.remove("status");
            }
            if res.kind == "Pod" {
                check_pod_update(old, new)?;
            }
            if matches!(res.kind, "ReplicaSet" | "Deployment" | "DaemonSet" | "Job")
                && old.pointer("/spec/selector") != new.pointer("/spec/selector")
            {
                let name = new
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let shown = new
                    .pointer("/spec/selector")
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                return Err(ApiError::invalid(
                    res.kind,
                    name,
                    &[FieldError {
                        field: "spec.selector".into(),
                        reason: "FieldValueInvalid",
                        message: format!("Invalid value: {shown}: field is immutable"),
                    }],
                ));
            }
            if res.kind == "Secret" {
                default_secret(new);
            }
        }
        Part::Status => {
            let status = new.get("status").cloned();
            let mut merged = old.clone();
            // metadata.resourceVersion of the request still guards the write.
            if let Some(rv) = new.pointer("/metadata/resourceVersion").cloned() {
                merged["metadata"]["resourceVersion"] = rv;
            }
            match status {
                Some(s) => merged["status"] = s,
                None => {
                    if let Some(o) = merged.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            *new = merged;
        }
    }
    if res.kind == "Namespace" {
        let name = old.pointer("/metadata/name").cloned().unwrap_or_default();
        if !new
            .pointer("/metadata/labels")
            .is_some_and(Value::is_object)
        {
            new["metadata"]["labels"] = json!({});
        }
        new["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    }
    validate(res, new)
}

fn validate(res: &ResourceInfo, v: &Value) -> Result<(), ApiError> {
    let mut errs: Vec<FieldError> = Vec::new();
    let label_names = matches!(res.kind, "Namespace" | "Service");
    validation::metadata(v, label_names, &mut errs);
    match res.kind {
        "Pod" => validation::pod_spec(v.get("spec"), "spec", &mut errs),
        "ReplicationController" | "ReplicaSet" | "Deployment" | "DaemonSet" | "Job" => {
            validation::workload(res.kind, v, &mut errs)
        }
        "Service" => validation::service(v, &mut errs),
        _ => {}
    }
    if errs.is_empty() {
        Ok(())
    } else {
        let name = v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Err(ApiError::invalid(res.kind, name, &errs))
    }
}

/// Kubernetes lets a running pod's spec change only in a few places (container images,
/// activeDeadlineSeconds, tolerations additions, terminationGracePeriodSeconds); nodeName is
/// set once, by binding.
fn check_pod_update(old: &Value, new: &Value) -> Result<(), ApiError> {
    let strip = |v: &Value| -> Value {
        let mut s = v.get("spec").cloned().unwrap_or_default();
        for list in ["containers", "initContainers"] {
            if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs {
                    if let Some(o) = c.as_object_mut() {
                        o.remove("image");
                    }
                }
            }
        }
        if let Some(o) = s.as_object_mut() {
            for f in [
                "activeDeadlineSeconds",
                "tolerations",
                "terminationGracePeriodSeconds",
            ] {
                o.remove(f);
            }
        }
        s
    };
    if strip(old) != strip(new) {
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(ApiError::invalid(
            "Pod",
            name,
            &[FieldError {
                field: "spec".into(),
                reason: "FieldValueForbidden",
                message: "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds`".into(),
            }],
        ));
    }
    Ok(())
}

fn set(o: &mut serde_json::Map<String, Value>, k: &str, d: Value) {
    o.entry(k.to_string()).or_insert(d);
}

/// `SetDefaults_PodSpec` and its containers, for pods and pod templates alike.
fn default_pod_spec(spec: &mut serde_json::Map<String, Value>) {
    set(spec, "restartPolicy", json!("Always"));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    set(spec, "dnsPolicy", json!("ClusterFirst"));
    set(spec, "schedulerName", json!("default-scheduler"));
    set(spec, "securityContext", json!({}));
    for list in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                let image = c
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let policy = if image_tag(&image).is_none_or(|t| t == "latest") {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                set(c, "imagePullPolicy", json!(policy));
                set(c, "terminationMessagePath", json!("/dev/termination-log"));
                set(c, "terminationMessagePolicy", json!("File"));
                set(c, "resources", json!({}));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

fn default_pod(v: &mut Value) {
    let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    default_pod_spec(spec);
    set(spec, "enableServiceLinks", json!(true));
    set(spec, "priority", json!(0));
    // Like the DefaultTolerationSeconds admission plugin: 300 s for not-ready/unreachable.
    let tolerations = spec.entry("tolerations").or_insert(json!([]));
    if let Some(ts) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            if !ts.iter().any(|t| t["key"] == key) {
                ts.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
    v["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
}

/// Defaults of the workload kinds (replicas, strategies, history limits) and their templates.
fn default_workload(kind: &str, v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if !v.get("spec").is_some_and(Value::is_object) {
        return;
    }
    if kind == "ReplicationController" {
        // An RC without a selector selects its template's labels (and vice versa).
        let tpl_labels = v.pointer("/spec/template/metadata/labels").cloned();
        let selector = v.pointer("/spec/selector").cloned();
        match (
            selector.filter(|s| s.as_object().is_some_and(|m| !m.is_empty())),
            tpl_labels.filter(|l| l.as_object().is_some_and(|m| !m.is_empty())),
        ) {
            (None, Some(l)) => v["spec"]["selector"] = l,
            (Some(s), None) if v.pointer("/spec/template").is_some() => {
                v["spec"]["template"]["metadata"]["labels"] = s
            }
            _ => {}
        }
    }
    if kind == "Job" {
        let uid = uuid::Uuid::new_v4().to_string();
        v["metadata"]["uid"] = json!(uid);
        let name = v.pointer("/metadata/name").cloned().unwrap_or_default();
        let manual = v
            .pointer("/spec/manualSelector")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !manual {
            v["spec"]["selector"] =
                json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
            if v.pointer("/spec/template").is_some() {
                for (k, val) in [
                    ("batch.kubernetes.io/controller-uid", json!(uid)),
                    ("batch.kubernetes.io/job-name", name.clone()),
                    ("controller-uid", json!(uid)),
                    ("job-name", name.clone()),
                ] {
                    v["spec"]["template"]["metadata"]["labels"][k] = val;
                }
            }
        }
    }
    let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    match kind {
        "ReplicationController" | "ReplicaSet" => set(spec, "replicas", json!(1)),
        "Deployment" => {
            set(spec, "replicas", json!(1));
            set(spec, "revisionHistoryLimit", json!(10));
            set(spec, "progressDeadlineSeconds", json!(600));
            let strategy = spec.entry("strategy").or_insert(json!({}));
            if let Some(st) = strategy.as_object_mut() {
                set(st, "type", json!("RollingUpdate"));
                if st.get("type") == Some(&json!("RollingUpdate")) {
                    let ru = st.entry("rollingUpdate").or_insert(json!({}));
                    if let Some(ru) = ru.as_object_mut() {
                        set(ru, "maxUnavailable", json!("25%"));
                        set(ru, "maxSurge", json!("25%"));
                    }
                }
            }
        }
        "DaemonSet" => {
            set(spec, "revisionHistoryLimit", json!(10));
            let strategy = spec.entry("updateStrategy").or_insert(json!({}));
            if let Some(st) = strategy.as_object_mut() {
                set(st, "type", json!("RollingUpdate"));
                if st.get("type") == Some(&json!("RollingUpdate")) {
                    let ru = st.entry("rollingUpdate").or_insert(json!({}));
                    if let Some(ru) = ru.as_object_mut() {
                        set(ru, "maxUnavailable", json!(1));
                        set(ru, "maxSurge", json!(0));
                    }
                }
            }
        }
        "Job" => {
            let (c, p) = (
                spec.get("completions").cloned(),
                spec.get("parallelism").cloned(),
            );
            if c.is_none() && p.is_none() {
                spec.insert("completions".into(), json!(1));
                spec.insert("parallelism".into(), json!(1));
            } else {
                set(spec, "parallelism", json!(1));
            }
            set(spec, "backoffLimit", json!(6));
            set(spec, "completionMode", json!("NonIndexed"));
            set(spec, "suspend", json!(false));
        }
        _ => {}
    }
    if let Some(tspec) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        default_pod_spec(tspec);
    }
}

fn default_service(v: &mut Value) {
    let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    set(spec, "type", json!("ClusterIP"));
    set(spec, "sessionAffinity", json!("None"));
    set(spec, "internalTrafficPolicy", json!("Cluster"));
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                set(p, "targetPort", port);
            }
        }
    }
    if v.get("status").is_none() {
        v["status"] = json!({"loadBalancer": {}});
    }
}

/// `stringData` is write-only: merged into `data` (base64) on the way in.
fn default_secret(v: &mut Value) {
    use base64::Engine;
    if let Some(o) = v.as_object_mut() {
        if !o.contains_key("type") {
            o.insert("type".into(), json!("Opaque"));
        }
        if let Some(Value::Object(sd)) = o.remove("stringData") {
            let data = o.entry("data").or_insert(json!({}));
            if let Some(d) = data.as_object_mut() {
                for (k, val) in sd {
                    let s = val.as_str().unwrap_or_default();
                    d.insert(
                        k,
                        json!(base64::engine::general_purpose::STANDARD.encode(s)),
                    );
                }
            }
        }
    }
}

/// The tag of an image reference, if it has one (digests count as pinned).
fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return Some("digest");
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, t)| t)
}

fn random_suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{NAMESPACES, PODS};

    #[test]
    fn unknown_fields_warn_or_fail() {
        let pod = json!({"metadata": {"name": "p", "bogus": 1}, "spec": {"containers": [{"name": "a", "image": "x", "colour": "red"}], "nodeName": null}});
        let (_, warnings) =
            normalize(&PODS, pod.clone(), FieldValidation::Warn).expect("warn accepts");
        assert_eq!(
            warnings,
            vec![
                "unknown field \"metadata.bogus\"",
                "unknown field \"spec.containers[0].colour\""
            ]
        );
        let e = normalize(&PODS, pod.clone(), FieldValidation::Strict).expect_err("strict refuses");
        assert_eq!(e.code, 400);
        assert!(
            e.message
                .starts_with("strict decoding error: unknown field \"metadata.bogus\""),
            "{}",
            e.message
        );
        assert!(normalize(&PODS, pod, FieldValidation::Ignore)
            .expect("ignore")
            .1
            .is_empty());
        assert!(FieldValidation::parse(Some("Sometimes")).is_err());
    }

    #[test]
    fn pods_get_kubernetes_defaults() {
        let mut p = json!({"metadata": {"name": "web", "uid": "forged"}, "spec": {"containers": [
            {"name": "a", "image": "busybox"}, {"name": "b", "image": "localhost/busybox:1.0", "ports": [{"containerPort": 80}]}]}});
        prepare_create(&PODS, &mut p).expect("valid");
        assert!(
            p["metadata"].get("uid").is_none(),
            "clients cannot choose the uid"
        );
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            p["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(p["spec"]["containers"][1]["ports"][0]["protocol"], "TCP");
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn invalid_pods_are_rejected_with_422() {
        let mut p = json!({"metadata": {"name": "Bad"}, "spec": {"containers": []}});
        let e = prepare_create(&PODS, &mut p).expect_err("invalid");
        assert_eq!(e.code, 422);
        assert!(e.message.contains("metadata.name"), "{}", e.message);
        assert!(e.message.contains("spec.containers"), "{}", e.message);
    }

    #[test]
    fn generate_name_makes_a_name() {
        let mut p = json!({"metadata": {"generateName": "web-"}, "spec": {"containers": [{"name": "a", "image": "x"}]}});
        prepare_create(&PODS, &mut p).expect("valid");
        let name = p["metadata"]["name"].as_str().expect("name");
        assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    }

    #[test]
    fn main_updates_keep_status_and_status_updates_keep_spec() {
        let old = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "a", "image": "x"}]}, "status": {"phase": "Running"}});
        let mut upd = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "a", "image": "y"}]}, "status": {"phase": "Failed"}});
        prepare_update(&PODS, &old, &mut upd, Part::Main).expect("image change allowed");
        assert_eq!(upd["status"]["phase"], "Running");
        assert_eq!(upd["spec"]["containers"][0]["image"], "y");

        let mut st = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "zzz", "image": "q"}]}, "status": {"phase": "Succeeded"}});
        prepare_update(&PODS, &old, &mut st, Part::Status).expect("status");
        assert_eq!(st["status"]["phase"], "Succeeded");
        assert_eq!(st["spec"]["containers"][0]["name"], "a");

        let mut bad = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "b", "image": "x"}]}});
        assert_eq!(
            prepare_update(&PODS, &old, &mut bad, Part::Main)
                .expect_err("forbidden")
                .code,
            422
        );
    }

    #[test]
    fn namespaces_are_labelled_and_active() {
        let mut ns = json!({"metadata": {"name": "team-a"}});
        prepare_create(&NAMESPACES, &mut ns).expect("valid");
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team-a"
        );
        let mut bad = json!({"metadata": {"name": "a.b"}});
        assert!(
            prepare_create(&NAMESPACES, &mut bad).is_err(),
            "namespace names are DNS labels"
        );
    }
}
