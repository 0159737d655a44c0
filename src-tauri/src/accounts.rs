//! Connecting the two accounts: the real OAuth sign-in (system browser through
//! tauri-plugin-opener, loopback redirect, tokens in the OS keychain through
//! crmsync-auth), the identity read from the service and saved in the engine
//! store (identity only, never tokens), and disconnect.
//!
//! In sandbox mode the endpoints and client ids are the in-process sandbox's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use specta::Type;
use tauri::{AppHandle, Manager, State};
use tauri_plugin_opener::OpenerExt;

use crmsync_auth::{
    microsoft, zoho, AuthError, BrowserOpener, CancelHandle, KeyringStore, Session,
    SessionOnlyStore, SignInOptions, TokenSet, TokenStore,
};
use crmsync_engine::{Account, Service as EngineService};

use crate::commands::AppState;
use crate::error::{CommandError, ErrorCode};
use crate::sync::SyncService;

/// The sandbox's public (PKCE) Zoho client, registered by the emulator.
pub const SANDBOX_ZOHO_CLIENT_ID: &str = "1000.SANDBOXCRMSYNCDESKTOPCLIENT";
/// The sandbox identity platform accepts any client id; this one names the app.
pub const SANDBOX_MICROSOFT_CLIENT_ID: &str = "crmsync-desktop-sandbox";
/// The data centre whose sign-in page opens first; the redirect names the user's own.
const FIRST_ZOHO_DC: &str = "us";

/// A service the user connects, as the UI names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Zoho,
    Microsoft,
}

impl From<Service> for EngineService {
    fn from(s: Service) -> Self {
        match s {
            Service::Zoho => EngineService::Zoho,
            Service::Microsoft => EngineService::Microsoft,
        }
    }
}

impl From<EngineService> for Service {
    fn from(s: EngineService) -> Self {
        match s {
            EngineService::Zoho => Service::Zoho,
            EngineService::Microsoft => Service::Microsoft,
        }
    }
}

/// One connected account, as the accounts panel shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct AccountView {
    pub service: Service,
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    /// Zoho: the CRM organisation's name; Microsoft 365: the tenant.
    pub organisation: String,
    /// Zoho data centre (`us`, `eu`, `in`, `au`, `jp`, `ca`); null for Microsoft 365.
    pub data_centre: Option<String>,
    /// RFC 3339, UTC.
    pub connected_at: String,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        AccountView {
            service: a.service.into(),
            user_id: a.user_id,
            email: a.email,
            display_name: a.display_name,
            organisation: a.organisation,
            data_centre: a.data_centre,
            connected_at: a.connected_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

/// Both connections, and which sign-ins are waiting for the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct Accounts {
    pub zoho: Option<AccountView>,
    pub microsoft: Option<AccountView>,
    /// Sign-ins started and not finished yet (the browser is open).
    pub signing_in: Vec<Service>,
}

/// Where sign-in and identity calls go.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Identity platform root (`…/login` in the sandbox).
    pub microsoft_login: String,
    pub microsoft_client_id: String,
    /// Graph v1.0 root.
    pub graph: String,
    /// The Zoho accounts server whose page opens first.
    pub zoho_accounts: String,
    pub zoho_client_id: String,
    /// `common`, `organizations`, a tenant id or a domain.
    pub microsoft_tenant: String,
    /// The real services (a Zoho client secret, if the user saved one, comes from the keychain).
    pub real: bool,
}

impl Endpoints {
    /// The in-process sandbox's endpoints and client ids.
    pub fn sandbox(urls: &crmsync_sandbox::Urls) -> Option<Endpoints> {
        let zoho = urls.zoho.get(FIRST_ZOHO_DC)?;
        Some(Endpoints {
            microsoft_login: urls.login.clone(),
            microsoft_client_id: SANDBOX_MICROSOFT_CLIENT_ID.to_owned(),
            graph: urls.graph.clone(),
            zoho_accounts: zoho.accounts.clone(),
            zoho_client_id: SANDBOX_ZOHO_CLIENT_ID.to_owned(),
            microsoft_tenant: "common".to_owned(),
            real: false,
        })
    }
}

