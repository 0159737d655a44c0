//! The integration page in the real window, backed by the real store.

use chrono::{TimeZone, Utc};
use crmsync_e2e::{App, Launch, WAIT};
use crmsync_engine::{paths, Account, ModuleKind, ModuleStatus, Service, Store};

fn store_in(dir: &std::path::Path) -> Store {
    Store::open(&paths::store_path(dir)).expect("open store")
}

fn account(service: Service) -> Account {
    Account {
        service,
        user_id: "4150868000000225013".into(),
        email: "aiko.tanaka@sakura-demo.example".into(),
        display_name: "田中 愛子".into(),
        organisation: "Sakura Trading (Demo)".into(),
        data_centre: (service == Service::Zoho).then(|| "us".into()),
        connected_at: Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
    }
}

#[tokio::test]
async fn lists_the_three_modules_with_the_status_the_store_holds() {
    let app = App::launch("lists_modules", Launch::default(), |dir| {
        // A state the UI cannot invent: only the store knows Tasks is paused, and why.
        store_in(dir)
            .set_status(
                ModuleKind::Tasks,
                true,
                &ModuleStatus::Paused("120 deletions wait for your approval".into()),
                Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap(),
            )
            .unwrap();
    })
    .await;
    app.run(|b| async move {
        b.wait_for("#module-tasks", WAIT)
            .await
            .expect("the module list renders");
        let cards = b.find_all("section.module").await.unwrap();
        assert_eq!(cards.len(), 3, "exactly three modules");
        for (module, title) in [
            ("events", "Events"),
            ("contacts", "Contacts"),
            ("tasks", "Tasks"),
        ] {
            let text = b
                .wait_for_text(&format!("#title-{module}"), WAIT, |t| !t.is_empty())
                .await
                .unwrap();
            assert_eq!(text, title);
        }
        let events = b
            .wait_for_text("#status-events", WAIT, |t| !t.is_empty())
            .await
            .unwrap();
        assert_eq!(events, "Inactive");
        let contacts = b
            .wait_for_text("#status-contacts", WAIT, |t| !t.is_empty())
            .await
            .unwrap();
        assert_eq!(contacts, "Inactive");
        let tasks = b
            .wait_for_text("#status-tasks", WAIT, |t| !t.is_empty())
            .await
            .unwrap();
        assert_eq!(tasks, "Paused — 120 deletions wait for your approval");
        // An enabled module offers Sync now and Disable, not Enable.
        b.wait_for("#sync-tasks", WAIT)
            .await
            .expect("Sync now shown");
        b.wait_for("#disable-tasks", WAIT)
            .await
            .expect("Disable shown");
        assert!(b.find("#enable-tasks").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn enable_without_accounts_shows_the_typed_error_from_rust() {
    let app = App::launch("enable_not_connected", Launch::default(), |_| {}).await;
    let data_dir = app
        .run(|b| async move {
            let button = b.wait_for("#enable-contacts", WAIT).await.unwrap();
            b.click(&button).await.unwrap();
            let message = b
                .wait_for_text("#message-contacts", WAIT, |t| !t.is_empty())
                .await
                .expect("an error message appears under Contacts");
            // Known codes are worded by the UI, in the UI's language.
            assert_eq!(message, "Connect your Zoho CRM account first.");
            let node = b.find("#message-contacts").await.unwrap().unwrap();
            assert_eq!(
                b.attribute(&node, "data-code").await.unwrap().as_deref(),
                Some("zoho_not_connected")
            );
            assert_eq!(
                b.wait_for_text("#status-contacts", WAIT, |t| !t.is_empty())
                    .await
                    .unwrap(),
                "Inactive"
            );
        })
        .await;
    assert!(
        !store_in(data_dir.path())
            .module(ModuleKind::Contacts)
            .unwrap()
            .enabled
    );
}

#[tokio::test]
async fn accounts_without_saved_sign_ins_ask_to_reconnect_and_enable_nothing() {
    // The store knows both accounts, but the keychain holds no sign-in for them (e.g. the
    // keychain was reset): the sync cannot start, says which account to connect again, and
    // enabling explains why instead of pretending.
    let app = App::launch("enable_without_sign_ins", Launch::default(), |dir| {
        let store = store_in(dir);
        store.save_account(&account(Service::Zoho)).unwrap();
        store.save_account(&account(Service::Microsoft)).unwrap();
        store
            .enable(
                ModuleKind::Tasks,
                Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap(),
            )
            .unwrap();
    })
    .await;
    let data_dir = app
        .run(|b| async move {
            b.wait_for("#sync-state[data-state='needs_sign_in']", WAIT)
                .await
                .expect("the sync says a sign-in is needed");
            let button = b.wait_for("#enable-events", WAIT).await.unwrap();
            b.click(&button).await.unwrap();
            let message = b
                .wait_for_text("#message-events", WAIT, |t| t.contains("not running"))
                .await
                .expect("the reason shows under Events");
            assert!(message.contains("Microsoft 365"), "{message}");
            let node = b.find("#message-events").await.unwrap().unwrap();
            assert_eq!(
                b.attribute(&node, "data-code").await.unwrap().as_deref(),
                Some("not_syncing")
            );
            assert_eq!(
                b.wait_for_text("#status-tasks", WAIT, |t| t == "Needs sign-in")
                    .await
                    .unwrap(),
                "Needs sign-in"
            );
        })
        .await;
    let store = store_in(data_dir.path());
    assert!(!store.module(ModuleKind::Events).unwrap().enabled);
    assert_eq!(
        store.module(ModuleKind::Tasks).unwrap().status,
        ModuleStatus::NeedsSignIn
    );
}

#[tokio::test]
async fn speaks_japanese_when_the_os_does() {
    let launch = Launch {
        env: vec![
            ("LANGUAGE".into(), "ja".into()),
            ("LANG".into(), "ja_JP.UTF-8".into()),
        ],
    };
    let app = App::launch("japanese", launch, |_| {}).await;
    app.run(|b| async move {
        let title = b
            .wait_for_text("#title-contacts", WAIT, |t| !t.is_empty())
            .await
            .unwrap();
        assert_eq!(title, "連絡先");
        assert_eq!(
            b.wait_for_text("#status-events", WAIT, |t| !t.is_empty())
                .await
                .unwrap(),
            "無効"
        );
    })
    .await;
}

#[tokio::test]
async fn runs_against_the_built_in_sandbox_and_says_so() {
    let app = App::launch("sandbox_mode", Launch::default(), |_| {}).await;
    app.run(|b| async move {
        let badge = b
            .wait_for("#sandbox-badge", WAIT)
            .await
            .expect("sandbox badge shown");
        assert_eq!(b.text(&badge).await.unwrap(), "Sandbox");
        let url = b
            .attribute(&badge, "data-url")
            .await
            .unwrap()
            .expect("the badge carries the emulator address");
        assert!(url.starts_with("http://127.0.0.1:"), "loopback only: {url}");
        // The emulators really run inside the app: Graph answers as the real
        // service does to a call without a token.
        let reply = reqwest::get(format!("{url}/graph/v1.0/me")).await.unwrap();
        assert_eq!(reply.status(), 401);
        let body: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    })
    .await;
}
