//! Record origin and __timeline, mass update, search, COQL, credits/concurrency limits,
//! injected faults and snapshots.

mod common;

use std::time::Duration as StdDuration;

use chrono::Duration;
use common::*;
use crmsync_sandbox_zoho::{Faults, ZohoOptions};
use reqwest::Method;
use serde_json::{json, Value};

async fn timeline(env: &Env, t: &str, module: &str, id: &str) -> Vec<Value> {
    let r = env.get(t, &format!("/{module}/{id}/__timeline")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["__timeline"].as_array().unwrap().clone()
}

#[tokio::test]
async fn origins_show_in_timeline_and_mass_update_changes_modified() {
    let env = start().await;
    let t = env.token(AIKO);
    let mut ids = vec![];
    for origin in ["ui", "api", "import", "migration", "bulk_api"] {
        let r = env
            .control(Method::POST, "/records/Events", Some(json!({"as": AIKO, "origin": origin, "data": [{
                "Event_Title": format!("from {origin}"), "Start_DateTime": "2026-12-05T10:00:00+09:00",
                "End_DateTime": "2026-12-05T11:00:00+09:00"}]})))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(
            r.body["data"][0]["details"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let sources: Vec<String> = {
        let mut v = vec![];
        for id in &ids {
            let tl = timeline(&env, &t, "Events", id).await;
            assert_eq!(tl.len(), 1);
            assert_eq!(tl[0]["action"], "added");
            v.push(tl[0]["source"].as_str().unwrap().to_string());
        }
        v
    };
    assert_eq!(
        sources,
        vec![
            "crm_ui",
            "crm_api",
            "mass_addition_via_ui",
            "migration",
            "bulkapi"
        ]
    );
    let entry = &timeline(&env, &t, "Events", &ids[0]).await[0];
    for k in [
        "audited_time",
        "action",
        "source",
        "done_by",
        "field_history",
        "record",
    ] {
        assert!(entry.get(k).is_some(), "{k}: {entry}");
    }
    assert_eq!(entry["done_by"]["name"], "田中 愛子");
    assert!(entry["audited_time"].as_str().unwrap().ends_with("+09:00"));
    // Records JSON itself carries no import flag.
    let keys = |r: &Reply| {
        let mut k: Vec<String> = r.body["data"][0]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let imported = env.get(&t, &format!("/Events/{}", ids[2])).await;
    let by_hand = env.get(&t, &format!("/Events/{}", ids[0])).await;
    assert_eq!(keys(&imported), keys(&by_hand));
    // API update → crm_api with field history
    env.sb.advance_clock(Duration::seconds(10));
    env.put(
        &t,
        "/Events",
        json!({"data": [{"id": ids[0], "Venue": "Room 7"}]}),
    )
    .await;
    let tl = timeline(&env, &t, "Events", &ids[0]).await;
    assert_eq!(tl[0]["action"], "updated");
    assert_eq!(tl[0]["source"], "crm_api");
    assert_eq!(tl[0]["field_history"][0]["api_name"], "Venue");
    assert_eq!(tl[0]["field_history"][0]["_value"]["new"], "Room 7");
    assert!(tl[0]["field_history"][0]["_value"]["old"].is_null());
    // Mass update by Ben (UI, control API): Modified_Time/By change, source mass_update
    let before =
        env.get(&t, &format!("/Events/{}", ids[2])).await.body["data"][0]["Modified_Time"].clone();
    env.sb.advance_clock(Duration::seconds(10));
    let m = env
        .control(
            Method::POST,
            "/records/Events/mass_update",
            Some(json!({"as": BEN, "ids": [ids[2], ids[3]], "data": {"Venue": "HQ"}})),
        )
        .await;
    assert_eq!(m.status, 200, "{}", m.text);
    let rec = env.get(&t, &format!("/Events/{}", ids[2])).await.body["data"][0].clone();
    assert_ne!(rec["Modified_Time"], before);
    assert_eq!(rec["Modified_By"]["email"], BEN);
    assert_eq!(rec["Venue"], "HQ");
    let tl = timeline(&env, &t, "Events", &ids[2]).await;
    assert_eq!(tl[0]["source"], "mass_update");
    assert_eq!(tl[1]["source"], "mass_addition_via_ui");
    assert_error(
        &env.get(&t, "/Events/1/__timeline").await,
        400,
        "INVALID_DATA",
    );
    let bad = env
        .control(
            Method::POST,
            "/records/Events",
            Some(json!({"as": AIKO, "origin": "fax", "data": []})),
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn timeline_pages_with_page_token() {
    let env = start().await;
    let t = env.token(AIKO);
    let c = env
        .post(&t, "/Contacts", json!({"data": [{"Last_Name": "History"}]}))
        .await;
    let id = c.body["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..4 {
        env.put(
            &t,
            "/Contacts",
            json!({"data": [{"id": id, "Title": format!("T{i}")}]}),
        )
        .await;
    }
    let p1 = env
        .get(&t, &format!("/Contacts/{id}/__timeline?per_page=2"))
        .await;
    assert_eq!(p1.body["__timeline"].as_array().unwrap().len(), 2);
    assert_eq!(p1.body["info"]["more_records"], true);
    assert_eq!(
        p1.body["__timeline"][0]["field_history"][0]["_value"]["new"],
        "T3"
    );
    let tok = p1.body["info"]["next_page_token"]
        .as_str()
        .unwrap()
        .to_string();
    let p2 = env
        .get(
            &t,
            &format!("/Contacts/{id}/__timeline?per_page=2&page_token={tok}"),
        )
        .await;
    let tok = p2.body["info"]["next_page_token"]
        .as_str()
        .unwrap()
        .to_string();
    let p3 = env
        .get(
            &t,
            &format!("/Contacts/{id}/__timeline?per_page=2&page_token={tok}"),
        )
        .await;
    assert_eq!(p3.body["__timeline"].as_array().unwrap().len(), 1);
    assert_eq!(p3.body["__timeline"][0]["action"], "added");
    assert_eq!(p3.body["info"]["more_records"], false);
    assert_error(
        &env.get(&t, &format!("/Contacts/{id}/__timeline?page_token=zzz"))
            .await,
        400,
        "INVALID_DATA",
    );
}

#[tokio::test]
async fn timeline_filters_by_source() {
    let env = start().await;
    let t = env.token(AIKO);
    let r = env
        .control(
            Method::POST,
            "/records/Contacts",
            Some(json!({"as": AIKO, "origin": "import", "data": [{"Last_Name": "Imp"}]})),
        )
        .await;
    let id = r.body["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.sb.advance_clock(Duration::seconds(3));
    env.put(&t, "/Contacts", json!({"data": [{"id": id, "Title": "x"}]}))
        .await;
    let enc = |v: Value| {
        url::form_urlencoded::byte_serialize(v.to_string().as_bytes()).collect::<String>()
    };
    let f = enc(
        json!({"field": {"api_name": "source"}, "comparator": "equal", "value": "mass_addition_via_ui"}),
    );
    let r = env
        .get(&t, &format!("/Contacts/{id}/__timeline?filters={f}"))
        .await;
    let tl = r.body["__timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 1);
    assert_eq!(tl[0]["action"], "added");
    let f = enc(json!({"group_operator": "OR", "group": [
        {"field": {"api_name": "source"}, "comparator": "in", "value": ["crm_api", "crm_ui"]},
        {"field": {"api_name": "source"}, "comparator": "equal", "value": "migration"}]}));
    let r = env
        .get(&t, &format!("/Contacts/{id}/__timeline?filters={f}"))
        .await;
    assert_eq!(r.body["__timeline"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["__timeline"][0]["source"], "crm_api");
    let bad = enc(json!({"field": {"api_name": "source"}, "comparator": "like", "value": "x"}));
    assert_error(
        &env.get(&t, &format!("/Contacts/{id}/__timeline?filters={bad}"))
            .await,
        400,
        "INVALID_DATA",
    );
}

#[tokio::test]
async fn deactivated_user_token_is_invalid() {
    let env = start().await;
    let t = env.token(BEN);
    assert_eq!(env.get(&t, "/users?type=CurrentUser").await.status, 200);
    let ben_id = env.get(&t, "/users?type=CurrentUser").await.body["users"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = env
        .control(
            Method::PUT,
            &format!("/users/{ben_id}/status"),
            Some(json!({"status": "inactive"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_error(
        &env.get(&t, "/users?type=CurrentUser").await,
        401,
        "INVALID_TOKEN",
    );
    let aiko = env.token(AIKO);
    let d = env.get(&aiko, "/users?type=DeactiveUsers").await;
    assert_eq!(d.body["users"][0]["email"], BEN);
}

#[tokio::test]
async fn mass_update_api() {
    let env = start().await;
    let t = env.token(AIKO);
    let list = env.get(&t, "/Tasks?fields=Subject").await;
    let ids: Vec<String> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    let r = env
        .post(
            &t,
            "/Tasks/actions/mass_update",
            json!({"data": [{"Priority": "Lowest"}], "ids": ids}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let job = r.body["data"][0]["details"]["job_id"].as_str().unwrap();
    let s = env
        .get(&t, &format!("/Tasks/actions/mass_update?job_id={job}"))
        .await;
    assert_eq!(s.body["data"][0]["Status"], "COMPLETED");
    assert_eq!(s.body["data"][0]["Updated_Count"], 2);
    let tl = timeline(&env, &t, "Tasks", &ids[0]).await;
    assert_eq!(tl[0]["source"], "mass_update");
    assert_error(
        &env.get(&t, "/Tasks/actions/mass_update?job_id=1").await,
        400,
        "INVALID_DATA",
    );
    assert_error(
        &env.post(
            &t,
            "/Tasks/actions/mass_update",
            json!({"data": [{"Priority": "Low"}]}),
        )
        .await,
        400,
        "REQUIRED_PARAM_MISSING",
    );
}

#[tokio::test]
async fn search_criteria_email_word() {
    let env = start().await;
    let t = env.token(AIKO);
    let r = env
        .get(
            &t,
            "/Contacts/search?criteria=(Email:equals:olivia.brown@northwind.example)",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["Last_Name"], "Brown");
    let r = env.get(&t, "/Contacts/search?criteria=((Last_Name:starts_with:B)%20and%20(Mailing_City:equals:Seattle))").await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = env.get(&t, "/Contacts/search?criteria=((Last_Name:equals:Brown)%20or%20(Last_Name:equals:Wilson))&fields=Last_Name").await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert!(r.body["data"][0].get("Email").is_none());
    let r = env
        .get(&t, "/Contacts/search?email=JAMES.WILSON@northwind.example")
        .await;
    assert_eq!(r.body["data"][0]["Last_Name"], "Wilson");
    let r = env
        .get(&t, "/Contacts/search?word=%E5%B1%B1%E7%94%B0")
        .await; // 山田
    assert_eq!(r.body["data"][0]["Last_Name"], "山田");
    let r = env.get(&t, "/Contacts/search?phone=555-0101").await;
    assert_eq!(r.body["data"][0]["Last_Name"], "Brown");
    assert_eq!(
        env.get(&t, "/Contacts/search?email=nobody@nowhere.example")
            .await
            .status,
        204
    );
    assert_error(
        &env.get(&t, "/Contacts/search").await,
        400,
        "REQUIRED_PARAM_MISSING",
    );
    assert_error(
        &env.get(&t, "/Contacts/search?criteria=Email:equals:x")
            .await,
        400,
        "INVALID_QUERY",
    );
    assert_error(
        &env.get(&t, "/Contacts/search?criteria=(Nope:equals:x)")
            .await,
        400,
        "INVALID_QUERY",
    );
    assert_error(
        &env.get(&t, "/Contacts/search?criteria=(Email:like:x)")
            .await,
        400,
        "INVALID_QUERY",
    );
    assert_error(
        &env.get(&t, "/Contacts/search?word=a").await,
        400,
        "INVALID_QUERY",
    );
    let odd = env
        .get(
            &t,
            "/Contacts/search?criteria=(Last_Name:equals:%E5%B1%B1)%E5%B1%B1",
        )
        .await;
    assert_error(&odd, 400, "INVALID_QUERY");
    let nested = env.get(&t, "/Contacts/search?criteria=((Last_Name:equals:%E5%B1%B1%E7%94%B0)and(First_Name:equals:%E5%81%A5%E5%A4%AA))").await;
    assert_eq!(
        nested.body["data"][0]["Last_Name"], "山田",
        "{}",
        nested.text
    );
    let eleven: Vec<String> = (0..11)
        .map(|i| format!("(Last_Name:equals:n{i})"))
        .collect();
    let q = format!("({})", eleven.join("%20or%20"));
    assert_error(
        &env.get(&t, &format!("/Contacts/search?criteria={q}")).await,
        400,
        "LIMIT_EXCEEDED",
    );
    assert_error(
        &env.get(&t, "/Contacts/search?email=a@b.c&page=11&per_page=200")
            .await,
        400,
        "LIMIT_REACHED",
    );
}

#[tokio::test]
async fn search_index_delay_hides_fresh_records() {
    let env = start().await;
    let t = env.token(AIKO);
    env.control(
        Method::PUT,
        "/faults",
        Some(json!({"search_index_delay_ms": 60000})),
    )
    .await;
    env.post(
        &t,
        "/Contacts",
        json!({"data": [{"Last_Name": "Fresh", "Email": "fresh@example.com"}]}),
    )
    .await;
    assert_eq!(
        env.get(&t, "/Contacts/search?email=fresh@example.com")
            .await
            .status,
        204
    );
    let coql = env.post(&t, "/coql", json!({"select_query": "select Last_Name from Contacts where Email = 'fresh@example.com'"})).await;
    assert_eq!(coql.status, 200, "COQL reads after write");
    env.sb.advance_clock(Duration::seconds(61));
    let t = env.token(AIKO);
    assert_eq!(
        env.get(&t, "/Contacts/search?email=fresh@example.com")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn coql_queries_and_errors() {
    let env = start().await;
    let t = env.token(AIKO);
    let q = |s: &str| json!({"select_query": s});
    let r = env.post(&t, "/coql", q("select Last_Name, Email, Owner from Contacts where Email like '%northwind.example' order by Last_Name asc limit 0, 10")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["Last_Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Brown", "Davis", "Wilson"]);
    assert!(r.body["data"][0]["Owner"]["id"].is_string());
    assert!(r.body["data"][0]["id"].is_string());
    assert_eq!(r.body["info"]["count"], 3);
    assert_eq!(r.body["info"]["more_records"], false);
    let r = env.post(&t, "/coql", q("select Last_Name from Contacts where Email like '%northwind.example' order by Last_Name desc limit 1 offset 1")).await;
    assert_eq!(r.body["data"][0]["Last_Name"], "Davis");
    assert_eq!(r.body["info"]["more_records"], true);
    let since = (env.sb.now() - Duration::days(11))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    let r = env.post(&t, "/coql", q(&format!("select Event_Title, Modified_Time from Events where Modified_Time > '{since}' and (Venue is not null or All_day = true) order by Modified_Time desc"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["Modified_Time"].as_str().unwrap().ends_with("+09:00")));
    let owner = env.get(&t, "/users?type=CurrentUser").await.body["users"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = env.post(&t, "/coql", q(&format!("select Subject from Tasks where Owner = '{owner}' and Status in ('Not Started', 'In Progress')"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        env.post(
            &t,
            "/coql",
            q("select Last_Name from Contacts where Last_Name = 'Nobody'")
        )
        .await
        .status,
        204
    );
    assert_error(
        &env.post(&t, "/coql", q("select from Contacts")).await,
        400,
        "SYNTAX_ERROR",
    );
    assert_error(
        &env.post(&t, "/coql", q("select Last_Name Contacts")).await,
        400,
        "SYNTAX_ERROR",
    );
    assert_error(
        &env.post(
            &t,
            "/coql",
            q("select Last_Name from Contacts where Last_Name = "),
        )
        .await,
        400,
        "SYNTAX_ERROR",
    );
    assert_error(
        &env.post(&t, "/coql", q("select Nope from Contacts")).await,
        400,
        "INVALID_QUERY",
    );
    assert_error(
        &env.post(&t, "/coql", q("select Last_Name from Leadz"))
            .await,
        400,
        "INVALID_QUERY",
    );
    assert_error(
        &env.post(&t, "/coql", q("select Last_Name from Contacts limit 2001"))
            .await,
        400,
        "LIMIT_EXCEEDED",
    );
    assert_error(
        &env.post(
            &t,
            "/coql",
            q("select Last_Name from Contacts limit 99999, 2000"),
        )
        .await,
        400,
        "LIMIT_EXCEEDED",
    );
    let in51: Vec<String> = (0..51).map(|i| format!("'{i}'")).collect();
    assert_error(
        &env.post(
            &t,
            "/coql",
            q(&format!(
                "select Last_Name from Contacts where Last_Name in ({})",
                in51.join(",")
            )),
        )
        .await,
        400,
        "LIMIT_EXCEEDED",
    );
    let where26: Vec<String> = (0..26).map(|i| format!("Last_Name = '{i}'")).collect();
    assert_error(
        &env.post(
            &t,
            "/coql",
            q(&format!(
                "select Last_Name from Contacts where {}",
                where26.join(" or ")
            )),
        )
        .await,
        400,
        "LIMIT_EXCEEDED",
    );
    assert_error(
        &env.post(&t, "/coql", json!({})).await,
        400,
        "REQUIRED_PARAM_MISSING",
    );
    let no_coql = env.token_scopes(AIKO, &["ZohoCRM.modules.ALL"]);
    assert_error(
        &env.post(&no_coql, "/coql", q("select Last_Name from Contacts"))
            .await,
        401,
        "OAUTH_SCOPE_MISMATCH",
    );
}

#[tokio::test]
async fn credits_exhausted_is_429_without_retry_after() {
    let env = start_with(
        ZohoOptions {
            credits: Some(6),
            ..ZohoOptions::default()
        },
        true,
    )
    .await;
    let t = env.token(AIKO);
    let r = env.get(&t, "/Contacts?fields=Last_Name").await;
    assert_eq!(r.status, 200);
    let r = env.get(&t, "/Contacts?fields=Last_Name").await;
    assert_eq!(r.status, 200);
    let r = env.get(&t, "/Contacts?fields=Last_Name").await;
    assert!(
        r.headers.get("x-api-credits-remaining").is_some(),
        "shown once half the credits are used"
    );
    for _ in 0..3 {
        env.get(&t, "/Contacts?fields=Last_Name").await;
    }
    let r = env.get(&t, "/Contacts?fields=Last_Name").await;
    assert_error(&r, 429, "TOO_MANY_REQUESTS");
    assert!(r.headers.get("retry-after").is_none());
    // the window is rolling 24 h
    env.sb
        .advance_clock(Duration::hours(24) + Duration::seconds(1));
    let t = env.token(AIKO);
    assert_eq!(env.get(&t, "/Contacts?fields=Last_Name").await.status, 200);
}

#[tokio::test]
async fn concurrency_limit_is_429() {
    let env = start_with(
        ZohoOptions {
            concurrency: Some(1),
            ..ZohoOptions::default()
        },
        true,
    )
    .await;
    env.sb.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let t = env.token(AIKO);
    // A slow call holds the org's only slot; a second concurrent call is refused.
    let url = format!("{}/Contacts?fields=Last_Name", env.api("us"));
    let (a, b) = tokio::join!(env.send(Method::GET, &url, Some(&t), None, &[]), async {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        env.send(Method::GET, &url, Some(&t), None, &[]).await
    });
    assert_eq!(a.status, 200);
    assert_error(&b, 429, "TOO_MANY_REQUESTS");
    assert!(b.headers.get("retry-after").is_none());
    env.sb.set_faults(Faults::default());
    assert_eq!(env.get(&t, "/Contacts?fields=Last_Name").await.status, 200);
}

#[tokio::test]
async fn heavy_calls_have_a_sub_concurrency_of_ten() {
    let env = start_with(
        ZohoOptions {
            concurrency: Some(25),
            ..ZohoOptions::default()
        },
        true,
    )
    .await;
    env.sb.set_faults(Faults {
        latency_ms: 400,
        ..Faults::default()
    });
    let t = env.token(AIKO);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let http = env.http.clone();
        let url = format!("{}/coql", env.api("us"));
        let t = t.clone();
        set.spawn(async move {
            tokio::time::sleep(StdDuration::from_millis(i * 10)).await;
            http.post(url)
                .header("Authorization", format!("Zoho-oauthtoken {t}"))
                .json(&json!({"select_query": "select Last_Name from Contacts"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    // Light calls are not limited by the heavy-call slots.
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    let light = env.get(&t, "/Contacts?fields=Last_Name").await;
    assert_eq!(light.status, 200);
    let mut statuses = vec![];
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn injected_errors_latency_and_timeout_after_commit() {
    let env = start().await;
    let t = env.token(AIKO);
    let put = env
        .control(
            Method::PUT,
            "/faults",
            Some(json!({"fail_next": 2, "error_status": 500})),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_error(
        &env.get(&t, "/Contacts?fields=Last_Name").await,
        500,
        "INTERNAL_ERROR",
    );
    assert_error(
        &env.get(&t, "/Contacts?fields=Last_Name").await,
        500,
        "INTERNAL_ERROR",
    );
    assert_eq!(env.get(&t, "/Contacts?fields=Last_Name").await.status, 200);
    env.control(
        Method::PUT,
        "/faults",
        Some(json!({"fail_next": 1, "error_status": 429})),
    )
    .await;
    assert_error(
        &env.get(&t, "/Contacts?fields=Last_Name").await,
        429,
        "TOO_MANY_REQUESTS",
    );
    env.control(Method::PUT, "/faults", Some(json!({"latency_ms": 150})))
        .await;
    let started = std::time::Instant::now();
    env.get(&t, "/Contacts?fields=Last_Name").await;
    assert!(started.elapsed() >= StdDuration::from_millis(150));
    env.control(
        Method::PUT,
        "/faults",
        Some(json!({"timeout_next_writes": 1, "hang_ms": 50})),
    )
    .await;
    let r = env
        .post(
            &t,
            "/Contacts",
            json!({"data": [{"Last_Name": "Committed anyway"}]}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 504);
    let s = env
        .get(
            &t,
            "/Contacts/search?criteria=(Last_Name:equals:Committed%20anyway)",
        )
        .await;
    assert_eq!(
        s.body["data"].as_array().unwrap().len(),
        1,
        "the write was committed"
    );
    let bad = env
        .control(Method::PUT, "/faults", Some(json!({"error_rate": 2.0})))
        .await;
    assert_eq!(bad.status, 400);
    let c = env.control(Method::GET, "/counters", None).await;
    assert!(
        c.body["injected_faults"].as_u64().unwrap() >= 4,
        "{}",
        c.text
    );
    assert_eq!(c.body["api_requests"], 7, "{}", c.text);
    assert_eq!(c.body["by_endpoint"]["GET Contacts"], 2, "{}", c.text);
    assert_eq!(c.body["by_endpoint"]["POST Contacts"], 1, "{}", c.text);
}

#[tokio::test]
async fn snapshot_round_trip() {
    let env = start().await;
    let t = env.token(AIKO);
    env.post(
        &t,
        "/Contacts",
        json!({"data": [{"Last_Name": "Persisted"}]}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zoho.json");
    env.sb.save_snapshot(&path).unwrap();
    let other = start_with(ZohoOptions::default(), false).await;
    other.sb.load_snapshot(&path).unwrap();
    // tokens survive too
    let r = other
        .get(&t, "/Contacts/search?criteria=(Last_Name:equals:Persisted)")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    std::fs::write(&path, "{not json").unwrap();
    assert!(other.sb.load_snapshot(&path).is_err());
}
