//! The sync engine: the local SQLite store and the state of each sync module.
//!
//! Architecture invariant: no Tauri, no HTTP client and no wall clock in here.
//! Callers pass `now` in; the desktop shell and the CLI are the only places that
//! read the clock.

pub mod module;
pub mod paths;
pub mod store;

pub use module::{Account, EnableError, ModuleKind, ModuleState, ModuleStatus, Service};
pub use store::{Store, StoreError};
