//! What the frameworks saw: every status update, with the framework that got it and
//! when, in arrival order. Shared between the scheduler callbacks (writers) and the
//! scenario (reader, waiting on conditions).

use drover_proto::{TaskState, TaskStatus};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One update as a framework received it.
#[derive(Debug, Clone)]
pub struct Event {
    /// When the scheduler callback ran.
    pub at: Instant,
    /// The framework's name.
    pub framework: String,
    /// The update.
    pub status: TaskStatus,
}

impl Event {
    /// `(framework, task id)`.
    pub fn key(&self) -> (String, String) {
        (self.framework.clone(), self.status.task_id.to_string())
    }

    /// The update's state.
    pub fn state(&self) -> TaskState {
        self.status.state
    }
}

/// An append-only, shared log of [`Event`]s.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    inner: Arc<(Mutex<Vec<Event>>, Condvar)>,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> EventLog {
        EventLog::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an update received by `framework`.
    pub fn push(&self, framework: &str, status: TaskStatus) {
        self.lock().push(Event {
            at: Instant::now(),
            framework: framework.to_owned(),
            status,
        });
        self.inner.1.notify_all();
    }

    /// A copy of every event so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// Waits until `done` holds for the events so far; `false` on timeout.
    pub fn wait_until(&self, within: Duration, mut done: impl FnMut(&[Event]) -> bool) -> bool {
        let deadline = Instant::now() + within;
        let mut events = self.lock();
        loop {
            if done(&events) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            events = self
                .inner
                .1
                .wait_timeout(events, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

/// Whether `framework` got an update in `state` for every task of `tasks` after `since`;
/// the instant of the last of them if so.
pub fn all_reached(
    events: &[Event],
    framework: &str,
    tasks: &[String],
    state: TaskState,
    since: Instant,
) -> Option<Instant> {
    tasks.iter().try_fold(since, |last, t| {
        events
            .iter()
            .find(|e| {
                e.at >= since
                    && e.framework == framework
                    && e.status.task_id.as_str() == t
                    && e.status.state == state
            })
            .map(|e| last.max(e.at))
    })
}
