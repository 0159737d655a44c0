//! One sync round of a module: resolve pending intents, ingest both sides' changes, plan with
//! the pure planner, then execute the actions one at a time (intent row → remote call → one
//! transaction with the link, the observation mirror and the journal).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crmsync_core::planner::{
    plan, reset_links_for_reenable, Action, GuardSettings, Observation, Observed, Op, Pause, Plan,
    PlanInput, PlanSettings, WriteOutcome,
};
use crmsync_core::policy::{ContainerStatus, DeletePropagation};
use crmsync_core::{CanonicalRecord, Side};

use crate::module::{ModuleKind, ModuleStatus};
use crate::ports::{Changes, Clock, ContainerPort, PortError, RecordPort, Written};
use crate::state::{ActionCommit, JournalEntry, JournalOp};
use crate::store::{Store, StoreError};

/// Why a round could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the {0} module is not enabled")]
    NotEnabled(ModuleKind),
    #[error("an executed action has no created id: {0}")]
    Outcome(#[from] crmsync_core::planner::MissingCreatedId),
    #[error("link {0} has no queued conflict (or one of its records is no longer observed)")]
    NoConflict(u64),
    #[error("cannot resolve the conflict: {0}")]
    Resolve(#[from] crmsync_core::planner::ResolveError),
    #[error("cannot restore: {0}")]
    Restore(#[from] crate::undo::RestoreRefused),
}

/// At most this many creates in Microsoft 365 go out as one group
/// ([`RecordPort::create_many`]): enough to keep the mailbox's 4 requests in flight busy,
/// few enough that a round interrupted mid-group leaves little to settle.
const CREATE_GROUP: usize = 16;

/// What became of one action of a group before it is recorded.
enum GroupAnswer {
    /// Not part of a group: [`execute`] makes its remote call(s).
    Alone,
    /// A create of the group, with its answer.
    Sent(Result<Written, PortError>),
    /// A create of the group that was not sent (after a service-level failure).
    NotSent,
}

/// Options of one round.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundOptions {
    /// Plan only: ingest the changes and return the plan, write nothing remotely.
    pub dry_run: bool,
    /// The user confirmed the deletes of a paused plan.
    pub deletes_confirmed: bool,
    /// Guard thresholds.
    pub guards: GuardSettings,
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RoundOutcome {
    /// All planned actions ran (some records may have failed on their own; see `failures`).
    Completed,
    /// A dry run: nothing was executed.
    Planned,
    /// A safety guard tripped; the module is paused until the user confirms.
    Paused(Pause),
    /// The Microsoft container was deleted by the user: the module is disabled, nothing was
    /// deleted in the CRM.
    Disabled,
    /// A service-level error stopped the round; the next round resumes.
    Interrupted(PortError),
    /// Cancelled between two actions; the next round resumes.
    Cancelled,
}

/// Where a round is, for progress bars. Sent through the `on_step` callback of
/// [`run_round_observed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum RoundStep {
    /// Reading one side's changes (a feed, or a full listing).
    Observing { side: Side },
    /// The plan is made: this many actions to run.
    Planned { actions: usize },
    /// `done` of `total` actions have run (committed or failed on their own).
    Executed { done: usize, total: usize },
}

/// A record that failed on its own; the round went on with the others.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFailure {
    pub label: String,
    pub crm_id: Option<String>,
    pub graph_id: Option<String>,
    pub error: PortError,
}

/// What a round did.
#[derive(Debug, Clone)]
pub struct RoundReport<R> {
    pub run_id: i64,
    pub outcome: RoundOutcome,
    /// The plan (the dry-run preview; `Display` prints it).
    pub plan: Option<Plan<R>>,
    /// Actions executed and committed.
    pub executed: usize,
    /// Remote writes made.
    pub writes: usize,
    pub failures: Vec<RecordFailure>,
}

type Mirror<R> = BTreeMap<String, Observation<R>>;

/// Runs one sync round of `module`.
///
/// # Errors
/// [`SyncError`] for local failures (the store) or a module that is not enabled; service
/// failures end the round with [`RoundOutcome::Interrupted`] instead.
pub fn run_round<R, C, G>(
    store: &mut Store,
    module: ModuleKind,
    crm: &mut C,
    graph: &mut G,
    clock: &dyn Clock,
    opts: RoundOptions,
) -> Result<RoundReport<R>, SyncError>
where
    R: CanonicalRecord,
    C: RecordPort<R>,
    G: RecordPort<R> + ContainerPort,
{
    run_round_cancellable(
        store,
        module,
        crm,
        graph,
        clock,
        opts,
        &AtomicBool::new(false),
    )
}

