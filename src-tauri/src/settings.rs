//! App preferences: which services to use (the built-in sandbox or real accounts and
//! their client ids), the sync interval, the conflict policy, the language, start at
//! login, and whether the first-run welcome was dismissed.
//!
//! Preferences live in tauri-plugin-store (`settings.json` in the data dir) and are
//! never secret. A Zoho client secret, if the user enters one, goes only to the OS
//! keychain (`client-secret:zoho`); the window is told whether one is saved, never its
//! value.
//!
//! The rest of the shell reads what it needs through the plain functions at the end
//! ([`interval`], [`lang`], [`real_endpoints`], [`zoho_client_secret`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_store::StoreExt;

use crmsync_auth::{AuthError, KeyringStore, TokenStore};
use crmsync_core::planner::ConflictPolicy;
use crmsync_engine::ModuleKind;

use crate::accounts::Endpoints;
use crate::commands::{AppState, Mode};
use crate::error::{CommandError, ErrorCode};
use crate::locale::Lang;

/// The preferences file, in the data dir.
pub const PREFS_FILE: &str = "settings.json";
/// The one key of the preferences file; its value is [`Prefs`].
const PREFS_KEY: &str = "prefs";
/// The keychain key of the Zoho client secret.
pub const ZOHO_SECRET_KEY: &str = "client-secret:zoho";
/// The sync intervals the user can choose, in minutes.
pub const INTERVALS: [u32; 6] = [1, 2, 5, 15, 30, 60];
/// The default sync interval, in minutes.
pub const DEFAULT_INTERVAL: u32 = 2;
/// The default Microsoft tenant: any work, school or personal account.
pub const DEFAULT_TENANT: &str = "common";
/// The default Zoho accounts server (the user's data centre comes from the redirect).
pub const DEFAULT_ZOHO_ACCOUNTS: &str = "https://accounts.zoho.com";
/// The Microsoft identity platform's root in real mode (the tenant follows it).
pub const MICROSOFT_LOGIN: &str = "https://login.microsoftonline.com";
/// Microsoft Graph v1.0 in real mode.
pub const GRAPH: &str = "https://graph.microsoft.com/v1.0";

/// Which services the app talks to. A change takes effect at the next start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum AccountsMode {
    /// The built-in emulators with demo data.
    #[default]
    Sandbox,
    /// The user's real Microsoft 365 and Zoho CRM, with the client ids below.
    Real,
}

/// What happens when the same field changed on both sides; applied to every module.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum PolicyPref {
    /// The newest change wins.
    #[default]
    Newest,
    /// The CRM wins.
    CrmWins,
    /// Microsoft 365 wins.
    GraphWins,
    /// Ask the user.
    Ask,
}

impl From<PolicyPref> for ConflictPolicy {
    fn from(p: PolicyPref) -> Self {
        match p {
            PolicyPref::Newest => ConflictPolicy::Newest,
            PolicyPref::CrmWins => ConflictPolicy::CrmWins,
            PolicyPref::GraphWins => ConflictPolicy::GraphWins,
            PolicyPref::Ask => ConflictPolicy::Ask,
        }
    }
}

/// The UI language the user chose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum LangPref {
    /// Follow the OS.
    #[default]
    Os,
    En,
    Ja,
}

/// The stored preferences. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    pub mode: AccountsMode,
    pub microsoft_tenant: String,
    pub microsoft_client_id: String,
    pub zoho_client_id: String,
    pub zoho_accounts_server: String,
    pub interval_minutes: u32,
    pub conflict_policy: PolicyPref,
    pub language: LangPref,
    pub start_at_login: bool,
    /// The explicit opt-in for a computer with no OS keychain: sign-ins are kept in this
    /// run's memory only (signed in again at each start), never written anywhere.
    pub memory_sign_in: bool,
    pub welcome_dismissed: bool,
}

impl Default for Prefs {
    fn default() -> Self {
        Prefs {
            mode: AccountsMode::Sandbox,
            microsoft_tenant: DEFAULT_TENANT.to_owned(),
            microsoft_client_id: String::new(),
            zoho_client_id: String::new(),
            zoho_accounts_server: DEFAULT_ZOHO_ACCOUNTS.to_owned(),
            interval_minutes: DEFAULT_INTERVAL,
            conflict_policy: PolicyPref::Newest,
            language: LangPref::Os,
            start_at_login: false,
            memory_sign_in: false,
            welcome_dismissed: false,
        }
    }
}

