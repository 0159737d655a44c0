//! Where the app keeps its data on this machine.

use std::path::PathBuf;

/// The application identifier; also the folder name under the OS data dir.
/// Must match `identifier` in `tauri.conf.json`.
pub const APP_IDENTIFIER: &str = "app.crmsync.desktop";

/// Environment variable that overrides the data directory (tests, portable runs).
pub const DATA_DIR_ENV: &str = "CRMSYNC_DATA_DIR";

/// File name of the SQLite store inside the data directory.
pub const STORE_FILE: &str = "crmsync.sqlite3";

/// The data directory: `$CRMSYNC_DATA_DIR` if set, else the OS app-data dir
/// (`~/.local/share/app.crmsync.desktop` on Linux, `~/Library/Application
/// Support/…` on macOS, `%APPDATA%\…` on Windows). `None` only when the OS
/// reports no home directory.
pub fn data_dir() -> Option<PathBuf> {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::data_dir().map(|d| d.join(APP_IDENTIFIER)),
    }
}

/// Path of the SQLite store for a data directory.
pub fn store_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join(STORE_FILE)
}
