//! "Export diagnostics": one JSON file in the data dir that a user can attach to a
//! support request. It holds the app version, the OS, the mode, each module's state,
//! its last runs (outcomes and errors), record counts, the settings without secrets and
//! the last 200 lines of a log file if one exists.
//!
//! Everything is redacted as a whole before it is written: tokens (`Bearer …`,
//! `access_token=…`, JWTs, Zoho token shapes, long random strings), the Zoho client
//! secret, and e-mail addresses (masked to their first letter and domain).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tauri::{AppHandle, State};

use crmsync_core::contact::ContactRecord;
use crmsync_core::event::EventRecord;
use crmsync_core::task::TaskRecord;
use crmsync_engine::{ModuleKind, Service, Store};

use crate::commands::AppState;
use crate::error::{CommandError, ErrorCode};
use crate::settings;

/// How many log lines the export keeps.
const LOG_LINES: usize = 200;
/// How many runs per module the export keeps.
const RUNS: usize = 20;
/// What a redacted value becomes.
const REDACTED: &str = "[redacted]";

/// Keys whose value is always a secret, in `key=value`, `key: value` or JSON form.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code_verifier",
    "password",
    "authorization",
    "assertion",
    "code",
    "token",
];

/// Schemes whose following word is a credential.
const SECRET_SCHEMES: &[&str] = &["bearer", "zoho-oauthtoken", "basic"];

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=' | '%')
}

/// A word that looks like a credential: a JWT, or a long mix of letters and digits
/// (UUIDs and plain numbers are kept; they are ids, useful and not secret).
fn looks_like_token(word: &str) -> bool {
    let w = word.trim_matches(|c: char| matches!(c, '.' | '=' | '/' | '-' | '_'));
    if w.starts_with("eyJ") && w.matches('.').count() >= 2 {
        return true;
    }
    if w.len() < 32 {
        return false;
    }
    let is_uuid = w.len() == 36
        && w.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && w.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if is_uuid || w.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let digits = w.chars().filter(char::is_ascii_digit).count();
    let letters = w.chars().filter(char::is_ascii_alphabetic).count();
    // Paths, words joined by dashes and identifiers are mostly letters with few digits.
    digits >= 4 && letters >= 4 && !w.contains("//")
}

/// Masks an e-mail address: `aiko.tanaka@example.com` → `a***@example.com`.
fn mask_email(local: &str, domain: &str) -> String {
    let first = local.chars().next().unwrap_or('*');
    format!("{first}***@{domain}")
}

fn email_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn email_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

/// Masks every e-mail address in `text`.
fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0; // chars[..copied] are in `out`
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = i;
            while start > copied && email_local_char(chars[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < chars.len() && email_domain_char(chars[end]) {
                end += 1;
            }
            let local: String = chars[start..i].iter().collect();
            let domain: String = chars[i + 1..end].iter().collect();
            let domain = domain.trim_end_matches(['.', '-']);
            let domain_ok = domain.contains('.') && !domain.starts_with('.');
            if !local.is_empty() && domain_ok {
                out.extend(&chars[copied..start]);
                out.push_str(&mask_email(&local, domain));
                copied = i + 1 + domain.chars().count();
                i = copied;
                continue;
            }
        }
        i += 1;
    }
    out.extend(&chars[copied..]);
    out
}

/// Replaces the value after each secret key (`key=v`, `key: v`, `"key":"v"`).
fn redact_key_values(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < text.len() {
        let hit = SECRET_KEYS.iter().find(|k| {
            lower[i..].starts_with(**k)
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
                && !bytes
                    .get(i + k.len())
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        });
        let Some(key) = hit else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        };
        // After the key: an optional closing quote, then `=` or `:`, spaces, an optional quote.
        let mut j = i + key.len();
        if bytes.get(j) == Some(&b'"') || bytes.get(j) == Some(&b'\'') {
            j += 1;
        }
        if !matches!(bytes.get(j), Some(b'=' | b':')) {
            i += key.len();
            continue;
        }
        j += 1;
        while bytes.get(j) == Some(&b' ') {
            j += 1;
        }
        let quote = match bytes.get(j) {
            Some(q @ (b'"' | b'\'')) => {
                j += 1;
                Some(*q)
            }
            _ => None,
        };
        let value_start = j;
        while let Some(&b) = bytes.get(j) {
            let ends = match quote {
                Some(q) => b == q,
                None => matches!(b, b'&' | b',' | b';' | b'}' | b' ' | b'\n' | b'\r' | b'\t'),
            };
            if ends || (quote.is_some() && b == b'\\') {
                break;
            }
            j += 1;
        }
        // Schemes (`Authorization: Bearer x`) are handled by `redact_schemes`.
        let value = &text[value_start..j];
        let is_scheme = SECRET_SCHEMES.iter().any(|s| value.eq_ignore_ascii_case(s));
        if j > value_start && !is_scheme && value != REDACTED {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = j;
        }
        i = j.max(i + key.len());
    }
    out.push_str(&text[copied..]);
    out
}

