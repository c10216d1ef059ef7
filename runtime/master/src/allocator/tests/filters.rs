//! Decline filters, suppress/revive, inactive frameworks and agents.

use super::*;

#[test]
fn declined_agent_is_not_reoffered_before_refuse_seconds() {
    let mut s = cluster(1, "cpus:4;mem:4096");
    add_fw(&mut s, "f", &["r"]);
    let now = t0();
    let out = cycle(&mut s, &policy(), now);
    assert_eq!(out.len(), 1);
    let offer = &out[0];
    s.decline(
        &offer.framework_id,
        &offer.role,
        &offer.agent_id,
        &offer.resources,
        secs(5.0),
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.next_filter_expiry(), Some(now + secs(5.0)));
    assert_eq!(
        s.snapshot().filter_expiry(&fw("f"), &ag("a0")),
        Some(now + secs(5.0))
    );

    for t in [0.0, 1.0, 4.999] {
        assert!(
            s.allocate(&policy(), now + secs(t)).is_empty(),
            "re-offered at +{t}s"
        );
    }
    let after = s.allocate(&policy(), now + secs(5.0));
    assert_eq!(after.len(), 1, "offered again once the filter expired");
    assert_eq!(after[0].resources, res("cpus:4;mem:4096"));
}

#[test]
fn declined_agent_goes_to_the_next_framework() {
    let mut s = cluster(1, "cpus:4;mem:4096");
    add_fw(&mut s, "f1", &["r"]);
    add_fw(&mut s, "f2", &["r"]);
    let now = t0();
    let out = cycle(&mut s, &policy(), now);
    assert_eq!(out[0].framework_id, fw("f1"), "tie broken by framework id");
    s.decline(
        &fw("f1"),
        "r",
        &ag("a0"),
        &out[0].resources,
        secs(60.0),
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = s.allocate(&policy(), now + secs(1.0));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].framework_id, fw("f2"));
}

#[test]
fn expire_filters_prunes_only_expired_ones() {
    let mut s = cluster(2, "cpus:1;mem:512");
    add_fw(&mut s, "f", &["r"]);
    let now = t0();
    let ok = |r: Result<(), super::super::AllocatorError>| r.unwrap_or_else(|e| panic!("{e}"));
    ok(s.add_filter(&fw("f"), &ag("a0"), secs(1.0), now));
    ok(s.add_filter(&fw("f"), &ag("a1"), secs(10.0), now));
    // A shorter filter never shortens an existing one; zero sets none.
    ok(s.add_filter(&fw("f"), &ag("a1"), secs(2.0), now));
    ok(s.add_filter(&fw("f"), &ag("a0"), Duration::ZERO, now));
    assert_eq!(s.expire_filters(now + secs(1.0)), 1);
    assert_eq!(s.next_filter_expiry(), Some(now + secs(10.0)));
    assert_eq!(s.snapshot().filter_expiry(&fw("f"), &ag("a0")), None);
    // A huge refuse is capped, not an overflow.
    ok(s.add_filter(&fw("f"), &ag("a0"), Duration::MAX, now));
    assert_eq!(
        s.snapshot().filter_expiry(&fw("f"), &ag("a0")),
        Some(now + super::super::MAX_REFUSE)
    );
}

#[test]
fn many_filters_on_one_agent_use_the_bitset_path() {
    let mut s = cluster(1, "cpus:4;mem:4096");
    let now = t0();
    for i in 0..40 {
        add_fw(&mut s, &format!("f{i:02}"), &["r"]);
    }
    // Everyone but f37 filtered the agent: it must go to f37.
    for i in (0..40).filter(|&i| i != 37) {
        s.add_filter(&fw(&format!("f{i:02}")), &ag("a0"), secs(30.0), now)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let out = s.allocate(&policy(), now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].framework_id, fw("f37"));
    // Everyone filtered it: nobody gets it.
    s.add_filter(&fw("f37"), &ag("a0"), secs(30.0), now)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.allocate(&policy(), now).is_empty());
    assert_eq!(s.allocate(&policy(), now + secs(30.0)).len(), 1);
}

#[test]
fn suppress_stops_offers_and_revive_restarts_them() {
    let mut s = cluster(2, "cpus:2;mem:2048");
    add_fw(&mut s, "f", &["r"]);
    let now = t0();
    s.suppress(&fw("f"), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(s
        .snapshot()
        .framework(&fw("f"))
        .is_some_and(|f| f.is_suppressed("r")));
    assert!(s.allocate(&policy(), now).is_empty());
    s.revive(&fw("f"), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.allocate(&policy(), now).len(), 2);
}

#[test]
fn suppress_is_per_role() {
    let mut s = cluster(2, "cpus:2;mem:2048");
    add_fw(&mut s, "f", &["a", "b"]);
    s.suppress(&fw("f"), &roles(&["a"]))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = s.allocate(&policy(), t0());
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|a| a.role == "b"));
}

#[test]
fn revive_clears_decline_filters() {
    let mut s = cluster(1, "cpus:2;mem:2048");
    add_fw(&mut s, "f", &["r"]);
    let now = t0();
    s.add_filter(&fw("f"), &ag("a0"), secs(3600.0), now)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.allocate(&policy(), now).is_empty());
    s.revive(&fw("f"), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.next_filter_expiry(), None);
    assert_eq!(s.allocate(&policy(), now).len(), 1);
}

#[test]
fn inactive_framework_gets_nothing() {
    let mut s = cluster(3, "cpus:2;mem:2048");
    add_fw(&mut s, "gone", &["r"]);
    add_fw(&mut s, "here", &["r"]);
    s.set_framework_active(&fw("gone"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let out = s.allocate(&policy(), t0());
    assert_eq!(out.len(), 3);
    assert!(to(&out, "gone").is_empty());
    s.set_framework_active(&fw("here"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.allocate(&policy(), t0()).is_empty());
    s.set_framework_active(&fw("gone"), true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(to(&s.allocate(&policy(), t0()), "gone").len(), 3);
}

#[test]
fn deactivated_agent_is_not_offered() {
    let mut s = cluster(2, "cpus:2;mem:2048");
    add_fw(&mut s, "f", &["r"]);
    s.set_agent_active(&ag("a1"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let out = s.allocate(&policy(), t0());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].agent_id, ag("a0"));
}
