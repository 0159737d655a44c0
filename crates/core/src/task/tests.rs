//! Tests of the canonical task and its fixed mapping.

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use super::mapping::html_text_for_tests;
use super::*;
use crate::error::RecordError;
use crate::record::CanonicalRecord;
use crate::value::{FieldMap, FieldValue};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn m() -> TaskMapping {
    TaskMapping::default()
}

fn date(y: i32, mo: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, mo, d).unwrap()
}

#[test]
fn crm_task_projects_onto_the_canonical_task() {
    let r = m()
        .crm_to_canonical(&obj(json!({
            "id": "1", "Subject": "  Send   quote ", "Due_Date": "2026-11-27",
            "Status": "Waiting for input", "Priority": "Highest",
            "Description": "line one\r\n\r\nline two  \n", "Owner": {"id": "9"}
        })))
        .unwrap();
    assert_eq!(r.title(), Some("Send quote"));
    assert_eq!(r.due(), Some(date(2026, 11, 27)));
    assert_eq!(r.status(), Some(TodoStatus::WaitingOnOthers));
    assert_eq!(r.importance(), Some(TodoImportance::High));
    assert_eq!(r.text("body"), Some("line one\n\nline two"));
    assert_eq!(r.natural_key(), None);
    assert_eq!(r.label(), "Send quote");
}

#[test]
fn todo_task_projects_onto_the_same_canonical_task() {
    let crm = m()
        .crm_to_canonical(&obj(json!({
            "Subject": "Send quote", "Due_Date": "2026-11-27", "Status": "In Progress",
            "Priority": "Low", "Description": "a\nb"
        })))
        .unwrap();
    let graph = m()
        .graph_to_canonical(&json!({
            "id": "T", "title": "Send quote ",
            "dueDateTime": {"dateTime": "2026-11-27T00:00:00.0000000", "timeZone": "UTC"},
            "status": "inProgress", "importance": "low",
            "body": {"content": "a\r\nb", "contentType": "text"}
        }))
        .unwrap();
    assert_eq!(crm, graph);
    assert_eq!(crm.hash(), graph.hash());
}

#[test]
fn due_dates_compare_by_date_only() {
    // To Do truncates a due time; any time of the same day is the same due date.
    let a = m()
        .graph_to_canonical(&json!({"title": "x",
            "dueDateTime": {"dateTime": "2026-03-01T17:45:00", "timeZone": "Tokyo Standard Time"}}))
        .unwrap();
    let b = m()
        .crm_to_canonical(&obj(json!({"Subject": "x", "Due_Date": "2026-03-01"})))
        .unwrap();
    assert_eq!(a, b);
    let out = m().canonical_to_graph(&b, None).unwrap();
    assert_eq!(
        out["dueDateTime"],
        json!({"dateTime": "2026-03-01T00:00:00", "timeZone": "UTC"})
    );
}

#[test]
fn every_default_status_round_trips_losslessly() {
    for s in TodoStatus::ALL {
        let crm = m()
            .crm_to_canonical(&obj(json!({"Subject": "x", "Status": s.crm_default()})))
            .unwrap();
        assert_eq!(crm.status(), Some(s));
        let graph_out = m().canonical_to_graph(&crm, None).unwrap();
        assert_eq!(graph_out["status"], s.as_todo());
        let back = m()
            .graph_to_canonical(&json!({"title": "x", "status": s.as_todo()}))
            .unwrap();
        let crm_out = m().canonical_to_crm(&back, None).unwrap();
        assert_eq!(crm_out["Status"], s.crm_default(), "{s:?}");
    }
}

#[test]
fn a_round_trip_never_clobbers_a_crm_value_without_a_to_do_twin() {
    for (priority, class) in [
        ("Highest", "high"),
        ("High", "high"),
        ("Lowest", "low"),
        ("Low", "low"),
        ("Normal", "normal"),
    ] {
        let current =
            obj(json!({"Subject": "x", "Priority": priority, "Status": "Blocked by legal"}));
        let crm = m().crm_to_canonical(&current).unwrap();
        assert_eq!(crm.importance().map(TodoImportance::as_todo), Some(class));
        // A custom status has no twin: it reads as notStarted...
        assert_eq!(crm.status(), Some(TodoStatus::NotStarted));
        // ...and To Do echoing the same classes writes nothing back.
        let graph = m()
            .graph_to_canonical(&json!({"title": "x", "importance": class, "status": "notStarted"}))
            .unwrap();
        let patch = m().canonical_to_crm(&graph, Some(&current)).unwrap();
        assert!(patch.is_empty(), "{priority}: {patch:?}");
    }
    // A change of class in To Do is written with the CRM's value for the new class.
    let current = obj(json!({"Subject": "x", "Priority": "Highest", "Status": "Blocked"}));
    let graph = m()
        .graph_to_canonical(&json!({"title": "x", "importance": "low", "status": "completed"}))
        .unwrap();
    let patch = m().canonical_to_crm(&graph, Some(&current)).unwrap();
    assert_eq!(patch.get("Priority"), Some(&json!("Low")));
    assert_eq!(patch.get("Status"), Some(&json!("Completed")));
    assert_eq!(patch.len(), 2, "{patch:?}");
}

