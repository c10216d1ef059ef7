//! Unreachable and removed agents.
//!
//! ```text
//!  Active ──max_agent_ping_timeouts missed──▶ Unreachable ──agent_removal_timeout──▶ removed
//!    ▲                                          │ offers rescinded, out of the allocator,
//!    └──────────── re-registers ────────────────┘ tasks UNREACHABLE (partition-aware) / LOST
//! ```
//!
//! A removed agent's tasks become `TASK_GONE` for partition-aware frameworks, and its id
//! is refused for good (the registry remembers it across restarts).

use super::{AgentStatus, Command, MasterCore};
use crate::registry::RegistryOp;
use drover_proto::{
    AgentId, FrameworkCapability, TaskState, TaskStatus, TaskStatusReason, TaskStatusSource,
};
use std::collections::HashSet;
use std::time::Instant;

impl MasterCore {
    /// Declares an agent unreachable: offers rescinded, resources out of the allocator,
    /// its tasks reported UNREACHABLE (partition-aware) or LOST.
    pub(crate) fn mark_unreachable(&mut self, now: Instant, agent_id: &AgentId) {
        tracing::warn!(%agent_id, "agent unreachable");
        self.rescind_agent_offers(now, agent_id);
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if agent.in_allocator {
            agent.in_allocator = false;
            self.alloc_remove_agent(agent_id);
        }
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        agent.status = AgentStatus::Unreachable;
        agent.unreachable_since = Some(now);
        self.note_unreachable(now);
        let at_unix = self.unix_now;
        self.out.push(Command::Persist(RegistryOp::MarkUnreachable {
            id: agent_id.clone(),
            at_unix,
        }));
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let mut tasks: Vec<_> = agent.tasks.iter().cloned().collect();
        tasks.sort();
        let mut failures = HashSet::new();
        for (fid, tid) in tasks {
            let Some(fw) = self.frameworks.get_mut(&fid) else {
                continue;
            };
            let aware = fw.info.has(FrameworkCapability::PartitionAware);
            let Some(entry) = fw.tasks.get_mut(&tid) else {
                continue;
            };
            if entry.status.state.is_terminal() {
                continue;
            }
            let state = if aware {
                TaskState::Unreachable
            } else {
                TaskState::Lost
            };
            let mut status = TaskStatus::new(tid.clone(), state, TaskStatusSource::Master)
                .with_reason(TaskStatusReason::AgentUnreachable)
                .with_message(format!("agent {agent_id} is unreachable"));
            status.agent_id = Some(agent_id.clone());
            status.executor_id = Some(entry.executor_id.clone());
            status.timestamp = self.unix_now;
            entry.status = status.clone();
            failures.insert(fid.clone());
            self.send_to_framework(&fid, drover_proto::SchedulerEvent::Update { status });
        }
        let mut failures: Vec<_> = failures.into_iter().collect();
        failures.sort();
        for fid in failures {
            self.send_to_framework(
                &fid,
                drover_proto::SchedulerEvent::Failure {
                    agent_id: Some(agent_id.clone()),
                    executor_id: None,
                    status: None,
                },
            );
        }
    }

    pub(crate) fn next_agent_removal(&self) -> Option<Instant> {
        self.earliest_unreachable
            .map(|t| t + self.config.agent_removal_timeout)
    }

    /// Records that an agent became unreachable at `at` (keeps the lower bound).
    pub(crate) fn note_unreachable(&mut self, at: Instant) {
        self.earliest_unreachable = Some(self.earliest_unreachable.map_or(at, |t| t.min(at)));
    }

    /// Recomputes the earliest `unreachable_since` exactly (a scan; on ticks only).
    pub(crate) fn refresh_earliest_unreachable(&mut self) {
        self.earliest_unreachable = self
            .agents
            .values()
            .filter_map(|a| a.unreachable_since)
            .min();
    }

    /// Removes agents unreachable for longer than the removal timeout: their tasks become
    /// `TASK_GONE` for partition-aware frameworks and their id is never re-admitted.
    pub(crate) fn tick_agent_removals(&mut self, now: Instant) {
        let timeout = self.config.agent_removal_timeout;
        let mut expired: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.unreachable_since.is_some_and(|t| t + timeout <= now))
            .map(|(id, _)| id.clone())
            .collect();
        expired.sort();
        for agent_id in expired {
            let Some(agent) = self.agents.remove(&agent_id) else {
                continue;
            };
            tracing::warn!(%agent_id, "unreachable agent removed");
            self.removed_agents.insert(agent_id.clone());
            self.persist(RegistryOp::RemoveAgent {
                id: agent_id.clone(),
            });
            let mut tasks: Vec<_> = agent.tasks.into_iter().collect();
            tasks.sort();
            for (fid, tid) in tasks {
                let Some(fw) = self.frameworks.get_mut(&fid) else {
                    continue;
                };
                let aware = fw.info.has(FrameworkCapability::PartitionAware);
                let Some(mut entry) = fw.tasks.remove(&tid) else {
                    continue;
                };
                if !aware || entry.status.state.is_terminal() {
                    self.counters.task_completed(entry.status.state);
                    fw.completed.push(entry);
                    continue;
                }
                let mut status = TaskStatus::new(tid, TaskState::Gone, TaskStatusSource::Master)
                    .with_reason(TaskStatusReason::AgentRemoved)
                    .with_message(format!("agent {agent_id} was removed"));
                status.agent_id = Some(agent_id.clone());
                status.executor_id = Some(entry.executor_id.clone());
                status.timestamp = self.unix_now;
                entry.status = status.clone();
                self.counters.task_completed(entry.status.state);
                fw.completed.push(entry);
                self.send_to_framework(&fid, drover_proto::SchedulerEvent::Update { status });
            }
        }
    }
}
