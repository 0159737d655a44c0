//! The Zoho CRM v8 REST API: authentication, scopes, credits, concurrency and faults in one gate,
//! then records (list/get/insert/update/delete/deleted/search/mass update/timeline), COQL,
//! field metadata, users and profiles.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use crate::fields::{self, format_datetime, RecordError};
use crate::model::{self, is_dc, module_name, Org, PageToken, State, User};
use crate::oauth::random_hex;
use crate::records::{self, ItemResult, Origin};
use crate::{query, ZohoSandbox};

pub(crate) fn routes() -> Router<ZohoSandbox> {
    // 100 records with 32,000-character text areas must fit in one request.
    Router::new()
        .route("/zoho/{dc}/api/{*rest}", any(handle))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
}

/// An API response before it becomes HTTP: status, optional JSON body, extra credits.
pub(crate) struct Resp {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub extra_credits: u64,
}

impl Resp {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Resp {
            status,
            body: Some(body),
            extra_credits: 0,
        }
    }
    pub fn empty(status: StatusCode) -> Self {
        Resp {
            status,
            body: None,
            extra_credits: 0,
        }
    }
    pub fn credits(mut self, extra: u64) -> Self {
        self.extra_credits = extra;
        self
    }
}

/// Zoho's error envelope `{code, details, message, status:"error"}`.
pub(crate) fn err(status: StatusCode, code: &str, message: &str, details: Value) -> Resp {
    Resp::json(
        status,
        json!({"code": code, "details": details, "message": message, "status": "error"}),
    )
}

fn bad(code: &str, message: &str, details: Value) -> Resp {
    err(StatusCode::BAD_REQUEST, code, message, details)
}