#[test]
fn empty_status_and_priority_read_as_defaults_and_stay_empty() {
    let current = obj(json!({"Subject": "x", "Status": null, "Priority": null}));
    let crm = m().crm_to_canonical(&current).unwrap();
    let graph = m().graph_to_canonical(&json!({"title": "x"})).unwrap();
    assert_eq!(crm, graph);
    assert!(m()
        .canonical_to_crm(&graph, Some(&current))
        .unwrap()
        .is_empty());
}

#[test]
fn the_orgs_picklist_spelling_is_used() {
    let org = TaskMapping::new(
        vec![
            "-None-".into(),
            "Not Started".into(),
            "Waiting for Input".into(),
            "Completed".into(),
        ],
        vec!["Urgent".into(), "Highest".into(), "Normal".into()],
    );
    assert_eq!(
        org.crm_status_value(TodoStatus::WaitingOnOthers).unwrap(),
        "Waiting for Input"
    );
    // No "High" in this org: its first value of the class.
    assert_eq!(
        org.crm_priority_value(TodoImportance::High).unwrap(),
        "Highest"
    );
    // No value of a class at all: a clear per-record error.
    assert!(matches!(
        org.crm_status_value(TodoStatus::Deferred),
        Err(RecordError::TypeMismatch { .. })
    ));
    assert!(matches!(
        org.crm_priority_value(TodoImportance::Low),
        Err(RecordError::TypeMismatch { .. })
    ));
}

#[test]
fn crm_update_writes_only_what_changed_and_clears_with_null() {
    let current = obj(
        json!({"Subject": "Old", "Due_Date": "2026-01-02", "Status": "Not Started",
        "Priority": "Normal", "Description": "keep"}),
    );
    let mut f = m().crm_to_canonical(&current).unwrap().fields().clone();
    f.insert("title".into(), FieldValue::Text("New".into()));
    f.remove("dueDateTime");
    let rec = TaskRecord::from_fields(f).unwrap();
    let patch = m().canonical_to_crm(&rec, Some(&current)).unwrap();
    assert_eq!(
        Value::Object(patch),
        json!({"Subject": "New", "Due_Date": null})
    );
}

#[test]
fn crm_create_writes_every_field() {
    let rec = m()
        .graph_to_canonical(&json!({"title": "From To Do", "status": "deferred",
            "importance": "high", "body": {"content": "<p>Hello &amp; bye</p>", "contentType": "html"},
            "dueDateTime": {"dateTime": "2026-05-06T00:00:00.0000000", "timeZone": "UTC"}}))
        .unwrap();
    let body = m().canonical_to_crm(&rec, None).unwrap();
    assert_eq!(
        Value::Object(body),
        json!({"Subject": "From To Do", "Due_Date": "2026-05-06", "Status": "Deferred",
               "Priority": "High", "Description": "Hello & bye"})
    );
}

#[test]
fn graph_update_sends_only_changes() {
    let current = json!({"id": "T", "title": "Same", "status": "notStarted", "importance": "normal",
        "body": {"content": "", "contentType": "text"},
        "dueDateTime": {"dateTime": "2026-01-02T00:00:00.0000000", "timeZone": "UTC"}});
    let mut f = m().graph_to_canonical(&current).unwrap().fields().clone();
    f.insert("status".into(), FieldValue::Text("completed".into()));
    f.remove("dueDateTime");
    f.insert("body".into(), FieldValue::Text("note".into()));
    let rec = TaskRecord::from_fields(f).unwrap();
    let patch = m().canonical_to_graph(&rec, Some(&current)).unwrap();
    assert_eq!(
        Value::Object(patch),
        json!({"status": "completed", "dueDateTime": null,
               "body": {"content": "note", "contentType": "text"}})
    );
    let same = m().graph_to_canonical(&current).unwrap();
    assert!(m()
        .canonical_to_graph(&same, Some(&current))
        .unwrap()
        .is_empty());
}