/// [`run_round`] that stops between two actions once `cancel` is set (each executed action
/// stays committed; the rest is re-planned next round).
///
/// # Errors
/// As [`run_round`].
pub fn run_round_cancellable<R, C, G>(
    store: &mut Store,
    module: ModuleKind,
    crm: &mut C,
    graph: &mut G,
    clock: &dyn Clock,
    opts: RoundOptions,
    cancel: &AtomicBool,
) -> Result<RoundReport<R>, SyncError>
where
    R: CanonicalRecord,
    C: RecordPort<R>,
    G: RecordPort<R> + ContainerPort,
{
    run_round_observed(store, module, crm, graph, clock, opts, cancel, &|_| {})
}

/// [`run_round_cancellable`] that reports its progress through `on_step`.
///
/// A dry run (`opts.dry_run`) may run on a module that is not enabled yet: that is the preview
/// of a first sync or a re-enable. It writes nothing remotely: when the module has no
/// Microsoft container yet, an existing one (created by an earlier enable) is looked up but none
/// is created, and without one the Microsoft side is planned as empty.
///
/// # Errors
/// As [`run_round`].
// The round's context is passed as is; a struct would only rename the same values.
#[allow(clippy::too_many_arguments)]
pub fn run_round_observed<R, C, G>(
    store: &mut Store,
    module: ModuleKind,
    crm: &mut C,
    graph: &mut G,
    clock: &dyn Clock,
    opts: RoundOptions,
    cancel: &AtomicBool,
    on_step: &dyn Fn(RoundStep),
) -> Result<RoundReport<R>, SyncError>
where
    R: CanonicalRecord,
    C: RecordPort<R>,
    G: RecordPort<R> + ContainerPort,
{
    let state = store.module(module)?;
    if !state.enabled && !opts.dry_run {
        return Err(SyncError::NotEnabled(module));
    }
    let _sync = store.exclusive()?;
    let run_id = store.start_run(module, clock.now())?;
    let mut report = RoundReport {
        run_id,
        outcome: RoundOutcome::Completed,
        plan: None,
        executed: 0,
        writes: 0,
        failures: Vec::new(),
    };
    let result = round(
        store,
        module,
        crm,
        graph,
        clock,
        opts,
        cancel,
        on_step,
        &mut report,
    );
    let (outcome, detail) = match &result {
        Err(e) => ("failed", Some(e.to_string())),
        Ok(()) => match &report.outcome {
            RoundOutcome::Completed => ("completed", None),
            RoundOutcome::Planned => ("planned", None),
            RoundOutcome::Paused(p) => ("paused", Some(p.to_string())),
            RoundOutcome::Disabled => ("disabled", None),
            RoundOutcome::Cancelled => ("cancelled", None),
            RoundOutcome::Interrupted(e) => (
                if matches!(e, PortError::Throttled { .. }) {
                    "throttled"
                } else {
                    "interrupted"
                },
                Some(e.to_string()),
            ),
        },
    };
    if let Ok(()) = &result {
        if report.outcome == RoundOutcome::Interrupted(PortError::NeedsSignIn) {
            store.set_status(module, true, &ModuleStatus::NeedsSignIn, clock.now())?;
        }
    }
    store.finish_run(run_id, outcome, detail.as_deref(), clock.now())?;
    if result.is_ok() && !opts.dry_run && report.plan.is_some() {
        store.set_run_failures(run_id, report.failures.len())?;
        let rows = crate::health::compute(store, module, &report, clock.now())?;
        store.replace_health(module, &rows)?;
    }
    result.map(|()| report)
}

