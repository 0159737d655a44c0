//! The Graph client against the sandbox's Microsoft 365 emulator, over real
//! HTTP on loopback.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Sandbox, AIKO};
use crmsync_graph::models::{
    Contact, DateTimeTimeZone, EmailAddress, Event, ItemBody, LinkedResource, MailMessage,
    Recipient, TodoTask,
};
use crmsync_graph::{BatchRequest, DeltaItem, ErrorClass, GraphError};
use serde_json::json;

fn contact(given: &str, surname: &str) -> Contact {
    Contact {
        given_name: Some(given.into()),
        surname: Some(surname.into()),
        display_name: Some(format!("{given} {surname}")),
        email_addresses: Some(vec![EmailAddress {
            name: Some(format!("{given} {surname}")),
            address: Some(format!(
                "{}.{}@customer.example",
                given.to_lowercase(),
                surname.to_lowercase()
            )),
        }]),
        ..Default::default()
    }
}

#[tokio::test]
async fn contacts_crud_stamp_and_if_match() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client(AIKO);

    let folder = g.create_contact_folder("CRM").await.unwrap();
    let fid = folder.id.clone().unwrap();
    assert!(g
        .list_contact_folders()
        .await
        .unwrap()
        .iter()
        .any(|f| f.id.as_deref() == Some(&fid)));
    let folders = g
        .delta_round::<crmsync_graph::models::ContactFolder>(&g.contact_folders_delta_url())
        .await
        .unwrap();
    assert!(folders
        .items
        .iter()
        .any(|i| matches!(i, DeltaItem::Changed(f) if f.id.as_deref() == Some(fid.as_str()))));

    let created = g
        .create_contact_stamped(Some(&fid), &contact("Kenji", "Mori"), "zcrm_1001")
        .await
        .unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(created.parent_folder_id.as_deref(), Some(fid.as_str()));

    // Found by its stamp, and the stamp reads back.
    let found = g
        .find_contact_by_stamp(Some(&fid), "zcrm_1001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id.as_deref(), Some(id.as_str()));
    assert!(g
        .find_contact_by_stamp(Some(&fid), "zcrm_other")
        .await
        .unwrap()
        .is_none());
    let read = g.get_contact_with_stamp(&id).await.unwrap();
    assert_eq!(
        g.stamp_of(read.single_value_extended_properties.as_deref())
            .as_deref(),
        Some("zcrm_1001")
    );

    // If-Match: the current etag passes, a stale one is a typed conflict.
    let etag = read.etag.clone().unwrap();
    let patch = Contact {
        job_title: Some("Buyer".into()),
        display_name: Some("Kenji Mori".into()),
        ..Default::default()
    };
    let updated = g.update_contact(&id, &patch, Some(&etag)).await.unwrap();
    assert_eq!(updated.job_title.as_deref(), Some("Buyer"));
    assert_ne!(updated.etag.as_deref(), Some(etag.as_str()));
    let err = g
        .update_contact(&id, &patch, Some(&etag))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Conflict, "{err}");
    assert_eq!(err.code(), Some("ErrorIrresolvableConflict"));

    // Invalid data is typed (4 e-mail addresses exceed the contact limit).
    let too_many = Contact {
        email_addresses: Some(
            (0..4)
                .map(|i| EmailAddress {
                    name: None,
                    address: Some(format!("a{i}@x.example")),
                })
                .collect(),
        ),
        ..Default::default()
    };
    let err = g.update_contact(&id, &too_many, None).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::InvalidData, "{err}");

    assert_eq!(g.list_contacts(Some(&fid)).await.unwrap().len(), 1);
    g.delete_contact(&id, None).await.unwrap();
    let err = g.get_contact(&id).await.unwrap_err();
    assert!(matches!(err, GraphError::NotFound { .. }), "{err}");
    g.delete_contact_folder(&fid).await.unwrap();

    // The default folder id is found through a contact's parentFolderId.
    assert!(g.default_contact_folder_id().await.unwrap().is_some());
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn contacts_delta_pages_removals_and_410() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client(AIKO);
    let folder = g.create_contact_folder("Delta").await.unwrap().id.unwrap();

    // 130 contacts through $batch (7 requests of ≤ 20 parts).
    let parts: Vec<BatchRequest> = (0..130)
        .map(|i| {
            BatchRequest::new(
                format!("c{i}"),
                "POST",
                g.mailbox_path(&format!("/contactFolders/{folder}/contacts")),
            )
            .with_body(serde_json::to_value(contact(&format!("P{i}"), "Delta")).unwrap())
        })
        .collect();
    let results = g.batch(parts).await.unwrap();
    assert_eq!(results.len(), 130);
    assert!(results
        .iter()
        .all(|r| r.result.as_ref().is_ok_and(|x| x.status == 201)));

    // First round: more than one page (default 100 per page), all 130 seen.
    let first_url = g.contacts_delta_url(Some(&folder));
    let first_page = g.delta_page::<Contact>(&first_url).await.unwrap();
    assert!(
        first_page.next_link.is_some(),
        "130 items need a second page"
    );
    let round = g.delta_round::<Contact>(&first_url).await.unwrap();
    let changed: Vec<&Contact> = round
        .items
        .iter()
        .filter_map(|i| match i {
            DeltaItem::Changed(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(changed.len(), 130);

    // Changes since: one update, one delete.
    let a = changed[0].id.clone().unwrap();
    let b = changed[1].id.clone().unwrap();
    g.update_contact(
        &a,
        &Contact {
            job_title: Some("CEO".into()),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    g.delete_contact(&b, None).await.unwrap();
    let next = g.delta_round::<Contact>(&round.delta_link).await.unwrap();
    assert!(next.items.iter().any(|i| matches!(i, DeltaItem::Changed(c) if c.id.as_deref() == Some(a.as_str()) && c.job_title.as_deref() == Some("CEO"))));
    assert!(next
        .items
        .iter()
        .any(|i| matches!(i, DeltaItem::Removed { id, .. } if *id == b)));
    assert!(!next
        .items
        .iter()
        .any(|i| matches!(i, DeltaItem::Changed(c) if c.id.as_deref() == Some(b.as_str()))));

    // Expired delta token → typed ResyncRequired.
    sb.control("POST", "/delta/expire", json!({"user": AIKO}))
        .await;
    let err = g
        .delta_round::<Contact>(&next.delta_link)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::ResyncRequired, "{err}");
    assert!(matches!(err, GraphError::ResyncRequired { .. }));
    // A full resync works again.
    assert_eq!(
        g.delta_round::<Contact>(&first_url)
            .await
            .unwrap()
            .items
            .len(),
        129
    );

    // A link to another host is refused before any token is sent.
    let err = g
        .delta_page::<Contact>("http://evil.example/graph/v1.0/me/contacts/delta")
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Argument(_)));
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn batch_results_per_part_in_order() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client(AIKO);
    let mut parts = vec![
        BatchRequest::new("ok", "POST", g.mailbox_path("/contacts"))
            .with_body(serde_json::to_value(contact("Batch", "One")).unwrap()),
        BatchRequest::new(
            "missing",
            "GET",
            g.mailbox_path("/contacts/AAMkAGI2THVSAAA="),
        ),
        BatchRequest::new("bad", "POST", g.mailbox_path("/contacts"))
            .with_body(json!({"noSuchProperty": 1})),
        BatchRequest::new("me", "GET", g.mailbox_path("")),
    ];
    parts.push(BatchRequest::new("Me", "GET", "/me"));
    assert!(
        matches!(g.batch(parts.clone()).await, Err(GraphError::Argument(_))),
        "duplicate ids refused"
    );
    parts.pop();
    let out = g.batch(parts).await.unwrap();
    let ids: Vec<&str> = out.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["ok", "missing", "bad", "me"]);
    assert_eq!(out[0].result.as_ref().unwrap().status, 201);
    assert_eq!(
        out[1].result.as_ref().unwrap_err().class(),
        ErrorClass::NotFound
    );
    assert_eq!(
        out[2].result.as_ref().unwrap_err().class(),
        ErrorClass::InvalidData
    );
    assert_eq!(
        out[3].result.as_ref().unwrap().body["userPrincipalName"],
        AIKO
    );
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn batch_inner_429_retried_after_retry_after() {
    let sb = Sandbox::start().await;
    // The client does not know the server's small window: inner 429s come.
    let (g, _) = sb.client(AIKO);
    sb.set_limits(4, 12, 2).await;
    let parts: Vec<BatchRequest> = (0..18)
        .map(|i| {
            BatchRequest::new(format!("p{i}"), "POST", g.mailbox_path("/contacts"))
                .with_body(serde_json::to_value(contact(&format!("T{i}"), "Throttle")).unwrap())
        })
        .collect();
    let started = Instant::now();
    let out = g.batch(parts).await.unwrap();
    assert!(
        out.iter()
            .all(|i| i.result.as_ref().is_ok_and(|r| r.status == 201)),
        "{out:?}"
    );
    // The throttled parts waited for the window (≥ 1 s) and were sent once more.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let c = sb.counters(AIKO).await;
    assert_eq!(c["total"], 18, "every part admitted exactly once: {c}");
    // 6 parts over the window, retried after each Retry-After (the emulator
    // rounds it down to whole seconds, so a second round can be early).
    let throttled = c["throttled"].as_u64().unwrap();
    assert!((6..=18).contains(&throttled), "{c}");
    let names: Vec<String> = g
        .list_contacts(None)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.surname)
        .filter(|s| s == "Throttle")
        .collect();
    assert_eq!(names.len(), 18, "no part lost, none duplicated");
    sb.running.shutdown().await.unwrap();
}

