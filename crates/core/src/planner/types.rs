//! Planner inputs and outputs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::{ContainerStatus, DeletePropagation, Exclusion};
use crate::Side;

/// The engine's id of a link row.
pub type LinkId = u64;

/// A record as currently seen on one side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "R: crate::CanonicalRecord")]
pub struct Observed<R> {
    /// The side's id (CRM record id, or Graph item id).
    pub id: String,
    /// The side's version token (CRM `Modified_Time`, Graph `changeKey`).
    pub version: String,
    /// Server modification time; used by the "newest wins" conflict policy.
    pub modified: DateTime<Utc>,
    /// The record projected onto the canonical form.
    pub record: R,
    /// The peer id stamped on the item, if any: on a Graph item the CRM id (extended property /
    /// To Do linked resource); on a CRM record the Graph id (if the CRM has such a field).
    pub stamp: Option<String>,
    /// CRM only: why this record must not be synced (ownership, import, first-sync cap).
    /// `None` means eligible. Ignored on the Graph side.
    pub exclusion: Option<Exclusion>,
}

/// What a side says about one item. A delete is only ever a positive observation (a CRM
/// deleted-records entry, a Graph `@removed`, or a 404 confirming an absence): it is never
/// inferred from an item missing in a listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    bound = "R: crate::CanonicalRecord"
)]
pub enum Observation<R> {
    /// The item exists.
    Present(Observed<R>),
    /// The item was deleted.
    Deleted {
        /// The side's id.
        id: String,
    },
}

impl<R> Observation<R> {
    /// The item's id on its side.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::Present(o) => &o.id,
            Self::Deleted { id } => id,
        }
    }
}

/// The state of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Normal: both sides agree on `base` (or a missing copy is to be created).
    #[default]
    Active,
    /// A same-field conflict waits in the queue for the user (policy "ask").
    Conflict,
    /// The Microsoft copy was deleted with delete propagation off: the CRM record stays,
    /// unlinked, and is pushed again only when it changes in the CRM (`base` holds the CRM
    /// content at the time).
    Detached,
}

/// A link between a CRM record and a Graph item, with the last agreed canonical record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "R: crate::CanonicalRecord")]
pub struct Link<R> {
    /// Row id.
    pub id: LinkId,
    /// CRM id (`None` while the CRM copy is to be (re)created).
    pub crm_id: Option<String>,
    /// Graph id (`None` while the Graph copy is to be (re)created, or when detached).
    pub graph_id: Option<String>,
    /// CRM version at the last agreement.
    pub crm_version: Option<String>,
    /// Graph version at the last agreement.
    pub graph_version: Option<String>,
    /// The canonical record both sides last agreed on (its hash is the base hash).
    pub base: R,
    /// State.
    pub state: LinkState,
}

/// Same-field conflict policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// The side with the newest server modification time wins (ties: the CRM).
    #[default]
    Newest,
    /// The CRM wins.
    CrmWins,
    /// Microsoft 365 wins.
    GraphWins,
    /// Ask the user: the conflict is queued and the link waits.
    Ask,
}

/// Thresholds of the safety guards.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuardSettings {
    /// A plan deleting more than this many records pauses.
    pub max_deletes: usize,
    /// A plan deleting more than this fraction of the links pauses...
    pub max_delete_fraction: f64,
    /// ...when it deletes at least this many records.
    pub fraction_min_deletes: usize,
    /// A side whose linked items all disappear pauses when at least this many links exist.
    pub empty_side_min_links: usize,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            max_deletes: 50,
            max_delete_fraction: 0.25,
            fraction_min_deletes: 5,
            empty_side_min_links: 3,
        }
    }
}

/// Module settings the planner needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanSettings {
    /// Same-field conflict policy.
    pub conflict_policy: ConflictPolicy,
    /// The delete-propagation checkbox.
    pub delete_propagation: DeletePropagation,
    /// Guard thresholds.
    pub guards: GuardSettings,
    /// Whether the Microsoft container still exists.
    pub container: ContainerStatus,
    /// The user confirmed the deletes of a paused plan: guards do not pause.
    pub deletes_confirmed: bool,
}

/// Everything the planner looks at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "R: crate::CanonicalRecord")]
pub struct PlanInput<R> {
    /// All links of the module.
    pub links: Vec<Link<R>>,
    /// CRM observations (a full listing or a feed; later entries for the same id win).
    pub crm: Vec<Observation<R>>,
    /// Graph observations (same rules).
    pub graph: Vec<Observation<R>>,
    /// `crm` is a complete listing of the CRM side (then a linked id missing from it is an
    /// absence to confirm, and an empty listing trips the empty-side guard).
    pub crm_complete: bool,
    /// `graph` is a complete listing of the Graph container.
    pub graph_complete: bool,
    /// Settings.
    pub settings: PlanSettings,
}

