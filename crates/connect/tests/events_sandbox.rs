//! Events sync end to end against the sandbox over real HTTP (in-process): CRM Events ⇄ the
//! "Zoho CRM" Outlook calendar.

mod common;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::{new_store_for, runner_round, AIKO, BEN};
use crmsync_connect::{connect_events, SystemClock, ZohoEvents};
use crmsync_core::event::EventRecord;
use crmsync_engine::{disable_module, ModuleKind, RoundOptions, RoundOutcome};
use reqwest::Method;
use serde_json::{json, Value};

const M: ModuleKind = ModuleKind::Events;

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A CRM event from now + `start_min` minutes, lasting an hour.
fn meeting(title: &str, start_min: i64) -> Value {
    let s = Utc::now() + Duration::minutes(start_min);
    json!({"Event_Title": title, "Start_DateTime": iso(s), "End_DateTime": iso(s + Duration::hours(1))})
}

type Env = common::ModuleEnv<ZohoEvents>;

impl Env {
    /// CRM events with this title.
    fn crm_by_title(&self, title: &str) -> Vec<Value> {
        let q = format!(
            "select id, Owner, Event_Title, Start_DateTime, End_DateTime, All_day, Venue from Events where Event_Title = '{title}'"
        );
        self.rt.block_on(self.zoho_client.coql(&q)).unwrap().0
    }

    /// Every event of the sync calendar (raw Graph JSON with the stamp).
    fn calendar_items(&self) -> Vec<Value> {
        let c = self
            .graph
            .calendar()
            .expect("calendar selected")
            .to_string();
        let rest = format!(
            "/calendars/{c}/events?$top=100&$expand={}",
            self.graph_client.stamp_expand()
        );
        self.rt
            .block_on(self.graph_client.mailbox_list_json(&rest))
            .unwrap()
    }

    /// The sorted CRM ids stamped on the calendar's events (each once, asserted).
    fn stamps(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .calendar_items()
            .iter()
            .map(|i| self.stamp(i).expect("every copy is stamped"))
            .collect();
        let n = s.len();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), n, "one copy per CRM event");
        s
    }

    fn item_by_stamp(&self, crm_id: &str) -> Option<Value> {
        self.calendar_items()
            .into_iter()
            .find(|i| self.stamp(i).as_deref() == Some(crm_id))
    }

    /// Invitations and cancellations the Graph mailbox of Aiko has sent.
    fn graph_invitations(&self) -> Vec<Value> {
        self.graph_ctl(
            Method::GET,
            &format!("/mailboxes/{AIKO}/invitations"),
            Value::Null,
        )["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn zoho_mails(&self) -> usize {
        self.zoho(Method::GET, "/mails", Value::Null)["mails"]
            .as_array()
            .map_or(0, Vec::len)
    }

    /// Deletes Aiko's seeded events, so a test controls every eligible event.
    fn clear_seeded_events(&self) {
        let q = crmsync_zoho::ListQuery {
            fields: vec!["Owner".into(), "Event_Title".into()],
            ..Default::default()
        };
        let all = self
            .rt
            .block_on(
                self.zoho_client
                    .list_all::<crmsync_zoho::models::ZEvent>(&q),
            )
            .unwrap();
        let mine: Vec<String> = all
            .iter()
            .filter(|e| e.owner.as_ref().and_then(|o| o.id.as_deref()) == Some(self.crm.user_id()))
            .filter_map(|e| e.id.clone())
            .collect();
        if !mine.is_empty() {
            self.zoho(
                Method::DELETE,
                &format!("/records/Events?as={AIKO}&ids={}", mine.join(",")),
                Value::Null,
            );
        }
    }
}

