//! The commands the window may call, and the DTOs they exchange.
//!
//! Architecture invariant: this module is the only place that knows the IPC
//! shapes. Engine types are converted here, by hand, into these DTOs.

use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::{AppHandle, State};

use crmsync_connect::RoundDigest;
use crmsync_core::Side;
use crmsync_engine::{
    HealthStatus, ModuleCounts, ModuleKind, ModuleState, ModuleStatus, Progress, RoundStep,
    RoundSummary, Service as EngineService, Store,
};

use crate::accounts::{connect_service, Connections, Service};
use crate::error::{CommandError, ErrorCode};
use crate::locale::Lang;
use crate::sync::{NotRunning, SyncService};

/// What the shell holds for the commands: the store, or why it could not be opened.
pub struct AppState {
    pub store: Result<Mutex<Store>, String>,
    pub data_dir: String,
    pub mode: Mode,
}

/// Which services the app talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mode {
    /// The built-in emulators on loopback, with demo data (`url` is their base).
    Sandbox { url: String },
    /// Sandbox mode, but the emulators could not start; `message` says why.
    SandboxFailed { message: String },
    /// The real Microsoft 365 and Zoho CRM, with the client ids from the settings.
    Real { microsoft_tenant: String },
}

impl AppState {
    pub(crate) fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, CommandError>,
    ) -> Result<T, CommandError> {
        let store = self
            .store
            .as_ref()
            .map_err(|why| CommandError::new(ErrorCode::Store, why.clone()))?;
        let guard = store.lock().map_err(|_| {
            CommandError::new(
                ErrorCode::Store,
                "the store is unavailable after an earlier failure; restart the app",
            )
        })?;
        f(&guard)
    }
}

/// A sync module, as the UI names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Module {
    Events,
    Contacts,
    Tasks,
}

impl From<Module> for ModuleKind {
    fn from(m: Module) -> Self {
        match m {
            Module::Events => ModuleKind::Events,
            Module::Contacts => ModuleKind::Contacts,
            Module::Tasks => ModuleKind::Tasks,
        }
    }
}

impl From<ModuleKind> for Module {
    fn from(m: ModuleKind) -> Self {
        match m {
            ModuleKind::Events => Module::Events,
            ModuleKind::Contacts => Module::Contacts,
            ModuleKind::Tasks => Module::Tasks,
        }
    }
}

/// A module's status as the integration page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Status {
    Inactive,
    Active,
    Paused { reason: String },
    NeedsSignIn,
    Error { reason: String },
}

impl From<ModuleStatus> for Status {
    fn from(s: ModuleStatus) -> Self {
        match s {
            ModuleStatus::Inactive => Status::Inactive,
            ModuleStatus::Active => Status::Active,
            ModuleStatus::Paused(reason) => Status::Paused { reason },
            ModuleStatus::NeedsSignIn => Status::NeedsSignIn,
            ModuleStatus::Error(reason) => Status::Error { reason },
        }
    }
}

/// Why a module is inactive when the user did not choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum InactiveReason {
    /// Its folder (calendar, list) was deleted in Microsoft 365, so the sync stopped; nothing
    /// was deleted in the CRM.
    ContainerDeleted,
}

/// Record counts of a module, from the store (kept between runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
pub struct Counts {
    /// Records in sync on both sides.
    pub synced: u32,
    /// CRM records not synced by rule (not yours, imported, beyond the first-sync cap).
    pub excluded: u32,
    /// Records that failed on their own.
    pub failing: u32,
    /// Records changed on both sides, waiting for the user's choice.
    pub conflicts: u32,
}

/// One record that failed on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct FailureView {
    pub label: String,
    pub error: String,
}

