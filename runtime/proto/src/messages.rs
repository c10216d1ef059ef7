//! The messages of every channel, one enum per direction. Each variant says who sends it
//! and what the receiver must do. The scheduler and executor channels follow the Mesos
//! v1 scheduler and executor APIs, so a JSON face for Mesos clients is a mapping.
//!
//! ```text
//!  scheduler ──SchedulerCall──▶ master ──MasterToAgent──▶ agent ──ExecutorEvent──▶ executor
//!  scheduler ◀─SchedulerEvent── master ◀─AgentToMaster── agent ◀─ExecutorCall─── executor
//! ```

use crate::ids::{AgentId, ContainerId, ExecutorId, FrameworkId, OfferId, TaskId};
use crate::info::{AgentInfo, Filters, FrameworkInfo, MasterInfo, Offer};
use crate::task::{ExecutorInfo, KillPolicy, TaskInfo, TaskState, TaskStatus, UpdateUuid};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An operation inside `Accept` (Mesos `Offer.Operation`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Operation {
    /// Launch these tasks on the offers' agent, using the offered resources.
    Launch {
        /// The tasks; their resources must fit in the accepted offers together.
        tasks: Vec<TaskInfo>,
    },
}

/// A task named in an explicit reconciliation request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileTask {
    /// The task.
    pub task_id: TaskId,
    /// Its agent, if the framework knows it.
    pub agent_id: Option<AgentId>,
}

/// Scheduler → master.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SchedulerCall {
    /// Sent by a scheduler on connect. The master registers the framework (a new id if
    /// `framework_info.id` is `None`, otherwise fail-over to that id), answers
    /// `Subscribed`, and starts sending offers. Re-subscribing with a known id within
    /// its failover timeout resumes the framework with its tasks.
    Subscribe {
        /// The framework's description.
        framework_info: FrameworkInfo,
    },
    /// Sent to end the framework. The master kills all its tasks, rescinds its offers and
    /// forgets it; its id cannot subscribe again.
    Teardown {
        /// The framework.
        framework_id: FrameworkId,
    },
    /// Sent to use offers. The master validates each operation; tasks that fail
    /// validation get `TASK_ERROR`, tasks on unknown or rescinded offers `TASK_DROPPED`;
    /// valid tasks go to the agent. Unused resources return to the pool, filtered for
    /// `filters.refuse_seconds`.
    Accept {
        /// The framework.
        framework_id: FrameworkId,
        /// Offers being used; all must be for the same agent.
        offer_ids: Vec<OfferId>,
        /// What to do with them.
        operations: Vec<Operation>,
        /// Filter for the unused part.
        filters: Filters,
    },
    /// Sent to refuse offers. The master returns their resources and does not offer that
    /// agent to the framework again for `filters.refuse_seconds`.
    Decline {
        /// The framework.
        framework_id: FrameworkId,
        /// Offers declined.
        offer_ids: Vec<OfferId>,
        /// How long to refuse them.
        filters: Filters,
    },
    /// Sent to receive offers again. The master clears the framework's decline filters
    /// and un-suppresses the given roles (all of its roles if empty).
    Revive {
        /// The framework.
        framework_id: FrameworkId,
        /// Roles to revive; empty means all.
        roles: Vec<String>,
    },
    /// Sent to stop receiving offers in the given roles (all if empty) until `Revive`.
    Suppress {
        /// The framework.
        framework_id: FrameworkId,
        /// Roles to suppress; empty means all.
        roles: Vec<String>,
    },
    /// Sent to kill a task. The master forwards it to the task's agent; an unknown task
    /// is answered with a `TASK_LOST`/`TASK_UNKNOWN` update.
    Kill {
        /// The framework.
        framework_id: FrameworkId,
        /// The task.
        task_id: TaskId,
        /// Its agent, if known.
        agent_id: Option<AgentId>,
        /// Overrides the task's kill policy.
        kill_policy: Option<KillPolicy>,
    },
    /// Sent after handling an update that carried a uuid. The master forwards it to the
    /// agent, whose status update manager then sends the task's next update.
    Acknowledge {
        /// The framework.
        framework_id: FrameworkId,
        /// The agent the update came from.
        agent_id: AgentId,
        /// The task.
        task_id: TaskId,
        /// The acknowledged update.
        uuid: UpdateUuid,
    },
    /// Sent to learn the latest state of tasks. The master answers each listed task (all
    /// of the framework's tasks if the list is empty) with an `Update` carrying reason
    /// `Reconciliation` and no uuid.
    Reconcile {
        /// The framework.
        framework_id: FrameworkId,
        /// Tasks to reconcile; empty = implicit reconciliation of all tasks.
        tasks: Vec<ReconcileTask>,
    },
    /// Sent to pass opaque data to an executor. The master forwards it to the agent.
    Message {
        /// The framework.
        framework_id: FrameworkId,
        /// The agent of the executor.
        agent_id: AgentId,
        /// The executor.
        executor_id: ExecutorId,
        /// The data.
        data: Vec<u8>,
    },
}

