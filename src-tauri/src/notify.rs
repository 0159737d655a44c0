//! Desktop notifications, only for what needs the user: an account to connect again, a
//! conflict waiting for a choice, a module paused by a safety guard. Each is shown once until
//! the module's state changes.

use std::collections::HashMap;
use std::sync::Mutex;

use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;

use crmsync_engine::{ModuleKind, ModuleStatus};

use crate::commands::AppState;
use crate::locale::Lang;

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A connection needs a new sign-in.
    Reconnect,
    /// Same-field conflicts wait for the user.
    Conflicts(usize),
    /// A safety guard paused the module; the reason says why.
    Paused(String),
}

/// The last notice shown per module (so one state is notified once).
#[derive(Default)]
pub struct Notified(Mutex<HashMap<ModuleKind, Notice>>);

fn module_name(module: ModuleKind, lang: Lang) -> &'static str {
    match (module, lang) {
        (ModuleKind::Events, Lang::En) => "Events",
        (ModuleKind::Contacts, Lang::En) => "Contacts",
        (ModuleKind::Tasks, Lang::En) => "Tasks",
        (ModuleKind::Events, Lang::Ja) => "予定",
        (ModuleKind::Contacts, Lang::Ja) => "連絡先",
        (ModuleKind::Tasks, Lang::Ja) => "タスク",
    }
}

/// The title and body of a notice about `module`, in `lang`.
pub fn text(notice: &Notice, module: ModuleKind, lang: Lang) -> (String, String) {
    let name = module_name(module, lang);
    match (notice, lang) {
        (Notice::Reconnect, Lang::En) => (
            "CRM Sync needs you to sign in again".to_owned(),
            format!("{name} is not syncing: open CRM Sync and connect the account again."),
        ),
        (Notice::Reconnect, Lang::Ja) => (
            "CRM Sync: もう一度サインインしてください".to_owned(),
            format!("{name}は同期していません。CRM Sync を開いてアカウントを再接続してください。"),
        ),
        (Notice::Conflicts(n), Lang::En) => (
            "CRM Sync: a conflict is waiting for you".to_owned(),
            format!("{n} {name} changed on both sides. Open CRM Sync to choose which version to keep."),
        ),
        (Notice::Conflicts(n), Lang::Ja) => (
            "CRM Sync: 競合があります".to_owned(),
            format!("{name}の {n} 件が両方で変更されました。CRM Sync を開いて残す内容を選んでください。"),
        ),
        (Notice::Paused(reason), Lang::En) => (
            format!("CRM Sync paused {name}"),
            format!("A safety check stopped the sync: {reason}. Open CRM Sync to review it."),
        ),
        (Notice::Paused(reason), Lang::Ja) => (
            format!("CRM Sync: {name}の同期を一時停止しました"),
            format!("安全チェックにより同期を停止しました: {reason}。CRM Sync を開いて確認してください。"),
        ),
    }
}

/// What to notify (if anything) for a module in `status` whose last round queued `conflicts`.
pub fn notice_for(status: &ModuleStatus, conflicts: usize) -> Option<Notice> {
    match status {
        ModuleStatus::NeedsSignIn => Some(Notice::Reconnect),
        ModuleStatus::Paused(reason) => Some(Notice::Paused(reason.clone())),
        _ if conflicts > 0 => Some(Notice::Conflicts(conflicts)),
        _ => None,
    }
}

/// Shows `notice` for `module` unless it was the last one shown for it; `None` forgets it.
pub fn show(app: &AppHandle, module: ModuleKind, notice: Option<Notice>) {
    let Some(notified) = app.try_state::<Notified>() else {
        return;
    };
    {
        let mut last = notified
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &notice {
            None => {
                last.remove(&module);
                return;
            }
            Some(n) if last.get(&module) == Some(n) => return,
            Some(n) => {
                last.insert(module, n.clone());
            }
        }
    }
    let Some(notice) = notice else { return };
    let (title, body) = text(&notice, module, crate::locale::os_lang());
    tracing::info!(?module, ?notice, "desktop notification");
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::info!(error = %e, "the desktop notification could not be shown");
    }
}

/// After a round of `module`: notifies what needs the user.
pub fn after_round(app: &AppHandle, module: ModuleKind) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let read = app.state::<AppState>().with_store(|store| {
            Ok((
                store.module(module)?.status,
                store.module_counts(module)?.conflicts,
            ))
        });
        let Ok((status, conflicts)) = read else {
            return;
        };
        show(&app, module, notice_for(&status, conflicts));
        crate::tray::refresh(&app);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_needs_the_user_is_notified() {
        assert_eq!(notice_for(&ModuleStatus::Active, 0), None);
        assert_eq!(notice_for(&ModuleStatus::Error("x".into()), 0), None);
        assert_eq!(
            notice_for(&ModuleStatus::Active, 2),
            Some(Notice::Conflicts(2))
        );
        assert_eq!(
            notice_for(&ModuleStatus::NeedsSignIn, 2),
            Some(Notice::Reconnect)
        );
        assert_eq!(
            notice_for(&ModuleStatus::Paused("many deletes".into()), 0),
            Some(Notice::Paused("many deletes".into()))
        );
    }

    #[test]
    fn notices_speak_both_languages() {
        for notice in [
            Notice::Reconnect,
            Notice::Conflicts(3),
            Notice::Paused("r".into()),
        ] {
            let (en, _) = text(&notice, ModuleKind::Contacts, Lang::En);
            let (ja, body) = text(&notice, ModuleKind::Contacts, Lang::Ja);
            assert_ne!(en, ja);
            assert!(format!("{ja}{body}").contains("連絡先"), "{ja} {body}");
        }
    }
}
