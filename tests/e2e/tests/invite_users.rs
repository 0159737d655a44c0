//! "+ Office 365 users" (design.md §1 item 14) in the real window: a CRM admin opens the
//! dialog, searches the Microsoft 365 directory and invites one colleague, who is added to
//! the CRM (and gets the CRM's own invitation, the only mail); a person whose mail is not their
//! sign-in name cannot be chosen. A CRM user whose profile lacks "Manage Users" is refused
//! clearly and adds nobody.
//!
//! The services are the app's built-in sandbox, prepared through its control API; the test
//! plays the system browser for both sign-ins (see connect_accounts.rs).

use std::sync::Arc;

use crmsync_e2e::{click, screenshot, text_is, App, Browser, BrowserPlayer, Keyring, Launch, WAIT};
use serde_json::{json, Value};

const AIKO: &str = "aiko.tanaka@sakura-demo.example";
const EMILY: &str = "emily.clark@sakura-demo.example";
const BEN: &str = "ben.carter@sakura-demo.example";
/// A colleague whose mail differs from the sign-in name (created by the test).
const SORA_UPN: &str = "sora.kimura@sakura-demo.example";
const SORA_MAIL: &str = "sora@sakura-sales.example";
/// A CRM user whose profile lacks "Manage Users" (created by the test).
const MIKA: &str = "mika.kato@sakura-demo.example";
const ESCAPE: &str = "\u{E00C}";