/// What the connect commands share: endpoints, one HTTP client, and the
/// cancel handles of sign-ins waiting for the browser.
pub struct Connections {
    endpoints: Result<Endpoints, String>,
    pub(crate) http: reqwest::Client,
    /// Waiting sign-ins: a ticket (so a finished one never forgets a newer
    /// one) and the handle that cancels it.
    pending: Mutex<HashMap<Service, (u64, CancelHandle)>>,
    tickets: std::sync::atomic::AtomicU64,
    /// Where sign-ins live when the computer has no keychain and the user opted in to
    /// keeping them in memory for this run (Settings). One for the whole run.
    memory: Arc<SessionOnlyStore>,
}

impl Connections {
    /// `endpoints` is `Err(why)` when no service can be reached (the sandbox did not start).
    pub fn new(endpoints: Result<Endpoints, String>) -> Connections {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Connections {
            endpoints,
            http,
            pending: Mutex::new(HashMap::new()),
            tickets: std::sync::atomic::AtomicU64::new(0),
            memory: Arc::new(SessionOnlyStore::new()),
        }
    }

    /// Where tokens are kept: the OS keychain; with none, this run's memory if the user
    /// opted in (`memory_sign_in`), else [`AuthError::NoKeychain`]. Never a file.
    pub(crate) fn token_store(
        &self,
        memory_sign_in: bool,
    ) -> Result<Arc<dyn TokenStore>, AuthError> {
        match KeyringStore::open() {
            Ok(keychain) => Ok(Arc::new(keychain)),
            Err(AuthError::NoKeychain(_)) if memory_sign_in => Ok(self.memory.clone()),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn endpoints(&self) -> Result<&Endpoints, CommandError> {
        self.endpoints
            .as_ref()
            .map_err(|why| CommandError::new(ErrorCode::NotConfigured, why.clone()))
    }

    fn signing_in(&self) -> Vec<Service> {
        let mut out: Vec<Service> = self
            .pending
            .lock()
            .map(|p| p.keys().copied().collect())
            .unwrap_or_default();
        out.sort_by_key(|s| *s == Service::Microsoft);
        out
    }

    /// Registers a sign-in for `service`; refuses a second one at the same time.
    fn begin(&self, service: Service) -> Result<Pending<'_>, CommandError> {
        let mut pending = self.pending.lock().map_err(|_| poisoned())?;
        if pending.contains_key(&service) {
            return Err(CommandError::new(
                ErrorCode::SignInInProgress,
                format!(
                    "a {} sign-in is already waiting for your browser",
                    EngineService::from(service).display_name()
                ),
            ));
        }
        let cancel = CancelHandle::new();
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        pending.insert(service, (ticket, cancel.clone()));
        Ok(Pending {
            connections: self,
            service,
            ticket,
            cancel,
        })
    }

    /// Cancels a waiting sign-in; false when none was waiting.
    fn cancel(&self, service: Service) -> bool {
        let handle = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&service));
        match handle {
            Some((_, h)) => {
                h.cancel();
                true
            }
            None => false,
        }
    }
}

/// A sign-in in progress; dropping it (done, failed or cancelled) forgets it.
struct Pending<'a> {
    connections: &'a Connections,
    service: Service,
    ticket: u64,
    cancel: CancelHandle,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Ok(mut p) = self.connections.pending.lock() {
            if p.get(&self.service).is_some_and(|(t, _)| *t == self.ticket) {
                p.remove(&self.service);
            }
        }
    }
}

fn poisoned() -> CommandError {
    CommandError::new(
        ErrorCode::Store,
        "the app state is unavailable after an earlier failure; restart the app",
    )
}

/// The keychain key of a connected account (crmsync-auth's `{provider}:{account}`).
fn keychain_key(service: EngineService, email: &str) -> String {
    format!("{}:{email}", service.as_str())
}

impl From<AuthError> for CommandError {
    fn from(e: AuthError) -> Self {
        let code = match &e {
            AuthError::Cancelled => ErrorCode::SignInCancelled,
            AuthError::TimedOut => ErrorCode::SignInTimedOut,
            AuthError::NoKeychain(_) => ErrorCode::NoKeychain,
            AuthError::Keychain(_) => ErrorCode::Keychain,
            AuthError::Browser(_) => ErrorCode::BrowserUnavailable,
            AuthError::Network(_) => ErrorCode::Network,
            AuthError::ReconnectNeeded(_)
            | AuthError::Authorization { .. }
            | AuthError::TokenEndpoint { .. }
            | AuthError::Throttled(_)
            | AuthError::Invalid(_) => ErrorCode::SignInFailed,
        };
        tracing::warn!(error = %e, ?code, "sign-in or keychain failure");
        CommandError::new(code, e.to_string())
    }
}

