//! The typed command surface, exported to `ui/src/bindings.ts`.
//!
//! The bindings are generated, never edited by hand. A unit test fails when the
//! committed file differs from what the commands now produce; regenerate with
//! `CRMSYNC_UPDATE_BINDINGS=1 cargo test -p crmsync-app bindings`.

use tauri_specta::{collect_commands, collect_events, Builder};

use crate::{accounts, activity, commands, diagnostics, directory, mapping, settings};

/// The bindings file, relative to the workspace root.
pub const BINDINGS_PATH: &str = "ui/src/bindings.ts";

/// The specta builder that both the app (for invoke handling) and the exporter use.
pub fn builder() -> Builder<tauri::Wry> {
    Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            commands::app_info,
            commands::list_modules,
            commands::enable_module,
            commands::disable_module,
            commands::preview_module,
            commands::set_delete_propagation,
            commands::sync_state,
            commands::sync_now,
            commands::confirm_deletes,
            mapping::contact_mapping,
            mapping::save_contact_mapping,
            accounts::accounts,
            accounts::connect,
            accounts::cancel_sign_in,
            accounts::disconnect,
            settings::get_settings,
            settings::save_settings,
            settings::dismiss_welcome,
            diagnostics::export_diagnostics,
            activity::activity,
            activity::restore_record,
            activity::conflicts,
            activity::resolve_conflict,
            directory::list_directory_users,
            directory::invite_directory_users,
        ])
        .events(collect_events![commands::SyncEvent])
}

/// Renders the TypeScript bindings.
///
/// # Errors
/// When a type cannot be expressed in TypeScript.
pub fn render() -> Result<String, String> {
    let path = std::env::temp_dir().join(format!("bindings-{}.ts", std::process::id()));
    builder()
        .export(
            specta_typescript::Typescript::default()
                .header("// @ts-nocheck: generated code; its types are still checked where they are used.\n// Generated from the Rust commands by tauri-specta. Do not edit.\n// Regenerate: CRMSYNC_UPDATE_BINDINGS=1 cargo test -p crmsync-app bindings\n"),
            &path,
        )
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&path);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_up_to_date() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let path = root.join(BINDINGS_PATH);
        let fresh = render().expect("render bindings");
        if std::env::var_os("CRMSYNC_UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &fresh).expect("write bindings");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{BINDINGS_PATH} is stale: regenerate with `CRMSYNC_UPDATE_BINDINGS=1 cargo test -p crmsync-app bindings` and commit it"
        );
    }
}
