//! Typed access to the sync state of a module: settings, links, the observation mirror, cursors,
//! intents, the journal and run history. Every multi-row change runs in one transaction.

use chrono::{DateTime, Utc};
use crmsync_core::planner::{Action, ConflictPolicy, Link, LinkChange, LinkState, Observation};
use crmsync_core::{CanonicalRecord, Side};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{de::DeserializeOwned, Serialize};

use crate::module::ModuleKind;
use crate::store::{format_time, parse_time, Store, StoreError};

/// Settings of one module beyond those in [`crate::ModuleState`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ModuleSettings {
    /// The Microsoft container id, once created or found.
    pub container_id: Option<String>,
    /// The field mapping as JSON (`None`: the module's default mapping).
    pub field_mapping: Option<String>,
    /// Same-field conflict policy.
    pub conflict_policy: ConflictPolicy,
    /// When the first sync of the current enablement ran.
    pub first_sync_at: Option<DateTime<Utc>>,
}

/// One remote change the sync made, with the record before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// The run that made it.
    pub run_id: Option<i64>,
    /// The side written.
    pub side: Side,
    /// `create`, `update` or `delete`.
    pub op: JournalOp,
    /// The item id on that side.
    pub item_id: String,
    /// The record's label.
    pub label: String,
    /// Fields changed.
    pub changed_fields: Vec<String>,
    /// Canonical record JSON before (none for a create).
    pub before: Option<String>,
    /// Canonical record JSON after (none for a delete).
    pub after: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// When a delete was undone (the record re-created from `before`).
    pub restored_at: Option<DateTime<Utc>>,
    /// The id of the re-created record.
    pub restored_as: Option<String>,
}

/// The kind of a journalled change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalOp {
    Create,
    Update,
    Delete,
}

impl JournalOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// A finished or running sync round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub module: ModuleKind,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `None` while running (or when the process died during the run).
    pub outcome: Option<String>,
    pub detail: Option<String>,
    pub actions: i64,
    pub writes: i64,
    /// Records that failed on their own.
    pub failures: i64,
}

/// Everything one executed action changes locally, committed in one transaction.
#[derive(Debug, Clone)]
pub struct ActionCommit<R> {
    pub module: ModuleKind,
    /// The intent row to remove.
    pub intent: Option<i64>,
    /// The link-table change (from [`Action::link_change`]).
    pub link_change: LinkChange<R>,
    /// Observations to write into the mirror as they are (our own writes).
    pub observations: Vec<(Side, Observation<R>)>,
    /// Items to remove from the mirror.
    pub forget: Vec<(Side, String)>,
    /// Journal rows.
    pub journal: Vec<JournalEntry>,
    pub now: DateTime<Utc>,
}

pub(crate) fn side_key(side: Side) -> &'static str {
    match side {
        Side::Crm => "crm",
        Side::Graph => "graph",
    }
}

fn parse_side(s: &str) -> Result<Side, StoreError> {
    match s {
        "crm" => Ok(Side::Crm),
        "graph" => Ok(Side::Graph),
        other => Err(corrupt("journal", format!("unknown side {other:?}"))),
    }
}

fn corrupt(table: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { table, detail }
}

fn to_json<T: Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|source| StoreError::Json { what, source })
}

fn from_json<T: DeserializeOwned>(what: &'static str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|source| StoreError::Json { what, source })
}

fn policy_key(p: ConflictPolicy) -> &'static str {
    match p {
        ConflictPolicy::Newest => "newest",
        ConflictPolicy::CrmWins => "crm_wins",
        ConflictPolicy::GraphWins => "graph_wins",
        ConflictPolicy::Ask => "ask",
    }
}

fn state_key(s: LinkState) -> &'static str {
    match s {
        LinkState::Active => "active",
        LinkState::Conflict => "conflict",
        LinkState::Detached => "detached",
    }
}

fn parse_state(s: &str) -> Result<LinkState, StoreError> {
    match s {
        "active" => Ok(LinkState::Active),
        "conflict" => Ok(LinkState::Conflict),
        "detached" => Ok(LinkState::Detached),
        other => Err(corrupt("links", format!("unknown state {other:?}"))),
    }
}

