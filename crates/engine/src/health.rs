//! Per-record sync health, stored: after every completed round the module's health rows are
//! replaced with what the round found (in sync, excluded and why, conflict, detached, needing
//! attention, failing and why). The app's counts and its searchable record list read them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crmsync_core::planner::{LinkState, NoteKind, Observation, Op};
use crmsync_core::{CanonicalRecord, Side};
use rusqlite::params;
use serde::Serialize;

use crate::module::ModuleKind;
use crate::state::side_key;
use crate::store::{format_time, parse_time, Store, StoreError};
use crate::sync::RoundReport;

/// A record's state, as the health list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Linked and equal on both sides.
    InSync,
    /// Planned but not done yet (the round was interrupted, or a copy is still to be made).
    Pending,
    /// Not synced by rule (`detail`: `not_owner`, `imported`, `beyond_first_sync_cap`,
    /// `awaiting_timeline`).
    Excluded,
    /// A same-field conflict waits for the user.
    Conflict,
    /// Deleted in Microsoft 365 and kept in the CRM, unlinked.
    Detached,
    /// Left alone for a reason the user should see (duplicate stamp, ambiguous key...).
    Attention,
    /// Could not be synced (`detail`: why); nothing else was affected.
    Failing,
}

impl HealthStatus {
    /// Every status, in display order.
    pub const ALL: [HealthStatus; 7] = [
        Self::InSync,
        Self::Pending,
        Self::Excluded,
        Self::Conflict,
        Self::Detached,
        Self::Attention,
        Self::Failing,
    ];

    /// The stored key.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InSync => "in_sync",
            Self::Pending => "pending",
            Self::Excluded => "excluded",
            Self::Conflict => "conflict",
            Self::Detached => "detached",
            Self::Attention => "attention",
            Self::Failing => "failing",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One record's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthRow {
    /// The side of `item_id` (the CRM id when the record has one).
    pub side: Side,
    pub item_id: String,
    pub label: String,
    pub status: HealthStatus,
    /// Why (a rule or note key, or an error message).
    pub detail: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// How many records of a module are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ModuleCounts {
    pub synced: usize,
    pub pending: usize,
    pub excluded: usize,
    pub conflicts: usize,
    pub detached: usize,
    pub attention: usize,
    pub failing: usize,
}

fn key<T: Serialize + std::fmt::Debug>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| match j {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Object(o) => {
                o.get("note").and_then(|n| n.as_str()).map(str::to_owned)
            }
            _ => None,
        })
        .unwrap_or_else(|| format!("{v:?}"))
}

