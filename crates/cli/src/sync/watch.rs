//! `crmsync sync --watch`: keeps running the engine's worker, as the app does, and prints its
//! progress until Ctrl-C or SIGTERM, which stop the running round between two actions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crmsync_connect::SyncRunner;
use crmsync_engine::{Progress, RoundStep, Store, Worker, WorkerConfig};
use tokio::sync::broadcast::error::RecvError;

use super::progress::{finished_line, StepLines};
use super::SyncCliError;

/// Runs the worker over `runner` every `interval` until a stop signal. `counts` is a second
/// connection to the store, to print each module's record counts after its rounds.
pub fn watch(
    rt: &tokio::runtime::Runtime,
    runner: SyncRunner,
    counts: Store,
    interval: Duration,
) -> Result<(), SyncCliError> {
    rt.block_on(async {
        // Registered before the first round, so a signal is never missed.
        let mut signals = StopSignals::new().map_err(SyncCliError::Signals)?;
        let worker = Worker::spawn_shared(
            Arc::new(Mutex::new(runner)),
            WorkerConfig {
                interval,
                ..WorkerConfig::default()
            },
        );
        let mut events = worker.subscribe();
        say(&format!(
            "watching: every enabled module now, then every {} (Ctrl-C to stop)",
            format_interval(interval)
        ));
        let printer = Printer {
            steps: StepLines::default(),
            counts,
        };
        let mut worker = Some(worker);
        let mut stopping = None;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(Progress::Stopped) | Err(RecvError::Closed) => break,
                    Ok(p) => printer.print(&p),
                    Err(RecvError::Lagged(_)) => {}
                },
                () = signals.recv() => match worker.take() {
                    Some(w) => {
                        say("stopping: the running round stops after its current action (Ctrl-C again to quit at once)");
                        stopping = Some(tokio::spawn(w.shutdown()));
                    }
                    None => {
                        // The store and the services are crash-safe: the next run resumes.
                        say("stopped without waiting for the round");
                        std::process::exit(130);
                    }
                },
            }
        }
        if let Some(s) = stopping {
            let _ = s.await;
        }
        say("stopped");
        Ok(())
    })
}

/// Prints the worker's progress events; a round with nothing to do takes three lines.
struct Printer {
    steps: StepLines,
    counts: Store,
}

impl Printer {
    fn print(&self, p: &Progress) {
        let line = match p {
            // The round's first step says it started.
            Progress::Started { .. } => None,
            Progress::Step { module, step } => {
                let line = self.steps.line(*module, *step);
                // An empty plan: the round's last line says so.
                line.filter(|_| *step != RoundStep::Planned { actions: 0 })
            }
            Progress::Finished { module, summary } => {
                let counts = self.counts.module_counts(*module).ok();
                Some(finished_line(*module, summary, counts.as_ref()))
            }
            Progress::BackingOff { wait_ms } => Some(format!(
                "a service is throttling: next round in {} s",
                wait_ms.div_ceil(1000)
            )),
            Progress::Stopped => None,
        };
        if let Some(line) = line {
            say(&line);
        }
    }
}

/// Prints `line` with the local time: the watch mode runs for long.
fn say(line: &str) {
    println!("{} {line}", chrono::Local::now().format("%H:%M:%S"));
}

/// Ctrl-C, and SIGTERM on Unix.
#[cfg(unix)]
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignals {
    /// Listens from now on (inside the runtime).
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next stop signal.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Ctrl-C.
#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    #[allow(clippy::unnecessary_wraps)]
    fn new() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `--interval`: `90s`, `5m`, or a bare number of minutes; from 1 second to 24 hours.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let (number, unit) = match s.strip_suffix('s') {
        Some(n) => (n, 1),
        None => (s.strip_suffix('m').unwrap_or(s), 60),
    };
    let n: u64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not an interval: write 90s, 5m or 5 (minutes)"))?;
    let secs = n.saturating_mul(unit);
    if !(1..=24 * 3600).contains(&secs) {
        return Err(format!("`{s}`: the interval must be 1 s to 24 h"));
    }
    Ok(Duration::from_secs(secs))
}

/// `2m`, `90s`.
fn format_interval(d: Duration) -> String {
    match d.as_secs() {
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_take_seconds_or_minutes() {
        assert_eq!(parse_interval("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(120)));
        for bad in ["0s", "0", "25h", "1441m", "-1m", "soon", ""] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        assert_eq!(format_interval(Duration::from_secs(120)), "2m");
        assert_eq!(format_interval(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn watch_takes_an_interval_and_refuses_one_shot_options() {
        use clap::Parser;
        #[derive(Parser)]
        struct Sync {
            #[command(flatten)]
            args: crate::sync::SyncArgs,
        }
        let parse = |flags: &[&str]| {
            Sync::try_parse_from(std::iter::once("sync").chain(flags.iter().copied()))
                .map(|s| s.args)
        };
        let args = parse(&["--sandbox", "--watch", "--interval", "30s"]).unwrap();
        assert!(args.watch);
        assert_eq!(args.interval, Some(Duration::from_secs(30)));
        assert_eq!(parse(&["--watch"]).unwrap().interval, None);
        for bad in [
            &["--interval", "5m"][..],
            &["--watch", "--interval", "0s"],
            &["--watch", "--dry-run"],
            &["--watch", "--rounds", "3"],
            &["--watch", "--module", "contacts"],
            &["--watch", "--disable", "contacts"],
            &["--watch", "--confirm-deletes"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
