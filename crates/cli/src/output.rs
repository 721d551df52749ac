//! Printing, with kubectl's conventions.
//!
//! Tables come from the hub's server-side printing (`meta.k8s.io/v1` `Table`): columns of
//! priority 0, plus priority 1 for `-o wide`; headers upper-cased; columns separated by at
//! least three spaces, the last one unpadded; `-A` puts NAMESPACE first. JSON is indented by
//! four spaces, YAML by two; several objects print as a `kind: List`. `-o name` prints
//! `type/name`.

use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("the hub's table is malformed: {0}")]
    BadTable(String),
    #[error("cannot print as YAML")]
    Yaml(#[source] serde_yaml_ng::Error),
}

/// `-o` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Wide,
    Yaml,
    Json,
    Name,
}

/// Text cells ready to align.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Options for turning a server `Table` into text cells.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions<'a> {
    /// Show priority-1 columns too (`-o wide`).
    pub wide: bool,
    /// Prepend NAMESPACE (`-A`).
    pub with_namespace: bool,
    /// Prefix the name column with `type/` (when several types are printed together).
    pub name_prefix: Option<&'a str>,
    /// `-L KEY,...`: one column per label key, headed by the key upper-cased.
    pub label_columns: &'a [String],
    /// `--show-labels`: a LABELS column with every label as `k=v,...`.
    pub show_labels: bool,
}

