//! The verbs, one per file, and what they share: the global flags, the [`Session`] (the
//! connection, the namespace, the discovered resource types) and how errors are shown.
//!
//! A verb's `run` writes results to the `out` it is given and returns [`Outcome::Failed`]
//! when some items failed (their errors already printed on stderr, as kubectl does while it
//! carries on with the rest), or a [`CmdError`] when it could not go on at all.

pub mod annotate;
pub mod apply;
pub mod completion;
pub mod config;
pub mod cordon;
pub mod create;
pub mod delete;
pub mod describe;
pub mod drain;
pub mod events;
pub mod exec;
pub mod fleet;
pub mod get;
pub mod join_token;
pub mod label;
pub mod logs;
pub mod metadata;
pub mod rollout;
pub mod scale;
pub mod token;
pub mod top;
pub mod version;
pub mod watch;

use std::cell::OnceCell;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::client::{self, Client, ClientError, UreqTransport};
use crate::kubeconfig::{self, Connection, KubeconfigError, Location, Overrides};
use crate::manifest::{Document, ManifestError};
use crate::output::OutputError;
use crate::resource::{ApiResource, Catalog, ResolveError};

/// Flags every verb takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace (default: the context's, else "default").
    #[arg(short = 'n', long, global = true, value_name = "NAME")]
    pub namespace: Option<String>,
    /// The hub's API address, e.g. https://10.0.0.1:6443.
    #[arg(short = 's', long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token for the hub.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// A PEM file with the CA certificate to trust instead of the kubeconfig's.
    #[arg(long, global = true, value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    /// How long a request may take: 30s, 2m, 1h; 0 waits forever.
    #[arg(long, global = true, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,
}

/// `30`, `30s`, `2m`, `1h` (kubectl's `--request-timeout` forms, whole units).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 2m or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?} is not a duration like 30s, 2m or 1h")),
    };
    Ok(Duration::from_secs(secs))
}

/// Everything that can stop a verb.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write {path}")]
    WriteFile {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the output")]
    Stdout(#[from] std::io::Error),
}

impl CmdError {
    /// The line printed on stderr: API errors as kubectl prints them
    /// (`Error from server (NotFound): ...`), everything else as `error: ...` with its causes.
    pub fn render(&self) -> String {
        match self {
            CmdError::Client(e @ ClientError::Status { .. }) => e.to_string(),
            other => format!("error: {}", chain(other)),
        }
    }

    /// Whether stdout was closed under us (`shoalctl get pods | head -1`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CmdError::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// An error and its causes joined by ": ", on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        // Transparent wrappers repeat their inner message; don't print it twice.
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s.replace('\n', " ")
}

/// `-f` and `-R`, shared by the verbs that read manifests.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestArgs {
    /// Manifest file, directory, or - for stdin (repeatable).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: Vec<String>,
    /// Descend into subdirectories of directories given with -f.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

impl ManifestArgs {
    /// Reads every document (all before anything is sent; see [`crate::manifest`]).
    pub fn read(&self, verb: &'static str) -> Result<Vec<Document>, CmdError> {
        Ok(crate::manifest::read_all(
            &self.filename,
            self.recursive,
            verb,
            &mut std::io::stdin().lock(),
        )?)
    }
}

/// `-f` is required (apply, create).
pub fn require_files(m: &ManifestArgs) -> Result<(), CmdError> {
    if m.filename.is_empty() {
        return Err(CmdError::Usage(
            "must specify -f FILE (a file, a directory, or - for stdin)".into(),
        ));
    }
    Ok(())
}

/// Reads the manifests, connects, and runs `one` on each document in order, printing the
/// line it returns; a failed document is reported and the rest still go ahead (what `apply`
/// and `create` share).
pub fn for_each_document(
    g: &GlobalArgs,
    m: &ManifestArgs,
    verb: &'static str,
    out: &mut dyn std::io::Write,
    one: impl Fn(&Session, &Document) -> Result<String, CmdError>,
) -> Result<Outcome, CmdError> {
    let docs = m.read(verb)?;
    let s = Session::connect(g)?;
    s.catalog()?;
    let mut outcome = Outcome::Done;
    for doc in &docs {
        match one(&s, doc) {
            Ok(line) => writeln!(out, "{line}")?,
            Err(e) => {
                report(e);
                outcome = Outcome::Failed;
            }
        }
    }
    Ok(outcome)
}

/// Prints a per-item error and lets the verb carry on.
pub fn report(e: impl Into<CmdError>) {
    eprintln!("{}", e.into().render());
}

/// How a verb ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Some items failed; their errors were printed.
    Failed,
    /// End with this exit status (`exec` passes on the command's).
    Exit(u8),
}

impl Outcome {
    pub fn and(self, ok: bool) -> Outcome {
        if ok {
            self
        } else {
            Outcome::Failed
        }
    }
}

/// A connection to the hub plus what the verbs need to know about it.
pub struct Session {
    pub client: Client,
    pub conn: Connection,
    catalog: OnceCell<Catalog>,
}

