//! A local, faithful emulator of Microsoft Graph v1.0 (users, mail, Outlook
//! calendars/events/contacts, To Do) and of the Microsoft identity platform
//! (authorization-code + PKCE flow, refresh tokens), for the CRM Sync
//! sandbox. Modelled from `shared/reference/graph-api.md` and Microsoft's
//! documented examples.
//!
//! Entry points: [`GraphOptions`] (clap flags), [`GraphState`] (the whole
//! in-memory state), [`router`] (every route at its full path:
//! `/login/{tenant}/oauth2/v2.0/...`, `/graph/v1.0/...`, `/control/graph/...`).

mod control;
pub mod error;
mod events;
mod extensions;
mod http;
mod identity;
mod items;
mod odata;
mod seed;
pub mod store;
pub mod tz;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub use error::{ApiError, SandboxGraphError};
pub use seed::{DEMO_PASSWORD, DEMO_TENANT_DOMAIN, DEMO_TENANT_ID};

/// Flags of the Microsoft 365 emulator (flattened into the sandbox binary).
#[derive(Debug, Clone, clap::Args)]
pub struct GraphOptions {
    /// Lifetime of access tokens in seconds (`expires_in`).
    #[arg(long = "graph-token-lifetime", default_value_t = 3599, value_parser = clap::value_parser!(i64).range(1..=315_360_000))]
    pub token_lifetime_secs: i64,
    /// Concurrent requests allowed per mailbox before 429 (Outlook: 4).
    #[arg(long = "graph-concurrency", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Requests allowed per mailbox per window before 429 (Outlook: 10,000).
    #[arg(long = "graph-rate-limit", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub window_requests: u32,
    /// Length of the rate-limit window in seconds (Outlook: 600).
    #[arg(long = "graph-rate-window", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=315_360_000))]
    pub window_secs: u64,
    /// Artificial latency added to every Graph request, in milliseconds.
    #[arg(long = "graph-latency-ms", default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction (0..1) of Graph requests answered with a 503 fault.
    #[arg(long = "graph-error-rate", default_value_t = 0.0, value_parser = parse_rate)]
    pub error_rate: f64,
}

/// A fraction between 0 and 1.
fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

impl Default for GraphOptions {
    fn default() -> Self {
        Self {
            token_lifetime_secs: 3599,
            concurrency: 4,
            window_requests: 10_000,
            window_secs: 600,
            latency_ms: 0,
            error_rate: 0.0,
        }
    }
}

/// Throttling limits, switchable at run time through the control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    pub concurrency: u32,
    pub window_requests: u32,
    pub window_secs: u64,
    pub token_lifetime_secs: i64,
}

/// Injected faults, switchable at run time through the control API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Faults {
    /// Added to every Graph request.
    #[serde(default)]
    pub latency_ms: u64,
    /// Fraction (0..1) of requests answered with `error_status`.
    #[serde(default)]
    pub error_rate: f64,
    /// Status of injected errors (503 by default).
    #[serde(default)]
    pub error_status: Option<u16>,
    /// Error code of injected errors (by default `ServiceUnavailable` for
    /// 503, `GatewayTimeout` for 504, `UnknownError` otherwise; e.g.
    /// `ErrorTooManyObjectsOpened` with 500).
    #[serde(default)]
    pub error_code: Option<String>,
    /// The next N successful writes are applied but their response is
    /// replaced by a 504 after `timeout_hang_ms` ("timeout after commit").
    #[serde(default)]
    pub timeout_after_commit: u32,
    #[serde(default)]
    pub timeout_hang_ms: u64,
}

/// Per-mailbox request counters (throttling state).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub in_flight: u32,
    pub window: VecDeque<DateTime<Utc>>,
    pub total: u64,
    pub throttled: u64,
}

pub(crate) struct Shared {
    pub data: Mutex<Data>,
    pub clock_offset: Mutex<chrono::Duration>,
    pub limits: Mutex<Limits>,
    pub faults: Mutex<Faults>,
    pub counters: Mutex<HashMap<String, Counters>>,
}

