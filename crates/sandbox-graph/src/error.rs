//! Errors: the Graph error envelope returned to HTTP clients, and the typed
//! errors of the library API (snapshots, binding).

use axum::http::StatusCode;
use serde_json::{json, Value};

/// An error answered to a Graph client as
/// `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
/// (graph-api.md §6).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn validation() -> Self {
        Self::bad_request(
            "ErrorPropertyValidationFailure",
            "At least one property failed validation.",
        )
    }

    pub fn unknown_property(name: &str, type_name: &str) -> Self {
        Self::bad_request(
            "RequestBodyRead",
            format!(
                "The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use property names that are defined by the type or mark the type as open type."
            ),
        )
    }

    pub fn bad_value(name: &str, detail: &str) -> Self {
        Self::bad_request(
            "RequestBodyRead",
            format!("Cannot read the value of property '{name}': {detail}"),
        )
    }

    pub fn access_denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "The HTTP method is not allowed on this resource.",
        )
    }

    pub fn unsupported_segment(path: &str) -> Self {
        Self::bad_request(
            "BadRequest",
            format!("Resource not found for the segment '{path}'."),
        )
    }

    /// The JSON envelope.
    pub fn body(&self, request_id: &str, date: &str) -> Value {
        json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": date,
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }
        })
    }
}

/// Errors of the library API (not HTTP answers).
#[derive(Debug, thiserror::Error)]
pub enum SandboxGraphError {
    #[error("snapshot file {path}: {source}")]
    SnapshotIo {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot file {path} is not a valid Graph sandbox snapshot: {source}")]
    SnapshotFormat {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("snapshot JSON could not be produced: {0}")]
    Serialize(#[from] serde_json::Error),
}
