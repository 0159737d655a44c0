//! Connecting both accounts in the real window, with the test playing the
//! system browser: it follows the sign-in URL the app opens, posts the
//! sandbox's sign-in form (password `sandbox`) and hits the app's loopback
//! redirect. Tokens go to a real Secret Service (a private gnome-keyring).

use std::path::Path;
use std::sync::Arc;

use crmsync_e2e::{click, screenshot, text_is, App, BrowserPlayer, Keyring, Launch, WAIT};
use crmsync_engine::{paths, ModuleKind, Service, Store};

fn store_in(dir: &Path) -> Store {
    Store::open(&paths::store_path(dir)).expect("open store")
}

fn query(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn launch(keyring: &Keyring, player: &BrowserPlayer, lang: Option<&str>) -> Launch {
    let mut env = keyring.env();
    env.extend(player.env());
    if let Some(lang) = lang {
        env.push(("LANGUAGE".into(), lang.into()));
        env.push(("LANG".into(), "ja_JP.UTF-8".into()));
    }
    Launch { env }
}

const AIKO: &str = "aiko.tanaka@sakura-demo.example";

#[tokio::test]
async fn connects_both_accounts_enables_contacts_and_disconnects() {
    const TEST: &str = "connect_en";
    let keyring = Keyring::start();
    let player = Arc::new(BrowserPlayer::start(AIKO, AIKO));
    let app = App::launch(TEST, launch(&keyring, &player, None), |_| {}).await;
    let p = player.clone();
    let dir = app.data_dir().to_path_buf();
    let kept = app
        .run(|b| async move {
            b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
                .await
                .expect("the accounts panel renders");
            b.wait_for("#module-contacts", WAIT).await.unwrap();
            screenshot(&b, TEST, "01-not-connected").await;

            // Zoho first: enabling before that is a typed error, and opens nothing.
            click(&b, "#enable-contacts").await;
            text_is(
                &b,
                "#message-contacts",
                "Connect your Zoho CRM account first.",
            )
            .await;
            assert!(
                p.opened().is_empty(),
                "nothing opened before Zoho is connected"
            );

            // Connect Zoho: the browser opens; the window says to finish there.
            p.pause();
            click(&b, "#connect-zoho").await;
            text_is(
                &b,
                "#account-signing-in-zoho",
                "Signing in — finish in your browser.",
            )
            .await;
            b.wait_for("#cancel-zoho", WAIT).await.unwrap();
            screenshot(&b, TEST, "02-signing-in").await;
            p.resume();
            text_is(&b, "#account-dc-zoho", "Data centre: United States (US)").await;
            text_is(
                &b,
                "#account-org-zoho",
                "Organisation: Sakura Trading (Demo)",
            )
            .await;
            let user = b
                .wait_for_text("#account-user-zoho", WAIT, |t| t.contains(AIKO))
                .await
                .unwrap();
            assert!(user.contains("田中 愛子"), "{user}");
            let zoho_url = p.opened()[0].clone();
            assert!(
                zoho_url.contains("/zoho/us/accounts/oauth/v2/auth"),
                "{zoho_url}"
            );
            assert_eq!(
                query(&zoho_url, "client_id").as_deref(),
                Some("1000.SANDBOXCRMSYNCDESKTOPCLIENT")
            );
            assert_eq!(
                query(&zoho_url, "code_challenge_method").as_deref(),
                Some("S256")
            );
            b.wait_for("#account-microsoft[data-state='disconnected']", WAIT)
                .await
                .unwrap();

            // Enable Contacts with no Microsoft 365 connection: a silent sign-in
            // for the CRM e-mail first; it needs the user, so the page opens once.
            let forms_before = p.forms_posted();
            click(&b, "#enable-contacts").await;
            // Then the mapping dialog (Contacts only) and the preview.
            click(&b, "#mapping-save").await;
            click(&b, "#preview-dialog-confirm").await;
            text_is(&b, "#status-contacts", "Active").await;
            text_is(&b, "#account-org-microsoft", "Tenant: sakura-demo.example").await;
            b.wait_for("#account-microsoft[data-state='connected']", WAIT)
                .await
                .unwrap();
            let opened = p.opened();
            assert_eq!(
                opened.len(),
                3,
                "Zoho, silent Microsoft, interactive Microsoft: {opened:#?}"
            );
            assert_eq!(query(&opened[1], "prompt").as_deref(), Some("none"));
            assert_eq!(query(&opened[1], "login_hint").as_deref(), Some(AIKO));
            assert_eq!(
                query(&opened[2], "prompt"),
                None,
                "the interactive page is not silent"
            );
            assert_eq!(
                query(&opened[2], "login_hint").as_deref(),
                Some(AIKO),
                "pre-filled"
            );
            assert!(p.forms_posted() > forms_before, "the user signed in once");
            screenshot(&b, TEST, "03-connected-contacts-enabled").await;

            // Disconnect Microsoft 365: the identity row goes, the module stays.
            click(&b, "#disconnect-microsoft").await;
            b.wait_for("#account-microsoft[data-state='disconnected']", WAIT)
                .await
                .unwrap();
            let store = store_in(&dir);
            assert_eq!(store.account(Service::Microsoft).unwrap(), None);
            assert!(store.account(Service::Zoho).unwrap().is_some());
            assert!(store.module(ModuleKind::Contacts).unwrap().enabled);
            drop(store);

            // Enabling Events now: the browser still has its Microsoft session,
            // so the silent sign-in completes with no prompt at all.
            let forms_before = p.forms_posted();
            click(&b, "#enable-events").await;
            click(&b, "#preview-dialog-confirm").await;
            text_is(&b, "#status-events", "Active").await;
            b.wait_for("#account-microsoft[data-state='connected']", WAIT)
                .await
                .unwrap();
            let opened = p.opened();
            assert_eq!(opened.len(), 4, "one silent sign-in: {opened:#?}");
            assert_eq!(query(&opened[3], "prompt").as_deref(), Some("none"));
            assert_eq!(p.forms_posted(), forms_before, "no form: no prompt");

            click(&b, "#disconnect-zoho").await;
            b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
                .await
                .unwrap();
            b.wait_for("#connect-zoho", WAIT).await.unwrap();
            screenshot(&b, TEST, "04-zoho-disconnected").await;
            assert!(p.failures().is_empty(), "{:?}", p.failures());
        })
        .await;
    let store = store_in(kept.path());
    assert_eq!(store.account(Service::Zoho).unwrap(), None);
    let ms = store
        .account(Service::Microsoft)
        .unwrap()
        .expect("still connected");
    assert_eq!(ms.email, AIKO);
    drop(keyring);
}

#[tokio::test]
async fn connects_in_japanese_in_the_users_data_centre_and_cancels() {
    const TEST: &str = "connect_ja";
    const KENJI: &str = "kenji.ito@sakura-jp.example";
    const YUI: &str = "yui.suzuki@sakura-demo.example";
    let keyring = Keyring::start();
    let player = Arc::new(BrowserPlayer::start(KENJI, YUI));
    let app = App::launch(TEST, launch(&keyring, &player, Some("ja")), |_| {}).await;
    let p = player.clone();
    let kept = app
        .run(|b| async move {
            b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
                .await
                .expect("the accounts panel renders");
            text_is(&b, "#connect-zoho", "接続").await;
            screenshot(&b, TEST, "01-not-connected").await;

            // The sign-in starts at the US page; the redirect names Kenji's DC.
            click(&b, "#connect-zoho").await;
            text_is(&b, "#account-dc-zoho", "データセンター: 日本 (JP)").await;
            let dc = b.find("#account-dc-zoho").await.unwrap().unwrap();
            assert_eq!(
                b.attribute(&dc, "data-dc").await.unwrap().as_deref(),
                Some("jp")
            );

            // Cancel while the browser is open.
            p.pause();
            click(&b, "#connect-microsoft").await;
            text_is(
                &b,
                "#account-signing-in-microsoft",
                "サインイン中です。ブラウザーで操作を完了してください。",
            )
            .await;
            screenshot(&b, TEST, "02-signing-in").await;
            click(&b, "#cancel-microsoft").await;
            text_is(
                &b,
                "#account-message-microsoft",
                "サインインをキャンセルしました。",
            )
            .await;
            b.wait_for("#account-microsoft[data-state='disconnected']", WAIT)
                .await
                .unwrap();
            p.abandon();

            // Enable Contacts: the silent attempt for Kenji's CRM e-mail needs
            // the user; the page opens once and Yui signs in.
            click(&b, "#enable-contacts").await;
            click(&b, "#mapping-save").await;
            click(&b, "#preview-dialog-confirm").await;
            text_is(&b, "#status-contacts", "有効").await;
            text_is(
                &b,
                "#account-org-microsoft",
                "テナント: sakura-demo.example",
            )
            .await;
            let user = b
                .wait_for_text("#account-user-microsoft", WAIT, |t| t.contains(YUI))
                .await
                .unwrap();
            assert!(user.contains("鈴木 結衣"), "{user}");
            screenshot(&b, TEST, "03-connected-contacts-enabled").await;

            click(&b, "#disconnect-microsoft").await;
            text_is(&b, "#connect-microsoft", "接続").await;
            click(&b, "#disconnect-zoho").await;
            b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
                .await
                .unwrap();
            screenshot(&b, TEST, "04-disconnected").await;
            assert!(p.failures().is_empty(), "{:?}", p.failures());
        })
        .await;
    let store = store_in(kept.path());
    assert_eq!(store.account(Service::Zoho).unwrap(), None);
    assert_eq!(store.account(Service::Microsoft).unwrap(), None);
    drop(keyring);
}

#[tokio::test]
async fn without_a_keychain_connect_is_a_clear_error_and_opens_nothing() {
    const TEST: &str = "no_keychain";
    let player = Arc::new(BrowserPlayer::start(AIKO, AIKO));
    let mut env = player.env();
    // No session bus at all, so no Secret Service.
    env.push((
        "DBUS_SESSION_BUS_ADDRESS".into(),
        "unix:path=/nonexistent/crmsync-no-bus".into(),
    ));
    let app = App::launch(TEST, Launch { env }, |_| {}).await;
    let p = player.clone();
    let kept = app
        .run(|b| async move {
            click(&b, "#connect-zoho").await;
            text_is(
                &b,
                "#account-message-zoho",
                "Signing in needs a keychain (such as GNOME Keyring or KWallet) to keep your sign-in safe, and this computer has none. To sign in anyway, turn on “keep my sign-ins in memory” in Settings.",
            )
            .await;
            let node = b.find("#account-message-zoho").await.unwrap().unwrap();
            assert_eq!(
                b.attribute(&node, "data-code").await.unwrap().as_deref(),
                Some("no_keychain")
            );
            b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
                .await
                .unwrap();
            screenshot(&b, TEST, "01-no-keychain").await;
            assert!(p.opened().is_empty(), "no browser before tokens can be kept");

            // The explicit opt-in: sign-ins kept in memory for this run only.
            click(&b, "#open-settings").await;
            b.wait_for("#settings-memory-sign-in-row:not([hidden])", WAIT)
                .await
                .expect("offered where there is no keychain");
            click(&b, "#settings-memory-sign-in").await;
            click(&b, "#settings-save").await;
            text_is(&b, "#settings-status", "Settings saved.").await;
            screenshot(&b, TEST, "02-memory-sign-in").await;
            click(&b, "#settings-close").await;
            click(&b, "#connect-zoho").await;
            b.wait_for("#account-zoho[data-state='connected']", WAIT)
                .await
                .expect("connected with the sign-in kept in memory");
            assert!(p.forms_posted() > 0, "the sign-in page was played");
        })
        .await;
    let zoho = store_in(kept.path()).account(Service::Zoho).unwrap();
    assert_eq!(zoho.map(|a| a.email).as_deref(), Some(AIKO));
    let prefs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(kept.path().join("settings.json")).unwrap()).unwrap();
    assert_eq!(prefs["prefs"]["memory_sign_in"], true, "{prefs}");
    // Nothing but the store, the preferences and the log was written: no token file.
    for file in crmsync_e2e::files_under(kept.path()) {
        let found = crmsync_e2e::tokens_in(&std::fs::read(&file).unwrap(), &[]);
        assert!(found.is_empty(), "tokens in {}: {found:?}", file.display());
    }
}
