//! `shoalctl version`: the client's version and the hub's `/version`.
//!
//! As in kubectl, the client version is printed first, so it shows even when the hub cannot
//! be reached.

use std::io::Write;

use serde_json::{json, Value};

use super::{CmdError, GlobalArgs, Outcome, Session};
use crate::client;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Version {
    /// Only the client's version; do not contact the hub.
    #[arg(long)]
    client: bool,
    /// json or yaml instead of text.
    #[arg(short = 'o', long, value_parser = ["json", "yaml"])]
    output: Option<String>,
}

fn client_version() -> Value {
    json!({
        "gitVersion": concat!("v", env!("CARGO_PKG_VERSION")),
        "program": "shoalctl",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

impl Version {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let client = client_version();
        let server = if self.client {
            None
        } else {
            Some(Session::connect(g).and_then(|s| Ok(s.client.get("/version", client::JSON)?)))
        };
        match self.output.as_deref() {
            Some(fmt) => {
                let mut doc = json!({"clientVersion": client});
                let mut failure = None;
                match server {
                    Some(Ok(v)) => doc["serverVersion"] = v,
                    Some(Err(e)) => failure = Some(e),
                    None => {}
                }
                let text = if fmt == "json" {
                    output::to_json(&doc)
                } else {
                    output::to_yaml(&doc)?
                };
                out.write_all(text.as_bytes())?;
                failure.map_or(Ok(Outcome::Done), Err)
            }
            None => {
                writeln!(
                    out,
                    "Client Version: shoalctl {}",
                    client["gitVersion"].as_str().unwrap_or_default()
                )?;
                match server {
                    None => Ok(Outcome::Done),
                    Some(Ok(v)) => {
                        writeln!(
                            out,
                            "Server Version: {}",
                            v.get("gitVersion")
                                .and_then(Value::as_str)
                                .unwrap_or("unknown")
                        )?;
                        Ok(Outcome::Done)
                    }
                    Some(Err(e)) => {
                        out.flush()?;
                        Err(e)
                    }
                }
            }
        }
    }
}
