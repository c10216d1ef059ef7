//! What a framework asks to run ([`TaskInfo`], [`CommandInfo`], [`ContainerInfo`],
//! [`ExecutorInfo`], [`HealthCheck`], [`KillPolicy`]) and what it hears back
//! ([`TaskStatus`] with Mesos's 14 [`TaskState`]s and their [`TaskStatusReason`]s).

use crate::ids::{AgentId, ContainerId, ExecutorId, FrameworkId, TaskId};
use crate::resources::Resources;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A key/value pair, used for environment variables, labels and docker parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    /// The key (variable name, label name, docker-run flag without dashes).
    pub key: String,
    /// The value.
    pub value: String,
}

impl Parameter {
    /// A key/value pair.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// The command a task or executor runs (Mesos `CommandInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandInfo {
    /// `true`: `value` is run with `/bin/sh -c`; `false`: `value` is the program and
    /// `arguments` its argv (including argv\[0\], as in Mesos).
    pub shell: bool,
    /// The shell command line, or the program to execute.
    pub value: Option<String>,
    /// argv when `shell` is false.
    pub arguments: Vec<String>,
    /// Environment variables added to the agent-provided ones.
    pub environment: Vec<Parameter>,
    /// Run as this user (the agent must be allowed to switch to it).
    pub user: Option<String>,
}

impl CommandInfo {
    /// A shell command, run with `/bin/sh -c`.
    pub fn shell(cmd: impl Into<String>) -> Self {
        Self {
            shell: true,
            value: Some(cmd.into()),
            ..Self::default()
        }
    }

    /// A program with its argv (argv\[0\] is the program itself).
    pub fn argv<I, S>(program: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let program = program.into();
        let mut arguments = vec![program.clone()];
        arguments.extend(args.into_iter().map(Into::into));
        Self {
            shell: false,
            value: Some(program),
            arguments,
            ..Self::default()
        }
    }
}

/// Which containerizer must run a container (Mesos `ContainerInfo.Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContainerType {
    /// The Docker Engine containerizer.
    Docker,
    /// Drover's native containerizer (Mesos's "MESOS" type).
    Mesos,
}

impl fmt::Display for ContainerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContainerType::Docker => "DOCKER",
            ContainerType::Mesos => "MESOS",
        })
    }
}

/// Docker networking mode (Marathon's `docker.network`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DockerNetwork {
    /// Share the host's network namespace.
    Host,
    /// Docker's default bridge, with port mappings.
    #[default]
    Bridge,
    /// Only loopback.
    None,
    /// A user-defined Docker network, by name.
    User(String),
}

/// A container port published on a host port (Marathon `portMappings`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Port on the agent; must come from the task's `ports` resources.
    pub host_port: u32,
    /// Port inside the container.
    pub container_port: u32,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// The Docker part of a [`ContainerInfo`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerInfo {
    /// Image reference, e.g. `busybox:latest`.
    pub image: String,
    /// Networking mode.
    pub network: DockerNetwork,
    /// Published ports.
    pub port_mappings: Vec<PortMapping>,
    /// Run privileged.
    pub privileged: bool,
    /// docker-run flags as key/value (`publish`, `env`, `label`, `volume`, ...).
    pub parameters: Vec<Parameter>,
    /// Pull the image even if it is present.
    pub force_pull_image: bool,
}

/// The native (Mesos-type) part of a [`ContainerInfo`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MesosInfo {
    /// Root filesystem: a directory or a rootfs tarball; `None` shares the host's.
    pub image: Option<String>,
}

/// Read-only or read-write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeMode {
    /// Read-write.
    #[default]
    Rw,
    /// Read-only (enforced).
    Ro,
}

/// A host path mounted into the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Path inside the container.
    pub container_path: String,
    /// Path on the agent; `None` for a sandbox-relative volume.
    pub host_path: Option<String>,
    /// Access mode.
    pub mode: VolumeMode,
}

