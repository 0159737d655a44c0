//! The HTTP core (auth, pacing, 429 backoff, error mapping, redacted logging)
//! and the typed CRM calls.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::header::{AUTHORIZATION, IF_MODIFIED_SINCE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::error::ZohoError;
use crate::models::{DeletedRecord, FieldMeta, Module, NewUser, Profile, TimelineEntry, ZUser};

/// Zoho's limit of records per insert/update/delete call.
pub const WRITE_CHUNK: usize = 100;

/// Why a [`TokenProvider`] could not give a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenProviderError {
    #[error("reconnect needed: {0}")]
    ReconnectNeeded(String),
    #[error("token unavailable: {0}")]
    Unavailable(String),
}

/// Gives Zoho access tokens (the auth crate's session, adapted in the engine).
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync {
    async fn access_token(&self) -> Result<String, TokenProviderError>;
    /// The service answered 401 `INVALID_TOKEN` for `token`.
    async fn token_rejected(&self, token: &str);
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ZohoConfig {
    /// `api_domain` from the token response, e.g. `https://www.zohoapis.jp`.
    pub api_domain: String,
    /// Requests in flight (edition concurrency: Free 5, Standard 10,
    /// Professional 15, Enterprise 20, Ultimate 25). Default 5.
    pub max_concurrency: usize,
    /// Retries of a 429 / 5xx (reads) before the typed error.
    pub max_retries: u32,
    /// First backoff after a 429 (doubles each time, capped at 60 s).
    pub initial_backoff: Duration,
    pub request_timeout: Duration,
    /// `trigger` sent with writes (None: Zoho's default, every automation runs).
    pub triggers: Option<Vec<String>>,
}

impl ZohoConfig {
    pub fn new(api_domain: impl Into<String>) -> Self {
        ZohoConfig {
            api_domain: api_domain.into().trim_end_matches('/').to_string(),
            max_concurrency: 5,
            max_retries: 6,
            initial_backoff: Duration::from_secs(1),
            request_timeout: Duration::from_secs(60),
            triggers: None,
        }
    }
}

/// Listing options. Empty `fields` means the module's default fields.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub fields: Vec<String>,
    /// Only records modified after this instant (`If-Modified-Since`).
    pub modified_since: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// `sort_by=Modified_Time&sort_order=asc` (oldest change first).
    pub sort_by_modified: bool,
    pub per_page: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            fields: Vec::new(),
            modified_since: None,
            sort_by_modified: true,
            per_page: 200,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub more_records: bool,
    pub next_page_token: Option<String>,
}

/// `type` of `GET /{module}/deleted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedType {
    All,
    Recycle,
    Permanent,
}

/// The result of one record of a write, at its index in the input.
#[derive(Debug)]
pub struct RecordResult {
    pub index: usize,
    /// The record id on success (and for deletes, the id asked).
    pub result: Result<String, ZohoError>,
}

#[derive(Debug)]
struct Adaptive {
    limit: usize,
    in_flight: usize,
    successes: usize,
}

/// One request slot; freed on drop.
struct Slot {
    inner: Arc<Inner>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner.adaptive.lock().in_flight -= 1;
        self.inner.slot_freed.notify_waiters();
    }
}

struct Inner {
    http: reqwest::Client,
    cfg: ZohoConfig,
    tokens: Arc<dyn TokenProvider>,
    /// Notified whenever a request slot is freed.
    slot_freed: tokio::sync::Notify,
    paused_until: Mutex<Option<Instant>>,
    credits_remaining: Mutex<Option<u64>>,
    /// Adaptive concurrency. A 429 lowers the limit by one (not below 1):
    /// the org's real concurrency may be lower than configured (other apps,
    /// a smaller edition); 50 successes in a row raise it again, up to the
    /// configured one.
    adaptive: Mutex<Adaptive>,
}

/// Zoho CRM client for one user. Cheap to clone; clones share pacing.
#[derive(Clone)]
pub struct ZohoClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ZohoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZohoClient")
            .field("api_domain", &self.inner.cfg.api_domain)
            .finish_non_exhaustive()
    }
}

