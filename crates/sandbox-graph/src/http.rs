//! The Graph HTTP front: bearer-token validation, scopes, throttling,
//! faults, `$batch`, and the dispatcher to the resource handlers.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::store::{AccessGrant, Data};
use crate::{events, items, GraphState};

pub(crate) fn routes() -> Router<GraphState> {
    Router::new()
        .route("/graph/v1.0", any(graph_root))
        .route("/graph/v1.0/{*rest}", any(graph))
}

/// A Graph request after transport decoding (also used for `$batch` parts).
pub(crate) struct Ctx {
    pub method: Method,
    pub segs: Vec<String>,
    /// Query parameters; keys lowercased.
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub body: Option<Value>,
    /// `http://HOST/graph/v1.0`.
    pub base: String,
    pub grant: AccessGrant,
    pub now: DateTime<Utc>,
}

impl Ctx {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn has_scope(&self, any_of: &[&str]) -> bool {
        self.grant
            .scopes
            .iter()
            .any(|s| any_of.iter().any(|want| s.eq_ignore_ascii_case(want)))
    }

    pub fn require_scope(&self, any_of: &[&str]) -> Result<(), ApiError> {
        if self.has_scope(any_of) {
            Ok(())
        } else {
            Err(ApiError::access_denied())
        }
    }

    /// The JSON body, or 400 when absent.
    pub fn json_body(&self) -> Result<&serde_json::Map<String, Value>, ApiError> {
        match &self.body {
            Some(Value::Object(m)) => Ok(m),
            _ => Err(ApiError::bad_request(
                "BadRequest",
                "Empty Payload. JSON content expected.",
            )),
        }
    }

    pub fn is_write(&self) -> bool {
        matches!(
            self.method,
            Method::POST | Method::PATCH | Method::DELETE | Method::PUT
        )
    }
}

/// A Graph answer before transport encoding.
pub(crate) struct Out {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Out {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

fn error_out(err: &ApiError, now: DateTime<Utc>) -> Out {
    let request_id = crate::store::new_guid();
    let date = now.format("%Y-%m-%dT%H:%M:%S").to_string();
    Out {
        status: err.status,
        headers: err.headers.clone(),
        body: Some(err.body(&request_id, &date)),
    }
}

fn to_response(out: Out) -> Response {
    let mut resp = match &out.body {
        Some(body) => {
            let mut r = (out.status, axum::Json(body.clone())).into_response();
            if out.status == StatusCode::ACCEPTED {
                r = out.status.into_response();
            }
            r
        }
        None => out.status.into_response(),
    };
    let h = resp.headers_mut();
    if out.body.is_some() && out.status != StatusCode::ACCEPTED {
        h.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"),
        );
    }
    for (k, v) in out.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            h.append(name, value);
        }
    }
    h.insert(
        "request-id",
        HeaderValue::try_from(crate::store::new_guid()).unwrap_or(HeaderValue::from_static("0")),
    );
    resp
}

pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

pub(crate) fn parse_query(raw: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(q) = raw {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            out.insert(k.to_ascii_lowercase(), v.into_owned());
        }
    }
    out
}

async fn graph_root(State(state): State<GraphState>) -> Response {
    let now = state.now();
    to_response(error_out(
        &ApiError::bad_request("BadRequest", "Invalid version."),
        now,
    ))
}

/// Validates the bearer token of a request.
fn authenticate(state: &GraphState, headers: &HeaderMap) -> Result<AccessGrant, ApiError> {
    let unauth = |msg: &str| {
        ApiError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", msg).with_header(
            "WWW-Authenticate",
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        )
    };
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = match value.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            t.trim()
        }
        _ => return Err(unauth("Access token is empty.")),
    };
    let now = state.now();
    let data = state.shared.data.lock();
    let grant = data
        .access_tokens
        .get(token)
        .ok_or_else(|| unauth("IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format."))?;
    if grant.expires_at <= now {
        return Err(unauth("Lifetime validation failed, the token is expired."));
    }
    Ok(grant.clone())
}

/// Throttling admission for one request against a mailbox. On success the
/// request is counted in the window and holds one concurrency slot until
/// [`release`] is called.
pub(crate) fn admit(state: &GraphState, mailbox: &str) -> Result<(), ApiError> {
    let limits = state.limits();
    let now = state.now();
    let mut counters = state.shared.counters.lock();
    let c = counters.entry(mailbox.to_string()).or_default();
    let window = chrono::Duration::seconds(limits.window_secs as i64);
    while c.window.front().is_some_and(|t| *t + window <= now) {
        c.window.pop_front();
    }
    if c.in_flight >= limits.concurrency {
        c.throttled += 1;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
        )
        .with_header("Retry-After", "1"));
    }
    if c.window.len() as u64 >= limits.window_requests as u64 {
        c.throttled += 1;
        let oldest = c.window.front().copied().unwrap_or(now);
        // Round up: a client that waits exactly Retry-After must find room.
        let remaining_ms = ((oldest + window) - now).num_milliseconds();
        let wait = ((remaining_ms + 999) / 1000).max(1);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ApplicationThrottled",
            "Application is over its MailboxRequests limit.",
        )
        .with_header("Retry-After", wait.to_string()));
    }
    c.in_flight += 1;
    c.total += 1;
    c.window.push_back(now);
    Ok(())
}

