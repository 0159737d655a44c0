//! Modules with their record type erased, so the worker, the desktop shell and the CLI run
//! Events, Contacts and Tasks through one interface.
//!
//! * [`Adapter`]: the two hooks a module's adapters offer the round (prepare from the module's
//!   settings; records skipped because they could not be read).
//! * [`ModuleAdapters`]: a module's CRM and Graph adapters; implements [`ModuleSync`] for any
//!   canonical record type.
//! * [`ModuleSync`]: one round, a preview (dry run), a disable — with plain, type-free results
//!   ([`RoundDigest`], [`PlanDigest`]).
//! * [`SyncRunner`]: the store and every connected module; the engine worker's
//!   [`RoundRunner`].
//! * [`connect_modules`]: builds every module's adapters for the signed-in users.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;

use crmsync_core::contact::CrmField;
use crmsync_core::planner::{Op, Plan};
use crmsync_core::{CanonicalRecord, Side};
use crmsync_engine::{
    disable_module, queued_conflicts, resolve_queued_conflict, restore_deleted, run_round_observed,
    Clock, ContainerPort, HealthRow, HealthStatus, ModuleKind, ModuleSettings, PortError,
    QueuedConflict, RecordPort, RoundOptions, RoundOutcome, RoundRunner, RoundStep, RoundSummary,
    Store, StoreError, SyncError,
};
use serde::Serialize;

use crate::{ConnectError, GraphContacts, SystemClock, ZohoContacts};

/// Hooks of a module's adapter around a round. Both have defaults.
pub trait Adapter {
    /// Called before every round with the module's stored settings (first-sync time, field
    /// mapping...). Clears what the adapter reports per round.
    ///
    /// # Errors
    /// A message for the user when the settings cannot be applied (for example a stored
    /// field mapping that no longer fits the CRM's fields); the round does not run.
    fn prepare(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        let _ = settings;
        Ok(())
    }

