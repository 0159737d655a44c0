//! The sync worker inside the app: at start (and after every connect or disconnect) the saved
//! sessions are reloaded from the OS keychain, both clients are built and the engine's worker
//! runs every connected module on its schedule. Its progress goes to the window as events and
//! to the tray. Previews and disables lock the same runner, so they never race a round.
//!
//! The shell only wires: rounds, previews and disables are crmsync-connect's `SyncRunner`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tauri::{AppHandle, Manager};
use tokio::sync::broadcast::error::RecvError;

use crmsync_auth::{AuthError, Session};
use crmsync_connect::{
    connect_modules, ConnectError, ModuleError, RoundDigest, SessionTokens, SyncRunner, SystemClock,
};
use crmsync_engine::{
    ModuleKind, ModuleStatus, PortError, Progress, Service as EngineService, Store, Worker,
    WorkerConfig,
};
use crmsync_graph::{GraphClient, GraphConfig};
use crmsync_zoho::{ZohoClient, ZohoConfig};

use crate::accounts::Connections;
use crate::commands::{AppState, SyncEvent, SyncState};
use crate::error::{CommandError, ErrorCode};

/// Why the worker cannot run; becomes [`SyncState`] for the window and the tray.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRunning {
    /// One of the two accounts is not connected.
    NotConnected,
    /// A saved sign-in is gone or was refused: the user must connect that account again.
    NeedsSignIn(EngineService),
    /// The user paused all sync from the tray.
    Paused,
    /// Anything else (keychain, network, store); the message says what.
    Failed(String),
}

struct Running {
    worker: Worker,
    runner: Arc<Mutex<SyncRunner>>,
    forward: tauri::async_runtime::JoinHandle<()>,
    /// The signed-in sessions the worker uses (shared, so a refresh is never raced).
    sessions: Sessions,
}

/// The app's sync worker and what it is doing now.
#[derive(Default)]
pub struct SyncService {
    running: tokio::sync::Mutex<Option<Running>>,
    paused: AtomicBool,
    state: Mutex<Option<SyncState>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SyncService {
    /// What the worker is doing, for the window and the tray.
    pub fn state(&self) -> SyncState {
        lock(&self.state).clone().unwrap_or(SyncState::Starting)
    }

    /// Whether the user paused all sync.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    fn set_state(&self, app: &AppHandle, state: SyncState) {
        *lock(&self.state) = Some(state.clone());
        crate::tray::refresh(app);
        emit(app, SyncEvent::State { state });
    }

    /// Stops the worker (if it runs) and starts it again from the saved sessions. Called at
    /// app start, after a connect or a disconnect, and when the user resumes sync.
    pub async fn restart(&self, app: &AppHandle) {
        let mut running = self.running.lock().await;
        if let Some(old) = running.take() {
            old.stop().await;
        }
        if self.is_paused() {
            self.set_state(app, SyncState::from(NotRunning::Paused));
            return;
        }
        self.set_state(app, SyncState::Starting);
        match build_runner(app).await {
            Ok((runner, sessions)) => {
                let runner = Arc::new(Mutex::new(runner));
                let worker = Worker::spawn_shared(
                    runner.clone(),
                    WorkerConfig {
                        interval: crate::settings::interval(app),
                        ..WorkerConfig::default()
                    },
                );
                let forward = forward_progress(app.clone(), worker.subscribe(), sessions.clone());
                *running = Some(Running {
                    worker,
                    runner,
                    forward,
                    sessions,
                });
                tracing::info!("sync worker started");
                self.set_state(app, idle(app));
            }
            Err(why) => {
                tracing::info!(?why, "sync worker not started");
                if let NotRunning::NeedsSignIn(_) = why {
                    mark_enabled_modules(app, &ModuleStatus::NeedsSignIn);
                }
                self.set_state(app, SyncState::from(why));
            }
        }
    }

