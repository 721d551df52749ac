//! What `label` and `annotate` share: the `KEY=VALUE` / `KEY-` grammar, the `--overwrite`
//! rule and the merge patch that carries the change.
//!
//! [`parse`] and [`plan`] are pure; [`run`] fetches each object, plans, and patches
//! `metadata.labels` or `metadata.annotations` with a JSON merge patch (a `null` removes).

use std::io::Write;

use serde_json::{json, Map, Value};

use super::{report, CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::fields::arr;

/// Which map of `metadata` is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Labels,
    Annotations,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Field::Labels => "labels",
            Field::Annotations => "annotations",
        }
    }

    fn past(self) -> &'static str {
        match self {
            Field::Labels => "labeled",
            Field::Annotations => "annotated",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Field::Labels => "label",
            Field::Annotations => "annotation",
        }
    }
}

/// The flags and arguments of `label` / `annotate`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// TYPE NAME... KEY=VALUE... KEY-..., or TYPE/NAME KEY=VALUE...
    #[arg(required = true, value_name = "TYPE NAME KEY=VAL|KEY-")]
    pub args: Vec<String>,
    /// Replace values that are already set.
    #[arg(long)]
    pub overwrite: bool,
    /// Change every object of TYPE matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Change every object of TYPE in the namespace.
    #[arg(long)]
    pub all: bool,
}

/// One requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Set(String, String),
    Remove(String),
}

/// What the command line asks for (pure parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub objects: Vec<String>,
    pub changes: Vec<Change>,
}

/// Splits arguments into object words (`TYPE`, names, `TYPE/NAME`) and changes
/// (`k=v`, `k-`).
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut objects = Vec::new();
    let mut changes = Vec::new();
    for a in args {
        if let Some((k, v)) = a.split_once('=') {
            if k.is_empty() {
                return Err(format!("invalid change {a:?}: the key is empty"));
            }
            changes.push(Change::Set(k.to_string(), v.to_string()));
        } else if let Some(k) = a.strip_suffix('-').filter(|_| !objects.is_empty()) {
            if k.is_empty() {
                return Err(format!("invalid change {a:?}: the key is empty"));
            }
            changes.push(Change::Remove(k.to_string()));
        } else if changes.is_empty() {
            objects.push(a.clone());
        } else {
            return Err(format!(
                "{a:?}: changes (KEY=VALUE or KEY-) must come after the objects"
            ));
        }
    }
    if changes.is_empty() {
        return Err("at least one change is required (KEY=VALUE or KEY-)".into());
    }
    if objects.is_empty() {
        return Err("you must specify the type of resource".into());
    }
    for (n, c) in changes.iter().enumerate() {
        let key = match c {
            Change::Set(k, _) | Change::Remove(k) => k,
        };
        if changes[..n]
            .iter()
            .any(|o| matches!(o, Change::Set(k, _) | Change::Remove(k) if k == key))
        {
            return Err(format!(
                "can not both modify and remove the same key {key:?} in one command"
            ));
        }
    }
    Ok(Parsed { objects, changes })
}

