//! `shoalctl get TYPE[,TYPE...] [NAME...]` and `get TYPE/NAME...`.
//!
//! Tables are printed from the hub's server-side `Table` answers (so columns match what
//! kubectl shows); `-o json|yaml|name` read the objects themselves. Missing names are reported
//! one by one while the rest print, and make the exit status non-zero.

use std::io::Write;

use serde_json::{json, Value};

use super::{report, CmdError, GlobalArgs, Outcome, Session};
use crate::client::{self, ClientError};
use crate::output::{self, Format, Table, TableOptions};
use crate::resource::ApiResource;

#[derive(Debug, clap::Args)]
pub struct Get {
    /// TYPE[,TYPE...] [NAME...], or TYPE/NAME...; TYPE is a plural, singular, kind or short name.
    #[arg(required = true, value_name = "TYPE [NAME...]")]
    args: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum)]
    output: Option<Format>,
    /// Label selector, e.g. app=web,tier!=cache.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Field selector, e.g. status.phase=Running,spec.nodeName=n1.
    #[arg(long)]
    field_selector: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Print tables without the header line.
    #[arg(long)]
    no_headers: bool,
    /// Do not treat a missing named object as an error.
    #[arg(long)]
    ignore_not_found: bool,
    /// After listing, watch for changes and print them as they happen (Ctrl-C ends).
    #[arg(short = 'w', long)]
    watch: bool,
    /// Watch without listing first.
    #[arg(long)]
    watch_only: bool,
    /// Add a column with the value of each of these label keys (-L room,tier).
    #[arg(
        short = 'L',
        long = "label-columns",
        value_delimiter = ',',
        value_name = "KEY"
    )]
    label_columns: Vec<String>,
    /// Add a LABELS column with all labels.
    #[arg(long)]
    show_labels: bool,
}

/// What was asked for: each typed type with the names wanted (none: list them all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub typed: String,
    pub names: Vec<String>,
}

/// Parses `TYPE[,TYPE] [NAME...]` or `TYPE/NAME...` (pure).
pub fn parse_args(args: &[String]) -> Result<Vec<Request>, String> {
    let Some(first) = args.first() else {
        return Err("you must specify the type of resource to get".into());
    };
    if first.contains('/') {
        let mut out: Vec<Request> = Vec::new();
        for a in args {
            let Some((t, n)) = a
                .split_once('/')
                .filter(|(t, n)| !t.is_empty() && !n.is_empty() && !n.contains('/'))
            else {
                return Err(format!(
                    "arguments in resource/name form must have a single resource and name; {a:?} is not (there is no need to give the type separately when using TYPE/NAME)"
                ));
            };
            match out.iter_mut().find(|r| r.typed == t) {
                Some(r) => r.names.push(n.to_string()),
                None => out.push(Request {
                    typed: t.to_string(),
                    names: vec![n.to_string()],
                }),
            }
        }
        return Ok(out);
    }
    let names: Vec<String> = args[1..].to_vec();
    if let Some(bad) = names.iter().find(|n| n.contains('/')) {
        return Err(format!("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (got {bad:?})"));
    }
    let types: Vec<&str> = first.split(',').filter(|t| !t.is_empty()).collect();
    if types.is_empty() {
        return Err("you must specify the type of resource to get".into());
    }
    Ok(types
        .into_iter()
        .map(|t| Request {
            typed: t.to_string(),
            names: names.clone(),
        })
        .collect())
}

impl Get {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let requests = parse_args(&self.args).map_err(CmdError::Usage)?;
        let filtered = self.selector.is_some() || self.field_selector.is_some();
        if filtered && requests.iter().any(|r| !r.names.is_empty()) {
            return Err(CmdError::Usage(
                "name cannot be provided when a selector is specified".into(),
            ));
        }
        let s = Session::connect(g)?;
        if self.watch || self.watch_only {
            let [req] = requests.as_slice() else {
                return Err(CmdError::Usage(
                    "you may only watch one resource type at a time".into(),
                ));
            };
            if req.names.len() > 1 {
                return Err(CmdError::Usage("watch is only supported on individual resources and resource collections, but several names were given".into()));
            }
            return self.watch(
                &s,
                s.resolve(&req.typed)?,
                req.names.first().map(String::as_str),
                out,
            );
        }
        let mut targets: Vec<(&ApiResource, &[String])> = Vec::new();
        for r in &requests {
            targets.push((s.resolve(&r.typed)?, &r.names));
        }
        let several_types = targets.len() > 1;
        let listing = targets.iter().all(|(_, names)| names.is_empty());
        let mut outcome = Outcome::Done;
        let mut found = 0usize;

