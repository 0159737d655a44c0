//! The control API (`/control/graph/...`): ours, for tests, scripts and the
//! demo. Seeding, tokens without the browser flow, expiring tokens and delta
//! tokens, faults and limits, the clock, sent mail / invitations / request
//! counters, snapshots.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::{new_guid, User};
use crate::{Faults, GraphState, Limits};

pub(crate) fn routes() -> Router<GraphState> {
    Router::new()
        .route("/control/graph", get(index))
        .route("/control/graph/users", get(users).post(add_user))
        .route("/control/graph/seed", post(seed))
        .route("/control/graph/reset", post(reset))
        .route("/control/graph/tokens", post(mint))
        .route("/control/graph/tokens/expire", post(expire_tokens))
        .route("/control/graph/refresh-tokens/revoke", post(revoke_refresh))
        .route("/control/graph/refresh-tokens/expire", post(expire_refresh))
        .route("/control/graph/delta/expire", post(expire_delta))
        .route("/control/graph/faults", get(get_faults).put(put_faults))
        .route("/control/graph/limits", get(get_limits).put(put_limits))
        .route("/control/graph/clock/advance", post(advance))
        .route("/control/graph/counters", get(all_counters))
        .route("/control/graph/counters/reset", post(reset_counters))
        .route("/control/graph/mailboxes/{user}/{what}", get(mailbox_view))
        .route("/control/graph/snapshot", get(snapshot).put(load_snapshot))
}

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

async fn index() -> Json<Value> {
    Json(json!({
        "endpoints": [
            "GET  /control/graph/users", "POST /control/graph/users", "POST /control/graph/seed", "POST /control/graph/reset",
            "POST /control/graph/tokens", "POST /control/graph/tokens/expire", "POST /control/graph/refresh-tokens/revoke",
            "POST /control/graph/refresh-tokens/expire", "POST /control/graph/delta/expire",
            "GET|PUT /control/graph/faults", "GET|PUT /control/graph/limits", "POST /control/graph/clock/advance",
            "GET /control/graph/counters", "POST /control/graph/counters/reset",
            "GET /control/graph/mailboxes/{user}/inbox|sent|invitations|counters",
            "GET|PUT /control/graph/snapshot"
        ]
    }))
}

