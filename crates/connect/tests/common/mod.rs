//! A sandbox started in-process, both clients signed in through the control API (no
//! browser), a store in a temporary directory, and helpers to act as a user on either side,
//! for any module ([`ModuleEnv`]; [`Env`] is the Contacts one).

#![allow(dead_code)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crmsync_connect::{
    connect_contacts, connect_events, connect_modules, connect_tasks, run_contacts_round,
    run_tasks_round, Adapter, ControlTokens, GraphContacts, GraphEvents, GraphTasks, ModuleError,
    RoundDigest, SyncRunner, SystemClock, ZohoContacts, ZohoEvents, ZohoTasks,
};
use crmsync_core::contact::ContactRecord;
use crmsync_core::event::EventRecord;
use crmsync_core::task::TaskRecord;
use crmsync_engine::{
    run_round_cancellable, Account, ModuleKind, RoundOptions, RoundOutcome, RoundReport, Service,
    Store,
};
use crmsync_graph::{GraphClient, GraphConfig};
use crmsync_zoho::{ZohoClient, ZohoConfig};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

pub const AIKO: &str = "aiko.tanaka@sakura-demo.example";
pub const BEN: &str = "ben.carter@sakura-demo.example";
pub const M: ModuleKind = ModuleKind::Contacts;

/// A module under test: how its adapters are built and how a round runs them.
pub trait TestModule: Sized {
    /// The Microsoft side's adapter.
    type Graph;
    /// The canonical record.
    type Record;
    /// The CRM client's typed record of the module (to read one back).
    type Typed: crmsync_zoho::models::Module + serde::Serialize;
    /// The engine's module.
    const KIND: ModuleKind;
    /// Both adapters for the signed-in users.
    fn connect(rt: &Runtime, graph: GraphClient, zoho: ZohoClient) -> (Self, Self::Graph);
    /// One round, the way the app runs this module.
    fn round(
        store: &mut Store,
        crm: &mut Self,
        graph: &mut Self::Graph,
        opts: RoundOptions,
    ) -> RoundReport<Self::Record>;
}

impl TestModule for ZohoContacts {
    type Graph = GraphContacts;
    type Record = ContactRecord;
    type Typed = crmsync_zoho::models::ZContact;
    const KIND: ModuleKind = ModuleKind::Contacts;
    fn connect(rt: &Runtime, graph: GraphClient, zoho: ZohoClient) -> (Self, GraphContacts) {
        rt.block_on(connect_contacts(graph, zoho, rt.handle().clone()))
            .unwrap()
    }
    fn round(
        store: &mut Store,
        crm: &mut Self,
        graph: &mut GraphContacts,
        opts: RoundOptions,
    ) -> RoundReport<ContactRecord> {
        run_contacts_round(
            store,
            crm,
            graph,
            &SystemClock,
            opts,
            &AtomicBool::new(false),
        )
        .unwrap()
    }
}

impl TestModule for ZohoEvents {
    type Graph = GraphEvents;
    type Record = EventRecord;
    type Typed = crmsync_zoho::models::ZEvent;
    const KIND: ModuleKind = ModuleKind::Events;
    fn connect(rt: &Runtime, graph: GraphClient, zoho: ZohoClient) -> (Self, GraphEvents) {
        rt.block_on(connect_events(graph, zoho, rt.handle().clone()))
            .unwrap()
    }
    /// Through the adapters' round hooks, as the app's module interface does.
    fn round(
        store: &mut Store,
        crm: &mut Self,
        graph: &mut GraphEvents,
        opts: RoundOptions,
    ) -> RoundReport<EventRecord> {
        let settings = store.settings(Self::KIND).unwrap();
        crm.prepare(&settings).unwrap();
        graph.prepare(&settings).unwrap();
        run_round_cancellable(
            store,
            Self::KIND,
            crm,
            graph,
            &SystemClock,
            opts,
            &AtomicBool::new(false),
        )
        .unwrap()
    }
}

impl TestModule for ZohoTasks {
    type Graph = GraphTasks;
    type Record = TaskRecord;
    type Typed = crmsync_zoho::models::ZTask;
    const KIND: ModuleKind = ModuleKind::Tasks;
    fn connect(rt: &Runtime, graph: GraphClient, zoho: ZohoClient) -> (Self, GraphTasks) {
        rt.block_on(connect_tasks(graph, zoho, rt.handle().clone()))
            .unwrap()
    }
    fn round(
        store: &mut Store,
        crm: &mut Self,
        graph: &mut GraphTasks,
        opts: RoundOptions,
    ) -> RoundReport<TaskRecord> {
        run_tasks_round(
            store,
            crm,
            graph,
            &SystemClock,
            opts,
            &AtomicBool::new(false),
        )
        .unwrap()
    }
}