    /// Both service clients over the worker's sessions, or (when the worker does not run, e.g.
    /// sync is paused) over the saved sessions reloaded from the keychain. No new sign-in.
    ///
    /// # Errors
    /// `zoho_not_connected` / `microsoft_not_connected`, or `not_syncing` when a saved sign-in
    /// is gone or refused.
    pub(crate) async fn clients(&self, app: &AppHandle) -> Result<Clients, CommandError> {
        let shared = self
            .running
            .lock()
            .await
            .as_ref()
            .map(|r| r.sessions.clone());
        let clients = match shared {
            Some(sessions) => clients_over(app, sessions).await,
            None => load_clients(app).await,
        };
        clients.map_err(|why| {
            let (code, message) = match why {
                NotRunning::NotConnected => {
                    let state = app.state::<AppState>();
                    let zoho = state
                        .with_store(|store| Ok(store.account(EngineService::Zoho)?))
                        .ok()
                        .flatten();
                    if zoho.is_none() {
                        (
                            ErrorCode::ZohoNotConnected,
                            "connect your Zoho CRM account first".to_owned(),
                        )
                    } else {
                        (
                            ErrorCode::MicrosoftNotConnected,
                            "connect your Microsoft 365 account first".to_owned(),
                        )
                    }
                }
                NotRunning::NeedsSignIn(service) => (
                    ErrorCode::NotSyncing,
                    format!(
                        "connect your {} account again: its sign-in is no longer valid",
                        service.display_name()
                    ),
                ),
                NotRunning::Paused => (ErrorCode::NotSyncing, "sync is paused".to_owned()),
                NotRunning::Failed(message) => (ErrorCode::Sync, message),
            };
            CommandError::new(code, message)
        })
    }

    /// Stops the worker, cancelling a running round between two actions.
    pub async fn stop(&self) {
        if let Some(old) = self.running.lock().await.take() {
            old.stop().await;
        }
    }

    /// Pauses (`true`) or resumes all sync.
    pub async fn set_paused(&self, app: &AppHandle, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
        self.restart(app).await;
    }

    /// Runs a round of every enabled module now.
    ///
    /// # Errors
    /// `not_syncing` when the worker does not run (the message says why).
    pub async fn sync_now(&self) -> Result<(), CommandError> {
        let running = self.running.lock().await;
        match running.as_ref() {
            Some(r) => {
                r.worker.sync_now();
                Ok(())
            }
            None => Err(self.not_syncing()),
        }
    }

    fn not_syncing(&self) -> CommandError {
        let message = match self.state() {
            SyncState::NotConnected => "connect both accounts first".to_owned(),
            SyncState::NeedsSignIn { service } => format!(
                "connect your {} account again: its sign-in is no longer valid",
                EngineService::from(service).display_name()
            ),
            SyncState::Paused => "sync is paused; resume it from the tray".to_owned(),
            SyncState::Failed { message } => message,
            SyncState::Starting | SyncState::Idle { .. } | SyncState::Syncing { .. } => {
                "the sync is still starting; try again in a moment".to_owned()
            }
        };
        CommandError::new(ErrorCode::NotSyncing, message)
    }

    /// Runs `f` on the runner on a blocking thread, after the running round (if any).
    pub(crate) async fn with_runner<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SyncRunner) -> T + Send + 'static,
    ) -> Result<T, CommandError> {
        let runner = self
            .running
            .lock()
            .await
            .as_ref()
            .map(|r| r.runner.clone())
            .ok_or_else(|| self.not_syncing())?;
        tokio::task::spawn_blocking(move || f(&mut lock(&runner)))
            .await
            .map_err(|e| CommandError::new(ErrorCode::Sync, format!("the sync task failed: {e}")))
    }

    /// What the next round of `module` would do (a dry run that writes nothing remotely; the
    /// module need not be enabled).
    ///
    /// # Errors
    /// `not_syncing`, or `sync` when the preview could not run.
    pub async fn preview(&self, module: ModuleKind) -> Result<RoundDigest, CommandError> {
        let digest = self
            .with_runner(move |r| r.preview(module, &SystemClock))
            .await?
            .map_err(module_error)?;
        if let crmsync_engine::RoundOutcome::Interrupted(e) = &digest.outcome {
            return Err(port_error(e));
        }
        Ok(digest)
    }

    /// Runs a round of `module` that a safety guard paused, with its deletes confirmed by the
    /// user; its progress goes to the window like a scheduled round's.
    ///
    /// # Errors
    /// `not_syncing`, or `sync` when the round could not run.
    pub async fn confirm_deletes(
        &self,
        app: &AppHandle,
        module: ModuleKind,
    ) -> Result<RoundDigest, CommandError> {
        let app = app.clone();
        let digest = self
            .with_runner(move |r| {
                let opts = crmsync_engine::RoundOptions {
                    deletes_confirmed: true,
                    ..r.options
                };
                let forward = |p: Progress| {
                    if let Some(e) = SyncEvent::from_progress(&p) {
                        emit(&app, e);
                    }
                };
                forward(Progress::Started { module });
                let digest = r.round(
                    module,
                    &SystemClock,
                    opts,
                    &AtomicBool::new(false),
                    &|step| forward(Progress::Step { module, step }),
                );
                let summary = match &digest {
                    Ok(d) => d.summary(),
                    Err(e) => crmsync_engine::RoundSummary::Failed {
                        error: e.to_string(),
                    },
                };
                forward(Progress::Finished { module, summary });
                digest
            })
            .await?
            .map_err(module_error)?;
        tracing::info!(?module, outcome = ?digest.outcome, "deletes confirmed by the user");
        Ok(digest)
    }

    /// Disables `module`: deletes its Microsoft 365 container and the copies in it, keeps every
    /// CRM record.
    ///
    /// # Errors
    /// `not_syncing`, or `sync` when Microsoft 365 refused (nothing changed then).
    pub async fn disable(&self, module: ModuleKind) -> Result<(), CommandError> {
        self.with_runner(move |r| r.disable(module, &SystemClock))
            .await?
            .map_err(module_error)?
            .map_err(|e| port_error(&e))
    }

    /// Notes that a round of `module` started or finished (from the progress events).
    fn round_state(&self, app: &AppHandle, syncing: Option<ModuleKind>) {
        let state = match syncing {
            Some(m) => SyncState::Syncing { module: m.into() },
            None => idle(app),
        };
        // A worker that was stopped meanwhile keeps its new state.
        let current = self.state();
        if matches!(current, SyncState::Idle { .. } | SyncState::Syncing { .. }) {
            self.set_state(app, state);
        }
    }
}