#[test]
fn enable_lands_exactly_the_owned_non_imported_events_without_invitations() {
    let mut env = Env::new();
    let mails_before = env.zoho_mails();
    let mine = env.crm_create(
        AIKO,
        "ui",
        (0..3)
            .map(|i| meeting(&format!("Mine {i}"), 60 * (i + 2)))
            .collect(),
    );
    let bens = env.crm_create(BEN, "ui", vec![meeting("Ben's meeting", 120)]);
    let imported = env.crm_create(
        AIKO,
        "import",
        vec![meeting("Imported A", 200), meeting("Imported B", -300)],
    );
    let mass = env.crm_create(
        AIKO,
        "import",
        vec![meeting("Imported then mass-updated", 400)],
    );
    let edited = env.crm_create(AIKO, "bulk_api", vec![meeting("Bulk then edited", 500)]);
    // A meeting with participants (a contact and an e-mail address).
    let with_people = env.crm_create(
        AIKO,
        "ui",
        vec![{
            let mut m = meeting("With participants", 600);
            m["Participants"] = json!([{"participant": "guest@outside.example", "type": "email"}]);
            m
        }],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.zoho(
        Method::POST,
        "/records/Events/mass_update",
        json!({"as": AIKO, "ids": mass, "data": {"Venue": "Hall B"}}),
    );
    env.crm_update(&edited[0], json!({"Description": "edited by hand"}));

    // The first round reports the seeded weekly series (never copied), as excluded by rule and
    // not as a failure.
    let first = env.round(RoundOptions::default());
    assert_eq!(
        first.outcome,
        RoundOutcome::Completed,
        "{:?}",
        first.failures
    );
    assert_eq!(env.crm.series().len(), 1, "the series is reported");
    assert!(
        env.crm.failures().is_empty(),
        "a series is no failure: {:?}",
        env.crm.failures()
    );
    let writes = first.writes + env.settle();
    assert!(writes >= 7, "{writes}");
    let stamps = env.stamps();
    for id in mine.iter().chain(&mass).chain(&edited).chain(&with_people) {
        assert!(stamps.contains(id), "{id} missing from {stamps:?}");
    }
    for id in bens.iter().chain(&imported) {
        assert!(!stamps.contains(id), "{id} must not sync");
    }
    // The seed: Aiko's own single events sync; her imported one, Ben's and Haruto's do not; her
    // weekly series is reported, not copied.
    let subjects: Vec<String> = env
        .calendar_items()
        .iter()
        .filter_map(|i| i["subject"].as_str().map(str::to_owned))
        .collect();
    for s in [
        "Northwind quarterly review",
        "Kick-off with Olivia",
        "展示会 (Tokyo Logistics Expo)",
    ] {
        assert!(subjects.iter().any(|x| x == s), "{s} missing: {subjects:?}");
    }
    for s in [
        "Imported: 2025 trade fair",
        "Lunch with Noah",
        "倉庫見学",
        "週次営業会議",
    ] {
        assert!(!subjects.iter().any(|x| x == s), "{s} must not sync");
    }
    // The CRM all-day event is an all-day event in Outlook, on the same day.
    let expo = env
        .calendar_items()
        .into_iter()
        .find(|i| i["subject"] == "展示会 (Tokyo Logistics Expo)")
        .unwrap();
    assert_eq!(expo["isAllDay"], true, "{expo}");
    // No attendee anywhere, no invitation mailed by either service.
    for i in env.calendar_items() {
        assert_eq!(i["attendees"], json!([]), "{i}");
    }
    let copy = env.item_by_stamp(&with_people[0]).unwrap();
    assert_eq!(copy["subject"], "With participants");
    assert!(
        env.graph_invitations().is_empty(),
        "{:?}",
        env.graph_invitations()
    );
    assert_eq!(env.zoho_mails(), mails_before);
    // The CRM meeting keeps its participants.
    let crm = env.crm_get(&with_people[0]).unwrap();
    assert!(crm.to_string().contains("guest@outside.example"), "{crm}");
    // A second round after convergence writes nothing.
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Completed);
    assert_eq!(r.writes, 0);
    assert!(r.plan.is_some_and(|p| p.is_empty()));
}

#[test]
fn first_sync_cap_takes_upcoming_events_first_then_the_most_recent_past_ones() {
    let mut env = Env::new();
    env.clear_seeded_events();
    env.crm.set_first_sync_cap(Some(4));
    let ids = env.crm_create(
        AIKO,
        "ui",
        vec![
            meeting("Future far", 60 * 48),
            meeting("Future soon", 60 * 5),
            meeting("Past recent", -60 * 4),
            meeting("Past old", -60 * 24 * 10),
            meeting("Past older", -60 * 24 * 20),
        ],
    );
    env.settle();
    let mut expected = vec![
        ids[0].clone(),
        ids[1].clone(),
        ids[2].clone(),
        ids[3].clone(),
    ];
    expected.sort();
    assert_eq!(
        env.stamps(),
        expected,
        "upcoming first, then the most recent past"
    );
    // A deferred event syncs once it changes in the CRM.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.crm_update(&ids[4], json!({"Venue": "Archive room"}));
    env.settle();
    assert!(env.stamps().contains(&ids[4]));
    assert_eq!(
        env.item_by_stamp(&ids[4]).unwrap()["location"]["displayName"],
        "Archive room"
    );
}