    /// Records the last round could not read or project: (record id, why). They are not
    /// observed (so nothing is done to them) and are shown as failing in their health.
    fn skipped(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The user's records this module never syncs by a rule of the product, beyond the
    /// planner's exclusions (recurring events): (record id, rule key). Shown as excluded in
    /// their health and counted among a preview's exclusions; never a failure.
    fn excluded(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Records that sync, with a caveat the user should see: (record id, note), for example
    /// values the other side cannot hold, kept on this side only. The note is added to the
    /// record's health, whose state stays what the round found.
    fn notes(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// For a module with an editable field mapping: the CRM fields a mapping may name, read
    /// afresh from the CRM's field metadata (so a custom field added since shows up). `None`
    /// for modules whose mapping is fixed.
    fn mapping_fields(&mut self) -> Option<Result<Vec<CrmField>, String>> {
        None
    }

    /// The CRM fields read by the other side's [`Adapter::mapping_fields`], to validate the
    /// stored mapping against.
    fn set_mapping_fields(&mut self, fields: &[CrmField]) {
        let _ = fields;
    }
}

/// Where a contact adapter's mapping comes from: the org's fields, and the stored mapping (as
/// stored, JSON) last applied. A changed stored mapping, or changed fields, are validated and
/// applied before the next round.
#[derive(Debug, Clone)]
pub(crate) struct MappingSource {
    pub(crate) crm_fields: Vec<CrmField>,
    /// `Some(stored)`: that stored mapping (`None`: the default) is applied and valid for
    /// `crm_fields`. `None`: validate again.
    applied: Option<Option<String>>,
}

impl Default for MappingSource {
    /// An adapter starts with the default mapping, validated by whoever built it.
    fn default() -> Self {
        Self {
            crm_fields: Vec::new(),
            applied: Some(None),
        }
    }
}

impl MappingSource {
    /// New field metadata: the stored mapping is validated again before the next round.
    pub(crate) fn set_fields(&mut self, fields: &[CrmField]) {
        if self.crm_fields != fields {
            self.crm_fields = fields.to_vec();
            self.applied = None;
        }
    }

    /// The mapping to use when the stored one (`stored`) or the fields changed since the last
    /// one applied; `None` when nothing changed.
    pub(crate) fn changed(
        &mut self,
        stored: Option<&str>,
    ) -> Result<Option<crmsync_core::contact::ValidatedMapping>, String> {
        if self
            .applied
            .as_ref()
            .is_some_and(|a| a.as_deref() == stored)
        {
            return Ok(None);
        }
        let mapping = match stored {
            Some(json) => serde_json::from_str::<crmsync_core::contact::ContactMapping>(json)
                .map_err(|e| format!("the stored contact field mapping cannot be read: {e}"))?,
            None => crmsync_core::contact::ContactMapping::default_mapping(),
        };
        let validated = mapping.validate(&self.crm_fields).map_err(|e| {
            format!("the contact field mapping no longer fits the CRM's Contacts fields: {e}")
        })?;
        self.applied = Some(stored.map(str::to_owned));
        Ok(Some(validated))
    }
}

impl Adapter for ZohoContacts {
    fn prepare(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.set_first_sync_at(settings.first_sync_at);
        self.clear_failures();
        if let Some(m) = self
            .mapping_source
            .changed(settings.field_mapping.as_deref())?
        {
            self.set_mapping(m);
        }
        Ok(())
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.failures().to_vec()
    }

    fn notes(&self) -> Vec<(String, String)> {
        self.limit_notes()
    }

    fn mapping_fields(&mut self) -> Option<Result<Vec<CrmField>, String>> {
        let fields = self
            .runtime()
            .block_on(crate::contact_crm_fields(self.client()))
            .map_err(|e| format!("the CRM's Contacts fields cannot be read: {e}"));
        if let Ok(f) = &fields {
            self.set_mapping_fields(f);
        }
        Some(fields)
    }

    fn set_mapping_fields(&mut self, fields: &[CrmField]) {
        self.mapping_source.set_fields(fields);
    }
}

impl Adapter for GraphContacts {
    fn prepare(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.clear_failures();
        if let Some(m) = self
            .mapping_source
            .changed(settings.field_mapping.as_deref())?
        {
            self.set_mapping(m);
        }
        Ok(())
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.failures().to_vec()
    }

    fn notes(&self) -> Vec<(String, String)> {
        self.limit_notes()
    }

    fn set_mapping_fields(&mut self, fields: &[CrmField]) {
        self.mapping_source.set_fields(fields);
    }
}

/// Why a module operation could not run.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The store, or a module that is not enabled.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The module's settings cannot be applied (see [`Adapter::prepare`]).
    #[error("{0}")]
    Setup(String),
    /// No such module is connected.
    #[error("the {0} module is not connected")]
    NotConnected(ModuleKind),
}

/// What a plan would do, counted, with the record type erased: the preview of a first sync or
/// a re-enable, and the summary of a round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanDigest {
    /// Records to copy to Microsoft 365.
    pub create_in_graph: usize,
    /// Records to create in the CRM (made in Microsoft 365).
    pub create_in_crm: usize,
    /// Records to update in Microsoft 365.
    pub update_graph: usize,
    /// Records to update in the CRM.
    pub update_crm: usize,
    /// Copies to delete from Microsoft 365.
    pub delete_in_graph: usize,
    /// Records to delete from the CRM (only with the delete checkbox on).
    pub delete_in_crm: usize,
    /// CRM records to unlink (deleted in Microsoft 365 with the checkbox off).
    pub unlink: usize,
    /// Same-field conflicts queued for the user.
    pub conflicts: usize,
    /// Pairs recorded with no write (already equal).
    pub link_only: usize,
    /// CRM records not synced, by rule (`not_owner`, `imported`, `beyond_first_sync_cap`,
    /// `awaiting_timeline`).
    pub excluded: BTreeMap<String, usize>,
    /// Set when a safety guard would pause the plan (why).
    pub pause: Option<String>,
    /// The plan as text (one line per action).
    pub text: String,
}

impl PlanDigest {
    /// Counts a plan.
    #[must_use]
    pub fn of<R: CanonicalRecord>(plan: &Plan<R>) -> Self {
        let mut d = PlanDigest {
            pause: plan.pause.as_ref().map(ToString::to_string),
            text: plan.to_string(),
            ..PlanDigest::default()
        };
        for a in &plan.actions {
            match &a.op {
                Op::CreateInGraph { .. } => d.create_in_graph += 1,
                Op::CreateInCrm { .. } => d.create_in_crm += 1,
                Op::Update { crm, graph, .. } => {
                    d.update_crm += usize::from(crm.is_some());
                    d.update_graph += usize::from(graph.is_some());
                }
                Op::SaveLink { .. } | Op::DropLink => d.link_only += 1,
                Op::DeleteInCrm { .. } => d.delete_in_crm += 1,
                Op::DeleteInGraph { .. } => d.delete_in_graph += 1,
                Op::Detach { .. } => d.unlink += 1,
                Op::QueueConflict(_) => d.conflicts += 1,
            }
        }
        for n in &plan.notes {
            if let crmsync_core::planner::NoteKind::Excluded { exclusion } = &n.kind {
                let key = serde_json::to_value(exclusion)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("{exclusion:?}"));
                *d.excluded.entry(key).or_default() += 1;
            }
        }
        d
    }

