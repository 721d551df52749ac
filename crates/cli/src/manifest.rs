//! Manifests for `apply -f`, `create -f` and `delete -f`: files, directories (their
//! `.yaml`, `.yml` and `.json` files, sorted; `-R` descends) or `-` for stdin, each split into
//! YAML documents. Empty documents are skipped and `kind: List` is expanded into its items,
//! as kubectl does.
//!
//! Design: every source is read and parsed before any request is sent, so a broken document
//! anywhere changes nothing on the hub. Errors name the file and the document (counted from 1).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// Largest manifest source read (stdin or one file).
pub const MAX_SOURCE: u64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file} is larger than {MAX_SOURCE} bytes")]
    TooLarge { file: String },
    #[error("{file}: document {index} is not valid YAML")]
    Yaml {
        file: String,
        index: usize,
        source: serde_yaml_ng::Error,
    },
    #[error("{file}: document {index}: {problem}")]
    Invalid {
        file: String,
        index: usize,
        problem: String,
    },
    #[error("{path}: no manifests found (looked for .yaml, .yml and .json files)")]
    EmptyDir { path: String },
    #[error("no objects passed to {verb}")]
    Nothing { verb: &'static str },
}

/// One object from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file name, or `STDIN`.
    pub file: String,
    /// Which document of the file, from 1.
    pub index: usize,
    /// How many objects the file holds (messages name the document only when it is > 1).
    pub of: usize,
    pub object: Value,
}