struct Req {
    method: Method,
    path: String,
    body: Option<Value>,
    modified_since: Option<String>,
    /// `If-Unmodified-Since` (ISO 8601 with offset): 412 when the record changed after it.
    unmodified_since: Option<String>,
    /// A write whose 400 carries per-record items in `data[]`.
    per_record: bool,
}

fn enc(s: &str) -> String {
    urlencoding::encode(s).into_owned()
}

/// Path for logs: the query is dropped (criteria, emails, COQL text).
fn redact(path: &str) -> String {
    match path.split_once('?') {
        Some((p, _)) => format!("{p}?<redacted>"),
        None => path.to_string(),
    }
}

fn decode<T: DeserializeOwned>(v: Value) -> Result<T, ZohoError> {
    serde_json::from_value(v).map_err(|e| ZohoError::Decode(e.to_string()))
}

fn item_result(index: usize, item: &Value) -> RecordResult {
    let ok = item.get("status").and_then(Value::as_str) == Some("success");
    let code = item
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let message = item
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let details = item.get("details").cloned().unwrap_or_default();
    let result = if ok {
        details
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ZohoError::Decode("success item without id".into()))
    } else if code == "DUPLICATE_DATA" {
        Err(ZohoError::Conflict {
            status: 400,
            code,
            message,
        })
    } else {
        Err(ZohoError::InvalidData {
            status: 400,
            code,
            message,
            details,
        })
    };
    RecordResult { index, result }
}

