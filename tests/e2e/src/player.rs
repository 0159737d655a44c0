//! The test plays the user's browser: the app opens sign-in pages through
//! tauri-plugin-opener, which on Linux runs `xdg-open URL` first. A fake
//! `xdg-open` on the app's `PATH` appends each URL to a file; the player
//! follows every new URL with plain HTTP (a cookie jar, no automatic
//! redirects), posts the sandbox's sign-in and consent forms (password
//! `sandbox`) and finally hits the app's loopback redirect.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

/// The fake browser: a directory to put first on the app's `PATH`, and the
/// file it records opened URLs in.
pub struct BrowserPlayer {
    dir: tempfile::TempDir,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

struct Inner {
    http: reqwest::Client,
    opened_file: PathBuf,
    zoho_email: String,
    microsoft_email: String,
    opened: parking_lot::Mutex<Vec<String>>,
    forms_posted: AtomicUsize,
    failures: parking_lot::Mutex<Vec<String>>,
    /// While set, opened URLs wait (the "finish in your browser" screen stays up).
    paused: AtomicBool,
    /// Set by [`BrowserPlayer::abandon`]: the URLs before this line are never played.
    abandon_before: AtomicUsize,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let pat = format!("{name}=\"");
    let i = tag.find(&pat)? + pat.len();
    let j = tag[i..].find('"')? + i;
    Some(unescape(&tag[i..j]))
}

impl BrowserPlayer {
    /// A player that signs in to Zoho as `zoho_email` and to Microsoft 365 as
    /// `microsoft_email` whenever a sign-in page asks for credentials.
    pub fn start(zoho_email: &str, microsoft_email: &str) -> BrowserPlayer {
        let dir = tempfile::tempdir().expect("fake browser dir");
        let opened_file = dir.path().join("opened-urls");
        let script = dir.path().join("xdg-open");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
                opened_file.display()
            ),
        )
        .expect("write fake xdg-open");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod fake xdg-open");
        let inner = Arc::new(Inner {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            opened_file,
            zoho_email: zoho_email.to_owned(),
            microsoft_email: microsoft_email.to_owned(),
            opened: parking_lot::Mutex::new(Vec::new()),
            forms_posted: AtomicUsize::new(0),
            failures: parking_lot::Mutex::new(Vec::new()),
            paused: AtomicBool::new(false),
            abandon_before: AtomicUsize::new(0),
        });
        let task = tokio::spawn(watch(inner.clone()));
        BrowserPlayer { dir, inner, task }
    }

    /// The environment the app needs so its `xdg-open` is this player.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = std::env::var("PATH").unwrap_or_default();
        vec![(
            "PATH".into(),
            format!("{}:{path}", self.dir.path().display()),
        )]
    }

    /// Every URL the app opened so far.
    pub fn opened(&self) -> Vec<String> {
        self.inner.opened.lock().clone()
    }

    /// How many forms (sign-in, consent) the player has posted so far.
    pub fn forms_posted(&self) -> usize {
        self.inner.forms_posted.load(Ordering::SeqCst)
    }

    /// Pages the player could not get through (empty when all went well).
    pub fn failures(&self) -> Vec<String> {
        self.inner.failures.lock().clone()
    }

    /// Holds every URL opened from now on until [`Self::resume`] or [`Self::abandon`].
    pub fn pause(&self) {
        self.inner.paused.store(true, Ordering::SeqCst);
    }

    /// Plays the held URLs and any later ones.
    pub fn resume(&self) {
        self.inner.paused.store(false, Ordering::SeqCst);
    }

    /// Drops the URLs held so far unplayed (the user closed the browser
    /// tab), then resumes: URLs opened later are played.
    pub fn abandon(&self) {
        let held = std::fs::read_to_string(&self.inner.opened_file)
            .unwrap_or_default()
            .lines()
            .count();
        self.inner.abandon_before.store(held, Ordering::SeqCst);
        self.inner.paused.store(false, Ordering::SeqCst);
    }

    /// The file the fake `xdg-open` writes to.
    pub fn opened_file(&self) -> &Path {
        &self.inner.opened_file
    }
}

