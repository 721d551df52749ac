//! Label and field selectors, parsed from the query strings Kubernetes clients send
//! (`labelSelector=app=web,tier in (a,b),!legacy`, `fieldSelector=spec.nodeName=n1`) and
//! matched against a stored object's pre-extracted labels and fields.

use crate::store::StoredObject;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A conjunction of label requirements; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        for term in split_terms(s) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_term(term)?);
        }
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// From a Kubernetes `LabelSelector` object (`matchLabels` and `matchExpressions` with
    /// In, NotIn, Exists, DoesNotExist), or a plain map as ReplicationControllers use.
    pub fn from_k8s(v: &serde_json::Value) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        let Some(obj) = v.as_object() else {
            return Ok(LabelSelector::default());
        };
        let is_structured = obj.contains_key("matchLabels") || obj.contains_key("matchExpressions");
        let labels = if is_structured {
            obj.get("matchLabels").and_then(|m| m.as_object())
        } else {
            Some(obj)
        };
        for (k, val) in labels.into_iter().flatten() {
            requirements.push(Requirement::Eq(
                k.clone(),
                val.as_str().unwrap_or_default().to_string(),
            ));
        }
        for e in obj
            .get("matchExpressions")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
        {
            let key = e
                .get("key")
                .and_then(|k| k.as_str())
                .unwrap_or_default()
                .to_string();
            let values: Vec<String> = e
                .get("values")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let op = e
                .get("operator")
                .and_then(|o| o.as_str())
                .unwrap_or_default();
            requirements.push(match op {
                "In" if !values.is_empty() => Requirement::In(key, values),
                "NotIn" if !values.is_empty() => Requirement::NotIn(key, values),
                "Exists" if values.is_empty() => Requirement::Exists(key),
                "DoesNotExist" if values.is_empty() => Requirement::NotExists(key),
                "In" | "NotIn" => return Err(format!("{op} requires at least one value")),
                "Exists" | "DoesNotExist" => return Err(format!("{op} takes no values")),
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            });
        }
        Ok(LabelSelector { requirements })
    }

    pub fn matches_fn<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }

    pub fn matches(&self, o: &StoredObject) -> bool {
        self.matches_fn(|k| o.label(k))
    }

    /// Matches a plain label map (as in a pod template).
    pub fn matches_map(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.matches_fn(|k| labels.get(k).map(String::as_str))
    }
}

/// Splits on commas that are not inside `( ... )`.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_term(term: &str) -> Result<Requirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        validate_key(key)?;
        return Ok(Requirement::NotExists(key.to_string()));
    }
    for (op, ctor) in [("!=", 0u8), ("==", 1), ("=", 1)] {
        if let Some((k, v)) = term.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            validate_key(k)?;
            validate_value(v)?;
            return Ok(if ctor == 0 {
                Requirement::NotEq(k.to_string(), v.to_string())
            } else {
                Requirement::Eq(k.to_string(), v.to_string())
            });
        }
    }
    let words: Vec<&str> = term.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let key = words[0].trim();
        let rest = words[1].trim();
        let (negate, list) = if let Some(r) = rest.strip_prefix("notin") {
            (true, r)
        } else if let Some(r) = rest.strip_prefix("in") {
            (false, r)
        } else {
            return Err(format!(
                "unable to parse requirement {term:?}: expected in or notin"
            ));
        };
        let list = list.trim();
        let inner = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| {
                format!("unable to parse requirement {term:?}: values must be in parentheses")
            })?;
        validate_key(key)?;
        let values: Vec<String> = inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        for v in &values {
            validate_value(v)?;
        }
        if values.is_empty() && !negate {
            return Err(format!("unable to parse requirement {term:?}: for 'in' operator, values set can't be empty"));
        }
        return Ok(if negate {
            Requirement::NotIn(key.to_string(), values)
        } else {
            Requirement::In(key.to_string(), values)
        });
    }
    validate_key(term)?;
    Ok(Requirement::Exists(term.to_string()))
}

fn validate_key(k: &str) -> Result<(), String> {
    crate::validation::label_key(k).map_err(|e| format!("invalid label key {k:?}: {e}"))
}

fn validate_value(v: &str) -> Result<(), String> {
    crate::validation::label_value(v).map_err(|e| format!("invalid label value {v:?}: {e}"))
}

/// A field selector: `field=value`, `field==value`, `field!=value`, comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses and checks the fields against what the resource supports.
    pub fn parse(s: &str, supported: &[&str]) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, eq, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: {term:?}; expected field=value or field!=value"
                ));
            };
            let field = field.trim();
            if !supported.contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_string(), eq, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, o: &StoredObject) -> bool {
        self.terms
            .iter()
            .all(|(f, eq, v)| (o.field(f).unwrap_or_default() == v) == *eq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches_every_operator() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("env", "prod")]);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("tier in (front, back)", true),
            ("tier in (back)", false),
            ("tier notin (back)", true),
            ("tier notin (front)", false),
            ("missing notin (x)", true),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("app=web,tier in (front),!legacy", true),
            ("app=web,env=dev", false),
        ];
        for (sel, want) in cases {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches_map(&l), *want, "selector {sel:?}");
        }
    }

    #[test]
    fn from_kubernetes_selectors() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let s = LabelSelector::from_k8s(&serde_json::json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}, {"key": "legacy", "operator": "DoesNotExist"}]})).expect("ok");
        assert!(s.matches_map(&l));
        let rc = LabelSelector::from_k8s(&serde_json::json!({"app": "db"})).expect("ok");
        assert!(!rc.matches_map(&l));
        assert!(LabelSelector::from_k8s(
            &serde_json::json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
        )
        .is_err());
        assert!(LabelSelector::from_k8s(
            &serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})
        )
        .is_err());
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["app in web", "a b c", "app=we b", "tier in ()", "-bad=1"] {
            assert!(
                LabelSelector::parse(bad).is_err(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn field_selector_checks_supported_fields() {
        let fields = ["metadata.name", "spec.nodeName"];
        let f = FieldSelector::parse("spec.nodeName=n1,metadata.name!=x", &fields).expect("parses");
        assert_eq!(f.terms.len(), 2);
        assert!(FieldSelector::parse("spec.bogus=1", &fields).is_err());
        assert!(FieldSelector::parse("nonsense", &fields).is_err());
    }
}
