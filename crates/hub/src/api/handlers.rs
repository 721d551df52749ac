//! Resource verbs: get, list, create, update, patch, delete, binding, on any kind in
//! [`crate::resources`].

use std::sync::Arc;

use actix_web::HttpResponse;
use base64::Engine;
use serde_json::{json, Value};

use super::admission::{self, FieldValidation, Part};
use super::error::ApiError;
use super::patch;
use super::request::{Query, Target};
use super::table;
use super::ApiState;
use crate::resources::{ResourceInfo, NAMESPACES, PODS};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::StoredObject;

/// Compiled list/watch filter.
pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn from_query(res: &ResourceInfo, q: &Query) -> Result<Filter, ApiError> {
        let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        let supported: Vec<&str> = crate::store::object::COMMON_FIELDS
            .iter()
            .chain(res.field_paths.iter())
            .copied()
            .collect();
        let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default(), &supported)
            .map_err(ApiError::bad_request)?;
        Ok(Filter { labels, fields })
    }

    pub fn matches(&self, o: &StoredObject) -> bool {
        self.labels.matches(o) && self.fields.matches(o)
    }
}

pub fn json_response(code: u16, body: &Value) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(code).unwrap_or(actix_web::http::StatusCode::OK),
    )
    .content_type("application/json")
    .body(serde_json::to_vec(body).unwrap_or_default())
}

fn object_response(
    code: u16,
    o: &StoredObject,
    res: &ResourceInfo,
    as_table: bool,
) -> HttpResponse {
    if as_table {
        let rv = o.revision.to_string();
        return json_response(
            code,
            &table::table(
                res,
                vec![table::row(
                    res,
                    &o.value(),
                    shoal_transport::status::now_ms(),
                )],
                &rv,
                None,
            ),
        );
    }
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(code).unwrap_or(actix_web::http::StatusCode::OK),
    )
    .content_type("application/json")
    .body(o.json.clone())
}

/// Adds `Warning: 299 - "..."` headers, as the Kubernetes API server reports unknown fields.
fn with_warnings(mut resp: HttpResponse, warnings: &[String]) -> HttpResponse {
    for w in warnings {
        let value = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&value) {
            resp.headers_mut()
                .append(actix_web::http::header::WARNING, v);
        }
    }
    resp
}

fn require_name(t: &Target) -> Result<&str, ApiError> {
    t.name
        .as_deref()
        .ok_or_else(|| ApiError::method_not_allowed("this verb needs a resource name in the path"))
}

fn ns_of(t: &Target) -> &str {
    if t.res.namespaced {
        t.namespace.as_deref().unwrap_or_default()
    } else {
        ""
    }
}

fn not_found(res: &ResourceInfo, name: &str) -> ApiError {
    let mut e = ApiError::not_found(format!("{} \"{name}\" not found", res.resource_name()));
    e.details = Some(json!({"name": name, "kind": res.plural}));
    e
}

pub fn get(state: &ApiState, t: &Target, as_table: bool) -> Result<HttpResponse, ApiError> {
    let name = require_name(t)?;
    let o = state
        .store
        .get(t.res, ns_of(t), name)
        .ok_or_else(|| not_found(t.res, name))?;
    Ok(object_response(200, &o, t.res, as_table))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    start: String,
}