fn into_http(r: Resp, extra_headers: Vec<(&'static str, String)>) -> Response {
    let mut resp = match r.body {
        Some(b) => (r.status, axum::Json(b)).into_response(),
        None => r.status.into_response(),
    };
    for (k, v) in extra_headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// The authenticated caller of one request.
pub(crate) struct Ctx {
    pub org_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub tz: String,
    pub now: DateTime<Utc>,
}

/// Concurrency slots held by one call (the org's, plus the heavy-call slot when taken).
struct InflightGuard {
    sb: ZohoSandbox,
    keys: Vec<String>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let mut map = self.sb.inner.inflight.lock();
        for k in &self.keys {
            if let Some(n) = map.get_mut(k) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// Sub-concurrency limit for heavy calls, the same for every edition (reference §6).
const HEAVY_CONCURRENCY: u32 = 10;

/// Heavy calls of the reference: list with `cvid`/`sort_by`, insert/update of more than
/// 10 records, COQL.
fn is_heavy(method: &Method, path: &[String], q: &BTreeMap<String, String>, body: &[u8]) -> bool {
    let rest: Vec<&str> = path.iter().skip(2).map(String::as_str).collect();
    match (method, rest.as_slice()) {
        (&Method::POST, ["coql"]) => true,
        (&Method::GET, [_]) => q.contains_key("sort_by") || q.contains_key("cvid"),
        (&Method::POST | &Method::PUT, [_] | [_, "upsert"]) => {
            serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("data").and_then(Value::as_array).map(Vec::len))
                .is_some_and(|n| n > 10)
        }
        _ => false,
    }
}

fn too_many(message: &str) -> Resp {
    err(
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_REQUESTS",
        message,
        json!({}),
    )
}

fn injected(status: u16) -> Resp {
    match status {
        429 => too_many("The API call limit has been exceeded (injected fault)."),
        503 => err(
            StatusCode::SERVICE_UNAVAILABLE,
            "INTERNAL_ERROR",
            "Service temporarily unavailable (injected fault).",
            json!({}),
        ),
        _ => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal Server Error",
            json!({}),
        ),
    }
}

async fn handle(
    AxState(sb): AxState<ZohoSandbox>,
    Path((dc, rest)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw_query): RawQuery,
    body: Bytes,
) -> Response {
    if !is_dc(&dc) {
        return into_http(
            bad(
                "INVALID_HOST",
                "The host is not a valid Zoho CRM API domain",
                json!({}),
            ),
            vec![],
        );
    }
    let now = sb.now();
    // 1. authentication
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let Some(token) = auth.strip_prefix("Zoho-oauthtoken ") else {
        return into_http(
            err(
                StatusCode::UNAUTHORIZED,
                "AUTHENTICATION_FAILURE",
                "Authentication failed",
                json!({}),
            ),
            vec![],
        );
    };
    let ctx = {
        let mut st = sb.inner.state.lock();
        st.counters.api_requests += 1;
        let found = st
            .access_tokens
            .get(token.trim())
            .filter(|t| t.expires > now && t.dc == dc)
            .cloned();
        let Some(t) = found else {
            return into_http(
                err(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_TOKEN",
                    "invalid oauth token",
                    json!({}),
                ),
                vec![],
            );
        };
        let Some(user) = st
            .orgs
            .get(&t.org_id)
            .and_then(|o| o.user(&t.user_id))
            .filter(|u| u.status == "active")
        else {
            return into_http(
                err(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_TOKEN",
                    "invalid oauth token",
                    json!({}),
                ),
                vec![],
            );
        };
        Ctx {
            org_id: t.org_id.clone(),
            user_id: t.user_id.clone(),
            scopes: t.scopes.clone(),
            tz: user.time_zone.clone(),
            now,
        }
    };
    // 2. injected faults before any work
    let (latency, fault) = {
        let mut st = sb.inner.state.lock();
        let f = &mut st.faults;
        let status = f.error_status.unwrap_or(500);
        let fail = if f.fail_next > 0 {
            f.fail_next -= 1;
            true
        } else {
            f.error_rate > 0.0 && rand::random::<f64>() < f.error_rate
        };
        let latency = f.latency_ms;
        if fail {
            st.counters.injected_faults += 1;
        }
        (latency, fail.then_some(status))
    };
    if let Some(status) = fault {
        return into_http(injected(status), vec![]);
    }
    let path: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    // 3. concurrency per org, and the sub-concurrency of heavy calls
    let heavy_key =
        is_heavy(&method, &path, &query, &body).then(|| format!("{}#heavy", ctx.org_id));
    let limit = sb
        .inner
        .state
        .lock()
        .orgs
        .get(&ctx.org_id)
        .map(Org::concurrency_limit)
        .unwrap_or(1);
    {
        let mut map = sb.inner.inflight.lock();
        let n = map.entry(ctx.org_id.clone()).or_insert(0);
        if *n >= limit {
            drop(map);
            sb.inner.state.lock().counters.throttled += 1;
            return into_http(
                too_many("The concurrency limit of the org has been exceeded."),
                vec![],
            );
        }
        *n += 1;
        if let Some(k) = &heavy_key {
            let h = map.entry(k.clone()).or_insert(0);
            if *h >= HEAVY_CONCURRENCY {
                if let Some(n) = map.get_mut(&ctx.org_id) {
                    *n -= 1;
                }
                drop(map);
                sb.inner.state.lock().counters.throttled += 1;
                return into_http(
                    too_many("The concurrency limit for heavy API calls has been exceeded."),
                    vec![],
                );
            }
            *h += 1;
        }
    }
    let _guard = InflightGuard {
        sb: sb.clone(),
        keys: std::iter::once(ctx.org_id.clone())
            .chain(heavy_key)
            .collect(),
    };
    // Latency is spent while holding the slot, as a slow call does on the real service.
    if latency > 0 {
        tokio::time::sleep(StdDuration::from_millis(latency)).await;
    }
    // 4. credits + dispatch under the state lock
    let is_write = method != Method::GET;
    let (resp, extra_headers) = {
        let mut guard = sb.inner.state.lock();
        let st = &mut *guard;
        // The org may have been removed (control reset) since the token was checked.
        let Some(org) = st.orgs.get_mut(&ctx.org_id) else {
            return into_http(
                err(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_TOKEN",
                    "invalid oauth token",
                    json!({}),
                ),
                vec![],
            );
        };
        let used = org.credits_used(now);
        let limit = org.credit_limit();
        if used >= limit {
            st.counters.throttled += 1;
            return into_http(
                too_many("You have exceeded the API credits of your org for the day."),
                vec![],
            );
        }
        let endpoint = format!(
            "{} {}",
            method,
            path.iter()
                .skip(2)
                .take(2)
                .map(|s| {
                    if s.chars().all(|c| c.is_ascii_digit()) {
                        "{id}"
                    } else {
                        s.as_str()
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        );
        *st.counters.by_endpoint.entry(endpoint).or_insert(0) += 1;
        let resp = dispatch(st, &ctx, &method, &path, &query, &headers, &body);
        let cost = 1 + resp.extra_credits;
        let org = st.orgs.get_mut(&ctx.org_id).expect("token org exists");
        org.credit_log.push_back((now.timestamp(), cost));
        org.credits_used_total += cost;
        org.requests_total += 1;
        let used = used + cost;
        let mut extra = vec![];
        if used * 2 >= limit {
            extra.push((
                "x-api-credits-remaining",
                limit.saturating_sub(used).to_string(),
            ));
        }
        (resp, extra)
    };
    // 5. timeout after commit (writes only)
    if is_write && resp.status.is_success() {
        let hang = {
            let mut st = sb.inner.state.lock();
            let f = &mut st.faults;
            let hit = if f.timeout_next_writes > 0 {
                f.timeout_next_writes -= 1;
                true
            } else {
                f.timeout_after_commit_rate > 0.0
                    && rand::random::<f64>() < f.timeout_after_commit_rate
            };
            let ms = f.hang_ms.unwrap_or(30_000);
            if hit {
                st.counters.injected_faults += 1;
            }
            hit.then_some(ms)
        };
        if let Some(ms) = hang {
            tokio::time::sleep(StdDuration::from_millis(ms)).await;
            return (StatusCode::GATEWAY_TIMEOUT, "").into_response();
        }
    }
    into_http(resp, extra_headers)
}

// ---------------------------------------------------------------------------------------------
// scopes

fn scope_has(scopes: &[String], wanted: &[String]) -> bool {
    scopes
        .iter()
        .any(|s| wanted.iter().any(|w| s.eq_ignore_ascii_case(w)))
}

fn module_scope_ok(ctx: &Ctx, module: &str, op: &str) -> bool {
    let m = module.to_ascii_lowercase();
    let mut wanted = vec![
        "ZohoCRM.modules.ALL".to_string(),
        format!("ZohoCRM.modules.{op}"),
        format!("ZohoCRM.modules.{m}.ALL"),
        format!("ZohoCRM.modules.{m}.{op}"),
    ];
    if op != "READ" {
        wanted.push("ZohoCRM.modules.WRITE".into());
        wanted.push(format!("ZohoCRM.modules.{m}.WRITE"));
    }
    scope_has(&ctx.scopes, &wanted)
}

fn scope_mismatch() -> Resp {
    err(
        StatusCode::UNAUTHORIZED,
        "OAUTH_SCOPE_MISMATCH",
        "invalid oauth scope to access this URL",
        json!({}),
    )
}

fn require(ok: bool) -> Result<(), Resp> {
    if ok {
        Ok(())
    } else {
        Err(scope_mismatch())
    }
}

// ---------------------------------------------------------------------------------------------
// dispatch

fn invalid_url() -> Resp {
    err(
        StatusCode::NOT_FOUND,
        "INVALID_URL_PATTERN",
        "Please check if the URL trying to access is a correct one",
        json!({}),
    )
}

fn bad_method() -> Resp {
    err(
        StatusCode::METHOD_NOT_ALLOWED,
        "INVALID_REQUEST_METHOD",
        "The http request method type is not a valid one",
        json!({}),
    )
}

fn dispatch(
    st: &mut State,
    ctx: &Ctx,
    method: &Method,
    path: &[String],
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Resp {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let Some(rest) = segs.strip_prefix(&["crm", "v8"]) else {
        return invalid_url();
    };
    let r = match (method, rest) {
        (&Method::GET, ["users"]) => users_list(st, ctx, q, headers),
        (&Method::POST, ["users"]) => users_add(st, ctx, body),
        (&Method::GET, ["users", "actions", "count"]) => users_count(st, ctx, q),
        (&Method::GET, ["users", id]) => users_get(st, ctx, id),
        (&Method::PUT, ["users", id]) => users_update(st, ctx, id, body),
        (&Method::DELETE, ["users", id]) => users_delete(st, ctx, id),
        (_, ["users", ..]) => Err(bad_method()),
        (&Method::GET, ["settings", "fields"]) => fields_list(st, ctx, q, None),
        (&Method::GET, ["settings", "fields", id]) => fields_list(st, ctx, q, Some(id)),
        (&Method::GET, ["settings", "profiles"]) => profiles(st, ctx, None),
        (&Method::GET, ["settings", "profiles", id]) => profiles(st, ctx, Some(id)),
        (&Method::GET, ["settings", "modules"]) => modules_list(ctx),
        (&Method::GET, ["org"]) => org_info(st, ctx),
        (&Method::POST, ["coql"]) => require(scope_has(&ctx.scopes, &["ZohoCRM.coql.READ".into()]))
            .and_then(|_| query::coql(st, ctx, body)),
        (_, ["coql"]) => Err(bad_method()),
        (_, [m, ..]) if m.eq_ignore_ascii_case("Activities") => Err(bad(
            "API_NOT_SUPPORTED",
            "the Activities module is not supported in this API version; use Events, Tasks or Calls",
            json!({"resource_path_index": 0}),
        )),
        (_, [m, ..]) if module_name(m).is_none() => Err(bad(
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({"resource_path_index": 0}),
        )),
        (m, [module, tail @ ..]) => {
            let module = module_name(module).expect("checked above");
            module_routes(st, ctx, m, module, tail, q, headers, body)
        }
        _ => Err(invalid_url()),
    };
    r.unwrap_or_else(|e| e)
}

#[allow(clippy::too_many_arguments)]
fn module_routes(
    st: &mut State,
    ctx: &Ctx,
    method: &Method,
    module: &str,
    tail: &[&str],
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Resp, Resp> {
    match (method, tail) {
        (&Method::GET, []) => {
            require(module_scope_ok(ctx, module, "READ"))?;
            list_records(st, ctx, module, q, headers)
        }
        (&Method::POST, []) => {
            require(module_scope_ok(ctx, module, "CREATE"))?;
            write_records(st, ctx, module, body, None, false, headers)
        }
        (&Method::PUT, []) => {
            require(module_scope_ok(ctx, module, "UPDATE"))?;
            write_records(st, ctx, module, body, None, true, headers)
        }
        (&Method::DELETE, []) => {
            require(module_scope_ok(ctx, module, "DELETE"))?;
            let ids: Vec<String> = q
                .get("ids")
                .map(|s| {
                    s.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if ids.is_empty() {
                return Err(bad(
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    json!({"param_name": "ids"}),
                ));
            }
            if ids.len() > 100 {
                return Err(bad(
                    "LIMIT_EXCEEDED",
                    "the limit of 100 ids has been exceeded",
                    json!({"limit": "100", "param_name": "ids"}),
                ));
            }
            Ok(delete_records(st, ctx, module, &ids))
        }
        (&Method::GET, ["deleted"]) => {
            require(module_scope_ok(ctx, module, "READ"))?;
            deleted_records(st, ctx, module, q, headers)
        }
        (&Method::GET, ["search"]) => {
            require(module_scope_ok(ctx, module, "READ"))?;
            query::search(st, ctx, module, q)
        }
        (&Method::POST, ["upsert"]) if module == "Contacts" => {
            require(
                module_scope_ok(ctx, module, "CREATE") && module_scope_ok(ctx, module, "UPDATE"),
            )?;
            upsert(st, ctx, module, body)
        }
        // Upsert does not support Events (Meetings), Tasks and Calls (reference §2).
        (&Method::POST, ["upsert"]) => Err(bad(
            "NOT_SUPPORTED",
            "upsert is not supported for this module",
            json!({"resource_path_index": 0}),
        )),
        (&Method::POST, ["actions", "mass_update"]) => {
            require(module_scope_ok(ctx, module, "UPDATE"))?;
            mass_update(st, ctx, module, body)
        }
        (&Method::GET, ["actions", "mass_update"]) => {
            require(module_scope_ok(ctx, module, "READ"))?;
            mass_update_status(st, ctx, module, q)
        }
        (&Method::GET, [id]) => {
            require(module_scope_ok(ctx, module, "READ"))?;
            get_record(st, ctx, module, id, q)
        }
        (&Method::PUT, [id]) => {
            require(module_scope_ok(ctx, module, "UPDATE"))?;
            write_records(st, ctx, module, body, Some(id), true, headers)
        }
        (&Method::DELETE, [id]) => {
            require(module_scope_ok(ctx, module, "DELETE"))?;
            Ok(delete_records(st, ctx, module, &[id.to_string()]))
        }
        (&Method::POST, [id, "actions", "cancel"]) if module == "Events" => {
            require(module_scope_ok(ctx, module, "UPDATE"))?;
            cancel_meeting(st, ctx, id, body)
        }
        (&Method::GET, [id, "__timeline"]) => {
            require(module_scope_ok(ctx, module, "READ"))?;
            timeline(st, ctx, module, id, q)
        }
        (_, [] | ["deleted"] | ["search"] | [_] | [_, "__timeline"]) => Err(bad_method()),
        _ => Err(invalid_url()),
    }
}

// ---------------------------------------------------------------------------------------------
// records

fn org<'a>(st: &'a State, ctx: &Ctx) -> &'a Org {
    &st.orgs[&ctx.org_id]
}

pub(crate) fn parse_per_page(q: &BTreeMap<String, String>, max: usize) -> Result<usize, Resp> {
    match q.get("per_page") {
        None => Ok(max.min(200)),
        Some(s) => match s.parse::<usize>() {
            Ok(0) | Err(_) => Err(bad(
                "INVALID_DATA",
                "invalid data",
                json!({"param_name": "per_page", "expected_data_type": "integer"}),
            )),
            Ok(n) if n > max => Err(bad(
                "LIMIT_EXCEEDED",
                &format!("the per_page value exceeds the limit of {max}"),
                json!({"limit": max, "param_name": "per_page"}),
            )),
            Ok(n) => Ok(n),
        },
    }
}

pub(crate) fn parse_page(q: &BTreeMap<String, String>) -> Result<usize, Resp> {
    match q.get("page") {
        None => Ok(1),
        Some(s) => match s.parse::<usize>() {
            Ok(0) | Err(_) => Err(bad(
                "INVALID_DATA",
                "invalid data",
                json!({"param_name": "page", "expected_data_type": "integer"}),
            )),
            Ok(n) => Ok(n),
        },
    }
}

/// Validated `fields` parameter (mandatory when `required`, ≤ 50 API names of the module).
pub(crate) fn parse_fields(
    org: &Org,
    module: &str,
    q: &BTreeMap<String, String>,
    required: bool,
) -> Result<Option<Vec<String>>, Resp> {
    let Some(raw) = q.get("fields").filter(|s| !s.trim().is_empty()) else {
        if required {
            return Err(bad(
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                json!({"param_name": "fields"}),
            ));
        }
        return Ok(None);
    };
    let names: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() > 50 {
        return Err(bad(
            "LIMIT_EXCEEDED",
            "the number of fields exceeds the limit of 50",
            json!({"limit": 50, "param_name": "fields"}),
        ));
    }
    for n in &names {
        if n != "id" && org.field(module, n).is_none() {
            return Err(bad(
                "INVALID_DATA",
                "invalid field name",
                json!({"api_name": n, "param_name": "fields"}),
            ));
        }
    }
    Ok(Some(names))
}

pub(crate) fn parse_ims(headers: &HeaderMap) -> Result<Option<DateTime<Utc>>, Resp> {
    match headers.get(header::IF_MODIFIED_SINCE) {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().unwrap_or("");
            fields::parse_datetime(s).map(Some).ok_or_else(|| {
                bad(
                    "INVALID_DATA",
                    "If-Modified-Since must be an ISO 8601 date-time with offset",
                    json!({"header_name": "If-Modified-Since"}),
                )
            })
        }
    }
}

fn sort_key(rec: &model::Record, sort_by: &str) -> (i64, u64) {
    let id: u64 = rec.id.parse().unwrap_or(0);
    match sort_by {
        "Created_Time" => (rec.created_time.timestamp_millis(), id),
        "Modified_Time" => (rec.modified_time.timestamp_millis(), id),
        _ => (0, id),
    }
}

fn list_records(
    st: &mut State,
    ctx: &Ctx,
    module: &str,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Result<Resp, Resp> {
    let o = org(st, ctx);
    let wanted = parse_fields(o, module, q, true)?.unwrap_or_default();
    let per_page = parse_per_page(q, 200)?;
    if q.contains_key("cvid") && q.contains_key("sort_by") {
        return Err(bad(
            "AMBIGUITY_DURING_PROCESSING",
            "cvid and sort_by cannot be given together",
            json!({"ambiguity_due_to": ["cvid", "sort_by"]}),
        ));
    }
    if q.contains_key("cvid") {
        // The emulator has no custom views.
        return Err(bad(
            "INVALID_DATA",
            "the custom view id given seems to be invalid",
            json!({"param_name": "cvid"}),
        ));
    }
    if q.contains_key("page") && q.contains_key("page_token") {
        return Err(bad(
            "AMBIGUITY_DURING_PROCESSING",
            "page and page_token cannot be given together",
            json!({"ambiguity_due_to": ["page", "page_token"]}),
        ));
    }
    let sort_by = q.get("sort_by").map(String::as_str).unwrap_or("id");
    if !["id", "Created_Time", "Modified_Time"].contains(&sort_by) {
        return Err(bad(
            "INVALID_DATA",
            "invalid data",
            json!({"param_name": "sort_by", "supported_values": ["id", "Created_Time", "Modified_Time"]}),
        ));
    }
    let sort_order = q.get("sort_order").map(String::as_str).unwrap_or("desc");
    if !["asc", "desc"].contains(&sort_order) {
        return Err(bad(
            "INVALID_DATA",
            "invalid data",
            json!({"param_name": "sort_order", "supported_values": ["asc", "desc"]}),
        ));
    }
    let ims = parse_ims(headers)?;
    let ids: Option<Vec<&str>> = q.get("ids").map(|s| s.split(',').map(str::trim).collect());
    let mut bound_fields = wanted.clone();
    bound_fields.sort();
    let bound = format!(
        "{module}|{}|{sort_by}|{sort_order}|{:?}|{:?}",
        bound_fields.join(","),
        ims.map(|t| t.timestamp()),
        q.get("ids")
    );
    let (offset, page) = match q.get("page_token") {
        Some(tok) => {
            let Some(pt) = st.page_tokens.get(tok) else {
                return Err(bad(
                    "INVALID_DATA",
                    "invalid page token",
                    json!({"param_name": "page_token"}),
                ));
            };
            if pt.expires <= ctx.now {
                return Err(bad(
                    "EXPIRED_VALUE",
                    "the page token has expired",
                    json!({"param_name": "page_token"}),
                ));
            }
            if pt.user_id != ctx.user_id || pt.org_id != ctx.org_id || pt.bound != bound {
                return Err(bad(
                    "TOKEN_BOUND_DATA_MISMATCH",
                    "the parameters do not match the ones the page token was issued for",
                    json!({"param_name": "page_token"}),
                ));
            }
            (pt.offset, pt.page + 1)
        }
        None => {
            let page = parse_page(q)?;
            if page * per_page > 2000 {
                return Err(bad(
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "use page_token to fetch more than 2000 records",
                    json!({"limit": 2000}),
                ));
            }
            ((page - 1) * per_page, page)
        }
    };
    if offset >= 100_000 {
        return Err(bad(
            "PAGINATION_LIMIT_EXCEEDED",
            "you can fetch at most 100000 records",
            json!({"limit": 100000}),
        ));
    }
    let o = org(st, ctx);
    let mut recs: Vec<&model::Record> = o
        .records
        .get(module)
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|r| ims.is_none_or(|t| r.modified_time > t))
        .filter(|r| ids.as_ref().is_none_or(|ids| ids.contains(&r.id.as_str())))
        .collect();
    recs.sort_by_key(|r| sort_key(r, sort_by));
    if sort_order == "desc" {
        recs.reverse();
    }
    let end = (offset + per_page).min(recs.len()).min(100_000);
    let slice = if offset < recs.len() {
        &recs[offset..end]
    } else {
        &[][..]
    };
    if slice.is_empty() {
        return Ok(Resp::empty(if ims.is_some() {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::NO_CONTENT
        }));
    }
    let data: Vec<Value> = slice
        .iter()
        .map(|r| records::render(o, module, r, Some(&wanted), &ctx.tz))
        .collect();
    let more = recs.len() > end && end < 100_000;
    let count = data.len();
    let mut next_token = Value::Null;
    let mut expiry = Value::Null;
    if more {
        let tok = random_hex(24);
        let expires = ctx.now + Duration::hours(24);
        expiry = json!(format_datetime(expires, &ctx.tz));
        st.page_tokens.retain(|_, p| p.expires > ctx.now);
        st.page_tokens.insert(
            tok.clone(),
            PageToken {
                user_id: ctx.user_id.clone(),
                org_id: ctx.org_id.clone(),
                module: module.to_string(),
                bound,
                offset: end,
                per_page,
                page,
                expires,
            },
        );
        next_token = json!(tok);
    }
    Ok(Resp::json(
        StatusCode::OK,
        json!({
            "data": data,
            "info": {
                "per_page": per_page,
                "count": count,
                "page": page,
                "sort_by": sort_by,
                "sort_order": sort_order,
                "more_records": more,
                "next_page_token": next_token,
                "previous_page_token": null,
                "page_token_expiry": expiry,
                "call": false,
                "email": false,
            }
        }),
    ))
}

fn get_record(
    st: &mut State,
    ctx: &Ctx,
    module: &str,
    id: &str,
    q: &BTreeMap<String, String>,
) -> Result<Resp, Resp> {
    let o = org(st, ctx);
    let wanted = parse_fields(o, module, q, false)?;
    match o.records.get(module).and_then(|m| m.get(id)) {
        Some(r) => Ok(Resp::json(
            StatusCode::OK,
            json!({"data": [records::render(o, module, r, wanted.as_deref(), &ctx.tz)]}),
        )),
        None => Ok(Resp::empty(StatusCode::NO_CONTENT)),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, Resp> {
    serde_json::from_slice(body).map_err(|e| {
        bad(
            "INVALID_DATA",
            "the request body is not valid JSON",
            json!({"reason": e.to_string()}),
        )
    })
}

/// Per-record results to an HTTP response: all ok → `ok_status`, mixed → 207, all failed → 400.
pub(crate) fn batch_response(
    org: &Org,
    module: &str,
    results: &[ItemResult],
    ok_status: StatusCode,
    message: &str,
    tz: &str,
) -> Resp {
    let items: Vec<Value> = results
        .iter()
        .map(|r| match r {
            Ok(id) => {
                if message == "record deleted" {
                    json!({"code": "SUCCESS", "details": {"id": id}, "message": message, "status": "success"})
                } else {
                    records::success_item(org, module, id, message, tz)
                }
            }
            Err(e) => e.to_json(),
        })
        .collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let status = if ok == results.len() {
        ok_status
    } else if ok == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    };
    Resp::json(status, json!({"data": items}))
}

pub(crate) fn data_items(body: &Value) -> Result<&Vec<Value>, Resp> {
    let Some(data) = body.get("data") else {
        return Err(bad(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "data"}),
        ));
    };
    let Some(items) = data.as_array() else {
        return Err(bad(
            "INVALID_DATA",
            "invalid data",
            json!({"expected_data_type": "jsonarray", "api_name": "data"}),
        ));
    };
    if items.is_empty() {
        return Err(bad(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": "data"}),
        ));
    }
    if items.len() > 100 {
        return Err(bad(
            "LIMIT_EXCEEDED",
            "the limit of 100 records has been exceeded",
            json!({"limit": 100, "param_name": "data"}),
        ));
    }
    Ok(items)
}

/// `If-Unmodified-Since` on updates: 412 when a target record changed after that instant;
/// nothing is written then.
fn check_unmodified_since(
    st: &State,
    ctx: &Ctx,
    module: &str,
    items: &[Value],
    path_id: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), Resp> {
    let Some(h) = headers.get(header::IF_UNMODIFIED_SINCE) else {
        return Ok(());
    };
    let Some(since) = h.to_str().ok().and_then(fields::parse_datetime) else {
        return Err(bad(
            "INVALID_DATA",
            "If-Unmodified-Since must be an ISO 8601 date-time with offset",
            json!({"header_name": "If-Unmodified-Since"}),
        ));
    };
    let o = org(st, ctx);
    let ids: Vec<String> = match path_id {
        Some(id) => vec![id.to_string()],
        None => items
            .iter()
            .filter_map(|i| match i.get("id")? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
    };
    for id in ids {
        if let Some(r) = o.records.get(module).and_then(|m| m.get(&id)) {
            if r.modified_time > since {
                return Err(err(
                    StatusCode::PRECONDITION_FAILED,
                    "PRECONDITION_FAILED",
                    "the record was modified after the If-Unmodified-Since time",
                    json!({"id": id, "Modified_Time": format_datetime(r.modified_time, &ctx.tz)}),
                ));
            }
        }
    }
    Ok(())
}

/// `POST /Events/{id}/actions/cancel`: only meetings with participants that have not ended.
fn cancel_meeting(st: &mut State, ctx: &Ctx, id: &str, body: &[u8]) -> Result<Resp, Resp> {
    let send_mail = if body.is_empty() {
        false
    } else {
        parse_body(body)?
            .get("data")
            .and_then(|d| d.get(0))
            .and_then(|d| d.get("send_cancelling_mail"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let State { orgs, mails, .. } = st;
    let o = orgs.get_mut(&ctx.org_id).expect("token org exists");
    let org_name = o.name.clone();
    let Some(rec) = o.records.get_mut("Events").and_then(|m| m.get_mut(id)) else {
        return Err(bad(
            "INVALID_DATA",
            "the related id given seems to be invalid",
            json!({"resource_path_index": 1}),
        ));
    };
    let participants: Vec<String> = rec
        .values
        .get("Participants")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("Email").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if rec
        .values
        .get("Participants")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(bad(
            "NOT_ALLOWED",
            "a meeting without participants cannot be cancelled",
            json!({"id": id}),
        ));
    }
    let ended = rec
        .values
        .get("End_DateTime")
        .and_then(Value::as_str)
        .and_then(fields::parse_datetime)
        .is_some_and(|end| end <= ctx.now);
    if ended || rec.values.get("$event_cancelled") == Some(&Value::Bool(true)) {
        return Err(bad(
            "NOT_ALLOWED",
            "the meeting has already ended or is cancelled",
            json!({"id": id}),
        ));
    }
    rec.values
        .insert("$event_cancelled".into(), Value::Bool(true));
    rec.modified_time = DateTime::from_timestamp(ctx.now.timestamp(), 0).unwrap_or(ctx.now);
    rec.modified_by = ctx.user_id.clone();
    let title = rec
        .values
        .get("Event_Title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if send_mail {
        for to in participants {
            mails.push(model::SentMail {
                to,
                subject: format!("Cancelled: {title}"),
                body: format!("The meeting \"{title}\" ({org_name}) has been cancelled."),
                sent_time: ctx.now,
                org_id: ctx.org_id.clone(),
                kind: "meeting_cancellation".into(),
            });
        }
    }
    Ok(Resp::json(
        StatusCode::OK,
        json!({"data": [{"code": "SUCCESS", "details": {"id": id}, "message": "Meeting cancelled successfully", "status": "success"}]}),
    ))
}

/// `POST /Contacts/upsert`: update the record whose duplicate-check field matches, else insert.
fn upsert(st: &mut State, ctx: &Ctx, module: &str, body: &[u8]) -> Result<Resp, Resp> {
    let v = parse_body(body)?;
    let items = data_items(&v)?.clone();
    let dup_fields: Vec<String> = match v.get("duplicate_check_fields") {
        None => vec!["Email".into()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            return Err(bad(
                "INVALID_DATA",
                "invalid data",
                json!({"api_name": "duplicate_check_fields", "expected_data_type": "jsonarray"}),
            ))
        }
    };
    {
        let o = org(st, ctx);
        for f in &dup_fields {
            let ok = o.field(module, f).is_some_and(|d| {
                !d.read_only && matches!(d.data_type.as_str(), "text" | "email" | "phone")
            });
            if !ok {
                return Err(bad(
                    "INVALID_DATA",
                    "the field cannot be used to check duplicates",
                    json!({"api_name": f, "param_name": "duplicate_check_fields"}),
                ));
            }
        }
    }
    let State { orgs, mails, .. } = st;
    let o = orgs.get_mut(&ctx.org_id).expect("token org exists");
    let mut out = Vec::with_capacity(items.len());
    let mut all_ok = 0;
    for (index, item) in items.iter().enumerate() {
        let found = dup_fields.iter().find_map(|f| {
            let want = item.get(f)?.as_str()?.to_lowercase();
            let mut hits: Vec<&model::Record> = o
                .records
                .get(module)?
                .values()
                .filter(|r| {
                    r.values
                        .get(f)
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.to_lowercase() == want)
                })
                .collect();
            hits.sort_by_key(|r| r.id.parse::<u64>().unwrap_or(0));
            hits.first().map(|r| (f.clone(), r.id.clone()))
        });
        let one = std::slice::from_ref(item);
        let (res, action, dup) = match &found {
            Some((f, id)) => {
                let r = records::update(
                    o,
                    module,
                    one,
                    Some(id),
                    &ctx.user_id,
                    Origin::Api,
                    ctx.now,
                    mails,
                );
                (r, "update", json!(f))
            }
            None => {
                let r = records::insert(o, module, one, &ctx.user_id, Origin::Api, ctx.now, mails);
                (r, "insert", Value::Null)
            }
        };
        let mut item_json = match &res[0] {
            Ok(id) => {
                all_ok += 1;
                let msg = if action == "update" {
                    "record updated"
                } else {
                    "record added"
                };
                records::success_item(o, module, id, msg, &ctx.tz)
            }
            Err(e) => {
                // Errors name the item's position in the request.
                let mut e = e.clone();
                for v in e.details.values_mut() {
                    if let Value::String(s) = v {
                        *s = s.replace("$.data[0]", &format!("$.data[{index}]"));
                    }
                }
                e.to_json()
            }
        };
        if res[0].is_ok() {
            item_json["action"] = json!(action);
            item_json["duplicate_field"] = dup;
        }
        out.push(item_json);
    }
    let status = if all_ok == items.len() {
        StatusCode::OK
    } else if all_ok == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    };
    let extra = (items.len() as u64).div_ceil(10).saturating_sub(1);
    Ok(Resp::json(status, json!({"data": out})).credits(extra))
}

fn write_records(
    st: &mut State,
    ctx: &Ctx,
    module: &str,
    body: &[u8],
    path_id: Option<&str>,
    is_update: bool,
    headers: &HeaderMap,
) -> Result<Resp, Resp> {
    let v = parse_body(body)?;
    let items = data_items(&v)?.clone();
    if is_update {
        check_unmodified_since(st, ctx, module, &items, path_id, headers)?;
    }
    if path_id.is_some() && items.len() != 1 {
        return Err(bad(
            "LIMIT_EXCEEDED",
            "only one record can be updated through this URL",
            json!({"limit": 1, "param_name": "data"}),
        ));
    }
    let State { orgs, mails, .. } = st;
    let o = orgs.get_mut(&ctx.org_id).expect("token org exists");
    let results = if is_update {
        records::update(
            o,
            module,
            &items,
            path_id,
            &ctx.user_id,
            Origin::Api,
            ctx.now,
            mails,
        )
    } else {
        records::insert(o, module, &items, &ctx.user_id, Origin::Api, ctx.now, mails)
    };
    let extra = (items.len() as u64).div_ceil(10).saturating_sub(1);
    let (status, msg) = if is_update {
        (StatusCode::OK, "record updated")
    } else {
        (StatusCode::CREATED, "record added")
    };
    Ok(batch_response(o, module, &results, status, msg, &ctx.tz).credits(extra))
}

fn delete_records(st: &mut State, ctx: &Ctx, module: &str, ids: &[String]) -> Resp {
    let o = st.orgs.get_mut(&ctx.org_id).expect("token org exists");
    let results = records::delete(o, module, ids, &ctx.user_id, ctx.now);
    batch_response(
        o,
        module,
        &results,
        StatusCode::OK,
        "record deleted",
        &ctx.tz,
    )
}

fn deleted_records(
    st: &mut State,
    ctx: &Ctx,
    module: &str,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Result<Resp, Resp> {
    let kind = q.get("type").map(String::as_str).unwrap_or("all");
    if !["all", "recycle", "permanent"].contains(&kind) {
        return Err(bad(
            "INVALID_DATA",
            "invalid data",
            json!({"param_name": "type", "supported_values": ["all", "recycle", "permanent"]}),
        ));
    }
    let per_page = parse_per_page(q, 200)?;
    let page = parse_page(q)?;
    let ims = parse_ims(headers)?;
    let o = org(st, ctx);
    let mut list: Vec<&model::DeletedRecord> = o
        .deleted
        .get(module)
        .into_iter()
        .flatten()
        .filter(|d| kind == "all" || d.kind == kind)
        .filter(|d| ims.is_none_or(|t| d.deleted_time > t))
        .collect();
    list.sort_by_key(|d| std::cmp::Reverse(d.deleted_time));
    let start = (page - 1) * per_page;
    let slice: Vec<Value> = list
        .iter()
        .skip(start)
        .take(per_page)
        .map(|d| {
            let by = |uid: &str| json!({"name": o.user(uid).map(User::full_name), "id": uid});
            json!({
                "id": d.id,
                "display_name": d.display_name,
                "type": d.kind,
                "deleted_time": format_datetime(d.deleted_time, &ctx.tz),
                "deleted_by": if d.kind == "permanent" { Value::Null } else { by(&d.deleted_by) },
                "created_by": by(&d.created_by),
            })
        })
        .collect();
    if slice.is_empty() {
        return Ok(Resp::empty(if ims.is_some() {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::NO_CONTENT
        })
        .credits(1));
    }
    let count = slice.len();
    Ok(Resp::json(
        StatusCode::OK,
        json!({"data": slice, "info": {"per_page": per_page, "count": count, "page": page,
                                       "more_records": list.len() > start + count}}),
    )
    .credits(1))
}

fn timeline(
    st: &mut State,
    ctx: &Ctx,
    module: &str,
    id: &str,
    q: &BTreeMap<String, String>,
) -> Result<Resp, Resp> {
    let per_page = parse_per_page(q, 200)?;
    // Timeline page tokens are `tl.{record id}.{offset}` (opaque to clients).
    let offset = match q.get("page_token") {
        None => 0,
        Some(tok) => {
            let parts: Vec<&str> = tok.split('.').collect();
            match parts.as_slice() {
                ["tl", rid, off] if *rid == id => off.parse::<usize>().map_err(|_| {
                    bad(
                        "INVALID_DATA",
                        "invalid page token",
                        json!({"param_name": "page_token"}),
                    )
                })?,
                _ => {
                    return Err(bad(
                        "INVALID_DATA",
                        "invalid page token",
                        json!({"param_name": "page_token"}),
                    ))
                }
            }
        }
    };
    let o = org(st, ctx);
    let Some(rec) = o.records.get(module).and_then(|m| m.get(id)) else {
        return Err(bad(
            "INVALID_DATA",
            "the related id given seems to be invalid",
            json!({"resource_path_index": 1}),
        ));
    };
    let filter = match q.get("filters") {
        None => None,
        Some(f) => Some(
            serde_json::from_str::<Value>(f)
                .ok()
                .filter(timeline_filter_ok)
                .ok_or_else(|| {
                    bad(
                        "INVALID_DATA",
                        "invalid filters",
                        json!({"param_name": "filters"}),
                    )
                })?,
        ),
    };
    let all: Vec<Value> = records::timeline_json(o, module, rec, &ctx.tz)
        .into_iter()
        .filter(|e| filter.as_ref().is_none_or(|f| timeline_filter_match(f, e)))
        .collect();
    let total = all.len();
    let items: Vec<Value> = all.into_iter().skip(offset).take(per_page).collect();
    let count = items.len();
    let more = total > offset + count;
    let next = more.then(|| format!("tl.{id}.{}", offset + count));
    let prev = (offset > 0).then(|| format!("tl.{id}.{}", offset.saturating_sub(per_page)));
    Ok(Resp::json(
        StatusCode::OK,
        json!({"__timeline": items, "info": {"per_page": per_page, "count": count, "more_records": more,
                                             "next_page_token": next, "previous_page_token": prev}}),
    ))
}

/// Timeline `filters`: `{field:{api_name}, comparator, value}` on `source` / `done_by.id`
/// (equal, in) and `audited_time` (between), or `{group_operator:"AND"|"OR", group:[…]}`.
fn timeline_filter_ok(f: &Value) -> bool {
    if let Some(group) = f.get("group").and_then(Value::as_array) {
        let op = f
            .get("group_operator")
            .and_then(Value::as_str)
            .unwrap_or("AND");
        return ["AND", "OR", "and", "or"].contains(&op)
            && !group.is_empty()
            && group.iter().all(timeline_filter_ok);
    }
    let field = f.pointer("/field/api_name").and_then(Value::as_str);
    let cmp = f.get("comparator").and_then(Value::as_str);
    let value = f.get("value");
    match (field, cmp, value) {
        (Some("source" | "done_by.id"), Some("equal"), Some(Value::String(_))) => true,
        (Some("source" | "done_by.id"), Some("in"), Some(Value::Array(a))) => {
            a.iter().all(Value::is_string)
        }
        (Some("audited_time"), Some("between"), Some(Value::Array(a))) => {
            a.len() == 2
                && a.iter()
                    .all(|x| x.as_str().and_then(fields::parse_datetime).is_some())
        }
        _ => false,
    }
}

fn timeline_filter_match(f: &Value, entry: &Value) -> bool {
    if let Some(group) = f.get("group").and_then(Value::as_array) {
        let or = f
            .get("group_operator")
            .and_then(Value::as_str)
            .is_some_and(|o| o.eq_ignore_ascii_case("or"));
        return if or {
            group.iter().any(|g| timeline_filter_match(g, entry))
        } else {
            group.iter().all(|g| timeline_filter_match(g, entry))
        };
    }
    let field = f
        .pointer("/field/api_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let actual = match field {
        "source" => entry["source"].clone(),
        "done_by.id" => entry["done_by"]["id"].clone(),
        _ => entry["audited_time"].clone(),
    };
    match f.get("comparator").and_then(Value::as_str) {
        Some("equal") => f.get("value") == Some(&actual),
        Some("in") => f
            .get("value")
            .and_then(Value::as_array)
            .is_some_and(|a| a.contains(&actual)),
        _ => {
            let at = actual.as_str().and_then(fields::parse_datetime);
            let bounds: Vec<_> = f
                .get("value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().and_then(fields::parse_datetime))
                .collect();
            match (at, bounds.as_slice()) {
                (Some(t), [lo, hi]) => *lo <= t && t <= *hi,
                _ => false,
            }
        }
    }
}

fn mass_update(st: &mut State, ctx: &Ctx, module: &str, body: &[u8]) -> Result<Resp, Resp> {
    let v = parse_body(body)?;
    let items = data_items(&v)?;
    let Some(fields_obj) = items[0].as_object().cloned() else {
        return Err(bad(
            "INVALID_DATA",
            "invalid data",
            json!({"expected_data_type": "jsonobject", "json_path": "$.data[0]"}),
        ));
    };
    let ids: Vec<String> = match v.get("ids").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        None => {
            return Err(bad(
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                json!({"param_name": "ids"}),
            ))
        }
    };
    if ids.len() > 50_000 {
        return Err(bad(
            "LIMIT_EXCEEDED",
            "at most 50000 ids per mass update",
            json!({"limit": 50000, "param_name": "ids"}),
        ));
    }
    let (job_id, resp) = run_mass_update(
        st,
        &ctx.org_id,
        module,
        &ids,
        &fields_obj,
        &ctx.user_id,
        ctx.now,
    )?;
    let _ = resp;
    Ok(Resp::json(
        StatusCode::ACCEPTED,
        json!({"data": [{"status": "success", "code": "SUCCESS",
                          "message": "Your request for mass update has been scheduled",
                          "details": {"job_id": job_id}}]}),
    ))
}

/// Apply one set of field values to many records as a mass update; returns the job id.
pub(crate) fn run_mass_update(
    st: &mut State,
    org_id: &str,
    module: &str,
    ids: &[String],
    values: &Map<String, Value>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(String, Vec<ItemResult>), Resp> {
    let State { orgs, mails, .. } = st;
    let o = orgs
        .get_mut(org_id)
        .ok_or_else(|| bad("INVALID_DATA", "unknown org", json!({})))?;
    let items: Vec<Value> = ids
        .iter()
        .map(|id| {
            let mut m = values.clone();
            m.insert("id".into(), json!(id));
            Value::Object(m)
        })
        .collect();
    let results = records::update(
        o,
        module,
        &items,
        None,
        actor,
        Origin::MassUpdate,
        now,
        mails,
    );
    let updated = results.iter().filter(|r| r.is_ok()).count() as u64;
    let job_id = o.new_id();
    o.mass_jobs.push(model::MassJob {
        job_id: job_id.clone(),
        module: module.to_string(),
        updated,
        failed: results.len() as u64 - updated,
        not_updated: 0,
        total: results.len() as u64,
    });
    Ok((job_id, results))
}

fn mass_update_status(
    st: &mut State,
    ctx: &Ctx,
    module: &str,
    q: &BTreeMap<String, String>,
) -> Result<Resp, Resp> {
    let Some(job_id) = q.get("job_id") else {
        return Err(bad(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "job_id"}),
        ));
    };
    let o = org(st, ctx);
    let Some(job) = o
        .mass_jobs
        .iter()
        .find(|j| &j.job_id == job_id && j.module == module)
    else {
        return Err(bad(
            "INVALID_DATA",
            "invalid job id",
            json!({"param_name": "job_id"}),
        ));
    };
    Ok(Resp::json(
        StatusCode::OK,
        json!({"data": [{"Status": "COMPLETED", "Failed_Count": job.failed, "Updated_Count": job.updated,
                          "Not_Updated_Count": job.not_updated, "Total_Count": job.total}]}),
    ))
}

// ---------------------------------------------------------------------------------------------
// metadata

fn org_info(st: &mut State, ctx: &Ctx) -> Result<Resp, Resp> {
    require(scope_has(
        &ctx.scopes,
        &["ZohoCRM.org.ALL".into(), "ZohoCRM.org.READ".into()],
    ))?;
    let o = org(st, ctx);
    let admin = o.users.iter().find(|u| {
        o.profile(&u.profile_id)
            .is_some_and(|p| p.name == "Administrator")
    });
    let edition = serde_json::to_value(o.edition)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase));
    Ok(Resp::json(
        StatusCode::OK,
        json!({"org": [{
            "id": o.id,
            "zgid": o.id,
            "company_name": o.name,
            "time_zone": o.time_zone,
            "primary_email": admin.map(|u| u.email.clone()),
            "primary_zuid": admin.map(|u| u.zuid.clone()),
            "country_code": if o.dc == "jp" || o.time_zone == "Asia/Tokyo" { "JP" } else { "US" },
            "currency": if o.dc == "jp" { "JPY" } else { "USD" },
            "license_details": {"paid": o.edition != model::Edition::Free, "paid_type": edition,
                                "users_license_purchased": o.license_limit},
            "domain_name": format!("org{}", o.id),
        }]}),
    ))
}

fn modules_list(ctx: &Ctx) -> Result<Resp, Resp> {
    require(scope_has(
        &ctx.scopes,
        &[
            "ZohoCRM.settings.ALL".into(),
            "ZohoCRM.settings.modules.READ".into(),
            "ZohoCRM.settings.modules.ALL".into(),
        ],
    ))?;
    let mods: Vec<Value> = model::MODULES
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let label = if *m == "Events" { "Meetings" } else { m };
            json!({"api_name": m, "module_name": m, "plural_label": label, "singular_label": label.trim_end_matches('s'),
                   "id": format!("{}", 1000 + i), "api_supported": true, "generated_type": "default"})
        })
        .collect();
    Ok(Resp::json(StatusCode::OK, json!({"modules": mods})))
}

fn fields_list(
    st: &mut State,
    ctx: &Ctx,
    q: &BTreeMap<String, String>,
    id: Option<&str>,
) -> Result<Resp, Resp> {
    require(scope_has(
        &ctx.scopes,
        &[
            "ZohoCRM.settings.ALL".into(),
            "ZohoCRM.settings.fields.ALL".into(),
            "ZohoCRM.settings.fields.READ".into(),
        ],
    ))?;
    let Some(m) = q.get("module") else {
        return Err(bad(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "module"}),
        ));
    };
    let Some(module) = module_name(m) else {
        return Err(bad(
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({"param_name": "module"}),
        ));
    };
    let kind = q.get("type").map(String::as_str).unwrap_or("all");
    if !["all", "used", "unused"].contains(&kind) {
        return Err(bad(
            "INVALID_DATA",
            "invalid data",
            json!({"param_name": "type", "supported_values": ["all", "used", "unused"]}),
        ));
    }
    let o = org(st, ctx);
    let list: Vec<Value> = o
        .fields
        .get(module)
        .into_iter()
        .flatten()
        .filter(|f| id.is_none_or(|id| f.id == id))
        .filter(|_| kind != "unused")
        .map(|f| fields::field_json(module, f))
        .collect();
    if id.is_some() && list.is_empty() {
        return Err(bad(
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"resource_path_index": 2}),
        ));
    }
    if list.is_empty() {
        return Ok(Resp::empty(StatusCode::NO_CONTENT));
    }
    Ok(Resp::json(StatusCode::OK, json!({"fields": list})))
}

