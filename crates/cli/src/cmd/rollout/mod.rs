//! `shoalctl rollout status|history|undo|pause|resume|restart` for Deployments and
//! DaemonSets, following kubectl's rules against the hub's own rollout machinery: a
//! Deployment's revisions are its ReplicaSets (`deployment.kubernetes.io/revision`), a
//! DaemonSet's are its ControllerRevisions; undo writes an old template back, the controllers
//! do the rest.

pub mod history;
pub mod patch;
pub mod status;
pub mod undo;

use std::io::Write;

use serde_json::Value;

use super::get::parse_args;
use super::{CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::fields::{arr, s};
use crate::resource::ApiResource;

#[derive(Debug, clap::Args)]
pub struct Rollout {
    #[command(subcommand)]
    cmd: RolloutCmd,
}

#[derive(Debug, clap::Subcommand)]
enum RolloutCmd {
    /// Show a rollout's progress until it completes (non-zero exit when it fails or times out).
    Status(status::Status),
    /// List a workload's revisions.
    History(history::History),
    /// Roll back to the previous (or a given) revision.
    Undo(undo::Undo),
    /// Pause a Deployment's rollout.
    Pause(patch::Pause),
    /// Resume a paused Deployment.
    Resume(patch::Resume),
    /// Restart every pod of a workload (a new rollout of the same template).
    Restart(patch::Restart),
}

impl Rollout {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        match &self.cmd {
            RolloutCmd::Status(c) => c.run(g, out),
            RolloutCmd::History(c) => c.run(g, out),
            RolloutCmd::Undo(c) => c.run(g, out),
            RolloutCmd::Pause(c) => c.run(g, out),
            RolloutCmd::Resume(c) => c.run(g, out),
            RolloutCmd::Restart(c) => c.run(g, out),
        }
    }
}

/// Which kinds of workload a rollout verb takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Deployment,
    DaemonSet,
}

/// One workload named on the command line.
pub struct Target<'a> {
    pub r: &'a ApiResource,
    pub kind: Workload,
    pub name: String,
}

impl Target<'_> {
    pub fn path(&self, s: &Session) -> String {
        self.r.item_path(s.namespace_for(self.r), &self.name)
    }

    /// `deployment.apps/web`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.r.type_name(), self.name)
    }
}

/// Resolves `TYPE NAME` or `TYPE/NAME` to Deployments and DaemonSets; other kinds are refused
/// as kubectl refuses them.
pub fn targets<'a>(s: &'a Session, args: &[String]) -> Result<Vec<Target<'a>>, CmdError> {
    let requests =
        parse_args(args).map_err(|e| CmdError::Usage(e.replace("to get", "for rollout")))?;
    let mut out = Vec::new();
    for req in requests {
        if req.names.is_empty() {
            return Err(CmdError::Usage(
                "required resource not specified: give TYPE NAME or TYPE/NAME".into(),
            ));
        }
        let r = s.resolve(&req.typed)?;
        let kind = match (r.group.as_str(), r.kind.as_str()) {
            ("apps", "Deployment") => Workload::Deployment,
            ("apps", "DaemonSet") => Workload::DaemonSet,
            _ => {
                return Err(CmdError::Usage(format!(
                    "no rollouts for {}: rollout works on deployments and daemonsets",
                    r.type_name()
                )))
            }
        };
        for name in req.names {
            out.push(Target { r, kind, name });
        }
    }
    Ok(out)
}

/// The objects that hold a workload's revisions: ReplicaSets of a Deployment, or
/// ControllerRevisions of a DaemonSet, each with its revision number, oldest first.
pub fn revisions(s: &Session, t: &Target, owner: &Value) -> Result<Vec<(i64, Value)>, CmdError> {
    let ns = s.namespace_for(t.r);
    let uid = s_str(owner, "/metadata/uid");
    let (plural, group) = match t.kind {
        Workload::Deployment => ("replicasets", "apps"),
        Workload::DaemonSet => ("controllerrevisions", "apps"),
    };
    let path = format!(
        "/apis/{group}/v1/namespaces/{}/{plural}",
        client::encode(ns.unwrap_or("default"))
    );
    let list = s.client.get(&path, client::JSON)?;
    let mut out: Vec<(i64, Value)> = arr(&list, "/items")
        .iter()
        .filter(|o| {
            arr(o, "/metadata/ownerReferences").iter().any(|r| {
                s_str(r, "/uid") == uid
                    && r.get("controller").and_then(Value::as_bool) == Some(true)
            })
        })
        .map(|o| (revision_of(t.kind, o), o.clone()))
        .collect();
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

fn s_str<'a>(v: &'a Value, p: &str) -> &'a str {
    s(v, p)
}

/// The revision number of a ReplicaSet (its annotation) or ControllerRevision (its field).
pub fn revision_of(kind: Workload, o: &Value) -> i64 {
    match kind {
        Workload::Deployment => s(
            o,
            "/metadata/annotations/deployment.kubernetes.io~1revision",
        )
        .parse()
        .unwrap_or(0),
        Workload::DaemonSet => o.get("revision").and_then(Value::as_i64).unwrap_or(0),
    }
}