/// How a task's or executor's container is built (Mesos/Marathon `ContainerInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Which containerizer.
    pub kind: ContainerType,
    /// Docker settings when `kind` is `Docker`.
    pub docker: Option<DockerInfo>,
    /// Native settings when `kind` is `Mesos`.
    pub mesos: Option<MesosInfo>,
    /// Host-path volumes.
    pub volumes: Vec<Volume>,
    /// Hostname inside the container.
    pub hostname: Option<String>,
}

/// Kind of a health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthCheckKind {
    /// Run a command; exit 0 is healthy.
    Command(CommandInfo),
    /// GET `path` on `port`; 2xx/3xx is healthy.
    Http {
        /// Port to connect to.
        port: u16,
        /// Path to request, e.g. `/health`.
        path: String,
    },
    /// Connect to `port`; success is healthy.
    Tcp {
        /// Port to connect to.
        port: u16,
    },
}

/// A health check run by the executor next to the task (Mesos `HealthCheck`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// What to check.
    pub kind: HealthCheckKind,
    /// Wait this long after the task starts before the first check.
    pub delay: Duration,
    /// Time between checks.
    pub interval: Duration,
    /// A check that takes longer has failed.
    pub timeout: Duration,
    /// Kill the task after this many consecutive failures.
    pub consecutive_failures: u32,
    /// Failures in this window after start do not count.
    pub grace_period: Duration,
}

/// How a task is killed: SIGTERM, then SIGKILL after the grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillPolicy {
    /// Time between SIGTERM and SIGKILL.
    pub grace_period: Duration,
}

impl Default for KillPolicy {
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(3),
        }
    }
}

/// An executor: the process on the agent that runs a framework's tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    /// Unique within the framework on the agent.
    pub executor_id: ExecutorId,
    /// Filled in by the master.
    pub framework_id: Option<FrameworkId>,
    /// The executor's command.
    pub command: CommandInfo,
    /// Its container, if any.
    pub container: Option<ContainerInfo>,
    /// Resources of the executor itself (added to its tasks').
    pub resources: Resources,
    /// Human name.
    pub name: Option<String>,
}

/// A task to launch (Mesos `TaskInfo`). Exactly one of `command` (run by Drover's
/// command executor) or `executor` (a custom executor) must be set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Human name.
    pub name: String,
    /// Unique within the framework.
    pub task_id: TaskId,
    /// The agent of the offer it is launched from.
    pub agent_id: AgentId,
    /// Resources of the task, taken from the accepted offers.
    pub resources: Resources,
    /// Custom executor.
    pub executor: Option<ExecutorInfo>,
    /// Command run by the command executor.
    pub command: Option<CommandInfo>,
    /// The task's container.
    pub container: Option<ContainerInfo>,
    /// Health check run by the executor.
    pub health_check: Option<HealthCheck>,
    /// How to kill it.
    pub kill_policy: Option<KillPolicy>,
    /// Free-form labels.
    pub labels: Vec<Parameter>,
    /// Opaque data for the executor.
    pub data: Option<Vec<u8>>,
}

impl TaskInfo {
    /// A command task with no container, to be filled in further by the caller.
    pub fn command(
        task_id: impl Into<TaskId>,
        agent_id: AgentId,
        resources: Resources,
        command: CommandInfo,
    ) -> Self {
        let task_id = task_id.into();
        Self {
            name: task_id.to_string(),
            task_id,
            agent_id,
            resources,
            executor: None,
            command: Some(command),
            container: None,
            health_check: None,
            kill_policy: None,
            labels: Vec::new(),
            data: None,
        }
    }
}