#[test]
fn bad_input_is_a_per_record_error() {
    assert!(matches!(
        m().crm_to_canonical(&obj(json!({"Subject": "x", "Due_Date": "2026-13-45"}))),
        Err(RecordError::InvalidDate { .. })
    ));
    assert!(matches!(
        m().graph_to_canonical(&json!({"title": "x", "dueDateTime": {"dateTime": "soon"}})),
        Err(RecordError::InvalidDate { .. })
    ));
    assert!(matches!(
        m().graph_to_canonical(&json!({"title": "x", "status": "abandoned"})),
        Err(RecordError::TypeMismatch { .. })
    ));
    assert!(matches!(
        m().graph_to_canonical(&json!({"title": 42})),
        Err(RecordError::TypeMismatch { .. })
    ));
    assert_eq!(
        m().graph_to_canonical(&json!([1])),
        Err(RecordError::NotAnObject)
    );
    // A To Do title longer than the CRM's Subject is refused, not truncated.
    let long = "x".repeat(300);
    let rec = m().graph_to_canonical(&json!({"title": long})).unwrap();
    assert_eq!(
        m().canonical_to_crm(&rec, None),
        Err(RecordError::TooLong {
            field: "Subject".into(),
            len: 300,
            max: 255
        })
    );
    // No subject: the CRM requires one.
    let untitled = m().graph_to_canonical(&json!({"title": "  "})).unwrap();
    assert_eq!(
        m().canonical_to_crm(&untitled, None),
        Err(RecordError::MissingMandatory {
            field: "Subject".into()
        })
    );
}

#[test]
fn record_normalises_and_rejects_unknown_fields_and_values() {
    let mut f = FieldMap::new();
    f.insert("status".into(), FieldValue::Text(" InProgress ".into()));
    f.insert("importance".into(), FieldValue::Text("HIGH".into()));
    f.insert("title".into(), FieldValue::Text("\u{feff} a \n b".into()));
    f.insert("body".into(), FieldValue::Text("   ".into()));
    let r = TaskRecord::from_fields(f).unwrap();
    assert_eq!(r.text("status"), Some("inProgress"));
    assert_eq!(r.text("importance"), Some("high"));
    assert_eq!(r.title(), Some("a b"));
    assert_eq!(r.text("body"), None);

    let bad = |k: &str, v: FieldValue| {
        let mut f = FieldMap::new();
        f.insert(k.into(), v);
        TaskRecord::from_fields(f)
    };
    assert_eq!(
        bad("reminder", FieldValue::Bool(true)),
        Err(RecordError::UnknownField("reminder".into()))
    );
    assert!(matches!(
        bad("dueDateTime", FieldValue::Text("2026-01-01".into())),
        Err(RecordError::TypeMismatch { .. })
    ));
    assert!(matches!(
        bad("status", FieldValue::Text("done".into())),
        Err(RecordError::TypeMismatch { .. })
    ));
    // Serde goes through the same normalisation.
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<TaskRecord>(&json).unwrap(), r);
    assert!(serde_json::from_str::<TaskRecord>(r#"{"nope":{"type":"text","value":"x"}}"#).is_err());
    // A task and a contact with the same fields never share a hash.
    assert_ne!(r.hash(), crate::value::hash_fields("contact", r.fields()));
}

#[test]
fn html_bodies_read_as_text() {
    assert_eq!(
        html_text_for_tests("<div>One<br/>two</div><p>a &lt;b&gt; &amp; c</p>"),
        "One\ntwo\na <b> & c\n"
    );
}

#[test]
fn classes_of_crm_values() {
    assert_eq!(
        TodoStatus::of_crm(Some("waiting_for_input")),
        TodoStatus::WaitingOnOthers
    );
    assert_eq!(TodoStatus::of_crm(Some("COMPLETED")), TodoStatus::Completed);
    assert_eq!(TodoStatus::of_crm(None), TodoStatus::NotStarted);
    assert_eq!(TodoStatus::twin_of_crm("Blocked"), None);
    assert_eq!(TodoImportance::of_crm(Some("Lowest")), TodoImportance::Low);
    assert_eq!(
        TodoImportance::of_crm(Some("-None-")),
        TodoImportance::Normal
    );
    assert_eq!(TodoImportance::of_crm(None), TodoImportance::Normal);
}
