//! The whole sync in the real window, in English and in Japanese: connect both accounts
//! (the test plays the browser), enable Contacts (mapping dialog, preview, first sync with
//! progress), a change on each side propagating, the delete checkbox honoured, disable with
//! its confirmation, and the folder deleted on the Microsoft side shown as disabled.
//!
//! The services are the app's built-in sandbox; the test edits them through their own APIs
//! (tokens minted by the sandbox's control API), as a user would in Outlook or the CRM.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crmsync_e2e::{
    click, files_under, screenshot, tokens_in, App, Browser, BrowserPlayer, Keyring, Launch,
    APP_LOG, WAIT,
};
use crmsync_engine::{paths, ModuleKind, Store};
use serde_json::{json, Value};

const AIKO: &str = "aiko.tanaka@sakura-demo.example";
const FOLDER: &str = "Zoho CRM Contacts";
/// Rounds against the sandbox take a few seconds; a change must show within this.
const SYNC_WAIT: Duration = Duration::from_secs(60);

/// What the test reads in each language.
struct Words {
    active: &'static str,
    idle: &'static str,
    /// After a count: "12 synced", "12 件同期済み".
    synced: &'static str,
    /// A count of contacts: "12 contacts", "12 件の連絡先".
    contacts: fn(usize) -> String,
    inactive: &'static str,
    copy_suffix: &'static str,
    disable_body_start: &'static str,
    reason_contains: &'static str,
}

const EN: Words = Words {
    active: "Active",
    idle: "Up to date. Syncs every 2 min.",
    synced: " synced",
    contacts: |n| format!("{n} contacts"),
    inactive: "Inactive",
    copy_suffix: "will be copied to Microsoft 365.",
    disable_body_start: "The “Zoho CRM Contacts” folder and its",
    reason_contains: "was deleted in Microsoft 365",
};

const JA: Words = Words {
    active: "有効",
    idle: "最新の状態です。2 分ごとに同期します。",
    synced: " 件同期済み",
    contacts: |n| format!("{n} 件の連絡先"),
    inactive: "無効",
    copy_suffix: "を Microsoft 365 にコピーします。",
    disable_body_start: "Microsoft 365 から「Zoho CRM Contacts」フォルダーとその中の",
    reason_contains: "が削除されたため",
};

