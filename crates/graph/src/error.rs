//! Typed Graph failures, one variant per class the engine acts on.

use std::time::Duration;

/// What the engine should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Sign in again (or the token provider failed).
    Auth,
    /// Over the service limits; try later.
    Throttled,
    /// The item or container does not exist (any more).
    NotFound,
    /// The item changed on the server (412) or a conflict (409).
    Conflict,
    /// The request was rejected as invalid for this record.
    InvalidData,
    /// A delta token expired: run a full resync.
    ResyncRequired,
    /// A server-side failure (5xx) that survived the retries.
    Server,
    /// No answer (connection failure or timeout): the write may or may not
    /// have been applied.
    Network,
}

/// A failed Graph call. `code` is Graph's `error.code` (stable; messages are not).
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// 401/403, or the token provider could not give a token.
    #[error("authentication failed ({status}): {code}: {message}")]
    Auth {
        status: u16,
        code: String,
        message: String,
    },
    /// The refresh token is dead: the user must sign in again.
    #[error("reconnect needed: {0}")]
    ReconnectNeeded(String),
    /// 429 (or 503 with Retry-After) still returned after the retry budget.
    #[error("throttled ({status}): {code}; retry after {retry_after:?}")]
    Throttled {
        status: u16,
        code: String,
        retry_after: Option<Duration>,
    },
    /// 404.
    #[error("not found: {code}: {message}")]
    NotFound { code: String, message: String },
    /// 409 or 412 (`ErrorIrresolvableConflict` on a stale `If-Match`).
    #[error("conflict ({status}): {code}: {message}")]
    Conflict {
        status: u16,
        code: String,
        message: String,
    },
    /// 400, 405, 413, 415, 422 and other client errors.
    #[error("invalid request ({status}): {code}: {message}")]
    InvalidData {
        status: u16,
        code: String,
        message: String,
    },
    /// 410 on a delta link (`SyncStateNotFound`, `resyncRequired`).
    #[error("delta token expired, resync required: {code}")]
    ResyncRequired {
        code: String,
        /// A fresh delta URL when the service sent a `Location` header.
        location: Option<String>,
    },
    /// 5xx after the retries.
    #[error("server error ({status}): {code}: {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    /// Connection failure or request timeout.
    #[error("network error: {0}")]
    Network(String),
    /// The answer could not be decoded into the expected type.
    #[error("unexpected response body: {0}")]
    Decode(String),
    /// A bad argument from the caller (no request was sent).
    #[error("invalid argument: {0}")]
    Argument(String),
}

impl GraphError {
    /// The failure class.
    pub fn class(&self) -> ErrorClass {
        match self {
            GraphError::Auth { .. } | GraphError::ReconnectNeeded(_) => ErrorClass::Auth,
            GraphError::Throttled { .. } => ErrorClass::Throttled,
            GraphError::NotFound { .. } => ErrorClass::NotFound,
            GraphError::Conflict { .. } => ErrorClass::Conflict,
            GraphError::InvalidData { .. } | GraphError::Argument(_) | GraphError::Decode(_) => {
                ErrorClass::InvalidData
            }
            GraphError::ResyncRequired { .. } => ErrorClass::ResyncRequired,
            GraphError::Server { .. } => ErrorClass::Server,
            GraphError::Network(_) => ErrorClass::Network,
        }
    }

    /// Graph's error code, when the service sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Auth { code, .. }
            | GraphError::Throttled { code, .. }
            | GraphError::NotFound { code, .. }
            | GraphError::Conflict { code, .. }
            | GraphError::InvalidData { code, .. }
            | GraphError::ResyncRequired { code, .. }
            | GraphError::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Maps an HTTP status and a Graph error body to the typed error.
    pub(crate) fn from_status(
        status: u16,
        body: &serde_json::Value,
        retry_after: Option<Duration>,
        location: Option<String>,
    ) -> GraphError {
        let code = body
            .pointer("/error/code")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let message = body
            .pointer("/error/message")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        match status {
            401 | 403 => GraphError::Auth {
                status,
                code,
                message,
            },
            404 => GraphError::NotFound { code, message },
            409 | 412 => GraphError::Conflict {
                status,
                code,
                message,
            },
            410 => GraphError::ResyncRequired { code, location },
            429 => GraphError::Throttled {
                status,
                code,
                retry_after,
            },
            500..=599 => GraphError::Server {
                status,
                code,
                message,
            },
            _ => GraphError::InvalidData {
                status,
                code,
                message,
            },
        }
    }
}