/// The real services' endpoints and client ids, from the preferences.
#[derive(Debug, Clone)]
#[allow(dead_code)] // read at start in lib.rs once real mode is wired
pub struct RealAccounts {
    /// `microsoft_login` is the identity platform's root; the tenant is separate.
    pub endpoints: Endpoints,
    /// `common`, `organizations`, `consumers`, a tenant id or a domain: goes into
    /// crmsync-auth's `MicrosoftConfig::tenant`.
    pub microsoft_tenant: String,
}

impl Prefs {
    /// Reads stored preferences; anything unreadable or out of range falls back to its
    /// default, so a damaged file never stops the app.
    pub fn from_json(value: Option<&serde_json::Value>) -> Prefs {
        let mut prefs = match value {
            Some(v) => serde_json::from_value::<Prefs>(v.clone()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "unreadable preferences; using the defaults");
                Prefs::default()
            }),
            None => Prefs::default(),
        };
        if !INTERVALS.contains(&prefs.interval_minutes) {
            prefs.interval_minutes = DEFAULT_INTERVAL;
        }
        if check_tenant(&prefs.microsoft_tenant).is_err() {
            prefs.microsoft_tenant = DEFAULT_TENANT.to_owned();
        }
        if check_zoho_accounts(&prefs.zoho_accounts_server).is_err() {
            prefs.zoho_accounts_server = DEFAULT_ZOHO_ACCOUNTS.to_owned();
        }
        prefs
    }

    /// How long the worker waits between rounds.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.interval_minutes) * 60)
    }

    /// The language chosen, or `None` to follow the OS.
    pub fn lang(&self) -> Option<Lang> {
        match self.language {
            LangPref::Os => None,
            LangPref::En => Some(Lang::En),
            LangPref::Ja => Some(Lang::Ja),
        }
    }

    /// In real mode with both client ids set, where sign-in, Graph and Zoho go.
    pub fn real_accounts(&self) -> Option<RealAccounts> {
        if self.mode != AccountsMode::Real
            || self.microsoft_client_id.is_empty()
            || self.zoho_client_id.is_empty()
        {
            return None;
        }
        Some(RealAccounts {
            endpoints: Endpoints {
                microsoft_login: MICROSOFT_LOGIN.to_owned(),
                microsoft_client_id: self.microsoft_client_id.clone(),
                graph: GRAPH.to_owned(),
                zoho_accounts: self.zoho_accounts_server.clone(),
                zoho_client_id: self.zoho_client_id.clone(),
                microsoft_tenant: self.microsoft_tenant.clone(),
                real: true,
            },
            microsoft_tenant: self.microsoft_tenant.clone(),
        })
    }
}

/// A settings field, as the UI names it (for inline errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum SettingsField {
    MicrosoftTenant,
    MicrosoftClientId,
    ZohoClientId,
    ZohoAccountsServer,
    IntervalMinutes,
    ZohoClientSecret,
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum FieldProblem {
    /// Real accounts need this field.
    Required,
    /// Not the shape this field has (the message gives the expected shape).
    Invalid,
    /// Not one of the values offered.
    NotAllowed,
}

/// One field's problem, for the inline error under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct FieldError {
    pub field: SettingsField,
    pub problem: FieldProblem,
    /// English, for logs and for codes the UI does not word itself.
    pub message: String,
}

impl FieldError {
    fn new(field: SettingsField, problem: FieldProblem, message: &str) -> Self {
        FieldError {
            field,
            problem,
            message: message.to_owned(),
        }
    }
}

/// What to do with the stored Zoho client secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SecretChange {
    /// Leave it as it is (saved or not).
    Keep,
    /// Save this one in the keychain.
    Set { value: String },
    /// Remove it from the keychain.
    Clear,
}