#[test]
fn edits_creates_and_deletes_propagate_per_the_rules() {
    let mut env = Env::new();
    let ids = env.crm_create(
        AIKO,
        "ui",
        (0..4)
            .map(|i| meeting(&format!("Prop {i}"), 90 + 60 * i))
            .collect(),
    );
    env.settle();
    let calendar = env.graph.calendar().unwrap().to_string();

    // CRM edit → Outlook; Outlook edit → CRM.
    env.crm_update(
        &ids[0],
        json!({"Event_Title": "Prop 0 renamed", "Venue": "Room 7"}),
    );
    let g1 = env.item_by_stamp(&ids[1]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let new_start = Utc::now() + Duration::days(3);
    env.graph_json(
        Method::PATCH,
        &format!("/calendars/{calendar}/events/{g1}"),
        Some(json!({
            "location": {"displayName": "Café Ueno"},
            "body": {"contentType": "text", "content": "Bring the samples.\nAnd the contract."},
            "start": {"dateTime": new_start.format("%Y-%m-%dT%H:%M:00").to_string(), "timeZone": "UTC"},
            "end": {"dateTime": (new_start + Duration::minutes(45)).format("%Y-%m-%dT%H:%M:00").to_string(), "timeZone": "UTC"}
        })),
    );
    // Outlook creates (timed and all-day) in the calendar → CRM events owned by the user.
    let day = (Utc::now() + Duration::days(20)).date_naive();
    env.graph_json(
        Method::POST,
        &format!("/calendars/{calendar}/events"),
        Some(json!({
            "subject": "From Outlook",
            "start": {"dateTime": "2031-05-06T07:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2031-05-06T08:00:00", "timeZone": "UTC"}
        })),
    );
    env.graph_json(
        Method::POST,
        &format!("/calendars/{calendar}/events"),
        Some(json!({
            "subject": "Outlook all-day", "isAllDay": true,
            "start": {"dateTime": format!("{day}T00:00:00"), "timeZone": "Tokyo Standard Time"},
            "end": {"dateTime": format!("{}T00:00:00", day + Duration::days(2)), "timeZone": "Tokyo Standard Time"}
        })),
    );
    // CRM delete → the Outlook copy goes.
    env.zoho(
        Method::DELETE,
        &format!("/records/Events?as={AIKO}&ids={}", ids[2]),
        Value::Null,
    );
    env.settle();

    let renamed = env.item_by_stamp(&ids[0]).unwrap();
    assert_eq!(renamed["subject"], "Prop 0 renamed");
    assert_eq!(renamed["location"]["displayName"], "Room 7");
    let c1 = env.crm_get(&ids[1]).unwrap();
    assert_eq!(c1["Venue"], "Café Ueno");
    assert_eq!(c1["Description"], "Bring the samples.\nAnd the contract.");
    let start = DateTime::parse_from_rfc3339(c1["Start_DateTime"].as_str().unwrap()).unwrap();
    assert_eq!(
        start
            .with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M")
            .to_string(),
        new_start.format("%Y-%m-%dT%H:%M").to_string()
    );
    let created = env.crm_by_title("From Outlook");
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["Owner"]["id"], env.crm.user_id());
    let start =
        DateTime::parse_from_rfc3339(created[0]["Start_DateTime"].as_str().unwrap()).unwrap();
    assert_eq!(iso(start.with_timezone(&Utc)), "2031-05-06T07:00:00Z");
    let all_day = env.crm_by_title("Outlook all-day");
    assert_eq!(all_day.len(), 1, "{all_day:?}");
    assert_eq!(all_day[0]["All_day"], true);
    let s = all_day[0]["Start_DateTime"].as_str().unwrap();
    let e = all_day[0]["End_DateTime"].as_str().unwrap();
    assert!(s.starts_with(&day.to_string()), "{s}");
    assert!(e.starts_with(&(day + Duration::days(1)).to_string()), "{e}");
    assert!(
        env.item_by_stamp(&ids[2]).is_none(),
        "a CRM delete removes the copy"
    );

    // Delete checkbox off: an Outlook delete only unlinks.
    let g3 = env.item_by_stamp(&ids[3]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.graph_json(
        Method::DELETE,
        &format!("/calendars/{calendar}/events/{g3}"),
        None,
    );
    env.settle();
    assert!(
        env.crm_get(&ids[3]).is_some(),
        "propagation off keeps the CRM event"
    );
    assert!(
        env.item_by_stamp(&ids[3]).is_none(),
        "and it is not pushed back"
    );

    // Delete checkbox on: an Outlook delete deletes the CRM event.
    env.store
        .set_delete_propagation(M, true, Utc::now())
        .unwrap();
    let g0 = env.item_by_stamp(&ids[0]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.graph_json(
        Method::DELETE,
        &format!("/calendars/{calendar}/events/{g0}"),
        None,
    );
    let r = env.round(RoundOptions {
        deletes_confirmed: true,
        ..Default::default()
    });
    assert_eq!(r.outcome, RoundOutcome::Completed, "{:?}", r.failures);
    env.settle();
    assert!(
        env.crm_get(&ids[0]).is_none(),
        "propagation on deletes the CRM event"
    );
    assert!(env.graph_invitations().is_empty());
}

#[test]
fn participants_never_reach_outlook_even_when_either_side_edits() {
    let mut env = Env::new();
    let mails_before = env.zoho_mails();
    let contact = env.zoho(
        Method::POST,
        "/records/Contacts",
        json!({"as": AIKO, "origin": "ui", "data": [{"Last_Name": "Guest", "Email": "guest.contact@t.example"}]}),
    )["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut m = meeting("Board meeting", 240);
    m["Participants"] = json!([
        {"participant": contact, "type": "contact"},
        {"participant": "someone@outside.example", "type": "email"}
    ]);
    let id = env.crm_create(AIKO, "ui", vec![m])[0].clone();
    env.settle();
    let copy = env.item_by_stamp(&id).unwrap();
    assert_eq!(copy["attendees"], json!([]));
    // Edits on both sides keep Outlook attendee-free and the CRM participants intact.
    env.crm_update(&id, json!({"Event_Title": "Board meeting (moved)"}));
    env.settle();
    let g = env.item_by_stamp(&id).unwrap();
    assert_eq!(g["subject"], "Board meeting (moved)");
    assert_eq!(g["attendees"], json!([]));
    let calendar = env.graph.calendar().unwrap().to_string();
    env.graph_json(
        Method::PATCH,
        &format!("/calendars/{calendar}/events/{}", g["id"].as_str().unwrap()),
        Some(json!({"location": {"displayName": "Board room"}})),
    );
    env.settle();
    let crm = env.crm_get(&id).unwrap();
    assert_eq!(crm["Venue"], "Board room");
    assert!(crm.to_string().contains("someone@outside.example"), "{crm}");
    assert_eq!(env.item_by_stamp(&id).unwrap()["attendees"], json!([]));
    assert!(
        env.graph_invitations().is_empty(),
        "{:?}",
        env.graph_invitations()
    );
    assert_eq!(
        env.zoho_mails(),
        mails_before,
        "no invitation mailed by the CRM either"
    );
}

#[test]
fn disabling_removes_the_calendar_and_a_deleted_calendar_disables_without_crm_deletes() {
    let mut env = Env::new();
    let ids = env.crm_create(
        AIKO,
        "ui",
        (0..3)
            .map(|i| meeting(&format!("Dis {i}"), 100 + i))
            .collect(),
    );
    env.settle();
    let present = |env: &Env| ids.iter().filter(|id| env.crm_get(id).is_some()).count();
    assert_eq!(env.stamps().iter().filter(|s| ids.contains(s)).count(), 3);
    let calendar = env.graph.calendar().unwrap().to_string();
    let cal = env.graph_json(Method::GET, &format!("/calendars/{calendar}"), None);
    assert_eq!(cal["name"], crmsync_connect::EVENTS_CALENDAR_NAME);

    // The user deletes the calendar in Outlook: the module disables, the CRM keeps everything.
    env.graph_json(Method::DELETE, &format!("/calendars/{calendar}"), None);
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Disabled);
    assert!(!env.store.module(M).unwrap().enabled);
    assert_eq!(present(&env), 3);

    // Re-enable: a new calendar with the copies again (found by stamp if it exists).
    env.store.enable(M, Utc::now()).unwrap();
    env.settle();
    assert_ne!(env.graph.calendar(), Some(calendar.as_str()));
    assert_eq!(env.stamps().iter().filter(|s| ids.contains(s)).count(), 3);

    // Disable: calendar gone, CRM intact.
    let calendar = env.graph.calendar().unwrap().to_string();
    let r =
        disable_module::<EventRecord, _>(&mut env.store, M, &mut env.graph, &SystemClock).unwrap();
    assert_eq!(r, Ok(()));
    assert!(!env.store.module(M).unwrap().enabled);
    let calendars = env
        .rt
        .block_on(env.graph_client.mailbox_list_json("/calendars"))
        .unwrap();
    assert!(calendars.iter().all(|c| c["id"] != calendar.as_str()));
    assert_eq!(present(&env), 3);
    assert!(env.graph_invitations().is_empty());
}

#[test]
fn the_calendar_is_found_again_by_its_stamp_not_by_name() {
    let mut env = Env::new();
    // A calendar of the user's own that happens to have the name is never taken over.
    let own = env.graph_json(
        Method::POST,
        "/calendars",
        Some(json!({"name": "Zoho CRM"})),
    );
    env.settle();
    let ours = env.graph.calendar().unwrap().to_string();
    assert_ne!(own["id"].as_str(), Some(ours.as_str()));
    // A fresh adapter (restart, or a re-enable whose store lost the id) finds ours by stamp.
    use crmsync_engine::ContainerPort;
    let (_, mut fresh) = env
        .rt
        .block_on(connect_events(
            env.graph_client.clone(),
            env.zoho_client.clone(),
            env.rt.handle().clone(),
        ))
        .unwrap();
    assert_eq!(
        fresh.find_container().unwrap().as_deref(),
        Some(ours.as_str())
    );
}

#[test]
fn a_graph_create_whose_answer_is_lost_is_not_duplicated() {
    let mut env = Env::new();
    env.clear_seeded_events();
    // The first round creates the calendar; then the next Graph write commits and answers 504.
    env.settle();
    let id = env.crm_create(AIKO, "ui", vec![meeting("Lost answer", 300)])[0].clone();
    env.graph_ctl(
        Method::PUT,
        "/faults",
        json!({"timeout_after_commit": 1, "timeout_hang_ms": 100}),
    );
    for _ in 0..3 {
        env.round(RoundOptions::default());
    }
    env.settle();
    let copies: Vec<Value> = env
        .calendar_items()
        .into_iter()
        .filter(|i| i["subject"] == "Lost answer")
        .collect();
    assert_eq!(copies.len(), 1, "exactly one Outlook copy: {copies:?}");
    assert_eq!(env.stamp(&copies[0]).as_deref(), Some(id.as_str()));
    let faults = env.graph_ctl(Method::GET, "/faults", Value::Null);
    assert_eq!(
        faults["timeout_after_commit"], 0,
        "the fault fired: {faults}"
    );
    let r = env.round(RoundOptions::default());
    assert_eq!(r.writes, 0);
}

#[test]
fn a_crm_create_whose_answer_is_lost_is_not_duplicated() {
    let mut env = Env::new();
    env.settle();
    let calendar = env.graph.calendar().unwrap().to_string();
    env.graph_json(
        Method::POST,
        &format!("/calendars/{calendar}/events"),
        Some(json!({
            "subject": "Lost CRM answer",
            "start": {"dateTime": "2030-01-02T03:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-02T04:00:00", "timeZone": "UTC"}
        })),
    );
    env.zoho(
        Method::PUT,
        "/faults",
        json!({"timeout_next_writes": 1, "hang_ms": 100}),
    );
    for _ in 0..3 {
        env.round(RoundOptions::default());
    }
    env.settle();
    assert_eq!(env.crm_by_title("Lost CRM answer").len(), 1);
    let counters = env.zoho(Method::GET, "/counters", Value::Null);
    assert_eq!(
        counters["injected_faults"].as_u64(),
        Some(1),
        "the fault fired: {counters}"
    );
    assert_eq!(env.round(RoundOptions::default()).writes, 0);
}

#[test]
fn outlook_series_are_reported_and_never_created_in_the_crm() {
    let mut env = Env::new();
    env.settle();
    let calendar = env.graph.calendar().unwrap().to_string();
    let day = (Utc::now() + Duration::days(2)).date_naive();
    env.graph_json(
        Method::POST,
        &format!("/calendars/{calendar}/events"),
        Some(json!({
            "subject": "Daily stand-up",
            "start": {"dateTime": format!("{day}T01:00:00"), "timeZone": "UTC"},
            "end": {"dateTime": format!("{day}T01:15:00"), "timeZone": "UTC"},
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": day.to_string(), "numberOfOccurrences": 3}
            }
        })),
    );
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Completed);
    assert!(!env.graph.series().is_empty(), "the series is reported");
    assert!(
        env.graph.failures().is_empty(),
        "{:?}",
        env.graph.failures()
    );
    env.settle();
    assert!(env.crm_by_title("Daily stand-up").is_empty());
    assert!(
        !env.graph.series().is_empty(),
        "still reported after later rounds"
    );
    // Deleting the series clears its health.
    let master = env
        .rt
        .block_on(
            env.graph_client
                .mailbox_list_json(&format!("/calendars/{calendar}/events")),
        )
        .unwrap()
        .into_iter()
        .find(|e| e["subject"] == "Daily stand-up")
        .unwrap();
    env.graph_json(
        Method::DELETE,
        &format!(
            "/calendars/{calendar}/events/{}",
            master["id"].as_str().unwrap()
        ),
        None,
    );
    env.settle();
    assert!(env.graph.series().is_empty(), "{:?}", env.graph.series());
}

