//! Master restart: the core rebuilt from the [`Registry`], agents given time to
//! re-register, and answers to reconciliation about tasks the master does not know.
//!
//! ```text
//!  registry ─▶ recover(now) ─┬─ agents: Recovering (no conn, not in the allocator)
//!                            │     re-registers within agent_reregister_timeout ─▶ Active,
//!                            │         tasks rebuilt from its reports
//!                            │     else ─▶ Unreachable (removal timer starts)
//!                            ├─ unreachable agents: Unreachable, removal timer resumed
//!                            ├─ removed agents / frameworks: refused forever
//!                            └─ frameworks: disconnected, failover timer restarted
//!                                  (at least agent_reregister_timeout)
//! ```
//!
//! Task state is not in the registry: a task the master does not know is answered in
//! reconciliation by what the master knows of its agent (Mesos's rules): no answer while
//! the agent may still re-register, UNREACHABLE/GONE for an unreachable/removed agent
//! (LOST for frameworks that are not partition-aware), UNKNOWN otherwise.

use super::{AgentState, AgentStatus, MasterCore};
use crate::registry::Registry;
use drover_proto::{
    AgentId, FrameworkCapability, FrameworkId, ReconcileTask, TaskState, TaskStatus,
    TaskStatusReason,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

impl MasterCore {
    /// Loads what the registry remembers into a fresh core, at start-up. `unix_now` is
    /// the wall clock (seconds since the Unix epoch) matching `now`, used to resume the
    /// removal timers of agents that were already unreachable.
    pub fn recover(&mut self, now: Instant, unix_now: f64, registry: &Registry) {
        self.unix_now = unix_now;
        for (role, weight) in &registry.weights {
            if self.config.weights.contains_key(role) {
                continue; // a flag overrides what the registry remembers
            }
            if let Err(e) = self.allocator.set_weight(role, *weight) {
                tracing::error!(error = %e, %role, "ignoring recovered role weight");
            }
        }
        self.removed_agents
            .extend(registry.removed_agents.iter().cloned());
        self.removed_frameworks
            .extend(registry.removed_frameworks.iter().cloned());
        let mut recovering = 0;
        for (id, a) in &registry.agents {
            let unreachable_since = a.unreachable_since.map(|at| {
                let ago = (unix_now - at).max(0.0);
                now.checked_sub(Duration::from_secs_f64(ago.min(1e9)))
                    .unwrap_or(now)
            });
            let status = if unreachable_since.is_some() {
                AgentStatus::Unreachable
            } else {
                recovering += 1;
                AgentStatus::Recovering
            };
            self.agents.insert(
                id.clone(),
                AgentState {
                    info: a.info.clone(),
                    conn: None,
                    status,
                    used: Default::default(),
                    offered: Default::default(),
                    tasks: HashSet::new(),
                    executors: HashMap::new(),
                    missed_pings: 0,
                    last_heard: None,
                    unreachable_since,
                    in_allocator: false,
                },
            );
        }
        let grace = self.config.agent_reregister_timeout;
        for info in registry.frameworks.values() {
            self.restore_framework(now, info.clone(), grace);
        }
        if recovering > 0 {
            self.reregister_deadline = Some(now + grace);
        }
        self.refresh_earliest_unreachable();
        tracing::info!(
            agents = registry.agents.len(),
            recovering,
            frameworks = registry.frameworks.len(),
            removed_agents = registry.removed_agents.len(),
            "master state recovered from the registry"
        );
    }

    /// Agents that have not re-registered by the deadline become unreachable.
    pub(crate) fn tick_recovery(&mut self, now: Instant) {
        if self.reregister_deadline.is_none_or(|t| t > now) {
            return;
        }
        self.reregister_deadline = None;
        let mut late: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.status == AgentStatus::Recovering)
            .map(|(id, _)| id.clone())
            .collect();
        late.sort();
        for id in late {
            tracing::warn!(agent_id = %id, "agent did not re-register after the master restart");
            self.mark_unreachable(now, &id);
        }
    }

    /// Whether agents known from the registry may still re-register.
    pub fn is_recovering(&self) -> bool {
        self.reregister_deadline.is_some()
    }

    /// The answer to an explicit reconciliation of a task the master does not know, or
    /// `None` while its agent (or, without an agent id, any agent) may still re-register.
    pub(crate) fn unknown_task_answer(
        &self,
        framework_id: &FrameworkId,
        rt: &ReconcileTask,
    ) -> Option<TaskStatus> {
        let aware = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.info.has(FrameworkCapability::PartitionAware));
        let pick = |s: TaskState| if aware { s } else { TaskState::Lost };
        let task = &rt.task_id;
        let (state, message) = match &rt.agent_id {
            Some(a) if self.removed_agents.contains(a) => (
                pick(TaskState::Gone),
                format!("task {task}: agent {a} was removed"),
            ),
            Some(a) => match self.agents.get(a).map(|s| s.status) {
                Some(AgentStatus::Recovering) => return None,
                Some(AgentStatus::Unreachable) => (
                    pick(TaskState::Unreachable),
                    format!("task {task}: agent {a} is unreachable"),
                ),
                Some(AgentStatus::Active) | None => (
                    pick(TaskState::Unknown),
                    format!("task {task} is unknown to the master"),
                ),
            },
            None if self
                .agents
                .values()
                .any(|s| s.status == AgentStatus::Recovering) =>
            {
                return None
            }
            None => (
                pick(TaskState::Unknown),
                format!("task {task} is unknown to the master"),
            ),
        };
        Some(self.master_status(
            task.clone(),
            state,
            TaskStatusReason::Reconciliation,
            message,
            rt.agent_id.clone(),
        ))
    }
}
