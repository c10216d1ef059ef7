//! Write-ahead ordering of the master's commands: a reply that follows a registry
//! change (an agent's `Registered`, a framework's `Subscribed`, …) leaves only once the
//! change is on disk, so a master killed at any point never told anyone something its
//! registry does not remember.
//!
//! ```text
//!  core commands ──▶ Outbox::push ──┬─ Persist(op)  ──▶ writer now (numbered 1, 2, …)
//!                                   └─ anything else ─▶ now, if every op is durable,
//!                                                       else held in order
//!  writer: "ops 1..=n durable" ──▶ Outbox::durable(n) ──▶ held commands, in order
//! ```
//!
//! Commands keep their order: nothing overtakes a held command. Pure; the shell runs
//! what it returns.

use crate::core::Command;
use std::collections::VecDeque;

/// See the module docs.
#[derive(Debug, Default)]
pub struct Outbox {
    issued: u64,
    durable: u64,
    held: VecDeque<Command>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one command of the core; returns what may run now (in order).
    pub fn push(&mut self, command: Command) -> Option<Command> {
        if matches!(command, Command::Persist(_)) {
            self.issued += 1;
            return Some(command);
        }
        if self.durable < self.issued || !self.held.is_empty() {
            self.held.push_back(command);
            None
        } else {
            Some(command)
        }
    }

    /// The writer reports ops `1..=n` written; returns the commands now free to run.
    pub fn durable(&mut self, n: u64) -> Vec<Command> {
        self.durable = self.durable.max(n);
        if self.durable < self.issued {
            return Vec::new();
        }
        self.held.drain(..).collect()
    }

    /// Commands waiting for the registry.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryOp;
    use drover_proto::AgentId;

    fn persist(n: &str) -> Command {
        Command::Persist(RegistryOp::RemoveAgent {
            id: AgentId::new(n),
        })
    }

    fn close(conn: u64) -> Command {
        Command::Close { conn }
    }

    #[test]
    fn replies_wait_for_the_registry_and_keep_their_order() {
        let mut o = Outbox::new();
        // Nothing pending: straight through.
        assert_eq!(o.push(close(1)), Some(close(1)));
        // A change, then its reply: the change goes to the writer, the reply waits.
        assert_eq!(o.push(persist("a")), Some(persist("a")));
        assert_eq!(o.push(close(2)), None);
        // A second change while the first is in flight: later replies wait for both.
        assert_eq!(o.push(persist("b")), Some(persist("b")));
        assert_eq!(o.push(close(3)), None);
        assert_eq!(o.held(), 2);
        // Only all ops durable releases the queue, in order.
        assert!(o.durable(1).is_empty());
        assert_eq!(o.durable(2), vec![close(2), close(3)]);
        assert_eq!(o.push(close(4)), Some(close(4)));
        // A stale report changes nothing.
        assert!(o.durable(1).is_empty());
        assert_eq!(o.held(), 0);
    }
}
