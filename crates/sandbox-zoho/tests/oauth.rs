//! Zoho accounts OAuth: sign-in + consent pages, PKCE, token, refresh, revoke and limits;
//! API authentication errors.

mod common;

use base64::Engine;
use chrono::Duration;
use common::*;
use crmsync_sandbox_zoho::DEMO_CLIENT_ID;
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

const REDIRECT: &str = "http://127.0.0.1:53682/callback";

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn auth_query(challenge: &str, method: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", DEMO_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "ZohoCRM.modules.ALL,ZohoCRM.users.READ")
        .append_pair("access_type", "offline")
        .append_pair("state", "st-123")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", method)
        .finish()
}

/// Walk the HTML pages: sign in as `email` at `dc`, accept; returns the redirect query pairs.
async fn sign_in(
    env: &Env,
    dc: &str,
    email: &str,
    challenge: &str,
    method: &str,
) -> Vec<(String, String)> {
    sign_in_with(env, dc, email, challenge, method, &[]).await
}

async fn sign_in_with(
    env: &Env,
    dc: &str,
    email: &str,
    challenge: &str,
    method: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut q = auth_query(challenge, method);
    for (k, v) in extra {
        q.push_str(&format!("&{k}={v}"));
    }
    let page = env
        .http
        .get(format!("{}/oauth/v2/auth?{q}", env.accounts(dc)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form") && html.contains("name=\"password\""),
        "{html}"
    );
    let mut form: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    form.push(("email".into(), email.into()));
    form.push(("password".into(), "sandbox".into()));
    let consent = env
        .http
        .post(format!("{}/oauth/v2/auth", env.accounts(dc)))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.unwrap();
    let marker = "name=\"consent_id\" value=\"";
    let start = html.find(marker).expect("consent form") + marker.len();
    let id = &html[start..start + html[start..].find('"').unwrap()];
    let redirect = env
        .http
        .post(format!("{}/oauth/v2/auth/consent", env.accounts(dc)))
        .form(&[("consent_id", id), ("decision", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    let loc = redirect.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(REDIRECT), "{loc}");
    url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], k: &str) -> &'a str {
    pairs
        .iter()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

async fn token_call(env: &Env, dc: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = env
        .http
        .post(format!("{}/oauth/v2/token", env.accounts(dc)))
        .form(form)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}

async fn exchange(env: &Env, dc: &str, code: &str, verifier: &str) -> (u16, Value) {
    token_call(
        env,
        dc,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DEMO_CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("code", code),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(env: &Env, dc: &str, rt: &str) -> (u16, Value) {
    token_call(
        env,
        dc,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEMO_CLIENT_ID),
            ("refresh_token", rt),
        ],
    )
    .await
}

#[tokio::test]
async fn s256_flow_us_token_refresh_revoke() {
    let env = start().await;
    let verifier = "verifier-0123456789-0123456789-0123456789-abcdefgh";
    let pairs = sign_in(&env, "us", AIKO, &s256(verifier), "S256").await;
    assert_eq!(param(&pairs, "state"), "st-123");
    assert_eq!(param(&pairs, "location"), "us");
    assert_eq!(param(&pairs, "accounts-server"), env.accounts("us"));
    let (_, tok) = exchange(&env, "us", param(&pairs, "code"), verifier).await;
    assert_eq!(tok["expires_in"], 3600, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["api_domain"], format!("{}/zoho/us/api", env.base));
    let access = tok["access_token"].as_str().unwrap().to_string();
    let rt = tok["refresh_token"].as_str().unwrap().to_string();
    let me = env.get(&access, "/users?type=CurrentUser").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["users"][0]["email"], AIKO);
    // refresh: new access token, no refresh_token key
    let (_, r) = refresh(&env, "us", &rt).await;
    assert!(r["access_token"].is_string(), "{r}");
    assert!(r.get("refresh_token").is_none());
    assert_eq!(r["expires_in"], 3600);
    // the code is single-use
    let (_, again) = exchange(&env, "us", param(&pairs, "code"), verifier).await;
    assert_eq!(again["error"], "invalid_code");
    // revoke kills the refresh token and its access tokens
    let rv = env
        .http
        .post(format!(
            "{}/oauth/v2/token/revoke?token={rt}",
            env.accounts("us")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(rv.json::<Value>().await.unwrap()["status"], "success");
    assert_error(
        &env.get(&access, "/users?type=CurrentUser").await,
        401,
        "INVALID_TOKEN",
    );
    let (_, dead) = refresh(&env, "us", &rt).await;
    assert_eq!(dead["error"], "invalid_code");
}

#[tokio::test]
async fn plain_pkce_non_us_user_gets_own_location() {
    let env = start().await;
    // Kenji belongs to the jp data centre; he signs in at the us accounts page.
    let pairs = sign_in(&env, "us", KENJI, "plain-verifier-value", "plain").await;
    assert_eq!(param(&pairs, "location"), "jp");
    assert_eq!(param(&pairs, "accounts-server"), env.accounts("jp"));
    // The code must be exchanged at the accounts server of its data centre.
    let code = param(&pairs, "code").to_string();
    let (_, wrong_dc) = exchange(&env, "us", &code, "plain-verifier-value").await;
    assert_eq!(wrong_dc["error"], "invalid_code");
    let pairs = sign_in(&env, "jp", KENJI, "plain-verifier-value", "plain").await;
    let (_, tok) = exchange(&env, "jp", param(&pairs, "code"), "plain-verifier-value").await;
    assert_eq!(tok["api_domain"], format!("{}/zoho/jp/api", env.base));
    let access = tok["access_token"].as_str().unwrap();
    let ok = env
        .send(
            Method::GET,
            &format!("{}/users?type=CurrentUser", env.api("jp")),
            Some(access),
            None,
            &[],
        )
        .await;
    assert_eq!(ok.body["users"][0]["email"], KENJI);
    // A jp token at the us API host fails as on the real service.
    assert_error(
        &env.get(access, "/users?type=CurrentUser").await,
        401,
        "INVALID_TOKEN",
    );
}

#[tokio::test]
async fn wrong_verifier_expired_code_and_token_errors() {
    let env = start().await;
    let pairs = sign_in(
        &env,
        "us",
        BEN,
        &s256("right-verifier-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        "S256",
    )
    .await;
    let (_, bad) = exchange(&env, "us", param(&pairs, "code"), "wrong-verifier").await;
    assert_eq!(bad["error"], "invalid_code");
    assert!(bad.get("access_token").is_none());
    // expired code (2 minutes)
    let v = "expiry-verifier-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let pairs = sign_in(&env, "us", BEN, &s256(v), "S256").await;
    env.sb.advance_clock(Duration::seconds(121));
    let (_, exp) = exchange(&env, "us", param(&pairs, "code"), v).await;
    assert_eq!(exp["error"], "invalid_code");
    // unknown client, unsupported grant, confidential client with a wrong secret
    let (_, c) = token_call(
        &env,
        "us",
        &[("grant_type", "authorization_code"), ("client_id", "nope")],
    )
    .await;
    assert_eq!(c["error"], "invalid_client");
    let (_, g) = token_call(
        &env,
        "us",
        &[("grant_type", "password"), ("client_id", DEMO_CLIENT_ID)],
    )
    .await;
    assert_eq!(g["error"], "unsupported_grant_type");
    let (_, s) = token_call(
        &env,
        "us",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "1000.SANDBOXCRMSYNCSERVERCLIENT"),
            ("client_secret", "wrong"),
            ("refresh_token", "x"),
        ],
    )
    .await;
    assert_eq!(s["error"], "invalid_client_secret");
}

#[tokio::test]
async fn auth_page_errors_and_rejected_consent() {
    let env = start().await;
    let get = |q: String| {
        let url = format!("{}/oauth/v2/auth?{q}", env.accounts("us"));
        let http = env.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (s, html) = get(auth_query("c", "S256").replace(DEMO_CLIENT_ID, "unknown")).await;
    assert_eq!(s, 400);
    assert!(html.contains("Invalid Client"));
    let (s, html) = get(auth_query("c", "S256").replace("127.0.0.1", "evil.example")).await;
    assert_eq!(s, 400);
    assert!(html.contains("Invalid Redirect Uri"));
    let (s, html) = get(auth_query("", "S256")).await;
    assert_eq!(s, 400, "desktop client needs PKCE");
    assert!(html.contains("PKCE"));
    let (s, _) = get(auth_query("c", "S512")).await;
    assert_eq!(s, 400);
    // wrong password re-renders the form with an error
    let mut form: Vec<(String, String)> =
        url::form_urlencoded::parse(auth_query("c", "plain").as_bytes())
            .into_owned()
            .collect();
    form.push(("email".into(), AIKO.into()));
    form.push(("password".into(), "nope".into()));
    let r = env
        .http
        .post(format!("{}/oauth/v2/auth", env.accounts("us")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Invalid email address or password"));
    // reject → error=access_denied with state
    form.pop();
    form.push(("password".into(), "sandbox".into()));
    let html = env
        .http
        .post(format!("{}/oauth/v2/auth", env.accounts("us")))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"consent_id\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let id = &html[start..start + html[start..].find('"').unwrap()];
    let r = env
        .http
        .post(format!("{}/oauth/v2/auth/consent", env.accounts("us")))
        .form(&[("consent_id", id), ("decision", "reject")])
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(
        loc.contains("error=access_denied") && loc.contains("state=st-123"),
        "{loc}"
    );
    assert!(!loc.contains("code="));
}

#[tokio::test]
async fn refresh_token_only_on_first_grant_or_prompt_consent() {
    let env = start().await;
    let v = "grant-verifier-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let pairs = sign_in(&env, "us", HARUTO, &s256(v), "S256").await;
    let (_, first) = exchange(&env, "us", param(&pairs, "code"), v).await;
    assert!(first["refresh_token"].is_string(), "{first}");
    // second authorization without prompt=consent: no new refresh token
    let pairs = sign_in(&env, "us", HARUTO, &s256(v), "S256").await;
    let (_, second) = exchange(&env, "us", param(&pairs, "code"), v).await;
    assert!(second["access_token"].is_string());
    assert!(second.get("refresh_token").is_none(), "{second}");
    // prompt=consent forces a new refresh token
    let pairs = sign_in_with(
        &env,
        "us",
        HARUTO,
        &s256(v),
        "S256",
        &[("prompt", "consent")],
    )
    .await;
    let (_, third) = exchange(&env, "us", param(&pairs, "code"), v).await;
    assert!(third["refresh_token"].is_string(), "{third}");
}

#[tokio::test]
async fn refresh_token_limits() {
    let env = start().await;
    let minted = env.sb.mint_token(AIKO, ALL_SCOPES).unwrap();
    // 10 access tokens per refresh token per 10 minutes (mint_token itself does not count).
    let mut tokens = vec![];
    for i in 0..10 {
        let (s, r) = refresh(&env, "us", &minted.refresh_token).await;
        assert_eq!(s, 200, "refresh {i}: {r}");
        tokens.push(r["access_token"].as_str().unwrap().to_string());
    }
    let (s, r) = refresh(&env, "us", &minted.refresh_token).await;
    assert_eq!(s, 400);
    assert_eq!(r["error"], "Access Denied");
    assert!(r["error_description"]
        .as_str()
        .unwrap()
        .contains("too many requests"));
    // At most 10 live access tokens: the directly minted one was dropped.
    assert_error(
        &env.get(&minted.access_token, "/users?type=CurrentUser")
            .await,
        401,
        "INVALID_TOKEN",
    );
    assert_eq!(
        env.get(&tokens[9], "/users?type=CurrentUser").await.status,
        200
    );
    env.sb
        .advance_clock(Duration::minutes(10) + Duration::seconds(1));
    let (s, r) = refresh(&env, "us", &minted.refresh_token).await;
    assert_eq!(s, 200, "{r}");
    // the oldest live access token was invalidated by the 11th
    assert_error(
        &env.get(&tokens[0], "/users?type=CurrentUser").await,
        401,
        "INVALID_TOKEN",
    );
    assert_eq!(
        env.get(&tokens[1], "/users?type=CurrentUser").await.status,
        200
    );
}

#[tokio::test]
async fn twenty_refresh_tokens_per_user_oldest_dropped() {
    let env = start().await;
    let first = env.sb.mint_token(BEN, ALL_SCOPES).unwrap();
    for _ in 0..19 {
        env.sb.advance_clock(Duration::milliseconds(5));
        env.sb.mint_token(BEN, ALL_SCOPES).unwrap();
    }
    let (s, _) = refresh(&env, "us", &first.refresh_token).await;
    assert_eq!(s, 200, "20 refresh tokens are allowed");
    env.sb.advance_clock(Duration::milliseconds(5));
    env.sb.mint_token(BEN, ALL_SCOPES).unwrap();
    let (_, r) = refresh(&env, "us", &first.refresh_token).await;
    assert_eq!(r["error"], "invalid_code", "the 21st drops the oldest");
}

#[tokio::test]
async fn api_auth_errors() {
    let env = start().await;
    let url = format!("{}/Contacts?fields=Last_Name", env.api("us"));
    assert_error(
        &env.send(Method::GET, &url, None, None, &[]).await,
        401,
        "AUTHENTICATION_FAILURE",
    );
    assert_error(
        &env.send(Method::GET, &url, Some("1000.bogus.bogus"), None, &[])
            .await,
        401,
        "INVALID_TOKEN",
    );
    let t = env.token(AIKO);
    env.sb.advance_clock(Duration::seconds(3601));
    assert_error(
        &env.send(Method::GET, &url, Some(&t), None, &[]).await,
        401,
        "INVALID_TOKEN",
    );
    let users_only = env.token_scopes(AIKO, &["ZohoCRM.users.READ"]);
    assert_error(
        &env.send(Method::GET, &url, Some(&users_only), None, &[])
            .await,
        401,
        "OAUTH_SCOPE_MISMATCH",
    );
    let contacts_read = env.token_scopes(AIKO, &["ZohoCRM.modules.contacts.READ"]);
    assert_eq!(
        env.send(Method::GET, &url, Some(&contacts_read), None, &[])
            .await
            .status,
        200
    );
    let r = env
        .post(
            &contacts_read,
            "/Contacts",
            serde_json::json!({"data": [{"Last_Name": "X"}]}),
        )
        .await;
    assert_error(&r, 401, "OAUTH_SCOPE_MISMATCH");
    let t = env.token(AIKO);
    let eu = format!("{}/Contacts?fields=Last_Name", env.api("eu"));
    assert_error(
        &env.send(Method::GET, &eu, Some(&t), None, &[]).await,
        401,
        "INVALID_TOKEN",
    );
    let bad_host = format!("{}/zoho/xx/api/crm/v8/Contacts?fields=Last_Name", env.base);
    assert_error(
        &env.send(Method::GET, &bad_host, Some(&t), None, &[]).await,
        400,
        "INVALID_HOST",
    );
    assert_error(
        &env.get(&t, "/Leadz?fields=Last_Name").await,
        400,
        "INVALID_MODULE",
    );
    let v2 = format!("{}/zoho/us/api/crm/v1/Contacts", env.base);
    assert_error(
        &env.send(Method::GET, &v2, Some(&t), None, &[]).await,
        404,
        "INVALID_URL_PATTERN",
    );
    assert_error(
        &env.send(Method::PATCH, &url, Some(&t), None, &[]).await,
        405,
        "INVALID_REQUEST_METHOD",
    );
}
