//! Token providers for the Graph and Zoho clients.

use std::sync::Arc;

use crmsync_auth::{AuthError, Session};
use serde_json::{json, Value};

/// An auth [`Session`] as the token provider of both clients: the cached access token,
/// refreshed when near expiry; a 401 invalidates it; a dead refresh token is
/// `ReconnectNeeded` (the engine then marks the module as needing sign-in).
#[derive(Clone)]
pub struct SessionTokens(pub Arc<Session>);

impl SessionTokens {
    async fn token(&self) -> Result<String, (bool, String)> {
        match self.0.access_token().await {
            Ok(s) => Ok(s.expose().to_string()),
            Err(AuthError::ReconnectNeeded(r)) => Err((true, r.to_string())),
            Err(e) => Err((false, e.to_string())),
        }
    }
}

#[async_trait::async_trait]
impl crmsync_graph::TokenProvider for SessionTokens {
    async fn access_token(&self) -> Result<String, crmsync_graph::TokenProviderError> {
        self.token().await.map_err(|(dead, r)| {
            if dead {
                crmsync_graph::TokenProviderError::ReconnectNeeded(r)
            } else {
                crmsync_graph::TokenProviderError::Unavailable(r)
            }
        })
    }
    async fn token_rejected(&self, token: &str) {
        self.0.invalidate(token).await;
    }
}

#[async_trait::async_trait]
impl crmsync_zoho::TokenProvider for SessionTokens {
    async fn access_token(&self) -> Result<String, crmsync_zoho::TokenProviderError> {
        self.token().await.map_err(|(dead, r)| {
            if dead {
                crmsync_zoho::TokenProviderError::ReconnectNeeded(r)
            } else {
                crmsync_zoho::TokenProviderError::Unavailable(r)
            }
        })
    }
    async fn token_rejected(&self, token: &str) {
        self.0.invalidate(token).await;
    }
}

/// Tokens minted through the sandbox's control API (the headless demo: no browser). A 401
/// drops the cached token and the next call mints a fresh one.
pub struct ControlTokens {
    http: reqwest::Client,
    /// `POST {url}` mints a token.
    url: String,
    body: Value,
    cached: parking_lot::Mutex<Option<String>>,
}

impl ControlTokens {
    /// Graph tokens for `user` from `{graph_control}/tokens`.
    #[must_use]
    pub fn graph(graph_control: &str, user: &str) -> Self {
        Self::new(
            format!("{graph_control}/tokens"),
            json!({"user": user, "scopes": "Contacts.ReadWrite Calendars.ReadWrite Tasks.ReadWrite User.Read offline_access"}),
        )
    }

    /// Zoho tokens for `email` from `{zoho_control}/tokens`.
    #[must_use]
    pub fn zoho(zoho_control: &str, email: &str) -> Self {
        Self::new(format!("{zoho_control}/tokens"), json!({"email": email}))
    }

    fn new(url: String, body: Value) -> Self {
        Self {
            http: reqwest::Client::new(),
            url,
            body,
            cached: parking_lot::Mutex::new(None),
        }
    }

    /// Mints a token now; the whole answer (Zoho's carries `api_domain` and `user_id`).
    ///
    /// # Errors
    /// The control API is unreachable or refused the request.
    pub async fn mint(&self) -> Result<Value, String> {
        let r = self
            .http
            .post(&self.url)
            .json(&self.body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("control API {status}: {v}"));
        }
        let t = v["access_token"]
            .as_str()
            .ok_or_else(|| "no access_token in the control API answer".to_string())?;
        *self.cached.lock() = Some(t.to_string());
        Ok(v)
    }

    async fn token(&self) -> Result<String, String> {
        if let Some(t) = self.cached.lock().clone() {
            return Ok(t);
        }
        let v = self.mint().await?;
        Ok(v["access_token"].as_str().unwrap_or_default().to_string())
    }

    fn reject(&self, token: &str) {
        let mut c = self.cached.lock();
        if c.as_deref() == Some(token) {
            *c = None;
        }
    }
}

#[async_trait::async_trait]
impl crmsync_graph::TokenProvider for ControlTokens {
    async fn access_token(&self) -> Result<String, crmsync_graph::TokenProviderError> {
        self.token()
            .await
            .map_err(crmsync_graph::TokenProviderError::Unavailable)
    }
    async fn token_rejected(&self, token: &str) {
        self.reject(token);
    }
}

#[async_trait::async_trait]
impl crmsync_zoho::TokenProvider for ControlTokens {
    async fn access_token(&self) -> Result<String, crmsync_zoho::TokenProviderError> {
        self.token()
            .await
            .map_err(crmsync_zoho::TokenProviderError::Unavailable)
    }
    async fn token_rejected(&self, token: &str) {
        self.reject(token);
    }
}
