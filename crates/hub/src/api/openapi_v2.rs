//! `/openapi/v2`: the Swagger 2.0 document older kubectls need. kubectl 1.27 and 1.28 fetch
//! it before every `apply` and `create` and fail when it is missing (they build their
//! client-side validator from it; when `/openapi/v3` is unavailable they also check its PATCH
//! operations for the `fieldValidation` query parameter to choose server-side validation).
//! Newer kubectls read it when `apply` patches an existing object and the v3 document gives
//! no strategic-merge metadata.
//!
//! Served as gnostic's `openapi.v2.Document` protobuf (google/gnostic
//! `openapiv2/OpenAPIv2.proto`, encoded by the tiny writer in [`pb`]) when the client asks
//! for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` (what kubectl sends), or
//! as JSON for `application/json`, `*/*` and no `Accept` at all, like kube-openapi's handler.
//!
//! The document has the same path shapes as `/openapi/v3` ([`super::discovery::openapi_v3_doc`]):
//! per resource a collection path (list, create, deletecollection) and an item path (get,
//! replace, patch, delete), each operation tagged with `x-kubernetes-action` and
//! `x-kubernetes-group-version-kind`. It carries no `definitions`: kubectl then computes
//! strategic merge patches from its built-in types, which is what it does for any kind a
//! server's document does not describe.

use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};

use super::discovery::{KUBE_MAJOR, KUBE_MINOR};
use super::error::ApiError;
use crate::resources::{ResourceInfo, ALL};

/// What kubectl (client-go's `OpenAPISchema`) asks for.
const SUBTYPE_PROTOBUF_DEPRECATED: &str = "com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The same, spelled as a valid MIME token; also what is answered for either (Go's
/// `mime.ParseMediaType` rejects the `@`, and client-go parses the response's type).
const SUBTYPE_PROTOBUF: &str = "com.github.proto-openapi.spec.v2.v1.0+protobuf";
const CONTENT_TYPE_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Media types kube-apiserver accepts on the write operations.
const WRITE_CONSUMES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
const PATCH_CONSUMES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];
const PRODUCES: &[&str] = &["application/json", "application/yaml"];

// ---------------------------------------------------------------------------------------
// The document model, rendered both as JSON and as protobuf so the two always agree.
// ---------------------------------------------------------------------------------------

/// A non-body parameter (`in: query` or `in: path`), always of type string.
#[derive(Debug, Clone)]
struct Param {
    name: &'static str,
    location: &'static str,
    required: bool,
    description: &'static str,
}

fn query(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "query",
        required: false,
        description,
    }
}

fn path_param(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "path",
        required: true,
        description,
    }
}

#[derive(Debug, Clone)]
struct Operation {
    id: String,
    tag: String,
    /// `x-kubernetes-action`.
    action: &'static str,
    params: Vec<Param>,
    /// Adds the request body parameter `body` (an object).
    has_body: bool,
    consumes: &'static [&'static str],
    gvk: (&'static str, &'static str, &'static str),
}

#[derive(Debug, Clone)]
struct PathItem {
    path: String,
    /// Path-level parameters (`{namespace}`, `{name}`, `pretty`).
    params: Vec<Param>,
    get: Option<Operation>,
    put: Option<Operation>,
    post: Option<Operation>,
    delete: Option<Operation>,
    patch: Option<Operation>,
}

