//! The emulator's whole state: orgs (one per data centre and company), their users, profiles,
//! field metadata and records, plus the OAuth clients and tokens of Zoho accounts.
//! Everything here is serialisable so a snapshot is a plain JSON dump of [`State`].

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The data centres the emulator serves, with the real hosts they stand for.
pub const DATA_CENTRES: &[(&str, &str)] = &[
    ("us", "https://accounts.zoho.com"),
    ("eu", "https://accounts.zoho.eu"),
    ("in", "https://accounts.zoho.in"),
    ("au", "https://accounts.zoho.com.au"),
    ("jp", "https://accounts.zoho.jp"),
    ("ca", "https://accounts.zohocloud.ca"),
];

/// True when `dc` is one of [`DATA_CENTRES`].
pub fn is_dc(dc: &str) -> bool {
    DATA_CENTRES.iter().any(|(d, _)| *d == dc)
}

/// The three CRM modules the emulator serves.
pub const MODULES: &[&str] = &["Contacts", "Events", "Tasks"];

/// Canonical module API name for a path segment (Zoho matches module names case-insensitively).
pub fn module_name(segment: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .copied()
        .find(|m| m.eq_ignore_ascii_case(segment))
        .or_else(|| segment.eq_ignore_ascii_case("meetings").then_some("Events"))
}

/// CRM edition; drives API credits and concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    Free,
    Standard,
    Professional,
    Enterprise,
    Ultimate,
}

impl Edition {
    /// Credits per rolling 24 hours for `users` licences (reference §6); `None` = unlimited cap.
    pub fn daily_credits(self, users: u64) -> u64 {
        match self {
            Edition::Free => 5_000,
            Edition::Standard => (50_000 + 250 * users).min(100_000),
            Edition::Professional => (50_000 + 500 * users).min(3_000_000),
            Edition::Enterprise => (50_000 + 1_000 * users).min(5_000_000),
            Edition::Ultimate => 50_000 + 2_000 * users,
        }
    }