/// Writes one observation into the mirror. With `force` false (feed entries) an entry never
/// replaces a tombstone and never replaces an observation modified later (a reordered or
/// duplicated feed entry must not roll a record back).
fn upsert_observation<R: CanonicalRecord>(
    tx: &Transaction<'_>,
    module: ModuleKind,
    side: Side,
    obs: &Observation<R>,
    force: bool,
) -> Result<(), StoreError> {
    let (deleted, version, modified) = match obs {
        Observation::Present(o) => (false, Some(o.version.clone()), Some(o.modified)),
        Observation::Deleted { .. } => (true, None, None),
    };
    if !force {
        let existing: Option<(bool, Option<String>)> = tx
            .query_row(
                "SELECT deleted, modified FROM observations
                 WHERE module = ?1 AND side = ?2 AND item_id = ?3",
                params![module.as_str(), side_key(side), obs.id()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((was_deleted, was_modified)) = existing {
            if was_deleted {
                return Ok(());
            }
            if let (Some(new), Some(old)) = (modified, was_modified) {
                if parse_time(&old)? > new {
                    return Ok(());
                }
            }
        }
    }
    tx.execute(
        "INSERT INTO observations (module, side, item_id, deleted, version, modified, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (module, side, item_id) DO UPDATE SET
            deleted = excluded.deleted, version = excluded.version,
            modified = excluded.modified, body = excluded.body",
        params![
            module.as_str(),
            side_key(side),
            obs.id(),
            deleted,
            version,
            modified.map(format_time),
            to_json("observation", obs)?
        ],
    )?;
    Ok(())
}

fn set_cursor(
    tx: &Transaction<'_>,
    module: ModuleKind,
    side: Side,
    cursor: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    match cursor {
        Some(value) => tx.execute(
            "INSERT INTO cursors (module, side, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (module, side) DO UPDATE SET
                value = excluded.value, updated_at = excluded.updated_at",
            params![module.as_str(), side_key(side), value, format_time(now)],
        )?,
        None => tx.execute(
            "DELETE FROM cursors WHERE module = ?1 AND side = ?2",
            params![module.as_str(), side_key(side)],
        )?,
    };
    Ok(())
}

impl Store {
    /// The module's sync settings.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn settings(&self, module: ModuleKind) -> Result<ModuleSettings, StoreError> {
        let (container_id, field_mapping, policy, first): (
            Option<String>,
            Option<String>,
            String,
            Option<String>,
        ) = self.conn.query_row(
            "SELECT container_id, field_mapping, conflict_policy, first_sync_at
             FROM module_settings WHERE module = ?1",
            params![module.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let conflict_policy = [
            ConflictPolicy::Newest,
            ConflictPolicy::CrmWins,
            ConflictPolicy::GraphWins,
            ConflictPolicy::Ask,
        ]
        .into_iter()
        .find(|p| policy_key(*p) == policy)
        .ok_or_else(|| corrupt("module_settings", format!("unknown policy {policy:?}")))?;
        Ok(ModuleSettings {
            container_id,
            field_mapping,
            conflict_policy,
            first_sync_at: first.as_deref().map(parse_time).transpose()?,
        })
    }

    /// Records (or clears) the module's Microsoft container id.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn set_container_id(&self, module: ModuleKind, id: Option<&str>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE module_settings SET container_id = ?2 WHERE module = ?1",
            params![module.as_str(), id],
        )?;
        Ok(())
    }

    /// Stores the field mapping JSON (`None`: back to the default). Validate it before.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn set_field_mapping(
        &self,
        module: ModuleKind,
        mapping_json: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE module_settings SET field_mapping = ?2 WHERE module = ?1",
            params![module.as_str(), mapping_json],
        )?;
        Ok(())
    }

    /// Sets the same-field conflict policy.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn set_conflict_policy(
        &self,
        module: ModuleKind,
        policy: ConflictPolicy,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE module_settings SET conflict_policy = ?2 WHERE module = ?1",
            params![module.as_str(), policy_key(policy)],
        )?;
        Ok(())
    }

    /// Records when the first sync of this enablement ran (`None` resets it).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn set_first_sync_at(
        &self,
        module: ModuleKind,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE module_settings SET first_sync_at = ?2 WHERE module = ?1",
            params![module.as_str(), at.map(format_time)],
        )?;
        Ok(())
    }

    /// All links of a module, by id.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn links<R: CanonicalRecord>(
        &self,
        module: ModuleKind,
    ) -> Result<Vec<Link<R>>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, crm_id, graph_id, crm_version, graph_version, base, state
             FROM links WHERE module = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![module.as_str()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        rows.map(|row| {
            let (id, crm_id, graph_id, crm_version, graph_version, base, state) = row?;
            Ok(Link {
                id: u64::try_from(id).map_err(|_| corrupt("links", format!("bad id {id}")))?,
                crm_id,
                graph_id,
                crm_version,
                graph_version,
                base: from_json("link base", &base)?,
                state: parse_state(&state)?,
            })
        })
        .collect()
    }

    /// Replaces every link of a module (re-enable: `reset_links_for_reenable`).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn replace_links<R: CanonicalRecord>(
        &mut self,
        module: ModuleKind,
        links: &[Link<R>],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM links WHERE module = ?1",
            params![module.as_str()],
        )?;
        for l in links {
            insert_link(
                &tx,
                module,
                Some(l.id),
                &LinkFields {
                    crm_id: l.crm_id.as_deref(),
                    graph_id: l.graph_id.as_deref(),
                    crm_version: l.crm_version.as_deref(),
                    graph_version: l.graph_version.as_deref(),
                    base: &l.base,
                    state: l.state,
                },
                now,
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The observation mirror of one side, in item-id order.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn observations<R: CanonicalRecord>(
        &self,
        module: ModuleKind,
        side: Side,
    ) -> Result<Vec<Observation<R>>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT body FROM observations WHERE module = ?1 AND side = ?2 ORDER BY item_id",
        )?;
        let rows = stmt.query_map(params![module.as_str(), side_key(side)], |r| {
            r.get::<_, String>(0)
        })?;
        rows.map(|b| from_json("observation", &b?)).collect()
    }

    /// The feed cursor of one side.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn cursor(&self, module: ModuleKind, side: Side) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM cursors WHERE module = ?1 AND side = ?2",
                params![module.as_str(), side_key(side)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Stores what a feed or listing returned and advances the cursor, in one transaction.
    /// With `full_listing` the side's mirror is replaced (items it no longer lists are dropped
    /// from the mirror: the planner reports linked ones as absences to confirm, never deletes).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn ingest<R: CanonicalRecord>(
        &mut self,
        module: ModuleKind,
        side: Side,
        observations: &[Observation<R>],
        full_listing: bool,
        cursor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        if full_listing {
            tx.execute(
                "DELETE FROM observations WHERE module = ?1 AND side = ?2",
                params![module.as_str(), side_key(side)],
            )?;
        }
        for obs in observations {
            upsert_observation(&tx, module, side, obs, full_listing)?;
        }
        set_cursor(&tx, module, side, cursor, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets one side of a module: its mirror and cursor (the container was removed).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn clear_side(&mut self, module: ModuleKind, side: Side) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM observations WHERE module = ?1 AND side = ?2",
            params![module.as_str(), side_key(side)],
        )?;
        tx.execute(
            "DELETE FROM cursors WHERE module = ?1 AND side = ?2",
            params![module.as_str(), side_key(side)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Drops tombstones no link refers to any more (their delete was handled).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn prune_tombstones(&self, module: ModuleKind) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM observations WHERE module = ?1 AND deleted = 1 AND NOT EXISTS (
                SELECT 1 FROM links l WHERE l.module = observations.module AND (
                    (observations.side = 'crm' AND l.crm_id = observations.item_id) OR
                    (observations.side = 'graph' AND l.graph_id = observations.item_id)))",
            params![module.as_str()],
        )?)
    }

    /// Writes the intent row of an action before its remote call.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn begin_intent<R: CanonicalRecord>(
        &self,
        module: ModuleKind,
        action: &Action<R>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO intents (module, action, created_at) VALUES (?1, ?2, ?3)",
            params![
                module.as_str(),
                to_json("intent", action)?,
                format_time(now)
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Intents left behind by a crash or a timeout, oldest first.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn pending_intents<R: CanonicalRecord>(
        &self,
        module: ModuleKind,
    ) -> Result<Vec<(i64, Action<R>)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, action FROM intents WHERE module = ?1 ORDER BY id")?;
        let rows = stmt.query_map(params![module.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (id, action) = row?;
            Ok((id, from_json("intent", &action)?))
        })
        .collect()
    }

    /// When the intent `id` was written (None when it is gone).
    ///
    /// # Errors
    /// SQLite failures or a corrupt time.
    pub fn intent_created_at(&self, id: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<String> = self
            .conn
            .query_row(
                "SELECT created_at FROM intents WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        at.as_deref().map(parse_time).transpose()
    }

    /// Removes an intent whose outcome is settled.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn drop_intent(&self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM intents WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// Records an executed action: link, mirror, journal, intent — one transaction.
    ///
    /// # Errors
    /// SQLite failures (then nothing of it is stored).
    pub fn commit_action<R: CanonicalRecord>(
        &mut self,
        c: &ActionCommit<R>,
        run_id: Option<i64>,
    ) -> Result<Option<u64>, StoreError> {
        let tx = self.conn.transaction()?;
        let module = c.module;
        let mut link_id = None;
        match &c.link_change {
            LinkChange::Save(row) => {
                let fields = LinkFields {
                    crm_id: row.crm_id.as_deref(),
                    graph_id: row.graph_id.as_deref(),
                    crm_version: row.crm_version.as_deref(),
                    graph_version: row.graph_version.as_deref(),
                    base: &row.base,
                    state: row.state,
                };
                match row.id {
                    Some(id) => {
                        let n = tx.execute(
                            "UPDATE links SET crm_id = ?2, graph_id = ?3, crm_version = ?4,
                                graph_version = ?5, base_hash = ?6, base = ?7, state = ?8,
                                updated_at = ?9
                             WHERE id = ?1",
                            params![
                                id as i64,
                                fields.crm_id,
                                fields.graph_id,
                                fields.crm_version,
                                fields.graph_version,
                                fields.base.hash().to_string(),
                                to_json("link base", fields.base)?,
                                state_key(fields.state),
                                format_time(c.now)
                            ],
                        )?;
                        if n == 0 {
                            insert_link(&tx, module, Some(id), &fields, c.now)?;
                        }
                        link_id = Some(id);
                    }
                    None => link_id = Some(insert_link(&tx, module, None, &fields, c.now)?),
                }
            }
            LinkChange::Remove(id) => {
                tx.execute("DELETE FROM links WHERE id = ?1", params![*id as i64])?;
            }
            LinkChange::MarkConflict(id) => {
                tx.execute(
                    "UPDATE links SET state = 'conflict', updated_at = ?2 WHERE id = ?1",
                    params![*id as i64, format_time(c.now)],
                )?;
                link_id = Some(*id);
            }
            LinkChange::Nothing => {}
        }
        for (side, obs) in &c.observations {
            upsert_observation(&tx, module, *side, obs, true)?;
        }
        for (side, id) in &c.forget {
            tx.execute(
                "DELETE FROM observations WHERE module = ?1 AND side = ?2 AND item_id = ?3",
                params![module.as_str(), side_key(*side), id],
            )?;
        }
        for j in &c.journal {
            tx.execute(
                "INSERT INTO journal (run_id, module, side, op, item_id, label, changed_fields,
                    before, after, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    run_id,
                    module.as_str(),
                    side_key(j.side),
                    j.op.as_str(),
                    j.item_id,
                    j.label,
                    to_json("changed fields", &j.changed_fields)?,
                    j.before,
                    j.after,
                    format_time(j.at)
                ],
            )?;
        }
        if let Some(run) = run_id {
            tx.execute(
                "UPDATE runs SET actions = actions + 1, writes = writes + ?2 WHERE id = ?1",
                params![run, c.journal.len() as i64],
            )?;
        }
        if let Some(intent) = c.intent {
            tx.execute("DELETE FROM intents WHERE id = ?1", params![intent])?;
        }
        tx.commit()?;
        Ok(link_id)
    }

    /// The journal of a module, oldest first.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn journal(&self, module: ModuleKind) -> Result<Vec<JournalEntry>, StoreError> {
        self.journal_where(module, "", i64::MAX, usize::MAX, "ASC")
    }

    /// The newest journal entries of a module (newest first), `limit` of them, older than the
    /// entry `before` when given (for paging).
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn journal_recent(
        &self,
        module: ModuleKind,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        self.journal_where(module, "", before.unwrap_or(i64::MAX), limit, "DESC")
    }

    /// One journal entry of a module.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn journal_entry(
        &self,
        module: ModuleKind,
        id: i64,
    ) -> Result<Option<JournalEntry>, StoreError> {
        Ok(self
            .journal_where(module, "AND id = ?4", id + 1, 1, "ASC")?
            .into_iter()
            .next())
    }

    fn journal_where(
        &self,
        module: ModuleKind,
        extra: &str,
        below: i64,
        limit: usize,
        order: &str,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, run_id, side, op, item_id, label, changed_fields, before, after, at,
                    restored_at, restored_as
             FROM journal WHERE module = ?1 AND id < ?2 {extra} ORDER BY id {order} LIMIT ?3"
        ))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let map = |r: &rusqlite::Row<'_>| {
            Ok((
                (
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ),
                (
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, Option<String>>(10)?,
                    r.get::<_, Option<String>>(11)?,
                ),
            ))
        };
        let rows = if extra.is_empty() {
            stmt.query_map(params![module.as_str(), below, limit], map)?
                .collect::<Result<Vec<_>, _>>()?
        } else {
            stmt.query_map(params![module.as_str(), below, limit, below - 1], map)?
                .collect::<Result<Vec<_>, _>>()?
        };
        rows.into_iter()
            .map(|row| {
                let (
                    (id, run_id, side, op, item_id, label),
                    (changed, before, after, at, restored_at, restored_as),
                ) = row;
                let op = match op.as_str() {
                    "create" => JournalOp::Create,
                    "update" => JournalOp::Update,
                    "delete" => JournalOp::Delete,
                    other => return Err(corrupt("journal", format!("unknown op {other:?}"))),
                };
                Ok(JournalEntry {
                    id,
                    run_id,
                    side: parse_side(&side)?,
                    op,
                    item_id,
                    label,
                    changed_fields: from_json("changed fields", &changed)?,
                    before,
                    after,
                    at: parse_time(&at)?,
                    restored_at: restored_at.as_deref().map(parse_time).transpose()?,
                    restored_as,
                })
            })
            .collect()
    }

    /// Records that a journalled delete was undone: the record was re-created as `new_id`.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn mark_restored(
        &self,
        journal_id: i64,
        new_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE journal SET restored_at = ?2, restored_as = ?3 WHERE id = ?1",
            params![journal_id, format_time(now), new_id],
        )?;
        Ok(())
    }

    /// Records the time of the module's last completed sync round.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn mark_synced(&self, module: ModuleKind, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE modules SET last_sync_at = ?2,
                status = CASE WHEN status IN ('paused', 'error', 'needs_sign_in') THEN 'active'
                              ELSE status END,
                status_reason = CASE WHEN status IN ('paused', 'error', 'needs_sign_in') THEN NULL
                                     ELSE status_reason END
             WHERE module = ?1",
            params![module.as_str(), format_time(now)],
        )?;
        Ok(())
    }

    /// Starts a run record.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn start_run(&self, module: ModuleKind, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO runs (module, started_at) VALUES (?1, ?2)",
            params![module.as_str(), format_time(now)],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Finishes a run record.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn finish_run(
        &self,
        run: i64,
        outcome: &str,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, outcome = ?3, detail = ?4 WHERE id = ?1",
            params![run, format_time(now), outcome, detail],
        )?;
        Ok(())
    }

    /// Records how many records failed on their own in a run.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn set_run_failures(&self, run: i64, failures: usize) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET failures = ?2 WHERE id = ?1",
            params![run, i64::try_from(failures).unwrap_or(i64::MAX)],
        )?;
        Ok(())
    }

    /// The most recent runs of a module, newest first.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn runs(&self, module: ModuleKind, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, started_at, finished_at, outcome, detail, actions, writes, failures
             FROM runs WHERE module = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![module.as_str(), limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })?;
        rows.map(|row| {
            let (id, started, finished, outcome, detail, actions, writes, failures) = row?;
            Ok(RunRecord {
                id,
                module,
                started_at: parse_time(&started)?,
                finished_at: finished.as_deref().map(parse_time).transpose()?,
                outcome,
                detail,
                actions,
                writes,
                failures,
            })
        })
        .collect()
    }
}