// The round's context is passed as is from `run_round_observed`; a struct would only
// rename the same values.
#[allow(clippy::too_many_arguments)]
fn round<R, C, G>(
    store: &mut Store,
    module: ModuleKind,
    crm: &mut C,
    graph: &mut G,
    clock: &dyn Clock,
    opts: RoundOptions,
    cancel: &AtomicBool,
    on_step: &dyn Fn(RoundStep),
    report: &mut RoundReport<R>,
) -> Result<(), SyncError>
where
    R: CanonicalRecord,
    C: RecordPort<R>,
    G: RecordPort<R> + ContainerPort,
{
    macro_rules! remote {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => {
                    report.outcome = RoundOutcome::Interrupted(e);
                    return Ok(());
                }
            }
        };
    }
    let state = store.module(module)?;
    let settings = store.settings(module)?;

    // The container: find or create it on a fresh enable; a vanished one disables the module.
    // A preview (dry run) before the first round creates nothing: it looks an earlier container
    // up, and plans the Microsoft side as empty without one.
    // A known container is not checked up front: its feed is read first (an idle poll costs
    // that one request), and only a feed answering "not found" has the container checked. Gone:
    // the module is disabled; still there: the 404 was about something else, the round stops.
    let mut fresh_links = false;
    let mut graph_absent = false;
    let mut graph_read: Option<(Changes<R>, bool)> = None;
    let container = match settings.container_id.as_deref() {
        None if opts.dry_run => {
            store.clear_side(module, Side::Graph)?;
            match remote!(graph.find_container()) {
                Some(id) => graph.select_container(&id),
                None => graph_absent = true,
            }
            fresh_links = true;
            ContainerStatus::Present
        }
        Some(id) => {
            graph.select_container(id);
            on_step(RoundStep::Observing { side: Side::Graph });
            let cursor = store.cursor(module, Side::Graph)?;
            match read_side(graph, cursor.as_deref()) {
                Ok(read) => {
                    graph_read = Some(read);
                    ContainerStatus::Present
                }
                Err(e @ (PortError::NotFound | PortError::ContainerGone)) => {
                    if remote!(graph.container_exists(id)) {
                        report.outcome = RoundOutcome::Interrupted(e);
                        return Ok(());
                    }
                    ContainerStatus::Deleted
                }
                Err(e) => {
                    report.outcome = RoundOutcome::Interrupted(e);
                    return Ok(());
                }
            }
        }
        None => {
            let id = match remote!(graph.find_container()) {
                Some(id) => id,
                None => remote!(graph.create_container()),
            };
            // A new container holds none of the old copies: keep the CRM side of every link
            // so each record is created again, and forget the old Graph side.
            let links = reset_links_for_reenable(store.links::<R>(module)?);
            store.replace_links(module, &links, clock.now())?;
            store.clear_side(module, Side::Graph)?;
            store.set_container_id(module, Some(&id))?;
            graph.select_container(&id);
            ContainerStatus::Present
        }
    };
    if container == ContainerStatus::Deleted {
        // Nothing is deleted in the CRM; links stay for a clean re-enable.
        store.set_container_id(module, None)?;
        store.set_first_sync_at(module, None)?;
        store.clear_side(module, Side::Graph)?;
        store.set_status(module, false, &ModuleStatus::Inactive, clock.now())?;
        store.replace_health(module, &[])?;
        report.outcome = RoundOutcome::Disabled;
        return Ok(());
    }

    // Intents left by a crash or a timeout: a create that landed is found by its stamp and
    // recorded; anything else is re-planned from fresh observations.
    for (intent, action) in store.pending_intents::<R>(module)? {
        let since = store
            .intent_created_at(intent)?
            .unwrap_or_else(|| clock.now());
        let found = match (&action.op, &action.crm_id, &action.graph_id) {
            (Op::CreateInGraph { record }, Some(crm_id), _) => {
                remote!(graph.find_created(crm_id, record, since))
                    .map(|o| (Side::Graph, o, record.clone()))
            }
            (Op::CreateInCrm { record }, _, Some(graph_id)) => {
                remote!(crm.find_created(graph_id, record, since))
                    .map(|o| (Side::Crm, o, record.clone()))
            }
            _ => None,
        };
        let Some((side, observed, record)) = found else {
            store.drop_intent(intent)?;
            continue;
        };
        let mut outcome = WriteOutcome::default();
        match side {
            Side::Graph => {
                outcome.new_graph_id = Some(observed.id.clone());
                outcome.graph_version = Some(observed.version.clone());
            }
            Side::Crm => {
                outcome.new_crm_id = Some(observed.id.clone());
                outcome.crm_version = Some(observed.version.clone());
            }
        }
        if observed.record != record {
            // Edited since it was created: keep the created record as the base but not the
            // version, so the planner sees the edit and merges it next.
            outcome.crm_version = None;
            outcome.graph_version = None;
        }
        let link_change = action.link_change(&outcome)?;
        let journal = vec![JournalEntry {
            id: 0,
            run_id: Some(report.run_id),
            side,
            op: JournalOp::Create,
            item_id: observed.id.clone(),
            label: action.label.clone(),
            changed_fields: record.fields().keys().cloned().collect(),
            before: None,
            after: Some(json(&record)),
            at: clock.now(),
            restored_at: None,
            restored_as: None,
        }];
        store.commit_action(
            &ActionCommit {
                module,
                intent: Some(intent),
                link_change,
                observations: vec![(side, Observation::Present(observed))],
                forget: Vec::new(),
                journal,
                now: clock.now(),
            },
            Some(report.run_id),
        )?;
    }

    // Ingest both sides: the feed since the cursor, or a full listing (first sync, or an
    // expired cursor: re-listed and re-matched by the planner, never mass-deleted).
    let mut complete = [false, false];
    for (i, side) in [Side::Crm, Side::Graph].into_iter().enumerate() {
        if side == Side::Graph && graph_absent {
            complete[i] = true;
            continue;
        }
        // The Graph side of a known container was read with the container step, before the
        // pending intents: stored only now, it never rolls back what an intent found since (the
        // mirror keeps the newer modification time).
        let pre_read = if side == Side::Graph {
            graph_read.take()
        } else {
            None
        };
        let (mut changes, full) = match pre_read {
            Some(read) => read,
            None => {
                on_step(RoundStep::Observing { side });
                let port: &mut dyn RecordPort<R> = match side {
                    Side::Crm => crm,
                    Side::Graph => graph,
                };
                let cursor = store.cursor(module, side)?;
                remote!(read_side(port, cursor.as_deref()))
            }
        };
        if side == Side::Crm && !full {
            keep_deferred(store, module, &mut changes.observations)?;
        }
        store.ingest(
            module,
            side,
            &changes.observations,
            full,
            Some(&changes.cursor),
            clock.now(),
        )?;
        complete[i] = full;
    }

    let plan_settings = PlanSettings {
        conflict_policy: settings.conflict_policy,
        delete_propagation: if state.delete_propagation {
            DeletePropagation::On
        } else {
            DeletePropagation::Off
        },
        guards: opts.guards,
        container,
        deletes_confirmed: opts.deletes_confirmed,
    };
    let mut confirmed = false;
    let (the_plan, crm_mirror, graph_mirror) = loop {
        let crm_mirror: Vec<Observation<R>> = store.observations(module, Side::Crm)?;
        let graph_mirror: Vec<Observation<R>> = store.observations(module, Side::Graph)?;
        let links = if fresh_links {
            reset_links_for_reenable(store.links::<R>(module)?)
        } else {
            store.links::<R>(module)?
        };
        let input = PlanInput {
            links,
            crm: crm_mirror.clone(),
            graph: graph_mirror.clone(),
            crm_complete: complete[0] && !confirmed,
            graph_complete: complete[1] && !confirmed,
            settings: plan_settings,
        };
        let the_plan = plan(&input);
        report.plan = Some(the_plan.clone());
        let still_paused = matches!(state.status, ModuleStatus::Paused(_))
            && !opts.deletes_confirmed
            && the_plan.deletes() > 0;
        // A guard pause holds while the plan still deletes, until the user confirms.
        let sticky = still_paused.then(|| Pause::TooManyDeletes {
            deletes: the_plan.deletes(),
            links: input.links.len(),
        });
        if let Some(pause) = the_plan.pause.clone().or(sticky) {
            if !opts.dry_run {
                store.set_status(
                    module,
                    true,
                    &ModuleStatus::Paused(pause.to_string()),
                    clock.now(),
                )?;
            }
            report.outcome = RoundOutcome::Paused(pause);
            return Ok(());
        }
        if confirmed {
            break (the_plan, crm_mirror, graph_mirror);
        }
        // Linked items the mirror lost (a full listing did not return them, possibly in an
        // earlier, interrupted round): confirm each by id (404 → deleted), then re-plan.
        // Never inferred from a listing alone.
        let missing = missing_linked(&input);
        if missing.is_empty() {
            break (the_plan, crm_mirror, graph_mirror);
        }
        for (side, id) in missing {
            let port: &mut dyn RecordPort<R> = match side {
                Side::Crm => crm,
                Side::Graph => graph,
            };
            let obs = match remote!(port.get(&id)) {
                Some(o) => Observation::Present(o),
                None => Observation::Deleted { id },
            };
            store.ingest(
                module,
                side,
                &[obs],
                false,
                store.cursor(module, side)?.as_deref(),
                clock.now(),
            )?;
        }
        confirmed = true;
    };

    if opts.dry_run {
        report.outcome = RoundOutcome::Planned;
        return Ok(());
    }

    let mirrors = [index(crm_mirror), index(graph_mirror)];
    let total = the_plan.actions.len();
    on_step(RoundStep::Planned { actions: total });
    let mut next = 0;
    while next < total {
        if next > 0 {
            on_step(RoundStep::Executed { done: next, total });
        }
        if cancel.load(Ordering::Relaxed) {
            report.outcome = RoundOutcome::Cancelled;
            return Ok(());
        }
        // A run of creates in Microsoft 365 goes out as one group (the Graph side sends them in
        // parallel within the mailbox's limits); every other action goes alone. Each still has
        // its own intent, written before the group goes out, and its own transaction after.
        let creates = the_plan.actions[next..]
            .iter()
            .take(CREATE_GROUP)
            .take_while(|a| matches!(a.op, Op::CreateInGraph { .. }))
            .count();
        let group = &the_plan.actions[next..next + creates.max(1)];
        next += group.len();
        let intents = group
            .iter()
            .map(|a| store.begin_intent(module, a, clock.now()))
            .collect::<Result<Vec<_>, _>>()?;
        let answers: Vec<GroupAnswer> = if creates > 1 {
            let items: Vec<(&R, Option<&str>)> = group
                .iter()
                .filter_map(|a| match &a.op {
                    Op::CreateInGraph { record } => Some((record, a.crm_id.as_deref())),
                    _ => None,
                })
                .collect();
            let mut answers = graph.create_many(&items);
            answers.resize_with(group.len(), || None);
            answers
                .into_iter()
                .map(|a| a.map_or(GroupAnswer::NotSent, GroupAnswer::Sent))
                .collect()
        } else {
            vec![GroupAnswer::Alone]
        };
        let mut interrupted = None;
        for ((action, intent), answer) in group.iter().zip(intents).zip(answers) {
            let mut exec = Executed {
                observations: Vec::new(),
                forget: Vec::new(),
                journal: Vec::new(),
            };
            let result = match answer {
                // Not sent (the group stopped at a service-level failure): nothing to settle.
                GroupAnswer::NotSent => {
                    store.drop_intent(intent)?;
                    continue;
                }
                GroupAnswer::Sent(Err(e)) => Err(e),
                GroupAnswer::Sent(Ok(w)) => {
                    execute(action, crm, graph, &mirrors, clock, &mut exec, Some(w))
                }
                GroupAnswer::Alone => execute(action, crm, graph, &mirrors, clock, &mut exec, None),
            };
            let writes = exec.journal.len();
            match result {
                Ok(outcome) => {
                    let link_change = action.link_change(&outcome)?;
                    store.commit_action(
                        &ActionCommit {
                            module,
                            intent: Some(intent),
                            link_change,
                            observations: exec.observations,
                            forget: exec.forget,
                            journal: stamp_run(exec.journal, report.run_id),
                            now: clock.now(),
                        },
                        Some(report.run_id),
                    )?;
                    report.executed += 1;
                    report.writes += writes;
                }
                Err(error) => {
                    // Record what did land (the first write of a two-sided update) without
                    // touching the link; the next round re-plans from it.
                    if writes > 0 {
                        store.commit_action(
                            &ActionCommit {
                                module,
                                intent: None,
                                link_change: crmsync_core::planner::LinkChange::Nothing,
                                observations: exec.observations,
                                forget: Vec::new(),
                                journal: stamp_run(exec.journal, report.run_id),
                                now: clock.now(),
                            },
                            Some(report.run_id),
                        )?;
                        report.writes += writes;
                    }
                    if error.is_service_level() {
                        // The intent stays: its outcome is resolved at the start of the next round.
                        // The rest of the group's answers are recorded first.
                        interrupted.get_or_insert(error);
                        continue;
                    }
                    store.drop_intent(intent)?;
                    // The record changed or vanished under us: refresh it for the next round.
                    if matches!(error, PortError::PreconditionFailed | PortError::NotFound) {
                        for (side, id) in [
                            (Side::Crm, action.crm_id.as_deref()),
                            (Side::Graph, action.graph_id.as_deref()),
                        ] {
                            let Some(id) = id else { continue };
                            let port: &mut dyn RecordPort<R> = match side {
                                Side::Crm => crm,
                                Side::Graph => graph,
                            };
                            let obs = match remote!(port.get(id)) {
                                Some(o) => Observation::Present(o),
                                None => Observation::Deleted { id: id.to_owned() },
                            };
                            store.ingest(
                                module,
                                side,
                                &[obs],
                                false,
                                store.cursor(module, side)?.as_deref(),
                                clock.now(),
                            )?;
                        }
                    }
                    report.failures.push(RecordFailure {
                        label: action.label.clone(),
                        crm_id: action.crm_id.clone(),
                        graph_id: action.graph_id.clone(),
                        error,
                    });
                }
            }
        }
        if let Some(error) = interrupted {
            report.outcome = RoundOutcome::Interrupted(error);
            return Ok(());
        }
    }
    on_step(RoundStep::Executed { done: total, total });
    store.prune_tombstones(module)?;
    if settings.first_sync_at.is_none() {
        // The first-sync cap applies until here; adapters use it for `deferred_now_eligible`.
        store.set_first_sync_at(module, Some(clock.now()))?;
    }
    store.mark_synced(module, clock.now())?;
    Ok(())
}

