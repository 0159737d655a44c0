//! `crmsync bench`: the performance figures of design.md §4, measured against the sandbox
//! started in-process with realistic latency and the services' documented limits on.
//!
//! It prints figures, it asserts nothing (DEVELOPERS.md: performance targets live in a
//! benchmark command, not in timed tests), and it exits 0 whatever the figures are:
//!
//! 1. the first sync of N contacts, M events and K tasks: per module and in total, the wall
//!    time, the records synced, the requests each emulator counted, the 429s, and the floor
//!    the services' limits impose on those requests, with the ratio actual ÷ floor;
//! 2. a poll with nothing changed: the requests each module makes on each side, judged
//!    against the least possible: one Graph request (the delta) and Zoho's two feed calls
//!    (the records changed since the watermark, then the deleted ones), PASS or FAIL;
//! 3. idle CPU: the engine's worker polling every second with nothing to do, as a share of
//!    one core (the whole process, the in-process sandbox included).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use crmsync_connect::{
    connect_modules, ConnectError, ControlTokens, ModuleError, SyncRunner, SystemClock,
    CRM_WATERMARK_SETTLE,
};
use crmsync_engine::{
    paths, Account, ModuleKind, Progress, RoundOptions, RoundOutcome, Service, Store, StoreError,
    Worker, WorkerConfig,
};
use crmsync_graph::{GraphClient, GraphConfig};
use crmsync_zoho::{ZohoClient, ZohoConfig};
use serde_json::{json, Value};

use crate::sync::DEMO_USER;

/// The three modules, in the order the benchmark syncs them.
const MODULES: [ModuleKind; 3] = [ModuleKind::Contacts, ModuleKind::Events, ModuleKind::Tasks];

/// Round trips timed per service before the sync, for the floor's mean round trip.
const PROBES: u32 = 10;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Small and fast: 500 contacts, 200 events, 100 tasks, no added latency, 3 s of idle
    /// (a smoke test; explicit flags still win).
    #[arg(long)]
    pub quick: bool,
    /// CRM contacts generated for the demo user (default 10,000; quick 500).
    #[arg(long)]
    pub contacts: Option<usize>,
    /// CRM events generated for the demo user (default 5,000; quick 200).
    #[arg(long)]
    pub events: Option<usize>,
    /// CRM tasks generated for the demo user (default 2,000; quick 100).
    #[arg(long)]
    pub tasks: Option<usize>,
    /// Latency the Microsoft 365 emulator adds to every Graph request, in ms (default 60;
    /// quick 0).
    #[arg(long)]
    pub graph_latency_ms: Option<u64>,
    /// Latency the Zoho emulator adds to every CRM API call, in ms (default 80; quick 0).
    #[arg(long)]
    pub zoho_latency_ms: Option<u64>,
    /// How long the idle-CPU measurement runs, in seconds (default 10; quick 3).
    #[arg(long)]
    pub idle_secs: Option<u64>,
    /// The worker's interval during the idle-CPU measurement, in ms.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub idle_interval_ms: u64,
    /// At most this many rounds per module for the first sync.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_rounds: u32,
}

/// The settings after `--quick` and the defaults are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    contacts: usize,
    events: usize,
    tasks: usize,
    graph_latency_ms: u64,
    zoho_latency_ms: u64,
    idle: Duration,
    idle_interval: Duration,
    max_rounds: u32,
}

impl Settings {
    fn of(a: &BenchArgs) -> Self {
        let pick = |v: Option<usize>, full: usize, quick: usize| {
            v.unwrap_or(if a.quick { quick } else { full })
        };
        let pick_ms = |v: Option<u64>, full: u64| v.unwrap_or(if a.quick { 0 } else { full });
        Self {
            contacts: pick(a.contacts, 10_000, 500),
            events: pick(a.events, 5_000, 200),
            tasks: pick(a.tasks, 2_000, 100),
            graph_latency_ms: pick_ms(a.graph_latency_ms, 60),
            zoho_latency_ms: pick_ms(a.zoho_latency_ms, 80),
            idle: Duration::from_secs(a.idle_secs.unwrap_or(if a.quick { 3 } else { 10 })),
            idle_interval: Duration::from_millis(a.idle_interval_ms),
            max_rounds: a.max_rounds,
        }
    }

