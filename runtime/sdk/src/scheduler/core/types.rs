//! What goes in and out of the scheduler driver core: [`Input`]s (link events, master
//! events, driver calls, ticks) and [`Command`]s (connect, send, run a callback, end).

use drover_proto::{
    AgentId, ExecutorId, Filters, FrameworkId, MasterInfo, Offer, OfferId, Operation,
    ReconcileTask, SchedulerCall, SchedulerEvent, TaskId, TaskStatus,
};

/// A call made through the driver handle; the core adds the framework id.
#[derive(Clone, Debug, PartialEq)]
pub enum DriverCall {
    /// `Accept` offers with operations.
    Accept {
        /// Offers used (all of one agent).
        offer_ids: Vec<OfferId>,
        /// What to do with them.
        operations: Vec<Operation>,
        /// Filter for the unused part.
        filters: Filters,
    },
    /// `Decline` offers.
    Decline {
        /// Offers declined.
        offer_ids: Vec<OfferId>,
        /// How long to refuse them.
        filters: Filters,
    },
    /// `Revive` roles (all if empty).
    Revive {
        /// Roles.
        roles: Vec<String>,
    },
    /// `Suppress` roles (all if empty).
    Suppress {
        /// Roles.
        roles: Vec<String>,
    },
    /// `Kill` a task.
    Kill {
        /// The task.
        task_id: TaskId,
        /// Its agent, if known.
        agent_id: Option<AgentId>,
    },
    /// Explicitly acknowledge an update (only with explicit acknowledgements).
    Acknowledge {
        /// The update as received.
        status: TaskStatus,
    },
    /// `Reconcile` tasks (all if empty).
    Reconcile {
        /// Tasks.
        tasks: Vec<ReconcileTask>,
    },
    /// `Message` to an executor.
    Message {
        /// The executor's agent.
        agent_id: AgentId,
        /// The executor.
        executor_id: ExecutorId,
        /// The data.
        data: Vec<u8>,
    },
}

/// What the shell feeds the core.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The driver starts: connect to the first master.
    Start,
    /// The link asked for by the last [`Command::Connect`] is up.
    Connected {
        /// Index in the configured masters of the one it reached, if known.
        master: Option<usize>,
    },
    /// That link's connection is down; the link reconnects by itself.
    Disconnected,
    /// An event from the master on the current link.
    Event(SchedulerEvent),
    /// A call from the driver handle.
    Call(DriverCall),
    /// `stop(failover)` from the driver handle.
    Stop {
        /// `true`: just disconnect; `false`: tear the framework down.
        failover: bool,
    },
    /// Time passed; check deadlines (see [`super::SchedulerCore::next_deadline`]).
    Tick,
}

/// A callback of the user's scheduler to run, in order with the other commands.
#[derive(Clone, Debug, PartialEq)]
pub enum Callback {
    /// [`crate::scheduler::Scheduler::subscribed`].
    Subscribed {
        /// The framework id.
        framework_id: FrameworkId,
        /// The master.
        master_info: MasterInfo,
    },
    /// [`crate::scheduler::Scheduler::offers`].
    Offers(Vec<Offer>),
    /// [`crate::scheduler::Scheduler::offer_rescinded`].
    Rescinded(OfferId),
    /// [`crate::scheduler::Scheduler::status_update`].
    StatusUpdate(TaskStatus),
    /// [`crate::scheduler::Scheduler::framework_message`].
    FrameworkMessage {
        /// The agent.
        agent_id: AgentId,
        /// The executor.
        executor_id: ExecutorId,
        /// The data.
        data: Vec<u8>,
    },
    /// [`crate::scheduler::Scheduler::agent_lost`].
    AgentLost(AgentId),
    /// [`crate::scheduler::Scheduler::executor_lost`].
    ExecutorLost {
        /// The agent.
        agent_id: AgentId,
        /// The executor.
        executor_id: ExecutorId,
        /// Its exit status.
        status: Option<i32>,
    },
    /// [`crate::scheduler::Scheduler::rejected`].
    Rejected {
        /// The call's name.
        call: String,
        /// Why.
        message: String,
    },
    /// [`crate::scheduler::Scheduler::error`].
    Error(String),
    /// [`crate::scheduler::Scheduler::disconnected`].
    Disconnected,
}

/// How a stopped driver ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `stop(true)`: disconnected; the master keeps the framework and its tasks for its
    /// `failover_timeout`, so a new driver with the same framework id can take over.
    Failover,
    /// `stop(false)` / `teardown()`: the framework was torn down.
    TornDown,
    /// `stop(false)` while not subscribed: the teardown could not be sent, so the master
    /// removes the framework only when its `failover_timeout` passes.
    TeardownUnsent,
}

/// How the driver ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Stopped on request.
    Stopped(StopReason),
    /// The master removed the framework (its `Error` event).
    Removed {
        /// The master's explanation.
        message: String,
    },
}

/// What the core asks the shell to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Drop any current link and open one that tries the configured masters in turn,
    /// starting with index `start`.
    Connect {
        /// Index of the first master to try.
        start: usize,
    },
    /// Send a call on the current link.
    Send(SchedulerCall),
    /// Run a callback of the user's scheduler.
    Deliver(Callback),
    /// Close the link (after flushing sent calls) and end the driver.
    Finish(Ending),
}
