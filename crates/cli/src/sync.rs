//! `crmsync sync`: sync rounds from the command line, against the services or the sandbox.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Args;
use crmsync_connect::{
    connect_contacts, run_contacts_round, ControlTokens, GraphContacts, SessionTokens, SystemClock,
    ZohoContacts,
};
use crmsync_engine::{
    paths, Account, ModuleKind, RoundOptions, RoundOutcome, Service, Store, StoreError, SyncError,
};
use crmsync_graph::{GraphClient, GraphConfig};
use crmsync_zoho::{ZohoClient, ZohoConfig};

/// Microsoft Graph v1.0.
pub const GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

/// The demo user of the sandbox (same e-mail in Microsoft 365 and the CRM).
pub const DEMO_USER: &str = "aiko.tanaka@sakura-demo.example";

#[derive(Args, Debug, Clone)]
pub struct SyncArgs {
    /// Start the sandbox in-process, sign the demo user in through its control API (no
    /// browser), enable Contacts and sync: the headless demo.
    #[arg(long)]
    pub sandbox: bool,
    /// With --sandbox: generate this many extra CRM records for the demo user at start.
    #[arg(long, default_value_t = 0)]
    pub sandbox_generate: usize,
    /// Use an already running sandbox: its Graph URL (`urls.graph` of its JSON line).
    /// Without the control URLs: the Graph root of the app's saved sign-in (default
    /// Microsoft's).
    #[arg(long, conflicts_with = "sandbox")]
    pub graph_url: Option<String>,
    /// The running sandbox's Graph control URL.
    #[arg(long, requires_all = ["graph_url", "zoho_control"])]
    pub graph_control: Option<String>,
    /// The running sandbox's Zoho control URL.
    #[arg(long)]
    pub zoho_control: Option<String>,
    /// The sandbox user to sign in (Microsoft 365 and CRM e-mail).
    #[arg(long, default_value = DEMO_USER)]
    pub user: String,
    /// Enable the Contacts module before syncing.
    #[arg(long)]
    pub enable_contacts: bool,
    /// Disable Contacts instead of syncing: deletes the "Zoho CRM Contacts" folder in
    /// Microsoft 365, keeps every CRM record.
    #[arg(long, conflicts_with_all = ["enable_contacts", "dry_run", "confirm_deletes"])]
    pub disable_contacts: bool,
    /// Set the Contacts delete checkbox (a Microsoft 365 delete deletes the CRM record).
    #[arg(long, value_parser = ["on", "off"])]
    pub delete_propagation: Option<String>,
    /// Plan only: print what a round would do, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm the deletes of a plan the safety guard paused.
    #[arg(long)]
    pub confirm_deletes: bool,
    /// At most this many rounds (stops earlier once a round has nothing to do).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rounds: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncCliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("connecting: {0}")]
    Connect(#[from] crmsync_connect::ConnectError),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("{0} is not connected: connect it in the app first (or use --sandbox)")]
    NotConnected(&'static str),
    #[error("the saved sign-in cannot be used: {0}")]
    Auth(#[from] crmsync_auth::AuthError),
    #[error("the round ended: {0}")]
    Round(String),
}

struct Endpoints {
    graph: String,
    graph_control: String,
    zoho_control: String,
}

/// Runs `crmsync sync`.
///
/// # Errors
/// [`SyncCliError`].
pub fn run(data_dir: &Path, args: &SyncArgs) -> Result<(), SyncCliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut sandbox = None;
    std::fs::create_dir_all(data_dir)?;
    let mut store = Store::open(&paths::store_path(data_dir))?;
    let endpoints = if args.sandbox {
        let opts = crmsync_sandbox::Options {
            zoho: crmsync_sandbox_zoho::ZohoOptions {
                generate: args.sandbox_generate,
                ..Default::default()
            },
            ..Default::default()
        };
        let running = rt
            .block_on(crmsync_sandbox::start(opts))
            .map_err(|e| SyncCliError::Sandbox(e.to_string()))?;
        let e = Endpoints {
            graph: running.urls.graph.clone(),
            graph_control: running.urls.graph_control.clone(),
            zoho_control: running
                .urls
                .zoho_control
                .clone()
                .ok_or_else(|| SyncCliError::Sandbox("no Zoho emulator".into()))?,
        };
        println!("sandbox started at {}", running.addr);
        sandbox = Some(running);
        Some(e)
    } else {
        match (&args.graph_control, &args.zoho_control) {
            (Some(gc), Some(zc)) => Some(Endpoints {
                graph: args.graph_url.clone().unwrap_or_else(|| GRAPH_URL.into()),
                graph_control: gc.clone(),
                zoho_control: zc.clone(),
            }),
            _ => None,
        }
    };
    let (mut crm, mut graph) = match &endpoints {
        Some(e) => {
            let adapters = rt.block_on(sign_in(e, &args.user, &rt))?;
            println!("signed in as {} (sandbox control API)", args.user);
            adapters
        }
        None => {
            let graph_url = args.graph_url.as_deref().unwrap_or(GRAPH_URL);
            let adapters = rt.block_on(saved_sign_in(&store, graph_url, &rt))?;
            println!("using the accounts connected in the app");
            adapters
        }
    };
    let now = chrono::Utc::now();
    for service in [Service::Zoho, Service::Microsoft] {
        if store.account(service)?.is_none() {
            store.save_account(&Account {
                service,
                user_id: match service {
                    Service::Zoho => crm.user_id().to_string(),
                    Service::Microsoft => args.user.clone(),
                },
                email: args.user.clone(),
                display_name: args.user.clone(),
                organisation: "sandbox".into(),
                data_centre: None,
                connected_at: now,
            })?;
        }
    }
    if args.disable_contacts {
        let r = crmsync_engine::disable_module::<crmsync_core::contact::ContactRecord, _>(
            &mut store,
            ModuleKind::Contacts,
            &mut graph,
            &SystemClock,
        )?;
        return match r {
            Ok(()) => {
                println!(
                    "contacts: disabled; the Microsoft 365 folder is deleted, the CRM is untouched"
                );
                Ok(())
            }
            Err(e) => Err(SyncCliError::Round(e.to_string())),
        };
    }
    if args.enable_contacts || (args.sandbox && !store.module(ModuleKind::Contacts)?.enabled) {
        store.enable(ModuleKind::Contacts, now)?;
    }
    if let Some(p) = &args.delete_propagation {
        store.set_delete_propagation(ModuleKind::Contacts, p == "on", now)?;
    }

    let result = sync_modules(&mut store, &mut crm, &mut graph, args);
    if let Some(running) = sandbox {
        rt.block_on(running.shutdown())
            .map_err(|e| SyncCliError::Sandbox(e.to_string()))?;
    }
    result
}

async fn sign_in(
    e: &Endpoints,
    user: &str,
    rt: &tokio::runtime::Runtime,
) -> Result<(ZohoContacts, GraphContacts), SyncCliError> {
    let gt = Arc::new(ControlTokens::graph(&e.graph_control, user));
    let graph = GraphClient::new(GraphConfig::new(&e.graph), gt)
        .map_err(crmsync_connect::ConnectError::from)?;
    let zt = ControlTokens::zoho(&e.zoho_control, user);
    let minted = zt.mint().await.map_err(SyncCliError::Sandbox)?;
    let api = minted["api_domain"]
        .as_str()
        .ok_or_else(|| SyncCliError::Sandbox("no api_domain in the token answer".into()))?;
    let mut cfg = ZohoConfig::new(api);
    cfg.max_concurrency = 10;
    let zoho = ZohoClient::new(cfg, Arc::new(zt)).map_err(crmsync_connect::ConnectError::from)?;
    Ok(connect_contacts(graph, zoho, rt.handle().clone()).await?)
}

/// The sessions the desktop app saved in the OS keychain for the store's accounts
/// (`microsoft:{email}`, `zoho:{email}`).
async fn saved_sign_in(
    store: &Store,
    graph_url: &str,
    rt: &tokio::runtime::Runtime,
) -> Result<(ZohoContacts, GraphContacts), SyncCliError> {
    use crmsync_auth::{KeyringStore, Session, TokenStore};
    let zoho_account = store
        .account(Service::Zoho)?
        .ok_or(SyncCliError::NotConnected("Zoho CRM"))?;
    let ms_account = store
        .account(Service::Microsoft)?
        .ok_or(SyncCliError::NotConnected("Microsoft 365"))?;
    let keychain: Arc<dyn TokenStore> = Arc::new(KeyringStore::open()?);
    let http = reqwest::Client::new();
    let ms = Session::load(
        keychain.clone(),
        http.clone(),
        &format!("microsoft:{}", ms_account.email),
    )
    .await?
    .ok_or(SyncCliError::NotConnected("Microsoft 365"))?;
    let zs = Session::load(keychain, http, &format!("zoho:{}", zoho_account.email))
        .await?
        .ok_or(SyncCliError::NotConnected("Zoho CRM"))?;
    let api = zs
        .token_set()
        .await
        .api_domain
        .ok_or(SyncCliError::NotConnected("Zoho CRM (no API domain saved)"))?;
    let graph = GraphClient::new(
        GraphConfig::new(graph_url),
        Arc::new(SessionTokens(Arc::new(ms))),
    )
    .map_err(crmsync_connect::ConnectError::from)?;
    let zoho = ZohoClient::new(ZohoConfig::new(api), Arc::new(SessionTokens(Arc::new(zs))))
        .map_err(crmsync_connect::ConnectError::from)?;
    Ok(connect_contacts(graph, zoho, rt.handle().clone()).await?)
}

fn sync_modules(
    store: &mut Store,
    crm: &mut ZohoContacts,
    graph: &mut GraphContacts,
    args: &SyncArgs,
) -> Result<(), SyncCliError> {
    for m in store.modules()? {
        if m.enabled && m.module != ModuleKind::Contacts {
            println!(
                "{}: enabled, but the CLI syncs Contacts only for now; skipped",
                m.module.as_str()
            );
        }
    }
    if !store.module(ModuleKind::Contacts)?.enabled {
        println!("contacts: not enabled (pass --enable-contacts); nothing to do");
        return Ok(());
    }
    let opts = RoundOptions {
        dry_run: args.dry_run,
        deletes_confirmed: args.confirm_deletes,
        ..RoundOptions::default()
    };
    let cancel = AtomicBool::new(false);
    for n in 1..=args.rounds {
        println!("contacts: round {n} started");
        let r = run_contacts_round(store, crm, graph, &SystemClock, opts, &cancel)?;
        let planned = r.plan.as_ref().map_or(0, |p| p.actions.len());
        println!(
            "contacts: round {n} {:?}: {planned} planned, {} executed, {} writes, {} failed",
            r.outcome,
            r.executed,
            r.writes,
            r.failures.len()
        );
        for f in &r.failures {
            println!("  failed: {} ({})", f.label, f.error);
        }
        for (id, e) in crm.failures().iter().chain(graph.failures()) {
            println!("  not synced: {id}: {e}");
        }
        match &r.outcome {
            RoundOutcome::Planned => {
                if let Some(p) = &r.plan {
                    println!("{p}");
                }
                return Ok(());
            }
            RoundOutcome::Paused(p) => {
                println!("contacts: paused: {p}; re-run with --confirm-deletes to go on");
                return Ok(());
            }
            RoundOutcome::Disabled => {
                println!("contacts: the Microsoft 365 folder was deleted; the module is now disabled (nothing was deleted in the CRM)");
                return Ok(());
            }
            RoundOutcome::Interrupted(e) if n == args.rounds => {
                return Err(SyncCliError::Round(e.to_string()));
            }
            RoundOutcome::Cancelled => return Ok(()),
            RoundOutcome::Completed | RoundOutcome::Interrupted(_) => {}
        }
        if r.outcome == RoundOutcome::Completed
            && r.writes == 0
            && r.plan.as_ref().is_some_and(|p| p.is_empty())
        {
            println!("contacts: in sync");
            return Ok(());
        }
    }
    println!("contacts: stopped after {} rounds", args.rounds);
    Ok(())
}
