//! Microsoft identity platform sign-in (authorization code + PKCE, public
//! client, loopback redirect).

use chrono::Utc;
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};

use crate::error::AuthError;
use crate::loopback::{Loopback, SignInOptions};
use crate::tokens::{id_token_account, token_request, Provider, Secret, TokenSet};

/// Production authority root.
pub const LOGIN_MICROSOFTONLINE: &str = "https://login.microsoftonline.com";

/// Scopes CRM Sync asks for.
pub const DEFAULT_SCOPES: &[&str] = &[
    "offline_access",
    "openid",
    "profile",
    "User.Read",
    "User.ReadBasic.All",
    "Calendars.ReadWrite",
    "Contacts.ReadWrite",
    "Tasks.ReadWrite",
    "Mail.Send",
    "MailboxSettings.Read",
];

/// Microsoft sign-in settings (Entra app registration).
#[derive(Debug, Clone)]
pub struct MicrosoftConfig {
    /// Authority root: [`LOGIN_MICROSOFTONLINE`] or the sandbox's `login` URL.
    pub login_base: String,
    /// `common` (default), `organizations`, a tenant id or domain.
    pub tenant: String,
    /// Application (client) id of the app registration.
    pub client_id: String,
    pub scopes: Vec<String>,
}

impl MicrosoftConfig {
    /// Settings for an authority root and client id, tenant `common`.
    pub fn new(login_base: impl Into<String>, client_id: impl Into<String>) -> Self {
        MicrosoftConfig {
            login_base: login_base.into().trim_end_matches('/').to_string(),
            tenant: "common".into(),
            client_id: client_id.into(),
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn authorize_endpoint(&self) -> String {
        format!("{}/{}/oauth2/v2.0/authorize", self.login_base, self.tenant)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.login_base, self.tenant)
    }
}

/// Signs in. With a `login_hint` (the CRM user's e-mail) a silent attempt
/// with `prompt=none` runs first; the interactive page opens only if that
/// fails (`interaction_required`, `login_required`, `consent_required`).
pub async fn sign_in(
    cfg: &MicrosoftConfig,
    login_hint: Option<&str>,
    opts: &SignInOptions,
    http: &reqwest::Client,
) -> Result<TokenSet, AuthError> {
    if let Some(hint) = login_hint {
        match attempt(cfg, Some(hint), true, opts, http).await {
            Err(AuthError::Authorization { error, .. })
                if matches!(
                    error.as_str(),
                    "interaction_required" | "login_required" | "consent_required"
                ) =>
            {
                tracing::debug!("silent sign-in needs interaction; opening the sign-in page");
            }
            other => return other,
        }
    }
    attempt(cfg, login_hint, false, opts, http).await
}

async fn attempt(
    cfg: &MicrosoftConfig,
    hint: Option<&str>,
    silent: bool,
    opts: &SignInOptions,
    http: &reqwest::Client,
) -> Result<TokenSet, AuthError> {
    let loopback = Loopback::bind().await?;
    let redirect = loopback.redirect_uri();
    let client = BasicClient::new(ClientId::new(cfg.client_id.clone()))
        .set_auth_uri(
            AuthUrl::new(cfg.authorize_endpoint())
                .map_err(|e| AuthError::Invalid(e.to_string()))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect.clone()).map_err(|e| AuthError::Invalid(e.to_string()))?,
        );
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(cfg.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .add_extra_param("response_mode", "query");
    if let Some(h) = hint {
        req = req.add_extra_param("login_hint", h.to_string());
    }
    if silent {
        req = req.add_extra_param("prompt", "none");
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
    let scope = cfg.scopes.join(" ");
    let answer = token_request(
        http,
        &cfg.token_endpoint(),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &cfg.client_id),
            ("code", code),
            ("redirect_uri", &redirect),
            ("code_verifier", verifier.secret()),
            ("scope", &scope),
        ],
    )
    .await?
    .map_err(|r| AuthError::TokenEndpoint {
        error: r.error,
        description: r.description,
    })?;
    let account = answer
        .id_token
        .as_deref()
        .and_then(id_token_account)
        .or_else(|| hint.map(str::to_string));
    Ok(TokenSet {
        provider: Provider::Microsoft,
        access_token: answer.access_token,
        refresh_token: answer.refresh_token,
        expires_at: Utc::now() + chrono::Duration::seconds(answer.expires_in),
        scope: answer.scope,
        token_endpoint: cfg.token_endpoint(),
        client_id: cfg.client_id.clone(),
        client_secret: None::<Secret>,
        api_domain: None,
        location: None,
        account,
        refresh_scope: Some(scope),
    })
}
