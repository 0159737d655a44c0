//! A local emulator of Zoho accounts OAuth (per data centre) and the Zoho CRM v8 REST API for
//! Contacts, Events and Tasks, modelled from `shared/reference/zoho-crm-api.md`.
//!
//! Paths (one listener, prefixes as the shared sandbox conventions say):
//! - `/zoho/{dc}/accounts/oauth/v2/auth|token|token/revoke` — Zoho accounts
//! - `/zoho/{dc}/api/crm/v8/...` — the CRM API (`api_domain` = `http://HOST/zoho/{dc}/api`)
//! - `/control/zoho/...` — test/demo control API (see README.md)

#![forbid(unsafe_code)]

mod api;
mod control;
pub mod fields;
pub mod model;
mod oauth;
mod query;
pub mod records;
mod seed;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;

pub use model::{Edition, Faults, State};
pub use records::Origin;
pub use seed::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PASSWORD, DEMO_SERVER_CLIENT_ID};

/// Errors of the library API (snapshots, seeding helpers).
#[derive(Debug, thiserror::Error)]
pub enum ZohoError {
    #[error("cannot read or write snapshot {path}: {source}")]
    SnapshotIo {
        path: String,
        source: std::io::Error,
    },
    #[error("snapshot {path} is not a valid Zoho emulator state: {source}")]
    SnapshotFormat {
        path: String,
        source: serde_json::Error,
    },
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// Command-line options of the Zoho emulator (flattened into `crmsync-sandbox`).
#[derive(Debug, Clone, clap::Args)]
pub struct ZohoOptions {
    /// Latency added to every Zoho CRM API call, in milliseconds.
    #[arg(long = "zoho-latency-ms", id = "zoho_latency_ms", default_value_t = 0)]
    pub latency_ms: u64,
    /// Probability (0..1) that a Zoho CRM API call fails with 500 INTERNAL_ERROR.
    #[arg(
        long = "zoho-error-rate",
        id = "zoho_error_rate",
        default_value_t = 0.0
    )]
    pub error_rate: f64,
    /// Probability (0..1) that a Zoho write commits but its response times out (504).
    #[arg(
        long = "zoho-timeout-after-commit-rate",
        id = "zoho_timeout_after_commit_rate",
        default_value_t = 0.0
    )]
    pub timeout_after_commit_rate: f64,
    /// Edition of the seeded demo orgs (credits and concurrency follow it).
    #[arg(long = "zoho-edition", id = "zoho_edition", value_enum, default_value_t = Edition::Enterprise)]
    pub edition: Edition,
    /// Override the daily API credits of every org.
    #[arg(long = "zoho-credits", id = "zoho_credits")]
    pub credits: Option<u64>,
    /// Override the concurrency limit of every org.
    #[arg(long = "zoho-concurrency", id = "zoho_concurrency")]
    pub concurrency: Option<u32>,
    /// Generate this many extra records per module for the demo admin (Aiko Tanaka).
    #[arg(long = "zoho-generate", id = "zoho_generate", default_value_t = 0)]
    pub generate: usize,
    /// Register an extra OAuth client id (desktop client: PKCE, no secret needed).
    #[arg(long = "zoho-client-id", id = "zoho_client_id")]
    pub client_id: Option<String>,
    /// Redirect URI registered for `--zoho-client-id` (loopback URIs match any port).
    #[arg(long = "zoho-redirect-uri", id = "zoho_redirect_uri")]
    pub redirect_uri: Option<String>,
}

