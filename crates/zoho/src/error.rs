//! Typed Zoho failures, one variant per class the engine acts on.

/// What the engine should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Auth,
    Throttled,
    NotFound,
    Conflict,
    InvalidData,
    Server,
    Network,
}

/// A failed Zoho call. `code` is Zoho's error code (`INVALID_DATA`, ...).
#[derive(Debug, thiserror::Error)]
pub enum ZohoError {
    /// 401 (`INVALID_TOKEN`, `OAUTH_SCOPE_MISMATCH`) or 403 (`NO_PERMISSION`).
    #[error("authentication/permission failed ({status}): {code}: {message}")]
    Auth {
        status: u16,
        code: String,
        message: String,
    },
    /// The refresh token is dead: sign in again.
    #[error("reconnect needed: {0}")]
    ReconnectNeeded(String),
    /// 429 after the retries (credits or concurrency).
    #[error("throttled: {code}: {message}")]
    Throttled { code: String, message: String },
    /// No such record (204 on a single GET, 404 on a path).
    #[error("not found: {0}")]
    NotFound(String),
    /// 412 (`If-Unmodified-Since`) or a duplicate.
    #[error("conflict ({status}): {code}: {message}")]
    Conflict {
        status: u16,
        code: String,
        message: String,
    },
    /// 400 and other client errors.
    #[error("invalid request ({status}): {code}: {message}")]
    InvalidData {
        status: u16,
        code: String,
        message: String,
        details: serde_json::Value,
    },
    /// 5xx after the retries.
    #[error("server error ({status}): {code}")]
    Server { status: u16, code: String },
    /// Connection failure or timeout (a write may have been applied).
    #[error("network error: {0}")]
    Network(String),
    #[error("unexpected response body: {0}")]
    Decode(String),
    #[error("invalid argument: {0}")]
    Argument(String),
}

impl ZohoError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ZohoError::Auth { .. } | ZohoError::ReconnectNeeded(_) => ErrorClass::Auth,
            ZohoError::Throttled { .. } => ErrorClass::Throttled,
            ZohoError::NotFound(_) => ErrorClass::NotFound,
            ZohoError::Conflict { .. } => ErrorClass::Conflict,
            ZohoError::InvalidData { .. } | ZohoError::Decode(_) | ZohoError::Argument(_) => {
                ErrorClass::InvalidData
            }
            ZohoError::Server { .. } => ErrorClass::Server,
            ZohoError::Network(_) => ErrorClass::Network,
        }
    }

    pub(crate) fn from_status(status: u16, body: &serde_json::Value) -> ZohoError {
        let code = body
            .get("code")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let message = body
            .get("message")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        match status {
            401 | 403 => ZohoError::Auth {
                status,
                code,
                message,
            },
            404 => ZohoError::NotFound(format!("{code}: {message}")),
            409 | 412 => ZohoError::Conflict {
                status,
                code,
                message,
            },
            429 => ZohoError::Throttled { code, message },
            500..=599 => ZohoError::Server { status, code },
            _ => ZohoError::InvalidData {
                status,
                code,
                message,
                details: body.get("details").cloned().unwrap_or_default(),
            },
        }
    }
}
