//! The first-run welcome and the settings dialog in the real window: on a fresh data
//! dir the welcome shows; "Connect Zoho CRM" runs the accounts panel's sign-in (the
//! test plays the browser); Settings changes the interval and the conflict policy
//! (kept in settings.json and applied to every module in the store) and exports
//! diagnostics, a file with no token and no full e-mail address in it. In English and
//! in Japanese. Dismissing the welcome is remembered across starts.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crmsync_e2e::{click, screenshot, text_is, App, Browser, BrowserPlayer, Keyring, Launch, WAIT};
use crmsync_engine::{paths, ModuleKind, Service, Store};

const AIKO: &str = "aiko.tanaka@sakura-demo.example";

fn store_in(dir: &Path) -> Store {
    Store::open(&paths::store_path(dir)).expect("open store")
}

async fn gone(b: &Browser, css: &str) {
    let deadline = Instant::now() + WAIT;
    while b.find(css).await.expect("find").is_some() {
        assert!(Instant::now() < deadline, "{css} is still shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn launch(keyring: &Keyring, player: &BrowserPlayer, ja: bool) -> Launch {
    let mut env = keyring.env();
    env.extend(player.env());
    if ja {
        env.push(("LANGUAGE".into(), "ja".into()));
        env.push(("LANG".into(), "ja_JP.UTF-8".into()));
    }
    Launch { env }
}

/// The stored preferences (`settings.json` in the data dir).
fn prefs_in(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("settings.json")).expect("settings.json");
    let file: serde_json::Value = serde_json::from_str(&text).expect("settings.json is JSON");
    file["prefs"].clone()
}

/// Words that look like credentials: JWTs, or long runs mixing letters and digits that
/// are not UUIDs.
fn token_like(text: &str) -> Vec<String> {
    text.split(|c: char| {
        !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '='))
    })
    .map(|w| w.trim_matches(|c: char| matches!(c, '.' | '=' | '-' | '_')))
    .filter(|w| {
        let uuid = w.len() == 36 && w.split('-').map(str::len).eq([8, 4, 4, 4, 12]);
        let digits = w.chars().filter(char::is_ascii_digit).count();
        let letters = w.chars().filter(char::is_ascii_alphabetic).count();
        w.starts_with("eyJ") || (w.len() >= 32 && !uuid && digits >= 4 && letters >= 4)
    })
    .map(str::to_owned)
    .collect()
}

struct Words {
    welcome_title: &'static str,
    connect: &'static str,
    saved: &'static str,
    exported_prefix: &'static str,
    real_needs_ms_id: &'static str,
}

const EN: Words = Words {
    welcome_title: "Welcome to CRM Sync",
    connect: "Connect Zoho CRM",
    saved: "Settings saved.",
    exported_prefix: "Saved to ",
    real_needs_ms_id: "Real accounts need your Microsoft application (client) id.",
};

const JA: Words = Words {
    welcome_title: "CRM Sync へようこそ",
    connect: "Zoho CRM を接続",
    saved: "設定を保存しました。",
    exported_prefix: "保存しました: ",
    real_needs_ms_id:
        "実際のアカウントを使うには Microsoft のアプリケーション（クライアント）ID が必要です。",
};

