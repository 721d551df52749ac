//! Reading Kubernetes objects held as JSON: small accessors that treat a missing or mistyped
//! field as empty (the hub's objects are well-formed; a field another version leaves out must
//! not stop a printout), and kubectl's human ages.

use serde_json::Value;

/// The string at a JSON pointer, or "".
pub fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// The integer at a JSON pointer, or 0.
pub fn i(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// The array at a JSON pointer, or an empty slice.
pub fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `k=v` pairs of a string map at a pointer, sorted by key.
pub fn pairs(v: &Value, ptr: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .pointer(ptr)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The status of condition `kind` in `status.conditions` ("" when absent).
pub fn condition<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    arr(v, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

/// Seconds since the epoch now.
pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Seconds since the epoch of an RFC 3339 timestamp.
pub fn parse_time(ts: &str) -> Option<i64> {
    ts.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// kubectl's age of a timestamp (`5m`, `3h12m`, `<unknown>`).
pub fn age(ts: &str, now: i64) -> String {
    match parse_time(ts) {
        Some(t) => human_duration(u64::try_from(now - t).unwrap_or(0)),
        None => "<unknown>".into(),
    }
}

/// Kubernetes' `HumanDuration` (pure).
pub fn human_duration(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs.is_multiple_of(60) {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m.is_multiple_of(60) {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h.is_multiple_of(24) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors_tolerate_missing_fields() {
        let v = json!({"a": {"b": "x", "n": 3, "l": [1]}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(s(&v, "/a/b"), "x");
        assert_eq!(s(&v, "/a/n"), "");
        assert_eq!(i(&v, "/a/n"), 3);
        assert_eq!(i(&v, "/nope"), 0);
        assert_eq!(arr(&v, "/a/l").len(), 1);
        assert_eq!(
            condition(&v, "Ready").map(|c| s(c, "/status")),
            Some("True")
        );
        assert!(condition(&v, "Other").is_none());
        assert_eq!(
            pairs(&json!({"m": {"b": "2", "a": "1"}}), "/m"),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3 * 3600 + 60 * 12), "3h12m");
        assert_eq!(human_duration(3 * 86_400), "3d");
        let now = parse_time("2025-01-01T00:10:00Z").expect("time");
        assert_eq!(age("2025-01-01T00:00:00Z", now), "10m");
        assert_eq!(age("garbage", now), "<unknown>");
    }
}
