//! API errors, answered as Kubernetes `Status` objects with the reason and code clients
//! branch on (kubectl prints `Error from server (NotFound): ...`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::store::StoreError;
use crate::validation::FieldError;

#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NotFound", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// 422 Invalid, listing every field problem, worded as the Kubernetes API server does.
    pub fn invalid(kind: &str, name: &str, errs: &[FieldError]) -> Self {
        let parts: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        let message = if parts.len() == 1 {
            format!("{kind} \"{name}\" is invalid: {}", parts[0])
        } else {
            format!("{kind} \"{name}\" is invalid: [{}]", parts.join(", "))
        };
        let causes: Vec<Value> = errs
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field}))
            .collect();
        ApiError {
            code: 422,
            reason: "Invalid",
            message,
            details: Some(json!({"name": name, "kind": kind, "causes": causes})),
        }
    }

    pub fn status_body(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type("application/json")
            .json(self.status_body())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::AlreadyExists { resource, name } => ApiError {
                code: 409,
                reason: "AlreadyExists",
                message,
                details: Some(json!({"name": name, "kind": resource})),
            },
            StoreError::NotFound { resource, name } => ApiError {
                code: 404,
                reason: "NotFound",
                message,
                details: Some(json!({"name": name, "kind": resource})),
            },
            StoreError::Conflict { resource, name } => ApiError {
                code: 409,
                reason: "Conflict",
                message,
                details: Some(json!({"name": name, "kind": resource})),
            },
            StoreError::Expired { .. } => ApiError::new(410, "Expired", message),
            StoreError::Invalid(m) => ApiError::new(422, "Invalid", m),
            StoreError::Closed => ApiError::new(503, "ServiceUnavailable", message),
            StoreError::Disk(_) => ApiError::internal(message),
        }
    }
}