impl Running {
    async fn stop(self) {
        self.worker.shutdown().await;
        let _ = self.forward.await;
    }
}

/// Waiting for the next scheduled round.
fn idle(app: &AppHandle) -> SyncState {
    let minutes = crate::settings::interval(app).as_secs().div_ceil(60);
    SyncState::Idle {
        every_minutes: u32::try_from(minutes).unwrap_or(u32::MAX),
    }
}

pub(crate) fn module_error(e: ModuleError) -> CommandError {
    tracing::warn!(error = %e, "module operation failed");
    CommandError::new(ErrorCode::Sync, e.to_string())
}

pub(crate) fn port_error(e: &PortError) -> CommandError {
    let code = match e {
        PortError::NeedsSignIn => ErrorCode::NotSyncing,
        PortError::Unavailable(_) | PortError::Timeout | PortError::Throttled { .. } => {
            ErrorCode::Network
        }
        _ => ErrorCode::Sync,
    };
    CommandError::new(code, e.to_string())
}

/// Sets every enabled module's status (e.g. "Needs sign-in" when a saved session is gone).
fn mark_enabled_modules(app: &AppHandle, status: &ModuleStatus) {
    let state = app.state::<AppState>();
    let now = chrono::Utc::now();
    let r = state.with_store(|store| {
        for m in store.modules()? {
            if m.enabled {
                store.set_status(m.module, true, status, now)?;
            }
        }
        Ok(())
    });
    if let Err(e) = r {
        tracing::warn!(error = %e.message, "cannot record the module status");
    }
}

fn auth_failure(service: EngineService, e: AuthError) -> NotRunning {
    match e {
        AuthError::ReconnectNeeded(_) => NotRunning::NeedsSignIn(service),
        other => NotRunning::Failed(format!(
            "the saved {} sign-in cannot be used: {other}",
            service.display_name()
        )),
    }
}

fn connect_failure(e: ConnectError) -> NotRunning {
    use crmsync_graph::GraphError;
    use crmsync_zoho::ZohoError;
    match e {
        ConnectError::Zoho(ZohoError::Auth { .. } | ZohoError::ReconnectNeeded(_)) => {
            NotRunning::NeedsSignIn(EngineService::Zoho)
        }
        ConnectError::Graph(GraphError::Auth { .. } | GraphError::ReconnectNeeded(_)) => {
            NotRunning::NeedsSignIn(EngineService::Microsoft)
        }
        other => NotRunning::Failed(format!("the sync could not start: {other}")),
    }
}

/// Both signed-in sessions, to notice one whose refresh token died during a round.
type Sessions = Vec<(EngineService, Arc<Session>)>;

/// Both service clients over the signed-in sessions.
pub(crate) struct Clients {
    pub graph: GraphClient,
    pub zoho: ZohoClient,
    sessions: Sessions,
}

