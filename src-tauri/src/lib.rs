//! CRM Sync desktop shell. It only wires: the store and the sync worker come from the
//! engine crates, the modules from crmsync-connect; this crate owns windows, tray,
//! notifications, plugins and IPC.

mod accounts;
mod activity;
mod bindings;
mod commands;
mod diagnostics;
mod directory;
mod error;
mod locale;
mod mapping;
mod notify;
mod sandbox;
mod settings;
mod sync;
mod tray;

use std::sync::Mutex;

use tauri::Manager;

use accounts::{Connections, Endpoints};
pub use bindings::{builder as bindings_builder, render as render_bindings, BINDINGS_PATH};
pub use commands::AppState;
use commands::Mode;
pub use error::{CommandError, ErrorCode};
use sandbox::Sandbox;

/// Opens the store in the data dir (remembering why if it cannot) and starts
/// the built-in sandbox. Real accounts are not wired yet, so the app always
/// runs against the sandbox for now.
fn open_state(app: &tauri::AppHandle) -> (AppState, Sandbox, Connections) {
    let Some(dir) = crmsync_engine::paths::data_dir() else {
        let why = "the OS reports no data directory for this user".to_owned();
        let state = AppState {
            store: Err(why.clone()),
            data_dir: String::new(),
            mode: Mode::SandboxFailed { message: why },
        };
        let connections = Connections::new(Err(
            "no data directory, so the built-in sandbox did not start".to_owned(),
        ));
        return (state, Sandbox::default(), connections);
    };
    let path = crmsync_engine::paths::store_path(&dir);
    let store = crmsync_engine::Store::open(&path)
        .map(Mutex::new)
        .map_err(|e| {
            tracing::error!(error = %e, path = %path.display(), "cannot open the store");
            format!("cannot open the local store at {}: {e}", path.display())
        });
    // Real accounts when the settings say so (and both client ids are set); else the sandbox.
    let real = settings::real_endpoints(app);
    let (sandbox, mode, connections) = match real {
        Some(real) => {
            tracing::info!(tenant = %real.microsoft_tenant, "real accounts");
            (
                Sandbox::default(),
                Mode::Real {
                    microsoft_tenant: real.microsoft_tenant,
                },
                Connections::new(Ok(real.endpoints)),
            )
        }
        None => match Sandbox::start(&dir) {
            Ok((sandbox, urls)) => {
                let url = urls.login.trim_end_matches("/login").to_owned();
                let endpoints = Endpoints::sandbox(&urls)
                    .ok_or_else(|| "the sandbox serves no Zoho data centre".to_owned());
                (sandbox, Mode::Sandbox { url }, Connections::new(endpoints))
            }
            Err(message) => {
                tracing::error!(%message, "sandbox failed");
                let connections = Connections::new(Err(message.clone()));
                (
                    Sandbox::default(),
                    Mode::SandboxFailed { message },
                    connections,
                )
            }
        },
    };
    let state = AppState {
        store,
        data_dir: dir.display().to_string(),
        mode,
    };
    (state, sandbox, connections)
}

/// Shows and focuses the main window (tray "Open", second launch).
pub(crate) fn show_main_window(app: &tauri::AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// SIGTERM/SIGINT (logout, shutdown, Ctrl-C) leave through the same door as
/// tray "Quit", so the exit handler runs and nothing is left unsaved.
fn exit_on_signal(app: tauri::AppHandle) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::warn!("cannot listen for termination signals");
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        tracing::info!("termination signal: exiting");
        app.exit(0);
    });
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
    let app = tauri::Builder::default()
        // First, so a second launch is caught before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            show_main_window(app);
        }))
        .plugin(tauri_plugin_store::Builder::default().build())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            // After the plugins: a second launch has already handed over to the first.
            let (state, sandbox, connections) = open_state(app.handle());
            app.manage(state);
            app.manage(sandbox);
            app.manage(connections);
            app.manage(sync::SyncService::default());
            app.manage(notify::Notified::default());
            specta.mount_events(app);
            tray::build(app.handle())?;
            exit_on_signal(app.handle().clone());
            // Reload the saved sign-ins and start the sync worker.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                handle.state::<sync::SyncService>().restart(&handle).await;
            });
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
        .build(tauri::generate_context!())
        .expect("error while building CRM Sync");
    app.run(|app, event| {
        if let tauri::RunEvent::Exit = event {
            // Stop the worker between two actions, then save the sandbox's demo data.
            // Bounded: this runs on the main thread, which the worker's tray updates also need.
            if let Some(sync) = app.try_state::<sync::SyncService>() {
                let stopped = tauri::async_runtime::block_on(tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    sync.stop(),
                ));
                if stopped.is_err() {
                    tracing::warn!("the sync worker did not stop within 5 s; exiting anyway");
                }
            }
            if let Some(sandbox) = app.try_state::<Sandbox>() {
                sandbox.stop();
            }
        }
    });
}
