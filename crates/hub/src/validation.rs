//! Object validation with Kubernetes' rules and messages: DNS-1123 names, label syntax, and
//! the required fields of each kind. Problems are collected with their field paths so the
//! API can answer one 422 `Invalid` listing all of them.

use serde_json::Value;

/// One problem with an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `metadata.name`, `spec.containers[0].image`, ...
    pub field: String,
    /// Kubernetes cause type: FieldValueInvalid, FieldValueRequired, ...
    pub reason: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn invalid(field: impl Into<String>, value: &str, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: "FieldValueInvalid",
            message: format!("Invalid value: \"{value}\": {}", detail.into()),
        }
    }
    pub fn required(field: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: "FieldValueRequired",
            message: "Required value".into(),
        }
    }
}

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

pub fn dns1123_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let b = s.as_bytes();
    let ok = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(DNS1123_LABEL_MSG.into())
    }
}

pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    if s.split('.').all(|part| dns1123_label(part).is_ok()) {
        Ok(())
    } else {
        Err(DNS1123_SUBDOMAIN_MSG.into())
    }
}

/// Label keys: optional DNS subdomain prefix and `/`, then a name of at most 63 characters
/// of alphanumerics, '-', '_' and '.', starting and ending alphanumeric.
pub fn label_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        dns1123_subdomain(p).map_err(|e| format!("prefix part {e}"))?;
    }
    qualified_name_part(name)
}

fn qualified_name_part(name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return Err("name part must be non-empty and no more than 63 characters".into());
    }
    let ok = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into())
    }
}

/// Label values: empty, or at most 63 characters like a qualified name part.
pub fn label_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    if v.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    qualified_name_part(v).map_err(|_| "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into())
}

/// Validates metadata common to every kind. `namespace_name` selects the stricter DNS label
/// rule Kubernetes uses for namespace (and service) names.
pub fn metadata(v: &Value, label_names: bool, errs: &mut Vec<FieldError>) {
    let meta = v.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        if meta
            .and_then(|m| m.get("generateName"))
            .and_then(Value::as_str)
            .is_none()
        {
            errs.push(FieldError::required("metadata.name"));
        }
    } else {
        let r = if label_names {
            dns1123_label(name)
        } else {
            dns1123_subdomain(name)
        };
        if let Err(e) = r {
            errs.push(FieldError::invalid("metadata.name", name, e));
        }
    }
    for (field, is_label) in [("labels", true), ("annotations", false)] {
        if let Some(map) = meta.and_then(|m| m.get(field)).and_then(Value::as_object) {
            for (k, val) in map {
                if let Err(e) = label_key(k) {
                    errs.push(FieldError::invalid(format!("metadata.{field}"), k, e));
                }
                if is_label {
                    let s = val.as_str().unwrap_or_default();
                    if let Err(e) = label_value(s) {
                        errs.push(FieldError::invalid(format!("metadata.labels.{k}"), s, e));
                    }
                }
            }
        }
    }
}

/// Pod spec rules the hub relies on.
pub fn pod_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec else {
        errs.push(FieldError::required(path));
        return;
    };
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => errs.push(FieldError::required(format!("{path}.containers"))),
        Some(cs) if cs.is_empty() => errs.push(FieldError::required(format!("{path}.containers"))),
        Some(_) => {}
    }
    let mut seen = std::collections::HashSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let p = format!("{path}.{list}[{i}]");
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                errs.push(FieldError::required(format!("{p}.name")));
            } else if let Err(e) = dns1123_label(name) {
                errs.push(FieldError::invalid(format!("{p}.name"), name, e));
            } else if !seen.insert(name.to_string()) {
                errs.push(FieldError {
                    field: format!("{p}.name"),
                    reason: "FieldValueDuplicate",
                    message: format!("Duplicate value: \"{name}\""),
                });
            }
            if c.get("image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .is_empty()
            {
                errs.push(FieldError::required(format!("{p}.image")));
            }
            for (j, port) in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                for key in ["containerPort", "hostPort"] {
                    if let Some(n) = port.get(key).and_then(Value::as_i64) {
                        if !(1..=65535).contains(&n) && !(key == "hostPort" && n == 0) {
                            errs.push(FieldError::invalid(
                                format!("{p}.ports[{j}].{key}"),
                                &n.to_string(),
                                "must be between 1 and 65535, inclusive",
                            ));
                        }
                    }
                }
            }
        }
    }
    if let Some(rp) = spec.get("restartPolicy").and_then(Value::as_str) {
        if !["Always", "OnFailure", "Never"].contains(&rp) {
            errs.push(FieldError { field: format!("{path}.restartPolicy"), reason: "FieldValueNotSupported", message: format!("Unsupported value: \"{rp}\": supported values: \"Always\", \"OnFailure\", \"Never\"") });
        }
    }
}