/// `Core` for the core group, else the group's dot-separated labels (minus `.k8s.io`)
/// camel-cased, as in Kubernetes' operation ids (`patchCoreV1NamespacedPod`).
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    group
        .trim_end_matches(".k8s.io")
        .split(['.', '-'])
        .map(capitalize)
        .collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn resource_paths(r: &ResourceInfo) -> [PathItem; 2] {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let collection = if r.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{base}/{}", r.plural)
    };
    let item = format!("{collection}/{{name}}");
    let tag = format!(
        "{}_{}",
        if r.group.is_empty() {
            "core"
        } else {
            r.group.trim_end_matches(".k8s.io")
        },
        r.version
    );
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let gv = format!("{}{}", group_camel(r.group), capitalize(r.version));
    let op = |action: &'static str,
              verb: &str,
              params: Vec<Param>,
              has_body: bool,
              consumes: &'static [&'static str]| Operation {
        id: format!("{verb}{gv}{scope}{}", r.kind),
        tag: tag.clone(),
        action,
        params,
        has_body,
        consumes,
        gvk: (r.group, r.version, r.kind),
    };
    let write = || {
        vec![
            query(
                "dryRun",
                "When present, indicates that modifications should not be persisted.",
            ),
            query(
                "fieldManager",
                "A name associated with the actor or entity that is making these changes.",
            ),
            query(
                "fieldValidation",
                "Ignore, Warn or Strict: how to treat unknown or duplicate fields in the request.",
            ),
        ]
    };
    let list = vec![
        query(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels.",
        ),
        query(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields.",
        ),
        query(
            "limit",
            "The maximum number of responses to return for a list call.",
        ),
        query(
            "continue",
            "The continue token of a previous paginated list call.",
        ),
        query("watch", "Watch for changes to the described resources."),
        query(
            "resourceVersion",
            "Which resource version to list or watch from.",
        ),
        query("timeoutSeconds", "Timeout for the list or watch call."),
    ];
    let mut scope_params = Vec::new();
    if r.namespaced {
        scope_params.push(path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects",
        ));
    }
    let mut item_params = scope_params.clone();
    item_params.insert(0, path_param("name", "name of the object"));
    scope_params.push(query(
        "pretty",
        "If 'true', then the output is pretty printed.",
    ));
    item_params.push(query(
        "pretty",
        "If 'true', then the output is pretty printed.",
    ));
    [
        PathItem {
            path: collection,
            params: scope_params,
            get: Some(op("list", "list", list.clone(), false, &[])),
            post: Some(op("post", "create", write(), true, WRITE_CONSUMES)),
            delete: Some(op("deletecollection", "deleteCollection", list, false, &[])),
            put: None,
            patch: None,
        },
        PathItem {
            path: item,
            params: item_params,
            get: Some(op("get", "read", vec![], false, &[])),
            put: Some(op("put", "replace", write(), true, WRITE_CONSUMES)),
            patch: Some(op("patch", "patch", write(), true, PATCH_CONSUMES)),
            delete: Some(op(
                "delete",
                "delete",
                vec![query(
                    "dryRun",
                    "When present, indicates that modifications should not be persisted.",
                )],
                false,
                &[],
            )),
            post: None,
        },
    ]
}

fn all_paths() -> Vec<PathItem> {
    ALL.iter().flat_map(|r| resource_paths(r)).collect()
}

fn info_version() -> String {
    format!("v{KUBE_MAJOR}.{KUBE_MINOR}")
}

/// The `x-kubernetes-group-version-kind` value as YAML, as gnostic stores extensions
/// (`Any.yaml`); kubectl unmarshals it into a `map[string]string`.
fn gvk_yaml(group: &str, version: &str, kind: &str) -> String {
    let m: std::collections::BTreeMap<&str, &str> =
        [("group", group), ("kind", kind), ("version", version)]
            .into_iter()
            .collect();
    serde_yaml_ng::to_string(&m)
        .unwrap_or_else(|_| format!("group: \"{group}\"\nkind: {kind}\nversion: {version}\n"))
}

fn scalar_yaml(s: &str) -> String {
    serde_yaml_ng::to_string(s).unwrap_or_else(|_| format!("{s}\n"))
}

// ---------------------------------------------------------------------------------------
// JSON rendering.
// ---------------------------------------------------------------------------------------

fn param_json(p: &Param) -> Value {
    json!({"name": p.name, "in": p.location, "required": p.required, "type": "string", "description": p.description, "uniqueItems": true})
}

fn op_json(o: &Operation) -> Value {
    let mut params: Vec<Value> = Vec::new();
    if o.has_body {
        params.push(
            json!({"name": "body", "in": "body", "required": true, "schema": {"type": "object"}}),
        );
    }
    params.extend(o.params.iter().map(param_json));
    let mut v = json!({
        "tags": [o.tag],
        "operationId": o.id,
        "produces": PRODUCES,
        "schemes": ["https"],
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": o.action,
        "x-kubernetes-group-version-kind": {"group": o.gvk.0, "version": o.gvk.1, "kind": o.gvk.2},
    });
    if !o.consumes.is_empty() {
        v["consumes"] = json!(o.consumes);
    }
    v
}

