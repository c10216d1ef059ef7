//! [`AllocatorState`]: the incremental bookkeeping the master's shell drives.
//!
//! ```text
//!  shell event                       AllocatorState call
//!  agent registers / leaves          add_agent / remove_agent / update_agent_total
//!  agent drains / comes back         set_agent_active
//!  framework subscribes / leaves     add_framework / remove_framework / update_framework_roles
//!  scheduler disconnects / returns   set_framework_active
//!  Suppress / Revive                 suppress / revive
//!  operator sets a weight            set_weight
//!  offers sent (from allocate)       apply  (or track, one at a time)
//!  Decline / unused part of Accept   decline / recover
//!  task ends, offer rescinded        recover
//!  filter timer fires                expire_filters, then allocate
//! ```
//!
//! Every call takes what it needs (`now` included) and returns a typed error for ids it
//! does not know or amounts that do not add up; none reads a clock. The allocation-side
//! calls (track, recover, decline, filters) are in `bookkeeping.rs`.

use std::collections::BTreeSet;
use std::time::Instant;

use drover_proto::resources::Resources;
use drover_proto::{AgentId, FrameworkId};

use super::cycle::allocate;
use super::policy::Policy;
use super::quantities::Quantities;
use super::snapshot::{AgentView, FrameworkRole, FrameworkView, Snapshot, Summary};
use super::Allocation;

/// Errors of [`AllocatorState`] calls. Each leaves the state unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AllocatorError {
    /// The agent is not known (never added, or removed): add it first.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// The framework is not known (never added, or removed): add it first.
    #[error("unknown framework {0}")]
    UnknownFramework(FrameworkId),
    /// `add_agent` for an agent already present: use `update_agent_total`.
    #[error("agent {0} is already known")]
    AgentExists(AgentId),
    /// `add_framework` for a framework already present: use `update_framework_roles`.
    #[error("framework {0} is already known")]
    FrameworkExists(FrameworkId),
    /// Resources were allocated to a framework in a role it is not subscribed to.
    #[error("framework {framework} is not subscribed to role {role:?}")]
    NotSubscribed {
        /// The framework.
        framework: FrameworkId,
        /// The role.
        role: String,
    },
    /// Resources reserved to one role were allocated in another.
    #[error("resources {resources} are reserved to a role other than {role:?}")]
    WrongReservation {
        /// The role allocated in.
        role: String,
        /// The offending resources.
        resources: String,
    },
    /// More was allocated on an agent than it has available (a stale plan).
    #[error("agent {agent} does not have {resources} available")]
    NotAvailable {
        /// The agent.
        agent: AgentId,
        /// What was asked for.
        resources: String,
    },
    /// More was recovered than the framework holds there in that role.
    #[error("framework {framework} does not hold {resources} in role {role:?} on agent {agent}")]
    NotAllocated {
        /// The framework.
        framework: FrameworkId,
        /// The role.
        role: String,
        /// The agent.
        agent: AgentId,
        /// What was recovered.
        resources: String,
    },
    /// Weights must be finite and positive.
    #[error("invalid weight {weight} for role {role:?}: must be finite and > 0")]
    InvalidWeight {
        /// The role.
        role: String,
        /// The rejected weight.
        weight: f64,
    },
    /// An agent's new total does not contain what frameworks hold on it.
    #[error("new total of agent {0} does not contain its allocated resources")]
    TotalBelowAllocated(AgentId),
}

/// The allocator's state, kept incrementally from the master's events. Owns the
/// [`Snapshot`] that [`allocate`] reads.
#[derive(Clone, Debug, Default)]
pub struct AllocatorState {
    pub(crate) snap: Snapshot,
    /// Every decline filter as (expiry, agent slot, framework slot), earliest first.
    pub(crate) expiries: BTreeSet<(Instant, u32, u32)>,
}

impl AllocatorState {
    /// An empty cluster.
    pub fn new() -> AllocatorState {
        AllocatorState::default()
    }

    /// The current snapshot, for [`allocate`] or for reading.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// Runs one allocation cycle on the current snapshot (does not record the result:
    /// pass the allocations to [`apply`](Self::apply) once the offers are sent).
    pub fn allocate(&self, policy: &Policy, now: Instant) -> Vec<Allocation> {
        allocate(&self.snap, policy, now)
    }