        match self.output {
            None | Some(Format::Wide) => {
                let mut first_table = true;
                for (r, names) in &targets {
                    let prefix = r.type_name();
                    let opts = TableOptions {
                        wide: self.output == Some(Format::Wide),
                        with_namespace: self.all_namespaces && r.namespaced,
                        name_prefix: several_types.then_some(prefix.as_str()),
                        label_columns: &self.label_columns,
                        show_labels: self.show_labels,
                    };
                    let mut table: Option<Table> = None;
                    for answer in self.fetch(&s, r, names, client::TABLE) {
                        match answer {
                            Ok(v) => {
                                let t = Table::from_server(&v, opts)?;
                                match &mut table {
                                    Some(all) => all.rows.extend(t.rows),
                                    None => table = Some(t),
                                }
                            }
                            Err(e) => outcome = outcome.and(self.tolerate(e)),
                        }
                    }
                    let Some(table) = table.filter(|t| !t.rows.is_empty()) else {
                        continue;
                    };
                    found += table.rows.len();
                    if !first_table {
                        writeln!(out)?;
                    }
                    first_table = false;
                    out.write_all(table.render(!self.no_headers).as_bytes())?;
                }
            }
            Some(format) => {
                let mut objects: Vec<(String, Value)> = Vec::new();
                for (r, names) in &targets {
                    for answer in self.fetch(&s, r, names, client::JSON) {
                        match answer {
                            Ok(v) if names.is_empty() => {
                                let items = v
                                    .get("items")
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default();
                                objects.extend(
                                    items.into_iter().map(|i| (r.type_name(), with_type(i, r))),
                                );
                            }
                            Ok(v) => objects.push((r.type_name(), with_type(v, r))),
                            Err(e) => outcome = outcome.and(self.tolerate(e)),
                        }
                    }
                }
                found = objects.len();
                let single = targets.len() == 1 && targets[0].1.len() == 1;
                match format {
                    Format::Name => {
                        for (t, o) in &objects {
                            writeln!(out, "{}", output::name_of(t, o))?;
                        }
                    }
                    Format::Json | Format::Yaml => {
                        let doc = match objects.len() {
                            0 if single => None,
                            1 if single => objects.pop().map(|(_, o)| o),
                            _ => Some(output::list_of(
                                objects.into_iter().map(|(_, o)| o).collect(),
                            )),
                        };
                        if let Some(doc) = doc {
                            let text = if format == Format::Json {
                                output::to_json(&doc)
                            } else {
                                output::to_yaml(&doc)?
                            };
                            out.write_all(text.as_bytes())?;
                        }
                    }
                    Format::Wide => {}
                }
                if matches!(format, Format::Json | Format::Yaml) {
                    return Ok(outcome);
                }
            }
        }
        if found == 0 && listing && outcome == Outcome::Done {
            let scoped = targets.first().is_some_and(|(r, _)| r.namespaced) && !self.all_namespaces;
            if scoped {
                eprintln!("No resources found in {} namespace.", s.conn.namespace);
            } else {
                eprintln!("No resources found");
            }
        }
        Ok(outcome)
    }

    /// One answer for a list, or one per name.
    fn fetch(
        &self,
        s: &Session,
        r: &ApiResource,
        names: &[String],
        accept: &'static str,
    ) -> Vec<Result<Value, ClientError>> {
        let ns = if self.all_namespaces {
            None
        } else {
            s.namespace_for(r)
        };
        if names.is_empty() {
            let q = client::query(&[
                (
                    "labelSelector",
                    self.selector.as_deref().unwrap_or_default(),
                ),
                (
                    "fieldSelector",
                    self.field_selector.as_deref().unwrap_or_default(),
                ),
            ]);
            return vec![s
                .client
                .get(&format!("{}{q}", r.collection_path(ns)), accept)];
        }
        // A named object lives in one namespace: -A has no meaning for it.
        let ns = s.namespace_for(r);
        names
            .iter()
            .map(|n| s.client.get(&r.item_path(ns, n), accept))
            .collect()
    }

    /// `get -w`: the current state (unless `--watch-only`), then one line (or document) per
    /// change, until interrupted. Table rows stay aligned with the first table.
    fn watch(
        &self,
        s: &Session,
        r: &ApiResource,
        name: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<Outcome, CmdError> {
        let ns = if self.all_namespaces {
            None
        } else {
            s.namespace_for(r)
        };
        let mut fields = self.field_selector.clone().unwrap_or_default();
        if let Some(n) = name {
            if !fields.is_empty() {
                fields.push(',');
            }
            fields.push_str(&format!("metadata.name={n}"));
        }
        let path = format!(
            "{}{}",
            r.collection_path(ns),
            client::query(&[
                (
                    "labelSelector",
                    self.selector.as_deref().unwrap_or_default()
                ),
                ("fieldSelector", &fields),
            ])
        );
        let table = matches!(self.output, None | Some(Format::Wide));
        let accept = if table { client::TABLE } else { client::JSON };
        let opts = TableOptions {
            wide: self.output == Some(Format::Wide),
            with_namespace: self.all_namespaces && r.namespaced,
            name_prefix: None,
            label_columns: &self.label_columns,
            show_labels: self.show_labels,
        };
        let mut widths: Vec<usize> = Vec::new();
        let mut headers_printed = self.no_headers;
        let mut rv = String::new();
        if !self.watch_only {
            let first = s.client.get(&path, accept)?;
            rv = crate::fields::s(&first, "/metadata/resourceVersion").to_string();
            if table {
                let t = Table::from_server(&first, opts)?;
                t.widen(&mut widths, true);
                if !t.rows.is_empty() {
                    out.write_all(t.render(!self.no_headers).as_bytes())?;
                    headers_printed = true;
                }
            } else {
                for o in crate::fields::arr(&first, "/items") {
                    self.print_object(r, o, out)?;
                }
            }
            out.flush()?;
        }
        super::watch::follow(s, &path, accept, rv, |_, obj| {
            if table {
                let t = Table::from_server(obj, opts)?;
                t.widen(&mut widths, !headers_printed);
                if !headers_printed {
                    out.write_all(output::render_line(&t.headers, &widths).as_bytes())?;
                    headers_printed = true;
                }
                for row in &t.rows {
                    out.write_all(output::render_line(row, &widths).as_bytes())?;
                }
            } else {
                self.print_object(r, obj, out)?;
            }
            out.flush()?;
            Ok(super::watch::Next::More)
        })?;
        Ok(Outcome::Done)
    }

    fn print_object(
        &self,
        r: &ApiResource,
        o: &Value,
        out: &mut dyn Write,
    ) -> Result<(), CmdError> {
        let o = with_type(o.clone(), r);
        match self.output {
            Some(Format::Name) => writeln!(out, "{}", output::name_of(&r.type_name(), &o))?,
            Some(Format::Json) => out.write_all(output::to_json(&o).as_bytes())?,
            Some(Format::Yaml) => {
                writeln!(out, "---")?;
                out.write_all(output::to_yaml(&o)?.as_bytes())?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Reports a failed name; `true` when it does not count as a failure.
    fn tolerate(&self, e: ClientError) -> bool {
        if self.ignore_not_found && e.is_not_found() {
            return true;
        }
        report(e);
        false
    }
}

/// List items come without `kind` and `apiVersion` in Kubernetes; printed alone they need them.
fn with_type(mut o: Value, r: &ApiResource) -> Value {
    if let Some(m) = o.as_object_mut() {
        m.entry("kind").or_insert_with(|| json!(r.kind));
        m.entry("apiVersion")
            .or_insert_with(|| json!(r.api_version()));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn req(t: &str, names: &[&str]) -> Request {
        Request {
            typed: t.into(),
            names: args(names),
        }
    }

    #[test]
    fn parses_the_argument_forms() {
        assert_eq!(parse_args(&args(&["pods"])), Ok(vec![req("pods", &[])]));
        assert_eq!(
            parse_args(&args(&["po", "a", "b"])),
            Ok(vec![req("po", &["a", "b"])])
        );
        assert_eq!(
            parse_args(&args(&["pods,nodes"])),
            Ok(vec![req("pods", &[]), req("nodes", &[])])
        );
        assert_eq!(
            parse_args(&args(&["pod/a", "no/n1", "pod/b"])),
            Ok(vec![req("pod", &["a", "b"]), req("no", &["n1"])])
        );
        assert!(parse_args(&args(&["pod/a", "b"])).is_err());
        assert!(parse_args(&args(&["pods", "pod/a"])).is_err());
        assert!(parse_args(&args(&["pod/"])).is_err());
        assert!(parse_args(&args(&[","])).is_err());
        assert!(parse_args(&[]).is_err());
    }
}
