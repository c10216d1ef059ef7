//! Containerizers that come and go at runtime (the Docker engine stopping and starting
//! again): the agent stops advertising an unavailable containerizer, fails the tasks
//! that ask for it with a reason naming it, and advertises it again once it is back.
//!
//! ```text
//!  shell probe (e.g. docker ping) ─▶ Input::ContainerizerAvailability{kind, unavailable}
//!     changed? ─▶ settings.containerizers = configured − unavailable (order kept)
//!              ─▶ AgentInfo.containerizers + `containerizers` attribute rewritten
//!              ─▶ registered: Reregister with the new AgentInfo (the master replaces
//!                 its copy, so offers and /state show the change)
//!  RunTask asking for an unavailable one ─▶ TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED
//!     (as Mesos fails a launch its containerizer cannot make), "the docker
//!     containerizer of this agent is unavailable: <why>"
//! ```

use super::registration::RegState;
use super::AgentCore;
use crate::containerizer_kind::ContainerizerKind;
use drover_proto::{AttributeValue, ContainerType};
use std::collections::BTreeMap;
use std::time::Instant;

/// Name of the attribute listing the agent's usable containerizers.
pub(crate) const CONTAINERIZERS_ATTRIBUTE: &str = "containerizers";

/// Configured containerizers and those unavailable now.
#[derive(Clone, Debug, Default)]
pub(crate) struct Availability {
    /// As configured, in order of preference.
    configured: Vec<ContainerizerKind>,
    /// Unavailable ones, with why.
    unavailable: BTreeMap<ContainerizerKind, String>,
    /// The `containerizers` attribute is ours to rewrite (the operator did not set it).
    owns_attribute: bool,
}

impl Availability {
    /// Everything in `settings` available; the `containerizers` attribute is the
    /// agent's own when it lists exactly the configured containerizers.
    pub(crate) fn new(settings: &super::CoreSettings) -> Self {
        let generated = ContainerizerKind::join(&settings.containerizers);
        let owns_attribute = settings.agent.attributes.iter().any(|a| {
            a.name == CONTAINERIZERS_ATTRIBUTE
                && matches!(&a.value, AttributeValue::Text(t) if *t == generated)
        });
        Self {
            configured: settings.containerizers.clone(),
            unavailable: BTreeMap::new(),
            owns_attribute,
        }
    }

    /// Unavailable containerizers and why (for `/state`).
    pub(crate) fn unavailable(&self) -> &BTreeMap<ContainerizerKind, String> {
        &self.unavailable
    }
}

impl AgentCore {
    /// A probe says whether `kind` can run containers now (`unavailable: None`) or not.
    pub(super) fn containerizer_availability(
        &mut self,
        now: Instant,
        kind: ContainerizerKind,
        unavailable: Option<String>,
    ) {
        if !self.availability.configured.contains(&kind) {
            return;
        }
        let changed = match unavailable {
            Some(why) => {
                let was_available = !self.availability.unavailable.contains_key(&kind);
                if was_available {
                    tracing::warn!(containerizer = %kind, reason = %why,
                        "containerizer UNAVAILABLE: no longer advertised; tasks asking for it fail until it is back");
                }
                self.availability.unavailable.insert(kind, why);
                was_available
            }
            None => {
                let was_unavailable = self.availability.unavailable.remove(&kind).is_some();
                if was_unavailable {
                    tracing::info!(containerizer = %kind, "containerizer available again: advertised");
                }
                was_unavailable
            }
        };
        if !changed {
            return;
        }
        let usable: Vec<ContainerizerKind> = self
            .availability
            .configured
            .iter()
            .filter(|k| !self.availability.unavailable.contains_key(k))
            .copied()
            .collect();
        self.settings.agent.containerizers = usable.iter().map(|k| k.as_str().to_owned()).collect();
        if self.availability.owns_attribute {
            let names = ContainerizerKind::join(&usable);
            for a in &mut self.settings.agent.attributes {
                if a.name == CONTAINERIZERS_ATTRIBUTE {
                    a.value = AttributeValue::Text(names.clone());
                }
            }
        }
        self.settings.containerizers = usable;
        // The master learns the new AgentInfo by a re-registration; before the first
        // registration, that one carries it.
        if self.reg.state == RegState::Registered {
            self.reregister_now(now);
        }
    }

    /// Why a task asking for container type `wanted` cannot run because the
    /// containerizer serving it is unavailable right now (`None`: that is not the case).
    pub(super) fn unavailable_for(&self, wanted: Option<ContainerType>) -> Option<String> {
        let t = wanted?;
        let serving = ContainerizerKind::serving(t);
        if serving
            .iter()
            .any(|k| self.settings.containerizers.contains(k))
        {
            return None;
        }
        serving.iter().find_map(|k| {
            self.availability
                .unavailable
                .get(k)
                .map(|why| format!("the {k} containerizer of this agent is unavailable: {why}"))
        })
    }
}
