//! The hub's Kubernetes-compatible HTTPS API.
//!
//! One catch-all handler parses the path into a [`request::Target`] (kind, namespace, name,
//! subresource), authenticates the bearer token, and calls the verb in [`handlers`] (or
//! [`watch`]). Every error is a Kubernetes `Status` ([`error::ApiError`]). Bodies are
//! limited to [`MAX_BODY`] bytes.

pub mod admission;
pub mod auth;
pub mod authz;
pub mod discovery;
pub mod error;
pub mod exec;
pub mod handlers;
pub mod logs;
pub mod metrics;
pub mod node_stream;
pub mod openapi_v2;
pub mod patch;
pub mod protobuf;
pub mod protobuf_schema;
pub mod request;
pub mod table;
pub mod watch;
pub mod websocket;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures::StreamExt;

use crate::store::Store;
use auth::Authenticator;
use error::ApiError;
use handlers::json_response;
use request::{parse_target, Query};

/// Largest request body accepted (the Kubernetes API server's limit is 3 MiB too).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    /// `host:port` clients reach the API at (for `/api`'s serverAddressByClientCIDRs).
    pub server_address: String,
    /// Resource usage the agents report, served as `metrics.k8s.io`.
    pub metrics: crate::metrics::Metrics,
    /// Connected nodes: logs and exec streams are opened on their connections.
    pub nodes: crate::node_conns::NodeConns,
    /// ClusterIP/NodePort ranges and the lock Service writes allocate under.
    pub services: Arc<crate::service_alloc::ServiceAllocator>,
}

/// Starts the HTTPS server on `listener`. The returned server runs until its handle is
/// stopped (the hub's shutdown does that).
pub fn serve(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    state: ApiState,
) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .default_service(web::to(entry))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(2)
    .listen_rustls_0_23(listener, tls)?
    .run();
    Ok(server)
}

