//! Zoho accounts sign-in (authorization code + PKCE, `access_type=offline`).
//! The token call goes to the data centre named by the redirect's
//! `accounts-server`; CRM calls go to the token response's `api_domain`.

use chrono::Utc;
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl};

use crate::error::AuthError;
use crate::loopback::{Loopback, SignInOptions};
use crate::tokens::{token_request, Provider, Secret, TokenSet};

/// Production accounts servers per data centre (zoho-crm-api.md §1).
pub const ACCOUNTS_SERVERS: &[&str] = &[
    "https://accounts.zoho.com",
    "https://accounts.zoho.eu",
    "https://accounts.zoho.in",
    "https://accounts.zoho.com.au",
    "https://accounts.zoho.jp",
    "https://accounts.zoho.com.cn",
    "https://accounts.zohocloud.ca",
    "https://accounts.zoho.sa",
    "https://accounts.zoho.uk",
];

/// Scopes CRM Sync asks for (comma-separated on the wire).
pub const DEFAULT_SCOPES: &[&str] = &[
    "ZohoCRM.modules.ALL",
    "ZohoCRM.users.ALL",
    "ZohoCRM.org.READ",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.coql.READ",
];

/// Zoho sign-in settings (Zoho API console client).
#[derive(Debug, Clone)]
pub struct ZohoConfig {
    /// Accounts server where sign-in starts (any DC works; the redirect names
    /// the user's own), e.g. `https://accounts.zoho.com` or the sandbox's
    /// `http://HOST/zoho/us/accounts`.
    pub accounts_url: String,
    pub client_id: String,
    /// Only for server-based clients; desktop clients use PKCE without one.
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
}

impl ZohoConfig {
    pub fn new(accounts_url: impl Into<String>, client_id: impl Into<String>) -> Self {
        ZohoConfig {
            accounts_url: accounts_url.into().trim_end_matches('/').to_string(),
            client_id: client_id.into(),
            client_secret: None,
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The code and verifier are only sent to a known Zoho accounts server
    /// or to the configured one's origin (the sandbox serves every DC there).
    fn accounts_server_allowed(&self, server: &str) -> bool {
        let server = server.trim_end_matches('/');
        if ACCOUNTS_SERVERS.contains(&server) {
            return true;
        }
        match (url::Url::parse(server), url::Url::parse(&self.accounts_url)) {
            (Ok(a), Ok(b)) => a.origin() == b.origin(),
            _ => false,
        }
    }
}

/// Signs in at Zoho. `login_hint` pre-fills the e-mail.
pub async fn sign_in(
    cfg: &ZohoConfig,
    login_hint: Option<&str>,
    opts: &SignInOptions,
    http: &reqwest::Client,
) -> Result<TokenSet, AuthError> {
    let loopback = Loopback::bind().await?;
    let redirect = loopback.redirect_uri();
    let client = BasicClient::new(ClientId::new(cfg.client_id.clone()))
        .set_auth_uri(
            AuthUrl::new(format!("{}/oauth/v2/auth", cfg.accounts_url))
                .map_err(|e| AuthError::Invalid(e.to_string()))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect.clone()).map_err(|e| AuthError::Invalid(e.to_string()))?,
        );
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        // Zoho separates scopes with commas.
        .add_extra_param("scope", cfg.scopes.join(","))
        .add_extra_param("access_type", "offline")
        // A refresh token is issued only on the first grant or with consent.
        .add_extra_param("prompt", "consent");
    if let Some(h) = login_hint {
        req = req.add_extra_param("login_hint", h.to_string());
    }
    let (url, state) = req.url();
    (opts.opener)(url.as_str()).map_err(AuthError::Browser)?;
    let params = loopback
        .wait(state.secret(), opts.timeout, &opts.cancel)
        .await?;
    if let Some(error) = params.get("error") {
        return Err(AuthError::Authorization {
            error: error.clone(),
            description: params.get("error_description").cloned().unwrap_or_default(),
        });
    }
    let code = params
        .get("code")
        .ok_or_else(|| AuthError::Invalid("redirect without code".into()))?;
    let server = params
        .get("accounts-server")
        .cloned()
        .unwrap_or_else(|| cfg.accounts_url.clone());
    if !cfg.accounts_server_allowed(&server) {
        return Err(AuthError::Invalid(format!(
            "redirect names an unknown accounts server {server}"
        )));
    }
    let token_endpoint = format!("{}/oauth/v2/token", server.trim_end_matches('/'));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", cfg.client_id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", verifier.secret().as_str()),
    ];
    if let Some(s) = &cfg.client_secret {
        form.push(("client_secret", s.expose()));
    }
    let answer = token_request(http, &token_endpoint, &form)
        .await?
        .map_err(|r| AuthError::TokenEndpoint {
            error: r.error,
            description: r.description,
        })?;
    let api_domain = answer
        .api_domain
        .ok_or_else(|| AuthError::Invalid("token response without api_domain".into()))?;
    Ok(TokenSet {
        provider: Provider::Zoho,
        access_token: answer.access_token,
        refresh_token: answer.refresh_token,
        expires_at: Utc::now() + chrono::Duration::seconds(answer.expires_in),
        scope: answer.scope,
        token_endpoint,
        client_id: cfg.client_id.clone(),
        client_secret: cfg.client_secret.clone(),
        api_domain: Some(api_domain),
        location: params.get("location").cloned(),
        account: login_hint.map(str::to_string),
        refresh_scope: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_zoho_or_configured_accounts_servers() {
        let cfg = ZohoConfig::new("http://127.0.0.1:4000/zoho/us/accounts", "c");
        assert!(cfg.accounts_server_allowed("https://accounts.zoho.jp"));
        assert!(cfg.accounts_server_allowed("http://127.0.0.1:4000/zoho/jp/accounts"));
        assert!(!cfg.accounts_server_allowed("https://accounts.zoho.jp.evil.example"));
        assert!(!cfg.accounts_server_allowed("http://127.0.0.1:4001/zoho/jp/accounts"));
    }
}
