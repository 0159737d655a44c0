//! Contacts sync end to end against the sandbox over real HTTP (in-process).

mod common;

use common::*;
use serde_json::json;

#[test]
fn first_sync_lands_exactly_the_eligible_set_then_nothing() {
    let mut env = Env::new();
    let mine = env.crm_create(
        AIKO,
        "ui",
        (0..5)
            .map(|i| person(&format!("Mine{i}"), "Ui", &format!("mine{i}@t.example")))
            .collect(),
    );
    env.crm_create(
        BEN,
        "ui",
        (0..3)
            .map(|i| person(&format!("Bens{i}"), "Other", &format!("ben{i}@t.example")))
            .collect(),
    );
    env.crm_create(
        AIKO,
        "import",
        (0..4)
            .map(|i| person(&format!("Imp{i}"), "Import", &format!("imp{i}@t.example")))
            .collect(),
    );
    env.crm_create(
        AIKO,
        "migration",
        vec![person("Mig", "Migration", "mig@t.example")],
    );
    let mass = env.crm_create(
        AIKO,
        "import",
        (0..3)
            .map(|i| {
                person(
                    &format!("Mass{i}"),
                    "Updated",
                    &format!("mass{i}@t.example"),
                )
            })
            .collect(),
    );
    // Let Modified_Time move past Created_Time.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.zoho(
        reqwest::Method::POST,
        "/records/Contacts/mass_update",
        json!({"as": AIKO, "ids": mass, "data": {"Department": "Sales"}}),
    );
    let edited = env.crm_create(
        AIKO,
        "bulk_api",
        vec![person("Edited", "Later", "edited@t.example")],
    );
    env.zoho(
        reqwest::Method::PUT,
        "/records/Contacts",
        json!({"as": AIKO, "origin": "ui", "data": [{"id": edited[0], "Title": "CEO"}]}),
    );

    let writes = env.settle();
    assert!(writes >= 9, "{writes}");
    let emails: Vec<String> = env
        .folder_emails()
        .into_iter()
        .filter(|e| e.ends_with("@t.example"))
        .collect();
    let mut expected: Vec<String> = (0..5)
        .map(|i| format!("mine{i}@t.example"))
        .chain((0..3).map(|i| format!("mass{i}@t.example")))
        .chain(["edited@t.example".to_string()])
        .collect();
    expected.sort();
    assert_eq!(emails, expected);
    // Every copy is stamped with a CRM record owned by Aiko, once.
    let mut stamps: Vec<String> = env
        .folder_items()
        .iter()
        .map(|i| env.stamp(i).expect("stamped"))
        .collect();
    let n = stamps.len();
    stamps.sort();
    stamps.dedup();
    assert_eq!(stamps.len(), n, "one copy per CRM record");
    for id in &mine {
        assert!(stamps.contains(id));
    }
    // A second round writes nothing.
    let r = env.round(Default::default());
    assert_eq!(r.writes, 0);
}

fn graph_json(
    env: &Env,
    method: reqwest::Method,
    rest: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    env.graph_json(method, rest, body)
}

fn item_by_email<'a>(items: &'a [serde_json::Value], email: &str) -> Option<&'a serde_json::Value> {
    items.iter().find(|i| {
        i.pointer("/emailAddresses/0/address")
            .and_then(|v| v.as_str())
            .is_some_and(|a| a.eq_ignore_ascii_case(email))
    })
}