/// The settings as the window edits them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Type)]
pub struct SettingsInput {
    pub mode: AccountsMode,
    pub microsoft_tenant: String,
    pub microsoft_client_id: String,
    pub zoho_client_id: String,
    pub zoho_accounts_server: String,
    pub interval_minutes: u32,
    pub conflict_policy: PolicyPref,
    pub language: LangPref,
    pub start_at_login: bool,
    pub memory_sign_in: bool,
    pub zoho_client_secret: SecretChange,
}

/// The settings as the window shows them. No secret: only whether one is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct SettingsView {
    pub mode: AccountsMode,
    /// The mode this run uses (a change of `mode` takes effect at the next start).
    pub running_mode: AccountsMode,
    pub microsoft_tenant: String,
    pub microsoft_client_id: String,
    pub zoho_client_id: String,
    pub zoho_accounts_server: String,
    pub interval_minutes: u32,
    /// The intervals offered, in minutes.
    pub intervals: Vec<u32>,
    pub conflict_policy: PolicyPref,
    pub language: LangPref,
    pub start_at_login: bool,
    /// False when this build or OS cannot start the app at login.
    pub start_at_login_available: bool,
    /// A Zoho client secret is saved in the OS keychain.
    pub zoho_client_secret_saved: bool,
    /// This computer has an OS keychain.
    pub keychain_available: bool,
    /// Without a keychain, sign-ins are kept in memory for this run (the user's opt-in).
    pub memory_sign_in: bool,
    pub welcome_dismissed: bool,
    /// Where the store, preferences and diagnostics live.
    pub data_dir: String,
}

/// The answer to a save: saved, or the fields to fix (then nothing was saved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct SettingsSaved {
    pub saved: bool,
    pub errors: Vec<FieldError>,
    /// The settings now stored.
    pub settings: SettingsView,
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

/// A Microsoft tenant: `common`, `organizations`, `consumers`, a tenant id (GUID) or a
/// domain such as `contoso.onmicrosoft.com`.
///
/// # Errors
/// A message saying which shapes are accepted.
pub fn check_tenant(s: &str) -> Result<(), &'static str> {
    let s = s.to_ascii_lowercase();
    if matches!(s.as_str(), "common" | "organizations" | "consumers")
        || is_guid(&s)
        || is_domain(&s)
    {
        Ok(())
    } else {
        Err("use common, organizations, consumers, a tenant id (GUID) or a domain such as contoso.onmicrosoft.com")
    }
}

/// A Microsoft application (client) id: a GUID.
///
/// # Errors
/// A message giving the expected shape.
pub fn check_microsoft_client_id(s: &str) -> Result<(), &'static str> {
    if is_guid(s) {
        Ok(())
    } else {
        Err("an application (client) id looks like 00000000-0000-0000-0000-000000000000")
    }
}

/// A Zoho client id: `1000.` and 10 to 64 letters or digits.
///
/// # Errors
/// A message giving the expected shape.
pub fn check_zoho_client_id(s: &str) -> Result<(), &'static str> {
    let ok = s.strip_prefix("1000.").is_some_and(|rest| {
        (10..=64).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if ok {
        Ok(())
    } else {
        Err("a Zoho client id looks like 1000. followed by letters and digits")
    }
}

/// A Zoho accounts server: `https://accounts.zoho.<domain>` (or zohocloud), no path.
///
/// # Errors
/// A message giving the expected shape.
pub fn check_zoho_accounts(s: &str) -> Result<(), &'static str> {
    const WHY: &str =
        "use the https address of a Zoho accounts server, such as https://accounts.zoho.com";
    let url = reqwest::Url::parse(s).map_err(|_| WHY)?;
    let host = url.host_str().unwrap_or_default();
    let ok = url.scheme() == "https"
        && (host.starts_with("accounts.zoho.") || host.starts_with("accounts.zohocloud."))
        && is_domain(host)
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if ok {
        Ok(())
    } else {
        Err(WHY)
    }
}

/// A client secret: printable, no spaces, at most 256 characters.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_secret(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        Err("enter the client secret, or leave it unchanged")
    } else if s.len() > 256 || !s.chars().all(|c| c.is_ascii_graphic()) {
        Err("a client secret has no spaces and at most 256 characters")
    } else {
        Ok(())
    }
}

