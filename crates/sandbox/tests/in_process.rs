//! `start()` runs the sandbox in-process: URLs, serving, snapshot on shutdown.

use crmsync_sandbox::{start, Options};

#[tokio::test]
async fn start_serves_and_snapshot_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("sandbox.json");
    let options = Options {
        snapshot: Some(snap.clone()),
        ..Options::default()
    };
    let running = start(options.clone()).await.unwrap();
    let port = running.addr.port();
    assert_ne!(port, 0);
    assert_eq!(
        running.urls.graph,
        format!("http://127.0.0.1:{port}/graph/v1.0")
    );
    assert_eq!(running.urls.login, format!("http://127.0.0.1:{port}/login"));
    assert_eq!(
        running.urls.graph_control,
        format!("http://127.0.0.1:{port}/control/graph")
    );
    let line = serde_json::to_value(&running.urls).unwrap();
    assert!(
        line.get("graph").is_some()
            && line.get("login").is_some()
            && line.get("graph_control").is_some()
    );

    let http = reqwest::Client::new();
    let me = http
        .get(format!("{}/me", running.urls.graph))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let tok: serde_json::Value = http
        .post(format!("{}/tokens", running.urls.graph_control))
        .json(&serde_json::json!({"user": "yui.suzuki@sakura-demo.example", "scopes": "Tasks.ReadWrite"}))
        .send().await.unwrap().json().await.unwrap();
    let at = tok["access_token"].as_str().unwrap().to_string();
    let created = http
        .post(format!("{}/me/todo/lists", running.urls.graph))
        .bearer_auth(&at)
        .json(&serde_json::json!({"displayName": "Survives restart"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    running.shutdown().await.unwrap();
    assert!(snap.exists());

    let again = start(options).await.unwrap();
    let lists: serde_json::Value = http
        .get(format!("{}/me/todo/lists", again.urls.graph))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        lists["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["displayName"] == "Survives restart"),
        "{lists}"
    );
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn no_seed_starts_empty_and_bad_snapshot_is_an_error() {
    let running = start(Options {
        no_seed: true,
        ..Options::default()
    })
    .await
    .unwrap();
    let users: serde_json::Value = reqwest::get(format!("{}/users", running.urls.graph_control))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 0);
    running.shutdown().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("bad.json");
    std::fs::write(&snap, "{not json").unwrap();
    let err = start(Options {
        snapshot: Some(snap),
        ..Options::default()
    })
    .await
    .err()
    .expect("a broken snapshot must fail");
    assert!(err.to_string().contains("bad.json"));
}