    /// Adds an agent with nothing allocated. Re-registering agents that run tasks are
    /// added the same way, then each task's resources are [`track`](Self::track)ed.
    pub fn add_agent(&mut self, id: AgentId, total: Resources) -> Result<(), AllocatorError> {
        if self.snap.agents.slot_of(&id).is_some() {
            return Err(AllocatorError::AgentExists(id));
        }
        let total_q = Quantities::of(&total);
        let summary = Summary::of(&total, &mut self.snap.roles);
        let view = AgentView {
            id: id.clone(),
            available: total.clone(),
            total,
            total_q,
            allocated: Resources::new(),
            active: true,
            held: Vec::new(),
            filters: Vec::new(),
            summary,
        };
        self.snap.agents.insert(id, view);
        self.snap.total.add(&total_q);
        Ok(())
    }

    /// Removes an agent: its resources leave the cluster, what frameworks held on it is
    /// no longer counted in their shares, and its decline filters are dropped.
    pub fn remove_agent(&mut self, id: &AgentId) -> Result<(), AllocatorError> {
        let (slot, view) = self
            .snap
            .agents
            .remove(id)
            .ok_or_else(|| AllocatorError::UnknownAgent(id.clone()))?;
        for held in &view.held {
            let q = Quantities::of(&held.resources);
            self.uncount(held.framework, held.role, &q);
        }
        for &(fw, expires) in &view.filters {
            self.expiries.remove(&(expires, slot, fw));
            if let Some(f) = self.snap.frameworks.get_mut(fw) {
                f.filtered_agents.remove(&slot);
            }
        }
        self.snap.total.sub(&view.total_q);
        Ok(())
    }

    /// Replaces an agent's total (e.g. after a reservation changed it). The new total must
    /// contain what is allocated on the agent.
    pub fn update_agent_total(
        &mut self,
        id: &AgentId,
        total: Resources,
    ) -> Result<(), AllocatorError> {
        let slot = self.agent_slot(id)?;
        let snap = &mut self.snap;
        let Some(agent) = snap.agents.get_mut(slot) else {
            return Err(AllocatorError::UnknownAgent(id.clone()));
        };
        let Some(available) = total.checked_sub(&agent.allocated) else {
            return Err(AllocatorError::TotalBelowAllocated(id.clone()));
        };
        let total_q = Quantities::of(&total);
        snap.total.sub(&agent.total_q);
        snap.total.add(&total_q);
        agent.summary = Summary::of(&available, &mut snap.roles);
        agent.available = available;
        agent.total = total;
        agent.total_q = total_q;
        Ok(())
    }

    /// Activates or deactivates an agent; a deactivated agent gets no offers but keeps
    /// its allocations.
    pub fn set_agent_active(&mut self, id: &AgentId, active: bool) -> Result<(), AllocatorError> {
        let slot = self.agent_slot(id)?;
        if let Some(agent) = self.snap.agents.get_mut(slot) {
            agent.active = active;
        }
        Ok(())
    }

    /// Adds an active framework subscribed to `roles`, holding nothing.
    pub fn add_framework(
        &mut self,
        id: FrameworkId,
        roles: &[String],
    ) -> Result<(), AllocatorError> {
        if self.snap.frameworks.slot_of(&id).is_some() {
            return Err(AllocatorError::FrameworkExists(id));
        }
        let view = FrameworkView {
            id: id.clone(),
            active: true,
            roles: Vec::new(),
            filtered_agents: BTreeSet::new(),
        };
        self.snap.frameworks.insert(id.clone(), view);
        self.update_framework_roles(&id, roles)
    }

    /// Changes the roles a framework is subscribed to. What it holds in a role it leaves
    /// stays counted until recovered; it gets no new offers there.
    pub fn update_framework_roles(
        &mut self,
        id: &FrameworkId,
        roles: &[String],
    ) -> Result<(), AllocatorError> {
        let slot = self.framework_slot(id)?;
        let snap = &mut self.snap;
        let Some(fw) = snap.frameworks.get_mut(slot) else {
            return Err(AllocatorError::UnknownFramework(id.clone()));
        };
        for entry in &mut fw.roles {
            entry.subscribed = roles.contains(&entry.name);
            if !entry.subscribed {
                entry.suppressed = false;
            }
        }
        for name in roles {
            if fw.roles.iter().all(|r| &r.name != name) {
                fw.roles.push(FrameworkRole {
                    role: snap.roles.slot_or_insert(name),
                    name: name.clone(),
                    subscribed: true,
                    suppressed: false,
                    allocated: Quantities::ZERO,
                });
            }
        }
        Ok(())
    }

