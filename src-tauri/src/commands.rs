//! The commands the window may call, and the DTOs they exchange.
//!
//! Architecture invariant: this module is the only place that knows the IPC
//! shapes. Engine types are converted here, by hand, into these DTOs.

use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::{AppHandle, State};

use crmsync_engine::{ModuleKind, ModuleState, ModuleStatus, Service as EngineService, Store};

use crate::accounts::{connect_service, Connections, Service};
use crate::error::{CommandError, ErrorCode};
use crate::locale::Lang;

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

/// One row of the integration page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct ModuleView {
    pub module: Module,
    pub enabled: bool,
    pub status: Status,
    /// Delete the CRM record when it is deleted in Microsoft 365.
    pub delete_propagation: bool,
    /// RFC 3339, UTC.
    pub last_sync_at: Option<String>,
}

impl From<ModuleState> for ModuleView {
    fn from(m: ModuleState) -> Self {
        ModuleView {
            module: m.module.into(),
            enabled: m.enabled,
            status: m.status.into(),
            delete_propagation: m.delete_propagation,
            last_sync_at: m
                .last_sync_at
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }
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
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.data_dir.clone(),
        lang: crate::locale::os_lang(),
        mode: state.mode.clone(),
    }
}

/// Every module's state, read from the store.
#[tauri::command]
#[specta::specta]
pub fn list_modules(state: State<'_, AppState>) -> Result<Vec<ModuleView>, CommandError> {
    state.with_store(|store| Ok(store.modules()?.into_iter().map(Into::into).collect()))
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
    state.with_store(|store| Ok(store.enable(module.into(), Utc::now())?.into()))
}