fn opener(app: &AppHandle) -> BrowserOpener {
    let app = app.clone();
    Arc::new(move |url: &str| {
        tracing::info!("opening the sign-in page in the system browser");
        app.opener()
            .open_url(url, None::<&str>)
            .map_err(|e| e.to_string())
    })
}

/// GETs `url` with `auth` and returns the JSON body, or a typed failure.
async fn get_json(
    http: &reqwest::Client,
    url: &str,
    auth: String,
    what: &str,
) -> Result<Value, CommandError> {
    let failed = |detail: String| {
        CommandError::new(
            ErrorCode::SignInFailed,
            format!("signed in, but the {what} could not be read: {detail}"),
        )
    };
    let resp = http
        .get(url)
        .header(reqwest::header::AUTHORIZATION, auth)
        .send()
        .await
        .map_err(|e| {
            CommandError::new(
                ErrorCode::Network,
                format!(
                    "signed in, but the {what} could not be read: {}",
                    e.without_url()
                ),
            )
        })?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(failed(format!("HTTP {status}")));
    }
    Ok(body)
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The signed-in CRM user and org, from the CRM API of the user's data centre.
async fn zoho_identity(http: &reqwest::Client, ts: &TokenSet) -> Result<Account, CommandError> {
    let missing = |what: &str| {
        CommandError::new(
            ErrorCode::SignInFailed,
            format!("the Zoho sign-in answered without {what}"),
        )
    };
    let api = ts
        .api_domain
        .as_deref()
        .ok_or_else(|| missing("an API domain"))?
        .trim_end_matches('/');
    let data_centre = ts
        .location
        .clone()
        .ok_or_else(|| missing("the data centre (location)"))?;
    let auth = format!("Zoho-oauthtoken {}", ts.access_token.expose());
    let users = get_json(
        http,
        &format!("{api}/crm/v8/users?type=CurrentUser"),
        auth.clone(),
        "CRM user",
    )
    .await?;
    let org = get_json(http, &format!("{api}/crm/v8/org"), auth, "CRM organisation").await?;
    let user_id = text(&users, "/users/0/id").ok_or_else(|| missing("the CRM user"))?;
    let email = text(&users, "/users/0/email").ok_or_else(|| missing("the CRM user's e-mail"))?;
    let display_name = text(&users, "/users/0/full_name").unwrap_or_else(|| email.clone());
    let organisation = text(&org, "/org/0/company_name")
        .or_else(|| text(&org, "/org/0/id"))
        .ok_or_else(|| missing("the CRM organisation"))?;
    Ok(Account {
        service: EngineService::Zoho,
        user_id,
        email,
        display_name,
        organisation,
        data_centre: Some(data_centre),
        connected_at: Utc::now(),
    })
}

/// The signed-in Microsoft 365 user, from Graph `/me`. The tenant shown is the
/// domain of the user principal name (crmsync-auth does not keep the id token's `tid`).
async fn microsoft_identity(
    http: &reqwest::Client,
    graph: &str,
    ts: &TokenSet,
) -> Result<Account, CommandError> {
    let me = get_json(
        http,
        &format!("{}/me", graph.trim_end_matches('/')),
        format!("Bearer {}", ts.access_token.expose()),
        "Microsoft 365 user",
    )
    .await?;
    let missing = |what: &str| {
        CommandError::new(
            ErrorCode::SignInFailed,
            format!("Microsoft 365 answered without {what}"),
        )
    };
    let user_id = text(&me, "/id").ok_or_else(|| missing("the user id"))?;
    let upn = text(&me, "/userPrincipalName")
        .or_else(|| ts.account.clone())
        .ok_or_else(|| missing("the user name"))?;
    let display_name = text(&me, "/displayName").unwrap_or_else(|| upn.clone());
    let tenant = upn
        .rsplit_once('@')
        .map(|(_, domain)| domain.to_owned())
        .ok_or_else(|| missing("the tenant"))?;
    Ok(Account {
        service: EngineService::Microsoft,
        user_id,
        email: upn,
        display_name,
        organisation: tenant,
        data_centre: None,
        connected_at: Utc::now(),
    })
}

