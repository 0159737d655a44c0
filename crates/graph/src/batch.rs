//! JSON batching (graph-api.md §5): at most 20 parts per `$batch`, results per
//! part, inner 429/503 retried after their own `Retry-After`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{GraphClient, Req};
use crate::error::GraphError;

/// Graph's limit of parts per `$batch`.
pub const MAX_BATCH: usize = 20;

/// One part of a batch. `url` is relative to the Graph root, e.g.
/// `client.mailbox_path("/contacts/ID")`.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub id: String,
    pub method: String,
    pub url: String,
    pub body: Option<Value>,
    pub headers: BTreeMap<String, String>,
    /// Ids of parts of the same chunk of 20 this part depends on.
    pub depends_on: Vec<String>,
}

impl BatchRequest {
    /// A part without body.
    pub fn new(id: impl Into<String>, method: &str, url: impl Into<String>) -> Self {
        BatchRequest {
            id: id.into(),
            method: method.to_string(),
            url: url.into(),
            body: None,
            headers: BTreeMap::new(),
            depends_on: Vec::new(),
        }
    }

    /// A part with a JSON body.
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Adds `If-Match`.
    pub fn if_match(mut self, etag: &str) -> Self {
        self.headers.insert("If-Match".into(), etag.into());
        self
    }
}

/// A successful part's answer.
#[derive(Debug, Clone)]
pub struct BatchResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

/// The result of one part, in the order the parts were given.
#[derive(Debug)]
pub struct BatchItem {
    pub id: String,
    pub result: Result<BatchResponse, GraphError>,
}

fn part_json(r: &BatchRequest) -> Value {
    let mut headers: serde_json::Map<String, Value> = r
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    headers.insert(
        "Prefer".into(),
        Value::from(r#"IdType="ImmutableId", outlook.timezone="UTC""#),
    );
    if r.body.is_some() {
        headers.insert("Content-Type".into(), Value::from("application/json"));
    }
    let mut v = json!({"id": r.id, "method": r.method, "url": r.url, "headers": headers});
    if let Some(b) = &r.body {
        v["body"] = b.clone();
    }
    if !r.depends_on.is_empty() {
        v["dependsOn"] = json!(r.depends_on);
    }
    v
}

impl GraphClient {
    /// Runs `parts` in `$batch` requests of at most 20, returning one result
    /// per part in input order. Parts answered 429 (or 503) are sent again,
    /// alone, after the longest `Retry-After` among them; every part counts
    /// against the request budget. Fails as a whole only when the batch
    /// itself is refused (bad ids, outer errors).
    pub async fn batch(&self, parts: Vec<BatchRequest>) -> Result<Vec<BatchItem>, GraphError> {
        let mut seen = std::collections::HashSet::new();
        for p in &parts {
            if !seen.insert(p.id.to_ascii_lowercase()) {
                return Err(GraphError::Argument(format!("duplicate batch id {}", p.id)));
            }
        }
        let mut out = Vec::with_capacity(parts.len());
        for chunk in parts.chunks(MAX_BATCH) {
            let ids: Vec<&str> = chunk.iter().map(|p| p.id.as_str()).collect();
            for p in chunk {
                if p.depends_on
                    .iter()
                    .any(|d| !ids.iter().any(|i| i.eq_ignore_ascii_case(d)))
                {
                    return Err(GraphError::Argument(format!(
                        "part {} depends on a part outside its chunk of {MAX_BATCH}",
                        p.id
                    )));
                }
            }
            let mut results = self.run_chunk(chunk).await?;
            for p in chunk {
                let result = results
                    .remove(&p.id.to_ascii_lowercase())
                    .unwrap_or_else(|| {
                        Err(GraphError::Decode(format!("no answer for part {}", p.id)))
                    });
                out.push(BatchItem {
                    id: p.id.clone(),
                    result,
                });
            }
        }
        Ok(out)
    }

    async fn run_chunk(
        &self,
        chunk: &[BatchRequest],
    ) -> Result<HashMap<String, Result<BatchResponse, GraphError>>, GraphError> {
        let mut done: HashMap<String, Result<BatchResponse, GraphError>> = HashMap::new();
        let mut pending: Vec<&BatchRequest> = chunk.iter().collect();
        let mut attempt = 0u32;
        let max = self.config().max_retries;
        while !pending.is_empty() {
            let body =
                json!({"requests": pending.iter().map(|p| part_json(p)).collect::<Vec<_>>()});
            let resp = self
                .execute(Req {
                    method: Method::POST,
                    url: self.abs("/$batch"),
                    body: Some(body),
                    if_match: None,
                    cost: pending.len(),
                    consistency_eventual: false,
                })
                .await?;
            let responses = resp
                .body
                .get("responses")
                .and_then(Value::as_array)
                .ok_or_else(|| GraphError::Decode("$batch answer without responses".into()))?;
            let mut retry: Vec<&BatchRequest> = Vec::new();
            let mut wait = Duration::ZERO;
            for r in responses {
                let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
                let Some(part) = pending.iter().find(|p| p.id.eq_ignore_ascii_case(id)) else {
                    continue;
                };
                let status = r.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
                let headers: BTreeMap<String, String> = r
                    .get("headers")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let body = r.get("body").cloned().unwrap_or(Value::Null);
                let ra = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                    .and_then(|(_, v)| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64);
                if (status == 429 || status == 503) && attempt < max {
                    let w = ra.unwrap_or(Duration::from_secs(1 << attempt.min(5)));
                    if w <= self.config().max_retry_wait {
                        wait = wait.max(w);
                        retry.push(part);
                        continue;
                    }
                }
                let result = if (200..300).contains(&status) {
                    Ok(BatchResponse {
                        status,
                        headers,
                        body,
                    })
                } else {
                    Err(GraphError::from_status(status, &body, ra, None))
                };
                done.insert(part.id.to_ascii_lowercase(), result);
            }
            tracing::debug!(
                parts = pending.len(),
                retried = retry.len(),
                wait_ms = wait.as_millis() as u64,
                "graph batch"
            );
            if !retry.is_empty() {
                attempt += 1;
                self.pause(wait);
            }
            pending = retry;
        }
        Ok(done)
    }
}
