//! `kill -9` an agent running tasks (real `drover master` and `drover agent` processes,
//! default flags): the partition-aware framework gets TASK_UNREACHABLE and the other
//! TASK_LOST for every task within 3 s (issue 7; Mesos takes 75 s).

use drover_chaos::detection;
use drover_chaos::invariants::report;
use std::time::Duration;

const GOAL: Duration = Duration::from_secs(3);

#[test]
fn killed_agent_tasks_are_unreachable_or_lost_within_3_s() {
    let d = detection::run(Vec::new(), 5, Duration::from_secs(10)).expect("detection run");
    eprintln!(
        "UNREACHABLE after {:?}, LOST after {:?}",
        d.aware, d.not_aware
    );
    assert!(d.violations.is_empty(), "{}", report(&d.violations, 20));
    assert!(d.aware <= GOAL, "TASK_UNREACHABLE took {:?}", d.aware);
    assert!(d.not_aware <= GOAL, "TASK_LOST took {:?}", d.not_aware);
}
