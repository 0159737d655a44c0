//! The Zoho client against the sandbox's Zoho CRM emulator, over real HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crmsync_zoho::models::{NewUser, ZContact, ZEvent, ZTask};
use crmsync_zoho::{
    DeletedType, ErrorClass, ListQuery, TokenProvider, TokenProviderError, ZohoClient, ZohoConfig,
    ZohoError,
};
use serde_json::{json, Value};

const AIKO: &str = "aiko.tanaka@sakura-demo.example";
const BEN: &str = "ben.carter@sakura-demo.example";

struct Sb {
    running: crmsync_sandbox::RunningSandbox,
    control: String,
    http: reqwest::Client,
}

impl Sb {
    async fn start() -> Sb {
        let running = crmsync_sandbox::start(crmsync_sandbox::Options::default())
            .await
            .unwrap();
        let control = running
            .urls
            .zoho_control
            .clone()
            .expect("zoho emulator plugged in");
        Sb {
            running,
            control,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{}", self.control, path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "control {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn client(&self, email: &str, tweak: impl FnOnce(&mut ZohoConfig)) -> ZohoClient {
        let t = self
            .call(reqwest::Method::POST, "/tokens", json!({"email": email}))
            .await;
        let mut cfg = ZohoConfig::new(t["api_domain"].as_str().unwrap());
        cfg.initial_backoff = Duration::from_millis(100);
        tweak(&mut cfg);
        let tokens = Arc::new(ControlTokens {
            http: self.http.clone(),
            control: self.control.clone(),
            email: email.into(),
            cached: parking_lot::Mutex::new(Some(t["access_token"].as_str().unwrap().to_string())),
        });
        ZohoClient::new(cfg, tokens).unwrap()
    }
}

/// Mints tokens through the sandbox control API over HTTP.
struct ControlTokens {
    http: reqwest::Client,
    control: String,
    email: String,
    cached: parking_lot::Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl TokenProvider for ControlTokens {
    async fn access_token(&self) -> Result<String, TokenProviderError> {
        if let Some(t) = self.cached.lock().clone() {
            return Ok(t);
        }
        let v: Value = self
            .http
            .post(format!("{}/tokens", self.control))
            .json(&json!({"email": self.email}))
            .send()
            .await
            .map_err(|e| TokenProviderError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| TokenProviderError::Unavailable(e.to_string()))?;
        let t = v["access_token"]
            .as_str()
            .ok_or_else(|| TokenProviderError::Unavailable("no token".into()))?
            .to_string();
        *self.cached.lock() = Some(t.clone());
        Ok(t)
    }
    async fn token_rejected(&self, token: &str) {
        let mut c = self.cached.lock();
        if c.as_deref() == Some(token) {
            *c = None;
        }
    }
}

fn contact(first: &str, last: &str) -> ZContact {
    ZContact {
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        email: Some(format!(
            "{}.{}@client.example",
            first.to_lowercase(),
            last.to_lowercase()
        )),
        ..Default::default()
    }
}

#[tokio::test]
async fn records_crud_with_per_record_results_and_deleted_records() {
    let sb = Sb::start().await;
    let z = sb.client(AIKO, |_| {}).await;

    // A custom field travels in the field map.
    sb.call(reqwest::Method::POST, "/fields/Contacts", json!({"org_of": AIKO, "api_name": "Customer_Rank", "field_label": "Customer Rank", "data_type": "text"})).await;
    let mut ranked = contact("Yuki", "Hayashi");
    ranked.fields.insert("Customer_Rank".into(), json!("A"));
    let no_last_name = ZContact {
        first_name: Some("Nameless".into()),
        ..Default::default()
    };
    let res = z
        .insert(&[ranked, no_last_name, contact("Tom", "Baker")])
        .await
        .unwrap();
    assert_eq!(res.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 2]);
    let id0 = res[0].result.as_ref().unwrap().clone();
    match &res[1].result {
        Err(ZohoError::InvalidData { code, details, .. }) => {
            assert_eq!(code, "MANDATORY_NOT_FOUND");
            assert_eq!(details["api_name"], "Last_Name");
        }
        other => panic!("{other:?}"),
    }
    let id2 = res[2].result.as_ref().unwrap().clone();

    let got: ZContact = z.get(&id0).await.unwrap();
    assert_eq!(got.last_name.as_deref(), Some("Hayashi"));
    assert_eq!(got.full_name.as_deref(), Some("Yuki Hayashi"));
    assert_eq!(got.fields.get("Customer_Rank"), Some(&json!("A")));

    // Update: partial, per record; a record without id is refused locally.
    let upd = ZContact {
        id: Some(id0.clone()),
        title: Some("Director".into()),
        ..Default::default()
    };
    let res = z.update(&[upd, contact("No", "Id")]).await.unwrap();
    assert_eq!(res[0].result.as_ref().unwrap(), &id0);
    assert!(matches!(res[1].result, Err(ZohoError::Argument(_))));
    let got: ZContact = z.get(&id0).await.unwrap();
    assert_eq!(got.title.as_deref(), Some("Director"));
    assert_eq!(
        got.first_name.as_deref(),
        Some("Yuki"),
        "partial update keeps other fields"
    );

    // Delete → recycle bin → deleted records; the record is gone.
    let res = z
        .delete("Contacts", &[id2.clone(), "999999999".into()])
        .await
        .unwrap();
    assert_eq!(res[0].result.as_ref().unwrap(), &id2);
    assert!(res[1].result.is_err(), "unknown id is a per-record error");
    let deleted = z
        .deleted_records("Contacts", DeletedType::All, None)
        .await
        .unwrap();
    assert!(deleted
        .iter()
        .any(|d| d.id == id2 && d.kind.as_deref() == Some("recycle")));
    assert!(matches!(
        z.get::<ZContact>(&id2).await,
        Err(ZohoError::NotFound(_))
    ));
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn writes_go_in_chunks_of_100_and_lists_page_past_2000() {
    let sb = Sb::start().await;
    let z = sb.client(AIKO, |_| {}).await;
    let before = z
        .list_all::<ZContact>(&ListQuery::default())
        .await
        .unwrap()
        .len();

    let many: Vec<ZContact> = (0..150)
        .map(|i| contact(&format!("Bulk{i}"), "Chunk"))
        .collect();
    let res = z.insert(&many).await.unwrap();
    assert_eq!(res.len(), 150);
    assert!(res
        .iter()
        .enumerate()
        .all(|(i, r)| r.index == i && r.result.is_ok()));

    sb.call(
        reqwest::Method::POST,
        "/generate",
        json!({"as": AIKO, "module": "Contacts", "count": 2100}),
    )
    .await;
    let all = z.list_all::<ZContact>(&ListQuery::default()).await.unwrap();
    assert_eq!(all.len(), before + 150 + 2100);
    let mut ids: Vec<&str> = all.iter().map(|c| c.id.as_deref().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        all.len(),
        "no record twice across page and page_token"
    );
    // sort_by=Modified_Time ascending.
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = all
        .iter()
        .map(|c| chrono::DateTime::parse_from_rfc3339(c.modified_time.as_deref().unwrap()).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));

    // If-Modified-Since: nothing after the future; the changed record after a mark.
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).fixed_offset();
    let q = ListQuery {
        modified_since: Some(future),
        ..Default::default()
    };
    assert!(z.list_all::<ZContact>(&q).await.unwrap().is_empty());
    let mark = *times.last().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let target = all[5].id.clone().unwrap();
    z.update(&[ZContact {
        id: Some(target.clone()),
        department: Some("Sales".into()),
        ..Default::default()
    }])
    .await
    .unwrap();
    let q = ListQuery {
        modified_since: Some(mark),
        ..Default::default()
    };
    let changed = z.list_all::<ZContact>(&q).await.unwrap();
    assert!(changed
        .iter()
        .any(|c| c.id.as_deref() == Some(target.as_str())));
    assert!(changed.len() < 10, "only recent changes: {}", changed.len());
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn throttling_backs_off_without_a_retry_storm() {
    let sb = Sb::start().await;
    let z = sb.client(AIKO, |_| {}).await;
    z.current_user().await.unwrap();
    sb.call(
        reqwest::Method::PUT,
        "/faults",
        json!({"fail_next": 3, "error_status": 429}),
    )
    .await;
    let started = Instant::now();
    assert_eq!(z.current_user().await.unwrap().email.as_deref(), Some(AIKO));
    // 0.1 + 0.2 + 0.4 s of backoff, exactly one retry per 429.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    let c = sb
        .call(reqwest::Method::GET, "/counters", Value::Null)
        .await;
    assert_eq!(c["injected_faults"], 3, "{c}");

    // Persistent 429 ends typed after the retries.
    let z2 = sb.client(AIKO, |c| c.max_retries = 2).await;
    sb.call(
        reqwest::Method::PUT,
        "/faults",
        json!({"fail_next": 10, "error_status": 429}),
    )
    .await;
    let err = z2.current_user().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Throttled, "{err}");
    sb.call(reqwest::Method::PUT, "/faults", json!({})).await;

    // Within the edition's concurrency: 30 parallel calls, no 429.
    let before = sb
        .call(reqwest::Method::GET, "/counters", Value::Null)
        .await["throttled"]
        .as_u64()
        .unwrap();
    sb.call(reqwest::Method::PUT, "/faults", json!({"latency_ms": 50}))
        .await;
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let z = z.clone();
            tokio::spawn(async move { z.current_user().await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let after = sb
        .call(reqwest::Method::GET, "/counters", Value::Null)
        .await["throttled"]
        .as_u64()
        .unwrap();
    assert_eq!(after, before, "no 429 within the concurrency limit");
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn server_errors_retry_reads_but_not_writes() {
    let sb = Sb::start().await;
    let z = sb.client(AIKO, |_| {}).await;
    z.current_user().await.unwrap();
    sb.call(
        reqwest::Method::PUT,
        "/faults",
        json!({"fail_next": 2, "error_status": 500}),
    )
    .await;
    z.current_user().await.unwrap();
    sb.call(
        reqwest::Method::PUT,
        "/faults",
        json!({"fail_next": 1, "error_status": 500}),
    )
    .await;
    let err = z.insert(&[contact("Not", "Twice")]).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Server);
    sb.call(reqwest::Method::PUT, "/faults", json!({})).await;
    let (rows, _) = z
        .coql("select Last_Name from Contacts where Last_Name = 'Twice' limit 10")
        .await
        .unwrap();
    assert!(
        rows.is_empty(),
        "the failed insert was not repeated: {rows:?}"
    );
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn events_tasks_coql_metadata_users_and_timeline() {
    let sb = Sb::start().await;
    let z = sb.client(AIKO, |_| {}).await;

    let ev = ZEvent {
        event_title: Some("Kick-off".into()),
        start_date_time: Some("2026-12-01T10:00:00+09:00".into()),
        end_date_time: Some("2026-12-01T11:00:00+09:00".into()),
        ..Default::default()
    };
    let bad = ZEvent {
        event_title: Some("Backwards".into()),
        start_date_time: Some("2026-12-01T11:00:00+09:00".into()),
        end_date_time: Some("2026-12-01T10:00:00+09:00".into()),
        ..Default::default()
    };
    let res = z.insert(&[ev, bad]).await.unwrap();
    let ev_id = res[0].result.as_ref().unwrap().clone();
    assert_eq!(
        res[1].result.as_ref().unwrap_err().class(),
        ErrorClass::InvalidData
    );
    let got: ZEvent = z.get(&ev_id).await.unwrap();
    assert_eq!(got.event_title.as_deref(), Some("Kick-off"));
    let task = ZTask {
        subject: Some("Send quote".into()),
        due_date: Some("2026-12-05".into()),
        status: Some("Not Started".into()),
        ..Default::default()
    };
    let t_id = z.insert(&[task]).await.unwrap()[0]
        .result
        .as_ref()
        .unwrap()
        .clone();
    z.update(&[ZTask {
        id: Some(t_id.clone()),
        status: Some("Completed".into()),
        ..Default::default()
    }])
    .await
    .unwrap();
    let t: ZTask = z.get(&t_id).await.unwrap();
    assert_eq!(t.status.as_deref(), Some("Completed"));
    assert!(t.closed_time.is_some());
    assert!(!z
        .list_all::<ZTask>(&ListQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert!(z
        .list_all::<ZEvent>(&ListQuery::default())
        .await
        .unwrap()
        .iter()
        .any(|e| e.id.as_deref() == Some(ev_id.as_str())));

    let (rows, _) = z
        .coql(&format!(
            "select Subject, Status from Tasks where id = '{t_id}'"
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Subject"], "Send quote");
    assert!(matches!(
        z.coql("select from where").await,
        Err(ZohoError::InvalidData { .. })
    ));

    let fields = z.fields("Contacts").await.unwrap();
    assert!(fields
        .iter()
        .any(|f| f.api_name == "Last_Name" && f.system_mandatory == Some(true)));

    let users = z.users("AllUsers").await.unwrap();
    assert!(users.iter().any(|u| u.email.as_deref() == Some(BEN)));
    let profiles = z.profiles().await.unwrap();
    let admin = profiles
        .iter()
        .find(|p| p.can_manage_users())
        .expect("an admin profile");
    let me = z.current_user().await.unwrap();
    let role = me.role.clone().unwrap().id.unwrap();
    let standard = profiles.iter().find(|p| p.name == "Standard").unwrap();
    let new_id = z
        .add_user(&NewUser {
            email: "new.hire@sakura-demo.example".into(),
            first_name: Some("New".into()),
            last_name: "Hire".into(),
            role: role.clone(),
            profile: standard.id.clone(),
        })
        .await
        .unwrap();
    assert!(z
        .users("AllUsers")
        .await
        .unwrap()
        .iter()
        .any(|u| u.id == new_id));
    let dup = z
        .add_user(&NewUser {
            email: "new.hire@sakura-demo.example".into(),
            first_name: None,
            last_name: "Again".into(),
            role,
            profile: admin.id.clone(),
        })
        .await;
    assert!(dup.is_err());
    // A standard user may not add users: typed auth/permission error.
    let zb = sb.client(BEN, |_| {}).await;
    let err = zb
        .add_user(&NewUser {
            email: "x@sakura-demo.example".into(),
            first_name: None,
            last_name: "X".into(),
            role: me.role.unwrap().id.unwrap(),
            profile: standard.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth, "{err}");

    // Timeline: created through the API.
    let tl = z.timeline("Tasks", &t_id).await.unwrap();
    assert!(tl.iter().any(|e| e.action.as_deref() == Some("added") && e.source.as_deref() == Some("crm_api")), "{tl:?}");
    sb.running.shutdown().await.unwrap();
}

#[derive(Clone, Default)]
struct Captured(Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_no_token_and_no_personal_data() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("crmsync_zoho=trace")
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sb = Sb::start().await;
    let t = sb
        .call(reqwest::Method::POST, "/tokens", json!({"email": AIKO}))
        .await;
    let token = t["access_token"].as_str().unwrap().to_string();
    let z = sb.client(AIKO, |_| {}).await;
    let id = z.insert(&[contact("Hanako", "Kobayashi")]).await.unwrap()[0]
        .result
        .as_ref()
        .unwrap()
        .clone();
    z.coql("select Last_Name from Contacts where Last_Name = 'Kobayashi' limit 5")
        .await
        .unwrap();
    z.get::<ZContact>(&id).await.unwrap();
    z.delete("Contacts", &[id]).await.unwrap();
    sb.running.shutdown().await.unwrap();

    let log = String::from_utf8(captured.0.lock().clone()).unwrap();
    assert!(log.contains("zoho request"), "{log}");
    for secret in [
        token.as_str(),
        "Zoho-oauthtoken",
        "Hanako",
        "Kobayashi",
        "client.example",
    ] {
        assert!(!log.contains(secret), "log leaks {secret:?}:\n{log}");
    }
}

#[tokio::test]
async fn a_lower_org_concurrency_is_learned_without_a_retry_storm() {
    let sb = Sb::start().await;
    let t = sb
        .call(reqwest::Method::POST, "/tokens", json!({"email": AIKO}))
        .await;
    let org = t["org_id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| t["org_id"].to_string());
    // The client believes 5; the org allows 2 at a time.
    let z = sb.client(AIKO, |c| c.max_concurrency = 5).await;
    sb.call(
        reqwest::Method::PUT,
        &format!("/orgs/{org}/limits"),
        json!({"concurrency": 2}),
    )
    .await;
    sb.call(reqwest::Method::PUT, "/faults", json!({"latency_ms": 100}))
        .await;
    let before = sb
        .call(reqwest::Method::GET, "/counters", Value::Null)
        .await["throttled"]
        .as_u64()
        .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let z = z.clone();
            tokio::spawn(async move { z.current_user().await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let throttled = sb
        .call(reqwest::Method::GET, "/counters", Value::Null)
        .await["throttled"]
        .as_u64()
        .unwrap()
        - before;
    assert!(
        z.concurrency_limit() <= 2,
        "learned limit {}",
        z.concurrency_limit()
    );
    // 40 calls of 100 ms at 2 in flight need 2 s; backoff adds a little.
    assert!(
        elapsed <= Duration::from_secs(6),
        "throughput near the limit: {elapsed:?}"
    );
    assert!(throttled <= 6, "no retry storm: {throttled} throttled");
    sb.running.shutdown().await.unwrap();
}

// ----- tokens, lost answers, timeouts, If-Unmodified-Since -------------------

impl Sb {
    async fn counters(&self) -> Value {
        self.call(reqwest::Method::GET, "/counters", Value::Null)
            .await
    }

    /// A client whose provider holds a real refresh token (see [`RefreshTokens`]).
    async fn refreshing(
        &self,
        email: &str,
        tweak: impl FnOnce(&mut ZohoConfig),
    ) -> (ZohoClient, Arc<RefreshTokens>) {
        let t = self
            .call(reqwest::Method::POST, "/tokens", json!({"email": email}))
            .await;
        let mut cfg = ZohoConfig::new(t["api_domain"].as_str().unwrap());
        cfg.initial_backoff = Duration::from_millis(100);
        tweak(&mut cfg);
        let tokens = Arc::new(RefreshTokens {
            http: self.http.clone(),
            accounts: t["accounts_server"].as_str().unwrap().to_string(),
            client_id: t["client_id"].as_str().unwrap().to_string(),
            refresh_token: t["refresh_token"].as_str().unwrap().to_string(),
            cached: parking_lot::Mutex::new(t["access_token"].as_str().map(str::to_string)),
            dead: parking_lot::Mutex::new(None),
            asked: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            rejected: parking_lot::Mutex::new(Vec::new()),
        });
        (ZohoClient::new(cfg, tokens.clone()).unwrap(), tokens)
    }
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// Requests of one endpoint family (`"POST Contacts"`), as the emulator counts them
/// once a request is authenticated.
fn endpoint(v: &Value, key: &str) -> u64 {
    v["by_endpoint"][key].as_u64().unwrap_or(0)
}

/// The real refresh path: the provider holds a refresh token and, once its access
/// token is refused, redeems it at the accounts server (`POST /oauth/v2/token`,
/// `grant_type=refresh_token`, over HTTP). Zoho answers a dead refresh token with
/// HTTP 200 `{"error":"invalid_code"}`: the provider then stays dead and answers
/// `ReconnectNeeded` without a request, as the auth crate's session does.
struct RefreshTokens {
    http: reqwest::Client,
    accounts: String,
    client_id: String,
    refresh_token: String,
    cached: parking_lot::Mutex<Option<String>>,
    dead: parking_lot::Mutex<Option<String>>,
    /// Calls of `access_token` (the client asks once per HTTP attempt).
    asked: AtomicUsize,
    /// Requests to the token endpoint.
    refreshes: AtomicUsize,
    rejected: parking_lot::Mutex<Vec<String>>,
}

impl RefreshTokens {
    fn current(&self) -> Option<String> {
        self.cached.lock().clone()
    }
    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
    fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }
    fn rejected(&self) -> Vec<String> {
        self.rejected.lock().clone()
    }
}

#[async_trait::async_trait]
impl TokenProvider for RefreshTokens {
    async fn access_token(&self) -> Result<String, TokenProviderError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if let Some(why) = self.dead.lock().clone() {
            return Err(TokenProviderError::ReconnectNeeded(why));
        }
        if let Some(t) = self.cached.lock().clone() {
            return Ok(t);
        }
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let v: Value = self
            .http
            .post(format!("{}/oauth/v2/token", self.accounts))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", self.client_id.as_str()),
                ("refresh_token", self.refresh_token.as_str()),
            ])
            .send()
            .await
            .map_err(|e| TokenProviderError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| TokenProviderError::Unavailable(e.to_string()))?;
        if let Some(t) = v["access_token"].as_str() {
            *self.cached.lock() = Some(t.to_string());
            return Ok(t.to_string());
        }
        let error = v["error"].as_str().unwrap_or("").to_string();
        if error == "invalid_code" {
            *self.dead.lock() = Some(error.clone());
            return Err(TokenProviderError::ReconnectNeeded(error));
        }
        Err(TokenProviderError::Unavailable(v.to_string()))
    }

    async fn token_rejected(&self, token: &str) {
        self.rejected.lock().push(token.to_string());
        let mut c = self.cached.lock();
        if c.as_deref() == Some(token) {
            *c = None;
        }
    }
}

/// Always hands out a token the service refuses.
#[derive(Default)]
struct Refused {
    asked: AtomicUsize,
    rejected: AtomicUsize,
}

#[async_trait::async_trait]
impl TokenProvider for Refused {
    async fn access_token(&self) -> Result<String, TokenProviderError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Ok("1000.not-a-token.0000".into())
    }
    async fn token_rejected(&self, _token: &str) {
        self.rejected.fetch_add(1, Ordering::SeqCst);
    }
}

async fn count_last_name(z: &ZohoClient, last_name: &str) -> usize {
    z.coql(&format!(
        "select Last_Name from Contacts where Last_Name = '{last_name}' limit 10"
    ))
    .await
    .unwrap()
    .0
    .len()
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_retried() {
    let sb = Sb::start().await;
    let (z, tokens) = sb.refreshing(AIKO, |_| {}).await;
    z.current_user().await.unwrap();
    assert_eq!(tokens.refreshes(), 0, "the first token is used as minted");
    let first = tokens.current().unwrap();

    // An hour later the access token has expired (Zoho: 3600 s): the API answers
    // 401 INVALID_TOKEN. An insert then: a refused write was not applied, so its
    // retry is safe and must create the record exactly once.
    sb.call(
        reqwest::Method::POST,
        "/clock",
        json!({"advance_seconds": 3700}),
    )
    .await;
    let before = sb.counters().await;
    let asked = tokens.asked();
    let res = z.insert(&[contact("Rin", "Refreshed")]).await.unwrap();
    let id = res[0].result.as_ref().unwrap().clone();
    let after = sb.counters().await;
    assert_eq!(
        tokens.rejected(),
        vec![first.clone()],
        "token_rejected once"
    );
    assert_eq!(tokens.refreshes(), 1, "one refresh");
    assert_eq!(
        tokens.asked() - asked,
        2,
        "the refused attempt and one retry"
    );
    assert_eq!(n(&after, "api_requests") - n(&before, "api_requests"), 2);
    assert_eq!(
        n(&after, "token_requests") - n(&before, "token_requests"),
        1
    );
    assert_eq!(
        endpoint(&after, "POST Contacts") - endpoint(&before, "POST Contacts"),
        1,
        "only the retry reached the insert: {after}"
    );
    assert_ne!(tokens.current().unwrap(), first);

    // The new token is reused.
    let got: ZContact = z.get(&id).await.unwrap();
    assert_eq!(got.last_name.as_deref(), Some("Refreshed"));
    assert_eq!(count_last_name(&z, "Refreshed").await, 1);
    assert_eq!(tokens.refreshes(), 1);
    assert_eq!(tokens.rejected().len(), 1);

    // A token refused again after the new one is typed, not a loop.
    let refused = Arc::new(Refused::default());
    let api_domain = sb
        .call(reqwest::Method::POST, "/tokens", json!({"email": AIKO}))
        .await["api_domain"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = ZohoClient::new(ZohoConfig::new(api_domain), refused.clone()).unwrap();
    let before = sb.counters().await;
    let err = bad.current_user().await.unwrap_err();
    assert!(
        matches!(&err, ZohoError::Auth { status: 401, code, .. } if code == "INVALID_TOKEN"),
        "{err:?}"
    );
    let after = sb.counters().await;
    assert_eq!(n(&after, "api_requests") - n(&before, "api_requests"), 2);
    assert_eq!(refused.asked.load(Ordering::SeqCst), 2);
    assert_eq!(refused.rejected.load(Ordering::SeqCst), 1);
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dead_refresh_token_is_reconnect_needed_without_a_request_storm() {
    let sb = Sb::start().await;
    let (z, tokens) = sb.refreshing(AIKO, |_| {}).await;
    z.current_user().await.unwrap();
    // The grant is revoked at the accounts server: the refresh token and every
    // access token minted from it stop working.
    let r = sb
        .http
        .post(format!("{}/oauth/v2/token/revoke", tokens.accounts))
        .form(&[("token", tokens.refresh_token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let before = sb.counters().await;
    let asked = tokens.asked();
    let err = z.current_user().await.unwrap_err();
    assert!(matches!(err, ZohoError::ReconnectNeeded(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Auth);
    assert_eq!(tokens.rejected().len(), 1);
    assert_eq!(tokens.refreshes(), 1, "one refresh attempt");
    assert_eq!(tokens.asked() - asked, 2, "the 401, then the dead refresh");

    // Later calls, many at once, reads and writes: each fails typed after asking
    // the provider once, without any HTTP request.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let z = z.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    z.current_user().await.map(|_| ())
                } else {
                    z.insert(&[contact("Never", "Sent")]).await.map(|_| ())
                }
            })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert!(matches!(r, Err(ZohoError::ReconnectNeeded(_))), "{r:?}");
    }
    let after = sb.counters().await;
    assert_eq!(
        n(&after, "api_requests") - n(&before, "api_requests"),
        1,
        "only the first 401: {after}"
    );
    assert_eq!(
        n(&after, "token_requests") - n(&before, "token_requests"),
        1
    );
    assert_eq!(tokens.asked() - asked, 2 + 8);
    assert_eq!(tokens.refreshes(), 1);
    let z_ok = sb.client(AIKO, |_| {}).await;
    assert_eq!(count_last_name(&z_ok, "Sent").await, 0);
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_not_posted_again() {
    let sb = Sb::start().await;
    let check = sb.client(AIKO, |_| {}).await;
    let z = sb
        .client(AIKO, |c| c.request_timeout = Duration::from_millis(800))
        .await;

    // The insert commits, the answer does not come in time: a typed timeout
    // ("a write may have been applied"), and no second POST.
    sb.call(
        reqwest::Method::PUT,
        "/faults",
        json!({"timeout_next_writes": 1, "hang_ms": 2500}),
    )
    .await;
    let before = sb.counters().await;
    let err = z.insert(&[contact("Lost", "Answer")]).await.unwrap_err();
    assert!(
        matches!(&err, ZohoError::Network(m) if m.contains("timed out")),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Network);
    let after = sb.counters().await;
    assert_eq!(
        endpoint(&after, "POST Contacts") - endpoint(&before, "POST Contacts"),
        1,
        "{after}"
    );
    assert_eq!(n(&after, "api_requests") - n(&before, "api_requests"), 1);
    assert_eq!(
        n(&after, "injected_faults") - n(&before, "injected_faults"),
        1
    );
    assert_eq!(count_last_name(&check, "Answer").await, 1, "committed once");

    // The gateway answers 504 after the commit: typed server error, no repeat.
    sb.call(
        reqwest::Method::PUT,
        "/faults",
        json!({"timeout_next_writes": 1, "hang_ms": 50}),
    )
    .await;
    let before = sb.counters().await;
    let err = check
        .insert(&[contact("Gateway", "Timeout")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, ZohoError::Server { status: 504, .. }),
        "{err:?}"
    );
    let after = sb.counters().await;
    assert_eq!(
        endpoint(&after, "POST Contacts") - endpoint(&before, "POST Contacts"),
        1
    );
    assert_eq!(count_last_name(&check, "Timeout").await, 1);
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_read_that_times_out_is_retried() {
    let sb = Sb::start().await;
    let check = sb.client(AIKO, |_| {}).await;
    let id = check.insert(&[contact("Slow", "Read")]).await.unwrap()[0]
        .result
        .as_ref()
        .unwrap()
        .clone();
    let z = sb
        .client(AIKO, |c| c.request_timeout = Duration::from_millis(1000))
        .await;

    // The first attempt hangs past the client's timeout; once it is on the
    // server the latency goes away, so the retry answers.
    sb.call(reqwest::Method::PUT, "/faults", json!({"latency_ms": 4000}))
        .await;
    let before = n(&sb.counters().await, "api_requests");
    let task = tokio::spawn(async move { z.get::<ZContact>(&id).await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while n(&sb.counters().await, "api_requests") == before {
        assert!(Instant::now() < deadline, "the first attempt never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sb.call(reqwest::Method::PUT, "/faults", json!({})).await;
    let got = task.await.unwrap().unwrap();
    assert_eq!(got.last_name.as_deref(), Some("Read"));
    let tries = n(&sb.counters().await, "api_requests") - before;
    assert!((2..=7).contains(&tries), "retried, boundedly: {tries}");
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn update_if_unmodified_is_a_typed_conflict_after_a_change() {
    let sb = Sb::start().await;
    let z = sb.client(AIKO, |_| {}).await;
    let id = z.insert(&[contact("Una", "Changed")]).await.unwrap()[0]
        .result
        .as_ref()
        .unwrap()
        .clone();
    let read: ZContact = z.get(&id).await.unwrap();

    // Unchanged since it was read: applied.
    let edit = |title: &str| ZContact {
        id: Some(id.clone()),
        title: Some(title.into()),
        ..Default::default()
    };
    let done = z
        .update_if_unmodified(&edit("Buyer"), read.modified_time.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(done, id);
    let read: ZContact = z.get(&id).await.unwrap();
    assert_eq!(read.title.as_deref(), Some("Buyer"));

    // A minute later someone edits it in the CRM.
    sb.call(
        reqwest::Method::POST,
        "/clock",
        json!({"advance_seconds": 60}),
    )
    .await;
    sb.call(
        reqwest::Method::PUT,
        "/records/Contacts",
        json!({"as": BEN, "data": [{"id": id, "Department": "Sales"}]}),
    )
    .await;

    // The write based on the old read is refused typed, sent once, applies nothing.
    let before = sb.counters().await;
    let err = z
        .update_if_unmodified(&edit("Manager"), read.modified_time.as_deref().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ZohoError::Conflict { status: 412, .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Conflict);
    let after = sb.counters().await;
    assert_eq!(
        endpoint(&after, "PUT Contacts") - endpoint(&before, "PUT Contacts"),
        1,
        "{after}"
    );
    let now: ZContact = z.get(&id).await.unwrap();
    assert_eq!(now.title.as_deref(), Some("Buyer"));
    assert_eq!(now.department.as_deref(), Some("Sales"));

    // Re-read, re-applied: goes through.
    z.update_if_unmodified(&edit("Manager"), now.modified_time.as_deref().unwrap())
        .await
        .unwrap();
    let last: ZContact = z.get(&id).await.unwrap();
    assert_eq!(last.title.as_deref(), Some("Manager"));
    assert_eq!(last.department.as_deref(), Some("Sales"));
    sb.running.shutdown().await.unwrap();
}
