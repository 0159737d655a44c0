//! Conformance suite: replays Microsoft's documented Graph examples (the
//! request and the shape of the documented response, quoted per test from
//! `api-reference/v1.0/...` as listed in graph-api.md §11) against the
//! emulator served on 127.0.0.1:0, and checks status codes, field names,
//! shapes and normalisation.

use std::time::Duration;

use crmsync_sandbox_graph::{router, GraphOptions, GraphState};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const AIKO: &str = "aiko.tanaka@sakura-demo.example";
const ALL: &str = "openid profile offline_access User.Read User.ReadBasic.All Calendars.ReadWrite Contacts.ReadWrite Tasks.ReadWrite Mail.Send";

struct Env {
    root: String,
    graph: String,
    state: GraphState,
    http: reqwest::Client,
    token: String,
}

struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Resp {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

async fn env() -> Env {
    env_with(GraphOptions::default()).await
}

async fn env_with(options: GraphOptions) -> Env {
    let state = GraphState::new(&options);
    state.seed_demo();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let scopes: Vec<String> = ALL.split(' ').map(str::to_string).collect();
    let token = state.mint_token(AIKO, &scopes).unwrap().access_token;
    Env {
        root: format!("http://{addr}"),
        graph: format!("http://{addr}/graph/v1.0"),
        state,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        token,
    }
}

impl Env {
    async fn req(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        self.req_as(&self.token.clone(), method, path, body, headers)
            .await
    }

    async fn req_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.graph, path)
        };
        let mut r = self.http.request(method, url);
        if !token.is_empty() {
            r = r.bearer_auth(token);
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.req(Method::GET, path, None, &[]).await
    }
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.req(Method::POST, path, Some(body), &[]).await
    }
    async fn patch(&self, path: &str, body: Value) -> Resp {
        self.req(Method::PATCH, path, Some(body), &[]).await
    }
    async fn delete(&self, path: &str) -> Resp {
        self.req(Method::DELETE, path, None, &[]).await
    }
    async fn control(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}/control/graph{}", self.root, path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "control {path}: {}", r.status());
        r.json().await.unwrap()
    }
}

fn is_7_digit(dt: &Value) -> bool {
    let s = dt.as_str().unwrap_or("");
    s.len() == 27 && s.as_bytes()[19] == b'.' && s[20..].chars().all(|c| c.is_ascii_digit())
}

// ------------------------------------------------------------------ auth