pub fn list(
    state: &ApiState,
    t: &Target,
    q: &Query,
    as_table: bool,
    visible: &dyn Fn(&StoredObject) -> bool,
) -> Result<HttpResponse, ApiError> {
    let filter = Filter::from_query(t.res, q)?;
    let limit = q.u64("limit")?.unwrap_or(0) as usize;
    let cont = match q.get("continue").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| ApiError::bad_request("continue token is not valid base64"))?;
            let tok: ContinueToken = serde_json::from_slice(&raw)
                .map_err(|_| ApiError::bad_request("continue token is malformed"))?;
            Some(tok)
        }
    };
    let namespace = t.namespace.as_deref();
    let result = state.store.list(
        t.res,
        namespace,
        &|o| filter.matches(o) && visible(o),
        cont.as_ref().map(|c| c.start.as_str()),
        limit,
    );
    let mut items = result.items;
    let next = if limit > 0 && items.len() > limit {
        items.truncate(limit);
        let last = items.last().map(|o| o.key.clone()).unwrap_or_default();
        let tok = serde_json::to_vec(&ContinueToken {
            rv: result.revision,
            start: last,
        })
        .unwrap_or_default();
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tok))
    } else {
        None
    };
    let rv = result.revision.to_string();
    if as_table {
        let now = shoal_transport::status::now_ms();
        let rows = items
            .iter()
            .map(|o| table::row(t.res, &o.value(), now))
            .collect();
        return Ok(json_response(
            200,
            &table::table(t.res, rows, &rv, next.as_deref()),
        ));
    }
    // Design: lists are assembled from the stored bytes; objects are not re-encoded.
    let mut meta = json!({"resourceVersion": rv});
    if let Some(n) = &next {
        meta["continue"] = json!(n);
    }
    let mut body = Vec::with_capacity(128 + items.iter().map(|o| o.json.len() + 1).sum::<usize>());
    body.extend_from_slice(
        format!(
            "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
            t.res.list_kind,
            t.res.api_version(),
            meta
        )
        .as_bytes(),
    );
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&o.json);
    }
    body.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// Decodes a request body as JSON, YAML when the content type says so, or Kubernetes
/// protobuf (what kubectl 1.32+ sends for `kubectl create namespace`, `create configmap`,
/// `create deployment`, ...). A protobuf body comes back as JSON with `apiVersion`/`kind`
/// taken from its typeMeta, so [`admission::check_type`] checks them against the endpoint
/// as it does for JSON.
pub fn decode_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        use super::protobuf::{decode, DecodeError};
        return decode(body).map_err(|e| match e {
            DecodeError::Unsupported(m) => ApiError::unsupported_media(m),
            e @ DecodeError::Invalid { .. } => ApiError::bad_request(format!(
                "the request body is not valid Kubernetes protobuf: {e}"
            )),
        });
    }
    let media = content_type.split(';').next().unwrap_or_default().trim();
    match media {
        "application/yaml" | "application/x-yaml" | "text/yaml" | "yaml" => {
            serde_yaml_ng::from_slice(body).map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")))
        }
        "" | "application/json" | "json" | "*/*" => {
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
        }
        other => Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format ({other}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
        ))),
    }
}

async fn check_namespace(state: &ApiState, res: &ResourceInfo, ns: &str) -> Result<(), ApiError> {
    if !res.namespaced {
        return Ok(());
    }
    if ns.is_empty() {
        return Err(ApiError::bad_request(
            "a namespace is required for namespaced resources",
        ));
    }
    match state.store.get(&NAMESPACES, "", ns) {
        None => Err(not_found(&NAMESPACES, ns)),
        Some(n) if n.field("status.phase") == Some("Terminating") => {
            Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )))
        }
        Some(_) => Ok(()),
    }
}

pub async fn create(
    state: &ApiState,
    t: &Target,
    q: &Query,
    mut body: Value,
) -> Result<HttpResponse, ApiError> {
    if t.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "POST goes to the collection, not to a named object",
        ));
    }
    admission::check_type(t.res, &body)?;
    let ns = ns_of(t).to_string();
    if let Some(body_ns) = body.pointer("/metadata/namespace").and_then(Value::as_str) {
        if t.res.namespaced && !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(format!(
                "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({ns})"
            )));
        }
    }
    let (normalized, warnings) = admission::normalize(
        t.res,
        body,
        FieldValidation::parse(q.get("fieldValidation"))?,
    )?;
    body = normalized;
    admission::prepare_create(t.res, &mut body)?;
    check_namespace(state, t.res, &ns).await?;
    // Design: held until the store acknowledged the write (see `service_alloc`).
    let _alloc = service_lock(state, t.res).await;
    if t.res.kind == "Service" {
        allocate_service(state, &ns, &mut body, None)?;
    }
    if dry_run(q) {
        let name = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if state.store.get(t.res, &ns, name).is_some() {
            return Err(crate::store::StoreError::AlreadyExists {
                resource: t.res.resource_name(),
                name: name.into(),
            }
            .into());
        }
        return Ok(with_warnings(json_response(201, &body), &warnings));
    }
    let o = state.store.create(t.res, &ns, body).await?;
    Ok(with_warnings(
        object_response(201, &o, t.res, false),
        &warnings,
    ))
}