/// Replaces the credential after `Bearer`, `Zoho-oauthtoken` and `Basic`.
fn redact_schemes(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < text.len() {
        let hit = SECRET_SCHEMES.iter().find(|s| {
            lower[i..].starts_with(**s)
                && lower[i + s.len()..].starts_with(' ')
                && (i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric())
        });
        if let Some(scheme) = hit {
            let start = i + scheme.len() + 1;
            let end = text[start..]
                .find(|c: char| !token_char(c))
                .map_or(text.len(), |n| start + n);
            if end > start && &text[start..end] != REDACTED {
                out.push_str(&text[copied..start]);
                out.push_str(REDACTED);
                copied = end;
            }
            i = end.max(start);
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Replaces every word that looks like a token.
fn redact_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_token(word) {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if token_char(c) && c != '/' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Redacts `text`: the known `secrets` wherever they appear, credentials after their
/// keys and schemes, token-like words, and e-mail addresses.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        text = text.replace(s.as_str(), REDACTED);
    }
    let text = redact_schemes(&text);
    let text = redact_key_values(&text);
    let text = redact_words(&text);
    mask_emails(&text)
}

/// The last `n` lines of the newest `*.log` file in the data dir or its `logs` folder.
fn log_tail(data_dir: &Path, n: usize) -> Option<(PathBuf, Vec<String>)> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for dir in [data_dir.to_path_buf(), data_dir.join("logs")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("log") {
                continue;
            }
            let modified = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
                newest = Some((modified, path));
            }
        }
    }
    let (_, path) = newest?;
    let bytes = std::fs::read(&path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect();
    Some((path, tail))
}

fn link_count(store: &Store, module: ModuleKind) -> Result<usize, crmsync_engine::StoreError> {
    Ok(match module {
        ModuleKind::Contacts => store.links::<ContactRecord>(module)?.len(),
        ModuleKind::Events => store.links::<EventRecord>(module)?.len(),
        ModuleKind::Tasks => store.links::<TaskRecord>(module)?.len(),
    })
}

/// What the store knows, as JSON (modules, runs, counts, accounts); a store error is
/// reported in the file rather than stopping the export.
fn store_section(store: &Store) -> Value {
    let mut modules = Vec::new();
    for module in ModuleKind::ALL {
        let state = store.module(module).map_or_else(
            |e| json!({ "error": e.to_string() }),
            |m| {
                json!({
                    "enabled": m.enabled,
                    "status": format!("{:?}", m.status),
                    "delete_propagation": m.delete_propagation,
                    "last_sync_at": m.last_sync_at,
                })
            },
        );
        let policy = store
            .settings(module)
            .map(|s| format!("{:?}", s.conflict_policy))
            .unwrap_or_else(|e| format!("error: {e}"));
        let runs = store
            .runs(module, RUNS)
            .map_or_else(|e| json!({ "error": e.to_string() }), |r| json!(r));
        let links = link_count(store, module)
            .map_or_else(|e| json!({ "error": e.to_string() }), |n| json!(n));
        let journal = store
            .journal(module)
            .map_or_else(|e| json!({ "error": e.to_string() }), |j| json!(j.len()));
        modules.push(json!({
            "module": module.as_str(),
            "state": state,
            "conflict_policy": policy,
            "counts": { "links": links, "journal_entries": journal },
            "last_runs": runs,
        }));
    }
    let mut accounts = Vec::new();
    for service in [Service::Zoho, Service::Microsoft] {
        match store.account(service) {
            Ok(Some(a)) => accounts.push(json!({
                "service": service.as_str(),
                "email": a.email,
                "organisation": a.organisation,
                "data_centre": a.data_centre,
                "connected_at": a.connected_at,
            })),
            Ok(None) => accounts.push(json!({ "service": service.as_str(), "connected": false })),
            Err(e) => accounts.push(json!({ "service": service.as_str(), "error": e.to_string() })),
        }
    }
    json!({
        "schema_version": store.schema_version().ok(),
        "modules": modules,
        "accounts": accounts,
    })
}

/// Everything the export holds, before redaction.
pub struct Inputs<'a> {
    pub now: DateTime<Utc>,
    pub version: &'a str,
    pub running_mode: Value,
    pub prefs: &'a settings::Prefs,
    pub secret_saved: bool,
    pub store: Result<Value, String>,
    pub data_dir: &'a Path,
    pub log: Option<(PathBuf, Vec<String>)>,
}

