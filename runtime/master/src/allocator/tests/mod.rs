//! Unit and property tests of the allocator core: no actors, no sleeps; time is a base
//! `Instant` plus offsets.

mod bookkeeping;
mod fairness;
mod filters;
mod prop;
mod reservations;

use std::time::{Duration, Instant};

use drover_proto::resources::Resources;
use drover_proto::{AgentId, FrameworkId};

use super::{AgentOrder, Allocation, AllocatorState, MinAllocatable, Policy};

/// Parses a resources literal of the test itself.
fn res(s: &str) -> Resources {
    match Resources::parse(s) {
        Ok(r) => r,
        Err(e) => panic!("bad test resources {s:?}: {e}"),
    }
}

fn fw(s: &str) -> FrameworkId {
    FrameworkId::new(s)
}

fn ag(s: &str) -> AgentId {
    AgentId::new(s)
}

fn roles(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// A base instant; tests only ever add offsets to it.
fn t0() -> Instant {
    Instant::now()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Mesos default minimum, agents in registration order.
fn policy() -> Policy {
    Policy::default()
}

/// No minimum at all.
fn no_min() -> Policy {
    Policy {
        min_allocatable: MinAllocatable::none(),
        agent_order: AgentOrder::Registration,
    }
}

/// A cluster of `n` agents `a0..` with `total` each.
fn cluster(n: usize, total: &str) -> AllocatorState {
    let mut s = AllocatorState::new();
    for i in 0..n {
        s.add_agent(ag(&format!("a{i}")), res(total))
            .unwrap_or_else(|e| panic!("add agent: {e}"));
    }
    s
}

fn add_fw(s: &mut AllocatorState, id: &str, role_names: &[&str]) {
    s.add_framework(fw(id), &roles(role_names))
        .unwrap_or_else(|e| panic!("add framework {id}: {e}"));
}

/// Allocates and records the result.
fn cycle(s: &mut AllocatorState, p: &Policy, now: Instant) -> Vec<Allocation> {
    let out = s.allocate(p, now);
    s.apply(&out).unwrap_or_else(|e| panic!("apply: {e}"));
    out
}

/// Allocations to `framework`.
fn to<'a>(out: &'a [Allocation], framework: &str) -> Vec<&'a Allocation> {
    out.iter()
        .filter(|a| a.framework_id.as_str() == framework)
        .collect()
}
