//! End-to-end harness: launches the real CRM Sync binary through `tauri-driver`
//! (which drives WebKitWebDriver) with its own data directory, and gives tests
//! a small W3C WebDriver client to read and click what the window shows.
//!
//! Run under a display (`xvfb-run`) and, ideally, a private D-Bus session
//! (`dbus-run-session`); `scripts/test` does both. Environment:
//! - `CRMSYNC_APP_BIN`: the app binary (default: `<target>/debug/crmsync-app`);
//! - `TAURI_DRIVER`: the tauri-driver binary (default: `tauri-driver` on PATH or in `~/.cargo/bin`);
//! - `CRMSYNC_E2E_ARTIFACTS`: where failures leave screenshots and logs
//!   (default: `tests/e2e/artifacts`).

mod player;
mod webdriver;

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub use player::{BrowserPlayer, Keyring};
pub use webdriver::{Browser, Element, WebDriverError};

/// How long a test waits for the app to show something before failing.
pub const WAIT: Duration = Duration::from_secs(15);

/// tauri-driver in its own process group; dropping it ends the whole group
/// (tauri-driver, WebKitWebDriver and the app), pass or fail.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A running app under test, with its private data directory.
pub struct App {
    driver: Driver,
    browser: Browser,
    data_dir: tempfile::TempDir,
    artifacts: PathBuf,
    log_path: PathBuf,
}

/// Options for one launch.
#[derive(Default)]
pub struct Launch {
    /// Extra environment for the app (e.g. `LANGUAGE=ja`).
    pub env: Vec<(String, String)>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/e2e sits two levels below the workspace root")
        .to_path_buf()
}

/// The app binary under test.
pub fn app_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CRMSYNC_APP_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("debug").join("crmsync-app")
}

