//! Property test: whatever the cluster, allocations fit in what agents have available,
//! reserved resources only go to their role, and only eligible frameworks get offers.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

const ROLES: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
struct AgentSpec {
    cpus_milli: u64,
    mem: u64,
    ports: Option<(u64, u64)>,
    reserved: Vec<(usize, u64, u64)>,
    active: bool,
}

#[derive(Debug, Clone)]
struct FwSpec {
    roles: Vec<usize>,
    active: bool,
    suppressed: Vec<usize>,
}

fn agent_spec() -> impl Strategy<Value = AgentSpec> {
    (
        0_u64..8000,
        0_u64..4096,
        proptest::option::of((31000_u64..31500, 0_u64..100)),
        proptest::collection::vec((0_usize..3, 0_u64..4000, 0_u64..2048), 0..3),
        proptest::bool::weighted(0.9),
    )
        .prop_map(|(cpus_milli, mem, ports, reserved, active)| AgentSpec {
            cpus_milli,
            mem,
            ports,
            reserved,
            active,
        })
}

fn fw_spec() -> impl Strategy<Value = FwSpec> {
    (
        proptest::collection::btree_set(0_usize..3, 1..3),
        proptest::bool::weighted(0.8),
        proptest::collection::vec(0_usize..3, 0..2),
    )
        .prop_map(|(roles, active, suppressed)| FwSpec {
            roles: roles.into_iter().collect(),
            active,
            suppressed,
        })
}

fn agent_resources(spec: &AgentSpec) -> Resources {
    let mut text = format!("cpus:{};mem:{}", spec.cpus_milli as f64 / 1000.0, spec.mem);
    if let Some((begin, len)) = spec.ports {
        text += &format!(";ports:[{begin}-{}]", begin + len);
    }
    for &(role, cpus, mem) in &spec.reserved {
        text += &format!(
            ";cpus({}):{};mem({}):{mem}",
            ROLES[role],
            cpus as f64 / 1000.0,
            ROLES[role]
        );
    }
    res(&text)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn allocations_fit_and_respect_reservations(
        agents in proptest::collection::vec(agent_spec(), 1..12),
        fws in proptest::collection::vec(fw_spec(), 1..6),
        weights in proptest::collection::vec(1_u32..4, 3),
        filters in proptest::collection::vec((0_usize..12, 0_usize..6, 0_u64..20), 0..20),
        use_part in proptest::collection::vec(0_u64..3, 0..64),
        seed in any::<u64>(),
        min in proptest::bool::ANY,
    ) {
        let mut s = AllocatorState::new();
        for (i, spec) in agents.iter().enumerate() {
            let id = ag(&format!("a{i}"));
            prop_assert!(s.add_agent(id.clone(), agent_resources(spec)).is_ok());
            if !spec.active {
                prop_assert!(s.set_agent_active(&id, false).is_ok());
            }
        }
        for (i, w) in weights.iter().enumerate() {
            prop_assert!(s.set_weight(ROLES[i], f64::from(*w)).is_ok());
        }
        for (i, spec) in fws.iter().enumerate() {
            let id = fw(&format!("f{i}"));
            let names: Vec<String> = spec.roles.iter().map(|&r| ROLES[r].to_owned()).collect();
            prop_assert!(s.add_framework(id.clone(), &names).is_ok());
            prop_assert!(s.set_framework_active(&id, spec.active).is_ok());
            let sup: Vec<String> = spec.suppressed.iter().map(|&r| ROLES[r].to_owned()).collect();
            if !sup.is_empty() {
                prop_assert!(s.suppress(&id, &sup).is_ok());
            }
        }
        let now = t0();
        for &(a, f, secs_) in &filters {
            if a < agents.len() && f < fws.len() {
                let (fid, aid) = (fw(&format!("f{f}")), ag(&format!("a{a}")));
                let r = s.add_filter(&fid, &aid, Duration::from_secs(secs_), now);
                prop_assert!(r.is_ok());
            }
        }
        let policy = Policy {
            min_allocatable: if min { MinAllocatable::mesos_default() } else { MinAllocatable::none() },
            agent_order: AgentOrder::Shuffled { seed },
        };
        // Several cycles; after each, frameworks keep part of some offers.
        let mut part = use_part.iter().cycle();
        for round in 0..3_u64 {
            let at = now + Duration::from_secs(round * 7);
            let out = s.allocate(&policy, at);
            check(&s, &out, at)?;
            prop_assert!(s.apply(&out).is_ok());
            for a in &out {
                let keep = match part.next().copied().unwrap_or(0) {
                    0 => Resources::new(),
                    1 => a.resources.filter(|r| r.name == "cpus"),
                    _ => a.resources.clone(),
                };
                let rest = &a.resources - &keep;
                prop_assert!(s.recover(&a.framework_id, &a.role, &a.agent_id, &rest).is_ok());
            }
        }
    }
}

/// The invariants of one cycle's output against the snapshot it was computed from.
fn check(s: &AllocatorState, out: &[Allocation], now: Instant) -> Result<(), TestCaseError> {
    let snap = s.snapshot();
    let mut seen = BTreeSet::new();
    let mut per_agent: std::collections::BTreeMap<String, Resources> = Default::default();
    for a in out {
        prop_assert!(!a.resources.is_empty());
        prop_assert!(
            seen.insert((a.framework_id.clone(), a.role.clone(), a.agent_id.clone())),
            "two allocations for one (framework, role, agent)"
        );
        let agent = snap.agent(&a.agent_id);
        prop_assert!(agent.is_some_and(|v| v.is_active()));
        let f = snap.framework(&a.framework_id);
        prop_assert!(f.is_some_and(|f| f.is_active()
            && f.roles().any(|r| r == a.role)
            && !f.is_suppressed(&a.role)));
        prop_assert!(snap
            .filter_expiry(&a.framework_id, &a.agent_id)
            .is_none_or(|t| t <= now));
        prop_assert!(
            a.resources.roles().iter().all(|r| *r == a.role),
            "{} offered in role {}",
            a.resources,
            a.role
        );
        *per_agent.entry(a.agent_id.to_string()).or_default() += &a.resources;
    }
    for (agent, sum) in per_agent {
        let available = snap
            .agent(&ag(&agent))
            .map(|v| v.available().clone())
            .unwrap_or_default();
        prop_assert!(
            available.contains(&sum),
            "agent {agent}: offered {sum} of {available}"
        );
    }
    Ok(())
}
