//! Microsoft identity platform emulation (graph-api.md §9): the
//! `/authorize` HTML sign-in + consent pages and the `/token` endpoint
//! (authorization_code with PKCE S256, refresh_token with rotation).

use std::collections::HashMap;

use axum::extract::{Path, RawForm, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::{new_guid, new_secret, AccessGrant, CodeGrant, Data, RefreshGrant, User};
use crate::GraphState;

const SESSION_COOKIE: &str = "sbx_ests_session";

/// Delegated permissions the emulator knows (canonical spelling).
pub(crate) const KNOWN_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "Directory.Read.All",
    "Calendars.Read",
    "Calendars.ReadWrite",
    "Contacts.Read",
    "Contacts.ReadWrite",
    "Tasks.Read",
    "Tasks.ReadWrite",
    "Mail.Send",
    "Mail.Read",
    "MailboxSettings.Read",
];

const OIDC: &[&str] = &["openid", "profile", "email", "offline_access"];

pub(crate) fn routes() -> Router<GraphState> {
    Router::new()
        .route(
            "/login/{tenant}/oauth2/v2.0/authorize",
            get(authorize_get).post(authorize_post),
        )
        .route("/login/{tenant}/oauth2/v2.0/token", post(token))
        .route("/login/{tenant}/oauth2/v2.0/logout", get(logout))
}

/// Tokens handed out by `/token` or the control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub token_type: String,
    pub scope: String,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Parses a space-separated scope string: `https://graph.microsoft.com/`
/// prefixes are stripped, names are canonicalised. Err(name) for unknown.
pub(crate) fn parse_scopes(raw: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for s in raw.split_whitespace() {
        let bare = s
            .strip_prefix("https://graph.microsoft.com/")
            .or_else(|| s.strip_prefix("https://graph.microsoft.com//"))
            .unwrap_or(s);
        if bare == ".default" {
            for k in KNOWN_SCOPES.iter().filter(|k| !OIDC.contains(k)) {
                if !out.iter().any(|o| o == k) {
                    out.push((*k).to_string());
                }
            }
            continue;
        }
        let known = KNOWN_SCOPES
            .iter()
            .find(|k| k.eq_ignore_ascii_case(bare))
            .ok_or_else(|| s.to_string())?;
        if !out.iter().any(|o| o == known) {
            out.push((*known).to_string());
        }
    }
    Ok(out)
}

fn tenant_ok(data: &Data, tenant: &str) -> bool {
    ["common", "organizations"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tenant))
        || tenant.eq_ignore_ascii_case(&data.tenant_id)
        || tenant.eq_ignore_ascii_case(&data.tenant_domain)
}

fn form_map(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_page(status: StatusCode, code: &str, message: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign in to your account</title></head><body><h1>Sorry, but we're having trouble signing you in.</h1><p id=\"error\">{}: {}</p></body></html>",
        esc(code),
        esc(message)
    );
    (status, Html(html)).into_response()
}

fn loopback_redirect(uri: &str) -> Option<url::Url> {
    let u = url::Url::parse(uri).ok()?;
    let host_ok = matches!(u.host_str(), Some("localhost") | Some("127.0.0.1"));
    (u.scheme() == "http" && host_ok && u.fragment().is_none()).then_some(u)
}