impl Store {
    /// Replaces the module's health rows.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn replace_health(
        &mut self,
        module: ModuleKind,
        rows: &[HealthRow],
    ) -> Result<(), StoreError> {
        self.write_health(module, rows, true)
    }

    /// Adds or replaces some health rows (records an adapter could not read).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn upsert_health(
        &mut self,
        module: ModuleKind,
        rows: &[HealthRow],
    ) -> Result<(), StoreError> {
        self.write_health(module, rows, false)
    }

    fn write_health(
        &mut self,
        module: ModuleKind,
        rows: &[HealthRow],
        replace_all: bool,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        if replace_all {
            tx.execute(
                "DELETE FROM record_health WHERE module = ?1",
                params![module.as_str()],
            )?;
        }
        {
            let mut insert = tx.prepare(
                "INSERT OR REPLACE INTO record_health
                    (module, side, item_id, label, status, detail, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for r in rows {
                insert.execute(params![
                    module.as_str(),
                    side_key(r.side),
                    r.item_id,
                    r.label,
                    r.status.as_str(),
                    r.detail,
                    format_time(r.updated_at)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Health rows of a module: those in `status` (all when `None`) whose label, id or detail
    /// contains `search` (case-insensitive), at most `limit`, failing first then by label.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn health(
        &self,
        module: ModuleKind,
        status: Option<HealthStatus>,
        search: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HealthRow>, StoreError> {
        let pattern = search.map(str::trim).filter(|s| !s.is_empty()).map(|s| {
            format!(
                "%{}%",
                s.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        let mut stmt = self.conn.prepare(
            "SELECT side, item_id, label, status, detail, updated_at FROM record_health
             WHERE module = ?1 AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR lower(label) LIKE ?3 ESCAPE '\\'
                    OR lower(item_id) LIKE ?3 ESCAPE '\\'
                    OR lower(coalesce(detail, '')) LIKE ?3 ESCAPE '\\')
             ORDER BY CASE status WHEN 'failing' THEN 0 WHEN 'conflict' THEN 1
                      WHEN 'attention' THEN 2 ELSE 3 END, label, item_id
             LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                module.as_str(),
                status.map(HealthStatus::as_str),
                pattern,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            },
        )?;
        rows.map(|row| {
            let (side, item_id, label, status, detail, at) = row?;
            Ok(HealthRow {
                side: if side == "crm" {
                    Side::Crm
                } else {
                    Side::Graph
                },
                item_id,
                label,
                status: HealthStatus::parse(&status).ok_or_else(|| StoreError::Corrupt {
                    table: "record_health",
                    detail: format!("unknown status {status:?}"),
                })?,
                detail,
                updated_at: parse_time(&at)?,
            })
        })
        .collect()
    }

    /// How many records of the module are in each state (from the last completed round).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn module_counts(&self, module: ModuleKind) -> Result<ModuleCounts, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT status, COUNT(*) FROM record_health WHERE module = ?1 GROUP BY status",
        )?;
        let mut c = ModuleCounts::default();
        let rows = stmt.query_map(params![module.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (status, n) = row?;
            let n = usize::try_from(n).unwrap_or(0);
            match HealthStatus::parse(&status) {
                Some(HealthStatus::InSync) => c.synced = n,
                Some(HealthStatus::Pending) => c.pending = n,
                Some(HealthStatus::Excluded) => c.excluded = n,
                Some(HealthStatus::Conflict) => c.conflicts = n,
                Some(HealthStatus::Detached) => c.detached = n,
                Some(HealthStatus::Attention) => c.attention = n,
                Some(HealthStatus::Failing) => c.failing = n,
                None => {}
            }
        }
        Ok(c)
    }
}

/// The health of every record of a module after a round: links (in sync, conflict,
/// detached, or pending a copy), excluded CRM records, the plan's notes, actions that did not
/// run, and records that failed.
///
/// # Errors
/// Store failures.
pub(crate) fn compute<R: CanonicalRecord>(
    store: &Store,
    module: ModuleKind,
    report: &RoundReport<R>,
    now: DateTime<Utc>,
) -> Result<Vec<HealthRow>, StoreError> {
    let mut rows: BTreeMap<(Side, String), HealthRow> = BTreeMap::new();
    let mut put =
        |side: Side, id: &str, label: String, status: HealthStatus, detail: Option<String>| {
            rows.insert(
                (side, id.to_owned()),
                HealthRow {
                    side,
                    item_id: id.to_owned(),
                    label,
                    status,
                    detail,
                    updated_at: now,
                },
            );
        };
    let mut labels: BTreeMap<(Side, String), String> = BTreeMap::new();
    for side in [Side::Crm, Side::Graph] {
        for o in store.observations::<R>(module, side)? {
            if let Observation::Present(o) = o {
                labels.insert((side, o.id.clone()), o.record.label());
                if side == Side::Crm {
                    if let Some(e) = o.exclusion {
                        put(
                            side,
                            &o.id,
                            o.record.label(),
                            HealthStatus::Excluded,
                            Some(key(&e)),
                        );
                    }
                }
            }
        }
    }
    let label_of = |side: Side, id: &str| labels.get(&(side, id.to_owned())).cloned();
    for link in store.links::<R>(module)? {
        let (side, id) = match (&link.crm_id, &link.graph_id) {
            (Some(c), _) => (Side::Crm, c.clone()),
            (None, Some(g)) => (Side::Graph, g.clone()),
            (None, None) => continue,
        };
        let status = match link.state {
            LinkState::Conflict => HealthStatus::Conflict,
            LinkState::Detached => HealthStatus::Detached,
            LinkState::Active if link.crm_id.is_some() && link.graph_id.is_some() => {
                HealthStatus::InSync
            }
            LinkState::Active => HealthStatus::Pending,
        };
        let label = label_of(side, &id).unwrap_or_else(|| link.base.label());
        put(side, &id, label, status, None);
    }
    if let Some(plan) = &report.plan {
        for n in &plan.notes {
            let (status, detail) = match &n.kind {
                NoteKind::Excluded { exclusion } => (HealthStatus::Excluded, key(exclusion)),
                NoteKind::ConflictPending => (HealthStatus::Conflict, key(&n.kind)),
                NoteKind::Detached => (HealthStatus::Detached, key(&n.kind)),
                other => (HealthStatus::Attention, key(other)),
            };
            let label = label_of(n.side, &n.id).unwrap_or_else(|| n.id.clone());
            put(n.side, &n.id, label, status, Some(detail));
        }
        // Actions a paused or interrupted round did not run are still pending.
        if report.outcome != crate::sync::RoundOutcome::Completed {
            for a in plan.actions.iter().skip(report.executed) {
                if matches!(a.op, Op::SaveLink { .. } | Op::DropLink) {
                    continue;
                }
                let (side, id) = match (&a.crm_id, &a.graph_id) {
                    (Some(c), _) => (Side::Crm, c.clone()),
                    (None, Some(g)) => (Side::Graph, g.clone()),
                    (None, None) => continue,
                };
                put(
                    side,
                    &id,
                    a.label.clone(),
                    HealthStatus::Pending,
                    Some(key(&a.reason)),
                );
            }
        }
    }
    for f in &report.failures {
        let (side, id) = match (&f.crm_id, &f.graph_id) {
            (Some(c), _) => (Side::Crm, c.clone()),
            (None, Some(g)) => (Side::Graph, g.clone()),
            (None, None) => continue,
        };
        put(
            side,
            &id,
            f.label.clone(),
            HealthStatus::Failing,
            Some(f.error.to_string()),
        );
    }
    Ok(rows.into_values().collect())
}
