//! Product rules (design.md §1) as pure functions. The engine gathers the facts (from the CRM
//! and Graph) and asks these functions; the answers become record exclusions and health.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ModuleKind;

/// Why a CRM record is not synced. Shown in the record's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// Owned by another CRM user: only the signed-in user's own records sync.
    NotOwner,
    /// Came into the CRM by import or data migration and was never changed individually or by
    /// mass update since.
    Imported,
    /// Beyond the first-sync cap; it syncs once it changes in the CRM.
    BeyondFirstSyncCap,
    /// Never modified since creation and its timeline has not been read yet; the engine reads
    /// the timeline ([`classify_timeline`]) before deciding.
    AwaitingTimeline,
}

impl std::fmt::Display for Exclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotOwner => "owned by another CRM user",
            Self::Imported => "imported or migrated, never changed since",
            Self::BeyondFirstSyncCap => "beyond the first-sync limit (syncs when it changes)",
            Self::AwaitingTimeline => "waiting for its CRM history to be checked",
        })
    }
}

/// Only records the signed-in CRM user owns are synced.
#[must_use]
pub fn is_owned_by(owner_id: Option<&str>, user_id: &str) -> bool {
    owner_id.is_some_and(|o| !o.is_empty() && o == user_id)
}

/// First step of the import rule, which costs no API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportCheck {
    /// Modified after creation (individually or by mass update): eligible.
    ModifiedSinceCreation,
    /// Never modified since creation: only the timeline can tell how it was created.
    NeedsTimeline,
}

/// Records modified since creation are eligible without further calls; only records never
/// modified since creation need their timeline read (so few API calls are spent).
#[must_use]
pub fn import_check(created: DateTime<Utc>, modified: DateTime<Utc>) -> ImportCheck {
    if modified > created {
        ImportCheck::ModifiedSinceCreation
    } else {
        ImportCheck::NeedsTimeline
    }
}

/// How a timeline entry came about, from the Zoho timeline `source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Import or data migration (import wizard, migration tools, bulk write).
    Import,
    /// A person changing this one record (CRM UI, mobile, API, conversion, wizard).
    Individual,
    /// A mass update.
    MassUpdate,
    /// Anything else (workflow, blueprint, assignment rules, functions...).
    Other,
}

/// Classifies a Zoho timeline `source` value. Zoho documents no import value in the material we
/// have (zoho-crm-api.md §7), so the import family is the set of names our emulator (the import
/// wizard's `mass_addition_via_ui`, `bulkapi`, `migration`) and the GDPR "Data Source" labels
/// use: `import*`, `mass_addition*`, `*migration*`, `bulk_write`/`bulkapi`.
#[must_use]
pub fn classify_source(source: &str) -> SourceKind {
    let s = source.trim().to_ascii_lowercase();
    if s.starts_with("import")
        || s.starts_with("mass_addition")
        || s.contains("migration")
        || s == "bulk_write"
        || s == "bulkapi"
    {
        SourceKind::Import
    } else if s.starts_with("mass_update") {
        SourceKind::MassUpdate
    } else if matches!(
        s.as_str(),
        "crm_ui" | "crm_api" | "crm_mobile" | "mobile" | "wizard" | "convert" | "web_form"
    ) {
        SourceKind::Individual
    } else {
        SourceKind::Other
    }
}

/// One entry of a record's timeline (`GET /{module}/{id}/__timeline`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When it happened.
    pub audited_time: DateTime<Utc>,
    /// `added`, `updated`, ...
    pub action: String,
    /// The timeline `source`.
    pub source: String,
}

/// Decides the import rule from a record's timeline: a record created by import or migration is
/// excluded unless a later entry is an individual change or a mass update. A record whose
/// creation entry is missing or not an import is eligible.
///
/// # Errors
/// `Err(Exclusion::Imported)` when the record must not sync.
pub fn classify_timeline(entries: &[TimelineEntry]) -> Result<(), Exclusion> {
    let mut sorted: Vec<&TimelineEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.audited_time);
    let Some(pos) = sorted.iter().position(|e| e.action == "added") else {
        return Ok(());
    };
    if classify_source(&sorted[pos].source) != SourceKind::Import {
        return Ok(());
    }
    let changed_later = sorted[pos + 1..].iter().any(|e| {
        e.action == "updated"
            && matches!(
                classify_source(&e.source),
                SourceKind::Individual | SourceKind::MassUpdate
            )
    });
    if changed_later {
        Ok(())
    } else {
        Err(Exclusion::Imported)
    }
}

/// The first-sync cap of a module (design.md §1: 10,000 contacts, 5,000 events). Tasks have no
/// documented cap.
#[must_use]
pub fn first_sync_cap(module: ModuleKind) -> Option<usize> {
    match module {
        ModuleKind::Contacts => Some(10_000),
        ModuleKind::Events => Some(5_000),
        ModuleKind::Tasks => None,
    }
}

/// A CRM record that may be sent by the first sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstSyncCandidate {
    /// CRM id.
    pub crm_id: String,
    /// CRM `Modified_Time`.
    pub modified: DateTime<Utc>,
    /// Events: start time.
    pub start: Option<DateTime<Utc>>,
    /// Events: end time.
    pub end: Option<DateTime<Utc>>,
}

