//! The tray icon, in the OS language: the sync status (syncing / up to date / needs
//! attention), Sync now, Open, Pause all sync, Quit.

use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};

use crate::commands::{AppState, SyncState};
use crate::locale::Lang;
use crate::sync::SyncService;

const TRAY_ID: &str = "main-tray";

/// The tray's status line, as the menu and the tooltip show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayStatus {
    Syncing,
    UpToDate,
    Paused,
    /// A module is paused by a guard, failing or needs a sign-in; or the sync cannot start.
    NeedsAttention,
    /// Nothing to sync yet (an account is not connected, or the worker is starting).
    NotSyncing,
}

impl TrayStatus {
    /// The status from what the worker does and whether any module needs the user.
    pub fn of(state: &SyncState, module_needs_attention: bool) -> TrayStatus {
        match state {
            SyncState::NeedsSignIn { .. } | SyncState::Failed { .. } => TrayStatus::NeedsAttention,
            _ if module_needs_attention => TrayStatus::NeedsAttention,
            SyncState::Syncing { .. } => TrayStatus::Syncing,
            SyncState::Idle { .. } => TrayStatus::UpToDate,
            SyncState::Paused => TrayStatus::Paused,
            SyncState::Starting | SyncState::NotConnected => TrayStatus::NotSyncing,
        }
    }

    /// Its words in `lang`.
    pub fn text(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (TrayStatus::Syncing, Lang::En) => "Syncing…",
            (TrayStatus::UpToDate, Lang::En) => "Up to date",
            (TrayStatus::Paused, Lang::En) => "Sync paused",
            (TrayStatus::NeedsAttention, Lang::En) => "Needs attention — open CRM Sync",
            (TrayStatus::NotSyncing, Lang::En) => "Not syncing — connect both accounts",
            (TrayStatus::Syncing, Lang::Ja) => "同期中…",
            (TrayStatus::UpToDate, Lang::Ja) => "最新の状態です",
            (TrayStatus::Paused, Lang::Ja) => "同期を一時停止中",
            (TrayStatus::NeedsAttention, Lang::Ja) => "確認が必要です — CRM Sync を開いてください",
            (TrayStatus::NotSyncing, Lang::Ja) => {
                "同期していません — 両方のアカウントを接続してください"
            }
        }
    }
}

struct Labels {
    sync_now: &'static str,
    open: &'static str,
    pause: &'static str,
    quit: &'static str,
}

fn labels(lang: Lang) -> Labels {
    match lang {
        Lang::En => Labels {
            sync_now: "Sync now",
            open: "Open CRM Sync",
            pause: "Pause all sync",
            quit: "Quit",
        },
        Lang::Ja => Labels {
            sync_now: "今すぐ同期",
            open: "CRM Sync を開く",
            pause: "すべての同期を一時停止",
            quit: "終了",
        },
    }
}

/// The menu items the tray updates.
struct TrayItems {
    status: MenuItem<tauri::Wry>,
    pause: CheckMenuItem<tauri::Wry>,
}

pub fn build(app: &AppHandle) -> tauri::Result<()> {
    let lang = crate::locale::os_lang();
    let l = labels(lang);
    let status = MenuItem::with_id(
        app,
        "status",
        TrayStatus::NotSyncing.text(lang),
        false,
        None::<&str>,
    )?;
    let sync_now = MenuItem::with_id(app, "sync_now", l.sync_now, true, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", l.open, true, None::<&str>)?;
    let pause = CheckMenuItem::with_id(app, "pause", l.pause, true, false, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", l.quit, true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &sync_now,
            &open,
            &pause,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("CRM Sync")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => crate::show_main_window(app),
            "sync_now" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    if let Err(e) = app.state::<SyncService>().sync_now().await {
                        tracing::info!(error = %e.message, "tray: sync now refused");
                        crate::show_main_window(&app);
                    }
                });
            }
            "pause" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    let sync = app.state::<SyncService>();
                    let paused = !sync.is_paused();
                    sync.set_paused(&app, paused).await;
                });
            }
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    app.manage(TrayItems { status, pause });
    Ok(())
}

/// Whether any enabled module waits for the user (paused, failing, needs sign-in).
fn module_needs_attention(app: &AppHandle) -> bool {
    let Some(state) = app.try_state::<AppState>() else {
        return false;
    };
    state
        .with_store(|store| Ok(store.modules()?))
        .map(|ms| {
            ms.iter().any(|m| {
                m.enabled
                    && matches!(
                        m.status,
                        crmsync_engine::ModuleStatus::Paused(_)
                            | crmsync_engine::ModuleStatus::Error(_)
                            | crmsync_engine::ModuleStatus::NeedsSignIn
                    )
            })
        })
        .unwrap_or(false)
}

/// Shows the current sync status in the tray menu and tooltip.
pub fn refresh(app: &AppHandle) {
    let (Some(items), Some(sync)) = (app.try_state::<TrayItems>(), app.try_state::<SyncService>())
    else {
        return;
    };
    let lang = crate::locale::os_lang();
    let status = TrayStatus::of(&sync.state(), module_needs_attention(app));
    let text = status.text(lang);
    let _ = items.status.set_text(text);
    let _ = items.pause.set_checked(sync.is_paused());
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(format!("CRM Sync — {text}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::Module;

    #[test]
    fn attention_wins_over_idle_and_syncing() {
        assert_eq!(
            TrayStatus::of(&SyncState::Idle { every_minutes: 2 }, false),
            TrayStatus::UpToDate
        );
        assert_eq!(
            TrayStatus::of(
                &SyncState::Syncing {
                    module: Module::Contacts
                },
                false
            ),
            TrayStatus::Syncing
        );
        assert_eq!(
            TrayStatus::of(&SyncState::Idle { every_minutes: 2 }, true),
            TrayStatus::NeedsAttention
        );
        assert_eq!(
            TrayStatus::of(
                &SyncState::NeedsSignIn {
                    service: crate::accounts::Service::Zoho
                },
                false
            ),
            TrayStatus::NeedsAttention
        );
        assert_eq!(
            TrayStatus::of(&SyncState::Paused, false),
            TrayStatus::Paused
        );
        assert_eq!(
            TrayStatus::of(&SyncState::NotConnected, false),
            TrayStatus::NotSyncing
        );
        assert_ne!(
            TrayStatus::UpToDate.text(Lang::Ja),
            TrayStatus::UpToDate.text(Lang::En)
        );
    }
}