/// Redirects the browser back to the app with the given parameters,
/// honouring `response_mode` (query or form_post).
fn respond_to_app(params: &HashMap<String, String>, pairs: Vec<(&str, String)>) -> Response {
    let Some(mut target) = params
        .get("redirect_uri")
        .and_then(|r| loopback_redirect(r))
    else {
        return error_page(StatusCode::BAD_REQUEST, "AADSTS50011", "The redirect URI specified in the request does not match the redirect URIs configured for the application.");
    };
    let mut pairs = pairs;
    if let Some(state) = params.get("state") {
        pairs.push(("state", state.clone()));
    }
    if params.get("response_mode").map(String::as_str) == Some("form_post") {
        let inputs: String = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\"/>",
                    esc(k),
                    esc(v)
                )
            })
            .collect();
        let html = format!(
            "<!DOCTYPE html><html><head><title>Working...</title></head><body onload=\"document.forms[0].submit()\"><form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\"/></noscript></form></body></html>",
            esc(target.as_str())
        );
        return (StatusCode::OK, Html(html)).into_response();
    }
    {
        let mut q = target.query_pairs_mut();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

fn app_error(params: &HashMap<String, String>, error: &str, description: &str) -> Response {
    respond_to_app(
        params,
        vec![
            ("error", error.to_string()),
            ("error_description", description.to_string()),
        ],
    )
}

fn session_user(data: &Data, headers: &HeaderMap) -> Option<User> {
    let cookies = headers.get_all(header::COOKIE);
    for c in cookies {
        let Ok(text) = c.to_str() else { continue };
        for part in text.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == SESSION_COOKIE {
                    if let Some(uid) = data.sessions.get(v) {
                        return data.users.iter().find(|u| &u.id == uid).cloned();
                    }
                }
            }
        }
    }
    None
}

fn consent_key(user: &str, client: &str, scope: &str) -> String {
    format!("{user} {client} {scope}")
}

fn missing_consent(data: &Data, user: &User, client: &str, scopes: &[String]) -> Vec<String> {
    scopes
        .iter()
        .filter(|s| !data.consents.contains(&consent_key(&user.id, client, s)))
        .cloned()
        .collect()
}

/// Checks the authorize parameters. Err(response) is the answer to send.
// The error is the HTML/redirect answer itself; it is returned once per request.
#[allow(clippy::result_large_err)]
fn validate(
    state: &GraphState,
    tenant: &str,
    params: &HashMap<String, String>,
) -> Result<Vec<String>, Response> {
    {
        let data = state.shared.data.lock();
        if !tenant_ok(&data, tenant) {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "AADSTS90002",
                &format!("Tenant '{tenant}' not found."),
            ));
        }
    }
    if params.get("client_id").is_none_or(|c| c.is_empty()) {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "AADSTS900144",
            "The request body must contain the following parameter: 'client_id'.",
        ));
    }
    match params.get("redirect_uri") {
        Some(r) if loopback_redirect(r).is_some() => {}
        Some(r) => {
            return Err(error_page(StatusCode::BAD_REQUEST, "AADSTS50011", &format!("The redirect URI '{r}' specified in the request does not match the redirect URIs configured for the application. Only http://localhost and http://127.0.0.1 (any port) are registered in the sandbox.")))
        }
        None => return Err(error_page(StatusCode::BAD_REQUEST, "AADSTS900144", "The request body must contain the following parameter: 'redirect_uri'.")),
    }
    if params.get("response_type").map(String::as_str) != Some("code") {
        return Err(app_error(
            params,
            "unsupported_response_type",
            "AADSTS700054: response_type 'code' is required by the sandbox application.",
        ));
    }
    match params.get("response_mode").map(String::as_str) {
        None | Some("query") | Some("form_post") => {}
        Some(other) => {
            return Err(app_error(
                params,
                "invalid_request",
                &format!("AADSTS900144: response_mode '{other}' is not supported for this flow."),
            ))
        }
    }
    let scopes = match params.get("scope").map(|s| parse_scopes(s)) {
        None => return Err(app_error(params, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'scope'.")),
        Some(Err(bad)) => return Err(app_error(params, "invalid_scope", &format!("AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope {bad} is not valid."))),
        Some(Ok(s)) => s,
    };
    if params.get("code_challenge").is_none_or(|c| c.len() < 43) {
        return Err(app_error(params, "invalid_request", "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption."));
    }
    if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err(app_error(
            params,
            "invalid_request",
            "AADSTS501491: Invalid code_challenge_method. Only S256 is supported.",
        ));
    }
    Ok(scopes)
}

fn hidden_params(params: &HashMap<String, String>) -> String {
    let mut keys: Vec<&String> = params
        .keys()
        .filter(|k| !["username", "password", "step", "consent"].contains(&k.as_str()))
        .collect();
    keys.sort();
    keys.iter()
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\"/>",
                esc(k),
                esc(&params[*k])
            )
        })
        .collect()
}

