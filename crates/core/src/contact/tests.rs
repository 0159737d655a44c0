//! Mapping, validation and projection tests for contacts.

use serde_json::{json, Map, Value};

use super::*;
use crate::error::RecordError;
use crate::record::CanonicalRecord;
use crate::Side;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn default_validated() -> ValidatedMapping {
    ContactMapping::default_mapping()
        .validate(&standard_crm_contact_fields())
        .expect("the default mapping is valid")
}

fn zoho_jane() -> Map<String, Value> {
    obj(json!({
        "id": "5725767000000411001",
        "Owner": {"id": "u1", "name": "Sales Rep", "email": "rep@example.com"},
        "Salutation": "Ms.",
        "First_Name": "  Jane ",
        "Last_Name": "Doe",
        "Email": "Jane.Doe@Example.com",
        "Secondary_Email": "jane@home.example",
        "Phone": "+81 3 1234 5678",
        "Mobile": "+81 90 1111 2222",
        "Home_Phone": null,
        "Title": "Head of Sales",
        "Department": "Sales",
        "Account_Name": {"name": "Acme KK", "id": "5725767000000300001"},
        "Assistant": "Bob",
        "Date_of_Birth": "1980-02-29",
        "Description": "Met at expo.\r\nLikes tea.",
        "Mailing_Street": "1-2-3 Marunouchi",
        "Mailing_City": "Tokyo",
        "Mailing_State": null,
        "Mailing_Zip": "100-0005",
        "Mailing_Country": "Japan",
        "Other_City": "Osaka",
        "Modified_Time": "2026-11-25T10:00:00+09:00"
    }))
}

fn graph_jane() -> Value {
    json!({
        "id": "AAMkAD...",
        "changeKey": "EQAAABYAAA",
        "displayName": "Jane Doe",
        "title": "Ms.",
        "givenName": "Jane",
        "surname": "Doe",
        "emailAddresses": [
            {"name": "Jane Doe", "address": "jane.doe@example.com"},
            {"name": "jane@home.example", "address": "jane@home.example"}
        ],
        "businessPhones": ["+81 3 1234 5678"],
        "homePhones": [],
        "mobilePhone": "+81 90 1111 2222",
        "jobTitle": "Head of Sales",
        "department": "Sales",
        "companyName": "Acme KK",
        "assistantName": "Bob",
        "birthday": "1980-02-29T00:00:00Z",
        "personalNotes": "Met at expo.\nLikes tea.",
        "businessAddress": {"street": "1-2-3 Marunouchi", "city": "Tokyo", "postalCode": "100-0005", "countryOrRegion": "Japan"},
        "homeAddress": {},
        "otherAddress": {"city": "Osaka"},
        "nickName": "JD"
    })
}

#[test]
fn default_mapping_has_the_listed_pairs_and_is_valid() {
    let m = ContactMapping::default_mapping();
    let has = |c: &str, ms: &str| {
        m.entries
            .iter()
            .any(|e| e.crm_field == c && e.ms_field == ms)
    };
    for (c, ms) in [
        ("First_Name", "givenName"),
        ("Last_Name", "surname"),
        ("Email", "emailAddresses"),
        ("Secondary_Email", "emailAddresses"),
        ("Phone", "businessPhones"),
        ("Mobile", "mobilePhone"),
        ("Home_Phone", "homePhones"),
        ("Title", "jobTitle"),
        ("Department", "department"),
        ("Account_Name", "companyName"),
        ("Mailing_Street", "businessAddress.street"),
        ("Mailing_Zip", "businessAddress.postalCode"),
        ("Other_Country", "otherAddress.countryOrRegion"),
        ("Date_of_Birth", "birthday"),
        ("Description", "personalNotes"),
        ("Assistant", "assistantName"),
        ("Salutation", "title"),
    ] {
        assert!(has(c, ms), "default mapping lacks {c} -> {ms}");
    }
    assert!(default_validated().warnings.is_empty());
    // Every entry names a supported Microsoft field.
    assert!(m.entries.iter().all(|e| ms_field(&e.ms_field).is_some()));
}