/// Runs the sign-in for `service` (with `hint` pre-filled), reads the
/// identity, keeps the tokens in the keychain and the identity in the store.
pub async fn connect_service(
    app: &AppHandle,
    state: &AppState,
    connections: &Connections,
    service: Service,
    hint: Option<String>,
) -> Result<AccountView, CommandError> {
    let endpoints = connections.endpoints()?.clone();
    // Fail before opening the browser when tokens could not be kept.
    let keychain = connections.token_store(crate::settings::prefs(app).memory_sign_in)?;
    let pending = connections.begin(service)?;
    let mut opts = SignInOptions::new(opener(app));
    opts.cancel = pending.cancel.clone();
    let http = &connections.http;
    let hint = hint.as_deref();
    tracing::info!(?service, silent_first = hint.is_some(), "sign-in started");
    let (mut ts, account) = match service {
        Service::Zoho => {
            let mut cfg =
                zoho::ZohoConfig::new(&endpoints.zoho_accounts, &endpoints.zoho_client_id);
            if endpoints.real {
                // A Zoho client secret lives only in the keychain (settings).
                cfg.client_secret =
                    tokio::task::spawn_blocking(crate::settings::zoho_client_secret)
                        .await
                        .ok()
                        .flatten()
                        .map(crmsync_auth::Secret::new);
            }
            let ts = zoho::sign_in(&cfg, hint, &opts, http).await?;
            let account = zoho_identity(http, &ts).await?;
            (ts, account)
        }
        Service::Microsoft => {
            let mut cfg = microsoft::MicrosoftConfig::new(
                &endpoints.microsoft_login,
                &endpoints.microsoft_client_id,
            );
            cfg.tenant.clone_from(&endpoints.microsoft_tenant);
            let ts = microsoft::sign_in(&cfg, hint, &opts, http).await?;
            let account = microsoft_identity(http, &endpoints.graph, &ts).await?;
            (ts, account)
        }
    };
    drop(pending);
    // The keychain entry is named after the account that really signed in.
    ts.account = Some(account.email.clone());
    let session = Session::create(keychain.clone(), http.clone(), ts).await?;
    let previous = state.with_store(|store| Ok(store.account(service.into())?))?;
    if let Err(e) = state.with_store(|store| Ok(store.save_account(&account)?)) {
        // No identity row means no connection: do not leave tokens behind.
        let _ = session.sign_out().await;
        return Err(e);
    }
    // Reconnected as another account: the old account's tokens go too.
    if let Some(old) = previous.filter(|p| !p.email.eq_ignore_ascii_case(&account.email)) {
        let key = keychain_key(old.service, &old.email);
        match tokio::task::spawn_blocking(move || keychain.delete(&key)).await {
            Ok(Ok(_)) => tracing::info!(?service, "the previous account's sign-in was removed"),
            Ok(Err(e)) => {
                tracing::warn!(?service, error = %e, "the previous account's sign-in could not be removed")
            }
            Err(e) => tracing::warn!(?service, error = %e, "keychain task failed"),
        }
    }
    tracing::info!(?service, "account connected");
    Ok(account.into())
}

/// Both connections and the sign-ins waiting for the browser.
#[tauri::command]
#[specta::specta]
pub fn accounts(
    state: State<'_, AppState>,
    connections: State<'_, Connections>,
) -> Result<Accounts, CommandError> {
    let (zoho, microsoft) = state.with_store(|store| {
        Ok((
            store.account(EngineService::Zoho)?,
            store.account(EngineService::Microsoft)?,
        ))
    })?;
    Ok(Accounts {
        zoho: zoho.map(Into::into),
        microsoft: microsoft.map(Into::into),
        signing_in: connections.signing_in(),
    })
}

/// Connects `service`: opens its sign-in page in the system browser and
/// waits for the redirect. Microsoft 365 is pre-filled with the CRM user's e-mail.
#[tauri::command]
#[specta::specta]
pub async fn connect(
    app: AppHandle,
    state: State<'_, AppState>,
    connections: State<'_, Connections>,
    service: Service,
) -> Result<AccountView, CommandError> {
    let hint = match service {
        Service::Zoho => None,
        Service::Microsoft => state
            .with_store(|store| Ok(store.account(EngineService::Zoho)?))?
            .map(|a| a.email),
    };
    let account = connect_service(&app, &state, &connections, service, hint).await?;
    app.state::<SyncService>().restart(&app).await;
    Ok(account)
}

/// Stops waiting for the browser; the pending `connect` fails with `sign_in_cancelled`.
#[tauri::command]
#[specta::specta]
pub fn cancel_sign_in(connections: State<'_, Connections>, service: Service) -> bool {
    connections.cancel(service)
}

