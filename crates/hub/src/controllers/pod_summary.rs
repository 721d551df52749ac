//! What the replica controllers need to know about a pod, parsed once per change.
//!
//! A pod's stored JSON is a few kilobytes (spec, container statuses); the ReplicaSet
//! controller needs a dozen small fields of it. Parsing the whole object into a
//! `serde_json::Value` tree for every pod on every sync made a 10,000-replica ReplicaSet
//! cost 10,000 full parses per pod status change. Instead the controller keeps a
//! [`PodSummary`] per pod, rebuilt from the change stream when the pod changes: work
//! proportional to change, like kube-controller-manager's informer cache.
//!
//! Design: [`PodSummary::from_json`] deserializes into a small borrowed struct that skips
//! every other field without allocating; [`PodSummary::from_value`] reads the same fields
//! from an already parsed `Value` (tests, and the fallback when the fast path rejects a
//! document). A table test keeps the two in agreement.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{parse_time_ms, Millis};

/// The controller owner reference of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// The fields of a pod that replica counting, adoption and scale-down ranking read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodSummary {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub controller: Option<OwnerRef>,
    pub node_name: String,
    pub phase: String,
    pub deleting: bool,
    pub creation_timestamp: String,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// When the `Ready` condition last changed (for `minReadySeconds`).
    pub ready_since: Option<Millis>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPod<'a> {
    #[serde(borrow, default)]
    metadata: RawMeta<'a>,
    #[serde(borrow, default)]
    spec: Option<RawSpec<'a>>,
    #[serde(borrow, default)]
    status: Option<RawStatus<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawMeta<'a> {
    #[serde(default)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(borrow, default)]
    owner_references: Option<Vec<RawRef<'a>>>,
    #[serde(borrow, default)]
    deletion_timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    creation_timestamp: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawRef<'a> {
    #[serde(borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    uid: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    controller: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec<'a> {
    #[serde(borrow, default)]
    node_name: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawStatus<'a> {
    #[serde(borrow, default)]
    phase: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    conditions: Option<Vec<RawCondition<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCondition<'a> {
    #[serde(borrow, default, rename = "type")]
    type_: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    last_transition_time: Option<std::borrow::Cow<'a, str>>,
}

fn owned(s: Option<std::borrow::Cow<'_, str>>) -> String {
    s.map(|s| s.into_owned()).unwrap_or_default()
}

