//! `kill -9` an agent running tasks (real `drover master` and `drover agent` processes,
//! default flags): the partition-aware framework gets TASK_UNREACHABLE and the other
//! TASK_LOST for every task within 3 s (issue 7; Mesos takes 75 s).

use drover_chaos::detection;
use drover_chaos::invariants::report;
use drover_chaos::Seed;
use std::time::Duration;

const GOAL: Duration = Duration::from_secs(3);

#[test]
fn killed_agent_tasks_are_unreachable_or_lost_within_3_s() {
    let mut seed = Seed::for_scenario("agent_kill");
    let _report = seed.report_on_panic();
    // Anywhere in the ping cycle (500 ms by default), after the agent's last message.
    let settle = Duration::from_millis(seed.range(0, 1_000));
    let d = detection::run(Vec::new(), 5, settle, Duration::from_secs(10)).expect("detection run");
    eprintln!(
        "UNREACHABLE after {:?}, LOST after {:?}",
        d.aware, d.not_aware
    );
    assert!(d.violations.is_empty(), "{}", report(&d.violations, 20));
    assert!(d.aware <= GOAL, "TASK_UNREACHABLE took {:?}", d.aware);
    assert!(d.not_aware <= GOAL, "TASK_LOST took {:?}", d.not_aware);
}