/// One side's changes: the feed since `cursor`, or a full listing (`true`) without a cursor or
/// when the feed expired (410: re-listed and re-matched by the planner, never mass-deleted).
fn read_side<R>(
    port: &mut (impl RecordPort<R> + ?Sized),
    cursor: Option<&str>,
) -> Result<(Changes<R>, bool), PortError> {
    if let Some(c) = cursor {
        match port.changes_since(c) {
            Ok(ch) => return Ok((ch, false)),
            Err(PortError::CursorExpired) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((port.list_all()?, true))
}

/// A CRM record the first-sync cap deferred stays deferred until it changes: a feed that
/// reads it again unchanged (same version; Zoho re-reads its watermark's second) does not
/// bring it in just because the feed does not apply the cap.
fn keep_deferred<R: CanonicalRecord>(
    store: &Store,
    module: ModuleKind,
    observations: &mut [Observation<R>],
) -> Result<(), StoreError> {
    use crmsync_core::policy::Exclusion;
    let unexcluded =
        |o: &Observation<R>| matches!(o, Observation::Present(p) if p.exclusion.is_none());
    if !observations.iter().any(unexcluded) {
        return Ok(());
    }
    let deferred: BTreeMap<String, String> = store
        .observations::<R>(module, Side::Crm)?
        .into_iter()
        .filter_map(|o| match o {
            Observation::Present(p) if p.exclusion == Some(Exclusion::BeyondFirstSyncCap) => {
                Some((p.id, p.version))
            }
            _ => None,
        })
        .collect();
    for o in observations.iter_mut() {
        if let Observation::Present(p) = o {
            if p.exclusion.is_none() && deferred.get(&p.id) == Some(&p.version) {
                p.exclusion = Some(Exclusion::BeyondFirstSyncCap);
            }
        }
    }
    Ok(())
}

/// Linked ids with no observation at all on their side (neither present nor deleted).
fn missing_linked<R: CanonicalRecord>(input: &PlanInput<R>) -> Vec<(Side, String)> {
    let crm: std::collections::BTreeSet<&str> = input.crm.iter().map(Observation::id).collect();
    let graph: std::collections::BTreeSet<&str> = input.graph.iter().map(Observation::id).collect();
    let mut out = Vec::new();
    for l in &input.links {
        if let Some(id) = l.crm_id.as_deref() {
            if !crm.contains(id) {
                out.push((Side::Crm, id.to_owned()));
            }
        }
        if let Some(id) = l.graph_id.as_deref() {
            if !graph.contains(id) {
                out.push((Side::Graph, id.to_owned()));
            }
        }
    }
    out
}

/// Resolves a conflict queued under the "ask" policy with the user's per-field choices, and
/// writes the result to the sides that need it (intent → remote calls → one transaction).
///
/// # Errors
/// [`SyncError::NoConflict`], [`SyncError::Resolve`] (a conflicting field without a choice),
/// store failures. A service failure is returned as `Ok(Err(_))`: the conflict stays queued
/// (a stale version means the record changed; the next round re-plans it).
pub fn resolve_queued_conflict<R, C, G>(
    store: &mut Store,
    module: ModuleKind,
    link_id: u64,
    choices: &crmsync_core::planner::FieldChoices,
    crm: &mut C,
    graph: &mut G,
    clock: &dyn Clock,
) -> Result<Result<(), PortError>, SyncError>
where
    R: CanonicalRecord,
    C: RecordPort<R>,
    G: RecordPort<R> + ContainerPort,
{
    let link = store
        .links::<R>(module)?
        .into_iter()
        .find(|l| l.id == link_id && l.state == crmsync_core::planner::LinkState::Conflict)
        .ok_or(SyncError::NoConflict(link_id))?;
    let mirrors = [
        index(store.observations::<R>(module, Side::Crm)?),
        index(store.observations::<R>(module, Side::Graph)?),
    ];
    let (Some(crm_id), Some(graph_id)) = (link.crm_id.as_deref(), link.graph_id.as_deref()) else {
        return Err(SyncError::NoConflict(link_id));
    };
    let (Some(crm_now), Some(graph_now)) = (
        mirror_record(&mirrors, Side::Crm, crm_id),
        mirror_record(&mirrors, Side::Graph, graph_id),
    ) else {
        return Err(SyncError::NoConflict(link_id));
    };
    let op = crmsync_core::planner::resolve_conflict(&link.base, crm_now, graph_now, choices)?;
    let action = Action {
        label: link.base.label(),
        link: Some(link.id),
        crm_id: link.crm_id.clone(),
        graph_id: link.graph_id.clone(),
        crm_version: Some(crm_now.version.clone()),
        graph_version: Some(graph_now.version.clone()),
        op,
        reason: crmsync_core::planner::Reason::ChangedOnBoth,
    };
    if let Some(container) = store.settings(module)?.container_id {
        graph.select_container(&container);
    }
    let intent = store.begin_intent(module, &action, clock.now())?;
    let mut exec = Executed {
        observations: Vec::new(),
        forget: Vec::new(),
        journal: Vec::new(),
    };
    match execute(&action, crm, graph, &mirrors, clock, &mut exec, None) {
        Ok(outcome) => {
            let link_change = action.link_change(&outcome)?;
            store.commit_action(
                &ActionCommit {
                    module,
                    intent: Some(intent),
                    link_change,
                    observations: exec.observations,
                    forget: exec.forget,
                    journal: exec.journal,
                    now: clock.now(),
                },
                None,
            )?;
            Ok(Ok(()))
        }
        Err(e) => {
            if exec.journal.is_empty() {
                // Nothing landed for sure; a timeout's intent is settled by the next round.
                if !e.is_service_level() {
                    store.drop_intent(intent)?;
                }
            } else {
                // The first write of a two-sided update landed: record it, keep the conflict.
                store.commit_action(
                    &ActionCommit {
                        module,
                        intent: Some(intent),
                        link_change: crmsync_core::planner::LinkChange::Nothing,
                        observations: exec.observations,
                        forget: Vec::new(),
                        journal: exec.journal,
                        now: clock.now(),
                    },
                    None,
                )?;
            }
            Ok(Err(e))
        }
    }
}

/// Disables a module: deletes its Microsoft container (and the copies in it), keeps every
/// CRM record, and keeps the links' CRM side so a re-enable recreates the copies cleanly.
///
/// # Errors
/// [`SyncError::Store`]; a service failure is returned as `Ok(Err(_))` and changes nothing
/// locally, so the user can retry.
pub fn disable_module<R, G>(
    store: &mut Store,
    module: ModuleKind,
    graph: &mut G,
    clock: &dyn Clock,
) -> Result<Result<(), PortError>, SyncError>
where
    R: CanonicalRecord,
    G: ContainerPort,
{
    let _sync = store.exclusive()?;
    if let Some(id) = store.settings(module)?.container_id {
        match graph.delete_container(&id) {
            Ok(()) | Err(PortError::NotFound) => {}
            Err(e) => return Ok(Err(e)),
        }
    }
    store.set_container_id(module, None)?;
    store.set_first_sync_at(module, None)?;
    store.clear_side(module, Side::Graph)?;
    store.replace_health(module, &[])?;
    let links = reset_links_for_reenable(store.links::<R>(module)?);
    store.replace_links(module, &links, clock.now())?;
    store.disable(module, clock.now())?;
    Ok(Ok(()))
}

fn stamp_run(mut journal: Vec<JournalEntry>, run: i64) -> Vec<JournalEntry> {
    for j in &mut journal {
        j.run_id = Some(run);
    }
    journal
}

fn index<R>(observations: Vec<Observation<R>>) -> Mirror<R> {
    observations
        .into_iter()
        .map(|o| (o.id().to_owned(), o))
        .collect()
}

fn json<R: CanonicalRecord>(r: &R) -> String {
    serde_json::to_string(r).unwrap_or_else(|e| format!("{{\"unserialisable\":\"{e}\"}}"))
}

/// The local effects of an action's remote calls, gathered while they run.
struct Executed<R> {
    observations: Vec<(Side, Observation<R>)>,
    forget: Vec<(Side, String)>,
    journal: Vec<JournalEntry>,
}

fn mirror_record<'a, R>(
    mirrors: &'a [Mirror<R>; 2],
    side: Side,
    id: &str,
) -> Option<&'a Observed<R>> {
    let m = match side {
        Side::Crm => &mirrors[0],
        Side::Graph => &mirrors[1],
    };
    match m.get(id) {
        Some(Observation::Present(o)) => Some(o),
        _ => None,
    }
}

