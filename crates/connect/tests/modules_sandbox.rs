//! The type-erased module interface the app and the worker use (`SyncRunner`), against the
//! sandbox over HTTP: the preview before an enable writes nothing remotely, and a stored
//! mapping with a custom CRM field is applied by the next round.

mod common;

use common::*;
use crmsync_connect::{SystemClock, CONTACT_FOLDER_NAME};
use crmsync_core::contact::{ContactMapping, MappingEntry};
use serde_json::json;

fn folder_exists(env: &Env) -> bool {
    env.rt
        .block_on(env.graph_client.mailbox_list_json("/contactFolders"))
        .unwrap()
        .iter()
        .any(|f| f["displayName"] == CONTACT_FOLDER_NAME)
}

#[test]
fn the_preview_before_enabling_counts_the_plan_and_writes_nothing() {
    let env = Env::new();
    env.crm_create(
        AIKO,
        "ui",
        (0..4)
            .map(|i| person(&format!("P{i}"), "Preview", &format!("p{i}@pv.example")))
            .collect(),
    );
    env.crm_create(
        BEN,
        "ui",
        (0..2)
            .map(|i| person(&format!("B{i}"), "NotMine", &format!("b{i}@pv.example")))
            .collect(),
    );
    let store = new_store(&env.dir.path().join("preview.db"));
    store.disable(M, chrono::Utc::now()).unwrap();
    let mut runner = env.runner(store);

    let digest = runner.preview(M, &SystemClock).unwrap();
    let plan = digest.plan.expect("a plan");
    assert!(plan.create_in_graph >= 4, "{plan:?}");
    assert!(
        plan.excluded.get("not_owner").copied().unwrap_or(0) >= 2,
        "{plan:?}"
    );
    assert_eq!(plan.create_in_crm + plan.delete_in_crm + plan.update_crm, 0);
    assert!(plan.text.contains("Preview"), "{}", plan.text);
    // Nothing was created in Microsoft 365, and the module is still off.
    assert!(!folder_exists(&env));
    assert!(!runner.store.module(M).unwrap().enabled);

    // Enabling then runs the plan the preview showed.
    runner.store.enable(M, chrono::Utc::now()).unwrap();
    let d = runner_round(&mut runner, M).unwrap();
    assert_eq!(d.outcome, crmsync_engine::RoundOutcome::Completed);
    assert!(d.writes >= plan.create_in_graph, "{d:?}");
    assert!(folder_exists(&env));
}

#[test]
fn a_stored_mapping_with_a_custom_field_is_applied_by_the_next_round() {
    let mut env = Env::new();
    let mut runner = env.take_runner();
    // An admin adds a custom field after the app connected: the mapping dialog's field list
    // (read afresh) offers it.
    env.zoho(
        reqwest::Method::POST,
        "/fields/Contacts",
        json!({"org_of": AIKO, "api_name": "Nickname_Custom", "data_type": "text",
               "field_label": "Nickname"}),
    );
    let fields = runner.mapping_fields(M).unwrap();
    let custom = fields
        .iter()
        .find(|f| f.api_name == "Nickname_Custom")
        .expect("the new custom field is offered");
    assert!(custom.custom);
    assert!(fields
        .iter()
        .any(|f| f.api_name == "Last_Name" && !f.custom));
    let ids = env.crm_create(
        AIKO,
        "ui",
        vec![json!({"Last_Name": "Custom", "First_Name": "Kei",
                    "Email": "kei@custom.example", "Nickname_Custom": "Kei-chan"})],
    );
    let mut mapping = ContactMapping::default_mapping();
    mapping.entries.push(MappingEntry {
        crm_field: "Nickname_Custom".into(),
        ms_field: "nickName".into(),
    });
    runner
        .store
        .set_field_mapping(M, Some(&serde_json::to_string(&mapping).unwrap()))
        .unwrap();
    for _ in 0..4 {
        let d = runner_round(&mut runner, M).unwrap();
        assert!(d.failures.is_empty(), "{:?}", d.failures);
        if d.in_sync() {
            break;
        }
    }
    let folder = env
        .rt
        .block_on(env.graph_client.mailbox_list_json("/contactFolders"))
        .unwrap()
        .into_iter()
        .find(|f| f["displayName"] == CONTACT_FOLDER_NAME)
        .unwrap();
    let items = env
        .rt
        .block_on(env.graph_client.mailbox_list_json(&format!(
            "/contactFolders/{}/contacts?$top=100",
            folder["id"].as_str().unwrap()
        )))
        .unwrap();
    let kei = items
        .iter()
        .find(|i| i["surname"] == "Custom")
        .expect("copied");
    assert_eq!(kei["nickName"], "Kei-chan");

    // An edit of the nickname in Outlook reaches the custom CRM field.
    env.rt
        .block_on(env.graph_client.mailbox_json(
            reqwest::Method::PATCH,
            &format!("/contacts/{}", kei["id"].as_str().unwrap()),
            Some(json!({"nickName": "Kei-san"})),
            None,
        ))
        .unwrap();
    for _ in 0..4 {
        let d = runner_round(&mut runner, M).unwrap();
        if d.in_sync() {
            break;
        }
    }
    let crm = env.crm_get(&ids[0]).unwrap();
    assert_eq!(crm["Nickname_Custom"], "Kei-san", "{crm}");

    // A mapping that names a field the CRM does not have stops the round with a clear error.
    let mut bad = ContactMapping::default_mapping();
    bad.entries.push(MappingEntry {
        crm_field: "No_Such_Field".into(),
        ms_field: "nickName".into(),
    });
    runner
        .store
        .set_field_mapping(M, Some(&serde_json::to_string(&bad).unwrap()))
        .unwrap();
    let err = runner_round(&mut runner, M).unwrap_err();
    assert!(err.to_string().contains("No_Such_Field"), "{err}");
}
