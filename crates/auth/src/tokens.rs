//! Token sets and the token endpoint calls (code exchange, refresh).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AuthError;

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, for the one place that needs it (a header, a form).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Which identity provider issued a token set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Microsoft,
    Zoho,
}

/// Everything needed to call the API and to refresh, stored as one keychain
/// entry per account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub provider: Provider,
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: DateTime<Utc>,
    pub scope: Option<String>,
    /// Token endpoint used for refreshes (Zoho: the user's data centre).
    pub token_endpoint: String,
    pub client_id: String,
    /// Only for confidential (server-based) Zoho clients; lives in the keychain.
    pub client_secret: Option<Secret>,
    /// Zoho: the CRM API domain of the user's data centre.
    pub api_domain: Option<String>,
    /// Zoho: the data centre (`us`, `eu`, `jp`, ...).
    pub location: Option<String>,
    /// The signed-in account (Microsoft: `preferred_username` of the id token).
    pub account: Option<String>,
    /// Scopes asked on refresh (Microsoft).
    #[serde(default)]
    pub refresh_scope: Option<String>,
}

/// A successful token endpoint answer.
#[derive(Debug)]
pub(crate) struct TokenAnswer {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: i64,
    pub scope: Option<String>,
    pub api_domain: Option<String>,
    pub id_token: Option<String>,
}

/// A refused token request, with the provider's error fields.
#[derive(Debug)]
pub(crate) struct TokenRefusal {
    pub http_status: u16,
    pub error: String,
    pub description: String,
}

impl TokenRefusal {
    /// Microsoft `error_description` starts with the AADSTS code.
    pub fn aadsts(&self) -> Option<&str> {
        self.description
            .split(':')
            .next()
            .filter(|c| c.starts_with("AADSTS"))
    }
}

fn num(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// POSTs a form to a token endpoint. Zoho answers errors with HTTP 200, so
/// success is "the body has an access_token", whatever the status.
pub(crate) async fn token_request(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
) -> Result<Result<TokenAnswer, TokenRefusal>, AuthError> {
    let resp = http
        .post(endpoint)
        .form(form)
        .send()
        .await
        .map_err(|e| AuthError::Network(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .map_err(|e| AuthError::Network(e.without_url().to_string()))?;
    tracing::debug!(status, "token endpoint answered");
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let Some(at) = body.get("access_token").and_then(Value::as_str) {
        // Zoho legacy: `expires_in` in milliseconds when `expires_in_sec` is present.
        let expires_in = body
            .get("expires_in_sec")
            .and_then(num)
            .or_else(|| body.get("expires_in").and_then(num))
            .unwrap_or(3600);
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        return Ok(Ok(TokenAnswer {
            access_token: Secret::new(at),
            refresh_token: s("refresh_token").map(Secret::new),
            expires_in,
            scope: s("scope"),
            api_domain: s("api_domain"),
            id_token: s("id_token"),
        }));
    }
    Ok(Err(TokenRefusal {
        http_status: status,
        error: body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or(if status >= 500 {
                "server_error"
            } else {
                "invalid_response"
            })
            .to_string(),
        description: body
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }))
}

/// `preferred_username` (or `email`) of an id token's payload. The token is
/// only read for display and hints; it is not used to authorise anything.
pub(crate) fn id_token_account(id_token: &str) -> Option<String> {
    use base64::Engine;
    let payload = id_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("preferred_username")
        .or_else(|| v.get("email"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = Secret::new("eyJ0eXAi.secret");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "eyJ0eXAi.secret");
    }

    #[test]
    fn aadsts_code_is_read_from_the_description() {
        let r = TokenRefusal {
            http_status: 400,
            error: "invalid_grant".into(),
            description: "AADSTS700082: The refresh token has expired due to inactivity.".into(),
        };
        assert_eq!(r.aadsts(), Some("AADSTS700082"));
    }

    #[test]
    fn account_from_an_unsigned_id_token() {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let tok = format!(
            "{}.{}.",
            e.encode(br#"{"alg":"none"}"#),
            e.encode(br#"{"preferred_username":"aiko@x.example"}"#)
        );
        assert_eq!(id_token_account(&tok).as_deref(), Some("aiko@x.example"));
        assert_eq!(id_token_account("garbage"), None);
    }
}