/// Workload kinds: a selector that selects the template's labels, a valid template, and
/// non-negative counts.
pub fn workload(kind: &str, v: &Value, errs: &mut Vec<FieldError>) {
    let spec = v.get("spec");
    let Some(spec) = spec else {
        errs.push(FieldError::required("spec"));
        return;
    };
    for f in [
        "replicas",
        "minReadySeconds",
        "revisionHistoryLimit",
        "completions",
        "parallelism",
        "backoffLimit",
    ] {
        if let Some(n) = spec.get(f).and_then(Value::as_i64) {
            if n < 0 {
                errs.push(FieldError::invalid(
                    format!("spec.{f}"),
                    &n.to_string(),
                    "must be greater than or equal to 0",
                ));
            }
        }
    }
    let tpl = spec.get("template");
    if tpl.is_none() {
        errs.push(FieldError::required("spec.template"));
        return;
    }
    pod_spec(tpl.and_then(|t| t.get("spec")), "spec.template.spec", errs);
    let tpl_labels: std::collections::BTreeMap<String, String> = tpl
        .and_then(|t| t.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    match spec.get("selector") {
        None => errs.push(FieldError::required("spec.selector")),
        Some(sel) => match crate::selector::LabelSelector::from_k8s(sel) {
            Err(e) => errs.push(FieldError::invalid("spec.selector", &sel.to_string(), e)),
            Ok(s) if s.is_empty() => errs.push(FieldError::invalid(
                "spec.selector",
                "{}",
                "empty selector is invalid for deployment",
            )),
            Ok(s) if !s.matches_map(&tpl_labels) => errs.push(FieldError::invalid(
                "spec.template.metadata.labels",
                &format!("{tpl_labels:?}"),
                "`selector` does not match template `labels`",
            )),
            Ok(_) => {}
        },
    }
    let rp = tpl
        .and_then(|t| t.pointer("/spec/restartPolicy"))
        .and_then(Value::as_str)
        .unwrap_or("Always");
    if kind == "Job" && rp == "Always" {
        errs.push(FieldError {
            field: "spec.template.spec.restartPolicy".into(),
            reason: "FieldValueNotSupported",
            message: "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
                .into(),
        });
    }
    if kind != "Job" && rp != "Always" {
        errs.push(FieldError {
            field: "spec.template.spec.restartPolicy".into(),
            reason: "FieldValueNotSupported",
            message: format!("Unsupported value: \"{rp}\": supported values: \"Always\""),
        });
    }
}

/// Services: ports (unless headless or ExternalName), valid port numbers.
pub fn service(v: &Value, errs: &mut Vec<FieldError>) {
    let spec = v.get("spec").cloned().unwrap_or_default();
    let type_ = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&type_) {
        errs.push(FieldError { field: "spec.type".into(), reason: "FieldValueNotSupported", message: format!("Unsupported value: \"{type_}\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"") });
    }
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ports.is_empty() && !headless && type_ != "ExternalName" {
        errs.push(FieldError::required("spec.ports"));
    }
    let mut names = std::collections::HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        if let Some(n) = p.get("port").and_then(Value::as_i64) {
            if !(1..=65535).contains(&n) {
                errs.push(FieldError::invalid(
                    format!("spec.ports[{i}].port"),
                    &n.to_string(),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        } else {
            errs.push(FieldError::required(format!("spec.ports[{i}].port")));
        }
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(format!("spec.ports[{i}].name")));
        }
        if !name.is_empty() && !names.insert(name.to_string()) {
            errs.push(FieldError {
                field: format!("spec.ports[{i}].name"),
                reason: "FieldValueDuplicate",
                message: format!("Duplicate value: \"{name}\""),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(dns1123_label("web-1").is_ok());
        for bad in ["", "Web", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad:?}");
        }
        assert!(dns1123_subdomain("a.b-c.d").is_ok());
        assert!(dns1123_subdomain("a..b").is_err());
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(label_key("UPPER_ok.1").is_ok());
        assert!(label_key("bad/").is_err());
        assert!(label_key("Bad_Prefix/x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("-x").is_err());
    }

    #[test]
    fn workloads_need_a_matching_selector() {
        let ok = json!({"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let mut errs = Vec::new();
        workload("Deployment", &ok, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let mismatch = json!({"spec": {"selector": {"matchLabels": {"app": "db"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        workload("ReplicaSet", &mismatch, &mut errs);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("does not match template"));
        let mut errs = Vec::new();
        workload("Job", &ok, &mut errs);
        assert_eq!(
            errs[0].field, "spec.template.spec.restartPolicy",
            "jobs cannot restart Always"
        );
    }

    #[test]
    fn services_need_ports() {
        let mut errs = Vec::new();
        service(
            &json!({"spec": {"ports": [{"port": 80}, {"port": 70000, "name": "x"}]}}),
            &mut errs,
        );
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.ports[0].name", "spec.ports[1].port"]);
        let mut errs = Vec::new();
        service(&json!({"spec": {"clusterIP": "None"}}), &mut errs);
        assert!(errs.is_empty());
    }

    #[test]
    fn pod_errors_carry_field_paths() {
        let pod = json!({"metadata": {"name": "Bad_Name", "labels": {"ok": "-no"}},
                         "spec": {"containers": [{"name": "a", "image": ""}, {"name": "a", "image": "x",
                                   "ports": [{"containerPort": 70000}]}], "restartPolicy": "Sometimes"}});
        let mut errs = Vec::new();
        metadata(&pod, false, &mut errs);
        pod_spec(pod.get("spec"), "spec", &mut errs);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "metadata.name",
                "metadata.labels.ok",
                "spec.containers[0].image",
                "spec.containers[1].name",
                "spec.containers[1].ports[0].containerPort",
                "spec.restartPolicy"
            ]
        );
    }
}
