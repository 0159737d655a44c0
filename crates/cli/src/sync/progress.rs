//! Progress lines of a sync round, shared by the one-shot and the watch modes: a line per step
//! (reading each side, the plan) and, while the plan runs, a line every tenth of it.

use std::cell::Cell;

use crmsync_core::Side;
use crmsync_engine::{ModuleCounts, ModuleKind, RoundStep, RoundSummary};

/// Turns a round's steps into readable lines (one module's round at a time).
#[derive(Debug, Default)]
pub struct StepLines {
    /// Actions done at the last execution line of the running round.
    shown: Cell<usize>,
}

impl StepLines {
    /// The line for `step`, or `None` when it is not worth a line.
    pub fn line(&self, module: ModuleKind, step: RoundStep) -> Option<String> {
        match step {
            RoundStep::Observing { side } => Some(format!(
                "{module}: reading the {} changes",
                match side {
                    Side::Crm => "Zoho CRM",
                    Side::Graph => "Microsoft 365",
                }
            )),
            RoundStep::Planned { actions } => {
                self.shown.set(0);
                Some(match actions {
                    0 => format!("{module}: nothing to do"),
                    n => format!("{module}: {} planned", count(n, "action")),
                })
            }
            RoundStep::Executed { done, total } => {
                let every = total.div_ceil(10).max(1);
                let last = self.shown.get();
                if total == 0 || done <= last || (done < total && done < last + every) {
                    return None;
                }
                self.shown.set(done);
                Some(format!("{module}: {done}/{total} actions done"))
            }
        }
    }
}

/// The line for a round the worker finished, with the module's record counts after it (when
/// they could be read).
pub fn finished_line(
    module: ModuleKind,
    summary: &RoundSummary,
    counts: Option<&ModuleCounts>,
) -> String {
    match summary {
        RoundSummary::Completed { executed, writes } => {
            let mut line = if executed + writes == 0 {
                format!("{module}: nothing to do")
            } else {
                format!(
                    "{module}: round done, {}, {}",
                    count(*executed, "action"),
                    count(*writes, "write")
                )
            };
            if let Some(c) = counts {
                line.push_str(&format!(
                    "; {} in sync, {} excluded, {} failing, {} conflicts, {} waiting",
                    c.synced, c.excluded, c.failing, c.conflicts, c.pending
                ));
            }
            line
        }
        RoundSummary::Paused { reason } => format!(
            "{module}: paused: {reason}; confirm the deletes in the app or with \
             `crmsync sync --module {module} --confirm-deletes`"
        ),
        RoundSummary::Disabled => disabled_line(module),
        RoundSummary::Cancelled => format!("{module}: round cancelled"),
        RoundSummary::Throttled { retry_after_secs } => match retry_after_secs {
            Some(s) => format!("{module}: the service is throttling (retry after {s} s)"),
            None => format!("{module}: the service is throttling"),
        },
        RoundSummary::Failed { error } => {
            format!("{module}: round failed: {error}; the next round resumes")
        }
    }
}

/// `1 action`, `2 actions`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The line for a module whose Microsoft 365 container was deleted.
pub fn disabled_line(module: ModuleKind) -> String {
    format!(
        "{module}: the Microsoft 365 {} was deleted; the module is now disabled (nothing was \
         deleted in the CRM)",
        container_noun(module)
    )
}

/// What a module's Microsoft 365 container is called.
pub fn container_noun(m: ModuleKind) -> &'static str {
    match m {
        ModuleKind::Contacts => "contact folder",
        ModuleKind::Events => "calendar",
        ModuleKind::Tasks => "To Do list",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: ModuleKind = ModuleKind::Contacts;

    fn executed(lines: &StepLines, total: usize) -> Vec<String> {
        (1..=total)
            .filter_map(|done| lines.line(M, RoundStep::Executed { done, total }))
            .collect()
    }

    #[test]
    fn a_line_per_step_and_every_tenth_of_the_plan() {
        let lines = StepLines::default();
        assert_eq!(
            lines.line(M, RoundStep::Observing { side: Side::Crm }),
            Some("contacts: reading the Zoho CRM changes".into())
        );
        assert_eq!(
            lines.line(M, RoundStep::Planned { actions: 2500 }),
            Some("contacts: 2500 actions planned".into())
        );
        let done = executed(&lines, 2500);
        assert_eq!(done.len(), 10, "{done:?}");
        assert_eq!(done[0], "contacts: 250/2500 actions done");
        assert_eq!(done[9], "contacts: 2500/2500 actions done");
        // The next round starts over; a small plan gets a line per action.
        lines.line(M, RoundStep::Planned { actions: 3 });
        assert_eq!(executed(&lines, 3).len(), 3);
    }

    #[test]
    fn missed_steps_and_empty_plans_print_nothing_odd() {
        let lines = StepLines::default();
        assert_eq!(
            lines.line(M, RoundStep::Planned { actions: 0 }),
            Some("contacts: nothing to do".into())
        );
        assert_eq!(
            lines.line(M, RoundStep::Executed { done: 0, total: 0 }),
            None
        );
        // The watch mode may miss steps (a slow reader): the next one past a tenth still shows,
        // and no count is shown twice.
        lines.line(M, RoundStep::Planned { actions: 100 });
        assert!(lines
            .line(
                M,
                RoundStep::Executed {
                    done: 37,
                    total: 100
                }
            )
            .is_some());
        assert_eq!(
            lines.line(
                M,
                RoundStep::Executed {
                    done: 37,
                    total: 100
                }
            ),
            None
        );
        assert_eq!(
            lines.line(
                M,
                RoundStep::Executed {
                    done: 40,
                    total: 100
                }
            ),
            None
        );
        assert!(lines
            .line(
                M,
                RoundStep::Executed {
                    done: 47,
                    total: 100
                }
            )
            .is_some());
    }

    #[test]
    fn finished_rounds_say_how_they_ended() {
        let counts = ModuleCounts {
            synced: 7,
            excluded: 2,
            ..ModuleCounts::default()
        };
        let done = RoundSummary::Completed {
            executed: 3,
            writes: 4,
        };
        assert_eq!(
            finished_line(M, &done, Some(&counts)),
            "contacts: round done, 3 actions, 4 writes; 7 in sync, 2 excluded, 0 failing, \
             0 conflicts, 0 waiting"
        );
        let idle = RoundSummary::Completed {
            executed: 0,
            writes: 0,
        };
        assert_eq!(finished_line(M, &idle, None), "contacts: nothing to do");
        assert!(finished_line(M, &RoundSummary::Disabled, None).contains("contact folder"));
        let paused = RoundSummary::Paused {
            reason: "many deletes".into(),
        };
        assert!(finished_line(M, &paused, None).contains("--confirm-deletes"));
    }
}
