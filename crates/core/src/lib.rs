//! # crmsync-core
//!
//! The pure heart of CRM Sync. No I/O, no HTTP, no Tauri, no wall clock: time is passed in as
//! arguments, so every function here is deterministic and testable on its own.
//!
//! * [`value`]: field values, normalisation, the stable content hash.
//! * [`record`]: the [`CanonicalRecord`] trait that makes the planner generic over modules.
//! * [`contact`]: the canonical contact, the Microsoft fields the API supports, the editable
//!   mapping with its default and validation, and projections of both sides' JSON.
//! * [`task`]: the canonical task (CRM Tasks ⇄ To Do) and its fixed mapping, with the
//!   status/priority classes and the no-clobber rule.
//! * [`event`]: the canonical event (CRM Events ⇄ the Outlook calendar) and its fixed mapping,
//!   with UTC times, all-day days and no attendees ever.
//! * [`policy`]: product rules as pure functions: ownership, import/migration exclusion, the
//!   first-sync cap and order, delete propagation, the container-deleted transition.
//! * [`planner`]: observations + last agreed base → a [`planner::Plan`] of actions, following
//!   the decision table of `reference/sync-and-style.md` §2.3, with field-level three-way merge,
//!   conflict policies and safety guards. A plan is printable (`Display`) and serialisable
//!   (serde), which is the dry-run preview.
//!
//! Architecture invariant: this crate never performs I/O and never reads the clock.

pub mod contact;
pub mod error;
pub mod event;
pub mod planner;
pub mod policy;
pub mod record;
pub mod task;
pub mod value;

use serde::{Deserialize, Serialize};

pub use error::{MappingError, RecordError};
pub use record::CanonicalRecord;
pub use value::{ContentHash, FieldMap, FieldValue};

/// One of the two services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Zoho CRM.
    Crm,
    /// Microsoft 365 through Microsoft Graph.
    Graph,
}

impl Side {
    /// The other side.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Crm => Self::Graph,
            Self::Graph => Self::Crm,
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Crm => "CRM",
            Self::Graph => "Microsoft 365",
        })
    }
}

/// A synced module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    /// CRM Contacts ⇄ the "Zoho CRM Contacts" Outlook contact folder.
    Contacts,
    /// CRM Events (meetings) ⇄ the dedicated Outlook calendar.
    Events,
    /// CRM Tasks ⇄ the "Zoho CRM Tasks" Microsoft To Do list.
    Tasks,
}

impl ModuleKind {
    /// All modules, in the order the UI lists them.
    pub const ALL: [ModuleKind; 3] = [ModuleKind::Events, ModuleKind::Contacts, ModuleKind::Tasks];

    /// The stable key used in the store, the CLI and across the IPC boundary.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleKind::Events => "events",
            ModuleKind::Contacts => "contacts",
            ModuleKind::Tasks => "tasks",
        }
    }
}

impl std::fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A module key that is not one of `events`, `contacts`, `tasks`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown module {0:?}; expected events, contacts or tasks")]
pub struct UnknownModule(pub String);

impl std::str::FromStr for ModuleKind {
    type Err = UnknownModule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModuleKind::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownModule(s.to_owned()))
    }
}