/// One row of the integration page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct ModuleView {
    pub module: Module,
    pub enabled: bool,
    pub status: Status,
    /// Set when the module stopped on its own (see [`InactiveReason`]).
    pub inactive_reason: Option<InactiveReason>,
    /// Delete the CRM record when it is deleted in Microsoft 365.
    pub delete_propagation: bool,
    /// RFC 3339, UTC.
    pub last_sync_at: Option<String>,
    /// Record counts; null before the module's first sync.
    pub counts: Option<Counts>,
    /// The records failing now (at most 20).
    pub failures: Vec<FailureView>,
}

impl From<ModuleState> for ModuleView {
    fn from(m: ModuleState) -> Self {
        ModuleView {
            module: m.module.into(),
            enabled: m.enabled,
            status: m.status.into(),
            inactive_reason: None,
            delete_propagation: m.delete_propagation,
            last_sync_at: m
                .last_sync_at
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            counts: None,
            failures: Vec::new(),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl ModuleView {
    /// Adds what the store's run history and record health know.
    fn with_details(mut self, store: &Store) -> Result<Self, CommandError> {
        let module: ModuleKind = self.module.into();
        if !self.enabled && self.status == Status::Inactive {
            let last_run = store.runs(module, 1)?;
            if last_run
                .first()
                .is_some_and(|r| r.outcome.as_deref() == Some("disabled"))
            {
                self.inactive_reason = Some(InactiveReason::ContainerDeleted);
            }
        }
        if self.enabled {
            let c = store.module_counts(module)?;
            if self.last_sync_at.is_some() || c != ModuleCounts::default() {
                self.counts = Some(Counts {
                    synced: to_u32(c.synced),
                    excluded: to_u32(c.excluded),
                    failing: to_u32(c.failing),
                    conflicts: to_u32(c.conflicts),
                });
            }
            self.failures = store
                .health(module, Some(HealthStatus::Failing), None, 20)?
                .into_iter()
                .map(|h| FailureView {
                    label: h.label,
                    error: h.detail.unwrap_or_default(),
                })
                .collect();
        }
        Ok(self)
    }
}

/// Facts about this installation, for the footer and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct AppInfo {
    pub version: String,
    /// Where the store and logs live.
    pub data_dir: String,
    /// The language the UI speaks (follows the OS locale).
    pub lang: Lang,
    /// Sandbox (demo data) or real accounts.
    pub mode: Mode,
}

/// The app version and where its data lives.
#[tauri::command]
#[specta::specta]
pub fn app_info(app: AppHandle, state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.data_dir.clone(),
        lang: crate::settings::ui_lang(&app),
        mode: state.mode.clone(),
    }
}

/// Every module's state, read from the store, with its record counts.
#[tauri::command]
#[specta::specta]
pub fn list_modules(state: State<'_, AppState>) -> Result<Vec<ModuleView>, CommandError> {
    state.with_store(|store| {
        store
            .modules()?
            .into_iter()
            .map(|m| ModuleView::from(m).with_details(store))
            .collect()
    })
}

/// One module's row, read again (after a change).
fn module_view(state: &AppState, module: ModuleKind) -> Result<ModuleView, CommandError> {
    state.with_store(|store| ModuleView::from(store.module(module)?).with_details(store))
}

/// Enables a module's sync (design.md §1 item 2). The Zoho CRM account must
/// be connected first. With no Microsoft 365 connection, a silent sign-in for
/// the CRM user's e-mail (`login_hint` + `prompt=none`) is tried and, only if
/// that needs the user, the sign-in page opens once, pre-filled with that e-mail.
#[tauri::command]
#[specta::specta]
pub async fn enable_module(
    app: AppHandle,
    state: State<'_, AppState>,
    connections: State<'_, Connections>,
    sync: State<'_, SyncService>,
    module: Module,
) -> Result<ModuleView, CommandError> {
    tracing::info!(module = ?module, "enable requested");
    let (zoho, microsoft) = state.with_store(|store| {
        Ok((
            store.account(EngineService::Zoho)?,
            store.account(EngineService::Microsoft)?,
        ))
    })?;
    let Some(zoho) = zoho else {
        return Err(CommandError::new(
            ErrorCode::ZohoNotConnected,
            "connect your Zoho CRM account first",
        ));
    };
    if microsoft.is_none() {
        connect_service(
            &app,
            &state,
            &connections,
            Service::Microsoft,
            Some(zoho.email),
        )
        .await?;
    }
    let kind: ModuleKind = module.into();
    state.with_store(|store| Ok(store.enable(kind, Utc::now())?))?;
    // A Microsoft 365 sign-in just made may be the one the worker was waiting for.
    if sync.sync_now().await.is_err() {
        sync.restart(&app).await;
    }
    module_view(&state, kind)
}

/// What the app's sync is doing now (also sent as `SyncEvent::State` when it changes).
#[tauri::command]
#[specta::specta]
pub fn sync_state(sync: State<'_, SyncService>) -> SyncState {
    sync.state()
}

/// Runs a round of every enabled module now.
#[tauri::command]
#[specta::specta]
pub async fn sync_now(sync: State<'_, SyncService>) -> Result<(), CommandError> {
    sync.sync_now().await
}

/// Sets "Delete the CRM record when it is deleted in Microsoft 365" (off by default).
#[tauri::command]
#[specta::specta]
pub fn set_delete_propagation(
    state: State<'_, AppState>,
    module: Module,
    on: bool,
) -> Result<ModuleView, CommandError> {
    let kind: ModuleKind = module.into();
    state.with_store(|store| Ok(store.set_delete_propagation(kind, on, Utc::now())?))?;
    tracing::info!(?module, on, "delete propagation set");
    module_view(&state, kind)
}

/// What enabling (or the next round of) a module would do, counted. Writes nothing remotely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct Preview {
    pub module: Module,
    /// CRM records to copy to Microsoft 365.
    pub to_microsoft: u32,
    /// Microsoft 365 items to create in the CRM.
    pub to_crm: u32,
    /// Records to update on either side.
    pub updates: u32,
    /// Records to delete on either side.
    pub deletes: u32,
    /// CRM records left out: came in by import or migration.
    pub excluded_imported: u32,
    /// CRM records left out: owned by another CRM user.
    pub excluded_not_yours: u32,
    /// CRM records left out for now: beyond the first-sync limit, or not checked yet.
    pub excluded_later: u32,
    /// Set when a safety guard would pause the sync (why).
    pub pause: Option<String>,
    /// The plan, one line per action.
    pub plan_text: String,
}