    /// Records excluded by any rule.
    #[must_use]
    pub fn excluded_total(&self) -> usize {
        self.excluded.values().sum()
    }
}

/// A record that failed on its own in a round (the others went on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedRecord {
    /// The record's label (for example the contact's name), or its id.
    pub label: String,
    /// Its CRM id, if any.
    pub crm_id: Option<String>,
    /// Its Microsoft 365 id, if any.
    pub graph_id: Option<String>,
    /// Why.
    pub error: String,
}

/// What one round did, with the record type erased.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundDigest {
    /// The run's id in the store's history.
    pub run_id: i64,
    /// How the round ended.
    pub outcome: RoundOutcome,
    /// The plan, counted (None when the round stopped before planning).
    pub plan: Option<PlanDigest>,
    /// Actions executed and committed.
    pub executed: usize,
    /// Remote writes made.
    pub writes: usize,
    /// Records that failed on their own: actions that failed, and records the adapters could
    /// not read.
    pub failures: Vec<FailedRecord>,
}

impl RoundDigest {
    /// True when the round completed and found nothing to do.
    #[must_use]
    pub fn in_sync(&self) -> bool {
        self.outcome == RoundOutcome::Completed
            && self.writes == 0
            && self.plan.as_ref().is_some_and(|p| {
                p.create_in_graph
                    + p.create_in_crm
                    + p.update_graph
                    + p.update_crm
                    + p.delete_in_graph
                    + p.delete_in_crm
                    + p.unlink
                    + p.conflicts
                    + p.link_only
                    == 0
            })
    }

    /// The worker's summary of this round.
    #[must_use]
    pub fn summary(&self) -> RoundSummary {
        match &self.outcome {
            RoundOutcome::Completed | RoundOutcome::Planned => RoundSummary::Completed {
                executed: self.executed,
                writes: self.writes,
            },
            RoundOutcome::Paused(p) => RoundSummary::Paused {
                reason: p.to_string(),
            },
            RoundOutcome::Disabled => RoundSummary::Disabled,
            RoundOutcome::Cancelled => RoundSummary::Cancelled,
            RoundOutcome::Interrupted(PortError::Throttled { retry_after_secs }) => {
                RoundSummary::Throttled {
                    retry_after_secs: *retry_after_secs,
                }
            }
            RoundOutcome::Interrupted(e) => RoundSummary::Failed {
                error: e.to_string(),
            },
        }
    }
}

/// One connected module, with its record type erased.
pub trait ModuleSync: Send {
    /// Which module.
    fn module(&self) -> ModuleKind;

    /// One sync round (or, with `opts.dry_run`, a preview that writes nothing remotely and may
    /// run before the module is enabled).
    ///
    /// # Errors
    /// [`ModuleError`]; service failures end the round with [`RoundOutcome::Interrupted`].
    fn round(
        &mut self,
        store: &mut Store,
        clock: &dyn Clock,
        opts: RoundOptions,
        cancel: &AtomicBool,
        on_step: &dyn Fn(RoundStep),
    ) -> Result<RoundDigest, ModuleError>;

    /// The CRM fields the module's field mapping may name (read afresh), or `None` when the
    /// module's mapping is fixed.
    fn mapping_fields(&mut self) -> Option<Result<Vec<CrmField>, String>>;

    /// Re-creates in the CRM a record the sync deleted there, from journal entry `journal_id`
    /// (see [`crmsync_engine::restore_deleted`]); the new CRM id. A service failure is
    /// `Ok(Err(_))`.
    ///
    /// # Errors
    /// [`ModuleError`] when the entry cannot be restored, or for local failures.
    fn restore(
        &mut self,
        store: &mut Store,
        journal_id: i64,
        clock: &dyn Clock,
    ) -> Result<Result<String, PortError>, ModuleError>;