/// The Service allocation lock, for Service writes only.
async fn service_lock<'a>(
    state: &'a ApiState,
    res: &ResourceInfo,
) -> Option<tokio::sync::MutexGuard<'a, ()>> {
    if res.kind == "Service" {
        Some(state.services.lock().await)
    } else {
        None
    }
}

/// Allocates the ClusterIP and NodePorts of a Service about to be written, against every
/// other stored Service. The caller holds [`service_lock`].
fn allocate_service(
    state: &ApiState,
    ns: &str,
    body: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let all = state
        .store
        .list(&crate::resources::SERVICES, None, &|_| true, None, 0);
    let values: Vec<Value> = all.items.iter().map(|o| o.value()).collect();
    let used = crate::service_alloc::Used::from_services(&values, (ns, &name));
    let seed: u64 = rand::random();
    crate::service_alloc::allocate(body, old, &used, &state.services.network, seed)
        .map_err(|errs| ApiError::invalid("Service", &name, &errs))
}

fn dry_run(q: &Query) -> bool {
    q.get("dryRun") == Some("All")
}

fn part_of(t: &Target) -> Result<Part, ApiError> {
    match t.subresource.as_deref() {
        None => Ok(Part::Main),
        Some("status") if t.res.subresources.contains(&"status") => Ok(Part::Status),
        Some(s) => Err(ApiError::not_found(format!(
            "{} has no subresource {s:?}",
            t.res.plural
        ))),
    }
}

