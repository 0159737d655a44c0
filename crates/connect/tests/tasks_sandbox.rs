//! Tasks sync end to end against the sandbox over real HTTP (in-process): CRM Tasks ⇄ the
//! "Zoho CRM Tasks" Microsoft To Do list.

mod common;

use common::{control, new_store_for, runner_round, AIKO, BEN};
use crmsync_connect::tasks::{task_stamp, TASK_LIST_EXTENSION};
use crmsync_connect::{SystemClock, ZohoTasks, TASK_LIST_NAME};
use crmsync_core::task::TaskRecord;
use crmsync_engine::{ModuleKind, RoundOptions, RoundOutcome};
use reqwest::Method;
use serde_json::{json, Value};

const T: ModuleKind = ModuleKind::Tasks;

type Env = common::ModuleEnv<ZohoTasks>;

impl Env {
    /// CRM tasks with this subject (id, owner id, whole row).
    fn crm_by_subject(&self, subject: &str) -> Vec<Value> {
        let q = format!(
            "select id, Owner, Subject, Status, Priority, Due_Date from Tasks where Subject = '{subject}'"
        );
        self.rt.block_on(self.zoho_client.coql(&q)).unwrap().0
    }

    fn list_id(&self) -> String {
        self.graph.list().expect("list selected").to_string()
    }

    /// Every task of the sync list (raw Graph JSON with linked resources).
    fn list_items(&self) -> Vec<Value> {
        let rest = format!(
            "/todo/lists/{}/tasks?$expand=linkedResources&$top=100",
            self.list_id()
        );
        self.rt
            .block_on(self.graph_client.mailbox_list_json(&rest))
            .unwrap()
    }

    fn titles(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .list_items()
            .iter()
            .filter_map(|t| t["title"].as_str().map(str::to_string))
            .collect();
        v.sort();
        v
    }

    fn item(&self, title: &str) -> Option<Value> {
        self.list_items()
            .into_iter()
            .find(|t| t["title"].as_str() == Some(title))
    }

    fn lists_named(&self) -> Vec<Value> {
        self.rt
            .block_on(self.graph_client.mailbox_list_json("/todo/lists"))
            .unwrap()
            .into_iter()
            .filter(|l| l["displayName"] == TASK_LIST_NAME)
            .collect()
    }

    fn crm_count(&self, subject_prefix: &str) -> usize {
        let q = format!("select id from Tasks where Subject like '{subject_prefix}%'");
        match self.rt.block_on(self.zoho_client.coql(&q)) {
            Ok((rows, _)) => rows.len(),
            Err(e) => panic!("{e}"),
        }
    }
}

fn task(subject: &str, due: &str, status: &str, priority: &str) -> Value {
    json!({"Subject": subject, "Due_Date": due, "Status": status, "Priority": priority})
}

/// Seed tasks the demo gives Aiko (owned, created in the UI).
const SEEDED_MINE: [&str; 4] = [
    "見積書を送付する",
    "Follow up with Northwind",
    "契約書のレビュー",
    "Prepare expo booth",
];

