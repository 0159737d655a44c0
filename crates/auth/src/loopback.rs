//! The loopback redirect listener: `http://127.0.0.1:{random port}/callback`.
//! It accepts exactly one request carrying the expected `state` (others are
//! answered and ignored), times out, can be cancelled, and answers the browser
//! with a small page (English or Japanese, from `Accept-Language`) telling the
//! user to return to the app.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::AuthError;

/// Opens the system browser on a URL. The desktop shell passes
/// tauri-plugin-opener; tests pass a browser player.
pub type BrowserOpener = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Cancels a running sign-in (e.g. the user closed the dialog).
#[derive(Clone, Default)]
pub struct CancelHandle(Arc<tokio::sync::Notify>);

impl CancelHandle {
    pub fn new() -> Self {
        Self::default()
    }
    /// Ends the wait with [`AuthError::Cancelled`].
    pub fn cancel(&self) {
        self.0.notify_one();
    }
}

/// How an interactive sign-in runs.
#[derive(Clone)]
pub struct SignInOptions {
    pub opener: BrowserOpener,
    /// How long to wait for the redirect (per browser round).
    pub timeout: Duration,
    pub cancel: CancelHandle,
}

impl SignInOptions {
    /// Five minutes to complete the sign-in.
    pub fn new(opener: BrowserOpener) -> Self {
        SignInOptions {
            opener,
            timeout: Duration::from_secs(300),
            cancel: CancelHandle::new(),
        }
    }
}

/// A bound loopback listener.
pub struct Loopback {
    listener: TcpListener,
    port: u16,
}

const MAX_REQUEST: usize = 64 * 1024;

impl Loopback {
    /// Binds 127.0.0.1 on a random free port.
    pub async fn bind() -> Result<Self, AuthError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| AuthError::Network(format!("loopback listener: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| AuthError::Network(e.to_string()))?
            .port();
        Ok(Loopback { listener, port })
    }

    /// The redirect URI to register in the authorize request.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    /// Waits for the redirect with `state`; returns its parameters (query or
    /// `form_post` body).
    pub async fn wait(
        self,
        state: &str,
        timeout: Duration,
        cancel: &CancelHandle,
    ) -> Result<HashMap<String, String>, AuthError> {
        let accept_loop = async {
            loop {
                let Ok((stream, _)) = self.listener.accept().await else {
                    continue;
                };
                match handle(stream, state).await {
                    Some(params) => return params,
                    None => continue,
                }
            }
        };
        tokio::select! {
            params = accept_loop => Ok(params),
            _ = tokio::time::sleep(timeout) => Err(AuthError::TimedOut),
            _ = cancel.0.notified() => Err(AuthError::Cancelled),
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    body: String,
    japanese: bool,
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let mut content_length = 0usize;
    let mut japanese = false;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                content_length = v.trim().parse().ok()?;
            } else if k == "accept-language" {
                japanese = v.trim().to_ascii_lowercase().starts_with("ja");
            }
        }
    }
    if content_length > MAX_REQUEST {
        return None;
    }
    while buf.len() < header_end + content_length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let end = (header_end + content_length).min(buf.len());
    let body = String::from_utf8_lossy(&buf[header_end..end]).to_string();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Some(Request {
        method,
        path,
        query,
        body,
        japanese,
    })
}

/// Handles one connection; `Some(params)` when it was the expected redirect.
async fn handle(mut stream: TcpStream, state: &str) -> Option<HashMap<String, String>> {
    let req = tokio::time::timeout(Duration::from_secs(10), read_request(&mut stream))
        .await
        .ok()
        .flatten()?;
    if req.path != "/callback" {
        respond(&mut stream, 404, &page(req.japanese, Page::NotFound)).await;
        return None;
    }
    let source = if req.method == "POST" {
        &req.body
    } else {
        &req.query
    };
    let params: HashMap<String, String> = url::form_urlencoded::parse(source.as_bytes())
        .into_owned()
        .collect();
    if params.get("state").map(String::as_str) != Some(state) {
        tracing::debug!("loopback: request without the expected state ignored");
        respond(&mut stream, 400, &page(req.japanese, Page::WrongState)).await;
        return None;
    }
    let kind = if params.contains_key("error") {
        Page::Failed
    } else {
        Page::Done
    };
    respond(&mut stream, 200, &page(req.japanese, kind)).await;
    Some(params)
}

