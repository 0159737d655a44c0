//! A sandbox started in-process, both clients signed in through the control API (no
//! browser), a store in a temporary directory, and helpers to act as a user on either side.

#![allow(dead_code)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crmsync_connect::{
    connect_contacts, run_contacts_round, ControlTokens, GraphContacts, SystemClock, ZohoContacts,
};
use crmsync_core::contact::ContactRecord;
use crmsync_engine::{
    Account, ModuleKind, RoundOptions, RoundOutcome, RoundReport, Service, Store,
};
use crmsync_graph::{GraphClient, GraphConfig};
use crmsync_zoho::{ZohoClient, ZohoConfig};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

pub const AIKO: &str = "aiko.tanaka@sakura-demo.example";
pub const BEN: &str = "ben.carter@sakura-demo.example";
pub const M: ModuleKind = ModuleKind::Contacts;

pub struct Env {
    pub rt: Runtime,
    pub sb: crmsync_sandbox::RunningSandbox,
    pub http: reqwest::Client,
    pub zc: String,
    pub gc: String,
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub crm: ZohoContacts,
    pub graph: GraphContacts,
    pub graph_client: GraphClient,
    pub zoho_client: ZohoClient,
}

impl Env {
    pub fn new() -> Env {
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
        let (graph_client, zoho_client) = rt.block_on(clients(&sb.urls.graph, &gc, &zc));
        let (crm, graph) = rt
            .block_on(connect_contacts(
                graph_client.clone(),
                zoho_client.clone(),
                rt.handle().clone(),
            ))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = new_store(&dir.path().join("crmsync.db"));
        Env {
            rt,
            sb,
            http: reqwest::Client::new(),
            zc,
            gc,
            dir,
            store,
            crm,
            graph,
            graph_client,
            zoho_client,
        }
    }

    pub fn round(&mut self, opts: RoundOptions) -> RoundReport<ContactRecord> {
        run_contacts_round(
            &mut self.store,
            &mut self.crm,
            &mut self.graph,
            &SystemClock,
            opts,
            &AtomicBool::new(false),
        )
        .unwrap()
    }

    /// Rounds until one writes nothing and plans nothing.
    pub fn settle(&mut self) -> usize {
        let mut writes = 0;
        for _ in 0..8 {
            let r = self.round(RoundOptions::default());
            assert_eq!(r.outcome, RoundOutcome::Completed, "{:?}", r.failures);
            assert!(r.failures.is_empty(), "{:?}", r.failures);
            writes += r.writes;
            if r.writes == 0 && r.plan.as_ref().is_some_and(|p| p.is_empty()) {
                return writes;
            }
        }
        panic!("no convergence");
    }

    pub fn zoho(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        control(
            &self.rt,
            &self.http,
            method,
            format!("{}{path}", self.zc),
            body,
        )
    }

    pub fn graph_ctl(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        control(
            &self.rt,
            &self.http,
            method,
            format!("{}{path}", self.gc),
            body,
        )
    }

    /// Creates CRM contacts as `who` with an origin; returns their ids.
    pub fn crm_create(&self, who: &str, origin: &str, data: Vec<Value>) -> Vec<String> {
        let mut ids = Vec::new();
        for chunk in data.chunks(100) {
            let v = self.zoho(
                reqwest::Method::POST,
                "/records/Contacts",
                json!({"as": who, "origin": origin, "data": chunk}),
            );
            for d in v["data"].as_array().unwrap() {
                ids.push(
                    d["details"]["id"]
                        .as_str()
                        .unwrap_or_else(|| panic!("create failed: {d}"))
                        .to_string(),
                );
            }
        }
        ids
    }

    /// Every contact of the sync folder (raw Graph JSON with the stamp).
    pub fn folder_items(&self) -> Vec<Value> {
        let f = self.graph.folder().expect("folder selected").to_string();
        let rest = format!(
            "/contactFolders/{f}/contacts?$top=100&$expand={}",
            self.graph_client.stamp_expand()
        );
        self.rt
            .block_on(self.graph_client.mailbox_list_json(&rest))
            .unwrap()
    }

    /// The CRM id stamped on a folder item.
    pub fn stamp(&self, item: &Value) -> Option<String> {
        let p: Vec<crmsync_graph::models::SingleValueExtendedProperty> =
            serde_json::from_value(item.get("singleValueExtendedProperties")?.clone()).ok()?;
        self.graph_client.stamp_of(Some(&p))
    }

    /// A CRM record (None when gone).
    pub fn crm_get(&self, id: &str) -> Option<Value> {
        match self
            .rt
            .block_on(self.zoho_client.get::<crmsync_zoho::models::ZContact>(id))
        {
            Ok(c) => Some(serde_json::to_value(c).unwrap()),
            Err(crmsync_zoho::ZohoError::NotFound(_)) => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Emails of the folder's items.
    pub fn folder_emails(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .folder_items()
            .iter()
            .filter_map(|i| i.pointer("/emailAddresses/0/address")?.as_str())
            .map(str::to_lowercase)
            .collect();
        v.sort();
        v
    }
}

pub fn new_store(path: &std::path::Path) -> Store {
    let store = Store::open(path).unwrap();
    for service in [Service::Zoho, Service::Microsoft] {
        store
            .save_account(&Account {
                service,
                user_id: AIKO.into(),
                email: AIKO.into(),
                display_name: "Aiko Tanaka".into(),
                organisation: "Sakura Trading (Demo)".into(),
                data_centre: None,
                connected_at: chrono::Utc::now(),
            })
            .unwrap();
    }
    store.enable(M, chrono::Utc::now()).unwrap();
    store
}

pub async fn clients(graph_url: &str, gc: &str, zc: &str) -> (GraphClient, ZohoClient) {
    let gt = Arc::new(ControlTokens::graph(gc, AIKO));
    let graph = GraphClient::new(GraphConfig::new(graph_url), gt).unwrap();
    let zt = ControlTokens::zoho(zc, AIKO);
    let minted = zt.mint().await.unwrap();
    let mut cfg = ZohoConfig::new(minted["api_domain"].as_str().unwrap());
    cfg.max_concurrency = 10;
    cfg.initial_backoff = Duration::from_millis(100);
    let zoho = ZohoClient::new(cfg, Arc::new(zt)).unwrap();
    (graph, zoho)
}

pub fn control(
    rt: &Runtime,
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Value {
    rt.block_on(async {
        let mut req = http.request(method, &url);
        if !body.is_null() {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "control {url}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

pub fn person(first: &str, last: &str, email: &str) -> Value {
    json!({"First_Name": first, "Last_Name": last, "Email": email})
}
