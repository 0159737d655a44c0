//! `crmsync sync` killed mid-run against a sandbox started by the test, then restarted:
//! the run ends with every eligible CRM contact in the folder exactly once.

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::{
    contact_folder, crmsync, email_of, folder_contacts, runtime, succeeded, Endpoints, AIKO, BEN,
};

/// Creates `count` contacts as `user` through the control API (`origin`: api, import, ...),
/// e-mailed `{prefix}{i}@crash.example`; returns their CRM ids and e-mails.
fn seed_contacts(
    rt: &tokio::runtime::Runtime,
    at: &Endpoints,
    user: &str,
    origin: &str,
    prefix: &str,
    count: usize,
) -> Vec<(String, String)> {
    let emails: Vec<String> = (0..count)
        .map(|i| format!("{prefix}{i}@crash.example"))
        .collect();
    let data: Vec<Value> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"Last_Name": format!("{prefix} {i}"), "Email": e}))
        .collect();
    let created = at.zoho_control(
        rt,
        "/records/Contacts",
        json!({"as": user, "origin": origin, "data": data}),
    );
    let ids = created["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["details"]["id"].as_str().unwrap().to_owned());
    ids.zip(emails).collect()
}

/// The e-mails of the CRM contacts that sync for `user`, by the product's rules written out
/// here from the emulator's state (not the connector's classification): owned by the user, and
/// not created by an import or a migration unless changed since.
fn syncable_contacts(snapshot: &Value, user: &str) -> BTreeSet<String> {
    const IMPORT_SOURCES: [&str; 3] = ["mass_addition_via_ui", "bulkapi", "migration"];
    let mut emails = BTreeSet::new();
    for org in snapshot["orgs"].as_object().unwrap().values() {
        let users = org["users"].as_array().unwrap();
        let Some(owner) = users.iter().find(|u| u["email"] == user) else {
            continue;
        };
        for r in org["records"]["Contacts"].as_object().unwrap().values() {
            let timeline = r["timeline"].as_array().unwrap();
            let created = timeline.iter().find(|t| t["action"] == "added").unwrap();
            let imported = IMPORT_SOURCES.contains(&created["source"].as_str().unwrap());
            if r["owner"] == owner["id"] && !(imported && timeline.len() == 1) {
                emails.insert(r["values"]["Email"].as_str().unwrap().to_owned());
            }
        }
    }
    emails
}

#[test]
fn killed_mid_run_then_restarted_ends_without_duplicates() {
    let rt = runtime();
    let sb = rt
        .block_on(crmsync_sandbox::start(crmsync_sandbox::Options::default()))
        .unwrap();
    let at = Endpoints::of(&sb);
    // What the demo data brings for Aiko, read before the test adds anything.
    let demo = syncable_contacts(&at.zoho_snapshot(&rt), AIKO);
    assert!(!demo.is_empty());
    // A few thousand contacts: Aiko's (API), some of Ben's, some imported never changed.
    let own = seed_contacts(&rt, &at, AIKO, "api", "own", 2500);
    let bens = seed_contacts(&rt, &at, BEN, "api", "ben", 200);
    let imported = seed_contacts(&rt, &at, AIKO, "import", "imp", 100);
    // 40 of the imported records are mass-updated later: those sync, the other 60 do not.
    let (updated, untouched) = imported.split_at(40);
    let ids: Vec<&str> = updated.iter().map(|(id, _)| id.as_str()).collect();
    std::thread::sleep(Duration::from_millis(1100));
    at.zoho_control(
        &rt,
        "/records/Contacts/mass_update",
        json!({"as": AIKO, "ids": ids, "data": {"Department": "Imported, then updated"}}),
    );
    let expected: BTreeSet<String> = demo
        .iter()
        .cloned()
        .chain(own.iter().chain(updated).map(|(_, e)| e.clone()))
        .collect();
    assert_eq!(expected.len(), demo.len() + 2540);

    let dir = tempfile::tempdir().unwrap();
    let sync = || {
        let mut c = crmsync(dir.path());
        c.arg("sync")
            .args(at.flags())
            .arg("--enable-contacts")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let graph = at.graph_as(AIKO);

    // Kill the run once a few hundred copies have landed.
    kill_once(sync().spawn().unwrap(), || {
        folder_contacts(&rt, &graph).len() >= 300
    });
    let partial = folder_contacts(&rt, &graph).len();

    // Restart: it finishes.
    let stdout = succeeded(&sync().output().unwrap());
    assert!(stdout.contains("contacts: in sync"), "{stdout}");

    let items = folder_contacts(&rt, &graph);
    assert!(
        items.len() > partial,
        "the restart carried on ({partial} → {})",
        items.len()
    );
    let mut stamps: Vec<String> = items
        .iter()
        .map(|i| {
            let p: Vec<crmsync_graph::models::SingleValueExtendedProperty> =
                serde_json::from_value(i["singleValueExtendedProperties"].clone()).unwrap();
            graph.stamp_of(Some(&p)).expect("every copy is stamped")
        })
        .collect();
    stamps.sort();
    stamps.dedup();
    assert_eq!(stamps.len(), items.len(), "no CRM record has two copies");

    // Exactly the expected set: Aiko's own, the mass-updated imports and her demo contacts,
    // each once; none of Ben's, none of the untouched imports.
    let mut emails: Vec<&str> = items
        .iter()
        .map(|i| email_of(i).expect("every copy has an e-mail"))
        .collect();
    emails.sort_unstable();
    emails.dedup();
    assert_eq!(
        emails.len(),
        items.len(),
        "no e-mail is in the folder twice"
    );
    let got: BTreeSet<String> = emails.into_iter().map(str::to_owned).collect();
    let missing: Vec<&String> = expected.difference(&got).collect();
    let unexpected: Vec<&String> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{} missing, e.g. {:?}; {} unexpected, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)],
        unexpected.len(),
        &unexpected[..unexpected.len().min(5)]
    );
    for (_, e) in bens.iter().chain(untouched) {
        assert!(!got.contains(e), "{e} is not Aiko's to sync");
    }
    rt.block_on(sb.shutdown()).unwrap();
}

