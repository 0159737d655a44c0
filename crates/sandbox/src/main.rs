//! `crmsync-sandbox`: prints one JSON line with its base URLs, then serves
//! until SIGINT/SIGTERM (saving the snapshot when `--snapshot` is given).

use clap::Parser;
use crmsync_sandbox::{start, Options};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let running = match start(options).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crmsync-sandbox: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match serde_json::to_string(&running.urls) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("crmsync-sandbox: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    wait_for_signal().await;
    match running.shutdown().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crmsync-sandbox: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
