//! The background worker: runs each enabled module on a schedule (every two minutes by
//! default), plus "sync now", with progress events, cancellation between actions, and
//! backoff while a service throttles.
//!
//! The worker is generic over a [`RoundRunner`], which owns the store and the service ports
//! and runs one blocking round (see [`crate::run_round_cancellable`]); the worker calls it on
//! tokio's blocking pool so the async runtime is never blocked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::module::ModuleKind;
use crate::sync::RoundStep;

/// How one round of one module ended, as the worker needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoundSummary {
    Completed {
        executed: usize,
        writes: usize,
    },
    Paused {
        reason: String,
    },
    Disabled,
    Cancelled,
    /// The service throttled us; wait at least this long.
    Throttled {
        retry_after_secs: Option<u64>,
    },
    /// The round could not finish; the next one resumes.
    Failed {
        error: String,
    },
}

impl RoundSummary {
    /// The summary of a finished round (or of a local failure).
    pub fn of<R>(result: &Result<crate::RoundReport<R>, crate::SyncError>) -> Self {
        use crate::{PortError, RoundOutcome};
        match result {
            Err(e) => Self::Failed {
                error: e.to_string(),
            },
            Ok(r) => match &r.outcome {
                RoundOutcome::Completed | RoundOutcome::Planned => Self::Completed {
                    executed: r.executed,
                    writes: r.writes,
                },
                RoundOutcome::Paused(p) => Self::Paused {
                    reason: p.to_string(),
                },
                RoundOutcome::Disabled => Self::Disabled,
                RoundOutcome::Cancelled => Self::Cancelled,
                RoundOutcome::Interrupted(PortError::Throttled { retry_after_secs }) => {
                    Self::Throttled {
                        retry_after_secs: *retry_after_secs,
                    }
                }
                RoundOutcome::Interrupted(e) => Self::Failed {
                    error: e.to_string(),
                },
            },
        }
    }
}

/// Runs rounds for the worker (blocking code: the store and the ports).
pub trait RoundRunner: Send + 'static {
    /// The modules to run now (the enabled ones).
    fn enabled_modules(&mut self) -> Vec<ModuleKind>;
    /// One round of `module`; stop between actions once `cancel` is set, and report where the
    /// round is through `on_step`.
    fn run(
        &mut self,
        module: ModuleKind,
        cancel: &AtomicBool,
        on_step: &dyn Fn(RoundStep),
    ) -> RoundSummary;
}

/// Schedule settings.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// Time between scheduled rounds.
    pub interval: Duration,
    /// First wait after a throttled round (doubled while throttling continues).
    pub initial_backoff: Duration,
    /// Longest wait while throttled.
    pub max_backoff: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(120),
            initial_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(15 * 60),
        }
    }
}

/// What the worker reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    Started {
        module: ModuleKind,
    },
    /// Where the running round is (for a progress bar).
    Step {
        module: ModuleKind,
        step: RoundStep,
    },
    Finished {
        module: ModuleKind,
        summary: RoundSummary,
    },
    /// Waiting longer than the schedule because a service throttles.
    BackingOff {
        wait_ms: u64,
    },
    /// The worker stopped.
    Stopped,
}

enum Command {
    SyncNow,
    Shutdown,
}

/// A running worker.
pub struct Worker {
    commands: mpsc::UnboundedSender<Command>,
    cancel: Arc<AtomicBool>,
    progress: broadcast::Sender<Progress>,
    join: JoinHandle<()>,
}

impl Worker {
    /// Starts the worker on the current tokio runtime; the first round starts at once.
    #[must_use]
    pub fn spawn<Run: RoundRunner>(runner: Run, config: WorkerConfig) -> Self {
        Self::spawn_shared(Arc::new(Mutex::new(runner)), config)
    }

    /// [`Worker::spawn`] with a runner the caller keeps a handle on: locking it (on a blocking
    /// thread) waits for the running round, so work done under the lock (a disable, a preview,
    /// a conflict resolution) never races a round.
    #[must_use]
    pub fn spawn_shared<Run: RoundRunner>(runner: Arc<Mutex<Run>>, config: WorkerConfig) -> Self {
        let (commands, mut rx) = mpsc::unbounded_channel();
        let (progress, _) = broadcast::channel(256);
        let cancel = Arc::new(AtomicBool::new(false));
        let events = progress.clone();
        let flag = cancel.clone();
        let join = tokio::spawn(async move {
            let mut backoff: Option<Duration> = None;
            'schedule: loop {
                let modules = {
                    let runner = runner.clone();
                    match tokio::task::spawn_blocking(move || lock(&runner).enabled_modules()).await
                    {
                        Ok(m) => m,
                        Err(_) => break,
                    }
                };
                let mut throttled: Option<Option<u64>> = None;
                for module in modules {
                    if flag.swap(false, Ordering::Relaxed) {
                        break;
                    }
                    let _ = events.send(Progress::Started { module });
                    let runner = runner.clone();
                    let cancel = flag.clone();
                    let steps = events.clone();
                    let summary = tokio::task::spawn_blocking(move || {
                        lock(&runner).run(module, &cancel, &|step| {
                            let _ = steps.send(Progress::Step { module, step });
                        })
                    })
                    .await
                    .unwrap_or_else(|e| RoundSummary::Failed {
                        error: format!("the sync round stopped unexpectedly: {e}"),
                    });
                    if let RoundSummary::Throttled { retry_after_secs } = summary {
                        throttled = Some(retry_after_secs);
                    }
                    let _ = events.send(Progress::Finished { module, summary });
                }
                flag.store(false, Ordering::Relaxed);
                let wait = match throttled {
                    Some(retry_after) => {
                        let next = backoff
                            .map_or(config.initial_backoff, |b| b * 2)
                            .max(Duration::from_secs(retry_after.unwrap_or(0)))
                            .min(config.max_backoff);
                        backoff = Some(next);
                        let _ = events.send(Progress::BackingOff {
                            wait_ms: u64::try_from(next.as_millis()).unwrap_or(u64::MAX),
                        });
                        next
                    }
                    None => {
                        backoff = None;
                        config.interval
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    cmd = rx.recv() => match cmd {
                        Some(Command::SyncNow) => {}
                        Some(Command::Shutdown) | None => break 'schedule,
                    }
                }
            }
            let _ = events.send(Progress::Stopped);
        });
        Self {
            commands,
            cancel,
            progress,
            join,
        }
    }