#[test]
fn killed_while_creating_in_the_crm_then_restarted_creates_each_contact_once() {
    let rt = runtime();
    let sb = rt
        .block_on(crmsync_sandbox::start(crmsync_sandbox::Options::default()))
        .unwrap();
    let at = Endpoints::of(&sb);
    let dir = tempfile::tempdir().unwrap();
    let sync = || {
        let mut c = crmsync(dir.path());
        c.args(["sync", "--enable-contacts"])
            .args(at.flags())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    succeeded(&sync().output().unwrap());

    let graph = at.graph_as(AIKO);
    let folder = contact_folder(&rt, &graph).unwrap();
    const N: usize = 400;
    for i in 0..N {
        rt.block_on(graph.mailbox_json(
            reqwest::Method::POST,
            &format!("/contactFolders/{folder}/contacts"),
            Some(
                json!({"givenName": format!("Outlook{i}"), "surname": "Made",
                "emailAddresses": [{"address": format!("o{i}@outlook-made.example")}]}),
            ),
            None,
        ))
        .unwrap();
    }
    let zoho = at.zoho_as(&rt, AIKO);
    let crm_count = || {
        rt.block_on(zoho.coql("select id, Email from Contacts where Last_Name = 'Made' limit 2000"))
            .unwrap()
            .0
    };

    kill_once(sync().spawn().unwrap(), || crm_count().len() >= 40);
    let partial = crm_count().len();
    succeeded(&sync().output().unwrap());
    let rows = crm_count();
    assert!(rows.len() > partial);
    let mut emails: Vec<String> = rows
        .iter()
        .map(|r| r["Email"].as_str().unwrap().to_string())
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(
        emails.len(),
        rows.len(),
        "no contact was created twice in the CRM"
    );
    assert_eq!(rows.len(), N);
    rt.block_on(sb.shutdown()).unwrap();
}

#[test]
fn the_headless_sandbox_demo_syncs_and_status_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = crmsync(dir.path())
        .args(["sync", "--sandbox", "--sandbox-generate", "120"])
        .output()
        .unwrap();
    let stdout = succeeded(&out);
    assert!(
        stdout.contains("signed in as aiko.tanaka@sakura-demo.example"),
        "{stdout}"
    );
    assert!(stdout.contains("contacts: round 1 Completed"), "{stdout}");
    assert!(stdout.contains("contacts: in sync"), "{stdout}");
    // The headless demo syncs every module.
    assert!(stdout.contains("events: in sync"), "{stdout}");
    assert!(stdout.contains("tasks: in sync"), "{stdout}");
    // Progress within a round: the steps, and the plan as it runs (120+ contacts: a line
    // every tenth, not one per action).
    assert!(
        stdout.contains("contacts: reading the Microsoft 365 changes"),
        "{stdout}"
    );
    let executing = stdout
        .lines()
        .filter(|l| l.starts_with("contacts: ") && l.ends_with(" actions done"))
        .count();
    assert!((2..=20).contains(&executing), "{stdout}");
    let out = crmsync(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["modules"][1]["module"], "contacts");
    assert_eq!(v["modules"][1]["enabled"], true);
    assert!(!v["modules"][1]["last_sync_at"].is_null());
    // The stored health counts what landed: the 120 generated contacts and the demo's own.
    assert!(v["counts"][1]["synced"].as_u64().unwrap() >= 120, "{v}");
    assert!(v["counts"][1]["excluded"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["counts"][1]["failing"], 0, "{v}");
}

#[test]
fn disable_contacts_deletes_the_folder_and_keeps_the_crm() {
    let rt = runtime();
    let sb = rt
        .block_on(crmsync_sandbox::start(crmsync_sandbox::Options::default()))
        .unwrap();
    let at = Endpoints::of(&sb);
    let dir = tempfile::tempdir().unwrap();
    let sync = |extra: &[&str]| {
        crmsync(dir.path())
            .arg("sync")
            .args(at.flags())
            .args(extra)
            .output()
            .unwrap()
    };
    let zoho = at.zoho_as(&rt, AIKO);
    let crm_total = || {
        rt.block_on(zoho.coql("select id from Contacts where Last_Name is not null limit 2000"))
            .unwrap()
            .0
            .len()
    };
    let before = crm_total();
    succeeded(&sync(&["--enable-contacts"]));
    let graph = at.graph_as(AIKO);
    assert!(contact_folder(&rt, &graph).is_some());
    succeeded(&sync(&["--disable-contacts"]));
    assert!(contact_folder(&rt, &graph).is_none());
    assert_eq!(crm_total(), before);
    assert!(succeeded(&sync(&[])).contains("no module is enabled"));
    rt.block_on(sb.shutdown()).unwrap();
}

#[test]
fn sync_without_connected_accounts_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = crmsync(dir.path()).arg("sync").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Zoho CRM is not connected: connect it in the app first"),
        "{stderr}"
    );
}

/// Kills `child` (a sync run) as soon as `landed` says enough of its work is done.
fn kill_once(mut child: Child, landed: impl Fn() -> bool) {
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended before it could be killed: {status}");
        }
        if landed() {
            child.kill().unwrap();
            child.wait().unwrap();
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
    }
}