    /// Marks a framework connected (`true`) or disconnected (`false`); a disconnected
    /// framework gets no offers but its tasks keep their resources.
    pub fn set_framework_active(
        &mut self,
        id: &FrameworkId,
        active: bool,
    ) -> Result<(), AllocatorError> {
        let slot = self.framework_slot(id)?;
        if let Some(fw) = self.snap.frameworks.get_mut(slot) {
            fw.active = active;
        }
        Ok(())
    }

    /// Removes a framework: everything it still holds returns to its agents' available
    /// resources, and its filters are dropped.
    pub fn remove_framework(&mut self, id: &FrameworkId) -> Result<(), AllocatorError> {
        let slot = self.framework_slot(id)?;
        self.clear_filters_of(slot);
        let snap = &mut self.snap;
        for (_, agent) in snap.agents.iter_mut() {
            if agent.held.iter().all(|h| h.framework != slot) {
                continue;
            }
            for held in agent.held.iter().filter(|h| h.framework == slot) {
                let q = Quantities::of(&held.resources);
                let role = &mut snap.roles.views[held.role as usize];
                role.allocated.sub(&q);
                agent.allocated -= &held.resources;
                agent.available += &held.resources;
            }
            agent.held.retain(|h| h.framework != slot);
            agent.summary = Summary::of(&agent.available, &mut snap.roles);
        }
        snap.frameworks.remove(id);
        Ok(())
    }

    /// Suppresses offers to a framework in `roles` (all its roles if empty).
    pub fn suppress(&mut self, id: &FrameworkId, roles: &[String]) -> Result<(), AllocatorError> {
        self.set_suppressed(id, roles, true)
    }

    /// Lifts suppression in `roles` (all its roles if empty) and, as in Mesos, drops all of
    /// the framework's decline filters.
    pub fn revive(&mut self, id: &FrameworkId, roles: &[String]) -> Result<(), AllocatorError> {
        self.set_suppressed(id, roles, false)?;
        let slot = self.framework_slot(id)?;
        self.clear_filters_of(slot);
        Ok(())
    }

    /// Sets the weight of `role` (default 1.0): a role of weight 2 converges to twice the
    /// dominant share of a role of weight 1.
    pub fn set_weight(&mut self, role: &str, weight: f64) -> Result<(), AllocatorError> {
        if !weight.is_finite() || weight <= 0.0 {
            return Err(AllocatorError::InvalidWeight {
                role: role.to_owned(),
                weight,
            });
        }
        let slot = self.snap.roles.slot_or_insert(role);
        self.snap.roles.views[slot as usize].weight = weight;
        Ok(())
    }

    fn set_suppressed(
        &mut self,
        id: &FrameworkId,
        roles: &[String],
        suppressed: bool,
    ) -> Result<(), AllocatorError> {
        let slot = self.framework_slot(id)?;
        if let Some(fw) = self.snap.frameworks.get_mut(slot) {
            for entry in fw.roles.iter_mut().filter(|r| r.subscribed) {
                if roles.is_empty() || roles.contains(&entry.name) {
                    entry.suppressed = suppressed;
                }
            }
        }
        Ok(())
    }

    /// Subtracts `q` from what framework slot `fw` holds in role slot `role`.
    pub(crate) fn uncount(&mut self, fw: u32, role: u32, q: &Quantities) {
        if let Some(f) = self.snap.frameworks.get_mut(fw) {
            if let Some(entry) = f.roles.iter_mut().find(|r| r.role == role) {
                entry.allocated.sub(q);
            }
        }
        if let Some(view) = self.snap.roles.views.get_mut(role as usize) {
            view.allocated.sub(q);
        }
    }

    pub(crate) fn agent_slot(&self, id: &AgentId) -> Result<u32, AllocatorError> {
        self.snap
            .agents
            .slot_of(id)
            .ok_or_else(|| AllocatorError::UnknownAgent(id.clone()))
    }

    pub(crate) fn framework_slot(&self, id: &FrameworkId) -> Result<u32, AllocatorError> {
        self.snap
            .frameworks
            .slot_of(id)
            .ok_or_else(|| AllocatorError::UnknownFramework(id.clone()))
    }
}
