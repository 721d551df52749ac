//! `shoalctl delete TYPE NAME...`, `delete TYPE/NAME...`, `delete TYPE -l SELECTOR|--all`
//! and `delete -f FILE|DIR|-`. Each deletion prints `pod "web" deleted`; a missing object is
//! an error (unless `--ignore-not-found`) and the rest still go ahead.

use std::io::Write;

use serde_json::Value;

use super::get::parse_args;
use super::{quoted, report, CmdError, GlobalArgs, ManifestArgs, Outcome, Session};
use crate::client::{self, ClientError};
use crate::resource::ApiResource;

#[derive(Debug, clap::Args)]
pub struct Delete {
    /// TYPE NAME..., or TYPE/NAME..., or TYPE with -l/--all.
    #[arg(value_name = "TYPE [NAME...]")]
    args: Vec<String>,
    #[command(flatten)]
    manifests: ManifestArgs,
    /// Delete the objects of TYPE matching this label selector.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Delete every object of TYPE in the namespace.
    #[arg(long)]
    all: bool,
    /// A missing object is not an error.
    #[arg(long)]
    ignore_not_found: bool,
    /// What happens to dependents (a Deployment's ReplicaSets and pods, ...): background
    /// (deleted after the owner), foreground (deleted before the owner), orphan (kept).
    /// true = background, false = orphan, as kubectl accepts.
    #[arg(long, default_value = "background", value_parser = parse_cascade)]
    cascade: Cascade,
    /// Seconds a pod gets to stop; 0 deletes at once.
    #[arg(long)]
    grace_period: Option<u32>,
}

/// `--cascade` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cascade {
    Background,
    Foreground,
    Orphan,
}

fn parse_cascade(v: &str) -> Result<Cascade, String> {
    match v {
        "background" | "true" => Ok(Cascade::Background),
        "foreground" => Ok(Cascade::Foreground),
        "orphan" | "false" => Ok(Cascade::Orphan),
        other => Err(format!(
            "invalid --cascade {other:?}: must be background, foreground or orphan"
        )),
    }
}

impl Cascade {
    fn policy(self) -> &'static str {
        match self {
            Cascade::Background => "Background",
            Cascade::Foreground => "Foreground",
            Cascade::Orphan => "Orphan",
        }
    }
}

impl Delete {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        if !self.manifests.filename.is_empty() {
            if !self.args.is_empty() {
                return Err(CmdError::Usage(
                    "give either -f or TYPE NAME..., not both".into(),
                ));
            }
            return self.delete_manifests(g, out);
        }
        let requests = parse_args(&self.args)
            .map_err(|e| CmdError::Usage(e.replace("to get", "to delete")))?;
        let bulk = self.selector.is_some() || self.all;
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
            let names: Vec<String> = if bulk {
                let q = client::query(&[(
                    "labelSelector",
                    self.selector.as_deref().unwrap_or_default(),
                )]);
                let list = s
                    .client
                    .get(&format!("{}{q}", r.collection_path(ns)), client::JSON)?;
                let items = list
                    .get("items")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                items
                    .iter()
                    .filter_map(|i| i.pointer("/metadata/name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            } else {
                req.names.clone()
            };
            if bulk && names.is_empty() {
                eprintln!("No resources found");
            }
            for name in &names {
                outcome = outcome.and(self.delete_one(&s, r, ns, name, None, out)?);
            }
        }
        Ok(outcome)
    }

    fn delete_manifests(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let docs = self.manifests.read("delete")?;
        let s = Session::connect(g)?;
        s.catalog()?;
        let mut outcome = Outcome::Done;
        for doc in &docs {
            let placed = s
                .place(doc)
                .and_then(|(r, ns)| Ok((r, ns, doc.require_name()?)));
            match placed {
                Ok((r, ns, name)) => {
                    outcome = outcome.and(self.delete_one(
                        &s,
                        r,
                        ns.as_deref(),
                        name,
                        Some(&quoted(doc)),
                        out,
                    )?)
                }
                Err(e) => {
                    report(e);
                    outcome = Outcome::Failed;
                }
            }
        }
        Ok(outcome)
    }

    /// `Ok(false)` when the deletion failed and was reported; `Err` only when stdout fails.
    fn delete_one(
        &self,
        s: &Session,
        r: &ApiResource,
        ns: Option<&str>,
        name: &str,
        source: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<bool, CmdError> {
        let grace = self.grace_period.map(|g| g.to_string()).unwrap_or_default();
        let q = client::query(&[
            ("propagationPolicy", self.cascade.policy()),
            ("gracePeriodSeconds", &grace),
        ]);
        match s.client.delete(&format!("{}{q}", r.item_path(ns, name))) {
            Ok(_) => {
                writeln!(out, "{} \"{name}\" deleted", r.type_name())?;
                Ok(true)
            }
            Err(e) if self.ignore_not_found && e.is_not_found() => Ok(true),
            Err(e @ ClientError::Status { .. }) => {
                report(match source {
                    Some(src) => e.context(&format!("error when deleting {src}")),
                    None => e,
                });
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}