impl Preview {
    fn of(module: Module, d: &RoundDigest) -> Preview {
        let plan = d.plan.clone().unwrap_or_default();
        let excluded = |key: &str| to_u32(plan.excluded.get(key).copied().unwrap_or(0));
        let imported = excluded("imported");
        let not_yours = excluded("not_owner");
        Preview {
            module,
            to_microsoft: to_u32(plan.create_in_graph),
            to_crm: to_u32(plan.create_in_crm),
            updates: to_u32(plan.update_graph + plan.update_crm),
            deletes: to_u32(plan.delete_in_graph + plan.delete_in_crm),
            excluded_imported: imported,
            excluded_not_yours: not_yours,
            excluded_later: to_u32(plan.excluded_total())
                .saturating_sub(imported)
                .saturating_sub(not_yours),
            pause: plan.pause.clone(),
            plan_text: plan.text,
        }
    }
}

/// Previews a module's first sync (or its next round): a dry run against both services.
#[tauri::command]
#[specta::specta]
pub async fn preview_module(
    sync: State<'_, SyncService>,
    module: Module,
) -> Result<Preview, CommandError> {
    let digest = sync.preview(module.into()).await?;
    Ok(Preview::of(module, &digest))
}

/// Disables a module: removes its folder (and the copies in it) from Microsoft 365. CRM
/// records are never touched.
#[tauri::command]
#[specta::specta]
pub async fn disable_module(
    state: State<'_, AppState>,
    sync: State<'_, SyncService>,
    module: Module,
) -> Result<ModuleView, CommandError> {
    let kind: ModuleKind = module.into();
    tracing::info!(?module, "disable requested");
    sync.disable(kind).await?;
    module_view(&state, kind)
}