impl PodSummary {
    /// From a pod's stored JSON, falling back to a full parse when the fast path rejects it
    /// (a label that is not a string, say). `None` when it is not JSON at all.
    pub fn from_json(json: &[u8]) -> Option<PodSummary> {
        match serde_json::from_slice::<RawPod<'_>>(json) {
            Ok(raw) => Some(Self::from_raw(raw)),
            Err(_) => serde_json::from_slice::<Value>(json)
                .ok()
                .map(|v| Self::from_value(&v)),
        }
    }

    fn from_raw(raw: RawPod<'_>) -> PodSummary {
        let controller = raw
            .metadata
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .find(|r| r.controller == Some(true))
            .and_then(|r| {
                Some(OwnerRef {
                    kind: r.kind?.into_owned(),
                    name: r.name?.into_owned(),
                    uid: r.uid?.into_owned(),
                })
            });
        let (phase, conditions) = match raw.status {
            Some(s) => (owned(s.phase), s.conditions.unwrap_or_default()),
            None => (String::new(), Vec::new()),
        };
        let ready = conditions
            .into_iter()
            .find(|c| c.type_.as_deref() == Some("Ready"));
        PodSummary {
            name: owned(raw.metadata.name),
            labels: raw.metadata.labels.unwrap_or_default(),
            controller,
            node_name: owned(raw.spec.and_then(|s| s.node_name)),
            phase,
            deleting: raw.metadata.deletion_timestamp.is_some(),
            creation_timestamp: owned(raw.metadata.creation_timestamp),
            ready: ready
                .as_ref()
                .is_some_and(|c| c.status.as_deref() == Some("True")),
            ready_since: ready
                .and_then(|c| c.last_transition_time)
                .and_then(|t| parse_time_ms(&t)),
        }
    }

    /// From a parsed pod.
    pub fn from_value(v: &Value) -> PodSummary {
        let ready = super::ready_condition(v);
        PodSummary {
            name: super::name_of(v).to_string(),
            labels: super::labels_of(v),
            controller: super::controller_of(v).map(|(kind, name, uid)| OwnerRef {
                kind: kind.to_string(),
                name: name.to_string(),
                uid: uid.to_string(),
            }),
            node_name: super::str_at(v, "/spec/nodeName").to_string(),
            phase: super::str_at(v, "/status/phase").to_string(),
            deleting: super::is_deleting(v),
            creation_timestamp: super::str_at(v, "/metadata/creationTimestamp").to_string(),
            ready: super::pod_is_ready(v),
            ready_since: ready
                .and_then(|c| c.get("lastTransitionTime"))
                .and_then(Value::as_str)
                .and_then(parse_time_ms),
        }
    }

    /// Not finished and not being deleted (as [`super::pod_is_active`]).
    pub fn is_active(&self) -> bool {
        self.phase != "Succeeded" && self.phase != "Failed" && !self.deleting
    }

    /// Ready for at least `min_ready_secs` at `now`; as [`super::pod_availability`].
    pub fn availability(&self, min_ready_secs: u64, now: Millis) -> Result<bool, Duration> {
        if !self.ready {
            return Ok(false);
        }
        if min_ready_secs == 0 {
            return Ok(true);
        }
        let until = self.ready_since.unwrap_or(0) + min_ready_secs * 1000;
        if now >= until {
            Ok(true)
        } else {
            Err(Duration::from_millis(until - now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fast_parse_agrees_with_the_value_parse() {
        let cases = vec![
            json!({}),
            json!({"metadata": {"name": "a"}}),
            json!({"metadata": {"name": "b", "namespace": "d", "labels": {"app": "web", "tier": "f"},
                "creationTimestamp": "2026-01-01T00:00:00Z", "deletionTimestamp": "2026-01-01T00:01:00Z",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Other", "name": "o", "uid": "u0"},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1", "controller": true}]},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x", "env": [{"name": "A", "value": "\"quoted\\n\""}]}]},
                "status": {"phase": "Running", "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"}],
                    "containerStatuses": [{"name": "c", "ready": true, "state": {"running": {}}}]}}),
            json!({"metadata": {"name": "c\u{e9}\\", "ownerReferences": [{"kind": "ReplicaSet", "name": "w", "uid": "u", "controller": false}]},
                "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}}),
            // Not the fast path's shape: falls back to the full parse.
            json!({"metadata": {"name": "d", "labels": {"n": 1}}}),
        ];
        for v in cases {
            let bytes = serde_json::to_vec(&v).expect("json");
            assert_eq!(
                PodSummary::from_json(&bytes),
                Some(PodSummary::from_value(&v)),
                "{v}"
            );
        }
        assert_eq!(PodSummary::from_json(b"not json"), None);
    }

    #[test]
    fn availability_follows_min_ready_seconds() {
        let p = PodSummary {
            ready: true,
            ready_since: Some(10_000),
            ..Default::default()
        };
        assert_eq!(p.availability(0, 10_000), Ok(true));
        assert_eq!(p.availability(5, 12_000), Err(Duration::from_secs(3)));
        assert_eq!(p.availability(5, 15_000), Ok(true));
        let not_ready = PodSummary::default();
        assert_eq!(not_ready.availability(0, 0), Ok(false));
        let finished = PodSummary {
            phase: "Succeeded".into(),
            ..Default::default()
        };
        assert!(!finished.is_active());
        assert!(PodSummary::default().is_active());
    }
}
