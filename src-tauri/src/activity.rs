//! The Activity view's commands: run history (what changed on each side, errors), per-record
//! health (searchable), the journal of changes with restore, and the conflict queue of the
//! "ask me" policy. Reads come from the store; restore and resolve go through the sync runner,
//! after any running round.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use crmsync_core::Side as CoreSide;
use crmsync_engine::{HealthStatus, JournalOp, ModuleKind};
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::State;

use crate::commands::{AppState, Module};
use crate::error::{CommandError, ErrorCode};
use crate::sync::{module_error, port_error, SyncService};

/// Runs and journal entries shown at most.
const RUN_LIMIT: usize = 50;
const JOURNAL_LIMIT: usize = 200;
const HEALTH_LIMIT: usize = 500;

/// Where a record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Crm,
    Microsoft,
}

impl From<CoreSide> for Side {
    fn from(s: CoreSide) -> Self {
        match s {
            CoreSide::Crm => Side::Crm,
            CoreSide::Graph => Side::Microsoft,
        }
    }
}

impl From<Side> for CoreSide {
    fn from(s: Side) -> Self {
        match s {
            Side::Crm => CoreSide::Crm,
            Side::Microsoft => CoreSide::Graph,
        }
    }
}

/// One sync round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct RunView {
    pub id: u32,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `completed`, `planned`, `paused`, `disabled`, `throttled`, `interrupted`, `cancelled`,
    /// `failed`; `None` while running (or if the app stopped during it).
    pub outcome: Option<String>,
    /// Why it paused or stopped.
    pub detail: Option<String>,
    /// Changes made in the CRM / in Microsoft 365 (from the journal).
    pub crm_changes: u32,
    pub microsoft_changes: u32,
    /// Records that failed on their own.
    pub failures: u32,
}

/// One record's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct HealthView {
    pub side: Side,
    pub item_id: String,
    pub label: String,
    /// `in_sync`, `pending`, `excluded`, `conflict`, `detached`, `attention`, `failing`.
    pub status: String,
    /// Why: a rule key (`not_owner`, `imported`, `beyond_first_sync_cap`, ...) or an error.
    pub detail: Option<String>,
    pub updated_at: String,
}

/// One change the sync made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct ChangeView {
    /// Pass back to `restore_record`.
    pub id: u32,
    pub run_id: Option<u32>,
    pub side: Side,
    /// `create`, `update`, `delete`.
    pub op: String,
    pub item_id: String,
    pub label: String,
    pub changed_fields: Vec<String>,
    pub at: String,
    /// A CRM record the sync deleted, not restored yet.
    pub restorable: bool,
    /// The id of the record re-created from this entry.
    pub restored_as: Option<String>,
}

/// What the Activity view shows for a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct ActivityView {
    pub runs: Vec<RunView>,
    pub records: Vec<HealthView>,
    pub changes: Vec<ChangeView>,
}

/// A field of a queued conflict, as each version has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct ConflictFieldView {
    pub field: String,
    pub base: Option<String>,
    pub crm: Option<String>,
    pub microsoft: Option<String>,
}

/// A conflict waiting for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct ConflictView {
    /// Pass back to `resolve_conflict`.
    pub id: String,
    pub label: String,
    pub crm_modified: String,
    pub microsoft_modified: String,
    pub fields: Vec<ConflictFieldView>,
}

