//! `crmsync sync` killed mid-run against a sandbox started by the test, then restarted:
//! the run ends with every eligible CRM contact in the folder exactly once.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crmsync_connect::{connect_contacts, ControlTokens};
use crmsync_engine::{ContainerPort, RecordPort};
use crmsync_graph::{GraphClient, GraphConfig};
use crmsync_zoho::{ZohoClient, ZohoConfig};
use serde_json::{json, Value};

const AIKO: &str = "aiko.tanaka@sakura-demo.example";
const BEN: &str = "ben.carter@sakura-demo.example";

fn control(rt: &tokio::runtime::Runtime, url: String, body: Value) -> Value {
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{url}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

#[test]
fn killed_mid_run_then_restarted_ends_without_duplicates() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sb = rt
        .block_on(crmsync_sandbox::start(crmsync_sandbox::Options::default()))
        .unwrap();
    let zc = sb.urls.zoho_control.clone().unwrap();
    let gc = sb.urls.graph_control.clone();
    // A few thousand contacts: Aiko's (API), some of Ben's, some imported never changed.
    control(
        &rt,
        format!("{zc}/generate"),
        json!({"as": AIKO, "module": "Contacts", "count": 2500}),
    );
    control(
        &rt,
        format!("{zc}/generate"),
        json!({"as": BEN, "module": "Contacts", "count": 200}),
    );
    let imported: Vec<Value> = (0..100)
        .map(|i| json!({"Last_Name": format!("Imported{i}"), "Email": format!("imp{i}@crash.example")}))
        .collect();
    let created = control(
        &rt,
        format!("{zc}/records/Contacts"),
        json!({"as": AIKO, "origin": "import", "data": imported}),
    );
    // 40 of the imported records are mass-updated later: those sync, the other 60 do not.
    let ids: Vec<&str> = created["data"].as_array().unwrap()[..40]
        .iter()
        .map(|d| d["details"]["id"].as_str().unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(1100));
    control(
        &rt,
        format!("{zc}/records/Contacts/mass_update"),
        json!({"as": AIKO, "ids": ids, "data": {"Department": "Imported, then updated"}}),
    );

    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_crmsync");
    let args = |extra: &[&str]| {
        let mut c = Command::new(bin);
        c.arg("--data-dir")
            .arg(dir.path())
            .arg("sync")
            .arg("--graph-url")
            .arg(&sb.urls.graph)
            .arg("--graph-control")
            .arg(&gc)
            .arg("--zoho-control")
            .arg(&zc)
            .arg("--enable-contacts")
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };

    // The test's own view of the services.
    let graph = GraphClient::new(
        GraphConfig::new(&sb.urls.graph),
        Arc::new(ControlTokens::graph(&gc, AIKO)),
    )
    .unwrap();
    let zt = ControlTokens::zoho(&zc, AIKO);
    let minted = rt.block_on(zt.mint()).unwrap();
    let zoho = ZohoClient::new(
        ZohoConfig::new(minted["api_domain"].as_str().unwrap()),
        Arc::new(zt),
    )
    .unwrap();
    let (mut crm_view, mut graph_view) = rt
        .block_on(connect_contacts(graph.clone(), zoho, rt.handle().clone()))
        .unwrap();
    let folder_items = |graph_view: &mut crmsync_connect::GraphContacts| -> Vec<Value> {
        let Some(id) = graph_view.find_container().unwrap() else {
            return Vec::new();
        };
        let rest = format!(
            "/contactFolders/{id}/contacts?$top=100&$expand={}",
            graph.stamp_expand()
        );
        rt.block_on(graph.mailbox_list_json(&rest)).unwrap()
    };

    // Kill the run once a few hundred copies have landed.
    let mut child = args(&[]).spawn().unwrap();
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(40));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended before it could be killed: {status}");
        }
        let n = folder_items(&mut graph_view).len();
        if n >= 300 {
            child.kill().unwrap();
            child.wait().unwrap();
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
    }
    let partial = folder_items(&mut graph_view).len();

    // Restart: it finishes.
    let out = args(&[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("contacts: in sync"), "{stdout}");

    let items = folder_items(&mut graph_view);
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
    let n = stamps.len();
    stamps.dedup();
    assert_eq!(stamps.len(), n, "no CRM record has two copies");

    // Exactly the eligible set: what the CRM side classifies as syncable.
    let listing = crm_view.list_all().unwrap();
    let mut eligible: Vec<String> = listing
        .observations
        .iter()
        .filter_map(|o| match o {
            crmsync_core::planner::Observation::Present(o) if o.exclusion.is_none() => {
                Some(o.id.clone())
            }
            _ => None,
        })
        .collect();
    eligible.sort();
    assert!(eligible.len() >= 2540, "{}", eligible.len());
    for id in &ids {
        assert!(
            eligible.iter().any(|e| e == id),
            "mass-updated import {id} syncs"
        );
    }
    assert_eq!(stamps, eligible);
    rt.block_on(sb.shutdown()).unwrap();
}

