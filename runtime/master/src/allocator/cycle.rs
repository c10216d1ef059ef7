//! One allocation cycle: `allocate(&Snapshot, &Policy, now) -> Vec<Allocation>`.
//!
//! ```text
//!  for each active agent (registration order, or shuffled by seed):
//!    skip if nothing meets the minimum, or every eligible framework filtered it
//!    pass 1  for each role R with resources reserved to it on the agent:
//!              first framework in R's sorter without a filter on the agent
//!              gets reserved(R)                          → charge, re-sort
//!    pass 2  roles in weighted-DRF order, frameworks in DRF order within the role:
//!              the first one without a filter gets all unreserved resources
//!              (plus reserved(R) if pass 1 left it)     → charge, re-sort
//!    emit one Allocation per (framework, role) that got something
//! ```
//!
//! Clients are `(framework, role)` pairs of active frameworks, in every role they are
//! subscribed to and not suppressed in. Shares are charged as the cycle goes, so the next
//! agent sees the updated order and allocations converge to DRF within one cycle.

use std::time::Instant;

use super::drf::{Key, Sorter};
use super::policy::{AgentOrder, Policy};
use super::quantities::{scalar_in, Quantities};
use super::snapshot::{AgentView, Snapshot};
use super::Allocation;

/// Agents with more filters than this get a bitset for the visit instead of a scan.
const LINEAR_FILTERS: usize = 8;

/// Runs one allocation cycle over `snapshot` and returns the offers to make: for each
/// agent, at most one allocation per (framework, role). Pure: the same inputs give the
/// same output. `now` decides which decline filters are still in force.
pub fn allocate(snapshot: &Snapshot, policy: &Policy, now: Instant) -> Vec<Allocation> {
    let mut cycle = Cycle::new(snapshot, policy, now);
    if cycle.clients.is_empty() {
        return Vec::new();
    }
    // At most one offer per agent plus one per reservation: sized once, never moved.
    let mut out = Vec::with_capacity(snapshot.agents.len() + cycle.reserved_agents());
    match policy.agent_order {
        AgentOrder::Registration => {
            for (_, agent) in snapshot.agents.iter() {
                cycle.visit(agent, &mut out);
            }
        }
        AgentOrder::Shuffled { seed } => {
            let mut order: Vec<u32> = snapshot.agents.iter().map(|(slot, _)| slot).collect();
            shuffle(&mut order, seed);
            for slot in order {
                if let Some(agent) = snapshot.agents.get(slot) {
                    cycle.visit(agent, &mut out);
                }
            }
        }
    }
    out
}

/// A `(framework, role)` pair in a role's sorter.
struct Client {
    fw: u32,
    role: u32,
    alloc: Quantities,
    key: Key,
}

/// A role during the cycle.
struct RoleWork {
    weight: f64,
    alloc: Quantities,
    clients: Sorter,
    key: Key,
}

/// What one client gets on the agent being visited.
struct Pending {
    client: u32,
    reserved: bool,
    unreserved: bool,
}

struct Cycle<'a> {
    snap: &'a Snapshot,
    policy: &'a Policy,
    now: Instant,
    roles: Vec<RoleWork>,
    role_sorter: Sorter,
    clients: Vec<Client>,
    /// By framework slot: has at least one client this cycle.
    eligible: Vec<bool>,
    eligible_count: usize,
    /// By framework slot, for agents with many filters: filtered on the current agent.
    filter_bits: Vec<u64>,
    pending: Vec<Pending>,
    taken: Vec<u32>,
}

impl<'a> Cycle<'a> {
    fn new(snap: &'a Snapshot, policy: &'a Policy, now: Instant) -> Cycle<'a> {
        let total = snap.total;
        let views = &snap.roles.views;
        let mut by_name: Vec<u32> = (0..views.len() as u32).collect();
        by_name.sort_by(|&a, &b| views[a as usize].name.cmp(&views[b as usize].name));
        let mut role_rank = vec![0_u32; views.len()];
        for (rank, &slot) in by_name.iter().enumerate() {
            role_rank[slot as usize] = rank as u32;
        }
        let mut roles: Vec<RoleWork> = views
            .iter()
            .enumerate()
            .map(|(slot, v)| RoleWork {
                weight: v.weight,
                alloc: v.allocated,
                clients: Sorter::default(),
                key: Key::new(
                    v.allocated.dominant_share(&total) / v.weight,
                    role_rank[slot],
                    slot as u32,
                ),
            })
            .collect();