async fn users(State(state): State<GraphState>) -> Json<Value> {
    let data = state.shared.data.lock();
    let list: Vec<Value> = data
        .users
        .iter()
        .map(|u| json!({"id": u.id, "userPrincipalName": u.user_principal_name, "mail": u.mail, "displayName": u.display_name, "preferredLanguage": u.preferred_language}))
        .collect();
    Json(json!({"tenantId": data.tenant_id, "tenantDomain": data.tenant_domain, "users": list}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewUser {
    user_principal_name: String,
    display_name: String,
    #[serde(default)]
    mail: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    surname: Option<String>,
    #[serde(default)]
    job_title: Option<String>,
    #[serde(default)]
    preferred_language: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

async fn add_user(State(state): State<GraphState>, Json(u): Json<NewUser>) -> Response {
    if !u.user_principal_name.contains('@') {
        return err(
            StatusCode::BAD_REQUEST,
            "invalidUser",
            "userPrincipalName must be an email-style name",
        );
    }
    let now = state.now();
    let mut data = state.shared.data.lock();
    if data.find_user(&u.user_principal_name).is_some() {
        return err(
            StatusCode::CONFLICT,
            "userExists",
            format!("{} already exists", u.user_principal_name),
        );
    }
    let id = new_guid();
    data.add_user(
        User {
            id: id.clone(),
            mail: Some(u.mail.unwrap_or_else(|| u.user_principal_name.clone())),
            user_principal_name: u.user_principal_name,
            display_name: u.display_name,
            given_name: u.given_name,
            surname: u.surname,
            job_title: u.job_title,
            office_location: None,
            preferred_language: u.preferred_language,
            mobile_phone: None,
            business_phones: Vec::new(),
            password: u
                .password
                .unwrap_or_else(|| crate::DEMO_PASSWORD.to_string()),
        },
        now,
    );
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

async fn seed(State(state): State<GraphState>) -> Json<Value> {
    state.seed_demo();
    *state.shared.counters.lock() = Default::default();
    Json(json!({"seeded": true}))
}

async fn reset(State(state): State<GraphState>) -> Json<Value> {
    {
        let mut data = state.shared.data.lock();
        let (tid, dom) = (data.tenant_id.clone(), data.tenant_domain.clone());
        *data = crate::store::Data {
            tenant_id: tid,
            tenant_domain: dom,
            ..Default::default()
        };
    }
    *state.shared.counters.lock() = Default::default();
    Json(json!({"reset": true}))
}

#[derive(Deserialize)]
struct MintRequest {
    user: String,
    scopes: Value,
    /// Binds the refresh token to this client id (any client when absent).
    #[serde(default)]
    client_id: Option<String>,
}

async fn mint(State(state): State<GraphState>, Json(req): Json<MintRequest>) -> Response {
    let scopes: Vec<String> = match &req.scopes {
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => {
            return err(
                StatusCode::BAD_REQUEST,
                "invalidScopes",
                "scopes must be a string or an array of strings",
            )
        }
    };
    let minted = match &req.client_id {
        Some(c) => state.mint_token_for_client(&req.user, &scopes, c),
        None => state.mint_token(&req.user, &scopes),
    };
    match minted {
        Ok(t) => Json(t).into_response(),
        Err(e) => err(e.status, &e.code, e.message),
    }
}

#[derive(Deserialize, Default)]
struct UserFilter {
    #[serde(default)]
    user: Option<String>,
}

fn resolve_user(state: &GraphState, f: &UserFilter) -> Result<Option<String>, Box<Response>> {
    match &f.user {
        None => Ok(None),
        Some(u) => state
            .shared
            .data
            .lock()
            .find_user(u)
            .map(|x| Some(x.id.clone()))
            .ok_or_else(|| {
                Box::new(err(
                    StatusCode::NOT_FOUND,
                    "userNotFound",
                    format!("No user {u}"),
                ))
            }),
    }
}

async fn expire_tokens(
    State(state): State<GraphState>,
    body: Option<Json<UserFilter>>,
) -> Response {
    let f = body.map(|b| b.0).unwrap_or_default();
    let uid = match resolve_user(&state, &f) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let past = state.now() - chrono::Duration::seconds(1);
    let mut data = state.shared.data.lock();
    let mut n = 0;
    for g in data.access_tokens.values_mut() {
        if uid.as_ref().is_none_or(|u| *u == g.user_id) && g.expires_at > past {
            g.expires_at = past;
            n += 1;
        }
    }
    Json(json!({"expired": n})).into_response()
}

async fn revoke_refresh(
    State(state): State<GraphState>,
    body: Option<Json<UserFilter>>,
) -> Response {
    let f = body.map(|b| b.0).unwrap_or_default();
    let uid = match resolve_user(&state, &f) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let mut data = state.shared.data.lock();
    let mut n = 0;
    for g in data.refresh_tokens.values_mut() {
        if uid.as_ref().is_none_or(|u| *u == g.user_id) && !g.revoked {
            g.revoked = true;
            n += 1;
        }
    }
    Json(json!({"revoked": n})).into_response()
}

async fn expire_refresh(
    State(state): State<GraphState>,
    body: Option<Json<UserFilter>>,
) -> Response {
    let f = body.map(|b| b.0).unwrap_or_default();
    let uid = match resolve_user(&state, &f) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let past = state.now() - chrono::Duration::seconds(1);
    let mut data = state.shared.data.lock();
    let mut n = 0;
    for g in data.refresh_tokens.values_mut() {
        if uid.as_ref().is_none_or(|u| *u == g.user_id) {
            g.expires_at = past;
            n += 1;
        }
    }
    Json(json!({"expired": n})).into_response()
}

async fn expire_delta(State(state): State<GraphState>, body: Option<Json<UserFilter>>) -> Response {
    let f = body.map(|b| b.0).unwrap_or_default();
    let uid = match resolve_user(&state, &f) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let mut data = state.shared.data.lock();
    let mut n = 0;
    for (id, mb) in data.mailboxes.iter_mut() {
        if uid.as_ref().is_none_or(|u| u == id) {
            mb.delta_epoch += 1;
            n += 1;
        }
    }
    Json(json!({"mailboxes": n})).into_response()
}

async fn get_faults(State(state): State<GraphState>) -> Json<Faults> {
    Json(state.faults())
}

async fn put_faults(State(state): State<GraphState>, Json(f): Json<Faults>) -> Response {
    if !(0.0..=1.0).contains(&f.error_rate) {
        return err(
            StatusCode::BAD_REQUEST,
            "invalidFaults",
            "error_rate must be between 0 and 1",
        );
    }
    if f.error_status
        .is_some_and(|s| StatusCode::from_u16(s).is_err() || s < 400)
    {
        return err(
            StatusCode::BAD_REQUEST,
            "invalidFaults",
            "error_status must be an HTTP error status",
        );
    }
    state.set_faults(f.clone());
    Json(f).into_response()
}

async fn get_limits(State(state): State<GraphState>) -> Json<Limits> {
    Json(state.limits())
}

async fn put_limits(State(state): State<GraphState>, Json(l): Json<Limits>) -> Response {
    if l.concurrency == 0
        || l.window_requests == 0
        || l.window_secs == 0
        || l.token_lifetime_secs <= 0
        || l.window_secs > MAX_SECS as u64
        || l.token_lifetime_secs > MAX_SECS
    {
        return err(
            StatusCode::BAD_REQUEST,
            "invalidLimits",
            "limits must be positive (windows and lifetimes at most 10 years)",
        );
    }
    state.set_limits(l.clone());
    Json(l).into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

/// Ten years: the largest clock step, window or token lifetime accepted.
const MAX_SECS: i64 = 10 * 366 * 24 * 3600;

async fn advance(State(state): State<GraphState>, Json(a): Json<Advance>) -> Response {
    if !(0..=MAX_SECS).contains(&a.seconds) {
        return err(
            StatusCode::BAD_REQUEST,
            "invalidClockStep",
            "seconds must be between 0 and ten years (the clock only moves forward)",
        );
    }
    state.advance_clock(chrono::Duration::seconds(a.seconds));
    Json(json!({"now": state.now().to_rfc3339()})).into_response()
}

fn counters_json(state: &GraphState, uid: &str) -> Value {
    let limits = state.limits();
    let now = state.now();
    let window = chrono::Duration::seconds(limits.window_secs as i64);
    let counters = state.shared.counters.lock();
    match counters.get(uid) {
        Some(c) => json!({
            "total": c.total,
            "inWindow": c.window.iter().filter(|t| **t + window > now).count(),
            "inFlight": c.in_flight,
            "throttled": c.throttled,
        }),
        None => json!({"total": 0, "inWindow": 0, "inFlight": 0, "throttled": 0}),
    }
}

async fn all_counters(State(state): State<GraphState>) -> Json<Value> {
    let users: Vec<(String, String)> = state
        .shared
        .data
        .lock()
        .users
        .iter()
        .map(|u| (u.id.clone(), u.user_principal_name.clone()))
        .collect();
    let mut out = serde_json::Map::new();
    for (id, upn) in users {
        out.insert(upn, counters_json(&state, &id));
    }
    Json(Value::Object(out))
}

async fn reset_counters(State(state): State<GraphState>) -> Json<Value> {
    state.shared.counters.lock().clear();
    Json(json!({"reset": true}))
}

async fn mailbox_view(
    State(state): State<GraphState>,
    Path((user, what)): Path<(String, String)>,
) -> Response {
    let uid = match state.shared.data.lock().find_user(&user) {
        Some(u) => u.id.clone(),
        None => {
            return err(
                StatusCode::NOT_FOUND,
                "userNotFound",
                format!("No user {user}"),
            )
        }
    };
    if what == "counters" {
        return Json(counters_json(&state, &uid)).into_response();
    }
    let data = state.shared.data.lock();
    let Some(mb) = data.mailboxes.get(&uid) else {
        return err(StatusCode::NOT_FOUND, "mailboxNotFound", "No mailbox");
    };
    let list = match what.as_str() {
        "inbox" | "messages" => &mb.inbox,
        "sent" => &mb.sent,
        "invitations" => &mb.invitations,
        _ => {
            return err(
                StatusCode::NOT_FOUND,
                "unknownView",
                "Use inbox, sent, invitations or counters",
            )
        }
    };
    Json(json!({"value": list})).into_response()
}

async fn snapshot(State(state): State<GraphState>) -> Response {
    match state.snapshot_json() {
        Ok(s) => ([(axum::http::header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "snapshotFailed",
            e.to_string(),
        ),
    }
}

async fn load_snapshot(State(state): State<GraphState>, body: String) -> Response {
    match state.load_snapshot_json(&body) {
        Ok(()) => Json(json!({"loaded": true})).into_response(),
        Err(e) => err(StatusCode::BAD_REQUEST, "invalidSnapshot", e.to_string()),
    }
}