/// The report as pretty JSON text, every string in it redacted.
pub fn render(inputs: &Inputs<'_>, secrets: &[String]) -> String {
    let (log_file, log_lines) = match &inputs.log {
        Some((path, lines)) => (Some(path.display().to_string()), lines.clone()),
        None => (None, Vec::new()),
    };
    let report = json!({
        "generated_at": inputs.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "app": { "name": "CRM Sync", "version": inputs.version },
        "os": {
            "os": std::env::consts::OS,
            "family": std::env::consts::FAMILY,
            "arch": std::env::consts::ARCH,
        },
        "mode": { "running": inputs.running_mode, "chosen": inputs.prefs.mode },
        "settings": {
            "preferences": inputs.prefs,
            "zoho_client_secret": if inputs.secret_saved { "saved in the keychain" } else { "not set" },
        },
        "data_dir": inputs.data_dir.display().to_string(),
        "store": match &inputs.store {
            Ok(v) => v.clone(),
            Err(why) => json!({ "error": why }),
        },
        "log": { "file": log_file, "last_lines": log_lines },
    });
    let report = redact_value(report, secrets);
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Redacts every string in a JSON value (keys are the report's own and kept), so the
/// result stays valid JSON.
fn redact_value(value: Value, secrets: &[String]) -> Value {
    match value {
        Value::String(s) => Value::String(redact(&s, secrets)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| redact_value(v, secrets))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, redact_value(v, secrets)))
                .collect(),
        ),
        other => other,
    }
}

/// The diagnostics file name for a time: `crmsync-diagnostics-20261125T061500Z.json`.
pub fn file_name(now: DateTime<Utc>) -> String {
    format!("crmsync-diagnostics-{}.json", now.format("%Y%m%dT%H%M%SZ"))
}

