//! Bookkeeping every concern shares: recording a task's new status (and handing it to
//! the status update manager), filling in the ids of a status, and forgetting tasks,
//! executors and frameworks once nothing of them is left to report.

use super::state::{self, CompletedTask};
use super::{io, AgentCore};
use drover_proto::{
    AgentToMaster, ExecutorId, FrameworkId, TaskId, TaskState, TaskStatus, TaskStatusReason,
    TaskStatusSource,
};
use std::time::Instant;

impl AgentCore {
    /// Turns the messages the status update manager wrote into `scratch` into commands,
    /// leaving `scratch` empty (and keeping its capacity) for the next call.
    pub(super) fn send_updates(&mut self, scratch: &mut Vec<AgentToMaster>) {
        self.counters.status_updates_sent += scratch.len() as u64;
        self.out.extend(scratch.drain(..).map(io::to_master));
    }

    /// Records a task's new status (from its executor or the agent) and hands it to the
    /// status update manager. Updates of a framework that is shutting down are not
    /// forwarded; its terminal tasks are dropped at once.
    pub(super) fn record_update(
        &mut self,
        now: Instant,
        framework_id: &FrameworkId,
        status: TaskStatus,
    ) {
        let fw = self.frameworks.get(framework_id);
        if fw.is_some_and(|f| f.shutting_down) {
            self.set_task_state(framework_id, &status.task_id, status.state, true);
            if status.state.is_terminal() {
                self.remove_task(framework_id, &status.task_id);
            }
            return;
        }
        let fresh = self.new_uuid();
        let (task_id, state) = (status.task_id.clone(), status.state);
        // The executor keeps a non-terminal update until the framework acknowledges
        // it and hands it over again when it re-subscribes: while it lives it is the
        // update's durable copy, so the agent forwards it without waiting for the disk
        // (see `checkpoint`). The agent's own updates, and terminal ones (after which
        // the executor may exit), are durable before they leave.
        let durable = status.source != TaskStatusSource::Executor || state.is_terminal();
        let mut msgs = std::mem::take(&mut self.scratch);
        let outcome = self.sum.update(now, framework_id, status, fresh, &mut msgs);
        self.send_updates(&mut msgs);
        self.scratch = msgs;
        if outcome == super::status_updates::UpdateOutcome::Queued {
            self.set_task_state(framework_id, &task_id, state, durable);
        }
    }

    /// An update made by the agent itself (launch failures, executor loss, unknown tasks).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn agent_update(
        &mut self,
        now: Instant,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        executor_id: Option<&ExecutorId>,
        state: TaskState,
        reason: Option<TaskStatusReason>,
        message: String,
    ) {
        let mut status =
            TaskStatus::new(task_id.clone(), state, TaskStatusSource::Agent).with_message(message);
        status.reason = reason;
        self.fill_status(now, &mut status, framework_id, executor_id);
        self.record_update(now, framework_id, status);
    }

    /// Sets agent id, executor id, container id and timestamp of a status.
    pub(super) fn fill_status(
        &self,
        now: Instant,
        status: &mut TaskStatus,
        framework_id: &FrameworkId,
        executor_id: Option<&ExecutorId>,
    ) {
        status.agent_id = self.reg.agent_id.clone();
        if status.timestamp == 0.0 {
            status.timestamp = self.wall(now);
        }
        let Some(eid) = executor_id else { return };
        status.executor_id = Some(eid.clone());
        if status.container_id.is_none() {
            let ex = self
                .frameworks
                .get(framework_id)
                .and_then(|f| f.executors.get(eid));
            status.container_id = ex.and_then(|e| {
                e.tasks
                    .get(&status.task_id)
                    .and_then(|t| t.container_id.clone())
                    .or_else(|| e.container_id.clone())
            });
        }
    }

    /// Records a task's latest state; `durable`: whether the commands that follow
    /// must wait for it to be on disk (otherwise it is written lazily).
    pub(super) fn set_task_state(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        state: TaskState,
        durable: bool,
    ) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            self.checkpoint_due = true;
            return;
        };
        let Some(eid) = fw.task_executor.get(task_id) else {
            self.checkpoint_due = true;
            return;
        };
        let Some(ex) = fw.executors.get_mut(eid) else {
            self.checkpoint_due = true;
            return;
        };
        if !ex.is_mock() {
            if durable {
                self.checkpoint_due = true;
            } else {
                self.checkpoint_prompt = true;
            }
        }
        if let Some(task) = ex.tasks.get_mut(task_id) {
            if !task.state.is_terminal() {
                task.state = state;
                if state.is_terminal() {
                    *self.counters.tasks_terminal.entry(state).or_default() += 1;
                }
            }
        }
    }

    /// Whether a task runs on the mock containerizer (its state is never checkpointed).
    pub(super) fn is_mock_task(&self, framework_id: &FrameworkId, task_id: &TaskId) -> bool {
        self.frameworks.get(framework_id).is_some_and(|f| {
            f.task_executor
                .get(task_id)
                .and_then(|e| f.executors.get(e))
                .is_some_and(|e| e.is_mock())
        })
    }

    /// Forgets a task whose terminal update was acknowledged (or needs none), then its
    /// executor and framework if nothing is left of them.
    pub(super) fn remove_task(&mut self, framework_id: &FrameworkId, task_id: &TaskId) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(eid) = fw.task_executor.remove(task_id) else {
            return;
        };
        if let Some(ex) = fw.executors.get_mut(&eid) {
            if let Some(task) = ex.tasks.remove(task_id) {
                ex.queued.retain(|t| t != task_id);
                if self.settings.max_completed_tasks > 0 {
                    if self.completed.len() >= self.settings.max_completed_tasks {
                        self.completed.pop_front();
                    }
                    self.completed.push_back(CompletedTask {
                        framework_id: framework_id.clone(),
                        executor_id: eid.clone(),
                        state: task.state,
                        task_id: task.info.task_id,
                        name: task.info.name,
                    });
                }
            }
        }
        self.maybe_remove_executor(framework_id, &eid);
    }

    /// Removes an executor that has ended and has no tasks left, and its framework if it
    /// was the last one.
    pub(super) fn maybe_remove_executor(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
    ) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let done = fw.executors.get(executor_id).is_some_and(|ex| {
            ex.tasks.is_empty()
                && (ex.is_mock() || ex.phase == state::Phase::Terminated)
                && ex
                    .container_id
                    .as_ref()
                    .is_none_or(|c| !self.containers.contains_key(c))
        });
        if done {
            fw.executors.remove(executor_id);
        }
        if fw.executors.is_empty() {
            self.frameworks.remove(framework_id);
        }
    }
}
