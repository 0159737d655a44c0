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
