//! Network partition of agents (the master's fault hooks drop every message between it
//! and the agent; real `drover` processes, default ping flags, a short
//! `--agent-removal-timeout`).
//!
//! Safety phase: agents 0 and 1 are cut off. Partition-aware frameworks get
//! TASK_UNREACHABLE, the other TASK_LOST; the framework `gone` is torn down meanwhile.
//! Liveness phase: agent 0's partition heals before the removal timeout: it
//! re-registers, the aware framework sees its tasks RUNNING again, and the tasks of
//! `plain` (reported LOST) and of `gone` (torn down) are killed on the agent. Agent 1
//! stays cut off past the removal timeout: its tasks become TASK_GONE, and when its
//! partition heals — and again after a master restart from the registry — the master
//! refuses it.

use drover_chaos::events::all_reached;
use drover_chaos::invariants::{report, update_order};
use drover_chaos::{Cluster, ClusterSpec, EventLog, Framework, Seed, TaskSpec};
use drover_proto::TaskState;
use std::time::{Duration, Instant};

const REMOVAL: Duration = Duration::from_secs(8);
const WAIT: Duration = Duration::from_secs(20);

fn tasks(fw: &str, agent: usize, n: usize) -> Vec<TaskSpec> {
    (0..n)
        .map(|i| TaskSpec::mock(format!("{fw}-a{agent}-{i}"), None).on_agent(agent))
        .collect()
}

/// Waits (up to [`WAIT`]) for agent `i`'s process to end.
fn exited(c: &mut Cluster, i: usize) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = c.agent_exited(i).expect("agent");
        if status.is_some() || Instant::now() >= deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn partitioned_agents_become_unreachable_then_come_back_or_are_removed() {
    let seed = Seed::for_scenario("partition");
    let _report = seed.report_on_panic();
    let mut c = Cluster::start(ClusterSpec {
        agents: 2,
        master_flags: vec![
            "--agent-removal-timeout".into(),
            format!("{}s", REMOVAL.as_secs()),
        ],
        fault_seed: seed.value(),
        ..ClusterSpec::default()
    })
    .expect("cluster");
    let log = EventLog::new();
    let hour = Duration::from_secs(3600);
    let mut aware_tasks = tasks("aware", 0, 2);
    aware_tasks.extend(tasks("aware", 1, 2));
    let aware = Framework::start(&c, "aware", true, hour, aware_tasks, &log).expect("aware");
    let plain =
        Framework::start(&c, "plain", false, hour, tasks("plain", 0, 2), &log).expect("plain");
    let gone = Framework::start(&c, "gone", true, hour, tasks("gone", 0, 2), &log).expect("gone");
    let epoch = Instant::now() - hour;
    let all = |fw: &Framework, state, since, e: &[drover_chaos::Event]| {
        all_reached(e, &fw.name, &fw.task_ids, state, since)
    };
    assert!(
        log.wait_until(WAIT, |e| [&aware, &plain, &gone].iter().all(|f| all(
            f,
            TaskState::Running,
            epoch,
            e
        )
        .is_some())),
        "every task RUNNING\n{}",
        c.log_tails(20)
    );
    let id1 = c.agent_id(1).expect("state").expect("agent-1 listed");

    // Safety phase: both agents cut off.
    let cut = Instant::now();
    c.partition(0).expect("partition agent-0");
    c.partition(1).expect("partition agent-1");
    assert!(
        log.wait_until(WAIT, |e| all(&aware, TaskState::Unreachable, cut, e)
            .is_some()
            && all(&gone, TaskState::Unreachable, cut, e).is_some()
            && all(&plain, TaskState::Lost, cut, e).is_some()),
        "UNREACHABLE / LOST after the partition\n{}",
        c.log_tails(20)
    );
    let detected = log
        .snapshot()
        .iter()
        .filter(|e| e.at >= cut)
        .map(|e| e.at)
        .max()
        .map(|t| t.duration_since(cut));
    eprintln!("partition detected after {detected:?}");
    gone.teardown().expect("teardown of `gone`");

    // Liveness phase, agent 0: heals before the removal timeout.
    c.set_fault(0, false, 0.0).expect("heal agent-0");
    let healed = Instant::now();
    let back: Vec<String> = aware
        .task_ids
        .iter()
        .filter(|t| t.contains("-a0-"))
        .cloned()
        .collect();
    assert!(
        log.wait_until(WAIT, |e| all_reached(
            e,
            "aware",
            &back,
            TaskState::Running,
            healed
        )
        .is_some()),
        "agent-0's aware tasks RUNNING again after the heal\n{}",
        c.log_tails(30)
    );
    eprintln!(
        "agent-0's tasks RUNNING again {:?} after the heal",
        healed.elapsed()
    );
    let want: std::collections::BTreeSet<String> = back.iter().cloned().collect();
    c.wait_for("plain's and gone's tasks killed on agent-0", WAIT, |c| {
        Ok(c.agent_live_tasks(0)? == want)
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", c.agent_live_tasks(0), c.log_tails(30)));

    // Agent 1: removed after the timeout; its tasks GONE for the aware framework.
    let on1: Vec<String> = aware
        .task_ids
        .iter()
        .filter(|t| t.contains("-a1-"))
        .cloned()
        .collect();
    assert!(
        log.wait_until(REMOVAL + WAIT, |e| all_reached(
            e,
            "aware",
            &on1,
            TaskState::Gone,
            cut
        )
        .is_some()),
        "agent-1's tasks GONE after the removal timeout\n{}",
        c.log_tails(30)
    );
    c.set_fault(1, false, 0.0).expect("heal agent-1");
    let stopped = exited(&mut c, 1);
    assert!(stopped.is_some(), "agent-1 refused\n{}", c.log_tails(30));
    assert_eq!(c.agent_id(1).expect("state"), None, "agent-1 is not listed");

    // The registry keeps it out across a master restart.
    c.kill_master().expect("kill -9 master");
    c.start_master().expect("master restarted");
    c.start_agent(1).expect("agent-1 again, same work dir");
    let refused = exited(&mut c, 1);
    assert!(
        refused.is_some(),
        "agent-1 ({id1}) refused after the master restart\n{}",
        c.log_tails(30)
    );
    assert_eq!(c.agent_id(1).expect("state"), None);
    let violations = update_order::check(&log.snapshot());
    assert!(violations.is_empty(), "{}", report(&violations, 20));
    drop((aware, plain));
}
