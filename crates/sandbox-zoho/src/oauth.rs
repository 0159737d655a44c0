//! Zoho accounts OAuth 2.0 per data centre: the HTML sign-in and consent pages, authorization
//! codes with PKCE (S256 and plain), the token endpoint (code exchange and refresh, with the
//! refresh-token limits of the reference) and revocation.
// Handlers return ready HTTP responses as errors; their size is irrelevant here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::model::{is_dc, AccessToken, AuthCode, PendingConsent, RefreshToken, State};
use crate::ZohoSandbox;

pub(crate) fn routes() -> Router<ZohoSandbox> {
    Router::new()
        .route(
            "/zoho/{dc}/accounts/oauth/v2/auth",
            get(auth_page).post(auth_submit),
        )
        .route(
            "/zoho/{dc}/accounts/oauth/v2/auth/consent",
            post(consent_submit),
        )
        .route("/zoho/{dc}/accounts/oauth/v2/token", post(token))
        .route("/zoho/{dc}/accounts/oauth/v2/token/revoke", post(revoke))
        .route("/zoho/{dc}/accounts/oauth/serverinfo", get(serverinfo))
}

/// `http://HOST` from the request's Host header.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

pub(crate) fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

fn token_string() -> String {
    format!("1000.{}.{}", random_hex(16), random_hex(16))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<style>body{{font-family:sans-serif;background:#f4f6f9;display:flex;justify-content:center;padding-top:60px}}\
main{{background:#fff;padding:32px 40px;border-radius:8px;box-shadow:0 2px 8px #0002;min-width:340px}}\
h1{{font-size:20px}}label{{display:block;margin:12px 0 4px}}input[type=email],input[type=password]{{width:100%;padding:8px}}\
button{{margin-top:16px;padding:8px 18px}}.err{{color:#b00020}}</style></head>\
<body><main><p><b>Zoho Accounts</b> (sandbox)</p><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    )
}

fn error_page(title: &str, detail: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(page(
            title,
            &format!("<p class=\"err\">{}</p>", esc(detail)),
        )),
    )
        .into_response()
}

/// Query + form parameters merged (Zoho accepts token parameters in either place).
fn parse_pairs(raw: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

const AUTH_PARAMS: &[&str] = &[
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "access_type",
    "prompt",
    "state",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
];

/// Check the authorize parameters; `Err` is the HTML error page to show (no redirect, as the
/// client or redirect URI cannot be trusted).
fn check_auth_params(st: &State, p: &BTreeMap<String, String>) -> Result<(), Response> {
    let client_id = p.get("client_id").map(String::as_str).unwrap_or("");
    let Some(client) = st.clients.get(client_id) else {
        return Err(error_page(
            "Invalid Client",
            "The client_id is not registered with Zoho Accounts.",
        ));
    };
    let redirect = p.get("redirect_uri").map(String::as_str).unwrap_or("");
    if !redirect_allowed(client, redirect) {
        return Err(error_page(
            "Invalid Redirect Uri",
            "The redirect_uri does not match the one registered for this client.",
        ));
    }
    if p.get("response_type").map(String::as_str) != Some("code") {
        return Err(error_page(
            "Invalid Response Type",
            "response_type must be `code`.",
        ));
    }
    if p.get("scope").is_none_or(|s| s.trim().is_empty()) {
        return Err(error_page(
            "Invalid OAuth Scope",
            "The scope parameter is missing.",
        ));
    }
    let method = p
        .get("code_challenge_method")
        .map(String::as_str)
        .unwrap_or("plain");
    if !["S256", "plain"].contains(&method) {
        return Err(error_page(
            "Invalid code_challenge_method",
            "code_challenge_method must be S256 or plain.",
        ));
    }
    if client.client_secret.is_none() && p.get("code_challenge").is_none_or(String::is_empty) {
        return Err(error_page(
            "PKCE required",
            "This is a mobile/desktop client: code_challenge and code_challenge_method are required.",
        ));
    }
    Ok(())
}

fn redirect_allowed(client: &crate::model::OAuthClient, uri: &str) -> bool {
    if client.redirect_uris.iter().any(|r| r == uri) {
        return true;
    }
    if !client.allow_any_loopback_port {
        return false;
    }
    match url::Url::parse(uri) {
        Ok(u) => {
            u.scheme() == "http"
                && matches!(
                    u.host_str(),
                    Some("127.0.0.1") | Some("localhost") | Some("[::1]")
                )
        }
        Err(_) => false,
    }
}

fn hidden_inputs(p: &BTreeMap<String, String>) -> String {
    AUTH_PARAMS
        .iter()
        .filter_map(|k| {
            p.get(*k).map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    esc(k),
                    esc(v)
                )
            })
        })
        .collect()
}

fn sign_in_form(dc: &str, p: &BTreeMap<String, String>, error: Option<&str>) -> String {
    let hint = p.get("login_hint").cloned().unwrap_or_default();
    let err = error
        .map(|e| format!("<p class=\"err\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Sign in to access Zoho CRM",
        &format!(
            "{err}<form method=\"post\" action=\"/zoho/{dc}/accounts/oauth/v2/auth\">{hidden}\
<label for=\"email\">Email address</label><input type=\"email\" id=\"email\" name=\"email\" value=\"{hint}\" required>\
<label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" required>\
<button type=\"submit\">Sign in</button></form><p><small>Sandbox accounts use the password <code>sandbox</code>.</small></p>",
            dc = esc(dc),
            hidden = hidden_inputs(p),
            hint = esc(&hint),
        ),
    )
}

async fn auth_page(
    AxState(sb): AxState<ZohoSandbox>,
    Path(dc): Path<String>,
    Query(p): Query<BTreeMap<String, String>>,
) -> Response {
    if !is_dc(&dc) {
        return error_page(
            "Unknown data centre",
            &format!("No Zoho accounts server for `{dc}`."),
        );
    }
    let st = sb.inner.state.lock();
    if let Err(resp) = check_auth_params(&st, &p) {
        return resp;
    }
    Html(sign_in_form(&dc, &p, None)).into_response()
}

async fn auth_submit(
    AxState(sb): AxState<ZohoSandbox>,
    Path(dc): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !is_dc(&dc) {
        return error_page(
            "Unknown data centre",
            &format!("No Zoho accounts server for `{dc}`."),
        );
    }
    let form = parse_pairs(&body);
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    if let Err(resp) = check_auth_params(&st, &form) {
        return resp;
    }
    let email = form.get("email").map(String::as_str).unwrap_or("");
    let password = form.get("password").map(String::as_str).unwrap_or("");
    // Sign-in works at any data centre: the account is looked up globally and the code is
    // issued by the account's own data centre (reported as `location`).
    let found = st
        .find_login(email)
        .filter(|(_, u)| u.password == password && u.confirm)
        .map(|(o, u)| (o.id.clone(), u.id.clone(), o.name.clone(), u.full_name()));
    let Some((org_id, user_id, org_name, user_name)) = found else {
        let mut p = form.clone();
        p.insert("login_hint".into(), email.to_string());
        return (
            StatusCode::UNAUTHORIZED,
            Html(sign_in_form(
                &dc,
                &p,
                Some("Invalid email address or password."),
            )),
        )
            .into_response();
    };
    let consent_id = random_hex(16);
    let params: BTreeMap<String, String> = AUTH_PARAMS
        .iter()
        .filter_map(|k| form.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let client_name = st
        .clients
        .get(params.get("client_id").map(String::as_str).unwrap_or(""))
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let scopes: String = params
        .get("scope")
        .map(|s| {
            s.split([',', ' '])
                .filter(|x| !x.is_empty())
                .map(|x| format!("<li><code>{}</code></li>", esc(x)))
                .collect()
        })
        .unwrap_or_default();
    st.consents.insert(
        consent_id.clone(),
        PendingConsent {
            id: consent_id.clone(),
            params,
            org_id,
            user_id,
            expires: now + Duration::minutes(10),
        },
    );
    Html(page(
        "Consent",
        &format!(
            "<p>Signed in as <b>{user}</b> ({org}).</p><p><b>{client}</b> would like to access:</p><ul>{scopes}</ul>\
<form method=\"post\" action=\"/zoho/{dc}/accounts/oauth/v2/auth/consent\">\
<input type=\"hidden\" name=\"consent_id\" value=\"{cid}\">\
<button type=\"submit\" name=\"decision\" value=\"accept\">Accept</button> \
<button type=\"submit\" name=\"decision\" value=\"reject\">Reject</button></form>",
            user = esc(&user_name),
            org = esc(&org_name),
            client = esc(&client_name),
            dc = esc(&dc),
            cid = esc(&consent_id),
        ),
    ))
    .into_response()
}

async fn consent_submit(
    AxState(sb): AxState<ZohoSandbox>,
    Path(_dc): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = parse_pairs(&body);
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    let Some(consent) = form
        .get("consent_id")
        .and_then(|id| st.consents.remove(id))
        .filter(|c| c.expires > now)
    else {
        return error_page(
            "Session expired",
            "This sign-in request is unknown or expired. Start again.",
        );
    };
    let p = &consent.params;
    let redirect = p.get("redirect_uri").cloned().unwrap_or_default();
    let Ok(mut target) = url::Url::parse(&redirect) else {
        return error_page("Invalid Redirect Uri", "The redirect_uri is not a URL.");
    };
    let dc = st
        .orgs
        .get(&consent.org_id)
        .map(|o| o.dc.clone())
        .unwrap_or_else(|| "us".into());
    let accounts_server = format!("{}/zoho/{dc}/accounts", base_url(&headers));
    {
        let mut q = target.query_pairs_mut();
        if form.get("decision").map(String::as_str) != Some("accept") {
            if let Some(s) = p.get("state") {
                q.append_pair("state", s);
            }
            q.append_pair("error", "access_denied");
        } else {
            let code = format!("1000.{}.{}", random_hex(16), random_hex(16));
            let client_id = p.get("client_id").cloned().unwrap_or_default();
            let first_grant = !st
                .grants
                .contains(&format!("{}|{client_id}", consent.user_id));
            let forced = p.get("prompt").map(String::as_str) == Some("consent");
            st.codes.insert(
                code.clone(),
                AuthCode {
                    code: code.clone(),
                    client_id: p.get("client_id").cloned().unwrap_or_default(),
                    redirect_uri: redirect.clone(),
                    dc: dc.clone(),
                    org_id: consent.org_id.clone(),
                    user_id: consent.user_id.clone(),
                    scopes: split_scopes(p.get("scope").map(String::as_str).unwrap_or("")),
                    access_type: p
                        .get("access_type")
                        .cloned()
                        .unwrap_or_else(|| "online".into()),
                    code_challenge: p.get("code_challenge").cloned().filter(|c| !c.is_empty()),
                    code_challenge_method: p
                        .get("code_challenge_method")
                        .cloned()
                        .unwrap_or_else(|| "plain".into()),
                    expires: now + Duration::minutes(2),
                    issue_refresh: first_grant || forced,
                },
            );
            if let Some(s) = p.get("state") {
                q.append_pair("state", s);
            }
            q.append_pair("code", &code);
            q.append_pair("location", &dc);
            q.append_pair("accounts-server", &accounts_server);
        }
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, target.to_string())],
        "",
    )
        .into_response()
}

pub(crate) fn split_scopes(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn oauth_error(error: &str) -> Response {
    (StatusCode::OK, Json(json!({"error": error}))).into_response()
}

/// Tokens minted directly (control API / tests).
#[derive(Debug, Clone, Serialize)]
pub struct MintedToken {
    pub access_token: String,
    pub refresh_token: String,
    pub dc: String,
    pub org_id: String,
    pub user_id: String,
    pub expires_in: i64,
}

/// Issue a refresh token for the user (dropping the oldest beyond 20 per user and client).
fn issue_refresh(
    st: &mut State,
    client_id: &str,
    dc: &str,
    org_id: &str,
    user_id: &str,
    scopes: &[String],
    now: DateTime<Utc>,
) -> String {
    let token = token_string();
    let mut mine: Vec<(DateTime<Utc>, String)> = st
        .refresh_tokens
        .values()
        .filter(|r| r.user_id == user_id && r.client_id == client_id)
        .map(|r| (r.created, r.token.clone()))
        .collect();
    mine.sort();
    while mine.len() >= 20 {
        let (_, old) = mine.remove(0);
        st.refresh_tokens.remove(&old);
        st.access_tokens
            .retain(|_, a| a.refresh_token.as_deref() != Some(old.as_str()));
    }
    st.grants.insert(format!("{user_id}|{client_id}"));
    st.refresh_tokens.insert(
        token.clone(),
        RefreshToken {
            token: token.clone(),
            client_id: client_id.into(),
            dc: dc.into(),
            org_id: org_id.into(),
            user_id: user_id.into(),
            scopes: scopes.to_vec(),
            created: now,
            mint_times: vec![],
            throttled_until: None,
        },
    );
    token
}

/// Mint an access token (enforcing at most 10 live access tokens per refresh token).
#[allow(clippy::too_many_arguments)]
fn issue_access(
    st: &mut State,
    refresh: Option<&str>,
    client_id: &str,
    dc: &str,
    org_id: &str,
    user_id: &str,
    scopes: &[String],
    now: DateTime<Utc>,
) -> String {
    st.access_tokens.retain(|_, a| a.expires > now);
    if let Some(r) = refresh {
        let mut live: Vec<(DateTime<Utc>, String)> = st
            .access_tokens
            .values()
            .filter(|a| a.refresh_token.as_deref() == Some(r))
            .map(|a| (a.created, a.token.clone()))
            .collect();
        live.sort();
        while live.len() >= 10 {
            let (_, old) = live.remove(0);
            st.access_tokens.remove(&old);
        }
    }
    let token = token_string();
    st.access_tokens.insert(
        token.clone(),
        AccessToken {
            token: token.clone(),
            refresh_token: refresh.map(str::to_string),
            client_id: client_id.into(),
            dc: dc.into(),
            org_id: org_id.into(),
            user_id: user_id.into(),
            scopes: scopes.to_vec(),
            created: now,
            expires: now + Duration::seconds(3600),
        },
    );
    token
}

pub(crate) fn mint_for_email(
    st: &mut State,
    email: &str,
    scopes: &[String],
    client_id: &str,
    now: DateTime<Utc>,
) -> Option<MintedToken> {
    let (org_id, user_id, dc) = st
        .find_login(email)
        .filter(|(_, u)| u.confirm)
        .map(|(o, u)| (o.id.clone(), u.id.clone(), o.dc.clone()))?;
    let refresh = issue_refresh(st, client_id, &dc, &org_id, &user_id, scopes, now);
    let access = issue_access(
        st,
        Some(&refresh),
        client_id,
        &dc,
        &org_id,
        &user_id,
        scopes,
        now,
    );
    Some(MintedToken {
        access_token: access,
        refresh_token: refresh,
        dc,
        org_id,
        user_id,
        expires_in: 3600,
    })
}

fn pkce_ok(code: &AuthCode, verifier: Option<&String>) -> bool {
    let Some(challenge) = &code.code_challenge else {
        return true;
    };
    let Some(verifier) = verifier else {
        return false;
    };
    match code.code_challenge_method.as_str() {
        "S256" => {
            let digest = Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == *challenge
        }
        _ => verifier == challenge,
    }
}

async fn token(
    AxState(sb): AxState<ZohoSandbox>,
    Path(dc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let mut p = query;
    p.extend(parse_pairs(&body));
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    st.counters.token_requests += 1;
    let api_domain = format!("{}/zoho/{dc}/api", base_url(&headers));
    let client_id = p.get("client_id").cloned().unwrap_or_default();
    let Some(client) = st.clients.get(&client_id).cloned() else {
        return oauth_error("invalid_client");
    };
    if let Some(secret) = &client.client_secret {
        // A confidential client must authenticate unless the grant is PKCE-bound.
        let given = p.get("client_secret");
        if given.is_some_and(|g| g != secret)
            || (given.is_none() && !p.contains_key("code_verifier"))
        {
            return oauth_error("invalid_client_secret");
        }
    }
    match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code_str = p.get("code").cloned().unwrap_or_default();
            let Some(code) = st.codes.get(&code_str).cloned() else {
                return oauth_error("invalid_code");
            };
            // The code is single-use whatever the outcome.
            st.codes.remove(&code_str);
            if code.expires <= now || code.client_id != client_id || code.dc != dc {
                return oauth_error("invalid_code");
            }
            if p.get("redirect_uri")
                .is_some_and(|r| *r != code.redirect_uri)
            {
                return oauth_error("invalid_redirect_uri");
            }
            if !pkce_ok(&code, p.get("code_verifier")) {
                return (
                    StatusCode::OK,
                    Json(json!({"error": "invalid_code", "error_description": "code_verifier does not match code_challenge"})),
                )
                    .into_response();
            }
            let refresh = (code.access_type == "offline" && code.issue_refresh).then(|| {
                issue_refresh(
                    &mut st,
                    &client_id,
                    &code.dc,
                    &code.org_id,
                    &code.user_id,
                    &code.scopes,
                    now,
                )
            });
            if let Some(r) = &refresh {
                if let Some(rt) = st.refresh_tokens.get_mut(r) {
                    rt.mint_times.push(now);
                }
            }
            let access = issue_access(
                &mut st,
                refresh.as_deref(),
                &client_id,
                &code.dc,
                &code.org_id,
                &code.user_id,
                &code.scopes,
                now,
            );
            let mut body = json!({
                "access_token": access,
                "scope": code.scopes.join(" "),
                "api_domain": api_domain,
                "token_type": "Bearer",
                "expires_in": 3600,
            });
            if let Some(r) = refresh {
                body["refresh_token"] = json!(r);
            }
            Json(body).into_response()
        }
        Some("refresh_token") => {
            let token = p.get("refresh_token").cloned().unwrap_or_default();
            let Some(rt) = st.refresh_tokens.get(&token).cloned() else {
                return oauth_error("invalid_code");
            };
            if rt.client_id != client_id || rt.dc != dc {
                return oauth_error("invalid_code");
            }
            let window = now - Duration::minutes(10);
            let recent: Vec<DateTime<Utc>> = rt
                .mint_times
                .iter()
                .copied()
                .filter(|t| *t > window)
                .collect();
            let throttled = rt.throttled_until.is_some_and(|t| t > now);
            if throttled || recent.len() >= 10 {
                let until = recent.first().copied().unwrap_or(now) + Duration::minutes(10);
                if let Some(r) = st.refresh_tokens.get_mut(&token) {
                    r.throttled_until = Some(rt.throttled_until.unwrap_or(until).max(until));
                }
                st.counters.throttled += 1;
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({
                        "error_description": "You have made too many requests continuously. Please try again after some time.",
                        "error": "Access Denied",
                        "status": "failure",
                    })),
                )
                    .into_response();
            }
            if let Some(r) = st.refresh_tokens.get_mut(&token) {
                r.mint_times = recent;
                r.mint_times.push(now);
                r.throttled_until = None;
            }
            let access = issue_access(
                &mut st,
                Some(&token),
                &client_id,
                &rt.dc,
                &rt.org_id,
                &rt.user_id,
                &rt.scopes,
                now,
            );
            Json(json!({
                "access_token": access,
                "scope": rt.scopes.join(" "),
                "api_domain": api_domain,
                "token_type": "Bearer",
                "expires_in": 3600,
            }))
            .into_response()
        }
        _ => oauth_error("unsupported_grant_type"),
    }
}