#[test]
fn an_event_moved_out_of_the_window_is_not_taken_for_a_delete() {
    let mut env = Env::new();
    env.store
        .set_delete_propagation(M, true, Utc::now())
        .unwrap();
    let id = env.crm_create(AIKO, "ui", vec![meeting("Far away", 120)])[0].clone();
    env.settle();
    let calendar = env.graph.calendar().unwrap().to_string();
    let g = env.item_by_stamp(&id).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Four years ahead: beyond the window, so the delta reports it as removed.
    env.graph_json(
        Method::PATCH,
        &format!("/calendars/{calendar}/events/{g}"),
        Some(json!({
            "start": {"dateTime": "2030-12-24T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-12-24T11:00:00", "timeZone": "UTC"}
        })),
    );
    env.settle();
    let crm = env.crm_get(&id).expect("never deleted");
    let start = DateTime::parse_from_rfc3339(crm["Start_DateTime"].as_str().unwrap()).unwrap();
    assert_eq!(iso(start.with_timezone(&Utc)), "2030-12-24T10:00:00Z");
}

#[test]
fn through_the_module_interface_the_preview_writes_nothing_and_shows_series_as_excluded() {
    let env = Env::new();
    let ids = env.crm_create(AIKO, "ui", vec![meeting("Previewed", 90)]);
    let store = new_store_for(&env.dir.path().join("modules.db"), M);
    store.disable(M, Utc::now()).unwrap();
    let mut runner = env.runner(store);
    assert!(runner.is_connected(M));
    let calendars = |env: &Env| {
        env.rt
            .block_on(env.graph_client.mailbox_list_json("/calendars"))
            .unwrap()
            .len()
    };
    let before = calendars(&env);

    let digest = runner.preview(M, &SystemClock).unwrap();
    let plan = digest.plan.expect("a plan");
    assert!(plan.create_in_graph >= 5, "{plan:?}"); // the seed's four + ours
    assert!(
        plan.excluded.get("not_owner").copied().unwrap_or(0) >= 2,
        "{plan:?}"
    );
    assert!(
        plan.excluded.get("imported").copied().unwrap_or(0) >= 1,
        "{plan:?}"
    );
    assert!(plan.text.contains("Previewed"), "{}", plan.text);
    assert_eq!(calendars(&env), before, "a preview creates no calendar");
    // The seeded weekly series is counted among the exclusions, with its rule; no failure.
    assert_eq!(
        plan.excluded
            .get(crmsync_connect::events::SERIES_RULE)
            .copied(),
        Some(1),
        "{plan:?}"
    );
    assert!(digest.failures.is_empty(), "{:?}", digest.failures);
    assert!(env.graph_invitations().is_empty());

    runner.store.enable(M, Utc::now()).unwrap();
    let d = runner_round(&mut runner, M).unwrap();
    assert_eq!(d.outcome, RoundOutcome::Completed, "{d:?}");
    assert!(d.writes >= plan.create_in_graph, "{d:?}");
    assert_eq!(calendars(&env), before + 1);
    let d = runner_round(&mut runner, M).unwrap();
    assert!(d.in_sync(), "{d:?}");
    // The series stays excluded in later rounds too (it is still not synced), in the stored
    // health as well, and is never counted as failing.
    assert!(d.failures.is_empty(), "{:?}", d.failures);
    let health = runner
        .store
        .health(M, Some(crmsync_engine::HealthStatus::Excluded), None, 100)
        .unwrap();
    assert!(
        health
            .iter()
            .any(|h| h.detail.as_deref() == Some(crmsync_connect::events::SERIES_RULE)),
        "{health:?}"
    );
    assert_eq!(runner.store.module_counts(M).unwrap().failing, 0);
    assert!(ids.iter().all(|id| env.crm_get(id).is_some()));
}