fn login_page(
    state: &GraphState,
    tenant: &str,
    params: &HashMap<String, String>,
    message: Option<&str>,
) -> Response {
    let data = state.shared.data.lock();
    let hint = params
        .get("username")
        .or_else(|| params.get("login_hint"))
        .cloned()
        .unwrap_or_default();
    let accounts: String = data
        .users
        .iter()
        .map(|u| {
            format!(
                "<li><button type=\"button\" class=\"account\" data-upn=\"{upn}\" onclick=\"document.getElementById('username').value=this.dataset.upn;document.getElementById('password').focus()\">{name} &lt;{upn}&gt;</button></li>",
                upn = esc(&u.user_principal_name),
                name = esc(&u.display_name)
            )
        })
        .collect();
    let html = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title>
<style>body{{font-family:Segoe UI,sans-serif;background:#f2f2f2}}main{{background:#fff;max-width:440px;margin:60px auto;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}}
input[type=text],input[type=password]{{width:100%;padding:6px;margin:6px 0}}ul{{list-style:none;padding:0}}button.account{{width:100%;text-align:left;margin:2px 0}}.error{{color:#e81123}}</style></head>
<body><main><p>Microsoft 365 sandbox ({tenant_domain})</p><h1>Sign in</h1>
{message}
<form method="POST" action="/login/{tenant}/oauth2/v2.0/authorize">
{hidden}<input type="hidden" name="step" value="login"/>
<label for="username">Email, phone, or Skype</label><input type="text" id="username" name="username" value="{hint}" autocomplete="username"/>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password"/>
<p><input type="submit" value="Sign in"/></p></form>
<h2>Demo accounts</h2><ul>{accounts}</ul><p>Every demo account's password is <code>sandbox</code>.</p></main></body></html>"#,
        tenant_domain = esc(&data.tenant_domain),
        tenant = esc(tenant),
        hidden = hidden_params(params),
        hint = esc(&hint),
        message = message
            .map(|m| format!("<p class=\"error\" id=\"error\">{}</p>", esc(m)))
            .unwrap_or_default(),
    );
    (StatusCode::OK, Html(html)).into_response()
}

fn consent_page(
    tenant: &str,
    params: &HashMap<String, String>,
    user: &User,
    scopes: &[String],
) -> Response {
    let list: String = scopes
        .iter()
        .map(|s| format!("<li class=\"scope\">{}</li>", esc(s)))
        .collect();
    let html = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Permissions requested</title></head>
<body><main><h1>Permissions requested</h1><p>{user} — the application <code>{client}</code> would like to:</p><ul id="scopes">{list}</ul>
<form method="POST" action="/login/{tenant}/oauth2/v2.0/authorize">{hidden}<input type="hidden" name="step" value="consent"/>
<button type="submit" name="consent" value="accept">Accept</button> <button type="submit" name="consent" value="cancel">Cancel</button></form></main></body></html>"#,
        user = esc(&user.user_principal_name),
        client = esc(params.get("client_id").map(String::as_str).unwrap_or("")),
        tenant = esc(tenant),
        hidden = hidden_params(params),
    );
    (StatusCode::OK, Html(html)).into_response()
}

fn issue_code(
    state: &GraphState,
    params: &HashMap<String, String>,
    user: &User,
    scopes: Vec<String>,
) -> Response {
    let code = new_secret("0.ASbx");
    {
        let mut data = state.shared.data.lock();
        data.codes.insert(
            code.clone(),
            CodeGrant {
                user_id: user.id.clone(),
                client_id: params.get("client_id").cloned().unwrap_or_default(),
                redirect_uri: params.get("redirect_uri").cloned().unwrap_or_default(),
                scopes,
                code_challenge: params.get("code_challenge").cloned().unwrap_or_default(),
                expires_at: state.now() + Duration::minutes(10),
                redeemed: false,
            },
        );
    }
    respond_to_app(params, vec![("code", code), ("session_state", new_guid())])
}

fn with_session(mut resp: Response, session: Option<String>) -> Response {
    if let Some(s) = session {
        if let Ok(v) = format!("{SESSION_COOKIE}={s}; Path=/login; HttpOnly; SameSite=Lax").parse()
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

async fn authorize_get(
    State(state): State<GraphState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = form_map(q.as_deref());
    let scopes = match validate(&state, &tenant, &params) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let prompt = params.get("prompt").map(String::as_str).unwrap_or("");
    let hint = params.get("login_hint").map(|h| h.to_lowercase());
    let client = params.get("client_id").cloned().unwrap_or_default();
    let (session, missing) = {
        let data = state.shared.data.lock();
        let s = session_user(&data, &headers);
        let missing = s
            .as_ref()
            .map(|u| missing_consent(&data, u, &client, &scopes))
            .unwrap_or_default();
        (s, missing)
    };
    let hint_matches = |u: &User| {
        hint.as_ref().is_none_or(|h| {
            u.user_principal_name.to_lowercase() == *h
                || u.mail.as_ref().is_some_and(|m| m.to_lowercase() == *h)
        })
    };
    if prompt == "none" {
        return match session {
            Some(u) if hint_matches(&u) => {
                if missing.is_empty() {
                    issue_code(&state, &params, &u, scopes)
                } else {
                    app_error(&params, "consent_required", "AADSTS65001: The user or administrator has not consented to use the application.")
                }
            }
            Some(_) => app_error(&params, "interaction_required", "AADSTS16000: The signed-in user does not match the login_hint; user interaction is required."),
            None => app_error(&params, "interaction_required", "AADSTS50058: A silent sign-in request was sent but no user is signed in."),
        };
    }
    if let Some(u) = session.filter(|u| hint_matches(u)) {
        if prompt != "login" && prompt != "select_account" {
            if prompt == "consent" || !missing.is_empty() {
                return consent_page(&tenant, &params, &u, &scopes);
            }
            return issue_code(&state, &params, &u, scopes);
        }
    }
    login_page(&state, &tenant, &params, None)
}

async fn authorize_post(
    State(state): State<GraphState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawForm(form): RawForm,
) -> Response {
    let params = form_map(std::str::from_utf8(&form).ok());
    let scopes = match validate(&state, &tenant, &params) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let client = params.get("client_id").cloned().unwrap_or_default();
    match params.get("step").map(String::as_str) {
        Some("login") => {
            let username = params.get("username").cloned().unwrap_or_default();
            let password = params.get("password").cloned().unwrap_or_default();
            let user = {
                let data = state.shared.data.lock();
                data.find_user(username.trim())
                    .filter(|u| u.password == password)
                    .cloned()
            };
            let Some(user) = user else {
                return login_page(
                    &state,
                    &tenant,
                    &params,
                    Some("AADSTS50126: Your account or password is incorrect."),
                );
            };
            let session = new_secret("");
            let missing = {
                let mut data = state.shared.data.lock();
                data.sessions.insert(session.clone(), user.id.clone());
                missing_consent(&data, &user, &client, &scopes)
            };
            let prompt_consent = params.get("prompt").map(String::as_str) == Some("consent");
            let resp = if missing.is_empty() && !prompt_consent {
                issue_code(&state, &params, &user, scopes)
            } else {
                consent_page(&tenant, &params, &user, &scopes)
            };
            with_session(resp, Some(session))
        }
        Some("consent") => {
            let user = {
                let data = state.shared.data.lock();
                session_user(&data, &headers)
            };
            let Some(user) = user else {
                return login_page(
                    &state,
                    &tenant,
                    &params,
                    Some("Your session has expired. Please sign in again."),
                );
            };
            if params.get("consent").map(String::as_str) != Some("accept") {
                return app_error(
                    &params,
                    "access_denied",
                    "AADSTS65004: User declined to consent to access the app.",
                );
            }
            {
                let mut data = state.shared.data.lock();
                for s in &scopes {
                    let key = consent_key(&user.id, &client, s);
                    if !data.consents.contains(&key) {
                        data.consents.push(key);
                    }
                }
            }
            issue_code(&state, &params, &user, scopes)
        }
        _ => login_page(&state, &tenant, &params, None),
    }
}

fn token_error(status: StatusCode, error: &str, code: u32, message: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {message}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}", new_guid(), new_guid(), chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ")),
        "error_codes": [code],
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": new_guid(),
        "correlation_id": new_guid(),
    });
    (status, Json(body)).into_response()
}