/// A write of a record to one side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "R: crate::CanonicalRecord")]
pub struct Write<R> {
    /// The version the write is guarded by (If-Match / If-Unmodified-Since / re-read check).
    pub expected_version: Option<String>,
    /// The full canonical record to write (all mapped fields).
    pub record: R,
    /// The fields this write changes on that side (for the preview and the journal).
    pub changed_fields: Vec<String>,
}

impl<R: crate::CanonicalRecord> Write<R> {
    /// A write of `record` over `current`, guarded by `expected_version`.
    #[must_use]
    pub fn new(expected_version: Option<String>, current: &R, record: R) -> Self {
        let changed_fields = changed_fields(current, &record);
        Self {
            expected_version,
            record,
            changed_fields,
        }
    }
}

/// The ids of the fields whose values differ between two records, sorted.
#[must_use]
pub fn changed_fields<R: crate::CanonicalRecord>(from: &R, to: &R) -> Vec<String> {
    let (a, b) = (from.fields(), to.fields());
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// What to do. After success the engine updates the link as documented per variant; the
/// link's versions are the action's `crm_version`/`graph_version`, replaced by the version a
/// write returned on the side it wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "op",
    rename_all = "snake_case",
    bound = "R: crate::CanonicalRecord"
)]
pub enum Op<R> {
    /// Create the record in Graph (stamped with the CRM id, with an intent). Then: link gets the
    /// new Graph id, `base = record`, state active (a new link when `link` is `None`).
    CreateInGraph {
        /// What to create.
        record: R,
    },
    /// Create the record in the CRM, owned by the user (stamped, with an intent). Then: link gets
    /// the new CRM id, `base = record`, state active.
    CreateInCrm {
        /// What to create.
        record: R,
    },
    /// Write one or both sides. Then: `base`, state active.
    Update {
        /// Write to the CRM, if needed.
        crm: Option<Write<R>>,
        /// Write to Graph, if needed.
        graph: Option<Write<R>>,
        /// The new agreed record.
        base: R,
    },
    /// No write: both sides already agree. Save (or create, when `link` is `None`) the link
    /// with this base and the versions.
    SaveLink {
        /// The agreed record.
        base: R,
    },
    /// Delete the CRM record. Then: remove the link.
    DeleteInCrm {
        /// Guard version.
        expected_version: Option<String>,
    },
    /// Delete the Graph item. Then: remove the link (if any).
    DeleteInGraph {
        /// Guard version.
        expected_version: Option<String>,
    },
    /// Keep the CRM record but unlink it (delete propagation off). Then: Graph id and version
    /// cleared, `base`, state detached.
    Detach {
        /// The CRM record as it is now.
        base: R,
    },
    /// Remove the link; no remote write.
    DropLink,
    /// Queue a same-field conflict for the user (policy "ask"). Then: state conflict (a new link
    /// in that state when `link` is `None`, with `base` = the conflict's base).
    QueueConflict(Conflict<R>),
}

/// A queued same-field conflict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "R: crate::CanonicalRecord")]
pub struct Conflict<R> {
    /// The last agreed record (empty for two records that were never linked).
    pub base: R,
    /// The CRM side now.
    pub crm: R,
    /// The Graph side now.
    pub graph: R,
    /// CRM modification time.
    pub crm_modified: DateTime<Utc>,
    /// Graph modification time.
    pub graph_modified: DateTime<Utc>,
    /// Fields changed on both sides with different values.
    pub fields: Vec<String>,
}

/// Why an action was planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A CRM record not yet in Microsoft 365.
    NewInCrm,
    /// A Graph item not yet in the CRM.
    NewInGraph,
    /// Paired by the CRM id stamped on the Graph item.
    MatchedByStamp,
    /// Paired by natural key (email).
    MatchedByNaturalKey,
    /// Changed in the CRM.
    ChangedInCrm,
    /// Changed in Microsoft 365.
    ChangedInGraph,
    /// Changed on both sides; merged field by field.
    ChangedOnBoth,
    /// Deleted in the CRM.
    DeletedInCrm,
    /// Deleted in Microsoft 365.
    DeletedInGraph,
    /// Deleted on both sides.
    DeletedOnBoth,
    /// Deleted on one side, modified on the other: the modification wins.
    ModificationBeatsDeletion,
    /// The CRM record is now owned by someone else.
    OwnershipLost,
    /// A second Graph copy of an already linked CRM record (left by an interrupted create).
    DuplicateCopy,
    /// A stamped Graph copy of a CRM record that was deleted.
    CopyOfDeletedRecord,
    /// A link lacks one side's copy (re-enable, or an interrupted re-create).
    MissingCopy,
    /// A detached CRM record changed in the CRM, so it is pushed again.
    ChangedAfterDetach,
    /// Only the versions changed (server-side bump, or our own echo).
    VersionsOnly,
}

