//! The HTTP core (auth, pacing, retries, error mapping, redacted logging) and
//! the typed resource calls.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, IF_MATCH};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::error::GraphError;
use crate::models::{
    Calendar, Contact, ContactFolder, Event, MailMessage, SingleValueExtendedProperty, TodoTask,
    TodoTaskList, User,
};
use crate::pacing::RequestBudget;

/// The extended property that carries the CRM id on events and contacts
/// (`"{type} {guid} Name {name}"` format, graph-api.md §4). The GUID is this
/// application's property set; never change it, items already stamped with it
/// would no longer be found.
pub const DEFAULT_STAMP_PROPERTY: &str =
    "String {6b1e8f8e-3c2a-4d5b-9f61-2a7c0e4d9b13} Name CrmSyncId";

/// Why a [`TokenProvider`] could not give a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenProviderError {
    /// The refresh token is dead; the user must sign in again.
    #[error("reconnect needed: {0}")]
    ReconnectNeeded(String),
    /// Any other failure (network to the token endpoint, keychain, ...).
    #[error("token unavailable: {0}")]
    Unavailable(String),
}

/// Gives bearer tokens for one mailbox. The auth crate's session implements
/// this in the engine; the Graph client never sees refresh tokens.
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync {
    /// A valid access token (cached or freshly refreshed).
    async fn access_token(&self) -> Result<String, TokenProviderError>;
    /// The service refused `token` with 401: drop it from the cache so the
    /// next [`TokenProvider::access_token`] refreshes.
    async fn token_rejected(&self, token: &str);
}

/// A fixed token (tools, short scripts). A 401 is final.
#[derive(Clone)]
pub struct StaticToken(pub String);

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

#[async_trait::async_trait]
impl TokenProvider for StaticToken {
    async fn access_token(&self) -> Result<String, TokenProviderError> {
        Ok(self.0.clone())
    }
    async fn token_rejected(&self, _token: &str) {}
}

/// Whose mailbox the client works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mailbox {
    /// `/me` (the signed-in user).
    Me,
    /// `/users/{id or UPN}`.
    User(String),
}

/// Client settings. [`GraphConfig::new`] gives the Outlook defaults.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Graph root including the version, e.g. `https://graph.microsoft.com/v1.0`
    /// or the sandbox's `http://127.0.0.1:PORT/graph/v1.0`.
    pub base_url: String,
    pub mailbox: Mailbox,
    /// Requests in flight at once (Outlook: 4 per app and mailbox).
    pub max_in_flight: usize,
    /// Request budget: at most this many requests per `budget_window`.
    pub budget_requests: usize,
    pub budget_window: Duration,
    /// Retries of a throttled / unavailable / failed-idempotent request.
    pub max_retries: u32,
    /// A `Retry-After` longer than this is not waited out inside the call:
    /// the call fails with [`GraphError::Throttled`] and the engine schedules.
    pub max_retry_wait: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Extended property id used to stamp the CRM id.
    pub stamp_property: String,
}

impl GraphConfig {
    /// Defaults for the given Graph root.
    pub fn new(base_url: impl Into<String>) -> Self {
        GraphConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            mailbox: Mailbox::Me,
            max_in_flight: 4,
            budget_requests: 10_000,
            budget_window: Duration::from_secs(600),
            max_retries: 6,
            max_retry_wait: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
            stamp_property: DEFAULT_STAMP_PROPERTY.to_string(),
        }
    }
}

/// One change from a delta feed.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaItem<T> {
    /// Added or changed.
    Changed(T),
    /// `@removed` (deleted, or for calendarView possibly out of range).
    Removed { id: String, reason: String },
}

