//! Sync modules (Events, Contacts, Tasks), their state, and the rule for enabling one.

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crmsync_core::{ModuleKind, UnknownModule};

/// What the user sees as a module's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum ModuleStatus {
    /// Not syncing; nothing of this module is in Microsoft 365.
    Inactive,
    /// Syncing on schedule.
    Active,
    /// Enabled but held, e.g. by a safety guard; the reason says why.
    Paused(String),
    /// A connection's refresh token died; the user must sign in again.
    NeedsSignIn,
    /// The last run failed; the reason says why.
    Error(String),
}

impl ModuleStatus {
    /// The key stored in the `modules.status` column.
    pub fn key(&self) -> &'static str {
        match self {
            ModuleStatus::Inactive => "inactive",
            ModuleStatus::Active => "active",
            ModuleStatus::Paused(_) => "paused",
            ModuleStatus::NeedsSignIn => "needs_sign_in",
            ModuleStatus::Error(_) => "error",
        }
    }

    /// The human reason, for the statuses that carry one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ModuleStatus::Paused(r) | ModuleStatus::Error(r) => Some(r),
            _ => None,
        }
    }
}

/// A module's state as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleState {
    pub module: ModuleKind,
    pub enabled: bool,
    pub status: ModuleStatus,
    /// Delete the CRM record when it is deleted in Microsoft 365.
    pub delete_propagation: bool,
    pub last_sync_at: Option<DateTime<Utc>>,
}

/// The two services the app connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Zoho,
    Microsoft,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Zoho => "zoho",
            Service::Microsoft => "microsoft",
        }
    }

    /// The name users know the service by.
    pub fn display_name(self) -> &'static str {
        match self {
            Service::Zoho => "Zoho CRM",
            Service::Microsoft => "Microsoft 365",
        }
    }
}

/// A connected account: identity only (tokens live in the OS keychain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub service: Service,
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    /// Zoho: org name; Microsoft 365: tenant id.
    pub organisation: String,
    /// Zoho data centre; `None` for Microsoft 365.
    pub data_centre: Option<String>,
    pub connected_at: DateTime<Utc>,
}

/// Why a module cannot be enabled right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnableError {
    /// Sync needs both accounts; this one is not connected yet.
    #[error("connect your {} account first", .0.display_name())]
    NotConnected(Service),
}