    /// The conflicts queued for the user (policy "ask me").
    ///
    /// # Errors
    /// [`ModuleError`] for local failures.
    fn conflicts(&self, store: &Store) -> Result<Vec<QueuedConflict>, ModuleError>;

    /// Resolves a queued conflict with a choice of side per conflicting field, and writes the
    /// result where needed. A service failure is `Ok(Err(_))` (the conflict stays queued).
    ///
    /// # Errors
    /// [`ModuleError`] (no such conflict, a field without a choice, local failures).
    fn resolve_conflict(
        &mut self,
        store: &mut Store,
        link_id: u64,
        choices: &crmsync_core::planner::FieldChoices,
        clock: &dyn Clock,
    ) -> Result<Result<(), PortError>, ModuleError>;

    /// Disables the module: deletes its Microsoft 365 container and the copies in it, keeps
    /// every CRM record. A service failure is `Ok(Err(_))` and changes nothing locally.
    ///
    /// # Errors
    /// [`ModuleError`] for local failures.
    fn disable(
        &mut self,
        store: &mut Store,
        clock: &dyn Clock,
    ) -> Result<Result<(), PortError>, ModuleError>;
}

/// A module's two adapters: the CRM side `C` and the Microsoft side `G` over records `R`.
pub struct ModuleAdapters<R, C, G> {
    module: ModuleKind,
    /// The CRM side.
    pub crm: C,
    /// The Microsoft 365 side.
    pub graph: G,
    _record: std::marker::PhantomData<fn() -> R>,
}

impl<R, C, G> ModuleAdapters<R, C, G> {
    /// Pairs a module's adapters.
    #[must_use]
    pub fn new(module: ModuleKind, crm: C, graph: G) -> Self {
        Self {
            module,
            crm,
            graph,
            _record: std::marker::PhantomData,
        }
    }
}