async fn revoke(
    AxState(sb): AxState<ZohoSandbox>,
    Path(dc): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let mut p = query;
    p.extend(parse_pairs(&body));
    let mut st = sb.inner.state.lock();
    let token = p.get("token").cloned().unwrap_or_default();
    match st.refresh_tokens.get(&token) {
        Some(rt) if rt.dc == dc => {
            let (user, client) = (rt.user_id.clone(), rt.client_id.clone());
            st.refresh_tokens.remove(&token);
            // The grant ends with the user's last refresh token for the client.
            if !st
                .refresh_tokens
                .values()
                .any(|r| r.user_id == user && r.client_id == client)
            {
                st.grants.remove(&format!("{user}|{client}"));
            }
            st.access_tokens
                .retain(|_, a| a.refresh_token.as_deref() != Some(token.as_str()));
            Json(json!({"status": "success"})).into_response()
        }
        _ => {
            if st.access_tokens.remove(&token).is_some() {
                return Json(json!({"status": "success"})).into_response();
            }
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_token", "status": "failure"})),
            )
                .into_response()
        }
    }
}

async fn serverinfo(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let locations: serde_json::Map<String, serde_json::Value> = crate::model::DATA_CENTRES
        .iter()
        .map(|(dc, _)| (dc.to_string(), json!(format!("{base}/zoho/{dc}/accounts"))))
        .collect();
    Json(json!({"result": "success", "locations": locations})).into_response()
}
