//! Human-readable rendering of a plan: the dry-run preview.

use std::fmt;

use super::types::{Action, Note, NoteKind, Op, Pause, Plan, Reason};
use crate::CanonicalRecord;

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NewInCrm => "new in the CRM",
            Self::NewInGraph => "new in Microsoft 365",
            Self::MatchedByStamp => "matched by its CRM id stamp",
            Self::MatchedByNaturalKey => "matched by email",
            Self::ChangedInCrm => "changed in the CRM",
            Self::ChangedInGraph => "changed in Microsoft 365",
            Self::ChangedOnBoth => "changed on both sides",
            Self::DeletedInCrm => "deleted in the CRM",
            Self::DeletedInGraph => "deleted in Microsoft 365",
            Self::DeletedOnBoth => "deleted on both sides",
            Self::ModificationBeatsDeletion => "deleted on one side but changed on the other",
            Self::OwnershipLost => "now owned by another CRM user",
            Self::DuplicateCopy => "duplicate copy left by an interrupted sync",
            Self::CopyOfDeletedRecord => "copy of a record deleted in the CRM",
            Self::MissingCopy => "copy missing",
            Self::ChangedAfterDetach => {
                "changed in the CRM after its Microsoft 365 copy was deleted"
            }
            Self::VersionsOnly => "no content change",
        })
    }
}

impl<R: CanonicalRecord> Action<R> {
    /// One-line verb for the preview.
    #[must_use]
    pub fn verb(&self) -> String {
        match &self.op {
            Op::CreateInGraph { .. } => "create in Microsoft 365".into(),
            Op::CreateInCrm { .. } => "create in the CRM".into(),
            Op::Update { crm, graph, .. } => match (crm.is_some(), graph.is_some()) {
                (true, true) => "update both sides".into(),
                (true, false) => "update the CRM".into(),
                (false, true) => "update Microsoft 365".into(),
                (false, false) => "link".into(),
            },
            Op::SaveLink { .. } => "link".into(),
            Op::DeleteInCrm { .. } => "DELETE in the CRM".into(),
            Op::DeleteInGraph { .. } => "DELETE in Microsoft 365".into(),
            Op::Detach { .. } => "unlink (kept in the CRM)".into(),
            Op::DropLink => "forget link".into(),
            Op::QueueConflict(c) => format!("ask: conflict on {}", c.fields.join(", ")),
        }
    }
}

impl<R: CanonicalRecord> fmt::Display for Action<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: \"{}\" ({})", self.verb(), self.label, self.reason)?;
        if let Op::Update { crm, graph, .. } = &self.op {
            for (side, w) in [("CRM", crm), ("Microsoft 365", graph)] {
                if let Some(w) = w {
                    write!(f, "; {side}: {}", w.changed_fields.join(", "))?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.side, self.id)?;
        match &self.kind {
            NoteKind::Excluded { exclusion } => write!(f, "not synced: {exclusion}"),
            NoteKind::ConflictPending => f.write_str("conflict waiting for your choice"),
            NoteKind::Detached => f.write_str("deleted in Microsoft 365, kept in the CRM"),
            NoteKind::DuplicateStamp { crm_id } => {
                write!(
                    f,
                    "second copy of CRM {crm_id} with different content, left alone"
                )
            }
            NoteKind::StampTargetUnavailable { crm_id } => {
                write!(
                    f,
                    "copy of CRM {crm_id}, which this sync cannot see; left alone"
                )
            }
            NoteKind::AmbiguousNaturalKey { key } => {
                write!(
                    f,
                    "several records share {key}; not paired to avoid duplicates"
                )
            }
            NoteKind::MergeFailed { error } => write!(f, "merge failed: {error}"),
        }
    }
}

impl fmt::Display for Pause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SideEmpty { side, linked } => write!(
                f,
                "{side} suddenly looks empty ({linked} linked records gone); nothing will be propagated until you confirm"
            ),
            Self::TooManyDeletes { deletes, links } => write!(
                f,
                "this sync would delete {deletes} of {links} records; confirm to proceed"
            ),
        }
    }
}

impl<R: CanonicalRecord> fmt::Display for Plan<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(reason) = self.disable {
            return writeln!(
                f,
                "The module will be disabled ({reason:?}); nothing is deleted in the CRM."
            );
        }
        let count = |pred: fn(&Op<R>) -> bool| self.actions.iter().filter(|a| pred(&a.op)).count();
        writeln!(
            f,
            "Plan: {} to create in Microsoft 365, {} to create in the CRM, {} to update, {} to delete, {} conflicts to ask, {} link changes",
            count(|o| matches!(o, Op::CreateInGraph { .. })),
            count(|o| matches!(o, Op::CreateInCrm { .. })),
            count(|o| matches!(o, Op::Update { .. })),
            count(|o| matches!(o, Op::DeleteInCrm { .. } | Op::DeleteInGraph { .. })),
            count(|o| matches!(o, Op::QueueConflict(_))),
            count(|o| matches!(o, Op::SaveLink { .. } | Op::Detach { .. } | Op::DropLink)),
        )?;
        if let Some(p) = &self.pause {
            writeln!(f, "PAUSED: {p}")?;
        }
        for a in &self.actions {
            writeln!(f, "  - {a}")?;
        }
        if !self.notes.is_empty() {
            writeln!(f, "Notes:")?;
            for n in &self.notes {
                writeln!(f, "  * {n}")?;
            }
        }
        for a in &self.absences {
            writeln!(
                f,
                "  ? {} {} missing from the listing; checking it by id",
                a.side, a.id
            )?;
        }
        Ok(())
    }
}
