//! The allocator's view of the cluster: what [`allocate`](super::allocate) reads.
//!
//! A [`Snapshot`] is plain data: agents with their total, allocated and available
//! resources and decline filters, frameworks with their roles, suppression and
//! allocations, and role weights. It is kept up to date incrementally by
//! [`AllocatorState`](super::AllocatorState) and handed to a cycle by shared reference, so
//! the cycle cannot change it (Nomad's "scheduler reads an immutable snapshot and returns a
//! plan"). The shell may also clone it to plan on another thread.
//!
//! Entries live at integer slots and carry precomputed summaries (the cpus/mem/disk of an
//! agent's unreserved and per-role reserved available resources), so that a cycle touches
//! no strings and does no `Resources` arithmetic except to build the offers it makes.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use drover_proto::resources::Resources;
use drover_proto::{AgentId, FrameworkId};

use super::quantities::Quantities;
use super::slots::Slots;

/// Resources one framework holds in one role on one agent (offered or in use).
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub(crate) framework: u32,
    pub(crate) role: u32,
    pub(crate) resources: Resources,
}

/// An agent's available resources, summarised for the cycle.
#[derive(Clone, Debug, Default)]
pub(crate) struct Summary {
    /// cpus/mem/disk of the unreserved available resources.
    pub(crate) unreserved: Quantities,
    /// True if any unreserved resource (scalar, ranges or set) is available.
    pub(crate) unreserved_nonempty: bool,
    /// For each role with available reserved resources: its slot and their quantities.
    pub(crate) reserved: Vec<(u32, Quantities)>,
}

impl Summary {
    /// Summarises `available`, registering any role it names.
    pub(crate) fn of(available: &Resources, roles: &mut Roles) -> Summary {
        let mut s = Summary::default();
        for r in available.iter() {
            match &r.role {
                None => {
                    s.unreserved_nonempty = true;
                    s.unreserved.add_resource(r);
                }
                Some(name) => {
                    let slot = roles.slot_or_insert(name);
                    let i = match s.reserved.iter().position(|(role, _)| *role == slot) {
                        Some(i) => i,
                        None => {
                            s.reserved.push((slot, Quantities::ZERO));
                            s.reserved.len() - 1
                        }
                    };
                    s.reserved[i].1.add_resource(r);
                }
            }
        }
        s
    }

    /// True if nothing at all is available.
    pub(crate) fn is_empty(&self) -> bool {
        !self.unreserved_nonempty && self.reserved.is_empty()
    }
}

/// One agent as the allocator sees it.
#[derive(Clone, Debug)]
pub struct AgentView {
    pub(crate) id: AgentId,
    pub(crate) total: Resources,
    pub(crate) total_q: Quantities,
    /// Sum of `held`: offered plus used.
    pub(crate) allocated: Resources,
    /// `total - allocated`.
    pub(crate) available: Resources,
    pub(crate) active: bool,
    pub(crate) held: Vec<Held>,
    /// Decline filters on this agent: framework slot and expiry.
    pub(crate) filters: Vec<(u32, Instant)>,
    pub(crate) summary: Summary,
}

impl AgentView {
    /// The agent's id.
    pub fn id(&self) -> &AgentId {
        &self.id
    }

    /// Everything the agent has.
    pub fn total(&self) -> &Resources {
        &self.total
    }

    /// What frameworks hold on it, offered or in use.
    pub fn allocated(&self) -> &Resources {
        &self.allocated
    }

    /// What can still be offered: total minus allocated.
    pub fn available(&self) -> &Resources {
        &self.available
    }

    /// False while the agent is deactivated (e.g. draining): it gets no offers.
    pub fn is_active(&self) -> bool {
        self.active
    }
}

/// One role a framework is subscribed to (or still holds resources in).
#[derive(Clone, Debug)]
pub(crate) struct FrameworkRole {
    pub(crate) role: u32,
    pub(crate) name: String,
    /// False once the framework left the role but still holds resources in it.
    pub(crate) subscribed: bool,
    pub(crate) suppressed: bool,
    pub(crate) allocated: Quantities,
}

/// One framework as the allocator sees it.
#[derive(Clone, Debug)]
pub struct FrameworkView {
    pub(crate) id: FrameworkId,
    pub(crate) active: bool,
    pub(crate) roles: Vec<FrameworkRole>,
    /// Agents on which this framework has a decline filter.
    pub(crate) filtered_agents: BTreeSet<u32>,
}

impl FrameworkView {
    /// The framework's id.
    pub fn id(&self) -> &FrameworkId {
        &self.id
    }