/// The merge patch for one object's current map, or `None` when nothing would change (pure).
/// Errors when a key already has another value and `overwrite` is false.
pub fn plan(
    current: Option<&Map<String, Value>>,
    changes: &[Change],
    overwrite: bool,
) -> Result<Option<Value>, String> {
    let mut patch = Map::new();
    for c in changes {
        match c {
            Change::Set(k, v) => match current.and_then(|m| m.get(k)).and_then(Value::as_str) {
                Some(old) if old == v => {}
                Some(old) if !overwrite => {
                    return Err(format!(
                        "'{k}' already has a value ({old}), and --overwrite is false"
                    ));
                }
                _ => {
                    patch.insert(k.clone(), Value::String(v.clone()));
                }
            },
            Change::Remove(k) => {
                if current.is_some_and(|m| m.contains_key(k)) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
        }
    }
    Ok((!patch.is_empty()).then_some(Value::Object(patch)))
}

/// Runs `label` or `annotate`.
pub fn run(
    field: Field,
    a: &Args,
    g: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CmdError> {
    let p = parse(&a.args).map_err(CmdError::Usage)?;
    let requests = super::get::parse_args(&p.objects).map_err(CmdError::Usage)?;
    let bulk = a.selector.is_some() || a.all;
    for r in &requests {
        match (r.names.is_empty(), bulk) {
            (true, false) => return Err(CmdError::Usage("resource(s) were provided, but no name was specified (give names, -l SELECTOR or --all)".into())),
            (false, true) => return Err(CmdError::Usage("names cannot be given together with -l or --all".into())),
            _ => {}
        }
    }
    let s = Session::connect(g)?;
    let mut outcome = Outcome::Done;
    for req in &requests {
        let r = s.resolve(&req.typed)?;
        let ns = s.namespace_for(r);
        let objects: Vec<Result<Value, client::ClientError>> = if bulk {
            let q = client::query(&[("labelSelector", a.selector.as_deref().unwrap_or_default())]);
            let list = s
                .client
                .get(&format!("{}{q}", r.collection_path(ns)), client::JSON)?;
            arr(&list, "/items").iter().cloned().map(Ok).collect()
        } else {
            req.names
                .iter()
                .map(|n| s.client.get(&r.item_path(ns, n), client::JSON))
                .collect()
        };
        for o in objects {
            let result = o.map_err(CmdError::from).and_then(|o| {
                let name = crate::fields::s(&o, "/metadata/name").to_string();
                for c in &p.changes {
                    if let Change::Remove(k) = c {
                        let has = o
                            .pointer(&format!("/metadata/{}", field.key()))
                            .and_then(Value::as_object)
                            .is_some_and(|m| m.contains_key(k));
                        if !has {
                            eprintln!("{} \"{k}\" not found.", field.singular());
                        }
                    }
                }
                let current = o
                    .pointer(&format!("/metadata/{}", field.key()))
                    .and_then(Value::as_object);
                let patch = plan(current, &p.changes, a.overwrite).map_err(CmdError::Usage)?;
                match patch {
                    Some(m) => {
                        s.client.patch(
                            &r.item_path(ns, &name),
                            client::MERGE_PATCH,
                            &json!({"metadata": {field.key(): m}}),
                        )?;
                        Ok(format!("{}/{name} {}", r.type_name(), field.past()))
                    }
                    None => Ok(format!("{}/{name} not {}", r.type_name(), field.past())),
                }
            });
            match result {
                Ok(line) => writeln!(out, "{line}")?,
                Err(e) => {
                    report(e);
                    outcome = Outcome::Failed;
                }
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_objects_then_changes() {
        let p = parse(&a(&["pods", "web", "db", "app=web", "tier-"])).expect("parses");
        assert_eq!(p.objects, a(&["pods", "web", "db"]));
        assert_eq!(
            p.changes,
            [
                Change::Set("app".into(), "web".into()),
                Change::Remove("tier".into())
            ]
        );
        let p = parse(&a(&["pod/web", "note=a=b"])).expect("parses");
        assert_eq!(p.changes, [Change::Set("note".into(), "a=b".into())]);
        assert!(parse(&a(&["pods", "web"])).is_err(), "no change");
        assert!(
            parse(&a(&["pods", "a=b", "web"])).is_err(),
            "names after changes"
        );
        assert!(
            parse(&a(&["pods", "web", "a=b", "a-"])).is_err(),
            "same key twice"
        );
        assert!(parse(&a(&["pods", "web", "=b"])).is_err());
    }

    #[test]
    fn overwrite_guards_existing_values() {
        let cur: Map<String, Value> =
            serde_json::from_str(r#"{"app": "web", "tier": "front"}"#).expect("map");
        let set = |k: &str, v: &str| Change::Set(k.into(), v.into());
        assert_eq!(
            plan(Some(&cur), &[set("app", "web")], false),
            Ok(None),
            "same value: nothing to do"
        );
        assert!(plan(Some(&cur), &[set("app", "db")], false)
            .expect_err("overwrite")
            .contains("--overwrite is false"));
        assert_eq!(
            plan(Some(&cur), &[set("app", "db")], true),
            Ok(Some(json!({"app": "db"})))
        );
        assert_eq!(
            plan(
                Some(&cur),
                &[Change::Remove("tier".into()), Change::Remove("nope".into())],
                false
            ),
            Ok(Some(json!({"tier": null})))
        );
        assert_eq!(
            plan(None, &[set("new", "1")], false),
            Ok(Some(json!({"new": "1"})))
        );
    }
}
