//! The sync engine: the local SQLite store and the state of each sync module.
//!
//! Architecture invariant: no Tauri, no HTTP client and no wall clock in here.
//! Callers pass `now` in; the desktop shell and the CLI are the only places that
//! read the clock.

pub mod health;
pub mod module;
pub mod paths;
pub mod ports;
pub mod state;
pub mod store;
pub mod sync;
pub mod undo;
pub mod worker;

pub use health::{HealthRow, HealthStatus, ModuleCounts};
pub use module::{Account, EnableError, ModuleKind, ModuleState, ModuleStatus, Service};
pub use ports::{Changes, Clock, ContainerPort, PortError, RecordPort, Written};
pub use state::{ActionCommit, JournalEntry, JournalOp, ModuleSettings, RunRecord};
pub use store::{Store, StoreError, SyncGuard};
pub use sync::{
    disable_module, resolve_queued_conflict, run_round, run_round_cancellable, run_round_observed,
    RecordFailure, RoundOptions, RoundOutcome, RoundReport, RoundStep, SyncError,
};
pub use undo::{queued_conflicts, restore_deleted, ConflictField, QueuedConflict, RestoreRefused};
pub use worker::{Progress, RoundRunner, RoundSummary, Worker, WorkerConfig};