pub(crate) fn release(state: &GraphState, mailbox: &str) {
    if let Some(c) = state.shared.counters.lock().get_mut(mailbox) {
        c.in_flight = c.in_flight.saturating_sub(1);
    }
}

/// Releases the concurrency slot even when the request future is dropped.
struct Slot<'a> {
    state: &'a GraphState,
    mailbox: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        release(self.state, &self.mailbox);
    }
}

async fn graph(
    State(state): State<GraphState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.now();
    let grant = match authenticate(&state, &headers) {
        Ok(g) => g,
        Err(e) => return to_response(error_out(&e, now)),
    };
    let path = uri.path().strip_prefix("/graph/v1.0").unwrap_or("");
    let base = format!("{}/graph/v1.0", base_url(&headers));
    let body_json = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => Some(v),
            Err(_) => {
                return to_response(error_out(
                    &ApiError::bad_request("BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."),
                    now,
                ))
            }
        }
    };
    let ctx = Ctx {
        method,
        segs: split_path(path),
        query: parse_query(uri.query()),
        headers,
        body: body_json,
        base,
        grant,
        now,
    };
    if ctx.segs.len() == 1 && ctx.segs[0] == "$batch" {
        if ctx.method != Method::POST {
            return to_response(error_out(&ApiError::method_not_allowed(), now));
        }
        return to_response(batch(&state, &ctx).await);
    }
    let mailbox = ctx.grant.user_id.clone();
    if let Err(e) = admit(&state, &mailbox) {
        return to_response(error_out(&e, now));
    }
    let _slot = Slot {
        state: &state,
        mailbox,
    };
    if let Some(fault) = injected(&state).await {
        return to_response(error_out(&fault, now));
    }
    let out = run(&state, &ctx);
    if ctx.is_write() && out.status.is_success() {
        let hang = {
            let mut f = state.shared.faults.lock();
            if f.timeout_after_commit > 0 {
                f.timeout_after_commit -= 1;
                Some(f.timeout_hang_ms)
            } else {
                None
            }
        };
        if let Some(ms) = hang {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let err = ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "GatewayTimeout",
                "The request timed out (injected fault: the write was committed).",
            );
            return to_response(error_out(&err, state.now()));
        }
    }
    let mut out = out;
    let prefer = crate::odata::Prefer::from(&ctx);
    if prefer.immutable_id
        && !out
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("preference-applied") && v.contains("IdType"))
    {
        out.headers
            .push(("Preference-Applied".into(), "IdType=\"ImmutableId\"".into()));
    }
    to_response(out)
}

pub(crate) fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            urlencoding::decode(s)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| s.to_string())
        })
        .collect()
}

/// Runs one request against the data (no throttling here).
pub(crate) fn run(state: &GraphState, ctx: &Ctx) -> Out {
    let mut data = state.shared.data.lock();
    match dispatch(&mut data, ctx) {
        Ok(out) => out,
        Err(e) => error_out(&e, ctx.now),
    }
}

fn seg_is(s: &str, want: &str) -> bool {
    s.eq_ignore_ascii_case(want) || s.eq_ignore_ascii_case(&format!("{want}()"))
}

fn dispatch(data: &mut Data, ctx: &Ctx) -> Result<Out, ApiError> {
    let segs: Vec<&str> = ctx.segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        [] => Err(ApiError::unsupported_segment("v1.0")),
        ["users"] => items::list_users(data, ctx),
        [first, rest @ ..] if seg_is(first, "me") => {
            let uid = ctx.grant.user_id.clone();
            principal(data, ctx, &uid, rest, true)
        }
        ["users", key, rest @ ..] => {
            let user = data
                .find_user(key)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "Request_ResourceNotFound",
                        format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
                    )
                })?
                .id
                .clone();
            let own = user == ctx.grant.user_id;
            if rest.is_empty() {
                return items::get_user(data, ctx, &user, own);
            }
            if !own {
                return Err(ApiError::access_denied());
            }
            principal(data, ctx, &user, rest, true)
        }
        _ => Err(ApiError::unsupported_segment(&ctx.segs[0])),
    }
}