/// The 14 task states of Mesos.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskState {
    /// Accepted by the master, on its way to the agent.
    Staging,
    /// The executor is starting the task.
    Starting,
    /// The task runs.
    Running,
    /// The executor is killing the task (framework asked; needs TASK_KILLING_STATE).
    Killing,
    /// Terminal: exited 0.
    Finished,
    /// Terminal: exited non-zero or failed to start.
    Failed,
    /// Terminal: killed on request.
    Killed,
    /// Terminal: the task description was invalid; it never ran.
    Error,
    /// Terminal (for non-partition-aware frameworks): the task may be gone.
    Lost,
    /// Terminal: the launch was dropped before reaching the agent.
    Dropped,
    /// The agent is unreachable; the task may still run (partition-aware).
    Unreachable,
    /// Terminal: the task's agent was removed; it is not running.
    Gone,
    /// Terminal: an operator said the task's agent is gone.
    GoneByOperator,
    /// The master knows nothing about the task.
    Unknown,
}

impl TaskState {
    /// All states, in declaration order.
    pub const ALL: [TaskState; 14] = [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Killed,
        TaskState::Error,
        TaskState::Lost,
        TaskState::Dropped,
        TaskState::Unreachable,
        TaskState::Gone,
        TaskState::GoneByOperator,
        TaskState::Unknown,
    ];

    /// Whether no further update can follow (Mesos `protobuf::isTerminalState`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::GoneByOperator
        )
    }

    /// Mesos's name, e.g. `TASK_RUNNING`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Staging => "TASK_STAGING",
            TaskState::Starting => "TASK_STARTING",
            TaskState::Running => "TASK_RUNNING",
            TaskState::Killing => "TASK_KILLING",
            TaskState::Finished => "TASK_FINISHED",
            TaskState::Failed => "TASK_FAILED",
            TaskState::Killed => "TASK_KILLED",
            TaskState::Error => "TASK_ERROR",
            TaskState::Lost => "TASK_LOST",
            TaskState::Dropped => "TASK_DROPPED",
            TaskState::Unreachable => "TASK_UNREACHABLE",
            TaskState::Gone => "TASK_GONE",
            TaskState::GoneByOperator => "TASK_GONE_BY_OPERATOR",
            TaskState::Unknown => "TASK_UNKNOWN",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who produced a status update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatusSource {
    /// The master (validation, agent loss, reconciliation).
    Master,
    /// The agent (launch failures, executor loss).
    Agent,
    /// The executor (the task's own life).
    Executor,
}

/// Why a task changed state (the Mesos reasons Drover produces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskStatusReason {
    /// The executor exited before the task finished.
    ExecutorTerminated,
    /// The executor did not register in time.
    ExecutorRegistrationTimeout,
    /// The executor did not re-register after an agent restart.
    ExecutorReregistrationTimeout,
    /// The command exited non-zero.
    CommandExited,
    /// The container hit its memory limit (OOM kill).
    ContainerLimitationMemory,
    /// The container hit its disk limit.
    ContainerLimitationDisk,
    /// The containerizer could not launch the container.
    ContainerLaunchFailed,
    /// The task's health check failed too often.
    TaskHealthCheckStatusUpdated,
    /// Killed because its framework asked.
    TaskKilledDuringLaunch,
    /// The task description is invalid.
    TaskInvalid,
    /// The task is unknown to the master.
    TaskUnknown,
    /// The task is unauthorized.
    TaskUnauthorized,
    /// Its agent was removed.
    AgentRemoved,
    /// Its agent is unreachable.
    AgentUnreachable,
    /// Its agent restarted and the task could not be recovered.
    AgentRestarted,
    /// The offer it was launched from is unknown or was rescinded.
    InvalidOffers,
    /// The framework was removed.
    FrameworkRemoved,
    /// Answer to a reconciliation request.
    Reconciliation,
    /// The master disconnected from the agent.
    MasterDisconnected,
    /// The agent was disconnected.
    AgentDisconnected,
    /// Resources on the agent were missing.
    ResourcesUnknown,
    /// Killed by the agent because the executor had to go.
    ExecutorUnregistered,
    /// The task's container failed to start for another reason.
    IoSwitchboardExited,
    /// The image could not be pulled or was missing.
    ContainerImagePullFailed,
}