#[tokio::test]
async fn missing_expired_token_and_scope_are_rejected() {
    let e = env().await;
    let r = e.req_as("", Method::GET, "/me", None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "InvalidAuthenticationToken");
    assert!(r.body["error"]["innerError"]["request-id"].is_string());
    assert!(r.body["error"]["innerError"]["date"].is_string());

    e.state.advance_clock(chrono::Duration::seconds(3600));
    let r = e.get("/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "InvalidAuthenticationToken");

    let narrow = e
        .state
        .mint_token(AIKO, &["User.Read".to_string()])
        .unwrap()
        .access_token;
    assert_eq!(
        e.req_as(&narrow, Method::GET, "/me", None, &[])
            .await
            .status,
        StatusCode::OK
    );
    let r = e
        .req_as(&narrow, Method::GET, "/me/calendars", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "ErrorAccessDenied");
    let r = e.req_as(&narrow, Method::GET, "/users", None, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "Authorization_RequestDenied");
    // Another user's mailbox is not reachable with delegated tokens.
    let r = e
        .req_as(
            &narrow,
            Method::GET,
            "/users/ben.carter@sakura-demo.example/events",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// user-get.md: the default property set of `GET /me`.
#[tokio::test]
async fn user_get_default_properties() {
    let e = env().await;
    let r = e.get("/me").await;
    assert_eq!(r.status, StatusCode::OK);
    for k in [
        "businessPhones",
        "displayName",
        "givenName",
        "id",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    ] {
        assert!(r.body.get(k).is_some(), "missing {k}");
    }
    assert_eq!(r.body["userPrincipalName"], AIKO);
    assert!(r.body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#users/$entity"));
}

// ------------------------------------------------------------------ calendars

/// user-post-calendars.md: `POST /me/calendars {"name":"Volunteer"}` → 201.
#[tokio::test]
async fn user_post_calendars_and_delete_with_events() {
    let e = env().await;
    let r = e.post("/me/calendars", json!({"name": "Volunteer"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let b = &r.body;
    assert_eq!(b["name"], "Volunteer");
    assert_eq!(b["color"], "auto");
    assert_eq!(b["hexColor"], "");
    assert_eq!(b["isDefaultCalendar"], false);
    assert_eq!(b["canEdit"], true);
    assert_eq!(b["isRemovable"], true);
    assert!(
        b["changeKey"].is_string() && b["@odata.id"].is_string() && b["owner"]["address"] == AIKO
    );
    let cal = b["id"].as_str().unwrap().to_string();
    // Duplicate name → 409.
    assert_eq!(
        e.post("/me/calendars", json!({"name": "Volunteer"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let list = e.get("/me/calendars").await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 2);

    let ev = e.post(&format!("/me/calendars/{cal}/events"), json!({"subject": "x", "start": {"dateTime": "2030-01-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-01-01T11:00:00", "timeZone": "UTC"}})).await;
    assert_eq!(ev.status, StatusCode::CREATED);
    let ev_id = ev.body["id"].as_str().unwrap().to_string();

    assert_eq!(
        e.delete(&format!("/me/calendars/{cal}")).await.status,
        StatusCode::NO_CONTENT
    );
    let r = e.get(&format!("/me/calendars/{cal}")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ErrorItemNotFound")
    );
    let r = e.get(&format!("/me/events/{ev_id}")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ErrorItemNotFound")
    );
    let r = e
        .post(&format!("/me/calendars/{cal}/events"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The default calendar cannot be deleted.
    let default = e.get("/me/calendar").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        e.delete(&format!("/me/calendars/{default}")).await.status,
        StatusCode::BAD_REQUEST
    );
}

fn lunch(tx: &str) -> Value {
    // calendar-post-events.md request body.
    json!({
        "subject": "Let's go for lunch",
        "body": {"contentType": "HTML", "content": "Does mid month work for you?"},
        "start": {"dateTime": "2019-03-15T12:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2019-03-15T14:00:00", "timeZone": "Pacific Standard Time"},
        "location": {"displayName": "Harry's Bar"},
        "attendees": [{"emailAddress": {"address": "adelev@contoso.onmicrosoft.com", "name": "Adele Vance"}, "type": "required"}],
        "transactionId": tx
    })
}

/// calendar-post-events.md with transactionId: 201, the full event, the
/// server's normalisation; a retried POST returns the same event.
#[tokio::test]
async fn calendar_post_events_with_transaction_id() {
    let e = env().await;
    let cal = e.get("/me/calendar").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/me/calendars/{cal}/events");
    let r = e
        .req(
            Method::POST,
            &path,
            Some(lunch("7E163156-7762-4BEB-A1C6-729EA81755A7")),
            &[("Prefer", "outlook.timezone=\"Pacific Standard Time\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let b = &r.body;
    for k in [
        "@odata.etag",
        "id",
        "createdDateTime",
        "lastModifiedDateTime",
        "changeKey",
        "categories",
        "transactionId",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "iCalUId",
        "reminderMinutesBeforeStart",
        "isReminderOn",
        "hasAttachments",
        "subject",
        "bodyPreview",
        "importance",
        "sensitivity",
        "isAllDay",
        "isCancelled",
        "isOrganizer",
        "responseRequested",
        "seriesMasterId",
        "showAs",
        "type",
        "webLink",
        "onlineMeetingUrl",
        "isOnlineMeeting",
        "onlineMeetingProvider",
        "allowNewTimeProposals",
        "isDraft",
        "hideAttendees",
        "responseStatus",
        "body",
        "start",
        "end",
        "location",
        "locations",
        "recurrence",
        "attendees",
        "organizer",
        "onlineMeeting",
    ] {
        assert!(b.get(k).is_some(), "missing {k}");
    }
    assert_eq!(
        b["@odata.etag"],
        format!("W/\"{}\"", b["changeKey"].as_str().unwrap())
    );
    assert_eq!(
        b["start"],
        json!({"dateTime": "2019-03-15T12:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );
    assert_eq!(b["originalStartTimeZone"], "Pacific Standard Time");
    assert_eq!(b["type"], "singleInstance");
    assert_eq!(b["reminderMinutesBeforeStart"], 15);
    assert_eq!(b["body"]["contentType"], "html");
    assert_eq!(b["location"]["displayName"], "Harry's Bar");
    assert_eq!(b["location"]["locationType"], "default");
    assert_eq!(b["locations"].as_array().unwrap().len(), 1);
    assert_eq!(
        b["attendees"][0]["status"],
        json!({"response": "none", "time": "0001-01-01T00:00:00Z"})
    );
    assert_eq!(b["organizer"]["emailAddress"]["address"], AIKO);
    assert_eq!(b["transactionId"], "7E163156-7762-4BEB-A1C6-729EA81755A7");
    assert!(r
        .header_all("preference-applied")
        .iter()
        .any(|h| h.contains("outlook.timezone")));
    let id = b["id"].as_str().unwrap().to_string();

    // Retry after a timeout: same transactionId → the same event, no duplicate.
    let again = e
        .post(&path, lunch("7E163156-7762-4BEB-A1C6-729EA81755A7"))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["id"], id.as_str());
    // Without Prefer the times come back in UTC.
    assert_eq!(
        again.body["start"],
        json!({"dateTime": "2019-03-15T19:00:00.0000000", "timeZone": "UTC"})
    );
    let list = e.get(&format!("{path}?$top=50")).await;
    assert_eq!(
        list.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["subject"] == "Let's go for lunch")
            .count(),
        1
    );

    // Attendees were sent an invitation, visible through the control API.
    let inv = e
        .control(
            Method::GET,
            &format!("/mailboxes/{AIKO}/invitations"),
            json!({}),
        )
        .await;
    assert_eq!(inv["value"].as_array().unwrap().len(), 1);
    assert_eq!(inv["value"][0]["to"], "adelev@contoso.onmicrosoft.com");

    // Every write changes the change key; a stale If-Match → 412.
    let old_etag = b["@odata.etag"].as_str().unwrap().to_string();
    let p = e
        .patch(
            &format!("/me/events/{id}"),
            json!({"subject": "Lunch moved"}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert_ne!(p.body["changeKey"], b["changeKey"]);
    assert_eq!(p.body["subject"], "Lunch moved");
    assert_eq!(p.body["location"]["displayName"], "Harry's Bar");
    let stale = e
        .req(
            Method::PATCH,
            &format!("/me/events/{id}"),
            Some(json!({"subject": "y"})),
            &[("If-Match", &old_etag)],
        )
        .await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::PRECONDITION_FAILED, "ErrorIrresolvableConflict")
    );
    let fresh = p.body["@odata.etag"].as_str().unwrap().to_string();
    let ok = e
        .req(
            Method::PATCH,
            &format!("/me/events/{id}"),
            Some(json!({"subject": "y"})),
            &[("If-Match", &fresh)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    // Deleting sends a cancellation.
    assert_eq!(
        e.delete(&format!("/me/events/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let inv = e
        .control(
            Method::GET,
            &format!("/mailboxes/{AIKO}/invitations"),
            json!({}),
        )
        .await;
    assert_eq!(
        inv["value"].as_array().unwrap().last().unwrap()["kind"],
        "meetingCancelled"
    );
}

#[tokio::test]
async fn events_without_attendees_send_no_invitations_and_validation_errors() {
    let e = env().await;
    let r = e.post("/me/events", json!({"subject": "solo", "start": {"dateTime": "2030-01-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-01-01T11:00:00", "timeZone": "UTC"}})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let inv = e
        .control(
            Method::GET,
            &format!("/mailboxes/{AIKO}/invitations"),
            json!({}),
        )
        .await;
    assert!(inv["value"].as_array().unwrap().is_empty());
    // All-day events must be midnight to midnight (ErrorPropertyValidationFailure).
    let bad = e.post("/me/events", json!({"subject": "a", "isAllDay": true, "start": {"dateTime": "2030-01-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-01-02T10:00:00", "timeZone": "UTC"}})).await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "ErrorPropertyValidationFailure")
    );
    let ok = e.req(Method::POST, "/me/events", Some(json!({"subject": "a", "isAllDay": true, "start": {"dateTime": "2030-01-01T00:00:00", "timeZone": "Tokyo Standard Time"}, "end": {"dateTime": "2030-01-02T00:00:00", "timeZone": "Tokyo Standard Time"}})), &[("Prefer", "outlook.timezone=\"Pacific Standard Time\"")]).await;
    assert_eq!(ok.status, StatusCode::CREATED);
    // Returned midnight to midnight whatever the preferred zone.
    assert_eq!(ok.body["start"]["dateTime"], "2030-01-01T00:00:00.0000000");
    assert_eq!(ok.body["end"]["dateTime"], "2030-01-02T00:00:00.0000000");
    let tz = e.post("/me/events", json!({"subject": "a", "start": {"dateTime": "2030-01-01T10:00:00", "timeZone": "Mars Standard Time"}, "end": {"dateTime": "2030-01-01T11:00:00", "timeZone": "UTC"}})).await;
    assert_eq!(tz.status, StatusCode::BAD_REQUEST);
    let unknown = e.post("/me/events", json!({"subjekt": "a"})).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::BAD_REQUEST, "RequestBodyRead")
    );
    let enum_bad = e.post("/me/events", json!({"subject": "a", "showAs": "sleeping", "start": {"dateTime": "2030-01-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-01-01T11:00:00", "timeZone": "UTC"}})).await;
    assert_eq!(enum_bad.status, StatusCode::BAD_REQUEST);
    // Prefer: outlook.body-content-type="text"
    let id = r.body["id"].as_str().unwrap();
    let _ = e.patch(&format!("/me/events/{id}"), json!({"body": {"contentType": "html", "content": "<html><body><p>Hello <b>there</b></p></body></html>"}})).await;
    let t = e
        .req(
            Method::GET,
            &format!("/me/events/{id}"),
            None,
            &[("Prefer", "outlook.body-content-type=\"text\"")],
        )
        .await;
    assert_eq!(t.body["body"]["contentType"], "text");
    assert_eq!(t.body["body"]["content"], "Hello there");
    assert!(t
        .header_all("preference-applied")
        .iter()
        .any(|h| h.contains("outlook.body-content-type")));
}

/// user-post-events.md Example 3 (recurring): the created master has
/// `type: seriesMaster` and a fully filled-in recurrence.
#[tokio::test]
async fn user_post_events_recurring_and_expansion() {
    let e = env().await;
    let r = e
        .post(
            "/me/events",
            json!({
                "subject": "Let's go for lunch",
                "body": {"contentType": "HTML", "content": "Does noon time work for you?"},
                "start": {"dateTime": "2017-09-04T12:00:00", "timeZone": "Pacific Standard Time"},
                "end": {"dateTime": "2017-09-04T14:00:00", "timeZone": "Pacific Standard Time"},
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
                    "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31"}
                },
                "location": {"displayName": "Harry's Bar"},
                "allowNewTimeProposals": false
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["type"], "seriesMaster");
    assert_eq!(
        r.body["recurrence"]["pattern"],
        json!({"type":"weekly","interval":1,"month":0,"dayOfMonth":0,"daysOfWeek":["monday"],"firstDayOfWeek":"sunday","index":"first"})
    );
    assert_eq!(
        r.body["recurrence"]["range"],
        json!({"type":"endDate","startDate":"2017-09-04","endDate":"2017-12-31","recurrenceTimeZone":"Pacific Standard Time","numberOfOccurrences":0})
    );
    let master = r.body["id"].as_str().unwrap().to_string();

    // calendarView expands the series into occurrences (masters are not listed).
    let v = e
        .get("/me/calendarView?startDateTime=2017-09-01T00:00:00Z&endDateTime=2017-10-01T00:00:00Z")
        .await;
    assert_eq!(v.status, StatusCode::OK);
    let occ: Vec<&Value> = v.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["seriesMasterId"] == master.as_str())
        .collect();
    assert_eq!(occ.len(), 4, "Mondays of Sept 2017: 4, 11, 18, 25");
    assert!(occ
        .iter()
        .all(|o| o["type"] == "occurrence" && o["recurrence"].is_null()));
    assert_eq!(occ[0]["start"]["dateTime"], "2017-09-04T19:00:00.0000000");
    assert!(is_7_digit(&occ[0]["start"]["dateTime"]));
    // Occurrences have their own iCalUId.
    assert_ne!(occ[0]["iCalUId"], occ[1]["iCalUId"]);

    // Move one occurrence → exception; cancel another.
    let second = occ[1]["id"].as_str().unwrap().to_string();
    let third = occ[2]["id"].as_str().unwrap().to_string();
    let p = e.patch(&format!("/me/events/{second}"), json!({"subject": "Moved lunch", "start": {"dateTime": "2017-09-12T12:00:00", "timeZone": "Pacific Standard Time"}, "end": {"dateTime": "2017-09-12T13:00:00", "timeZone": "Pacific Standard Time"}})).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["type"], "exception");
    // Crossing onto the next occurrence's day is refused.
    let cross = e.patch(&format!("/me/events/{third}"), json!({"start": {"dateTime": "2017-09-25T12:00:00", "timeZone": "Pacific Standard Time"}, "end": {"dateTime": "2017-09-25T13:00:00", "timeZone": "Pacific Standard Time"}})).await;
    assert_eq!(
        (cross.status, cross.code()),
        (StatusCode::BAD_REQUEST, "ErrorOccurrenceCrossingBoundary")
    );
    assert_eq!(
        e.delete(&format!("/me/events/{third}")).await.status,
        StatusCode::NO_CONTENT
    );

    let inst = e.get(&format!("/me/events/{master}/instances?startDateTime=2017-09-01T00:00:00Z&endDateTime=2017-10-01T00:00:00Z")).await;
    let list = inst.body["value"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|o| o["type"] == "exception").count(), 1);
    assert!(list.iter().any(|o| o["subject"] == "Moved lunch"));
    // The series through GET /me/events/{seriesMasterId}.
    let m = e.get(&format!("/me/events/{master}")).await;
    assert_eq!(m.body["type"], "seriesMaster");
    // calendarView window over 1825 days.
    let wide = e
        .get("/me/calendarView?startDateTime=2017-01-01T00:00:00Z&endDateTime=2023-01-01T00:00:00Z")
        .await;
    assert_eq!(
        (wide.status, wide.code()),
        (StatusCode::BAD_REQUEST, "ErrorInvalidRequest")
    );
    let far = e
        .get("/me/calendarView?startDateTime=9999-12-01T00:00:00Z&endDateTime=9999-12-31T00:00:00Z")
        .await;
    assert_eq!(far.status, StatusCode::BAD_REQUEST);
    let far = e.post("/me/events", json!({"subject": "far", "start": {"dateTime": "9999-12-31T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "9999-12-31T11:00:00", "timeZone": "UTC"}})).await;
    assert_eq!(
        (far.status, far.code()),
        (StatusCode::BAD_REQUEST, "ErrorPropertyValidationFailure")
    );
    let occ = e.get(&format!("/me/events/{master}_OCC99991231")).await;
    assert_eq!(occ.status, StatusCode::NOT_FOUND);
    let missing = e.get("/me/calendarView").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

async fn drain(e: &Env, mut url: String, headers: &[(&str, &str)]) -> (Vec<Value>, String, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let r = e.req(Method::GET, &url, None, headers).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        pages += 1;
        all.extend(r.body["value"].as_array().unwrap().iter().cloned());
        if let Some(next) = r.body["@odata.nextLink"].as_str() {
            assert!(r.body.get("@odata.deltaLink").is_none());
            url = next.to_string();
        } else {
            return (
                all,
                r.body["@odata.deltaLink"]
                    .as_str()
                    .expect("deltaLink ends the round")
                    .to_string(),
                pages,
            );
        }
    }
}

/// event-delta.md: calendarView delta per calendar with paging,
/// create → delta → update → delta → delete → delta, then 410 on demand.
#[tokio::test]
async fn event_delta_round_trip_and_expiry() {
    let e = env().await;
    let cal = e
        .post("/me/calendars", json!({"name": "Zoho CRM"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..5 {
        let r = e.post(&format!("/me/calendars/{cal}/events"), json!({"subject": format!("E{i}"), "start": {"dateTime": format!("2030-01-0{}T10:00:00", i + 1), "timeZone": "UTC"}, "end": {"dateTime": format!("2030-01-0{}T11:00:00", i + 1), "timeZone": "UTC"}, "singleValueExtendedProperties": [{"id": "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name CrmId", "value": format!("{i}")}]})).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let first = format!("{}/me/calendars/{cal}/calendarView/delta?startDateTime=2029-12-01T00:00:00Z&endDateTime=2030-02-01T00:00:00Z", e.graph);
    let ordered = e
        .get(&format!(
            "/me/calendars/{cal}/events?$orderby=start/dateTime desc&$top=2"
        ))
        .await;
    assert_eq!(ordered.body["value"][0]["subject"], "E4");
    assert_eq!(ordered.body["value"][1]["subject"], "E3");
    assert!(ordered.body["@odata.nextLink"]
        .as_str()
        .unwrap()
        .contains("$skip=2"));
    let (items, delta, pages) =
        drain(&e, first.clone(), &[("Prefer", "odata.maxpagesize=2")]).await;
    assert_eq!(items.len(), 5);
    assert_eq!(pages, 3);
    assert!(items
        .iter()
        .all(|i| i["@odata.type"] == "#microsoft.graph.event" && i["@odata.etag"].is_string()));
    assert!(
        items
            .iter()
            .all(|i| i.get("singleValueExtendedProperties").is_none()),
        "delta never returns extended properties"
    );
    let r = e.req(Method::GET, &first, None, &[]).await;
    assert!(r
        .header_all("preference-applied")
        .iter()
        .any(|h| h == "odata.track-changes"));

    // Nothing changed → empty round.
    let (none, delta, _) = drain(&e, delta, &[]).await;
    assert!(none.is_empty());
    let id = items[0]["id"].as_str().unwrap().to_string();
    let p = e
        .patch(&format!("/me/events/{id}"), json!({"subject": "changed"}))
        .await;
    assert_eq!(p.status, StatusCode::OK);
    let (changed, delta, _) = drain(&e, delta, &[]).await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["subject"], "changed");
    // An event moved out of the window is reported as removed.
    let other = items[1]["id"].as_str().unwrap().to_string();
    let _ = e.patch(&format!("/me/events/{other}"), json!({"start": {"dateTime": "2031-01-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2031-01-01T11:00:00", "timeZone": "UTC"}})).await;
    assert_eq!(
        e.delete(&format!("/me/events/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let (removed, delta, _) = drain(&e, delta, &[]).await;
    assert_eq!(removed.len(), 2);
    assert!(removed.iter().all(|r| r["@removed"]["reason"] == "deleted"));
    assert!(removed.iter().any(|r| r["id"] == id.as_str()));

    // $expand on delta fails as observed on the real service.
    let exp = e
        .get(&format!(
            "{first}&$expand=singleValueExtendedProperties($filter=id eq 'x')"
        ))
        .await;
    assert_eq!(exp.status, StatusCode::INTERNAL_SERVER_ERROR);
    let wide = e.get(&format!("/me/calendars/{cal}/calendarView/delta?startDateTime=2020-01-01T00:00:00Z&endDateTime=2026-01-01T00:00:00Z")).await;
    assert_eq!(
        (wide.status, wide.code()),
        (StatusCode::BAD_REQUEST, "ErrorInvalidRequest")
    );

    // Delta tokens expired on demand → 410 SyncStateNotFound.
    e.control(Method::POST, "/delta/expire", json!({"user": AIKO}))
        .await;
    let gone = e.get(&delta).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::GONE, "SyncStateNotFound")
    );
    let fresh = gone.headers["location"].to_str().unwrap().to_string();
    assert!(
        fresh.contains("/calendarView/delta?startDateTime="),
        "{fresh}"
    );
    let restart = e.get(&fresh).await;
    assert_eq!(restart.status, StatusCode::OK);
    // A fresh round works again.
    let (again, _, _) = drain(&e, first, &[]).await;
    assert_eq!(again.len(), 3);
    // The primary calendar's delta: /me/calendarView/delta.
    let primary = e.get("/me/calendarView/delta?startDateTime=2029-12-01T00:00:00Z&endDateTime=2030-02-01T00:00:00Z").await;
    assert_eq!(primary.status, StatusCode::OK);
    // Deleted calendar → 404 ErrorItemNotFound.
    assert_eq!(
        e.delete(&format!("/me/calendars/{cal}")).await.status,
        StatusCode::NO_CONTENT
    );
    let r = e.get(&format!("/me/calendars/{cal}/calendarView/delta?startDateTime=2029-12-01T00:00:00Z&endDateTime=2030-02-01T00:00:00Z")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ErrorItemNotFound")
    );
}

// ------------------------------------------------------------------ extended properties

/// singlevaluelegacyextendedproperty-post/-get: write on create/patch, read
/// with $expand, find with $filter Any; works on events, calendars,
/// contacts and contact folders.
#[tokio::test]
async fn extended_properties_write_expand_filter() {
    let e = env().await;
    let pid = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name CrmId";
    let ext = json!([{"id": pid, "value": "Zoho-42"}]);
    let folder = e
        .post(
            "/me/contactFolders",
            json!({"displayName": "Zoho CRM Contacts", "singleValueExtendedProperties": ext}),
        )
        .await;
    assert_eq!(folder.status, StatusCode::CREATED);
    assert!(
        folder.body.get("singleValueExtendedProperties").is_none(),
        "the response does not echo the property"
    );
    let fid = folder.body["id"].as_str().unwrap().to_string();
    let c = e.post(&format!("/me/contactFolders/{fid}/contacts"), json!({"givenName": "Pavel", "surname": "Bansky", "singleValueExtendedProperties": ext})).await;
    let cid = c.body["id"].as_str().unwrap().to_string();
    let cal = e
        .post(
            "/me/calendars",
            json!({"name": "CRM", "singleValueExtendedProperties": ext}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ev = e.post(&format!("/me/calendars/{cal}/events"), json!({"subject": "s", "start": {"dateTime": "2030-01-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-01-01T11:00:00", "timeZone": "UTC"}})).await;
    let eid = ev.body["id"].as_str().unwrap().to_string();
    let pe = e
        .patch(
            &format!("/me/events/{eid}"),
            json!({"singleValueExtendedProperties": ext}),
        )
        .await;
    assert_eq!(pe.status, StatusCode::OK);

    let expand = format!("$expand=singleValueExtendedProperties($filter=id eq '{pid}')");
    for path in [
        format!("/me/contactFolders/{fid}"),
        format!("/me/contacts/{cid}"),
        format!("/me/calendars/{cal}"),
        format!("/me/events/{eid}"),
    ] {
        let plain = e.get(&path).await;
        assert!(plain.body.get("singleValueExtendedProperties").is_none());
        let r = e.get(&format!("{path}?{expand}")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(
            r.body["singleValueExtendedProperties"],
            json!([{"id": pid, "value": "Zoho-42"}]),
            "{path}"
        );
        assert!(r.body["singleValueExtendedProperties@odata.context"].is_string());
    }
    // Value comparison is case-insensitive; the Name is case-sensitive.
    let filter = format!(
        "$filter=singleValueExtendedProperties/Any(ep: ep/id eq '{pid}' and ep/value eq 'zoho-42')"
    );
    let found = e.get(&format!("/me/calendars/{cal}/events?{filter}")).await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    let found = e
        .get(&format!("/me/contactFolders/{fid}/contacts?{filter}"))
        .await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    let by_start = e
        .get(&format!("/me/calendars/{cal}/events?$filter=start/dateTime ge '2030-01-01T00:00:00' and isAllDay eq false"))
        .await;
    assert_eq!(by_start.body["value"].as_array().unwrap().len(), 1);
    let none = e
        .get(&format!(
            "/me/calendars/{cal}/events?$filter=start/dateTime gt '2031-01-01T00:00:00'"
        ))
        .await;
    assert!(none.body["value"].as_array().unwrap().is_empty());
    let found = e.get(&format!("/me/calendars?{filter}")).await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    let found = e.get(&format!("/me/contactFolders?{filter}")).await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    let wrong_case = filter.replace("Name CrmId", "Name crmid");
    let none = e
        .get(&format!("/me/calendars/{cal}/events?{wrong_case}"))
        .await;
    assert!(none.body["value"].as_array().unwrap().is_empty());
}

// ------------------------------------------------------------------ contacts

/// contactfolder-post-contacts.md + contact-get.md: the full v1.0 contact.
#[tokio::test]
async fn contactfolder_post_contacts_and_contact_get() {
    let e = env().await;
    // user-post-contactfolders.md: created under the default Contacts folder.
    let f = e
        .post(
            "/me/contactFolders",
            json!({"displayName": "Important contacts"}),
        )
        .await;
    assert_eq!(f.status, StatusCode::CREATED);
    let fid = f.body["id"].as_str().unwrap().to_string();
    assert!(f.body["parentFolderId"].is_string());
    let listed = e.get("/me/contactFolders").await;
    let names: Vec<&str> = listed.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["Important contacts"],
        "the default folder is not listed (known issue)"
    );
    // The default folder id through /me/contacts?$top=1&$select=parentFolderId.
    let d = e.get("/me/contacts?$top=1&$select=parentFolderId").await;
    assert_eq!(
        d.body["value"][0]["parentFolderId"],
        f.body["parentFolderId"]
    );
    assert_eq!(
        d.body["value"][0]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('@'))
            .count(),
        2
    );

    let r = e.post(&format!("/me/contactFolders/{fid}/contacts"), json!({
        "parentFolderId": "parentFolderId-value",
        "birthday": "2016-10-19T10:37:00Z",
        "fileAs": "fileAs-value",
        "givenName": "Pavel",
        "surname": "Bansky",
        "emailAddresses": [{"address": "pavelb@contoso.onmicrosoft.com", "name": "Pavel Bansky"}],
        "businessPhones": ["+1 732 555 0102"]
    })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let g = e.get(&format!("/me/contacts/{id}")).await;
    let b = &g.body;
    for k in [
        "id",
        "createdDateTime",
        "lastModifiedDateTime",
        "changeKey",
        "categories",
        "parentFolderId",
        "birthday",
        "fileAs",
        "displayName",
        "givenName",
        "initials",
        "middleName",
        "nickName",
        "surname",
        "title",
        "yomiGivenName",
        "yomiSurname",
        "yomiCompanyName",
        "generation",
        "imAddresses",
        "jobTitle",
        "companyName",
        "department",
        "officeLocation",
        "profession",
        "businessHomePage",
        "assistantName",
        "manager",
        "homePhones",
        "mobilePhone",
        "businessPhones",
        "spouseName",
        "personalNotes",
        "children",
        "emailAddresses",
        "homeAddress",
        "businessAddress",
        "otherAddress",
    ] {
        assert!(b.get(k).is_some(), "missing {k}");
    }
    assert_eq!(b["parentFolderId"], fid.as_str());
    assert_eq!(
        b["displayName"], "Pavel Bansky",
        "generated from the name parts"
    );
    assert_eq!(b["birthday"], "2016-10-19T10:37:00Z");
    assert_eq!(b["homeAddress"], json!({}));
    assert_eq!(
        b["@odata.etag"],
        format!("W/\"{}\"", b["changeKey"].as_str().unwrap())
    );
    // displayName is regenerated when name parts change and it is not resent.
    let p = e
        .patch(&format!("/me/contacts/{id}"), json!({"givenName": "Paul"}))
        .await;
    assert_eq!(p.body["displayName"], "Paul Bansky");
    let p = e
        .patch(
            &format!("/me/contactFolders/{fid}/contacts/{id}"),
            json!({"givenName": "Pavel", "displayName": "Mr. Bansky"}),
        )
        .await;
    assert_eq!(p.body["displayName"], "Mr. Bansky");
    // The 3-email and 2-business-phone limits.
    let four = json!({"emailAddresses": [{"address": "a@x.example"}, {"address": "b@x.example"}, {"address": "c@x.example"}, {"address": "d@x.example"}]});
    let r = e.patch(&format!("/me/contacts/{id}"), four).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("EmailAddresses has 4 entries, that exceeds the max allowed value of 3"));
    let r = e
        .patch(
            &format!("/me/contacts/{id}"),
            json!({"businessPhones": ["1", "2", "3"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("BusinessPhones has 3 entries, that exceeds the max allowed value of 2"));
    let r = e
        .patch(&format!("/me/contacts/{id}"), json!({"phones": []}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "RequestBodyRead")
    );

    // contactfolder-delete.md: deleting the folder deletes its contacts.
    assert_eq!(
        e.delete(&format!("/me/contactFolders/{fid}")).await.status,
        StatusCode::NO_CONTENT
    );
    let r = e.get(&format!("/me/contacts/{id}")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ErrorItemNotFound")
    );
    let r = e.get(&format!("/me/contactFolders/{fid}/contacts")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ErrorItemNotFound")
    );
}

/// contact-delta.md: `$select=displayName`, `Prefer: odata.maxpagesize=2`,
/// `id` always returned; then changes and `@removed`.
#[tokio::test]
async fn contact_delta_with_select_and_paging() {
    let e = env().await;
    let fid = e
        .post(
            "/me/contactFolders",
            json!({"displayName": "Zoho CRM Contacts"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ids = Vec::new();
    for n in ["Ann", "Bob", "Cid"] {
        let r = e.post(&format!("/me/contactFolders/{fid}/contacts"), json!({"givenName": n, "singleValueExtendedProperties": [{"id": "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name CrmId", "value": n}]})).await;
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let first = format!(
        "{}/me/contactFolders/{fid}/contacts/delta?$select=displayName",
        e.graph
    );
    let r = e
        .req(
            Method::GET,
            &first,
            None,
            &[("Prefer", "odata.maxpagesize=2")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["@odata.nextLink"]
        .as_str()
        .unwrap()
        .contains("$skiptoken="));
    let v = r.body["value"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    for c in v {
        let keys: Vec<&String> = c
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('@'))
            .collect();
        assert_eq!(keys.len(), 2, "only id + displayName: {c}");
    }
    let (_, delta, _) = drain(
        &e,
        r.body["@odata.nextLink"].as_str().unwrap().to_string(),
        &[],
    )
    .await;
    let _ = e
        .patch(
            &format!("/me/contacts/{}", ids[0]),
            json!({"givenName": "Anna"}),
        )
        .await;
    assert_eq!(
        e.delete(&format!("/me/contacts/{}", ids[1])).await.status,
        StatusCode::NO_CONTENT
    );
    let (changes, _, _) = drain(&e, delta, &[]).await;
    assert_eq!(changes.len(), 2);
    assert!(changes
        .iter()
        .any(|c| c["displayName"] == "Anna" && c.get("givenName").is_none()));
    assert!(changes
        .iter()
        .any(|c| c["id"] == ids[1].as_str() && c["@removed"]["reason"] == "deleted"));
    assert!(changes
        .iter()
        .all(|c| c.get("singleValueExtendedProperties").is_none()));
    // Personal contacts in the default folder are not in this folder's delta.
    let (all, _, _) = drain(&e, first, &[]).await;
    assert_eq!(all.len(), 2);
}

// ------------------------------------------------------------------ To Do

/// todo-post-lists.md, todotasklist-post-tasks.md (linkedResources inline),
/// todotask-delta.md.
#[tokio::test]
async fn list_tasks_expands_linked_resources() {
    let e = env().await;
    let l = e
        .post("/me/todo/lists", json!({"displayName": "Expand"}))
        .await;
    let lid = l.body["id"].as_str().unwrap().to_string();
    let t = e
        .post(
            &format!("/me/todo/lists/{lid}/tasks"),
            json!({"title": "Linked", "linkedResources": [{"webUrl": "https://crm.example/1", "applicationName": "Zoho CRM", "displayName": "Linked", "externalId": "crm-1"}]}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    let plain = e.get(&format!("/me/todo/lists/{lid}/tasks")).await;
    assert!(plain.body["value"][0].get("linkedResources").is_none());
    let expanded = e
        .get(&format!(
            "/me/todo/lists/{lid}/tasks?$expand=linkedResources"
        ))
        .await;
    assert_eq!(expanded.status, StatusCode::OK);
    assert_eq!(
        expanded.body["value"][0]["linkedResources"][0]["externalId"],
        "crm-1"
    );
}

#[tokio::test]
async fn todo_lists_tasks_and_delta() {
    let e = env().await;
    let l = e
        .post("/me/todo/lists", json!({"displayName": "Travel items"}))
        .await;
    assert_eq!(l.status, StatusCode::CREATED);
    assert_eq!(l.body["@odata.type"], "#microsoft.graph.todoTaskList");
    assert_eq!(l.body["isOwner"], true);
    assert_eq!(l.body["isShared"], false);
    assert_eq!(l.body["wellknownListName"], "none");
    let lid = l.body["id"].as_str().unwrap().to_string();
    let lists = e.get("/me/todo/lists").await;
    let found = e
        .get("/me/todo/lists?$filter=displayName eq 'Travel items'")
        .await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["value"][0]["id"], lid.as_str());
    assert!(lists.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["wellknownListName"] == "defaultList" && x["displayName"] == "Tasks"));

    let t = e.post(&format!("/me/todo/lists/{lid}/tasks"), json!({
        "title": "A new task",
        "categories": ["Important"],
        "linkedResources": [{"webUrl": "http://microsoft.com", "applicationName": "Microsoft", "displayName": "Microsoft", "externalId": "crm-123"}],
        "dueDateTime": {"dateTime": "2020-07-25T16:30:00", "timeZone": "Pacific Standard Time"}
    })).await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    let b = &t.body;
    assert_eq!(b["importance"], "normal");
    assert_eq!(b["isReminderOn"], false);
    assert_eq!(b["status"], "notStarted");
    assert_eq!(b["body"], json!({"content": "", "contentType": "text"}));
    assert_eq!(b["categories"], json!(["Important"]));
    assert_eq!(b["linkedResources"][0]["externalId"], "crm-123");
    assert!(b["linkedResources"][0]["id"].is_string());
    // dueDateTime keeps only the date.
    assert_eq!(
        b["dueDateTime"],
        json!({"dateTime": "2020-07-25T00:00:00.0000000", "timeZone": "UTC"})
    );
    assert!(b["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    let tid = b["id"].as_str().unwrap().to_string();
    let bad = e
        .patch(
            &format!("/me/todo/lists/{lid}/tasks/{tid}"),
            json!({"status": "done"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let ext = e
        .post(
            &format!("/me/todo/lists/{lid}/tasks"),
            json!({"title": "x", "singleValueExtendedProperties": []}),
        )
        .await;
    assert_eq!(
        ext.status,
        StatusCode::BAD_REQUEST,
        "To Do has no extended properties"
    );
    let lr = e
        .get(&format!("/me/todo/lists/{lid}/tasks/{tid}/linkedResources"))
        .await;
    assert_eq!(lr.body["value"].as_array().unwrap().len(), 1);

    let first = format!("{}/me/todo/lists/{lid}/tasks/delta", e.graph);
    let (items, delta, _) = drain(&e, first, &[]).await;
    assert_eq!(items.len(), 1, "the refused create left nothing behind");
    assert!(items
        .iter()
        .all(|i| i["@odata.type"] == "#microsoft.graph.todoTask"));
    let p = e
        .patch(
            &format!("/me/todo/lists/{lid}/tasks/{tid}"),
            json!({"status": "completed"}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body["completedDateTime"].is_object());
    let (changes, delta, _) = drain(&e, delta, &[]).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["status"], "completed");
    assert_eq!(
        e.delete(&format!("/me/todo/lists/{lid}/tasks/{tid}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let (changes, _, _) = drain(&e, delta, &[]).await;
    assert_eq!(changes[0]["@removed"]["reason"], "deleted");
    // todotasklist-delete.md; the deleted list → 404 ErrorItemNotFound.
    assert_eq!(
        e.delete(&format!("/me/todo/lists/{lid}")).await.status,
        StatusCode::NO_CONTENT
    );
    let r = e.get(&format!("/me/todo/lists/{lid}/tasks")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ErrorItemNotFound")
    );
    // The built-in list cannot be deleted.
    let default = lists.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["wellknownListName"] == "defaultList")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        e.delete(&format!("/me/todo/lists/{default}")).await.status,
        StatusCode::BAD_REQUEST
    );
}

// ------------------------------------------------------------------ batch

/// json-batching.md: ids, dependsOn, per-request status/headers/body,
/// 424 on a failed dependency, ≤ 20 requests, unique ids.
#[tokio::test]
async fn json_batching() {
    let e = env().await;
    let r = e.post("/$batch", json!({"requests": [
        {"id": "1", "method": "POST", "url": "/me/todo/lists", "headers": {"Content-Type": "application/json"}, "body": {"displayName": "Batch list"}},
        {"id": "2", "method": "GET", "url": "/me/todo/lists", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/me/events/AAMkNOPE="},
        {"id": "4", "method": "GET", "url": "me", "dependsOn": ["3"]}
    ]})).await;
    assert_eq!(r.status, StatusCode::OK);
    let resp = r.body["responses"].as_array().unwrap();
    let by = |id: &str| resp.iter().find(|x| x["id"] == id).unwrap().clone();
    assert_eq!(by("1")["status"], 201);
    assert_eq!(by("1")["body"]["displayName"], "Batch list");
    assert!(by("1")["headers"].is_object());
    assert_eq!(by("2")["status"], 200);
    assert_eq!(by("3")["status"], 404);
    assert_eq!(by("3")["body"]["error"]["code"], "ErrorItemNotFound");
    assert_eq!(by("4")["status"], 424);

    let dup = e.post("/$batch", json!({"requests": [{"id": "1", "method": "GET", "url": "/me"}, {"id": "1", "method": "GET", "url": "/me"}]})).await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"}))
        .collect();
    let too_many = e.post("/$batch", json!({"requests": many})).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    let no_headers = e.post("/$batch", json!({"requests": [{"id": "1", "method": "POST", "url": "/me/todo/lists", "body": {"displayName": "x"}}]})).await;
    assert_eq!(no_headers.status, StatusCode::BAD_REQUEST);

    // Each request of a batch counts; the throttled ones get inner 429 + Retry-After, outer 200.
    e.control(Method::POST, "/counters/reset", json!({})).await;
    let mut limits = e.state.limits();
    limits.window_requests = 3;
    e.state.set_limits(limits);
    let five: Vec<Value> = (0..5)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"}))
        .collect();
    let r = e.post("/$batch", json!({"requests": five})).await;
    assert_eq!(r.status, StatusCode::OK);
    let statuses: Vec<u64> = r.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2);
    let throttled = r.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["status"] == 429)
        .unwrap();
    assert!(throttled["headers"]["Retry-After"].is_string());
    assert_eq!(throttled["body"]["error"]["code"], "ApplicationThrottled");
}

// ------------------------------------------------------------------ throttling and faults

#[tokio::test]
async fn request_window_limit_is_enforced_with_retry_after() {
    let e = env_with(GraphOptions {
        window_requests: 5,
        window_secs: 600,
        ..GraphOptions::default()
    })
    .await;
    for _ in 0..5 {
        assert_eq!(e.get("/me").await.status, StatusCode::OK);
    }
    let r = e.get("/me").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "ApplicationThrottled")
    );
    let retry: i64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 600);
    // Another mailbox has its own budget.
    let ben = e
        .state
        .mint_token("ben.carter@sakura-demo.example", &["User.Read".into()])
        .unwrap()
        .access_token;
    assert_eq!(
        e.req_as(&ben, Method::GET, "/me", None, &[]).await.status,
        StatusCode::OK
    );
    let c = e
        .control(
            Method::GET,
            &format!("/mailboxes/{AIKO}/counters"),
            json!({}),
        )
        .await;
    assert_eq!(c["total"], 5);
    assert_eq!(c["throttled"], 1);
    // After the window the mailbox is served again.
    e.state.advance_clock(chrono::Duration::seconds(601));
    let fresh = e
        .state
        .mint_token(AIKO, &["User.Read".into()])
        .unwrap()
        .access_token;
    assert_eq!(
        e.req_as(&fresh, Method::GET, "/me", None, &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn waiting_exactly_retry_after_is_enough() {
    let e = env_with(GraphOptions {
        window_requests: 2,
        window_secs: 600,
        ..GraphOptions::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(e.get("/me").await.status, StatusCode::OK);
    }
    // Leave a fractional part of the window (about 1.5 s) to wait for.
    e.state
        .advance_clock(chrono::Duration::milliseconds(598_500));
    let r = e.get("/me").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    e.state.advance_clock(chrono::Duration::seconds(retry));
    assert_eq!(
        e.get("/me").await.status,
        StatusCode::OK,
        "a client that waited Retry-After ({retry} s) was throttled again"
    );
}

#[tokio::test]
async fn mailbox_concurrency_limit_is_enforced() {
    let e = env().await;
    e.control(Method::PUT, "/faults", json!({"latency_ms": 1500}))
        .await;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (http, url, tok) = (e.http.clone(), format!("{}/me", e.graph), e.token.clone());
        handles.push(tokio::spawn(async move {
            http.get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    let mut throttled = 0;
    for h in handles {
        match h.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!((1..=4).contains(&ok), "ok={ok}");
    assert_eq!(ok + throttled, 8);
    assert!(throttled >= 4);
}

#[tokio::test]
async fn faults_error_rate_and_timeout_after_commit() {
    let e = env().await;
    e.control(
        Method::PUT,
        "/faults",
        json!({"timeout_after_commit": 1, "timeout_hang_ms": 10}),
    )
    .await;
    let r = e
        .post("/me/todo/lists", json!({"displayName": "Committed"}))
        .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    let lists = e.get("/me/todo/lists").await;
    assert!(
        lists.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["displayName"] == "Committed"),
        "the write was applied"
    );
    e.control(Method::PUT, "/faults", json!({"error_rate": 1.0}))
        .await;
    let r = e.get("/me").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers.get("retry-after").is_some());
    let b = e
        .post(
            "/$batch",
            json!({"requests": [{"id": "1", "method": "GET", "url": "/me"}]}),
        )
        .await;
    assert_eq!(b.status, StatusCode::OK, "the batch itself succeeds");
    assert_eq!(b.body["responses"][0]["status"], 503);
    assert_eq!(b.body["responses"][0]["headers"]["Retry-After"], "1");
    e.control(
        Method::PUT,
        "/faults",
        json!({"error_rate": 1.0, "error_status": 500, "error_code": "ErrorTooManyObjectsOpened"}),
    )
    .await;
    let r = e.get("/me").await;
    assert_eq!(
        (r.status, r.code()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "ErrorTooManyObjectsOpened"
        )
    );
    e.control(Method::PUT, "/faults", json!({})).await;
    assert_eq!(e.get("/me").await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1)).await;
}

// ------------------------------------------------------------------ users and mail

/// user-list.md: paging, $select, $top, $filter=startswith, $search with ConsistencyLevel.
#[tokio::test]
async fn user_list_paging_filter_search() {
    let e = env().await;
    let r = e.get("/users?$top=3&$select=displayName,mail").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 3);
    let keys: Vec<&String> = r.body["value"][0].as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| ["displayName", "mail", "id"].contains(&k.as_str())),
        "{keys:?}"
    );
    let (mut all, mut next) = (
        r.body["value"].as_array().unwrap().clone(),
        r.body["@odata.nextLink"].as_str().map(str::to_string),
    );
    while let Some(url) = next {
        let p = e.get(&url).await;
        all.extend(p.body["value"].as_array().unwrap().iter().cloned());
        next = p.body["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(all.len(), 7);
    assert!(all.iter().all(|u| u.get("accountEnabled").is_none()));
    let enabled = e
        .get("/users?$filter=accountEnabled eq true&$select=displayName,accountEnabled&$top=999")
        .await;
    assert_eq!(enabled.body["value"].as_array().unwrap().len(), 7);
    assert!(
        enabled.body["value"][0].get("accountEnabled").is_none(),
        "User.ReadBasic.All exposes only the basic properties"
    );
    let full = e
        .state
        .mint_token(AIKO, &["User.Read.All".to_string()])
        .unwrap()
        .access_token;
    let r = e
        .req_as(
            &full,
            Method::GET,
            "/users?$select=displayName,accountEnabled&$top=1",
            None,
            &[],
        )
        .await;
    assert_eq!(r.body["value"][0]["accountEnabled"], true);
    let f = e
        .get("/users?$filter=startswith(displayName,'Emily')")
        .await;
    assert_eq!(f.body["value"].as_array().unwrap().len(), 1);
    let s = e.get("/users?$search=\"displayName:luc\"").await;
    assert_eq!(
        (s.status, s.code()),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    let s = e
        .req(
            Method::GET,
            "/users?$search=\"displayName:luc\"&$count=true",
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(s.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(s.body["@odata.count"], 1);
    let j = e
        .req(
            Method::GET,
            "/users?$search=\"displayName:鈴木\"",
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(j.body["value"][0]["mail"], "yui.suzuki@sakura-demo.example");
}

/// user-sendmail.md: 202, and the message lands in the recipient's mailbox.
#[tokio::test]
async fn user_sendmail() {
    let e = env().await;
    let r = e.post("/me/sendMail", json!({"message": {"subject": "Meet for lunch?", "body": {"contentType": "Text", "content": "The new cafeteria is open."}, "toRecipients": [{"emailAddress": {"address": "emily.clark@sakura-demo.example"}}]}, "saveToSentItems": false})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.body.is_null());
    let inbox = e
        .control(
            Method::GET,
            "/mailboxes/emily.clark@sakura-demo.example/inbox",
            json!({}),
        )
        .await;
    assert_eq!(inbox["value"][0]["subject"], "Meet for lunch?");
    let bad = e
        .post(
            "/me/sendMail",
            json!({"message": {"subject": "x", "toRecipients": []}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn snapshot_round_trip_keeps_everything() {
    let e = env().await;
    let f = e
        .post("/me/contactFolders", json!({"displayName": "Snap"}))
        .await;
    let json = e.state.snapshot_json().unwrap();
    let other = GraphState::new(&GraphOptions::default());
    other.load_snapshot_json(&json).unwrap();
    assert_eq!(other.snapshot_json().unwrap(), json);
    assert!(json.contains(f.body["id"].as_str().unwrap()));
    assert!(other.load_snapshot_json("{not json").is_err());
}

// ------------------------------------------------------------------ identity platform

fn pkce() -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = "M25iVXpKU3puUjFaYWg3T1NDTDQtcW1ROUY5YXlwalNoc0hhakxifmZHag".to_string();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_params(challenge: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("client_id", "11111111-2222-3333-4444-555555555555"),
        ("response_type", "code"),
        ("redirect_uri", "http://127.0.0.1:53682/callback"),
        ("response_mode", "query"),
        (
            "scope",
            "openid offline_access User.Read Calendars.ReadWrite",
        ),
        ("state", "12345"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        p.push((k.to_string(), v.to_string()));
    }
    p
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn token_call(e: &Env, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = e
        .http
        .post(format!("{}/login/common/oauth2/v2.0/token", e.root))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// v2-oauth2-auth-code-flow.md: sign-in page, consent, code + PKCE, token,
/// refresh rotation, prompt=none, errors with AADSTS codes.
#[tokio::test]
async fn identity_platform_authorization_code_flow() {
    let e = env().await;
    let (verifier, challenge) = pkce();
    let authorize = format!(
        "{}/login/{}/oauth2/v2.0/authorize",
        e.root,
        crmsync_sandbox_graph::DEMO_TENANT_ID
    );
    let params = authorize_params(
        &challenge,
        &[("login_hint", "haruto.sato@sakura-demo.example")],
    );
    let page = e.http.get(&authorize).query(&params).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("value=\"haruto.sato@sakura-demo.example\""),
        "login_hint pre-fills the account"
    );
    assert!(html.contains("emily.clark@sakura-demo.example") && html.contains("鈴木 結衣"));

    // PKCE is required; a non-loopback redirect URI is refused on the page.
    let r = e
        .http
        .get(&authorize)
        .query(&authorize_params("", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "12345");
    let r = e
        .http
        .get(&authorize)
        .query(&authorize_params(
            &challenge,
            &[("redirect_uri", "https://evil.example/cb")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
    let r = e
        .http
        .get(&authorize)
        .query(&authorize_params(
            &challenge,
            &[("scope", "Calendars.Everything")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(r.headers()["location"].to_str().unwrap())["error"],
        "invalid_scope"
    );
    // prompt=none without a browser session.
    let r = e
        .http
        .get(&authorize)
        .query(&authorize_params(&challenge, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(r.headers()["location"].to_str().unwrap())["error"],
        "interaction_required"
    );

    // Wrong password → the page again with AADSTS50126.
    let mut form = params.clone();
    form.extend([
        ("step".into(), "login".into()),
        ("username".into(), "haruto.sato@sakura-demo.example".into()),
        ("password".into(), "nope".into()),
    ]);
    let r = e.http.post(&authorize).form(&form).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("AADSTS50126"));
    form.retain(|(k, _)| k != "password");
    form.push(("password".into(), "sandbox".into()));
    let r = e.http.post(&authorize).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let consent = r.text().await.unwrap();
    assert!(
        consent.contains("Permissions requested")
            && consent.contains("Calendars.ReadWrite")
            && consent.contains("offline_access")
    );
    let mut cform = params.clone();
    cform.extend([
        ("step".into(), "consent".into()),
        ("consent".into(), "accept".into()),
    ]);
    let r = e
        .http
        .post(&authorize)
        .header("cookie", &cookie)
        .form(&cform)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("http://127.0.0.1:53682/callback?code="));
    let q = query_of(&loc);
    assert_eq!(q["state"], "12345");
    let code = q["code"].clone();

    let base = [
        ("client_id", "11111111-2222-3333-4444-555555555555"),
        ("grant_type", "authorization_code"),
        ("redirect_uri", "http://127.0.0.1:53682/callback"),
        ("scope", "User.Read Calendars.ReadWrite offline_access"),
    ];
    let mut bad = base.to_vec();
    bad.extend([
        ("code", code.as_str()),
        (
            "code_verifier",
            "wrong-verifier-wrong-verifier-wrong-verifier",
        ),
    ]);
    let (s, b) = token_call(&e, &bad).await;
    assert_eq!(
        (s, b["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(b["error_codes"], json!([501481]));
    assert!(b["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS501481"));
    assert!(
        b["trace_id"].is_string() && b["correlation_id"].is_string() && b["timestamp"].is_string()
    );
    let mut secret = base.to_vec();
    secret.extend([
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("client_secret", "s3cr3t"),
    ]);
    let (s, b) = token_call(&e, &secret).await;
    assert_eq!(
        (s, b["error_codes"].clone()),
        (StatusCode::UNAUTHORIZED, json!([700025])),
        "public clients send no secret"
    );
    let mut good = base.to_vec();
    good.extend([
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
    ]);
    let (s, tok) = token_call(&e, &good).await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 3599);
    assert!(tok["scope"]
        .as_str()
        .unwrap()
        .contains("Calendars.ReadWrite"));
    assert!(tok["refresh_token"].is_string() && tok["id_token"].is_string());
    let me = e
        .req_as(
            tok["access_token"].as_str().unwrap(),
            Method::GET,
            "/me",
            None,
            &[],
        )
        .await;
    assert_eq!(
        me.body["userPrincipalName"],
        "haruto.sato@sakura-demo.example"
    );
    // A code is redeemed once.
    let (_, again) = token_call(&e, &good).await;
    assert_eq!(again["error_codes"], json!([54005]));

    // Refresh: a new refresh token each time; the old one stays valid.
    let rt1 = tok["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: String| {
        vec![
            (
                "client_id".to_string(),
                "11111111-2222-3333-4444-555555555555".to_string(),
            ),
            ("grant_type".into(), "refresh_token".into()),
            ("refresh_token".into(), rt),
        ]
    };
    let r = e
        .http
        .post(format!("{}/login/common/oauth2/v2.0/token", e.root))
        .form(&refresh(rt1.clone()))
        .send()
        .await
        .unwrap();
    let t2: Value = r.json().await.unwrap();
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    let r = e
        .http
        .post(format!("{}/login/common/oauth2/v2.0/token", e.root))
        .form(&refresh(rt1.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // prompt=none with the session cookie: silent success for the same account,
    // interaction_required for another login_hint.
    let silent = authorize_params(
        &challenge,
        &[
            ("prompt", "none"),
            ("login_hint", "haruto.sato@sakura-demo.example"),
        ],
    );
    let r = e
        .http
        .get(&authorize)
        .header("cookie", &cookie)
        .query(&silent)
        .send()
        .await
        .unwrap();
    assert!(query_of(r.headers()["location"].to_str().unwrap()).contains_key("code"));
    let other = authorize_params(
        &challenge,
        &[
            ("prompt", "none"),
            ("login_hint", "aiko.tanaka@sakura-demo.example"),
        ],
    );
    let r = e
        .http
        .get(&authorize)
        .header("cookie", &cookie)
        .query(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(r.headers()["location"].to_str().unwrap())["error"],
        "interaction_required"
    );
    // response_mode=form_post, and a redirect URI without a path gets "/".
    let fp = authorize_params(
        &challenge,
        &[
            ("prompt", "none"),
            ("response_mode", "form_post"),
            ("redirect_uri", "http://localhost:4000"),
        ],
    );
    let r = e
        .http
        .get(&authorize)
        .header("cookie", &cookie)
        .query(&fp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("action=\"http://localhost:4000/\"") && html.contains("name=\"code\""));

    // Revoked refresh token → invalid_grant AADSTS70008; expired → AADSTS700082.
    e.control(
        Method::POST,
        "/refresh-tokens/revoke",
        json!({"user": "haruto.sato@sakura-demo.example"}),
    )
    .await;
    let r = e
        .http
        .post(format!("{}/login/common/oauth2/v2.0/token", e.root))
        .form(&refresh(rt2.clone()))
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        (b["error"].as_str().unwrap(), b["error_codes"].clone()),
        ("invalid_grant", json!([70008]))
    );
    let fresh = e
        .state
        .mint_token(
            "ben.carter@sakura-demo.example",
            &["offline_access".into(), "User.Read".into()],
        )
        .unwrap();
    e.state.advance_clock(chrono::Duration::days(91));
    let r = e
        .http
        .post(format!("{}/login/common/oauth2/v2.0/token", e.root))
        .form(&[
            ("client_id", "sandbox-control"),
            ("grant_type", "refresh_token"),
            ("refresh_token", fresh.refresh_token.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error_codes"], json!([700082]));
}

#[tokio::test]
async fn malformed_ids_iana_zones_immutable_ids_and_folder_list_deltas() {
    let e = env().await;
    let r = e.get("/me/events/not%20an%20id!").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "ErrorInvalidIdMalformed")
    );
    let r = e.get("/me/contacts/AAMkAGIAAAoZunknown000=").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ErrorItemNotFound")
    );

    // IANA names are accepted on input and in Prefer.
    let ev = e.req(Method::POST, "/me/events", Some(json!({"subject": "tz", "start": {"dateTime": "2030-06-01T09:00:00", "timeZone": "Asia/Tokyo"}, "end": {"dateTime": "2030-06-01T10:00:00", "timeZone": "Asia/Tokyo"}})), &[("Prefer", "outlook.timezone=\"America/New_York\""), ("Prefer", "IdType=\"ImmutableId\"")]).await;
    assert_eq!(ev.status, StatusCode::CREATED);
    assert_eq!(
        ev.body["start"],
        json!({"dateTime": "2030-05-31T20:00:00.0000000", "timeZone": "America/New_York"})
    );
    let applied = ev.header_all("preference-applied");
    assert!(
        applied.iter().any(|h| h.contains("ImmutableId")),
        "{applied:?}"
    );
    let c = e
        .req(
            Method::GET,
            "/me/contacts",
            None,
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await;
    assert!(c
        .header_all("preference-applied")
        .iter()
        .any(|h| h.contains("ImmutableId")));

    // contactfolder-delta.md and todotasklist-delta.md.
    let (folders, fdelta, _) = drain(&e, format!("{}/me/contactFolders/delta", e.graph), &[]).await;
    assert!(folders.is_empty(), "the default folder is not reported");
    let f = e
        .post(
            "/me/contactFolders",
            json!({"displayName": "Zoho CRM Contacts"}),
        )
        .await;
    let (folders, _, _) = drain(&e, fdelta, &[]).await;
    assert_eq!(folders.len(), 1);
    assert_eq!(folders[0]["id"], f.body["id"]);
    assert_eq!(folders[0]["@odata.type"], "#microsoft.graph.contactFolder");
    let (lists, ldelta, _) = drain(&e, format!("{}/me/todo/lists/delta", e.graph), &[]).await;
    assert_eq!(lists.len(), 1, "the built-in Tasks list");
    let l = e
        .post("/me/todo/lists", json!({"displayName": "Zoho CRM Tasks"}))
        .await;
    assert_eq!(
        e.delete(&format!(
            "/me/todo/lists/{}",
            l.body["id"].as_str().unwrap()
        ))
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let (lists, _, _) = drain(&e, ldelta, &[]).await;
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0]["@removed"]["reason"], "deleted");
}

#[tokio::test]
async fn logout_ends_the_browser_session() {
    let e = env().await;
    let (_, challenge) = pkce();
    let authorize = format!("{}/login/common/oauth2/v2.0/authorize", e.root);
    let mut form = authorize_params(&challenge, &[("scope", "User.Read")]);
    form.extend([
        ("step".into(), "login".into()),
        ("username".into(), AIKO.into()),
        ("password".into(), "sandbox".into()),
    ]);
    let r = e.http.post(&authorize).form(&form).send().await.unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut consent = authorize_params(&challenge, &[("scope", "User.Read")]);
    consent.extend([
        ("step".into(), "consent".into()),
        ("consent".into(), "accept".into()),
    ]);
    let r = e
        .http
        .post(&authorize)
        .header("cookie", &cookie)
        .form(&consent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let silent = authorize_params(&challenge, &[("scope", "User.Read"), ("prompt", "none")]);
    let r = e
        .http
        .get(&authorize)
        .header("cookie", &cookie)
        .query(&silent)
        .send()
        .await
        .unwrap();
    assert!(query_of(r.headers()["location"].to_str().unwrap()).contains_key("code"));
    let out = e
        .http
        .get(format!(
            "{}/login/common/oauth2/v2.0/logout?post_logout_redirect_uri=http://127.0.0.1:9/bye",
            e.root
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::FOUND);
    let r = e
        .http
        .get(&authorize)
        .header("cookie", &cookie)
        .query(&silent)
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(r.headers()["location"].to_str().unwrap())["error"],
        "interaction_required"
    );
    // Declining consent → access_denied.
    let mut decline = authorize_params(&challenge, &[("scope", "User.Read Mail.Send")]);
    decline.extend([
        ("step".into(), "consent".into()),
        ("consent".into(), "cancel".into()),
    ]);
    let r = e
        .http
        .post(&authorize)
        .header("cookie", &cookie)
        .form(&decline)
        .send()
        .await
        .unwrap();
    // The session is gone, so the sign-in page comes back instead.
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
}

/// opentypeextension-post-opentypeextension.md / -get / -update / -delete.
#[tokio::test]
async fn open_extensions_on_events_contacts_and_tasks() {
    let e = env().await;
    let ext = json!({"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": "com.sakura.crm", "crmId": "123"});
    let ev = e.post("/me/events", json!({"subject": "x", "start": {"dateTime": "2030-01-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-01-01T11:00:00", "timeZone": "UTC"}, "extensions": [ext]})).await;
    assert_eq!(ev.status, StatusCode::CREATED, "{}", ev.body);
    let eid = ev.body["id"].as_str().unwrap().to_string();
    let g = e
        .get(&format!("/me/events/{eid}/extensions/com.sakura.crm"))
        .await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(
        g.body["id"],
        "Microsoft.OutlookServices.OpenTypeExtension.com.sakura.crm"
    );
    assert_eq!(g.body["crmId"], "123");
    let x = e.get(&format!("/me/events/{eid}?$expand=extensions($filter=id eq 'Microsoft.OutlookServices.OpenTypeExtension.com.sakura.crm')")).await;
    assert_eq!(x.body["extensions"][0]["crmId"], "123");

    let c = e.post("/me/contacts", json!({"givenName": "Ext"})).await;
    let cid = c.body["id"].as_str().unwrap().to_string();
    let p = e
        .post(&format!("/me/contacts/{cid}/extensions"), ext.clone())
        .await;
    assert_eq!(p.status, StatusCode::CREATED);
    assert_eq!(
        e.post(&format!("/me/contacts/{cid}/extensions"), ext.clone())
            .await
            .status,
        StatusCode::CONFLICT
    );
    let u = e
        .patch(
            &format!("/me/contacts/{cid}/extensions/com.sakura.crm"),
            json!({"crmId": "456"}),
        )
        .await;
    assert_eq!(u.body["crmId"], "456");
    assert_eq!(
        e.delete(&format!("/me/contacts/{cid}/extensions/com.sakura.crm"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        e.get(&format!("/me/contacts/{cid}/extensions/com.sakura.crm"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let lid = e.get("/me/todo/lists").await.body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = e
        .post(
            &format!("/me/todo/lists/{lid}/tasks"),
            json!({"title": "t", "extensions": [ext]}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    let tid = t.body["id"].as_str().unwrap().to_string();
    let list = e
        .get(&format!("/me/todo/lists/{lid}/tasks/{tid}/extensions"))
        .await;
    assert_eq!(list.body["value"][0]["crmId"], "123");
    // Extensions are not change-tracked: the task's delta stays quiet.
    let (_, delta, _) = drain(
        &e,
        format!("{}/me/todo/lists/{lid}/tasks/delta", e.graph),
        &[],
    )
    .await;
    let _ = e
        .patch(
            &format!("/me/todo/lists/{lid}/tasks/{tid}/extensions/com.sakura.crm"),
            json!({"crmId": "9"}),
        )
        .await;
    let (changes, _, _) = drain(&e, delta, &[]).await;
    assert!(changes.is_empty());
    let bad = e
        .post(
            &format!("/me/contacts/{cid}/extensions"),
            json!({"extensionName": "no.type"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// outlookuser-supportedtimezones.md: Windows ids by default, IANA on request.
#[tokio::test]
async fn outlook_supported_time_zones() {
    let e = env().await;
    let w = e.get("/me/outlook/supportedTimeZones").await;
    assert_eq!(w.status, StatusCode::OK);
    let list = w.body["value"].as_array().unwrap();
    let pst = list
        .iter()
        .find(|z| z["alias"] == "Pacific Standard Time")
        .unwrap();
    assert!(pst["displayName"]
        .as_str()
        .unwrap()
        .starts_with("(UTC-08:00)"));
    assert!(list.iter().any(|z| z["alias"] == "Tokyo Standard Time"));
    let i = e.get("/me/outlook/supportedTimeZones(TimeZoneStandard=microsoft.graph.timeZoneStandard'Iana')").await;
    assert_eq!(i.status, StatusCode::OK);
    assert!(i.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|z| z["alias"] == "Asia/Tokyo"));
    // Every listed zone is accepted on an event.
    for z in list.iter().take(200) {
        let alias = z["alias"].as_str().unwrap();
        let r = e.post("/me/events", json!({"subject": "tz", "start": {"dateTime": "2030-01-01T10:00:00", "timeZone": alias}, "end": {"dateTime": "2030-01-01T11:00:00", "timeZone": alias}})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{alias}");
    }
}

/// A series edited on the Microsoft side: occurrences that disappear (range
/// shortened, recurrence removed) are reported as removed by the delta.
#[tokio::test]
async fn event_delta_reports_occurrences_removed_by_a_series_change() {
    let e = env().await;
    let cal = e
        .post("/me/calendars", json!({"name": "Series"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = e.post(&format!("/me/calendars/{cal}/events"), json!({
        "subject": "Daily", "start": {"dateTime": "2030-01-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-01-01T09:30:00", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "startDate": "2030-01-01", "numberOfOccurrences": 5}}
    })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let master = r.body["id"].as_str().unwrap().to_string();
    let first = format!("{}/me/calendars/{cal}/calendarView/delta?startDateTime=2030-01-01T00:00:00Z&endDateTime=2030-02-01T00:00:00Z", e.graph);
    let (items, delta, _) = drain(&e, first, &[]).await;
    assert_eq!(items.len(), 5);
    assert!(items
        .iter()
        .all(|i| i["type"] == "occurrence" && i["seriesMasterId"] == master.as_str()));
    let p = e.patch(&format!("/me/events/{master}"), json!({"recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "startDate": "2030-01-01", "numberOfOccurrences": 3}}})).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let (changes, delta, _) = drain(&e, delta, &[]).await;
    let removed: Vec<&str> = changes
        .iter()
        .filter(|c| c.get("@removed").is_some())
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let kept: Vec<&Value> = changes
        .iter()
        .filter(|c| c.get("@removed").is_none())
        .collect();
    assert_eq!(kept.len(), 3);
    for gone in [&items[3]["id"], &items[4]["id"]] {
        assert!(
            removed.contains(&gone.as_str().unwrap()),
            "{gone} must be removed: {removed:?}"
        );
    }
    // Extending it again brings the dates back without a stale @removed.
    let p = e.patch(&format!("/me/events/{master}"), json!({"recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "startDate": "2030-01-01", "numberOfOccurrences": 5}}})).await;
    assert_eq!(p.status, StatusCode::OK);
    let (changes, delta, _) = drain(&e, delta, &[]).await;
    let fourth = items[3]["id"].as_str().unwrap();
    assert!(changes
        .iter()
        .any(|c| c["id"] == fourth && c.get("@removed").is_none()));
    assert!(!changes
        .iter()
        .any(|c| c["id"] == fourth && c.get("@removed").is_some()));
    // Recurrence dropped: the event becomes a single instance with the master id.
    let p = e
        .patch(&format!("/me/events/{master}"), json!({"recurrence": null}))
        .await;
    assert_eq!(p.body["type"], "singleInstance");
    let (changes, _, _) = drain(&e, delta, &[]).await;
    assert!(changes
        .iter()
        .any(|c| c["id"] == master.as_str() && c.get("@removed").is_none()));
    for o in &items[..3] {
        assert!(
            changes
                .iter()
                .any(|c| c["id"] == o["id"] && c.get("@removed").is_some()),
            "{} must be removed",
            o["id"]
        );
    }
}

#[tokio::test]
async fn control_minted_refresh_tokens_and_client_binding() {
    let e = env().await;
    let scopes = vec!["offline_access".to_string(), "User.Read".to_string()];
    // Unbound (control convenience): any client may refresh.
    let any = e.state.mint_token(AIKO, &scopes).unwrap();
    let (s, _) = token_call(
        &e,
        &[
            ("client_id", "app-a"),
            ("grant_type", "refresh_token"),
            ("refresh_token", any.refresh_token.as_deref().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Bound to a client, as tokens from the browser flow are.
    let bound = e
        .state
        .mint_token_for_client(AIKO, &scopes, "app-a")
        .unwrap();
    let rt = bound.refresh_token.unwrap();
    let (s, b) = token_call(
        &e,
        &[
            ("client_id", "app-b"),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ],
    )
    .await;
    assert_eq!(
        (s, b["error_codes"].clone()),
        (StatusCode::BAD_REQUEST, json!([700005]))
    );
    let (s, b) = token_call(
        &e,
        &[
            ("client_id", "app-a"),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("scope", "User.Read Calendars.ReadWrite"),
        ],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "no scope beyond the grant"
    );
    let (s, b) = token_call(
        &e,
        &[
            ("client_id", "app-a"),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        b["refresh_token"].is_string(),
        "offline_access is kept on a narrower refresh"
    );
    let via_http: Value = e
        .http
        .post(format!("{}/control/graph/tokens", e.root))
        .json(
            &json!({"user": AIKO, "scopes": ["offline_access", "User.Read"], "client_id": "app-c"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (s, _) = token_call(
        &e,
        &[
            ("client_id", "app-a"),
            ("grant_type", "refresh_token"),
            ("refresh_token", via_http["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn control_api_rejects_bad_settings() {
    let e = env().await;
    let put = |path: &str, body: Value| {
        e.http
            .put(format!("{}/control/graph{path}", e.root))
            .json(&body)
            .send()
    };
    assert_eq!(put("/limits", json!({"concurrency": 0, "window_requests": 1, "window_secs": 1, "token_lifetime_secs": 1})).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        put("/faults", json!({"error_rate": 2.0}))
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    let step = e
        .http
        .post(format!("{}/control/graph/clock/advance", e.root))
        .json(&json!({"seconds": -5}))
        .send()
        .await
        .unwrap();
    assert_eq!(step.status(), StatusCode::BAD_REQUEST);
    let unknown = e
        .http
        .post(format!("{}/control/graph/tokens", e.root))
        .json(&json!({"user": "nobody@nowhere.example", "scopes": "User.Read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let users = e.control(Method::GET, "/users", json!({})).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 7);
    assert_eq!(users["tenantId"], crmsync_sandbox_graph::DEMO_TENANT_ID);
    let created = e.http.post(format!("{}/control/graph/users", e.root)).json(&json!({"userPrincipalName": "kenji.ito@sakura-demo.example", "displayName": "伊藤 健二"})).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let kenji = e
        .state
        .mint_token(
            "kenji.ito@sakura-demo.example",
            &["Calendars.ReadWrite".to_string()],
        )
        .unwrap()
        .access_token;
    let cals = e
        .req_as(&kenji, Method::GET, "/me/calendars", None, &[])
        .await;
    assert_eq!(
        cals.body["value"][0]["isDefaultCalendar"], true,
        "a new user gets a mailbox with its defaults"
    );
}
