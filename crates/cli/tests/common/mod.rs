//! Helpers of the tests that run the `crmsync` binary against a sandbox: its endpoints, the
//! control API, the test's own view of both services.

// Each test file uses a part.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use crmsync_connect::ControlTokens;
use crmsync_graph::{GraphClient, GraphConfig};
use crmsync_zoho::{ZohoClient, ZohoConfig};
use reqwest::Method;
use serde_json::Value;

/// The sandbox's demo user (an administrator).
pub const AIKO: &str = "aiko.tanaka@sakura-demo.example";
/// Another user of the demo org.
pub const BEN: &str = "ben.carter@sakura-demo.example";

/// A small runtime for the test's own calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The `crmsync` binary with its own data directory.
pub fn crmsync(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crmsync"));
    c.arg("--data-dir").arg(data_dir);
    c
}

/// The standard output of a run that must have succeeded.
pub fn succeeded(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Where a sandbox answers.
pub struct Endpoints {
    pub graph: String,
    pub graph_control: String,
    pub zoho_control: String,
}

impl Endpoints {
    /// A sandbox the test started.
    pub fn of(sb: &crmsync_sandbox::RunningSandbox) -> Self {
        Self {
            graph: sb.urls.graph.clone(),
            graph_control: sb.urls.graph_control.clone(),
            zoho_control: sb.urls.zoho_control.clone().unwrap(),
        }
    }

    /// The sandbox of `crmsync sync --sandbox`, from the line it prints once it started
    /// (`sandbox started at ADDR: --graph-url URL --graph-control URL --zoho-control URL`).
    pub fn from_start_line(line: &str) -> Option<Self> {
        let flags = line.strip_prefix("sandbox started at ")?;
        let value = |flag: &str| {
            let mut words = flags.split_whitespace();
            words.find(|w| *w == flag)?;
            words.next().map(str::to_owned)
        };
        Some(Self {
            graph: value("--graph-url")?,
            graph_control: value("--graph-control")?,
            zoho_control: value("--zoho-control")?,
        })
    }

    /// The `crmsync sync` flags that use this sandbox.
    pub fn flags(&self) -> [&str; 6] {
        [
            "--graph-url",
            &self.graph,
            "--graph-control",
            &self.graph_control,
            "--zoho-control",
            &self.zoho_control,
        ]
    }

    /// A POST to the Zoho control API (`rest` after `/control/zoho`); panics unless it
    /// succeeds.
    pub fn zoho_control(&self, rt: &tokio::runtime::Runtime, rest: &str, body: Value) -> Value {
        control(
            rt,
            Method::POST,
            &format!("{}{rest}", self.zoho_control),
            Some(body),
        )
    }

    /// Sets the Microsoft 365 emulator's injected faults (`{"latency_ms": 20}`, ...).
    pub fn graph_faults(&self, rt: &tokio::runtime::Runtime, faults: Value) {
        let url = format!("{}/faults", self.graph_control);
        control(rt, Method::PUT, &url, Some(faults));
    }

    /// The whole state of the Zoho CRM emulator (`GET /control/zoho/snapshot`).
    pub fn zoho_snapshot(&self, rt: &tokio::runtime::Runtime) -> Value {
        let url = format!("{}/snapshot", self.zoho_control);
        control(rt, Method::GET, &url, None)
    }

    /// A Graph client signed in as `user`.
    pub fn graph_as(&self, user: &str) -> GraphClient {
        GraphClient::new(
            GraphConfig::new(&self.graph),
            Arc::new(ControlTokens::graph(&self.graph_control, user)),
        )
        .unwrap()
    }

    /// A Zoho CRM client signed in as `user`.
    pub fn zoho_as(&self, rt: &tokio::runtime::Runtime, user: &str) -> ZohoClient {
        let tokens = ControlTokens::zoho(&self.zoho_control, user);
        let minted = rt.block_on(tokens.mint()).unwrap();
        ZohoClient::new(
            ZohoConfig::new(minted["api_domain"].as_str().unwrap()),
            Arc::new(tokens),
        )
        .unwrap()
    }
}

/// A call to a control API; panics unless it succeeds.
fn control(rt: &tokio::runtime::Runtime, method: Method, url: &str, body: Option<Value>) -> Value {
    rt.block_on(async {
        let mut request = reqwest::Client::new().request(method, url);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{url}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

/// The id of the mailbox's "Zoho CRM Contacts" folder, if there is one.
pub fn contact_folder(rt: &tokio::runtime::Runtime, graph: &GraphClient) -> Option<String> {
    rt.block_on(graph.mailbox_list_json("/contactFolders"))
        .unwrap()
        .iter()
        .find(|f| f["displayName"] == "Zoho CRM Contacts")
        .map(|f| f["id"].as_str().unwrap().to_owned())
}

/// The contacts in the "Zoho CRM Contacts" folder with their CRM-id stamps (none without the
/// folder).
pub fn folder_contacts(rt: &tokio::runtime::Runtime, graph: &GraphClient) -> Vec<Value> {
    let Some(id) = contact_folder(rt, graph) else {
        return Vec::new();
    };
    let rest = format!(
        "/contactFolders/{id}/contacts?$top=100&$expand={}",
        graph.stamp_expand()
    );
    rt.block_on(graph.mailbox_list_json(&rest)).unwrap()
}

/// A Graph contact's first e-mail address.
pub fn email_of(contact: &Value) -> Option<&str> {
    contact["emailAddresses"][0]["address"].as_str()
}