/// Writes a redacted diagnostics file into the data dir and returns its path.
#[tauri::command]
#[specta::specta]
pub async fn export_diagnostics(
    app: AppHandle,
    state: State<'_, AppState>,
) -> Result<String, CommandError> {
    if state.data_dir.is_empty() {
        return Err(CommandError::new(
            ErrorCode::Store,
            "the OS reports no data directory, so there is nowhere to write the file",
        ));
    }
    let data_dir = PathBuf::from(&state.data_dir);
    let prefs = settings::prefs(&app);
    // The secret is read only to redact it (a log line could hold it).
    let secret = tauri::async_runtime::spawn_blocking(settings::zoho_client_secret)
        .await
        .ok()
        .flatten();
    let store = state
        .with_store(|store| Ok(store_section(store)))
        .map_err(|e| e.message);
    let now = Utc::now();
    let inputs = Inputs {
        now,
        version: env!("CARGO_PKG_VERSION"),
        running_mode: serde_json::to_value(&state.mode).unwrap_or(Value::Null),
        prefs: &prefs,
        secret_saved: secret.is_some(),
        store,
        data_dir: &data_dir,
        log: log_tail(&data_dir, LOG_LINES),
    };
    let text = render(&inputs, &secret.into_iter().collect::<Vec<_>>());
    let path = data_dir.join(file_name(now));
    std::fs::write(&path, text).map_err(|e| {
        CommandError::new(
            ErrorCode::Store,
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    tracing::info!(path = %path.display(), "diagnostics exported");
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhaWtvIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    const ZOHO_ACCESS: &str =
        "1000.8f3a9c1d2e4b5a6f7c8d9e0a1b2c3d4e.5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c";
    const REFRESH: &str = "M.C507_BAY.0.U.-Ck3v8mZp2Qx7RkL9TnWb4YdFhJsA1cE6gUoIyPt";
    const SECRET: &str = "zsecret-9a8b7c6d5e";

    /// Words in `text` that look like credentials and were not redacted.
    fn token_like(text: &str) -> Vec<String> {
        text.split(|c: char| !token_char(c))
            .filter(|w| looks_like_token(w) || w.starts_with("eyJ"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn credentials_are_redacted_in_every_form() {
        let text = format!(
            "GET /me Authorization: Bearer {JWT}\n\
             POST token body grant_type=refresh_token&refresh_token={REFRESH}&client_secret={SECRET}\n\
             {{\"access_token\":\"{ZOHO_ACCESS}\",\"expires_in\":3600,\"token_type\":\"Bearer\"}}\n\
             header Zoho-oauthtoken {ZOHO_ACCESS}\n\
             redirect ?code=1000.abcdef1234567890abcdef&state=xyz\n\
             bare {ZOHO_ACCESS} in a message\n\
             secret {SECRET} seen"
        );
        let out = redact(&text, &[SECRET.to_owned()]);
        for secret in [
            JWT,
            ZOHO_ACCESS,
            REFRESH,
            SECRET,
            "1000.abcdef1234567890abcdef",
        ] {
            assert!(!out.contains(secret), "{secret} left in:\n{out}");
        }
        assert!(token_like(&out).is_empty(), "{:?}\n{out}", token_like(&out));
        assert!(out.contains("\"expires_in\":3600"), "{out}");
        assert!(out.contains("grant_type=refresh_token"), "{out}");
        assert!(out.contains("state=xyz"), "{out}");
    }

    #[test]
    fn ids_and_ordinary_text_are_kept() {
        let text = "module contacts run 42 failed: record 5725767000000412001 \
                    (3f2504e0-4f89-11d3-9a0c-0305e82c3301) Zoho-CRM-calendar-not-found";
        assert_eq!(redact(text, &[]), text);
    }

    #[test]
    fn emails_are_masked() {
        let out = redact(
            "signed in as aiko.tanaka@sakura-demo.example, then \"yui@sakura-jp.example\". Not an address: a@b, x @ y.",
            &[],
        );
        assert_eq!(
            out,
            "signed in as a***@sakura-demo.example, then \"y***@sakura-jp.example\". Not an address: a@b, x @ y."
        );
    }

    #[test]
    fn the_report_has_no_token_or_address_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crmsync_engine::paths::store_path(dir.path())).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 6, 15, 0).unwrap();
        let run = store.start_run(ModuleKind::Contacts, now).unwrap();
        store
            .finish_run(
                run,
                "failed",
                Some(&format!(
                    "401 from Graph for aiko.tanaka@sakura-demo.example with Bearer {JWT}"
                )),
                now,
            )
            .unwrap();
        store
            .save_account(&crmsync_engine::Account {
                service: Service::Zoho,
                user_id: "5725767000000412001".into(),
                email: "aiko.tanaka@sakura-demo.example".into(),
                display_name: "田中 愛子".into(),
                organisation: "Sakura Trading (Demo)".into(),
                data_centre: Some("us".into()),
                connected_at: now,
            })
            .unwrap();
        let prefs = settings::Prefs::default();
        let log = vec![
            format!("DEBUG refresh ok access_token={ZOHO_ACCESS} refresh_token={REFRESH}"),
            format!("DEBUG id_token {JWT}"),
            format!("INFO client secret {SECRET}"),
        ];
        let inputs = Inputs {
            now,
            version: "0.1.0",
            running_mode: json!({"kind": "sandbox", "url": "http://127.0.0.1:4567"}),
            prefs: &prefs,
            secret_saved: true,
            store: Ok(store_section(&store)),
            data_dir: dir.path(),
            log: Some((dir.path().join("crmsync.log"), log)),
        };
        let out = render(&inputs, &[SECRET.to_owned()]);
        let parsed: Value = serde_json::from_str(&out).expect("still JSON");
        for secret in [JWT, ZOHO_ACCESS, REFRESH, SECRET, "aiko.tanaka@"] {
            assert!(!out.contains(secret), "{secret} left in:\n{out}");
        }
        assert!(token_like(&out).is_empty(), "{:?}", token_like(&out));
        assert!(!out.contains("eyJ"), "{out}");
        assert_eq!(parsed["app"]["version"], "0.1.0");
        assert_eq!(
            parsed["settings"]["zoho_client_secret"],
            "saved in the keychain"
        );
        assert_eq!(parsed["settings"]["preferences"]["interval_minutes"], 2);
        let contacts = &parsed["store"]["modules"][1];
        assert_eq!(contacts["module"], "contacts");
        assert_eq!(contacts["last_runs"][0]["outcome"], "failed");
        assert!(
            contacts["last_runs"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("a***@sakura-demo.example with Bearer [redacted]"),
            "{out}"
        );
        assert_eq!(contacts["counts"]["links"], 0);
        assert_eq!(
            parsed["store"]["accounts"][0]["email"],
            "a***@sakura-demo.example"
        );
        assert_eq!(
            parsed["store"]["accounts"][0]["organisation"],
            "Sakura Trading (Demo)"
        );
        assert_eq!(parsed["log"]["last_lines"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn the_log_tail_is_the_last_lines_of_the_newest_log() {
        let dir = tempfile::tempdir().unwrap();
        assert!(log_tail(dir.path(), 200).is_none());
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let text: String = (1..=250).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("logs/crmsync.log"), text).unwrap();
        let (path, lines) = log_tail(dir.path(), 200).unwrap();
        assert!(path.ends_with("logs/crmsync.log"));
        assert_eq!(lines.len(), 200);
        assert_eq!(lines[0], "line 51");
        assert_eq!(lines[199], "line 250");
    }

    #[test]
    fn file_names_carry_the_utc_time() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 6, 15, 0).unwrap();
        assert_eq!(file_name(now), "crmsync-diagnostics-20261125T061500Z.json");
    }
}