fn profile_json(p: &model::Profile, tz: &str, created: DateTime<Utc>) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "display_label": p.name,
        "api_name": p.name,
        "custom": !["Administrator", "Standard"].contains(&p.name.as_str()),
        "type": "normal_profile",
        "description": p.description,
        "created_time": format_datetime(created, tz),
        "modified_time": format_datetime(created, tz),
        "permissions_details": [
            {"id": format!("{}01", p.id), "name": "Crm_Implied_Manage_Users", "api_name": "Crm_Implied_Manage_Users",
             "display_label": "Manage Users", "module": null, "enabled": p.manage_users, "customizable": p.name != "Administrator"},
            {"id": format!("{}02", p.id), "name": "Crm_Implied_View_Contacts", "api_name": "Crm_Implied_View_Contacts",
             "display_label": "View Contacts", "module": "Contacts", "enabled": true, "customizable": true},
            {"id": format!("{}03", p.id), "name": "Crm_Implied_View_Events", "api_name": "Crm_Implied_View_Events",
             "display_label": "View Meetings", "module": "Events", "enabled": true, "customizable": true},
            {"id": format!("{}04", p.id), "name": "Crm_Implied_View_Tasks", "api_name": "Crm_Implied_View_Tasks",
             "display_label": "View Tasks", "module": "Tasks", "enabled": true, "customizable": true},
        ],
        "sections": [{"name": "setup", "categories": [{"name": "users_and_control", "display_label": "Users and Control",
                      "permissions_details": [format!("{}01", p.id)]}]}],
    })
}