    /// Concurrent API calls per org and app (reference §6).
    pub fn concurrency(self) -> u32 {
        match self {
            Edition::Free => 5,
            Edition::Standard => 10,
            Edition::Professional => 15,
            Edition::Enterprise => 20,
            Edition::Ultimate => 25,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub manage_users: bool,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub zuid: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: String,
    pub password: String,
    pub profile_id: String,
    pub role_id: String,
    /// active | inactive | deleted ...
    pub status: String,
    /// Invitation accepted.
    pub confirm: bool,
    pub time_zone: String,
    pub locale: String,
    pub created_time: DateTime<Utc>,
    pub modified_time: DateTime<Utc>,
    pub invited_by: Option<String>,
}

impl User {
    pub fn full_name(&self) -> String {
        match &self.first_name {
            Some(f) if !f.is_empty() => {
                if is_cjk(&self.last_name) {
                    format!("{} {}", self.last_name, f)
                } else {
                    format!("{} {}", f, self.last_name)
                }
            }
            _ => self.last_name.clone(),
        }
    }
}

/// Japanese names are shown family name first, as Zoho does for a Japanese locale.
pub fn is_cjk(s: &str) -> bool {
    s.chars()
        .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c) || ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub name: String,
}

/// A mail the emulator "sent" (visible through the control API).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentMail {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub sent_time: DateTime<Utc>,
    pub org_id: String,
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldDef {
    pub id: String,
    pub api_name: String,
    pub field_label: String,
    pub data_type: String,
    pub length: u32,
    pub read_only: bool,
    pub system_mandatory: bool,
    pub custom_field: bool,
    #[serde(default)]
    pub pick_list_values: Vec<String>,
    /// For lookups: the target module.
    #[serde(default)]
    pub lookup_module: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldChange {
    pub api_name: String,
    pub old: Value,
    pub new: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub id: String,
    pub audited_time: DateTime<Utc>,
    pub action: String,
    pub source: String,
    pub done_by: String,
    pub field_history: Vec<FieldChange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Field values in canonical storage form (datetimes in UTC RFC 3339, lookups `{id}`).
    pub values: Map<String, Value>,
    pub owner: String,
    pub created_by: String,
    pub modified_by: String,
    pub created_time: DateTime<Utc>,
    pub modified_time: DateTime<Utc>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedRecord {
    pub id: String,
    pub display_name: String,
    /// "recycle" or "permanent".
    pub kind: String,
    pub deleted_time: DateTime<Utc>,
    pub deleted_by: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MassJob {
    pub job_id: String,
    pub module: String,
    pub updated: u64,
    pub failed: u64,
    pub not_updated: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Org {
    pub id: String,
    pub dc: String,
    pub name: String,
    pub edition: Edition,
    pub time_zone: String,
    pub license_limit: u32,
    pub users: Vec<User>,
    pub profiles: Vec<Profile>,
    pub roles: Vec<Role>,
    pub accounts: Vec<Account>,
    pub fields: BTreeMap<String, Vec<FieldDef>>,
    pub records: BTreeMap<String, BTreeMap<String, Record>>,
    pub deleted: BTreeMap<String, Vec<DeletedRecord>>,
    pub mass_jobs: Vec<MassJob>,
    /// (unix seconds, credits) per charged call, for the rolling 24 h window.
    pub credit_log: VecDeque<(i64, u64)>,
    pub credits_used_total: u64,
    pub requests_total: u64,
    pub credit_limit_override: Option<u64>,
    pub concurrency_override: Option<u32>,
    pub next_id: u64,
}

impl Org {
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }
    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }
    pub fn profile(&self, id: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.id == id)
    }
    pub fn role(&self, id: &str) -> Option<&Role> {
        self.roles.iter().find(|p| p.id == id)
    }
    pub fn field(&self, module: &str, api_name: &str) -> Option<&FieldDef> {
        self.fields
            .get(module)?
            .iter()
            .find(|f| f.api_name == api_name)
    }
    /// A fresh 19-digit id in Zoho's style (org prefix + counter).
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }
    pub fn credit_limit(&self) -> u64 {
        self.credit_limit_override.unwrap_or_else(|| {
            self.edition
                .daily_credits(self.users.len().max(self.license_limit as usize) as u64)
        })
    }
    pub fn concurrency_limit(&self) -> u32 {
        self.concurrency_override
            .unwrap_or_else(|| self.edition.concurrency())
    }
    /// Credits used in the 24 hours before `now` (drops older entries).
    pub fn credits_used(&mut self, now: DateTime<Utc>) -> u64 {
        let cutoff = now.timestamp() - 86_400;
        while self.credit_log.front().is_some_and(|(t, _)| *t <= cutoff) {
            self.credit_log.pop_front();
        }
        self.credit_log.iter().map(|(_, c)| c).sum()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uris: Vec<String>,
    /// Loopback redirect URIs (http://127.0.0.1 or localhost) match on any port, as for
    /// native apps (RFC 8252 §7.3).
    pub allow_any_loopback_port: bool,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthCode {
    pub code: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub dc: String,
    pub org_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub access_type: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: String,
    pub expires: DateTime<Utc>,
    /// A refresh token comes with the first grant of a user to a client, or when the
    /// authorization asked for `prompt=consent` (reference §1).
    #[serde(default)]
    pub issue_refresh: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshToken {
    pub token: String,
    pub client_id: String,
    pub dc: String,
    pub org_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub created: DateTime<Utc>,
    /// Times access tokens were minted from it (for the 10 per 10 minutes limit).
    pub mint_times: Vec<DateTime<Utc>>,
    /// Throttled until (after exceeding the limit, for the rest of the window).
    pub throttled_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessToken {
    pub token: String,
    pub refresh_token: Option<String>,
    pub client_id: String,
    pub dc: String,
    pub org_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

/// A sign-in that passed the password step and waits for consent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingConsent {
    pub id: String,
    pub params: BTreeMap<String, String>,
    pub org_id: String,
    pub user_id: String,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageToken {
    pub user_id: String,
    pub org_id: String,
    pub module: String,
    /// Fingerprint of the parameters the token is bound to.
    pub bound: String,
    /// Number of records already returned.
    pub offset: usize,
    pub per_page: usize,
    pub page: usize,
    pub expires: DateTime<Utc>,
}

/// Fault injection settings (all off by default).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Faults {
    /// Added latency per API call in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Probability (0..1) that an API call fails with `error_status` before doing anything.
    #[serde(default)]
    pub error_rate: f64,
    /// Status of injected errors: 500 (INTERNAL_ERROR), 429 (TOO_MANY_REQUESTS) or 503.
    #[serde(default)]
    pub error_status: Option<u16>,
    /// The next N API calls fail with `error_status` (deterministic, for tests).
    #[serde(default)]
    pub fail_next: u64,
    /// Probability that a write commits but the response never arrives in time.
    #[serde(default)]
    pub timeout_after_commit_rate: f64,
    /// The next N writes commit then time out (deterministic).
    #[serde(default)]
    pub timeout_next_writes: u64,
    /// How long a "timed out" response hangs before the emulator answers 504 (ms).
    #[serde(default)]
    pub hang_ms: Option<u64>,
    /// Search indexing delay (ms): records created or changed more recently are not found by
    /// `/search` yet, as the reference warns (use COQL or GET for read-after-write).
    #[serde(default)]
    pub search_index_delay_ms: u64,
}

/// Request counters per endpoint family.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    pub api_requests: u64,
    pub token_requests: u64,
    pub by_endpoint: BTreeMap<String, u64>,
    pub throttled: u64,
    pub injected_faults: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub orgs: BTreeMap<String, Org>,
    pub clients: BTreeMap<String, OAuthClient>,
    pub codes: HashMap<String, AuthCode>,
    pub refresh_tokens: BTreeMap<String, RefreshToken>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub consents: HashMap<String, PendingConsent>,
    pub page_tokens: HashMap<String, PageToken>,
    pub mails: Vec<SentMail>,
    pub faults: Faults,
    pub counters: Counters,
    pub clock_offset_ms: i64,
    pub next_org: u64,
    /// `{user_id}|{client_id}` pairs that hold a grant (a refresh token was issued).
    #[serde(default)]
    pub grants: std::collections::BTreeSet<String>,
}

impl State {
    pub fn find_login(&self, email: &str) -> Option<(&Org, &User)> {
        self.orgs.values().find_map(|o| {
            o.user_by_email(email)
                .filter(|u| u.status == "active")
                .map(|u| (o, u))
        })
    }
}
