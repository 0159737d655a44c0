//! Errors of this crate and the mapping of service errors onto the engine's [`PortError`].

use crmsync_engine::PortError;
use crmsync_graph::GraphError;
use crmsync_zoho::ZohoError;

/// Setting up a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("Microsoft Graph: {0}")]
    Graph(#[from] GraphError),
    #[error("Zoho CRM: {0}")]
    Zoho(#[from] ZohoError),
    #[error("the field mapping is invalid: {0}")]
    Mapping(String),
    #[error("token: {0}")]
    Token(String),
}

/// A Graph error as the engine sees it. `write`: the call may have changed something, so a
/// lost answer (5xx, connection cut) is a [`PortError::Timeout`], not a clean failure.
#[must_use]
pub fn graph_error(e: &GraphError, write: bool) -> PortError {
    match e {
        GraphError::Auth { .. } | GraphError::ReconnectNeeded(_) => PortError::NeedsSignIn,
        GraphError::Throttled { retry_after, .. } => PortError::Throttled {
            retry_after_secs: retry_after.map(|d| d.as_secs()),
        },
        GraphError::NotFound { .. } => PortError::NotFound,
        GraphError::Conflict { .. } => PortError::PreconditionFailed,
        GraphError::InvalidData { .. } | GraphError::Argument(_) => {
            PortError::Rejected(e.to_string())
        }
        GraphError::ResyncRequired { .. } => PortError::CursorExpired,
        GraphError::Server { status, .. } if write || *status == 504 => PortError::Timeout,
        GraphError::Network(_) if write => PortError::Timeout,
        GraphError::Server { .. } | GraphError::Network(_) | GraphError::Decode(_) => {
            PortError::Unavailable(e.to_string())
        }
    }
}

/// A Zoho error as the engine sees it (see [`graph_error`] for `write`).
#[must_use]
pub fn zoho_error(e: &ZohoError, write: bool) -> PortError {
    match e {
        ZohoError::Auth { .. } | ZohoError::ReconnectNeeded(_) => PortError::NeedsSignIn,
        ZohoError::Throttled { .. } => PortError::Throttled {
            retry_after_secs: None,
        },
        ZohoError::NotFound(_) => PortError::NotFound,
        ZohoError::Conflict { .. } if write => PortError::PreconditionFailed,
        ZohoError::Conflict { .. } | ZohoError::InvalidData { .. } | ZohoError::Argument(_) => {
            PortError::Rejected(e.to_string())
        }
        ZohoError::Server { status, .. } if write || *status == 504 => PortError::Timeout,
        ZohoError::Network(_) if write => PortError::Timeout,
        ZohoError::Server { .. } | ZohoError::Network(_) | ZohoError::Decode(_) => {
            PortError::Unavailable(e.to_string())
        }
    }
}
