//! Per-record sync health derived from a plan (design.md §2: "in sync / excluded and why /
//! failing and why").

use serde::{Deserialize, Serialize};

use super::types::{NoteKind, Op, Plan, Reason};
use crate::error::RecordError;
use crate::policy::Exclusion;
use crate::Side;

/// The health of one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Health {
    /// Linked and equal on both sides (nothing planned).
    InSync,
    /// An action is planned for it.
    Pending {
        /// Why.
        reason: Reason,
    },
    /// Not synced by rule.
    Excluded {
        /// The rule.
        exclusion: Exclusion,
    },
    /// A same-field conflict waits for the user.
    ConflictPending,
    /// Deleted in Microsoft 365, kept in the CRM.
    Detached,
    /// Left alone for a reason the user should see (duplicate stamp, ambiguous email...).
    Attention {
        /// The note.
        note: NoteKind,
    },
    /// Its data cannot be synced (malformed, too long...); nothing else is affected.
    Failing {
        /// The error.
        error: RecordError,
    },
}

/// One record's health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordHealth {
    /// Side of `id`.
    pub side: Side,
    /// Record id on that side.
    pub id: String,
    /// Health.
    pub health: Health,
}

impl<R> Plan<R> {
    /// Health of every record the plan mentions (actions and notes), sorted by side and id.
    /// Linked records the plan does not mention are [`Health::InSync`]; records whose
    /// projection failed are [`Health::Failing`] (the engine knows those, the plan does not).
    #[must_use]
    pub fn health(&self) -> Vec<RecordHealth> {
        let mut out: Vec<RecordHealth> = Vec::new();
        for a in &self.actions {
            let health = match &a.op {
                Op::QueueConflict(_) => Health::ConflictPending,
                Op::Detach { .. } => Health::Detached,
                _ => Health::Pending { reason: a.reason },
            };
            for (side, id) in [(Side::Crm, &a.crm_id), (Side::Graph, &a.graph_id)] {
                if let Some(id) = id {
                    out.push(RecordHealth {
                        side,
                        id: id.clone(),
                        health: health.clone(),
                    });
                }
            }
        }
        for n in &self.notes {
            let health = match &n.kind {
                NoteKind::Excluded { exclusion } => Health::Excluded {
                    exclusion: *exclusion,
                },
                NoteKind::ConflictPending => Health::ConflictPending,
                NoteKind::Detached => Health::Detached,
                other => Health::Attention {
                    note: other.clone(),
                },
            };
            out.push(RecordHealth {
                side: n.side,
                id: n.id.clone(),
                health,
            });
        }
        out.sort_by(|a, b| (a.side, &a.id).cmp(&(b.side, &b.id)));
        out
    }
}
