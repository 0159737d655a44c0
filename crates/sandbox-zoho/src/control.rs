//! Control API for tests, scripts and the demo (`/control/zoho/...`): seed orgs, users and
//! records with a chosen origin, mass updates, custom fields, tokens without the browser flow,
//! faults, limits, clock, counters, sent mails and snapshots. See README.md for the list.
// Handlers return ready HTTP responses as errors; their size is irrelevant here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{batch_response, run_mass_update};
use crate::fields::{self, CUSTOM_TYPES};
use crate::model::{module_name, Edition, FieldDef, State, DATA_CENTRES};
use crate::oauth::{base_url, mint_for_email, split_scopes};
use crate::records::{self, Origin};
use crate::seed::{self, NewUser, DEMO_CLIENT_ID, DEMO_PASSWORD};
use crate::ZohoSandbox;

pub(crate) fn routes() -> Router<ZohoSandbox> {
    Router::new()
        .route("/control/zoho", get(summary))
        .route("/control/zoho/reset", post(reset))
        .route("/control/zoho/orgs", post(create_org))
        .route("/control/zoho/orgs/{org_id}/limits", put(set_limits))
        .route("/control/zoho/users", post(create_user))
        .route("/control/zoho/profiles", post(create_profile))
        .route("/control/zoho/roles", post(create_role))
        .route("/control/zoho/users/{user_id}/status", put(set_user_status))
        .route("/control/zoho/invitations", get(invitations))
        .route(
            "/control/zoho/invitations/{user_id}/accept",
            post(accept_invitation),
        )
        .route("/control/zoho/mails", get(mails))
        .route("/control/zoho/tokens", post(tokens))
        .route("/control/zoho/clients", post(create_client))
        .route(
            "/control/zoho/records/{module}",
            post(create_records).put(update_records),
        )
        .route("/control/zoho/records/{module}", delete(delete_records))
        .route(
            "/control/zoho/records/{module}/mass_update",
            post(mass_update),
        )
        .route("/control/zoho/recycle_bin/empty", post(empty_recycle_bin))
        .route("/control/zoho/generate", post(generate))
        .route("/control/zoho/fields/{module}", post(add_field))
        .route("/control/zoho/faults", get(get_faults).put(put_faults))
        .route("/control/zoho/counters", get(counters))
        .route("/control/zoho/clock", post(clock))
        .route("/control/zoho/snapshot", get(snapshot).put(load_snapshot))
}

