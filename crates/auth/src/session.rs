//! One signed-in account: access-token cache, refresh with rotation, the
//! "reconnect needed" state, persistence in a [`TokenStore`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use parking_lot::Mutex;

use crate::error::AuthError;
use crate::store::TokenStore;
use crate::tokens::{token_request, Provider, Secret, TokenSet};

/// Whether the account can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    Connected,
    /// The refresh token is dead; the UI asks the user to sign in again.
    ReconnectNeeded(String),
}

/// A signed-in account. Share it (`Arc<Session>`) between the clients of that
/// account; refreshes are single-flight.
pub struct Session {
    key: String,
    store: Arc<dyn TokenStore>,
    http: reqwest::Client,
    tokens: tokio::sync::Mutex<TokenSet>,
    state: Mutex<SessionState>,
    /// Refresh this long before the access token expires.
    refresh_margin: Duration,
    /// Token requests sent in the last 10 minutes (Zoho allows 10 per refresh token).
    refresh_log: Mutex<VecDeque<Instant>>,
    max_refreshes_per_10_min: usize,
    refreshes_sent: Mutex<usize>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("key", &self.key)
            .field("state", &*self.state.lock())
            .finish_non_exhaustive()
    }
}

const TEN_MINUTES: Duration = Duration::from_secs(600);

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::Keychain(format!("keychain task failed: {e}")))?
}

impl Session {
    /// The store key of a token set: `{provider}:{account or client id}`.
    pub fn key_for(ts: &TokenSet) -> String {
        let p = match ts.provider {
            Provider::Microsoft => "microsoft",
            Provider::Zoho => "zoho",
        };
        format!("{p}:{}", ts.account.as_deref().unwrap_or(&ts.client_id))
    }

    fn build(key: String, store: Arc<dyn TokenStore>, http: reqwest::Client, ts: TokenSet) -> Self {
        let state = if ts.refresh_token.is_none() && ts.expires_at <= Utc::now() {
            SessionState::ReconnectNeeded("no refresh token".into())
        } else {
            SessionState::Connected
        };
        Session {
            key,
            store,
            http,
            tokens: tokio::sync::Mutex::new(ts),
            state: Mutex::new(state),
            refresh_margin: Duration::from_secs(300),
            refresh_log: Mutex::new(VecDeque::new()),
            max_refreshes_per_10_min: 10,
            refreshes_sent: Mutex::new(0),
        }
    }

    /// Saves a fresh sign-in in `store` and returns its session.
    pub async fn create(
        store: Arc<dyn TokenStore>,
        http: reqwest::Client,
        ts: TokenSet,
    ) -> Result<Self, AuthError> {
        let key = Self::key_for(&ts);
        let json = serde_json::to_string(&ts).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let (s, k) = (store.clone(), key.clone());
        blocking(move || s.save(&k, &json)).await?;
        Ok(Self::build(key, store, http, ts))
    }

    /// The session stored under `key`, if any.
    pub async fn load(
        store: Arc<dyn TokenStore>,
        http: reqwest::Client,
        key: &str,
    ) -> Result<Option<Self>, AuthError> {
        let (s, k) = (store.clone(), key.to_string());
        let Some(json) = blocking(move || s.load(&k)).await? else {
            return Ok(None);
        };
        let ts: TokenSet = serde_json::from_str(&json)
            .map_err(|e| AuthError::Keychain(format!("stored token set unreadable: {e}")))?;
        Ok(Some(Self::build(key.to_string(), store, http, ts)))
    }

    /// Refresh `margin` before expiry instead of the default 5 minutes.
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn state(&self) -> SessionState {
        self.state.lock().clone()
    }

    /// Token requests sent by this session (diagnostics, tests).
    pub fn refreshes_sent(&self) -> usize {
        *self.refreshes_sent.lock()
    }

    /// A copy of the current token set (`api_domain`, `location`, account).
    pub async fn token_set(&self) -> TokenSet {
        self.tokens.lock().await.clone()
    }

    /// A valid access token: the cached one until shortly before expiry,
    /// else a refreshed one. A dead refresh token gives
    /// [`AuthError::ReconnectNeeded`], then again at once on every call
    /// (no request is sent) until the user signs in again.
    pub async fn access_token(&self) -> Result<Secret, AuthError> {
        if let SessionState::ReconnectNeeded(r) = self.state() {
            return Err(AuthError::ReconnectNeeded(r));
        }
        let mut ts = self.tokens.lock().await;
        let margin = chrono::Duration::from_std(self.refresh_margin).unwrap_or_default();
        if ts.expires_at - margin > Utc::now() {
            return Ok(ts.access_token.clone());
        }
        self.refresh_locked(&mut ts).await
    }