    fn count(&self, m: ModuleKind) -> usize {
        match m {
            ModuleKind::Contacts => self.contacts,
            ModuleKind::Events => self.events,
            ModuleKind::Tasks => self.tasks,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("connecting: {0}")]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Module(#[from] ModuleError),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("sandbox control API {url}: {message}")]
    Control { url: String, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{module}: {message}")]
    Round { module: ModuleKind, message: String },
}

/// Request counters read from the emulators' control APIs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    /// Graph requests admitted for the demo mailbox (each `$batch` part counts).
    graph_ok: u64,
    /// Graph requests answered 429 for the demo mailbox.
    graph_429: u64,
    /// Zoho CRM API calls received (429s included).
    zoho: u64,
    /// Zoho CRM API calls answered 429.
    zoho_429: u64,
}

impl Counts {
    fn since(self, before: Counts) -> Counts {
        Counts {
            graph_ok: self.graph_ok.saturating_sub(before.graph_ok),
            graph_429: self.graph_429.saturating_sub(before.graph_429),
            zoho: self.zoho.saturating_sub(before.zoho),
            zoho_429: self.zoho_429.saturating_sub(before.zoho_429),
        }
    }

    fn plus(self, o: Counts) -> Counts {
        Counts {
            graph_ok: self.graph_ok + o.graph_ok,
            graph_429: self.graph_429 + o.graph_429,
            zoho: self.zoho + o.zoho,
            zoho_429: self.zoho_429 + o.zoho_429,
        }
    }

    /// Graph requests made: admitted plus throttled.
    fn graph(self) -> u64 {
        self.graph_ok + self.graph_429
    }

    /// Zoho calls that were not throttled (the ones the sync needed).
    fn zoho_ok(self) -> u64 {
        self.zoho.saturating_sub(self.zoho_429)
    }
}

/// The services' limits the floor is computed from, and the measured round trips.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Limits {
    graph_in_flight: f64,
    graph_window_requests: f64,
    graph_window_secs: f64,
    graph_rtt: Duration,
    zoho_in_flight: f64,
    zoho_rtt: Duration,
}

/// The floor of one set of requests, in seconds, and which limit sets it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Floor {
    /// Graph under both its limits (in flight and requests per window).
    graph: f64,
    /// Graph under its in-flight limit alone.
    graph_concurrency: f64,
    /// Graph at the window's steady rate alone (requests ÷ (window requests ÷ window)).
    graph_steady_rate: f64,
    /// Zoho under its in-flight limit.
    zoho: f64,
}

impl Floor {
    /// The least time the limits allow for `c`'s requests, each taking one round trip: Graph
    /// at most `graph_in_flight` at once and at most `graph_window_requests` started in any
    /// `graph_window_secs` (a sliding window: the first ones may go at once, the next wait
    /// for the window to move); Zoho at most `zoho_in_flight` at once. The floor is the
    /// larger of the two services.
    fn of(c: Counts, l: &Limits) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let (g, z) = (c.graph_ok as f64, c.zoho_ok() as f64);
        Self {
            graph: sliding_window_floor(c.graph_ok, l),
            graph_concurrency: (g / l.graph_in_flight).ceil() * l.graph_rtt.as_secs_f64(),
            graph_steady_rate: g / (l.graph_window_requests / l.graph_window_secs),
            zoho: (z / l.zoho_in_flight).ceil() * l.zoho_rtt.as_secs_f64(),
        }
    }

    fn secs(&self) -> f64 {
        self.graph.max(self.zoho)
    }

    fn bound_by(&self) -> &'static str {
        if self.secs() <= 0.0 {
            "none"
        } else if self.zoho > self.graph {
            "Zoho concurrency"
        } else if self.graph > self.graph_concurrency + 1e-9 {
            "Graph rate"
        } else {
            "Graph concurrency"
        }
    }

    fn ratio(&self, wall: Duration) -> String {
        if self.secs() <= 0.0 {
            "-".into()
        } else {
            format!("{:.2}", wall.as_secs_f64() / self.secs())
        }
    }
}

