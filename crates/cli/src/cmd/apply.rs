//! `shoalctl apply -f FILE|DIR|-`: create what is missing, patch what differs.
//!
//! The hub has no server-side apply, so this is kubectl's client-side apply: the manifest is
//! recorded in the `kubectl.kubernetes.io/last-applied-configuration` annotation, and an
//! existing object gets a patch made of the new manifest plus a deletion for every field (or
//! keyed list element) the previous manifest set and the new one dropped. Fields other
//! writers own, like `status` or the server's defaults, are left alone. A dry run of the patch
//! tells whether anything would change: `configured` or `unchanged`.
//!
//! Design: the patch is a strategic merge patch, as kubectl sends for built-in kinds, not a
//! JSON merge patch. A merge patch replaces lists whole, so re-applying a pod would drop the
//! server's defaults inside `spec.containers` (`imagePullPolicy`, port `protocol`, ...) and
//! the hub rightly refuses such a pod update; a strategic merge matches list elements by
//! their merge key (containers by `name`) instead. Every kind the hub serves is built in.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::{
    done, for_each_document, quoted, CmdError, GlobalArgs, ManifestArgs, Outcome, Session,
};
use crate::client;
use crate::manifest::Document;

/// Where the last applied manifest is kept (kubectl's own annotation, so either tool can
/// take over from the other).
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Debug, clap::Args)]
pub struct Apply {
    #[command(flatten)]
    manifests: ManifestArgs,
}

impl Apply {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        super::require_files(&self.manifests)?;
        for_each_document(g, &self.manifests, "apply", out, apply_one)
    }
}

fn apply_one(s: &Session, doc: &Document) -> Result<String, CmdError> {
    let (r, ns) = s.place(doc)?;
    let name = doc.require_name()?;
    let desired = with_last_applied(&doc.object);
    let item = r.item_path(ns.as_deref(), name);
    let current = match s.client.get(&item, client::JSON) {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            s.client
                .post(&r.collection_path(ns.as_deref()), &desired)
                .map_err(|e| e.context(&format!("error when creating {}", quoted(doc))))?;
            return Ok(done(r, name, "created"));
        }
        Err(e) => {
            let what = format!(
                "error when retrieving current configuration of {} \"{name}\" from {}",
                r.type_name(),
                quoted(doc)
            );
            return Err(e.context(&what).into());
        }
    };
    let previous = current
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok());
    let patch = three_way_patch(previous.as_ref(), &desired);
    let context = |e: client::ClientError| {
        e.context(&format!(
            "error when applying {} to {} \"{name}\"",
            quoted(doc),
            r.type_name()
        ))
    };
    let preview = s
        .client
        .strategic_patch(&format!("{item}?dryRun=All"), &patch)
        .map_err(context)?;
    if same_object(&current, &preview) {
        return Ok(done(r, name, "unchanged"));
    }
    s.client.strategic_patch(&item, &patch).map_err(context)?;
    Ok(done(r, name, "configured"))
}

/// The manifest with itself recorded in the last-applied annotation.
pub fn with_last_applied(manifest: &Value) -> Value {
    let mut recorded = manifest.clone();
    if let Some(a) = recorded
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            if let Some(m) = recorded.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("annotations");
            }
        }
    }
    let text = serde_json::to_string(&recorded).unwrap_or_default();
    let mut out = manifest.clone();
    if !out.get("metadata").is_some_and(Value::is_object) {
        out["metadata"] = json!({});
    }
    if !out["metadata"]
        .get("annotations")
        .is_some_and(Value::is_object)
    {
        out["metadata"]["annotations"] = json!({});
    }
    out["metadata"]["annotations"][LAST_APPLIED] = Value::String(text);
    out
}

/// A strategic merge patch taking the live object to `desired`: all of `desired`, plus a
/// `null` for each field `previous` (the last applied manifest) set that `desired` no longer
/// does, and a `$patch: delete` for each keyed list element it dropped. Lists without a merge
/// key are replaced whole (pure).
pub fn three_way_patch(previous: Option<&Value>, desired: &Value) -> Value {
    diff(None, previous, desired)
}