pub async fn update(
    state: &ApiState,
    t: &Target,
    q: &Query,
    body: Value,
) -> Result<HttpResponse, ApiError> {
    let name = require_name(t)?.to_string();
    let part = part_of(t)?;
    admission::check_type(t.res, &body)?;
    if let Some(n) = body.pointer("/metadata/name").and_then(Value::as_str) {
        if n != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    let (mut body, warnings) = admission::normalize(
        t.res,
        body,
        FieldValidation::parse(q.get("fieldValidation"))?,
    )?;
    let ns = ns_of(t).to_string();
    let old = state
        .store
        .get(t.res, &ns, &name)
        .ok_or_else(|| not_found(t.res, &name))?;
    admission::prepare_update(t.res, &old.value(), &mut body, part)?;
    let _alloc = service_lock(state, t.res).await;
    if t.res.kind == "Service" && part == Part::Main {
        allocate_service(state, &ns, &mut body, Some(&old.value()))?;
    }
    if dry_run(q) {
        return Ok(with_warnings(json_response(200, &body), &warnings));
    }
    let o = state.store.update(t.res, &ns, &name, body).await?;
    Ok(with_warnings(
        object_response(200, &o, t.res, false),
        &warnings,
    ))
}

pub async fn patch(
    state: &ApiState,
    t: &Target,
    q: &Query,
    body: &[u8],
    content_type: &str,
) -> Result<HttpResponse, ApiError> {
    let name = require_name(t)?.to_string();
    let part = part_of(t)?;
    let ns = ns_of(t).to_string();
    let kind = if content_type.starts_with("application/json-patch+json") {
        PatchKind::Json
    } else if content_type.starts_with("application/merge-patch+json") {
        PatchKind::Merge
    } else if content_type.starts_with("application/strategic-merge-patch+json") {
        PatchKind::Strategic
    } else if content_type.starts_with("application/apply-patch+yaml") {
        PatchKind::Apply
    } else {
        return Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format ({content_type:?}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
        )));
    };
    let patch_doc = decode_body(
        body,
        if kind == PatchKind::Apply {
            "application/yaml"
        } else {
            "application/json"
        },
    )?;
    // Design: like the Kubernetes API server, a patch that names no resourceVersion applies
    // to the latest object: on a conflict with a concurrent writer (a controller updating
    // status, say) it is re-applied to the new version, a bounded number of times.
    let pinned = patch_doc.pointer("/metadata/resourceVersion").is_some();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(old) = state.store.get(t.res, &ns, &name) else {
            if kind == PatchKind::Apply && part == Part::Main {
                let mut target = t.clone_named(None);
                target.name = None;
                return create(state, &target, q, patch_doc).await;
            }
            return Err(not_found(t.res, &name));
        };
        let old_value = old.value();
        let mut new = old_value.clone();
        match kind {
            PatchKind::Json => {
                patch::json_patch(&mut new, &patch_doc).map_err(ApiError::bad_request)?
            }
            PatchKind::Merge => patch::merge_patch(&mut new, &patch_doc),
            PatchKind::Strategic | PatchKind::Apply => {
                patch::strategic_merge(&mut new, &patch_doc).map_err(ApiError::bad_request)?
            }
        }
        if !new.is_object() {
            return Err(ApiError::bad_request("the patch leaves no object"));
        }
        if !pinned {
            new["metadata"]["resourceVersion"] = json!(old.revision.to_string());
        }
        let (mut new, warnings) = admission::normalize(
            t.res,
            new,
            FieldValidation::parse(q.get("fieldValidation"))?,
        )?;
        admission::prepare_update(t.res, &old_value, &mut new, part)?;
        let _alloc = service_lock(state, t.res).await;
        if t.res.kind == "Service" && part == Part::Main {
            allocate_service(state, &ns, &mut new, Some(&old_value))?;
        }
        if dry_run(q) {
            return Ok(with_warnings(json_response(200, &new), &warnings));
        }
        match state.store.update(t.res, &ns, &name, new).await {
            Ok(o) => {
                return Ok(with_warnings(
                    object_response(200, &o, t.res, false),
                    &warnings,
                ))
            }
            Err(crate::store::StoreError::Conflict { .. })
                if !pinned && attempt < PATCH_ATTEMPTS =>
            {
                continue
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Times a patch without a resourceVersion is re-applied after conflicts.
const PATCH_ATTEMPTS: usize = 8;

#[derive(PartialEq, Eq, Clone, Copy)]
enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl Target {
    fn clone_named(&self, name: Option<String>) -> Target {
        Target {
            res: self.res,
            namespace: self.namespace.clone(),
            name,
            subresource: None,
        }
    }
}

pub async fn delete(
    state: &ApiState,
    t: &Target,
    q: &Query,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let name = require_name(t)?.to_string();
    if t.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "subresources cannot be deleted",
        ));
    }
    let ns = ns_of(t).to_string();
    if t.res.kind == "Namespace"
        && ["default", "kube-system", "kube-public"].contains(&name.as_str())
    {
        return Err(ApiError::forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        )));
    }
    let opts: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("DeleteOptions are not valid JSON: {e}")))?
    };
    let precondition_rv = match opts
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
    {
        Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
            ApiError::bad_request("preconditions.resourceVersion must be a number")
        })?),
        None => None,
    };
    let current = state
        .store
        .get(t.res, &ns, &name)
        .ok_or_else(|| not_found(t.res, &name))?;
    if let Some(uid) = opts.pointer("/preconditions/uid").and_then(Value::as_str) {
        if current
            .value()
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            != Some(uid)
        {
            return Err(crate::store::StoreError::Conflict {
                resource: t.res.resource_name(),
                name,
            }
            .into());
        }
    }
    let policy = match q
        .get("propagationPolicy")
        .or_else(|| opts.get("propagationPolicy").and_then(Value::as_str))
    {
        None | Some("") | Some("Background") => Propagation::Background,
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy must be Background, Foreground or Orphan, not {other:?}"
            )))
        }
    };
    let policy = if opts.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
        Propagation::Orphan
    } else {
        policy
    };
    if dry_run(q) {
        return Ok(object_response(200, &current, t.res, false));
    }
    if t.res.kind == "Namespace" {
        // Design: a namespace goes Terminating; the namespace controller empties it and then
        // removes it, so no controller can race a synchronous sweep here.
        crate::controllers::namespace::mark_terminating(
            &state.store,
            &name,
            shoal_transport::status::now_ms(),
        )
        .await?;
        let o = state
            .store
            .get(t.res, "", &name)
            .ok_or_else(|| not_found(t.res, &name))?;
        return Ok(object_response(200, &o, t.res, false));
    }
    let finalizer = match policy {
        Propagation::Background => None,
        Propagation::Foreground => Some(crate::controllers::gc::FOREGROUND),
        Propagation::Orphan => Some(crate::controllers::gc::ORPHAN),
    };
    let Some(finalizer) = finalizer else {
        // Background: deleted now; the garbage collector removes the dependents afterwards.
        let o = state
            .store
            .delete(t.res, &ns, &name, precondition_rv)
            .await?;
        return Ok(object_response(200, &o, t.res, false));
    };
    // Foreground and Orphan: the object is marked (deletionTimestamp + finalizer) and stays
    // visible until the garbage collector has deleted or released its dependents; then the
    // collector deletes it. kubectl waits for that.
    if precondition_rv.is_some_and(|rv| rv != current.revision) {
        return Err(crate::store::StoreError::Conflict {
            resource: t.res.resource_name(),
            name,
        }
        .into());
    }
    // The marked object as written (the collector may delete it before a re-read).
    let o = crate::controllers::gc::mark_for_deletion(
        &state.store,
        t.res,
        &ns,
        &name,
        finalizer,
        shoal_transport::status::now_ms(),
    )
    .await?;
    Ok(object_response(200, &o, t.res, false))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Propagation {
    Background,
    Foreground,
    Orphan,
}