#[test]
fn bad_input_fails_that_event_only() {
    let mut env = Env::new();
    env.settle();
    let calendar = env.graph.calendar().unwrap().to_string();
    let at = |h: u32| json!({"dateTime": format!("2027-02-03T{h:02}:00:00"), "timeZone": "UTC"});
    // Longer than the CRM's Event_Title limit: refused for this event, nothing truncated.
    let long = "長".repeat(300);
    env.graph_json(
        Method::POST,
        &format!("/calendars/{calendar}/events"),
        Some(json!({"subject": long, "start": at(1), "end": at(2)})),
    );
    env.graph_json(
        Method::POST,
        &format!("/calendars/{calendar}/events"),
        Some(json!({"subject": "Fine one 🎌 \u{200b}", "start": at(3), "end": at(4)})),
    );
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Completed);
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert!(
        matches!(&r.failures[0].error, crmsync_engine::PortError::Rejected(m) if m.contains("Event_Title")),
        "{:?}",
        r.failures
    );
    assert_eq!(env.crm_by_title("Fine one 🎌").len(), 1);
    assert!(env.crm_by_title(&"長".repeat(300)).is_empty());
}

#[test]
fn a_crm_change_leaves_the_outlook_formatting_it_does_not_touch() {
    let mut env = Env::new();
    let id = env.crm_create(AIKO, "ui", vec![meeting("Rich", 150)])[0].clone();
    env.settle();
    let calendar = env.graph.calendar().unwrap().to_string();
    let g = env.item_by_stamp(&id).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.graph_json(
        Method::PATCH,
        &format!("/calendars/{calendar}/events/{g}"),
        Some(json!({
            "body": {"contentType": "html", "content": "<p><b>Agenda</b></p><p>1. Prices &amp; terms</p>"},
            "location": {"displayName": "Sakura HQ", "address": {"city": "Tokyo", "street": "1-2-3 Marunouchi"}}
        })),
    );
    env.settle();
    let crm = env.crm_get(&id).unwrap();
    assert_eq!(crm["Description"], "Agenda\n1. Prices & terms");
    assert_eq!(crm["Venue"], "Sakura HQ");
    // Only the title changes in the CRM: Outlook keeps its HTML body and the address.
    env.crm_update(&id, json!({"Event_Title": "Rich (renamed)"}));
    env.settle();
    let item = env.item_by_stamp(&id).unwrap();
    assert_eq!(item["subject"], "Rich (renamed)");
    assert!(
        item["body"]["content"]
            .as_str()
            .unwrap()
            .contains("<b>Agenda</b>"),
        "{item}"
    );
    assert_eq!(item["location"]["address"]["city"], "Tokyo", "{item}");
    assert_eq!(env.round(RoundOptions::default()).writes, 0);
}

