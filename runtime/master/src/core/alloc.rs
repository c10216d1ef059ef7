//! The master's side of the allocator boundary: each master event becomes one
//! [`AllocatorState`](crate::allocator::AllocatorState) call. The allocator refuses calls
//! that do not add up (unknown ids, recovering more than was held); such a refusal means
//! the master's books and the allocator's disagree, which is logged loudly rather than
//! crashing the master.

use super::MasterCore;
use crate::allocator::{AllocatorError, MinAllocatable, Policy};
use drover_proto::resources::Scalar;
use drover_proto::{AgentId, FrameworkId, Resources};
use std::time::{Duration, Instant};

/// The allocator policy for the master's minimum allocatable resources: an offer is made
/// if it has at least `cpus` CPUs or `mem` MB of memory (Mesos's `cpus:0.01|mem:32`).
pub(crate) fn policy(cpus: f64, mem: f64) -> Policy {
    let scalar = |v: f64| Scalar::try_from_f64(v).unwrap_or(Scalar::ZERO);
    Policy {
        min_allocatable: MinAllocatable::new(vec![
            vec![("cpus".to_owned(), scalar(cpus))],
            vec![("mem".to_owned(), scalar(mem))],
        ]),
        ..Policy::default()
    }
}

fn check(what: &str, r: Result<(), AllocatorError>) {
    if let Err(e) = r {
        tracing::error!(error = %e, "allocator refused {what}: master and allocator books disagree");
    }
}

impl MasterCore {
    pub(crate) fn alloc_add_agent(&mut self, id: &AgentId, total: &Resources) {
        check(
            "add_agent",
            self.allocator.add_agent(id.clone(), total.clone()),
        );
    }

    pub(crate) fn alloc_remove_agent(&mut self, id: &AgentId) {
        check("remove_agent", self.allocator.remove_agent(id));
    }

    pub(crate) fn alloc_add_framework(&mut self, id: &FrameworkId, roles: &[String], active: bool) {
        let r = match self.allocator.add_framework(id.clone(), roles) {
            Err(AllocatorError::FrameworkExists(_)) => {
                self.allocator.update_framework_roles(id, roles)
            }
            other => other,
        };
        check("add_framework", r);
        check(
            "set_framework_active",
            self.allocator.set_framework_active(id, active),
        );
    }

    pub(crate) fn alloc_framework_active(&mut self, id: &FrameworkId, active: bool) {
        check(
            "set_framework_active",
            self.allocator.set_framework_active(id, active),
        );
    }

    pub(crate) fn alloc_remove_framework(&mut self, id: &FrameworkId) {
        check("remove_framework", self.allocator.remove_framework(id));
    }

    /// Records that a framework holds resources on an agent (an adopted task).
    pub(crate) fn alloc_track(
        &mut self,
        agent: &AgentId,
        fw: &FrameworkId,
        role: &str,
        res: &Resources,
    ) {
        if !res.is_empty() {
            check("track", self.allocator.track(fw, role, agent, res));
        }
    }

    /// Returns resources a framework held on an agent to the pool.
    pub(crate) fn alloc_recover(
        &mut self,
        agent: &AgentId,
        fw: &FrameworkId,
        role: &str,
        res: &Resources,
    ) {
        if res.is_empty() || !self.agents.get(agent).is_some_and(|a| a.in_allocator) {
            return;
        }
        check("recover", self.allocator.recover(fw, role, agent, res));
    }

    pub(crate) fn alloc_filter(
        &mut self,
        fw: &FrameworkId,
        agent: &AgentId,
        refuse: Duration,
        now: Instant,
    ) {
        if self.agents.get(agent).is_some_and(|a| a.in_allocator) {
            check(
                "add_filter",
                self.allocator.add_filter(fw, agent, refuse, now),
            );
        }
    }
}