#[test]
fn enabling_lands_exactly_the_owned_non_imported_tasks_then_nothing() {
    let mut env = Env::new();
    let mine = env.crm_create(
        AIKO,
        "ui",
        (0..3)
            .map(|i| {
                task(
                    &format!("Mine {i}"),
                    &format!("2026-12-1{i}"),
                    "Not Started",
                    "Normal",
                )
            })
            .collect(),
    );
    env.crm_create(
        BEN,
        "ui",
        vec![task("Bens task", "2026-12-01", "Not Started", "High")],
    );
    env.crm_create(
        AIKO,
        "import",
        vec![
            task("Imported A", "2026-12-01", "Not Started", "Normal"),
            task("Imported B", "2026-12-02", "Deferred", "Low"),
        ],
    );
    env.crm_create(
        AIKO,
        "migration",
        vec![task("Migrated", "2026-12-03", "Not Started", "Normal")],
    );
    let mass = env.crm_create(
        AIKO,
        "import",
        vec![task("Mass updated", "2026-12-04", "Not Started", "Normal")],
    );
    let edited = env.crm_create(
        AIKO,
        "bulk_api",
        vec![task("Edited later", "2026-12-05", "Not Started", "Normal")],
    );
    // Let Modified_Time move past Created_Time.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.zoho(
        Method::POST,
        "/records/Tasks/mass_update",
        json!({"as": AIKO, "ids": mass, "data": {"Description": "bulk note"}}),
    );
    env.crm_update(&edited[0], json!({"Priority": "High"}));

    let writes = env.settle();
    let mut expected: Vec<String> = SEEDED_MINE
        .iter()
        .map(|s| (*s).to_string())
        .chain((0..3).map(|i| format!("Mine {i}")))
        .chain(["Mass updated".to_string(), "Edited later".to_string()])
        .collect();
    expected.sort();
    assert_eq!(env.titles(), expected);
    assert!(writes >= expected.len(), "{writes}");

    // One list, stamped with the app's open extension.
    let lists = env.lists_named();
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert_eq!(lists[0]["id"], env.list_id().as_str());
    assert_eq!(lists[0]["wellknownListName"], "none");
    let ext = env.graph_json(
        Method::GET,
        &format!(
            "/todo/lists/{}/extensions/{TASK_LIST_EXTENSION}",
            env.list_id()
        ),
        None,
    );
    assert_eq!(ext["extensionName"], TASK_LIST_EXTENSION);

    // Every task carries its CRM id, once.
    let items = env.list_items();
    let mut stamps: Vec<String> = items
        .iter()
        .map(|i| task_stamp(i).expect("stamped"))
        .collect();
    stamps.sort();
    stamps.dedup();
    assert_eq!(stamps.len(), items.len(), "one copy per CRM task");
    for id in &mine {
        assert!(stamps.contains(id));
    }

    // Status and priority by class; dates as dates.
    let review = env.item("契約書のレビュー").unwrap();
    assert_eq!(review["status"], "completed");
    assert_eq!(review["importance"], "high");
    let expo = env.item("Prepare expo booth").unwrap();
    assert_eq!(expo["status"], "waitingOnOthers");
    assert_eq!(expo["importance"], "low");
    let m1 = env.item("Mine 1").unwrap();
    assert!(m1["dueDateTime"]["dateTime"]
        .as_str()
        .unwrap()
        .starts_with("2026-12-1"));
    let mass_item = env.item("Mass updated").unwrap();
    assert_eq!(mass_item["body"]["content"], "bulk note");
    // The CRM's "Highest" survived the round trip (no To Do twin, not clobbered).
    let review_crm = env.crm_by_subject("契約書のレビュー");
    assert_eq!(review_crm[0]["Priority"], "Highest");

    // A second round writes nothing.
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Completed);
    assert_eq!(r.writes, 0);
    assert!(
        r.plan.as_ref().is_some_and(|p| p.is_empty()),
        "{:?}",
        r.plan
    );
}