impl Document {
    pub fn api_version(&self) -> &str {
        self.object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn kind(&self) -> &str {
        self.object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn name(&self) -> Option<&str> {
        self.object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
    }

    pub fn namespace(&self) -> Option<&str> {
        self.object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
    }

    /// An error about this document.
    pub fn invalid(&self, problem: impl Into<String>) -> ManifestError {
        ManifestError::Invalid {
            file: self.file.clone(),
            index: self.index,
            problem: problem.into(),
        }
    }

    /// The name, or an error saying it is missing.
    pub fn require_name(&self) -> Result<&str, ManifestError> {
        self.name()
            .ok_or_else(|| self.invalid(format!("{} has no metadata.name", self.kind())))
    }
}

/// Reads every `-f` argument. `stdin` is read when one of them is `-`.
pub fn read_all(
    args: &[String],
    recursive: bool,
    verb: &'static str,
    stdin: &mut dyn Read,
) -> Result<Vec<Document>, ManifestError> {
    let mut docs = Vec::new();
    for arg in args {
        if arg == "-" {
            let mut text = String::new();
            stdin
                .take(MAX_SOURCE + 1)
                .read_to_string(&mut text)
                .map_err(|source| ManifestError::Read {
                    path: "STDIN".into(),
                    source,
                })?;
            if text.len() as u64 > MAX_SOURCE {
                return Err(ManifestError::TooLarge {
                    file: "STDIN".into(),
                });
            }
            docs.extend(split("STDIN", &text)?);
            continue;
        }
        let path = Path::new(arg);
        let meta = std::fs::metadata(path).map_err(|source| ManifestError::Read {
            path: arg.clone(),
            source,
        })?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            collect_dir(path, recursive, &mut files)?;
            if files.is_empty() {
                return Err(ManifestError::EmptyDir { path: arg.clone() });
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        for f in files {
            let name = f.display().to_string();
            let text = read_file(&f, &name)?;
            docs.extend(split(&name, &text)?);
        }
    }
    if docs.is_empty() {
        return Err(ManifestError::Nothing { verb });
    }
    Ok(docs)
}

fn read_file(path: &Path, name: &str) -> Result<String, ManifestError> {
    let file = std::fs::File::open(path).map_err(|source| ManifestError::Read {
        path: name.to_string(),
        source,
    })?;
    let mut text = String::new();
    file.take(MAX_SOURCE + 1)
        .read_to_string(&mut text)
        .map_err(|source| ManifestError::Read {
            path: name.to_string(),
            source,
        })?;
    if text.len() as u64 > MAX_SOURCE {
        return Err(ManifestError::TooLarge {
            file: name.to_string(),
        });
    }
    Ok(text)
}

fn collect_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let read_err = |source| ManifestError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                collect_dir(&p, recursive, out)?;
            }
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// Splits one source into its objects (pure).
pub fn split(file: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        // A syntax error ends the stream: the parser cannot find the next document reliably.
        let value = Value::deserialize(de).map_err(|source| ManifestError::Yaml {
            file: file.to_string(),
            index,
            source,
        })?;
        let invalid = |problem: String| ManifestError::Invalid {
            file: file.to_string(),
            index,
            problem,
        };
        match value {
            Value::Null => continue,
            Value::Object(_) => {}
            other => {
                return Err(invalid(format!(
                    "expected an object with apiVersion and kind, found {}",
                    type_name(&other)
                )))
            }
        }
        let doc = Document {
            file: file.to_string(),
            index,
            of: 0,
            object: value,
        };
        if doc.kind() == "List" || doc.kind().ends_with("List") && doc.object.get("items").is_some()
        {
            let items = doc
                .object
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for item in items {
                let d = Document {
                    file: file.to_string(),
                    index,
                    of: 0,
                    object: item,
                };
                check(&d)?;
                docs.push(d);
            }
            continue;
        }
        check(&doc)?;
        docs.push(doc);
    }
    let n = docs.len();
    for d in &mut docs {
        d.of = n;
    }
    Ok(docs)
}

/// apiVersion and kind must be set; kubectl reports both at once.
fn check(d: &Document) -> Result<(), ManifestError> {
    if !d.object.is_object() {
        return Err(d.invalid(format!(
            "expected an object with apiVersion and kind, found {}",
            type_name(&d.object)
        )));
    }
    let mut missing = Vec::new();
    if d.api_version().is_empty() {
        missing.push("apiVersion not set");
    }
    if d.kind().is_empty() {
        missing.push("kind not set");
    }
    if !missing.is_empty() {
        return Err(d.invalid(missing.join(", ")));
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: nginx\n";

    #[test]
    fn splits_documents_and_skips_empty_ones() {
        let text = format!("---\n# just a comment\n---\n{POD}---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: edge}}\n---\n");
        let docs = split("m.yaml", &text).expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(
            (docs[0].kind(), docs[0].name(), docs[0].index),
            ("Pod", Some("web"), 2)
        );
        assert_eq!(
            (docs[1].kind(), docs[1].name(), docs[1].index),
            ("Namespace", Some("edge"), 3)
        );
        assert_eq!(docs[0].object["spec"]["containers"][0]["image"], "nginx");
    }

    #[test]
    fn json_and_lists_are_accepted() {
        let docs = split("l.json", r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"}}]}"#).expect("parses");
        let names: Vec<_> = docs.iter().filter_map(Document::name).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn errors_name_file_and_document() {
        let e = split(
            "bad.yaml",
            &format!("{POD}---\nkind: Pod\nmetadata: [unclosed\n"),
        )
        .expect_err("syntax error");
        assert!(matches!(&e, ManifestError::Yaml { index: 2, .. }), "{e:?}");
        let msg = crate::cmd::chain(&e);
        assert!(
            msg.starts_with("bad.yaml: document 2 is not valid YAML: "),
            "{msg}"
        );

        let e = split("s.yaml", "just some words\n").expect_err("a scalar");
        assert_eq!(
            e.to_string(),
            "s.yaml: document 1: expected an object with apiVersion and kind, found a string"
        );

        let e = split("k.yaml", "metadata: {name: x}\n").expect_err("no kind");
        assert_eq!(
            e.to_string(),
            "k.yaml: document 1: apiVersion not set, kind not set"
        );
    }

    #[test]
    fn reads_directories_sorted_and_stdin() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("b.yaml"), POD.replace("web", "second")).expect("write");
        std::fs::write(dir.path().join("a.yml"), POD).expect("write");
        std::fs::write(dir.path().join("notes.txt"), "ignored").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(
            dir.path().join("sub/c.json"),
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"deep"}}"#,
        )
        .expect("write");
        let arg = dir.path().display().to_string();
        let names = |docs: Vec<Document>| {
            docs.iter()
                .filter_map(|d| d.name().map(str::to_string))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(
                read_all(
                    std::slice::from_ref(&arg),
                    false,
                    "apply",
                    &mut std::io::empty()
                )
                .expect("reads")
            ),
            ["web", "second"]
        );
        assert_eq!(
            names(
                read_all(
                    std::slice::from_ref(&arg),
                    true,
                    "apply",
                    &mut std::io::empty()
                )
                .expect("reads")
            ),
            ["web", "second", "deep"]
        );
        let mut stdin = POD.as_bytes();
        let docs = read_all(&["-".to_string()], false, "apply", &mut stdin).expect("stdin");
        assert_eq!(docs[0].file, "STDIN");

        let missing = dir.path().join("nope.yaml").display().to_string();
        let e = read_all(
            std::slice::from_ref(&missing),
            false,
            "apply",
            &mut std::io::empty(),
        )
        .expect_err("missing");
        assert!(crate::cmd::chain(&e).starts_with(&format!("cannot read {missing}: ")));
        let e =
            read_all(&["-".to_string()], false, "apply", &mut "".as_bytes()).expect_err("empty");
        assert_eq!(e.to_string(), "no objects passed to apply");
    }
}