fn profiles(st: &mut State, ctx: &Ctx, id: Option<&str>) -> Result<Resp, Resp> {
    require(scope_has(
        &ctx.scopes,
        &[
            "ZohoCRM.settings.ALL".into(),
            "ZohoCRM.settings.profiles.ALL".into(),
            "ZohoCRM.settings.profiles.READ".into(),
        ],
    ))?;
    let o = org(st, ctx);
    let created = o.users.first().map(|u| u.created_time).unwrap_or(ctx.now);
    let list: Vec<Value> = o
        .profiles
        .iter()
        .filter(|p| id.is_none_or(|id| p.id == id))
        .map(|p| profile_json(p, &ctx.tz, created))
        .collect();
    if list.is_empty() {
        return Err(bad(
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"resource_path_index": 2}),
        ));
    }
    let mut body = json!({"profiles": list});
    if id.is_none() {
        body["info"] = json!({"license_limit": o.license_limit, "count": o.profiles.len()});
    }
    Ok(Resp::json(StatusCode::OK, body))
}

// ---------------------------------------------------------------------------------------------
// users

fn users_scope(ctx: &Ctx, op: &str) -> Result<(), Resp> {
    require(scope_has(
        &ctx.scopes,
        &["ZohoCRM.users.ALL".into(), format!("ZohoCRM.users.{op}")],
    ))
}