#[test]
fn edits_creates_and_deletes_propagate_per_the_rules() {
    let mut env = Env::new();
    let ids = env.crm_create(
        AIKO,
        "ui",
        (0..4)
            .map(|i| person(&format!("P{i}"), "Prop", &format!("p{i}@t.example")))
            .collect(),
    );
    env.settle();
    let items = env.folder_items();

    // CRM edit → Microsoft copy.
    env.zoho(
        reqwest::Method::PUT,
        "/records/Contacts",
        json!({"as": AIKO, "origin": "ui", "data": [{"id": ids[0], "Title": "Director"}]}),
    );
    // Microsoft edit → CRM record.
    let g1 = item_by_email(&items, "p1@t.example").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    graph_json(
        &env,
        reqwest::Method::PATCH,
        &format!("/contacts/{g1}"),
        Some(json!({"jobTitle": "Buyer"})),
    );
    // Microsoft create in the folder → CRM record owned by the user.
    let folder = env.graph.folder().unwrap().to_string();
    graph_json(
        &env,
        reqwest::Method::POST,
        &format!("/contactFolders/{folder}/contacts"),
        Some(
            json!({"givenName": "New", "surname": "FromOutlook", "emailAddresses": [{"address": "new@t.example", "name": "New"}]}),
        ),
    );
    // CRM delete → the Microsoft copy goes.
    env.zoho(
        reqwest::Method::DELETE,
        &format!("/records/Contacts?as={AIKO}&ids={}", ids[2]),
        serde_json::Value::Null,
    );
    env.settle();

    let items = env.folder_items();
    assert_eq!(
        item_by_email(&items, "p0@t.example").unwrap()["jobTitle"],
        "Director"
    );
    assert_eq!(env.crm_get(&ids[1]).unwrap()["Title"], "Buyer");
    assert!(
        item_by_email(&items, "p2@t.example").is_none(),
        "CRM delete removes the copy"
    );
    let (rows, _) = env
        .rt
        .block_on(
            env.zoho_client
                .coql("select id, Owner, Last_Name from Contacts where Email = 'new@t.example'"),
        )
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["Last_Name"], "FromOutlook");

    // Delete checkbox off: a Microsoft delete only unlinks.
    let g3 = item_by_email(&items, "p3@t.example").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    graph_json(
        &env,
        reqwest::Method::DELETE,
        &format!("/contacts/{g3}"),
        None,
    );
    env.settle();
    assert!(
        env.crm_get(&ids[3]).is_some(),
        "delete propagation off keeps the CRM record"
    );

    // Delete checkbox on: a Microsoft delete deletes the CRM record.
    env.store
        .set_delete_propagation(M, true, chrono::Utc::now())
        .unwrap();
    let items = env.folder_items();
    let g0 = item_by_email(&items, "p0@t.example").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    graph_json(
        &env,
        reqwest::Method::DELETE,
        &format!("/contacts/{g0}"),
        None,
    );
    let r = env.round(crmsync_engine::RoundOptions {
        deletes_confirmed: true,
        ..Default::default()
    });
    assert_eq!(
        r.outcome,
        crmsync_engine::RoundOutcome::Completed,
        "{:?}",
        r.failures
    );
    env.settle();
    let (rows, _) = env
        .rt
        .block_on(
            env.zoho_client
                .coql("select id from Contacts where Email = 'p0@t.example'"),
        )
        .unwrap();
    assert!(
        rows.is_empty(),
        "delete propagation on deletes the CRM record: {rows:?}"
    );
}

#[test]
fn disabling_removes_the_folder_and_a_deleted_folder_disables_without_crm_deletes() {
    let mut env = Env::new();
    env.crm_create(
        AIKO,
        "ui",
        (0..3)
            .map(|i| person(&format!("D{i}"), "Dis", &format!("d{i}@t.example")))
            .collect(),
    );
    env.settle();
    let count = |env: &Env| {
        env.rt
            .block_on(
                env.zoho_client
                    .coql("select id from Contacts where Last_Name = 'Dis'"),
            )
            .unwrap()
            .0
            .len()
    };
    assert_eq!(count(&env), 3);
    let folder = env.graph.folder().unwrap().to_string();

    // The user deletes the folder in Outlook: the module disables, nothing goes in the CRM.
    graph_json(
        &env,
        reqwest::Method::DELETE,
        &format!("/contactFolders/{folder}"),
        None,
    );
    let r = env.round(Default::default());
    assert_eq!(r.outcome, crmsync_engine::RoundOutcome::Disabled);
    assert!(!env.store.module(M).unwrap().enabled);
    assert_eq!(count(&env), 3);

    // Re-enable: a new folder with the copies again; then disable: folder gone, CRM intact.
    env.store.enable(M, chrono::Utc::now()).unwrap();
    env.settle();
    assert_eq!(
        env.folder_emails()
            .iter()
            .filter(|e| e.starts_with('d'))
            .count(),
        3
    );
    let folder = env.graph.folder().unwrap().to_string();
    assert_eq!(disable(&mut env), Ok(()));
    assert!(!env.store.module(M).unwrap().enabled);
    let folders = env
        .rt
        .block_on(env.graph_client.mailbox_list_json("/contactFolders"))
        .unwrap();
    assert!(folders.iter().all(|f| f["id"] != folder.as_str()));
    assert_eq!(count(&env), 3);
}

