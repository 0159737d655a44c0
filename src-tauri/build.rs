//! Reads the root `tauri.conf.json` (this package lives at the workspace root)
//! and declares the app's own commands so capabilities can grant them one by one.

/// Every command the shell exposes. A command missing here cannot be invoked;
/// one listed here still needs an `allow-…` entry in `src-tauri/capabilities/`.
const COMMANDS: &[&str] = &[
    "app_info",
    "list_modules",
    "enable_module",
    "disable_module",
    "preview_module",
    "set_delete_propagation",
    "sync_state",
    "sync_now",
    "confirm_deletes",
    "contact_mapping",
    "save_contact_mapping",
    "accounts",
    "connect",
    "cancel_sign_in",
    "disconnect",
    "get_settings",
    "save_settings",
    "dismiss_welcome",
    "export_diagnostics",
    "activity",
    "restore_record",
    "conflicts",
    "resolve_conflict",
    "list_directory_users",
    "invite_directory_users",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri build script failed");
}