pub(crate) fn user_json(o: &Org, u: &User, tz: &str) -> Value {
    let role = o.role(&u.role_id);
    let profile = o.profile(&u.profile_id);
    let offset_ms = u
        .time_zone
        .parse::<chrono_tz::Tz>()
        .map(|z| {
            use chrono::Offset;
            Utc::now()
                .with_timezone(&z)
                .offset()
                .fix()
                .local_minus_utc() as i64
                * 1000
        })
        .unwrap_or(0);
    let invited_by = u.invited_by.as_deref().and_then(|id| o.user(id));
    json!({
        "id": u.id,
        "zuid": u.zuid,
        "email": u.email,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "full_name": u.full_name(),
        "status": u.status,
        "confirm": u.confirm,
        "role": role.map(|r| json!({"name": r.name, "id": r.id})),
        "profile": profile.map(|p| json!({"name": p.name, "id": p.id})),
        "microsoft": false,
        "type__s": "Regular User",
        "time_zone": u.time_zone,
        "locale": u.locale,
        "country_locale": u.locale,
        "language": u.locale,
        "date_format": "MMM d, yyyy",
        "time_format": "hh:mm a",
        "offset": offset_ms,
        "Reporting_To": null,
        "created_by": invited_by.map(|b| json!({"name": b.full_name(), "id": b.id})),
        "created_time": format_datetime(u.created_time, tz),
        "Modified_Time": format_datetime(u.modified_time, tz),
        "Invited_By__s": invited_by.map(|b| json!({"name": b.full_name(), "id": b.id})),
        "Invited_Time__s": u.invited_by.as_ref().map(|_| format_datetime(u.created_time, tz)),
        "Confirmed_Time__s": null,
        "status_reason__s": null,
    })
}