#[test]
fn edits_completions_creates_and_deletes_propagate_per_the_rules() {
    let mut env = Env::new();
    let ids = env.crm_create(
        AIKO,
        "ui",
        (0..5)
            .map(|i| task(&format!("Prop {i}"), "2026-12-10", "Not Started", "Normal"))
            .collect(),
    );
    env.settle();
    let list = env.list_id();
    let gid = |env: &Env, title: &str| -> String {
        env.item(title).unwrap()["id"].as_str().unwrap().to_string()
    };

    // CRM edit → To Do.
    env.crm_update(
        &ids[0],
        json!({"Subject": "Prop 0 renamed", "Due_Date": "2027-01-15", "Priority": "Lowest",
               "Description": "from the CRM"}),
    );
    // To Do edit and completion → CRM.
    let g1 = gid(&env, "Prop 1");
    env.graph_json(
        Method::PATCH,
        &format!("/todo/lists/{list}/tasks/{g1}"),
        Some(
            json!({"title": "Prop 1 done", "status": "completed", "importance": "high",
                    "dueDateTime": {"dateTime": "2027-02-01T15:30:00", "timeZone": "UTC"}}),
        ),
    );
    // To Do create → CRM task owned by the user.
    env.graph_json(
        Method::POST,
        &format!("/todo/lists/{list}/tasks"),
        Some(
            json!({"title": "Made in To Do", "status": "inProgress", "importance": "high",
                    "body": {"content": "to do body", "contentType": "text"},
                    "dueDateTime": {"dateTime": "2027-03-03T00:00:00", "timeZone": "UTC"}}),
        ),
    );
    // CRM delete → the To Do copy goes.
    env.zoho(
        Method::DELETE,
        &format!("/records/Tasks?as={AIKO}&ids={}", ids[2]),
        Value::Null,
    );
    env.settle();

    let p0 = env.item("Prop 0 renamed").expect("CRM edit reached To Do");
    assert_eq!(p0["importance"], "low");
    assert!(p0["dueDateTime"]["dateTime"]
        .as_str()
        .unwrap()
        .starts_with("2027-01-15"));
    assert_eq!(p0["body"]["content"], "from the CRM");
    let c1 = env.crm_get(&ids[1]).unwrap();
    assert_eq!(c1["Subject"], "Prop 1 done");
    assert_eq!(c1["Status"], "Completed");
    assert_eq!(c1["Priority"], "High");
    assert_eq!(c1["Due_Date"], "2027-02-01");
    assert!(env.item("Prop 2").is_none(), "CRM delete removes the copy");
    let made = env.crm_by_subject("Made in To Do");
    assert_eq!(made.len(), 1, "{made:?}");
    let me = env.rt.block_on(env.zoho_client.current_user()).unwrap();
    assert_eq!(made[0]["Owner"]["id"], me.id.as_str());
    assert_eq!(made[0]["Status"], "In Progress");
    assert_eq!(made[0]["Priority"], "High");
    assert_eq!(made[0]["Due_Date"], "2027-03-03");
    // A To Do edit of another field writes the CRM task back, and its "Lowest" (shown as
    // `low` in To Do, no twin there) is not clobbered by the round trip.
    assert_eq!(env.crm_get(&ids[0]).unwrap()["Priority"], "Lowest");
    let g0 = gid(&env, "Prop 0 renamed");
    env.graph_json(
        Method::PATCH,
        &format!("/todo/lists/{list}/tasks/{g0}"),
        Some(json!({"title": "Prop 0 edited in To Do"})),
    );
    env.settle();
    let c0 = env.crm_get(&ids[0]).unwrap();
    assert_eq!(c0["Subject"], "Prop 0 edited in To Do");
    assert_eq!(c0["Priority"], "Lowest");
    // Everything is linked: a further round does nothing.
    let r = env.round(RoundOptions::default());
    assert_eq!(r.writes, 0);

    // Delete checkbox off: a To Do delete only unlinks; the CRM task stays.
    let g3 = gid(&env, "Prop 3");
    env.graph_json(
        Method::DELETE,
        &format!("/todo/lists/{list}/tasks/{g3}"),
        None,
    );
    env.settle();
    assert!(
        env.crm_get(&ids[3]).is_some(),
        "checkbox off keeps the CRM task"
    );
    assert!(env.item("Prop 3").is_none(), "not pushed back unchanged");

    // Delete checkbox on: a To Do delete deletes the CRM task.
    env.store
        .set_delete_propagation(T, true, chrono::Utc::now())
        .unwrap();
    let g4 = gid(&env, "Prop 4");
    env.graph_json(
        Method::DELETE,
        &format!("/todo/lists/{list}/tasks/{g4}"),
        None,
    );
    let r = env.round(RoundOptions {
        deletes_confirmed: true,
        ..Default::default()
    });
    assert_eq!(r.outcome, RoundOutcome::Completed, "{:?}", r.failures);
    env.settle();
    assert!(
        env.crm_get(&ids[4]).is_none(),
        "checkbox on deletes the CRM task"
    );
    // The detached one comes back once it changes in the CRM.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.crm_update(&ids[3], json!({"Status": "In Progress"}));
    env.settle();
    assert_eq!(env.item("Prop 3").unwrap()["status"], "inProgress");
}

#[test]
fn disabling_deletes_the_list_and_a_deleted_list_disables_without_crm_deletes() {
    let mut env = Env::new();
    env.crm_create(
        AIKO,
        "ui",
        (0..3)
            .map(|i| task(&format!("Dis {i}"), "2026-12-20", "Not Started", "Normal"))
            .collect(),
    );
    env.settle();
    assert_eq!(env.crm_count("Dis "), 3);
    let list = env.list_id();

    // The user deletes the list in To Do: the module disables, the CRM keeps everything.
    env.graph_json(Method::DELETE, &format!("/todo/lists/{list}"), None);
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Disabled);
    assert!(!env.store.module(T).unwrap().enabled);
    assert_eq!(env.crm_count("Dis "), 3);

    // Re-enable: a new list with the copies again.
    env.store.enable(T, chrono::Utc::now()).unwrap();
    env.settle();
    assert_ne!(env.list_id(), list);
    assert_eq!(
        env.titles()
            .iter()
            .filter(|t| t.starts_with("Dis "))
            .count(),
        3
    );
    // Disable: the list goes, the CRM stays.
    let list = env.list_id();
    let r = crmsync_engine::disable_module::<TaskRecord, _>(
        &mut env.store,
        T,
        &mut env.graph,
        &SystemClock,
    )
    .unwrap();
    assert_eq!(r, Ok(()));
    assert!(!env.store.module(T).unwrap().enabled);
    assert!(env.lists_named().iter().all(|l| l["id"] != list.as_str()));
    assert!(env.lists_named().is_empty());
    assert_eq!(env.crm_count("Dis "), 3);
}