impl TaskStatusReason {
    /// Mesos's name, e.g. `REASON_CONTAINER_LIMITATION_MEMORY`.
    pub fn as_str(self) -> &'static str {
        use TaskStatusReason::*;
        match self {
            ExecutorTerminated => "REASON_EXECUTOR_TERMINATED",
            ExecutorRegistrationTimeout => "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
            ExecutorReregistrationTimeout => "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
            CommandExited => "REASON_COMMAND_EXECUTOR_FAILED",
            ContainerLimitationMemory => "REASON_CONTAINER_LIMITATION_MEMORY",
            ContainerLimitationDisk => "REASON_CONTAINER_LIMITATION_DISK",
            ContainerLaunchFailed => "REASON_CONTAINER_LAUNCH_FAILED",
            TaskHealthCheckStatusUpdated => "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
            TaskKilledDuringLaunch => "REASON_TASK_KILLED_DURING_LAUNCH",
            TaskInvalid => "REASON_TASK_INVALID",
            TaskUnknown => "REASON_TASK_UNKNOWN",
            TaskUnauthorized => "REASON_TASK_UNAUTHORIZED",
            AgentRemoved => "REASON_AGENT_REMOVED",
            AgentUnreachable => "REASON_AGENT_UNREACHABLE",
            AgentRestarted => "REASON_AGENT_RESTARTED",
            InvalidOffers => "REASON_INVALID_OFFERS",
            FrameworkRemoved => "REASON_FRAMEWORK_REMOVED",
            Reconciliation => "REASON_RECONCILIATION",
            MasterDisconnected => "REASON_MASTER_DISCONNECTED",
            AgentDisconnected => "REASON_AGENT_DISCONNECTED",
            ResourcesUnknown => "REASON_RESOURCES_UNKNOWN",
            ExecutorUnregistered => "REASON_EXECUTOR_UNREGISTERED",
            IoSwitchboardExited => "REASON_IO_SWITCHBOARD_EXITED",
            ContainerImagePullFailed => "REASON_CONTAINER_PULL_FAILED",
        }
    }
}

impl fmt::Display for TaskStatusReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one status update for acknowledgement: 16 random bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UpdateUuid(pub [u8; 16]);

impl fmt::Display for UpdateUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A task's state as reported to its framework (Mesos `TaskStatus`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub task_id: TaskId,
    /// Its new state.
    pub state: TaskState,
    /// Human explanation, e.g. "exited with status 3".
    pub message: Option<String>,
    /// Who produced the update.
    pub source: TaskStatusSource,
    /// Why.
    pub reason: Option<TaskStatusReason>,
    /// The agent the task is on.
    pub agent_id: Option<AgentId>,
    /// The executor running it.
    pub executor_id: Option<ExecutorId>,
    /// Seconds since the Unix epoch when the update was made.
    pub timestamp: f64,
    /// Set on updates that must be acknowledged (those from the agent's status update
    /// manager); `None` on master-generated updates, which need no acknowledgement.
    pub uuid: Option<UpdateUuid>,
    /// Health check result, set when it changes.
    pub healthy: Option<bool>,
    /// Opaque data from the executor.
    pub data: Option<Vec<u8>>,
    /// The task's container, if known.
    pub container_id: Option<ContainerId>,
}

impl TaskStatus {
    /// A status with the given task, state and source; other fields empty.
    pub fn new(task_id: TaskId, state: TaskState, source: TaskStatusSource) -> Self {
        Self {
            task_id,
            state,
            message: None,
            source,
            reason: None,
            agent_id: None,
            executor_id: None,
            timestamp: 0.0,
            uuid: None,
            healthy: None,
            data: None,
            container_id: None,
        }
    }

    /// Sets the message.
    pub fn with_message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }

    /// Sets the reason.
    pub fn with_reason(mut self, r: TaskStatusReason) -> Self {
        self.reason = Some(r);
        self
    }
}