fn id_token(data: &Data, user: &User, client: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let header = b64(json!({"typ": "JWT", "alg": "RS256", "kid": "sandbox"}));
    let claims = b64(json!({
        "aud": client,
        "iss": format!("https://login.microsoftonline.com/{}/v2.0", data.tenant_id),
        "iat": now.timestamp(), "nbf": now.timestamp(), "exp": now.timestamp() + 3600,
        "name": user.display_name,
        "oid": user.id,
        "preferred_username": user.user_principal_name,
        "email": user.mail,
        "sub": format!("sbx-{}", user.id),
        "tid": data.tenant_id,
        "ver": "2.0",
    }));
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"sandbox-unsigned");
    format!("{header}.{claims}.{sig}")
}

/// Issues an access token (+ refresh token with offline_access, id token
/// with openid). Called with the data lock held.
fn issue_tokens(
    state: &GraphState,
    data: &mut Data,
    user_id: &str,
    client: &str,
    scopes: &[String],
) -> TokenSet {
    let now = state.now();
    let lifetime = state.limits().token_lifetime_secs;
    let access = new_secret("EwBsbx.");
    data.access_tokens.insert(
        access.clone(),
        AccessGrant {
            user_id: user_id.to_string(),
            client_id: client.to_string(),
            scopes: scopes.to_vec(),
            expires_at: now + Duration::seconds(lifetime),
        },
    );
    let refresh = scopes.iter().any(|s| s == "offline_access").then(|| {
        let r = new_secret("M.Rsbx.");
        data.refresh_tokens.insert(
            r.clone(),
            RefreshGrant {
                user_id: user_id.to_string(),
                client_id: client.to_string(),
                scopes: scopes.to_vec(),
                expires_at: now + Duration::days(90),
                revoked: false,
            },
        );
        r
    });
    let user = data.users.iter().find(|u| u.id == user_id).cloned();
    let id = scopes
        .iter()
        .any(|s| s == "openid")
        .then(|| user.map(|u| id_token(data, &u, client, now)))
        .flatten();
    let shown: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| *s != "offline_access")
        .collect();
    TokenSet {
        token_type: "Bearer".into(),
        scope: shown.join(" "),
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token: access,
        refresh_token: refresh,
        id_token: id,
    }
}