#[test]
fn a_crm_create_whose_answer_is_lost_is_not_duplicated() {
    let mut env = Env::new();
    env.settle();
    let folder = env.graph.folder().unwrap().to_string();
    graph_json(
        &env,
        reqwest::Method::POST,
        &format!("/contactFolders/{folder}/contacts"),
        Some(
            json!({"givenName": "Lost", "surname": "Answer", "emailAddresses": [{"address": "lost@t.example", "name": "Lost"}]}),
        ),
    );
    // The next CRM write commits, then answers 504 after a short hang.
    env.zoho(
        reqwest::Method::PUT,
        "/faults",
        json!({"timeout_next_writes": 1, "hang_ms": 200}),
    );
    for _ in 0..3 {
        env.round(Default::default());
    }
    env.settle();
    let (rows, _) = env
        .rt
        .block_on(
            env.zoho_client
                .coql("select id from Contacts where Email = 'lost@t.example'"),
        )
        .unwrap();
    assert_eq!(rows.len(), 1, "exactly one CRM record: {rows:?}");
    let counters = env.zoho(reqwest::Method::GET, "/counters", serde_json::Value::Null);
    assert_eq!(
        counters["injected_faults"].as_u64(),
        Some(1),
        "the fault fired: {counters}"
    );
    // The Microsoft contact is linked to it (stamped or matched), and nothing else changed.
    let r = env.round(Default::default());
    assert_eq!(r.writes, 0);
}

#[test]
fn a_lost_crm_create_of_a_contact_without_email_is_not_duplicated() {
    let mut env = Env::new();
    env.settle();
    let folder = env.graph.folder().unwrap().to_string();
    graph_json(
        &env,
        reqwest::Method::POST,
        &format!("/contactFolders/{folder}/contacts"),
        Some(
            json!({"givenName": "Nomail", "surname": "Lostanswer", "mobilePhone": "+81 90 1234 5678"}),
        ),
    );
    env.zoho(
        reqwest::Method::PUT,
        "/faults",
        json!({"timeout_next_writes": 1, "hang_ms": 200}),
    );
    for _ in 0..3 {
        env.round(Default::default());
    }
    env.settle();
    let (rows, _) = env
        .rt
        .block_on(
            env.zoho_client
                .coql("select id from Contacts where Last_Name = 'Lostanswer'"),
        )
        .unwrap();
    assert_eq!(rows.len(), 1, "exactly one CRM record: {rows:?}");
    let counters = env.zoho(reqwest::Method::GET, "/counters", serde_json::Value::Null);
    assert_eq!(counters["injected_faults"].as_u64(), Some(1), "{counters}");
    assert_eq!(env.round(Default::default()).writes, 0);
}

