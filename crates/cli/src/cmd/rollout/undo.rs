//! `shoalctl rollout undo TYPE/NAME [--to-revision N]`, as kubectl does it against the API:
//!
//! - a Deployment gets the ReplicaSet's pod template back (without its `pod-template-hash`
//!   label) and that ReplicaSet's annotations, in one JSON patch; the deployment controller
//!   then finds the old ReplicaSet by template and gives it the next revision number;
//! - a DaemonSet gets its ControllerRevision's data (a strategic merge patch of the template)
//!   applied; the DaemonSet controller rolls the fleet back in waves.
//!
//! `--to-revision 0` (the default) means the revision before the current one.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::history::template_of;
use super::{revisions, targets, Workload};
use crate::client;
use crate::cmd::{CmdError, GlobalArgs, Outcome, Session};

/// Annotations a rollback keeps from the Deployment instead of copying them from the
/// ReplicaSet (kubectl's `annotationsToSkip`).
const KEEP: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

#[derive(Debug, clap::Args)]
pub struct Undo {
    /// TYPE NAME or TYPE/NAME (deployment or daemonset).
    #[arg(required = true, value_name = "TYPE NAME")]
    args: Vec<String>,
    /// The revision to go back to; 0 is the one before the current.
    #[arg(long, default_value_t = 0)]
    to_revision: i64,
}

/// Which revision to restore (pure): `to` itself, or for 0 the highest below the current
/// (highest) one.
pub fn pick(revs: &[i64], to: i64) -> Result<i64, String> {
    if to > 0 {
        return revs
            .contains(&to)
            .then_some(to)
            .ok_or_else(|| format!("unable to find specified revision {to} in history"));
    }
    let mut sorted: Vec<i64> = revs.iter().copied().filter(|r| *r > 0).collect();
    sorted.sort_unstable();
    sorted.dedup();
    match sorted.len() {
        0 => Err("no rollout history found".into()),
        1 => Err("no revision to roll back to (there is only the current one)".into()),
        n => Ok(sorted[n - 2]),
    }
}

/// The JSON patch that puts a ReplicaSet's template and annotations on a Deployment (pure).
pub fn deployment_patch(deploy: &Value, rs: &Value) -> Value {
    let mut annotations = Map::new();
    let current = deploy
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    for k in KEEP {
        if let Some(v) = current.and_then(|a| a.get(*k)) {
            annotations.insert(k.to_string(), v.clone());
        }
    }
    if let Some(a) = rs
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for (k, v) in a {
            if !KEEP.contains(&k.as_str()) {
                annotations.insert(k.clone(), v.clone());
            }
        }
    }
    json!([
        {"op": "replace", "path": "/spec/template", "value": template_of(Workload::Deployment, rs)},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ])
}

impl Undo {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let s = Session::connect(g)?;
        for t in targets(&s, &self.args)? {
            let path = t.path(&s);
            let owner = s.client.get(&path, client::JSON)?;
            if t.kind == Workload::Deployment
                && owner.pointer("/spec/paused").and_then(Value::as_bool) == Some(true)
            {
                return Err(CmdError::Usage(format!(
                    "you cannot rollback a paused deployment; resume it first with 'shoalctl rollout resume {}' and try again",
                    t.label()
                )));
            }
            let revs = revisions(&s, &t, &owner)?;
            let numbers: Vec<i64> = revs.iter().map(|(n, _)| *n).collect();
            let n = pick(&numbers, self.to_revision)
                .map_err(|e| CmdError::Usage(format!("{}: {e}", t.label())))?;
            let Some((_, rev)) = revs.iter().find(|(r, _)| *r == n) else {
                return Err(CmdError::Usage(format!(
                    "unable to find specified revision {n} in history"
                )));
            };
            let current = owner
                .pointer("/spec/template")
                .cloned()
                .unwrap_or(Value::Null);
            let wanted = template_of(t.kind, rev);
            if same_template(&current, &wanted) {
                writeln!(
                    out,
                    "{} skipped rollback (current template already matches revision {n})",
                    t.label()
                )?;
                continue;
            }
            match t.kind {
                Workload::Deployment => {
                    s.client
                        .patch(&path, client::JSON_PATCH, &deployment_patch(&owner, rev))?;
                }
                Workload::DaemonSet => {
                    let data = rev.get("data").cloned().unwrap_or(Value::Null);
                    s.client.strategic_patch(&path, &data)?;
                }
            }
            writeln!(out, "{} rolled back", t.label())?;
        }
        Ok(Outcome::Done)
    }
}

/// Templates equal but for the `pod-template-hash` label.
fn same_template(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(l) = v
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            l.remove("pod-template-hash");
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_revision_is_the_second_highest() {
        assert_eq!(pick(&[1, 2, 3], 0), Ok(2));
        assert_eq!(pick(&[3, 1], 0), Ok(1));
        assert_eq!(pick(&[1, 2, 3], 1), Ok(1));
        assert!(pick(&[1, 2], 5)
            .expect_err("missing")
            .contains("revision 5"));
        assert!(pick(&[4], 0).is_err());
        assert!(pick(&[], 0).is_err());
    }

    #[test]
    fn a_deployment_gets_the_replicasets_template_and_annotations() {
        let d = json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "new", "team": "a"}}});
        let rs = json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "1", "kubernetes.io/change-cause": "old"}},
                        "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}}});
        let p = deployment_patch(&d, &rs);
        assert_eq!(p[0]["path"], "/spec/template");
        assert_eq!(p[0]["value"]["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(p[0]["value"]["spec"]["containers"][0]["image"], "v1");
        assert_eq!(
            p[1]["value"],
            json!({"deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "old"})
        );
    }
}
