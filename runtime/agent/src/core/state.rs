//! The agent's bookkeeping: frameworks → executors → tasks, and the indexes from
//! containers and executor connections back to them.

use super::io::ExecutorConn;
use super::timers::TimerId;
use crate::containerizer_kind::ContainerizerKind;
use drover_proto::{
    ContainerId, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Resources, TaskId, TaskInfo,
    TaskState, TaskStatusReason,
};
use std::collections::HashMap;
use std::path::PathBuf;

/// A framework with executors on this agent.
#[derive(Debug)]
pub(crate) struct Framework {
    pub(crate) info: FrameworkInfo,
    /// Boxed: executors are large and move when the map grows.
    pub(crate) executors: HashMap<ExecutorId, Box<Executor>>,
    /// Which executor runs each task.
    pub(crate) task_executor: HashMap<TaskId, ExecutorId>,
    /// `ShutdownFramework` arrived: updates are no longer forwarded.
    pub(crate) shutting_down: bool,
}

impl Framework {
    pub(crate) fn new(info: FrameworkInfo) -> Self {
        Self {
            info,
            executors: HashMap::new(),
            task_executor: HashMap::new(),
            shutting_down: false,
        }
    }
}

/// Where an executor is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `LaunchContainer` sent; waiting for the containerizer.
    Launching,
    /// The container runs; waiting for the executor to subscribe.
    Registering,
    /// Subscribed on this connection.
    Running(ExecutorConn),
    /// Its connection closed; waiting for it to subscribe again.
    Disconnected,
    /// Being shut down or destroyed; waiting for the container to end.
    Terminating,
    /// The container ended; waiting for its tasks' last updates to be acknowledged.
    Terminated,
}

impl Phase {
    /// Name shown by `/state`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Launching => "LAUNCHING",
            Phase::Registering => "REGISTERING",
            Phase::Running(_) => "RUNNING",
            Phase::Disconnected => "DISCONNECTED",
            Phase::Terminating => "TERMINATING",
            Phase::Terminated => "TERMINATED",
        }
    }
}

/// An executor: a process in a container, or for the mock containerizer a virtual one
/// played by the agent with one container per task.
#[derive(Debug)]
pub(crate) struct Executor {
    pub(crate) info: ExecutorInfo,
    pub(crate) containerizer: ContainerizerKind,
    /// The executor's container (`None` for mock executors).
    pub(crate) container_id: Option<ContainerId>,
    pub(crate) sandbox: Option<PathBuf>,
    pub(crate) phase: Phase,
    /// Registration or shutdown deadline.
    pub(crate) timer: Option<TimerId>,
    /// Tasks waiting for the executor to subscribe, in arrival order.
    pub(crate) queued: Vec<TaskId>,
    /// Boxed: a task holds a whole `TaskInfo`; most maps hold one or a few.
    pub(crate) tasks: HashMap<TaskId, Box<Task>>,
    /// Reason given to its tasks if the container ends (e.g. registration timeout).
    pub(crate) termination_reason: Option<TaskStatusReason>,
    /// Limits the container was launched or last updated with.
    pub(crate) container_resources: Resources,
}

impl Executor {
    pub(crate) fn new(
        info: ExecutorInfo,
        containerizer: ContainerizerKind,
        container_id: Option<ContainerId>,
        sandbox: Option<PathBuf>,
        phase: Phase,
    ) -> Box<Self> {
        Box::new(Self {
            info,
            containerizer,
            container_id,
            sandbox,
            phase,
            timer: None,
            queued: Vec::new(),
            tasks: HashMap::new(),
            termination_reason: None,
            container_resources: Resources::new(),
        })
    }

    pub(crate) fn is_mock(&self) -> bool {
        self.containerizer == ContainerizerKind::Mock
    }

    /// The executor's resources plus those of its non-terminal tasks.
    pub(crate) fn resources(&self) -> Resources {
        let mut r = self.info.resources.clone();
        for t in self.tasks.values().filter(|t| !t.state.is_terminal()) {
            r += &t.info.resources;
        }
        r
    }

    pub(crate) fn has_live_tasks(&self) -> bool {
        self.tasks.values().any(|t| !t.state.is_terminal())
    }

    pub(crate) fn conn(&self) -> Option<ExecutorConn> {
        match self.phase {
            Phase::Running(c) => Some(c),
            _ => None,
        }
    }
}

/// A task on the agent, from `RunTask` until its terminal update is acknowledged.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) info: TaskInfo,
    /// Latest state received (not necessarily acknowledged).
    pub(crate) state: TaskState,
    /// A kill was asked for: an end of the container means `TASK_KILLED`.
    pub(crate) kill_requested: bool,
    /// The task's own container (mock executors only).
    pub(crate) container_id: Option<ContainerId>,
}

impl Task {
    pub(crate) fn new(info: TaskInfo, container_id: Option<ContainerId>) -> Box<Self> {
        Box::new(Self {
            info,
            state: TaskState::Staging,
            kill_requested: false,
            container_id,
        })
    }
}

/// Who a container belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ContainerOwner {
    pub(crate) framework_id: FrameworkId,
    pub(crate) executor_id: ExecutorId,
    /// Set for a mock task's container.
    pub(crate) task_id: Option<TaskId>,
}

/// A task whose terminal update was acknowledged, kept for `/state`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CompletedTask {
    /// The framework.
    pub framework_id: FrameworkId,
    /// The executor.
    pub executor_id: ExecutorId,
    /// The task.
    pub task_id: TaskId,
    /// Its name.
    pub name: String,
    /// Its terminal state.
    pub state: TaskState,
}