#[test]
fn killed_while_creating_in_the_crm_then_restarted_creates_each_contact_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sb = rt
        .block_on(crmsync_sandbox::start(crmsync_sandbox::Options::default()))
        .unwrap();
    let zc = sb.urls.zoho_control.clone().unwrap();
    let gc = sb.urls.graph_control.clone();
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_crmsync");
    let run = || {
        let mut c = Command::new(bin);
        c.arg("--data-dir")
            .arg(dir.path())
            .args(["sync", "--enable-contacts", "--graph-url", &sb.urls.graph])
            .args(["--graph-control", &gc, "--zoho-control", &zc])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let out = run().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let graph = GraphClient::new(
        GraphConfig::new(&sb.urls.graph),
        Arc::new(ControlTokens::graph(&gc, AIKO)),
    )
    .unwrap();
    let folders = rt
        .block_on(graph.mailbox_list_json("/contactFolders"))
        .unwrap();
    let folder = folders
        .iter()
        .find(|f| f["displayName"] == "Zoho CRM Contacts")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
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
    let zt = ControlTokens::zoho(&zc, AIKO);
    let minted = rt.block_on(zt.mint()).unwrap();
    let zoho = ZohoClient::new(
        ZohoConfig::new(minted["api_domain"].as_str().unwrap()),
        Arc::new(zt),
    )
    .unwrap();
    let crm_count = || {
        rt.block_on(zoho.coql("select id, Email from Contacts where Last_Name = 'Made' limit 2000"))
            .unwrap()
            .0
    };

    let mut child = run().spawn().unwrap();
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended before it could be killed: {status}");
        }
        if crm_count().len() >= 40 {
            child.kill().unwrap();
            child.wait().unwrap();
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
    }
    let partial = crm_count().len();
    let out = run().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let bin = env!("CARGO_BIN_EXE_crmsync");
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["sync", "--sandbox", "--sandbox-generate", "120"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("signed in as aiko.tanaka@sakura-demo.example"),
        "{stdout}"
    );
    assert!(stdout.contains("contacts: round 1 Completed"), "{stdout}");
    assert!(stdout.contains("contacts: in sync"), "{stdout}");
    // The headless demo syncs every module.
    assert!(stdout.contains("events: in sync"), "{stdout}");
    assert!(stdout.contains("tasks: in sync"), "{stdout}");
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sb = rt
        .block_on(crmsync_sandbox::start(crmsync_sandbox::Options::default()))
        .unwrap();
    let zc = sb.urls.zoho_control.clone().unwrap();
    let gc = sb.urls.graph_control.clone();
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_crmsync");
    let run = |extra: &[&str]| {
        Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["sync", "--graph-url", &sb.urls.graph])
            .args(["--graph-control", &gc, "--zoho-control", &zc])
            .args(extra)
            .output()
            .unwrap()
    };
    let zt = ControlTokens::zoho(&zc, AIKO);
    let minted = rt.block_on(zt.mint()).unwrap();
    let zoho = ZohoClient::new(
        ZohoConfig::new(minted["api_domain"].as_str().unwrap()),
        Arc::new(zt),
    )
    .unwrap();
    let crm_total = || {
        rt.block_on(zoho.coql("select id from Contacts where Last_Name is not null limit 2000"))
            .unwrap()
            .0
            .len()
    };
    let before = crm_total();
    let out = run(&["--enable-contacts"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let graph = GraphClient::new(
        GraphConfig::new(&sb.urls.graph),
        Arc::new(ControlTokens::graph(&gc, AIKO)),
    )
    .unwrap();
    let has_folder = || {
        rt.block_on(graph.mailbox_list_json("/contactFolders"))
            .unwrap()
            .iter()
            .any(|f| f["displayName"] == "Zoho CRM Contacts")
    };
    assert!(has_folder());
    let out = run(&["--disable-contacts"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!has_folder());
    assert_eq!(crm_total(), before);
    let out = run(&[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no module is enabled"));
    rt.block_on(sb.shutdown()).unwrap();
}

#[test]
fn sync_without_connected_accounts_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crmsync"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("sync")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Zoho CRM is not connected: connect it in the app first"),
        "{stderr}"
    );
}