    /// False while the framework is disconnected: it gets no offers.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The roles the framework is subscribed to.
    pub fn roles(&self) -> impl Iterator<Item = &str> + '_ {
        self.roles
            .iter()
            .filter(|r| r.subscribed)
            .map(|r| r.name.as_str())
    }

    /// True if the framework suppressed offers for `role`.
    pub fn is_suppressed(&self, role: &str) -> bool {
        self.role(role).is_some_and(|r| r.suppressed)
    }

    /// cpus/mem/disk the framework holds in `role`, offered or in use.
    pub fn allocated(&self, role: &str) -> Quantities {
        self.role(role).map_or(Quantities::ZERO, |r| r.allocated)
    }

    pub(crate) fn role(&self, role: &str) -> Option<&FrameworkRole> {
        self.roles.iter().find(|r| r.name == role)
    }
}

/// One role: its weight and what its frameworks hold.
#[derive(Clone, Debug)]
pub(crate) struct RoleView {
    pub(crate) name: String,
    pub(crate) weight: f64,
    pub(crate) allocated: Quantities,
}

/// Role registry: names to slots. Roles are never removed (there are few).
#[derive(Clone, Debug, Default)]
pub(crate) struct Roles {
    pub(crate) views: Vec<RoleView>,
    slots: HashMap<String, u32>,
}

impl Roles {
    /// The slot of `name`, registering it with weight 1 if new.
    pub(crate) fn slot_or_insert(&mut self, name: &str) -> u32 {
        if let Some(&slot) = self.slots.get(name) {
            return slot;
        }
        let slot = self.views.len() as u32;
        self.views.push(RoleView {
            name: name.to_owned(),
            weight: 1.0,
            allocated: Quantities::ZERO,
        });
        self.slots.insert(name.to_owned(), slot);
        slot
    }

    /// The view of `name`, if known.
    pub(crate) fn get(&self, name: &str) -> Option<&RoleView> {
        self.slots.get(name).map(|&slot| &self.views[slot as usize])
    }
}

/// Everything an allocation cycle reads. Built and updated by
/// [`AllocatorState`](super::AllocatorState); read-only here.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub(crate) agents: Slots<AgentId, AgentView>,
    pub(crate) frameworks: Slots<FrameworkId, FrameworkView>,
    pub(crate) roles: Roles,
    /// cpus/mem/disk of all agents, active or not: the denominator of every share.
    pub(crate) total: Quantities,
}

impl Snapshot {
    /// The agent `id`.
    pub fn agent(&self, id: &AgentId) -> Option<&AgentView> {
        self.agents.by_key(id)
    }

    /// All agents, in slot order.
    pub fn agents(&self) -> impl Iterator<Item = &AgentView> + '_ {
        self.agents.iter().map(|(_, a)| a)
    }

    /// Number of agents.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// The framework `id`.
    pub fn framework(&self, id: &FrameworkId) -> Option<&FrameworkView> {
        self.frameworks.by_key(id)
    }

    /// All frameworks, in slot order.
    pub fn frameworks(&self) -> impl Iterator<Item = &FrameworkView> + '_ {
        self.frameworks.iter().map(|(_, f)| f)
    }

    /// cpus/mem/disk of the whole cluster.
    pub fn total(&self) -> Quantities {
        self.total
    }

    /// Weight of `role` (1.0 unless set).
    pub fn weight(&self, role: &str) -> f64 {
        self.roles.get(role).map_or(1.0, |r| r.weight)
    }

    /// cpus/mem/disk held by all frameworks in `role`.
    pub fn role_allocated(&self, role: &str) -> Quantities {
        self.roles
            .get(role)
            .map_or(Quantities::ZERO, |r| r.allocated)
    }

    /// The role's dominant share divided by its weight: the key of the role sorter.
    pub fn role_share(&self, role: &str) -> f64 {
        self.roles
            .get(role)
            .map_or(0.0, |r| r.allocated.dominant_share(&self.total) / r.weight)
    }

    /// The dominant share of what `framework` holds in `role`: the key of that role's
    /// framework sorter.
    pub fn framework_share(&self, framework: &FrameworkId, role: &str) -> f64 {
        self.framework(framework)
            .map_or(0.0, |f| f.allocated(role).dominant_share(&self.total))
    }

    /// When the decline filter of `framework` on `agent` expires, if one is set (expired
    /// filters not yet pruned are reported too; compare with `now`).
    pub fn filter_expiry(&self, framework: &FrameworkId, agent: &AgentId) -> Option<Instant> {
        let fw = self.frameworks.slot_of(framework)?;
        let agent = self.agents.by_key(agent)?;
        agent
            .filters
            .iter()
            .find(|(f, _)| *f == fw)
            .map(|&(_, expires)| expires)
    }
}