impl SettingsInput {
    /// Trims the text fields (and lower-cases the tenant and server).
    fn normalised(mut self) -> SettingsInput {
        self.microsoft_tenant = self.microsoft_tenant.trim().to_ascii_lowercase();
        self.microsoft_client_id = self.microsoft_client_id.trim().to_ascii_lowercase();
        self.zoho_client_id = self.zoho_client_id.trim().to_owned();
        self.zoho_accounts_server = self
            .zoho_accounts_server
            .trim()
            .trim_end_matches('/')
            .to_ascii_lowercase();
        if self.microsoft_tenant.is_empty() {
            DEFAULT_TENANT.clone_into(&mut self.microsoft_tenant);
        }
        if self.zoho_accounts_server.is_empty() {
            DEFAULT_ZOHO_ACCOUNTS.clone_into(&mut self.zoho_accounts_server);
        }
        if let SecretChange::Set { value } = &mut self.zoho_client_secret {
            *value = value.trim().to_owned();
        }
        self
    }

    /// Every field's problem; empty when the input can be saved. Client ids are
    /// required in real mode and checked whenever they are given.
    pub fn validate(&self) -> Vec<FieldError> {
        use FieldProblem::{Invalid, NotAllowed, Required};
        use SettingsField as F;
        let mut errors = Vec::new();
        let real = self.mode == AccountsMode::Real;
        if let Err(why) = check_tenant(&self.microsoft_tenant) {
            errors.push(FieldError::new(F::MicrosoftTenant, Invalid, why));
        }
        if self.microsoft_client_id.is_empty() {
            if real {
                errors.push(FieldError::new(
                    F::MicrosoftClientId,
                    Required,
                    "real accounts need the application (client) id of your Microsoft app registration",
                ));
            }
        } else if let Err(why) = check_microsoft_client_id(&self.microsoft_client_id) {
            errors.push(FieldError::new(F::MicrosoftClientId, Invalid, why));
        }
        if self.zoho_client_id.is_empty() {
            if real {
                errors.push(FieldError::new(
                    F::ZohoClientId,
                    Required,
                    "real accounts need the client id of your Zoho API console client",
                ));
            }
        } else if let Err(why) = check_zoho_client_id(&self.zoho_client_id) {
            errors.push(FieldError::new(F::ZohoClientId, Invalid, why));
        }
        if let Err(why) = check_zoho_accounts(&self.zoho_accounts_server) {
            errors.push(FieldError::new(F::ZohoAccountsServer, Invalid, why));
        }
        if !INTERVALS.contains(&self.interval_minutes) {
            errors.push(FieldError::new(
                F::IntervalMinutes,
                NotAllowed,
                "choose 1, 2, 5, 15, 30 or 60 minutes",
            ));
        }
        if let SecretChange::Set { value } = &self.zoho_client_secret {
            if let Err(why) = check_secret(value) {
                errors.push(FieldError::new(F::ZohoClientSecret, Invalid, why));
            }
        }
        errors
    }

    /// The preferences this input stores (secrets excluded), keeping `welcome_dismissed`.
    fn apply_to(&self, old: &Prefs) -> Prefs {
        Prefs {
            mode: self.mode,
            microsoft_tenant: self.microsoft_tenant.clone(),
            microsoft_client_id: self.microsoft_client_id.clone(),
            zoho_client_id: self.zoho_client_id.clone(),
            zoho_accounts_server: self.zoho_accounts_server.clone(),
            interval_minutes: self.interval_minutes,
            conflict_policy: self.conflict_policy,
            language: self.language,
            start_at_login: self.start_at_login,
            memory_sign_in: self.memory_sign_in,
            welcome_dismissed: old.welcome_dismissed,
        }
    }
}

/// The preferences file: `settings.json` in the data dir (an absolute path, so
/// `CRMSYNC_DATA_DIR` moves it too), or in Tauri's app-data dir when the OS has none.
fn prefs_path() -> PathBuf {
    crmsync_engine::paths::data_dir()
        .map_or_else(|| PathBuf::from(PREFS_FILE), |d| d.join(PREFS_FILE))
}