async fn welcome_connect_settings_export(test: &'static str, ja: bool, words: &'static Words) {
    let keyring = Keyring::start();
    let player = Arc::new(BrowserPlayer::start(AIKO, AIKO));
    let app = App::launch(test, launch(&keyring, &player, ja), |_| {}).await;
    let p = player.clone();
    let dir = app.data_dir().to_path_buf();
    let kept = app
        .run(move |b| async move {
            // A fresh data dir: the welcome explains both ways to run.
            text_is(&b, "#welcome-title", words.welcome_title).await;
            text_is(&b, "#welcome-connect-zoho", words.connect).await;
            b.wait_for("#welcome-sandbox .sandbox-badge", WAIT)
                .await
                .unwrap();
            b.wait_for("#welcome-open-settings", WAIT).await.unwrap();
            b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
                .await
                .unwrap();
            screenshot(&b, test, "01-welcome").await;

            // Connect through the welcome: the accounts panel's sign-in runs.
            click(&b, "#welcome-connect-zoho").await;
            b.wait_for("#account-zoho[data-state='connected']", WAIT)
                .await
                .expect("Zoho CRM connects");
            gone(&b, "#welcome").await;
            let opened = p.opened();
            assert_eq!(opened.len(), 1, "{opened:#?}");
            assert!(
                opened[0].contains("/zoho/us/accounts/oauth/v2/auth"),
                "{}",
                opened[0]
            );
            screenshot(&b, test, "02-connected").await;

            // Settings: the interval and the conflict policy.
            click(&b, "#open-settings").await;
            b.wait_for("#settings-dialog", WAIT).await.unwrap();
            b.wait_for("#settings-interval option[value='2']:checked", WAIT)
                .await
                .expect("the default interval is 2 minutes");
            b.wait_for("#settings-mode-sandbox:checked", WAIT)
                .await
                .unwrap();
            screenshot(&b, test, "03-settings").await;
            click(&b, "#settings-interval option[value='15']").await;
            click(&b, "#settings-policy option[value='crm_wins']").await;

            // Real accounts without client ids: inline errors, nothing saved.
            click(&b, "#settings-mode-real").await;
            b.wait_for("#settings-ms-client-id", WAIT).await.unwrap();
            click(&b, "#settings-save").await;
            text_is(&b, "#settings-ms-client-id-error", words.real_needs_ms_id).await;
            let invalid = b.find("#settings-zoho-client-id").await.unwrap().unwrap();
            assert_eq!(
                b.attribute(&invalid, "aria-invalid")
                    .await
                    .unwrap()
                    .as_deref(),
                Some("true")
            );
            screenshot(&b, test, "04-inline-errors").await;
            click(&b, "#settings-mode-sandbox").await;
            click(&b, "#settings-save").await;
            text_is(&b, "#settings-status", words.saved).await;

            // Export diagnostics: the path is shown.
            click(&b, "#settings-export").await;
            let result = b
                .wait_for("#settings-export-result[data-path]", WAIT)
                .await
                .expect("diagnostics exported");
            let path = b.attribute(&result, "data-path").await.unwrap().unwrap();
            let shown = b.text(&result).await.unwrap();
            assert_eq!(shown, format!("{}{path}", words.exported_prefix));
            screenshot(&b, test, "05-diagnostics-exported").await;
            click(&b, "#settings-close").await;
            gone(&b, "#settings-dialog").await;
            assert!(p.failures().is_empty(), "{:?}", p.failures());
            std::fs::write(dir.join("exported-path"), path).unwrap();
        })
        .await;

    // The preferences are in settings.json, the policy on every module in the store.
    let prefs = prefs_in(kept.path());
    assert_eq!(prefs["interval_minutes"], 15, "{prefs}");
    assert_eq!(prefs["conflict_policy"], "crm_wins", "{prefs}");
    assert_eq!(prefs["mode"], "sandbox", "{prefs}");
    let store = store_in(kept.path());
    for module in ModuleKind::ALL {
        let policy = store.settings(module).unwrap().conflict_policy;
        assert_eq!(format!("{policy:?}"), "CrmWins", "{module:?}");
    }
    assert_eq!(store.account(Service::Zoho).unwrap().unwrap().email, AIKO);

    // The diagnostics file: in the data dir, redacted.
    let path = std::fs::read_to_string(kept.path().join("exported-path")).unwrap();
    let path = Path::new(&path);
    assert_eq!(path.parent(), Some(kept.path()));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("crmsync-diagnostics-") && name.ends_with("Z.json"),
        "{name}"
    );
    let text = std::fs::read_to_string(path).expect("the diagnostics file exists");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert!(
        !text.contains(AIKO),
        "a full e-mail address is left:\n{text}"
    );
    assert!(text.contains("a***@sakura-demo.example"), "{text}");
    assert!(token_like(&text).is_empty(), "{:?}", token_like(&text));
    for word in ["Bearer ey", "access_token\":", "refresh_token\":"] {
        assert!(!text.contains(word), "{word} in:\n{text}");
    }
    assert_eq!(report["settings"]["preferences"]["interval_minutes"], 15);
    assert_eq!(report["mode"]["running"]["kind"], "sandbox");
    assert_eq!(report["store"]["modules"].as_array().map(Vec::len), Some(3));
    drop(keyring);
}

#[tokio::test]
async fn welcome_connect_settings_and_diagnostics_in_english() {
    welcome_connect_settings_export("settings_welcome_en", false, &EN).await;
}

#[tokio::test]
async fn welcome_connect_settings_and_diagnostics_in_japanese() {
    welcome_connect_settings_export("settings_welcome_ja", true, &JA).await;
}

#[tokio::test]
async fn a_dismissed_welcome_stays_away() {
    const TEST: &str = "settings_welcome_dismissed";
    let player = Arc::new(BrowserPlayer::start(AIKO, AIKO));
    let keyring = Keyring::start();
    let app = App::launch(TEST, launch(&keyring, &player, false), |_| {}).await;
    let kept = app
        .run(|b| async move {
            b.wait_for("#welcome", WAIT)
                .await
                .expect("the welcome shows");
            click(&b, "#welcome-dismiss").await;
            gone(&b, "#welcome").await;
        })
        .await;
    let prefs = prefs_in(kept.path());
    assert_eq!(prefs["welcome_dismissed"], true, "{prefs}");
    let settings = std::fs::read(kept.path().join("settings.json")).unwrap();

    // The next start (same preferences, still no Zoho CRM account): no welcome.
    let app = App::launch(TEST, launch(&keyring, &player, false), |dir| {
        std::fs::write(dir.join("settings.json"), &settings).unwrap();
    })
    .await;
    app.run(|b| async move {
        b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
            .await
            .unwrap();
        b.wait_for("#open-settings", WAIT).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            b.find("#welcome").await.unwrap().is_none(),
            "the welcome came back"
        );
        screenshot(&b, TEST, "01-no-welcome").await;
    })
    .await;
    drop(keyring);
}