fn diff(field: Option<&str>, previous: Option<&Value>, desired: &Value) -> Value {
    match (previous, desired) {
        (Some(Value::Object(prev)), Value::Object(want)) => {
            let mut patch = Map::new();
            for (k, v) in want {
                patch.insert(k.clone(), diff(Some(k), prev.get(k), v));
            }
            for k in prev.keys() {
                if !want.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        (Some(Value::Array(prev)), Value::Array(want)) => {
            let all: Vec<Value> = prev.iter().chain(want).cloned().collect();
            match field
                .and_then(|f| merge_key(f, &all))
                .filter(|k| all.iter().all(|e| e.get(*k).is_some()))
            {
                Some(key) => {
                    let mut out: Vec<Value> = want
                        .iter()
                        .map(|w| diff(None, prev.iter().find(|p| p.get(key) == w.get(key)), w))
                        .collect();
                    for p in prev {
                        if !want.iter().any(|w| w.get(key) == p.get(key)) {
                            out.push(json!({key: p.get(key), "$patch": "delete"}));
                        }
                    }
                    Value::Array(out)
                }
                None => desired.clone(),
            }
        }
        (_, v) => v.clone(),
    }
}

/// The merge key Kubernetes declares (`x-kubernetes-patch-merge-key`) for the core types'
/// keyed lists, by field name; `ports` is keyed by `containerPort` in containers and by `port`
/// in services. The hub merges by the same keys.
fn merge_key(field: &str, elems: &[Value]) -> Option<&'static str> {
    let has = |k: &str| elems.iter().any(|e| e.get(k).is_some());
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "ports" if has("containerPort") => Some("containerPort"),
        "ports" => Some("port"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" | "addresses" => Some("type"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

/// Equal but for what every write changes.
pub fn same_object(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in ["resourceVersion", "generation", "managedFields"] {
                m.remove(f);
            }
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_applied_records_the_manifest_without_itself() {
        let m = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "annotations": {LAST_APPLIED: "old"}}});
        let out = with_last_applied(&m);
        let recorded: Value = serde_json::from_str(
            out["metadata"]["annotations"][LAST_APPLIED]
                .as_str()
                .expect("string"),
        )
        .expect("json");
        assert_eq!(
            recorded,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}})
        );
        let bare = with_last_applied(&json!({"kind": "Namespace"}));
        assert!(bare["metadata"]["annotations"][LAST_APPLIED].is_string());
    }

    #[test]
    fn patch_removes_what_the_last_manifest_set_and_the_new_one_drops() {
        let prev = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": {"a": 1, "b": {"c": 2}}});
        let want = json!({"metadata": {"labels": {"app": "web2"}}, "spec": {"b": {"d": 3}}});
        assert_eq!(
            three_way_patch(Some(&prev), &want),
            json!({"metadata": {"labels": {"app": "web2", "tier": null}}, "spec": {"a": null, "b": {"c": null, "d": 3}}})
        );
        assert_eq!(
            three_way_patch(None, &want),
            want,
            "without history the manifest is the patch"
        );
        let lists = three_way_patch(Some(&json!({"args": [1, 2]})), &json!({"args": [3]}));
        assert_eq!(lists, json!({"args": [3]}), "unkeyed lists are replaced");
    }

    #[test]
    fn keyed_list_elements_are_diffed_and_dropped_ones_deleted() {
        let prev = json!({"spec": {"containers": [
            {"name": "a", "image": "x:1", "args": ["-v"], "ports": [{"containerPort": 80}, {"containerPort": 81}]},
            {"name": "b", "image": "y:1"}
        ]}});
        let want = json!({"spec": {"containers": [{"name": "a", "image": "x:2", "ports": [{"containerPort": 80}]}]}});
        assert_eq!(
            three_way_patch(Some(&prev), &want),
            json!({"spec": {"containers": [
                {"name": "a", "image": "x:2", "args": null, "ports": [{"containerPort": 80}, {"containerPort": 81, "$patch": "delete"}]},
                {"name": "b", "$patch": "delete"}
            ]}})
        );
    }

    #[test]
    fn sameness_ignores_write_bookkeeping() {
        let a = json!({"metadata": {"name": "x", "resourceVersion": "5", "generation": 1}, "spec": {"a": 1}});
        let b = json!({"metadata": {"name": "x", "resourceVersion": "6", "generation": 2}, "spec": {"a": 1}});
        assert!(same_object(&a, &b));
        let c = json!({"metadata": {"name": "x"}, "spec": {"a": 2}});
        assert!(!same_object(&a, &c));
    }
}