impl ZohoClient {
    pub fn new(cfg: ZohoConfig, tokens: Arc<dyn TokenProvider>) -> Result<Self, ZohoError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .build()
            .map_err(|e| ZohoError::Network(e.to_string()))?;
        let cfg_limit = cfg.max_concurrency.max(1);
        Ok(ZohoClient {
            inner: Arc::new(Inner {
                http,
                slot_freed: tokio::sync::Notify::new(),
                cfg,
                tokens,
                paused_until: Mutex::new(None),
                credits_remaining: Mutex::new(None),
                adaptive: Mutex::new(Adaptive {
                    limit: cfg_limit,
                    in_flight: 0,
                    successes: 0,
                }),
            }),
        })
    }

    /// `X-API-CREDITS-REMAINING` of the last answer that carried it (Zoho
    /// sends it once half of the day's credits are used).
    pub fn credits_remaining(&self) -> Option<u64> {
        *self.inner.credits_remaining.lock()
    }

    /// Requests currently allowed in flight (lowered after 429s).
    pub fn concurrency_limit(&self) -> usize {
        self.inner.adaptive.lock().limit
    }

    async fn acquire_slot(&self) -> Slot {
        loop {
            let freed = self.inner.slot_freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a release in between is not missed.
            freed.as_mut().enable();
            {
                let mut a = self.inner.adaptive.lock();
                if a.in_flight < a.limit {
                    a.in_flight += 1;
                    return Slot {
                        inner: self.inner.clone(),
                    };
                }
            }
            freed.await;
        }
    }

    fn on_throttled(&self) {
        let mut a = self.inner.adaptive.lock();
        a.successes = 0;
        if a.limit > 1 {
            a.limit -= 1;
        }
    }

    fn on_success(&self) {
        let max = self.inner.cfg.max_concurrency.max(1);
        let mut a = self.inner.adaptive.lock();
        a.successes += 1;
        if a.successes >= 50 && a.limit < max {
            a.limit += 1;
            a.successes = 0;
            drop(a);
            self.inner.slot_freed.notify_waiters();
        }
    }

    async fn wait_pause(&self) {
        loop {
            let until = *self.inner.paused_until.lock();
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut p = self.inner.paused_until.lock();
        if p.is_none_or(|x| x < until) {
            *p = Some(until);
        }
    }

    /// Returns `(status, body)`; 204/304 give `Value::Null`.
    async fn execute(&self, req: Req) -> Result<(u16, Value), ZohoError> {
        let inner = &self.inner;
        let url = format!("{}/crm/v8{}", inner.cfg.api_domain, req.path);
        let idempotent = req.method == Method::GET;
        let mut attempt = 0u32;
        let mut auth_retried = false;
        loop {
            let permit = self.acquire_slot().await;
            self.wait_pause().await;
            let token = inner.tokens.access_token().await.map_err(|e| match e {
                TokenProviderError::ReconnectNeeded(m) => ZohoError::ReconnectNeeded(m),
                TokenProviderError::Unavailable(m) => ZohoError::Auth {
                    status: 0,
                    code: "TOKEN_UNAVAILABLE".into(),
                    message: m,
                },
            })?;
            let mut rb = inner
                .http
                .request(req.method.clone(), &url)
                .header(AUTHORIZATION, format!("Zoho-oauthtoken {token}"));
            if let Some(since) = &req.modified_since {
                rb = rb.header(IF_MODIFIED_SINCE, since);
            }
            if let Some(since) = &req.unmodified_since {
                rb = rb.header(reqwest::header::IF_UNMODIFIED_SINCE, since);
            }
            if let Some(b) = &req.body {
                rb = rb.json(b);
            }
            let started = std::time::Instant::now();
            let sent = rb.send().await;
            let (status, headers, bytes) = match sent {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let headers = r.headers().clone();
                    let bytes = r.bytes().await;
                    drop(permit);
                    match bytes {
                        Ok(b) => (status, headers, b),
                        Err(e) => {
                            return Err(ZohoError::Network(e.without_url().to_string()));
                        }
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::debug!(method = %req.method, path = %redact(&req.path), attempt, "zoho request failed without an answer");
                    if idempotent && attempt < inner.cfg.max_retries {
                        attempt += 1;
                        tokio::time::sleep(inner.cfg.initial_backoff * attempt).await;
                        continue;
                    }
                    return Err(ZohoError::Network(if e.is_timeout() {
                        "request timed out (a write may have been applied)".into()
                    } else {
                        e.without_url().to_string()
                    }));
                }
            };
            tracing::debug!(
                method = %req.method,
                path = %redact(&req.path),
                status,
                attempt,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "zoho request"
            );
            if let Some(c) = headers
                .get("x-api-credits-remaining")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
            {
                *inner.credits_remaining.lock() = Some(c);
            }
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            if (200..300).contains(&status) || status == 304 {
                self.on_success();
                return Ok((status, body));
            }
            if status == 400 && req.per_record && body.get("data").is_some_and(Value::is_array) {
                return Ok((status, body));
            }
            if status == 401 && !auth_retried {
                auth_retried = true;
                inner.tokens.token_rejected(&token).await;
                continue;
            }
            // 429: credits or concurrency, no Retry-After: exponential backoff
            // shared by every task of the client. 5xx: reads only.
            let retry = status == 429 || (idempotent && status >= 500);
            if retry && attempt < inner.cfg.max_retries {
                let wait = (inner.cfg.initial_backoff * 2u32.pow(attempt.min(6)))
                    .min(Duration::from_secs(60));
                attempt += 1;
                if status == 429 {
                    self.on_throttled();
                    self.pause(wait);
                } else {
                    tokio::time::sleep(wait).await;
                }
                tracing::debug!(
                    status,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "zoho retry"
                );
                continue;
            }
            return Err(ZohoError::from_status(status, &body));
        }
    }

    async fn get_json(&self, path: String) -> Result<Value, ZohoError> {
        Ok(self
            .execute(Req {
                method: Method::GET,
                path,
                body: None,
                modified_since: None,
                unmodified_since: None,
                per_record: false,
            })
            .await?
            .1)
    }

    // ----- records ---------------------------------------------------------

    /// One page: `page` (1–10) or `page_token` (beyond 2,000 records).
    pub async fn list_page<T: Module>(
        &self,
        q: &ListQuery,
        page: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<Page<T>, ZohoError> {
        let fields = if q.fields.is_empty() {
            T::DEFAULT_FIELDS.join(",")
        } else {
            q.fields.join(",")
        };
        let mut path = format!(
            "/{}?fields={}&per_page={}",
            T::API_NAME,
            enc(&fields),
            q.per_page.clamp(1, 200)
        );
        if q.sort_by_modified {
            path.push_str("&sort_by=Modified_Time&sort_order=asc");
        }
        match (page, page_token) {
            (_, Some(t)) => path.push_str(&format!("&page_token={}", enc(t))),
            (Some(p), None) => path.push_str(&format!("&page={p}")),
            (None, None) => {}
        }
        let (status, body) = self
            .execute(Req {
                method: Method::GET,
                path,
                body: None,
                modified_since: q
                    .modified_since
                    .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
                unmodified_since: None,
                per_record: false,
            })
            .await?;
        if status == 204 || status == 304 || body.is_null() {
            return Ok(Page {
                data: Vec::new(),
                more_records: false,
                next_page_token: None,
            });
        }
        let data = body
            .get("data")
            .cloned()
            .map(decode::<Vec<T>>)
            .transpose()?
            .unwrap_or_default();
        let info = body.get("info").cloned().unwrap_or_default();
        Ok(Page {
            data,
            more_records: info
                .get("more_records")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            next_page_token: info
                .get("next_page_token")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// Every matching record: pages 1–10 with `page`, then `page_token`
    /// (Zoho serves only the first 2,000 records by page number).
    pub async fn list_all<T: Module>(&self, q: &ListQuery) -> Result<Vec<T>, ZohoError> {
        let mut out = Vec::new();
        let per_page = q.per_page.clamp(1, 200);
        let max_page = 2000 / per_page;
        let mut page = 1u32;
        let mut token: Option<String> = None;
        loop {
            let p = if token.is_some() {
                self.list_page::<T>(q, None, token.as_deref()).await?
            } else {
                self.list_page::<T>(q, Some(page), None).await?
            };
            out.extend(p.data);
            if !p.more_records {
                return Ok(out);
            }
            if token.is_none() && page < max_page {
                page += 1;
            } else {
                token = Some(p.next_page_token.ok_or_else(|| {
                    ZohoError::Decode("more records but no next_page_token".into())
                })?);
            }
        }
    }

    /// One record; `NotFound` when Zoho answers 204.
    pub async fn get<T: Module>(&self, id: &str) -> Result<T, ZohoError> {
        let v = self
            .get_json(format!("/{}/{}", T::API_NAME, enc(id)))
            .await?;
        match v.pointer("/data/0") {
            Some(r) => decode(r.clone()),
            None => Err(ZohoError::NotFound(format!("{} {id}", T::API_NAME))),
        }
    }

    async fn write_chunks(
        &self,
        method: Method,
        path: &str,
        records: Vec<(usize, Value)>,
    ) -> Result<Vec<RecordResult>, ZohoError> {
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(WRITE_CHUNK) {
            let mut body =
                json!({"data": chunk.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()});
            if let Some(t) = &self.inner.cfg.triggers {
                body["trigger"] = json!(t);
            }
            let (_, resp) = self
                .execute(Req {
                    method: method.clone(),
                    path: path.to_string(),
                    body: Some(body),
                    modified_since: None,
                    unmodified_since: None,
                    per_record: true,
                })
                .await?;
            let items = resp
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| ZohoError::Decode("write answer without data".into()))?;
            if items.len() != chunk.len() {
                return Err(ZohoError::Decode(format!(
                    "{} results for {} records",
                    items.len(),
                    chunk.len()
                )));
            }
            for ((index, _), item) in chunk.iter().zip(items) {
                out.push(item_result(*index, item));
            }
        }
        Ok(out)
    }

    /// Inserts records in chunks of 100; one result per input record, in order.
    pub async fn insert<T: Module>(&self, records: &[T]) -> Result<Vec<RecordResult>, ZohoError> {
        let values = records
            .iter()
            .enumerate()
            .map(|(i, r)| serde_json::to_value(r).map(|v| (i, v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ZohoError::Argument(e.to_string()))?;
        self.write_chunks(Method::POST, &format!("/{}", T::API_NAME), values)
            .await
    }

    /// Partial updates in chunks of 100 (each record needs its `id`; one
    /// without gets an error result and is not sent).
    pub async fn update<T: Module>(&self, records: &[T]) -> Result<Vec<RecordResult>, ZohoError> {
        let mut missing = Vec::new();
        let mut values = Vec::new();
        for (i, r) in records.iter().enumerate() {
            if r.id().is_none() {
                missing.push(RecordResult {
                    index: i,
                    result: Err(ZohoError::Argument("update without id".into())),
                });
                continue;
            }
            values.push((
                i,
                serde_json::to_value(r).map_err(|e| ZohoError::Argument(e.to_string()))?,
            ));
        }
        let mut out = self
            .write_chunks(Method::PUT, &format!("/{}", T::API_NAME), values)
            .await?;
        out.extend(missing);
        out.sort_by_key(|r| r.index);
        Ok(out)
    }

    /// Updates one record only if it has not changed since `unmodified_since` (its
    /// `Modified_Time` as read, ISO 8601 with offset): `If-Unmodified-Since`, a changed
    /// record answers [`ZohoError::Conflict`] (412). Returns the record's id.
    pub async fn update_if_unmodified<T: Module>(
        &self,
        record: &T,
        unmodified_since: &str,
    ) -> Result<String, ZohoError> {
        let id = record
            .id()
            .ok_or_else(|| ZohoError::Argument("update without id".into()))?
            .to_string();
        let value = serde_json::to_value(record).map_err(|e| ZohoError::Argument(e.to_string()))?;
        let mut body = json!({ "data": [value] });
        if let Some(t) = &self.inner.cfg.triggers {
            body["trigger"] = json!(t);
        }
        let (_, resp) = self
            .execute(Req {
                method: Method::PUT,
                path: format!("/{}", T::API_NAME),
                body: Some(body),
                modified_since: None,
                unmodified_since: Some(unmodified_since.to_string()),
                per_record: true,
            })
            .await?;
        let item = resp
            .pointer("/data/0")
            .ok_or_else(|| ZohoError::Decode("write answer without data".into()))?;
        item_result(0, item).result.map(|_| id)
    }

    /// Deletes by id in chunks of 100 (to the recycle bin).
    pub async fn delete(
        &self,
        module: &str,
        ids: &[String],
    ) -> Result<Vec<RecordResult>, ZohoError> {
        let mut out = Vec::new();
        for (c, chunk) in ids.chunks(WRITE_CHUNK).enumerate() {
            let (_, resp) = self
                .execute(Req {
                    method: Method::DELETE,
                    path: format!("/{module}?ids={}", enc(&chunk.join(","))),
                    body: None,
                    modified_since: None,
                    unmodified_since: None,
                    per_record: true,
                })
                .await?;
            let items = resp
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| ZohoError::Decode("delete answer without data".into()))?;
            for (i, id) in chunk.iter().enumerate() {
                let index = c * WRITE_CHUNK + i;
                let item = items.iter().find(|it| {
                    it.pointer("/details/id").and_then(Value::as_str) == Some(id.as_str())
                });
                out.push(match item {
                    Some(it) => item_result(index, it),
                    None => match items.get(i) {
                        Some(it) => item_result(index, it),
                        None => RecordResult {
                            index,
                            result: Err(ZohoError::Decode(format!("no result for {id}"))),
                        },
                    },
                });
            }
        }
        Ok(out)
    }

    /// Deleted records (recycle bin and/or permanently deleted), optionally
    /// only those deleted after `since`.
    pub async fn deleted_records(
        &self,
        module: &str,
        kind: DeletedType,
        since: Option<chrono::DateTime<chrono::FixedOffset>>,
    ) -> Result<Vec<DeletedRecord>, ZohoError> {
        let t = match kind {
            DeletedType::All => "all",
            DeletedType::Recycle => "recycle",
            DeletedType::Permanent => "permanent",
        };
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let (status, body) = self
                .execute(Req {
                    method: Method::GET,
                    path: format!("/{module}/deleted?type={t}&per_page=200&page={page}"),
                    body: None,
                    modified_since: since
                        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
                    unmodified_since: None,
                    per_record: false,
                })
                .await?;
            if status == 204 || status == 304 || body.is_null() {
                return Ok(out);
            }
            out.extend(decode::<Vec<DeletedRecord>>(
                body.get("data").cloned().unwrap_or(json!([])),
            )?);
            if !body
                .pointer("/info/more_records")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// Runs a COQL query; returns the rows and `more_records`.
    pub async fn coql(&self, select_query: &str) -> Result<(Vec<Value>, bool), ZohoError> {
        let (status, body) = self
            .execute(Req {
                method: Method::POST,
                path: "/coql".into(),
                body: Some(json!({"select_query": select_query})),
                modified_since: None,
                unmodified_since: None,
                per_record: false,
            })
            .await?;
        if status == 204 || body.is_null() {
            return Ok((Vec::new(), false));
        }
        let rows = body
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let more = body
            .pointer("/info/more_records")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok((rows, more))
    }

    // ----- metadata, users, timeline --------------------------------------

    /// Field metadata of a module (standard and custom fields).
    pub async fn fields(&self, module: &str) -> Result<Vec<FieldMeta>, ZohoError> {
        let v = self
            .get_json(format!("/settings/fields?module={}", enc(module)))
            .await?;
        decode(v.get("fields").cloned().unwrap_or(json!([])))
    }

    /// Users of a `type` (`AllUsers`, `ActiveUsers`, `CurrentUser`, ...).
    pub async fn users(&self, kind: &str) -> Result<Vec<ZUser>, ZohoError> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let v = self
                .get_json(format!(
                    "/users?type={}&per_page=200&page={page}",
                    enc(kind)
                ))
                .await?;
            if v.is_null() {
                return Ok(out);
            }
            out.extend(decode::<Vec<ZUser>>(
                v.get("users").cloned().unwrap_or(json!([])),
            )?);
            if !v
                .pointer("/info/more_records")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// The signed-in user.
    pub async fn current_user(&self) -> Result<ZUser, ZohoError> {
        self.users("CurrentUser")
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ZohoError::NotFound("current user".into()))
    }

    /// Adds (invites) one user; returns the new user id.
    pub async fn add_user(&self, user: &NewUser) -> Result<String, ZohoError> {
        let (_, body) = self
            .execute(Req {
                method: Method::POST,
                path: "/users".into(),
                body: Some(json!({"users": [user]})),
                modified_since: None,
                unmodified_since: None,
                per_record: true,
            })
            .await?;
        let item = body
            .pointer("/users/0")
            .or_else(|| body.pointer("/data/0"))
            .cloned()
            .unwrap_or(body);
        item_result(0, &item).result
    }

    /// Profiles with their permissions.
    pub async fn profiles(&self) -> Result<Vec<Profile>, ZohoError> {
        let v = self.get_json("/settings/profiles".into()).await?;
        decode(v.get("profiles").cloned().unwrap_or(json!([])))
    }

    /// The timeline of a record, newest first (its first entry's `source`
    /// tells how the record was created: UI, API, import...).
    pub async fn timeline(&self, module: &str, id: &str) -> Result<Vec<TimelineEntry>, ZohoError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/{module}/{}/__timeline?per_page=200", enc(id));
            if let Some(t) = &token {
                path.push_str(&format!("&page_token={}", enc(t)));
            }
            let v = self.get_json(path).await?;
            if v.is_null() {
                return Ok(out);
            }
            out.extend(decode::<Vec<TimelineEntry>>(
                v.get("__timeline").cloned().unwrap_or(json!([])),
            )?);
            match v.pointer("/info/next_page_token").and_then(Value::as_str) {
                Some(t)
                    if v.pointer("/info/more_records")
                        .and_then(Value::as_bool)
                        .unwrap_or(false) =>
                {
                    token = Some(t.to_string())
                }
                _ => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_record_items_are_typed() {
        let ok = item_result(
            3,
            &json!({"code":"SUCCESS","details":{"id":"42"},"status":"success"}),
        );
        assert_eq!(ok.index, 3);
        assert_eq!(ok.result.unwrap(), "42");
        let dup = item_result(
            0,
            &json!({"code":"DUPLICATE_DATA","details":{},"message":"dup","status":"error"}),
        );
        assert!(matches!(dup.result, Err(ZohoError::Conflict { .. })));
        let bad = item_result(
            1,
            &json!({"code":"MANDATORY_NOT_FOUND","details":{"api_name":"Last_Name"},"message":"required field not found","status":"error"}),
        );
        match bad.result {
            Err(ZohoError::InvalidData { code, details, .. }) => {
                assert_eq!(code, "MANDATORY_NOT_FOUND");
                assert_eq!(details["api_name"], "Last_Name");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn logged_paths_lose_their_query() {
        assert_eq!(
            redact("/Contacts/search?email=a@b.c"),
            "/Contacts/search?<redacted>"
        );
        assert_eq!(redact("/coql"), "/coql");
    }
}
