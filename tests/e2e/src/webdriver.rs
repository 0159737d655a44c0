//! A minimal W3C WebDriver client: just what the tests use.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The W3C key under which an element reference is returned.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(Debug, thiserror::Error)]
pub enum WebDriverError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("WebDriver {error}: {message}")]
    Protocol { error: String, message: String },
    #[error("unexpected WebDriver reply: {0}")]
    Shape(String),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// How long launching the app through a new session may take.
const SESSION_START: Duration = Duration::from_secs(30);

/// A WebDriver session (cheap to clone).
#[derive(Clone)]
pub struct Browser {
    http: reqwest::Client,
    session: String,
}

/// A reference to an element of the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    pub(crate) async fn new_session(
        base: &str,
        capabilities: &Value,
    ) -> Result<Self, WebDriverError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        // Creating the session launches the app; if the app dies on start,
        // WebKitWebDriver never answers, so this request gets its own, shorter limit.
        let url = format!("{base}/session");
        let start = call(&http, reqwest::Method::POST, &url, Some(capabilities));
        let value = tokio::time::timeout(SESSION_START, start)
            .await
            .map_err(|_| WebDriverError::Timeout(SESSION_START, "the app to start".into()))??;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError::Shape(value.to_string()))?;
        Ok(Browser {
            http,
            session: format!("{base}/session/{id}"),
        })
    }

    async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WebDriverError> {
        call(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    /// The first element matching a CSS selector, if any.
    pub async fn find(&self, css: &str) -> Result<Option<Element>, WebDriverError> {
        let body = json!({"using": "css selector", "value": css});
        match self
            .cmd(reqwest::Method::POST, "/element", Some(&body))
            .await
        {
            Ok(v) => v[ELEMENT_KEY]
                .as_str()
                .map(|id| Some(Element(id.to_owned())))
                .ok_or_else(|| WebDriverError::Shape(v.to_string())),
            Err(WebDriverError::Protocol { error, .. }) if error == "no such element" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// All elements matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, WebDriverError> {
        let body = json!({"using": "css selector", "value": css});
        let v = self
            .cmd(reqwest::Method::POST, "/elements", Some(&body))
            .await?;
        v.as_array()
            .ok_or_else(|| WebDriverError::Shape(v.to_string()))?
            .iter()
            .map(|e| {
                e[ELEMENT_KEY]
                    .as_str()
                    .map(|id| Element(id.to_owned()))
                    .ok_or_else(|| WebDriverError::Shape(e.to_string()))
            })
            .collect()
    }

    /// Waits until an element matching `css` exists.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element, WebDriverError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find(css).await? {
                return Ok(e);
            }
            if Instant::now() >= deadline {
                return Err(WebDriverError::Timeout(timeout, css.to_owned()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of the element matching `css` satisfies `check`; returns that text.
    pub async fn wait_for_text(
        &self,
        css: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> Result<String, WebDriverError> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            if let Some(e) = self.find(css).await? {
                match self.text(&e).await {
                    Ok(text) if check(&text) => return Ok(text),
                    Ok(text) => last = text,
                    // The element was re-rendered between find and read.
                    Err(WebDriverError::Protocol { error, .. })
                        if error == "stale element reference" => {}
                    Err(e) => return Err(e),
                }
            }
            if Instant::now() >= deadline {
                return Err(WebDriverError::Timeout(
                    timeout,
                    format!("text of {css} (last seen: {last:?})"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, e: &Element) -> Result<(), WebDriverError> {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            Some(&json!({})),
        )
        .await
        .map(drop)
    }

    /// Types `text` into the element (W3C Element Send Keys; `\u{E00C}` is Escape).
    pub async fn send_keys(&self, e: &Element, text: &str) -> Result<(), WebDriverError> {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(&json!({"text": text})),
        )
        .await
        .map(drop)
    }

    pub async fn text(&self, e: &Element) -> Result<String, WebDriverError> {
        let v = self
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{}/text", e.0),
                None,
            )
            .await?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| WebDriverError::Shape(v.to_string()))
    }

    pub async fn attribute(
        &self,
        e: &Element,
        name: &str,
    ) -> Result<Option<String>, WebDriverError> {
        let v = self
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{}/attribute/{name}", e.0),
                None,
            )
            .await?;
        Ok(v.as_str().map(str::to_owned))
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Result<Vec<u8>, WebDriverError> {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await?;
        let b64 = v
            .as_str()
            .ok_or_else(|| WebDriverError::Shape("screenshot".into()))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| WebDriverError::Shape(e.to_string()))
    }

    /// Ends the session, which closes the app.
    pub async fn quit(&self) -> Result<(), WebDriverError> {
        self.cmd(reqwest::Method::DELETE, "", None).await.map(drop)
    }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> Result<Value, WebDriverError> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(body);
    }
    let reply: Value = request.send().await?.json().await?;
    let value = reply.get("value").cloned().unwrap_or(Value::Null);
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return Err(WebDriverError::Protocol {
            error: error.to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        });
    }
    Ok(value)
}
