//! `shoalctl config view [--raw] [--minify]`, `config use-context NAME`,
//! `config current-context`, `config get-contexts`: the kubeconfig as kubectl shows and edits
//! it, without talking to the hub.
//!
//! `view` merges the files of `KUBECONFIG` (first definition of a name wins) and hides
//! secrets (`DATA+OMITTED`, `REDACTED`) unless `--raw`. `use-context` rewrites only
//! `current-context` of the file it belongs in ([`Location::file_to_write`]), keeping the
//! rest of the document as it was parsed.

use std::io::Write;
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::{location, CmdError, GlobalArgs, Outcome};
use crate::kubeconfig::{KubeconfigError, Location};
use crate::output::Table;

#[derive(Debug, clap::Args)]
pub struct Config {
    #[command(subcommand)]
    cmd: ConfigCmd,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCmd {
    /// Print the (merged) kubeconfig, secrets hidden unless --raw.
    View {
        /// Show tokens and certificate data.
        #[arg(long)]
        raw: bool,
        /// Only the current context and what it refers to.
        #[arg(long)]
        minify: bool,
    },
    /// Make NAME the current context.
    UseContext {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Print the current context's name.
    CurrentContext,
    /// List the contexts; `*` marks the current one.
    GetContexts,
}

impl Config {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let loc = location(g);
        let files = read_files(&loc)?;
        let merged = merge(&files);
        match &self.cmd {
            ConfigCmd::View { raw, minify } => {
                let mut v = merged;
                if *minify {
                    let ctx = g.context.clone().or_else(|| current(&v)).ok_or_else(|| {
                        CmdError::Usage("current-context is not set; cannot minify".into())
                    })?;
                    v = minified(&v, &ctx).map_err(CmdError::Usage)?;
                }
                if !raw {
                    redact(&mut v);
                }
                let text =
                    serde_yaml_ng::to_string(&v).map_err(|e| CmdError::Usage(e.to_string()))?;
                out.write_all(text.as_bytes())?;
            }
            ConfigCmd::CurrentContext => match current(&merged) {
                Some(c) => writeln!(out, "{c}")?,
                None => return Err(CmdError::Usage("current-context is not set".into())),
            },
            ConfigCmd::GetContexts => {
                let cur = current(&merged).unwrap_or_default();
                let rows = named(&merged, "contexts")
                    .iter()
                    .map(|(name, c)| {
                        let f = |k: &str| {
                            c.get(k)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string()
                        };
                        vec![
                            if *name == cur {
                                "*".into()
                            } else {
                                String::new()
                            },
                            name.clone(),
                            f("cluster"),
                            f("user"),
                            f("namespace"),
                        ]
                    })
                    .collect();
                let t = Table {
                    headers: ["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]
                        .map(String::from)
                        .to_vec(),
                    rows,
                };
                out.write_all(t.render(true).as_bytes())?;
            }
            ConfigCmd::UseContext { name } => {
                if !named(&merged, "contexts").iter().any(|(n, _)| n == name) {
                    return Err(CmdError::Usage(format!(
                        "no context exists with the name: \"{name}\""
                    )));
                }
                let path = loc.file_to_write();
                let mut doc = files
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Mapping(Mapping::new()));
                set_current(&mut doc, name);
                write_file(&path, &doc)?;
                writeln!(out, "Switched to context \"{name}\".")?;
            }
        }
        Ok(Outcome::Done)
    }
}

fn read_files(loc: &Location) -> Result<Vec<(std::path::PathBuf, Value)>, CmdError> {
    let paths: Vec<std::path::PathBuf> = match loc {
        Location::Flag(p) | Location::Default(p) => vec![p.clone()],
        Location::Env(ps) => ps.clone(),
    };
    let mut out = Vec::new();
    for p in paths {
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && !matches!(loc, Location::Flag(_)) =>
            {
                continue
            }
            Err(source) => {
                return Err(KubeconfigError::Read {
                    path: p.display().to_string(),
                    source,
                }
                .into())
            }
        };
        let v: Value = if text.trim().is_empty() {
            Value::Mapping(Mapping::new())
        } else {
            serde_yaml_ng::from_str(&text).map_err(|source| KubeconfigError::Parse {
                path: p.display().to_string(),
                source,
            })?
        };
        out.push((p, v));
    }
    Ok(out)
}

fn write_file(path: &Path, doc: &Value) -> Result<(), CmdError> {
    let text = serde_yaml_ng::to_string(doc).map_err(|e| CmdError::Usage(e.to_string()))?;
    let tmp = path.with_extension("shoalctl-tmp");
    let werr = |source| CmdError::WriteFile {
        path: path.display().to_string(),
        source,
    };
    std::fs::write(&tmp, text).map_err(werr)?;
    // Keep the original's permissions (it holds a token).
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(werr)
}