impl Drop for BrowserPlayer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls the URL file and plays each new line once, in order.
async fn watch(inner: Arc<Inner>) {
    let mut seen = 0;
    loop {
        let text = std::fs::read_to_string(&inner.opened_file).unwrap_or_default();
        let urls: Vec<String> = text.lines().map(str::to_owned).collect();
        let abandon_before = inner.abandon_before.swap(0, Ordering::SeqCst);
        if abandon_before > seen {
            let dropped = urls.iter().take(abandon_before).skip(seen).cloned();
            inner.opened.lock().extend(dropped);
            seen = abandon_before;
        }
        if inner.paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        for url in urls.iter().skip(seen) {
            inner.opened.lock().push(url.clone());
            if let Err(e) = play(&inner, url).await {
                inner.failures.lock().push(format!("{url}: {e}"));
            }
        }
        seen = urls.len();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn play(inner: &Inner, url: &str) -> Result<(), String> {
    let mut current = url::Url::parse(url).map_err(|e| e.to_string())?;
    let email = if current.path().contains("/zoho/") {
        &inner.zoho_email
    } else {
        &inner.microsoft_email
    };
    let mut resp = inner
        .http
        .get(current.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..12 {
        if resp.status().is_redirection() {
            let loc = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or("redirect without location")?
                .to_owned();
            let next = current.join(&loc).map_err(|e| e.to_string())?;
            let loopback = next.host_str() == Some("127.0.0.1") && next.path() == "/callback";
            let r = inner
                .http
                .get(next.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if loopback {
                return if r.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("the app's loopback answered {}", r.status()))
                };
            }
            current = next;
            resp = r;
            continue;
        }
        let status = resp.status();
        let html = resp.text().await.map_err(|e| e.to_string())?;
        let Some(fstart) = html.find("<form") else {
            return Err(format!("no form on a page answered {status}: {html}"));
        };
        let fend = html[fstart..].find('>').ok_or("unclosed form tag")? + fstart;
        let action = attr(&html[fstart..fend], "action").unwrap_or_else(|| current.to_string());
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut rest = &html[fstart..];
        while let Some(i) = rest.find("<input") {
            let end = rest[i..].find('>').ok_or("unclosed input tag")? + i;
            let tag = &rest[i..end];
            if let (Some(n), Some(v), Some("hidden")) = (
                attr(tag, "name"),
                attr(tag, "value"),
                attr(tag, "type").as_deref(),
            ) {
                fields.push((n, v));
            }
            rest = &rest[i + 6..];
        }
        if html.contains("name=\"password\"") {
            let user = if html.contains("name=\"username\"") {
                "username"
            } else {
                "email"
            };
            fields.retain(|(n, _)| n != user && n != "password");
            fields.push((user.into(), email.clone()));
            fields.push(("password".into(), "sandbox".into()));
        }
        for accept in ["consent", "decision"] {
            if html.contains(&format!("name=\"{accept}\" value=\"accept\"")) {
                fields.push((accept.into(), "accept".into()));
            }
        }
        inner.forms_posted.fetch_add(1, Ordering::SeqCst);
        let target = current.join(&action).map_err(|e| e.to_string())?;
        resp = inner
            .http
            .post(target.clone())
            .form(&fields)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        current = target;
    }
    Err("too many steps".into())
}

/// A private D-Bus session with an unlocked gnome-keyring (a real Secret
/// Service, throwaway password, private home), so the app keeps its tokens
/// in a real keychain and nothing touches the machine's own.
pub struct Keyring {
    address: String,
    bus_pid: u32,
    _home: tempfile::TempDir,
}

impl Keyring {
    /// Starts `dbus-daemon --session` and `gnome-keyring-daemon --unlock --components=secrets`.
    pub fn start() -> Keyring {
        let home = tempfile::tempdir().expect("keyring home");
        let out = std::process::Command::new("dbus-daemon")
            .args([
                "--session",
                "--fork",
                "--nopidfile",
                "--print-address=1",
                "--print-pid=1",
            ])
            .output()
            .expect("dbus-daemon is needed (apt: dbus)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let address = lines.next().unwrap_or_default().trim().to_owned();
        let bus_pid: u32 = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("dbus-daemon did not start: {text}"));
        let mut child = std::process::Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            // The daemon forks into the background: keep it off the test's pipes and display.
            .stderr(std::process::Stdio::null())
            .env_remove("DISPLAY")
            .spawn()
            .expect("gnome-keyring-daemon is needed (apt: gnome-keyring)");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("keyring stdin");
            stdin.write_all(b"throwaway").expect("unlock the keyring");
        }
        let status = child.wait().expect("gnome-keyring-daemon");
        assert!(status.success(), "gnome-keyring-daemon failed: {status}");
        Keyring {
            address,
            bus_pid,
            _home: home,
        }
    }

    /// The environment that points the app at this bus.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone())]
    }

    /// The access and refresh tokens the app keeps under `key` (`microsoft:{email}`,
    /// `zoho:{email}`) in this keychain. Points this test process at the keychain's bus.
    pub fn stored_tokens(&self, key: &str) -> Vec<String> {
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &self.address);
        // The keyring crate binds its default store to the first bus a process used: bind it
        // to this one (several tests may run in one process under `cargo test`).
        keyring_core::set_default_store(
            zbus_secret_service_keyring_store::Store::new().expect("this keychain's bus"),
        );
        let store = crmsync_auth::KeyringStore::open().expect("the test keychain");
        let Some(entry) = crmsync_auth::TokenStore::load(&store, key).expect("keychain read")
        else {
            return Vec::new();
        };
        let set: serde_json::Value = serde_json::from_str(&entry).expect("a token set");
        ["access_token", "refresh_token"]
            .iter()
            .filter_map(|k| set[*k].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        // The keyring daemon leaves with its bus.
        let _ = std::process::Command::new("kill")
            .arg(self.bus_pid.to_string())
            .status();
    }
}
