//! Field-level three-way merge and conflict resolution.

use std::collections::BTreeSet;

use super::types::{Conflict, ConflictPolicy, FieldChoices, Observed, Op, Write};
use crate::error::RecordError;
use crate::value::FieldMap;
use crate::{CanonicalRecord, FieldValue, Side};

/// The result of [`merge`].
#[derive(Clone, Debug, PartialEq)]
pub enum MergeOutcome<R> {
    /// Every field resolved.
    Merged(R),
    /// Policy "ask" and some field changed on both sides differently.
    Conflict(Conflict<R>),
}

/// An error resolving a queued conflict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No choice given for a conflicting field.
    #[error("no choice given for conflicting field `{0}`")]
    Unresolved(String),
    /// The merged record is invalid.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Merges per field: a field changed on one side only takes that side's value; a field changed
/// on both sides to the same value takes it; a field changed on both sides to different values
/// is decided by `pick`, or reported when `pick` returns `None`.
fn merge_with<R: CanonicalRecord>(
    base: &R,
    crm: &R,
    graph: &R,
    mut pick: impl FnMut(&str) -> Option<Side>,
) -> (FieldMap, Vec<String>) {
    let keys: BTreeSet<&String> = base
        .fields()
        .keys()
        .chain(crm.fields().keys())
        .chain(graph.fields().keys())
        .collect();
    let mut out = FieldMap::new();
    let mut unresolved = Vec::new();
    for key in keys {
        let b = base.fields().get(key);
        let c = crm.fields().get(key);
        let g = graph.fields().get(key);
        let chosen: Option<&FieldValue> = if c == g || g == b {
            c
        } else if c == b {
            g
        } else {
            match pick(key) {
                Some(Side::Crm) => c,
                Some(Side::Graph) => g,
                None => {
                    unresolved.push(key.clone());
                    b
                }
            }
        };
        if let Some(v) = chosen {
            out.insert(key.clone(), v.clone());
        }
    }
    (out, unresolved)
}

/// Three-way merge of the two current records against the last agreed `base`, applying
/// `policy` to fields changed on both sides with different values.
///
/// # Errors
/// [`RecordError`] if the merged fields do not form a valid record (cannot happen for records
/// built by the module's own constructors).
pub fn merge<R: CanonicalRecord>(
    base: &R,
    crm: &Observed<R>,
    graph: &Observed<R>,
    policy: ConflictPolicy,
) -> Result<MergeOutcome<R>, RecordError> {
    let newest = if crm.modified >= graph.modified {
        Side::Crm
    } else {
        Side::Graph
    };
    let (fields, conflicts) = merge_with(base, &crm.record, &graph.record, |_| match policy {
        ConflictPolicy::Newest => Some(newest),
        ConflictPolicy::CrmWins => Some(Side::Crm),
        ConflictPolicy::GraphWins => Some(Side::Graph),
        ConflictPolicy::Ask => None,
    });
    if conflicts.is_empty() {
        Ok(MergeOutcome::Merged(R::from_fields(fields)?))
    } else {
        Ok(MergeOutcome::Conflict(Conflict {
            base: base.clone(),
            crm: crm.record.clone(),
            graph: graph.record.clone(),
            crm_modified: crm.modified,
            graph_modified: graph.modified,
            fields: conflicts,
        }))
    }
}

/// Resolves a queued conflict with the user's per-field choices, against the two sides as
/// they are now (`crm`, `graph` with their versions). Fields changed on one side only merge
/// automatically; each field still changed on both sides needs a choice.
///
/// Returns the [`Op::Update`] (or [`Op::SaveLink`]) to execute for the link.
///
/// # Errors
/// [`ResolveError::Unresolved`] when a conflicting field has no choice.
pub fn resolve_conflict<R: CanonicalRecord>(
    base: &R,
    crm: &Observed<R>,
    graph: &Observed<R>,
    choices: &FieldChoices,
) -> Result<Op<R>, ResolveError> {
    let (fields, unresolved) = merge_with(base, &crm.record, &graph.record, |k| {
        choices.get(k).copied()
    });
    if let Some(field) = unresolved.into_iter().next() {
        return Err(ResolveError::Unresolved(field));
    }
    let merged = R::from_fields(fields)?;
    let write = |side: &Observed<R>| {
        (merged.fields() != side.record.fields())
            .then(|| Write::new(Some(side.version.clone()), &side.record, merged.clone()))
    };
    let (c, g) = (write(crm), write(graph));
    if c.is_none() && g.is_none() {
        return Ok(Op::SaveLink { base: merged });
    }
    Ok(Op::Update {
        crm: c,
        graph: g,
        base: merged,
    })
}