/// When the last of `n` Graph requests can end if each is started as early as the limits
/// allow: request `i` starts once a slot is free (request `i - in_flight` ended) and once the
/// window has moved past request `i - window_requests`.
fn sliding_window_floor(n: u64, l: &Limits) -> f64 {
    let rtt = l.graph_rtt.as_secs_f64();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (c, w) = (
        (l.graph_in_flight as usize).max(1),
        (l.graph_window_requests as usize).max(1),
    );
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    let mut starts: Vec<f64> = Vec::with_capacity(n);
    for i in 0..n {
        let slot = if i >= c { starts[i - c] + rtt } else { 0.0 };
        let window = if i >= w {
            starts[i - w] + l.graph_window_secs
        } else {
            0.0
        };
        starts.push(slot.max(window));
    }
    starts.last().map_or(0.0, |s| s + rtt)
}

/// One module's first sync.
#[derive(Debug, Clone, Copy, Default)]
struct ModuleRun {
    rounds: u32,
    interrupted: u32,
    executed: usize,
    writes: usize,
    failed: usize,
    wall: Duration,
    counts: Counts,
    in_sync: bool,
}

struct Control {
    http: reqwest::Client,
    graph: String,
    zoho: String,
}

impl Control {
    async fn call(&self, req: reqwest::RequestBuilder, url: &str) -> Result<Value, BenchError> {
        let fail = |message: String| BenchError::Control {
            url: url.to_owned(),
            message,
        };
        let r = req.send().await.map_err(|e| fail(e.to_string()))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(format!("{status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| fail(e.to_string()))
    }

    async fn get(&self, url: String) -> Result<Value, BenchError> {
        self.call(self.http.get(&url), &url).await
    }

    async fn post(&self, url: String, body: Value) -> Result<Value, BenchError> {
        self.call(self.http.post(&url).json(&body), &url).await
    }

    /// Zoho CRM API calls received so far, per method and endpoint.
    async fn zoho_endpoints(&self) -> Result<BTreeMap<String, u64>, BenchError> {
        let z = self.get(format!("{}/counters", self.zoho)).await?;
        Ok(z["by_endpoint"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn counts(&self, user: &str) -> Result<Counts, BenchError> {
        let g = self.get(format!("{}/counters", self.graph)).await?;
        let z = self.get(format!("{}/counters", self.zoho)).await?;
        let mine = &g[user];
        Ok(Counts {
            graph_ok: mine["total"].as_u64().unwrap_or(0),
            graph_429: mine["throttled"].as_u64().unwrap_or(0),
            zoho: z["api_requests"].as_u64().unwrap_or(0),
            zoho_429: z["throttled"].as_u64().unwrap_or(0),
        })
    }
}

/// Runs `crmsync bench`: always in a fresh temporary data directory (never the app's store).
///
/// # Errors
/// [`BenchError`] when the sandbox, the sign-in or a round cannot run; the figures themselves
/// never fail the command.
pub fn run(args: &BenchArgs) -> Result<(), BenchError> {
    let s = Settings::of(args);
    let dir = std::env::temp_dir().join(format!(
        "crmsync-bench-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&dir)?;
    let result = bench(&s, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[allow(clippy::too_many_lines)]
fn bench(s: &Settings, dir: &Path) -> Result<(), BenchError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let opts = crmsync_sandbox::Options {
        graph: crmsync_sandbox_graph::GraphOptions {
            latency_ms: s.graph_latency_ms,
            ..Default::default()
        },
        zoho: crmsync_sandbox_zoho::ZohoOptions {
            latency_ms: s.zoho_latency_ms,
            ..Default::default()
        },
        ..Default::default()
    };
    let sandbox = rt
        .block_on(crmsync_sandbox::start(opts))
        .map_err(|e| BenchError::Sandbox(e.to_string()))?;
    let control = Control {
        http: reqwest::Client::new(),
        graph: sandbox.urls.graph_control.clone(),
        zoho: sandbox
            .urls
            .zoho_control
            .clone()
            .ok_or_else(|| BenchError::Sandbox("no Zoho emulator".into()))?,
    };
    let result = bench_on(&rt, s, dir, &sandbox.urls.graph, &control);
    rt.block_on(sandbox.shutdown())
        .map_err(|e| BenchError::Sandbox(e.to_string()))?;
    result
}

#[allow(clippy::too_many_lines)]
fn bench_on(
    rt: &tokio::runtime::Runtime,
    s: &Settings,
    dir: &Path,
    graph_url: &str,
    control: &Control,
) -> Result<(), BenchError> {
    let user = DEMO_USER;
    // The limits as the emulators enforce them.
    let graph_limits = rt.block_on(control.get(format!("{}/limits", control.graph)))?;
    let zoho_counters = rt.block_on(control.get(format!("{}/counters", control.zoho)))?;
    let zoho_org = zoho_counters["orgs"]
        .as_object()
        .and_then(|orgs| orgs.values().find(|o| o["dc"] == "us"))
        .cloned()
        .unwrap_or(Value::Null);
    let zoho_concurrency = zoho_org["concurrency_limit"].as_u64().unwrap_or(1).max(1);
    let num = |v: &Value, d: u64| v.as_u64().unwrap_or(d).max(1);
    println!("CRM Sync benchmark (design.md §4 \"Performance\")");
    println!(
        "sandbox: Graph latency {} ms, limits {} in flight and {} requests / {} s per mailbox; \
         Zoho latency {} ms, {} edition, {} concurrent calls, {} credits a day",
        s.graph_latency_ms,
        num(&graph_limits["concurrency"], 4),
        num(&graph_limits["window_requests"], 10_000),
        num(&graph_limits["window_secs"], 600),
        s.zoho_latency_ms,
        zoho_org["edition"].as_str().unwrap_or("?"),
        zoho_concurrency,
        zoho_org["credit_limit"].as_u64().unwrap_or(0),
    );

    // Seed the demo user's CRM records (API origin: eligible for the first sync).
    for m in MODULES {
        let n = s.count(m);
        if n > 0 {
            rt.block_on(control.post(
                format!("{}/generate", control.zoho),
                json!({"as": user, "module": crm_module(m), "count": n}),
            ))?;
        }
    }
    println!(
        "seeded: {} contacts, {} events, {} tasks generated in the CRM for {user} (plus the demo data)",
        s.contacts, s.events, s.tasks
    );

    // Sign in through the control API, as `crmsync sync --sandbox` does.
    let gt = Arc::new(ControlTokens::graph(&control.graph, user));
    let graph = GraphClient::new(GraphConfig::new(graph_url), gt).map_err(ConnectError::from)?;
    let zt = ControlTokens::zoho(&control.zoho, user);
    let minted = rt.block_on(zt.mint()).map_err(BenchError::Sandbox)?;
    let api = minted["api_domain"]
        .as_str()
        .ok_or_else(|| BenchError::Sandbox("no api_domain in the token answer".into()))?;
    let mut zcfg = ZohoConfig::new(api);
    zcfg.max_concurrency = usize::try_from(zoho_concurrency).unwrap_or(1);
    let zoho = ZohoClient::new(zcfg, Arc::new(zt)).map_err(ConnectError::from)?;

    // The mean round trip of one request to each service, as the client sees it.
    let (graph_rtt, zoho_rtt) = rt.block_on(async {
        let t = Instant::now();
        for _ in 0..PROBES {
            graph.me().await.map_err(ConnectError::from)?;
        }
        let g = t.elapsed() / PROBES;
        let t = Instant::now();
        for _ in 0..PROBES {
            zoho.current_user().await.map_err(ConnectError::from)?;
        }
        Ok::<_, BenchError>((g, t.elapsed() / PROBES))
    })?;
    #[allow(clippy::cast_precision_loss)]
    let limits = Limits {
        graph_in_flight: num(&graph_limits["concurrency"], 4) as f64,
        graph_window_requests: num(&graph_limits["window_requests"], 10_000) as f64,
        graph_window_secs: num(&graph_limits["window_secs"], 600) as f64,
        graph_rtt,
        zoho_in_flight: zoho_concurrency as f64,
        zoho_rtt,
    };
    println!(
        "round trip (mean of {PROBES}): Graph {:.1} ms, Zoho {:.1} ms",
        ms(graph_rtt),
        ms(zoho_rtt)
    );

    let crm_user = rt
        .block_on(zoho.current_user())
        .map_err(ConnectError::from)?;
    let modules = rt.block_on(connect_modules(graph, zoho, rt.handle().clone()))?;
    let store = Store::open(&paths::store_path(dir))?;
    let now = chrono::Utc::now();
    for service in [Service::Zoho, Service::Microsoft] {
        store.save_account(&Account {
            service,
            user_id: match service {
                Service::Zoho => crm_user.id.clone(),
                Service::Microsoft => user.to_owned(),
            },
            email: user.to_owned(),
            display_name: user.to_owned(),
            organisation: "sandbox".into(),
            data_centre: None,
            connected_at: now,
        })?;
    }
    let mut runner = SyncRunner::new(store, modules);
    for m in MODULES {
        if !runner.is_connected(m) {
            return Err(BenchError::Round {
                module: m,
                message: "this build cannot sync it".into(),
            });
        }
        runner.store.enable(m, now)?;
    }

    // 1. The first sync, module by module.
    println!();
    println!("first sync (rounds until in sync):");
    println!(
        "  {:<9} {:>6} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>12}  floor set by",
        "module",
        "rounds",
        "records",
        "wall s",
        "graph req",
        "graph 429",
        "zoho req",
        "zoho 429",
        "floor s",
        "actual/floor"
    );
    let mut total = ModuleRun {
        in_sync: true,
        ..ModuleRun::default()
    };
    for m in MODULES {
        let r = first_sync(rt, &mut runner, control, m, s.max_rounds)?;
        print_row(m.as_str(), &r, &limits);
        total.rounds += r.rounds;
        total.interrupted += r.interrupted;
        total.executed += r.executed;
        total.writes += r.writes;
        total.failed += r.failed;
        total.wall += r.wall;
        total.counts = total.counts.plus(r.counts);
        total.in_sync &= r.in_sync;
    }
    print_row("total", &total, &limits);
    println!(
        "  records = actions executed ({} remote writes); {} records failed on their own; \
         {} rounds were interrupted; {}",
        total.writes,
        total.failed,
        total.interrupted,
        if total.in_sync {
            "every module ended in sync"
        } else {
            "NOT every module reached in sync within --max-rounds"
        }
    );
    println!(
        "  throttling: {} Graph 429s and {} Zoho 429s in all",
        total.counts.graph_429, total.counts.zoho_429
    );
    let tf = Floor::of(total.counts, &limits);
    println!(
        "floor: the least time the services' documented limits allow for the requests made \
         (429s left out), each taking the measured round trip:"
    );
    println!(
        "  Graph: at most {} in flight ({:.1} ms each) and at most {} started in any {} s \
         (a sliding window: the first {} may go at once, the next wait for the window to move)",
        limits.graph_in_flight,
        ms(limits.graph_rtt),
        limits.graph_window_requests,
        limits.graph_window_secs,
        limits.graph_window_requests,
    );
    println!(
        "  Zoho:  at most {} in flight ({:.1} ms each); the daily credits are far from binding",
        limits.zoho_in_flight,
        ms(limits.zoho_rtt)
    );
    println!(
        "  floor = max(Graph, Zoho); actual/floor = wall ÷ floor (1.00 is the best possible). \
         Modules run one after another, so a module's own floor ignores the window the earlier \
         ones used: the total row is the one that counts."
    );
    println!(
        "  the total's Graph requests alone: {:.1} s at the window's steady rate (requests ÷ {:.1}/s), \
         {:.1} s at {} in flight (requests ÷ {} × round trip)",
        tf.graph_steady_rate,
        limits.graph_window_requests / limits.graph_window_secs,
        tf.graph_concurrency,
        limits.graph_in_flight,
        limits.graph_in_flight,
    );

    // 2. A poll with nothing changed.
    println!();
    println!(
        "poll with nothing changed (target per module: 1 Graph request, the delta; 2 Zoho \
         requests, the feed's minimum: the changed records since the watermark, GET <Module>, \
         and the deleted ones, GET <Module>/deleted):"
    );
    // Zoho's times have whole seconds: the CRM feed re-reads its watermark's second until a
    // poll that starts once the CRM's clock has left it has read it. In the app (a poll every
    // 2 minutes) that is the first poll after a change; here the polls follow the first sync
    // at once, so wait for that second to close and run that first poll, then measure.
    std::thread::sleep(CRM_WATERMARK_SETTLE);
    for m in MODULES {
        let (r, c, called) = poll(rt, &mut runner, control, user, m)?;
        println!(
            "  {:<9} first poll after the sync (re-reads the CRM's last second): graph {} request(s), \
             zoho {} request(s), {}  (zoho: {})",
            m.as_str(),
            c.graph(),
            c.zoho,
            if r.in_sync() { "in sync" } else { "NOT in sync" },
            called
                .iter()
                .map(|(k, d)| format!("{k} ×{d}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for m in MODULES {
        let (r, c, called) = poll(rt, &mut runner, control, user, m)?;
        let feed = |suffix: &str| format!("GET {}{suffix}", crm_module(m));
        let zoho_feed_only = called.len() == 2
            && called.get(&feed("")) == Some(&1)
            && called.get(&feed("/deleted")) == Some(&1);
        let pass = c.graph() == 1 && c.zoho == 2 && zoho_feed_only && r.in_sync();
        println!(
            "  {:<9} graph {:>3} request(s) (target 1), zoho {:>3} request(s) (target 2: {} + {}), {}  {}  (zoho: {})",
            m.as_str(),
            c.graph(),
            c.zoho,
            feed(""),
            feed("/deleted"),
            if r.in_sync() {
                "in sync"
            } else {
                "NOT in sync"
            },
            if pass { "PASS" } else { "FAIL" },
            called
                .iter()
                .map(|(k, d)| format!("{k} ×{d}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // 3. Idle CPU: the worker polls on a short interval with nothing to do.
    println!();
    let before = rt.block_on(control.counts(user))?;
    let shared = Arc::new(Mutex::new(runner));
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let (worker, mut events) = {
        let _enter = rt.enter();
        let worker = Worker::spawn_shared(
            shared.clone(),
            WorkerConfig {
                interval: s.idle_interval,
                ..WorkerConfig::default()
            },
        );
        let events = worker.subscribe();
        (worker, events)
    };
    std::thread::sleep(s.idle);
    rt.block_on(worker.shutdown());
    let wall = t0.elapsed();
    let cpu1 = cpu_time();
    let c = rt.block_on(control.counts(user))?.since(before);
    let mut rounds = 0;
    let mut busy = 0;
    while let Ok(e) = events.try_recv() {
        if let Progress::Finished { summary, .. } = e {
            rounds += 1;
            if !matches!(
                summary,
                crmsync_engine::RoundSummary::Completed { writes: 0, .. }
            ) {
                busy += 1;
            }
        }
    }
    match (cpu0, cpu1) {
        (Some(a), Some(b)) => {
            let used = b.saturating_sub(a);
            println!(
                "idle cpu: worker every {} ms for {:.1} s: {rounds} rounds ({busy} not idle), {} Graph + {} Zoho requests, \
                 {:.2} s CPU = {:.1}% of one core (whole process, sandbox included)",
                s.idle_interval.as_millis(),
                wall.as_secs_f64(),
                c.graph(),
                c.zoho,
                used.as_secs_f64(),
                100.0 * used.as_secs_f64() / wall.as_secs_f64()
            );
        }
        _ => println!(
            "idle cpu: worker every {} ms for {:.1} s: {rounds} rounds; CPU time not measured \
             (no /proc/self/stat on this OS)",
            s.idle_interval.as_millis(),
            wall.as_secs_f64()
        ),
    }
    Ok(())
}

/// One round of `m` with nothing to do: its outcome, the requests it made and the Zoho calls
/// by endpoint.
fn poll(
    rt: &tokio::runtime::Runtime,
    runner: &mut SyncRunner,
    control: &Control,
    user: &str,
    m: ModuleKind,
) -> Result<(crmsync_connect::RoundDigest, Counts, BTreeMap<String, u64>), BenchError> {
    let before = rt.block_on(control.counts(user))?;
    let endpoints = rt.block_on(control.zoho_endpoints())?;
    let r = runner.round(
        m,
        &SystemClock,
        RoundOptions::default(),
        &AtomicBool::new(false),
        &|_| {},
    )?;
    let c = rt.block_on(control.counts(user))?.since(before);
    let called = rt
        .block_on(control.zoho_endpoints())?
        .into_iter()
        .filter_map(|(k, n)| {
            let d = n.saturating_sub(endpoints.get(&k).copied().unwrap_or(0));
            (d > 0).then_some((k, d))
        })
        .collect();
    Ok((r, c, called))
}

fn first_sync(
    rt: &tokio::runtime::Runtime,
    runner: &mut SyncRunner,
    control: &Control,
    m: ModuleKind,
    max_rounds: u32,
) -> Result<ModuleRun, BenchError> {
    let cancel = AtomicBool::new(false);
    let before = rt.block_on(control.counts(DEMO_USER))?;
    let start = Instant::now();
    let mut run = ModuleRun::default();
    let mut failures = std::collections::BTreeSet::new();
    while run.rounds < max_rounds {
        run.rounds += 1;
        let r = runner.round(m, &SystemClock, RoundOptions::default(), &cancel, &|_| {})?;
        run.executed += r.executed;
        run.writes += r.writes;
        // A record that cannot be synced is reported again by every round: count it once.
        failures.extend(
            r.failures
                .iter()
                .map(|f| format!("{} ({})", f.label, f.error)),
        );
        match &r.outcome {
            RoundOutcome::Completed if r.in_sync() => {
                run.in_sync = true;
                break;
            }
            RoundOutcome::Completed | RoundOutcome::Planned => {}
            // The clients already waited out short Retry-Afters; the next round resumes.
            RoundOutcome::Interrupted(_) => run.interrupted += 1,
            other => {
                return Err(BenchError::Round {
                    module: m,
                    message: format!("the first sync stopped: {other:?}"),
                })
            }
        }
    }
    run.wall = start.elapsed();
    run.failed = failures.len();
    for f in failures.iter().take(3) {
        println!("  {m}: not synced: {f}");
    }
    if failures.len() > 3 {
        println!("  {m}: ... and {} more not synced", failures.len() - 3);
    }
    run.counts = rt.block_on(control.counts(DEMO_USER))?.since(before);
    Ok(run)
}

fn print_row(label: &str, r: &ModuleRun, limits: &Limits) {
    let floor = Floor::of(r.counts, limits);
    println!(
        "  {:<9} {:>6} {:>8} {:>9.1} {:>9} {:>9} {:>8} {:>9} {:>9.2} {:>12}  {}",
        label,
        r.rounds,
        r.executed,
        r.wall.as_secs_f64(),
        r.counts.graph(),
        r.counts.graph_429,
        r.counts.zoho,
        r.counts.zoho_429,
        floor.secs(),
        floor.ratio(r.wall),
        floor.bound_by()
    );
}

fn crm_module(m: ModuleKind) -> &'static str {
    match m {
        ModuleKind::Contacts => "Contacts",
        ModuleKind::Events => "Events",
        ModuleKind::Tasks => "Tasks",
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time (user + system) this process has used, every thread included; `None` where
/// `/proc/self/stat` does not exist.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string(PathBuf::from("/proc/self/stat")).ok()?;
    cpu_time_of(&stat)
}

/// Parses `utime` and `stime` (fields 14 and 15, in clock ticks of 1/100 s: Linux's USER_HZ)
/// from a `/proc/[pid]/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
fn cpu_time_of(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn settings(argv: &[&str]) -> Settings {
        let mut v = vec!["bench"];
        v.extend_from_slice(argv);
        Settings::of(&Wrap::try_parse_from(v).unwrap().args)
    }

    #[test]
    fn defaults_are_the_design_figures_and_quick_is_small() {
        let full = settings(&[]);
        assert_eq!(
            (full.contacts, full.events, full.tasks),
            (10_000, 5_000, 2_000)
        );
        assert_eq!((full.graph_latency_ms, full.zoho_latency_ms), (60, 80));
        assert_eq!(full.idle, Duration::from_secs(10));
        let quick = settings(&["--quick"]);
        assert_eq!((quick.contacts, quick.events, quick.tasks), (500, 200, 100));
        assert_eq!((quick.graph_latency_ms, quick.zoho_latency_ms), (0, 0));
        let mixed = settings(&["--quick", "--contacts", "7", "--graph-latency-ms", "5"]);
        assert_eq!((mixed.contacts, mixed.events), (7, 200));
        assert_eq!(mixed.graph_latency_ms, 5);
    }

    #[test]
    fn parses_cpu_time_after_a_command_name_with_spaces() {
        let line =
            "4242 (crm sync) (x) S 1 4242 4242 0 -1 4194560 500 0 0 0 123 45 0 0 20 0 5 0 100 0 0";
        assert_eq!(cpu_time_of(line), Some(Duration::from_millis(1680)));
        assert_eq!(cpu_time_of("garbage"), None);
        assert_eq!(cpu_time_of("1 (x) S 1 2"), None);
    }

    fn limits() -> Limits {
        Limits {
            graph_in_flight: 4.0,
            graph_window_requests: 10_000.0,
            graph_window_secs: 600.0,
            graph_rtt: Duration::from_millis(100),
            zoho_in_flight: 20.0,
            zoho_rtt: Duration::from_millis(100),
        }
    }

    #[test]
    fn floor_is_set_by_the_tightest_limit() {
        // 10,000 Graph requests fit in one window: 4 in flight × 100 ms sets it (250 s).
        let f = Floor::of(
            Counts {
                graph_ok: 10_000,
                graph_429: 7,
                zoho: 50,
                zoho_429: 0,
            },
            &limits(),
        );
        assert!((f.secs() - 250.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.bound_by(), "Graph concurrency");
        assert_eq!(f.ratio(Duration::from_secs(275)), "1.10");
        assert!((f.graph_steady_rate - 600.0).abs() < 1e-6);
        // One more than the window holds, with fast round trips: request 10,001 waits for the
        // first one to leave the window (600 s).
        let fast = Limits {
            graph_rtt: Duration::from_millis(10),
            ..limits()
        };
        let f = Floor::of(
            Counts {
                graph_ok: 10_001,
                ..Counts::default()
            },
            &fast,
        );
        assert!((f.secs() - 600.01).abs() < 1e-6, "{f:?}");
        assert_eq!(f.bound_by(), "Graph rate");
        // Two windows' worth and a half: 1,200 s and the last 5,000 at 4 in flight.
        let f = Floor::of(
            Counts {
                graph_ok: 25_000,
                ..Counts::default()
            },
            &fast,
        );
        assert!((f.secs() - (1200.0 + 1250.0 * 0.01)).abs() < 1e-6, "{f:?}");
        // Few Graph requests, many Zoho calls: Zoho's concurrency sets it.
        let f = Floor::of(
            Counts {
                graph_ok: 2,
                graph_429: 0,
                zoho: 410,
                zoho_429: 10,
            },
            &limits(),
        );
        assert!((f.secs() - 2.0).abs() < 1e-6);
        assert_eq!(f.bound_by(), "Zoho concurrency");
        assert_eq!(
            Floor::of(Counts::default(), &limits()).ratio(Duration::ZERO),
            "-"
        );
    }

    #[test]
    fn counts_subtract_and_add() {
        let a = Counts {
            graph_ok: 10,
            graph_429: 2,
            zoho: 5,
            zoho_429: 1,
        };
        let b = Counts {
            graph_ok: 3,
            graph_429: 1,
            zoho: 1,
            zoho_429: 0,
        };
        let d = a.since(b);
        assert_eq!((d.graph(), d.zoho, d.zoho_ok()), (8, 4, 3));
        assert_eq!(d.plus(b), a);
    }
}
