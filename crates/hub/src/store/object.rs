//! What the store keeps per object and per change.
//!
//! Design: objects are kept as their serialized JSON (`Bytes`) plus the few values selectors
//! need (labels and selectable fields), extracted once at write time. A list is then a
//! concatenation of bytes, a selector never parses JSON, and an object costs about its JSON
//! size in memory, which keeps 100,000 pods well under the hub's memory budget.

use bytes::Bytes;
use serde_json::Value;

/// The fields every kind can be selected by, plus the kind's own (see `ResourceInfo`).
pub const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// One stored object at one revision.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Storage key: `{resource}/{namespace}/{name}` (namespace empty when cluster-scoped).
    pub key: String,
    /// The global revision of the write that produced this version: its resourceVersion.
    pub revision: u64,
    /// The object as JSON, with `metadata.resourceVersion` already set.
    pub json: Bytes,
    /// `metadata.labels`, sorted by key.
    pub labels: Vec<(String, String)>,
    /// Values of selectable fields (`spec.nodeName`, `status.phase`, ...), by path.
    pub fields: Vec<(&'static str, String)>,
}

impl StoredObject {
    /// Builds the stored form of `value` (which must already carry its final metadata).
    pub fn from_value(
        key: String,
        revision: u64,
        value: &Value,
        field_paths: &[&'static str],
    ) -> Self {
        let json = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
        Self::from_parts(key, revision, json, value, field_paths)
    }

    pub fn from_parts(
        key: String,
        revision: u64,
        json: Bytes,
        value: &Value,
        field_paths: &[&'static str],
    ) -> Self {
        let mut labels: Vec<(String, String)> = value
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();
        let fields = COMMON_FIELDS
            .iter()
            .chain(field_paths.iter())
            .map(|path| (*path, field_value(value, path)))
            .collect();
        StoredObject {
            key,
            revision,
            json,
            labels,
            fields,
        }
    }

    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.as_str())
    }

    pub fn field(&self, path: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, v)| v.as_str())
    }

    /// `(namespace, name)` from the key.
    pub fn namespace_and_name(&self) -> (&str, &str) {
        let mut parts = self.key.splitn(3, '/');
        let _resource = parts.next();
        let ns = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        (ns, name)
    }
}

/// The string value at a dotted path (`spec.nodeName`); empty when absent, as Kubernetes
/// field selectors treat missing fields.
pub fn field_value(value: &Value, path: &str) -> String {
    let mut cur = value;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Storage key for an object.
pub fn object_key(resource: &str, namespace: &str, name: &str) -> String {
    format!("{resource}/{namespace}/{name}")
}

/// Key prefix for listing a resource, optionally within one namespace.
pub fn list_prefix(resource: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{resource}/{ns}/"),
        None => format!("{resource}/"),
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            EventType::Added => 0,
            EventType::Modified => 1,
            EventType::Deleted => 2,
        }
    }

    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(EventType::Added),
            1 => Some(EventType::Modified),
            2 => Some(EventType::Deleted),
            _ => None,
        }
    }
}

/// One change, as kept in the watch history. `object` is the new state (the last state for
/// a delete, carrying the delete's revision).
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub revision: u64,
    pub event_type: EventType,
    pub object: std::sync::Arc<StoredObject>,
    /// The previous version of the object, for watchers that filter on what changed (e.g. a
    /// pod that moved off a node). `None` for adds.
    pub previous: Option<std::sync::Arc<StoredObject>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_labels_and_fields() {
        let v = json!({
            "metadata": {"name": "web", "namespace": "default", "labels": {"b": "2", "a": "1"}},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Running"}
        });
        let o = StoredObject::from_value(
            object_key("pods", "default", "web"),
            7,
            &v,
            &["spec.nodeName", "status.phase"],
        );
        assert_eq!(
            o.labels,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(o.label("b"), Some("2"));
        assert_eq!(o.label("c"), None);
        assert_eq!(o.field("spec.nodeName"), Some("n1"));
        assert_eq!(o.field("metadata.namespace"), Some("default"));
        assert_eq!(o.namespace_and_name(), ("default", "web"));
    }

    #[test]
    fn missing_fields_are_empty() {
        let v = json!({"metadata": {"name": "n"}});
        assert_eq!(field_value(&v, "spec.nodeName"), "");
    }
}