/// The version to keep for one field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Type)]
pub struct FieldChoice {
    pub field: String,
    pub keep: Side,
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_status(s: &str) -> Result<HealthStatus, CommandError> {
    HealthStatus::ALL
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| {
            CommandError::new(
                ErrorCode::InvalidInput,
                format!("unknown record status {s:?}"),
            )
        })
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// The module's recent runs, its records' health (filtered by `status` and `search`) and the
/// recent changes the sync made.
///
/// # Errors
/// `invalid_input` for an unknown status; `store`.
#[tauri::command]
#[specta::specta]
pub fn activity(
    state: State<'_, AppState>,
    module: Module,
    status: Option<String>,
    search: Option<String>,
) -> Result<ActivityView, CommandError> {
    let module: ModuleKind = module.into();
    let status = status.as_deref().map(parse_status).transpose()?;
    state.with_store(|store| {
        let journal = store.journal_recent(module, JOURNAL_LIMIT, None)?;
        let mut per_run: BTreeMap<i64, (u32, u32)> = BTreeMap::new();
        for j in &journal {
            if let Some(run) = j.run_id {
                let e = per_run.entry(run).or_default();
                match j.side {
                    CoreSide::Crm => e.0 += 1,
                    CoreSide::Graph => e.1 += 1,
                }
            }
        }
        let runs = store
            .runs(module, RUN_LIMIT)?
            .into_iter()
            .map(|r| {
                let (crm, ms) = per_run.get(&r.id).copied().unwrap_or_default();
                RunView {
                    id: count(r.id),
                    started_at: time(r.started_at),
                    finished_at: r.finished_at.map(time),
                    outcome: r.outcome,
                    detail: r.detail,
                    crm_changes: crm,
                    microsoft_changes: ms,
                    failures: count(r.failures),
                }
            })
            .collect();
        let records = store
            .health(module, status, search.as_deref(), HEALTH_LIMIT)?
            .into_iter()
            .map(|h| HealthView {
                side: h.side.into(),
                item_id: h.item_id,
                label: h.label,
                status: h.status.as_str().to_owned(),
                detail: h.detail,
                updated_at: time(h.updated_at),
            })
            .collect();
        let changes = journal
            .into_iter()
            .map(|j| ChangeView {
                id: count(j.id),
                run_id: j.run_id.map(count),
                side: j.side.into(),
                op: match j.op {
                    JournalOp::Create => "create",
                    JournalOp::Update => "update",
                    JournalOp::Delete => "delete",
                }
                .to_owned(),
                restorable: j.op == JournalOp::Delete
                    && j.side == CoreSide::Crm
                    && j.before.is_some()
                    && j.restored_as.is_none(),
                item_id: j.item_id,
                label: j.label,
                changed_fields: j.changed_fields,
                at: time(j.at),
                restored_as: j.restored_as,
            })
            .collect();
        Ok(ActivityView {
            runs,
            records,
            changes,
        })
    })
}

/// Re-creates in the CRM a record the sync deleted there (journal entry `change_id`); the
/// next round copies it to Microsoft 365 again. Returns the new CRM id.
///
/// # Errors
/// `not_syncing` when the accounts are not connected; `sync` when the entry cannot be
/// restored or the CRM refused; `network`.
#[tauri::command]
#[specta::specta]
pub async fn restore_record(
    sync: State<'_, SyncService>,
    module: Module,
    change_id: u32,
) -> Result<String, CommandError> {
    let module: ModuleKind = module.into();
    let change_id = i64::from(change_id);
    let id = sync
        .with_runner(move |r| r.restore(module, change_id, &crmsync_connect::SystemClock))
        .await?
        .map_err(module_error)?
        .map_err(|e| port_error(&e))?;
    tracing::info!(module = %module, change_id, "record restored");
    Ok(id)
}

/// The conflicts waiting for the user in `module` (policy "ask me").
///
/// # Errors
/// `not_syncing`; `sync`.
#[tauri::command]
#[specta::specta]
pub async fn conflicts(
    sync: State<'_, SyncService>,
    module: Module,
) -> Result<Vec<ConflictView>, CommandError> {
    let module: ModuleKind = module.into();
    let queued = sync
        .with_runner(move |r| r.conflicts(module))
        .await?
        .map_err(module_error)?;
    Ok(queued
        .into_iter()
        .map(|q| ConflictView {
            id: q.link_id.to_string(),
            label: q.label,
            crm_modified: time(q.crm_modified),
            microsoft_modified: time(q.graph_modified),
            fields: q
                .fields
                .into_iter()
                .map(|f| ConflictFieldView {
                    field: f.field,
                    base: f.base,
                    crm: f.crm,
                    microsoft: f.graph,
                })
                .collect(),
        })
        .collect())
}

/// Resolves a queued conflict: for each conflicting field, which version to keep. The merged
/// record is written where needed, then the link syncs normally again.
///
/// # Errors
/// `invalid_input` for a malformed id; `sync` when a field has no choice or the record
/// changed meanwhile (it is re-planned); `not_syncing`; `network`.
#[tauri::command]
#[specta::specta]
pub async fn resolve_conflict(
    sync: State<'_, SyncService>,
    module: Module,
    id: String,
    choices: Vec<FieldChoice>,
) -> Result<(), CommandError> {
    let module: ModuleKind = module.into();
    let link: u64 = id
        .parse()
        .map_err(|_| CommandError::new(ErrorCode::InvalidInput, format!("no conflict {id:?}")))?;
    let choices: crmsync_core::planner::FieldChoices = choices
        .into_iter()
        .map(|c| (c.field, c.keep.into()))
        .collect();
    sync.with_runner(move |r| {
        r.resolve_conflict(module, link, &choices, &crmsync_connect::SystemClock)
    })
    .await?
    .map_err(module_error)?
    .map_err(|e| port_error(&e))?;
    tracing::info!(module = %module, link, "conflict resolved");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_and_statuses_cross_the_boundary_by_name() {
        assert_eq!(
            serde_json::to_value(Side::Microsoft).unwrap(),
            serde_json::json!("microsoft")
        );
        assert_eq!(CoreSide::from(Side::Microsoft), CoreSide::Graph);
        assert_eq!(parse_status("failing").unwrap(), HealthStatus::Failing);
        assert_eq!(
            parse_status("bogus").unwrap_err().code,
            ErrorCode::InvalidInput
        );
    }
}