/// Continues a module that a safety guard paused: runs its round with the deletes the user
/// confirmed.
#[tauri::command]
#[specta::specta]
pub async fn confirm_deletes(
    app: AppHandle,
    state: State<'_, AppState>,
    sync: State<'_, SyncService>,
    module: Module,
) -> Result<ModuleView, CommandError> {
    let kind: ModuleKind = module.into();
    sync.confirm_deletes(&app, kind).await?;
    crate::tray::refresh(&app);
    module_view(&state, kind)
}

/// What the app's sync is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncState {
    /// Reloading the saved sign-ins.
    Starting,
    /// Running on schedule, waiting for the next round (every `every_minutes`).
    Idle { every_minutes: u32 },
    /// A round of `module` is running.
    Syncing { module: Module },
    /// The user paused all sync.
    Paused,
    /// An account is not connected.
    NotConnected,
    /// The saved sign-in of `service` no longer works: connect it again.
    NeedsSignIn { service: Service },
    /// The sync could not start; `message` says why.
    Failed { message: String },
}

impl From<NotRunning> for SyncState {
    fn from(n: NotRunning) -> Self {
        match n {
            NotRunning::NotConnected => SyncState::NotConnected,
            NotRunning::NeedsSignIn(service) => SyncState::NeedsSignIn {
                service: service.into(),
            },
            NotRunning::Paused => SyncState::Paused,
            NotRunning::Failed(message) => SyncState::Failed { message },
        }
    }
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoundResult {
    Completed {
        executed: u32,
        writes: u32,
    },
    Paused {
        reason: String,
    },
    /// The Microsoft 365 folder was deleted: the module is now inactive.
    Disabled,
    Cancelled,
    /// A service asked to slow down; the next round waits longer.
    Throttled,
    Failed {
        error: String,
    },
}

impl From<&RoundSummary> for RoundResult {
    fn from(s: &RoundSummary) -> Self {
        match s {
            RoundSummary::Completed { executed, writes } => RoundResult::Completed {
                executed: to_u32(*executed),
                writes: to_u32(*writes),
            },
            RoundSummary::Paused { reason } => RoundResult::Paused {
                reason: reason.clone(),
            },
            RoundSummary::Disabled => RoundResult::Disabled,
            RoundSummary::Cancelled => RoundResult::Cancelled,
            RoundSummary::Throttled { .. } => RoundResult::Throttled,
            RoundSummary::Failed { error } => RoundResult::Failed {
                error: error.clone(),
            },
        }
    }
}

/// Sync progress, sent to the window as the `sync-event` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type, tauri_specta::Event)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncEvent {
    /// What the sync is doing changed.
    State { state: SyncState },
    /// A round of `module` started.
    Started { module: Module },
    /// Reading the changes of one service.
    Observing { module: Module, service: Service },
    /// The plan is made: this many changes to make.
    Planned { module: Module, actions: u32 },
    /// `done` of `total` changes are made.
    Executed {
        module: Module,
        done: u32,
        total: u32,
    },
    /// The round ended.
    Finished { module: Module, result: RoundResult },
    /// A service throttles: the next round waits this many seconds.
    BackingOff { wait_secs: u32 },
}

