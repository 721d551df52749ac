//! The event contract on MQTT: what an agent publishes on `shoal/v1/nodes/{node}/events`
//! (QoS 1, not retained) and what the hub turns into a `v1/Event`.
//!
//! One message is one *series*: the agent's recorder aggregates the same reason, message and
//! object within a window into one `id` whose `count` grows (like kubelet's event recorder),
//! so the hub upserts Event `{pod}.{id}` instead of writing a new object per occurrence.
//! A later message of a series carries the whole state (count, first and last time), so a
//! lost or reordered one is repaired by the next.
//!
//! [`EventReport::validate`] is the one check both sides use: the agent never publishes what
//! the hub would drop, and the hub drops (and logs) anything else.

use serde::{Deserialize, Serialize};

/// Largest event payload the hub accepts.
pub const MAX_EVENT_PAYLOAD: usize = 16 * 1024;
/// Longest `message`, in bytes; the agent truncates longer ones (on a char boundary).
pub const MAX_EVENT_MESSAGE: usize = 1024;
/// Longest `reason` (Kubernetes' CamelCase reasons are far shorter).
pub const MAX_EVENT_REASON: usize = 128;
/// Longest series `id` (`[0-9a-z]`).
pub const MAX_EVENT_ID: usize = 32;
/// Longest `involvedObject.fieldPath`.
pub const MAX_FIELD_PATH: usize = 256;

/// One event series about a pod on the publishing node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventReport {
    /// The publishing node; must be the topic's node and the pod's `spec.nodeName`.
    pub node_name: String,
    /// Series id, `[0-9a-z]{1,32}`, unique per node; the Event is named `{pod}.{id}`.
    pub id: String,
    pub involved_object: EventObject,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// CamelCase reason, e.g. `Started`, `BackOff`, `Unhealthy`.
    pub reason: String,
    pub message: String,
    /// Occurrences in this series so far, at least 1.
    pub count: u32,
    /// Milliseconds since the Unix epoch of the first and the latest occurrence.
    pub first_timestamp_ms: u64,
    pub last_timestamp_ms: u64,
}

/// The object an event is about: always a Pod (a container of it with `fieldPath`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventObject {
    /// `Pod`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// e.g. `spec.containers{web}`; empty for the pod as a whole.
    #[serde(default)]
    pub field_path: String,
}

impl EventReport {
    /// Checks shape and bounds; the reason is what is wrong. Pure.
    pub fn validate(&self) -> Result<(), &'static str> {
        let o = &self.involved_object;
        if self.node_name.is_empty() {
            return Err("nodeName is empty");
        }
        if self.id.is_empty()
            || self.id.len() > MAX_EVENT_ID
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        {
            return Err("id must be 1-32 of [0-9a-z]");
        }
        if o.kind != "Pod" {
            return Err("involvedObject.kind must be Pod");
        }
        if o.namespace.is_empty() || o.name.is_empty() || o.uid.is_empty() {
            return Err("involvedObject needs namespace, name and uid");
        }
        if o.namespace.len() > 63 || o.name.len() > 253 || o.uid.len() > 128 {
            return Err("involvedObject namespace, name or uid too long");
        }
        if o.field_path.len() > MAX_FIELD_PATH {
            return Err("involvedObject.fieldPath too long");
        }
        if self.type_ != "Normal" && self.type_ != "Warning" {
            return Err("type must be Normal or Warning");
        }
        if self.reason.is_empty()
            || self.reason.len() > MAX_EVENT_REASON
            || !self.reason.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err("reason must be 1-128 ASCII letters and digits");
        }
        if self.message.len() > MAX_EVENT_MESSAGE {
            return Err("message too long");
        }
        if self.count == 0 {
            return Err("count must be at least 1");
        }
        if self.first_timestamp_ms > self.last_timestamp_ms {
            return Err("firstTimestampMs is after lastTimestampMs");
        }
        Ok(())
    }
}

/// `message` cut to at most [`MAX_EVENT_MESSAGE`] bytes on a char boundary.
pub fn truncate_message(message: &str) -> String {
    if message.len() <= MAX_EVENT_MESSAGE {
        return message.to_string();
    }
    let mut end = MAX_EVENT_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EventReport {
        EventReport {
            node_name: "edge-1".into(),
            id: "0a1b2c".into(),
            involved_object: EventObject {
                kind: "Pod".into(),
                namespace: "default".into(),
                name: "web".into(),
                uid: "u-1".into(),
                field_path: "spec.containers{web}".into(),
            },
            type_: "Warning".into(),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container web".into(),
            count: 3,
            first_timestamp_ms: 1_000,
            last_timestamp_ms: 2_000,
        }
    }

    #[test]
    fn a_good_report_passes_and_round_trips_as_documented_json() {
        let r = sample();
        assert_eq!(r.validate(), Ok(()));
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["type"], "Warning");
        assert_eq!(v["involvedObject"]["fieldPath"], "spec.containers{web}");
        assert_eq!(v["firstTimestampMs"], 1_000);
        let back: EventReport = serde_json::from_value(v).expect("back");
        assert_eq!(back, r);
    }

    #[test]
    fn bad_reports_are_refused_with_a_reason() {
        type Edit = fn(&mut EventReport);
        let cases: [(Edit, &str); 10] = [
            (|r| r.id = "ABC".into(), "id"),
            (|r| r.id = "a".repeat(33), "id"),
            (|r| r.involved_object.kind = "Node".into(), "kind"),
            (|r| r.involved_object.uid.clear(), "uid"),
            (|r| r.type_ = "Error".into(), "type"),
            (|r| r.reason = "Back off".into(), "reason"),
            (|r| r.message = "x".repeat(MAX_EVENT_MESSAGE + 1), "message"),
            (|r| r.count = 0, "count"),
            (|r| r.first_timestamp_ms = 3_000, "firstTimestampMs"),
            (|r| r.node_name.clear(), "nodeName"),
        ];
        for (edit, what) in cases {
            let mut r = sample();
            edit(&mut r);
            let err = r.validate().expect_err(what);
            assert!(err.contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let m = "é".repeat(MAX_EVENT_MESSAGE);
        let t = truncate_message(&m);
        assert!(t.len() <= MAX_EVENT_MESSAGE && t.len() >= MAX_EVENT_MESSAGE - 1);
        assert!(t.chars().all(|c| c == 'é'));
        assert_eq!(truncate_message("short"), "short");
    }
}
