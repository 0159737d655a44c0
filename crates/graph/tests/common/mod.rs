//! Test helpers: an in-process sandbox on 127.0.0.1:0, a token provider that
//! mints tokens through the sandbox control API over HTTP, control calls.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crmsync_graph::{GraphClient, GraphConfig, TokenProvider, TokenProviderError};
use serde_json::{json, Value};

pub const AIKO: &str = "aiko.tanaka@sakura-demo.example";
pub const SCOPES: &str =
    "offline_access openid profile User.Read User.ReadBasic.All Calendars.ReadWrite Contacts.ReadWrite Tasks.ReadWrite Mail.Send";

pub struct Sandbox {
    pub running: crmsync_sandbox::RunningSandbox,
    pub http: reqwest::Client,
}

impl Sandbox {
    pub async fn start() -> Sandbox {
        let running = crmsync_sandbox::start(crmsync_sandbox::Options::default())
            .await
            .expect("sandbox starts");
        Sandbox {
            running,
            http: reqwest::Client::new(),
        }
    }

    pub fn graph_url(&self) -> String {
        self.running.urls.graph.clone()
    }

    pub async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{}", self.running.urls.graph_control, path);
        let rb = match method {
            "GET" => self.http.get(&url),
            "PUT" => self.http.put(&url).json(&body),
            _ => self.http.post(&url).json(&body),
        };
        let r = rb.send().await.expect("control call");
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "control {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn set_limits(&self, concurrency: u32, window_requests: u32, window_secs: u64) {
        self.control(
            "PUT",
            "/limits",
            json!({"concurrency": concurrency, "window_requests": window_requests,
                   "window_secs": window_secs, "token_lifetime_secs": 3599}),
        )
        .await;
    }

    pub async fn set_faults(&self, faults: Value) {
        self.control("PUT", "/faults", faults).await;
    }

    /// `{total, inWindow, inFlight, throttled}` of a user.
    pub async fn counters(&self, user: &str) -> Value {
        self.control("GET", &format!("/mailboxes/{user}/counters"), Value::Null)
            .await
    }

    pub fn tokens(&self, user: &str) -> Arc<ControlTokens> {
        Arc::new(ControlTokens {
            http: self.http.clone(),
            control: self.running.urls.graph_control.clone(),
            user: user.to_string(),
            cached: parking_lot::Mutex::new(None),
            minted: AtomicUsize::new(0),
        })
    }

    pub fn client(&self, user: &str) -> (GraphClient, Arc<ControlTokens>) {
        self.client_with(user, |_| {})
    }

    pub fn client_with(
        &self,
        user: &str,
        tweak: impl FnOnce(&mut GraphConfig),
    ) -> (GraphClient, Arc<ControlTokens>) {
        let mut cfg = GraphConfig::new(self.graph_url());
        cfg.request_timeout = Duration::from_secs(20);
        tweak(&mut cfg);
        let tokens = self.tokens(user);
        (
            GraphClient::new(cfg, tokens.clone()).expect("client"),
            tokens,
        )
    }
}

/// Mints access tokens through `POST /control/graph/tokens` (real HTTP), caches
/// one, drops it when the service refuses it.
pub struct ControlTokens {
    http: reqwest::Client,
    control: String,
    user: String,
    cached: parking_lot::Mutex<Option<String>>,
    pub minted: AtomicUsize,
}

impl ControlTokens {
    pub fn current(&self) -> Option<String> {
        self.cached.lock().clone()
    }
}

#[async_trait::async_trait]
impl TokenProvider for ControlTokens {
    async fn access_token(&self) -> Result<String, TokenProviderError> {
        if let Some(t) = self.cached.lock().clone() {
            return Ok(t);
        }
        let v: Value = self
            .http
            .post(format!("{}/tokens", self.control))
            .json(&json!({"user": self.user, "scopes": SCOPES}))
            .send()
            .await
            .map_err(|e| TokenProviderError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| TokenProviderError::Unavailable(e.to_string()))?;
        let t = v["access_token"]
            .as_str()
            .ok_or_else(|| TokenProviderError::Unavailable("no access_token".into()))?
            .to_string();
        self.minted.fetch_add(1, Ordering::SeqCst);
        *self.cached.lock() = Some(t.clone());
        Ok(t)
    }