fn store_error(e: &tauri_plugin_store::Error) -> CommandError {
    tracing::error!(error = %e, "preferences store");
    CommandError::new(
        ErrorCode::Store,
        format!("the preferences could not be read or saved: {e}"),
    )
}

type PrefsStore<R> = Arc<tauri_plugin_store::Store<R>>;

fn open_prefs<R: Runtime>(app: &AppHandle<R>) -> Result<PrefsStore<R>, CommandError> {
    app.store(prefs_path()).map_err(|e| store_error(&e))
}

/// The stored preferences (defaults when none are stored or they cannot be read).
pub fn prefs<R: Runtime>(app: &AppHandle<R>) -> Prefs {
    match open_prefs(app) {
        Ok(store) => Prefs::from_json(store.get(PREFS_KEY).as_ref()),
        Err(_) => Prefs::default(),
    }
}

fn write_prefs<R: Runtime>(app: &AppHandle<R>, prefs: &Prefs) -> Result<(), CommandError> {
    let store = open_prefs(app)?;
    let value = serde_json::to_value(prefs).map_err(|e| {
        CommandError::new(
            ErrorCode::Store,
            format!("cannot encode the preferences: {e}"),
        )
    })?;
    store.set(PREFS_KEY, value);
    store.save().map_err(|e| store_error(&e))
}

fn keychain_error(e: AuthError) -> CommandError {
    let code = match e {
        AuthError::NoKeychain(_) => ErrorCode::NoKeychain,
        _ => ErrorCode::Keychain,
    };
    CommandError::new(code, e.to_string())
}

/// Whether a Zoho client secret is saved, and whether there is a keychain at all.
async fn secret_status() -> (bool, bool) {
    tauri::async_runtime::spawn_blocking(|| match KeyringStore::open() {
        Ok(k) => (k.load(ZOHO_SECRET_KEY).ok().flatten().is_some(), true),
        Err(_) => (false, false),
    })
    .await
    .unwrap_or((false, false))
}

/// Saves or removes the Zoho client secret in the OS keychain.
async fn change_secret(change: SecretChange) -> Result<(), CommandError> {
    if change == SecretChange::Keep {
        return Ok(());
    }
    tauri::async_runtime::spawn_blocking(move || {
        let keychain = KeyringStore::open().map_err(keychain_error)?;
        match change {
            SecretChange::Set { value } => keychain.save(ZOHO_SECRET_KEY, &value),
            SecretChange::Clear => keychain.delete(ZOHO_SECRET_KEY),
            SecretChange::Keep => Ok(()),
        }
        .map_err(keychain_error)
    })
    .await
    .map_err(|e| CommandError::new(ErrorCode::Keychain, e.to_string()))?
}

fn autostart_state<R: Runtime>(app: &AppHandle<R>) -> Option<bool> {
    let manager = app.try_state::<tauri_plugin_autostart::AutoLaunchManager>()?;
    manager.is_enabled().ok()
}

fn set_autostart<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), CommandError> {
    let Some(manager) = app.try_state::<tauri_plugin_autostart::AutoLaunchManager>() else {
        return Ok(());
    };
    if manager.is_enabled().ok() == Some(on) {
        return Ok(());
    }
    let r = if on {
        manager.enable()
    } else {
        manager.disable()
    };
    r.map_err(|e| {
        CommandError::new(
            ErrorCode::InvalidInput,
            format!("start at login could not be changed: {e}"),
        )
    })
}

fn running_mode(state: &AppState) -> AccountsMode {
    match state.mode {
        Mode::Sandbox { .. } | Mode::SandboxFailed { .. } => AccountsMode::Sandbox,
        #[allow(unreachable_patterns)]
        _ => AccountsMode::Real,
    }
}

