//! Shared helpers: serve the emulator on 127.0.0.1:0 in-process and talk to it with reqwest.
#![allow(dead_code)]

use crmsync_sandbox_zoho::{router, ZohoOptions, ZohoSandbox};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

pub const AIKO: &str = "aiko.tanaka@sakura-demo.example";
pub const BEN: &str = "ben.carter@sakura-demo.example";
pub const HARUTO: &str = "haruto.sato@sakura-crm.example";
pub const KENJI: &str = "kenji.ito@sakura-jp.example";
pub const ALL_SCOPES: &[&str] = &[
    "ZohoCRM.modules.ALL",
    "ZohoCRM.users.ALL",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.coql.READ",
];

pub struct Env {
    pub base: String,
    pub sb: ZohoSandbox,
    pub http: Client,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

pub async fn start_with(options: ZohoOptions, seed: bool) -> Env {
    let sb = ZohoSandbox::new(options);
    if seed {
        sb.seed_demo();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(sb.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        base: format!("http://{addr}"),
        sb,
        http,
    }
}

pub async fn start() -> Env {
    start_with(ZohoOptions::default(), true).await
}

impl Env {
    pub fn api(&self, dc: &str) -> String {
        format!("{}/zoho/{dc}/api/crm/v8", self.base)
    }
    pub fn accounts(&self, dc: &str) -> String {
        format!("{}/zoho/{dc}/accounts", self.base)
    }
    pub fn token(&self, email: &str) -> String {
        self.sb.mint_token(email, ALL_SCOPES).unwrap().access_token
    }
    pub fn token_scopes(&self, email: &str, scopes: &[&str]) -> String {
        self.sb.mint_token(email, scopes).unwrap().access_token
    }
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Zoho-oauthtoken {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }
    /// GET `{api(us)}{path}` as `token`.
    pub async fn get(&self, token: &str, path: &str) -> Reply {
        self.send(
            Method::GET,
            &format!("{}{path}", self.api("us")),
            Some(token),
            None,
            &[],
        )
        .await
    }
    pub async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.send(
            Method::POST,
            &format!("{}{path}", self.api("us")),
            Some(token),
            Some(body),
            &[],
        )
        .await
    }
    pub async fn put(&self, token: &str, path: &str, body: Value) -> Reply {
        self.send(
            Method::PUT,
            &format!("{}{path}", self.api("us")),
            Some(token),
            Some(body),
            &[],
        )
        .await
    }
    pub async fn delete(&self, token: &str, path: &str) -> Reply {
        self.send(
            Method::DELETE,
            &format!("{}{path}", self.api("us")),
            Some(token),
            None,
            &[],
        )
        .await
    }
    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(
            method,
            &format!("{}/control/zoho{path}", self.base),
            None,
            body,
            &[],
        )
        .await
    }
}

/// Assert Zoho's error envelope.
pub fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.text);
    assert_eq!(r.body["code"], code, "body: {}", r.text);
    assert_eq!(r.body["status"], "error", "body: {}", r.text);
    assert!(
        r.body.get("message").is_some_and(Value::is_string),
        "body: {}",
        r.text
    );
    assert!(
        r.body.get("details").is_some_and(Value::is_object),
        "body: {}",
        r.text
    );
}