/// `(name, inner)` of a named list (`clusters`, `users`, `contexts`).
fn named(v: &Value, list: &str) -> Vec<(String, Mapping)> {
    let inner = match list {
        "clusters" => "cluster",
        "users" => "user",
        _ => "context",
    };
    v.get(list)
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|e| {
                    let name = e.get("name")?.as_str()?.to_string();
                    let m = e
                        .get(inner)
                        .and_then(Value::as_mapping)
                        .cloned()
                        .unwrap_or_default();
                    Some((name, m))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn current(v: &Value) -> Option<String> {
    v.get("current-context")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn set_current(doc: &mut Value, name: &str) {
    if !doc.is_mapping() {
        *doc = Value::Mapping(Mapping::new());
    }
    if let Some(m) = doc.as_mapping_mut() {
        m.insert(Value::from("current-context"), Value::from(name));
    }
}

/// The files merged as kubectl merges them (pure): lists by name, first wins; the first
/// `current-context` wins.
pub fn merge(files: &[(std::path::PathBuf, Value)]) -> Value {
    let mut out = Mapping::new();
    out.insert("apiVersion".into(), "v1".into());
    out.insert("kind".into(), "Config".into());
    for list in ["clusters", "contexts", "users"] {
        let mut seen: Vec<String> = Vec::new();
        let mut items = Vec::new();
        for (_, f) in files {
            for e in f
                .get(list)
                .and_then(Value::as_sequence)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let name = e
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if !seen.contains(&name) {
                    seen.push(name);
                    items.push(e.clone());
                }
            }
        }
        out.insert(list.into(), Value::Sequence(items));
    }
    let cur = files
        .iter()
        .find_map(|(_, f)| current(f))
        .unwrap_or_default();
    out.insert("current-context".into(), cur.into());
    Value::Mapping(out)
}

/// Only `ctx`, its cluster and its user (pure).
pub fn minified(v: &Value, ctx: &str) -> Result<Value, String> {
    let contexts = named(v, "contexts");
    let Some((_, c)) = contexts.iter().find(|(n, _)| n == ctx) else {
        return Err(format!("context \"{ctx}\" is not defined"));
    };
    let cluster = c
        .get("cluster")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let user = c
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let keep = |list: &str, name: &str| -> Value {
        Value::Sequence(
            v.get(list)
                .and_then(Value::as_sequence)
                .map(|s| {
                    s.iter()
                        .filter(|e| e.get("name").and_then(Value::as_str) == Some(name))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    let mut out = Mapping::new();
    out.insert("apiVersion".into(), "v1".into());
    out.insert("kind".into(), "Config".into());
    out.insert("clusters".into(), keep("clusters", &cluster));
    out.insert("contexts".into(), keep("contexts", ctx));
    out.insert("users".into(), keep("users", &user));
    out.insert("current-context".into(), ctx.into());
    Ok(Value::Mapping(out))
}

/// Hides secrets as kubectl does (pure).
pub fn redact(v: &mut Value) {
    for (list, inner) in [("clusters", "cluster"), ("users", "user")] {
        let Some(seq) = v.get_mut(list).and_then(Value::as_sequence_mut) else {
            continue;
        };
        for e in seq {
            let Some(m) = e.get_mut(inner).and_then(Value::as_mapping_mut) else {
                continue;
            };
            for (k, v) in m.iter_mut() {
                match k.as_str() {
                    Some(k) if k.ends_with("-data") => *v = "DATA+OMITTED".into(),
                    Some("token" | "password") => *v = "REDACTED".into(),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: shoal\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: QUJD\nusers:\n- name: admin\n  user:\n    token: secret\ncontexts:\n- name: shoal\n  context: {cluster: shoal, user: admin}\n- name: other\n  context: {cluster: gone, user: admin, namespace: x}\ncurrent-context: shoal\n";

    fn parsed() -> Vec<(std::path::PathBuf, Value)> {
        vec![("/a".into(), serde_yaml_ng::from_str(A).expect("yaml"))]
    }

    #[test]
    fn view_hides_secrets_and_minify_keeps_one_context() {
        let mut v = merge(&parsed());
        redact(&mut v);
        let text = serde_yaml_ng::to_string(&v).expect("yaml");
        assert!(
            text.contains("certificate-authority-data: DATA+OMITTED"),
            "{text}"
        );
        assert!(text.contains("token: REDACTED"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        let m = minified(&merge(&parsed()), "shoal").expect("minify");
        assert_eq!(named(&m, "contexts").len(), 1);
        assert_eq!(named(&m, "clusters").len(), 1);
        assert!(minified(&merge(&parsed()), "nope").is_err());
    }

    #[test]
    fn merging_keeps_the_first_definition() {
        let b: Value = serde_yaml_ng::from_str("current-context: other\ncontexts:\n- name: shoal\n  context: {cluster: b}\n- name: third\n  context: {cluster: c}\n").expect("yaml");
        let mut files = parsed();
        files.push(("/b".into(), b));
        let m = merge(&files);
        assert_eq!(current(&m).as_deref(), Some("shoal"));
        let ctx = named(&m, "contexts");
        assert_eq!(
            ctx.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["shoal", "other", "third"]
        );
        assert_eq!(
            ctx[0].1.get("cluster").and_then(Value::as_str),
            Some("shoal")
        );
    }

    #[test]
    fn use_context_sets_only_current_context() {
        let mut doc: Value = serde_yaml_ng::from_str(A).expect("yaml");
        set_current(&mut doc, "other");
        assert_eq!(current(&doc).as_deref(), Some("other"));
        assert_eq!(named(&doc, "users").len(), 1);
    }
}
