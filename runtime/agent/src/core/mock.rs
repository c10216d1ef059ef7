//! The mock containerizer path: no executor process exists, so the agent plays the
//! executor (like Nomad's mock driver). Each task gets its own mock container; the mock
//! containerizer decides how it ends.
//!
//! ```text
//!  RunTask ─▶ LaunchContainer(mock) ─launched─▶ TASK_STARTING, TASK_RUNNING
//!                  │ start error                      │ wait resolves
//!                  ▼                                  ▼
//!             TASK_FAILED              exit 0: TASK_FINISHED, else TASK_FAILED
//!                                      (after KillTask → destroy: TASK_KILLED)
//! ```
//!
//! Kept lean for the 100,000 tasks/s benchmark: no sandbox unless asked for, no
//! per-task timers, one container launch and three updates per task.

use super::io::{to_master, Command, ContainerExit, ExitCause, LaunchSpec};
use super::run_task::sandbox_path;
use super::state::{ContainerOwner, Executor, Phase, Task};
use super::AgentCore;
use crate::containerizer_kind::ContainerizerKind;
use drover_proto::{
    AgentToMaster, CommandInfo, ContainerId, ExecutorId, ExecutorInfo, FrameworkId, TaskId,
    TaskInfo, TaskState, TaskStatus, TaskStatusReason, TaskStatusSource,
};
use std::time::Instant;

impl AgentCore {
    pub(super) fn run_mock_task(
        &mut self,
        _now: Instant,
        fid: FrameworkId,
        info: ExecutorInfo,
        task: TaskInfo,
    ) {
        let cid = self.new_container_id();
        let eid = info.executor_id.clone();
        let tid = task.task_id.clone();
        let sandbox = self
            .settings
            .mock_sandboxes
            .then(|| sandbox_path(&self.settings.work_dir, &fid, &eid, &cid));
        let spec = LaunchSpec {
            container_id: cid.clone(),
            containerizer: ContainerizerKind::Mock,
            framework_id: fid.clone(),
            executor_id: eid.clone(),
            task_id: Some(tid.clone()),
            labels: task.labels.clone(),
            sandbox: sandbox.clone(),
            // Nothing runs: the mock containerizer needs no command or image.
            command: CommandInfo::default(),
            container: None,
            command_executor: task.executor.is_none(),
            resources: task.resources.clone(),
        };
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            return;
        };
        let ex = fw.executors.entry(eid.clone()).or_insert_with(|| {
            Executor::new(
                info,
                ContainerizerKind::Mock,
                None,
                sandbox,
                Phase::Registering,
            )
        });
        // A mock executor is virtual: a new task brings an ended one back.
        ex.phase = Phase::Registering;
        ex.tasks
            .insert(tid.clone(), Task::new(task, Some(cid.clone())));
        fw.task_executor.insert(tid.clone(), eid.clone());
        self.containers.insert(
            cid,
            ContainerOwner {
                framework_id: fid,
                executor_id: eid,
                task_id: Some(tid),
            },
        );
        self.counters.containers_launched += 1;
        self.out.push(Command::LaunchContainer(Box::new(spec)));
    }

    pub(super) fn mock_launched(
        &mut self,
        now: Instant,
        fid: &FrameworkId,
        eid: &ExecutorId,
        tid: &TaskId,
    ) {
        let live = self
            .frameworks
            .get(fid)
            .and_then(|f| f.executors.get(eid))
            .and_then(|e| e.tasks.get(tid))
            .is_some_and(|t| !t.kill_requested && t.state == TaskState::Staging);
        if !live {
            return;
        }
        for state in [TaskState::Starting, TaskState::Running] {
            self.mock_update(now, fid, eid, tid, state, None, None);
        }
    }

    pub(super) fn mock_launch_failed(
        &mut self,
        now: Instant,
        cid: ContainerId,
        fid: &FrameworkId,
        eid: &ExecutorId,
        tid: &TaskId,
        msg: String,
    ) {
        self.containers.remove(&cid);
        let reason = Some(TaskStatusReason::ContainerLaunchFailed);
        let message = Some(format!("Failed to launch container: {msg}"));
        self.mock_update(now, fid, eid, tid, TaskState::Failed, reason, message);
        self.mock_task_ended(fid, eid, None);
    }

    pub(super) fn mock_exited(
        &mut self,
        now: Instant,
        cid: ContainerId,
        fid: &FrameworkId,
        eid: &ExecutorId,
        tid: &TaskId,
        exit: ContainerExit,
    ) {
        self.containers.remove(&cid);
        let killed = self
            .frameworks
            .get(fid)
            .and_then(|f| f.executors.get(eid))
            .and_then(|e| e.tasks.get(tid))
            .is_some_and(|t| t.kill_requested);
        let (state, reason, message) = match (killed, exit.cause, exit.code) {
            (true, _, _) => (TaskState::Killed, None, None),
            (false, ExitCause::MemoryLimit, _) => (
                TaskState::Failed,
                Some(TaskStatusReason::ContainerLimitationMemory),
                Some(exit.describe()),
            ),
            (false, ExitCause::DiskLimit, _) => (
                TaskState::Failed,
                Some(TaskStatusReason::ContainerLimitationDisk),
                Some(exit.describe()),
            ),
            (false, _, Some(0)) => (TaskState::Finished, None, None),
            (false, _, _) => (
                TaskState::Failed,
                Some(TaskStatusReason::CommandExited),
                Some(format!("Command {}", exit.describe())),
            ),
        };
        self.mock_update(now, fid, eid, tid, state, reason, message);
        // Release the container in the containerizer (the contract: destroy after wait).
        self.out.push(Command::DestroyContainer {
            container_id: cid,
            containerizer: ContainerizerKind::Mock,
        });
        self.mock_task_ended(fid, eid, exit.status());
    }

    /// An update "from the executor" that the agent makes on the mock's behalf.
    #[allow(clippy::too_many_arguments)]
    fn mock_update(
        &mut self,
        now: Instant,
        fid: &FrameworkId,
        eid: &ExecutorId,
        tid: &TaskId,
        state: TaskState,
        reason: Option<TaskStatusReason>,
        message: Option<String>,
    ) {
        let mut status = TaskStatus::new(tid.clone(), state, TaskStatusSource::Executor);
        status.reason = reason;
        status.message = message;
        self.fill_status(now, &mut status, fid, Some(eid));
        self.record_update(now, fid, status);
    }

    /// When a mock executor's last live task ends, it "exits" like the command executor.
    fn mock_task_ended(&mut self, fid: &FrameworkId, eid: &ExecutorId, status: Option<i32>) {
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return;
        };
        let shutting_down = fw.shutting_down;
        let Some(ex) = fw.executors.get_mut(eid) else {
            return;
        };
        if ex.has_live_tasks() || ex.phase == Phase::Terminated {
            return;
        }
        ex.phase = Phase::Terminated;
        if !shutting_down {
            self.out.push(to_master(AgentToMaster::ExecutorExited {
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                status,
            }));
        }
        self.maybe_remove_executor(fid, eid);
    }
}
