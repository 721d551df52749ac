//! `shoalctl cordon NODE...` and `uncordon NODE...`: set or clear `spec.unschedulable`, so
//! the scheduler places no new pods there (DaemonSet pods still go, as in Kubernetes).

use std::io::Write;

use serde_json::{json, Value};

use super::{report, CmdError, GlobalArgs, Outcome, Session};
use crate::client;

#[derive(Debug, clap::Args)]
pub struct Cordon {
    /// Node names.
    #[arg(required = true, value_name = "NODE")]
    nodes: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct Uncordon {
    /// Node names.
    #[arg(required = true, value_name = "NODE")]
    nodes: Vec<String>,
}

impl Cordon {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let s = Session::connect(g)?;
        each(&s, &self.nodes, true, out)
    }
}

impl Uncordon {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let s = Session::connect(g)?;
        each(&s, &self.nodes, false, out)
    }
}

fn each(s: &Session, nodes: &[String], on: bool, out: &mut dyn Write) -> Result<Outcome, CmdError> {
    let mut outcome = Outcome::Done;
    for n in nodes {
        match set_unschedulable(s, n, on) {
            Ok(line) => writeln!(out, "{line}")?,
            Err(e) => {
                report(e);
                outcome = Outcome::Failed;
            }
        }
    }
    Ok(outcome)
}

/// Cordons (`on`) or uncordons one node; returns kubectl's line (`node/n1 cordoned`, or
/// `already cordoned` when nothing changed).
pub fn set_unschedulable(s: &Session, node: &str, on: bool) -> Result<String, CmdError> {
    let path = format!("/api/v1/nodes/{}", client::encode(node));
    let current = s.client.get(&path, client::JSON)?;
    let now = current
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let word = if on { "cordoned" } else { "uncordoned" };
    if now == on {
        return Ok(format!("node/{node} already {word}"));
    }
    // `null` removes the field, as kubectl leaves an uncordoned node.
    let value = if on { json!(true) } else { Value::Null };
    s.client.patch(
        &path,
        client::MERGE_PATCH,
        &json!({"spec": {"unschedulable": value}}),
    )?;
    Ok(format!("node/{node} {word}"))
}