/// Where the kubeconfig is, from `--kubeconfig`, `KUBECONFIG` and `HOME`.
pub fn location(g: &GlobalArgs) -> Location {
    Location::choose(
        g.kubeconfig.clone(),
        std::env::var_os("KUBECONFIG"),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

impl Session {
    /// Loads the kubeconfig and applies the flags; nothing is sent yet.
    pub fn connect(g: &GlobalArgs) -> Result<Session, CmdError> {
        let location = location(g);
        let kc = kubeconfig::Kubeconfig::load(&location)?;
        let overrides = Overrides {
            context: g.context.clone(),
            namespace: g.namespace.clone(),
            server: g.server.clone(),
            token: g.token.clone(),
            certificate_authority: g.certificate_authority.clone(),
        };
        let conn = kubeconfig::resolve(kc.as_ref(), &location, &overrides, &|p| std::fs::read(p))?;
        let timeout = (!g.request_timeout.is_zero()).then_some(g.request_timeout);
        let client = Client::new(Box::new(UreqTransport::new(&conn, timeout)), &conn);
        Ok(Session {
            client,
            conn,
            catalog: OnceCell::new(),
        })
    }

    /// The resource types the hub serves, discovered once per run.
    pub fn catalog(&self) -> Result<&Catalog, CmdError> {
        if let Some(c) = self.catalog.get() {
            return Ok(c);
        }
        let c = discover(&self.client)?;
        Ok(self.catalog.get_or_init(|| c))
    }

    pub fn resolve(&self, typed: &str) -> Result<&ApiResource, CmdError> {
        Ok(self.catalog()?.resolve(typed)?)
    }

    /// The namespace to use for a namespaced object: `None` for cluster-scoped types.
    pub fn namespace_for(&self, r: &ApiResource) -> Option<&str> {
        r.namespaced.then_some(self.conn.namespace.as_str())
    }

    /// The type and namespace of a manifest's object. A namespace in the manifest wins over
    /// the context's, but must agree with an explicit `-n`, as in kubectl.
    pub fn place(&self, doc: &Document) -> Result<(&ApiResource, Option<String>), CmdError> {
        let r = self
            .catalog()?
            .for_kind(doc.api_version(), doc.kind())
            .map_err(|e| doc.invalid(e.to_string()))?;
        if !r.namespaced {
            return Ok((r, None));
        }
        let ns = match doc.namespace() {
            Some(ns) if self.conn.namespace_from_flag && ns != self.conn.namespace => {
                return Err(doc
                    .invalid(format!(
                        "the namespace from the provided object \"{ns}\" does not match the namespace \"{}\". You must pass '--namespace={ns}' to perform this operation.",
                        self.conn.namespace
                    ))
                    .into());
            }
            Some(ns) => ns.to_string(),
            None => self.conn.namespace.clone(),
        };
        Ok((r, Some(ns)))
    }
}

/// Reads `/api`, `/api/{v}`, `/apis` and each group's preferred version.
fn discover(c: &Client) -> Result<Catalog, CmdError> {
    let mut lists = Vec::new();
    let core = c.get("/api", client::JSON)?;
    for v in core
        .get("versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(v) = v.as_str() {
            lists.push(c.get(&format!("/api/{}", client::encode(v)), client::JSON)?);
        }
    }
    let groups = c.get("/apis", client::JSON)?;
    for g in groups
        .get("groups")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let gv = g
            .pointer("/preferredVersion/groupVersion")
            .or_else(|| g.pointer("/versions/0/groupVersion"))
            .and_then(Value::as_str);
        if let Some(gv) = gv {
            lists.push(c.get(&format!("/apis/{gv}"), client::JSON)?);
        }
    }
    Ok(Catalog::from_resource_lists(&lists)?)
}

/// `kubectl`'s word for a verb's past tense on an object: `pod/web created`.
pub fn done(r: &ApiResource, name: &str, what: &str) -> String {
    format!("{}/{name} {what}", r.type_name())
}

/// `"pod.yaml"` as kubectl quotes a source in messages, with the document's index when the
/// source holds several (`"all.yaml" (document 2)`).
pub fn quoted(doc: &Document) -> String {
    if doc.of > 1 {
        format!("\"{}\" (document {})", doc.file, doc.index)
    } else {
        format!("\"{}\"", doc.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn errors_render_on_one_line() {
        let e = CmdError::from(ClientError::Status {
            code: 404,
            reason: "NotFound".into(),
            message: "pods \"x\" not found".into(),
        });
        assert_eq!(
            e.render(),
            "Error from server (NotFound): pods \"x\" not found"
        );
        let e = CmdError::from(ClientError::Unreachable {
            server: "https://h:1".into(),
            source: client::TransportError::Refused,
        });
        assert_eq!(
            e.render(),
            "error: cannot reach the hub at https://h:1: connection refused"
        );
        let e = CmdError::from(KubeconfigError::Read {
            path: "/k".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        });
        assert_eq!(
            e.render(),
            "error: cannot read kubeconfig /k: No such file or directory"
        );
    }
}