/// A sandbox, both clients signed in as Aiko, a store with module `C` enabled and its two
/// adapters.
pub struct ModuleEnv<C: TestModule> {
    pub rt: Runtime,
    pub sb: crmsync_sandbox::RunningSandbox,
    pub http: reqwest::Client,
    pub zc: String,
    pub gc: String,
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub crm: C,
    pub graph: C::Graph,
    pub graph_client: GraphClient,
    pub zoho_client: ZohoClient,
}

/// The Contacts environment.
pub type Env = ModuleEnv<ZohoContacts>;

impl<C: TestModule> ModuleEnv<C> {
    pub fn new() -> Self {
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
        let (crm, graph) = C::connect(&rt, graph_client.clone(), zoho_client.clone());
        let dir = tempfile::tempdir().unwrap();
        let store = new_store_for(&dir.path().join("crmsync.db"), C::KIND);
        ModuleEnv {
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

    pub fn round(&mut self, opts: RoundOptions) -> RoundReport<C::Record> {
        C::round(&mut self.store, &mut self.crm, &mut self.graph, opts)
    }

    /// Rounds until one writes nothing and plans nothing; the writes made.
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

    /// A Microsoft collection (every page) as the signed-in Microsoft user.
    pub fn graph_list(&self, rest: &str) -> Vec<Value> {
        self.rt
            .block_on(self.graph_client.mailbox_list_json(rest))
            .unwrap()
    }

    /// A mailbox request as the signed-in Microsoft user.
    pub fn graph_json(&self, method: reqwest::Method, rest: &str, body: Option<Value>) -> Value {
        self.rt
            .block_on(self.graph_client.mailbox_json(method, rest, body, None))
            .unwrap()
    }

    /// Creates CRM records of the module as `who` with an origin; returns their ids.
    pub fn crm_create(&self, who: &str, origin: &str, data: Vec<Value>) -> Vec<String> {
        let mut ids = Vec::new();
        for chunk in data.chunks(100) {
            let v = self.zoho(
                reqwest::Method::POST,
                &format!(
                    "/records/{}",
                    <C::Typed as crmsync_zoho::models::Module>::API_NAME
                ),
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

    /// Edits a CRM record as Aiko in the CRM's UI.
    pub fn crm_update(&self, id: &str, data: Value) {
        let mut data = data.as_object().unwrap().clone();
        data.insert("id".into(), json!(id));
        self.zoho(
            reqwest::Method::PUT,
            &format!(
                "/records/{}",
                <C::Typed as crmsync_zoho::models::Module>::API_NAME
            ),
            json!({"as": AIKO, "origin": "ui", "data": [data]}),
        );
    }

    /// A CRM record (None when gone).
    pub fn crm_get(&self, id: &str) -> Option<Value> {
        match self.rt.block_on(self.zoho_client.get::<C::Typed>(id)) {
            Ok(c) => Some(serde_json::to_value(c).unwrap()),
            Err(crmsync_zoho::ZohoError::NotFound(_)) => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// The CRM id stamped on an item (its expanded extended property).
    pub fn stamp(&self, item: &Value) -> Option<String> {
        let p: Vec<crmsync_graph::models::SingleValueExtendedProperty> =
            serde_json::from_value(item.get("singleValueExtendedProperties")?.clone()).ok()?;
        self.graph_client.stamp_of(Some(&p))
    }
}

impl<C: TestModule> ModuleEnv<C> {
    /// The app's interface over every module (what the worker and the shell use), on `store`.
    pub fn runner(&self, store: Store) -> SyncRunner {
        let modules = self
            .rt
            .block_on(connect_modules(
                self.graph_client.clone(),
                self.zoho_client.clone(),
                self.rt.handle().clone(),
            ))
            .unwrap();
        SyncRunner::new(store, modules)
    }

    /// The app's interface over every module on this environment's store (an empty in-memory
    /// store takes its place here).
    pub fn take_runner(&mut self) -> SyncRunner {
        let store = std::mem::replace(&mut self.store, Store::open_in_memory().unwrap());
        self.runner(store)
    }
}

/// One round of `module` through the module interface, with the default options.
pub fn runner_round(
    runner: &mut SyncRunner,
    module: ModuleKind,
) -> Result<RoundDigest, ModuleError> {
    runner.round(
        module,
        &SystemClock,
        RoundOptions::default(),
        &AtomicBool::new(false),
        &|_| {},
    )
}

impl ModuleEnv<ZohoContacts> {
    /// Every contact of the sync folder (raw Graph JSON with the stamp).
    pub fn folder_items(&self) -> Vec<Value> {
        let f = self.graph.folder().expect("folder selected").to_string();
        self.graph_list(&format!(
            "/contactFolders/{f}/contacts?$top=100&$expand={}",
            self.graph_client.stamp_expand()
        ))
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

/// A store with both accounts saved (Aiko) and Contacts enabled.
pub fn new_store(path: &std::path::Path) -> Store {
    new_store_for(path, M)
}

pub fn new_store_for(path: &std::path::Path, module: ModuleKind) -> Store {
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
    store.enable(module, chrono::Utc::now()).unwrap();
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