#[test]
fn validation_reports_every_blocking_problem() {
    let mut crm = standard_crm_contact_fields();
    crm.push(CrmField {
        api_name: "Full_Name".into(),
        data_type: CrmType::Text,
        length: None,
        read_only: true,
        mandatory: false,
        custom: false,
    });
    let entry = |c: &str, m: &str| MappingEntry {
        crm_field: c.into(),
        ms_field: m.into(),
    };
    let mapping = ContactMapping {
        entries: vec![
            entry("First_Name", "displayName"), // not offered
            entry("Nope__c", "surname"),        // unknown CRM field
            entry("Last_Name", "surname"),
            entry("Last_Name", "nickName"),     // used twice
            entry("Full_Name", "fileAs"),       // read-only
            entry("Date_of_Birth", "jobTitle"), // date into text
            entry("Description", "department"), // multi-line into one line
            entry("Title", "givenName"),
            entry("Department", "givenName"), // two CRM fields, one scalar
        ],
    };
    let err = mapping.validate(&crm).unwrap_err();
    let kinds: Vec<&str> = err
        .issues
        .iter()
        .map(|i| match i {
            MappingIssue::UnsupportedMsField { .. } => "unsupported",
            MappingIssue::UnknownCrmField { .. } => "unknown",
            MappingIssue::CrmFieldMappedTwice { .. } => "twice",
            MappingIssue::ReadOnlyCrmField { .. } => "read_only",
            MappingIssue::IncompatibleTypes { .. } => "types",
            MappingIssue::SeveralCrmFieldsForOneMsField { .. } => "several",
            MappingIssue::MoreFieldsThanGraphHolds { .. } => "warning",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "unsupported",
            "unknown",
            "twice",
            "read_only",
            "types",
            "types",
            "several"
        ]
    );
    assert!(
        err.to_string().contains("`displayName` is not supported"),
        "{err}"
    );
}

fn four_email_mapping() -> (ValidatedMapping, Vec<CrmField>) {
    let mut crm = standard_crm_contact_fields();
    for name in ["Email_3__c", "Email_4__c"] {
        crm.push(CrmField {
            api_name: name.into(),
            data_type: CrmType::Email,
            length: Some(100),
            read_only: false,
            mandatory: false,
            custom: true,
        });
    }
    let mut m = ContactMapping::default_mapping();
    for name in ["Email_3__c", "Email_4__c"] {
        m.entries.push(MappingEntry {
            crm_field: name.into(),
            ms_field: "emailAddresses".into(),
        });
    }
    (m.validate(&crm).expect("custom fields may be mapped"), crm)
}

#[test]
fn custom_fields_allowed_and_extra_values_warned() {
    let (v, _) = four_email_mapping();
    assert_eq!(
        v.warnings,
        vec![MappingIssue::MoreFieldsThanGraphHolds {
            ms_field: "emailAddresses".into(),
            capacity: MAX_EMAILS,
            crm_fields: vec![
                "Email".into(),
                "Secondary_Email".into(),
                "Email_3__c".into(),
                "Email_4__c".into()
            ],
        }]
    );
}

#[test]
fn both_sides_of_the_same_person_project_to_the_same_record() {
    let m = default_validated();
    let from_crm = m.crm_to_canonical(&zoho_jane()).unwrap();
    let from_graph = m.graph_to_canonical(&graph_jane()).unwrap();
    assert!(from_crm.overflow.is_empty() && from_graph.overflow.is_empty());
    assert_eq!(from_crm.record, from_graph.record);
    assert_eq!(from_crm.record.hash(), from_graph.record.hash());
    let r = &from_crm.record;
    assert_eq!(r.text("givenName"), Some("Jane"));
    assert_eq!(r.text("companyName"), Some("Acme KK"));
    assert_eq!(
        r.list("emailAddresses"),
        ["jane.doe@example.com", "jane@home.example"]
    );
    assert_eq!(r.text("otherAddress.city"), Some("Osaka"));
    // Unmapped Graph fields (nickName) are not part of the record.
    assert_eq!(r.text("nickName"), None);
}