impl SchedulerCall {
    /// The framework the call is for (`None` for a first `Subscribe`).
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        match self {
            SchedulerCall::Subscribe { framework_info } => framework_info.id.as_ref(),
            SchedulerCall::Teardown { framework_id }
            | SchedulerCall::Accept { framework_id, .. }
            | SchedulerCall::Decline { framework_id, .. }
            | SchedulerCall::Revive { framework_id, .. }
            | SchedulerCall::Suppress { framework_id, .. }
            | SchedulerCall::Kill { framework_id, .. }
            | SchedulerCall::Acknowledge { framework_id, .. }
            | SchedulerCall::Reconcile { framework_id, .. }
            | SchedulerCall::Message { framework_id, .. } => Some(framework_id),
        }
    }

    /// A short name for logs and errors, e.g. `ACCEPT`.
    pub fn name(&self) -> &'static str {
        match self {
            SchedulerCall::Subscribe { .. } => "SUBSCRIBE",
            SchedulerCall::Teardown { .. } => "TEARDOWN",
            SchedulerCall::Accept { .. } => "ACCEPT",
            SchedulerCall::Decline { .. } => "DECLINE",
            SchedulerCall::Revive { .. } => "REVIVE",
            SchedulerCall::Suppress { .. } => "SUPPRESS",
            SchedulerCall::Kill { .. } => "KILL",
            SchedulerCall::Acknowledge { .. } => "ACKNOWLEDGE",
            SchedulerCall::Reconcile { .. } => "RECONCILE",
            SchedulerCall::Message { .. } => "MESSAGE",
        }
    }
}

/// Master → scheduler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SchedulerEvent {
    /// Answer to `Subscribe`. The scheduler keeps the id for re-subscription and expects a
    /// `Heartbeat` every `heartbeat_interval`; missing several means the master is gone.
    Subscribed {
        /// The framework's id.
        framework_id: FrameworkId,
        /// Interval of `Heartbeat` events.
        heartbeat_interval: Duration,
        /// The master.
        master_info: MasterInfo,
    },
    /// New offers. The scheduler answers each with `Accept` or `Decline` (an offer it
    /// ignores holds resources until rescinded).
    Offers {
        /// The offers.
        offers: Vec<Offer>,
    },
    /// An offer is no longer valid (agent lost, offer timeout). The scheduler must not use it.
    Rescind {
        /// The offer.
        offer_id: OfferId,
    },
    /// A task's status changed. If `status.uuid` is set, the scheduler must `Acknowledge` it
    /// (the SDK does so unless told otherwise) or it will be sent again.
    Update {
        /// The new status.
        status: TaskStatus,
    },
    /// Data from an executor. The scheduler handles it; nothing is acknowledged.
    Message {
        /// The agent.
        agent_id: AgentId,
        /// The executor.
        executor_id: ExecutorId,
        /// The data.
        data: Vec<u8>,
    },
    /// An agent or executor failed. With only `agent_id` the agent is lost; with an
    /// executor id that executor exited with `status`.
    Failure {
        /// The agent.
        agent_id: Option<AgentId>,
        /// The executor, when an executor failed.
        executor_id: Option<ExecutorId>,
        /// Its exit status, if known.
        status: Option<i32>,
    },
    /// A call was refused (unknown framework, someone else's offer, malformed call). The
    /// framework stays subscribed; the scheduler should log it and fix its logic.
    Rejected {
        /// The refused call's name, e.g. `ACCEPT`.
        call: String,
        /// Why.
        message: String,
    },
    /// The framework was removed (torn down, failover timeout, refused subscription). The
    /// scheduler must stop; further calls are refused.
    Error {
        /// Why.
        message: String,
    },
    /// Sent every `heartbeat_interval` so the scheduler can tell a silent master from a dead one.
    Heartbeat,
}