fn user_matches(o: &Org, u: &User, kind: &str, caller: &str) -> Option<bool> {
    let admin = o
        .profile(&u.profile_id)
        .is_some_and(|p| p.name == "Administrator");
    let active = u.status == "active";
    Some(match kind {
        "AllUsers" | "ActiveAndDeactive" => u.status != "deleted",
        "ActiveUsers" | "AllActiveUsers" => active,
        "DeactiveUsers" => u.status == "inactive",
        "ConfirmedUsers" => u.confirm && u.status != "deleted",
        "NotConfirmedUsers" => !u.confirm && u.status != "deleted",
        "DeletedUsers" => u.status == "deleted",
        "ActiveConfirmedUsers" | "ConfirmedReportingUsers" => active && u.confirm,
        "AdminUsers" => admin && u.status != "deleted",
        "ActiveConfirmedAdmins" => admin && active && u.confirm,
        "CurrentUser" => u.id == caller,
        "DeveloperUsers" | "ActiveLiteUser" => false,
        _ => return None,
    })
}

fn users_list(
    st: &mut State,
    ctx: &Ctx,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Result<Resp, Resp> {
    users_scope(ctx, "READ")?;
    let ims = parse_ims(headers)?;
    let kind = q.get("type").map(String::as_str).unwrap_or("AllUsers");
    let per_page = parse_per_page(q, 200)?;
    let page = parse_page(q)?;
    let o = org(st, ctx);
    let mut list = Vec::new();
    for u in &o.users {
        match user_matches(o, u, kind, &ctx.user_id) {
            None => {
                return Err(bad(
                    "INVALID_DATA",
                    "invalid data",
                    json!({"param_name": "type"}),
                ))
            }
            Some(true) if ims.is_none_or(|t| u.modified_time > t) => list.push(u),
            Some(_) => {}
        }
    }
    if list.is_empty() && ims.is_some() {
        return Ok(Resp::empty(StatusCode::NOT_MODIFIED));
    }
    let start = (page - 1) * per_page;
    let slice: Vec<Value> = list
        .iter()
        .skip(start)
        .take(per_page)
        .map(|u| user_json(o, u, &ctx.tz))
        .collect();
    if slice.is_empty() {
        return Ok(Resp::empty(StatusCode::NO_CONTENT));
    }
    let count = slice.len();
    Ok(Resp::json(
        StatusCode::OK,
        json!({"users": slice, "info": {"per_page": per_page, "count": count, "page": page,
                                        "more_records": list.len() > start + count}}),
    ))
}

fn users_count(st: &mut State, ctx: &Ctx, q: &BTreeMap<String, String>) -> Result<Resp, Resp> {
    users_scope(ctx, "READ")?;
    let kind = q.get("type").map(String::as_str).unwrap_or("AllUsers");
    let o = org(st, ctx);
    let mut n = 0;
    for u in &o.users {
        match user_matches(o, u, kind, &ctx.user_id) {
            None => {
                return Err(bad(
                    "INVALID_DATA",
                    "invalid data",
                    json!({"param_name": "type"}),
                ))
            }
            Some(true) => n += 1,
            Some(false) => {}
        }
    }
    Ok(Resp::json(StatusCode::OK, json!({"count": n})))
}

fn users_get(st: &mut State, ctx: &Ctx, id: &str) -> Result<Resp, Resp> {
    users_scope(ctx, "READ")?;
    let o = org(st, ctx);
    match o.user(id) {
        Some(u) => Ok(Resp::json(
            StatusCode::OK,
            json!({"users": [user_json(o, u, &ctx.tz)]}),
        )),
        None => Ok(Resp::empty(StatusCode::NO_CONTENT)),
    }
}

fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => id_of(o.get("id")),
        _ => None,
    }
}