#[test]
fn writes_round_trip_through_both_projections() {
    let m = default_validated();
    let r = m.crm_to_canonical(&zoho_jane()).unwrap().record;
    // Graph create body → read back → same record.
    let body = m.canonical_to_graph(&r, None).unwrap();
    assert_eq!(body["displayName"], json!("Jane Doe"));
    assert_eq!(body["birthday"], json!("1980-02-29T00:00:00Z"));
    assert!(
        !body.contains_key("homeAddress"),
        "unmapped address not sent"
    );
    assert!(
        !body.contains_key("homePhones"),
        "empty list not sent on create"
    );
    assert_eq!(
        m.graph_to_canonical(&Value::Object(body)).unwrap().record,
        r
    );
    // CRM create body → read back → same record; lookups written by name.
    let crm = m.canonical_to_crm(&r, None).unwrap();
    assert_eq!(crm["Account_Name"], json!({"name": "Acme KK"}));
    assert_eq!(crm["Date_of_Birth"], json!("1980-02-29"));
    assert_eq!(m.crm_to_canonical(&crm).unwrap().record, r);
    // Updating with the same record writes nothing.
    assert!(m
        .canonical_to_crm(&r, Some(&zoho_jane()))
        .unwrap()
        .is_empty());
}

#[test]
fn crm_update_patches_only_changed_fields_and_clears_with_null() {
    let m = default_validated();
    let mut fields = m
        .crm_to_canonical(&zoho_jane())
        .unwrap()
        .record
        .fields()
        .clone();
    fields.insert("jobTitle".into(), crate::FieldValue::Text("CEO".into()));
    fields.remove("department");
    // The secondary email is replaced; the primary stays in its field.
    fields.insert(
        "emailAddresses".into(),
        crate::FieldValue::List(vec![
            "jane.doe@example.com".into(),
            "new@example.com".into(),
        ]),
    );
    let r = ContactRecord::from_fields(fields).unwrap();
    let patch = m.canonical_to_crm(&r, Some(&zoho_jane())).unwrap();
    assert_eq!(
        Value::Object(patch),
        json!({"Title": "CEO", "Department": null, "Secondary_Email": "new@example.com"})
    );
}

#[test]
fn extra_crm_values_beyond_graph_limits_are_kept_and_reported() {
    let (m, _) = four_email_mapping();
    let mut crm = zoho_jane();
    crm.insert("Email_3__c".into(), json!("third@example.com"));
    crm.insert("Email_4__c".into(), json!("fourth@example.com"));
    let p = m.crm_to_canonical(&crm).unwrap();
    assert_eq!(p.record.list("emailAddresses").len(), MAX_EMAILS);
    assert_eq!(
        p.overflow,
        vec![Overflow {
            side: Side::Crm,
            ms_field: "emailAddresses".into(),
            values: vec!["fourth@example.com".into()],
            crm_fields: vec!["Email_4__c".into()],
        }]
    );
    // Graph gets exactly three.
    let body = m.canonical_to_graph(&p.record, None).unwrap();
    assert_eq!(body["emailAddresses"].as_array().unwrap().len(), 3);
    // A Microsoft-side change of the third email never touches the fourth CRM field.
    let mut fields = p.record.fields().clone();
    fields.insert(
        "emailAddresses".into(),
        crate::FieldValue::List(vec![
            "jane.doe@example.com".into(),
            "jane@home.example".into(),
            "changed@example.com".into(),
        ]),
    );
    let patch = m
        .canonical_to_crm(&ContactRecord::from_fields(fields).unwrap(), Some(&crm))
        .unwrap();
    assert_eq!(
        Value::Object(patch),
        json!({"Email_3__c": "changed@example.com"})
    );
}

