//! Deadlines of the agent core, kept in one ordered map so that
//! [`AgentCore::next_deadline`](super::AgentCore::next_deadline) is O(log n) and a timer
//! can be cancelled when what it guarded happens first (an executor subscribes, an
//! update is acknowledged).

use drover_proto::ContainerId;
use std::collections::BTreeMap;
use std::time::Instant;

/// What a deadline is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// Retry registration with the master (no answer yet).
    Registration,
    /// No `Ping` from the master for too long: re-register.
    MasterPingTimeout,
    /// The executor in this container did not subscribe (or re-subscribe) in time.
    ExecutorRegistration(ContainerId),
    /// The executor in this container had its shutdown grace period: destroy it.
    ExecutorShutdown(ContainerId),
    /// Recovered executors had their time to subscribe again: register without them.
    RecoveryTimeout,
}

/// A handle to cancel a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerId(Instant, u64);

/// Ordered deadlines.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    map: BTreeMap<TimerId, TimerKind>,
    seq: u64,
}

impl Timers {
    /// Schedules `kind` at `at`.
    pub(crate) fn schedule(&mut self, at: Instant, kind: TimerKind) -> TimerId {
        self.seq += 1;
        let id = TimerId(at, self.seq);
        self.map.insert(id, kind);
        id
    }

    /// Cancels a timer; a timer that already fired is ignored.
    pub(crate) fn cancel(&mut self, id: TimerId) {
        self.map.remove(&id);
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.map.keys().next().map(|id| id.0)
    }

    /// Removes and returns every timer due at `now`, earliest first.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<TimerKind> {
        let mut due = Vec::new();
        while let Some(entry) = self.map.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_timers_come_out_in_order_and_cancelled_ones_never() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        let a = t.schedule(t0 + Duration::from_secs(2), TimerKind::Registration);
        t.schedule(t0 + Duration::from_secs(1), TimerKind::MasterPingTimeout);
        t.schedule(t0 + Duration::from_secs(3), TimerKind::Registration);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(1)));
        t.cancel(a);
        assert_eq!(
            t.take_due(t0 + Duration::from_secs(2)),
            vec![TimerKind::MasterPingTimeout]
        );
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(3)));
    }
}