/// One page of a delta feed: exactly one of `next_link`/`delta_link` is set.
#[derive(Debug, Clone)]
pub struct DeltaPage<T> {
    pub items: Vec<DeltaItem<T>>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

/// A whole delta round: all pages until the `deltaLink` to store.
#[derive(Debug, Clone)]
pub struct DeltaRound<T> {
    pub items: Vec<DeltaItem<T>>,
    pub delta_link: String,
}

struct Inner {
    http: reqwest::Client,
    cfg: GraphConfig,
    tokens: Arc<dyn TokenProvider>,
    in_flight: Semaphore,
    budget: RequestBudget,
}

/// Microsoft Graph client for one mailbox. Cheap to clone; clones share the
/// in-flight limit and the request budget.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.inner.cfg.base_url)
            .field("mailbox", &self.inner.cfg.mailbox)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Req {
    pub method: Method,
    pub url: String,
    pub body: Option<Value>,
    pub if_match: Option<String>,
    /// Requests this call counts against the budget (a `$batch` counts its parts).
    pub cost: usize,
    /// `ConsistencyLevel: eventual` (needed by `/users` with `$search`/`$count`).
    pub consistency_eventual: bool,
}

pub(crate) struct Resp {
    pub body: Value,
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// The path of a URL for logs: no query (filters carry CRM ids and names,
/// `$search` carries what the user typed) and no e-mail addresses (UPNs).
pub(crate) fn redact_url(url: &str) -> String {
    let (path, query) = match url.split_once('?') {
        Some((p, _)) => (p, true),
        None => (url, false),
    };
    let path = path
        .split('/')
        .map(|seg| {
            if seg.contains('@') || seg.contains("%40") {
                "<upn>"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    if query {
        format!("{path}?<redacted>")
    } else {
        path
    }
}

fn odata_quote(s: &str) -> String {
    s.replace('\'', "''")
}

fn enc(s: &str) -> String {
    urlencoding::encode(s).into_owned()
}

impl GraphClient {
    /// A client for `cfg.mailbox`, asking `tokens` for bearer tokens.
    pub fn new(cfg: GraphConfig, tokens: Arc<dyn TokenProvider>) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .build()
            .map_err(|e| GraphError::Network(e.to_string()))?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                in_flight: Semaphore::new(cfg.max_in_flight.max(1)),
                budget: RequestBudget::new(cfg.budget_requests, cfg.budget_window),
                cfg,
                tokens,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GraphConfig {
        &self.inner.cfg
    }

    /// Every task of this client waits `d` before its next request.
    pub(crate) fn pause(&self, d: Duration) {
        self.inner.budget.pause_for(d);
    }

    /// Requests counted in the client's budget window.
    pub fn budget_used(&self) -> usize {
        self.inner.budget.in_window()
    }

    /// `/me` or `/users/{id}` followed by `rest` (which starts with `/`): the
    /// relative URL used inside `$batch`.
    pub fn mailbox_path(&self, rest: &str) -> String {
        match &self.inner.cfg.mailbox {
            Mailbox::Me => format!("/me{rest}"),
            Mailbox::User(u) => format!("/users/{}{rest}", enc(u)),
        }
    }

    pub(crate) fn abs(&self, relative: &str) -> String {
        format!("{}{}", self.inner.cfg.base_url, relative)
    }

    fn mb(&self, rest: &str) -> String {
        self.abs(&self.mailbox_path(rest))
    }

    /// A link returned by the service (nextLink/deltaLink) must point at the
    /// configured Graph root: the bearer token is never sent anywhere else.
    fn check_link(&self, link: &str) -> Result<(), GraphError> {
        let base = url::Url::parse(&self.inner.cfg.base_url)
            .map_err(|e| GraphError::Argument(format!("base url: {e}")))?;
        let l = url::Url::parse(link).map_err(|e| GraphError::Argument(format!("link: {e}")))?;
        if l.origin() != base.origin() || !l.path().starts_with(base.path()) {
            return Err(GraphError::Argument(
                "link does not point at the configured Graph endpoint".into(),
            ));
        }
        Ok(())
    }

    pub(crate) async fn execute(&self, req: Req) -> Result<Resp, GraphError> {
        let inner = &self.inner;
        let idempotent = req.method != Method::POST;
        let mut attempt: u32 = 0;
        let mut auth_retried = false;
        loop {
            // The slot first, then the budget: a task waiting for a slot must
            // still see a pause set by a 429 that arrived meanwhile.
            let permit = inner
                .in_flight
                .acquire()
                .await
                .map_err(|_| GraphError::Network("client closed".into()))?;
            inner.budget.acquire(req.cost).await;
            let token = inner.tokens.access_token().await.map_err(|e| match e {
                TokenProviderError::ReconnectNeeded(m) => GraphError::ReconnectNeeded(m),
                TokenProviderError::Unavailable(m) => GraphError::Auth {
                    status: 0,
                    code: "TokenUnavailable".into(),
                    message: m,
                },
            })?;
            let mut rb = inner
                .http
                .request(req.method.clone(), &req.url)
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .header("Prefer", r#"IdType="ImmutableId""#)
                .header("Prefer", r#"outlook.timezone="UTC""#);
            if let Some(tag) = &req.if_match {
                let v = HeaderValue::from_str(tag)
                    .map_err(|_| GraphError::Argument("If-Match value".into()))?;
                rb = rb.header(IF_MATCH, v);
            }
            if req.consistency_eventual {
                rb = rb.header("ConsistencyLevel", "eventual");
            }
            if let Some(body) = &req.body {
                rb = rb.header(CONTENT_TYPE, "application/json").json(body);
            }
            let started = std::time::Instant::now();
            let sent = rb.send().await;
            let logged_url = redact_url(&req.url);
            let outcome = match sent {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let headers = r.headers().clone();
                    let bytes = r.bytes().await;
                    drop(permit);
                    tracing::debug!(
                        method = %req.method,
                        url = %logged_url,
                        status,
                        attempt,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        request_id = headers.get("request-id").and_then(|v| v.to_str().ok()).unwrap_or(""),
                        "graph request"
                    );
                    match bytes {
                        Ok(b) => Ok((status, headers, b)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::debug!(
                        method = %req.method,
                        url = %logged_url,
                        attempt,
                        timeout = e.is_timeout(),
                        "graph request failed without an answer"
                    );
                    Err(e)
                }
            };
            let (status, headers, bytes) = match outcome {
                Ok(x) => x,
                Err(e) => {
                    if idempotent && attempt < inner.cfg.max_retries {
                        attempt += 1;
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                    return Err(GraphError::Network(if e.is_timeout() {
                        "request timed out (a write may have been applied)".into()
                    } else {
                        format!("{}", e.without_url())
                    }));
                }
            };
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            if (200..300).contains(&status) {
                return Ok(Resp { body });
            }
            let ra = retry_after(&headers);
            if status == 401 && !auth_retried {
                auth_retried = true;
                inner.tokens.token_rejected(&token).await;
                continue;
            }
            // 429 and 503 mean "not processed": safe to retry any method.
            // Other 5xx only for idempotent methods (a POST may have been applied).
            let retryable =
                status == 429 || status == 503 || (idempotent && matches!(status, 500 | 502 | 504));
            if retryable && attempt < inner.cfg.max_retries {
                let wait = ra.unwrap_or_else(|| backoff(attempt + 1));
                if wait <= inner.cfg.max_retry_wait {
                    attempt += 1;
                    if status == 429 || ra.is_some() {
                        inner.budget.pause_for(wait);
                    } else {
                        tokio::time::sleep(wait).await;
                    }
                    tracing::debug!(
                        status,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "graph retry"
                    );
                    continue;
                }
            }
            let location = headers
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let err = GraphError::from_status(status, &body, ra, location);
            tracing::debug!(status, code = err.code().unwrap_or(""), "graph error");
            return Err(err);
        }
    }

    async fn call(
        &self,
        method: Method,
        url: String,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<Value, GraphError> {
        Ok(self
            .execute(Req {
                method,
                url,
                body,
                if_match: if_match.map(str::to_string),
                cost: 1,
                consistency_eventual: false,
            })
            .await?
            .body)
    }

    async fn get<T: DeserializeOwned>(&self, url: String) -> Result<T, GraphError> {
        decode(self.call(Method::GET, url, None, None).await?)
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        url: String,
        body: &B,
        if_match: Option<&str>,
    ) -> Result<T, GraphError> {
        let body = serde_json::to_value(body).map_err(|e| GraphError::Argument(e.to_string()))?;
        decode(self.call(method, url, Some(body), if_match).await?)
    }

    async fn delete(&self, url: String, if_match: Option<&str>) -> Result<(), GraphError> {
        self.call(Method::DELETE, url, None, if_match)
            .await
            .map(|_| ())
    }

    /// All items of a collection, following `@odata.nextLink`.
    pub async fn list_all<T: DeserializeOwned>(&self, first: String) -> Result<Vec<T>, GraphError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let page = self.call(Method::GET, url, None, None).await?;
            if let Some(values) = page.get("value").and_then(Value::as_array) {
                for v in values {
                    out.push(decode(v.clone())?);
                }
            }
            if let Some(link) = page.get("@odata.nextLink").and_then(Value::as_str) {
                self.check_link(link)?;
                next = Some(link.to_string());
            }
        }
        Ok(out)
    }

    // ----- delta -----------------------------------------------------------

    /// One page of a delta feed (first URL, a nextLink or a stored deltaLink).
    /// An expired token gives [`GraphError::ResyncRequired`].
    pub async fn delta_page<T: DeserializeOwned>(
        &self,
        link: &str,
    ) -> Result<DeltaPage<T>, GraphError> {
        self.check_link(link)?;
        let page = self.call(Method::GET, link.to_string(), None, None).await?;
        let mut items = Vec::new();
        for v in page
            .get("value")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(removed) = v.get("@removed") {
                items.push(DeltaItem::Removed {
                    id: v
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    reason: removed
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or("deleted")
                        .to_string(),
                });
            } else {
                items.push(DeltaItem::Changed(decode(v.clone())?));
            }
        }
        let link_of = |k: &str| page.get(k).and_then(Value::as_str).map(str::to_string);
        let next_link = link_of("@odata.nextLink");
        let delta_link = link_of("@odata.deltaLink");
        if next_link.is_none() && delta_link.is_none() {
            return Err(GraphError::Decode(
                "delta page without nextLink or deltaLink".into(),
            ));
        }
        Ok(DeltaPage {
            items,
            next_link,
            delta_link,
        })
    }

    /// A whole delta round from `link` (first URL or stored deltaLink),
    /// following nextLinks until the deltaLink.
    pub async fn delta_round<T: DeserializeOwned>(
        &self,
        link: &str,
    ) -> Result<DeltaRound<T>, GraphError> {
        let mut items = Vec::new();
        let mut link = link.to_string();
        loop {
            let page = self.delta_page::<T>(&link).await?;
            items.extend(page.items);
            match (page.next_link, page.delta_link) {
                (Some(next), _) => link = next,
                (None, Some(delta)) => {
                    return Ok(DeltaRound {
                        items,
                        delta_link: delta,
                    })
                }
                (None, None) => unreachable!("checked in delta_page"),
            }
        }
    }

    /// First URL of the contacts delta (default folder when `folder` is None).
    pub fn contacts_delta_url(&self, folder: Option<&str>) -> String {
        match folder {
            Some(f) => self.mb(&format!("/contactFolders/{}/contacts/delta", enc(f))),
            None => self.mb("/contacts/delta"),
        }
    }

    /// First URL of the calendarView delta of a calendar (default when None)
    /// for `[start, end)` (UTC).
    pub fn events_delta_url(
        &self,
        calendar: Option<&str>,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let base = match calendar {
            Some(c) => self.mb(&format!("/calendars/{}/calendarView/delta", enc(c))),
            None => self.mb("/calendarView/delta"),
        };
        format!(
            "{base}?startDateTime={}&endDateTime={}",
            enc(&start.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            enc(&end.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        )
    }

    /// First URL of the contact folders delta.
    pub fn contact_folders_delta_url(&self) -> String {
        self.mb("/contactFolders/delta")
    }

    /// First URL of the To Do lists delta.
    pub fn task_lists_delta_url(&self) -> String {
        self.mb("/todo/lists/delta")
    }

    /// First URL of a To Do list's tasks delta.
    pub fn tasks_delta_url(&self, list: &str) -> String {
        self.mb(&format!("/todo/lists/{}/tasks/delta", enc(list)))
    }

    // ----- stamping --------------------------------------------------------

    /// The stamp to put in a create/PATCH body for `crm_id`.
    pub fn stamp(&self, crm_id: &str) -> Vec<SingleValueExtendedProperty> {
        vec![SingleValueExtendedProperty {
            id: self.inner.cfg.stamp_property.clone(),
            value: crm_id.to_string(),
        }]
    }

    fn stamp_query(&self, crm_id: &str) -> String {
        let p = odata_quote(&self.inner.cfg.stamp_property);
        let filter = format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{p}' and ep/value eq '{}')",
            odata_quote(crm_id)
        );
        let expand = format!("singleValueExtendedProperties($filter=id eq '{p}')");
        format!("$filter={}&$expand={}", enc(&filter), enc(&expand))
    }

    /// The CRM id stamped on an item read with the stamp expanded.
    pub fn stamp_of(&self, props: Option<&[SingleValueExtendedProperty]>) -> Option<String> {
        props?
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(&self.inner.cfg.stamp_property))
            .map(|p| p.value.clone())
    }

    // ----- users and mail --------------------------------------------------

    /// `GET /me` (or the configured user).
    pub async fn me(&self) -> Result<User, GraphError> {
        self.get(self.mb("")).await
    }

    /// `GET /users`, optionally with `$search` on the display name (word prefix)
    /// (sent with `ConsistencyLevel: eventual` and `$count=true`, as Graph requires).
    pub async fn list_users(&self, search: Option<&str>) -> Result<Vec<User>, GraphError> {
        let url = match search {
            Some(s) => {
                let s = s.replace('"', "");
                self.abs(&format!(
                    "/users?$search={}&$count=true&$top=100",
                    enc(&format!("\"displayName:{s}\""))
                ))
            }
            None => self.abs("/users?$top=100"),
        };
        self.list_all_with_consistency(url).await
    }

    async fn list_all_with_consistency(&self, url: String) -> Result<Vec<User>, GraphError> {
        let mut out = Vec::new();
        let mut next = Some(url);
        while let Some(u) = next.take() {
            let page = self
                .execute(Req {
                    method: Method::GET,
                    url: u,
                    body: None,
                    if_match: None,
                    cost: 1,
                    consistency_eventual: true,
                })
                .await?
                .body;
            for v in page
                .get("value")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                out.push(decode(v.clone())?);
            }
            if let Some(link) = page.get("@odata.nextLink").and_then(Value::as_str) {
                self.check_link(link)?;
                next = Some(link.to_string());
            }
        }
        Ok(out)
    }

    /// `POST /me/sendMail` (202, no body).
    pub async fn send_mail(
        &self,
        message: &MailMessage,
        save_to_sent: bool,
    ) -> Result<(), GraphError> {
        let body = json!({"message": message, "saveToSentItems": save_to_sent});
        self.call(Method::POST, self.mb("/sendMail"), Some(body), None)
            .await
            .map(|_| ())
    }

    // ----- calendars and events --------------------------------------------

    pub async fn list_calendars(&self) -> Result<Vec<Calendar>, GraphError> {
        self.list_all(self.mb("/calendars")).await
    }
    pub async fn default_calendar(&self) -> Result<Calendar, GraphError> {
        self.get(self.mb("/calendar")).await
    }
    pub async fn create_calendar(&self, name: &str) -> Result<Calendar, GraphError> {
        self.send_json(
            Method::POST,
            self.mb("/calendars"),
            &json!({"name": name}),
            None,
        )
        .await
    }
    pub async fn delete_calendar(&self, id: &str) -> Result<(), GraphError> {
        self.delete(self.mb(&format!("/calendars/{}", enc(id))), None)
            .await
    }

    fn events_url(&self, calendar: Option<&str>) -> String {
        match calendar {
            Some(c) => self.mb(&format!("/calendars/{}/events", enc(c))),
            None => self.mb("/events"),
        }
    }

    /// Creates an event. Set `event.transaction_id` so a retry after a lost
    /// answer is not applied twice (see [`GraphClient::create_event_stamped`]).
    pub async fn create_event(
        &self,
        calendar: Option<&str>,
        event: &Event,
    ) -> Result<Event, GraphError> {
        self.send_json(Method::POST, self.events_url(calendar), event, None)
            .await
    }

    /// Creates an event stamped with `crm_id`, safe against a lost answer:
    /// the POST carries a `transactionId` derived from `crm_id` and
    /// `create_key` (the engine's id for this create), and after a timeout or
    /// 5xx the event is looked up by its stamp before the POST is repeated
    /// (the repeat carries the same transactionId, so the service dedups too).
    pub async fn create_event_stamped(
        &self,
        calendar: Option<&str>,
        event: &Event,
        crm_id: &str,
        create_key: &str,
    ) -> Result<Event, GraphError> {
        let mut e = event.clone();
        e.single_value_extended_properties = Some(self.stamp(crm_id));
        e.transaction_id = Some(transaction_id(crm_id, create_key));
        match self.create_event(calendar, &e).await {
            Err(err) if is_lost_answer(&err) => {
                // Looked up in the calendar the POST went to (`/events` is only
                // the default calendar).
                if let Some(found) = self.find_event_by_stamp_in(calendar, crm_id).await? {
                    return Ok(found);
                }
                self.create_event(calendar, &e).await
            }
            other => other,
        }
    }

    pub async fn get_event(&self, id: &str) -> Result<Event, GraphError> {
        self.get(self.mb(&format!("/events/{}", enc(id)))).await
    }

    /// PATCH with `If-Match` when `etag` is given (412 → [`GraphError::Conflict`]).
    pub async fn update_event(
        &self,
        id: &str,
        patch: &Event,
        etag: Option<&str>,
    ) -> Result<Event, GraphError> {
        self.send_json(
            Method::PATCH,
            self.mb(&format!("/events/{}", enc(id))),
            patch,
            etag,
        )
        .await
    }

    pub async fn delete_event(&self, id: &str, etag: Option<&str>) -> Result<(), GraphError> {
        self.delete(self.mb(&format!("/events/{}", enc(id))), etag)
            .await
    }

    /// The event of the default calendar (`/events`) stamped with `crm_id`, with the stamp expanded.
    pub async fn find_event_by_stamp(&self, crm_id: &str) -> Result<Option<Event>, GraphError> {
        self.find_event_by_stamp_in(None, crm_id).await
    }

    /// The event of `calendar` (default when None) stamped with `crm_id`.
    async fn find_event_by_stamp_in(
        &self,
        calendar: Option<&str>,
        crm_id: &str,
    ) -> Result<Option<Event>, GraphError> {
        let url = format!("{}?{}", self.events_url(calendar), self.stamp_query(crm_id));
        Ok(self.list_all::<Event>(url).await?.into_iter().next())
    }

    // ----- contact folders and contacts ------------------------------------

    /// Contact folders (without the default folder, a known Graph quirk).
    pub async fn list_contact_folders(&self) -> Result<Vec<ContactFolder>, GraphError> {
        self.list_all(self.mb("/contactFolders")).await
    }

    /// The id of the default Contacts folder (`parentFolderId` of a contact
    /// listed from `/me/contacts`), or None when the mailbox has no contact.
    pub async fn default_contact_folder_id(&self) -> Result<Option<String>, GraphError> {
        let v = self
            .call(
                Method::GET,
                self.mb("/contacts?$top=1&$select=parentFolderId"),
                None,
                None,
            )
            .await?;
        Ok(v.pointer("/value/0/parentFolderId")
            .and_then(Value::as_str)
            .map(str::to_string))
    }

    pub async fn create_contact_folder(&self, name: &str) -> Result<ContactFolder, GraphError> {
        self.send_json(
            Method::POST,
            self.mb("/contactFolders"),
            &json!({"displayName": name}),
            None,
        )
        .await
    }

    pub async fn delete_contact_folder(&self, id: &str) -> Result<(), GraphError> {
        self.delete(self.mb(&format!("/contactFolders/{}", enc(id))), None)
            .await
    }

    fn contacts_url(&self, folder: Option<&str>) -> String {
        match folder {
            Some(f) => self.mb(&format!("/contactFolders/{}/contacts", enc(f))),
            None => self.mb("/contacts"),
        }
    }

    pub async fn create_contact(
        &self,
        folder: Option<&str>,
        contact: &Contact,
    ) -> Result<Contact, GraphError> {
        self.send_json(Method::POST, self.contacts_url(folder), contact, None)
            .await
    }

    /// Creates a contact stamped with `crm_id`. After a timeout or 5xx the
    /// contact is looked up by its stamp first, so a create whose answer was
    /// lost is not duplicated.
    pub async fn create_contact_stamped(
        &self,
        folder: Option<&str>,
        contact: &Contact,
        crm_id: &str,
    ) -> Result<Contact, GraphError> {
        let mut c = contact.clone();
        c.single_value_extended_properties = Some(self.stamp(crm_id));
        match self.create_contact(folder, &c).await {
            Err(err) if is_lost_answer(&err) => {
                if let Some(found) = self.find_contact_by_stamp(folder, crm_id).await? {
                    return Ok(found);
                }
                self.create_contact(folder, &c).await
            }
            other => other,
        }
    }

    pub async fn get_contact(&self, id: &str) -> Result<Contact, GraphError> {
        self.get(self.mb(&format!("/contacts/{}", enc(id)))).await
    }

    /// A contact with its stamp expanded (`stamp_of(contact.single_value_extended_properties)`).
    pub async fn get_contact_with_stamp(&self, id: &str) -> Result<Contact, GraphError> {
        let p = odata_quote(&self.inner.cfg.stamp_property);
        let expand = format!("singleValueExtendedProperties($filter=id eq '{p}')");
        self.get(format!(
            "{}?$expand={}",
            self.mb(&format!("/contacts/{}", enc(id))),
            enc(&expand)
        ))
        .await
    }

    pub async fn list_contacts(&self, folder: Option<&str>) -> Result<Vec<Contact>, GraphError> {
        self.list_all(format!("{}?$top=100", self.contacts_url(folder)))
            .await
    }

    /// PATCH with `If-Match` when `etag` is given (412 → [`GraphError::Conflict`]).
    pub async fn update_contact(
        &self,
        id: &str,
        patch: &Contact,
        etag: Option<&str>,
    ) -> Result<Contact, GraphError> {
        self.send_json(
            Method::PATCH,
            self.mb(&format!("/contacts/{}", enc(id))),
            patch,
            etag,
        )
        .await
    }

    pub async fn delete_contact(&self, id: &str, etag: Option<&str>) -> Result<(), GraphError> {
        self.delete(self.mb(&format!("/contacts/{}", enc(id))), etag)
            .await
    }

    /// The contact stamped with `crm_id` (in `folder`, or the default folder).
    pub async fn find_contact_by_stamp(
        &self,
        folder: Option<&str>,
        crm_id: &str,
    ) -> Result<Option<Contact>, GraphError> {
        let url = format!("{}?{}", self.contacts_url(folder), self.stamp_query(crm_id));
        Ok(self.list_all::<Contact>(url).await?.into_iter().next())
    }

    /// A raw JSON call under the mailbox (`rest` starts with `/`, may carry a query): for
    /// adapters that project records themselves and must send explicit `null`s (clearing a
    /// field), which the typed models cannot express. `If-Match` when `if_match` is given.
    pub async fn mailbox_json(
        &self,
        method: Method,
        rest: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<Value, GraphError> {
        self.call(method, self.mb(rest), body, if_match).await
    }

    /// Every item of a collection under the mailbox as raw JSON, following nextLinks.
    pub async fn mailbox_list_json(&self, rest: &str) -> Result<Vec<Value>, GraphError> {
        self.list_all(self.mb(rest)).await
    }

    /// The `$expand` query part that returns the CRM-id stamp with an item.
    pub fn stamp_expand(&self) -> String {
        let p = odata_quote(&self.inner.cfg.stamp_property);
        enc(&format!(
            "singleValueExtendedProperties($filter=id eq '{p}')"
        ))
    }

    /// The `$filter` + `$expand` query that finds the item stamped with `crm_id`.
    pub fn stamp_filter(&self, crm_id: &str) -> String {
        self.stamp_query(crm_id)
    }

    // ----- To Do -----------------------------------------------------------

    pub async fn list_task_lists(&self) -> Result<Vec<TodoTaskList>, GraphError> {
        self.list_all(self.mb("/todo/lists")).await
    }
    pub async fn create_task_list(&self, name: &str) -> Result<TodoTaskList, GraphError> {
        self.send_json(
            Method::POST,
            self.mb("/todo/lists"),
            &json!({"displayName": name}),
            None,
        )
        .await
    }
    pub async fn delete_task_list(&self, id: &str) -> Result<(), GraphError> {
        self.delete(self.mb(&format!("/todo/lists/{}", enc(id))), None)
            .await
    }
    /// Creates a task; put the CRM id in `linked_resources[..].external_id`.
    pub async fn create_task(&self, list: &str, task: &TodoTask) -> Result<TodoTask, GraphError> {
        self.send_json(
            Method::POST,
            self.mb(&format!("/todo/lists/{}/tasks", enc(list))),
            task,
            None,
        )
        .await
    }
    pub async fn get_task(&self, list: &str, id: &str) -> Result<TodoTask, GraphError> {
        self.get(self.mb(&format!(
            "/todo/lists/{}/tasks/{}?$expand=linkedResources",
            enc(list),
            enc(id)
        )))
        .await
    }
    pub async fn update_task(
        &self,
        list: &str,
        id: &str,
        patch: &TodoTask,
        etag: Option<&str>,
    ) -> Result<TodoTask, GraphError> {
        let mut p = patch.clone();
        p.linked_resources = None;
        self.send_json(
            Method::PATCH,
            self.mb(&format!("/todo/lists/{}/tasks/{}", enc(list), enc(id))),
            &p,
            etag,
        )
        .await
    }
    pub async fn delete_task(&self, list: &str, id: &str) -> Result<(), GraphError> {
        self.delete(
            self.mb(&format!("/todo/lists/{}/tasks/{}", enc(list), enc(id))),
            None,
        )
        .await
    }
    /// The task of `list` whose linked resource carries `external_id`.
    /// To Do has no server-side filter on it: the tasks are listed with
    /// `$expand=linkedResources`; tasks the listing returns without the
    /// expansion are read one by one through `$batch`.
    pub async fn find_task_by_external_id(
        &self,
        list: &str,
        external_id: &str,
    ) -> Result<Option<TodoTask>, GraphError> {
        let url = self.mb(&format!(
            "/todo/lists/{}/tasks?$expand=linkedResources&$top=100",
            enc(list)
        ));
        let tasks = self.list_all::<TodoTask>(url).await?;
        let matches = |t: &TodoTask| {
            t.linked_resources
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|r| r.external_id.as_deref() == Some(external_id))
        };
        if let Some(t) = tasks.iter().find(|t| matches(t)) {
            return Ok(Some(t.clone()));
        }
        let unexpanded: Vec<crate::BatchRequest> = tasks
            .iter()
            .filter(|t| t.linked_resources.is_none())
            .filter_map(|t| t.id.as_deref())
            .map(|id| {
                crate::BatchRequest::new(
                    id,
                    "GET",
                    self.mailbox_path(&format!(
                        "/todo/lists/{}/tasks/{}?$expand=linkedResources",
                        enc(list),
                        enc(id)
                    )),
                )
            })
            .collect();
        for item in self.batch(unexpanded).await? {
            let task: TodoTask = decode(item.result?.body)?;
            if matches(&task) {
                return Ok(Some(task));
            }
        }
        Ok(None)
    }
}

/// Timeouts, network errors and 5xx: the write may have been applied.
fn is_lost_answer(err: &GraphError) -> bool {
    matches!(err, GraphError::Network(_) | GraphError::Server { .. })
}

/// A deterministic transactionId for (crm id, create key): a UUIDv5 in this
/// application's namespace, so every retry of one create carries the same id.
fn transaction_id(crm_id: &str, create_key: &str) -> String {
    let ns = uuid::Uuid::from_u128(0x6b1e_8f8e_3c2a_4d5b_9f61_2a7c_0e4d_9b13);
    let name = format!("{crm_id}\u{0}{create_key}");
    uuid::Uuid::new_v5(&ns, name.as_bytes()).to_string()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(6)).min(30_000))
}

fn decode<T: DeserializeOwned>(v: Value) -> Result<T, GraphError> {
    serde_json::from_value(v).map_err(|e| GraphError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_logs_lose_queries_and_addresses() {
        assert_eq!(
            redact_url("http://h/graph/v1.0/users/aiko.tanaka@x.example/contacts?$filter=x"),
            "http://h/graph/v1.0/users/<upn>/contacts?<redacted>"
        );
        assert_eq!(
            redact_url("http://h/v1.0/me/contacts/AB"),
            "http://h/v1.0/me/contacts/AB"
        );
    }

    #[test]
    fn transaction_ids_are_stable_and_distinct() {
        assert_eq!(transaction_id("1", "a"), transaction_id("1", "a"));
        assert_ne!(transaction_id("1", "a"), transaction_id("1", "b"));
        assert_ne!(transaction_id("1a", ""), transaction_id("1", "a"));
    }

    #[test]
    fn retry_after_accepts_fractions() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2.128"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(2128)));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