fn document_json(paths: &[PathItem]) -> Value {
    let mut out = Map::new();
    for p in paths {
        let mut item = Map::new();
        for (method, op) in [
            ("get", &p.get),
            ("put", &p.put),
            ("post", &p.post),
            ("delete", &p.delete),
            ("patch", &p.patch),
        ] {
            if let Some(op) = op {
                item.insert(method.into(), op_json(op));
            }
        }
        item.insert(
            "parameters".into(),
            Value::Array(p.params.iter().map(param_json).collect()),
        );
        out.insert(p.path.clone(), Value::Object(item));
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "shoal", "version": info_version()},
        "paths": out,
        "definitions": {},
    })
}

// ---------------------------------------------------------------------------------------
// Protobuf rendering (field numbers from gnostic's OpenAPIv2.proto).
// ---------------------------------------------------------------------------------------

/// A minimal protobuf (proto3) writer: varints and length-delimited fields, which is all
/// the OpenAPI v2 messages used here need. Proto3 defaults (empty strings, `false`) are
/// omitted, as protobuf encoders do.
pub mod pb {
    pub const WIRE_VARINT: u8 = 0;
    pub const WIRE_LEN: u8 = 2;

    pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
        put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
    }

    /// One message being written.
    #[derive(Debug, Default, Clone)]
    pub struct Msg {
        buf: Vec<u8>,
    }

    impl Msg {
        pub fn new() -> Self {
            Self::default()
        }

        /// A length-delimited field with raw contents.
        pub fn bytes(&mut self, field: u32, data: &[u8]) -> &mut Self {
            put_key(&mut self.buf, field, WIRE_LEN);
            put_varint(&mut self.buf, data.len() as u64);
            self.buf.extend_from_slice(data);
            self
        }

        /// A `string` field; the empty string is the default and is not written.
        pub fn string(&mut self, field: u32, s: &str) -> &mut Self {
            if !s.is_empty() {
                self.bytes(field, s.as_bytes());
            }
            self
        }

        /// A `repeated string` field: one length-delimited record per element.
        pub fn strings<S: AsRef<str>>(&mut self, field: u32, items: &[S]) -> &mut Self {
            for s in items {
                self.bytes(field, s.as_ref().as_bytes());
            }
            self
        }

        /// A `bool` field; `false` is the default and is not written.
        pub fn boolean(&mut self, field: u32, b: bool) -> &mut Self {
            if b {
                self.varint(field, 1);
            }
            self
        }

        pub fn varint(&mut self, field: u32, v: u64) -> &mut Self {
            put_key(&mut self.buf, field, WIRE_VARINT);
            put_varint(&mut self.buf, v);
            self
        }

        /// An embedded message field; always written, since a present empty message is
        /// distinct from an absent one.
        pub fn message(&mut self, field: u32, m: &Msg) -> &mut Self {
            self.bytes(field, &m.buf)
        }

        pub fn as_bytes(&self) -> &[u8] {
            &self.buf
        }

        pub fn into_bytes(self) -> Vec<u8> {
            self.buf
        }
    }
}

use pb::Msg;

/// `NamedAny { name = 1; Any value = 2 }` with `Any { string yaml = 2 }`.
fn named_any(name: &str, yaml: &str) -> Msg {
    let mut any = Msg::new();
    any.string(2, yaml);
    let mut m = Msg::new();
    m.string(1, name).message(2, &any);
    m
}