/// 240 reads from 16 tasks against a server window of 40 per 2 s.
async fn storm(budget: Option<(usize, Duration)>) -> (Duration, u64) {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client_with(AIKO, |c| {
        if let Some((n, w)) = budget {
            c.budget_requests = n;
            c.budget_window = w;
        }
    });
    g.me().await.unwrap(); // token minted before the clock starts
    sb.set_limits(4, 40, 2).await;
    sb.control("POST", "/counters/reset", json!({})).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let g = g.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                g.me().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let c = sb.counters(AIKO).await;
    assert_eq!(c["total"], 240, "{c}");
    let throttled = c["throttled"].as_u64().unwrap();
    sb.running.shutdown().await.unwrap();
    (elapsed, throttled)
}

#[tokio::test]
async fn throttle_storm_obeys_retry_after_without_a_retry_storm() {
    // Unaware of the server's window: 429s happen, are obeyed by every task.
    let (elapsed, throttled) = storm(None).await;
    // 240 requests at 40 per 2 s need at least 5 windows (10 s after the first).
    assert!(elapsed >= Duration::from_secs(9), "{elapsed:?}");
    assert!(
        elapsed <= Duration::from_secs(22),
        "throughput near the limit: {elapsed:?}"
    );
    // At most the 4 in-flight requests hit each closed window, twice because
    // the emulator rounds Retry-After down to whole seconds (a client that
    // ignored the pause across tasks saw 150+ here): no storm.
    assert!(throttled <= 4 * 2 * 6, "retry storm: {throttled} throttled");
}