async fn text_of(b: &Browser, css: &str) -> String {
    b.wait_for_text(css, WAIT, |t| !t.is_empty())
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

async fn wait_text(b: &Browser, css: &str, want: &str) {
    b.wait_for_text(css, SYNC_WAIT, |t| t == want)
        .await
        .unwrap_or_else(|e| panic!("{css} never read {want:?}: {e}"));
}

/// Polls `check` until it returns `Some` (or fails after [`SYNC_WAIT`]).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + SYNC_WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The sandbox's services, as a user's other apps see them.
#[derive(Clone)]
struct Services {
    http: reqwest::Client,
    graph: String,
    graph_token: String,
    crm: String,
    crm_token: String,
}

impl Services {
    async fn new(base: &str) -> Services {
        let http = reqwest::Client::new();
        let post = |url: String, body: Value| {
            let http = http.clone();
            async move {
                let r = http.post(&url).json(&body).send().await.expect(&url);
                assert!(r.status().is_success(), "{url}: {}", r.status());
                r.json::<Value>().await.expect("json")
            }
        };
        let g = post(
            format!("{base}/control/graph/tokens"),
            json!({"user": AIKO, "scopes": "Contacts.ReadWrite User.Read offline_access"}),
        )
        .await;
        let z = post(
            format!("{base}/control/zoho/tokens"),
            json!({"email": AIKO}),
        )
        .await;
        Services {
            http,
            graph: format!("{base}/graph/v1.0"),
            graph_token: g["access_token"].as_str().expect("graph token").to_owned(),
            crm: format!(
                "{}/crm/v8",
                z["api_domain"]
                    .as_str()
                    .expect("api_domain")
                    .trim_end_matches('/')
            ),
            crm_token: z["access_token"].as_str().expect("zoho token").to_owned(),
        }
    }

    async fn graph_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.graph))
            .bearer_auth(&self.graph_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("graph call");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn crm_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.crm))
            .header(
                "Authorization",
                format!("Zoho-oauthtoken {}", self.crm_token),
            );
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("crm call");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The sync folder's id, if it exists.
    async fn folder(&self) -> Option<String> {
        let (_, v) = self
            .graph_call(reqwest::Method::GET, "/me/contactFolders?$top=100", None)
            .await;
        v["value"]
            .as_array()?
            .iter()
            .find(|f| f["displayName"] == FOLDER)
            .and_then(|f| f["id"].as_str())
            .map(str::to_owned)
    }

    /// The contacts in the sync folder.
    async fn folder_items(&self) -> Vec<Value> {
        let Some(id) = self.folder().await else {
            return Vec::new();
        };
        let (status, v) = self
            .graph_call(
                reqwest::Method::GET,
                &format!("/me/contactFolders/{id}/contacts?$top=1000"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v["value"].as_array().cloned().unwrap_or_default()
    }

    /// The CRM contact with this e-mail (None when there is none).
    async fn crm_by_email(&self, email: &str) -> Option<Value> {
        let (status, v) = self
            .crm_call(
                reqwest::Method::GET,
                &format!("/Contacts/search?email={}", urlencode(email)),
                None,
            )
            .await;
        if status == 204 {
            return None;
        }
        v["data"].as_array()?.first().cloned()
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn email_of(item: &Value) -> String {
    item.pointer("/emailAddresses/0/address")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase()
}

/// The leading number of a sentence ("12 contacts will…", "12 件の連絡先を…").
fn leading_number(text: &str) -> usize {
    let digits: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no count in {text:?}"))
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

/// The custom CRM field the first enable maps to Microsoft's "Nickname".
const CUSTOM_FIELD: &str = "Preferred_Name";
/// The mapping dialog's row for Microsoft's "Nickname".
const NICKNAME_ROW: &str = "#map-nickName-0";

/// Enable → mapping (Save) → preview (Continue); returns the preview's "to copy" count.
/// With `shots` (the first enable), the mapping is changed first: "Nickname" ⇐ the custom
/// CRM field [`CUSTOM_FIELD`].
async fn enable_contacts(b: &Browser, test: &str, w: &Words, shots: bool) -> usize {
    click(b, "#enable-contacts").await;
    b.wait_for("#mapping-dialog", SYNC_WAIT)
        .await
        .expect("the mapping dialog opens");
    b.wait_for("#mapping-save", WAIT).await.unwrap();
    if shots {
        let option = format!("{NICKNAME_ROW} option[value='{CUSTOM_FIELD}']");
        b.wait_for(&option, WAIT)
            .await
            .expect("the custom CRM field is offered for Nickname");
        click(b, &option).await;
        b.wait_for(&format!("{option}:checked"), WAIT)
            .await
            .expect("the custom field is chosen");
        screenshot(b, test, "03-mapping").await;
    }
    click(b, "#mapping-save").await;
    b.wait_for("#preview-dialog", SYNC_WAIT)
        .await
        .expect("the preview opens");
    let first = text_of(b, "#preview-dialog-body p").await;
    assert!(first.ends_with(w.copy_suffix), "{first}");
    if shots {
        screenshot(b, test, "04-preview").await;
    }
    let n = leading_number(&first);
    click(b, "#preview-dialog-confirm").await;
    wait_text(b, "#status-contacts", w.active).await;
    n
}

async fn sync_flow(test: &'static str, japanese: bool) {
    let w = if japanese { &JA } else { &EN };
    let keyring = Keyring::start();
    let player = Arc::new(BrowserPlayer::start(AIKO, AIKO));
    let app = App::launch(test, launch(&keyring, &player, japanese), |_| {}).await;
    let p = player.clone();
    let kept = app
        .run(move |b| async move {
            // Connect both accounts; the worker starts once both are there.
            b.wait_for("#account-zoho[data-state='disconnected']", WAIT)
                .await
                .unwrap();
            b.wait_for("#sync-state[data-state='not_connected']", WAIT)
                .await
                .expect("the sync says it waits for the accounts");
            screenshot(&b, test, "01-not-connected").await;
            click(&b, "#connect-zoho").await;
            b.wait_for("#account-zoho[data-state='connected']", SYNC_WAIT)
                .await
                .unwrap();
            click(&b, "#connect-microsoft").await;
            b.wait_for("#account-microsoft[data-state='connected']", SYNC_WAIT)
                .await
                .unwrap();
            b.wait_for("#sync-state[data-state='idle']", SYNC_WAIT)
                .await
                .expect("the worker runs with the saved sign-ins");
            assert_eq!(
                text_of(&b, "#sync-state").await,
                w.idle,
                "the default interval"
            );
            screenshot(&b, test, "02-connected").await;

            let badge = b.wait_for("#sandbox-badge", WAIT).await.unwrap();
            let base = b.attribute(&badge, "data-url").await.unwrap().unwrap();
            let svc = Services::new(&base).await;
            assert!(svc.folder().await.is_none(), "no folder before enabling");
            // Enough of Aiko's own contacts that the first sync takes a moment to watch.
            for chunk in 0..3 {
                let data: Vec<Value> = (0..100)
                    .map(|i| {
                        let n = chunk * 100 + i;
                        json!({"First_Name": format!("Guest{n}"), "Last_Name": "Visitor",
                               "Email": format!("guest{n}@visitors.example")})
                    })
                    .collect();
                let r = svc
                    .http
                    .post(format!("{base}/control/zoho/records/Contacts"))
                    .json(&json!({"as": AIKO, "origin": "ui", "data": data}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "seed: {}", r.status());
            }

            // An admin adds a custom field to CRM Contacts; one contact has a value in it.
            let r = svc
                .http
                .post(format!("{base}/control/zoho/fields/Contacts"))
                .json(&json!({"org_of": AIKO, "api_name": CUSTOM_FIELD,
                              "field_label": "Preferred Name", "data_type": "text"}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "custom field: {}", r.status());
            let r = svc
                .http
                .post(format!("{base}/control/zoho/records/Contacts"))
                .json(&json!({"as": AIKO, "origin": "ui", "data": [{
                    "First_Name": "Kenichiro", "Last_Name": "Mori",
                    "Email": "ken.mori@visitors.example", CUSTOM_FIELD: "Ken"}]}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "seed: {}", r.status());

            // Enable Contacts: mapping (with the custom field), the preview, then the first
            // sync with its progress.
            let to_copy = enable_contacts(&b, test, w, true).await;
            assert!(
                to_copy > 300,
                "the demo user's contacts and the 300 seeded: {to_copy}"
            );
            b.wait_for("#progress-contacts:not([hidden])", SYNC_WAIT)
                .await
                .expect("the first sync shows its progress");
            let shown = b
                .wait_for_text("#progress-text-contacts", SYNC_WAIT, |t| {
                    t.contains(&format!("{to_copy}"))
                })
                .await
                .expect("the progress counts the changes to make");
            assert!(!shown.is_empty());
            screenshot(&b, test, "05-first-sync-progress").await;
            b.wait_for("#counts-contacts", SYNC_WAIT)
                .await
                .expect("the first sync's counts show");
            b.wait_for("#progress-contacts[hidden]", SYNC_WAIT)
                .await
                .expect("the progress bar goes away when the round ends");
            let items = eventually("the first sync to fill the folder", || {
                let svc = svc.clone();
                async move {
                    let items = svc.folder_items().await;
                    (items.len() >= to_copy).then_some(items)
                }
            })
            .await;
            assert_eq!(items.len(), to_copy, "exactly what the preview said");
            let ken = items
                .iter()
                .find(|i| email_of(i) == "ken.mori@visitors.example")
                .expect("the contact with a custom field value");
            assert_eq!(ken["nickName"], "Ken", "the custom field, mapped: {ken}");
            let counts = b
                .wait_for_text("#counts-contacts", SYNC_WAIT, |t| {
                    t.starts_with(&format!("{to_copy}{}", w.synced))
                })
                .await
                .expect("the card counts what the store has in sync");
            assert!(!counts.is_empty());
            screenshot(&b, test, "06-first-sync-done").await;

            // A change in the CRM reaches Microsoft 365.
            let first = email_of(&items[0]);
            let crm = svc
                .crm_by_email(&first)
                .await
                .expect("CRM record of a synced contact");
            let crm_id = crm["id"].as_str().unwrap().to_owned();
            let (status, v) = svc
                .crm_call(
                    reqwest::Method::PUT,
                    &format!("/Contacts/{crm_id}"),
                    Some(json!({"data": [{"Title": "Head of Sales (CRM edit)"}]})),
                )
                .await;
            assert_eq!(status, 200, "{v}");
            click(&b, "#sync-contacts").await;
            eventually("the CRM change in Microsoft 365", || {
                let svc = svc.clone();
                let first = first.clone();
                async move {
                    svc.folder_items()
                        .await
                        .iter()
                        .find(|i| email_of(i) == first)
                        .filter(|i| i["jobTitle"] == "Head of Sales (CRM edit)")
                        .map(|_| ())
                }
            })
            .await;

            // A change in Microsoft 365 reaches the CRM.
            let second = items[1].clone();
            let second_email = email_of(&second);
            let gid = second["id"].as_str().unwrap().to_owned();
            let (status, v) = svc
                .graph_call(
                    reqwest::Method::PATCH,
                    &format!("/me/contacts/{gid}"),
                    Some(json!({"jobTitle": "Buyer (Outlook edit)"})),
                )
                .await;
            assert_eq!(status, 200, "{v}");
            let (status, v) = svc
                .graph_call(
                    reqwest::Method::PATCH,
                    &format!("/me/contacts/{}", ken["id"].as_str().unwrap()),
                    Some(json!({"nickName": "Kenny"})),
                )
                .await;
            assert_eq!(status, 200, "{v}");
            click(&b, "#sync-contacts").await;
            eventually("the Microsoft 365 changes in the CRM", || {
                let svc = svc.clone();
                let email = second_email.clone();
                async move {
                    svc.crm_by_email(&email)
                        .await
                        .filter(|c| c["Title"] == "Buyer (Outlook edit)")?;
                    svc.crm_by_email("ken.mori@visitors.example")
                        .await
                        .filter(|c| c[CUSTOM_FIELD] == "Kenny")
                        .map(|_| ())
                }
            })
            .await;

            // The delete checkbox: off by default; on, a delete in Microsoft 365 deletes the
            // CRM record.
            b.wait_for("#delete-contacts", WAIT).await.unwrap();
            assert!(
                b.find("#delete-contacts:checked").await.unwrap().is_none(),
                "off by default"
            );
            // A card re-rendered by a round ending under the pointer can swallow a click
            // (nothing is saved then): click again until the box is on, at most three times.
            for attempt in 1..=3 {
                click(&b, "#delete-contacts").await;
                if b.wait_for("#delete-contacts:checked", Duration::from_secs(5))
                    .await
                    .is_ok()
                {
                    break;
                }
                assert!(attempt < 3, "the checkbox never stayed on after saving");
            }
            let third = items[2].clone();
            let third_email = email_of(&third);
            assert!(svc.crm_by_email(&third_email).await.is_some());
            let (status, _) = svc
                .graph_call(
                    reqwest::Method::DELETE,
                    &format!("/me/contacts/{}", third["id"].as_str().unwrap()),
                    None,
                )
                .await;
            assert_eq!(status, 204);
            click(&b, "#sync-contacts").await;
            eventually("the CRM record deleted too", || {
                let svc = svc.clone();
                let email = third_email.clone();
                async move { svc.crm_by_email(&email).await.is_none().then_some(()) }
            })
            .await;
            screenshot(&b, test, "07-changes-synced").await;

            // Disable: the confirmation says what goes and what stays; then the folder is gone
            // and the CRM keeps its records.
            let in_folder = svc.folder_items().await.len();
            b.wait_for_text("#counts-contacts", SYNC_WAIT, |t| {
                t.starts_with(&format!("{in_folder}{}", w.synced))
            })
            .await
            .expect("the counts follow the delete");
            click(&b, "#disable-contacts").await;
            let body = text_of(&b, "#disable-dialog-body").await;
            assert!(body.starts_with(w.disable_body_start), "{body}");
            assert!(body.contains(&(w.contacts)(in_folder)), "{body}");
            screenshot(&b, test, "08-disable-confirm").await;
            click(&b, "#disable-dialog-confirm").await;
            wait_text(&b, "#status-contacts", w.inactive).await;
            assert!(svc.folder().await.is_none(), "the folder is removed");
            assert!(
                svc.crm_by_email(&first).await.is_some(),
                "the CRM record stays"
            );
            b.wait_for("#enable-contacts", WAIT).await.unwrap();
            screenshot(&b, test, "09-disabled").await;

            // Enable again, then delete the folder in Microsoft 365: the module stops and says why.
            enable_contacts(&b, test, w, false).await;
            let folder = eventually("the folder again", || {
                let svc = svc.clone();
                async move {
                    let f = svc.folder().await?;
                    (!svc.folder_items().await.is_empty()).then_some(f)
                }
            })
            .await;
            b.wait_for("#progress-contacts[hidden]", SYNC_WAIT)
                .await
                .unwrap();
            let (status, _) = svc
                .graph_call(
                    reqwest::Method::DELETE,
                    &format!("/me/contactFolders/{folder}"),
                    None,
                )
                .await;
            assert_eq!(status, 204);
            click(&b, "#sync-contacts").await;
            wait_text(&b, "#status-contacts", w.inactive).await;
            let reason = text_of(&b, "#reason-contacts").await;
            assert!(reason.contains(w.reason_contains), "{reason}");
            assert!(
                svc.crm_by_email(&first).await.is_some(),
                "nothing deleted in the CRM"
            );
            screenshot(&b, test, "10-folder-deleted").await;
            assert!(p.failures().is_empty(), "{:?}", p.failures());
        })
        .await;
    let store = Store::open(&paths::store_path(kept.path())).unwrap();
    let contacts = store.module(ModuleKind::Contacts).unwrap();
    assert!(!contacts.enabled);
    assert!(contacts.delete_propagation, "the checkbox was saved");
    drop(store);

    // The tokens are in the keychain, and in no file: not the store, the preferences or the
    // app's debug log.
    let microsoft = keyring.stored_tokens(&format!("microsoft:{AIKO}"));
    let zoho = keyring.stored_tokens(&format!("zoho:{AIKO}"));
    assert_eq!(
        (microsoft.len(), zoho.len()),
        (2, 2),
        "access + refresh each"
    );
    let secrets = [microsoft, zoho].concat();
    let files = files_under(kept.path());
    for name in [APP_LOG, "crmsync.sqlite3"] {
        assert!(
            files.iter().any(|f| f.ends_with(name)),
            "{name} in {files:?}"
        );
    }
    for file in &files {
        let found = tokens_in(&std::fs::read(file).unwrap(), &secrets);
        assert!(found.is_empty(), "tokens in {}: {found:?}", file.display());
    }
    drop(keyring);
}

#[tokio::test]
async fn syncs_contacts_end_to_end_in_english() {
    sync_flow("sync_flow_en", false).await;
}

#[tokio::test]
async fn syncs_contacts_end_to_end_in_japanese() {
    sync_flow("sync_flow_ja", true).await;
}

#[tokio::test]
async fn a_dead_sign_in_asks_to_reconnect_and_the_sync_resumes() {
    const TEST: &str = "sync_reconnect";
    let keyring = Keyring::start();
    let player = Arc::new(BrowserPlayer::start(AIKO, AIKO));
    let app = App::launch(TEST, launch(&keyring, &player, false), |_| {}).await;
    let p = player.clone();
    app.run(move |b| async move {
        click(&b, "#connect-zoho").await;
        b.wait_for("#account-zoho[data-state='connected']", SYNC_WAIT)
            .await
            .unwrap();
        click(&b, "#connect-microsoft").await;
        b.wait_for("#sync-state[data-state='idle']", SYNC_WAIT)
            .await
            .unwrap();
        enable_contacts(&b, TEST, &EN, false).await;
        b.wait_for("#counts-contacts", SYNC_WAIT).await.unwrap();
        assert!(b.find("#reconnect-microsoft").await.unwrap().is_none());

        // Microsoft 365 revokes the saved sign-in (e.g. a password change).
        let badge = b.wait_for("#sandbox-badge", WAIT).await.unwrap();
        let base = b.attribute(&badge, "data-url").await.unwrap().unwrap();
        let http = reqwest::Client::new();
        for what in ["refresh-tokens/revoke", "tokens/expire"] {
            let r = http
                .post(format!("{base}/control/graph/{what}"))
                .json(&json!({"user": AIKO}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{what}: {}", r.status());
        }
        click(&b, "#sync-contacts").await;
        b.wait_for("#sync-state[data-state='needs_sign_in']", SYNC_WAIT)
            .await
            .expect("the sync says which account to connect again");
        wait_text(&b, "#status-contacts", "Needs sign-in").await;
        let hint = text_of(&b, "#account-expired-microsoft").await;
        assert_eq!(
            hint,
            "Microsoft 365 no longer accepts the saved sign-in. Reconnect to resume the sync."
        );
        screenshot(&b, TEST, "01-needs-sign-in").await;

        // Reconnect: the browser signs in again, the worker restarts, the next round works.
        click(&b, "#reconnect-microsoft").await;
        b.wait_for("#sync-state[data-state='idle']", SYNC_WAIT)
            .await
            .expect("the sync runs again");
        assert!(b.find("#reconnect-microsoft").await.unwrap().is_none());
        click(&b, "#sync-contacts").await;
        wait_text(&b, "#status-contacts", "Active").await;
        screenshot(&b, TEST, "02-reconnected").await;
        assert!(p.failures().is_empty(), "{:?}", p.failures());
    })
    .await;
    drop(keyring);
}

#[tokio::test]
async fn a_guard_pause_waits_for_the_users_confirmation() {
    const TEST: &str = "sync_guard";
    let keyring = Keyring::start();
    let player = Arc::new(BrowserPlayer::start(AIKO, AIKO));
    let app = App::launch(TEST, launch(&keyring, &player, false), |_| {}).await;
    app.run(move |b| async move {
        click(&b, "#connect-zoho").await;
        b.wait_for("#account-zoho[data-state='connected']", SYNC_WAIT)
            .await
            .unwrap();
        click(&b, "#connect-microsoft").await;
        b.wait_for("#sync-state[data-state='idle']", SYNC_WAIT)
            .await
            .unwrap();
        let badge = b.wait_for("#sandbox-badge", WAIT).await.unwrap();
        let base = b.attribute(&badge, "data-url").await.unwrap().unwrap();
        let svc = Services::new(&base).await;
        let data: Vec<Value> = (0..60)
            .map(|n| {
                json!({"First_Name": format!("Temp{n}"), "Last_Name": "Event",
                       "Email": format!("temp{n}@fair.example")})
            })
            .collect();
        let r: Value = svc
            .http
            .post(format!("{base}/control/zoho/records/Contacts"))
            .json(&json!({"as": AIKO, "origin": "ui", "data": data}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<String> = r["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["details"]["id"].as_str().unwrap().to_owned())
            .collect();
        let total = enable_contacts(&b, TEST, &EN, false).await;
        eventually("the first sync", || {
            let svc = svc.clone();
            async move { (svc.folder_items().await.len() == total).then_some(()) }
        })
        .await;

        // 60 contacts deleted in the CRM at once: more than the guard lets through.
        for chunk in ids.chunks(50) {
            let (status, v) = svc
                .crm_call(
                    reqwest::Method::DELETE,
                    &format!("/Contacts?ids={}", chunk.join(",")),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{v}");
        }
        b.wait_for("#progress-contacts[hidden]", SYNC_WAIT)
            .await
            .unwrap();
        click(&b, "#sync-contacts").await;
        let status = b
            .wait_for_text("#status-contacts", SYNC_WAIT, |t| {
                t.starts_with("Paused — ")
            })
            .await
            .expect("the guard pauses the module and says why");
        assert!(status.len() > "Paused — ".len(), "{status}");
        assert_eq!(svc.folder_items().await.len(), total, "nothing deleted yet");
        screenshot(&b, TEST, "01-paused").await;

        // Cancel changes nothing; Continue makes the deletes.
        click(&b, "#review-contacts").await;
        let body = text_of(&b, "#paused-dialog-body").await;
        assert!(body.contains("more than usual"), "{body}");
        screenshot(&b, TEST, "02-review").await;
        click(&b, "#paused-dialog-cancel").await;
        wait_text(&b, "#status-contacts", &status).await;
        click(&b, "#review-contacts").await;
        click(&b, "#paused-dialog-confirm").await;
        wait_text(&b, "#status-contacts", "Active").await;
        eventually("the confirmed deletes in Microsoft 365", || {
            let svc = svc.clone();
            async move { (svc.folder_items().await.len() == total - 60).then_some(()) }
        })
        .await;
        screenshot(&b, TEST, "03-continued").await;
    })
    .await;
    drop(keyring);
}

#[tokio::test]
async fn events_and_tasks_enable_through_their_preview_and_sync() {
    const TEST: &str = "sync_events_tasks";
    let keyring = Keyring::start();
    let player = Arc::new(BrowserPlayer::start(AIKO, AIKO));
    let app = App::launch(TEST, launch(&keyring, &player, false), |_| {}).await;
    app.run(move |b| async move {
        click(&b, "#connect-zoho").await;
        b.wait_for("#account-zoho[data-state='connected']", SYNC_WAIT)
            .await
            .unwrap();
        click(&b, "#connect-microsoft").await;
        b.wait_for("#sync-state[data-state='idle']", SYNC_WAIT)
            .await
            .unwrap();
        for (module, noun) in [("events", "event"), ("tasks", "task")] {
            // No mapping dialog for these: straight to the preview.
            click(&b, &format!("#enable-{module}")).await;
            let first = text_of(&b, "#preview-dialog-body p").await;
            assert!(
                first.ends_with("will be copied to Microsoft 365.") && first.contains(noun),
                "{first}"
            );
            assert!(b.find("#mapping-dialog").await.unwrap().is_none());
            screenshot(&b, TEST, &format!("preview-{module}")).await;
            click(&b, "#preview-dialog-confirm").await;
            wait_text(&b, &format!("#status-{module}"), "Active").await;
            let counts = b
                .wait_for_text(&format!("#counts-{module}"), SYNC_WAIT, |t| {
                    t.contains(" synced")
                })
                .await
                .expect("the first sync's counts");
            let failures = match b.find(&format!("#failures-{module} ul")).await.unwrap() {
                Some(list) => b.text(&list).await.unwrap(),
                None => String::new(),
            };
            // Records that cannot sync are counted and each is listed with its reason.
            let failing = counts
                .split(" · ")
                .find_map(|p| p.strip_suffix(" failing"))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("no failing count in {counts}"));
            let lines: Vec<&str> = failures.lines().filter(|l| !l.is_empty()).collect();
            assert_eq!(lines.len(), failing.min(20), "{counts}: {failures}");
            assert!(lines.iter().all(|l| l.contains(": ")), "{failures}");
            let message = b
                .find(&format!("#message-{module}"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                b.text(&message).await.unwrap(),
                "",
                "no error under {module}"
            );
        }
        screenshot(&b, TEST, "all-enabled").await;
    })
    .await;
    drop(keyring);
}