impl SyncEvent {
    /// The window's view of a worker progress event.
    pub fn from_progress(p: &Progress) -> Option<SyncEvent> {
        Some(match p {
            Progress::Started { module } => SyncEvent::Started {
                module: (*module).into(),
            },
            Progress::Step { module, step } => {
                let module = (*module).into();
                match *step {
                    RoundStep::Observing { side } => SyncEvent::Observing {
                        module,
                        service: match side {
                            Side::Crm => Service::Zoho,
                            Side::Graph => Service::Microsoft,
                        },
                    },
                    RoundStep::Planned { actions } => SyncEvent::Planned {
                        module,
                        actions: to_u32(actions),
                    },
                    RoundStep::Executed { done, total } => SyncEvent::Executed {
                        module,
                        done: to_u32(done),
                        total: to_u32(total),
                    },
                }
            }
            Progress::Finished { module, summary } => SyncEvent::Finished {
                module: (*module).into(),
                result: summary.into(),
            },
            Progress::BackingOff { wait_ms } => SyncEvent::BackingOff {
                wait_secs: u32::try_from(wait_ms.div_ceil(1000)).unwrap_or(u32::MAX),
            },
            Progress::Stopped => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmsync_connect::PlanDigest;
    use crmsync_engine::RoundOutcome;

    fn digest(plan: PlanDigest) -> RoundDigest {
        RoundDigest {
            run_id: 1,
            outcome: RoundOutcome::Planned,
            plan: Some(plan),
            executed: 0,
            writes: 0,
            failures: Vec::new(),
        }
    }

    #[test]
    fn the_preview_counts_copies_and_sorts_exclusions_by_reason() {
        let plan = PlanDigest {
            create_in_graph: 12,
            create_in_crm: 1,
            update_graph: 2,
            update_crm: 3,
            excluded: [
                ("imported".to_owned(), 4),
                ("not_owner".to_owned(), 2),
                ("beyond_first_sync_cap".to_owned(), 5),
                ("awaiting_timeline".to_owned(), 1),
            ]
            .into_iter()
            .collect(),
            ..PlanDigest::default()
        };
        let p = Preview::of(Module::Contacts, &digest(plan));
        assert_eq!(p.to_microsoft, 12);
        assert_eq!(p.to_crm, 1);
        assert_eq!(p.updates, 5);
        assert_eq!(p.excluded_imported, 4);
        assert_eq!(p.excluded_not_yours, 2);
        assert_eq!(p.excluded_later, 6);
        assert_eq!(p.pause, None);
    }

    #[test]
    fn worker_progress_becomes_window_events() {
        let step = |step| Progress::Step {
            module: ModuleKind::Contacts,
            step,
        };
        assert_eq!(
            SyncEvent::from_progress(&step(RoundStep::Observing { side: Side::Graph })),
            Some(SyncEvent::Observing {
                module: Module::Contacts,
                service: Service::Microsoft
            })
        );
        assert_eq!(
            SyncEvent::from_progress(&step(RoundStep::Executed { done: 3, total: 9 })),
            Some(SyncEvent::Executed {
                module: Module::Contacts,
                done: 3,
                total: 9
            })
        );
        assert_eq!(
            SyncEvent::from_progress(&Progress::BackingOff { wait_ms: 1_500 }),
            Some(SyncEvent::BackingOff { wait_secs: 2 })
        );
        assert_eq!(
            SyncEvent::from_progress(&Progress::Finished {
                module: ModuleKind::Tasks,
                summary: RoundSummary::Paused {
                    reason: "many deletes".into()
                }
            }),
            Some(SyncEvent::Finished {
                module: Module::Tasks,
                result: RoundResult::Paused {
                    reason: "many deletes".into()
                }
            })
        );
        assert_eq!(SyncEvent::from_progress(&Progress::Stopped), None);
    }

    #[test]
    fn a_folder_deleted_in_microsoft_365_is_the_reason_an_inactive_module_shows() {
        let store = Store::open_in_memory().unwrap();
        let view = |store: &Store| {
            ModuleView::from(store.module(ModuleKind::Contacts).unwrap())
                .with_details(store)
                .unwrap()
        };
        assert_eq!(view(&store).inactive_reason, None);
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-25T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let run = store.start_run(ModuleKind::Contacts, t).unwrap();
        store.finish_run(run, "disabled", None, t).unwrap();
        assert_eq!(
            view(&store).inactive_reason,
            Some(InactiveReason::ContainerDeleted)
        );
        assert_eq!(
            view(&store).counts,
            None,
            "no counts for an inactive module"
        );
    }
}
