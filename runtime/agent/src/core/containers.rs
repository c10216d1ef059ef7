//! Executor containers: the containerizer reports a launch, a failed launch or an end;
//! registration and shutdown deadlines pass. An ended container fails every task its
//! executor had not finished (or counts it killed if a kill was asked), and the master
//! hears `ExecutorExited`.
//!
//! ```text
//!  ContainerLaunched ─▶ Registering (deadline: executor_registration_timeout)
//!  ContainerLaunchFailed ─▶ TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED), ExecutorExited
//!  ContainerExited ─▶ TASK_FAILED (executor terminated / OOM / timeout reason) or
//!                     TASK_KILLED, ExecutorExited, DestroyContainer (release)
//!  registration deadline ─▶ DestroyContainer (its exit then fails the tasks)
//! ```

use super::io::{to_master, Command, ContainerExit, ExitCause};
use super::state::Phase;
use super::timers::TimerKind;
use super::AgentCore;
use crate::containerizer_kind::ContainerizerKind;
use drover_proto::{
    AgentToMaster, ContainerId, ExecutorId, FrameworkId, TaskId, TaskState, TaskStatusReason,
};
use std::time::Instant;

impl AgentCore {
    pub(super) fn container_launched(&mut self, now: Instant, cid: ContainerId) {
        let Some(owner) = self.containers.get(&cid).cloned() else {
            return;
        };
        if let Some(tid) = owner.task_id {
            self.mock_launched(now, &owner.framework_id, &owner.executor_id, &tid);
            return;
        }
        // Only the container's handle changes: written at once, but nothing waits for
        // it (the executor is starting meanwhile). A crash before it is on disk is the
        // window between a launch and its checkpoint that recovery already handles (the
        // container is not re-attached but destroyed, and its tasks end).
        self.checkpoint_changed_promptly();
        let timeout = self.settings.timing.executor_registration_timeout;
        let Some(ex) = self
            .frameworks
            .get_mut(&owner.framework_id)
            .and_then(|f| f.executors.get_mut(&owner.executor_id))
        else {
            return;
        };
        if ex.phase == Phase::Launching {
            ex.phase = Phase::Registering;
            let t = self
                .timers
                .schedule(now + timeout, TimerKind::ExecutorRegistration(cid));
            ex.timer = Some(t);
        }
        self.resize_container(&owner.framework_id, &owner.executor_id);
    }

    pub(super) fn container_launch_failed(&mut self, now: Instant, cid: ContainerId, msg: String) {
        let Some(owner) = self.containers.get(&cid).cloned() else {
            return;
        };
        if let Some(tid) = owner.task_id {
            self.mock_launch_failed(now, cid, &owner.framework_id, &owner.executor_id, &tid, msg);
            return;
        }
        let exit = ContainerExit {
            code: None,
            signal: None,
            cause: ExitCause::Exited,
            message: Some(msg.clone()),
        };
        let message = format!("Failed to launch container: {msg}");
        let reason = TaskStatusReason::ContainerLaunchFailed;
        self.executor_ended(
            now,
            cid,
            owner.framework_id,
            owner.executor_id,
            &exit,
            reason,
            message,
        );
    }

    pub(super) fn container_exited(&mut self, now: Instant, cid: ContainerId, exit: ContainerExit) {
        let Some(owner) = self.containers.get(&cid).cloned() else {
            return;
        };
        if let Some(tid) = owner.task_id {
            self.mock_exited(
                now,
                cid,
                &owner.framework_id,
                &owner.executor_id,
                &tid,
                exit,
            );
            return;
        }
        let Some(ex) = self
            .frameworks
            .get(&owner.framework_id)
            .and_then(|f| f.executors.get(&owner.executor_id))
        else {
            self.containers.remove(&cid);
            return;
        };
        let reason = match exit.cause {
            ExitCause::MemoryLimit => TaskStatusReason::ContainerLimitationMemory,
            ExitCause::DiskLimit => TaskStatusReason::ContainerLimitationDisk,
            ExitCause::Exited | ExitCause::Destroyed => ex
                .termination_reason
                .unwrap_or(TaskStatusReason::ExecutorTerminated),
        };
        let message = format!("Executor terminated: {}", exit.describe());
        let kind = ex.containerizer;
        self.executor_ended(
            now,
            cid.clone(),
            owner.framework_id,
            owner.executor_id,
            &exit,
            reason,
            message,
        );
        // Clean up whatever the containerizer still holds (idempotent).
        self.out.push(Command::DestroyContainer {
            container_id: cid,
            containerizer: kind,
        });
    }

