//! What the link table must look like after an action succeeded, so every executor applies
//! the same rules.

use serde::{Deserialize, Serialize};

use super::types::{Action, LinkId, LinkState, Op};
use crate::CanonicalRecord;

/// What the remote calls of an action returned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// Id of a record created in the CRM.
    pub new_crm_id: Option<String>,
    /// Id of an item created in Graph.
    pub new_graph_id: Option<String>,
    /// CRM version after the write (if the CRM was written).
    pub crm_version: Option<String>,
    /// Graph version after the write (if Graph was written).
    pub graph_version: Option<String>,
}

/// A link row to insert (`id: None`) or update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "R: CanonicalRecord")]
pub struct LinkRow<R> {
    /// Existing row, or `None` for a new one.
    pub id: Option<LinkId>,
    /// CRM id.
    pub crm_id: Option<String>,
    /// Graph id.
    pub graph_id: Option<String>,
    /// CRM version.
    pub crm_version: Option<String>,
    /// Graph version.
    pub graph_version: Option<String>,
    /// New base (its hash is the new base hash).
    pub base: R,
    /// New state.
    pub state: LinkState,
}

/// The change to the link table after an action succeeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "change",
    rename_all = "snake_case",
    bound = "R: CanonicalRecord"
)]
pub enum LinkChange<R> {
    /// Insert or update this row.
    Save(LinkRow<R>),
    /// Delete the link row (its records are gone, or the link is forgotten).
    Remove(LinkId),
    /// Put an existing link in conflict state (base and versions unchanged).
    MarkConflict(LinkId),
    /// No link change (the delete of an unlinked duplicate).
    Nothing,
}

/// The outcome lacks the id of a created record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the outcome of `{0}` lacks the created record's id")]
pub struct MissingCreatedId(pub &'static str);

impl<R: CanonicalRecord> Action<R> {
    /// The link-table change to commit, in the same transaction as the observations and the
    /// journal, after this action's remote calls succeeded with `outcome`.
    ///
    /// # Errors
    /// [`MissingCreatedId`] when a create's outcome has no new id.
    pub fn link_change(&self, outcome: &WriteOutcome) -> Result<LinkChange<R>, MissingCreatedId> {
        let row = |crm_id: Option<String>, graph_id: Option<String>, base: &R, state| {
            LinkChange::Save(LinkRow {
                id: self.link,
                crm_version: outcome
                    .crm_version
                    .clone()
                    .or_else(|| self.crm_version.clone()),
                graph_version: if graph_id.is_some() {
                    outcome
                        .graph_version
                        .clone()
                        .or_else(|| self.graph_version.clone())
                } else {
                    None
                },
                crm_id,
                graph_id,
                base: base.clone(),
                state,
            })
        };
        let remove = || self.link.map_or(LinkChange::Nothing, LinkChange::Remove);
        Ok(match &self.op {
            Op::CreateInGraph { record } => {
                let gid = outcome
                    .new_graph_id
                    .clone()
                    .ok_or(MissingCreatedId("create in Graph"))?;
                row(self.crm_id.clone(), Some(gid), record, LinkState::Active)
            }
            Op::CreateInCrm { record } => {
                let cid = outcome
                    .new_crm_id
                    .clone()
                    .ok_or(MissingCreatedId("create in the CRM"))?;
                row(Some(cid), self.graph_id.clone(), record, LinkState::Active)
            }
            Op::Update { base, .. } | Op::SaveLink { base } => row(
                self.crm_id.clone(),
                self.graph_id.clone(),
                base,
                LinkState::Active,
            ),
            Op::Detach { base } => row(self.crm_id.clone(), None, base, LinkState::Detached),
            Op::DeleteInCrm { .. } | Op::DeleteInGraph { .. } | Op::DropLink => remove(),
            Op::QueueConflict(c) => match self.link {
                Some(id) => LinkChange::MarkConflict(id),
                None => row(
                    self.crm_id.clone(),
                    self.graph_id.clone(),
                    &c.base,
                    LinkState::Conflict,
                ),
            },
        })
    }
}
