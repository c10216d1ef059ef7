//! Per-task update order: what a framework sees for one task moves forward only.
//!
//! ```text
//!  STAGING < STARTING < RUNNING < KILLING < terminal
//!  UNREACHABLE: may come after any non-terminal state, and be followed by any
//!               state the task had reached or later (the agent came back)
//!  terminal:    at most one distinct terminal state; repeats of it are fine
//!               (updates are delivered at least once)
//! ```
//!
//! A non-terminal update after a terminal one, a second, different terminal state, or a
//! step back (RUNNING then STARTING) is a violation. Repeats of the same state are
//! allowed: the status update manager resends until acknowledged.

use super::Violation;
use crate::events::Event;
use drover_proto::TaskState;
use std::collections::BTreeMap;

const NAME: &str = "update order";

fn rank(s: TaskState) -> Option<u8> {
    match s {
        TaskState::Staging => Some(0),
        TaskState::Starting => Some(1),
        TaskState::Running => Some(2),
        TaskState::Killing => Some(3),
        TaskState::Unreachable | TaskState::Unknown => None,
        _ => Some(4),
    }
}

/// Checks every task's sequence of updates, per framework, in arrival order.
pub fn check(events: &[Event]) -> Vec<Violation> {
    let mut per_task: BTreeMap<(String, String), Vec<TaskState>> = BTreeMap::new();
    for e in events {
        per_task.entry(e.key()).or_default().push(e.state());
    }
    let mut out = Vec::new();
    for ((fw, task), states) in per_task {
        if let Some(detail) = first_error(&states) {
            out.push(Violation {
                invariant: NAME,
                task: format!("{fw}/{task}"),
                detail: format!("{detail}; history {}", history(&states)),
            });
        }
    }
    out
}

fn first_error(states: &[TaskState]) -> Option<String> {
    let mut best: Option<u8> = None;
    let mut terminal: Option<TaskState> = None;
    for &s in states {
        if let Some(t) = terminal {
            if s != t {
                return Some(format!("{} after terminal {}", s.as_str(), t.as_str()));
            }
            continue;
        }
        let Some(r) = rank(s) else {
            continue;
        };
        if best.is_some_and(|b| r < b) {
            return Some(format!("{} went backwards", s.as_str()));
        }
        best = Some(r);
        if s.is_terminal() {
            terminal = Some(s);
        }
    }
    None
}

/// `STARTING → RUNNING → FINISHED`, with repeats collapsed (`×n`).
pub fn history(states: &[TaskState]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < states.len() {
        let n = states[i..].iter().take_while(|s| **s == states[i]).count();
        parts.push(if n > 1 {
            format!("{}×{n}", states[i].as_str())
        } else {
            states[i].as_str().to_owned()
        });
        i += n;
    }
    parts.join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState::*;

    #[test]
    fn forward_repeats_and_unreachable_round_trips_are_fine() {
        assert_eq!(
            first_error(&[Starting, Running, Running, Finished, Finished]),
            None
        );
        assert_eq!(
            first_error(&[Running, Unreachable, Running, Finished]),
            None
        );
        assert_eq!(first_error(&[Running, Unreachable, Gone]), None);
        assert_eq!(
            history(&[Running, Running, Finished]),
            "TASK_RUNNING×2 → TASK_FINISHED"
        );
    }

    #[test]
    fn anything_after_a_terminal_or_a_step_back_is_a_violation() {
        assert!(first_error(&[Running, Lost, Finished]).is_some());
        assert!(first_error(&[Running, Finished, Running]).is_some());
        assert!(first_error(&[Running, Starting]).is_some());
        assert!(first_error(&[Lost, Unreachable]).is_some());
    }
}
