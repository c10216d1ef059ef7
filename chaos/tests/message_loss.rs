//! Status updates under message loss: once 200 tasks (100 of a partition-aware
//! framework, 100 of one that is not) run on a real `drover agent` (mock containerizer),
//! the master drops 30 % of the messages between it and the agent, both ways (seeded:
//! status updates, acknowledgements, pings, pongs), while the tasks run to completion.
//!
//! Safety phase (loss on, until every TASK_FINISHED arrived, at most 30 s): per-task
//! update order holds, and the master does not give up on the agent (no TASK_LOST /
//! TASK_UNREACHABLE: the agent is alive, only its link is lossy).
//! Liveness phase (loss healed): every task's TASK_FINISHED reaches its framework —
//! at least once, none lost, none replaced by another terminal state.
//!
//! The agent resends unacknowledged updates after 0.5 s, doubling up to 4 s (flags), so
//! that the run takes seconds; with the defaults (5 s → 300 s) delivery is just as
//! sure but takes minutes under this much loss.

use drover_chaos::invariants::{report, terminal_delivered, update_order};
use drover_chaos::{Cluster, ClusterSpec, Event, EventLog, Framework, Seed, TaskSpec};
use drover_proto::TaskState;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const LOSS: f64 = 0.3;
const TASKS_PER_FRAMEWORK: usize = 100;

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
    let hour = Duration::from_secs(3600);
    let aware = Framework::start(&c, "aware", true, hour, aware_tasks, &log).expect("aware");
    let plain = Framework::start(&c, "plain", false, hour, plain_tasks, &log).expect("plain");
    let keys: Vec<(String, String)> = [&aware, &plain]
        .iter()
        .flat_map(|f| f.task_ids.iter().map(|t| (f.name.clone(), t.clone())))
        .collect();
    let expect = |state| keys.iter().map(|k| (k.clone(), state)).collect();
    let running: BTreeMap<_, _> = expect(TaskState::Running);
    let reached = |e: &[Event], want: &BTreeMap<(String, String), TaskState>| {
        want.iter()
            .all(|(k, s)| e.iter().any(|e| e.state() == *s && e.key() == *k))
    };
    assert!(
        log.wait_until(Duration::from_secs(30), |e| reached(e, &running)),
        "every task RUNNING\n{}",
        c.log_tails(20)
    );

    // Safety phase.
    c.set_fault(0, false, LOSS).expect("30 % loss on agent-0");
    let lossy = Instant::now();
    let expected: BTreeMap<_, _> = expect(TaskState::Finished);
    let finished = |e: &[Event]| terminal_delivered::check(e, &expected).is_empty();
    let all_under_loss = log.wait_until(Duration::from_secs(30), finished);
    let safety = log.snapshot();
    let delivered = expected.len() - terminal_delivered::check(&safety, &expected).len();
    eprintln!(
        "{delivered}/{} TASK_FINISHED delivered in {:?} under {}% loss ({} updates so far)",
        expected.len(),
        lossy.elapsed(),
        LOSS * 100.0,
        safety.len()
    );
    let gave_up: Vec<&Event> = safety
        .iter()
        .filter(|e| matches!(e.state(), TaskState::Lost | TaskState::Unreachable))
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
    let converged = all_under_loss || log.wait_until(Duration::from_secs(30), finished);
    let events = log.snapshot();
    eprintln!(
        "all delivered: {converged} ({:?} after the heal); {} updates in all",
        healed.elapsed(),
        events.len()
    );
    let mut violations = update_order::check(&events);
    violations.extend(terminal_delivered::check(&events, &expected));
    assert!(violations.is_empty(), "{}", report(&violations, 20));
    assert!(converged);
}
