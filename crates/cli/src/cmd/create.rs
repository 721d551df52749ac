//! `shoalctl create -f FILE|DIR|-`: create every object; one that exists is an error
//! (`AlreadyExists`) and the others still go ahead.

use std::io::Write;

use serde_json::Value;

use super::{done, quoted, report, CmdError, GlobalArgs, Outcome, Session};
use crate::manifest::{self, Document};

#[derive(Debug, clap::Args)]
pub struct Create {
    /// Manifest file, directory, or - for stdin (repeatable).
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    filename: Vec<String>,
    /// Descend into subdirectories of directories given with -f.
    #[arg(short = 'R', long)]
    recursive: bool,
}

impl Create {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let docs = manifest::read_all(
            &self.filename,
            self.recursive,
            "create",
            &mut std::io::stdin().lock(),
        )?;
        let s = Session::connect(g)?;
        s.catalog()?;
        let mut outcome = Outcome::Done;
        for doc in &docs {
            match create_one(&s, doc) {
                Ok(line) => writeln!(out, "{line}")?,
                Err(e) => {
                    report(e);
                    outcome = Outcome::Failed;
                }
            }
        }
        Ok(outcome)
    }
}

fn create_one(s: &Session, doc: &Document) -> Result<String, CmdError> {
    let (r, ns) = s.place(doc)?;
    if doc.name().is_none()
        && doc
            .object
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
    {
        return Err(doc
            .invalid(format!(
                "{} has neither metadata.name nor metadata.generateName",
                doc.kind()
            ))
            .into());
    }
    let created = s
        .client
        .post(&r.collection_path(ns.as_deref()), &doc.object)
        .map_err(|e| e.context(&format!("error when creating {}", quoted(doc))))?;
    let name = created
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .or(doc.name())
        .unwrap_or_default();
    Ok(done(r, name, "created"))
}