#[test]
fn the_list_is_found_again_by_its_stamp() {
    use crmsync_engine::ContainerPort;
    let mut env = Env::new();
    env.settle();
    let list = env.list_id();
    // Another list with the same name, made by the user later with a task of their own, is
    // not taken for ours.
    let other = env.graph_json(
        Method::POST,
        "/todo/lists",
        Some(json!({"displayName": TASK_LIST_NAME})),
    );
    let other = other["id"].as_str().unwrap().to_string();
    env.graph_json(
        Method::POST,
        &format!("/todo/lists/{other}/tasks"),
        Some(json!({"title": "My own errand"})),
    );
    assert_eq!(env.lists_named().len(), 2);
    assert_eq!(env.graph.find_container().unwrap(), Some(list.clone()));
    // Without its stamp (a create whose stamp was lost), ours is still found: it holds only
    // stamped copies. It is stamped again on the way.
    env.graph_json(
        Method::DELETE,
        &format!("/todo/lists/{list}/extensions/{TASK_LIST_EXTENSION}"),
        None,
    );
    assert_eq!(env.graph.find_container().unwrap(), Some(list.clone()));
    env.graph_json(
        Method::GET,
        &format!("/todo/lists/{list}/extensions/{TASK_LIST_EXTENSION}"),
        None,
    );
    // The user's own list alone is never adopted: its tasks stay out of the CRM.
    env.graph_json(Method::DELETE, &format!("/todo/lists/{list}"), None);
    assert_eq!(env.graph.find_container().unwrap(), None);
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Disabled);
    env.store.enable(T, chrono::Utc::now()).unwrap();
    env.settle();
    assert_ne!(env.list_id(), other);
    assert!(env.crm_by_subject("My own errand").is_empty());
}

#[test]
fn a_crm_create_whose_answer_is_lost_is_not_duplicated() {
    let mut env = Env::new();
    env.settle();
    let list = env.list_id();
    env.graph_json(
        Method::POST,
        &format!("/todo/lists/{list}/tasks"),
        Some(json!({"title": "Lost answer",
                    "dueDateTime": {"dateTime": "2027-04-04T00:00:00", "timeZone": "UTC"}})),
    );
    // The next CRM write commits, then answers 504 after a short hang.
    env.zoho(
        Method::PUT,
        "/faults",
        json!({"timeout_next_writes": 1, "hang_ms": 200}),
    );
    for _ in 0..3 {
        env.round(RoundOptions::default());
    }
    env.settle();
    let rows = env.crm_by_subject("Lost answer");
    assert_eq!(rows.len(), 1, "exactly one CRM task: {rows:?}");
    let counters = env.zoho(Method::GET, "/counters", Value::Null);
    assert_eq!(
        counters["injected_faults"].as_u64(),
        Some(1),
        "the fault fired: {counters}"
    );
    let r = env.round(RoundOptions::default());
    assert_eq!(r.writes, 0);
}

#[test]
fn a_to_do_create_whose_answer_is_lost_is_found_by_its_stamp() {
    let mut env = Env::new();
    // The first round creates the list; then the next Graph write commits and answers 504.
    env.settle();
    let id = env.crm_create(
        AIKO,
        "ui",
        vec![task(
            "Lost To Do answer",
            "2027-06-06",
            "Not Started",
            "High",
        )],
    )[0]
    .clone();
    control(
        &env.rt,
        &env.http,
        Method::PUT,
        format!("{}/faults", env.gc),
        json!({"timeout_after_commit": 1, "timeout_hang_ms": 100}),
    );
    for _ in 0..3 {
        env.round(RoundOptions::default());
    }
    env.settle();
    let copies: Vec<Value> = env
        .list_items()
        .into_iter()
        .filter(|t| t["title"] == "Lost To Do answer")
        .collect();
    assert_eq!(copies.len(), 1, "exactly one To Do copy: {copies:?}");
    assert_eq!(task_stamp(&copies[0]).as_deref(), Some(id.as_str()));
    let faults = control(
        &env.rt,
        &env.http,
        Method::GET,
        format!("{}/faults", env.gc),
        Value::Null,
    );
    assert_eq!(
        faults["timeout_after_commit"], 0,
        "the fault fired: {faults}"
    );
    let r = env.round(RoundOptions::default());
    assert_eq!(r.writes, 0);
}