impl Default for ZohoOptions {
    fn default() -> Self {
        ZohoOptions {
            latency_ms: 0,
            error_rate: 0.0,
            timeout_after_commit_rate: 0.0,
            edition: Edition::Enterprise,
            credits: None,
            concurrency: None,
            generate: 0,
            client_id: None,
            redirect_uri: None,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) options: ZohoOptions,
    /// In-flight API calls per org (not part of snapshots).
    pub(crate) inflight: Mutex<HashMap<String, u32>>,
}

/// The emulator: shared state behind a lock. Cheap to clone.
#[derive(Clone)]
pub struct ZohoSandbox {
    pub(crate) inner: Arc<Inner>,
}

impl ZohoSandbox {
    /// An empty emulator (no orgs; the demo OAuth client is registered) with `options`
    /// applied to the faults.
    pub fn new(options: ZohoOptions) -> Self {
        let mut state = State::default();
        state.faults.latency_ms = options.latency_ms;
        state.faults.error_rate = options.error_rate;
        state.faults.timeout_after_commit_rate = options.timeout_after_commit_rate;
        seed::register_clients(&mut state, &options);
        ZohoSandbox {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                options,
                inflight: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Seed the demo orgs (Sakura Trading in `us`, a small org in `jp`) and, if the options ask
    /// for it, generated records.
    pub fn seed_demo(&self) {
        let now = self.now();
        let mut st = self.inner.state.lock();
        seed::seed_demo(&mut st, &self.inner.options, now);
        if self.inner.options.generate > 0 {
            let n = self.inner.options.generate;
            for module in model::MODULES {
                // The demo admin exists: seeding just created her.
                let _ = seed::generate(&mut st, "aiko.tanaka@sakura-demo.example", module, n, now);
            }
        }
    }

    /// The emulator's current time (wall clock plus the test offset).
    pub fn now(&self) -> DateTime<Utc> {
        let off = self.inner.state.lock().clock_offset_ms;
        Utc::now() + Duration::milliseconds(off)
    }

    /// Move the emulator's clock forward (tests of token expiry and page-token expiry).
    pub fn advance_clock(&self, by: Duration) {
        self.inner.state.lock().clock_offset_ms += by.num_milliseconds();
    }

    /// Replace the fault settings.
    pub fn set_faults(&self, faults: Faults) {
        self.inner.state.lock().faults = faults;
    }

    /// Run `f` with the locked state (for tests and embedding code).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.inner.state.lock())
    }

    /// Mint tokens for a seeded user without the browser flow (as the control API does).
    pub fn mint_token(
        &self,
        email: &str,
        scopes: &[&str],
    ) -> Result<oauth::MintedToken, ZohoError> {
        let now = self.now();
        let mut st = self.inner.state.lock();
        oauth::mint_for_email(
            &mut st,
            email,
            &scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            DEMO_CLIENT_ID,
            now,
        )
        .ok_or_else(|| ZohoError::UnknownUser(email.to_string()))
    }

    /// The whole state as JSON.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(&*self.inner.state.lock()).unwrap_or(serde_json::Value::Null)
    }

    /// Save the whole state to `path` (JSON).
    pub fn save_snapshot(&self, path: &Path) -> Result<(), ZohoError> {
        let text = serde_json::to_string(&*self.inner.state.lock()).map_err(|e| {
            ZohoError::SnapshotFormat {
                path: path.display().to_string(),
                source: e,
            }
        })?;
        std::fs::write(path, text).map_err(|e| ZohoError::SnapshotIo {
            path: path.display().to_string(),
            source: e,
        })
    }

    /// Replace the whole state with the snapshot at `path`.
    pub fn load_snapshot(&self, path: &Path) -> Result<(), ZohoError> {
        let text = std::fs::read_to_string(path).map_err(|e| ZohoError::SnapshotIo {
            path: path.display().to_string(),
            source: e,
        })?;
        self.load_snapshot_str(&text).map_err(|e| match e {
            ZohoError::SnapshotFormat { source, .. } => ZohoError::SnapshotFormat {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Replace the whole state with a JSON snapshot given as text.
    pub fn load_snapshot_str(&self, text: &str) -> Result<(), ZohoError> {
        let state: State = serde_json::from_str(text).map_err(|e| ZohoError::SnapshotFormat {
            path: "<string>".into(),
            source: e,
        })?;
        *self.inner.state.lock() = state;
        Ok(())
    }
}

/// All routes of the Zoho emulator (accounts, CRM API, control API) at their full paths.
pub fn router(sandbox: ZohoSandbox) -> Router {
    Router::new()
        .merge(oauth::routes())
        .merge(api::routes())
        .merge(control::routes())
        .with_state(sandbox)
}

pub use oauth::MintedToken;
