//! `crmsync sync`: sync rounds from the command line, against the services or the sandbox;
//! once (until nothing is left to do) or, with `--watch`, on a schedule through the engine's
//! worker (`watch.rs`).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Args;
use crmsync_connect::{
    connect_modules, ConnectError, ControlTokens, SessionTokens, SyncRunner, SystemClock,
};
use crmsync_engine::{
    paths, Account, ModuleKind, RoundOptions, RoundOutcome, Service, Store, StoreError, SyncError,
};
use crmsync_graph::{GraphClient, GraphConfig};
use crmsync_zoho::{ZohoClient, ZohoConfig};

use progress::{container_noun, disabled_line, StepLines};

mod progress;
mod watch;

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
    /// Enable these modules before syncing (events, contacts, tasks; repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub enable: Vec<ModuleKind>,
    /// Same as `--enable contacts`.
    #[arg(long, hide = true)]
    pub enable_contacts: bool,
    /// Disable these modules instead of syncing: deletes their Microsoft 365 container (the
    /// "Zoho CRM Contacts" folder, ...), keeps every CRM record.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["enable", "enable_contacts", "dry_run", "confirm_deletes"])]
    pub disable: Vec<ModuleKind>,
    /// Same as `--disable contacts`.
    #[arg(long, hide = true, conflicts_with_all = ["enable", "enable_contacts", "dry_run", "confirm_deletes"])]
    pub disable_contacts: bool,
    /// Sync only these modules (default: every enabled one).
    #[arg(long = "module", value_delimiter = ',')]
    pub modules: Vec<ModuleKind>,
    /// Set the delete checkbox of the selected modules (`--module`, default every enabled one):
    /// a Microsoft 365 delete deletes the CRM record.
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
    /// Keep running, as the app does: sync every enabled module now, then every --interval,
    /// printing progress, until Ctrl-C or SIGTERM (which stop between two actions).
    #[arg(long, conflicts_with_all = ["disable", "disable_contacts", "dry_run", "confirm_deletes", "modules", "rounds"])]
    pub watch: bool,
    /// With --watch: the time between rounds, `90s`, `5m` or minutes (default 2m, as the app).
    #[arg(long, requires = "watch", value_parser = watch::parse_interval)]
    pub interval: Option<std::time::Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncCliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("connecting: {0}")]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Module(#[from] crmsync_connect::ModuleError),
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
    #[error("cannot listen for Ctrl-C and SIGTERM: {0}")]
    Signals(std::io::Error),
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
    let store = Store::open(&paths::store_path(data_dir))?;
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
        println!(
            "sandbox started at {}: --graph-url {} --graph-control {} --zoho-control {}",
            running.addr, e.graph, e.graph_control, e.zoho_control
        );
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
    let (graph, zoho) = match &endpoints {
        Some(e) => {
            let clients = rt.block_on(sign_in(e, &args.user))?;
            println!("signed in as {} (sandbox control API)", args.user);
            clients
        }
        None => {
            let graph_url = args.graph_url.as_deref().unwrap_or(GRAPH_URL);
            let clients = rt.block_on(saved_sign_in(&store, graph_url))?;
            println!("using the accounts connected in the app");
            clients
        }
    };
    let crm_user = rt
        .block_on(zoho.current_user())
        .map_err(ConnectError::from)?;
    let modules = rt.block_on(connect_modules(graph, zoho, rt.handle().clone()))?;
    let now = chrono::Utc::now();
    for service in [Service::Zoho, Service::Microsoft] {
        if store.account(service)?.is_none() {
            store.save_account(&Account {
                service,
                user_id: match service {
                    Service::Zoho => crm_user.id.clone(),
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
    let mut runner = SyncRunner::new(store, modules);

    let mut disable = args.disable.clone();
    if args.disable_contacts {
        disable.push(ModuleKind::Contacts);
    }
    if !disable.is_empty() {
        for m in disable {
            match runner.disable(m, &SystemClock)? {
                Ok(()) => println!(
                    "{m}: disabled; its Microsoft 365 {} is deleted, the CRM is untouched",
                    container_noun(m)
                ),
                Err(e) => return Err(SyncCliError::Round(format!("{m}: {e}"))),
            }
        }
        return Ok(());
    }
    let mut enable = args.enable.clone();
    if args.enable_contacts {
        enable.push(ModuleKind::Contacts);
    }
    if args.sandbox && enable.is_empty() && args.modules.is_empty() {
        // The headless demo: every connected module that is not enabled yet.
        for m in runner.connected() {
            if !runner.store.module(m)?.enabled {
                enable.push(m);
            }
        }
    }
    for m in &enable {
        if !runner.is_connected(*m) {
            return Err(SyncCliError::Round(format!(
                "{m}: this module cannot be synced by this build"
            )));
        }
        runner.store.enable(*m, now)?;
    }
    let selected: Vec<ModuleKind> = if args.modules.is_empty() {
        runner
            .store
            .modules()?
            .into_iter()
            .filter(|m| m.enabled)
            .map(|m| m.module)
            .collect()
    } else {
        args.modules.clone()
    };
    if let Some(p) = &args.delete_propagation {
        for m in &selected {
            runner.store.set_delete_propagation(*m, p == "on", now)?;
        }
    }

    let result = if args.watch {
        if selected.is_empty() {
            println!(
                "no module is enabled yet (pass --enable contacts,events,tasks); each round \
                 picks up the modules enabled meanwhile"
            );
        }
        let counts = Store::open(&paths::store_path(data_dir))?;
        let interval = args
            .interval
            .unwrap_or(crmsync_engine::WorkerConfig::default().interval);
        watch::watch(&rt, runner, counts, interval)
    } else {
        sync_modules(&mut runner, &selected, args)
    };
    if let Some(running) = sandbox {
        rt.block_on(running.shutdown())
            .map_err(|e| SyncCliError::Sandbox(e.to_string()))?;
    }
    result
}

async fn sign_in(e: &Endpoints, user: &str) -> Result<(GraphClient, ZohoClient), SyncCliError> {
    let gt = Arc::new(ControlTokens::graph(&e.graph_control, user));
    let graph = GraphClient::new(GraphConfig::new(&e.graph), gt).map_err(ConnectError::from)?;
    let zt = ControlTokens::zoho(&e.zoho_control, user);
    let minted = zt.mint().await.map_err(SyncCliError::Sandbox)?;
    let api = minted["api_domain"]
        .as_str()
        .ok_or_else(|| SyncCliError::Sandbox("no api_domain in the token answer".into()))?;
    let mut cfg = ZohoConfig::new(api);
    cfg.max_concurrency = 10;
    let zoho = ZohoClient::new(cfg, Arc::new(zt)).map_err(ConnectError::from)?;
    Ok((graph, zoho))
}

/// The sessions the desktop app saved in the OS keychain for the store's accounts
/// (`microsoft:{email}`, `zoho:{email}`).
async fn saved_sign_in(
    store: &Store,
    graph_url: &str,
) -> Result<(GraphClient, ZohoClient), SyncCliError> {
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
        .map_err(ConnectError::from)?;
    Ok((graph, zoho))
}

fn sync_modules(
    runner: &mut SyncRunner,
    selected: &[ModuleKind],
    args: &SyncArgs,
) -> Result<(), SyncCliError> {
    if selected.is_empty() {
        println!("no module is enabled (pass --enable contacts,events,tasks); nothing to do");
        return Ok(());
    }
    let opts = RoundOptions {
        dry_run: args.dry_run,
        deletes_confirmed: args.confirm_deletes,
        ..RoundOptions::default()
    };
    let mut last_error = None;
    for &m in selected {
        if !runner.store.module(m)?.enabled && !args.dry_run {
            println!("{m}: not enabled (pass --enable {m}); skipped");
            continue;
        }
        if !runner.is_connected(m) {
            println!("{m}: enabled, but this build cannot sync it; skipped");
            continue;
        }
        if let Err(e) = sync_module(runner, m, opts, args.rounds) {
            println!("{m}: {e}");
            last_error = Some(e);
        }
    }
    last_error.map_or(Ok(()), Err)
}

fn sync_module(
    runner: &mut SyncRunner,
    m: ModuleKind,
    opts: RoundOptions,
    rounds: u32,
) -> Result<(), SyncCliError> {
    let cancel = AtomicBool::new(false);
    let steps = StepLines::default();
    for n in 1..=rounds {
        println!("{m}: round {n} started");
        let r = runner.round(m, &SystemClock, opts, &cancel, &|step| {
            if let Some(line) = steps.line(m, step) {
                println!("{line}");
            }
        })?;
        let planned = r.plan.as_ref().map_or(0, |p| {
            p.create_in_graph
                + p.create_in_crm
                + p.update_graph
                + p.update_crm
                + p.delete_in_graph
                + p.delete_in_crm
                + p.unlink
                + p.conflicts
                + p.link_only
        });
        println!(
            "{m}: round {n} {:?}: {planned} planned, {} executed, {} writes, {} failed",
            r.outcome,
            r.executed,
            r.writes,
            r.failures.len()
        );
        for f in &r.failures {
            println!("  not synced: {} ({})", f.label, f.error);
        }
        match &r.outcome {
            RoundOutcome::Planned => {
                if let Some(p) = &r.plan {
                    println!("{}", p.text);
                }
                return Ok(());
            }
            RoundOutcome::Paused(p) => {
                println!("{m}: paused: {p}; re-run with --confirm-deletes to go on");
                return Ok(());
            }
            RoundOutcome::Disabled => {
                println!("{}", disabled_line(m));
                return Ok(());
            }
            RoundOutcome::Interrupted(e) if n == rounds => {
                return Err(SyncCliError::Round(e.to_string()));
            }
            RoundOutcome::Cancelled => return Ok(()),
            RoundOutcome::Completed | RoundOutcome::Interrupted(_) => {}
        }
        if r.in_sync() {
            println!("{m}: in sync");
            return Ok(());
        }
    }
    println!("{m}: stopped after {rounds} rounds");
    Ok(())
}
