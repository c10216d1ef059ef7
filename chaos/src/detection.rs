//! Failure detection of a dead agent, as a framework sees it: two frameworks (one
//! PARTITION_AWARE, one not) run tasks on one agent; the agent is `kill -9`ed; the time
//! from the signal until each framework holds the TASK_UNREACHABLE (aware) or TASK_LOST
//! (not aware) update of every one of its tasks. Shared by the real-process test and
//! the benchmark.
//!
//! ```text
//!  t0 = kill -9 agent ── master misses pings (--agent-ping-timeout × --max-agent-ping-timeouts)
//!     ── marks it unreachable ── UNREACHABLE / LOST ──▶ frameworks  (t_aware, t_lost)
//! ```

use crate::cluster::{Cluster, ClusterError, ClusterSpec};
use crate::events::{all_reached, EventLog};
use crate::invariants::{self, Violation};
use crate::workload::{Framework, TaskSpec};
use drover_proto::TaskState;
use std::time::Duration;

/// Names of the two frameworks.
pub const AWARE: &str = "aware";
/// See [`AWARE`].
pub const NOT_AWARE: &str = "not-aware";

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Until the partition-aware framework had every TASK_UNREACHABLE.
    pub aware: Duration,
    /// Until the other framework had every TASK_LOST.
    pub not_aware: Duration,
    /// Invariant violations seen over the whole run.
    pub violations: Vec<Violation>,
}

/// Errors of a detection run.
#[derive(Debug, thiserror::Error)]
pub enum DetectionError {
    /// The cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A framework could not start.
    #[error("framework: {0}")]
    Sdk(#[from] drover_sdk::SdkError),
    /// Updates did not come.
    #[error("timed out waiting for {0}\n{1}")]
    Timeout(String, String),
}

/// One run on a fresh cluster with `master_flags` (none: the product's defaults), with
/// `tasks` tasks per framework; the agent is killed `settle` after every task is
/// RUNNING (vary it to land anywhere in the ping cycle); gives up waiting after
/// `give_up`.
pub fn run(
    master_flags: Vec<String>,
    tasks: usize,
    settle: Duration,
    give_up: Duration,
) -> Result<Detection, DetectionError> {
    let mut cluster = Cluster::start(ClusterSpec {
        master_flags,
        ..ClusterSpec::default()
    })?;
    let log = EventLog::new();
    let specs = |fw: &str| -> Vec<TaskSpec> {
        (0..tasks)
            .map(|i| TaskSpec::mock(format!("{fw}-{i}"), None))
            .collect()
    };
    let hour = Duration::from_secs(3600);
    let aware = Framework::start(&cluster, AWARE, true, hour, specs(AWARE), &log)?;
    let plain = Framework::start(&cluster, NOT_AWARE, false, hour, specs(NOT_AWARE), &log)?;
    let start = std::time::Instant::now() - Duration::from_secs(3600);
    let running = |fw: &Framework, events: &[crate::Event]| {
        all_reached(events, &fw.name, &fw.task_ids, TaskState::Running, start).is_some()
    };
    if !log.wait_until(give_up.max(Duration::from_secs(30)), |e| {
        running(&aware, e) && running(&plain, e)
    }) {
        return Err(DetectionError::Timeout(
            "every task RUNNING".into(),
            cluster.log_tails(20),
        ));
    }
    std::thread::sleep(settle);
    let t0 = cluster.kill_agent(0)?;
    let done = |fw: &Framework, state, events: &[crate::Event]| {
        all_reached(events, &fw.name, &fw.task_ids, state, t0)
    };
    if !log.wait_until(give_up, |e| {
        done(&aware, TaskState::Unreachable, e).is_some()
            && done(&plain, TaskState::Lost, e).is_some()
    }) {
        return Err(DetectionError::Timeout(
            format!("UNREACHABLE/LOST within {give_up:?} of kill -9"),
            cluster.log_tails(20),
        ));
    }
    let events = log.snapshot();
    let at =
        |fw: &Framework, state| done(fw, state, &events).map_or(give_up, |t| t.duration_since(t0));
    Ok(Detection {
        aware: at(&aware, TaskState::Unreachable),
        not_aware: at(&plain, TaskState::Lost),
        violations: invariants::update_order::check(&events),
    })
}