/// A task the agent reports when it re-registers, so a (restarted) master can rebuild it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// The task's framework.
    pub framework_id: FrameworkId,
    /// The task as launched.
    pub task: TaskInfo,
    /// Its latest state.
    pub state: TaskState,
    /// Its executor.
    pub executor_id: ExecutorId,
}

/// Master → agent.
// Messages are decoded once and moved into their handler; boxing the large variants
// would add an allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MasterToAgent {
    /// Answer to `Register`: the agent stores its new id (checkpoints it) and starts
    /// serving. Pings follow every `ping_interval`.
    Registered {
        /// The agent's id.
        agent_id: AgentId,
        /// The master.
        master_info: MasterInfo,
        /// Interval of `Ping`s.
        ping_interval: Duration,
    },
    /// Answer to `Reregister`: the agent keeps its id and resumes.
    Reregistered {
        /// The agent's id.
        agent_id: AgentId,
        /// The master.
        master_info: MasterInfo,
        /// Interval of `Ping`s.
        ping_interval: Duration,
    },
    /// The master refuses the agent (e.g. a removed agent id). The agent must shut down
    /// its tasks and exit, or start afresh with a new identity if configured to.
    Refused {
        /// Why.
        reason: String,
    },
    /// Launch a task. The agent makes the sandbox, starts the executor if it is not
    /// running (through the containerizer chosen by the task's container type) and hands
    /// the task to it; failures become status updates with a reason.
    RunTask {
        /// The framework (with its id set).
        framework: FrameworkInfo,
        /// The task. For a command task (no executor) the agent makes the command
        /// executor itself.
        task: TaskInfo,
    },
    /// Kill a task: the agent forwards the kill to the executor (or answers `TASK_LOST`
    /// if it does not know the task).
    KillTask {
        /// The framework.
        framework_id: FrameworkId,
        /// The task.
        task_id: TaskId,
        /// Overrides the task's kill policy.
        kill_policy: Option<KillPolicy>,
    },
    /// The scheduler acknowledged an update: the agent's status update manager drops it
    /// and sends the task's next pending update.
    Acknowledge {
        /// The framework.
        framework_id: FrameworkId,
        /// The task.
        task_id: TaskId,
        /// The acknowledged update.
        uuid: UpdateUuid,
    },
    /// Opaque data from a scheduler: the agent forwards it to the executor.
    FrameworkMessage {
        /// The framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The data.
        data: Vec<u8>,
    },
    /// The framework is gone: the agent kills all its executors and tasks and forgets it.
    ShutdownFramework {
        /// The framework.
        framework_id: FrameworkId,
    },
    /// Liveness probe: the agent answers `Pong` at once. Missing pongs make the master
    /// declare the agent unreachable.
    Ping,
    /// Sent by the master for tasks it believes are on the agent but that may never have
    /// reached it (Mesos `ReconcileTasksMessage`): tasks a re-registering agent did not
    /// report, and STAGING tasks named in a framework's reconciliation. For each task it
    /// does not know (not running, queued or with updates pending), the agent makes a
    /// status update through its status update manager — `TASK_DROPPED` if the framework
    /// is partition-aware, `TASK_LOST` otherwise, reason `Reconciliation` — acknowledged
    /// like any other. Tasks it knows need nothing: their own updates are on their way.
    /// Messages on a connection are ordered, so the request always follows the task's
    /// `RunTask`: an agent that does not know the task never got it and never will.
    ReconcileTasks {
        /// The framework (with its id set; its capabilities pick DROPPED or LOST).
        framework: FrameworkInfo,
        /// The tasks to check.
        task_ids: Vec<TaskId>,
    },
}