fn tauri_driver() -> PathBuf {
    if let Some(p) = std::env::var_os("TAURI_DRIVER") {
        return PathBuf::from(p);
    }
    let in_cargo = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver"))
        .filter(|p| p.exists());
    in_cargo.unwrap_or_else(|| PathBuf::from("tauri-driver"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

fn artifacts_root() -> PathBuf {
    std::env::var_os("CRMSYNC_E2E_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("tests/e2e/artifacts"))
}

/// Where a test keeps the screenshots of each screen it walks through (kept
/// after a passing run, unlike the failure artifacts).
pub fn screens_dir(test: &str) -> PathBuf {
    let dir = artifacts_root().join("screens").join(test);
    std::fs::create_dir_all(&dir).expect("screenshots dir");
    dir
}

impl App {
    /// Prepares a fresh data directory (`prepare` may seed it), starts
    /// tauri-driver and opens a WebDriver session, which launches the app.
    pub async fn launch(test: &str, launch: Launch, prepare: impl FnOnce(&Path)) -> App {
        let binary = app_binary();
        assert!(
            binary.exists(),
            "app binary {} not found: build it first (`cargo build -p crmsync-app`) or set CRMSYNC_APP_BIN",
            binary.display()
        );
        // A previous test's app may still be exiting; single-instance would
        // then turn this launch away.
        wait_until_not_running(&binary).await;
        let data_dir = tempfile::tempdir().expect("temp data dir");
        prepare(data_dir.path());

        let artifacts = artifacts_root().join(test);
        std::fs::create_dir_all(&artifacts).expect("artifacts dir");
        let log_path = artifacts.join("app.log");
        let log = std::fs::File::create(&log_path).expect("app log file");

        let port = free_port();
        let native_port = free_port();
        let mut command = Command::new(tauri_driver());
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("CRMSYNC_DATA_DIR", data_dir.path())
            .env("CRMSYNC_LOG", "debug")
            // Short panics in the app log, so failure messages show the cause.
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .process_group(0)
            .kill_on_drop(true);
        for (k, v) in &launch.env {
            command.env(k, v);
        }
        let driver = Driver(command.spawn().unwrap_or_else(|e| {
            panic!("cannot start tauri-driver ({e}); install it with `cargo install tauri-driver --locked`")
        }));

        let capabilities = serde_json::json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "wry",
                "tauri:options": { "application": binary }
            }}
        });
        let deadline = Instant::now() + WAIT;
        let browser = loop {
            match Browser::new_session(&format!("http://127.0.0.1:{port}"), &capabilities).await {
                Ok(b) => break b,
                Err(e) if Instant::now() < deadline => {
                    verbose_note(&format!("waiting for tauri-driver: {e}"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!(
                    "no WebDriver session within {WAIT:?}: {e}\n--- app log ({}) ---\n{}",
                    log_path.display(),
                    log_tail(&log_path)
                ),
            }
        };
        App {
            driver,
            browser,
            data_dir,
            artifacts,
            log_path,
        }
    }

    /// The data directory the app runs with.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Runs `body` against the window. If it fails, a screenshot and the app
    /// log are kept under the artifacts directory; then the app is closed and
    /// the failure re-raised.
    pub async fn run<F, Fut>(self, body: F) -> tempfile::TempDir
    where
        F: FnOnce(Browser) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = tokio::spawn(body(self.browser.clone())).await;
        if outcome.is_err() {
            match self.browser.screenshot().await {
                Ok(png) => {
                    let _ = std::fs::write(self.artifacts.join("failure.png"), png);
                }
                Err(e) => eprintln!("no failure screenshot: {e}"),
            }
            eprintln!(
                "artifacts kept in {} (app log: {})",
                self.artifacts.display(),
                self.log_path.display()
            );
        }
        let _ = self.browser.quit().await;
        drop(self.driver);
        wait_until_not_running(&app_binary()).await;
        if let Err(e) = outcome {
            match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("test task failed: {e}"),
            }
        }
        // The log goes with the data it describes (tests grep both for secrets).
        let _ = std::fs::rename(&self.log_path, self.data_dir.path().join(APP_LOG));
        let _ = std::fs::remove_dir_all(&self.artifacts);
        self.data_dir
    }
}

/// Clicks `css` once it shows. A card re-rendered between finding and clicking (a round
/// ended) replaces the element: then it is found again.
pub async fn click(b: &Browser, css: &str) {
    let mut tries = 0;
    loop {
        let e = b
            .wait_for(css, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        match b.click(&e).await {
            Ok(()) => return,
            Err(e) if tries < 5 => {
                tries += 1;
                eprintln!("click {css} again: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("click {css}: {e}"),
        }
    }
}

/// Waits until `css` reads exactly `want`.
pub async fn text_is(b: &Browser, css: &str, want: &str) {
    let got = b
        .wait_for_text(css, WAIT, |t| t == want)
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    assert_eq!(got, want);
}

/// Saves what the window shows as `{name}.png` among the test's screenshots, once it painted.
pub async fn screenshot(b: &Browser, test: &str, name: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = b.screenshot().await.expect("screenshot");
    std::fs::write(screens_dir(test).join(format!("{name}.png")), png).expect("save screenshot");
}

/// The app's log (stdout and stderr, at debug level), kept in the data directory
/// [`App::run`] returns.
pub const APP_LOG: &str = "e2e-app.log";

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The places in `bytes` that hold a token: one of `secrets`, or anything shaped like a
/// token the sandbox issues (Microsoft access `EwBsbx.…` and refresh `M.Rsbx.…`, Zoho
/// `1000.<32 hex>.<32 hex>`), so a token the app held only for a while is caught too.
pub fn tokens_in(bytes: &[u8], secrets: &[String]) -> Vec<String> {
    let mut found: Vec<String> = secrets
        .iter()
        .filter(|s| !s.is_empty() && bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        .map(|s| format!("{}…", &s[..s.len().min(12)]))
        .collect();
    for prefix in [&b"EwBsbx."[..], b"M.Rsbx."] {
        if bytes.windows(prefix.len()).any(|w| w == prefix) {
            found.push(String::from_utf8_lossy(prefix).into_owned());
        }
    }
    let hex = |b: &[u8]| b.len() == 32 && b.iter().all(u8::is_ascii_hexdigit);
    for (i, w) in bytes.windows(5).enumerate() {
        if w == b"1000." {
            let rest = &bytes[i + 5..];
            if rest.len() >= 65 && hex(&rest[..32]) && rest[32] == b'.' && hex(&rest[33..65]) {
                found.push("1000.<hex>.<hex>".into());
            }
        }
    }
    found
}

/// Waits (up to [`WAIT`]) until no process runs `binary`. Linux: reads /proc.
async fn wait_until_not_running(binary: &Path) {
    let target = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let running = || {
        std::fs::read_dir("/proc")
            .map(|entries| {
                entries.flatten().any(|e| {
                    std::fs::read_link(e.path().join("exe")).is_ok_and(|exe| exe == target)
                })
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + WAIT;
    while running() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of the app log, for failure messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

fn verbose_note(msg: &str) {
    if std::env::var_os("CRMSYNC_E2E_VERBOSE").is_some() {
        eprintln!("{msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::tokens_in;

    #[test]
    fn tokens_are_found_by_value_and_by_shape() {
        let zoho = format!("1000.{}.{}", "ab12".repeat(8), "0f".repeat(16));
        let text = format!("a=EwBsbx.x b=M.Rsbx.y c={zoho} d=secret-value");
        let found = tokens_in(text.as_bytes(), &["secret-value".into()]);
        assert_eq!(found.len(), 4, "{found:?}");
        let clean = "interval 1000.5 seconds; 1000.abc.def; nothing else";
        assert!(tokens_in(clean.as_bytes(), &["secret-value".into()]).is_empty());
    }
}