/// 403 unless the caller's profile has Manage Users.
fn require_manage_users(st: &State, ctx: &Ctx) -> Result<(), Resp> {
    let o = org(st, ctx);
    let allowed = o
        .user(&ctx.user_id)
        .and_then(|u| o.profile(&u.profile_id))
        .is_some_and(|p| p.manage_users);
    if allowed {
        Ok(())
    } else {
        Err(err(
            StatusCode::FORBIDDEN,
            "NO_PERMISSION",
            "permission denied",
            json!({"permissions": ["Crm_Implied_Manage_Users"]}),
        ))
    }
}

fn user_item_error(api_name: &str) -> Resp {
    Resp::json(
        StatusCode::BAD_REQUEST,
        json!({"users": [RecordError::new("INVALID_DATA", "invalid data",
            json!({"api_name": api_name, "json_path": format!("$.users[0].{api_name}")})).to_json()]}),
    )
}

fn users_update(st: &mut State, ctx: &Ctx, id: &str, body: &[u8]) -> Result<Resp, Resp> {
    users_scope(ctx, "UPDATE")?;
    require_manage_users(st, ctx)?;
    let v = parse_body(body)?;
    let Some(item) = v
        .get("users")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_object)
        .cloned()
    else {
        return Err(bad(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "users"}),
        ));
    };
    let o = st.orgs.get_mut(&ctx.org_id).expect("token org exists");
    let role = match item.get("role") {
        Some(r) => Some(
            id_of(Some(r))
                .filter(|rid| o.role(rid).is_some())
                .ok_or_else(|| user_item_error("role"))?,
        ),
        None => None,
    };
    let profile = match item.get("profile") {
        Some(r) => Some(
            id_of(Some(r))
                .filter(|pid| o.profile(pid).is_some())
                .ok_or_else(|| user_item_error("profile"))?,
        ),
        None => None,
    };
    let tz = match item.get("time_zone").and_then(Value::as_str) {
        Some(t) if t.parse::<chrono_tz::Tz>().is_err() => return Err(user_item_error("time_zone")),
        other => other.map(str::to_string),
    };
    let Some(u) = o
        .users
        .iter_mut()
        .find(|u| u.id == id && u.status != "deleted")
    else {
        return Err(bad(
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"resource_path_index": 1}),
        ));
    };
    if let Some(f) = item.get("first_name").and_then(Value::as_str) {
        u.first_name = Some(f.to_string());
    }
    if let Some(l) = item.get("last_name").and_then(Value::as_str) {
        u.last_name = l.to_string();
    }
    if let Some(r) = role {
        u.role_id = r;
    }
    if let Some(p) = profile {
        u.profile_id = p;
    }
    if let Some(t) = tz {
        u.time_zone = t;
    }
    u.modified_time = ctx.now;
    Ok(Resp::json(
        StatusCode::OK,
        json!({"users": [{"code": "SUCCESS", "details": {"id": id}, "message": "User updated", "status": "success"}]}),
    ))
}