async fn view<R: Runtime>(app: &AppHandle<R>, state: &AppState, prefs: Prefs) -> SettingsView {
    let (secret_saved, keychain) = secret_status().await;
    let autostart = autostart_state(app);
    SettingsView {
        mode: prefs.mode,
        running_mode: running_mode(state),
        microsoft_tenant: prefs.microsoft_tenant,
        microsoft_client_id: prefs.microsoft_client_id,
        zoho_client_id: prefs.zoho_client_id,
        zoho_accounts_server: prefs.zoho_accounts_server,
        interval_minutes: prefs.interval_minutes,
        intervals: INTERVALS.to_vec(),
        conflict_policy: prefs.conflict_policy,
        language: prefs.language,
        start_at_login: autostart.unwrap_or(prefs.start_at_login),
        start_at_login_available: autostart.is_some(),
        zoho_client_secret_saved: secret_saved,
        keychain_available: keychain,
        memory_sign_in: prefs.memory_sign_in,
        welcome_dismissed: prefs.welcome_dismissed,
        data_dir: state.data_dir.clone(),
    }
}

/// The settings, for the settings page and the welcome screen.
#[tauri::command]
#[specta::specta]
pub async fn get_settings(
    app: AppHandle,
    state: State<'_, AppState>,
) -> Result<SettingsView, CommandError> {
    open_prefs(&app)?;
    Ok(view(&app, &state, prefs(&app)).await)
}

/// Validates and saves the settings: the preferences in the store, the Zoho client
/// secret in the keychain only, the conflict policy on every module, start at login.
/// With a problem in any field nothing is saved and `errors` says which.
#[tauri::command]
#[specta::specta]
pub async fn save_settings(
    app: AppHandle,
    state: State<'_, AppState>,
    input: SettingsInput,
) -> Result<SettingsSaved, CommandError> {
    let input = input.normalised();
    let old = prefs(&app);
    let errors = input.validate();
    if !errors.is_empty() {
        tracing::info!(fields = ?errors.iter().map(|e| e.field).collect::<Vec<_>>(), "settings refused");
        return Ok(SettingsSaved {
            saved: false,
            errors,
            settings: view(&app, &state, old).await,
        });
    }
    change_secret(input.zoho_client_secret.clone()).await?;
    let new = input.apply_to(&old);
    state.with_store(|store| {
        for module in ModuleKind::ALL {
            store.set_conflict_policy(module, new.conflict_policy.into())?;
        }
        Ok(())
    })?;
    if new.start_at_login != old.start_at_login {
        set_autostart(&app, new.start_at_login)?;
    }
    write_prefs(&app, &new)?;
    tracing::info!(
        mode = ?new.mode,
        interval = new.interval_minutes,
        policy = ?new.conflict_policy,
        language = ?new.language,
        "settings saved"
    );
    if new.interval_minutes != old.interval_minutes {
        // The worker's schedule is set when it starts: restart it with the new interval.
        if let Some(sync) = app.try_state::<crate::sync::SyncService>() {
            sync.restart(&app).await;
        }
    }
    Ok(SettingsSaved {
        saved: true,
        errors: Vec::new(),
        settings: view(&app, &state, new).await,
    })
}

/// Remembers that the user closed the first-run welcome, so it does not come back.
#[tauri::command]
#[specta::specta]
pub fn dismiss_welcome(app: AppHandle) -> Result<(), CommandError> {
    let mut p = prefs(&app);
    if !p.welcome_dismissed {
        p.welcome_dismissed = true;
        write_prefs(&app, &p)?;
    }
    Ok(())
}

/// How long the sync worker waits between rounds (the user's choice, 2 minutes by default).
#[allow(dead_code)] // called by the sync worker once it is wired (see the lead's notes)
pub fn interval<R: Runtime>(app: &AppHandle<R>) -> Duration {
    prefs(app).interval()
}

/// The language the user chose, or `None` to follow the OS.
#[allow(dead_code)] // called by `app_info` once it is wired
pub fn lang<R: Runtime>(app: &AppHandle<R>) -> Option<Lang> {
    prefs(app).lang()
}

/// The language the UI speaks: the user's choice, else the OS's (for `app_info`).
#[allow(dead_code)] // called by `app_info` once it is wired
pub fn ui_lang<R: Runtime>(app: &AppHandle<R>) -> Lang {
    lang(app).unwrap_or_else(crate::locale::os_lang)
}

/// In real mode (with both client ids set), the real services' endpoints and tenant;
/// `None` means the built-in sandbox.
pub fn real_endpoints<R: Runtime>(app: &AppHandle<R>) -> Option<RealAccounts> {
    prefs(app).real_accounts()
}

