//! The one error type that crosses the IPC boundary: `{code, message}`.

use serde::Serialize;
use specta::Type;

use crmsync_engine::{EnableError, Service, StoreError};

/// A stable, machine-readable error code the UI can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The Zoho CRM account is not connected yet.
    ZohoNotConnected,
    /// The Microsoft 365 account is not connected yet.
    MicrosoftNotConnected,
    /// The local store could not be opened or read.
    Store,
    /// The request named something that does not exist.
    InvalidInput,
    /// No service can be reached (the built-in sandbox did not start).
    NotConfigured,
    /// A sign-in for this service is already waiting for the browser.
    SignInInProgress,
    /// The user (or Cancel) stopped the sign-in.
    SignInCancelled,
    /// No redirect came back from the browser in time.
    SignInTimedOut,
    /// The service refused the sign-in, or its answer was unusable.
    SignInFailed,
    /// The system browser could not be opened.
    BrowserUnavailable,
    /// The service could not be reached.
    Network,
    /// This computer has no OS keychain to keep the sign-in in.
    NoKeychain,
    /// The OS keychain refused to save or delete the sign-in.
    Keychain,
    /// The sync is not running (an account is missing, needs a new sign-in, or sync is paused).
    NotSyncing,
    /// A sync operation (preview, disable) failed; the message says why.
    Sync,
}

/// Every command fails with this: a code for the UI and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Enable(EnableError::NotConnected(service)) => {
                let code = match service {
                    Service::Zoho => ErrorCode::ZohoNotConnected,
                    Service::Microsoft => ErrorCode::MicrosoftNotConnected,
                };
                CommandError::new(code, e.to_string())
            }
            other => {
                tracing::error!(error = %other, "store error");
                CommandError::new(ErrorCode::Store, other.to_string())
            }
        }
    }
}
