//! Property tests of the contact projections: whatever a record holds, writing it to either
//! side and reading it back gives the same canonical record (and hash). Without this, the sync
//! would see its own writes as changes and write back and forth forever.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use crmsync_core::contact::{
    standard_crm_contact_fields, ContactMapping, ContactRecord, ValidatedMapping,
};
use crmsync_core::{CanonicalRecord, FieldMap, FieldValue, RecordError};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn mapping() -> ValidatedMapping {
    ContactMapping::default_mapping()
        .validate(&standard_crm_contact_fields())
        .unwrap()
}

/// Texts with the awkward parts: surrounding and inner whitespace, CRLF, Japanese (composed and
/// decomposed), zero-width spaces, emoji, control characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Jane".to_owned()),
        Just("  Jane   Doe ".to_owned()),
        Just("山田 太郎".to_owned()),
        Just("\u{304b}\u{3099}ん".to_owned()),
        Just("a\u{200b}b".to_owned()),
        Just("line1\r\nline2\r\n\r\n".to_owned()),
        Just("tab\there\u{7}".to_owned()),
        Just("🎉 party".to_owned()),
        "[a-zA-Z0-9 ]{0,12}",
    ]
}

fn email() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Jane.Doe@Example.com".to_owned()),
        Just(" x@y.jp ".to_owned()),
        "[a-z]{1,6}@[a-z]{1,6}\\.com",
    ]
}

fn record() -> impl Strategy<Value = ContactRecord> {
    let m = mapping();
    let ids: Vec<&'static str> = m.ms_fields().collect();
    (
        prop::collection::btree_map(prop::sample::select(ids), text(), 0..12),
        prop::collection::vec(email(), 0..3),
        prop::collection::vec("[0-9 +-]{3,12}", 0..2),
        prop::option::of((1900i32..2030, 1u32..13, 1u32..29)),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(texts, emails, phones, birthday, surname)| {
            let mut f = FieldMap::new();
            for (id, t) in texts {
                let v = match id {
                    "emailAddresses" | "businessPhones" | "homePhones" => FieldValue::List(vec![t]),
                    "birthday" => continue,
                    _ => FieldValue::Text(t),
                };
                f.insert(id.to_owned(), v);
            }
            f.insert("emailAddresses".into(), FieldValue::List(emails));
            if surname {
                f.insert("surname".into(), FieldValue::Text("Doe".into()));
            }
            f.insert("businessPhones".into(), FieldValue::List(phones));
            if let Some((y, mo, d)) = birthday {
                f.insert(
                    "birthday".into(),
                    FieldValue::Date(NaiveDate::from_ymd_opt(y, mo, d).unwrap()),
                );
            }
            ContactRecord::from_fields(f).unwrap()
        })
}

fn crm_current() -> impl Strategy<Value = Map<String, Value>> {
    let names: Vec<String> = standard_crm_contact_fields()
        .into_iter()
        .map(|f| f.api_name)
        .collect();
    prop::collection::btree_map(prop::sample::select(names), prop::option::of(text()), 0..10)
        .prop_map(|m: BTreeMap<String, Option<String>>| {
            m.into_iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        (_, None) => Value::Null,
                        ("Date_of_Birth", Some(_)) => Value::String("1999-09-09".into()),
                        ("Account_Name", Some(t)) => serde_json::json!({"name": t, "id": "1"}),
                        (_, Some(t)) => Value::String(t),
                    };
                    (k, v)
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn graph_write_reads_back_the_same(r in record()) {
        let m = mapping();
        let body = m.canonical_to_graph(&r, None).unwrap();
        let back = m.graph_to_canonical(&Value::Object(body.clone())).unwrap();
        prop_assert_eq!(&back.record, &r);
        prop_assert!(back.overflow.is_empty());
        // A PATCH over an existing contact gives the same too.
        let patched = m.canonical_to_graph(&r, Some(&Value::Object(body))).unwrap();
        prop_assert_eq!(m.graph_to_canonical(&Value::Object(patched)).unwrap().record.hash(), r.hash());
    }

    #[test]
    fn crm_write_reads_back_the_same(r in record(), current in crm_current()) {
        let m = mapping();
        if r.text("surname").is_none() {
            // Last_Name is mandatory in the CRM: refused up front, for this record only.
            let refused = matches!(m.canonical_to_crm(&r, None), Err(RecordError::MissingMandatory { .. }));
            prop_assert!(refused);
            return Ok(());
        }
        // Create.
        let body = m.canonical_to_crm(&r, None).unwrap();
        prop_assert_eq!(&m.crm_to_canonical(&body).unwrap().record, &r);
        // Update over an arbitrary existing record: apply the patch, read back.
        let patch = m.canonical_to_crm(&r, Some(&current)).unwrap();
        let mut after = current.clone();
        for (k, v) in patch {
            after.insert(k, v);
        }
        prop_assert_eq!(&m.crm_to_canonical(&after).unwrap().record, &r);
        // A second identical write changes nothing.
        prop_assert!(m.canonical_to_crm(&r, Some(&after)).unwrap().is_empty());
    }

    #[test]
    fn lists_longer_than_the_target_are_refused_not_cut(extra in prop::collection::vec(email(), 3..6)) {
        let m = mapping();
        let mut f = FieldMap::new();
        f.insert("emailAddresses".into(), FieldValue::List(extra));
        f.insert("surname".into(), FieldValue::Text("Doe".into()));
        let r = ContactRecord::from_fields(f).unwrap();
        let n = r.list("emailAddresses").len();
        if n > 2 {
            let refused = matches!(m.canonical_to_crm(&r, None), Err(RecordError::TooManyValues { .. }));
            prop_assert!(refused);
        }
    }
}
