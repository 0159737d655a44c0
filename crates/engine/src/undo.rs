//! What the user can do about the sync's past: restore a CRM record the sync deleted (from the
//! journal's before-image), and see the conflicts queued under the "ask me" policy side by side.

use chrono::{DateTime, Utc};
use crmsync_core::planner::{LinkState, Observation};
use crmsync_core::{CanonicalRecord, Side};
use serde::Serialize;

use crate::module::ModuleKind;
use crate::ports::{Clock, PortError, RecordPort};
use crate::state::{ActionCommit, JournalEntry, JournalOp};
use crate::store::Store;
use crate::sync::SyncError;

/// Why a journal entry cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreRefused {
    #[error("there is no such change in the journal")]
    NoSuchEntry,
    #[error("only a record the sync deleted can be restored")]
    NotADelete,
    #[error("this record was already restored (as {0})")]
    AlreadyRestored(String),
    #[error(
        "this was the Microsoft 365 copy of a CRM record that was deleted or given to someone else; \
         restore the CRM record (Zoho CRM's recycle bin) and its copy comes back with it"
    )]
    MicrosoftCopy,
    #[error("the journal has no readable copy of the record: {0}")]
    NoBeforeImage(String),
}

/// Re-creates, in the CRM and owned by the signed-in user, a record the sync deleted there
/// (a Microsoft 365 delete with the delete checkbox on), from the journal's before-image. The
/// next round copies it to Microsoft 365 again. Returns the new CRM id.
///
/// A lost answer is looked up (`find_created`) before anything is created again, so a retry
/// never makes two records.
///
/// # Errors
/// [`SyncError::Restore`] when the entry cannot be restored; store failures. A service failure
/// is `Ok(Err(_))` and changes nothing locally.
pub fn restore_deleted<R, C>(
    store: &mut Store,
    module: ModuleKind,
    journal_id: i64,
    crm: &mut C,
    clock: &dyn Clock,
) -> Result<Result<String, PortError>, SyncError>
where
    R: CanonicalRecord,
    C: RecordPort<R>,
{
    let _sync = store.exclusive()?;
    let entry = store
        .journal_entry(module, journal_id)?
        .ok_or(RestoreRefused::NoSuchEntry)?;
    if entry.op != JournalOp::Delete {
        return Err(RestoreRefused::NotADelete.into());
    }
    if let Some(id) = &entry.restored_as {
        return Err(RestoreRefused::AlreadyRestored(id.clone()).into());
    }
    if entry.side == Side::Graph {
        return Err(RestoreRefused::MicrosoftCopy.into());
    }
    let before = entry
        .before
        .as_deref()
        .ok_or_else(|| RestoreRefused::NoBeforeImage("none was kept".into()))?;
    let record: R =
        serde_json::from_str(before).map_err(|e| RestoreRefused::NoBeforeImage(e.to_string()))?;
    let started = clock.now();
    let written = match crm.create(&record, None) {
        Ok(w) => w.id,
        Err(PortError::Timeout) => match crm.find_created("", &record, started) {
            Ok(Some(found)) => found.id,
            Ok(None) => return Ok(Err(PortError::Timeout)),
            Err(e) => return Ok(Err(e)),
        },
        Err(e) => return Ok(Err(e)),
    };
    store.commit_action(
        &ActionCommit::<R> {
            module,
            intent: None,
            link_change: crmsync_core::planner::LinkChange::Nothing,
            observations: Vec::new(),
            forget: Vec::new(),
            journal: vec![JournalEntry {
                id: 0,
                run_id: None,
                side: Side::Crm,
                op: JournalOp::Create,
                item_id: written.clone(),
                label: entry.label.clone(),
                changed_fields: record.fields().keys().cloned().collect(),
                before: None,
                after: Some(before.to_owned()),
                at: clock.now(),
                restored_at: None,
                restored_as: None,
            }],
            now: clock.now(),
        },
        None,
    )?;
    store.mark_restored(journal_id, &written, clock.now())?;
    Ok(Ok(written))
}

/// One field of a queued conflict, as each version has it (`None`: empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictField {
    pub field: String,
    pub base: Option<String>,
    pub crm: Option<String>,
    pub graph: Option<String>,
}

/// A conflict waiting for the user (policy "ask me"): both versions side by side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedConflict {
    /// The link to resolve ([`crate::resolve_queued_conflict`]).
    pub link_id: u64,
    pub label: String,
    pub crm_id: String,
    pub graph_id: String,
    pub crm_modified: DateTime<Utc>,
    pub graph_modified: DateTime<Utc>,
    /// Fields changed on both sides to different values: each needs a choice.
    pub fields: Vec<ConflictField>,
}

/// The conflicts queued for the user in a module.
///
/// # Errors
/// Store failures.
pub fn queued_conflicts<R: CanonicalRecord>(
    store: &Store,
    module: ModuleKind,
) -> Result<Vec<QueuedConflict>, SyncError> {
    let find = |side: Side| -> Result<std::collections::BTreeMap<String, _>, SyncError> {
        Ok(store
            .observations::<R>(module, side)?
            .into_iter()
            .filter_map(|o| match o {
                Observation::Present(o) => Some((o.id.clone(), o)),
                Observation::Deleted { .. } => None,
            })
            .collect())
    };
    let (crm, graph) = (find(Side::Crm)?, find(Side::Graph)?);
    let mut out = Vec::new();
    for link in store.links::<R>(module)? {
        if link.state != LinkState::Conflict {
            continue;
        }
        let (Some(c), Some(g)) = (
            link.crm_id.as_deref().and_then(|id| crm.get(id)),
            link.graph_id.as_deref().and_then(|id| graph.get(id)),
        ) else {
            continue;
        };
        let (b, cf, gf) = (link.base.fields(), c.record.fields(), g.record.fields());
        let fields = b
            .keys()
            .chain(cf.keys())
            .chain(gf.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| {
                cf.get(*k) != b.get(*k) && gf.get(*k) != b.get(*k) && cf.get(*k) != gf.get(*k)
            })
            .map(|k| ConflictField {
                field: k.clone(),
                base: b.get(k).map(crmsync_core::FieldValue::display),
                crm: cf.get(k).map(crmsync_core::FieldValue::display),
                graph: gf.get(k).map(crmsync_core::FieldValue::display),
            })
            .collect();
        out.push(QueuedConflict {
            link_id: link.id,
            label: c.record.label(),
            crm_id: c.id.clone(),
            graph_id: g.id.clone(),
            crm_modified: c.modified,
            graph_modified: g.modified,
            fields,
        });
    }
    Ok(out)
}
