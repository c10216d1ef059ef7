//! Invariants checked over what the frameworks saw ([`crate::EventLog`]), one module per
//! invariant (openraft's chaos suite does the same). Each check is a pure function from
//! events to the list of violations, so a scenario can report all of them at once.

pub mod terminal_delivered;
pub mod update_order;

use std::fmt;

/// One broken invariant, about one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// `framework/task`.
    pub task: String,
    /// What went wrong, with the task's history.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.invariant, self.task, self.detail)
    }
}

/// Formats violations one per line (at most `max`, then a count).
pub fn report(violations: &[Violation], max: usize) -> String {
    let mut s: Vec<String> = violations.iter().take(max).map(|v| v.to_string()).collect();
    if violations.len() > max {
        s.push(format!("… and {} more", violations.len() - max));
    }
    s.join("\n")
}
