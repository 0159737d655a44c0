//! The CRM Sync sandbox: one listener on 127.0.0.1 serving the local
//! emulators of Microsoft 365 (Graph + identity platform) and Zoho CRM
//! (accounts + CRM API), told apart by path prefix.
//!
//! Use [`start`] to run it in-process (the desktop app, tests) or the
//! `crmsync-sandbox` binary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use crmsync_sandbox_graph::{GraphOptions, GraphState};
use crmsync_sandbox_zoho::{ZohoOptions, ZohoSandbox};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Command-line options of the sandbox (also usable in-process).
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "crmsync-sandbox",
    about = "Local emulators of Microsoft 365 and Zoho CRM for CRM Sync"
)]
pub struct Options {
    /// Port on 127.0.0.1 (0 = pick a free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Snapshot file: loaded at start when it exists, saved at shutdown.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Start empty instead of with the demo tenant / org.
    #[arg(long)]
    pub no_seed: bool,
    #[command(flatten)]
    pub graph: GraphOptions,
    #[command(flatten)]
    pub zoho: ZohoOptions,
}

/// Base URLs of one Zoho data centre.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ZohoDcUrls {
    pub accounts: String,
    pub api: String,
}

/// The base URLs the sandbox serves (printed as one JSON line by the binary).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Urls {
    /// `http://127.0.0.1:PORT/graph/v1.0`
    pub graph: String,
    /// `http://127.0.0.1:PORT/login` (then `/{tenant}/oauth2/v2.0/...`)
    pub login: String,
    /// `http://127.0.0.1:PORT/control/graph`
    pub graph_control: String,
    /// Per data centre (us, eu, in, au, jp, ca).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub zoho: BTreeMap<String, ZohoDcUrls>,
    /// `http://127.0.0.1:PORT/control/zoho`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zoho_control: Option<String>,
}

impl Urls {
    fn new(addr: SocketAddr) -> Self {
        let root = format!("http://{addr}");
        Self {
            graph: format!("{root}/graph/v1.0"),
            login: format!("{root}/login"),
            graph_control: format!("{root}/control/graph"),
            zoho: crmsync_sandbox_zoho::model::DATA_CENTRES
                .iter()
                .map(|(dc, _)| {
                    let urls = ZohoDcUrls {
                        accounts: format!("{root}/zoho/{dc}/accounts"),
                        api: format!("{root}/zoho/{dc}/api"),
                    };
                    (dc.to_string(), urls)
                })
                .collect(),
            zoho_control: Some(format!("{root}/control/zoho")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot {path}: {message}")]
    Snapshot { path: String, message: String },
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// The snapshot file: one section per emulator.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    graph: serde_json::Value,
    #[serde(default)]
    zoho: Option<serde_json::Value>,
}

/// A running sandbox. Dropping it without [`RunningSandbox::shutdown`] stops
/// the server without saving the snapshot.
pub struct RunningSandbox {
    pub addr: SocketAddr,
    pub urls: Urls,
    /// The Microsoft 365 emulator state (in-process access for tests and the app).
    pub graph: GraphState,
    /// The Zoho CRM emulator state (in-process access for tests and the app).
    pub zoho: ZohoSandbox,
    snapshot: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), std::io::Error>>>,
}

impl RunningSandbox {
    /// Stops serving and saves the snapshot when one was configured.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Error::Serve(e)),
                Err(e) => return Err(Error::Serve(std::io::Error::other(e.to_string()))),
            }
        }
        if let Some(path) = &self.snapshot {
            save_snapshot(&self.graph, &self.zoho, path)?;
        }
        Ok(())
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn save_snapshot(
    graph: &GraphState,
    zoho: &ZohoSandbox,
    path: &std::path::Path,
) -> Result<(), Error> {
    let snap_err = |message: String| Error::Snapshot {
        path: path.display().to_string(),
        message,
    };
    let graph_json: serde_json::Value =
        serde_json::from_str(&graph.snapshot_json().map_err(|e| snap_err(e.to_string()))?)
            .map_err(|e| snap_err(e.to_string()))?;
    let file = SnapshotFile {
        graph: graph_json,
        zoho: Some(zoho.snapshot()),
    };
    let text = serde_json::to_string_pretty(&file).map_err(|e| snap_err(e.to_string()))?;
    // Write then rename, so an interrupted save never leaves a torn file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| snap_err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| snap_err(e.to_string()))
}

fn load_snapshot(
    graph: &GraphState,
    zoho: &ZohoSandbox,
    path: &std::path::Path,
) -> Result<(), Error> {
    let snap_err = |message: String| Error::Snapshot {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| snap_err(e.to_string()))?;
    let file: SnapshotFile = serde_json::from_str(&text).map_err(|e| snap_err(e.to_string()))?;
    graph
        .load_snapshot_json(&file.graph.to_string())
        .map_err(|e| snap_err(e.to_string()))?;
    match &file.zoho {
        Some(z) => zoho
            .load_snapshot_str(&z.to_string())
            .map_err(|e| snap_err(e.to_string())),
        None => Ok(()),
    }
}

/// The router with every emulator mounted at its full paths.
pub fn app(graph: &GraphState, zoho: &ZohoSandbox) -> Router {
    Router::new()
        .merge(crmsync_sandbox_graph::router(graph.clone()))
        .merge(crmsync_sandbox_zoho::router(zoho.clone()))
}

/// Binds 127.0.0.1:`options.port`, seeds (or loads the snapshot) and serves
/// in the background.
pub async fn start(options: Options) -> Result<RunningSandbox, Error> {
    let graph = GraphState::new(&options.graph);
    let zoho = ZohoSandbox::new(options.zoho.clone());
    match &options.snapshot {
        Some(path) if path.exists() => load_snapshot(&graph, &zoho, path)?,
        _ if !options.no_seed => {
            graph.seed_demo();
            zoho.seed_demo();
        }
        _ => {}
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .map_err(|source| Error::Bind {
            port: options.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        port: options.port,
        source,
    })?;
    let router = app(&graph, &zoho);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningSandbox {
        addr,
        urls: Urls::new(addr),
        graph,
        zoho,
        snapshot: options.snapshot,
        stop: Some(stop),
        task: Some(task),
    })
}