    async fn token_rejected(&self, token: &str) {
        let mut c = self.cached.lock();
        if c.as_deref() == Some(token) {
            *c = None;
        }
    }
}

/// A provider with the real refresh path: it starts from a token set minted by
/// the control API and, once its access token is refused, redeems its refresh
/// token at the identity platform's token endpoint (`grant_type=refresh_token`,
/// over HTTP), storing the rotated refresh token before handing out the new
/// access token. An `invalid_grant` / `interaction_required` answer makes it
/// dead: every later call answers `ReconnectNeeded` without a request, as the
/// auth crate's session does.
pub struct RefreshTokens {
    http: reqwest::Client,
    token_url: String,
    refresh: parking_lot::Mutex<String>,
    cached: parking_lot::Mutex<Option<String>>,
    dead: parking_lot::Mutex<Option<String>>,
    /// Calls of `access_token` (the client asks once per HTTP attempt).
    pub asked: AtomicUsize,
    /// Requests to the token endpoint.
    pub refreshes: AtomicUsize,
    /// Tokens passed to `token_rejected`, in order.
    pub rejected: parking_lot::Mutex<Vec<String>>,
}

impl RefreshTokens {
    pub fn current(&self) -> Option<String> {
        self.cached.lock().clone()
    }
    pub fn refresh_token(&self) -> String {
        self.refresh.lock().clone()
    }
    pub fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
    pub fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }
    pub fn rejected(&self) -> Vec<String> {
        self.rejected.lock().clone()
    }
}

#[async_trait::async_trait]
impl TokenProvider for RefreshTokens {
    async fn access_token(&self) -> Result<String, TokenProviderError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if let Some(why) = self.dead.lock().clone() {
            return Err(TokenProviderError::ReconnectNeeded(why));
        }
        if let Some(t) = self.cached.lock().clone() {
            return Ok(t);
        }
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let refresh = self.refresh_token();
        let r = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "crmsync-graph-tests"),
                ("refresh_token", refresh.as_str()),
                ("scope", SCOPES),
            ])
            .send()
            .await
            .map_err(|e| TokenProviderError::Unavailable(e.to_string()))?;
        let v: Value = r
            .json()
            .await
            .map_err(|e| TokenProviderError::Unavailable(e.to_string()))?;
        if let Some(access) = v["access_token"].as_str() {
            if let Some(rotated) = v["refresh_token"].as_str() {
                *self.refresh.lock() = rotated.to_string();
            }
            *self.cached.lock() = Some(access.to_string());
            return Ok(access.to_string());
        }
        let error = v["error"].as_str().unwrap_or("");
        let why = format!("{error} {}", v["error_codes"]);
        if error == "invalid_grant" || error == "interaction_required" {
            *self.dead.lock() = Some(why.clone());
            return Err(TokenProviderError::ReconnectNeeded(why));
        }
        Err(TokenProviderError::Unavailable(why))
    }

    async fn token_rejected(&self, token: &str) {
        self.rejected.lock().push(token.to_string());
        let mut c = self.cached.lock();
        if c.as_deref() == Some(token) {
            *c = None;
        }
    }
}

impl Sandbox {
    /// A client whose provider holds a real refresh token (see [`RefreshTokens`]).
    pub async fn refreshing_client(
        &self,
        user: &str,
        tweak: impl FnOnce(&mut GraphConfig),
    ) -> (GraphClient, Arc<RefreshTokens>) {
        let set = self
            .control("POST", "/tokens", json!({"user": user, "scopes": SCOPES}))
            .await;
        let refresh = set["refresh_token"]
            .as_str()
            .expect("offline_access gives a refresh token")
            .to_string();
        let tokens = Arc::new(RefreshTokens {
            http: self.http.clone(),
            token_url: format!("{}/common/oauth2/v2.0/token", self.running.urls.login),
            refresh: parking_lot::Mutex::new(refresh),
            cached: parking_lot::Mutex::new(set["access_token"].as_str().map(str::to_string)),
            dead: parking_lot::Mutex::new(None),
            asked: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            rejected: parking_lot::Mutex::new(Vec::new()),
        });
        let mut cfg = GraphConfig::new(self.graph_url());
        cfg.request_timeout = Duration::from_secs(20);
        tweak(&mut cfg);
        (
            GraphClient::new(cfg, tokens.clone()).expect("client"),
            tokens,
        )
    }
}
