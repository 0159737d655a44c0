//! Sign-in, refresh and keychain against the sandbox over real HTTP, with a
//! browser player that follows the authorize URL, posts the sign-in and
//! consent forms and hits the loopback redirect with plain HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crmsync_auth::microsoft::{self, MicrosoftConfig};
use crmsync_auth::zoho::{self, ZohoConfig};
use crmsync_auth::{
    AuthError, BrowserOpener, KeyringStore, Session, SessionOnlyStore, SessionState, SignInOptions,
    TokenStore,
};
use parking_lot::Mutex;
use serde_json::{json, Value};

const AIKO: &str = "aiko.tanaka@sakura-demo.example";
const KENJI_JP: &str = "kenji.ito@sakura-jp.example";
const ZOHO_DESKTOP_CLIENT: &str = "1000.SANDBOXCRMSYNCDESKTOPCLIENT";

/// Plays the user's browser: a cookie jar, no automatic redirects.
struct Player {
    http: reqwest::Client,
    email: String,
    opened: Mutex<Vec<String>>,
    forms_posted: AtomicUsize,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let pat = format!("{name}=\"");
    let i = tag.find(&pat)? + pat.len();
    let j = tag[i..].find('"')? + i;
    Some(unescape(&tag[i..j]))
}

impl Player {
    fn new(email: &str) -> Arc<Player> {
        Arc::new(Player {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            email: email.to_string(),
            opened: Mutex::new(Vec::new()),
            forms_posted: AtomicUsize::new(0),
        })
    }

    fn opener(self: &Arc<Self>) -> BrowserOpener {
        let me = self.clone();
        Arc::new(move |url: &str| {
            me.opened.lock().push(url.to_string());
            let (p, u) = (me.clone(), url.to_string());
            tokio::spawn(async move { p.play(u).await });
            Ok(())
        })
    }

    async fn play(&self, url: String) {
        let mut resp = self.http.get(&url).send().await.expect("authorize page");
        let mut current = url::Url::parse(&url).unwrap();
        for _ in 0..10 {
            if resp.status().is_redirection() {
                let loc = resp.headers()["location"].to_str().unwrap().to_string();
                let next = current.join(&loc).unwrap();
                let is_loopback =
                    next.host_str() == Some("127.0.0.1") && next.path() == "/callback";
                // The loopback redirect is hit with plain HTTP like a browser would.
                let r = self
                    .http
                    .get(next.clone())
                    .send()
                    .await
                    .expect("redirect target");
                if is_loopback {
                    return;
                }
                current = next;
                resp = r;
                continue;
            }
            let html = resp.text().await.unwrap();
            let Some(fstart) = html.find("<form") else {
                panic!("browser player: no form on page:\n{html}");
            };
            let ftag = &html[fstart..fstart + html[fstart..].find('>').unwrap()];
            let action = attr(ftag, "action").unwrap_or_else(|| current.to_string());
            let mut fields: Vec<(String, String)> = Vec::new();
            let mut rest = &html[fstart..];
            while let Some(i) = rest.find("<input") {
                let tag = &rest[i..i + rest[i..].find('>').unwrap()];
                if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                    if attr(tag, "type").as_deref() == Some("hidden") {
                        fields.push((n, v));
                    }
                }
                rest = &rest[i + 6..];
            }
            if html.contains("name=\"password\"") {
                let user_field = if html.contains("name=\"username\"") {
                    "username"
                } else {
                    "email"
                };
                fields.push((user_field.into(), self.email.clone()));
                fields.push(("password".into(), "sandbox".into()));
            }
            if html.contains("name=\"consent\" value=\"accept\"") {
                fields.push(("consent".into(), "accept".into()));
            }
            if html.contains("name=\"decision\" value=\"accept\"") {
                fields.push(("decision".into(), "accept".into()));
            }
            self.forms_posted.fetch_add(1, Ordering::SeqCst);
            let target = current.join(&action).unwrap();
            resp = self
                .http
                .post(target.clone())
                .form(&fields)
                .send()
                .await
                .expect("form post");
            current = target;
        }
        panic!("browser player: too many steps");
    }
}

async fn sandbox() -> crmsync_sandbox::RunningSandbox {
    crmsync_sandbox::start(crmsync_sandbox::Options::default())
        .await
        .unwrap()
}

fn opts(player: &Arc<Player>) -> SignInOptions {
    let mut o = SignInOptions::new(player.opener());
    o.timeout = Duration::from_secs(20);
    o
}