async fn attr(b: &Browser, css: &str, name: &str) -> Option<String> {
    let e = b
        .wait_for(css, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    b.attribute(&e, name).await.unwrap()
}

fn launch(keyring: &Keyring, player: &BrowserPlayer, japanese: bool) -> Launch {
    let mut env = keyring.env();
    env.extend(player.env());
    if japanese {
        env.push(("LANGUAGE".into(), "ja".into()));
        env.push(("LANG".into(), "ja_JP.UTF-8".into()));
    }
    Launch { env }
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let r = http.post(&url).json(&body).send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {url}: {status} {v}");
    v
}

async fn get(http: &reqwest::Client, url: String, bearer: Option<&str>) -> Value {
    let mut r = http.get(&url);
    if let Some(t) = bearer {
        r = r.header("Authorization", format!("Zoho-oauthtoken {t}"));
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "GET {url}: {status} {v}");
    v
}

/// The sandbox's base URL, from the banner.
async fn sandbox_base(b: &Browser) -> String {
    let badge = b.wait_for("#sandbox-badge", WAIT).await.unwrap();
    b.attribute(&badge, "data-url").await.unwrap().unwrap()
}

/// Every CRM user of the demo org, read through the CRM API as Aiko.
async fn crm_users(http: &reqwest::Client, base: &str) -> Vec<Value> {
    let t = post(
        http,
        format!("{base}/control/zoho/tokens"),
        json!({"email": AIKO}),
    )
    .await;
    let api = t["api_domain"].as_str().unwrap();
    let token = t["access_token"].as_str().unwrap();
    let v = get(
        http,
        format!("{api}/crm/v8/users?type=AllUsers"),
        Some(token),
    )
    .await;
    v["users"].as_array().cloned().unwrap_or_default()
}

async fn invitations(http: &reqwest::Client, base: &str) -> Vec<Value> {
    get(http, format!("{base}/control/zoho/invitations"), None).await["invitations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn connect_both(b: &Browser) {
    click(b, "#connect-zoho").await;
    b.wait_for("#account-zoho[data-state='connected']", WAIT)
        .await
        .expect("Zoho connected");
    click(b, "#connect-microsoft").await;
    b.wait_for("#account-microsoft[data-state='connected']", WAIT)
        .await
        .expect("Microsoft 365 connected");
}

#[tokio::test]
async fn an_admin_invites_one_colleague_from_the_directory() {
    const TEST: &str = "invite_users_en";
    let keyring = Keyring::start();
    let player = Arc::new(BrowserPlayer::start(AIKO, AIKO));
    let app = App::launch(TEST, launch(&keyring, &player, false), |_| {}).await;
    let p = player.clone();
    app.run(|b| async move {
        let http = reqwest::Client::new();
        b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
            .await
            .expect("the accounts panel renders");
        assert!(
            b.find("#invite-users").await.unwrap().is_none(),
            "offered only when both accounts are connected"
        );
        let base = sandbox_base(&b).await;
        post(
            &http,
            format!("{base}/control/graph/users"),
            json!({"userPrincipalName": SORA_UPN, "mail": SORA_MAIL, "displayName": "Sora Kimura",
                   "givenName": "Sora", "surname": "Kimura"}),
        )
        .await;
        let users_before = crm_users(&http, &base).await.len();

        connect_both(&b).await;
        text_is(&b, "#invite-users", "+ Office 365 users").await;
        click(&b, "#invite-users").await;
        b.wait_for("#invite-dialog[data-loaded='true']", WAIT)
            .await
            .expect("the directory loads");
        assert_eq!(
            attr(&b, "#invite-dialog", "role").await.as_deref(),
            Some("dialog")
        );
        assert_eq!(
            attr(&b, "#invite-dialog", "data-permission")
                .await
                .as_deref(),
            Some("allowed")
        );
        let note = b
            .wait_for_text("#invite-mail-note", WAIT, |t| !t.is_empty())
            .await
            .unwrap();
        assert!(note.contains("CRM Sync sends no other mail"), "{note}");
        // Sora's mail is not the sign-in name: shown, disabled, with the reason.
        let sora = format!("#invite-list input[data-email='{SORA_MAIL}']");
        assert!(
            attr(&b, &sora, "disabled").await.is_some(),
            "cannot be chosen"
        );
        let sora_row = format!("#invite-list li[data-email='{SORA_MAIL}']");
        assert_eq!(
            attr(&b, &sora_row, "data-state").await.as_deref(),
            Some("mail_differs_from_sign_in")
        );
        let reason = b
            .wait_for_text(&sora_row, WAIT, |t| t.contains("sign-in name"))
            .await
            .unwrap();
        assert!(reason.contains(SORA_UPN), "{reason}");
        // Ben is a CRM user already.
        let ben_row = format!("#invite-list li[data-email='{BEN}']");
        assert_eq!(
            attr(&b, &ben_row, "data-state").await.as_deref(),
            Some("already_in_crm")
        );
        let access = b
            .wait_for_text("#invite-access", WAIT, |t| !t.is_empty())
            .await
            .unwrap();
        assert!(access.contains("“Standard” profile"), "{access}");
        assert!(access.contains("“Sales Representative” role"), "{access}");
        screenshot(&b, TEST, "01-directory").await;

        // Search, choose Emily, invite.
        let search = b.wait_for("#invite-search", WAIT).await.unwrap();
        b.send_keys(&search, "Emily").await.unwrap();
        click(&b, "#invite-search-button").await;
        text_is(&b, "#invite-status", "1 person").await;
        click(&b, &format!("#invite-list input[data-email='{EMILY}']")).await;
        text_is(&b, "#invite-submit", "Invite (1)").await;
        screenshot(&b, TEST, "02-chosen").await;
        click(&b, "#invite-submit").await;
        let emily_row = format!("#invite-list li[data-email='{EMILY}'][data-outcome='added']");
        b.wait_for(&emily_row, WAIT).await.expect("Emily added");
        let result = b
            .wait_for_text(&emily_row, WAIT, |t| t.contains("Added"))
            .await
            .unwrap();
        assert!(
            result.contains("Added — Zoho CRM e-mailed the invitation."),
            "{result}"
        );
        text_is(&b, "#invite-status", "1 added, 0 not added.").await;
        screenshot(&b, TEST, "03-added").await;

        // Exactly Emily was added, with the Standard profile and a non-admin role, and the
        // only mail is the CRM's invitation to her.
        let sent = invitations(&http, &base).await;
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(sent[0]["to"], EMILY);
        let users = crm_users(&http, &base).await;
        assert_eq!(users.len(), users_before + 1);
        let emily = users
            .iter()
            .find(|u| u["email"] == EMILY)
            .expect("Emily is a CRM user");
        assert_eq!(emily["profile"]["name"], "Standard", "{emily}");
        assert_ne!(emily["role"]["name"], "CEO", "{emily}");
        assert_eq!(emily["last_name"], "Clark");
        assert!(!users
            .iter()
            .any(|u| u["email"] == SORA_MAIL || u["email"] == SORA_UPN));

        // Escape closes the dialog and focus returns to the button.
        let search = b.wait_for("#invite-search", WAIT).await.unwrap();
        b.send_keys(&search, ESCAPE).await.unwrap();
        for _ in 0..50 {
            if b.find("#invite-dialog").await.unwrap().is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(
            b.find("#invite-dialog").await.unwrap().is_none(),
            "Escape closes"
        );
        assert!(p.failures().is_empty(), "{:?}", p.failures());
    })
    .await;
    drop(keyring);
}

#[tokio::test]
async fn without_manage_users_the_invitation_is_refused_and_nobody_is_added() {
    const TEST: &str = "invite_users_ja";
    let keyring = Keyring::start();
    let player = Arc::new(BrowserPlayer::start(MIKA, MIKA));
    let app = App::launch(TEST, launch(&keyring, &player, true), |_| {}).await;
    let p = player.clone();
    app.run(|b| async move {
        let http = reqwest::Client::new();
        b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
            .await
            .expect("the accounts panel renders");
        let base = sandbox_base(&b).await;
        // A CRM profile without "Manage Users", a CRM user with it, and her Microsoft 365 account.
        post(
            &http,
            format!("{base}/control/zoho/profiles"),
            json!({"org_of": AIKO, "name": "Sales (no user admin)", "manage_users": false}),
        )
        .await;
        post(
            &http,
            format!("{base}/control/zoho/users"),
            json!({"org_of": AIKO, "email": MIKA, "first_name": "美香", "last_name": "加藤",
                   "profile": "Sales (no user admin)", "role": "Sales Representative",
                   "time_zone": "Asia/Tokyo", "locale": "ja_JP"}),
        )
        .await;
        post(
            &http,
            format!("{base}/control/graph/users"),
            json!({"userPrincipalName": MIKA, "displayName": "加藤 美香",
                   "givenName": "美香", "surname": "加藤", "preferredLanguage": "ja-JP"}),
        )
        .await;
        let users_before = crm_users(&http, &base).await.len();

        connect_both(&b).await;
        text_is(&b, "#invite-users", "+ Office 365 ユーザー").await;
        click(&b, "#invite-users").await;
        b.wait_for("#invite-dialog[data-loaded='true']", WAIT)
            .await
            .expect("the directory loads");
        assert_eq!(
            attr(&b, "#invite-dialog", "data-permission")
                .await
                .as_deref(),
            Some("denied")
        );
        let refusal = b
            .wait_for_text("#invite-refusal", WAIT, |t| !t.is_empty())
            .await
            .unwrap();
        assert!(
            refusal.contains("「ユーザーの管理」権限がありません"),
            "{refusal}"
        );
        assert_eq!(attr(&b, "#invite-refusal", "hidden").await, None, "shown");
        assert_eq!(
            attr(&b, "#invite-refusal", "role").await.as_deref(),
            Some("alert")
        );
        // Nobody can be chosen and Invite stays off.
        let emily = format!("#invite-list input[data-email='{EMILY}']");
        assert!(attr(&b, &emily, "disabled").await.is_some());
        assert!(attr(&b, "#invite-submit", "disabled").await.is_some());
        text_is(&b, "#invite-submit", "招待").await;
        click(&b, &emily).await;
        assert!(attr(&b, "#invite-submit", "disabled").await.is_some());
        screenshot(&b, TEST, "01-refused").await;

        assert!(invitations(&http, &base).await.is_empty(), "no invitation");
        assert_eq!(
            crm_users(&http, &base).await.len(),
            users_before,
            "nobody added"
        );
        click(&b, "#invite-close").await;
        for _ in 0..50 {
            if b.find("#invite-dialog").await.unwrap().is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(b.find("#invite-dialog").await.unwrap().is_none());
        screenshot(&b, TEST, "02-closed").await;
        assert!(p.failures().is_empty(), "{:?}", p.failures());
    })
    .await;
    drop(keyring);
}
