//! No terminal update lost: every task the scenario expects to end reached its
//! framework with a terminal update, and the one expected (e.g. every mock task that
//! ran to completion is FINISHED — not LOST, not missing).

use super::Violation;
use crate::events::Event;
use crate::invariants::update_order::history;
use drover_proto::TaskState;
use std::collections::BTreeMap;

const NAME: &str = "terminal update delivered";

/// Checks that each `(framework, task)` of `expected` got a terminal update and that
/// its first terminal update is in the expected state.
pub fn check(events: &[Event], expected: &BTreeMap<(String, String), TaskState>) -> Vec<Violation> {
    let mut seen: BTreeMap<(String, String), Vec<TaskState>> = BTreeMap::new();
    for e in events {
        seen.entry(e.key()).or_default().push(e.state());
    }
    let mut out = Vec::new();
    for (key, want) in expected {
        let states = seen.get(key).map(Vec::as_slice).unwrap_or_default();
        let first_terminal = states.iter().copied().find(|s| s.is_terminal());
        let detail = match first_terminal {
            None => Some(format!("no terminal update (expected {})", want.as_str())),
            Some(got) if got != *want => Some(format!(
                "ended {} (expected {})",
                got.as_str(),
                want.as_str()
            )),
            Some(_) => None,
        };
        if let Some(detail) = detail {
            out.push(Violation {
                invariant: NAME,
                task: format!("{}/{}", key.0, key.1),
                detail: format!("{detail}; history {}", history(states)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_proto::{TaskStatus, TaskStatusSource};
    use std::time::Instant;

    fn ev(task: &str, state: TaskState) -> Event {
        Event {
            at: Instant::now(),
            framework: "f".into(),
            status: TaskStatus::new(task.into(), state, TaskStatusSource::Agent),
        }
    }

    #[test]
    fn missing_and_wrong_terminals_are_reported_and_duplicates_are_fine() {
        let events = vec![
            ev("a", TaskState::Running),
            ev("a", TaskState::Finished),
            ev("a", TaskState::Finished),
            ev("b", TaskState::Running),
            ev("c", TaskState::Lost),
        ];
        let expected: BTreeMap<_, _> = ["a", "b", "c"]
            .iter()
            .map(|t| (("f".to_owned(), t.to_string()), TaskState::Finished))
            .collect();
        let v = check(&events, &expected);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].task.ends_with("/b") && v[0].detail.starts_with("no terminal"));
        assert!(v[1].task.ends_with("/c") && v[1].detail.contains("TASK_LOST"));
    }
}