#[test]
fn an_expired_delta_relists_the_window_without_duplicates_or_writes() {
    let mut env = Env::new();
    env.crm_create(
        AIKO,
        "ui",
        (0..3)
            .map(|i| meeting(&format!("Expire {i}"), 70 + i))
            .collect(),
    );
    env.settle();
    let n = env.calendar_items().len();
    env.graph_ctl(Method::POST, "/delta/expire", json!({"user": AIKO}));
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Completed, "{:?}", r.failures);
    assert_eq!(r.writes, 0);
    assert_eq!(env.calendar_items().len(), n);
    // The relisted feed goes on: a later Outlook edit still reaches the CRM.
    let calendar = env.graph.calendar().unwrap().to_string();
    let item = env
        .calendar_items()
        .into_iter()
        .find(|i| i["subject"] == "Expire 1")
        .unwrap();
    env.graph_json(
        Method::PATCH,
        &format!(
            "/calendars/{calendar}/events/{}",
            item["id"].as_str().unwrap()
        ),
        Some(json!({"location": {"displayName": "After expiry"}})),
    );
    env.settle();
    let crm_id = env.stamp(&item).unwrap();
    assert_eq!(env.crm_get(&crm_id).unwrap()["Venue"], "After expiry");
}

#[test]
fn reminders_sync_both_ways_and_follow_a_moved_start() {
    let mut env = Env::new();
    let mut m = meeting("Reminded", 300);
    let start = DateTime::parse_from_rfc3339(m["Start_DateTime"].as_str().unwrap()).unwrap();
    m["Remind_At"] = json!(iso(start.with_timezone(&Utc) - Duration::minutes(30)));
    let ids = env.crm_create(AIKO, "ui", vec![m, meeting("No reminder", 320)]);
    env.settle();
    let g = env.item_by_stamp(&ids[0]).unwrap();
    assert_eq!(g["isReminderOn"], true);
    assert_eq!(g["reminderMinutesBeforeStart"], 30);
    let plain = env.item_by_stamp(&ids[1]).unwrap();
    assert_eq!(
        plain["isReminderOn"], false,
        "no Outlook default reminder is added"
    );
    // Outlook: the reminder changes and the event moves a day; the CRM follows both.
    let calendar = env.graph.calendar().unwrap().to_string();
    let new_start = start.with_timezone(&Utc) + Duration::days(1);
    env.graph_json(
        Method::PATCH,
        &format!("/calendars/{calendar}/events/{}", g["id"].as_str().unwrap()),
        Some(json!({
            "reminderMinutesBeforeStart": 10,
            "start": {"dateTime": new_start.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
            "end": {"dateTime": (new_start + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"}
        })),
    );
    env.settle();
    let crm = env.crm_get(&ids[0]).unwrap();
    let at = DateTime::parse_from_rfc3339(crm["Remind_At"].as_str().unwrap()).unwrap();
    assert_eq!(at.with_timezone(&Utc), new_start - Duration::minutes(10));
    assert_eq!(env.round(RoundOptions::default()).writes, 0);
}

#[test]
fn a_repeated_create_carries_the_same_transaction_id_and_lands_once() {
    use crmsync_core::CanonicalRecord;
    use crmsync_engine::RecordPort;
    let mut env = Env::new();
    env.settle();
    let id = env.crm_create(AIKO, "ui", vec![meeting("Twice", 500)])[0].clone();
    let record = env.crm.get(&id).unwrap().unwrap().record;
    // The same create sent again (an intent replayed after the stamp lookup missed it):
    // Graph recognises the transactionId and answers with the first event.
    let a = env.graph.create(&record, Some(&id)).unwrap();
    let b = env.graph.create(&record, Some(&id)).unwrap();
    assert_eq!(a.id, b.id);
    let copies: Vec<Value> = env
        .calendar_items()
        .into_iter()
        .filter(|i| i["subject"] == "Twice")
        .collect();
    assert_eq!(copies.len(), 1);
    assert!(copies[0]["transactionId"]
        .as_str()
        .is_some_and(|t| t.starts_with(&format!("crmsync:{id}:"))));
    // The feed (no extended properties) still knows it is the copy of this CRM event.
    let seen = env.graph.get(&a.id).unwrap().unwrap();
    assert_eq!(seen.stamp.as_deref(), Some(id.as_str()));
    assert_eq!(seen.record.hash(), record.hash());
}

#[test]
fn an_event_stamped_by_another_client_is_read_with_one_lookup() {
    use crmsync_engine::RecordPort;
    let mut env = Env::new();
    env.settle();
    let calendar = env.graph.calendar().unwrap().to_string();
    // Another client of ours (older build) created it: stamp property, foreign transactionId.
    let v = env.graph_json(
        Method::POST,
        &format!("/calendars/{calendar}/events"),
        Some(json!({
            "subject": "Foreign tx",
            "transactionId": "7f0c2a1e-0000-4000-8000-000000000001",
            "singleValueExtendedProperties": env.graph_client.stamp("999"),
            "start": {"dateTime": "2027-01-01T01:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-01-01T02:00:00", "timeZone": "UTC"}
        })),
    );
    let seen = env.graph.get(v["id"].as_str().unwrap()).unwrap().unwrap();
    assert_eq!(seen.stamp.as_deref(), Some("999"));
}
