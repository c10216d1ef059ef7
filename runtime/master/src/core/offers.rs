//! Allocation and the offers it produces: making offers, declines with filters,
//! rescinds (agent lost, scheduler gone, offer timeout), suppress and revive.
//!
//! The allocator itself is pure ([`crate::allocator`]); this file turns its decisions
//! into `Offers` events and keeps the master's per-agent `offered` accounting in step.

use super::{AgentStatus, Conn, MasterCore, OfferEntry};
use drover_proto::{AgentId, Filters, FrameworkId, Offer, OfferId, Resources, SchedulerEvent};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

impl MasterCore {
    /// Runs the allocator and sends the resulting offers, one `Offers` event per framework.
    pub(crate) fn allocate(&mut self, now: Instant) {
        self.allocated_last_tick = true;
        self.counters.allocations += 1;
        let allocations = self.allocator.allocate(&self.policy, now);
        if let Err(e) = self.allocator.apply(&allocations) {
            tracing::error!(error = %e, "allocator produced a stale plan; offers dropped");
            return;
        }
        let mut per_framework: BTreeMap<FrameworkId, Vec<Offer>> = BTreeMap::new();
        for a in allocations {
            let (Some(agent), Some(fw)) = (
                self.agents.get(&a.agent_id),
                self.frameworks.get(&a.framework_id),
            ) else {
                // The allocator and the master disagree: give the resources back.
                self.alloc_recover(&a.agent_id, &a.framework_id, &a.role, &a.resources);
                continue;
            };
            if agent.status != AgentStatus::Active || agent.conn.is_none() || fw.conn.is_none() {
                self.alloc_recover(&a.agent_id, &a.framework_id, &a.role, &a.resources);
                continue;
            }
            let mut executor_ids: Vec<_> = agent
                .executors
                .keys()
                .filter(|(fid, _)| *fid == a.framework_id)
                .map(|(_, eid)| eid.clone())
                .collect();
            executor_ids.sort();
            let offer = Offer {
                id: OfferId::new(String::new()),
                framework_id: a.framework_id.clone(),
                agent_id: a.agent_id.clone(),
                hostname: agent.info.hostname.clone(),
                allocation_role: a.role.clone(),
                resources: a.resources.clone(),
                attributes: agent.info.attributes.clone(),
                executor_ids,
            };
            per_framework.entry(a.framework_id).or_default().push(offer);
        }
        for (framework_id, mut offers) in per_framework {
            for offer in &mut offers {
                offer.id = OfferId::new(self.fresh_id("O"));
                if let Some(agent) = self.agents.get_mut(&offer.agent_id) {
                    agent.offered += &offer.resources;
                }
                if let Some(fw) = self.frameworks.get_mut(&framework_id) {
                    fw.offers.insert(offer.id.clone());
                }
                self.offers.insert(
                    offer.id.clone(),
                    OfferEntry {
                        offer: offer.clone(),
                        created: now,
                    },
                );
            }
            self.counters.offers_sent += offers.len() as u64;
            self.send_to_framework(&framework_id, SchedulerEvent::Offers { offers });
        }
    }

    /// Takes an offer out of the books; its resources are NOT returned to the allocator
    /// (the caller decides: used by tasks, or recovered).
    pub(crate) fn remove_offer(&mut self, offer_id: &OfferId) -> Option<Offer> {
        let entry = self.offers.remove(offer_id)?;
        let offer = entry.offer;
        if let Some(agent) = self.agents.get_mut(&offer.agent_id) {
            agent.offered -= &offer.resources;
        }
        if let Some(fw) = self.frameworks.get_mut(&offer.framework_id) {
            fw.offers.remove(offer_id);
        }
        Some(offer)
    }

    /// Returns unused offered resources to the pool, with a decline filter when asked.
    pub(crate) fn recover_resources(
        &mut self,
        now: Instant,
        agent_id: &AgentId,
        framework_id: &FrameworkId,
        role: &str,
        resources: &Resources,
        filters: Option<Filters>,
    ) {
        self.alloc_recover(agent_id, framework_id, role, resources);
        if let Some(f) = filters {
            if f.refuse_seconds.is_finite() && f.refuse_seconds > 0.0 {
                let secs = f.refuse_seconds.min(365.0 * 24.0 * 3600.0);
                self.alloc_filter(framework_id, agent_id, Duration::from_secs_f64(secs), now);
            }
        }
        self.request_allocation(now);
    }