impl Table {
    /// Converts a server `Table` response.
    pub fn from_server(t: &Value, opts: TableOptions) -> Result<Table, OutputError> {
        let defs = t
            .get("columnDefinitions")
            .and_then(Value::as_array)
            .ok_or_else(|| OutputError::BadTable("no columnDefinitions".into()))?;
        let rows = t
            .get("rows")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        // (index in the row, is the name column)
        let mut shown: Vec<(usize, bool)> = Vec::new();
        let mut headers = Vec::new();
        if opts.with_namespace {
            headers.push("NAMESPACE".to_string());
        }
        for (i, d) in defs.iter().enumerate() {
            let priority = d.get("priority").and_then(Value::as_i64).unwrap_or(0);
            if priority == 0 || opts.wide {
                headers.push(
                    d.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_uppercase(),
                );
                shown.push((i, d.get("format").and_then(Value::as_str) == Some("name")));
            }
        }
        for k in opts.label_columns {
            headers.push(k.rsplit('/').next().unwrap_or(k).to_uppercase());
        }
        if opts.show_labels {
            headers.push("LABELS".into());
        }
        let mut out = Vec::with_capacity(rows.len());
        for (n, r) in rows.iter().enumerate() {
            let cells = r
                .get("cells")
                .and_then(Value::as_array)
                .ok_or_else(|| OutputError::BadTable(format!("row {n} has no cells")))?;
            let mut line = Vec::with_capacity(headers.len());
            if opts.with_namespace {
                line.push(
                    r.pointer("/object/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            for &(i, is_name) in &shown {
                let text = cells.get(i).map(cell_text).unwrap_or_default();
                line.push(match opts.name_prefix {
                    Some(p) if is_name => format!("{p}/{text}"),
                    _ => text,
                });
            }
            let labels = r
                .pointer("/object/metadata/labels")
                .and_then(Value::as_object);
            for k in opts.label_columns {
                line.push(
                    labels
                        .and_then(|l| l.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            if opts.show_labels {
                let mut kv: Vec<String> = labels
                    .map(|l| {
                        l.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default();
                kv.sort();
                line.push(if kv.is_empty() {
                    "<none>".into()
                } else {
                    kv.join(",")
                });
            }
            out.push(line);
        }
        Ok(Table { headers, rows: out })
    }

    /// Aligned text, one line per row, each ending in a newline.
    pub fn render(&self, headers: bool) -> String {
        let mut widths = Vec::new();
        self.widen(&mut widths, headers);
        let mut out = String::new();
        if headers {
            out.push_str(&render_line(&self.headers, &widths));
        }
        for r in &self.rows {
            out.push_str(&render_line(r, &widths));
        }
        out
    }

    /// Grows `widths` to fit this table's cells (and headers); a watch keeps one `widths`
    /// for its whole output so later rows line up with the first table.
    pub fn widen(&self, widths: &mut Vec<usize>, headers: bool) {
        let lines = headers
            .then_some(&self.headers)
            .into_iter()
            .chain(self.rows.iter());
        for l in lines {
            if widths.len() < l.len() {
                widths.resize(l.len(), 0);
            }
            for (i, c) in l.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
}

/// One row padded to `widths` (columns three spaces apart, the last unpadded).
pub fn render_line(l: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, c) in l.iter().enumerate() {
        line.push_str(c);
        if i + 1 < l.len() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(c.chars().count()) + 3;
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    let mut out = line.trim_end().to_string();
    out.push('\n');
    out
}

/// A table cell as kubectl prints it: `<none>` for null, the first line of multi-line text.
fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => "<none>".into(),
        Value::String(s) => match s.split_once('\n') {
            Some((first, _)) => format!("{first}..."),
            None => s.clone(),
        },
        other => other.to_string(),
    }
}

/// JSON indented by four spaces, as kubectl prints it, with a final newline.
pub fn to_json(v: &Value) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serializing a `Value` into memory cannot fail.
    let _ = v.serialize(&mut ser);
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    s.push('\n');
    s
}

pub fn to_yaml(v: &Value) -> Result<String, OutputError> {
    serde_yaml_ng::to_string(v).map_err(OutputError::Yaml)
}

/// A `kind: List` of the objects, as kubectl prints several objects.
pub fn list_of(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// `pod/web`.
pub fn name_of(type_name: &str, obj: &Value) -> String {
    format!(
        "{type_name}/{}",
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_columns_and_show_labels() {
        let mut t = pods_table();
        t["rows"][0]["object"]["metadata"]["labels"] =
            json!({"app": "web", "node.shoal.io/room": "kitchen"});
        let keys = vec!["node.shoal.io/room".to_string()];
        let table = Table::from_server(
            &t,
            TableOptions {
                label_columns: &keys,
                show_labels: true,
                ..Default::default()
            },
        )
        .expect("table");
        assert_eq!(table.headers[5..], ["ROOM", "LABELS"]);
        assert_eq!(
            table.rows[0][5..],
            ["kitchen", "app=web,node.shoal.io/room=kitchen"]
        );
        assert_eq!(table.rows[1][5..], ["", "<none>"]);
    }

    fn pods_table() -> Value {
        json!({
            "kind": "Table",
            "columnDefinitions": [
                {"name": "Name", "format": "name", "priority": 0},
                {"name": "Ready", "priority": 0},
                {"name": "Status", "priority": 0},
                {"name": "Restarts", "priority": 0},
                {"name": "Age", "priority": 0},
                {"name": "IP", "priority": 1},
                {"name": "Nominated Node", "priority": 1},
            ],
            "rows": [
                {"cells": ["web", "1/1", "Running", 0, "5m", "10.0.0.2", null], "object": {"metadata": {"name": "web", "namespace": "default"}}},
                {"cells": ["a-much-longer-name", "0/1", "Pending", 12, "30s", "<none>", null], "object": {"metadata": {"name": "a-much-longer-name", "namespace": "edge"}}},
            ]
        })
    }

    #[test]
    fn default_columns_align_like_kubectl() {
        let t = Table::from_server(&pods_table(), TableOptions::default()).expect("table");
        assert_eq!(
            t.render(true),
            "NAME                 READY   STATUS    RESTARTS   AGE\n\
             web                  1/1     Running   0          5m\n\
             a-much-longer-name   0/1     Pending   12         30s\n"
        );
        // Without headers, only the rows decide the widths (as in kubectl's tabwriter).
        assert_eq!(
            t.render(false).lines().next(),
            Some("web                  1/1   Running   0    5m")
        );
    }

    #[test]
    fn wide_and_all_namespaces_add_columns() {
        let t = Table::from_server(
            &pods_table(),
            TableOptions {
                wide: true,
                with_namespace: true,
                ..Default::default()
            },
        )
        .expect("table");
        assert_eq!(
            t.headers,
            [
                "NAMESPACE",
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NOMINATED NODE"
            ]
        );
        assert_eq!(
            t.rows[0],
            ["default", "web", "1/1", "Running", "0", "5m", "10.0.0.2", "<none>"]
        );
        assert_eq!(t.rows[1][0], "edge");
        let text = t.render(true);
        assert!(
            text.lines().all(|l| !l.ends_with(' ')),
            "no trailing spaces:\n{text}"
        );
    }

    #[test]
    fn name_prefix_and_multiline_cells() {
        let mut tbl = pods_table();
        tbl["rows"][0]["cells"][2] = json!("line one\nline two");
        let t = Table::from_server(
            &tbl,
            TableOptions {
                name_prefix: Some("pod"),
                ..Default::default()
            },
        )
        .expect("table");
        assert_eq!(t.rows[0][0], "pod/web");
        assert_eq!(t.rows[0][2], "line one...");
        assert!(Table::from_server(&json!({"rows": []}), TableOptions::default()).is_err());
    }

    #[test]
    fn json_yaml_and_names() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}});
        assert_eq!(to_json(&obj), "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Pod\",\n    \"metadata\": {\n        \"name\": \"web\"\n    }\n}\n");
        assert_eq!(
            to_yaml(&obj).expect("yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
        );
        assert_eq!(name_of("pod", &obj), "pod/web");
        let l = list_of(vec![obj]);
        assert_eq!(l["kind"], "List");
        assert_eq!(l["items"][0]["metadata"]["name"], "web");
    }
}