/// Reloads both saved sessions from the keychain and builds both clients.
async fn load_clients(app: &AppHandle) -> Result<Clients, NotRunning> {
    let state = app.state::<AppState>();
    let connections = app.state::<Connections>();
    let (zoho, microsoft) = state
        .with_store(|store| {
            Ok((
                store.account(EngineService::Zoho)?,
                store.account(EngineService::Microsoft)?,
            ))
        })
        .map_err(|e| NotRunning::Failed(e.message))?;
    let (Some(zoho), Some(microsoft)) = (zoho, microsoft) else {
        return Err(NotRunning::NotConnected);
    };
    let keychain = connections
        .token_store(crate::settings::prefs(app).memory_sign_in)
        .map_err(|e| auth_failure(EngineService::Microsoft, e))?;
    let http = connections.http.clone();
    let load = |service: EngineService, email: String| {
        let keychain = keychain.clone();
        let http = http.clone();
        async move {
            Session::load(keychain, http, &format!("{}:{email}", service.as_str()))
                .await
                .map_err(|e| auth_failure(service, e))?
                .ok_or(NotRunning::NeedsSignIn(service))
        }
    };
    let ms = load(EngineService::Microsoft, microsoft.email).await?;
    let zs = load(EngineService::Zoho, zoho.email).await?;
    clients_over(
        app,
        vec![
            (EngineService::Microsoft, Arc::new(ms)),
            (EngineService::Zoho, Arc::new(zs)),
        ],
    )
    .await
}

/// Both clients over `sessions` (Microsoft 365 first, then Zoho).
async fn clients_over(app: &AppHandle, sessions: Sessions) -> Result<Clients, NotRunning> {
    let endpoints = app
        .state::<Connections>()
        .endpoints()
        .map_err(|e| NotRunning::Failed(e.message))?
        .clone();
    let session = |which: EngineService| {
        sessions
            .iter()
            .find(|(s, _)| *s == which)
            .map(|(_, s)| s.clone())
            .ok_or(NotRunning::NotConnected)
    };
    let (ms, zs) = (
        session(EngineService::Microsoft)?,
        session(EngineService::Zoho)?,
    );
    let api = zs
        .token_set()
        .await
        .api_domain
        .ok_or(NotRunning::NeedsSignIn(EngineService::Zoho))?;
    let graph = GraphClient::new(
        GraphConfig::new(endpoints.graph.clone()),
        Arc::new(SessionTokens(ms)),
    )
    .map_err(|e| connect_failure(e.into()))?;
    let zoho = ZohoClient::new(ZohoConfig::new(api), Arc::new(SessionTokens(zs)))
        .map_err(|e| connect_failure(e.into()))?;
    Ok(Clients {
        graph,
        zoho,
        sessions,
    })
}

/// Reloads both saved sessions from the keychain and builds the runner over every module.
async fn build_runner(app: &AppHandle) -> Result<(SyncRunner, Sessions), NotRunning> {
    let state = app.state::<AppState>();
    let Clients {
        graph,
        zoho,
        sessions,
    } = load_clients(app).await?;
    let modules = connect_modules(graph, zoho, tokio::runtime::Handle::current())
        .await
        .map_err(connect_failure)?;
    // The runner has its own connection to the store (WAL: the window's reads never wait
    // for a round's writes).
    let path = crmsync_engine::paths::store_path(std::path::Path::new(&state.data_dir));
    let store = Store::open(&path)
        .map_err(|e| NotRunning::Failed(format!("cannot open the local store: {e}")))?;
    Ok((SyncRunner::new(store, modules), sessions))
}

fn emit(app: &AppHandle, event: SyncEvent) {
    use tauri_specta::Event;
    if let Err(e) = event.emit(app) {
        tracing::debug!(error = %e, "cannot send a sync event to the window");
    }
}

/// Forwards the worker's progress to the window, the tray and the notifications.
fn forward_progress(
    app: AppHandle,
    mut rx: tokio::sync::broadcast::Receiver<Progress>,
    sessions: Sessions,
) -> tauri::async_runtime::JoinHandle<()> {
    tauri::async_runtime::spawn(async move {
        loop {
            let progress = match rx.recv().await {
                Ok(p) => p,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            let service = app.state::<SyncService>();
            match &progress {
                Progress::Started { module } => service.round_state(&app, Some(*module)),
                Progress::Finished { module, .. } => {
                    service.round_state(&app, None);
                    // A refresh token that died during the round: say which account to
                    // connect again (the engine already marked the module).
                    let dead = sessions.iter().find(|(_, s)| {
                        matches!(s.state(), crmsync_auth::SessionState::ReconnectNeeded(_))
                    });
                    if let Some((which, _)) = dead {
                        tracing::warn!(service = ?which, "a saved sign-in stopped working");
                        service.set_state(&app, SyncState::from(NotRunning::NeedsSignIn(*which)));
                    }
                    crate::notify::after_round(&app, *module);
                }
                Progress::Stopped => break,
                Progress::Step { .. } | Progress::BackingOff { .. } => {}
            }
            if let Some(event) = SyncEvent::from_progress(&progress) {
                emit(&app, event);
            }
        }
    })
}