/// `ParametersItem { Parameter parameter = 1 }` wrapping
/// `Parameter { NonBodyParameter non_body_parameter = 2 }`, whose oneof holds a
/// `QueryParameterSubSchema` (field 3) or a `PathParameterSubSchema` (field 4).
fn param_pb(p: &Param) -> Msg {
    let mut sub = Msg::new();
    let which = if p.location == "path" {
        // PathParameterSubSchema: required 1, in 2, description 3, name 4, type 5, unique_items 19.
        sub.boolean(1, p.required)
            .string(2, p.location)
            .string(3, p.description)
            .string(4, p.name)
            .string(5, "string")
            .boolean(19, true);
        4
    } else {
        // QueryParameterSubSchema: required 1, in 2, description 3, name 4, type 6, unique_items 20.
        sub.boolean(1, p.required)
            .string(2, p.location)
            .string(3, p.description)
            .string(4, p.name)
            .string(6, "string")
            .boolean(20, true);
        3
    };
    let mut non_body = Msg::new();
    non_body.message(which, &sub);
    let mut param = Msg::new();
    param.message(2, &non_body);
    let mut item = Msg::new();
    item.message(1, &param);
    item
}

/// The request body parameter: `Parameter { BodyParameter body_parameter = 1 }` with
/// `BodyParameter { name 2, in 3, required 4, Schema schema 5 }` and the schema's
/// `TypeItem type = 22 { repeated string value = 1 }`.
fn body_param_pb() -> Msg {
    let mut type_item = Msg::new();
    type_item.strings(1, &["object"]);
    let mut schema = Msg::new();
    schema.message(22, &type_item);
    let mut body = Msg::new();
    body.string(2, "body")
        .string(3, "body")
        .boolean(4, true)
        .message(5, &schema);
    let mut param = Msg::new();
    param.message(1, &body);
    let mut item = Msg::new();
    item.message(1, &param);
    item
}

/// `Responses { repeated NamedResponseValue response_code = 1 }`, each value a
/// `ResponseValue { Response response = 1 }` with `Response { description = 1 }`.
fn responses_pb() -> Msg {
    let mut responses = Msg::new();
    for (code, description) in [("200", "OK"), ("401", "Unauthorized")] {
        let mut response = Msg::new();
        response.string(1, description);
        let mut value = Msg::new();
        value.message(1, &response);
        let mut named = Msg::new();
        named.string(1, code).message(2, &value);
        responses.message(1, &named);
    }
    responses
}

/// `Operation`: tags 1, operation_id 5, produces 6, consumes 7, parameters 8, responses 9,
/// schemes 10, vendor_extension 13.
fn op_pb(o: &Operation) -> Msg {
    let mut m = Msg::new();
    m.strings(1, &[o.tag.as_str()])
        .string(5, &o.id)
        .strings(6, PRODUCES)
        .strings(7, o.consumes);
    if o.has_body {
        m.message(8, &body_param_pb());
    }
    for p in &o.params {
        m.message(8, &param_pb(p));
    }
    m.message(9, &responses_pb()).strings(10, &["https"]);
    m.message(
        13,
        &named_any("x-kubernetes-action", &scalar_yaml(o.action)),
    );
    m.message(
        13,
        &named_any(
            "x-kubernetes-group-version-kind",
            &gvk_yaml(o.gvk.0, o.gvk.1, o.gvk.2),
        ),
    );
    m
}

/// `PathItem`: get 2, put 3, post 4, delete 5, patch 8, parameters 9.
fn path_item_pb(p: &PathItem) -> Msg {
    let mut m = Msg::new();
    for (field, op) in [
        (2, &p.get),
        (3, &p.put),
        (4, &p.post),
        (5, &p.delete),
        (8, &p.patch),
    ] {
        if let Some(op) = op {
            m.message(field, &op_pb(op));
        }
    }
    for param in &p.params {
        m.message(9, &param_pb(param));
    }
    m
}

/// `Document`: swagger 1, info 2 (`Info { title 1, version 2 }`), paths 8
/// (`Paths { repeated NamedPathItem path = 2 }`, `NamedPathItem { name 1, value 2 }`),
/// definitions 9 (empty).
fn document_pb(paths: &[PathItem]) -> Vec<u8> {
    let mut info = Msg::new();
    info.string(1, "shoal").string(2, &info_version());
    let mut paths_msg = Msg::new();
    for p in paths {
        let mut named = Msg::new();
        named.string(1, &p.path).message(2, &path_item_pb(p));
        paths_msg.message(2, &named);
    }
    let mut doc = Msg::new();
    doc.string(1, "2.0")
        .message(2, &info)
        .message(8, &paths_msg)
        .message(9, &Msg::new());
    doc.into_bytes()
}

