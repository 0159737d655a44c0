//! Property test: arbitrary input records never panic the write path; every record gets a
//! result in input order, successes are stored, failures carry Zoho's error shape.

use crmsync_sandbox_zoho::{model::MODULES, records, Origin, ZohoOptions, ZohoSandbox};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const KEYS: &[&str] = &[
    "Last_Name",
    "First_Name",
    "Email",
    "Phone",
    "Date_of_Birth",
    "Lead_Source",
    "Account_Name",
    "Reporting_To",
    "Email_Opt_Out",
    "Owner",
    "Event_Title",
    "Start_DateTime",
    "End_DateTime",
    "All_day",
    "Participants",
    "Recurring_Activity",
    "Remind_At",
    "Subject",
    "Due_Date",
    "Status",
    "Priority",
    "Description",
    "id",
    "$state",
    "Unknown_Field",
];

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,120}".prop_map(Value::String),
        Just(json!("2026-11-25T10:00:00+09:00")),
        Just(json!("2026-11-25")),
        Just(json!("Completed")),
        Just(json!("a@b.example")),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                "[a-zA-Z_]{1,8}|id|RRULE|ALARM|participant|type",
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn record() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(KEYS), value(), 0..8).prop_map(|m| {
        Value::Object(
            m.into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<Map<_, _>>(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn writes_never_panic_and_answer_every_record(
        items in prop::collection::vec(prop_oneof![record(), value()], 1..12),
        module in prop::sample::select(MODULES),
        update in any::<bool>(),
    ) {
        let sb = ZohoSandbox::new(ZohoOptions::default());
        sb.seed_demo();
        let now = sb.now();
        sb.with_state(|st| {
            let org_id = st.orgs.values().find(|o| o.dc == "us").unwrap().id.clone();
            let user = st.orgs[&org_id].users[0].id.clone();
            let existing: Vec<String> = st.orgs[&org_id].records[module].keys().cloned().collect();
            let mut mails = Vec::new();
            let org = st.orgs.get_mut(&org_id).unwrap();
            let results = if update {
                let items: Vec<Value> = items.iter().enumerate().map(|(i, it)| {
                    let mut it = it.clone();
                    if let Value::Object(o) = &mut it {
                        o.entry("id").or_insert(json!(existing[i % existing.len()]));
                    }
                    it
                }).collect();
                records::update(org, module, &items, None, &user, Origin::Api, now, &mut mails)
            } else {
                records::insert(org, module, &items, &user, Origin::Api, now, &mut mails)
            };
            prop_assert_eq!(results.len(), items.len());
            for r in &results {
                match r {
                    Ok(id) => prop_assert!(org.records[module].contains_key(id)),
                    Err(e) => {
                        prop_assert!(["INVALID_DATA", "MANDATORY_NOT_FOUND"].contains(&e.code), "{:?}", e);
                        let j = e.to_json();
                        prop_assert_eq!(&j["status"], "error");
                        prop_assert!(j["details"].is_object());
                    }
                }
            }
            Ok(())
        })?;
    }
}
