//! The master's registry: what must survive a master restart, as a deterministic state
//! machine fed by a log of operations.
//!
//! ```text
//!  MasterCore ──Command::Persist(op)──▶ shell ──▶ RegistryWriter (own thread)
//!                                                    │ append op (ordered, batched)
//!                                                    ▼
//!                                        <work_dir>/registry.redb
//!                                        ├── log:  index → op          (since snapshot)
//!                                        └── meta: snapshot + its index (compaction)
//!  restart: RegistryStore::open ─▶ snapshot + replay(log) ─▶ Registry ─▶ MasterCore::recover
//! ```
//!
//! The registry is small on purpose (Mesos's design): admitted, unreachable and removed
//! agents, frameworks with their info (and so their failover timeouts), removed
//! frameworks and role weights. Task state is *not* here: it lives on the agents and is
//! rebuilt when they re-register.
//!
//! [`Registry::apply`] is pure and total: the same sequence of [`RegistryOp`]s always
//! gives the same state, and an op about an unknown id is a no-op, never an error. That
//! is what lets the log be replicated later with Raft (openraft) as a *change of
//! transport only*: the leader's core still emits `Persist(op)`, the op becomes a Raft
//! log entry instead of a local redb append, and every replica applies the committed
//! entries to its own [`Registry`] in log order; snapshots are [`Registry`] values.

mod store;
mod writer;

pub use store::{RegistryStore, StoreError, COMPACT_EVERY};
pub use writer::{RegistryFlusher, RegistryLog, RegistryWriter};

use drover_proto::{AgentId, AgentInfo, FrameworkId, FrameworkInfo};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// File name of the registry in the master's work dir.
pub const REGISTRY_FILE: &str = "registry.redb";

/// One change of the registry. Each variant says who emits it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RegistryOp {
    /// An agent registered or re-registered (upsert of its info; it is reachable).
    AdmitAgent {
        /// The agent's info, with its id set.
        info: AgentInfo,
    },
    /// The agent missed too many pings, or did not re-register after a master restart.
    MarkUnreachable {
        /// The agent.
        id: AgentId,
        /// When (seconds since the Unix epoch), to resume its removal timer after a restart.
        at_unix: f64,
    },
    /// An unreachable agent came back without changing its info.
    MarkReachable {
        /// The agent.
        id: AgentId,
    },
    /// The agent was removed (unreachable past the removal timeout): never re-admitted.
    RemoveAgent {
        /// The agent.
        id: AgentId,
    },
    /// A framework subscribed for the first time (or was learned from an agent).
    AddFramework {
        /// Its info, with its id set.
        info: FrameworkInfo,
    },
    /// A framework re-subscribed with a changed info (e.g. a new failover timeout).
    UpdateFramework {
        /// Its info, with its id set.
        info: FrameworkInfo,
    },
    /// The framework was torn down or its failover timeout expired: never re-admitted.
    RemoveFramework {
        /// The framework.
        id: FrameworkId,
    },
    /// A role's weight was set.
    SetWeight {
        /// The role.
        role: String,
        /// Its weight (positive).
        weight: f64,
    },
}

/// An agent the registry knows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegisteredAgent {
    /// Its info as last admitted.
    pub info: AgentInfo,
    /// `Some(when)` (seconds since the Unix epoch) while it is unreachable.
    pub unreachable_since: Option<f64>,
}

/// The registry's state. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// Admitted (reachable or unreachable) agents.
    pub agents: BTreeMap<AgentId, RegisteredAgent>,
    /// Removed agents: their ids are refused forever.
    pub removed_agents: BTreeSet<AgentId>,
    /// Known frameworks.
    pub frameworks: BTreeMap<FrameworkId, FrameworkInfo>,
    /// Removed frameworks: their ids are refused forever.
    pub removed_frameworks: BTreeSet<FrameworkId>,
    /// Role weights.
    pub weights: BTreeMap<String, f64>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state after applying `ops` in order to an empty registry.
    pub fn replay<'a>(ops: impl IntoIterator<Item = &'a RegistryOp>) -> Self {
        let mut r = Self::new();
        for op in ops {
            r.apply(op.clone());
        }
        r
    }

    /// Applies one operation. Pure and total: ops about unknown or removed ids are
    /// ignored, so replaying any log (or a log after a snapshot) is deterministic.
    pub fn apply(&mut self, op: RegistryOp) {
        match op {
            RegistryOp::AdmitAgent { info } => {
                let Some(id) = info.id.clone() else {
                    return;
                };
                if self.removed_agents.contains(&id) {
                    return;
                }
                self.agents.insert(
                    id,
                    RegisteredAgent {
                        info,
                        unreachable_since: None,
                    },
                );
            }
            RegistryOp::MarkUnreachable { id, at_unix } => {
                if let Some(a) = self.agents.get_mut(&id) {
                    if a.unreachable_since.is_none() {
                        a.unreachable_since = Some(at_unix);
                    }
                }
            }
            RegistryOp::MarkReachable { id } => {
                if let Some(a) = self.agents.get_mut(&id) {
                    a.unreachable_since = None;
                }
            }
            RegistryOp::RemoveAgent { id } => {
                self.agents.remove(&id);
                self.removed_agents.insert(id);
            }
            RegistryOp::AddFramework { info } | RegistryOp::UpdateFramework { info } => {
                let Some(id) = info.id.clone() else {
                    return;
                };
                if !self.removed_frameworks.contains(&id) {
                    self.frameworks.insert(id, info);
                }
            }
            RegistryOp::RemoveFramework { id } => {
                self.frameworks.remove(&id);
                self.removed_frameworks.insert(id);
            }
            RegistryOp::SetWeight { role, weight } => {
                if weight.is_finite() && weight > 0.0 {
                    self.weights.insert(role, weight);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
