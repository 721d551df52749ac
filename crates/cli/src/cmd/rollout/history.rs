//! `shoalctl rollout history TYPE/NAME [--revision N]`: the workload's revisions with their
//! `kubernetes.io/change-cause`, or one revision's pod template.

use std::io::Write;

use serde_json::Value;

use super::{revisions, targets, Workload};
use crate::client;
use crate::cmd::{CmdError, GlobalArgs, Outcome, Session};
use crate::output::Table;

/// Where kubectl records why a revision was made.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

#[derive(Debug, clap::Args)]
pub struct History {
    /// TYPE NAME or TYPE/NAME (deployment or daemonset).
    #[arg(required = true, value_name = "TYPE NAME")]
    args: Vec<String>,
    /// Print this revision's pod template.
    #[arg(long)]
    revision: Option<i64>,
}

impl History {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let s = Session::connect(g)?;
        for t in targets(&s, &self.args)? {
            let owner = s.client.get(&t.path(&s), client::JSON)?;
            let revs = revisions(&s, &t, &owner)?;
            match self.revision {
                Some(n) => {
                    let Some((_, o)) = revs.iter().find(|(r, _)| *r == n) else {
                        return Err(CmdError::Usage(format!(
                            "unable to find the specified revision {n}"
                        )));
                    };
                    writeln!(out, "{} with revision #{n}", t.label())?;
                    writeln!(out, "Pod Template:")?;
                    let template = template_of(t.kind, o);
                    for l in crate::output::to_yaml(&template)?.lines() {
                        writeln!(out, "  {l}")?;
                    }
                }
                None => {
                    writeln!(out, "{}", t.label())?;
                    let rows = revs
                        .iter()
                        .filter(|(n, _)| *n > 0)
                        .map(|(n, o)| {
                            let cause = o
                                .pointer("/metadata/annotations")
                                .and_then(|a| a.get(CHANGE_CAUSE))
                                .and_then(Value::as_str)
                                .unwrap_or("<none>");
                            vec![n.to_string(), cause.to_string()]
                        })
                        .collect();
                    let table = Table {
                        headers: vec!["REVISION".into(), "CHANGE-CAUSE".into()],
                        rows,
                    };
                    out.write_all(table.render(true).as_bytes())?;
                    writeln!(out)?;
                }
            }
        }
        Ok(Outcome::Done)
    }
}

/// The pod template a revision holds: a ReplicaSet's `spec.template` (without the
/// `pod-template-hash` label), or the template in a ControllerRevision's patch.
pub fn template_of(kind: Workload, o: &Value) -> Value {
    match kind {
        Workload::Deployment => {
            let mut t = o.pointer("/spec/template").cloned().unwrap_or(Value::Null);
            if let Some(l) = t
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                l.remove("pod-template-hash");
            }
            t
        }
        Workload::DaemonSet => {
            let mut t = o
                .pointer("/data/spec/template")
                .cloned()
                .unwrap_or(Value::Null);
            if let Some(m) = t.as_object_mut() {
                m.remove("$patch");
            }
            t
        }
    }
}