fn execute<R, C, G>(
    action: &Action<R>,
    crm: &mut C,
    graph: &mut G,
    mirrors: &[Mirror<R>; 2],
    clock: &dyn Clock,
    exec: &mut Executed<R>,
    created: Option<Written>,
) -> Result<WriteOutcome, PortError>
where
    R: CanonicalRecord,
    C: RecordPort<R>,
    G: RecordPort<R> + ContainerPort,
{
    let mut outcome = WriteOutcome::default();
    let now = clock.now();
    let written = |side: Side, w: &Written, record: &R, stamp: Option<String>| {
        (
            side,
            Observation::Present(Observed {
                id: w.id.clone(),
                version: w.version.clone(),
                modified: w.modified,
                record: record.clone(),
                stamp,
                exclusion: None,
            }),
        )
    };
    let journal = |side: Side, op: JournalOp, id: &str, before: Option<&R>, after: Option<&R>| {
        let changed = match (before, after) {
            (Some(b), Some(a)) => crmsync_core::planner::changed_fields(b, a),
            (None, Some(r)) | (Some(r), None) => r.fields().keys().cloned().collect(),
            (None, None) => Vec::new(),
        };
        JournalEntry {
            id: 0,
            run_id: None,
            side,
            op,
            item_id: id.to_owned(),
            label: action.label.clone(),
            changed_fields: changed,
            before: before.map(json),
            after: after.map(json),
            at: now,
            restored_at: None,
            restored_as: None,
        }
    };
    match &action.op {
        Op::CreateInGraph { record } => {
            // Already created as part of a group, or created now.
            let w = match created {
                Some(w) => w,
                None => graph.create(record, action.crm_id.as_deref())?,
            };
            exec.observations
                .push(written(Side::Graph, &w, record, action.crm_id.clone()));
            exec.journal.push(journal(
                Side::Graph,
                JournalOp::Create,
                &w.id,
                None,
                Some(record),
            ));
            outcome.new_graph_id = Some(w.id);
            outcome.graph_version = Some(w.version);
        }
        Op::CreateInCrm { record } => {
            let w = crm.create(record, action.graph_id.as_deref())?;
            exec.observations
                .push(written(Side::Crm, &w, record, action.graph_id.clone()));
            exec.journal.push(journal(
                Side::Crm,
                JournalOp::Create,
                &w.id,
                None,
                Some(record),
            ));
            outcome.new_crm_id = Some(w.id);
            outcome.crm_version = Some(w.version);
        }
        Op::Update {
            crm: crm_write,
            graph: graph_write,
            ..
        } => {
            // Records an applied update on one side: its observation and its journal entry.
            let mut applied = |side: Side, id: &str, record: &R, w: &Written| {
                let before = mirror_record(mirrors, side, id);
                let stamp = before.and_then(|o| o.stamp.clone());
                exec.observations.push(written(side, w, record, stamp));
                exec.journal.push(journal(
                    side,
                    JournalOp::Update,
                    id,
                    before.map(|o| &o.record),
                    Some(record),
                ));
            };
            if let (Some(write), Some(id)) = (crm_write, action.crm_id.as_deref()) {
                let w = crm.update(id, &write.record, write.expected_version.as_deref())?;
                applied(Side::Crm, id, &write.record, &w);
                outcome.crm_version = Some(w.version);
            }
            if let (Some(write), Some(id)) = (graph_write, action.graph_id.as_deref()) {
                let w = graph.update(id, &write.record, write.expected_version.as_deref())?;
                applied(Side::Graph, id, &write.record, &w);
                outcome.graph_version = Some(w.version);
            }
        }
        Op::DeleteInCrm { expected_version } => {
            if let Some(id) = action.crm_id.as_deref() {
                match crm.delete(id, expected_version.as_deref()) {
                    Ok(()) | Err(PortError::NotFound) => {}
                    Err(e) => return Err(e),
                }
                let before = mirror_record(mirrors, Side::Crm, id);
                exec.journal.push(journal(
                    Side::Crm,
                    JournalOp::Delete,
                    id,
                    before.map(|o| &o.record),
                    None,
                ));
                exec.forget.push((Side::Crm, id.to_owned()));
            }
        }
        Op::DeleteInGraph { expected_version } => {
            if let Some(id) = action.graph_id.as_deref() {
                match graph.delete(id, expected_version.as_deref()) {
                    Ok(()) | Err(PortError::NotFound) => {}
                    Err(e) => return Err(e),
                }
                let before = mirror_record(mirrors, Side::Graph, id);
                exec.journal.push(journal(
                    Side::Graph,
                    JournalOp::Delete,
                    id,
                    before.map(|o| &o.record),
                    None,
                ));
                exec.forget.push((Side::Graph, id.to_owned()));
            }
        }
        Op::Detach { .. } => {
            if let Some(id) = action.graph_id.as_deref() {
                exec.forget.push((Side::Graph, id.to_owned()));
            }
        }
        Op::SaveLink { .. } | Op::DropLink | Op::QueueConflict(_) => {}
    }
    Ok(outcome)
}
