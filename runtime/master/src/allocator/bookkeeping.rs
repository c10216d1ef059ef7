//! Allocation-side calls of [`AllocatorState`]: recording offers, recovering resources,
//! and decline filters.
//!
//! Offered and used resources are the same thing to the allocator (both "allocated", as in
//! Mesos): an offer is recorded with [`AllocatorState::apply`]; when the scheduler launches
//! tasks from it the launched part simply stays allocated, and the rest is
//! [`recover`](AllocatorState::recover)ed or [`decline`](AllocatorState::decline)d.

use std::time::{Duration, Instant};

use drover_proto::resources::Resources;
use drover_proto::{AgentId, FrameworkId};

use super::quantities::Quantities;
use super::snapshot::{Held, Summary};
use super::state::{AllocatorError, AllocatorState};
use super::Allocation;

/// Longest decline filter; longer `refuse` durations are capped to this (one year), so
/// that `now + refuse` cannot overflow.
pub const MAX_REFUSE: Duration = Duration::from_secs(365 * 24 * 3600);

impl AllocatorState {
    /// Records allocations made by [`allocate`](super::allocate) once their offers are
    /// sent. Stops at the first allocation that no longer fits (a stale plan); those
    /// before it stay recorded, and the error says which agent.
    pub fn apply(&mut self, allocations: &[Allocation]) -> Result<(), AllocatorError> {
        for a in allocations {
            self.track(&a.framework_id, &a.role, &a.agent_id, &a.resources)?;
        }
        Ok(())
    }

    /// Records that `framework` holds `resources` in `role` on `agent` (an offer, or a
    /// running task re-reported by a re-registering agent).
    pub fn track(
        &mut self,
        framework: &FrameworkId,
        role: &str,
        agent: &AgentId,
        resources: &Resources,
    ) -> Result<(), AllocatorError> {
        let fw_slot = self.framework_slot(framework)?;
        let agent_slot = self.agent_slot(agent)?;
        let role_slot = match self.snap.frameworks.get(fw_slot).and_then(|f| f.role(role)) {
            Some(entry) if entry.subscribed => entry.role,
            _ => {
                return Err(AllocatorError::NotSubscribed {
                    framework: framework.clone(),
                    role: role.to_owned(),
                })
            }
        };
        if resources
            .iter()
            .any(|r| r.role.as_deref().is_some_and(|r| r != role))
        {
            return Err(AllocatorError::WrongReservation {
                role: role.to_owned(),
                resources: resources.to_string(),
            });
        }
        let snap = &mut self.snap;
        let Some(view) = snap.agents.get_mut(agent_slot) else {
            return Err(AllocatorError::UnknownAgent(agent.clone()));
        };
        if !view.available.contains(resources) {
            return Err(AllocatorError::NotAvailable {
                agent: agent.clone(),
                resources: resources.to_string(),
            });
        }
        // In place: no clone of the agent's resources per offer, and their heap objects
        // stay where they are (the cycle reads them for every offer it makes).
        view.available -= resources;
        view.allocated += resources;
        match view
            .held
            .iter_mut()
            .find(|h| h.framework == fw_slot && h.role == role_slot)
        {
            Some(held) => held.resources += resources,
            None => view.held.push(Held {
                framework: fw_slot,
                role: role_slot,
                resources: resources.clone(),
            }),
        }
        view.summary = Summary::of(&view.available, &mut snap.roles);
        let q = Quantities::of(resources);
        if let Some(entry) = snap
            .frameworks
            .get_mut(fw_slot)
            .and_then(|f| f.roles.iter_mut().find(|r| r.role == role_slot))
        {
            entry.allocated.add(&q);
        }
        snap.roles.views[role_slot as usize].allocated.add(&q);
        Ok(())
    }

