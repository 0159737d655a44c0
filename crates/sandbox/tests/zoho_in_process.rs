//! `start()` serves the Zoho emulator next to Microsoft 365: URLs per data centre, flags,
//! and Zoho state in the snapshot across a restart.

use clap::Parser;
use crmsync_sandbox::{start, Options};

#[tokio::test]
async fn zoho_urls_flags_and_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("sandbox.json");
    let mut options = Options::try_parse_from([
        "crmsync-sandbox",
        "--zoho-credits",
        "1000",
        "--zoho-concurrency",
        "3",
        "--zoho-edition",
        "professional",
    ])
    .unwrap();
    assert_eq!(options.zoho.credits, Some(1000));
    options.snapshot = Some(snap.clone());
    let running = start(options.clone()).await.unwrap();
    let port = running.addr.port();
    for dc in ["us", "eu", "in", "au", "jp", "ca"] {
        let urls = &running.urls.zoho[dc];
        assert_eq!(
            urls.accounts,
            format!("http://127.0.0.1:{port}/zoho/{dc}/accounts")
        );
        assert_eq!(urls.api, format!("http://127.0.0.1:{port}/zoho/{dc}/api"));
    }
    let control = running.urls.zoho_control.clone().unwrap();
    assert_eq!(control, format!("http://127.0.0.1:{port}/control/zoho"));
    let token = running
        .zoho
        .mint_token("aiko.tanaka@sakura-demo.example", &["ZohoCRM.modules.ALL"])
        .unwrap()
        .access_token;
    let http = reqwest::Client::new();
    let api = format!("{}/crm/v8", running.urls.zoho["us"].api);
    let created: serde_json::Value = http
        .post(format!("{api}/Contacts"))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .json(&serde_json::json!({"data": [{"Last_Name": "Snapshot survivor"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let counters: serde_json::Value = http
        .get(format!("{control}/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let us = counters["orgs"]
        .as_object()
        .unwrap()
        .values()
        .find(|o| o["dc"] == "us")
        .unwrap()
        .clone();
    assert_eq!(us["credit_limit"], 1000);
    assert_eq!(us["concurrency_limit"], 3);
    running.shutdown().await.unwrap();

    let again = start(options).await.unwrap();
    let api = format!("{}/crm/v8", again.urls.zoho["us"].api);
    let got = http
        .get(format!("{api}/Contacts/{id}"))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200, "record and token survive the snapshot");
    again.shutdown().await.unwrap();
}