fn users_delete(st: &mut State, ctx: &Ctx, id: &str) -> Result<Resp, Resp> {
    users_scope(ctx, "DELETE")?;
    require_manage_users(st, ctx)?;
    if id == ctx.user_id {
        return Err(bad(
            "NOT_ALLOWED",
            "you cannot delete yourself",
            json!({"resource_path_index": 1}),
        ));
    }
    let o = st.orgs.get_mut(&ctx.org_id).expect("token org exists");
    let Some(u) = o
        .users
        .iter_mut()
        .find(|u| u.id == id && u.status != "deleted")
    else {
        return Err(bad(
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"resource_path_index": 1}),
        ));
    };
    u.status = "deleted".into();
    u.modified_time = ctx.now;
    Ok(Resp::json(
        StatusCode::OK,
        json!({"users": [{"code": "SUCCESS", "details": {"id": id}, "message": "User deleted", "status": "success"}]}),
    ))
}

fn users_add(st: &mut State, ctx: &Ctx, body: &[u8]) -> Result<Resp, Resp> {
    users_scope(ctx, "CREATE")?;
    require_manage_users(st, ctx)?;
    let v = parse_body(body)?;
    let Some(users) = v.get("users").and_then(Value::as_array) else {
        return Err(bad(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "users"}),
        ));
    };
    if users.len() != 1 {
        return Err(bad(
            "LIMIT_EXCEEDED",
            "only one user can be added per request",
            json!({"limit": 1, "param_name": "users"}),
        ));
    }
    let item_err =
        |e: RecordError| Resp::json(StatusCode::BAD_REQUEST, json!({"users": [e.to_json()]}));
    let u = &users[0];
    let str_of = |k: &str| u.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(email) = str_of("email").filter(|e| !e.is_empty()) else {
        return Err(item_err(RecordError::new(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": "email", "json_path": "$.users[0].email"}),
        )));
    };
    if !email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
    {
        return Err(item_err(RecordError::new(
            "INVALID_DATA",
            "invalid data",
            json!({"api_name": "email", "json_path": "$.users[0].email", "expected_data_type": "email"}),
        )));
    }
    let first = str_of("first_name").filter(|s| !s.is_empty());
    let last = str_of("last_name").filter(|s| !s.is_empty());
    if first.is_none() && last.is_none() {
        return Err(item_err(RecordError::new(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": "last_name", "json_path": "$.users[0].last_name"}),
        )));
    }
    for (k, len) in [("first_name", 40), ("last_name", 80)] {
        if str_of(k).is_some_and(|s| s.chars().count() > len) {
            return Err(item_err(RecordError::new(
                "INVALID_DATA",
                "invalid data",
                json!({"api_name": k, "json_path": format!("$.users[0].{k}"), "maximum_length": len}),
            )));
        }
    }
    let o = org(st, ctx);
    let mut ids = Vec::new();
    for k in ["role", "profile"] {
        let Some(id) = id_of(u.get(k)) else {
            return Err(item_err(RecordError::new(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                json!({"api_name": k, "json_path": format!("$.users[0].{k}")}),
            )));
        };
        let exists = if k == "role" {
            o.role(&id).is_some()
        } else {
            o.profile(&id).is_some()
        };
        if !exists {
            return Err(item_err(RecordError::new(
                "INVALID_DATA",
                "invalid data",
                json!({"api_name": k, "json_path": format!("$.users[0].{k}")}),
            )));
        }
        ids.push(id);
    }
    if o.users
        .iter()
        .any(|x| x.status != "deleted" && x.email.eq_ignore_ascii_case(&email))
    {
        return Err(item_err(RecordError::new(
            "DUPLICATE_DATA",
            "Failed to add user since same email id is already present",
            json!({"api_name": "email", "json_path": "$.users[0].email"}),
        )));
    }
    let licensed = o.users.iter().filter(|x| x.status == "active").count();
    if licensed >= o.license_limit as usize {
        return Err(item_err(RecordError::new(
            "LICENSE_LIMIT_EXCEEDED",
            "Request exceeds your license limit. Need to upgrade in order to add",
            json!({"license_limit": o.license_limit}),
        )));
    }
    let inviter = o
        .user(&ctx.user_id)
        .map(User::full_name)
        .unwrap_or_default();
    let org_name = o.name.clone();
    let tz = str_of("time_zone").unwrap_or_else(|| o.time_zone.clone());
    let locale = str_of("locale").unwrap_or_else(|| "en_US".into());
    let o = st.orgs.get_mut(&ctx.org_id).expect("token org exists");
    let id = o.new_id();
    let zuid = format!("{}", 60_000_000 + o.users.len() as u64 * 7 + 3);
    o.users.push(User {
        id: id.clone(),
        zuid,
        email: email.clone(),
        first_name: first,
        last_name: last.clone().unwrap_or_default(),
        password: crate::seed::DEMO_PASSWORD.into(),
        profile_id: ids[1].clone(),
        role_id: ids[0].clone(),
        status: "active".into(),
        confirm: false,
        time_zone: tz,
        locale,
        created_time: ctx.now,
        modified_time: ctx.now,
        invited_by: Some(ctx.user_id.clone()),
    });
    st.mails.push(model::SentMail {
        to: email.clone(),
        subject: format!("{inviter} has invited you to join {org_name} in Zoho CRM"),
        body: format!(
            "Hello,\n\n{inviter} has invited you to join the organization \"{org_name}\" in Zoho CRM.\n\
Accept the invitation to get started: (sandbox) POST /control/zoho/invitations/{id}/accept\n"
        ),
        sent_time: ctx.now,
        org_id: ctx.org_id.clone(),
        kind: "user_invitation".into(),
    });
    Ok(Resp::json(
        StatusCode::CREATED,
        json!({"users": [{"code": "SUCCESS", "details": {"id": id}, "message": "User added", "status": "success"}]}),
    ))
}
