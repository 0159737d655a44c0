//! `crmsync sync --sandbox --watch`: the engine's worker in a long-running process. A change
//! made in the CRM while it runs reaches Microsoft 365 on a later scheduled round of the same
//! process, and SIGTERM stops it cleanly, between two actions of a running round.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

mod common;

use common::{crmsync, email_of, folder_contacts, runtime, Endpoints, AIKO};

/// What a running child prints, line by line.
struct Lines {
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(child: &mut Child) -> Self {
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits for the next line `want` accepts; panics with what was printed after 60 s.
    fn wait_for(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(e) => panic!("no line for {what} ({e}):\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Everything printed until the output closed.
    fn rest(mut self) -> Vec<String> {
        self.seen.extend(self.rx.iter());
        self.seen
    }
}

/// `crmsync sync --sandbox --watch` running in a fresh data directory.
struct Watching {
    child: Child,
    out: Lines,
    /// Its in-process sandbox (gone once it stops).
    at: Endpoints,
    _dir: tempfile::TempDir,
}

impl Watching {
    /// Starts it with `flags` added, and waits for its sandbox.
    fn start(flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = crmsync(dir.path())
            .args(["sync", "--sandbox", "--watch"])
            .args(flags)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = Lines::of(&mut child);
        let started = out.wait_for("the sandbox", |l| l.starts_with("sandbox started at "));
        Self {
            child,
            out,
            at: Endpoints::from_start_line(&started).unwrap(),
            _dir: dir,
        }
    }

    /// Sends SIGTERM, checks that it exits 0 within 10 s, its output ending with "stopped",
    /// and returns its output.
    fn terminate(mut self) -> Vec<String> {
        let asked = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                asked.elapsed() < Duration::from_secs(10),
                "still running 10 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let lines = self.out.rest();
        assert!(status.success(), "{status}:\n{}", lines.join("\n"));
        assert!(
            lines.last().is_some_and(|l| l.ends_with(" stopped")),
            "{}",
            lines.join("\n")
        );
        lines
    }
}

#[test]
fn watch_syncs_a_later_change_on_schedule_and_stops_on_sigterm() {
    let rt = runtime();
    let mut w = Watching::start(&["--interval", "1s"]);
    let graph = w.at.graph_as(AIKO);

    // The first scheduled round copies the demo contacts, with progress as it runs.
    w.out.wait_for("the plan", |l| {
        l.contains("contacts: ") && l.ends_with(" planned")
    });
    w.out
        .wait_for("the first round", |l| l.contains("contacts: round done"));
    let first = folder_contacts(&rt, &graph).len();
    assert!(first > 0);
    w.out
        .wait_for("an idle round", |l| l.contains("contacts: nothing to do"));

    // A contact made in the CRM meanwhile reaches the folder on a later round of the same
    // process.
    w.at.zoho_control(
        &rt,
        "/records/Contacts",
        json!({"as": AIKO, "origin": "api",
               "data": [{"Last_Name": "Watched", "Email": "watched@watch.example"}]}),
    );
    w.out.wait_for("the round that copies it", |l| {
        l.contains("contacts: round done")
    });
    let now = folder_contacts(&rt, &graph);
    assert_eq!(now.len(), first + 1);
    assert!(now
        .iter()
        .any(|c| email_of(c) == Some("watched@watch.example")));
    assert!(w.child.try_wait().unwrap().is_none(), "it keeps running");

    // SIGTERM between two rounds: it exits 0 promptly.
    w.terminate();
}

#[test]
fn sigterm_during_a_round_stops_it_between_two_actions() {
    let rt = runtime();
    let mut w = Watching::start(&["--sandbox-generate", "500"]);
    // Slow Microsoft 365 down, so that the first round (500 copies) runs for a while.
    w.at.graph_faults(&rt, json!({"latency_ms": 20}));
    let running = w
        .out
        .wait_for("a round running", |l| l.ends_with(" actions done"));
    // `HH:MM:SS events: 51/504 actions done`
    let module = running.split_whitespace().nth(1).unwrap().to_owned();

    let text = w.terminate().join("\n");
    assert!(
        text.contains(&format!("{module} round cancelled")),
        "{text}"
    );
    assert!(!text.contains(&format!("{module} round done")), "{text}");
}
