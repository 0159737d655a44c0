//! Records API v8: list (fields, per_page, page, page_token, sort, If-Modified-Since, 304/204),
//! get, insert/update/delete with per-record results, deleted records, module specifics.

mod common;

use chrono::Duration;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn ids(r: &Reply) -> Vec<String> {
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_requires_fields_and_checks_limits() {
    let env = start().await;
    let t = env.token(AIKO);
    let r = env.get(&t, "/Contacts").await;
    assert_error(&r, 400, "REQUIRED_PARAM_MISSING");
    assert_eq!(r.body["details"]["param_name"], "fields");
    let many: Vec<String> = (0..51).map(|_| "Last_Name".to_string()).collect();
    let r = env
        .get(&t, &format!("/Contacts?fields={}", many.join(",")))
        .await;
    assert_error(&r, 400, "LIMIT_EXCEEDED");
    assert_error(
        &env.get(&t, "/Contacts?fields=Last_Name&per_page=201").await,
        400,
        "LIMIT_EXCEEDED",
    );
    assert_error(
        &env.get(&t, "/Contacts?fields=Nope").await,
        400,
        "INVALID_DATA",
    );
    assert_error(
        &env.get(&t, "/Contacts?fields=Last_Name&sort_by=Email")
            .await,
        400,
        "INVALID_DATA",
    );
    assert_error(
        &env.get(&t, "/Contacts?fields=Last_Name&sort_order=up")
            .await,
        400,
        "INVALID_DATA",
    );
    assert_error(
        &env.get(&t, "/Contacts?fields=Last_Name&cvid=1&sort_by=id")
            .await,
        400,
        "AMBIGUITY_DURING_PROCESSING",
    );
    assert_error(
        &env.get(&t, "/Contacts?fields=Last_Name&cvid=1").await,
        400,
        "INVALID_DATA",
    );
}

#[tokio::test]
async fn list_shape_and_time_zone_of_the_caller() {
    let env = start().await;
    let aiko = env.token(AIKO);
    let r = env
        .get(
            &aiko,
            "/Contacts?fields=Last_Name,First_Name,Email,Owner,Modified_Time,Account_Name",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let info = &r.body["info"];
    for k in [
        "per_page",
        "count",
        "page",
        "sort_by",
        "sort_order",
        "more_records",
        "next_page_token",
        "page_token_expiry",
    ] {
        assert!(info.get(k).is_some(), "info.{k} missing: {info}");
    }
    assert_eq!(info["sort_by"], "id");
    assert_eq!(info["sort_order"], "desc");
    let rows = r.body["data"].as_array().unwrap();
    // default order: id descending
    let got: Vec<u64> = rows
        .iter()
        .map(|x| x["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let mut sorted = got.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(got, sorted);
    let row = &rows[0];
    assert!(
        row["Owner"]["id"].is_string()
            && row["Owner"]["name"].is_string()
            && row["Owner"]["email"].is_string()
    );
    assert!(
        row.get("Phone").is_none(),
        "only the asked fields (+ id, $ keys)"
    );
    assert!(
        row["Modified_Time"].as_str().unwrap().ends_with("+09:00"),
        "Aiko is in Asia/Tokyo: {row}"
    );
    let yamada = rows.iter().find(|x| x["Last_Name"] == "山田").unwrap();
    assert_eq!(yamada["Account_Name"]["name"], "富士物流株式会社");
    assert!(yamada["Account_Name"]["id"].is_string());
    let ben = env.token(BEN);
    let r = env.get(&ben, "/Contacts?fields=Modified_Time").await;
    let m = r.body["data"][0]["Modified_Time"].as_str().unwrap();
    assert!(
        m.ends_with("-08:00") || m.ends_with("-07:00"),
        "Ben is in America/Los_Angeles: {m}"
    );
}

#[tokio::test]
async fn empty_module_is_204() {
    let env = start().await;
    let t = env.token(KENJI);
    let url = format!("{}/Tasks?fields=Subject", env.api("jp"));
    let r = env.send(Method::GET, &url, Some(&t), None, &[]).await;
    assert_eq!(r.status, 200);
    let id = r.body["data"][0]["id"].as_str().unwrap().to_string();
    let del = env
        .send(
            Method::DELETE,
            &format!("{}/Tasks?ids={id}", env.api("jp")),
            Some(&t),
            None,
            &[],
        )
        .await;
    assert_eq!(del.status, 200);
    let r = env.send(Method::GET, &url, Some(&t), None, &[]).await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
}

#[tokio::test]
async fn pagination_by_page_then_page_token() {
    let env = start().await;
    let gen = env
        .control(
            Method::POST,
            "/generate",
            Some(json!({"as": AIKO, "module": "Contacts", "count": 2300})),
        )
        .await;
    assert_eq!(gen.body["created"], 2300, "{}", gen.text);
    let t = env.token(AIKO);
    let p10 = env
        .get(&t, "/Contacts?fields=Last_Name&page=10&per_page=200")
        .await;
    assert_eq!(p10.status, 200);
    assert_eq!(p10.body["info"]["more_records"], true);
    let r = env
        .get(&t, "/Contacts?fields=Last_Name&page=11&per_page=200")
        .await;
    assert_error(&r, 400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED");
    // walk everything with page_token
    let mut seen = std::collections::HashSet::new();
    let mut r = env.get(&t, "/Contacts?fields=Last_Name&per_page=200").await;
    let mut pages = 1;
    loop {
        for id in ids(&r) {
            assert!(seen.insert(id), "duplicate record across pages");
        }
        if r.body["info"]["more_records"] != true {
            break;
        }
        let tok = r.body["info"]["next_page_token"]
            .as_str()
            .unwrap()
            .to_string();
        r = env
            .get(
                &t,
                &format!("/Contacts?fields=Last_Name&per_page=200&page_token={tok}"),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
    }
    let total = env.sb.with_state(|st| {
        st.orgs.values().find(|o| o.dc == "us").unwrap().records["Contacts"].len()
    });
    assert_eq!(seen.len(), total);
    assert!(pages >= 12);
    // page token rules
    let first = env.get(&t, "/Contacts?fields=Last_Name").await;
    let tok = first.body["info"]["next_page_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_error(
        &env.get(
            &t,
            &format!("/Contacts?fields=Last_Name&page=2&page_token={tok}"),
        )
        .await,
        400,
        "AMBIGUITY_DURING_PROCESSING",
    );
    assert_error(
        &env.get(&t, &format!("/Contacts?fields=Email&page_token={tok}"))
            .await,
        400,
        "TOKEN_BOUND_DATA_MISMATCH",
    );
    let ben = env.token(BEN);
    assert_error(
        &env.get(
            &ben,
            &format!("/Contacts?fields=Last_Name&page_token={tok}"),
        )
        .await,
        400,
        "TOKEN_BOUND_DATA_MISMATCH",
    );
    assert_error(
        &env.get(&t, "/Contacts?fields=Last_Name&page_token=nonsense")
            .await,
        400,
        "INVALID_DATA",
    );
    // 100,000 records at most through page tokens
    env.sb.with_state(|st| {
        for p in st.page_tokens.values_mut() {
            p.offset = 100_000;
        }
    });
    assert_error(
        &env.get(&t, &format!("/Contacts?fields=Last_Name&page_token={tok}"))
            .await,
        400,
        "PAGINATION_LIMIT_EXCEEDED",
    );
    env.sb
        .advance_clock(Duration::hours(24) + Duration::seconds(1));
    let t = env.token(AIKO);
    assert_error(
        &env.get(&t, &format!("/Contacts?fields=Last_Name&page_token={tok}"))
            .await,
        400,
        "EXPIRED_VALUE",
    );
}

#[tokio::test]
async fn if_modified_since_304_and_sort_by_modified_time() {
    let env = start().await;
    let t = env.token(AIKO);
    let since = (env.sb.now() + Duration::seconds(1)).to_rfc3339();
    let url = format!(
        "{}/Contacts?fields=Last_Name,Modified_Time&sort_by=Modified_Time&sort_order=asc",
        env.api("us")
    );
    let r = env
        .send(
            Method::GET,
            &url,
            Some(&t),
            None,
            &[("If-Modified-Since", &since)],
        )
        .await;
    assert_eq!(r.status, 304);
    env.sb.advance_clock(Duration::seconds(5));
    let list = env.get(&t, "/Contacts?fields=Last_Name").await;
    let id = ids(&list)[3].clone();
    let u = env
        .put(
            &t,
            "/Contacts",
            json!({"data": [{"id": id, "Title": "CTO"}]}),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.text);
    let r = env
        .send(
            Method::GET,
            &url,
            Some(&t),
            None,
            &[("If-Modified-Since", &since)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r), vec![id.clone()]);
    let r = env
        .send(
            Method::GET,
            &url,
            Some(&t),
            None,
            &[("If-Modified-Since", "yesterday")],
        )
        .await;
    assert_error(&r, 400, "INVALID_DATA");
    // sort_by=Modified_Time asc puts the updated record last
    let r = env
        .get(
            &t,
            "/Contacts?fields=Last_Name&sort_by=Modified_Time&sort_order=asc",
        )
        .await;
    assert_eq!(ids(&r).last().unwrap(), &id);
}

#[tokio::test]
async fn insert_results_in_input_order_with_statuses() {
    let env = start().await;
    let t = env.token(AIKO);
    let ok = env.post(&t, "/Contacts", json!({"data": [{"Last_Name": "One"}, {"Last_Name": "Two", "Email": "two@example.com"}]})).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let item = &ok.body["data"][0];
    assert_eq!(item["code"], "SUCCESS");
    assert_eq!(item["message"], "record added");
    assert_eq!(item["status"], "success");
    for k in [
        "id",
        "Created_Time",
        "Modified_Time",
        "Created_By",
        "Modified_By",
        "$approval_state",
    ] {
        assert!(item["details"].get(k).is_some(), "details.{k}: {item}");
    }
    assert!(item["details"]["Created_Time"]
        .as_str()
        .unwrap()
        .ends_with("+09:00"));
    let long = "x".repeat(81);
    let mixed = env
        .post(
            &t,
            "/Contacts",
            json!({"data": [
                {"First_Name": "No last name"},
                {"Last_Name": "Fine"},
                {"Last_Name": long},
                {"Last_Name": "Bad email", "Email": "not-an-email"},
                {"Last_Name": "Bad pick", "Lead_Source": "Telepathy"},
                {"Last_Name": "Bad date", "Date_of_Birth": "12/04/1986"},
                "not an object"
            ]}),
        )
        .await;
    assert_eq!(mixed.status, 207, "{}", mixed.text);
    let d = mixed.body["data"].as_array().unwrap();
    assert_eq!(d.len(), 7);
    assert_eq!(d[0]["code"], "MANDATORY_NOT_FOUND");
    assert_eq!(d[0]["details"]["api_name"], "Last_Name");
    assert_eq!(d[0]["details"]["json_path"], "$.data[0].Last_Name");
    assert_eq!(d[1]["code"], "SUCCESS");
    assert_eq!(d[2]["code"], "INVALID_DATA");
    assert_eq!(d[2]["details"]["maximum_length"], 80);
    assert_eq!(d[2]["details"]["api_name"], "Last_Name");
    assert_eq!(d[3]["code"], "INVALID_DATA");
    assert_eq!(d[3]["details"]["api_name"], "Email");
    assert_eq!(d[4]["details"]["api_name"], "Lead_Source");
    assert_eq!(d[5]["details"]["api_name"], "Date_of_Birth");
    assert_eq!(d[6]["code"], "INVALID_DATA");
    let bad = env
        .post(&t, "/Contacts", json!({"data": [{"Email": "x@y.z"}]}))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["data"][0]["code"], "MANDATORY_NOT_FOUND");
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"Last_Name": format!("N{i}")}))
        .collect();
    assert_error(
        &env.post(&t, "/Contacts", json!({"data": too_many})).await,
        400,
        "LIMIT_EXCEEDED",
    );
    let hundred: Vec<Value> = (0..100)
        .map(|i| json!({"Last_Name": format!("N{i}")}))
        .collect();
    assert_eq!(
        env.post(&t, "/Contacts", json!({"data": hundred}))
            .await
            .status,
        201
    );
    assert_error(
        &env.post(&t, "/Contacts", json!({"nodata": []})).await,
        400,
        "REQUIRED_PARAM_MISSING",
    );
    let raw = env
        .http
        .post(format!("{}/Contacts", env.api("us")))
        .header("Authorization", format!("Zoho-oauthtoken {t}"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
}

#[tokio::test]
async fn update_is_partial_and_tracks_modifier() {
    let env = start().await;
    let aiko = env.token(AIKO);
    let ben = env.token(BEN);
    let c = env
        .post(
            &aiko,
            "/Contacts",
            json!({"data": [{"First_Name": "Keep", "Last_Name": "Me", "Phone": "123"}]}),
        )
        .await;
    let id = c.body["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.sb.advance_clock(Duration::seconds(30));
    let u = env
        .put(
            &ben,
            &format!("/Contacts/{id}"),
            json!({"data": [{"Phone": "456"}]}),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["data"][0]["message"], "record updated");
    let g = env.get(&aiko, &format!("/Contacts/{id}")).await;
    let rec = &g.body["data"][0];
    assert_eq!(rec["First_Name"], "Keep");
    assert_eq!(rec["Phone"], "456");
    assert_eq!(rec["Full_Name"], "Keep Me");
    assert_eq!(rec["Modified_By"]["email"], BEN);
    assert_eq!(rec["Created_By"]["email"], AIKO);
    assert_ne!(rec["Modified_Time"], rec["Created_Time"]);
    assert!(rec["Email"].is_null(), "empty fields are null");
    assert_eq!(
        rec["Email_Opt_Out"], false,
        "checkboxes default to unchecked"
    );
    let r = env.put(&aiko, "/Contacts", json!({"data": [{"Phone": "1"}, {"id": "999", "Phone": "1"}, {"id": id, "Last_Name": null}]})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["data"][0]["code"], "MANDATORY_NOT_FOUND");
    assert_eq!(r.body["data"][0]["details"]["api_name"], "id");
    assert_eq!(r.body["data"][1]["code"], "INVALID_DATA");
    assert_eq!(r.body["data"][2]["code"], "MANDATORY_NOT_FOUND");
    assert_eq!(env.get(&aiko, "/Contacts/424242").await.status, 204);
}

#[tokio::test]
async fn delete_and_deleted_records() {
    let env = start().await;
    let t = env.token(AIKO);
    let c = env
        .post(
            &t,
            "/Contacts",
            json!({"data": [{"Last_Name": "Gone"}, {"Last_Name": "Also gone"}]}),
        )
        .await;
    let a = c.body["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = c.body["data"][1]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.get(&t, "/Contacts/deleted").await.status, 204);
    let since = env.sb.now().to_rfc3339();
    env.sb.advance_clock(Duration::seconds(2));
    let r = env.delete(&t, &format!("/Contacts?ids={a},12345")).await;
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(r.body["data"][0]["code"], "SUCCESS");
    assert_eq!(r.body["data"][0]["details"]["id"], a.as_str());
    assert_eq!(r.body["data"][0]["message"], "record deleted");
    assert_eq!(r.body["data"][1]["code"], "INVALID_DATA");
    assert_eq!(env.delete(&t, &format!("/Contacts/{b}")).await.status, 200);
    assert_error(
        &env.delete(&t, "/Contacts").await,
        400,
        "REQUIRED_PARAM_MISSING",
    );
    let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let r = env
        .delete(&t, &format!("/Contacts?ids={}", many.join(",")))
        .await;
    assert_error(&r, 400, "LIMIT_EXCEEDED");
    assert_eq!(r.body["details"]["limit"], "100");
    let d = env.get(&t, "/Contacts/deleted?type=all").await;
    assert_eq!(d.status, 200);
    let row = &d.body["data"][0];
    for k in [
        "id",
        "display_name",
        "type",
        "deleted_time",
        "deleted_by",
        "created_by",
    ] {
        assert!(row.get(k).is_some(), "{k}: {row}");
    }
    assert_eq!(row["type"], "recycle");
    assert_eq!(d.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        env.get(&t, "/Contacts/deleted?type=permanent").await.status,
        204
    );
    assert_error(
        &env.get(&t, "/Contacts/deleted?type=some").await,
        400,
        "INVALID_DATA",
    );
    let url = format!("{}/Contacts/deleted", env.api("us"));
    let r = env
        .send(
            Method::GET,
            &url,
            Some(&t),
            None,
            &[("If-Modified-Since", &since)],
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    let later = (env.sb.now() + Duration::seconds(1)).to_rfc3339();
    let r = env
        .send(
            Method::GET,
            &url,
            Some(&t),
            None,
            &[("If-Modified-Since", &later)],
        )
        .await;
    assert_eq!(r.status, 304);
    env.control(
        Method::POST,
        "/recycle_bin/empty",
        Some(json!({"as": AIKO})),
    )
    .await;
    let p = env.get(&t, "/Contacts/deleted?type=permanent").await;
    assert_eq!(p.body["data"].as_array().unwrap().len(), 2);
    assert!(env.get(&t, &format!("/Contacts/{a}")).await.status == 204);
}

#[tokio::test]
async fn events_specifics() {
    let env = start().await;
    let t = env.token(AIKO);
    let contacts = env.get(&t, "/Contacts?fields=Email,Full_Name").await;
    let cid = contacts.body["data"][0]["id"].as_str().unwrap().to_string();
    let r = env
        .post(&t, "/Events", json!({"data": [{
            "Event_Title": "Planning", "Start_DateTime": "2026-12-01T10:00:00+09:00", "End_DateTime": "2026-12-01T11:00:00+09:00",
            "Venue": "Room 1", "Description": "d", "All_day": false,
            "Participants": [{"participant": cid, "type": "contact"}, {"participant": "x@example.com", "type": "email"}],
            "Remind_At": "2026-12-01T09:45:00+09:00",
            "Recurring_Activity": {"RRULE": "FREQ=DAILY;INTERVAL=10;UNTIL=2027-01-14;DTSTART=2026-12-01"}
        }]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["data"][0]["details"]["id"].as_str().unwrap();
    let ben = env.token(BEN);
    let g = env.get(&ben, &format!("/Events/{id}")).await;
    let e = &g.body["data"][0];
    assert_eq!(e["Event_Title"], "Planning");
    let start = e["Start_DateTime"].as_str().unwrap();
    assert!(
        start == "2026-11-30T17:00:00-08:00",
        "in Ben's zone: {start}"
    );
    let p = &e["Participants"][0];
    for k in ["participant", "type", "name", "Email", "invited", "status"] {
        assert!(p.get(k).is_some(), "participant.{k}: {p}");
    }
    assert_eq!(p["type"], "contact");
    assert_eq!(
        e["Recurring_Activity"]["RRULE"],
        "FREQ=DAILY;INTERVAL=10;UNTIL=2027-01-14;DTSTART=2026-12-01"
    );
    assert_eq!(e["$event_cancelled"], false);
    // no invitation mail unless $send_notification
    let mails = env.control(Method::GET, "/mails", None).await;
    assert!(mails.body["mails"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["kind"] != "meeting_invitation"));
    let bad = env
        .post(&t, "/Events", json!({"data": [
            {"Event_Title": "No times"},
            {"Event_Title": "Backwards", "Start_DateTime": "2026-12-01T10:00:00+09:00", "End_DateTime": "2026-12-01T09:00:00+09:00"},
            {"Event_Title": "No offset", "Start_DateTime": "2026-12-01T10:00:00", "End_DateTime": "2026-12-01T11:00:00+09:00"},
            {"Event_Title": "Bad rule", "Start_DateTime": "2026-12-01T10:00:00+09:00", "End_DateTime": "2026-12-01T11:00:00+09:00",
             "Recurring_Activity": {"RRULE": "FREQ=HOURLY;DTSTART=2026-12-01"}},
            {"Event_Title": "Rule without DTSTART", "Start_DateTime": "2026-12-01T10:00:00+09:00", "End_DateTime": "2026-12-01T11:00:00+09:00",
             "Recurring_Activity": {"RRULE": "FREQ=DAILY;UNTIL=20270114T000000Z"}},
            {"Event_Title": "Bad participant", "Start_DateTime": "2026-12-01T10:00:00+09:00", "End_DateTime": "2026-12-01T11:00:00+09:00",
             "Participants": [{"participant": "1", "type": "contact"}]}
        ]}))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let d = bad.body["data"].as_array().unwrap();
    assert_eq!(d[0]["code"], "MANDATORY_NOT_FOUND");
    assert_eq!(d[0]["details"]["api_name"], "Start_DateTime");
    assert_eq!(d[1]["details"]["api_name"], "End_DateTime");
    assert_eq!(d[2]["details"]["api_name"], "Start_DateTime");
    assert_eq!(d[3]["details"]["api_name"], "Recurring_Activity");
    assert_eq!(d[4]["details"]["api_name"], "Recurring_Activity");
    assert_eq!(d[5]["details"]["api_name"], "Participants");
    // $send_notification mails the participants (visible through the control API)
    let n = env
        .post(
            &t,
            "/Events",
            json!({"data": [{"Event_Title": "Invite", "Start_DateTime": "2026-12-02T10:00:00+09:00",
            "End_DateTime": "2026-12-02T11:00:00+09:00", "$send_notification": true,
            "Participants": [{"participant": "guest@example.com", "type": "email"}]}]}),
        )
        .await;
    assert_eq!(n.status, 201);
    let mails = env.control(Method::GET, "/mails", None).await;
    assert!(mails.body["mails"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["kind"] == "meeting_invitation" && m["to"] == "guest@example.com"));
}

#[tokio::test]
async fn tasks_specifics() {
    let env = start().await;
    let t = env.token(AIKO);
    let r = env
        .post(&t, "/Tasks", json!({"data": [{"Subject": "Call", "Due_Date": "2026-12-03", "Status": "In Progress", "Priority": "High",
            "Remind_At": {"ALARM": "FREQ=NONE;ACTION=EMAILANDPOPUP;TRIGGER=DATE-TIME:2026-12-03T09:00:00+09:00"}}]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let g = env.get(&t, &format!("/Tasks/{id}")).await;
    assert!(g.body["data"][0]["Closed_Time"].is_null());
    assert_eq!(
        g.body["data"][0]["Remind_At"]["ALARM"],
        "FREQ=NONE;ACTION=EMAILANDPOPUP;TRIGGER=DATE-TIME:2026-12-03T09:00:00+09:00"
    );
    env.put(
        &t,
        "/Tasks",
        json!({"data": [{"id": id, "Status": "Completed"}]}),
    )
    .await;
    let g = env.get(&t, &format!("/Tasks/{id}")).await;
    assert!(g.body["data"][0]["Closed_Time"]
        .as_str()
        .unwrap()
        .ends_with("+09:00"));
    assert_eq!(g.body["data"][0]["Due_Date"], "2026-12-03");
    let bad = env
        .post(&t, "/Tasks", json!({"data": [
            {"Due_Date": "2026-12-03"},
            {"Subject": "s", "Status": "Done"},
            {"Subject": "s", "Priority": "Urgent"},
            {"Subject": "s", "Due_Date": "2026-13-40"},
            {"Subject": "s", "Remind_At": {"ALARM": "ACTION=BEEP;TRIGGER=DATE-TIME:2026-12-03T09:00:00+09:00"}},
            {"Subject": "s", "Status": "not started"}
        ]}))
        .await;
    assert_eq!(bad.status, 207, "{}", bad.text);
    let d = bad.body["data"].as_array().unwrap();
    assert_eq!(d[0]["details"]["api_name"], "Subject");
    assert_eq!(d[1]["details"]["api_name"], "Status");
    assert_eq!(d[2]["details"]["api_name"], "Priority");
    assert_eq!(d[3]["details"]["api_name"], "Due_Date");
    assert_eq!(d[4]["details"]["api_name"], "Remind_At");
    assert_eq!(
        d[5]["code"], "SUCCESS",
        "picklists match case-insensitively"
    );
}

#[tokio::test]
async fn contacts_lookups_and_owner() {
    let env = start().await;
    let t = env.token(AIKO);
    let boss = env
        .post(&t, "/Contacts", json!({"data": [{"Last_Name": "Boss"}]}))
        .await;
    let boss_id = boss.body["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ben_id = env
        .get(&env.token(BEN), "/users?type=CurrentUser")
        .await
        .body["users"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = env
        .post(
            &t,
            "/Contacts",
            json!({"data": [
                {"Last_Name": "Report", "Reporting_To": {"id": boss_id}, "Owner": {"id": ben_id}},
                {"Last_Name": "Bad", "Reporting_To": {"id": "1"}},
                {"Last_Name": "Bad owner", "Owner": {"id": "1"}},
                {"Last_Name": "Bad account", "Account_Name": {"id": "1"}}
            ]}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text);
    let id = r.body["data"][0]["details"]["id"].as_str().unwrap();
    for i in 1..4 {
        assert_eq!(r.body["data"][i]["code"], "INVALID_DATA");
    }
    let g = env.get(&t, &format!("/Contacts/{id}")).await;
    let c = &g.body["data"][0];
    assert_eq!(c["Reporting_To"]["name"], "Boss");
    assert_eq!(
        env.delete(&t, &format!("/Contacts/{boss_id}")).await.status,
        200
    );
    let after = env.get(&t, &format!("/Contacts/{id}")).await;
    assert!(
        after.body["data"][0]["Reporting_To"].is_null(),
        "lookup to a deleted record is empty"
    );
    assert_eq!(c["Owner"]["email"], BEN);
    assert_eq!(c["Created_By"]["email"], AIKO);
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert!(
        keys.iter().any(|k| k.starts_with('$')),
        "read-only $ keys are present"
    );
    // $-keys and system fields in input are ignored, not stored
    let r = env.post(&t, "/Contacts", json!({"data": [{"Last_Name": "Sys", "Created_Time": "2001-01-01T00:00:00+00:00", "$state": "x", "Full_Name": "Fake"}]})).await;
    let id = r.body["data"][0]["details"]["id"].as_str().unwrap();
    let g = env.get(&t, &format!("/Contacts/{id}")).await;
    assert_eq!(g.body["data"][0]["Full_Name"], "Sys");
    assert!(!g.body["data"][0]["Created_Time"]
        .as_str()
        .unwrap()
        .starts_with("2001"));
}

#[tokio::test]
async fn credits_for_writes_are_one_per_ten_records() {
    let env = start().await;
    let t = env.token(AIKO);
    let used = || async {
        let c = env.control(Method::GET, "/counters", None).await;
        c.body["orgs"]
            .as_object()
            .unwrap()
            .values()
            .find(|o| o["dc"] == "us")
            .unwrap()["credits_used_24h"]
            .as_u64()
            .unwrap()
    };
    let before = used().await;
    let items: Vec<Value> = (0..25)
        .map(|i| json!({"Last_Name": format!("C{i}")}))
        .collect();
    env.post(&t, "/Contacts", json!({"data": items})).await;
    assert_eq!(used().await - before, 3);
    let before = used().await;
    env.get(&t, "/Contacts/deleted").await;
    assert_eq!(used().await - before, 2, "deleted records cost 2");
}

#[tokio::test]
async fn upsert_contacts_by_email_and_unsupported_modules() {
    let env = start().await;
    let t = env.token(AIKO);
    let r = env
        .post(
            &t,
            "/Contacts/upsert",
            json!({"data": [
            {"Last_Name": "Brown", "Email": "OLIVIA.BROWN@northwind.example", "Title": "VP"},
            {"Last_Name": "Newcomer", "Email": "new@example.com"},
            {"Email": "nobody@example.com"}
        ], "duplicate_check_fields": ["Email"]}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text);
    let d = r.body["data"].as_array().unwrap();
    assert_eq!(d[0]["action"], "update");
    assert_eq!(d[0]["duplicate_field"], "Email");
    assert_eq!(d[1]["action"], "insert");
    assert!(d[1]["duplicate_field"].is_null());
    assert_eq!(d[2]["code"], "MANDATORY_NOT_FOUND");
    assert_eq!(d[2]["details"]["json_path"], "$.data[2].Last_Name");
    let s = env
        .get(&t, "/Contacts/search?email=olivia.brown@northwind.example")
        .await;
    assert_eq!(s.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(s.body["data"][0]["Title"], "VP");
    let e = env
        .post(
            &t,
            "/Events/upsert",
            json!({"data": [{"Event_Title": "x"}]}),
        )
        .await;
    assert_error(&e, 400, "NOT_SUPPORTED");
    let bad = env
        .post(
            &t,
            "/Contacts/upsert",
            json!({"data": [{"Last_Name": "x"}], "duplicate_check_fields": ["Created_Time"]}),
        )
        .await;
    assert_error(&bad, 400, "INVALID_DATA");
    assert_error(
        &env.get(&t, "/Activities?fields=Subject").await,
        400,
        "API_NOT_SUPPORTED",
    );
}

#[tokio::test]
async fn if_unmodified_since_guards_updates() {
    let env = start().await;
    let t = env.token(AIKO);
    let c = env
        .post(&t, "/Contacts", json!({"data": [{"Last_Name": "Guarded"}]}))
        .await;
    let id = c.body["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let seen = c.body["data"][0]["details"]["Modified_Time"]
        .as_str()
        .unwrap()
        .to_string();
    env.sb.advance_clock(Duration::seconds(5));
    let url = format!("{}/Contacts/{id}", env.api("us"));
    let ok = env
        .send(
            Method::PUT,
            &url,
            Some(&t),
            Some(json!({"data": [{"Title": "A"}]})),
            &[("If-Unmodified-Since", &seen)],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let stale = env
        .send(
            Method::PUT,
            &format!("{}/Contacts", env.api("us")),
            Some(&t),
            Some(json!({"data": [{"id": id, "Title": "B"}]})),
            &[("If-Unmodified-Since", &seen)],
        )
        .await;
    assert_error(&stale, 412, "PRECONDITION_FAILED");
    let g = env.get(&t, &format!("/Contacts/{id}")).await;
    assert_eq!(g.body["data"][0]["Title"], "A", "nothing written on 412");
}

#[tokio::test]
async fn hundred_records_with_long_descriptions_fit_in_one_call() {
    let env = start().await;
    let t = env.token(AIKO);
    let text = "説明".repeat(16_000); // 32,000 characters, ~96 KB in UTF-8
    let items: Vec<Value> = (0..100)
        .map(|i| json!({"Last_Name": format!("L{i}"), "Description": text}))
        .collect();
    let r = env.post(&t, "/Contacts", json!({"data": items})).await;
    assert_eq!(r.status, 201);
    let too_long = format!("{text}x");
    let r = env
        .post(
            &t,
            "/Contacts",
            json!({"data": [{"Last_Name": "x", "Description": too_long}]}),
        )
        .await;
    assert_eq!(r.body["data"][0]["details"]["maximum_length"], 32000);
}

#[tokio::test]
async fn cancel_meeting_rules() {
    let env = start().await;
    let t = env.token(AIKO);
    let start = (env.sb.now() + Duration::days(2)).to_rfc3339();
    let end = (env.sb.now() + Duration::days(2) + Duration::hours(1)).to_rfc3339();
    let r = env
        .post(
            &t,
            "/Events",
            json!({"data": [
                {"Event_Title": "With guests", "Start_DateTime": start, "End_DateTime": end,
                 "Participants": [{"participant": "guest@example.com", "type": "email"}]},
                {"Event_Title": "Alone", "Start_DateTime": start, "End_DateTime": end}
            ]}),
        )
        .await;
    let with = r.body["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let alone = r.body["data"][1]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = env
        .post(
            &t,
            &format!("/Events/{with}/actions/cancel"),
            json!({"data": [{"send_cancelling_mail": true}]}),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["data"][0]["code"], "SUCCESS");
    let g = env.get(&t, &format!("/Events/{with}")).await;
    assert_eq!(g.body["data"][0]["$event_cancelled"], true);
    let mails = env.control(Method::GET, "/mails", None).await;
    assert!(mails.body["mails"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["kind"] == "meeting_cancellation" && m["to"] == "guest@example.com"));
    assert_error(
        &env.post(&t, &format!("/Events/{with}/actions/cancel"), json!({}))
            .await,
        400,
        "NOT_ALLOWED",
    );
    assert_error(
        &env.post(&t, &format!("/Events/{alone}/actions/cancel"), json!({}))
            .await,
        400,
        "NOT_ALLOWED",
    );
    assert_error(
        &env.post(&t, "/Events/1/actions/cancel", json!({})).await,
        400,
        "INVALID_DATA",
    );
}
