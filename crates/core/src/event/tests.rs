//! Mapping tests: time zones, all-day events, bad dates, oversized fields, HTML bodies, and
//! that no participant ever reaches Graph.

use chrono::{FixedOffset, NaiveDate, TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::*;
use crate::error::RecordError;
use crate::record::CanonicalRecord;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn tokyo(_: NaiveDate) -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap()
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn crm_offsets_become_utc_and_match_graph_utc() {
    let crm = crm_to_canonical(&obj(json!({
        "Event_Title": "  Quarterly   review ",
        "Start_DateTime": "2026-11-25T10:00:00+09:00",
        "End_DateTime": "2026-11-25T11:30:00+09:00",
        "Venue": "Room 3",
        "Description": "Line one\r\nLine two  ",
        "Participants": [{"participant": "x@y.example", "type": "email"}]
    })))
    .unwrap();
    assert_eq!(crm.subject(), Some("Quarterly review"));
    assert_eq!(
        crm.when(),
        Some(When::Timed {
            start: Utc.with_ymd_and_hms(2026, 11, 25, 1, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 11, 25, 2, 30, 0).unwrap(),
        })
    );
    // The same event as Graph sends it (UTC, 7 fractional digits, HTML body).
    let graph = graph_to_canonical(&json!({
        "subject": "Quarterly review",
        "isAllDay": false,
        "start": {"dateTime": "2026-11-25T01:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T02:30:00.0000000", "timeZone": "UTC"},
        "location": {"displayName": "Room 3", "address": {}},
        "body": {"contentType": "html", "content": "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\nLine one<br>\r\nLine two\r\n</body>\r\n</html>\r\n"},
        "attendees": [{"emailAddress": {"address": "x@y.example"}}]
    }))
    .unwrap();
    assert_eq!(graph, crm);
    assert_eq!(graph.hash(), crm.hash());
    // Other offsets (negative, half hours) land on the same instant.
    let other = crm_to_canonical(&obj(json!({
        "Event_Title": "Quarterly review",
        "Start_DateTime": "2026-11-24T19:30:00-05:30",
        "End_DateTime": "2026-11-24T21:00:00-05:30",
        "Venue": "Room 3",
        "Description": "Line one\nLine two"
    })))
    .unwrap();
    assert_eq!(other, crm);
}

#[test]
fn a_non_utc_graph_time_is_a_clear_error_for_that_event() {
    let r = graph_to_canonical(&json!({
        "subject": "x",
        "start": {"dateTime": "2026-11-25T10:00:00", "timeZone": "Tokyo Standard Time"},
        "end": {"dateTime": "2026-11-25T11:00:00", "timeZone": "Tokyo Standard Time"}
    }));
    assert!(
        matches!(r, Err(RecordError::InvalidDate { ref field, .. }) if field == "start"),
        "{r:?}"
    );
}

#[test]
fn all_day_round_trips_between_both_representations() {
    // CRM: first day 00:00 to last day 23:59 in the user's zone.
    let crm = crm_to_canonical(&obj(json!({
        "Event_Title": "Expo",
        "Start_DateTime": "2026-12-05T00:00:00+09:00",
        "End_DateTime": "2026-12-06T23:59:00+09:00",
        "All_day": true
    })))
    .unwrap();
    assert_eq!(
        crm.when(),
        Some(When::AllDay {
            first: d(2026, 12, 5),
            last: d(2026, 12, 6)
        })
    );
    // Graph: midnight to midnight, end exclusive, whatever the zone label.
    let graph = graph_to_canonical(&json!({
        "subject": "Expo", "isAllDay": true,
        "start": {"dateTime": "2026-12-05T00:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-07T00:00:00.0000000", "timeZone": "UTC"}
    }))
    .unwrap();
    assert_eq!(graph, crm);
    // Back to Graph: midnight to the exclusive next midnight, in the user's zone.
    let g = canonical_to_graph(&crm, "Asia/Tokyo", false).unwrap();
    assert_eq!(g["isAllDay"], true);
    assert_eq!(
        g["start"],
        json!({"dateTime": "2026-12-05T00:00:00", "timeZone": "Asia/Tokyo"})
    );
    assert_eq!(
        g["end"],
        json!({"dateTime": "2026-12-07T00:00:00", "timeZone": "Asia/Tokyo"})
    );
    // Back to the CRM: 00:00 to 23:59 with the zone's offset on those days.
    let c = canonical_to_crm(&crm, None, &tokyo).unwrap();
    assert_eq!(c["Start_DateTime"], "2026-12-05T00:00:00+09:00");
    assert_eq!(c["End_DateTime"], "2026-12-06T23:59:00+09:00");
    assert_eq!(c["All_day"], true);
    assert_eq!(crm_to_canonical(&c).unwrap(), crm);
    // A CRM all-day written midnight-to-midnight (exclusive end) reads the same.
    let excl = crm_to_canonical(&obj(json!({
        "Event_Title": "Expo",
        "Start_DateTime": "2026-12-05T00:00:00+09:00",
        "End_DateTime": "2026-12-07T00:00:00+09:00",
        "All_day": true
    })))
    .unwrap();
    assert_eq!(excl, crm);
    // A one-day Graph all-day event.
    let one = graph_to_canonical(&json!({
        "isAllDay": true,
        "start": {"dateTime": "2026-12-05T00:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2026-12-06T00:00:00", "timeZone": "Pacific Standard Time"}
    }))
    .unwrap();
    assert_eq!(
        one.when(),
        Some(When::AllDay {
            first: d(2026, 12, 5),
            last: d(2026, 12, 5)
        })
    );
}

#[test]
fn timed_events_round_trip_to_both_sides() {
    let r = EventRecord::new(
        Some("Call"),
        When::timed(
            Utc.with_ymd_and_hms(2026, 3, 29, 0, 30, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap(),
        ),
        None,
        Some("a\n\nb"),
    )
    .unwrap();
    let c = canonical_to_crm(&r, None, &tokyo).unwrap();
    assert_eq!(c["Start_DateTime"], "2026-03-29T00:30:00+00:00");
    assert_eq!(c["All_day"], false);
    assert!(!c.contains_key("Venue"), "a create sends no empty fields");
    assert_eq!(crm_to_canonical(&c).unwrap(), r);
    let g = canonical_to_graph(&r, "UTC", false).unwrap();
    assert_eq!(
        g["start"],
        json!({"dateTime": "2026-03-29T00:30:00", "timeZone": "UTC"})
    );
    assert_eq!(
        g["body"],
        json!({"contentType": "text", "content": "a\n\nb"})
    );
    assert!(!g.contains_key("attendees"));
    assert_eq!(graph_to_canonical(&Value::Object(g)).unwrap(), r);
}

#[test]
fn updates_send_only_what_changed_and_clear_emptied_fields() {
    let current = obj(json!({
        "id": "1", "Event_Title": "Old", "Venue": "Room",
        "Start_DateTime": "2026-11-25T10:00:00+09:00", "End_DateTime": "2026-11-25T11:00:00+09:00",
        "All_day": false, "Description": null,
        "Participants": [{"participant": "p@x.example", "type": "email"}]
    }));
    let mut r = crm_to_canonical(&current).unwrap();
    let mut f = r.fields().clone();
    f.insert("subject".into(), crate::FieldValue::Text("New".into()));
    f.remove("location");
    r = EventRecord::from_fields(f).unwrap();
    let patch = canonical_to_crm(&r, Some(&current), &tokyo).unwrap();
    assert_eq!(patch.get("Event_Title"), Some(&json!("New")));
    assert_eq!(patch.get("Venue"), Some(&Value::Null));
    assert!(!patch.contains_key("Start_DateTime"));
    assert!(!patch.contains_key("Participants"));
    assert!(
        !patch.keys().any(|k| k.starts_with('$')),
        "no notification flag: {patch:?}"
    );
    // Graph PATCH clears the emptied location and never carries attendees.
    let g = canonical_to_graph(&r, "UTC", true).unwrap();
    assert_eq!(g["location"], json!({"displayName": ""}));
    assert!(!g.contains_key("attendees"));
}

#[test]
fn bad_dates_are_per_record_errors() {
    let base = json!({"Event_Title": "x", "Start_DateTime": "2026-11-25T10:00:00+09:00", "End_DateTime": "2026-11-25T11:00:00+09:00"});
    for (k, v) in [
        ("Start_DateTime", json!("2026-13-45T10:00:00+09:00")),
        ("End_DateTime", json!("tomorrow")),
        ("End_DateTime", json!("2026-11-25T09:00:00+09:00")), // before the start
    ] {
        let mut o = obj(base.clone());
        o.insert(k.into(), v.clone());
        let r = crm_to_canonical(&o);
        assert!(
            matches!(r, Err(RecordError::InvalidDate { .. })),
            "{k}={v}: {r:?}"
        );
    }
    let mut o = obj(base.clone());
    o.remove("Start_DateTime");
    assert!(matches!(
        crm_to_canonical(&o),
        Err(RecordError::MissingMandatory { .. })
    ));
    let mut o = obj(base);
    o.insert("All_day".into(), json!(3));
    assert!(matches!(
        crm_to_canonical(&o),
        Err(RecordError::TypeMismatch { .. })
    ));
    let r = graph_to_canonical(&json!({
        "start": {"dateTime": "2026-02-30T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-01T10:00:00", "timeZone": "UTC"}
    }));
    assert!(matches!(r, Err(RecordError::InvalidDate { .. })), "{r:?}");
    assert!(matches!(
        graph_to_canonical(&json!([1])),
        Err(RecordError::NotAnObject)
    ));
    assert!(When::parse("2026-01-02/2026-01-01").is_err());
    assert!(When::parse("garbage").is_err());
}

#[test]
fn an_oversized_subject_is_refused_not_truncated() {
    let long = "é".repeat(MAX_CRM_TITLE + 1);
    let r = graph_to_canonical(&json!({
        "subject": long,
        "start": {"dateTime": "2026-11-25T01:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T02:00:00", "timeZone": "UTC"}
    }))
    .unwrap();
    assert_eq!(
        r.subject().map(|s| s.chars().count()),
        Some(MAX_CRM_TITLE + 1)
    );
    assert_eq!(
        canonical_to_crm(&r, None, &tokyo),
        Err(RecordError::TooLong {
            field: "Event_Title".into(),
            len: MAX_CRM_TITLE + 1,
            max: MAX_CRM_TITLE
        })
    );
    // Graph takes it as is.
    assert!(canonical_to_graph(&r, "UTC", false).is_ok());
}

#[test]
fn an_untitled_outlook_event_gets_a_placeholder_title_in_the_crm() {
    let r = graph_to_canonical(&json!({
        "subject": "",
        "start": {"dateTime": "2026-11-25T01:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T02:00:00", "timeZone": "UTC"}
    }))
    .unwrap();
    assert_eq!(r.subject(), None);
    assert_eq!(
        canonical_to_crm(&r, None, &tokyo).unwrap()["Event_Title"],
        UNTITLED
    );
}

#[test]
fn series_are_recognised_on_both_sides() {
    assert!(crm_is_recurring(&obj(
        json!({"Recurring_Activity": {"RRULE": "FREQ=DAILY;INTERVAL=1"}})
    )));
    assert!(!crm_is_recurring(&obj(json!({"Recurring_Activity": null}))));
    assert_eq!(
        graph_series_kind(&json!({"type": "occurrence", "seriesMasterId": "m"})),
        Some("occurrence")
    );
    assert_eq!(graph_series_kind(&json!({"type": "singleInstance"})), None);
}

#[test]
fn canonical_form_is_validated_and_serde_round_trips() {
    let r = EventRecord::new(
        Some("x"),
        When::all_day(d(2026, 1, 1), d(2026, 1, 1)),
        Some(" "),
        None,
    )
    .unwrap();
    assert_eq!(r.location(), None);
    assert_eq!(r.text("when"), Some("2026-01-01/2026-01-01"));
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<EventRecord>(&json).unwrap(), r);
    let mut f = crate::FieldMap::new();
    f.insert("attendees".into(), crate::FieldValue::Text("a".into()));
    assert!(matches!(
        EventRecord::from_fields(f),
        Err(RecordError::UnknownField(_))
    ));
    let mut f = crate::FieldMap::new();
    f.insert(
        "when".into(),
        crate::FieldValue::Text("2026-01-01T10:00:00+09:00/2026-01-01T11:00:00+09:00".into()),
    );
    assert_eq!(
        EventRecord::from_fields(f).unwrap().text("when"),
        Some("2026-01-01T01:00:00Z/2026-01-01T02:00:00Z")
    );
    assert_eq!(r.natural_key(), None);
    assert_eq!(r.label(), "x (2026-01-01)");
}

#[test]
fn html_bodies_read_as_text() {
    assert_eq!(
        html_to_text("<p>Hello&nbsp;<b>you</b></p><p>a &amp; b &lt;c&gt;</p>"),
        "Hello you\na & b <c>\n"
    );
    assert_eq!(
        html_to_text("<html><head><style>p{}</style></head><body>x</body></html>"),
        "x"
    );
}

#[test]
fn reminders_are_minutes_before_the_start_on_both_sides() {
    let crm = crm_to_canonical(&obj(json!({
        "Event_Title": "Call",
        "Start_DateTime": "2026-11-25T10:00:00+09:00",
        "End_DateTime": "2026-11-25T11:00:00+09:00",
        "Remind_At": "2026-11-25T09:45:00+09:00"
    })))
    .unwrap();
    assert_eq!(crm.reminder(), Some(15));
    let graph = graph_to_canonical(&json!({
        "subject": "Call",
        "start": {"dateTime": "2026-11-25T01:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T02:00:00", "timeZone": "UTC"},
        "isReminderOn": true, "reminderMinutesBeforeStart": 15
    }))
    .unwrap();
    assert_eq!(graph, crm);
    // Off in Outlook (its default is on, 15 minutes) is no reminder; sent explicitly.
    let off = graph_to_canonical(&json!({
        "start": {"dateTime": "2026-11-25T01:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T02:00:00", "timeZone": "UTC"},
        "isReminderOn": false, "reminderMinutesBeforeStart": 15
    }))
    .unwrap();
    assert_eq!(off.reminder(), None);
    let g = canonical_to_graph(&off, "UTC", false).unwrap();
    assert_eq!(g["isReminderOn"], false);
    let g = canonical_to_graph(&crm, "UTC", false).unwrap();
    assert_eq!(
        (
            g["isReminderOn"].clone(),
            g["reminderMinutesBeforeStart"].clone()
        ),
        (json!(true), json!(15))
    );
    // The CRM's absolute time follows the start when the event moves.
    let current = obj(json!({
        "Event_Title": "Call",
        "Start_DateTime": "2026-11-25T10:00:00+09:00",
        "End_DateTime": "2026-11-25T11:00:00+09:00",
        "Remind_At": "2026-11-25T09:45:00+09:00"
    }));
    let moved = EventRecord::new(
        Some("Call"),
        When::timed(
            Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap(),
        ),
        None,
        None,
    )
    .unwrap()
    .with_reminder(Some(15));
    let patch = canonical_to_crm(&moved, Some(&current), &tokyo).unwrap();
    assert_eq!(patch["Remind_At"], "2026-11-26T00:45:00+00:00");
    // Removed on one side: cleared in the CRM.
    let none = moved.clone().with_reminder(None);
    let mut cur = current.clone();
    cur.insert("Start_DateTime".into(), json!("2026-11-26T10:00:00+09:00"));
    cur.insert("End_DateTime".into(), json!("2026-11-26T11:00:00+09:00"));
    assert_eq!(
        canonical_to_crm(&none, Some(&cur), &tokyo).unwrap()["Remind_At"],
        Value::Null
    );
    // All-day: relative to local midnight of the first day.
    let all_day = EventRecord::new(
        Some("Expo"),
        When::all_day(d(2026, 12, 5), d(2026, 12, 5)),
        None,
        None,
    )
    .unwrap()
    .with_reminder(Some(60 * 15));
    let c = canonical_to_crm(&all_day, None, &tokyo).unwrap();
    assert_eq!(c["Remind_At"], "2026-12-04T09:00:00+09:00");
    assert_eq!(crm_to_canonical(&c).unwrap(), all_day);
    // Nonsense is a per-record error.
    let bad = graph_to_canonical(&json!({
        "start": {"dateTime": "2026-11-25T01:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T02:00:00", "timeZone": "UTC"},
        "isReminderOn": true, "reminderMinutesBeforeStart": -5
    }));
    assert!(
        matches!(bad, Err(RecordError::TypeMismatch { .. })),
        "{bad:?}"
    );
}