async fn entry(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> HttpResponse {
    let method = req.method().clone();
    let path = req.path().to_string();
    let started = std::time::Instant::now();
    // Design: an upgrade's payload is the upgraded connection itself, so it is never read as
    // a body; only `pods/exec` takes it.
    let resp = if exec::wants_websocket(&req) {
        match dispatch(&req, &[], &state, Some(payload)).await {
            Ok(r) => r,
            Err(e) => actix_web::ResponseError::error_response(&e),
        }
    } else {
        match read_body(payload).await {
            Ok(body) => match dispatch(&req, &body, &state, None).await {
                Ok(r) => r,
                Err(e) => actix_web::ResponseError::error_response(&e),
            },
            Err(e) => actix_web::ResponseError::error_response(&e),
        }
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "api");
    resp
}

async fn read_body(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("error reading the request body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("the request body is larger than {MAX_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn dispatch(
    req: &HttpRequest,
    body: &[u8],
    state: &ApiState,
    upgrade: Option<web::Payload>,
) -> Result<HttpResponse, ApiError> {
    let path = req.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is_get = req.method() == actix_web::http::Method::GET;

    // Public endpoints, as Kubernetes' system:public-info-viewer allows.
    match segs.as_slice() {
        ["healthz"] | ["livez"] | ["readyz"] => {
            return Ok(HttpResponse::Ok().content_type("text/plain").body("ok"))
        }
        ["version"] => return Ok(json_response(200, &discovery::version())),
        _ => {}
    }
    let user =
        match state.auth.authenticate(
            req.headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
        ) {
            Ok(u) => u,
            Err(auth::AuthFailure::Unknown) => return Err(ApiError::unauthorized()),
            Err(auth::AuthFailure::Expired) => return Err(ApiError::new(
                401,
                "Unauthorized",
                "Unauthorized: the token has expired; ask for a new one (shoalctl token create)",
            )),
        };

    match segs.as_slice() {
        ["api"] if is_get => {
            return Ok(json_response(
                200,
                &discovery::core_versions(&state.server_address),
            ))
        }
        ["apis"] if is_get => {
            let mut list = discovery::group_list();
            if let Some(groups) = list["groups"].as_array_mut() {
                groups.push(metrics::group());
            }
            return Ok(json_response(200, &list));
        }
        ["apis", metrics::GROUP] if is_get => return Ok(json_response(200, &metrics::group())),
        ["apis", metrics::GROUP, metrics::VERSION] if is_get => {
            return Ok(json_response(200, &metrics::resource_list()))
        }
        ["apis", metrics::GROUP, metrics::VERSION, rest @ ..] if is_get => {
            return metrics::serve(state, &user, rest)
        }
        ["api", v] if is_get => {
            return discovery::resource_list("", v)
                .map(|l| json_response(200, &l))
                .ok_or_else(|| ApiError::not_found("no such API version"))
        }
        ["apis", g] if is_get => {
            return discovery::group(g)
                .map(|l| json_response(200, &l))
                .ok_or_else(|| ApiError::not_found("no such API group"))
        }
        ["apis", g, v] if is_get => {
            return discovery::resource_list(g, v)
                .map(|l| json_response(200, &l))
                .ok_or_else(|| ApiError::not_found("no such API group version"))
        }
        ["openapi", "v3"] if is_get => {
            return Ok(json_response(200, &discovery::openapi_v3_index()))
        }
        ["openapi", "v3", rest @ ..] if is_get => {
            return discovery::openapi_v3_doc(&rest.join("/"))
                .map(|d| json_response(200, &d))
                .ok_or_else(|| ApiError::not_found("no OpenAPI document for that group version"))
        }
        ["openapi", "v2"] => return openapi_v2::respond(req),
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => {
            return Err(ApiError::not_found(
                "the server could not find the requested resource",
            ))
        }
    };
    let target = parse_target(group, version, rest)?;
    let query = Query::parse(req.query_string());
    let as_table = header(req, "accept").contains("as=Table");
    let perms = authz::Permissions::of(&user);
    // Exec is "create pods/exec" whatever the method (WebSocket clients use GET), as in
    // Kubernetes' default roles: view may read logs, only edit and admin may exec.
    let verb = match target.subresource.as_deref() {
        Some("exec") => "create",
        _ => authz::verb(req.method().as_str(), &target, query.flag("watch")),
    };
    authz::authorize(&user, &perms, &target, verb)?;
    // Design: lists and watches only ever contain namespaces the user can read.
    let visible = {
        let perms = perms.clone();
        let is_namespace_kind = target.res.kind == "Namespace";
        move |o: &crate::store::StoredObject| {
            let (ns, name) = o.namespace_and_name();
            if is_namespace_kind {
                perms.can_read_namespace(name)
            } else {
                ns.is_empty() || perms.can_read_namespace(ns)
            }
        }
    };

    let ct = header(req, "content-type");
    let method = req.method().as_str();
    match (method, target.name.is_some(), target.subresource.as_deref()) {
        ("GET", false, _) if query.flag("watch") => {
            watch::watch(state, &target, &query, as_table, Box::new(visible))
        }
        ("GET", false, _) => handlers::list(state, &target, &query, as_table, &visible),
        ("GET" | "PUT" | "PATCH", true, Some("scale")) => {
            handlers::scale(state, &target, &query, method, body, ct).await
        }
        ("GET", true, Some("log")) if target.res.kind == "Pod" => {
            logs::logs(state, &target, &query).await
        }
        ("GET" | "POST", true, Some("exec")) if target.res.kind == "Pod" => {
            exec::exec(state, &target, req, upgrade).await
        }
        ("GET", true, None | Some("status")) => handlers::get(state, &target, as_table),
        ("POST", false, None) => {
            handlers::create(state, &target, &query, handlers::decode_body(body, ct)?).await
        }
        ("POST", true, Some("binding")) if target.res.kind == "Pod" => {
            handlers::bind(state, &target, handlers::decode_body(body, ct)?).await
        }
        ("PUT", true, None | Some("status")) => {
            handlers::update(state, &target, &query, handlers::decode_body(body, ct)?).await
        }
        ("PATCH", true, None | Some("status")) => {
            handlers::patch(state, &target, &query, body, ct).await
        }
        ("DELETE", true, None) => handlers::delete(state, &target, &query, body).await,
        ("DELETE", false, None) => handlers::delete_collection(state, &target, &query).await,
        _ => Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on this path"
        ))),
    }
}