/// The Zoho client secret from the OS keychain, if the user saved one. Blocks (D-Bus):
/// call it from the blocking pool.
pub fn zoho_client_secret() -> Option<String> {
    KeyringStore::open()
        .ok()?
        .load(ZOHO_SECRET_KEY)
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SettingsInput {
        SettingsInput {
            mode: AccountsMode::Sandbox,
            microsoft_tenant: "common".into(),
            microsoft_client_id: String::new(),
            zoho_client_id: String::new(),
            zoho_accounts_server: DEFAULT_ZOHO_ACCOUNTS.into(),
            interval_minutes: 2,
            conflict_policy: PolicyPref::Newest,
            language: LangPref::Os,
            start_at_login: false,
            memory_sign_in: false,
            zoho_client_secret: SecretChange::Keep,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<(SettingsField, FieldProblem)> {
        errors.iter().map(|e| (e.field, e.problem)).collect()
    }

    #[test]
    fn sandbox_defaults_are_valid() {
        assert!(input().normalised().validate().is_empty());
    }

    #[test]
    fn real_mode_requires_both_client_ids() {
        let mut i = input();
        i.mode = AccountsMode::Real;
        assert_eq!(
            fields(&i.normalised().validate()),
            vec![
                (SettingsField::MicrosoftClientId, FieldProblem::Required),
                (SettingsField::ZohoClientId, FieldProblem::Required),
            ]
        );
        let mut i = input();
        i.mode = AccountsMode::Real;
        i.microsoft_client_id = " 3F2504E0-4F89-11D3-9A0C-0305E82C3301 ".into();
        i.zoho_client_id = "1000.ABCDEFGHIJ1234567890KLMNOPQRST".into();
        let i = i.normalised();
        assert!(i.validate().is_empty(), "{:?}", i.validate());
        assert_eq!(
            i.microsoft_client_id,
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
    }

    #[test]
    fn client_id_shapes() {
        assert!(check_microsoft_client_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301").is_ok());
        assert!(check_microsoft_client_id("3f2504e0-4f89-11d3-9a0c-0305e82c330").is_err());
        assert!(check_microsoft_client_id("not-a-guid").is_err());
        assert!(check_microsoft_client_id("3f2504e04f8911d39a0c0305e82c3301").is_err());
        assert!(check_zoho_client_id("1000.SANDBOXCRMSYNCDESKTOPCLIENT").is_ok());
        assert!(check_zoho_client_id("1000.SHORT").is_err());
        assert!(check_zoho_client_id("2000.ABCDEFGHIJ1234567890").is_err());
        assert!(check_zoho_client_id("1000.ABCDEFGHIJ 1234567890").is_err());
        let mut i = input();
        i.zoho_client_id = "zoho-client".into();
        i.microsoft_client_id = "abc".into();
        assert_eq!(
            fields(&i.normalised().validate()),
            vec![
                (SettingsField::MicrosoftClientId, FieldProblem::Invalid),
                (SettingsField::ZohoClientId, FieldProblem::Invalid),
            ]
        );
    }

    #[test]
    fn tenant_shapes() {
        for ok in [
            "common",
            "organizations",
            "consumers",
            "Common",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "contoso.onmicrosoft.com",
            "sakura-demo.example",
        ] {
            assert!(check_tenant(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "contoso",
            "-contoso.com",
            "contoso..com",
            "con toso.com",
            "https://contoso.com",
            "contoso.c0m",
        ] {
            assert!(check_tenant(bad).is_err(), "{bad}");
        }
        let mut i = input();
        i.microsoft_tenant = "   ".into();
        assert!(i.normalised().validate().is_empty(), "blank means common");
        let mut i = input();
        i.microsoft_tenant = "not a tenant".into();
        assert_eq!(
            fields(&i.normalised().validate()),
            vec![(SettingsField::MicrosoftTenant, FieldProblem::Invalid)]
        );
    }

    #[test]
    fn zoho_accounts_server_shapes() {
        for ok in [
            "https://accounts.zoho.com",
            "https://accounts.zoho.eu/",
            "https://accounts.zoho.com.au",
            "https://accounts.zohocloud.ca",
        ] {
            assert!(check_zoho_accounts(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://accounts.zoho.com",
            "https://accounts.zoho.com/oauth",
            "https://evil.example/accounts.zoho.com",
            "https://accounts.zoho.com.evil-example",
            "https://user@accounts.zoho.com",
            "accounts.zoho.com",
        ] {
            assert!(check_zoho_accounts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn interval_and_secret() {
        let mut i = input();
        i.interval_minutes = 3;
        i.zoho_client_secret = SecretChange::Set {
            value: "has space".into(),
        };
        assert_eq!(
            fields(&i.normalised().validate()),
            vec![
                (SettingsField::IntervalMinutes, FieldProblem::NotAllowed),
                (SettingsField::ZohoClientSecret, FieldProblem::Invalid),
            ]
        );
        let mut i = input();
        i.zoho_client_secret = SecretChange::Set {
            value: "  0123abcdef0123abcdef0123abcdef0123abcdef  ".into(),
        };
        assert!(i.normalised().validate().is_empty());
    }

    #[test]
    fn the_secret_never_reaches_the_stored_preferences() {
        let mut i = input();
        i.zoho_client_secret = SecretChange::Set {
            value: "s3cr3t-v4lue-n0t-in-file".into(),
        };
        let prefs = i.normalised().apply_to(&Prefs::default());
        let json = serde_json::to_string(&prefs).unwrap();
        assert!(!json.contains("s3cr3t"), "{json}");
        assert!(!json.to_lowercase().contains("secret"), "{json}");
    }

    #[test]
    fn stored_preferences_fall_back_field_by_field() {
        assert_eq!(Prefs::from_json(None), Prefs::default());
        let p = Prefs::from_json(Some(&serde_json::json!({
            "mode": "real",
            "interval_minutes": 7,
            "microsoft_tenant": "no tenant",
            "conflict_policy": "crm_wins",
            "language": "ja",
        })));
        assert_eq!(p.mode, AccountsMode::Real);
        assert_eq!(p.interval_minutes, DEFAULT_INTERVAL);
        assert_eq!(p.microsoft_tenant, DEFAULT_TENANT);
        assert_eq!(p.conflict_policy, PolicyPref::CrmWins);
        assert_eq!(p.lang(), Some(Lang::Ja));
        assert_eq!(p.interval(), Duration::from_secs(120));
        let broken = Prefs::from_json(Some(&serde_json::json!({"mode": 42})));
        assert_eq!(broken, Prefs::default());
    }

    #[test]
    fn real_accounts_need_real_mode_and_both_ids() {
        let mut p = Prefs::default();
        assert!(p.real_accounts().is_none());
        p.mode = AccountsMode::Real;
        p.microsoft_client_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301".into();
        assert!(p.real_accounts().is_none(), "no Zoho client id");
        p.zoho_client_id = "1000.ABCDEFGHIJ1234567890".into();
        p.microsoft_tenant = "contoso.onmicrosoft.com".into();
        let real = p.real_accounts().expect("real");
        assert_eq!(real.endpoints.microsoft_login, MICROSOFT_LOGIN);
        assert_eq!(real.endpoints.graph, GRAPH);
        assert_eq!(real.endpoints.zoho_accounts, DEFAULT_ZOHO_ACCOUNTS);
        assert_eq!(real.microsoft_tenant, "contoso.onmicrosoft.com");
        p.interval_minutes = 15;
        assert_eq!(p.interval(), Duration::from_secs(900));
    }

    #[test]
    fn policies_map_to_the_engine() {
        assert_eq!(
            ConflictPolicy::from(PolicyPref::Newest),
            ConflictPolicy::Newest
        );
        assert_eq!(
            ConflictPolicy::from(PolicyPref::CrmWins),
            ConflictPolicy::CrmWins
        );
        assert_eq!(
            ConflictPolicy::from(PolicyPref::GraphWins),
            ConflictPolicy::GraphWins
        );
        assert_eq!(ConflictPolicy::from(PolicyPref::Ask), ConflictPolicy::Ask);
    }
}