    /// Returns `resources` that `framework` held in `role` on `agent` to the agent's
    /// available pool: a task ended, an offer was rescinded, or part of an offer was not
    /// used. No filter is set (see [`decline`](Self::decline)).
    pub fn recover(
        &mut self,
        framework: &FrameworkId,
        role: &str,
        agent: &AgentId,
        resources: &Resources,
    ) -> Result<(), AllocatorError> {
        let fw_slot = self.framework_slot(framework)?;
        let agent_slot = self.agent_slot(agent)?;
        let not_allocated = || AllocatorError::NotAllocated {
            framework: framework.clone(),
            role: role.to_owned(),
            agent: agent.clone(),
            resources: resources.to_string(),
        };
        let role_slot = self
            .snap
            .frameworks
            .get(fw_slot)
            .and_then(|f| f.role(role))
            .map(|entry| entry.role)
            .ok_or_else(not_allocated)?;
        let snap = &mut self.snap;
        let Some(view) = snap.agents.get_mut(agent_slot) else {
            return Err(AllocatorError::UnknownAgent(agent.clone()));
        };
        let i = view
            .held
            .iter()
            .position(|h| h.framework == fw_slot && h.role == role_slot)
            .ok_or_else(not_allocated)?;
        if !view.held[i].resources.contains(resources) {
            return Err(not_allocated());
        }
        view.held[i].resources -= resources;
        if view.held[i].resources.is_empty() {
            view.held.swap_remove(i);
        }
        // `held` is part of `allocated`, so this in-place subtraction is exact.
        view.allocated -= resources;
        view.available += resources;
        view.summary = Summary::of(&view.available, &mut snap.roles);
        let q = Quantities::of(resources);
        self.uncount(fw_slot, role_slot, &q);
        Ok(())
    }

    /// A scheduler declined `resources` of an offer: recovers them and, unless `refuse` is
    /// zero, filters `agent` for `framework` until `now + refuse` (capped at
    /// [`MAX_REFUSE`]).
    pub fn decline(
        &mut self,
        framework: &FrameworkId,
        role: &str,
        agent: &AgentId,
        resources: &Resources,
        refuse: Duration,
        now: Instant,
    ) -> Result<(), AllocatorError> {
        self.recover(framework, role, agent, resources)?;
        self.add_filter(framework, agent, refuse, now)
    }

    /// Stops offering `agent` to `framework` until `now + refuse` (capped at
    /// [`MAX_REFUSE`]; zero sets no filter). An existing filter is only ever extended.
    pub fn add_filter(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        refuse: Duration,
        now: Instant,
    ) -> Result<(), AllocatorError> {
        let fw_slot = self.framework_slot(framework)?;
        let agent_slot = self.agent_slot(agent)?;
        if refuse.is_zero() {
            return Ok(());
        }
        let expires = now + refuse.min(MAX_REFUSE);
        let Some(view) = self.snap.agents.get_mut(agent_slot) else {
            return Err(AllocatorError::UnknownAgent(agent.clone()));
        };
        match view.filters.iter_mut().find(|(f, _)| *f == fw_slot) {
            Some(entry) if entry.1 >= expires => return Ok(()),
            Some(entry) => {
                self.expiries.remove(&(entry.1, agent_slot, fw_slot));
                entry.1 = expires;
            }
            None => view.filters.push((fw_slot, expires)),
        }
        self.expiries.insert((expires, agent_slot, fw_slot));
        if let Some(fw) = self.snap.frameworks.get_mut(fw_slot) {
            fw.filtered_agents.insert(agent_slot);
        }
        Ok(())
    }

    /// Drops the filters that have expired at `now` and returns how many. Expired
    /// filters already have no effect on [`allocate`](super::allocate); this only frees
    /// their memory. Call it when the timer for [`next_filter_expiry`](Self::next_filter_expiry)
    /// fires, then run a cycle: the filtered agents can be offered again.
    pub fn expire_filters(&mut self, now: Instant) -> usize {
        let mut expired = 0;
        while let Some(&(expires, agent, fw)) = self.expiries.first() {
            if expires > now {
                break;
            }
            self.expiries.pop_first();
            self.drop_filter(agent, fw);
            expired += 1;
        }
        expired
    }

    /// When the earliest decline filter expires: the shell sets a timer for it.
    pub fn next_filter_expiry(&self) -> Option<Instant> {
        self.expiries.first().map(|&(expires, _, _)| expires)
    }

    /// Drops every filter of framework slot `fw`.
    pub(crate) fn clear_filters_of(&mut self, fw: u32) {
        let agents = match self.snap.frameworks.get_mut(fw) {
            Some(f) => std::mem::take(&mut f.filtered_agents),
            None => return,
        };
        for agent in agents {
            if let Some(view) = self.snap.agents.get_mut(agent) {
                if let Some(i) = view.filters.iter().position(|(f, _)| *f == fw) {
                    let (_, expires) = view.filters.swap_remove(i);
                    self.expiries.remove(&(expires, agent, fw));
                }
            }
        }
    }

    /// Removes the filter of framework slot `fw` on agent slot `agent` from both indexes
    /// (the caller removes it from `expiries`).
    fn drop_filter(&mut self, agent: u32, fw: u32) {
        if let Some(view) = self.snap.agents.get_mut(agent) {
            view.filters.retain(|(f, _)| *f != fw);
        }
        if let Some(f) = self.snap.frameworks.get_mut(fw) {
            f.filtered_agents.remove(&agent);
        }
    }
}
