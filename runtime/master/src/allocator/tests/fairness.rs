//! DRF ordering: equal shares for equal weights, 1:2 for weights 1 and 2, multi-role
//! frameworks, deterministic agent order.

use super::*;

#[test]
fn two_frameworks_equal_weights_get_equal_shares() {
    let mut s = cluster(10, "cpus:4;mem:4096");
    add_fw(&mut s, "f1", &["r"]);
    add_fw(&mut s, "f2", &["r"]);
    let out = cycle(&mut s, &policy(), t0());
    assert_eq!(out.len(), 10, "every agent offered once");
    assert_eq!(to(&out, "f1").len(), 5);
    assert_eq!(to(&out, "f2").len(), 5);
    let snap = s.snapshot();
    assert_eq!(snap.framework_share(&fw("f1"), "r"), 0.5);
    assert_eq!(snap.framework_share(&fw("f2"), "r"), 0.5);
    // Every offer is the agent's whole available resources.
    assert!(out.iter().all(|a| a.resources == res("cpus:4;mem:4096")));
}

#[test]
fn equal_weight_roles_get_equal_shares() {
    let mut s = cluster(8, "cpus:2;mem:1024");
    add_fw(&mut s, "f1", &["a"]);
    add_fw(&mut s, "f2", &["b"]);
    cycle(&mut s, &policy(), t0());
    let snap = s.snapshot();
    assert_eq!(snap.role_share("a"), 0.5);
    assert_eq!(snap.role_share("b"), 0.5);
}

#[test]
fn lowest_share_framework_goes_first() {
    let mut s = cluster(4, "cpus:4;mem:4096");
    add_fw(&mut s, "f1", &["r"]);
    add_fw(&mut s, "f2", &["r"]);
    // f1 already holds three agents' worth; the fourth agent must go to f2.
    for i in 0..3 {
        s.track(
            &fw("f1"),
            "r",
            &ag(&format!("a{i}")),
            &res("cpus:4;mem:4096"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let out = cycle(&mut s, &policy(), t0());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].framework_id, fw("f2"));
    assert_eq!(out[0].agent_id, ag("a3"));
    assert_eq!(s.snapshot().framework_share(&fw("f2"), "r"), 0.25);
}

#[test]
fn dominant_resource_decides_the_share() {
    let s = {
        let mut s = cluster(2, "cpus:10;mem:1000");
        add_fw(&mut s, "cpu", &["r"]);
        add_fw(&mut s, "mem", &["r"]);
        s.track(&fw("cpu"), "r", &ag("a0"), &res("cpus:6;mem:100"))
            .unwrap_or_else(|e| panic!("{e}"));
        s.track(&fw("mem"), "r", &ag("a1"), &res("cpus:1;mem:700"))
            .unwrap_or_else(|e| panic!("{e}"));
        s
    };
    let snap = s.snapshot();
    // cpu: max(6/20, 100/2000) = 0.3; mem: max(1/20, 700/2000) = 0.35.
    assert!((snap.framework_share(&fw("cpu"), "r") - 0.3).abs() < 1e-9);
    assert!((snap.framework_share(&fw("mem"), "r") - 0.35).abs() < 1e-9);
    let out = s.allocate(&policy(), t0());
    assert_eq!(out.len(), 2);
    // a0 (cpus:4;mem:900 left) goes to the lower share, `cpu`, whose share becomes
    // max(10/20, 1000/2000) = 0.5; now `mem` (0.35) is lower and gets a1.
    assert_eq!(
        (&out[0].agent_id, &out[0].framework_id),
        (&ag("a0"), &fw("cpu"))
    );
    assert_eq!(
        (&out[1].agent_id, &out[1].framework_id),
        (&ag("a1"), &fw("mem"))
    );
}

/// Frameworks launch one task (1 cpu, 1 GiB) per offer and give the rest back; after
/// the cluster fills up, the weight-2 role holds twice the dominant share of the
/// weight-1 role.
#[test]
fn weights_one_and_two_converge_to_one_to_two() {
    let mut s = cluster(60, "cpus:4;mem:4096");
    s.set_weight("a", 1.0).unwrap_or_else(|e| panic!("{e}"));
    s.set_weight("b", 2.0).unwrap_or_else(|e| panic!("{e}"));
    add_fw(&mut s, "fa", &["a"]);
    add_fw(&mut s, "fb", &["b"]);
    let task = res("cpus:1;mem:1024");
    let now = t0();
    let mut cycles = 0;
    loop {
        let out = cycle(&mut s, &policy(), now);
        if out.is_empty() {
            break;
        }
        cycles += 1;
        assert!(cycles < 1000, "allocation does not terminate");
        for a in &out {
            let unused = &a.resources - &task;
            s.recover(&a.framework_id, &a.role, &a.agent_id, &unused)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let snap = s.snapshot();
    let (sa, sb) = (
        snap.framework_share(&fw("fa"), "a"),
        snap.framework_share(&fw("fb"), "b"),
    );
    assert_eq!(sa + sb, 1.0, "cluster is full");
    let ratio = sb / sa;
    assert!(
        (ratio - 2.0).abs() / 2.0 <= 0.05,
        "shares {sa} : {sb} (ratio {ratio})"
    );
    assert!(cycles > 1, "offers were consumed over several cycles");
}

#[test]
fn multi_role_framework_is_a_client_of_each_role() {
    let mut s = cluster(4, "cpus:1;mem:1024");
    add_fw(&mut s, "multi", &["a", "b"]);
    add_fw(&mut s, "only_b", &["b"]);
    let out = cycle(&mut s, &policy(), t0());
    let multi = to(&out, "multi");
    assert!(
        multi.iter().any(|a| a.role == "a"),
        "multi gets offers in role a"
    );
    // Role a has only `multi`; role b splits between `multi` and `only_b`.
    let snap = s.snapshot();
    assert_eq!(snap.role_share("a"), snap.role_share("b"));
    assert_eq!(to(&out, "only_b").len(), 1);
}

#[test]
fn registration_order_is_deterministic_and_seeded_shuffle_too() {
    let build = || {
        let mut s = cluster(50, "cpus:1;mem:512");
        add_fw(&mut s, "f1", &["r"]);
        add_fw(&mut s, "f2", &["r"]);
        add_fw(&mut s, "f3", &["q"]);
        s
    };
    let (s1, s2) = (build(), build());
    let now = t0();
    assert_eq!(s1.allocate(&policy(), now), s2.allocate(&policy(), now));
    let seeded = |seed| Policy {
        agent_order: AgentOrder::Shuffled { seed },
        ..Policy::default()
    };
    let (x, y) = (s1.allocate(&seeded(7), now), s2.allocate(&seeded(7), now));
    assert_eq!(x, y);
    let order = |v: &[Allocation]| v.iter().map(|a| a.agent_id.clone()).collect::<Vec<_>>();
    assert_ne!(order(&x), order(&s1.allocate(&seeded(8), now)));
    assert_ne!(order(&x), order(&s1.allocate(&policy(), now)));
}

#[test]
fn no_frameworks_or_no_agents_allocate_nothing() {
    let s = cluster(3, "cpus:1;mem:512");
    assert!(s.allocate(&policy(), t0()).is_empty());
    let mut s = AllocatorState::new();
    add_fw(&mut s, "f", &["r"]);
    assert!(s.allocate(&policy(), t0()).is_empty());
}