async fn graph_me(sb: &crmsync_sandbox::RunningSandbox, token: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{}/me", sb.urls.graph))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn control(url: String, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn microsoft_sign_in_by_playing_the_browser() {
    let sb = sandbox().await;
    let http = reqwest::Client::new();
    let cfg = MicrosoftConfig::new(&sb.urls.login, "11111111-2222-3333-4444-555555555555");
    let player = Player::new(AIKO);
    let ts = microsoft::sign_in(&cfg, None, &opts(&player), &http)
        .await
        .unwrap();
    let opened = player.opened.lock().clone();
    assert_eq!(opened.len(), 1);
    let url = url::Url::parse(&opened[0]).unwrap();
    assert!(url.path().ends_with("/common/oauth2/v2.0/authorize"));
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["redirect_uri"].starts_with("http://127.0.0.1:"));
    assert!(q["scope"].contains("Calendars.ReadWrite") && q["scope"].contains("offline_access"));
    assert!(!q.contains_key("prompt"));
    assert_eq!(
        player.forms_posted.load(Ordering::SeqCst),
        2,
        "sign-in and consent"
    );

    assert_eq!(ts.account.as_deref(), Some(AIKO));
    assert!(ts.refresh_token.is_some());
    assert_eq!(
        graph_me(&sb, ts.access_token.expose()).await["userPrincipalName"],
        AIKO
    );
    assert!(
        !format!("{ts:?}").contains(ts.access_token.expose()),
        "Debug redacts tokens"
    );
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn microsoft_silent_first_when_a_hint_is_known() {
    let sb = sandbox().await;
    let http = reqwest::Client::new();
    let cfg = MicrosoftConfig::new(&sb.urls.login, "11111111-2222-3333-4444-555555555555");
    // No browser session yet: prompt=none fails, the interactive page follows.
    let player = Player::new(AIKO);
    let ts = microsoft::sign_in(&cfg, Some(AIKO), &opts(&player), &http)
        .await
        .unwrap();
    let opened = player.opened.lock().clone();
    assert_eq!(opened.len(), 2);
    assert!(opened[0].contains("prompt=none") && opened[0].contains("login_hint=aiko.tanaka"));
    assert!(!opened[1].contains("prompt=none"));
    assert_eq!(ts.account.as_deref(), Some(AIKO));
    // Same browser (session cookie): silent, no form.
    let forms = player.forms_posted.load(Ordering::SeqCst);
    let again = microsoft::sign_in(&cfg, Some(AIKO), &opts(&player), &http)
        .await
        .unwrap();
    assert_eq!(player.opened.lock().len(), 3);
    assert_eq!(
        player.forms_posted.load(Ordering::SeqCst),
        forms,
        "no page shown"
    );
    assert_eq!(
        graph_me(&sb, again.access_token.expose()).await["userPrincipalName"],
        AIKO
    );
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn sign_in_times_out_and_cancels() {
    let sb = sandbox().await;
    let http = reqwest::Client::new();
    let cfg = MicrosoftConfig::new(&sb.urls.login, "c");
    let idle: BrowserOpener = Arc::new(|_url: &str| Ok(()));
    let mut o = SignInOptions::new(idle.clone());
    o.timeout = Duration::from_millis(200);
    assert!(matches!(
        microsoft::sign_in(&cfg, None, &o, &http).await,
        Err(AuthError::TimedOut)
    ));
    let o = SignInOptions::new(idle);
    let cancel = o.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    assert!(matches!(
        microsoft::sign_in(&cfg, None, &o, &http).await,
        Err(AuthError::Cancelled)
    ));
    let broken: BrowserOpener = Arc::new(|_url: &str| Err("no browser".into()));
    assert!(matches!(
        microsoft::sign_in(&cfg, None, &SignInOptions::new(broken), &http).await,
        Err(AuthError::Browser(_))
    ));
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn microsoft_refresh_rotates_and_a_dead_refresh_token_needs_reconnect() {
    let sb = sandbox().await;
    let http = reqwest::Client::new();
    let cfg = MicrosoftConfig::new(&sb.urls.login, "11111111-2222-3333-4444-555555555555");
    let player = Player::new(AIKO);
    let ts = microsoft::sign_in(&cfg, None, &opts(&player), &http)
        .await
        .unwrap();
    let first_refresh = ts.refresh_token.clone().unwrap();
    let store = Arc::new(SessionOnlyStore::new());
    let session = Session::create(store.clone(), http.clone(), ts)
        .await
        .unwrap();
    assert_eq!(session.key(), format!("microsoft:{AIKO}"));

    // Cached until shortly before expiry: no token request.
    let a1 = session.access_token().await.unwrap();
    assert_eq!(session.access_token().await.unwrap(), a1);
    assert_eq!(session.refreshes_sent(), 0);

    // A 401 invalidates; the refresh rotates the refresh token and stores it.
    session.invalidate(a1.expose()).await;
    let a2 = session.access_token().await.unwrap();
    assert_ne!(a2, a1);
    assert_eq!(session.refreshes_sent(), 1);
    let stored: Value = serde_json::from_str(&store.load(session.key()).unwrap().unwrap()).unwrap();
    assert_ne!(stored["refresh_token"], first_refresh.expose(), "rotated");
    assert_eq!(stored["access_token"], a2.expose());
    assert_eq!(graph_me(&sb, a2.expose()).await["userPrincipalName"], AIKO);
    // A fresh session from the store uses the stored (rotated) token set.
    let reloaded = Session::load(store.clone(), http.clone(), session.key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reloaded.access_token().await.unwrap(), a2);

    // Refresh token expired (AADSTS700082) → typed reconnect-needed state.
    control(
        format!("{}/refresh-tokens/expire", sb.urls.graph_control),
        json!({"user": AIKO}),
    )
    .await;
    session.invalidate(a2.expose()).await;
    let err = session.access_token().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::ReconnectNeeded(r) if r.contains("AADSTS700082")),
        "{err}"
    );
    assert!(matches!(session.state(), SessionState::ReconnectNeeded(_)));
    // No crash loop: later calls fail at once without a token request.
    let sent = session.refreshes_sent();
    for _ in 0..3 {
        assert!(matches!(
            session.access_token().await,
            Err(AuthError::ReconnectNeeded(_))
        ));
    }
    assert_eq!(session.refreshes_sent(), sent);
    let stored: Value = serde_json::from_str(&store.load(session.key()).unwrap().unwrap()).unwrap();
    assert!(
        stored["refresh_token"].is_null(),
        "dead refresh token dropped"
    );
    let reloaded = Session::load(store, http, session.key())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(reloaded.state(), SessionState::ReconnectNeeded(_)));
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn zoho_sign_in_follows_the_data_centre_of_the_redirect() {
    let sb = sandbox().await;
    let http = reqwest::Client::new();
    // Sign-in starts at the US accounts server; the user lives in JP.
    let us = &sb.urls.zoho["us"];
    let cfg = ZohoConfig::new(&us.accounts, ZOHO_DESKTOP_CLIENT);
    let player = Player::new(KENJI_JP);
    let ts = zoho::sign_in(&cfg, Some(KENJI_JP), &opts(&player), &http)
        .await
        .unwrap();
    let opened = player.opened.lock()[0].clone();
    assert!(
        opened.contains("access_type=offline") && opened.contains("code_challenge_method=S256")
    );
    assert_eq!(ts.location.as_deref(), Some("jp"));
    assert!(
        ts.token_endpoint.contains("/zoho/jp/accounts"),
        "{}",
        ts.token_endpoint
    );
    let api = ts.api_domain.clone().unwrap();
    assert!(api.contains("/zoho/jp/"), "{api}");
    let me: Value = http
        .get(format!("{api}/crm/v8/users?type=CurrentUser"))
        .header(
            "Authorization",
            format!("Zoho-oauthtoken {}", ts.access_token.expose()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["users"][0]["email"], KENJI_JP, "{me}");

    // Refresh (Zoho does not rotate), then a revoked refresh token → reconnect.
    let refresh = ts.refresh_token.clone().unwrap();
    let session = Session::create(Arc::new(SessionOnlyStore::new()), http.clone(), ts)
        .await
        .unwrap();
    let a1 = session.access_token().await.unwrap();
    session.invalidate(a1.expose()).await;
    let a2 = session.access_token().await.unwrap();
    assert_ne!(a1, a2);
    assert_eq!(session.token_set().await.refresh_token.unwrap(), refresh);
    let jp_accounts = &sb.urls.zoho["jp"].accounts;
    let r = http
        .post(format!(
            "{jp_accounts}/oauth/v2/token/revoke?token={}",
            refresh.expose()
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    session.invalidate(a2.expose()).await;
    let err = session.access_token().await.unwrap_err();
    assert!(
        matches!(&err, AuthError::ReconnectNeeded(r) if r.contains("invalid_code")),
        "{err}"
    );
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn zoho_refreshes_stay_within_ten_per_ten_minutes() {
    let sb = sandbox().await;
    let http = reqwest::Client::new();
    let cfg = ZohoConfig::new(&sb.urls.zoho["us"].accounts, ZOHO_DESKTOP_CLIENT);
    let player = Player::new(AIKO);
    let ts = zoho::sign_in(&cfg, Some(AIKO), &opts(&player), &http)
        .await
        .unwrap();
    let session = Session::create(Arc::new(SessionOnlyStore::new()), http, ts)
        .await
        .unwrap();
    for _ in 0..10 {
        let t = session.access_token().await.unwrap();
        session.invalidate(t.expose()).await;
    }
    // 10 refreshes sent (the first call used the sign-in token)...
    let _ = session.access_token().await;
    assert_eq!(session.refreshes_sent(), 10);
    // ...the 11th is held back locally instead of being refused by Zoho.
    assert!(matches!(
        session.access_token().await,
        Err(AuthError::Throttled(_))
    ));
    assert_eq!(session.refreshes_sent(), 10);
    assert_eq!(session.state(), SessionState::Connected);
    sb.shutdown().await.unwrap();
}

/// Runs `test` in a child process inside a private D-Bus session with an
/// unlocked gnome-keyring (a real Secret Service), throwaway password.
fn run_in_keyring_session(test: &str) {
    let exe = std::env::current_exe().unwrap();
    // A private home: the keyring daemon writes its (encrypted) file there,
    // and the child greps every file under it for the tokens.
    let home = tempfile::tempdir().unwrap();
    // The daemon forks into the background: it must not hold our output pipes,
    // or `output()` never sees EOF (it hung CI under xvfb). No X display either.
    let script = "printf throwaway | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 && exec \"$@\"";
    let out = std::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", script, "sh"])
        .arg(&exe)
        .args([test, "--exact", "--nocapture"])
        .env("CRMSYNC_KEYRING_CHILD", "1")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .output()
        .expect(
            "dbus-run-session and gnome-keyring are needed for this test (apt: dbus gnome-keyring)",
        );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{stderr}"
    );
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test]
async fn tokens_live_in_a_real_secret_service() {
    if std::env::var("CRMSYNC_KEYRING_CHILD").is_err() {
        return run_in_keyring_session("tokens_live_in_a_real_secret_service");
    }
    let store: Arc<dyn TokenStore> = Arc::new(KeyringStore::with_service("crmsync-test").unwrap());
    let sb = sandbox().await;
    let http = reqwest::Client::new();
    let minted = control(
        format!("{}/tokens", sb.urls.graph_control),
        json!({"user": AIKO, "scopes": "offline_access openid User.Read"}),
    )
    .await;
    let cfg = MicrosoftConfig::new(&sb.urls.login, "11111111-2222-3333-4444-555555555555");
    let ts = crmsync_auth::TokenSet {
        provider: crmsync_auth::Provider::Microsoft,
        access_token: crmsync_auth::Secret::new(minted["access_token"].as_str().unwrap()),
        refresh_token: Some(crmsync_auth::Secret::new(
            minted["refresh_token"].as_str().unwrap(),
        )),
        expires_at: chrono::Utc::now() + chrono::Duration::seconds(3000),
        scope: None,
        token_endpoint: cfg.token_endpoint(),
        client_id: cfg.client_id.clone(),
        client_secret: None,
        api_domain: None,
        location: None,
        account: Some(AIKO.into()),
        refresh_scope: Some("offline_access openid User.Read".into()),
    };
    let session = Session::create(store.clone(), http.clone(), ts)
        .await
        .unwrap();
    let a1 = session.access_token().await.unwrap();
    session.invalidate(a1.expose()).await;
    let a2 = session.access_token().await.unwrap();
    // Read back through a second store handle: the rotated set is in the keychain.
    let other = KeyringStore::with_service("crmsync-test").unwrap();
    let stored: Value = serde_json::from_str(&other.load(session.key()).unwrap().unwrap()).unwrap();
    assert_eq!(stored["access_token"], a2.expose());
    assert_ne!(stored["refresh_token"], minted["refresh_token"]);
    let reloaded = Session::load(store.clone(), http, session.key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reloaded.access_token().await.unwrap(), a2);
    // The keychain's file under the private home is encrypted: no token is in any file there.
    let home = std::path::PathBuf::from(std::env::var_os("HOME").unwrap());
    let files = files_under(&home);
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("keyrings")),
        "the keyring daemon wrote its file under {}: {files:?}",
        home.display()
    );
    let secrets = [
        a2.expose().to_owned(),
        stored["refresh_token"].as_str().unwrap().to_owned(),
        minted["access_token"].as_str().unwrap().to_owned(),
        minted["refresh_token"].as_str().unwrap().to_owned(),
    ];
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a token in plain text in {}",
                file.display()
            );
        }
    }
    session.sign_out().await.unwrap();
    assert!(other.load(session.key()).unwrap().is_none());
    sb.shutdown().await.unwrap();
}

#[test]
fn no_keychain_is_a_clear_error() {
    if std::env::var("CRMSYNC_KEYRING_CHILD").as_deref() == Ok("none") {
        let err = KeyringStore::open().unwrap_err();
        assert!(matches!(err, AuthError::NoKeychain(_)), "{err}");
        assert!(err.to_string().contains("opt-in"));
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["no_keychain_is_a_clear_error", "--exact", "--nocapture"])
        .env("CRMSYNC_KEYRING_CHILD", "none")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/crmsync-no-bus",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
