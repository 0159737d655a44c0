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