/// Disconnects `service`: deletes its keychain entry and its account row.
/// Never touches CRM or Microsoft 365 data.
#[tauri::command]
#[specta::specta]
pub async fn disconnect(
    app: AppHandle,
    state: State<'_, AppState>,
    connections: State<'_, Connections>,
    service: Service,
) -> Result<Accounts, CommandError> {
    let engine_service = EngineService::from(service);
    let account = state.with_store(|store| Ok(store.account(engine_service)?))?;
    if let Some(account) = account {
        let key = keychain_key(engine_service, &account.email);
        match connections.token_store(crate::settings::prefs(&app).memory_sign_in) {
            Ok(keychain) => {
                let deleted = tokio::task::spawn_blocking(move || keychain.delete(&key))
                    .await
                    .map_err(|e| {
                        CommandError::new(ErrorCode::Keychain, format!("keychain task failed: {e}"))
                    })?;
                deleted?;
            }
            // No keychain: no tokens can be in it.
            Err(AuthError::NoKeychain(_)) => {}
            Err(e) => return Err(e.into()),
        }
        state.with_store(|store| Ok(store.remove_account(engine_service)?))?;
        tracing::info!(?service, "account disconnected");
        app.state::<SyncService>().restart(&app).await;
    }
    accounts(state, connections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keychain_key_matches_crmsync_auth() {
        let ts = TokenSet {
            provider: crmsync_auth::Provider::Zoho,
            access_token: crmsync_auth::Secret::new("a"),
            refresh_token: None,
            expires_at: Utc::now(),
            scope: None,
            token_endpoint: String::new(),
            client_id: "c".into(),
            client_secret: None,
            api_domain: None,
            location: None,
            account: Some("aiko@x.example".into()),
            refresh_scope: None,
        };
        assert_eq!(
            Session::key_for(&ts),
            keychain_key(EngineService::Zoho, "aiko@x.example")
        );
    }

    #[test]
    fn one_sign_in_per_service_and_a_finished_one_forgets_only_itself() {
        let c = Connections::new(Err("no sandbox".into()));
        let first = c.begin(Service::Zoho).unwrap();
        let again = c.begin(Service::Zoho).err().expect("refused");
        assert_eq!(again.code, ErrorCode::SignInInProgress);
        assert_eq!(c.signing_in(), vec![Service::Zoho]);
        assert!(c.cancel(Service::Zoho));
        assert!(c.signing_in().is_empty());
        let second = c.begin(Service::Zoho).unwrap();
        let ms = c.begin(Service::Microsoft).unwrap();
        assert_eq!(c.signing_in(), vec![Service::Zoho, Service::Microsoft]);
        // The cancelled sign-in ending late does not forget the new one.
        drop(first);
        assert_eq!(c.signing_in(), vec![Service::Zoho, Service::Microsoft]);
        drop(second);
        drop(ms);
        assert!(c.signing_in().is_empty());
        assert!(!c.cancel(Service::Microsoft));
        assert_eq!(c.endpoints().err().unwrap().code, ErrorCode::NotConfigured);
    }

    #[test]
    fn auth_errors_keep_their_meaning() {
        let code = |e: AuthError| CommandError::from(e).code;
        assert_eq!(code(AuthError::Cancelled), ErrorCode::SignInCancelled);
        assert_eq!(
            code(AuthError::NoKeychain("x".into())),
            ErrorCode::NoKeychain
        );
        assert_eq!(code(AuthError::TimedOut), ErrorCode::SignInTimedOut);
        assert_eq!(
            code(AuthError::Authorization {
                error: "access_denied".into(),
                description: String::new()
            }),
            ErrorCode::SignInFailed
        );
    }

    #[test]
    fn sandbox_endpoints_start_at_the_us_data_centre() {
        let urls: crmsync_sandbox::Urls = serde_json::from_value(serde_json::json!({
            "graph": "http://h/graph/v1.0", "login": "http://h/login", "graph_control": "http://h/control/graph",
            "zoho": {"us": {"accounts": "http://h/zoho/us/accounts", "api": "http://h/zoho/us/api"}}
        }))
        .unwrap();
        let e = Endpoints::sandbox(&urls).unwrap();
        assert_eq!(e.zoho_accounts, "http://h/zoho/us/accounts");
        assert_eq!(e.zoho_client_id, SANDBOX_ZOHO_CLIENT_ID);
        assert_eq!(e.microsoft_login, "http://h/login");
    }
}