/// Routes under `/me` or `/users/{id}` (the caller's own mailbox).
fn principal(
    data: &mut Data,
    ctx: &Ctx,
    uid: &str,
    rest: &[&str],
    own: bool,
) -> Result<Out, ApiError> {
    let m = &ctx.method;
    check_ids(rest)?;
    if let Some(p) = rest
        .iter()
        .position(|s| s.eq_ignore_ascii_case("extensions"))
    {
        if p >= 1 {
            return crate::extensions::route(data, ctx, uid, rest[p - 1], &rest[p + 1..]);
        }
    }
    match rest {
        [] => items::get_user(data, ctx, uid, own),
        [o, z]
            if seg_is(o, "outlook") && z.to_ascii_lowercase().starts_with("supportedtimezones") =>
        {
            only(m, &[Method::GET])?;
            ctx.require_scope(&[
                "User.Read",
                "User.ReadBasic.All",
                "User.Read.All",
                "MailboxSettings.Read",
            ])?;
            let iana = z.to_ascii_lowercase().contains("'iana'");
            let value: Vec<serde_json::Value> = crate::tz::supported(iana)
                .into_iter()
                .map(|(alias, display)| json!({"alias": alias, "displayName": display}))
                .collect();
            Ok(Out::json(
                StatusCode::OK,
                json!({"@odata.context": context(ctx, "Collection(microsoft.graph.timeZoneInformation)"), "value": value}),
            ))
        }
        [s] if seg_is(s, "sendMail") => {
            only(m, &[Method::POST])?;
            items::send_mail(data, ctx, uid)
        }
        [s, ..]
            if seg_is(s, "calendars")
                || seg_is(s, "calendar")
                || seg_is(s, "events")
                || seg_is(s, "calendarView") =>
        {
            ctx.require_scope(if *m == Method::GET {
                &["Calendars.Read", "Calendars.ReadWrite"]
            } else {
                &["Calendars.ReadWrite"]
            })?;
            events::route(data, ctx, uid, rest)
        }
        [s, ..] if seg_is(s, "contactFolders") || seg_is(s, "contacts") => {
            ctx.require_scope(if *m == Method::GET {
                &["Contacts.Read", "Contacts.ReadWrite"]
            } else {
                &["Contacts.ReadWrite"]
            })?;
            items::route_contacts(data, ctx, uid, rest)
        }
        [s, ..] if seg_is(s, "todo") => {
            ctx.require_scope(if *m == Method::GET {
                &["Tasks.Read", "Tasks.ReadWrite"]
            } else {
                &["Tasks.ReadWrite"]
            })?;
            items::route_todo(data, ctx, uid, &rest[1..])
        }
        _ => Err(ApiError::unsupported_segment(rest[0])),
    }
}

/// Collections whose next segment is an item id.
const ID_PARENTS: &[&str] = &[
    "calendars",
    "events",
    "contactFolders",
    "contacts",
    "childFolders",
    "lists",
    "tasks",
    "linkedResources",
];
/// Segments that are navigation or functions, not ids.
const KEYWORDS: &[&str] = &[
    "delta",
    "delta()",
    "events",
    "calendarView",
    "contacts",
    "childFolders",
    "tasks",
    "instances",
    "linkedResources",
];

/// Ids are opaque base64-like strings; anything else is
/// `400 ErrorInvalidIdMalformed` (graph-api.md §6), not a 404.
fn check_ids(rest: &[&str]) -> Result<(), ApiError> {
    for pair in rest.windows(2) {
        let (parent, id) = (pair[0], pair[1]);
        if !ID_PARENTS.iter().any(|p| p.eq_ignore_ascii_case(parent))
            || KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(id))
        {
            continue;
        }
        let well_formed = id.len() >= 8
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-'));
        if !well_formed {
            return Err(ApiError::bad_request(
                "ErrorInvalidIdMalformed",
                "Id is malformed.",
            ));
        }
    }
    Ok(())
}

pub(crate) fn only(method: &Method, allowed: &[Method]) -> Result<(), ApiError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed())
    }
}

