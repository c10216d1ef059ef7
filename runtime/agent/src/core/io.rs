//! What goes into the agent core ([`Input`]) and what comes out ([`Command`]). The shell
//! turns network messages, containerizer results and timer ticks into inputs, and
//! carries out the commands; the core itself does no I/O.

use crate::containerizer_kind::ContainerizerKind;
use drover_proto::{
    AgentToMaster, CommandInfo, ContainerId, ContainerInfo, ExecutorCall, ExecutorEvent,
    ExecutorId, FrameworkId, MasterToAgent, Parameter, Resources, TaskId,
};
use std::path::PathBuf;

/// One executor connection on the agent's QUIC endpoint, numbered by the shell. The core
/// binds it to an executor when the executor subscribes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExecutorConn(pub u64);

/// Why a container ended, as far as the containerizer knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCause {
    /// The process exited or was signalled on its own.
    Exited,
    /// It was destroyed on the agent's request.
    Destroyed,
    /// It was killed for exceeding its memory limit.
    MemoryLimit,
    /// It was killed for exceeding its disk limit.
    DiskLimit,
}

/// How a container ended (the core's view of a containerizer `Termination`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerExit {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if it was signalled.
    pub signal: Option<i32>,
    /// Why.
    pub cause: ExitCause,
    /// Human explanation from the containerizer.
    pub message: Option<String>,
}

impl ContainerExit {
    /// A plain exit with `code`.
    pub fn code(code: i32) -> Self {
        Self {
            code: Some(code),
            signal: None,
            cause: ExitCause::Exited,
            message: None,
        }
    }

    /// A Mesos-style wait status: the exit code, or 128 + signal.
    pub fn status(&self) -> Option<i32> {
        self.code.or(self.signal.map(|s| 128 + s))
    }

    /// "exited with status 3", "killed by signal 9", ...
    pub fn describe(&self) -> String {
        let base = match (self.code, self.signal) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "terminated".to_owned(),
        };
        match &self.message {
            Some(m) if !m.is_empty() => format!("{base}: {m}"),
            _ => base,
        }
    }
}

/// An input to the core.
///
/// Not boxed: an input is built once and moved straight into
/// [`AgentCore::handle`](super::AgentCore::handle); a box would cost an allocation per
/// message on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The shell is up: start registering with the master.
    Start,
    /// The agent restarted: rebuild from the checkpoint and what the containerizers
    /// recovered (given once, before or right after `Start`).
    Recover(Box<super::recovery::Recovery>),
    /// The link to the master (re)connected: (re)register now.
    MasterConnected,
    /// The link to the master broke: stop sending updates until registered again.
    MasterDisconnected,
    /// A message from the master.
    Master(MasterToAgent),
    /// A message from an executor connection.
    Executor {
        /// The connection.
        conn: ExecutorConn,
        /// The message.
        call: ExecutorCall,
    },
    /// An executor connection closed.
    ExecutorDisconnected {
        /// The connection.
        conn: ExecutorConn,
    },
    /// A [`Command::LaunchContainer`] succeeded.
    ContainerLaunched {
        /// The container.
        container_id: ContainerId,
    },
    /// A [`Command::LaunchContainer`] failed.
    ContainerLaunchFailed {
        /// The container.
        container_id: ContainerId,
        /// Why.
        message: String,
    },
    /// A launched container ended (its containerizer `wait` resolved).
    ContainerExited {
        /// The container.
        container_id: ContainerId,
        /// How.
        exit: ContainerExit,
    },
    /// A probe of a containerizer (the shell pings the Docker engine): `unavailable`
    /// says why it cannot run containers now, `None` that it can. The core acts on
    /// changes only: it stops or starts advertising the containerizer.
    ContainerizerAvailability {
        /// The containerizer probed.
        kind: crate::containerizer_kind::ContainerizerKind,
        /// Why it is unavailable; `None`: available.
        unavailable: Option<String>,
    },
    /// A deadline from [`AgentCore::next_deadline`](super::AgentCore::next_deadline) passed.
    Tick,
}

/// Everything the shell needs to launch a container.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchSpec {
    /// The new container's id.
    pub container_id: ContainerId,
    /// Which containerizer launches it.
    pub containerizer: ContainerizerKind,
    /// The framework.
    pub framework_id: FrameworkId,
    /// The executor it runs.
    pub executor_id: ExecutorId,
    /// For the mock containerizer: the task the container stands for.
    pub task_id: Option<TaskId>,
    /// For the mock containerizer: the task's labels (they may override the mock spec).
    pub labels: Vec<Parameter>,
    /// Sandbox directory to create before the launch (`None`: none is made).
    pub sandbox: Option<PathBuf>,
    /// The command to run (the executor's), with the executor environment contract
    /// already added to its `environment`.
    pub command: CommandInfo,
    /// Image, volumes, network...
    pub container: Option<ContainerInfo>,
    /// The executor is Drover's command executor (the task brought none): an image in
    /// `container` is the task's, not the executor's. The executor then runs on the
    /// host's filesystem and starts the task inside the image (native `image_for=task`).
    pub command_executor: bool,
    /// Limits of the container: the executor's resources plus its tasks'.
    pub resources: Resources,
}

/// A command from the core, carried out at once by the shell.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Point the master link at `masters[index]` (the next master to try).
    ConnectMaster {
        /// Index in the configured master list.
        index: usize,
    },
    /// Send a message to the master.
    SendToMaster(AgentToMaster),
    /// Send a message to an executor.
    SendToExecutor {
        /// The executor's connection.
        conn: ExecutorConn,
        /// The message (boxed: a `Launch` carries a whole `TaskInfo`, and every
        /// command is as large as its largest variant).
        event: Box<ExecutorEvent>,
    },
    /// Close an executor connection (after an `Error` event).
    DisconnectExecutor {
        /// The connection.
        conn: ExecutorConn,
    },
    /// Create the sandbox (if any) and launch a container; answer with
    /// [`Input::ContainerLaunched`] or [`Input::ContainerLaunchFailed`], then
    /// [`Input::ContainerExited`] when it ends.
    LaunchContainer(Box<LaunchSpec>),
    /// Change a running container's limits.
    UpdateContainer {
        /// The container.
        container_id: ContainerId,
        /// Which containerizer runs it.
        containerizer: ContainerizerKind,
        /// Its new resources.
        resources: Resources,
    },
    /// Kill a container's whole process tree (idempotent). Its `wait` then resolves.
    DestroyContainer {
        /// The container.
        container_id: ContainerId,
        /// Which containerizer runs it.
        containerizer: ContainerizerKind,
    },
    /// The master refused the agent: its containers are being destroyed; the shell
    /// should stop once they are.
    Refused {
        /// The master's reason.
        reason: String,
    },
}

/// Forwards `ExecutorEvent`s and master messages to the right command.
pub(crate) fn to_master(msg: AgentToMaster) -> Command {
    Command::SendToMaster(msg)
}

/// Shorthand for an executor event.
pub(crate) fn to_executor(conn: ExecutorConn, event: ExecutorEvent) -> Command {
    Command::SendToExecutor {
        conn,
        event: Box::new(event),
    }
}