impl<R, C, G> ModuleSync for ModuleAdapters<R, C, G>
where
    R: CanonicalRecord,
    C: RecordPort<R> + Adapter + Send,
    G: RecordPort<R> + ContainerPort + Adapter + Send,
{
    fn module(&self) -> ModuleKind {
        self.module
    }

    fn round(
        &mut self,
        store: &mut Store,
        clock: &dyn Clock,
        opts: RoundOptions,
        cancel: &AtomicBool,
        on_step: &dyn Fn(RoundStep),
    ) -> Result<RoundDigest, ModuleError> {
        let settings = store.settings(self.module).map_err(SyncError::from)?;
        self.crm.prepare(&settings).map_err(ModuleError::Setup)?;
        self.graph.prepare(&settings).map_err(ModuleError::Setup)?;
        let report = run_round_observed(
            store,
            self.module,
            &mut self.crm,
            &mut self.graph,
            clock,
            opts,
            cancel,
            on_step,
        )?;
        let mut failures: Vec<FailedRecord> = report
            .failures
            .iter()
            .map(|f| FailedRecord {
                label: f.label.clone(),
                crm_id: f.crm_id.clone(),
                graph_id: f.graph_id.clone(),
                error: f.error.to_string(),
            })
            .collect();
        let skipped: Vec<(bool, (String, String))> = self
            .crm
            .skipped()
            .into_iter()
            .map(|s| (true, s))
            .chain(self.graph.skipped().into_iter().map(|s| (false, s)))
            .collect();
        if !opts.dry_run && !skipped.is_empty() {
            let now = clock.now();
            let rows: Vec<HealthRow> = skipped
                .iter()
                .map(|(crm_side, (id, error))| HealthRow {
                    side: if *crm_side { Side::Crm } else { Side::Graph },
                    item_id: id.clone(),
                    label: id.clone(),
                    status: HealthStatus::Failing,
                    detail: Some(error.clone()),
                    updated_at: now,
                })
                .collect();
            store
                .upsert_health(self.module, &rows)
                .map_err(SyncError::from)?;
        }
        let excluded: Vec<(Side, String, String)> = (self.crm.excluded().into_iter())
            .map(|(id, rule)| (Side::Crm, id, rule))
            .chain(
                self.graph
                    .excluded()
                    .into_iter()
                    .map(|(id, rule)| (Side::Graph, id, rule)),
            )
            .collect();
        if !opts.dry_run && report.plan.is_some() && !excluded.is_empty() {
            let now = clock.now();
            let rows: Vec<HealthRow> = excluded
                .iter()
                .map(|(side, id, rule)| HealthRow {
                    side: *side,
                    item_id: id.clone(),
                    label: id.clone(),
                    status: HealthStatus::Excluded,
                    detail: Some(rule.clone()),
                    updated_at: now,
                })
                .collect();
            store
                .upsert_health(self.module, &rows)
                .map_err(SyncError::from)?;
        }
        if !opts.dry_run && report.plan.is_some() {
            let crm_notes = self
                .crm
                .notes()
                .into_iter()
                .map(|(id, n)| (Side::Crm, id, n));
            let graph_notes = self
                .graph
                .notes()
                .into_iter()
                .map(|(id, n)| (Side::Graph, id, n));
            let notes: Vec<(Side, String, String)> = crm_notes.chain(graph_notes).collect();
            add_health_notes::<R>(store, self.module, notes).map_err(SyncError::from)?;
        }
        for (side_is_crm, (id, error)) in skipped {
            failures.push(FailedRecord {
                label: id.clone(),
                crm_id: side_is_crm.then(|| id.clone()),
                graph_id: (!side_is_crm).then_some(id),
                error,
            });
        }
        Ok(RoundDigest {
            run_id: report.run_id,
            outcome: report.outcome,
            plan: report.plan.as_ref().map(|p| {
                let mut d = PlanDigest::of(p);
                for (_, _, rule) in &excluded {
                    *d.excluded.entry(rule.clone()).or_default() += 1;
                }
                d
            }),
            executed: report.executed,
            writes: report.writes,
            failures,
        })
    }

    fn mapping_fields(&mut self) -> Option<Result<Vec<CrmField>, String>> {
        let fields = self.crm.mapping_fields()?;
        if let Ok(f) = &fields {
            self.graph.set_mapping_fields(f);
        }
        Some(fields)
    }

    fn restore(
        &mut self,
        store: &mut Store,
        journal_id: i64,
        clock: &dyn Clock,
    ) -> Result<Result<String, PortError>, ModuleError> {
        Ok(restore_deleted::<R, C>(
            store,
            self.module,
            journal_id,
            &mut self.crm,
            clock,
        )?)
    }

    fn conflicts(&self, store: &Store) -> Result<Vec<QueuedConflict>, ModuleError> {
        Ok(queued_conflicts::<R>(store, self.module)?)
    }

    fn resolve_conflict(
        &mut self,
        store: &mut Store,
        link_id: u64,
        choices: &crmsync_core::planner::FieldChoices,
        clock: &dyn Clock,
    ) -> Result<Result<(), PortError>, ModuleError> {
        Ok(resolve_queued_conflict::<R, C, G>(
            store,
            self.module,
            link_id,
            choices,
            &mut self.crm,
            &mut self.graph,
            clock,
        )?)
    }

    fn disable(
        &mut self,
        store: &mut Store,
        clock: &dyn Clock,
    ) -> Result<Result<(), PortError>, ModuleError> {
        Ok(disable_module::<R, G>(
            store,
            self.module,
            &mut self.graph,
            clock,
        )?)
    }
}

/// Adds adapters' notes `(side, id, note)` to the health rows the round just stored, keeping
/// each row's state: a Microsoft item's note goes to its link's row (kept under the CRM id).
/// Excluded records, and records the round stored no row for, are left as they are.
fn add_health_notes<R: CanonicalRecord>(
    store: &mut Store,
    module: ModuleKind,
    notes: Vec<(Side, String, String)>,
) -> Result<(), StoreError> {
    if notes.is_empty() {
        return Ok(());
    }
    let crm_of: BTreeMap<String, String> = store
        .links::<R>(module)?
        .into_iter()
        .filter_map(|l| Some((l.graph_id?, l.crm_id?)))
        .collect();
    let mut rows: BTreeMap<(Side, String), HealthRow> = store
        .health(module, None, None, usize::MAX)?
        .into_iter()
        .map(|r| ((r.side, r.item_id.clone()), r))
        .collect();
    let mut noted: BTreeSet<(Side, String)> = BTreeSet::new();
    for (side, id, note) in notes {
        let key = match (side, crm_of.get(&id)) {
            (Side::Graph, Some(crm_id)) => (Side::Crm, crm_id.clone()),
            _ => (side, id),
        };
        let Some(row) = rows.get_mut(&key) else {
            continue;
        };
        if row.status == HealthStatus::Excluded {
            continue;
        }
        row.detail = Some(match row.detail.take() {
            Some(detail) => format!("{detail}; {note}"),
            None => note,
        });
        noted.insert(key);
    }
    let changed: Vec<HealthRow> = noted.iter().filter_map(|k| rows.remove(k)).collect();
    store.upsert_health(module, &changed)
}