#[test]
fn first_sync_cap_defers_the_oldest_and_a_later_change_brings_them_in() {
    let mut env = Env::new();
    env.crm.set_first_sync_cap(Some(3));
    let ids = env.crm_create(
        AIKO,
        "ui",
        (0..5)
            .map(|i| person(&format!("C{i}"), "Cap", &format!("c{i}@t.example")))
            .collect(),
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Two records become the most recently modified: they must be among the selected.
    env.zoho(
        reqwest::Method::PUT,
        "/records/Contacts",
        json!({"as": AIKO, "origin": "ui", "data": [{"id": ids[3], "Title": "x"}, {"id": ids[4], "Title": "y"}]}),
    );
    env.settle();
    let tagged = |env: &Env| -> Vec<String> {
        env.folder_emails()
            .into_iter()
            .filter(|e| e.starts_with('c') && e.ends_with("@t.example"))
            .collect()
    };
    // The seed's own contacts count towards the cap too, so only the newest 3 overall sync.
    let first = tagged(&env);
    assert!(first.len() <= 3, "{first:?}");
    assert!(
        first.contains(&"c3@t.example".to_string()) && first.contains(&"c4@t.example".to_string()),
        "{first:?}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.zoho(
        reqwest::Method::PUT,
        "/records/Contacts",
        json!({"as": AIKO, "origin": "ui", "data": [{"id": ids[0], "Title": "changed"}]}),
    );
    env.settle();
    assert!(tagged(&env).contains(&"c0@t.example".to_string()));
}

#[test]
fn find_created_looks_a_lost_create_up_by_email_owner_and_time() {
    use crmsync_core::CanonicalRecord;
    use crmsync_engine::RecordPort;
    let mut env = Env::new();
    let before = chrono::Utc::now();
    let ids = env.crm_create(AIKO, "api", vec![person("Lost", "Create", "lc@t.example")]);
    // Records another user owns are never taken for Aiko's create.
    env.crm_create(BEN, "api", vec![person("Other", "Owner", "lc2@t.example")]);
    let record = env.crm.get(&ids[0]).unwrap().unwrap().record;
    assert_eq!(record.natural_key().as_deref(), Some("lc@t.example"));
    let found = env.crm.find_created("graph-id", &record, before).unwrap();
    assert_eq!(found.map(|o| o.id), Some(ids[0].clone()));
    // An intent written well after the record was created does not claim it.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    assert!(env
        .crm
        .find_created("graph-id", &record, later)
        .unwrap()
        .is_none());
    let mut other = record.fields().clone();
    other.insert(
        "emailAddresses".into(),
        crmsync_core::FieldValue::List(vec!["lc2@t.example".into()]),
    );
    let other = crmsync_core::contact::ContactRecord::from_fields(other).unwrap();
    assert!(env
        .crm
        .find_created("graph-id", &other, before)
        .unwrap()
        .is_none());
}

#[test]
fn an_expired_graph_delta_relists_without_duplicates_or_writes() {
    let mut env = Env::new();
    env.crm_create(
        AIKO,
        "ui",
        (0..3)
            .map(|i| person(&format!("X{i}"), "Expire", &format!("x{i}@t.example")))
            .collect(),
    );
    env.settle();
    let n = env.folder_items().len();
    env.graph_ctl(
        reqwest::Method::POST,
        "/delta/expire",
        json!({"user": AIKO}),
    );
    let r = env.round(Default::default());
    assert_eq!(r.outcome, crmsync_engine::RoundOutcome::Completed);
    assert_eq!(r.writes, 0);
    assert_eq!(env.folder_items().len(), n);
}

#[test]
fn a_record_given_to_another_owner_leaves_the_folder_and_stays_in_the_crm() {
    let mut env = Env::new();
    let ids = env.crm_create(
        AIKO,
        "ui",
        (0..2)
            .map(|i| person(&format!("O{i}"), "Owner", &format!("o{i}@t.example")))
            .collect(),
    );
    env.settle();
    assert!(env.folder_emails().contains(&"o0@t.example".to_string()));
    let users = env.rt.block_on(env.zoho_client.users("AllUsers")).unwrap();
    let ben = users
        .iter()
        .find(|u| u.email.as_deref() == Some(BEN))
        .unwrap()
        .id
        .clone();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.zoho(
        reqwest::Method::PUT,
        "/records/Contacts",
        json!({"as": AIKO, "origin": "ui", "data": [{"id": ids[0], "Owner": {"id": ben}}]}),
    );
    let r = env.round(crmsync_engine::RoundOptions {
        deletes_confirmed: true,
        ..Default::default()
    });
    assert_eq!(
        r.outcome,
        crmsync_engine::RoundOutcome::Completed,
        "{:?}",
        r.failures
    );
    env.settle();
    let emails = env.folder_emails();
    assert!(!emails.contains(&"o0@t.example".to_string()), "{emails:?}");
    assert!(emails.contains(&"o1@t.example".to_string()));
    assert!(
        env.crm_get(&ids[0]).is_some(),
        "the CRM record is untouched"
    );
}