#[test]
fn find_created_matches_subject_due_date_owner_and_time() {
    use crmsync_core::CanonicalRecord;
    use crmsync_engine::RecordPort;
    let mut env = Env::new();
    let before = chrono::Utc::now();
    let ids = env.crm_create(
        AIKO,
        "api",
        vec![task("Find me", "2027-05-05", "Not Started", "Normal")],
    );
    // Same subject and date, another owner: never taken for Aiko's create.
    env.crm_create(
        BEN,
        "api",
        vec![task("Find me", "2027-05-05", "Not Started", "Normal")],
    );
    let record = env.crm.get(&ids[0]).unwrap().unwrap().record;
    assert_eq!(record.natural_key(), None);
    let found = env.crm.find_created("graph-id", &record, before).unwrap();
    assert_eq!(found.map(|o| o.id), Some(ids[0].clone()));
    // Another due date is another task.
    let mut other = record.fields().clone();
    other.insert(
        "dueDateTime".into(),
        crmsync_core::FieldValue::Date(chrono::NaiveDate::from_ymd_opt(2027, 5, 6).unwrap()),
    );
    let other = TaskRecord::from_fields(other).unwrap();
    assert!(env.crm.find_created("g", &other, before).unwrap().is_none());
    // An intent written well after the task was created does not claim it.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    assert!(env.crm.find_created("g", &record, later).unwrap().is_none());
}

#[test]
fn bad_input_fails_on_its_own_and_the_rest_syncs() {
    let mut env = Env::new();
    env.settle();
    let list = env.list_id();
    let long = "L".repeat(300);
    env.graph_json(
        Method::POST,
        &format!("/todo/lists/{list}/tasks"),
        Some(json!({"title": long})),
    );
    env.graph_json(
        Method::POST,
        &format!("/todo/lists/{list}/tasks"),
        Some(json!({"title": "Fine one"})),
    );
    env.crm_create(
        AIKO,
        "ui",
        vec![task("Fine CRM", "2026-12-24", "Not Started", "Normal")],
    );
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Completed);
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert!(
        format!("{:?}", r.failures[0]).contains("255"),
        "{:?}",
        r.failures[0]
    );
    assert_eq!(env.crm_by_subject("Fine one").len(), 1);
    assert!(env.item("Fine CRM").is_some());
    // Nothing of the long title reached the CRM, truncated or not.
    assert_eq!(env.crm_count("LLLL"), 0);
}

#[test]
fn the_module_interface_previews_syncs_and_disables_tasks() {
    let env = Env::new();
    let store = new_store_for(&env.dir.path().join("runner.db"), T);
    store.disable(T, chrono::Utc::now()).unwrap();
    let mut runner = env.runner(store);
    assert!(runner.is_connected(T));

    // The preview before enabling counts the seed's eligible tasks and creates no list.
    let digest = runner.preview(T, &SystemClock).unwrap();
    let plan = digest.plan.expect("a plan");
    assert_eq!(plan.create_in_graph, SEEDED_MINE.len(), "{plan:?}");
    assert_eq!(plan.excluded.get("not_owner").copied(), Some(1), "{plan:?}");
    assert_eq!(plan.excluded.get("imported").copied(), Some(1), "{plan:?}");
    assert!(env.lists_named().is_empty());

    runner.store.enable(T, chrono::Utc::now()).unwrap();
    let mut in_sync = false;
    for _ in 0..6 {
        let d = runner_round(&mut runner, T).unwrap();
        assert!(d.failures.is_empty(), "{:?}", d.failures);
        if d.in_sync() {
            in_sync = true;
            break;
        }
    }
    assert!(in_sync);
    assert_eq!(env.lists_named().len(), 1);

    assert_eq!(runner.disable(T, &SystemClock).unwrap(), Ok(()));
    assert!(env.lists_named().is_empty());
    assert!(!runner.store.module(T).unwrap().enabled);
    assert_eq!(env.crm_by_subject("Follow up with Northwind").len(), 1);
}
