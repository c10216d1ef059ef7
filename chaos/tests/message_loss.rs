//! Status updates under message loss: 200 tasks (100 of a partition-aware framework,
//! 100 of one that is not) are launched on a real `drover agent` (mock containerizer)
//! while the master already drops 30 % of the messages between it and the agent, both
//! ways (seeded: RunTask, status updates, acknowledgements, reconciliation requests,
//! pings, pongs), and run to completion.
//!
//! A lost `RunTask` leaves its task STAGING inside a connection that stays up, so the
//! frameworks reconcile (implicitly) every 2 s, as a framework should: the master then
//! asks the agent about its STAGING tasks, and the agent answers a task it never got
//! with TASK_DROPPED (partition-aware) / TASK_LOST, reason RECONCILIATION.
//!
//! Safety phase (loss on, until every task's terminal update arrived, at most 40 s):
//! per-task update order holds; the master does not give up on the agent (no
//! TASK_UNREACHABLE, no LOST but the reconciliation answers: the agent is alive, only
//! its link is lossy); a task answered DROPPED/LOST never started.
//! Liveness phase (loss healed): every task's terminal update reaches its framework —
//! TASK_FINISHED for each task that started, none lost, none replaced by another.
//!
//! The agent resends unacknowledged updates after 0.5 s, doubling up to 4 s (flags), so
//! that the run takes seconds; with the defaults (5 s → 300 s) delivery is just as
//! sure but takes minutes under this much loss.

use drover_chaos::invariants::{report, terminal_delivered, update_order};
use drover_chaos::{Cluster, ClusterSpec, Event, EventLog, Framework, Seed, TaskSpec};
use drover_proto::{TaskState, TaskStatusReason, TaskStatusSource};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const LOSS: f64 = 0.3;
const TASKS_PER_FRAMEWORK: usize = 100;
/// How often the frameworks reconcile while tasks have not ended.
const RECONCILE_EVERY: Duration = Duration::from_secs(2);

#[test]
fn every_terminal_update_arrives_in_order_despite_30_percent_message_loss() {
    let mut seed = Seed::for_scenario("message_loss");
    let _report = seed.report_on_panic();
    let c = Cluster::start(ClusterSpec {
        fault_seed: seed.next_u64(),
        agent_flags: ["--status-update-retry-min", "500ms"]
            .into_iter()
            .chain(["--status-update-retry-max", "4s"])
            .map(String::from)
            .collect(),
        ..ClusterSpec::default()
    })
    .expect("cluster");
    let log = EventLog::new();
    let mut specs = |fw: &str| -> Vec<TaskSpec> {
        (0..TASKS_PER_FRAMEWORK)
            .map(|i| {
                let run_for = Duration::from_millis(seed.range(3_000, 8_000));
                TaskSpec::mock(format!("{fw}-{i}"), Some(run_for))
            })
            .collect()
    };
    let (aware_tasks, plain_tasks) = (specs("aware"), specs("plain"));
    // Safety phase: loss from before the first launch.
    c.set_fault(0, false, LOSS).expect("30 % loss on agent-0");
    let lossy = Instant::now();
    let hour = Duration::from_secs(3600);
    let aware = Framework::start(&c, "aware", true, hour, aware_tasks, &log).expect("aware");
    let plain = Framework::start(&c, "plain", false, hour, plain_tasks, &log).expect("plain");
    let keys: Vec<(String, String)> = [&aware, &plain]
        .iter()
        .flat_map(|f| f.task_ids.iter().map(|t| (f.name.clone(), t.clone())))
        .collect();
    let ended = |e: &[Event]| {
        keys.iter()
            .all(|k| e.iter().any(|e| e.key() == *k && e.state().is_terminal()))
    };
    let reconcile_until = |within: Duration| {
        let start = Instant::now();
        loop {
            if log.wait_until(RECONCILE_EVERY, ended) {
                return true;
            }
            if start.elapsed() >= within {
                return false;
            }
            for f in [&aware, &plain] {
                let _ = f.driver.reconcile(vec![]);
            }
        }
    };
    let all_under_loss = reconcile_until(Duration::from_secs(40));
    let safety = log.snapshot();
    let delivered = keys
        .iter()
        .filter(|k| {
            safety
                .iter()
                .any(|e| e.key() == **k && e.state().is_terminal())
        })
        .count();
    let answered = |e: &Event| {
        matches!(e.state(), TaskState::Lost | TaskState::Dropped)
            && e.status.reason == Some(TaskStatusReason::Reconciliation)
            && e.status.source == TaskStatusSource::Agent
    };
    let never_got: Vec<&(String, String)> = keys
        .iter()
        .filter(|k| safety.iter().any(|e| e.key() == **k && answered(e)))
        .collect();
    eprintln!(
        "{delivered}/{} terminal updates delivered in {:?} under {}% loss ({} updates so far); {} RunTask lost and answered by reconciliation",
        keys.len(),
        lossy.elapsed(),
        LOSS * 100.0,
        safety.len(),
        never_got.len()
    );
    let gave_up: Vec<&Event> = safety
        .iter()
        .filter(|e| {
            e.state() == TaskState::Unreachable
                || (matches!(e.state(), TaskState::Lost | TaskState::Dropped) && !answered(e))
        })
        .collect();
    assert!(
        gave_up.is_empty(),
        "the master declared the lossy (live) agent unreachable: {} LOST/UNREACHABLE updates, first {:?}\n{}",
        gave_up.len(),
        gave_up.first().map(|e| (&e.framework, e.status.task_id.as_str(), e.state())),
        c.log_tails(15)
    );

    // Liveness phase.
    c.heal_all().expect("heal");
    let healed = Instant::now();
    let converged = all_under_loss || reconcile_until(Duration::from_secs(30));
    let events = log.snapshot();
    eprintln!(
        "all delivered: {converged} ({:?} after the heal); {} updates in all",
        healed.elapsed(),
        events.len()
    );
    // A task the agent never got ends DROPPED (partition-aware) or LOST, and never
    // started; every other task ends FINISHED.
    let expected: BTreeMap<_, _> = keys
        .iter()
        .map(|k| {
            let lost = never_got.contains(&k);
            let state = match (lost, k.0.as_str()) {
                (false, _) => TaskState::Finished,
                (true, "aware") => TaskState::Dropped,
                (true, _) => TaskState::Lost,
            };
            (k.clone(), state)
        })
        .collect();
    let mut violations = update_order::check(&events);
    violations.extend(terminal_delivered::check(&events, &expected));
    let started: Vec<_> = never_got
        .iter()
        .filter(|k| {
            events.iter().any(|e| {
                e.key() == ***k && matches!(e.state(), TaskState::Starting | TaskState::Running)
            })
        })
        .collect();
    assert!(
        started.is_empty(),
        "tasks answered DROPPED/LOST by reconciliation had started: {started:?}"
    );
    assert!(violations.is_empty(), "{}", report(&violations, 20));
    assert!(converged);
}
