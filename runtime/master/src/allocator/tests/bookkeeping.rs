//! `AllocatorState` bookkeeping: totals, recover, errors, removal.

use super::*;
use crate::allocator::{AllocatorError, Quantities};
use drover_proto::resources::Scalar;

fn ok(r: Result<(), AllocatorError>) {
    r.unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn totals_and_available_follow_events() {
    let mut s = cluster(2, "cpus:4;mem:4096;disk:100;ports:[31000-32000]");
    add_fw(&mut s, "f", &["r"]);
    let total = s.snapshot().total();
    assert_eq!(total.cpus(), Scalar::from_milli(8000));
    assert_eq!(total.mem(), Scalar::from_milli(8_192_000));
    ok(s.track(
        &fw("f"),
        "r",
        &ag("a0"),
        &res("cpus:1;mem:1024;ports:[31000-31000]"),
    ));
    let a0 = s.snapshot().agent(&ag("a0")).map(|a| a.available().clone());
    assert_eq!(
        a0,
        Some(res("cpus:3;mem:3072;disk:100;ports:[31001-32000]"))
    );
    assert_eq!(
        s.snapshot().role_allocated("r"),
        Quantities::new(
            Scalar::from_milli(1000),
            Scalar::from_milli(1_024_000),
            Scalar::ZERO
        )
    );
    ok(s.recover(
        &fw("f"),
        "r",
        &ag("a0"),
        &res("cpus:1;mem:1024;ports:[31000-31000]"),
    ));
    let a0 = s.snapshot().agent(&ag("a0")).map(|a| a.available().clone());
    assert_eq!(
        a0,
        Some(res("cpus:4;mem:4096;disk:100;ports:[31000-32000]"))
    );
    assert!(s.snapshot().role_allocated("r").is_zero());
    ok(s.remove_agent(&ag("a1")));
    assert_eq!(s.snapshot().total().cpus(), Scalar::from_milli(4000));
    assert_eq!(s.snapshot().agent_count(), 1);
}

#[test]
fn stale_or_wrong_calls_are_typed_errors_and_change_nothing() {
    let mut s = cluster(1, "cpus:2;mem:1024;cpus(a):1");
    add_fw(&mut s, "f", &["r"]);
    let before = s.snapshot().agent(&ag("a0")).map(|a| a.available().clone());
    assert!(matches!(
        s.track(&fw("f"), "r", &ag("a0"), &res("cpus:3")),
        Err(AllocatorError::NotAvailable { .. })
    ));
    assert!(matches!(
        s.track(&fw("f"), "r", &ag("a0"), &res("cpus(a):1")),
        Err(AllocatorError::WrongReservation { .. })
    ));
    assert!(matches!(
        s.track(&fw("f"), "other", &ag("a0"), &res("cpus:1")),
        Err(AllocatorError::NotSubscribed { .. })
    ));
    assert!(matches!(
        s.recover(&fw("f"), "r", &ag("a0"), &res("cpus:1")),
        Err(AllocatorError::NotAllocated { .. })
    ));
    assert_eq!(
        s.snapshot().agent(&ag("a0")).map(|a| a.available().clone()),
        before
    );
    assert!(matches!(
        s.track(&fw("nope"), "r", &ag("a0"), &res("cpus:1")),
        Err(AllocatorError::UnknownFramework(_))
    ));
    assert!(matches!(
        s.remove_agent(&ag("nope")),
        Err(AllocatorError::UnknownAgent(_))
    ));
    assert!(matches!(
        s.add_agent(ag("a0"), res("cpus:1")),
        Err(AllocatorError::AgentExists(_))
    ));
    assert!(matches!(
        s.add_framework(fw("f"), &[]),
        Err(AllocatorError::FrameworkExists(_))
    ));
    for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            s.set_weight("r", w),
            Err(AllocatorError::InvalidWeight { .. })
        ));
    }
    ok(s.track(&fw("f"), "r", &ag("a0"), &res("cpus:1")));
    assert!(matches!(
        s.recover(&fw("f"), "r", &ag("a0"), &res("cpus:1.5")),
        Err(AllocatorError::NotAllocated { .. })
    ));
    assert!(matches!(
        s.update_agent_total(&ag("a0"), res("cpus:0.5")),
        Err(AllocatorError::TotalBelowAllocated(_))
    ));
}

