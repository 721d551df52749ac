//! `shoalctl create -f FILE|DIR|-`: create every object; one that exists is an error
//! (`AlreadyExists`) and the others still go ahead.

use std::io::Write;

use serde_json::Value;

use super::{
    done, for_each_document, quoted, CmdError, GlobalArgs, ManifestArgs, Outcome, Session,
};
use crate::manifest::Document;

#[derive(Debug, clap::Args)]
pub struct Create {
    #[command(flatten)]
    manifests: ManifestArgs,
}

impl Create {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        super::require_files(&self.manifests)?;
        for_each_document(g, &self.manifests, "create", out, create_one)
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