#[test]
fn a_crm_update_is_refused_when_the_record_changed_since_it_was_read() {
    use crmsync_engine::RecordPort;
    let mut env = Env::new();
    let ids = env.crm_create(AIKO, "ui", vec![person("Race", "Update", "race@t.example")]);
    let read = env.crm.get(&ids[0]).unwrap().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.zoho(
        reqwest::Method::PUT,
        "/records/Contacts",
        json!({"as": AIKO, "origin": "ui", "data": [{"id": ids[0], "Title": "Changed meanwhile"}]}),
    );
    // The adapter's check and the CRM's own If-Unmodified-Since both refuse the stale write.
    assert_eq!(
        env.crm.update(&ids[0], &read.record, Some(&read.version)),
        Err(crmsync_engine::PortError::PreconditionFailed)
    );
    let stale = crmsync_zoho::models::ZContact {
        id: Some(ids[0].clone()),
        title: Some("Stale".into()),
        ..Default::default()
    };
    let r = env
        .rt
        .block_on(env.zoho_client.update_if_unmodified(&stale, &read.version));
    assert!(
        matches!(
            r,
            Err(crmsync_zoho::ZohoError::Conflict { status: 412, .. })
        ),
        "{r:?}"
    );
    assert_eq!(env.crm_get(&ids[0]).unwrap()["Title"], "Changed meanwhile");
    // With the current version the write goes through.
    let now = env.crm.get(&ids[0]).unwrap().unwrap();
    env.crm
        .update(&ids[0], &read.record, Some(&now.version))
        .unwrap();
    assert_eq!(
        env.crm_get(&ids[0]).unwrap()["Title"],
        serde_json::Value::Null
    );
}

#[test]
fn the_engine_worker_runs_contacts_rounds_through_the_runner() {
    let env = Env::new();
    env.crm_create(
        AIKO,
        "ui",
        (0..3)
            .map(|i| person(&format!("W{i}"), "Worker", &format!("w{i}@t.example")))
            .collect(),
    );
    let Env {
        rt,
        store,
        crm,
        graph,
        graph_client,
        sb,
        dir: _dir,
        ..
    } = env;
    let runner = crmsync_connect::SyncRunner::new(
        store,
        vec![Box::new(crmsync_connect::ModuleAdapters::new(
            M, crm, graph,
        ))],
    );
    let (summary, steps) = rt.block_on(async {
        let worker = crmsync_engine::Worker::spawn(runner, crmsync_engine::WorkerConfig::default());
        let mut rx = worker.subscribe();
        let mut steps = Vec::new();
        let summary = loop {
            match tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
                .await
                .expect("a round finishes")
                .unwrap()
            {
                crmsync_engine::Progress::Finished { module, summary } => {
                    assert_eq!(module, M);
                    break summary;
                }
                crmsync_engine::Progress::Step { step, .. } => steps.push(step),
                _ => continue,
            }
        };
        worker.shutdown().await;
        (summary, steps)
    });
    // The progress of the round: both sides observed, the plan counted, every action reported.
    use crmsync_engine::RoundStep;
    assert!(steps.contains(&RoundStep::Observing {
        side: crmsync_core::Side::Crm
    }));
    let Some(RoundStep::Planned { actions }) = steps
        .iter()
        .find(|s| matches!(s, RoundStep::Planned { .. }))
        .copied()
    else {
        panic!("no plan step in {steps:?}")
    };
    assert!(actions >= 3, "{steps:?}");
    assert_eq!(
        steps.last(),
        Some(&RoundStep::Executed {
            done: actions,
            total: actions
        })
    );
    assert!(
        matches!(summary, crmsync_engine::RoundSummary::Completed { writes, .. } if writes >= 3),
        "{summary:?}"
    );
    let folders = rt
        .block_on(graph_client.mailbox_list_json("/contactFolders"))
        .unwrap();
    let folder = folders
        .iter()
        .find(|f| f["displayName"] == crmsync_connect::CONTACT_FOLDER_NAME)
        .unwrap();
    let items = rt
        .block_on(graph_client.mailbox_list_json(&format!(
            "/contactFolders/{}/contacts?$top=100",
            folder["id"].as_str().unwrap()
        )))
        .unwrap();
    assert!(items.iter().filter(|i| i["surname"] == "Worker").count() == 3);
    drop(sb);
}