/// Agent → master.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgentToMaster {
    /// First registration of a fresh agent: the master issues an id and answers `Registered`.
    Register {
        /// The agent (no id).
        agent: AgentInfo,
    },
    /// Registration of an agent that has an id (restarted agent, restarted master, or a
    /// reconnect). The master re-admits it unless the id was removed, and rebuilds its
    /// tasks from `tasks`.
    Reregister {
        /// The agent (with id).
        agent: AgentInfo,
        /// Frameworks with tasks on it.
        frameworks: Vec<FrameworkInfo>,
        /// Its tasks and their latest states.
        tasks: Vec<TaskReport>,
    },
    /// A task status update (with a uuid). The master updates its view of the task,
    /// frees its resources if terminal, and forwards it to the framework. The agent
    /// resends it until the acknowledgement comes back.
    StatusUpdate {
        /// The task's framework.
        framework_id: FrameworkId,
        /// The update.
        status: TaskStatus,
    },
    /// Opaque data from an executor: the master forwards it to the scheduler.
    FrameworkMessage {
        /// The framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The data.
        data: Vec<u8>,
    },
    /// An executor exited: the master frees its resources and tells the framework
    /// (`Failure`). Its tasks' terminal updates come separately.
    ExecutorExited {
        /// The framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// Its exit status, if known.
        status: Option<i32>,
    },
    /// Answer to `Ping`.
    Pong,
}

/// Executor → agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ExecutorCall {
    /// First message of an executor (also after an agent restart). The agent matches it
    /// to the executor it launched (by container id), answers `Subscribed`, then sends
    /// `Launch` for queued tasks. On re-subscription the executor lists what it has so
    /// the agent can resend what was lost.
    Subscribe {
        /// The framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The container the agent started it in (from `DROVER_CONTAINER_ID`).
        container_id: ContainerId,
        /// Tasks it runs that have not reached a terminal acknowledged state.
        unacknowledged_tasks: Vec<TaskInfo>,
        /// Updates it sent that were not acknowledged yet.
        unacknowledged_updates: Vec<TaskStatus>,
    },
    /// A task's new status. The agent gives it a uuid (unless it has one), checkpoints
    /// it, forwards it and sends `Acknowledged` back once the framework acknowledged
    /// it. The executor keeps it until then and lists it in its next `Subscribe`: a
    /// non-terminal update is forwarded before the agent's checkpoint is on disk.
    Update {
        /// The status (source Executor).
        status: TaskStatus,
    },
    /// Opaque data for the scheduler: the agent forwards it through the master.
    Message {
        /// The data.
        data: Vec<u8>,
    },
}

/// Agent → executor.
// Messages are decoded once and moved into their handler; boxing the large variants
// would add an allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ExecutorEvent {
    /// Answer to `Subscribe`: the executor may now launch tasks it receives.
    Subscribed {
        /// The executor.
        executor_info: ExecutorInfo,
        /// Its framework.
        framework_info: FrameworkInfo,
        /// The agent.
        agent_id: AgentId,
        /// Its container.
        container_id: ContainerId,
    },
    /// Run a task: the executor reports `TASK_STARTING`, `TASK_RUNNING`, then a terminal state.
    Launch {
        /// The task.
        task: TaskInfo,
    },
    /// Kill a task: SIGTERM, then SIGKILL after the grace period; report `TASK_KILLED`.
    Kill {
        /// The task.
        task_id: TaskId,
        /// Overrides the task's kill policy.
        kill_policy: Option<KillPolicy>,
    },
    /// The scheduler acknowledged an update: the executor may forget it.
    Acknowledged {
        /// The task.
        task_id: TaskId,
        /// Which update.
        uuid: UpdateUuid,
    },
    /// Opaque data from the scheduler.
    Message {
        /// The data.
        data: Vec<u8>,
    },
    /// Kill all tasks (each with its grace period) and exit.
    Shutdown {
        /// Upper bound for the whole shutdown.
        grace_period: Duration,
    },
    /// The agent refuses the executor (e.g. unknown container). It must exit.
    Error {
        /// Why.
        message: String,
    },
}