/// The store and every connected module: runs rounds for the engine's worker, and previews
/// and disables for the shell (lock it through the worker's shared handle so they never race a
/// round).
pub struct SyncRunner {
    /// The store (its own connection; the shell may hold another one).
    pub store: Store,
    modules: BTreeMap<ModuleKind, Box<dyn ModuleSync>>,
    /// Options of scheduled rounds.
    pub options: RoundOptions,
    /// The last round of each module.
    last: BTreeMap<ModuleKind, RoundDigest>,
}

impl SyncRunner {
    /// A runner over `modules` (one per module; a later one replaces an earlier one).
    #[must_use]
    pub fn new(store: Store, modules: Vec<Box<dyn ModuleSync>>) -> Self {
        Self {
            store,
            modules: modules.into_iter().map(|m| (m.module(), m)).collect(),
            options: RoundOptions::default(),
            last: BTreeMap::new(),
        }
    }

    /// The modules that are connected.
    #[must_use]
    pub fn connected(&self) -> Vec<ModuleKind> {
        self.modules.keys().copied().collect()
    }

    /// The last round of `module` this runner ran, if any.
    #[must_use]
    pub fn last_round(&self, module: ModuleKind) -> Option<&RoundDigest> {
        self.last.get(&module)
    }

    /// One round of `module` with `opts`.
    ///
    /// # Errors
    /// [`ModuleError`].
    pub fn round(
        &mut self,
        module: ModuleKind,
        clock: &dyn Clock,
        opts: RoundOptions,
        cancel: &AtomicBool,
        on_step: &dyn Fn(RoundStep),
    ) -> Result<RoundDigest, ModuleError> {
        let m = self
            .modules
            .get_mut(&module)
            .ok_or(ModuleError::NotConnected(module))?;
        let digest = m.round(&mut self.store, clock, opts, cancel, on_step)?;
        if !opts.dry_run {
            self.last.insert(module, digest.clone());
        }
        Ok(digest)
    }

    /// The preview of what the next round of `module` would do (a dry run; nothing is written
    /// remotely, and the module need not be enabled).
    ///
    /// # Errors
    /// [`ModuleError`].
    pub fn preview(
        &mut self,
        module: ModuleKind,
        clock: &dyn Clock,
    ) -> Result<RoundDigest, ModuleError> {
        let opts = RoundOptions {
            dry_run: true,
            ..self.options
        };
        self.round(module, clock, opts, &AtomicBool::new(false), &|_| {})
    }

    /// The CRM fields `module`'s field mapping may name, read afresh from the CRM.
    ///
    /// # Errors
    /// [`ModuleError::NotConnected`]; [`ModuleError::Setup`] when the module has a fixed mapping
    /// or the CRM's metadata cannot be read.
    pub fn mapping_fields(&mut self, module: ModuleKind) -> Result<Vec<CrmField>, ModuleError> {
        let m = self
            .modules
            .get_mut(&module)
            .ok_or(ModuleError::NotConnected(module))?;
        m.mapping_fields()
            .unwrap_or_else(|| Err(format!("the {module} module has a fixed field mapping")))
            .map_err(ModuleError::Setup)
    }

    /// Restores a CRM record the sync deleted (see [`ModuleSync::restore`]).
    ///
    /// # Errors
    /// [`ModuleError`]; a service failure is `Ok(Err(_))`.
    pub fn restore(
        &mut self,
        module: ModuleKind,
        journal_id: i64,
        clock: &dyn Clock,
    ) -> Result<Result<String, PortError>, ModuleError> {
        let store = &mut self.store;
        let m = self
            .modules
            .get_mut(&module)
            .ok_or(ModuleError::NotConnected(module))?;
        m.restore(store, journal_id, clock)
    }

    /// The conflicts queued for the user in `module`.
    ///
    /// # Errors
    /// [`ModuleError`].
    pub fn conflicts(&self, module: ModuleKind) -> Result<Vec<QueuedConflict>, ModuleError> {
        let m = self
            .modules
            .get(&module)
            .ok_or(ModuleError::NotConnected(module))?;
        m.conflicts(&self.store)
    }