/// Which records the first sync sends first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "order", rename_all = "snake_case")]
pub enum FirstSyncOrder {
    /// Most recently modified first (contacts, tasks).
    RecentlyModified,
    /// Events: upcoming ones first (soonest first), then recently completed ones (most recent
    /// first). `now` is passed in: the core never reads the clock.
    UpcomingThenRecent {
        /// The current time.
        now: DateTime<Utc>,
    },
}

/// The order for a module.
#[must_use]
pub fn first_sync_order(module: ModuleKind, now: DateTime<Utc>) -> FirstSyncOrder {
    match module {
        ModuleKind::Events => FirstSyncOrder::UpcomingThenRecent { now },
        ModuleKind::Contacts | ModuleKind::Tasks => FirstSyncOrder::RecentlyModified,
    }
}

/// The outcome of [`select_first_sync`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstSyncSelection {
    /// Sent by the first sync, in order.
    pub selected: Vec<String>,
    /// Not sent ([`Exclusion::BeyondFirstSyncCap`]); they sync once they change in the CRM.
    pub deferred: Vec<String>,
}

/// Orders the first-sync candidates and keeps at most `cap`. Deterministic: ties break on id.
#[must_use]
pub fn select_first_sync(
    candidates: &[FirstSyncCandidate],
    cap: Option<usize>,
    order: FirstSyncOrder,
) -> FirstSyncSelection {
    let mut sorted: Vec<&FirstSyncCandidate> = candidates.iter().collect();
    match order {
        FirstSyncOrder::RecentlyModified => {
            sorted.sort_by(|a, b| {
                b.modified
                    .cmp(&a.modified)
                    .then_with(|| a.crm_id.cmp(&b.crm_id))
            });
        }
        FirstSyncOrder::UpcomingThenRecent { now } => {
            // Upcoming: start >= now, soonest first. Past: latest end (or start) first.
            sorted.sort_by_key(|c| {
                let start = c.start.unwrap_or(c.modified);
                let upcoming = start >= now;
                let past_key = c.end.unwrap_or(start);
                (
                    !upcoming,
                    if upcoming { Some(start) } else { None },
                    if upcoming {
                        None
                    } else {
                        Some(Reverse(past_key))
                    },
                    c.crm_id.clone(),
                )
            });
        }
    }
    let cap = cap.unwrap_or(usize::MAX);
    let (selected, deferred): (Vec<_>, Vec<_>) =
        sorted.into_iter().enumerate().partition(|(i, _)| *i < cap);
    FirstSyncSelection {
        selected: selected
            .into_iter()
            .map(|(_, c)| c.crm_id.clone())
            .collect(),
        deferred: deferred
            .into_iter()
            .map(|(_, c)| c.crm_id.clone())
            .collect(),
    }
}

/// Whether a record deferred by the first-sync cap has become eligible: it changed in the CRM
/// after the first sync ran.
#[must_use]
pub fn deferred_now_eligible(modified: DateTime<Utc>, first_sync_at: DateTime<Utc>) -> bool {
    modified > first_sync_at
}

/// The module's delete-propagation checkbox ("delete the CRM record when it is deleted in
/// Microsoft 365"). Default off. A CRM delete always removes the Microsoft copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletePropagation {
    /// A Microsoft 365 delete only unlinks; the CRM record is not pushed back unless it changes
    /// in the CRM later.
    #[default]
    Off,
    /// A Microsoft 365 delete deletes the CRM record (unless the CRM side changed: modification
    /// beats deletion).
    On,
}

/// What happens to a CRM record whose Microsoft copy the user deleted, with its CRM side
/// unchanged since the last agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphDeleteEffect {
    /// Delete the CRM record.
    DeleteCrm,
    /// Keep the CRM record, unlinked ("detached"), until it changes in the CRM.
    Detach,
}

/// Applies the checkbox.
#[must_use]
pub fn on_graph_delete(policy: DeletePropagation) -> GraphDeleteEffect {
    match policy {
        DeletePropagation::On => GraphDeleteEffect::DeleteCrm,
        DeletePropagation::Off => GraphDeleteEffect::Detach,
    }
}

/// Whether the module's Microsoft container (contact folder, calendar, To Do list) still exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerStatus {
    /// It exists.
    #[default]
    Present,
    /// The user deleted it in Microsoft 365.
    Deleted,
}

/// Module state change decided by the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleTransition {
    /// Keep syncing.
    Continue,
    /// Disable the module: nothing is deleted in the CRM, link state is kept for a clean
    /// re-enable (see [`crate::planner::reset_links_for_reenable`]).
    Disable,
}

/// The container deleted in Microsoft 365 → the module is disabled, and the CRM keeps everything.
#[must_use]
pub fn on_container_status(status: ContainerStatus) -> ModuleTransition {
    match status {
        ContainerStatus::Present => ModuleTransition::Continue,
        ContainerStatus::Deleted => ModuleTransition::Disable,
    }
}

#[cfg(test)]
mod tests;