        let mut active: Vec<_> = snap.frameworks.iter().filter(|(_, f)| f.active).collect();
        active.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        let capacity = snap.frameworks.capacity();
        let mut eligible = vec![false; capacity];
        let mut eligible_count = 0;
        let mut clients = Vec::new();
        for (rank, (slot, fw)) in active.into_iter().enumerate() {
            for entry in fw.roles.iter().filter(|r| r.subscribed && !r.suppressed) {
                let id = clients.len() as u32;
                let key = Key::new(entry.allocated.dominant_share(&total), rank as u32, id);
                roles[entry.role as usize].clients.insert(key);
                clients.push(Client {
                    fw: slot,
                    role: entry.role,
                    alloc: entry.allocated,
                    key,
                });
                if !eligible[slot as usize] {
                    eligible[slot as usize] = true;
                    eligible_count += 1;
                }
            }
        }
        let mut role_sorter = Sorter::default();
        for role in roles.iter().filter(|r| !r.clients.is_empty()) {
            role_sorter.insert(role.key);
        }
        Cycle {
            snap,
            policy,
            now,
            roles,
            role_sorter,
            clients,
            eligible,
            eligible_count,
            filter_bits: vec![0; capacity.div_ceil(64)],
            pending: Vec::new(),
            taken: Vec::new(),
        }
    }

    /// Offers what `agent` has available, appending to `out`.
    fn visit(&mut self, agent: &'a AgentView, out: &mut Vec<Allocation>) {
        let summary = &agent.summary;
        if !agent.active || summary.is_empty() {
            return;
        }
        let min = &self.policy.min_allocatable;
        let avail = &agent.available;
        if summary.reserved.is_empty()
            && !min.is_met(&summary.unreserved, true, |n| {
                scalar_in(avail, n, true, None)
            })
        {
            return;
        }
        let bits = agent.filters.len() > LINEAR_FILTERS;
        let mut filtered = 0;
        for &(fw, expires) in &agent.filters {
            if expires > self.now && self.eligible[fw as usize] {
                filtered += 1;
                if bits {
                    self.filter_bits[fw as usize / 64] |= 1 << (fw % 64);
                }
            }
        }
        if filtered < self.eligible_count {
            self.reserved_pass(agent, bits);
            self.unreserved_pass(agent, bits);
            self.emit(agent, out);
        }
        if bits {
            for &(fw, _) in &agent.filters {
                self.filter_bits[fw as usize / 64] = 0;
            }
        }
    }

    /// Pass 1: each role's reservations to the first unfiltered framework of the role.
    fn reserved_pass(&mut self, agent: &AgentView, bits: bool) {
        for &(role, q) in &agent.summary.reserved {
            let name = self.snap.roles.views[role as usize].name.as_str();
            let met = self.policy.min_allocatable.is_met(&q, true, |n| {
                scalar_in(&agent.available, n, false, Some(name))
            });
            if !met {
                continue;
            }
            let winner = self.roles[role as usize]
                .clients
                .iter()
                .find(|&c| !self.is_filtered(agent, bits, self.clients[c as usize].fw));
            if let Some(client) = winner {
                self.pending.push(Pending {
                    client,
                    reserved: true,
                    unreserved: false,
                });
                self.taken.push(role);
                self.charge(client, &q);
            }
        }
    }

    /// Pass 2: all unreserved resources to the first unfiltered client in DRF order.
    fn unreserved_pass(&mut self, agent: &AgentView, bits: bool) {
        let summary = &agent.summary;
        if !summary.unreserved_nonempty {
            return;
        }
        let mut winner = None;
        'roles: for role in self.role_sorter.iter() {
            let left = if self.taken.contains(&role) {
                None
            } else {
                summary
                    .reserved
                    .iter()
                    .find(|(r, _)| *r == role)
                    .map(|(_, q)| *q)
            };
            let offer = summary.unreserved.plus(&left.unwrap_or(Quantities::ZERO));
            let name = self.snap.roles.views[role as usize].name.as_str();
            let met = self.policy.min_allocatable.is_met(&offer, true, |n| {
                scalar_in(&agent.available, n, true, left.map(|_| name))
            });
            if !met {
                continue;
            }
            for client in self.roles[role as usize].clients.iter() {
                if !self.is_filtered(agent, bits, self.clients[client as usize].fw) {
                    winner = Some((client, left.is_some(), offer));
                    break 'roles;
                }
            }
        }
        let Some((client, with_reserved, offer)) = winner else {
            return;
        };
        match self.pending.iter_mut().find(|p| p.client == client) {
            Some(p) => p.unreserved = true,
            None => self.pending.push(Pending {
                client,
                reserved: with_reserved,
                unreserved: true,
            }),
        }
        self.charge(client, &offer);
    }

    /// Turns the pending grants on `agent` into allocations.
    fn emit(&mut self, agent: &AgentView, out: &mut Vec<Allocation>) {
        for p in self.pending.drain(..) {
            let client = &self.clients[p.client as usize];
            let role = self.snap.roles.views[client.role as usize].name.as_str();
            let available = &agent.available;
            let resources = match (p.unreserved, p.reserved) {
                (true, _) if agent.summary.reserved.is_empty() => available.clone(),
                (true, true) => available.allocatable_to(role),
                (true, false) => available.unreserved(),
                (false, _) => available.reserved(role),
            };
            if let Some(fw) = self.snap.frameworks.get(client.fw) {
                out.push(Allocation {
                    framework_id: fw.id.clone(),
                    role: role.to_owned(),
                    agent_id: agent.id.clone(),
                    resources,
                });
            }
        }
        self.taken.clear();
    }

    /// Upper bound on the extra offers reservations can add: one per reserved role per
    /// agent.
    fn reserved_agents(&self) -> usize {
        self.snap
            .agents
            .iter()
            .map(|(_, a)| a.summary.reserved.len())
            .sum()
    }

    /// True if framework slot `fw` has a decline filter in force on `agent`.
    fn is_filtered(&self, agent: &AgentView, bits: bool, fw: u32) -> bool {
        if bits {
            self.filter_bits[fw as usize / 64] & (1 << (fw % 64)) != 0
        } else {
            agent
                .filters
                .iter()
                .any(|&(f, expires)| f == fw && expires > self.now)
        }
    }

    /// Adds `q` to a client and its role, and re-sorts both.
    fn charge(&mut self, client: u32, q: &Quantities) {
        let snap = self.snap;
        let total = &snap.total;
        let c = &mut self.clients[client as usize];
        c.alloc.add(q);
        let key = c.key.with_share(c.alloc.dominant_share(total));
        let role = &mut self.roles[c.role as usize];
        role.clients.update(c.key, key);
        c.key = key;
        role.alloc.add(q);
        let role_key = role
            .key
            .with_share(role.alloc.dominant_share(total) / role.weight);
        self.role_sorter.update(role.key, role_key);
        role.key = role_key;
    }
}

/// Fisher–Yates shuffle driven by SplitMix64: deterministic for a seed, no dependency.
fn shuffle(items: &mut [u32], seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