#[test]
fn stale_plan_is_refused_by_apply() {
    let mut s = cluster(1, "cpus:2;mem:1024");
    add_fw(&mut s, "f", &["r"]);
    let plan = s.allocate(&policy(), t0());
    ok(s.apply(&plan));
    assert!(matches!(
        s.apply(&plan),
        Err(AllocatorError::NotAvailable { .. })
    ));
}

#[test]
fn remove_framework_returns_its_resources_and_filters() {
    let mut s = cluster(2, "cpus:2;mem:1024");
    add_fw(&mut s, "f", &["r"]);
    add_fw(&mut s, "g", &["r"]);
    let now = t0();
    ok(s.track(&fw("f"), "r", &ag("a0"), &res("cpus:2;mem:1024")));
    ok(s.add_filter(&fw("f"), &ag("a1"), secs(60.0), now));
    ok(s.remove_framework(&fw("f")));
    assert!(s.snapshot().role_allocated("r").is_zero());
    assert_eq!(s.next_filter_expiry(), None);
    assert!(s.snapshot().framework(&fw("f")).is_none());
    // A new framework may reuse f's slot: it must inherit neither filters nor holdings.
    add_fw(&mut s, "h", &["r"]);
    assert!(s.snapshot().framework_share(&fw("h"), "r") == 0.0);
    let out = cycle(&mut s, &policy(), now);
    assert_eq!(out.len(), 2);
    assert!(to(&out, "h").len() == 1 && to(&out, "g").len() == 1);
}

#[test]
fn remove_agent_uncounts_what_frameworks_held_there() {
    let mut s = cluster(2, "cpus:2;mem:1024");
    add_fw(&mut s, "f", &["r"]);
    let now = t0();
    ok(s.track(&fw("f"), "r", &ag("a0"), &res("cpus:2;mem:1024")));
    ok(s.add_filter(&fw("f"), &ag("a0"), secs(60.0), now));
    ok(s.remove_agent(&ag("a0")));
    assert_eq!(s.snapshot().framework_share(&fw("f"), "r"), 0.0);
    assert_eq!(s.next_filter_expiry(), None);
    ok(s.add_agent(ag("a2"), res("cpus:2;mem:1024")));
    assert_eq!(
        s.allocate(&policy(), now).len(),
        2,
        "no stale filter on the reused slot"
    );
}

#[test]
fn update_agent_total_changes_the_cluster_total() {
    let mut s = cluster(1, "cpus:2;mem:1024");
    add_fw(&mut s, "f", &["r"]);
    ok(s.track(&fw("f"), "r", &ag("a0"), &res("cpus:1")));
    ok(s.update_agent_total(&ag("a0"), res("cpus:1;mem:1024;cpus(r):3")));
    // 1 unreserved + 3 reserved cpus.
    assert_eq!(s.snapshot().total().cpus(), Scalar::from_milli(4000));
    let out = s.allocate(&policy(), t0());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].resources, res("mem:1024;cpus(r):3"));
}

#[test]
fn leaving_a_role_keeps_holdings_but_stops_offers() {
    let mut s = cluster(2, "cpus:2;mem:1024");
    add_fw(&mut s, "f", &["a"]);
    ok(s.track(&fw("f"), "a", &ag("a0"), &res("cpus:1")));
    ok(s.update_framework_roles(&fw("f"), &roles(&["b"])));
    let out = s.allocate(&policy(), t0());
    assert!(out.iter().all(|a| a.role == "b"));
    assert_eq!(s.snapshot().framework_share(&fw("f"), "a"), 0.25);
    ok(s.recover(&fw("f"), "a", &ag("a0"), &res("cpus:1")));
    let f = s
        .snapshot()
        .framework(&fw("f"))
        .map(|f| f.roles().collect::<Vec<_>>());
    assert_eq!(f, Some(vec!["b"]));
}