pub(crate) fn mint_for(
    state: &GraphState,
    user: &str,
    scopes: &[String],
    client: &str,
) -> Result<TokenSet, ApiError> {
    let scopes = parse_scopes(&scopes.join(" "))
        .map_err(|bad| ApiError::bad_request("invalid_scope", format!("Unknown scope {bad}")))?;
    let mut data = state.shared.data.lock();
    let uid = data.find_user(user).map(|u| u.id.clone()).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "userNotFound",
            format!("No user {user}"),
        )
    })?;
    Ok(issue_tokens(state, &mut data, &uid, client, &scopes))
}

fn pkce_s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn token(
    State(state): State<GraphState>,
    Path(tenant): Path<String>,
    RawForm(form): RawForm,
) -> Response {
    let p = form_map(std::str::from_utf8(&form).ok());
    let bad = StatusCode::BAD_REQUEST;
    {
        let data = state.shared.data.lock();
        if !tenant_ok(&data, &tenant) {
            return token_error(
                bad,
                "invalid_request",
                90002,
                &format!("Tenant '{tenant}' not found."),
            );
        }
    }
    let Some(client) = p.get("client_id").filter(|c| !c.is_empty()).cloned() else {
        return token_error(
            bad,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    if p.contains_key("client_secret") || p.contains_key("client_assertion") {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        );
    }
    let now = state.now();
    match p.get("grant_type").map(String::as_str) {
        None => token_error(
            bad,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ),
        Some("authorization_code") => {
            let Some(code) = p.get("code") else {
                return token_error(
                    bad,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'code'.",
                );
            };
            let mut data = state.shared.data.lock();
            let Some(grant) = data.codes.get(code).cloned() else {
                return token_error(
                    bad,
                    "invalid_grant",
                    9002313,
                    "Invalid request. Request is malformed or invalid.",
                );
            };
            if grant.redeemed {
                return token_error(bad, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
            }
            if grant.expires_at <= now {
                return token_error(bad, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
            }
            if grant.client_id != client {
                return token_error(bad, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid. The code was issued to a different client.");
            }
            if p.get("redirect_uri") != Some(&grant.redirect_uri) {
                return token_error(
                    bad,
                    "invalid_grant",
                    50148,
                    "The redirect_uri does not match the one used in the authorization request.",
                );
            }
            let Some(verifier) = p.get("code_verifier") else {
                return token_error(
                    bad,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'code_verifier'.",
                );
            };
            if pkce_s256(verifier) != grant.code_challenge {
                return token_error(bad, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
            }
            if let Some(g) = data.codes.get_mut(code) {
                g.redeemed = true;
            }
            let set = issue_tokens(&state, &mut data, &grant.user_id, &client, &grant.scopes);
            (StatusCode::OK, Json(set)).into_response()
        }
        Some("refresh_token") => {
            let Some(rt) = p.get("refresh_token") else {
                return token_error(
                    bad,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'refresh_token'.",
                );
            };
            let mut data = state.shared.data.lock();
            let Some(grant) = data.refresh_tokens.get(rt).cloned() else {
                return token_error(
                    bad,
                    "invalid_grant",
                    9002313,
                    "Invalid request. Request is malformed or invalid.",
                );
            };
            if grant.revoked {
                return token_error(bad, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity or was revoked. Send a new interactive authorization request for this user and resource.");
            }
            if grant.expires_at <= now {
                return token_error(bad, "invalid_grant", 700082, "The refresh token has expired due to inactivity. The token was issued on a date and was inactive for 90.00:00:00.");
            }
            // Control-minted grants without a client id are not bound to one.
            if !grant.client_id.is_empty() && grant.client_id != client {
                return token_error(bad, "invalid_grant", 700005, "Provided Authorization Code is intended to use against other tenant or client.");
            }
            let scopes = match p.get("scope").map(|s| parse_scopes(s)) {
                None => grant.scopes.clone(),
                Some(Err(b)) => return token_error(bad, "invalid_scope", 70011, &format!("The provided value for the input parameter 'scope' is not valid. The scope {b} is not valid.")),
                Some(Ok(asked)) => {
                    if let Some(extra) = asked.iter().find(|s| !grant.scopes.contains(s) && !OIDC.contains(&s.as_str())) {
                        return token_error(bad, "invalid_grant", 65001, &format!("The user or administrator has not consented to use the application for scope {extra}. Send an interactive authorization request for this user and resource."));
                    }
                    let mut s = asked;
                    if grant.scopes.iter().any(|x| x == "offline_access") && !s.iter().any(|x| x == "offline_access") {
                        s.push("offline_access".into());
                    }
                    s
                }
            };
            let set = issue_tokens(&state, &mut data, &grant.user_id, &client, &scopes);
            (StatusCode::OK, Json(set)).into_response()
        }
        Some(other) => token_error(
            bad,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
    }
}

/// `GET /logout[?post_logout_redirect_uri=…]`: ends the browser session, so
/// the next `prompt=none` needs interaction again.
async fn logout(
    State(state): State<GraphState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = form_map(q.as_deref());
    {
        let mut data = state.shared.data.lock();
        for c in headers.get_all(header::COOKIE) {
            let Ok(text) = c.to_str() else { continue };
            for part in text.split(';') {
                if let Some((k, v)) = part.trim().split_once('=') {
                    if k == SESSION_COOKIE {
                        data.sessions.remove(v);
                    }
                }
            }
        }
    }
    let mut resp = match params
        .get("post_logout_redirect_uri")
        .and_then(|r| loopback_redirect(r))
    {
        Some(target) => {
            (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
        }
        None => (
            StatusCode::OK,
            Html(
                "<!DOCTYPE html><html><body><h1>You signed out of your account</h1></body></html>",
            ),
        )
            .into_response(),
    };
    if let Ok(v) = format!("{SESSION_COOKIE}=; Path=/login; Max-Age=0").parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
