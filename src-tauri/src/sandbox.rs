//! The built-in sandbox: the Microsoft 365 and Zoho CRM emulators, started
//! in-process on loopback so the app can be tried with no account. Its state
//! is kept in `sandbox.json` in the data directory between runs.

use std::path::Path;
use std::sync::Mutex;

use crmsync_sandbox::{Options, RunningSandbox};

/// File name of the sandbox's snapshot inside the data directory.
const SNAPSHOT_FILE: &str = "sandbox.json";

/// The running sandbox, held until the app exits.
#[derive(Default)]
pub struct Sandbox(Mutex<Option<RunningSandbox>>);

impl Sandbox {
    /// Starts the emulators on a free loopback port, from the snapshot in
    /// `data_dir` if there is one, else seeded with the demo company; returns
    /// their URLs (sign-in, Graph, Zoho per data centre).
    ///
    /// # Errors
    /// A message for the user when the port cannot be bound or the snapshot is unreadable.
    pub fn start(data_dir: &Path) -> Result<(Sandbox, crmsync_sandbox::Urls), String> {
        let options = Options {
            snapshot: Some(data_dir.join(SNAPSHOT_FILE)),
            ..Options::default()
        };
        let running = tauri::async_runtime::block_on(crmsync_sandbox::start(options))
            .map_err(|e| format!("the built-in sandbox could not start: {e}"))?;
        tracing::info!(addr = %running.addr, "sandbox started");
        let urls = running.urls.clone();
        Ok((Sandbox(Mutex::new(Some(running))), urls))
    }

    /// Stops the emulators and saves their state.
    pub fn stop(&self) {
        let running = self.0.lock().ok().and_then(|mut guard| guard.take());
        if let Some(running) = running {
            if let Err(e) = tauri::async_runtime::block_on(running.shutdown()) {
                tracing::error!(error = %e, "sandbox did not shut down cleanly");
            }
        }
    }
}
