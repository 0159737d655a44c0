//! `crmsync`: the headless command line. Same store and engine as the desktop
//! app, no window; for admins, scripts, tests and machines without a display.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use crmsync_engine::{paths, ModuleState, ModuleStatus, Service, Store, StoreError};
use serde::Serialize;

mod bench;
mod sync;

#[derive(Parser)]
#[command(name = "crmsync", version, about = "CRM Sync without a window")]
struct Cli {
    /// Data directory (default: $CRMSYNC_DATA_DIR, else the OS app-data dir, shared with the app).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the store's state: modules and connected accounts.
    Status {
        /// Machine-readable JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run sync rounds for the enabled modules until nothing is left to do, or keep running on
    /// a schedule with --watch.
    Sync(Box<sync::SyncArgs>),
    /// Measure the first sync, an idle poll and idle CPU against the in-process sandbox with
    /// realistic latency and the services' limits, and print the figures (always a fresh
    /// temporary store; never the app's).
    Bench(Box<bench::BenchArgs>),
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("the OS reports no data directory; pass --data-dir")]
    NoDataDir,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Sync(#[from] sync::SyncCliError),
    #[error("bench: {0}")]
    Bench(#[from] bench::BenchError),
}

#[derive(Serialize)]
struct StatusReport {
    data_dir: PathBuf,
    store: PathBuf,
    schema_version: i64,
    journal_mode: String,
    modules: Vec<ModuleState>,
    /// Records per state from each module's last completed round, in module order.
    counts: Vec<crmsync_engine::ModuleCounts>,
    accounts: Vec<crmsync_engine::Account>,
}

fn status(data_dir: PathBuf) -> Result<StatusReport, CliError> {
    let store_path = paths::store_path(&data_dir);
    let store = Store::open(&store_path)?;
    let mut accounts = Vec::new();
    for service in [Service::Zoho, Service::Microsoft] {
        accounts.extend(store.account(service)?);
    }
    let modules = store.modules()?;
    let counts = modules
        .iter()
        .map(|m| store.module_counts(m.module))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StatusReport {
        schema_version: store.schema_version()?,
        journal_mode: store.journal_mode()?,
        modules,
        counts,
        accounts,
        store: store_path,
        data_dir,
    })
}

fn describe(status: &ModuleStatus) -> String {
    match status.reason() {
        Some(reason) => format!("{} ({reason})", status.key()),
        None => status.key().to_owned(),
    }
}

fn print_text(report: &StatusReport) {
    println!("CRM Sync store: {}", report.store.display());
    println!(
        "schema version {}, journal mode {}",
        report.schema_version, report.journal_mode
    );
    println!("modules:");
    for (m, c) in report.modules.iter().zip(&report.counts) {
        let last = m
            .last_sync_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "never".into());
        println!(
            "  {:<9} {:<8} status={:<24} delete-propagation={:<3} last-sync={last}",
            m.module.as_str(),
            if m.enabled { "enabled" } else { "disabled" },
            describe(&m.status),
            if m.delete_propagation { "on" } else { "off" },
        );
        if m.enabled || c.synced + c.excluded + c.failing > 0 {
            println!(
                "            {} in sync, {} excluded, {} failing, {} conflicts, {} waiting",
                c.synced, c.excluded, c.failing, c.conflicts, c.pending
            );
        }
    }
    println!("accounts:");
    if report.accounts.is_empty() {
        println!("  none connected");
    }
    for a in &report.accounts {
        println!(
            "  {:<13} {} <{}> {}{}",
            a.service.display_name(),
            a.display_name,
            a.email,
            a.organisation,
            a.data_centre
                .as_deref()
                .map(|dc| format!(" (data centre {dc})"))
                .unwrap_or_default()
        );
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    // The bench never touches a data dir (it makes a temporary one).
    let data_dir = || {
        cli.data_dir
            .clone()
            .or_else(paths::data_dir)
            .ok_or(CliError::NoDataDir)
    };
    match cli.command {
        Command::Status { json } => {
            let report = status(data_dir()?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_text(&report);
            }
        }
        Command::Sync(args) => sync::run(&data_dir()?, &args)?,
        Command::Bench(args) => bench::run(&args)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crmsync: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_creates_and_reports_a_fresh_store() {
        let dir = tempfile::tempdir().unwrap();
        let report = status(dir.path().to_path_buf()).unwrap();
        assert_eq!(report.journal_mode, "wal");
        assert_eq!(report.modules.len(), 3);
        assert!(report.accounts.is_empty());
        assert!(report.store.exists());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["modules"][1]["module"], "contacts");
        assert_eq!(json["modules"][1]["status"]["kind"], "inactive");
    }

    #[test]
    fn cli_parses_status() {
        let cli =
            Cli::try_parse_from(["crmsync", "--data-dir", "/tmp/x", "status", "--json"]).unwrap();
        assert!(matches!(cli.command, Command::Status { json: true }));
        assert!(Cli::try_parse_from(["crmsync", "frobnicate"]).is_err());
    }
}