    /// The executor's container is gone: its unfinished tasks fail (or count as killed
    /// if a kill was asked), the master hears `ExecutorExited`.
    #[allow(clippy::too_many_arguments)]
    fn executor_ended(
        &mut self,
        now: Instant,
        cid: ContainerId,
        fid: FrameworkId,
        eid: ExecutorId,
        exit: &ContainerExit,
        reason: TaskStatusReason,
        message: String,
    ) {
        self.checkpoint_changed();
        self.recovery_progress(&cid);
        self.containers.remove(&cid);
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            return;
        };
        let shutting_down = fw.shutting_down;
        let Some(ex) = fw.executors.get_mut(&eid) else {
            return;
        };
        if let Some(t) = ex.timer.take() {
            self.timers.cancel(t);
        }
        if let Phase::Running(conn) = ex.phase {
            self.conns.remove(&conn);
            self.out.push(Command::DisconnectExecutor { conn });
        }
        ex.phase = Phase::Terminated;
        ex.queued.clear();
        let mut ended: Vec<(TaskId, bool)> = ex
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .map(|t| (t.info.task_id.clone(), t.kill_requested))
            .collect();
        ended.sort();
        for (tid, killed) in ended {
            let (state, why) = if killed {
                (TaskState::Killed, None)
            } else {
                (TaskState::Failed, Some(reason))
            };
            self.agent_update(now, &fid, &tid, Some(&eid), state, why, message.clone());
        }
        if !shutting_down {
            self.out.push(to_master(AgentToMaster::ExecutorExited {
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                status: exit.status(),
            }));
        }
        self.maybe_remove_executor(&fid, &eid);
    }

    pub(super) fn executor_registration_timeout(&mut self, cid: ContainerId) {
        let Some(owner) = self.containers.get(&cid).cloned() else {
            return;
        };
        let Some(ex) = self
            .frameworks
            .get_mut(&owner.framework_id)
            .and_then(|f| f.executors.get_mut(&owner.executor_id))
        else {
            return;
        };
        ex.timer = None;
        let reason = match ex.phase {
            Phase::Registering => TaskStatusReason::ExecutorRegistrationTimeout,
            Phase::Disconnected => TaskStatusReason::ExecutorReregistrationTimeout,
            _ => return,
        };
        tracing::warn!(executor = %owner.executor_id, container = %cid, "executor did not subscribe in time; destroying it");
        ex.termination_reason = Some(reason);
        ex.phase = Phase::Terminating;
        self.destroy_container(cid);
    }

    pub(super) fn executor_shutdown_timeout(&mut self, cid: ContainerId) {
        if self.containers.contains_key(&cid) {
            self.destroy_container(cid);
        }
    }

    /// `DestroyContainer` for a container of the agent.
    pub(super) fn destroy_container(&mut self, container_id: ContainerId) {
        let containerizer = self.containerizer_of(&container_id);
        self.out.push(Command::DestroyContainer {
            container_id,
            containerizer,
        });
    }

    /// The containerizer running a container (the first configured one if unknown).
    pub(super) fn containerizer_of(&self, cid: &ContainerId) -> ContainerizerKind {
        self.containers
            .get(cid)
            .and_then(|o| {
                self.frameworks
                    .get(&o.framework_id)
                    .and_then(|f| f.executors.get(&o.executor_id))
            })
            .map(|e| e.containerizer)
            .or_else(|| self.settings.containerizers.first().copied())
            .unwrap_or(ContainerizerKind::Posix)
    }
}
