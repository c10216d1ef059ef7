//! `RunTask`: validate the task, find or build its executor, pick the containerizer,
//! and either hand the task to a running executor, queue it behind one that is starting,
//! or launch a new executor container in a fresh sandbox.
//!
//! ```text
//!  RunTask ─▶ valid? ──no──▶ TASK_ERROR
//!               │ executor = task.executor, or the command executor (id = task id)
//!               │ its containerizer unavailable now (engine down) ──▶ TASK_FAILED
//!               │ containerizer = by ContainerInfo type, else the first ──none──▶ TASK_ERROR
//!               │ docker: image, parameters, host ports valid? ──no──▶ TASK_ERROR
//!               ├─ mock ─────────────▶ mock::run (one container per task)
//!               ├─ executor running ─▶ ExecutorEvent::Launch
//!               ├─ executor starting ▶ queue until it subscribes
//!               └─ no executor ──────▶ sandbox + LaunchContainer, queue
//! ```

use super::io::{to_executor, Command, LaunchSpec};
use super::state::{ContainerOwner, Executor, Framework, Phase, Task};
use super::AgentCore;
use crate::containerizer_kind::ContainerizerKind;
use drover_proto::executor_env as env;
use drover_proto::{
    CommandInfo, ContainerId, ExecutorEvent, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    Parameter, TaskInfo, TaskState, TaskStatusReason,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Whether an id can be used as one path component of a sandbox.
pub(crate) fn path_safe(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && !id.contains('/')
        && !id.contains('\0')
        && id.len() <= 255
}

/// `<work_dir>/frameworks/<fid>/executors/<eid>/runs/<cid>`.
pub fn sandbox_path(
    work_dir: &Path,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
    container_id: &ContainerId,
) -> PathBuf {
    let mut p = work_dir.join("frameworks");
    p.push(framework_id.as_str());
    p.push("executors");
    p.push(executor_id.as_str());
    p.push("runs");
    p.push(container_id.as_str());
    p
}

/// Why a task cannot run, as the message of its `TASK_ERROR`.
fn validate(framework_id: &FrameworkId, task: &TaskInfo) -> Result<(), String> {
    if task.command.is_none() && task.executor.is_none() {
        return Err("the task has neither a command nor an executor".to_owned());
    }
    for (what, id) in [
        ("framework id", framework_id.as_str()),
        ("task id", task.task_id.as_str()),
    ] {
        if !path_safe(id) {
            return Err(format!(
                "invalid {what} '{id}': must be a non-empty path component"
            ));
        }
    }
    if let Some(ex) = &task.executor {
        if !path_safe(ex.executor_id.as_str()) {
            return Err(format!(
                "invalid executor id '{}': must be a non-empty path component",
                ex.executor_id
            ));
        }
        if ex.framework_id.as_ref().is_some_and(|f| f != framework_id) {
            return Err("the executor belongs to another framework".to_owned());
        }
    }
    Ok(())
}

impl AgentCore {
    pub(super) fn run_task(&mut self, now: Instant, framework: FrameworkInfo, task: TaskInfo) {
        let Some(fid) = framework.id.clone() else {
            tracing::warn!(task = %task.task_id, "RunTask without a framework id: ignored");
            return;
        };
        if self.is_refused() {
            return;
        }
        self.counters.tasks_received += 1;
        let tid = task.task_id.clone();
        if let Err(msg) = validate(&fid, &task) {
            let reason = Some(TaskStatusReason::TaskInvalid);
            self.agent_update(now, &fid, &tid, None, TaskState::Error, reason, msg);
            return;
        }
        if let Some(fw) = self.frameworks.get(&fid) {
            if fw.task_executor.contains_key(&tid) {
                tracing::warn!(framework = %fid, task = %tid, "duplicate RunTask ignored");
                return;
            }
            if fw.shutting_down {
                let msg = format!("framework {fid} is shutting down on this agent");
                let reason = Some(TaskStatusReason::FrameworkRemoved);
                self.agent_update(now, &fid, &tid, None, TaskState::Lost, reason, msg);
                return;
            }
        }
        let wanted = task
            .executor
            .as_ref()
            .and_then(|e| e.container.as_ref())
            .or(task.container.as_ref())
            .map(|c| c.kind);
        if let Some(msg) = self.unavailable_for(wanted) {
            let reason = Some(TaskStatusReason::ContainerLaunchFailed);
            self.agent_update(now, &fid, &tid, None, TaskState::Failed, reason, msg);
            return;
        }
        let kind = match ContainerizerKind::choose(&self.settings.containerizers, wanted) {
            Ok(k) => k,
            Err(e) => {
                let reason = Some(TaskStatusReason::TaskInvalid);
                let msg = e.to_string();
                self.agent_update(now, &fid, &tid, None, TaskState::Error, reason, msg);
                return;
            }
        };
        if kind == ContainerizerKind::Docker {
            if let Err(msg) = super::docker_task::validate_docker(&task) {
                let reason = Some(TaskStatusReason::TaskInvalid);
                self.agent_update(now, &fid, &tid, None, TaskState::Error, reason, msg);
                return;
            }
        }
        let info = self.executor_for(&fid, &task, kind);
        match self.frameworks.get_mut(&fid) {
            Some(fw) => fw.info = framework,
            None => {
                self.frameworks
                    .insert(fid.clone(), Framework::new(framework));
            }
        }
        if kind == ContainerizerKind::Mock {
            self.run_mock_task(now, fid, info, task);
        } else {
            self.checkpoint_changed();
            self.run_executor_task(now, fid, info, task, kind);
        }
    }

    /// The task's executor, or the command executor built for it (id = task id). The
    /// mock containerizer runs no executor program: its command executor is bare.
    fn executor_for(
        &self,
        fid: &FrameworkId,
        task: &TaskInfo,
        kind: ContainerizerKind,
    ) -> ExecutorInfo {
        if let Some(ex) = &task.executor {
            let mut ex = ex.clone();
            ex.framework_id = Some(fid.clone());
            return ex;
        }
        if kind == ContainerizerKind::Mock {
            return ExecutorInfo {
                executor_id: ExecutorId(task.task_id.0.clone()),
                framework_id: Some(fid.clone()),
                command: CommandInfo::default(),
                container: None,
                resources: Default::default(),
                name: None,
            };
        }
        let launch = &self.settings.executor;
        ExecutorInfo {
            executor_id: ExecutorId(task.task_id.0.clone()),
            framework_id: Some(fid.clone()),
            command: CommandInfo::argv(launch.program.clone(), launch.args.iter().cloned()),
            container: task.container.clone(),
            resources: Default::default(),
            name: Some(format!("Command Executor (Task: {})", task.task_id)),
        }
    }

    fn run_executor_task(
        &mut self,
        now: Instant,
        fid: FrameworkId,
        info: ExecutorInfo,
        task: TaskInfo,
        kind: ContainerizerKind,
    ) {
        let eid = info.executor_id.clone();
        let tid = task.task_id.clone();
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            return;
        };
        let Some(ex) = fw.executors.get_mut(&eid) else {
            self.launch_executor(fid, info, task, kind);
            return;
        };
        match ex.phase {
            Phase::Terminating | Phase::Terminated => {
                let msg = format!("executor {eid} is terminating");
                let reason = Some(TaskStatusReason::ExecutorTerminated);
                self.agent_update(now, &fid, &tid, Some(&eid), TaskState::Lost, reason, msg);
                return;
            }
            Phase::Launching | Phase::Registering | Phase::Disconnected => {
                ex.tasks.insert(tid.clone(), Task::new(task, None));
                ex.queued.push(tid.clone());
            }
            Phase::Running(conn) => {
                ex.tasks.insert(tid.clone(), Task::new(task.clone(), None));
                self.out
                    .push(to_executor(conn, ExecutorEvent::Launch { task }));
            }
        }
        fw.task_executor.insert(tid, eid.clone());
        self.resize_container(&fid, &eid);
    }

    /// Starts a new executor container with `task` queued on it.
    fn launch_executor(
        &mut self,
        fid: FrameworkId,
        info: ExecutorInfo,
        task: TaskInfo,
        kind: ContainerizerKind,
    ) {
        let cid = self.new_container_id();
        let eid = info.executor_id.clone();
        let tid = task.task_id.clone();
        let command_executor = task.executor.is_none();
        let sandbox = sandbox_path(&self.settings.work_dir, &fid, &eid, &cid);
        let command = self.executor_command(&info.command, &fid, &eid, &cid, &sandbox);
        let mut ex = Executor::new(
            info,
            kind,
            Some(cid.clone()),
            Some(sandbox.clone()),
            Phase::Launching,
        );
        ex.tasks.insert(tid.clone(), Task::new(task, None));
        ex.queued.push(tid.clone());
        ex.container_resources = ex.resources();
        let spec = LaunchSpec {
            container_id: cid.clone(),
            containerizer: kind,
            framework_id: fid.clone(),
            executor_id: eid.clone(),
            task_id: None,
            labels: Vec::new(),
            sandbox: Some(sandbox),
            command,
            container: ex.info.container.clone(),
            command_executor,
            resources: ex.container_resources.clone(),
        };
        self.containers.insert(
            cid,
            ContainerOwner {
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                task_id: None,
            },
        );
        if let Some(fw) = self.frameworks.get_mut(&fid) {
            fw.task_executor.insert(tid, eid.clone());
            fw.executors.insert(eid, ex);
        }
        self.counters.containers_launched += 1;
        self.out.push(Command::LaunchContainer(Box::new(spec)));
    }

    /// The executor's command with the agent → executor environment contract added
    /// (the contract's variables win over the framework's).
    fn executor_command(
        &self,
        base: &CommandInfo,
        fid: &FrameworkId,
        eid: &ExecutorId,
        cid: &ContainerId,
        sandbox: &Path,
    ) -> CommandInfo {
        let launch = &self.settings.executor;
        let agent_id = self
            .reg
            .agent_id
            .as_ref()
            .map(|a| a.0.clone())
            .unwrap_or_default();
        let contract = [
            (env::AGENT_ADDR, launch.agent_addr.clone()),
            (env::AGENT_ID, agent_id),
            (env::FRAMEWORK_ID, fid.0.clone()),
            (env::EXECUTOR_ID, eid.0.clone()),
            (env::CONTAINER_ID, cid.0.clone()),
            (env::SANDBOX, sandbox.to_string_lossy().into_owned()),
            (env::TLS_DIR, launch.tls_dir.clone()),
            (env::TLS_NAME, launch.tls_name.clone()),
            (
                env::RECOVERY_TIMEOUT,
                launch.recovery_timeout.as_secs_f64().to_string(),
            ),
        ];
        let mut cmd = base.clone();
        cmd.environment
            .retain(|p| !contract.iter().any(|(k, _)| *k == p.key));
        cmd.environment
            .extend(contract.into_iter().map(|(k, v)| Parameter::new(k, v)));
        cmd
    }

    /// Tells the containerizer about changed limits of a running executor container.
    pub(super) fn resize_container(&mut self, fid: &FrameworkId, eid: &ExecutorId) {
        let Some(ex) = self
            .frameworks
            .get_mut(fid)
            .and_then(|f| f.executors.get_mut(eid))
        else {
            return;
        };
        let live = matches!(
            ex.phase,
            Phase::Registering | Phase::Running(_) | Phase::Disconnected
        );
        let Some(cid) = ex.container_id.clone().filter(|_| live && !ex.is_mock()) else {
            return;
        };
        let resources = ex.resources();
        if resources != ex.container_resources {
            ex.container_resources = resources.clone();
            self.out.push(Command::UpdateContainer {
                container_id: cid,
                containerizer: ex.containerizer,
                resources,
            });
        }
    }
}