/// Something the user should see about a record (its health), with no action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum NoteKind {
    /// Not synced, and why.
    Excluded {
        /// The rule.
        exclusion: Exclusion,
    },
    /// A conflict waits for the user.
    ConflictPending,
    /// Deleted in Microsoft 365 and kept in the CRM, unlinked.
    Detached,
    /// A Graph item stamped with a CRM id that is already linked to another Graph item, with
    /// different content: kept, not synced.
    DuplicateStamp {
        /// The CRM id on the stamp.
        crm_id: String,
    },
    /// A Graph item stamped with a CRM id the sync cannot see (not observed, or excluded).
    StampTargetUnavailable {
        /// The CRM id on the stamp.
        crm_id: String,
    },
    /// Several unlinked records share this natural key on a side: not paired, not created,
    /// to avoid a duplicate.
    AmbiguousNaturalKey {
        /// The key.
        key: String,
    },
    /// Merging produced an invalid record.
    MergeFailed {
        /// The error text.
        error: String,
    },
}

/// A note about one item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The side of `id`.
    pub side: Side,
    /// The item id on that side.
    pub id: String,
    /// What.
    pub kind: NoteKind,
}

/// One planned action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "R: crate::CanonicalRecord")]
pub struct Action<R> {
    /// A short label of the record (for example the contact's name), for previews and logs.
    pub label: String,
    /// The link concerned (`None`: a new link, or none at all for a duplicate's delete).
    pub link: Option<LinkId>,
    /// CRM id concerned, if any.
    pub crm_id: Option<String>,
    /// Graph id concerned, if any.
    pub graph_id: Option<String>,
    /// The CRM version observed now (or stored on the link).
    pub crm_version: Option<String>,
    /// The Graph version observed now (or stored on the link).
    pub graph_version: Option<String>,
    /// What to do.
    pub op: Op<R>,
    /// Why.
    pub reason: Reason,
}

/// Why a plan must not run without the user's confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "guard", rename_all = "snake_case")]
pub enum Pause {
    /// A side suddenly looks empty while links exist.
    SideEmpty {
        /// The side.
        side: Side,
        /// Links with an item on that side.
        linked: usize,
    },
    /// The plan deletes too many records.
    TooManyDeletes {
        /// Deletes in the plan.
        deletes: usize,
        /// Links before the plan.
        links: usize,
    },
}

/// Why the module must be disabled instead of synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisableReason {
    /// The user deleted the container in Microsoft 365. Nothing is deleted in the CRM; links are
    /// kept for a clean re-enable.
    ContainerDeleted,
}

/// An item a complete listing did not return although a link points to it. It is *not*
/// treated as deleted: the engine confirms it with a GET by id (404 → a `Deleted` observation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Absence {
    /// The side.
    pub side: Side,
    /// The id missing from the listing.
    pub id: String,
    /// Its link.
    pub link: LinkId,
}

/// The planner's output: printable (`Display`) and serialisable, so it doubles as the dry-run
/// preview. Execute it only when [`Plan::executable`] is true.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "R: crate::CanonicalRecord")]
pub struct Plan<R> {
    /// Actions, in a deterministic order (at most one per link or item).
    pub actions: Vec<Action<R>>,
    /// Per-record health notes.
    pub notes: Vec<Note>,
    /// Set when a guard tripped: ask the user before executing.
    pub pause: Option<Pause>,
    /// Set when the module must be disabled instead (no actions then).
    pub disable: Option<DisableReason>,
    /// Linked items missing from a complete listing, to confirm by id.
    pub absences: Vec<Absence>,
}

impl<R> Plan<R> {
    /// True when there is nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// True when the actions may run without asking the user.
    #[must_use]
    pub fn executable(&self) -> bool {
        self.pause.is_none() && self.disable.is_none()
    }

    /// Number of delete actions (either side).
    #[must_use]
    pub fn deletes(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a.op, Op::DeleteInCrm { .. } | Op::DeleteInGraph { .. }))
            .count()
    }
}

/// Per-field choice when resolving a queued conflict.
pub type FieldChoices = std::collections::BTreeMap<String, Side>;