    /// The service refused `token` (401): the next call refreshes.
    pub async fn invalidate(&self, token: &str) {
        let mut ts = self.tokens.lock().await;
        if ts.access_token.expose() == token {
            ts.expires_at = Utc::now() - chrono::Duration::seconds(1);
        }
    }

    /// Forgets the account: deletes its keychain entry.
    pub async fn sign_out(&self) -> Result<(), AuthError> {
        let (s, k) = (self.store.clone(), self.key.clone());
        blocking(move || s.delete(&k)).await?;
        *self.state.lock() = SessionState::ReconnectNeeded("signed out".into());
        Ok(())
    }

    async fn refresh_locked(&self, ts: &mut TokenSet) -> Result<Secret, AuthError> {
        if let SessionState::ReconnectNeeded(r) = self.state() {
            return Err(AuthError::ReconnectNeeded(r));
        }
        let Some(refresh) = ts.refresh_token.clone() else {
            return Err(self.dead(ts, "no refresh token".into()).await);
        };
        {
            let mut log = self.refresh_log.lock();
            let now = Instant::now();
            while log
                .front()
                .is_some_and(|t| now.duration_since(*t) >= TEN_MINUTES)
            {
                log.pop_front();
            }
            if log.len() >= self.max_refreshes_per_10_min {
                return Err(AuthError::Throttled(format!(
                    "{} token requests in 10 minutes; waiting",
                    log.len()
                )));
            }
            log.push_back(now);
        }
        *self.refreshes_sent.lock() += 1;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
            ("client_id", ts.client_id.as_str()),
        ];
        if let Some(scope) = &ts.refresh_scope {
            form.push(("scope", scope));
        }
        if let Some(secret) = &ts.client_secret {
            form.push(("client_secret", secret.expose()));
        }
        let answer = match token_request(&self.http, &ts.token_endpoint, &form).await? {
            Ok(a) => a,
            Err(refusal) => {
                let dead = match ts.provider {
                    Provider::Microsoft => matches!(
                        refusal.error.as_str(),
                        "invalid_grant" | "interaction_required" | "consent_required"
                    ),
                    Provider::Zoho => matches!(
                        refusal.error.as_str(),
                        "invalid_code" | "invalid_client" | "invalid_token"
                    ),
                };
                if dead {
                    let reason = match refusal.aadsts() {
                        Some(code) => format!("{}: {code}", refusal.error),
                        None => refusal.error.clone(),
                    };
                    return Err(self.dead(ts, reason).await);
                }
                if refusal.description.contains("too many requests") {
                    return Err(AuthError::Throttled(refusal.description));
                }
                if refusal.http_status >= 500 {
                    return Err(AuthError::Network(format!(
                        "token endpoint answered {}: {}",
                        refusal.http_status, refusal.error
                    )));
                }
                return Err(AuthError::TokenEndpoint {
                    error: refusal.error,
                    description: refusal.description,
                });
            }
        };
        let mut next = ts.clone();
        next.access_token = answer.access_token;
        if let Some(rotated) = answer.refresh_token {
            next.refresh_token = Some(rotated);
        }
        next.expires_at = Utc::now() + chrono::Duration::seconds(answer.expires_in);
        if answer.api_domain.is_some() {
            next.api_domain = answer.api_domain;
        }
        if answer.scope.is_some() {
            next.scope = answer.scope;
        }
        // The rotated refresh token is stored before anything uses it.
        let json = serde_json::to_string(&next).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let (s, k) = (self.store.clone(), self.key.clone());
        blocking(move || s.save(&k, &json)).await?;
        tracing::debug!(provider = ?ts.provider, "access token refreshed");
        *ts = next;
        Ok(ts.access_token.clone())
    }

    /// Enters "reconnect needed": the dead refresh token is dropped from the
    /// store (the entry keeps the account for the sign-in hint).
    async fn dead(&self, ts: &mut TokenSet, reason: String) -> AuthError {
        // The key holds the account e-mail: not logged.
        tracing::info!(provider = ?ts.provider, %reason, "refresh token dead: reconnect needed");
        *self.state.lock() = SessionState::ReconnectNeeded(reason.clone());
        ts.refresh_token = None;
        ts.expires_at = Utc::now() - chrono::Duration::seconds(1);
        if let Ok(json) = serde_json::to_string(&*ts) {
            let (s, k) = (self.store.clone(), self.key.clone());
            if let Err(e) = blocking(move || s.save(&k, &json)).await {
                tracing::warn!(error = %e, "could not drop the dead refresh token from the store");
            }
        }
        AuthError::ReconnectNeeded(reason)
    }
}