/// JSON batching (graph-api.md §5): ≤ 20 requests, unique ids, `dependsOn`,
/// 424 on a failed dependency, each part throttled on its own, outer 200.
async fn batch(state: &GraphState, outer: &Ctx) -> Out {
    let now = outer.now;
    let bad = |msg: &str| error_out(&ApiError::bad_request("BadRequest", msg), now);
    let Some(requests) = outer
        .body
        .as_ref()
        .and_then(|b| b.get("requests"))
        .and_then(Value::as_array)
    else {
        return bad("Invalid batch payload format.");
    };
    if requests.len() > 20 {
        return bad("The number of batch request steps exceeds the limit of 20.");
    }
    if requests.is_empty() {
        return bad("Invalid batch payload format.");
    }
    let mut ids: Vec<String> = Vec::new();
    for r in requests {
        let Some(id) = r.get("id").and_then(Value::as_str) else {
            return bad("Invalid batch payload format: every request needs an id.");
        };
        if ids.iter().any(|x| x.eq_ignore_ascii_case(id)) {
            return bad("Batch request steps must have unique ids.");
        }
        if r.get("method").and_then(Value::as_str).is_none()
            || r.get("url").and_then(Value::as_str).is_none()
        {
            return bad("Invalid batch payload format: method and url are required.");
        }
        if r.get("body").is_some() && r.get("headers").is_none() {
            return bad("Write request id : {id} does not contain Content-Type header or body.");
        }
        if let Some(deps) = r.get("dependsOn").and_then(Value::as_array) {
            for d in deps {
                let d = d.as_str().unwrap_or("");
                if !ids.iter().any(|x| x.eq_ignore_ascii_case(d)) {
                    return bad("Depends on a request id that does not precede it in the batch.");
                }
            }
        }
        ids.push(id.to_string());
    }
    let mut statuses: Vec<(String, u16)> = Vec::new();
    let mut responses = Vec::new();
    for r in requests {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        let failed_dep = r
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|deps| {
                deps.iter().any(|d| {
                    statuses.iter().any(|(sid, st)| {
                        sid.eq_ignore_ascii_case(d.as_str().unwrap_or("")) && *st >= 400
                    })
                })
            })
            .unwrap_or(false);
        let out = if failed_dep {
            error_out(
                &ApiError::new(
                    StatusCode::FAILED_DEPENDENCY,
                    "FailedDependency",
                    "The request failed because a request it depends on failed.",
                ),
                now,
            )
        } else {
            run_part(state, outer, r).await
        };
        statuses.push((id.clone(), out.status.as_u16()));
        let mut headers = serde_json::Map::new();
        for (k, v) in &out.headers {
            headers.insert(k.clone(), Value::from(v.clone()));
        }
        if out.body.is_some() {
            headers.insert(
                "Content-Type".into(),
                Value::from("application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"),
            );
        }
        let mut resp = json!({"id": id, "status": out.status.as_u16(), "headers": headers});
        if let Some(b) = out.body {
            resp["body"] = b;
        }
        responses.push(resp);
    }
    Out::json(StatusCode::OK, json!({ "responses": responses }))
}

async fn run_part(state: &GraphState, outer: &Ctx, r: &Value) -> Out {
    let now = state.now();
    let method = r["method"]
        .as_str()
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .unwrap_or(Method::GET);
    let url = r["url"].as_str().unwrap_or("/");
    let url = if url.starts_with('/') {
        url.to_string()
    } else {
        format!("/{url}")
    };
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (url.clone(), None),
    };
    let mut headers = HeaderMap::new();
    if let Some(h) = r.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(k.as_str()),
                v.as_str().map(HeaderValue::try_from),
            ) {
                headers.insert(name, value);
            }
        }
    }
    let ctx = Ctx {
        method,
        segs: split_path(&path),
        query: parse_query(query.as_deref()),
        headers,
        body: r.get("body").cloned(),
        base: outer.base.clone(),
        grant: outer.grant.clone(),
        now,
    };
    if ctx.segs.first().is_some_and(|s| s == "$batch") {
        return error_out(
            &ApiError::bad_request("BadRequest", "Nested batch requests are not supported."),
            now,
        );
    }
    let mailbox = ctx.grant.user_id.clone();
    if let Err(e) = admit(state, &mailbox) {
        return error_out(&e, now);
    }
    let _slot = Slot { state, mailbox };
    // Latency and injected errors apply to each part, as to a single request.
    if let Some(fault) = injected(state).await {
        return error_out(&fault, now);
    }
    run(state, &ctx)
}

/// Applies the latency fault; returns the injected error, if one is drawn.
async fn injected(state: &GraphState) -> Option<ApiError> {
    let faults = state.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if faults.error_rate > 0.0 && rand::rng().random::<f64>() < faults.error_rate {
        let status = StatusCode::from_u16(faults.error_status.unwrap_or(503))
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let code = faults.error_code.clone().unwrap_or_else(|| {
            match status.as_u16() {
                503 => "ServiceUnavailable",
                504 => "GatewayTimeout",
                _ => "UnknownError",
            }
            .to_string()
        });
        return Some(
            ApiError::new(
                status,
                &code,
                "The service is temporarily unavailable (injected fault).",
            )
            .with_header("Retry-After", "1"),
        );
    }
    None
}

/// Builds `@odata.context` for a path under the service root.
pub(crate) fn context(ctx: &Ctx, fragment: &str) -> String {
    format!("{}/$metadata#{}", ctx.base, fragment)
}