async fn respond(stream: &mut TcpStream, status: u16, html: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{html}",
        html.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[derive(Clone, Copy)]
enum Page {
    Done,
    Failed,
    WrongState,
    NotFound,
}

fn page(japanese: bool, kind: Page) -> String {
    let (lang, title, text) = match (japanese, kind) {
        (false, Page::Done) => ("en", "Signed in", "You are signed in. You can close this tab and return to CRM Sync."),
        (true, Page::Done) => ("ja", "サインインしました", "サインインが完了しました。このタブを閉じて CRM Sync に戻ってください。"),
        (false, Page::Failed) => ("en", "Sign-in not completed", "Sign-in was not completed. Return to CRM Sync to try again."),
        (true, Page::Failed) => ("ja", "サインインできませんでした", "サインインは完了しませんでした。CRM Sync に戻って、もう一度お試しください。"),
        (false, Page::WrongState) => ("en", "Link not valid", "This sign-in link is not valid or has expired. Return to CRM Sync and start again."),
        (true, Page::WrongState) => ("ja", "無効なリンク", "このサインイン リンクは無効か期限切れです。CRM Sync に戻って、最初からやり直してください。"),
        (false, Page::NotFound) => ("en", "Not found", "Nothing here."),
        (true, Page::NotFound) => ("ja", "見つかりません", "このページはありません。"),
    };
    format!("<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>CRM Sync – {title}</title></head><body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{text}</p></body></html>")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(url: &str, lang: &str) -> (u16, String) {
        let r = reqwest::Client::new()
            .get(url)
            .header("Accept-Language", lang)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    #[tokio::test]
    async fn accepts_only_the_request_with_the_right_state() {
        let lb = Loopback::bind().await.unwrap();
        let uri = lb.redirect_uri();
        assert!(uri.starts_with("http://127.0.0.1:"));
        let cancel = CancelHandle::new();
        let waiter =
            tokio::spawn(async move { lb.wait("s123", Duration::from_secs(10), &cancel).await });
        let base = uri.trim_end_matches("/callback").to_string();
        assert_eq!(get(&format!("{base}/favicon.ico"), "en").await.0, 404);
        let (status, body) = get(&format!("{uri}?code=evil&state=other"), "en").await;
        assert_eq!(status, 400);
        assert!(body.contains("not valid"));
        let (status, body) = get(&format!("{uri}?code=abc&state=s123"), "ja-JP,ja;q=0.9").await;
        assert_eq!(status, 200);
        assert!(body.contains("CRM Sync に戻って"), "{body}");
        let params = waiter.await.unwrap().unwrap();
        assert_eq!(params["code"], "abc");
        // Exactly one request: the listener is closed afterwards.
        assert!(reqwest::get(&uri).await.is_err());
    }

    #[tokio::test]
    async fn form_post_is_accepted() {
        let lb = Loopback::bind().await.unwrap();
        let uri = lb.redirect_uri();
        let cancel = CancelHandle::new();
        let waiter =
            tokio::spawn(async move { lb.wait("st", Duration::from_secs(10), &cancel).await });
        let r = reqwest::Client::new()
            .post(&uri)
            .form(&[("code", "c1"), ("state", "st")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("return to CRM Sync"));
        assert_eq!(waiter.await.unwrap().unwrap()["code"], "c1");
    }

    #[tokio::test]
    async fn times_out_and_cancels() {
        let lb = Loopback::bind().await.unwrap();
        let err = lb
            .wait("s", Duration::from_millis(100), &CancelHandle::new())
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::TimedOut));
        let lb = Loopback::bind().await.unwrap();
        let cancel = CancelHandle::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            c2.cancel();
        });
        let err = lb
            .wait("s", Duration::from_secs(10), &cancel)
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::Cancelled));
    }
}
