//! Static reservations and the minimum allocatable size.

use super::*;
use crate::allocator::MinAllocatableError;

#[test]
fn reservation_is_only_offered_to_its_role() {
    let mut s = cluster(0, "");
    s.add_agent(
        ag("a0"),
        res("cpus:2;mem:2048;cpus(analytics):2;mem(analytics):1024"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    add_fw(&mut s, "web", &["web"]);
    let now = t0();
    // No analytics framework: the reserved part is never offered.
    let out = s.allocate(&policy(), now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].resources, res("cpus:2;mem:2048"));

    add_fw(&mut s, "an", &["analytics"]);
    let out = s.allocate(&policy(), now);
    let web = to(&out, "web");
    let an = to(&out, "an");
    assert_eq!(an.len(), 1);
    assert_eq!(an[0].role, "analytics");
    assert!(an[0]
        .resources
        .contains(&res("cpus(analytics):2;mem(analytics):1024")));
    // Pass 1 charged analytics, so web is first for the unreserved part.
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].resources, res("cpus:2;mem:2048"));
    assert_eq!(
        an[0].resources,
        res("cpus(analytics):2;mem(analytics):1024")
    );
}

#[test]
fn reserved_and_unreserved_merge_into_one_offer() {
    let mut s = AllocatorState::new();
    s.add_agent(
        ag("a0"),
        res("cpus:2;mem:2048;cpus(analytics):2;ports(analytics):[80-80]"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    add_fw(&mut s, "an", &["analytics"]);
    let out = s.allocate(&policy(), t0());
    assert_eq!(out.len(), 1, "one offer per (framework, role, agent)");
    assert_eq!(
        out[0].resources,
        res("cpus:2;mem:2048;cpus(analytics):2;ports(analytics):[80-80]")
    );
}

#[test]
fn reserved_sliver_rides_along_with_unreserved() {
    // Reserved 0.005 cpus alone is below the minimum; with the unreserved part it is not.
    let mut s = AllocatorState::new();
    s.add_agent(ag("a0"), res("cpus:1;mem:512;cpus(r):0.005"))
        .unwrap_or_else(|e| panic!("{e}"));
    add_fw(&mut s, "f", &["r"]);
    let out = s.allocate(&policy(), t0());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].resources, res("cpus:1;mem:512;cpus(r):0.005"));
}

#[test]
fn minimum_allocatable_is_respected() {
    let mut s = AllocatorState::new();
    s.add_agent(ag("tiny"), res("cpus:0.009;mem:31;ports:[31000-31010]"))
        .unwrap_or_else(|e| panic!("{e}"));
    s.add_agent(ag("cpu"), res("cpus:0.01;mem:1"))
        .unwrap_or_else(|e| panic!("{e}"));
    s.add_agent(ag("mem"), res("cpus:0.001;mem:32"))
        .unwrap_or_else(|e| panic!("{e}"));
    add_fw(&mut s, "f", &["r"]);
    let out = s.allocate(&policy(), t0());
    let mut got: Vec<_> = out.iter().map(|a| a.agent_id.as_str().to_owned()).collect();
    got.sort();
    assert_eq!(got, ["cpu", "mem"], "cpus:0.01 OR mem:32, nothing below");
    // Without a minimum, any non-empty remainder is offered.
    assert_eq!(s.allocate(&no_min(), t0()).len(), 3);
}

#[test]
fn remainder_below_minimum_is_not_offered() {
    let mut s = cluster(1, "cpus:4;mem:4096");
    add_fw(&mut s, "f", &["r"]);
    s.track(&fw("f"), "r", &ag("a0"), &res("cpus:3.995;mem:4070"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.allocate(&policy(), t0()).is_empty());
}

#[test]
fn min_allocatable_parses_mesos_flag_syntax() {
    let m = MinAllocatable::parse("cpus:0.01|mem:32").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m, MinAllocatable::mesos_default());
    let m = MinAllocatable::parse("cpus:1;mem:128|gpus:1").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.alternatives().len(), 2);
    assert!(matches!(
        MinAllocatable::parse("ports:[1-2]"),
        Err(MinAllocatableError::NotScalar(_))
    ));
    assert!(matches!(
        MinAllocatable::parse("cpus(r):1"),
        Err(MinAllocatableError::Reserved(_))
    ));
    assert!(matches!(
        MinAllocatable::parse("cpus:1||mem:2"),
        Err(MinAllocatableError::EmptyAlternative(_))
    ));
    assert!(matches!(
        MinAllocatable::parse("cpus:x"),
        Err(MinAllocatableError::Resources { .. })
    ));
}

#[test]
fn min_allocatable_on_other_scalars() {
    let p = Policy {
        min_allocatable: MinAllocatable::parse("gpus:1").unwrap_or_else(|e| panic!("{e}")),
        ..Policy::default()
    };
    let mut s = AllocatorState::new();
    s.add_agent(ag("gpu"), res("cpus:1;mem:512;gpus:1"))
        .unwrap_or_else(|e| panic!("{e}"));
    s.add_agent(ag("plain"), res("cpus:8;mem:8192"))
        .unwrap_or_else(|e| panic!("{e}"));
    s.add_agent(ag("rgpu"), res("cpus:1;gpus(ml):2"))
        .unwrap_or_else(|e| panic!("{e}"));
    add_fw(&mut s, "f", &["r"]);
    let out = s.allocate(&p, t0());
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].agent_id,
        ag("gpu"),
        "reserved gpus of role ml do not count for r"
    );
}