fn fail(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

/// The org and user behind an email.
fn actor(st: &State, email: &str) -> Result<(String, String), Response> {
    st.orgs
        .values()
        .find_map(|o| o.user_by_email(email).map(|u| (o.id.clone(), u.id.clone())))
        .ok_or_else(|| {
            fail(
                StatusCode::NOT_FOUND,
                format!("no CRM user with email {email}"),
            )
        })
}

async fn summary(AxState(sb): AxState<ZohoSandbox>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let st = sb.inner.state.lock();
    let orgs: Vec<Value> = st
        .orgs
        .values()
        .map(|o| {
            json!({
                "id": o.id, "dc": o.dc, "name": o.name, "edition": o.edition, "time_zone": o.time_zone,
                "license_limit": o.license_limit,
                "users": o.users.iter().map(|u| json!({"id": u.id, "email": u.email, "full_name": u.full_name(),
                    "profile": o.profile(&u.profile_id).map(|p| p.name.clone()), "status": u.status, "confirm": u.confirm})).collect::<Vec<_>>(),
                "records": o.records.iter().map(|(m, r)| (m.clone(), json!(r.len()))).collect::<serde_json::Map<_, _>>(),
                "api": format!("{base}/zoho/{}/api", o.dc),
                "accounts": format!("{base}/zoho/{}/accounts", o.dc),
            })
        })
        .collect();
    Json(json!({
        "orgs": orgs,
        "clients": st.clients.values().map(|c| json!({"client_id": c.client_id, "confidential": c.client_secret.is_some(),
            "redirect_uris": c.redirect_uris, "any_loopback_port": c.allow_any_loopback_port})).collect::<Vec<_>>(),
        "data_centres": DATA_CENTRES.iter().map(|(d, real)| json!({"dc": d, "real_accounts_server": real,
            "accounts": format!("{base}/zoho/{d}/accounts"), "api": format!("{base}/zoho/{d}/api")})).collect::<Vec<_>>(),
        "demo_password": DEMO_PASSWORD,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ResetReq {
    #[serde(default)]
    seed: bool,
}

async fn reset(AxState(sb): AxState<ZohoSandbox>, Json(r): Json<ResetReq>) -> Response {
    {
        let mut st = sb.inner.state.lock();
        let clients = std::mem::take(&mut st.clients);
        *st = State {
            clients,
            ..State::default()
        };
    }
    if r.seed {
        sb.seed_demo();
    }
    Json(json!({"status": "ok"})).into_response()
}

#[derive(Deserialize)]
struct AdminReq {
    email: String,
    #[serde(default)]
    first_name: Option<String>,
    last_name: String,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
struct OrgReq {
    dc: String,
    name: String,
    #[serde(default)]
    edition: Option<Edition>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    license_limit: Option<u32>,
    admin: AdminReq,
}

async fn create_org(AxState(sb): AxState<ZohoSandbox>, Json(r): Json<OrgReq>) -> Response {
    if !crate::model::is_dc(&r.dc) {
        return fail(
            StatusCode::BAD_REQUEST,
            format!("unknown data centre {}", r.dc),
        );
    }
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    if st.find_login(&r.admin.email).is_some() {
        return fail(
            StatusCode::CONFLICT,
            format!("{} already exists", r.admin.email),
        );
    }
    let tz = r.time_zone.unwrap_or_else(|| "UTC".into());
    let org_id = seed::new_org(
        &mut st,
        &r.dc,
        &r.name,
        r.edition.unwrap_or(sb.inner.options.edition),
        &tz,
        r.license_limit.unwrap_or(10),
        Some(&sb.inner.options),
    );
    let res = seed::add_user(
        &mut st,
        &org_id,
        NewUser {
            email: &r.admin.email,
            first_name: r.admin.first_name.as_deref(),
            last_name: &r.admin.last_name,
            profile: "Administrator",
            role: "CEO",
            time_zone: r.admin.time_zone.as_deref().unwrap_or(&tz),
            locale: "en_US",
            password: r.admin.password.as_deref().unwrap_or(DEMO_PASSWORD),
            confirmed: true,
        },
        now,
    );
    match res {
        Ok(uid) => (
            StatusCode::CREATED,
            Json(json!({"org_id": org_id, "admin_user_id": uid, "dc": r.dc})),
        )
            .into_response(),
        Err(e) => {
            st.orgs.remove(&org_id);
            fail(StatusCode::BAD_REQUEST, e)
        }
    }
}

#[derive(Deserialize)]
struct LimitsReq {
    #[serde(default)]
    edition: Option<Edition>,
    #[serde(default)]
    credits: Option<u64>,
    #[serde(default)]
    concurrency: Option<u32>,
    #[serde(default)]
    license_limit: Option<u32>,
    #[serde(default)]
    reset_credits: bool,
}

async fn set_limits(
    AxState(sb): AxState<ZohoSandbox>,
    Path(org_id): Path<String>,
    Json(r): Json<LimitsReq>,
) -> Response {
    let mut st = sb.inner.state.lock();
    let Some(o) = st.orgs.get_mut(&org_id) else {
        return fail(StatusCode::NOT_FOUND, format!("unknown org {org_id}"));
    };
    if let Some(e) = r.edition {
        o.edition = e;
    }
    if r.credits.is_some() {
        o.credit_limit_override = r.credits;
    }
    if r.concurrency.is_some() {
        o.concurrency_override = r.concurrency;
    }
    if let Some(l) = r.license_limit {
        o.license_limit = l;
    }
    if r.reset_credits {
        o.credit_log.clear();
    }
    Json(
        json!({"org_id": org_id, "edition": o.edition, "credit_limit": o.credit_limit(),
                "concurrency_limit": o.concurrency_limit(), "license_limit": o.license_limit}),
    )
    .into_response()
}

#[derive(Deserialize)]
struct UserReq {
    #[serde(default)]
    org_id: Option<String>,
    /// Alternative to org_id: the email of a user of the org.
    #[serde(default)]
    org_of: Option<String>,
    email: String,
    #[serde(default)]
    first_name: Option<String>,
    last_name: String,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    confirmed: Option<bool>,
}

async fn create_user(AxState(sb): AxState<ZohoSandbox>, Json(r): Json<UserReq>) -> Response {
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    let org_id = match (&r.org_id, &r.org_of) {
        (Some(id), _) => id.clone(),
        (None, Some(email)) => match actor(&st, email) {
            Ok((o, _)) => o,
            Err(e) => return e,
        },
        (None, None) => return fail(StatusCode::BAD_REQUEST, "org_id or org_of is required"),
    };
    let tz = st
        .orgs
        .get(&org_id)
        .map(|o| o.time_zone.clone())
        .unwrap_or_else(|| "UTC".into());
    match seed::add_user(
        &mut st,
        &org_id,
        NewUser {
            email: &r.email,
            first_name: r.first_name.as_deref(),
            last_name: &r.last_name,
            profile: r.profile.as_deref().unwrap_or("Standard"),
            role: r.role.as_deref().unwrap_or("Sales Representative"),
            time_zone: r.time_zone.as_deref().unwrap_or(&tz),
            locale: r.locale.as_deref().unwrap_or("en_US"),
            password: r.password.as_deref().unwrap_or(DEMO_PASSWORD),
            confirmed: r.confirmed.unwrap_or(true),
        },
        now,
    ) {
        Ok(id) => (
            StatusCode::CREATED,
            Json(json!({"id": id, "org_id": org_id})),
        )
            .into_response(),
        Err(e) => fail(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct StatusReq {
    /// active | inactive | deleted
    status: String,
}

async fn set_user_status(
    AxState(sb): AxState<ZohoSandbox>,
    Path(user_id): Path<String>,
    Json(r): Json<StatusReq>,
) -> Response {
    if !["active", "inactive", "deleted"].contains(&r.status.as_str()) {
        return fail(
            StatusCode::BAD_REQUEST,
            "status must be active, inactive or deleted",
        );
    }
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    for o in st.orgs.values_mut() {
        if let Some(u) = o.users.iter_mut().find(|u| u.id == user_id) {
            u.status = r.status.clone();
            u.modified_time = now;
            return Json(json!({"id": user_id, "status": r.status})).into_response();
        }
    }
    fail(StatusCode::NOT_FOUND, format!("unknown user {user_id}"))
}

#[derive(Deserialize)]
struct ProfileReq {
    /// Email of a user of the org.
    org_of: String,
    name: String,
    #[serde(default)]
    manage_users: bool,
    #[serde(default)]
    description: Option<String>,
}

async fn create_profile(AxState(sb): AxState<ZohoSandbox>, Json(r): Json<ProfileReq>) -> Response {
    let mut st = sb.inner.state.lock();
    let (org_id, _) = match actor(&st, &r.org_of) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let org = st.orgs.get_mut(&org_id).expect("actor org");
    if r.name.trim().is_empty()
        || org
            .profiles
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(&r.name))
    {
        return fail(
            StatusCode::CONFLICT,
            format!("profile name `{}` is empty or taken", r.name),
        );
    }
    let id = org.new_id();
    org.profiles.push(crate::model::Profile {
        id: id.clone(),
        name: r.name,
        manage_users: r.manage_users,
        description: r.description.unwrap_or_default(),
    });
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

#[derive(Deserialize)]
struct RoleReq {
    org_of: String,
    name: String,
}

async fn create_role(AxState(sb): AxState<ZohoSandbox>, Json(r): Json<RoleReq>) -> Response {
    let mut st = sb.inner.state.lock();
    let (org_id, _) = match actor(&st, &r.org_of) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let org = st.orgs.get_mut(&org_id).expect("actor org");
    if r.name.trim().is_empty()
        || org
            .roles
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(&r.name))
    {
        return fail(
            StatusCode::CONFLICT,
            format!("role name `{}` is empty or taken", r.name),
        );
    }
    let id = org.new_id();
    org.roles.push(crate::model::Role {
        id: id.clone(),
        name: r.name,
    });
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

async fn invitations(AxState(sb): AxState<ZohoSandbox>) -> Response {
    let st = sb.inner.state.lock();
    let list: Vec<&crate::model::SentMail> = st
        .mails
        .iter()
        .filter(|m| m.kind == "user_invitation")
        .collect();
    Json(json!({"invitations": list})).into_response()
}

async fn mails(AxState(sb): AxState<ZohoSandbox>) -> Response {
    let st = sb.inner.state.lock();
    Json(json!({"mails": st.mails})).into_response()
}

async fn accept_invitation(
    AxState(sb): AxState<ZohoSandbox>,
    Path(user_id): Path<String>,
) -> Response {
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    for o in st.orgs.values_mut() {
        if let Some(u) = o.users.iter_mut().find(|u| u.id == user_id) {
            u.confirm = true;
            u.modified_time = now;
            return Json(json!({"id": user_id, "confirm": true})).into_response();
        }
    }
    fail(StatusCode::NOT_FOUND, format!("unknown user {user_id}"))
}

#[derive(Deserialize)]
struct TokenReq {
    email: String,
    #[serde(default)]
    scopes: Option<Value>,
    #[serde(default)]
    client_id: Option<String>,
}

async fn tokens(
    AxState(sb): AxState<ZohoSandbox>,
    headers: HeaderMap,
    Json(r): Json<TokenReq>,
) -> Response {
    let scopes = match &r.scopes {
        None => vec![
            "ZohoCRM.modules.ALL".to_string(),
            "ZohoCRM.users.ALL".into(),
            "ZohoCRM.settings.ALL".into(),
            "ZohoCRM.coql.READ".into(),
        ],
        Some(Value::String(s)) => split_scopes(s),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(_) => return fail(StatusCode::BAD_REQUEST, "scopes must be a string or array"),
    };
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    let client = r.client_id.unwrap_or_else(|| DEMO_CLIENT_ID.into());
    if !st.clients.contains_key(&client) {
        return fail(StatusCode::BAD_REQUEST, format!("unknown client {client}"));
    }
    match mint_for_email(&mut st, &r.email, &scopes, &client, now) {
        Some(t) => {
            let base = base_url(&headers);
            Json(json!({
                "access_token": t.access_token, "refresh_token": t.refresh_token,
                "api_domain": format!("{base}/zoho/{}/api", t.dc),
                "accounts_server": format!("{base}/zoho/{}/accounts", t.dc),
                "location": t.dc, "user_id": t.user_id, "org_id": t.org_id,
                "expires_in": t.expires_in, "scope": scopes.join(" "), "client_id": client,
            }))
            .into_response()
        }
        None => fail(
            StatusCode::NOT_FOUND,
            format!("no active, confirmed CRM user {}", r.email),
        ),
    }
}

#[derive(Deserialize)]
struct ClientReq {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    any_loopback_port: Option<bool>,
    #[serde(default)]
    name: Option<String>,
}

async fn create_client(AxState(sb): AxState<ZohoSandbox>, Json(r): Json<ClientReq>) -> Response {
    let mut st = sb.inner.state.lock();
    st.clients.insert(
        r.client_id.clone(),
        crate::model::OAuthClient {
            client_id: r.client_id.clone(),
            client_secret: r.client_secret,
            redirect_uris: r.redirect_uris,
            allow_any_loopback_port: r.any_loopback_port.unwrap_or(true),
            name: r.name.unwrap_or_else(|| r.client_id.clone()),
        },
    );
    (StatusCode::CREATED, Json(json!({"client_id": r.client_id}))).into_response()
}

#[derive(Deserialize)]
struct RecordsReq {
    /// Email of the acting CRM user.
    #[serde(rename = "as")]
    actor: String,
    /// ui | api | import | bulk_api | migration (default ui).
    #[serde(default)]
    origin: Option<String>,
    /// Back-date the write (RFC 3339), for history in tests.
    #[serde(default)]
    at: Option<String>,
    data: Vec<Value>,
}

fn parse_common(
    sb: &ZohoSandbox,
    module: &str,
    origin: Option<&str>,
    at: Option<&str>,
) -> Result<(&'static str, Origin, chrono::DateTime<chrono::Utc>), Response> {
    let module = module_name(module)
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, format!("unknown module {module}")))?;
    let origin = match origin {
        None => Origin::Ui,
        Some(o) => Origin::parse(o).ok_or_else(|| {
            fail(
                StatusCode::BAD_REQUEST,
                format!("unknown origin {o} (ui, api, import, bulk_api, migration, mass_update)"),
            )
        })?,
    };
    let now = match at {
        None => sb.now(),
        Some(s) => fields::parse_datetime(s)
            .ok_or_else(|| fail(StatusCode::BAD_REQUEST, format!("bad `at` {s}")))?,
    };
    Ok((module, origin, now))
}

async fn create_records(
    AxState(sb): AxState<ZohoSandbox>,
    Path(module): Path<String>,
    Json(r): Json<RecordsReq>,
) -> Response {
    write(sb, module, r, false)
}

async fn update_records(
    AxState(sb): AxState<ZohoSandbox>,
    Path(module): Path<String>,
    Json(r): Json<RecordsReq>,
) -> Response {
    write(sb, module, r, true)
}

fn write(sb: ZohoSandbox, module: String, r: RecordsReq, update: bool) -> Response {
    let (module, origin, now) =
        match parse_common(&sb, &module, r.origin.as_deref(), r.at.as_deref()) {
            Ok(x) => x,
            Err(e) => return e,
        };
    let mut guard = sb.inner.state.lock();
    let (org_id, uid) = match actor(&guard, &r.actor) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let State { orgs, mails, .. } = &mut *guard;
    let org = orgs.get_mut(&org_id).expect("actor org");
    let tz = org
        .user(&uid)
        .map(|u| u.time_zone.clone())
        .unwrap_or_default();
    let results = if update {
        records::update(org, module, &r.data, None, &uid, origin, now, mails)
    } else {
        records::insert(org, module, &r.data, &uid, origin, now, mails)
    };
    let (ok, msg) = if update {
        (StatusCode::OK, "record updated")
    } else {
        (StatusCode::CREATED, "record added")
    };
    let resp = batch_response(org, module, &results, ok, msg, &tz);
    (resp.status, Json(resp.body.unwrap_or(Value::Null))).into_response()
}

async fn delete_records(
    AxState(sb): AxState<ZohoSandbox>,
    Path(module): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(module) = module_name(&module) else {
        return fail(StatusCode::NOT_FOUND, format!("unknown module {module}"));
    };
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    let (org_id, uid) = match actor(&st, q.get("as").map(String::as_str).unwrap_or("")) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let ids: Vec<String> = q
        .get("ids")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let org = st.orgs.get_mut(&org_id).expect("actor org");
    let results = records::delete(org, module, &ids, &uid, now);
    let resp = batch_response(
        org,
        module,
        &results,
        StatusCode::OK,
        "record deleted",
        "UTC",
    );
    (resp.status, Json(resp.body.unwrap_or(Value::Null))).into_response()
}

#[derive(Deserialize)]
struct MassReq {
    #[serde(rename = "as")]
    actor: String,
    ids: Vec<String>,
    data: serde_json::Map<String, Value>,
}

async fn mass_update(
    AxState(sb): AxState<ZohoSandbox>,
    Path(module): Path<String>,
    Json(r): Json<MassReq>,
) -> Response {
    let Some(module) = module_name(&module) else {
        return fail(StatusCode::NOT_FOUND, format!("unknown module {module}"));
    };
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    let (org_id, uid) = match actor(&st, &r.actor) {
        Ok(x) => x,
        Err(e) => return e,
    };
    match run_mass_update(&mut st, &org_id, module, &r.ids, &r.data, &uid, now) {
        Ok((job_id, results)) => {
            let org = &st.orgs[&org_id];
            let tz = org
                .user(&uid)
                .map(|u| u.time_zone.clone())
                .unwrap_or_default();
            let resp = batch_response(org, module, &results, StatusCode::OK, "record updated", &tz);
            let mut body = resp.body.unwrap_or(Value::Null);
            body["job_id"] = json!(job_id);
            (resp.status, Json(body)).into_response()
        }
        Err(e) => (e.status, Json(e.body.unwrap_or(Value::Null))).into_response(),
    }
}

#[derive(Deserialize)]
struct EmptyBinReq {
    #[serde(rename = "as")]
    actor: String,
}

async fn empty_recycle_bin(
    AxState(sb): AxState<ZohoSandbox>,
    Json(r): Json<EmptyBinReq>,
) -> Response {
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    let (org_id, _) = match actor(&st, &r.actor) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let org = st.orgs.get_mut(&org_id).expect("actor org");
    let mut n = 0;
    for list in org.deleted.values_mut() {
        for d in list.iter_mut().filter(|d| d.kind == "recycle") {
            d.kind = "permanent".into();
            d.deleted_time = now;
            n += 1;
        }
    }
    Json(json!({"purged": n})).into_response()
}

#[derive(Deserialize)]
struct GenReq {
    #[serde(rename = "as")]
    actor: String,
    module: String,
    count: usize,
}

async fn generate(AxState(sb): AxState<ZohoSandbox>, Json(r): Json<GenReq>) -> Response {
    let Some(module) = module_name(&r.module) else {
        return fail(
            StatusCode::NOT_FOUND,
            format!("unknown module {}", r.module),
        );
    };
    if r.count > 200_000 {
        return fail(StatusCode::BAD_REQUEST, "at most 200000 records per call");
    }
    let now = sb.now();
    let mut st = sb.inner.state.lock();
    match seed::generate(&mut st, &r.actor, module, r.count, now) {
        Ok(n) => Json(json!({"created": n, "module": module})).into_response(),
        Err(e) => fail(StatusCode::NOT_FOUND, e),
    }
}

#[derive(Deserialize)]
struct FieldReq {
    /// Email of a user of the org.
    org_of: String,
    api_name: String,
    #[serde(default)]
    field_label: Option<String>,
    data_type: String,
    #[serde(default)]
    length: Option<u32>,
    #[serde(default)]
    pick_list_values: Vec<String>,
    #[serde(default)]
    mandatory: bool,
}

async fn add_field(
    AxState(sb): AxState<ZohoSandbox>,
    Path(module): Path<String>,
    Json(r): Json<FieldReq>,
) -> Response {
    let Some(module) = module_name(&module) else {
        return fail(StatusCode::NOT_FOUND, format!("unknown module {module}"));
    };
    if !CUSTOM_TYPES.contains(&r.data_type.as_str()) {
        return fail(
            StatusCode::BAD_REQUEST,
            format!("data_type must be one of {}", CUSTOM_TYPES.join(", ")),
        );
    }
    if r.api_name.is_empty()
        || !r
            .api_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || r.api_name.starts_with(|c: char| c.is_ascii_digit())
    {
        return fail(
            StatusCode::BAD_REQUEST,
            "api_name must be A-Z, a-z, 0-9 and _",
        );
    }
    if matches!(r.data_type.as_str(), "picklist" | "multiselectpicklist")
        && r.pick_list_values.is_empty()
    {
        return fail(StatusCode::BAD_REQUEST, "a picklist needs pick_list_values");
    }
    let mut st = sb.inner.state.lock();
    let (org_id, _) = match actor(&st, &r.org_of) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let org = st.orgs.get_mut(&org_id).expect("actor org");
    if org.field(module, &r.api_name).is_some() {
        return fail(
            StatusCode::CONFLICT,
            format!("{} already exists", r.api_name),
        );
    }
    let default_len = match r.data_type.as_str() {
        "textarea" => 2000,
        "integer" => 9,
        "double" => 16,
        "date" | "datetime" | "boolean" => 20,
        _ => 255,
    };
    let id = org.new_id();
    let def = FieldDef {
        id,
        api_name: r.api_name.clone(),
        field_label: r
            .field_label
            .unwrap_or_else(|| r.api_name.replace('_', " ")),
        data_type: r.data_type,
        length: r.length.unwrap_or(default_len),
        read_only: false,
        system_mandatory: r.mandatory,
        custom_field: true,
        pick_list_values: r.pick_list_values,
        lookup_module: None,
    };
    let out = fields::field_json(module, &def);
    org.fields.entry(module.to_string()).or_default().push(def);
    (StatusCode::CREATED, Json(json!({"fields": [out]}))).into_response()
}

async fn get_faults(AxState(sb): AxState<ZohoSandbox>) -> Response {
    Json(json!(sb.inner.state.lock().faults)).into_response()
}

async fn put_faults(
    AxState(sb): AxState<ZohoSandbox>,
    Json(f): Json<crate::model::Faults>,
) -> Response {
    if !(0.0..=1.0).contains(&f.error_rate) || !(0.0..=1.0).contains(&f.timeout_after_commit_rate) {
        return fail(StatusCode::BAD_REQUEST, "rates must be between 0 and 1");
    }
    if f.error_status
        .is_some_and(|s| ![429, 500, 503].contains(&s))
    {
        return fail(
            StatusCode::BAD_REQUEST,
            "error_status must be 429, 500 or 503",
        );
    }
    sb.inner.state.lock().faults = f.clone();
    Json(json!(f)).into_response()
}

async fn counters(AxState(sb): AxState<ZohoSandbox>) -> Response {
    let now = sb.now();
    let inflight = sb.inner.inflight.lock().clone();
    let mut st = sb.inner.state.lock();
    let mut orgs = serde_json::Map::new();
    for o in st.orgs.values_mut() {
        let used = o.credits_used(now);
        orgs.insert(
            o.id.clone(),
            json!({
                "name": o.name, "dc": o.dc, "edition": o.edition,
                "credits_used_24h": used, "credit_limit": o.credit_limit(),
                "credits_used_total": o.credits_used_total, "requests_total": o.requests_total,
                "concurrency_limit": o.concurrency_limit(),
                "inflight": inflight.get(&o.id).copied().unwrap_or(0),
            }),
        );
    }
    let c = &st.counters;
    Json(json!({
        "api_requests": c.api_requests, "token_requests": c.token_requests,
        "by_endpoint": c.by_endpoint, "throttled": c.throttled, "injected_faults": c.injected_faults,
        "mails_sent": st.mails.len(), "orgs": orgs,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ClockReq {
    advance_seconds: i64,
}

async fn clock(AxState(sb): AxState<ZohoSandbox>, Json(r): Json<ClockReq>) -> Response {
    sb.advance_clock(Duration::seconds(r.advance_seconds));
    Json(json!({"now": sb.now().to_rfc3339()})).into_response()
}

async fn snapshot(AxState(sb): AxState<ZohoSandbox>) -> Response {
    Json(sb.snapshot()).into_response()
}

async fn load_snapshot(AxState(sb): AxState<ZohoSandbox>, body: String) -> Response {
    match sb.load_snapshot_str(&body) {
        Ok(()) => Json(json!({"status": "ok"})).into_response(),
        Err(e) => fail(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