    /// Resolves a queued conflict (see [`ModuleSync::resolve_conflict`]).
    ///
    /// # Errors
    /// [`ModuleError`]; a service failure is `Ok(Err(_))`.
    pub fn resolve_conflict(
        &mut self,
        module: ModuleKind,
        link_id: u64,
        choices: &crmsync_core::planner::FieldChoices,
        clock: &dyn Clock,
    ) -> Result<Result<(), PortError>, ModuleError> {
        let store = &mut self.store;
        let m = self
            .modules
            .get_mut(&module)
            .ok_or(ModuleError::NotConnected(module))?;
        m.resolve_conflict(store, link_id, choices, clock)
    }

    /// Disables `module` (see [`ModuleSync::disable`]).
    ///
    /// # Errors
    /// [`ModuleError`]; a service failure is `Ok(Err(_))`.
    pub fn disable(
        &mut self,
        module: ModuleKind,
        clock: &dyn Clock,
    ) -> Result<Result<(), PortError>, ModuleError> {
        let store = &mut self.store;
        let m = self
            .modules
            .get_mut(&module)
            .ok_or(ModuleError::NotConnected(module))?;
        let r = m.disable(store, clock)?;
        if r.is_ok() {
            self.last.remove(&module);
        }
        Ok(r)
    }

    /// Whether `module` is connected (has adapters).
    #[must_use]
    pub fn is_connected(&self, module: ModuleKind) -> bool {
        self.modules.contains_key(&module)
    }
}

impl RoundRunner for SyncRunner {
    fn enabled_modules(&mut self) -> Vec<ModuleKind> {
        self.store
            .modules()
            .map(|ms| {
                ms.into_iter()
                    .filter(|m| m.enabled)
                    .map(|m| m.module)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn run(
        &mut self,
        module: ModuleKind,
        cancel: &AtomicBool,
        on_step: &dyn Fn(RoundStep),
    ) -> RoundSummary {
        let opts = self.options;
        match self.round(module, &SystemClock, opts, cancel, on_step) {
            Ok(d) => d.summary(),
            Err(e) => RoundSummary::Failed {
                error: e.to_string(),
            },
        }
    }
}

/// Builds every module's adapters for the signed-in users (reads the CRM user and the org's
/// field metadata once). `rt` runs the clients' futures for the blocking adapters.
///
/// # Errors
/// [`ConnectError`] when the CRM user or the field metadata cannot be read.
pub async fn connect_modules(
    graph: crmsync_graph::GraphClient,
    zoho: crmsync_zoho::ZohoClient,
    rt: tokio::runtime::Handle,
) -> Result<Vec<Box<dyn ModuleSync>>, ConnectError> {
    let me = zoho.current_user().await?;
    let mut modules: Vec<Box<dyn ModuleSync>> = Vec::new();

    // Contacts: the default mapping, replaced by the stored one at each round (prepare).
    let crm_fields = crate::contact_crm_fields(&zoho).await?;
    let mapping = crate::validate_contact_mapping(
        &crmsync_core::contact::ContactMapping::default_mapping(),
        &crm_fields,
    )?;
    let mut crm = ZohoContacts::new(zoho.clone(), rt.clone(), mapping.clone(), me.id.clone());
    crm.set_crm_fields(crm_fields.clone());
    let mut graph_contacts = GraphContacts::new(graph.clone(), rt.clone(), mapping);
    graph_contacts.set_crm_fields(crm_fields);
    modules.push(Box::new(ModuleAdapters::new(
        ModuleKind::Contacts,
        crm,
        graph_contacts,
    )));

    // Events: CRM Events ⇄ the "Zoho CRM" calendar.
    let (crm_events, graph_events) =
        crate::events::events_adapters(graph.clone(), zoho.clone(), rt.clone(), &me);
    modules.push(Box::new(ModuleAdapters::new(
        ModuleKind::Events,
        crm_events,
        graph_events,
    )));

    // Tasks: CRM Tasks ⇄ the "Zoho CRM Tasks" To Do list.
    let (crm_tasks, graph_tasks) =
        crate::tasks::tasks_adapters(graph.clone(), zoho.clone(), rt.clone(), &me).await?;
    modules.push(Box::new(ModuleAdapters::new(
        ModuleKind::Tasks,
        crm_tasks,
        graph_tasks,
    )));

    // Events and Tasks plug in here, one arm each.

    Ok(modules)
}