#[tokio::test]
async fn throttle_budget_matched_to_the_server_avoids_429() {
    // A little wider window than the server's: the client counts a request
    // when it leaves, the server when it arrives.
    let (elapsed, throttled) = storm(Some((40, Duration::from_millis(2600)))).await;
    assert_eq!(throttled, 0);
    assert!(elapsed <= Duration::from_secs(22), "{elapsed:?}");
}

#[tokio::test]
async fn at_most_four_requests_in_flight() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client(AIKO);
    g.me().await.unwrap();
    sb.set_faults(json!({"latency_ms": 150})).await;
    sb.control("POST", "/counters/reset", json!({})).await;
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.me().await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let c = sb.counters(AIKO).await;
    assert_eq!(
        c["throttled"], 0,
        "the server's concurrency limit of 4 was never hit: {c}"
    );
    assert_eq!(c["total"], 24);
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn server_errors_retried_for_reads_and_typed_when_they_persist() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client_with(AIKO, |c| c.max_retries = 2);
    g.me().await.unwrap();
    // Persistent 500: a read is tried 3 times then fails typed.
    sb.set_faults(
        json!({"error_rate": 1.0, "error_status": 500, "error_code": "ErrorTooManyObjectsOpened"}),
    )
    .await;
    sb.control("POST", "/counters/reset", json!({})).await;
    let err = g.me().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Server);
    assert_eq!(err.code(), Some("ErrorTooManyObjectsOpened"));
    // A POST is not blindly repeated on a 500 (it may have been applied).
    let err = g
        .create_contact(None, &contact("No", "Repeat"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Server);
    let c = sb.counters(AIKO).await;
    assert_eq!(c["total"], 4, "3 tries of the read, 1 of the POST: {c}");

    // Intermittent 503 + Retry-After: every call eventually succeeds.
    let (g, _) = sb.client_with(AIKO, |c| c.max_retries = 8);
    sb.set_faults(json!({"error_rate": 0.3, "error_status": 503}))
        .await;
    for _ in 0..10 {
        g.me().await.unwrap();
    }
    sb.set_faults(json!({})).await;
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn timeout_after_commit_does_not_duplicate_creates() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client_with(AIKO, |c| c.request_timeout = Duration::from_millis(800));
    g.me().await.unwrap();

    // Contact: applied, answer lost (client timeout) → found by its stamp.
    sb.set_faults(json!({"timeout_after_commit": 1, "timeout_hang_ms": 2000}))
        .await;
    let c = g
        .create_contact_stamped(None, &contact("Lost", "Answer"), "zcrm_2001")
        .await
        .unwrap();
    let all = g.list_contacts(None).await.unwrap();
    assert_eq!(
        all.iter()
            .filter(|x| x.surname.as_deref() == Some("Answer"))
            .count(),
        1
    );
    assert_eq!(
        c.id,
        all.iter()
            .find(|x| x.surname.as_deref() == Some("Answer"))
            .unwrap()
            .id
    );

    // Event: applied, answered 504 → found by stamp / transactionId, no duplicate.
    sb.set_faults(json!({"timeout_after_commit": 1, "timeout_hang_ms": 50}))
        .await;
    let start = chrono::Utc::now() + chrono::Duration::days(3);
    let ev = Event {
        subject: Some("Quarterly review".into()),
        start: Some(DateTimeTimeZone::utc(start)),
        end: Some(DateTimeTimeZone::utc(start + chrono::Duration::hours(1))),
        ..Default::default()
    };
    let created = g
        .create_event_stamped(None, &ev, "zcrm_ev_1", "create-1")
        .await
        .unwrap();
    let found = g.find_event_by_stamp("zcrm_ev_1").await.unwrap().unwrap();
    assert_eq!(created.id, found.id);
    let round = g
        .delta_round::<Event>(&g.events_delta_url(
            None,
            start - chrono::Duration::days(1),
            start + chrono::Duration::days(1),
        ))
        .await
        .unwrap();
    let same: Vec<_> = round.items.iter().filter(|i| matches!(i, DeltaItem::Changed(e) if e.subject.as_deref() == Some("Quarterly review"))).collect();
    assert_eq!(same.len(), 1, "exactly one event");
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn expired_access_token_is_refreshed_once() {
    let sb = Sandbox::start().await;
    let (g, tokens) = sb.client(AIKO);
    g.me().await.unwrap();
    let first = tokens.current().unwrap();
    sb.control("POST", "/tokens/expire", json!({"user": AIKO}))
        .await;
    g.me().await.unwrap();
    assert_eq!(tokens.minted.load(Ordering::SeqCst), 2);
    assert_ne!(tokens.current().unwrap(), first);

    // A token that is always refused ends as a typed auth error, not a loop.
    let bad = crmsync_graph::GraphClient::new(
        crmsync_graph::GraphConfig::new(sb.graph_url()),
        std::sync::Arc::new(crmsync_graph::StaticToken("not-a-token".into())),
    )
    .unwrap();
    let err = bad.me().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth);
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn events_todo_users_and_mail() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client(AIKO);

    // Calendars and events.
    let cal = g.create_calendar("CRM").await.unwrap();
    let cal_id = cal.id.clone().unwrap();
    assert!(g.list_calendars().await.unwrap().len() >= 2);
    assert_eq!(
        g.default_calendar().await.unwrap().is_default_calendar,
        Some(true)
    );
    let start = chrono::Utc::now() + chrono::Duration::days(2);
    let ev = Event {
        subject: Some("Visit".into()),
        start: Some(DateTimeTimeZone::utc(start)),
        end: Some(DateTimeTimeZone::utc(start + chrono::Duration::minutes(30))),
        ..Default::default()
    };
    let e = g
        .create_event_stamped(Some(&cal_id), &ev, "zcrm_ev_9", "k")
        .await
        .unwrap();
    let eid = e.id.clone().unwrap();
    assert_eq!(e.start.as_ref().unwrap().time_zone, "UTC");
    let moved = g
        .update_event(
            &eid,
            &Event {
                subject: Some("Visit (moved)".into()),
                ..Default::default()
            },
            e.etag.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(moved.subject.as_deref(), Some("Visit (moved)"));
    assert_eq!(
        g.update_event(&eid, &Event::default(), e.etag.as_deref())
            .await
            .unwrap_err()
            .class(),
        ErrorClass::Conflict
    );
    let url = g.events_delta_url(
        Some(&cal_id),
        start - chrono::Duration::days(1),
        start + chrono::Duration::days(1),
    );
    let r = g.delta_round::<Event>(&url).await.unwrap();
    assert_eq!(r.items.len(), 1);
    g.delete_event(&eid, None).await.unwrap();
    let r2 = g.delta_round::<Event>(&r.delta_link).await.unwrap();
    assert!(r2
        .items
        .iter()
        .any(|i| matches!(i, DeltaItem::Removed { id, .. } if *id == eid)));
    g.delete_calendar(&cal_id).await.unwrap();

    // To Do with the CRM id in linkedResources.externalId.
    let lists = g.list_task_lists().await.unwrap();
    assert!(lists
        .iter()
        .any(|l| l.wellknown_list_name.as_deref() == Some("defaultList")));
    let list = g.create_task_list("CRM tasks").await.unwrap().id.unwrap();
    let lists_delta = g
        .delta_round::<crmsync_graph::models::TodoTaskList>(&g.task_lists_delta_url())
        .await
        .unwrap();
    assert!(lists_delta
        .items
        .iter()
        .any(|i| matches!(i, DeltaItem::Changed(l) if l.id.as_deref() == Some(list.as_str()))));
    let t = g
        .create_task(
            &list,
            &TodoTask {
                title: Some("Call back".into()),
                linked_resources: Some(vec![LinkedResource {
                    application_name: Some("CRM Sync".into()),
                    display_name: Some("Zoho task".into()),
                    external_id: Some("zcrm_t_1".into()),
                    web_url: None,
                    id: None,
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let tid = t.id.clone().unwrap();
    let found = g
        .find_task_by_external_id(&list, "zcrm_t_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id.as_deref(), Some(tid.as_str()));
    let done = g
        .update_task(
            &list,
            &tid,
            &TodoTask {
                status: Some("completed".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.status.as_deref(), Some("completed"));
    let td = g
        .delta_round::<TodoTask>(&g.tasks_delta_url(&list))
        .await
        .unwrap();
    assert_eq!(td.items.len(), 1);
    g.delete_task(&list, &tid).await.unwrap();
    assert_eq!(
        g.get_task(&list, &tid).await.unwrap_err().class(),
        ErrorClass::NotFound
    );
    g.delete_task_list(&list).await.unwrap();

    // Users and mail.
    let me = g.me().await.unwrap();
    assert_eq!(me.user_principal_name.as_deref(), Some(AIKO));
    assert!(g.list_users(None).await.unwrap().len() >= 7);
    let hits = g.list_users(Some("Ben")).await.unwrap();
    assert!(
        hits.iter()
            .any(|u| u.display_name.as_deref() == Some("Ben Carter")),
        "{hits:?}"
    );
    g.send_mail(
        &MailMessage {
            subject: "CRM Sync: connect your calendar".into(),
            body: ItemBody {
                content_type: "Text".into(),
                content: "Hello".into(),
            },
            to_recipients: vec![Recipient::address("ben.carter@sakura-demo.example")],
            cc_recipients: vec![],
        },
        false,
    )
    .await
    .unwrap();
    let inbox = sb
        .control(
            "GET",
            "/mailboxes/ben.carter@sakura-demo.example/inbox",
            json!(null),
        )
        .await;
    assert!(
        inbox
            .to_string()
            .contains("CRM Sync: connect your calendar"),
        "{inbox}"
    );
    sb.running.shutdown().await.unwrap();
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

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
        .with_env_filter("crmsync_graph=trace")
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sb = Sandbox::start().await;
    let (g, tokens) = sb.client_with(AIKO, |c| {
        c.mailbox = crmsync_graph::Mailbox::User(AIKO.into())
    });
    let c = g
        .create_contact_stamped(None, &contact("Sakura", "Yamada"), "zcrm_secret_77")
        .await
        .unwrap();
    g.find_contact_by_stamp(None, "zcrm_secret_77")
        .await
        .unwrap()
        .unwrap();
    g.update_contact(c.id.as_deref().unwrap(), &contact("Sakura", "Yamada"), None)
        .await
        .unwrap();
    g.list_users(Some("Haruto")).await.unwrap();
    let err = g.get_contact("AAMkAGI2THVSAAA=").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NotFound);
    let token = tokens.current().unwrap();
    sb.running.shutdown().await.unwrap();

    let log = String::from_utf8(captured.0.lock().clone()).unwrap();
    assert!(log.contains("graph request"), "requests are logged: {log}");
    assert!(log.contains("status=404"), "{log}");
    for secret in [
        token.as_str(),
        "Bearer",
        "Sakura",
        "Yamada",
        "zcrm_secret_77",
        "Haruto",
        AIKO,
        "customer.example",
    ] {
        assert!(!log.contains(secret), "log leaks {secret:?}:\n{log}");
    }
}

fn meeting(subject: &str, days_ahead: i64) -> Event {
    let start = chrono::Utc::now() + chrono::Duration::days(days_ahead);
    Event {
        subject: Some(subject.into()),
        start: Some(DateTimeTimeZone::utc(start)),
        end: Some(DateTimeTimeZone::utc(start + chrono::Duration::hours(1))),
        ..Default::default()
    }
}

/// Events with `subject` in a calendar (`/events` = the default calendar).
async fn events_titled(g: &crmsync_graph::GraphClient, collection: &str, subject: &str) -> usize {
    g.mailbox_list_json(collection)
        .await
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == subject)
        .count()
}

#[tokio::test]
async fn expired_access_token_is_refreshed_through_the_refresh_token_once() {
    let sb = Sandbox::start().await;
    let (g, tokens) = sb.refreshing_client(AIKO, |_| {}).await;
    g.me().await.unwrap();
    assert_eq!(tokens.refreshes(), 0, "the first token is used as minted");
    let first = tokens.current().unwrap();
    let first_refresh = tokens.refresh_token();

    sb.control("POST", "/tokens/expire", json!({"user": AIKO}))
        .await;
    sb.control("POST", "/counters/reset", json!({})).await;
    let asked = tokens.asked();
    let me = g.me().await.unwrap();
    assert_eq!(me.user_principal_name.as_deref(), Some(AIKO));
    assert_eq!(
        tokens.rejected(),
        vec![first.clone()],
        "token_rejected once"
    );
    assert_eq!(tokens.refreshes(), 1, "one refresh");
    assert_eq!(
        tokens.asked() - asked,
        2,
        "two attempts: the refused token, then one retry"
    );
    // The 401 is refused before admission: exactly the one retry got through.
    assert_eq!(sb.counters(AIKO).await["total"], 1);
    let second = tokens.current().unwrap();
    assert_ne!(second, first);
    assert_ne!(tokens.refresh_token(), first_refresh, "rotated and kept");

    // The new token is reused; a write after a refresh is sent once.
    let created = g.create_event(None, &meeting("After refresh", 4)).await;
    assert!(created.is_ok(), "{created:?}");
    assert_eq!(tokens.refreshes(), 1);
    assert_eq!(tokens.rejected().len(), 1);
    assert_eq!(events_titled(&g, "/events", "After refresh").await, 1);
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn dead_refresh_token_is_reconnect_needed_without_a_request_storm() {
    let sb = Sandbox::start().await;
    // Revoked (AADSTS70008) and expired (AADSTS700082) refresh tokens.
    for (kill, code) in [
        ("/refresh-tokens/revoke", "70008"),
        ("/refresh-tokens/expire", "700082"),
    ] {
        let (g, tokens) = sb.refreshing_client(AIKO, |_| {}).await;
        g.me().await.unwrap();
        sb.control("POST", kill, json!({"user": AIKO})).await;
        sb.control("POST", "/tokens/expire", json!({"user": AIKO}))
            .await;
        sb.control("POST", "/counters/reset", json!({})).await;
        let asked = tokens.asked();

        let err = g.me().await.unwrap_err();
        match &err {
            GraphError::ReconnectNeeded(why) => assert!(why.contains(code), "{why}"),
            other => panic!("{kill}: {other:?}"),
        }
        assert_eq!(err.class(), ErrorClass::Auth);
        assert_eq!(tokens.rejected().len(), 1, "{kill}");
        assert_eq!(tokens.refreshes(), 1, "{kill}: one refresh attempt");
        assert_eq!(
            tokens.asked() - asked,
            2,
            "{kill}: the 401, then the dead refresh"
        );

        // Later calls, many at once, reads and writes: each fails typed after
        // asking the provider once, without any HTTP request.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let g = g.clone();
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        g.me().await.map(|_| ())
                    } else {
                        g.create_event(None, &meeting("Never sent", 6))
                            .await
                            .map(|_| ())
                    }
                })
            })
            .collect();
        for t in tasks {
            let r = t.await.unwrap();
            assert!(matches!(r, Err(GraphError::ReconnectNeeded(_))), "{r:?}");
        }
        assert_eq!(tokens.asked() - asked, 2 + 8, "{kill}: one ask per call");
        assert_eq!(tokens.refreshes(), 1, "{kill}: no more token requests");
        assert_eq!(tokens.rejected().len(), 1, "{kill}");
        assert_eq!(
            sb.counters(AIKO).await["total"],
            0,
            "{kill}: nothing admitted"
        );
    }
    let (g, _) = sb.client(AIKO);
    assert_eq!(events_titled(&g, "/events", "Never sent").await, 0);
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn plain_event_create_and_get_event() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client(AIKO);
    let created = g
        .create_event(None, &meeting("Plain create", 5))
        .await
        .unwrap();
    let id = created.id.clone().unwrap();
    assert!(
        created.transaction_id.is_none(),
        "nothing set, nothing sent"
    );
    let got = g.get_event(&id).await.unwrap();
    assert_eq!(got.id.as_deref(), Some(id.as_str()));
    assert_eq!(got.subject.as_deref(), Some("Plain create"));
    assert_eq!(got.start.as_ref().unwrap().time_zone, "UTC");
    assert_eq!(got.start, created.start);
    assert!(got.etag.is_some());
    assert!(g
        .stamp_of(got.single_value_extended_properties.as_deref())
        .is_none());
    g.delete_event(&id, None).await.unwrap();
    let err = g.get_event(&id).await.unwrap_err();
    assert!(matches!(err, GraphError::NotFound { .. }), "{err}");
    sb.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn event_creates_carry_a_transaction_id_and_a_repeat_is_not_duplicated() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client(AIKO);
    g.me().await.unwrap();

    // A caller-set transactionId: the service commits, the answer is a 504.
    // The client does not repeat the POST on its own (it may have been applied).
    let tx = "5f0c7a2e-1d3b-4e8f-9a6c-0b1d2e3f4a5b";
    let mut ev = meeting("Budget meeting", 3);
    ev.transaction_id = Some(tx.into());
    sb.set_faults(json!({"timeout_after_commit": 1, "timeout_hang_ms": 50}))
        .await;
    sb.control("POST", "/counters/reset", json!({})).await;
    let err = g.create_event(None, &ev).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Server { status: 504, .. }),
        "{err:?}"
    );
    assert_eq!(sb.counters(AIKO).await["total"], 1, "no automatic re-POST");
    // The repeat carries the same transactionId: the event created first.
    let again = g.create_event(None, &ev).await.unwrap();
    assert_eq!(again.transaction_id.as_deref(), Some(tx));
    let read = g.get_event(again.id.as_deref().unwrap()).await.unwrap();
    assert_eq!(read.transaction_id.as_deref(), Some(tx));
    assert_eq!(events_titled(&g, "/events", "Budget meeting").await, 1);

    // create_event_stamped puts a deterministic transactionId on the POST: a
    // second call for the same create (same CRM id and key) is de-duplicated
    // by the service, a new key is a new create.
    let a = g
        .create_event_stamped(None, &meeting("Stamped", 3), "zcrm_ev_5", "key-1")
        .await
        .unwrap();
    let a_id = a.id.clone().unwrap();
    let tx_a = g.get_event(&a_id).await.unwrap().transaction_id.unwrap();
    assert!(uuid_like(&tx_a), "{tx_a}");
    let b = g
        .create_event_stamped(None, &meeting("Stamped", 3), "zcrm_ev_5", "key-1")
        .await
        .unwrap();
    assert_eq!(b.id.as_deref(), Some(a_id.as_str()));
    assert_eq!(events_titled(&g, "/events", "Stamped").await, 1);
    let c = g
        .create_event_stamped(None, &meeting("Stamped", 3), "zcrm_ev_5", "key-2")
        .await
        .unwrap();
    assert_ne!(c.id.as_deref(), Some(a_id.as_str()));
    assert_ne!(c.transaction_id.as_deref(), Some(tx_a.as_str()));
    sb.running.shutdown().await.unwrap();
}

fn uuid_like(s: &str) -> bool {
    let parts: Vec<usize> = s.split('-').map(str::len).collect();
    parts == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

#[tokio::test]
async fn lost_create_in_a_secondary_calendar_is_found_by_its_stamp_not_posted_again() {
    let sb = Sandbox::start().await;
    let (g, _) = sb.client(AIKO);
    let cal = g.create_calendar("CRM").await.unwrap().id.unwrap();

    // Committed, answered 504: the stamp lookup must search the calendar
    // the event was created in, and find it before any second POST.
    sb.set_faults(json!({"timeout_after_commit": 1, "timeout_hang_ms": 50}))
        .await;
    sb.control("POST", "/counters/reset", json!({})).await;
    let e = g
        .create_event_stamped(Some(&cal), &meeting("Lost in CRM", 2), "zcrm_ev_7", "k7")
        .await
        .unwrap();
    assert_eq!(
        sb.counters(AIKO).await["total"],
        2,
        "the POST and one lookup, no second POST"
    );
    assert_eq!(e.subject.as_deref(), Some("Lost in CRM"));
    assert_eq!(
        g.stamp_of(e.single_value_extended_properties.as_deref())
            .as_deref(),
        Some("zcrm_ev_7")
    );
    let in_cal = format!("/calendars/{cal}/events");
    assert_eq!(events_titled(&g, &in_cal, "Lost in CRM").await, 1);

    // Same with the answer lost to a client timeout.
    let (slow, _) = sb.client_with(AIKO, |c| c.request_timeout = Duration::from_millis(800));
    slow.me().await.unwrap();
    sb.set_faults(json!({"timeout_after_commit": 1, "timeout_hang_ms": 2500}))
        .await;
    sb.control("POST", "/counters/reset", json!({})).await;
    let t = slow
        .create_event_stamped(Some(&cal), &meeting("Timed out", 2), "zcrm_ev_8", "k8")
        .await
        .unwrap();
    assert_eq!(t.subject.as_deref(), Some("Timed out"));
    assert_eq!(sb.counters(AIKO).await["total"], 2);
    assert_eq!(events_titled(&g, &in_cal, "Timed out").await, 1);
    assert_eq!(events_titled(&g, "/events", "Timed out").await, 0);
    sb.running.shutdown().await.unwrap();
}