use store::Data;

/// The emulator state: cheap to clone (shared behind an `Arc`), all data
/// behind one lock.
#[derive(Clone)]
pub struct GraphState {
    pub(crate) shared: Arc<Shared>,
}

impl GraphState {
    /// An empty tenant (no users) with the given options. Call
    /// [`GraphState::seed_demo`] for the demo tenant.
    pub fn new(options: &GraphOptions) -> Self {
        let data = Data {
            tenant_id: DEMO_TENANT_ID.to_string(),
            tenant_domain: DEMO_TENANT_DOMAIN.to_string(),
            ..Data::default()
        };
        Self {
            shared: Arc::new(Shared {
                data: Mutex::new(data),
                clock_offset: Mutex::new(chrono::Duration::zero()),
                limits: Mutex::new(Limits {
                    concurrency: options.concurrency,
                    window_requests: options.window_requests,
                    window_secs: options.window_secs,
                    token_lifetime_secs: options.token_lifetime_secs,
                }),
                faults: Mutex::new(Faults {
                    latency_ms: options.latency_ms,
                    error_rate: options.error_rate,
                    ..Faults::default()
                }),
                counters: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The emulator's clock: real time plus an offset tests can advance.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.shared.clock_offset.lock()
    }

    /// Moves the emulator clock forward (token and code expiry, windows).
    pub fn advance_clock(&self, by: chrono::Duration) {
        *self.shared.clock_offset.lock() += by;
    }

    /// Replaces the state with the demo tenant `sakura-demo.example`.
    pub fn seed_demo(&self) {
        let now = self.now();
        let mut data = self.shared.data.lock();
        *data = seed::demo(now);
    }

    /// The whole state as JSON (users, mailboxes, grants).
    pub fn snapshot_json(&self) -> Result<String, SandboxGraphError> {
        Ok(serde_json::to_string(&*self.shared.data.lock())?)
    }

    /// Replaces the whole state from JSON produced by [`Self::snapshot_json`].
    pub fn load_snapshot_json(&self, json: &str) -> Result<(), serde_json::Error> {
        let data: Data = serde_json::from_str(json)?;
        *self.shared.data.lock() = data;
        Ok(())
    }

    pub fn save_snapshot(&self, path: &Path) -> Result<(), SandboxGraphError> {
        let json = self.snapshot_json()?;
        std::fs::write(path, json).map_err(|source| SandboxGraphError::SnapshotIo {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn load_snapshot(&self, path: &Path) -> Result<(), SandboxGraphError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SandboxGraphError::SnapshotIo {
                path: path.display().to_string(),
                source,
            })?;
        self.load_snapshot_json(&text)
            .map_err(|source| SandboxGraphError::SnapshotFormat {
                path: path.display().to_string(),
                source,
            })
    }

    /// Mints an access token (and refresh token) for a user (id, UPN or
    /// mail) and scopes, without the browser flow. The refresh token is
    /// accepted from any client id.
    pub fn mint_token(
        &self,
        user: &str,
        scopes: &[String],
    ) -> Result<identity::TokenSet, ApiError> {
        identity::mint_for(self, user, scopes, "")
    }

    /// Like [`Self::mint_token`], with the refresh token bound to `client_id`
    /// (a refresh from another client then fails with AADSTS700005).
    pub fn mint_token_for_client(
        &self,
        user: &str,
        scopes: &[String],
        client_id: &str,
    ) -> Result<identity::TokenSet, ApiError> {
        identity::mint_for(self, user, scopes, client_id)
    }

    pub fn limits(&self) -> Limits {
        self.shared.limits.lock().clone()
    }

    pub fn set_limits(&self, limits: Limits) {
        *self.shared.limits.lock() = limits;
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults.lock().clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock() = faults;
    }
}

pub use identity::TokenSet;

/// All routes of the Microsoft 365 emulator at their full paths.
pub fn router(state: GraphState) -> Router {
    Router::new()
        .merge(identity::routes())
        .merge(http::routes())
        .merge(control::routes())
        .with_state(state)
}