#[test]
fn extra_graph_values_beyond_mapped_crm_fields_are_kept_and_reported() {
    let m = default_validated(); // two CRM email fields
    let mut g = graph_jane();
    g["emailAddresses"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "Work 2", "address": "third@example.com"}));
    let p = m.graph_to_canonical(&g).unwrap();
    assert_eq!(p.record.list("emailAddresses").len(), 2);
    assert_eq!(p.overflow[0].side, Side::Graph);
    assert_eq!(p.overflow[0].values, vec!["third@example.com".to_owned()]);
    // A CRM-side change rewrites the list but keeps the Graph-only third address (and names).
    let mut fields = p.record.fields().clone();
    fields.insert(
        "emailAddresses".into(),
        crate::FieldValue::List(vec![
            "jane.doe@example.com".into(),
            "other@example.com".into(),
        ]),
    );
    let body = m
        .canonical_to_graph(&ContactRecord::from_fields(fields).unwrap(), Some(&g))
        .unwrap();
    assert_eq!(
        body["emailAddresses"],
        json!([
            {"name": "Jane Doe", "address": "jane.doe@example.com"},
            {"name": "other@example.com", "address": "other@example.com"},
            {"name": "Work 2", "address": "third@example.com"}
        ])
    );
    // Address objects are sent whole, keeping unmapped parts.
    assert_eq!(body["businessAddress"]["state"], Value::Null);
    assert_eq!(body["otherAddress"]["city"], json!("Osaka"));
}

#[test]
fn bad_input_is_a_clear_error_for_that_record() {
    let m = default_validated();
    let mut crm = zoho_jane();
    crm.insert("Date_of_Birth".into(), json!("1980-13-45"));
    assert_eq!(
        m.crm_to_canonical(&crm),
        Err(RecordError::InvalidDate {
            field: "Date_of_Birth".into(),
            value: "1980-13-45".into()
        })
    );
    let mut crm = zoho_jane();
    crm.insert("First_Name".into(), json!(["x"]));
    assert!(matches!(
        m.crm_to_canonical(&crm),
        Err(RecordError::TypeMismatch { .. })
    ));
    assert_eq!(
        m.graph_to_canonical(&json!([1, 2])),
        Err(RecordError::NotAnObject)
    );
    let mut g = graph_jane();
    g["businessPhones"] = json!("not a list");
    assert!(matches!(
        m.graph_to_canonical(&g),
        Err(RecordError::TypeMismatch { .. })
    ));
    g = graph_jane();
    g["birthday"] = json!("yesterday");
    assert!(matches!(
        m.graph_to_canonical(&g),
        Err(RecordError::InvalidDate { .. })
    ));
    // Odd Unicode and control characters normalise, they do not fail.
    let mut g = graph_jane();
    g["givenName"] = json!("\u{feff}Jane\u{0000}\u{200b}");
    assert!(m.graph_to_canonical(&g).is_ok());
}

#[test]
fn over_long_values_are_rejected_not_truncated() {
    let mut crm_fields = standard_crm_contact_fields();
    for f in &mut crm_fields {
        if f.api_name == "First_Name" {
            f.length = Some(5);
        }
    }
    let m = ContactMapping::default_mapping()
        .validate(&crm_fields)
        .unwrap();
    let r = m.graph_to_canonical(&graph_jane()).unwrap().record;
    let mut fields = r.fields().clone();
    fields.insert(
        "givenName".into(),
        crate::FieldValue::Text("Jacqueline".into()),
    );
    let r = ContactRecord::from_fields(fields).unwrap();
    assert_eq!(
        m.canonical_to_crm(&r, Some(&zoho_jane())),
        Err(RecordError::TooLong {
            field: "First_Name".into(),
            len: 10,
            max: 5
        })
    );
}

#[test]
fn a_contact_without_last_name_is_refused_before_any_call() {
    let m = default_validated();
    let mut g = graph_jane();
    g.as_object_mut().unwrap().remove("surname");
    let r = m.graph_to_canonical(&g).unwrap().record;
    assert_eq!(
        m.canonical_to_crm(&r, None),
        Err(RecordError::MissingMandatory {
            field: "Last_Name".into()
        })
    );
    // Clearing it on update is refused too.
    assert!(m.canonical_to_crm(&r, Some(&zoho_jane())).is_err());
}