    /// Rescinds one offer: the framework is told, resources go back to the pool.
    pub(crate) fn rescind_offer(&mut self, now: Instant, offer_id: &OfferId) {
        let Some(offer) = self.remove_offer(offer_id) else {
            return;
        };
        self.counters.offers_rescinded += 1;
        self.send_to_framework(
            &offer.framework_id,
            SchedulerEvent::Rescind {
                offer_id: offer_id.clone(),
            },
        );
        self.recover_resources(
            now,
            &offer.agent_id,
            &offer.framework_id,
            &offer.allocation_role,
            &offer.resources,
            None,
        );
    }

    pub(crate) fn rescind_agent_offers(&mut self, now: Instant, agent_id: &AgentId) {
        let mut ids: Vec<OfferId> = self
            .offers
            .iter()
            .filter(|(_, o)| o.offer.agent_id == *agent_id)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        for id in ids {
            self.rescind_offer(now, &id);
        }
    }

    pub(crate) fn rescind_framework_offers(&mut self, now: Instant, framework_id: &FrameworkId) {
        let mut ids: Vec<OfferId> = match self.frameworks.get(framework_id) {
            Some(fw) => fw.offers.iter().cloned().collect(),
            None => return,
        };
        ids.sort();
        for id in ids {
            self.rescind_offer(now, &id);
        }
    }

    pub(crate) fn decline(
        &mut self,
        now: Instant,
        conn: Conn,
        framework_id: &FrameworkId,
        offer_ids: Vec<OfferId>,
        filters: Filters,
    ) {
        for offer_id in offer_ids {
            match self.offers.get(&offer_id) {
                Some(e) if e.offer.framework_id == *framework_id => {}
                Some(_) => {
                    self.reject(
                        conn,
                        "DECLINE",
                        format!("offer {offer_id} belongs to another framework"),
                    );
                    continue;
                }
                None => {
                    // Already rescinded or used: nothing to return.
                    tracing::debug!(%offer_id, "decline of an unknown offer ignored");
                    continue;
                }
            }
            if let Some(offer) = self.remove_offer(&offer_id) {
                self.counters.offers_declined += 1;
                self.recover_resources(
                    now,
                    &offer.agent_id,
                    framework_id,
                    &offer.allocation_role,
                    &offer.resources,
                    Some(filters),
                );
            }
        }
    }

    pub(crate) fn revive(&mut self, now: Instant, framework_id: &FrameworkId, roles: Vec<String>) {
        let roles = self.roles_or_all(framework_id, roles);
        if let Err(e) = self.allocator.revive(framework_id, &roles) {
            tracing::warn!(error = %e, "revive refused");
        }
        self.request_allocation(now);
    }

    pub(crate) fn suppress(&mut self, framework_id: &FrameworkId, roles: Vec<String>) {
        let roles = self.roles_or_all(framework_id, roles);
        if let Err(e) = self.allocator.suppress(framework_id, &roles) {
            tracing::warn!(error = %e, "suppress refused");
        }
    }

    fn roles_or_all(&self, framework_id: &FrameworkId, roles: Vec<String>) -> Vec<String> {
        if roles.is_empty() {
            self.frameworks
                .get(framework_id)
                .map(|f| f.info.roles.clone())
                .unwrap_or_default()
        } else {
            roles
        }
    }

    pub(crate) fn next_offer_expiry(&self) -> Option<Instant> {
        let timeout = self.config.offer_timeout?;
        self.offers.values().map(|o| o.created + timeout).min()
    }

    pub(crate) fn tick_offer_timeouts(&mut self, now: Instant) {
        let Some(timeout) = self.config.offer_timeout else {
            return;
        };
        let mut expired: Vec<OfferId> = self
            .offers
            .iter()
            .filter(|(_, o)| o.created + timeout <= now)
            .map(|(id, _)| id.clone())
            .collect();
        expired.sort();
        for id in expired {
            tracing::info!(offer_id = %id, "offer timed out; rescinding");
            self.rescind_offer(now, &id);
        }
    }
}
