//! `shoalctl scale TYPE NAME... --replicas=N` (or `TYPE/NAME`): sets `spec.replicas` through
//! the `/scale` subresource (Deployments, ReplicaSets, ReplicationControllers), as kubectl
//! does. `--current-replicas` is a precondition: the object is left alone when its replica
//! count is not the one expected.

use std::io::Write;

use serde_json::json;

use super::get::parse_args;
use super::{done, report, CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::fields::i;

#[derive(Debug, clap::Args)]
pub struct Scale {
    /// TYPE NAME..., or TYPE/NAME...
    #[arg(required = true, value_name = "TYPE NAME")]
    args: Vec<String>,
    /// The new number of replicas.
    #[arg(long)]
    replicas: u32,
    /// Only scale when the current number of replicas is this one.
    #[arg(long)]
    current_replicas: Option<u32>,
}

impl Scale {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let requests =
            parse_args(&self.args).map_err(|e| CmdError::Usage(e.replace("to get", "to scale")))?;
        if requests.iter().any(|r| r.names.is_empty()) {
            return Err(CmdError::Usage(
                "give the name of the object to scale (TYPE NAME or TYPE/NAME)".into(),
            ));
        }
        let s = Session::connect(g)?;
        let mut outcome = Outcome::Done;
        for req in &requests {
            let r = s.resolve(&req.typed)?;
            for name in &req.names {
                let path = format!("{}/scale", r.item_path(s.namespace_for(r), name));
                let result = (|| -> Result<(), CmdError> {
                    if let Some(want) = self.current_replicas {
                        let now = s.client.get(&path, client::JSON)?;
                        let have = i(&now, "/spec/replicas");
                        if have != i64::from(want) {
                            return Err(CmdError::Usage(format!(
                                "Expected replicas to be {want}, was {have}"
                            )));
                        }
                    }
                    s.client.patch(
                        &path,
                        client::MERGE_PATCH,
                        &json!({"spec": {"replicas": self.replicas}}),
                    )?;
                    Ok(())
                })();
                match result {
                    Ok(()) => writeln!(out, "{}", done(r, name, "scaled"))?,
                    Err(e) => {
                        report(e);
                        outcome = Outcome::Failed;
                    }
                }
            }
        }
        Ok(outcome)
    }
}