struct LinkFields<'a, R> {
    crm_id: Option<&'a str>,
    graph_id: Option<&'a str>,
    crm_version: Option<&'a str>,
    graph_version: Option<&'a str>,
    base: &'a R,
    state: LinkState,
}

fn insert_link<R: CanonicalRecord>(
    tx: &Transaction<'_>,
    module: ModuleKind,
    id: Option<u64>,
    f: &LinkFields<'_, R>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    tx.execute(
        "INSERT INTO links (id, module, crm_id, graph_id, crm_version, graph_version, base_hash,
            base, state, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id.map(|i| i as i64),
            module.as_str(),
            f.crm_id,
            f.graph_id,
            f.crm_version,
            f.graph_version,
            f.base.hash().to_string(),
            to_json("link base", f.base)?,
            state_key(f.state),
            format_time(now)
        ],
    )?;
    Ok(tx.last_insert_rowid() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use crmsync_core::contact::ContactRecord;
    use crmsync_core::planner::{LinkRow, Observed, Op, Reason};
    use crmsync_core::{FieldMap, FieldValue};

    const M: ModuleKind = ModuleKind::Contacts;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn rec(name: &str) -> ContactRecord {
        let mut m = FieldMap::new();
        m.insert("givenName".into(), FieldValue::Text(name.into()));
        ContactRecord::from_fields(m).unwrap()
    }

    fn present(id: &str, version: &str, modified: i64, name: &str) -> Observation<ContactRecord> {
        Observation::Present(Observed {
            id: id.into(),
            version: version.into(),
            modified: t(modified),
            record: rec(name),
            stamp: None,
            exclusion: None,
        })
    }

    #[test]
    fn settings_default_and_round_trip() {
        let store = Store::open_in_memory().unwrap();
        let s = store.settings(M).unwrap();
        assert_eq!(s, ModuleSettings::default());
        store.set_container_id(M, Some("folder")).unwrap();
        store.set_field_mapping(M, Some("{}")).unwrap();
        store.set_conflict_policy(M, ConflictPolicy::Ask).unwrap();
        store.set_first_sync_at(M, Some(t(3))).unwrap();
        let s = store.settings(M).unwrap();
        assert_eq!(s.container_id.as_deref(), Some("folder"));
        assert_eq!(s.field_mapping.as_deref(), Some("{}"));
        assert_eq!(s.conflict_policy, ConflictPolicy::Ask);
        assert_eq!(s.first_sync_at, Some(t(3)));
        assert_eq!(
            store.settings(ModuleKind::Events).unwrap(),
            ModuleSettings::default()
        );
    }

    #[test]
    fn feed_entries_never_roll_back_or_resurrect() {
        let mut store = Store::open_in_memory().unwrap();
        let feed = [
            present("a", "2", 20, "new"),
            present("a", "1", 10, "old"), // reordered: older, must not win
            present("b", "1", 10, "b"),
            Observation::Deleted { id: "b".into() },
            present("b", "1", 10, "b"), // duplicated after the delete
        ];
        store
            .ingest(M, Side::Graph, &feed, false, Some("c1"), t(1))
            .unwrap();
        let mirror = store.observations::<ContactRecord>(M, Side::Graph).unwrap();
        assert_eq!(
            mirror,
            vec![
                present("a", "2", 20, "new"),
                Observation::Deleted { id: "b".into() }
            ]
        );
        assert_eq!(store.cursor(M, Side::Graph).unwrap().as_deref(), Some("c1"));
        assert_eq!(store.cursor(M, Side::Crm).unwrap(), None);
        // A full listing replaces the mirror.
        store
            .ingest(
                M,
                Side::Graph,
                &[present("c", "1", 30, "c")],
                true,
                Some("c2"),
                t(2),
            )
            .unwrap();
        let mirror = store.observations::<ContactRecord>(M, Side::Graph).unwrap();
        assert_eq!(mirror, vec![present("c", "1", 30, "c")]);
        assert_eq!(store.cursor(M, Side::Graph).unwrap().as_deref(), Some("c2"));
    }

    fn action(op: Op<ContactRecord>) -> Action<ContactRecord> {
        Action {
            label: "Ann".into(),
            link: None,
            crm_id: Some("c1".into()),
            graph_id: None,
            crm_version: Some("1".into()),
            graph_version: None,
            op,
            reason: Reason::NewInCrm,
        }
    }

    #[test]
    fn an_action_commits_link_mirror_journal_and_intent_together() {
        let mut store = Store::open_in_memory().unwrap();
        let a = action(Op::CreateInGraph { record: rec("Ann") });
        let intent = store.begin_intent(M, &a, t(1)).unwrap();
        assert_eq!(
            store.pending_intents::<ContactRecord>(M).unwrap(),
            vec![(intent, a.clone())]
        );
        let run = store.start_run(M, t(1)).unwrap();
        let link = store
            .commit_action(
                &ActionCommit {
                    module: M,
                    intent: Some(intent),
                    link_change: LinkChange::Save(LinkRow {
                        id: None,
                        crm_id: Some("c1".into()),
                        graph_id: Some("g1".into()),
                        crm_version: Some("1".into()),
                        graph_version: Some("7".into()),
                        base: rec("Ann"),
                        state: LinkState::Active,
                    }),
                    observations: vec![(Side::Graph, present("g1", "7", 5, "Ann"))],
                    forget: vec![],
                    journal: vec![JournalEntry {
                        id: 0,
                        run_id: None,
                        side: Side::Graph,
                        op: JournalOp::Create,
                        item_id: "g1".into(),
                        label: "Ann".into(),
                        changed_fields: vec!["givenName".into()],
                        before: None,
                        after: Some("{}".into()),
                        at: t(1),
                        restored_at: None,
                        restored_as: None,
                    }],
                    now: t(1),
                },
                Some(run),
            )
            .unwrap()
            .unwrap();
        store.finish_run(run, "completed", None, t(2)).unwrap();
        assert!(store
            .pending_intents::<ContactRecord>(M)
            .unwrap()
            .is_empty());
        let links = store.links::<ContactRecord>(M).unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].id, link);
        assert_eq!(links[0].graph_version.as_deref(), Some("7"));
        assert_eq!(links[0].base, rec("Ann"));
        assert_eq!(
            store
                .observations::<ContactRecord>(M, Side::Graph)
                .unwrap()
                .len(),
            1
        );
        let journal = store.journal(M).unwrap();
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].run_id, Some(run));
        let runs = store.runs(M, 5).unwrap();
        assert_eq!((runs[0].actions, runs[0].writes), (1, 1));
        assert_eq!(runs[0].outcome.as_deref(), Some("completed"));
    }

    #[test]
    fn a_failed_commit_leaves_nothing_behind() {
        let mut store = Store::open_in_memory().unwrap();
        let a = action(Op::CreateInGraph { record: rec("Ann") });
        let intent = store.begin_intent(M, &a, t(1)).unwrap();
        let row = |id| LinkRow {
            id,
            crm_id: Some("c1".into()),
            graph_id: Some("g1".into()),
            crm_version: None,
            graph_version: None,
            base: rec("Ann"),
            state: LinkState::Active,
        };
        let commit = |change| ActionCommit {
            module: M,
            intent: Some(intent),
            link_change: change,
            observations: vec![(Side::Graph, present("g1", "1", 1, "Ann"))],
            forget: vec![],
            journal: vec![],
            now: t(1),
        };
        store
            .commit_action(&commit(LinkChange::Save(row(None))), None)
            .unwrap();
        store
            .ingest::<ContactRecord>(M, Side::Graph, &[], true, None, t(2))
            .unwrap();
        let again = store.begin_intent(M, &a, t(3)).unwrap();
        // A second link with the same CRM id violates the unique index: all or nothing.
        let mut c = commit(LinkChange::Save(row(None)));
        c.intent = Some(again);
        assert!(store.commit_action(&c, None).is_err());
        assert_eq!(store.links::<ContactRecord>(M).unwrap().len(), 1);
        assert!(store
            .observations::<ContactRecord>(M, Side::Graph)
            .unwrap()
            .is_empty());
        assert_eq!(store.pending_intents::<ContactRecord>(M).unwrap().len(), 1);
    }

    #[test]
    fn tombstones_are_pruned_once_no_link_needs_them() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .ingest::<ContactRecord>(
                M,
                Side::Crm,
                &[
                    Observation::Deleted { id: "c9".into() },
                    present("c1", "1", 1, "x"),
                ],
                false,
                None,
                t(1),
            )
            .unwrap();
        assert_eq!(store.prune_tombstones(M).unwrap(), 1);
        assert_eq!(
            store
                .observations::<ContactRecord>(M, Side::Crm)
                .unwrap()
                .len(),
            1
        );
    }
}