    /// Progress events from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Runs a round now instead of waiting for the schedule (or the backoff).
    pub fn sync_now(&self) {
        let _ = self.commands.send(Command::SyncNow);
    }

    /// Cancels the running round between two actions (and the modules after it).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Cancels the running round and stops the worker.
    pub async fn shutdown(self) {
        self.cancel();
        let _ = self.commands.send(Command::Shutdown);
        let _ = self.join.await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Scripted {
        runs: Arc<AtomicUsize>,
        script: Vec<RoundSummary>,
        block_until_cancel: bool,
    }

    impl RoundRunner for Scripted {
        fn enabled_modules(&mut self) -> Vec<ModuleKind> {
            vec![ModuleKind::Contacts]
        }
        fn run(
            &mut self,
            _: ModuleKind,
            cancel: &AtomicBool,
            _: &dyn Fn(RoundStep),
        ) -> RoundSummary {
            let n = self.runs.fetch_add(1, Ordering::SeqCst);
            if self.block_until_cancel {
                while !cancel.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                return RoundSummary::Cancelled;
            }
            self.script
                .get(n)
                .cloned()
                .unwrap_or(RoundSummary::Completed {
                    executed: 0,
                    writes: 0,
                })
        }
    }

    fn scripted(script: Vec<RoundSummary>) -> (Scripted, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        (
            Scripted {
                runs: runs.clone(),
                script,
                block_until_cancel: false,
            },
            runs,
        )
    }

    async fn next_finished(rx: &mut broadcast::Receiver<Progress>) -> RoundSummary {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Ok(Progress::Finished { summary, .. })) => return summary,
                Ok(Ok(_)) => {}
                other => panic!("no round finished: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn runs_on_schedule() {
        let (runner, runs) = scripted(vec![]);
        let worker = Worker::spawn(
            runner,
            WorkerConfig {
                interval: Duration::from_millis(20),
                ..WorkerConfig::default()
            },
        );
        let mut rx = worker.subscribe();
        for _ in 0..3 {
            next_finished(&mut rx).await;
        }
        worker.shutdown().await;
        assert!(runs.load(Ordering::SeqCst) >= 3);
    }

    #[tokio::test]
    async fn sync_now_skips_the_wait() {
        let (runner, runs) = scripted(vec![]);
        let worker = Worker::spawn(
            runner,
            WorkerConfig {
                interval: Duration::from_secs(3600),
                ..WorkerConfig::default()
            },
        );
        let mut rx = worker.subscribe();
        next_finished(&mut rx).await;
        worker.sync_now();
        next_finished(&mut rx).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        worker.shutdown().await;
    }

    #[tokio::test]
    async fn throttling_backs_off_and_doubles() {
        let (runner, _) = scripted(vec![
            RoundSummary::Throttled {
                retry_after_secs: None,
            },
            RoundSummary::Throttled {
                retry_after_secs: None,
            },
        ]);
        let worker = Worker::spawn(
            runner,
            WorkerConfig {
                interval: Duration::from_secs(3600),
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(15),
            },
        );
        let mut rx = worker.subscribe();
        let mut waits = Vec::new();
        while waits.len() < 2 {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Ok(Progress::BackingOff { wait_ms })) => waits.push(wait_ms),
                Ok(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(waits, vec![10, 15], "doubled, capped");
        // After the throttling, the schedule is back to normal.
        assert_eq!(
            next_finished(&mut rx).await,
            RoundSummary::Completed {
                executed: 0,
                writes: 0
            }
        );
        worker.shutdown().await;
    }

    #[tokio::test]
    async fn cancel_stops_the_running_round() {
        let runs = Arc::new(AtomicUsize::new(0));
        let worker = Worker::spawn(
            Scripted {
                runs: runs.clone(),
                script: vec![],
                block_until_cancel: true,
            },
            WorkerConfig {
                interval: Duration::from_secs(3600),
                ..WorkerConfig::default()
            },
        );
        let mut rx = worker.subscribe();
        while runs.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        worker.cancel();
        assert_eq!(next_finished(&mut rx).await, RoundSummary::Cancelled);
        worker.shutdown().await;
    }
}