/// The contact folders of the mailbox, with their stamp expanded.
fn contact_folders(env: &Env) -> Vec<serde_json::Value> {
    env.graph_list(&format!(
        "/contactFolders?$expand={}",
        env.graph_client.stamp_expand()
    ))
}

/// The contacts of a folder, with their stamp expanded.
fn contacts_of(env: &Env, folder: &str) -> Vec<serde_json::Value> {
    env.graph_list(&format!(
        "/contactFolders/{folder}/contacts?$top=100&$expand={}",
        env.graph_client.stamp_expand()
    ))
}

/// Disables Contacts through the engine (the folder and its copies deleted, the CRM kept).
fn disable(env: &mut Env) -> Result<(), crmsync_engine::PortError> {
    crmsync_engine::disable_module::<crmsync_core::contact::ContactRecord, _>(
        &mut env.store,
        M,
        &mut env.graph,
        &crmsync_connect::SystemClock,
    )
    .unwrap()
}

/// How many CRM contacts have the e-mail.
fn crm_count_by_email(env: &Env, email: &str) -> usize {
    env.rt
        .block_on(
            env.zoho_client
                .coql(&format!("select id from Contacts where Email = '{email}'")),
        )
        .unwrap()
        .0
        .len()
}

#[test]
fn a_users_own_folder_of_that_name_is_never_adopted_and_ours_is_found_by_its_stamp() {
    use crmsync_connect::{
        CONTACT_FOLDER_FALLBACK_NAME, CONTACT_FOLDER_NAME, CONTACT_FOLDER_STAMP,
    };
    use reqwest::Method;
    let mut env = Env::new();
    // Before the first enable, the user has a folder of their own with the name, and a
    // contact in it.
    let own = graph_json(
        &env,
        Method::POST,
        "/contactFolders",
        Some(json!({"displayName": CONTACT_FOLDER_NAME})),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    graph_json(
        &env,
        Method::POST,
        &format!("/contactFolders/{own}/contacts"),
        Some(json!({"givenName": "Private", "surname": "Friend",
                    "emailAddresses": [{"name": "Friend", "address": "friend@own.example"}]})),
    );
    let own_before = contacts_of(&env, &own);
    let crm = env.crm_create(
        AIKO,
        "ui",
        vec![person("Stamp", "Folder", "stamp@t.example")],
    );

    // Enabling creates our own folder, stamped (under the fallback name: Outlook refuses a
    // second folder with the name), and leaves the user's alone.
    env.settle();
    let ours = env.graph.folder().unwrap().to_string();
    assert_ne!(ours, own);
    let folders = contact_folders(&env);
    let folder = folders.iter().find(|f| f["id"] == ours.as_str()).unwrap();
    assert_eq!(folder["displayName"], CONTACT_FOLDER_FALLBACK_NAME);
    assert_eq!(env.stamp(folder).as_deref(), Some(CONTACT_FOLDER_STAMP));
    let own_folder = folders.iter().find(|f| f["id"] == own.as_str()).unwrap();
    assert_eq!(
        env.stamp(own_folder),
        None,
        "the user's folder is not stamped"
    );
    assert!(env.folder_emails().contains(&"stamp@t.example".to_string()));
    assert!(!env
        .folder_emails()
        .contains(&"friend@own.example".to_string()));
    // The user's contact never reaches the CRM, and their folder is untouched.
    assert_eq!(crm_count_by_email(&env, "friend@own.example"), 0);
    assert_eq!(contacts_of(&env, &own), own_before);

    // A re-enable after a state reset (a new store, new adapters) finds our folder again by
    // its stamp: no second folder, no second copy.
    env.store = new_store(&env.dir.path().join("reset.db"));
    let (crm_side, graph_side) = <crmsync_connect::ZohoContacts as TestModule>::connect(
        &env.rt,
        env.graph_client.clone(),
        env.zoho_client.clone(),
    );
    env.crm = crm_side;
    env.graph = graph_side;
    env.settle();
    assert_eq!(env.graph.folder(), Some(ours.as_str()));
    assert_eq!(
        contact_folders(&env).len(),
        folders.len(),
        "no second folder"
    );
    let copies = env
        .folder_items()
        .iter()
        .filter(|i| env.stamp(i).as_deref() == Some(crm[0].as_str()))
        .count();
    assert_eq!(copies, 1, "one copy of the CRM contact");
    assert_eq!(crm_count_by_email(&env, "friend@own.example"), 0);

    // Disabling deletes only our folder: the user's folder and contact, and the CRM, stay.
    assert_eq!(disable(&mut env), Ok(()));
    let folders = contact_folders(&env);
    assert!(folders.iter().all(|f| f["id"] != ours.as_str()));
    assert!(folders.iter().any(|f| f["id"] == own.as_str()));
    assert_eq!(contacts_of(&env, &own), own_before);
    assert!(env.crm_get(&crm[0]).is_some());
}

#[test]
fn crm_values_beyond_graph_limits_stay_in_the_crm_and_are_noted_in_the_health() {
    use crmsync_core::contact::{ContactMapping, MappingEntry};
    use reqwest::Method;
    let mut env = Env::new();
    let mut runner = env.take_runner();
    // Two custom e-mail fields and two more phones mapped: 4 e-mails (Graph holds 3) and 3
    // business phones (Graph holds 2).
    for name in ["Email_3__c", "Email_4__c"] {
        env.zoho(
            Method::POST,
            "/fields/Contacts",
            json!({"org_of": AIKO, "api_name": name, "data_type": "email", "field_label": name}),
        );
    }
    runner.mapping_fields(M).unwrap();
    let mut mapping = ContactMapping::default_mapping();
    for (crm_field, ms_field) in [
        ("Email_3__c", "emailAddresses"),
        ("Email_4__c", "emailAddresses"),
        ("Other_Phone", "businessPhones"),
        ("Asst_Phone", "businessPhones"),
    ] {
        mapping.entries.push(MappingEntry {
            crm_field: crm_field.into(),
            ms_field: ms_field.into(),
        });
    }
    runner
        .store
        .set_field_mapping(M, Some(&serde_json::to_string(&mapping).unwrap()))
        .unwrap();
    let id = env.crm_create(
        AIKO,
        "ui",
        vec![json!({"First_Name": "Many", "Last_Name": "Values",
                    "Email": "many1@t.example", "Secondary_Email": "many2@t.example",
                    "Email_3__c": "many3@t.example", "Email_4__c": "many4@t.example",
                    "Phone": "+81 3 1111 1111", "Other_Phone": "+81 3 2222 2222",
                    "Asst_Phone": "+81 3 3333 3333"})],
    )[0]
    .clone();
    let settle = |runner: &mut crmsync_connect::SyncRunner| {
        for _ in 0..6 {
            let d = runner_round(runner, M).unwrap();
            assert!(d.failures.is_empty(), "{:?}", d.failures);
            if d.in_sync() {
                return;
            }
        }
        panic!("no convergence");
    };
    settle(&mut runner);

    // The Outlook copy holds what Graph takes.
    let copy = || {
        let ours = contact_folders(&env)
            .into_iter()
            .find(|f| env.stamp(f).as_deref() == Some(crmsync_connect::CONTACT_FOLDER_STAMP))
            .unwrap();
        contacts_of(&env, ours["id"].as_str().unwrap())
            .into_iter()
            .find(|c| env.stamp(c).as_deref() == Some(id.as_str()))
            .expect("copied")
    };
    let c = copy();
    let emails: Vec<&str> = c["emailAddresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["address"].as_str())
        .collect();
    assert_eq!(
        emails,
        ["many1@t.example", "many2@t.example", "many3@t.example"]
    );
    assert_eq!(c["businessPhones"].as_array().unwrap().len(), 2, "{c}");

    // The record is in sync, and its health names what stays in the CRM only.
    let noted = |runner: &crmsync_connect::SyncRunner| {
        let row = runner
            .store
            .health(M, None, Some(&id), 10)
            .unwrap()
            .into_iter()
            .find(|r| r.item_id == id)
            .expect("a health row");
        assert_eq!(row.status, crmsync_engine::HealthStatus::InSync);
        let detail = row.detail.unwrap_or_default();
        for part in [
            "4th e-mail (Email_4__c) kept in the CRM only",
            "3rd business phone (Asst_Phone) kept in the CRM only",
        ] {
            assert!(detail.contains(part), "{part:?} missing from {detail:?}");
        }
    };
    noted(&runner);

    // Outlook edits (the job title, the third e-mail) come back to the CRM; the values Outlook
    // never had are still there.
    graph_json(
        &env,
        Method::PATCH,
        &format!("/contacts/{}", c["id"].as_str().unwrap()),
        Some(json!({"jobTitle": "Director", "emailAddresses": [
            {"name": "Many Values", "address": "many1@t.example"},
            {"name": "many2@t.example", "address": "many2@t.example"},
            {"name": "New", "address": "new3@t.example"}]})),
    );
    settle(&mut runner);
    let crm = env.crm_get(&id).unwrap();
    assert_eq!(crm["Title"], "Director", "{crm}");
    assert_eq!(crm["Email_3__c"], "new3@t.example", "{crm}");
    for (field, value) in [
        ("Email", "many1@t.example"),
        ("Secondary_Email", "many2@t.example"),
        ("Email_4__c", "many4@t.example"),
        ("Phone", "+81 3 1111 1111"),
        ("Other_Phone", "+81 3 2222 2222"),
        ("Asst_Phone", "+81 3 3333 3333"),
    ] {
        assert_eq!(crm[field], value, "{field} kept: {crm}");
    }
    assert_eq!(copy()["jobTitle"], "Director");
    // Still noted after the rounds that re-read the record.
    noted(&runner);
}

#[test]
fn creates_sent_in_parallel_with_lost_answers_and_errors_land_once_each() {
    let mut env = Env::new();
    env.settle();
    let ids = env.crm_create(
        AIKO,
        "ui",
        (0..48)
            .map(|i| person(&format!("Par{i}"), "Allel", &format!("par{i}@t.example")))
            .collect(),
    );
    // Requests overlap (latency), three creates land but lose their answer, and some requests
    // fail outright.
    env.graph_ctl(
        reqwest::Method::PUT,
        "/faults",
        json!({"latency_ms": 20, "timeout_after_commit": 3, "timeout_hang_ms": 50,
               "error_rate": 0.05, "error_status": 503}),
    );
    for _ in 0..6 {
        env.round(Default::default());
    }
    let faults = env.graph_ctl(reqwest::Method::GET, "/faults", serde_json::Value::Null);
    assert_eq!(
        faults["timeout_after_commit"], 0,
        "the lost answers happened: {faults}"
    );
    env.graph_ctl(reqwest::Method::PUT, "/faults", json!({}));
    env.settle();
    let items = env.folder_items();
    for id in &ids {
        let copies = items
            .iter()
            .filter(|i| env.stamp(i).as_deref() == Some(id.as_str()))
            .count();
        assert_eq!(copies, 1, "CRM {id} has {copies} copies");
    }
    let mut stamps: Vec<String> = items.iter().filter_map(|i| env.stamp(i)).collect();
    let n = stamps.len();
    stamps.sort();
    stamps.dedup();
    assert_eq!(stamps.len(), n, "no CRM record copied twice");
    assert_eq!(env.round(Default::default()).writes, 0);
}
