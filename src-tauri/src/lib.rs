//! CRM Sync desktop shell. It only wires: the store and (later) the sync worker
//! come from the engine crates; this crate owns windows, tray, plugins and IPC.

mod bindings;
mod commands;
mod error;
mod locale;
mod tray;

use std::sync::Mutex;

use tauri::Manager;

pub use bindings::{builder as bindings_builder, render as render_bindings, BINDINGS_PATH};
pub use commands::AppState;
pub use error::{CommandError, ErrorCode};

/// Opens the store in the data dir, remembering why if it cannot.
fn open_state() -> AppState {
    let Some(dir) = crmsync_engine::paths::data_dir() else {
        return AppState {
            store: Err("the OS reports no data directory for this user".into()),
            data_dir: String::new(),
        };
    };
    let path = crmsync_engine::paths::store_path(&dir);
    let store = crmsync_engine::Store::open(&path)
        .map(Mutex::new)
        .map_err(|e| {
            tracing::error!(error = %e, path = %path.display(), "cannot open the store");
            format!("cannot open the local store at {}: {e}", path.display())
        });
    AppState {
        store,
        data_dir: dir.display().to_string(),
    }
}

/// Shows and focuses the main window (tray "Open", second launch).
pub(crate) fn show_main_window(app: &tauri::AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Runs the desktop app until the user quits.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRMSYNC_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let specta = bindings::builder();
    tauri::Builder::default()
        // First, so a second launch is caught before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            show_main_window(app);
        }))
        .plugin(tauri_plugin_store::Builder::default().build())
        .plugin(tauri_plugin_opener::init())
        .manage(open_state())
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            specta.mount_events(app);
            tray::build(app.handle())?;
            tracing::info!(data_dir = %app.state::<AppState>().data_dir, "CRM Sync started");
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps the app (and its sync) running in the tray.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == "main" {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .run(tauri::generate_context!())
        .expect("error while running CRM Sync");
}
