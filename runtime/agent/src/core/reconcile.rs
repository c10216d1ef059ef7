//! `ReconcileTasks` (Mesos `Slave::reconcileTasks`): the master names tasks it believes
//! are here; each one the agent does not know gets a terminal status update, so that a
//! lost `RunTask` does not leave a task STAGING forever.
//!
//! ```text
//!  ReconcileTasks{framework, task_ids} ─▶ per task:
//!      known (task, queued, or updates pending) ─▶ nothing: its own updates flow
//!      unknown ─▶ TASK_DROPPED (partition-aware) / TASK_LOST, REASON_RECONCILIATION,
//!                 through the status update manager (resent until acknowledged)
//! ```

use super::AgentCore;
use drover_proto::{
    FrameworkCapability, FrameworkId, FrameworkInfo, TaskId, TaskState, TaskStatusReason,
};
use std::time::Instant;

impl AgentCore {
    pub(super) fn reconcile_tasks(
        &mut self,
        now: Instant,
        framework: FrameworkInfo,
        task_ids: Vec<TaskId>,
    ) {
        let Some(fid) = framework.id.clone() else {
            tracing::warn!("ReconcileTasks without a framework id: ignored");
            return;
        };
        if self.is_refused() {
            return;
        }
        let state = if framework.has(FrameworkCapability::PartitionAware) {
            TaskState::Dropped
        } else {
            TaskState::Lost
        };
        for tid in task_ids {
            if self.knows_task(&fid, &tid) {
                continue;
            }
            tracing::info!(framework = %fid, task = %tid, state = state.as_str(), "reconciliation: task unknown to this agent");
            let msg = "Reconciliation: task unknown to the agent".to_owned();
            let reason = Some(TaskStatusReason::Reconciliation);
            self.agent_update(now, &fid, &tid, None, state, reason, msg);
        }
    }

    /// Whether the agent has the task (running, queued, or ended with updates not yet
    /// acknowledged, which includes an earlier answer to a reconciliation).
    fn knows_task(&self, fid: &FrameworkId, tid: &TaskId) -> bool {
        let has_task = self
            .frameworks
            .get(fid)
            .is_some_and(|f| f.task_executor.contains_key(tid));
        has_task || self.sum.stream(fid, tid).is_some()
    }
}