pub async fn delete_collection(
    state: &ApiState,
    t: &Target,
    q: &Query,
) -> Result<HttpResponse, ApiError> {
    let filter = Filter::from_query(t.res, q)?;
    let items = state
        .store
        .list(
            t.res,
            t.namespace.as_deref(),
            &|o| filter.matches(o),
            None,
            0,
        )
        .items;
    let mut deleted: Vec<Arc<StoredObject>> = Vec::new();
    for o in items {
        let (ns, name) = o.namespace_and_name();
        if dry_run(q) {
            deleted.push(o.clone());
            continue;
        }
        match state.store.delete(t.res, ns, name, None).await {
            Ok(d) => deleted.push(d),
            Err(crate::store::StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let items: Vec<Value> = deleted.iter().map(|o| o.value()).collect();
    Ok(json_response(
        200,
        &json!({"kind": t.res.list_kind, "apiVersion": t.res.api_version(), "metadata": {"resourceVersion": state.store.revision().to_string()}, "items": items}),
    ))
}

/// The `autoscaling/v1` `Scale` view of a workload.
fn scale_of(o: &StoredObject) -> Value {
    let v = o.value();
    let selector = match v.pointer("/spec/selector") {
        Some(sel) => match crate::selector::LabelSelector::from_k8s(sel) {
            Ok(s) => s
                .requirements
                .iter()
                .map(|r| match r {
                    crate::selector::Requirement::Eq(k, val) => format!("{k}={val}"),
                    crate::selector::Requirement::NotEq(k, val) => format!("{k}!={val}"),
                    crate::selector::Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                    crate::selector::Requirement::NotIn(k, vs) => {
                        format!("{k} notin ({})", vs.join(","))
                    }
                    crate::selector::Requirement::Exists(k) => k.clone(),
                    crate::selector::Requirement::NotExists(k) => format!("!{k}"),
                })
                .collect::<Vec<_>>()
                .join(","),
            Err(_) => String::new(),
        },
        None => String::new(),
    };
    let meta = &v["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                     "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": v.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": v.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

/// `GET`, `PUT` and `PATCH` on `.../{name}/scale` (Deployments, ReplicaSets, RCs).
pub async fn scale(
    state: &ApiState,
    t: &Target,
    q: &Query,
    method: &str,
    body: &[u8],
    content_type: &str,
) -> Result<HttpResponse, ApiError> {
    let name = require_name(t)?.to_string();
    if !t.res.subresources.contains(&"scale") {
        return Err(ApiError::not_found(format!(
            "{} has no scale subresource",
            t.res.plural
        )));
    }
    let ns = ns_of(t).to_string();
    let current = state
        .store
        .get(t.res, &ns, &name)
        .ok_or_else(|| not_found(t.res, &name))?;
    let before = scale_of(&current);
    if method == "GET" {
        return Ok(json_response(200, &before));
    }
    let (wanted, scale_pinned) = if method == "PUT" {
        let w = decode_body(body, content_type)?;
        let pinned = w
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| !rv.is_empty());
        (w, pinned)
    } else {
        let doc = decode_body(body, "application/json")?;
        let mut s = before.clone();
        if content_type.starts_with("application/json-patch+json") {
            patch::json_patch(&mut s, &doc).map_err(ApiError::bad_request)?;
        } else {
            patch::merge_patch(&mut s, &doc);
        }
        let pinned = doc.pointer("/metadata/resourceVersion").is_some();
        (s, pinned)
    };
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .filter(|r| (0..=i32::MAX as i64).contains(r))
        .ok_or_else(|| {
            ApiError::invalid(
                "Scale",
                &name,
                &[crate::validation::FieldError {
                    field: "spec.replicas".into(),
                    reason: "FieldValueInvalid",
                    message: "Invalid value: must be a non-negative integer".into(),
                }],
            )
        })?;
    let mut new = current.value();
    new["spec"]["replicas"] = json!(replicas);
    // A Scale that names a resourceVersion guards the write like any update.
    match wanted
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some(rv) => new["metadata"]["resourceVersion"] = json!(rv),
        None => new["metadata"]["resourceVersion"] = json!(current.revision.to_string()),
    }
    if dry_run(q) {
        return Ok(json_response(
            200,
            &scale_of(&StoredObject::from_value(
                current.key.clone(),
                current.revision,
                &new,
                &[],
            )),
        ));
    }
    match state.store.update(t.res, &ns, &name, new.clone()).await {
        Ok(o) => Ok(json_response(200, &scale_of(&o))),
        // Only the replica count changes: if the Scale named no resourceVersion, set it on
        // the latest object atomically instead of failing on a concurrent status write.
        Err(crate::store::StoreError::Conflict { .. }) if !scale_pinned => {
            let o = state
                .store
                .mutate(
                    t.res,
                    &ns,
                    &name,
                    Box::new(move |v| {
                        let mut v = v.clone();
                        v["spec"]["replicas"] = json!(replicas);
                        Ok(Some(v))
                    }),
                )
                .await?;
            Ok(json_response(200, &scale_of(&o)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST .../pods/{name}/binding`: sets `spec.nodeName` once.
pub async fn bind(state: &ApiState, t: &Target, body: Value) -> Result<HttpResponse, ApiError> {
    let name = require_name(t)?.to_string();
    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("binding target.name is required"))?;
    // Like Kubernetes' Binding: `metadata.uid`, when given, must be the pod's.
    let uid = body.pointer("/metadata/uid").and_then(Value::as_str);
    bind_pod(&state.store, ns_of(t), &name, uid, node).await?;
    Ok(json_response(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// Binds a pod to a node (used by the binding subresource and by the scheduler). With `uid`,
/// only the pod with that uid: a pod deleted and created again under the same name while a
/// bind was in flight is not bound without being scheduled itself.
pub async fn bind_pod(
    store: &crate::store::Store,
    ns: &str,
    name: &str,
    uid: Option<&str>,
    node: &str,
) -> Result<Arc<StoredObject>, ApiError> {
    let node = node.to_string();
    let pod_name = name.to_string();
    let uid = uid.map(str::to_string);
    let r = store
        .mutate(
            &PODS,
            ns,
            name,
            Box::new(move |v| {
                if let Some(uid) = &uid {
                    if v.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
                        return Err(crate::store::StoreError::Invalid(format!(
                            "pod {pod_name} is not the pod with uid {uid} (it was replaced)"
                        )));
                    }
                }
                if let Some(existing) = v
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                {
                    return Err(crate::store::StoreError::Invalid(format!(
                        "pod {pod_name} is already assigned to node \"{existing}\""
                    )));
                }
                let mut v = v.clone();
                v["spec"]["nodeName"] = json!(node);
                Ok(Some(v))
            }),
        )
        .await;
    match r {
        Ok(o) => Ok(o),
        Err(crate::store::StoreError::Invalid(m)) => Err(ApiError::new(409, "Conflict", m)),
        Err(e) => Err(e.into()),
    }
}