// ---------------------------------------------------------------------------------------
// Serving.
// ---------------------------------------------------------------------------------------

struct Rendered {
    body: Vec<u8>,
    etag: String,
}

fn rendered(body: Vec<u8>) -> Rendered {
    let etag = format!(
        "\"{}\"",
        Sha512::digest(&body)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    );
    Rendered { body, etag }
}

/// The protobuf and JSON documents, built once (the resource table is static).
fn documents() -> &'static (Rendered, Rendered) {
    static DOCS: OnceLock<(Rendered, Rendered)> = OnceLock::new();
    DOCS.get_or_init(|| {
        let paths = all_paths();
        (
            rendered(document_pb(&paths)),
            rendered(serde_json::to_vec(&document_json(&paths)).unwrap_or_default()),
        )
    })
}

/// The encoded protobuf document.
pub fn document_protobuf() -> &'static [u8] {
    &documents().0.body
}

/// The same document as JSON.
pub fn document_json_value() -> Value {
    document_json(&all_paths())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Protobuf,
}

/// Picks the representation for an `Accept` header the way kube-openapi does (goautoneg):
/// clauses by descending q (specific before wildcards), the first one that matches JSON or
/// either protobuf spelling wins; a missing header means `*/*`, which gives JSON.
fn negotiate(accept: &str) -> Option<Format> {
    let accept = if accept.trim().is_empty() {
        "*/*"
    } else {
        accept
    };
    let mut clauses: Vec<(f32, String, String)> = Vec::new();
    for clause in accept.split(',') {
        let mut parts = clause.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim() == "q" {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        let (ty, sub) = match media.split_once('/') {
            Some((t, s)) => (t.trim().to_string(), s.trim().to_string()),
            None if media == "*" => ("*".to_string(), "*".to_string()),
            None => continue,
        };
        if q > 0.0 {
            clauses.push((q, ty, sub));
        }
    }
    // Stable: equal clauses keep the client's order.
    clauses.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then((a.1 == "*").cmp(&(b.1 == "*")))
            .then((a.2 == "*").cmp(&(b.2 == "*")))
    });
    let offered = [
        ("json", Format::Json),
        (SUBTYPE_PROTOBUF_DEPRECATED, Format::Protobuf),
        (SUBTYPE_PROTOBUF, Format::Protobuf),
    ];
    for (_, ty, sub) in &clauses {
        for (offer, format) in offered {
            if (ty == "application" || ty == "*") && (sub == offer || sub == "*") {
                return Some(format);
            }
        }
    }
    None
}

/// Whether an `If-None-Match` header names `etag` (or is `*`), comparing weakly.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// `GET /openapi/v2`.
pub fn respond(req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::method_not_allowed(format!(
            "{} is not supported on /openapi/v2",
            req.method()
        )));
    }
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (doc, content_type) = match negotiate(accept) {
        Some(Format::Protobuf) => (&documents().0, CONTENT_TYPE_PROTOBUF),
        Some(Format::Json) => (&documents().1, "application/json"),
        None => {
            return Err(ApiError::new(
                406,
                "NotAcceptable",
                format!("only the following media types are accepted: application/json, application/{SUBTYPE_PROTOBUF}, application/{SUBTYPE_PROTOBUF_DEPRECATED}"),
            ))
        }
    };
    let if_none_match = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let not_modified = etag_matches(if_none_match, &doc.etag);
    let mut resp = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header(("Vary", "Accept"))
        .insert_header(("ETag", doc.etag.as_str()))
        .insert_header(("Cache-Control", "no-cache, private"));
    if not_modified {
        return Ok(resp.finish());
    }
    Ok(resp.content_type(content_type).body(doc.body.clone()))
}

#[cfg(test)]
mod tests {
    use super::pb::{put_varint, Msg};
    use super::*;

    /// One decoded field: its number and its varint value or length-delimited bytes.
    #[derive(Debug, Clone, PartialEq)]
    enum Field {
        Varint(u64),
        Bytes(Vec<u8>),
    }

    fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = buf[*pos];
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
            shift += 7;
            assert!(shift < 64, "varint too long");
        }
    }

    /// A test-only decoder for the two wire types the writer emits.
    fn decode(buf: &[u8]) -> Vec<(u32, Field)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let key = get_varint(buf, &mut pos);
            let field = u32::try_from(key >> 3).expect("field number");
            match key & 7 {
                0 => out.push((field, Field::Varint(get_varint(buf, &mut pos)))),
                2 => {
                    let len = usize::try_from(get_varint(buf, &mut pos)).expect("length");
                    out.push((field, Field::Bytes(buf[pos..pos + len].to_vec())));
                    pos += len;
                }
                w => panic!("unexpected wire type {w}"),
            }
        }
        assert_eq!(pos, buf.len(), "trailing bytes");
        out
    }

    fn bytes_of(fields: &[(u32, Field)], n: u32) -> Vec<Vec<u8>> {
        fields
            .iter()
            .filter(|(f, _)| *f == n)
            .filter_map(|(_, v)| match v {
                Field::Bytes(b) => Some(b.clone()),
                Field::Varint(_) => None,
            })
            .collect()
    }

    fn one(fields: &[(u32, Field)], n: u32) -> Vec<u8> {
        let mut all = bytes_of(fields, n);
        assert_eq!(all.len(), 1, "field {n} should occur once in {fields:?}");
        all.remove(0)
    }

    fn text(fields: &[(u32, Field)], n: u32) -> String {
        String::from_utf8(one(fields, n)).expect("utf-8")
    }

    #[test]
    fn varints_encode_as_protobuf_does() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (150, &[0x96, 0x01]),
            (300, &[0xac, 0x02]),
            (16_384, &[0x80, 0x80, 0x01]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (v, want) in cases {
            let mut buf = Vec::new();
            put_varint(&mut buf, *v);
            assert_eq!(&buf, want, "varint {v}");
            assert_eq!(get_varint(&buf, &mut 0), *v);
        }
        // Field 1, varint 150: the protobuf documentation's example.
        let mut m = Msg::new();
        m.varint(1, 150);
        assert_eq!(m.as_bytes(), &[0x08, 0x96, 0x01]);
        // Field 2, string "testing".
        let mut m = Msg::new();
        m.string(2, "testing");
        assert_eq!(m.as_bytes(), b"\x12\x07testing");
        // Large field numbers take a multi-byte key (field 22, wire type 2 = 0xb2 0x01).
        let mut m = Msg::new();
        m.string(22, "x");
        assert_eq!(m.as_bytes(), &[0xb2, 0x01, 0x01, b'x']);
    }

    #[test]
    fn small_message_round_trips() {
        let mut inner = Msg::new();
        inner
            .string(1, "fieldValidation")
            .boolean(20, true)
            .boolean(1, false)
            .string(3, "");
        let long = "y".repeat(300);
        let mut outer = Msg::new();
        outer
            .string(1, "name")
            .message(2, &inner)
            .strings(5, &["a", "b"])
            .string(6, &long)
            .varint(7, 1 << 40)
            .message(8, &Msg::new());
        let fields = decode(outer.as_bytes());
        assert_eq!(text(&fields, 1), "name");
        assert_eq!(bytes_of(&fields, 5), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(text(&fields, 6), long);
        assert!(fields.contains(&(7, Field::Varint(1 << 40))));
        assert_eq!(one(&fields, 8), Vec::<u8>::new());
        let inner_fields = decode(&one(&fields, 2));
        // Defaults (false, "") are not written.
        assert_eq!(
            inner_fields,
            vec![
                (1, Field::Bytes(b"fieldValidation".to_vec())),
                (20, Field::Varint(1))
            ]
        );
    }

    /// Finds the PATCH operation of `path` in the encoded document, as kubectl's
    /// `supportsQueryParam` walks it.
    fn patch_op(doc: &[u8], path: &str) -> Vec<(u32, Field)> {
        let d = decode(doc);
        assert_eq!(text(&d, 1), "2.0");
        let paths = decode(&one(&d, 8));
        for named in bytes_of(&paths, 2) {
            let named = decode(&named);
            if text(&named, 1) == path {
                return decode(&one(&decode(&one(&named, 2)), 8));
            }
        }
        panic!("no path {path}");
    }

    #[test]
    fn document_has_pod_patch_with_gvk_and_field_validation() {
        let op = patch_op(
            document_protobuf(),
            "/api/v1/namespaces/{namespace}/pods/{name}",
        );
        let exts: Vec<(String, String)> = bytes_of(&op, 13)
            .iter()
            .map(|e| {
                let e = decode(e);
                (text(&e, 1), text(&decode(&one(&e, 2)), 2))
            })
            .collect();
        let gvk = &exts
            .iter()
            .find(|(n, _)| n == "x-kubernetes-group-version-kind")
            .expect("gvk extension")
            .1;
        let gvk: std::collections::BTreeMap<String, String> =
            serde_yaml_ng::from_str(gvk).expect("gvk yaml");
        assert_eq!(gvk.get("group").map(String::as_str), Some(""));
        assert_eq!(gvk.get("version").map(String::as_str), Some("v1"));
        assert_eq!(gvk.get("kind").map(String::as_str), Some("Pod"));
        let action = &exts
            .iter()
            .find(|(n, _)| n == "x-kubernetes-action")
            .expect("action extension")
            .1;
        assert_eq!(action.trim(), "patch");

        // parameters: ParametersItem.parameter(1) -> Parameter.non_body_parameter(2)
        // -> NonBodyParameter.query_parameter_sub_schema(3) -> name(4).
        let query_names: Vec<String> = bytes_of(&op, 8)
            .iter()
            .filter_map(|item| {
                let param = decode(&one(&decode(item), 1));
                let non_body = bytes_of(&param, 2).pop()?;
                let q = bytes_of(&decode(&non_body), 3).pop()?;
                let q = decode(&q);
                assert_eq!(text(&q, 2), "query");
                Some(text(&q, 4))
            })
            .collect();
        assert!(
            query_names.iter().any(|n| n == "fieldValidation"),
            "{query_names:?}"
        );

        // Every resource in the table has its PATCH operation.
        let doc = document_json_value();
        for r in ALL.iter() {
            let found = doc["paths"].as_object().expect("paths").values().any(|p| {
                p["patch"]["x-kubernetes-group-version-kind"]["kind"] == r.kind
                    && p["patch"]["parameters"].as_array().is_some_and(|ps| {
                        ps.iter()
                            .any(|q| q["name"] == "fieldValidation" && q["in"] == "query")
                    })
            });
            assert!(found, "no patch operation for {}", r.kind);
        }
    }

    #[test]
    fn cluster_scoped_gvk_yaml_and_json_agree() {
        let doc = document_json_value();
        let node = &doc["paths"]["/api/v1/nodes/{name}"]["patch"];
        assert_eq!(
            node["x-kubernetes-group-version-kind"],
            json!({"group": "", "version": "v1", "kind": "Node"})
        );
        assert_eq!(node["operationId"], "patchCoreV1Node");
        assert_eq!(
            doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]["operationId"],
            "patchCoreV1NamespacedPod"
        );
        let y: std::collections::BTreeMap<String, String> =
            serde_yaml_ng::from_str(&gvk_yaml("apps", "v1", "Deployment")).expect("yaml");
        assert_eq!(y.get("group").map(String::as_str), Some("apps"));
        assert_eq!(
            group_camel("rbac.authorization.k8s.io"),
            "RbacAuthorization"
        );
    }

    #[test]
    fn accept_negotiation_follows_kube_openapi() {
        assert_eq!(
            negotiate("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(
            negotiate("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(negotiate("application/json"), Some(Format::Json));
        assert_eq!(negotiate("application/json, */*"), Some(Format::Json));
        assert_eq!(negotiate(""), Some(Format::Json));
        assert_eq!(negotiate("*/*"), Some(Format::Json));
        assert_eq!(negotiate("application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"), Some(Format::Protobuf));
        assert_eq!(
            negotiate("*/*;q=0.1, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(negotiate("text/html"), None);
        assert_eq!(negotiate("application/json;q=0"), None);
        assert!(etag_matches("W/\"AB\", \"CD\"", "\"AB\""));
        assert!(!etag_matches("\"CD\"", "\"AB\""));
    }
}
