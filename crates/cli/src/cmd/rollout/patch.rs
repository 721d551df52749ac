//! `shoalctl rollout pause|resume|restart TYPE/NAME`: one patch each, as kubectl sends it.
//! Pause and resume set a Deployment's `spec.paused` (DaemonSets cannot pause); restart stamps
//! `kubectl.kubernetes.io/restartedAt` on the pod template, which starts a new rollout of the
//! same containers.

use std::io::Write;

use serde_json::{json, Value};

use super::{targets, Target, Workload};
use crate::client;
use crate::cmd::{report, CmdError, GlobalArgs, Outcome, Session};

/// The template annotation kubectl uses for restarts (so the two tools agree).
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

#[derive(Debug, clap::Args)]
pub struct Pause {
    /// TYPE NAME or TYPE/NAME (deployment).
    #[arg(required = true, value_name = "TYPE NAME")]
    args: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct Resume {
    /// TYPE NAME or TYPE/NAME (deployment).
    #[arg(required = true, value_name = "TYPE NAME")]
    args: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct Restart {
    /// TYPE NAME or TYPE/NAME (deployment or daemonset).
    #[arg(required = true, value_name = "TYPE NAME")]
    args: Vec<String>,
}

impl Pause {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        set_paused(g, &self.args, true, out)
    }
}

impl Resume {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        set_paused(g, &self.args, false, out)
    }
}

fn set_paused(
    g: &GlobalArgs,
    args: &[String],
    paused: bool,
    out: &mut dyn Write,
) -> Result<Outcome, CmdError> {
    let s = Session::connect(g)?;
    each(&s, args, out, |t| {
        let verb = if paused { "pausing" } else { "resuming" };
        if t.kind != Workload::Deployment {
            return Err(CmdError::Usage(format!(
                "{} {verb} is not supported",
                t.label()
            )));
        }
        let path = t.path(&s);
        let o = s.client.get(&path, client::JSON)?;
        let now = o
            .pointer("/spec/paused")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if now == paused {
            let state = if paused {
                "already paused"
            } else {
                "not paused"
            };
            return Err(CmdError::Usage(format!(
                "{} \"{}\" is {state}",
                t.r.plural_type_name(),
                t.name
            )));
        }
        s.client.patch(
            &path,
            client::MERGE_PATCH,
            &json!({"spec": {"paused": paused}}),
        )?;
        Ok(if paused { "paused" } else { "resumed" })
    })
}

impl Restart {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let s = Session::connect(g)?;
        each(&s, &self.args, out, |t| {
            let path = t.path(&s);
            if t.kind == Workload::Deployment {
                let o = s.client.get(&path, client::JSON)?;
                if o.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
                    return Err(CmdError::Usage(format!(
                        "can't restart paused deployment (run 'shoalctl rollout resume {}' first)",
                        t.label()
                    )));
                }
            }
            let now = jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            s.client.strategic_patch(
                &path,
                &json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}),
            )?;
            Ok("restarted")
        })
    }
}

/// Runs `one` on each target, printing `deployment.apps/web <word>`; failures are reported
/// and the rest go ahead.
fn each(
    s: &Session,
    args: &[String],
    out: &mut dyn Write,
    one: impl Fn(&Target) -> Result<&'static str, CmdError>,
) -> Result<Outcome, CmdError> {
    let mut outcome = Outcome::Done;
    for t in targets(s, args)? {
        match one(&t) {
            Ok(word) => writeln!(out, "{} {word}", t.label())?,
            Err(e) => {
                report(e);
                outcome = Outcome::Failed;
            }
        }
    }
    Ok(outcome)
}
