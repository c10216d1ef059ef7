//! The pure core of the executor driver: subscription and re-subscription, the tasks
//! and updates still unacknowledged, the recovery timeout and the shutdown deadline.
//! It takes `now` and an [`Input`] and returns [`Command`]s; no clock, network or user
//! code inside.
//!
//! ```text
//!  Idle ─Start─▶ Connecting ─Connected─▶ Subscribing ─Subscribed─▶ Subscribed
//!                    │  ▲                     ▲                        │ Disconnected
//!                    │  └─────────────────────┴── Connected ◀──────────┘ (link retries)
//!                    └─ not subscribed for recovery_timeout: Shutdown callback, then end
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drover_proto::{
    AgentId, ExecutorCall, ExecutorEvent, ExecutorInfo, FrameworkInfo, KillPolicy, TaskId,
    TaskInfo, TaskStatus,
};

use super::config::ExecutorConfig;

/// What the shell feeds the core.
#[allow(
    clippy::large_enum_variant,
    reason = "moved once per event; boxing would only add an allocation"
)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The driver starts: connect to the agent.
    Start,
    /// The link to the agent is up (first time or after a reconnect).
    Connected,
    /// The link to the agent is down; it keeps retrying by itself.
    Disconnected,
    /// An event from the agent.
    Event(ExecutorEvent),
    /// A complete update from the executor (ids, timestamp and uuid filled in).
    SendUpdate(TaskStatus),
    /// Data for the scheduler.
    SendMessage(Vec<u8>),
    /// The executor called `stop()`.
    Stop,
    /// Time passed; check deadlines (see [`ExecutorCore::next_deadline`]).
    Tick,
}

/// A callback of the user's executor to run.
#[allow(
    clippy::large_enum_variant,
    reason = "moved once per event; boxing would only add an allocation"
)]
#[derive(Clone, Debug, PartialEq)]
pub enum Callback {
    /// [`super::Executor::registered`].
    Registered {
        /// The executor.
        executor_info: ExecutorInfo,
        /// Its framework.
        framework_info: FrameworkInfo,
        /// The agent.
        agent_id: AgentId,
    },
    /// [`super::Executor::reregistered`].
    Reregistered {
        /// The agent.
        agent_id: AgentId,
    },
    /// [`super::Executor::disconnected`].
    Disconnected,
    /// [`super::Executor::launch_task`].
    Launch(TaskInfo),
    /// [`super::Executor::kill_task`].
    Kill {
        /// The task.
        task_id: TaskId,
        /// Overrides the task's kill policy.
        kill_policy: Option<KillPolicy>,
    },
    /// [`super::Executor::acknowledged`].
    Acknowledged(TaskStatus),
    /// [`super::Executor::framework_message`].
    Message(Vec<u8>),
    /// [`super::Executor::shutdown`].
    Shutdown {
        /// Time the executor has.
        grace_period: Duration,
    },
    /// [`super::Executor::error`].
    Error(String),
}

/// How the driver ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The executor stopped (or its shutdown grace period passed).
    Stopped,
    /// The agent did not come back within the recovery timeout.
    RecoveryTimeout(Duration),
    /// The agent refused the executor.
    Refused(String),
}

/// What the core asks the shell to do, in order.
#[allow(
    clippy::large_enum_variant,
    reason = "moved once per event; boxing would only add an allocation"
)]
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Open the (self-reconnecting) link to the agent.
    Connect,
    /// Send a call on the link.
    Send(ExecutorCall),
    /// Run a callback of the user's executor.
    Deliver(Callback),
    /// Close the link (after flushing) and end the driver.
    Finish(Ending),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conn {
    Idle,
    Connecting,
    Subscribing,
    Subscribed,
    Stopped,
}

/// The executor driver's decisions. See the module docs.
#[derive(Debug)]
pub struct ExecutorCore {
    config: ExecutorConfig,
    conn: Conn,
    ever_subscribed: bool,
    /// Since when the executor has not been subscribed (drives the recovery timeout).
    unsubscribed_since: Option<Instant>,
    /// Set once the driver is winding down: end with this at that time at the latest.
    finishing: Option<(Instant, Ending)>,
    /// Tasks received and not yet terminal-and-acknowledged.
    tasks: BTreeMap<TaskId, TaskInfo>,
    /// Updates sent and not yet acknowledged, oldest first.
    updates: Vec<TaskStatus>,
}

impl ExecutorCore {
    /// A core for `config`, idle until [`Input::Start`].
    pub fn new(config: ExecutorConfig) -> Self {
        Self {
            config,
            conn: Conn::Idle,
            ever_subscribed: false,
            unsubscribed_since: None,
            finishing: None,
            tasks: BTreeMap::new(),
            updates: Vec::new(),
        }
    }

    /// Whether the executor is subscribed to the agent now.
    pub fn is_subscribed(&self) -> bool {
        self.conn == Conn::Subscribed
    }

    /// Updates not yet acknowledged, oldest first.
    pub fn unacknowledged_updates(&self) -> &[TaskStatus] {
        &self.updates
    }

    /// Tasks not yet terminal and acknowledged.
    pub fn unacknowledged_tasks(&self) -> impl Iterator<Item = &TaskInfo> {
        self.tasks.values()
    }

    /// When the shell must feed [`Input::Tick`] next, if any timer runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        let recovery = self
            .unsubscribed_since
            .filter(|_| self.finishing.is_none())
            .map(|since| since + self.config.recovery_timeout);
        let finish = self.finishing.as_ref().map(|(at, _)| *at);
        match (recovery, finish) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Feeds one input; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        if self.conn == Conn::Stopped {
            return out;
        }
        match input {
            Input::Start => {
                if self.conn == Conn::Idle {
                    self.conn = Conn::Connecting;
                    self.unsubscribed_since = Some(now);
                    out.push(Command::Connect);
                }
            }
            Input::Connected => {
                self.conn = Conn::Subscribing;
                out.push(Command::Send(self.subscribe_call()));
            }
            Input::Disconnected => {
                if self.conn == Conn::Subscribed {
                    self.unsubscribed_since = Some(now);
                    out.push(Command::Deliver(Callback::Disconnected));
                }
                self.conn = Conn::Connecting;
            }
            Input::Event(event) => self.on_event(now, event, &mut out),
            Input::SendUpdate(status) => {
                if self.is_subscribed() {
                    out.push(Command::Send(ExecutorCall::Update {
                        status: status.clone(),
                    }));
                }
                // Kept until acknowledged; handed over again on re-subscription.
                self.updates.push(status);
            }
            Input::SendMessage(data) => {
                if self.is_subscribed() {
                    out.push(Command::Send(ExecutorCall::Message { data }));
                } else {
                    tracing::warn!("framework message dropped: not subscribed to the agent");
                }
            }
            Input::Stop => {
                let ending = self.finishing.take().map_or(Ending::Stopped, |(_, e)| e);
                self.finish(ending, &mut out);
            }
            Input::Tick => self.on_tick(now, &mut out),
        }
        out
    }

    fn subscribe_call(&self) -> ExecutorCall {
        ExecutorCall::Subscribe {
            framework_id: self.config.framework_id.clone(),
            executor_id: self.config.executor_id.clone(),
            container_id: self.config.container_id.clone(),
            unacknowledged_tasks: self.tasks.values().cloned().collect(),
            unacknowledged_updates: self.updates.clone(),
        }
    }

    fn finish(&mut self, ending: Ending, out: &mut Vec<Command>) {
        self.conn = Conn::Stopped;
        self.finishing = None;
        out.push(Command::Finish(ending));
    }

    fn on_tick(&mut self, now: Instant, out: &mut Vec<Command>) {
        if let Some((at, _)) = &self.finishing {
            if now >= *at {
                tracing::warn!("the executor did not stop within its shutdown grace period");
                let ending = self.finishing.take().map_or(Ending::Stopped, |(_, e)| e);
                self.finish(ending, out);
            }
            return;
        }
        let Some(since) = self.unsubscribed_since else {
            return;
        };
        let timeout = self.config.recovery_timeout;
        if now >= since + timeout {
            tracing::error!(?timeout, "the agent did not come back: shutting down");
            let grace_period = self.config.recovery_shutdown_grace;
            self.finishing = Some((now + grace_period, Ending::RecoveryTimeout(timeout)));
            out.push(Command::Deliver(Callback::Shutdown { grace_period }));
        }
    }

    fn on_event(&mut self, now: Instant, event: ExecutorEvent, out: &mut Vec<Command>) {
        match event {
            ExecutorEvent::Subscribed {
                executor_info,
                framework_info,
                agent_id,
                container_id: _,
            } => {
                self.conn = Conn::Subscribed;
                self.unsubscribed_since = None;
                let callback = if self.ever_subscribed {
                    Callback::Reregistered { agent_id }
                } else {
                    Callback::Registered {
                        executor_info,
                        framework_info,
                        agent_id,
                    }
                };
                self.ever_subscribed = true;
                out.push(Command::Deliver(callback));
            }
            ExecutorEvent::Launch { task } => {
                // A restarted agent that lost the subscription may send a task again
                // (the executor lists its tasks when it re-subscribes, so only a race
                // with that leaves one): the executor already runs it.
                if self.tasks.contains_key(&task.task_id) {
                    tracing::warn!(task = %task.task_id, "Launch of a task this executor already has: ignored");
                    return;
                }
                self.tasks.insert(task.task_id.clone(), task.clone());
                out.push(Command::Deliver(Callback::Launch(task)));
            }
            ExecutorEvent::Kill {
                task_id,
                kill_policy,
            } => out.push(Command::Deliver(Callback::Kill {
                task_id,
                kill_policy,
            })),
            ExecutorEvent::Acknowledged { task_id, uuid } => {
                // By uuid; if the agent re-stamped the update, the task's oldest
                // pending one (the agent acknowledges a task's updates in order).
                let index = self
                    .updates
                    .iter()
                    .position(|u| u.task_id == task_id && u.uuid == Some(uuid))
                    .or_else(|| self.updates.iter().position(|u| u.task_id == task_id));
                let Some(index) = index else {
                    tracing::debug!(%task_id, %uuid, "acknowledgement for an unknown update");
                    return;
                };
                let status = self.updates.remove(index);
                if status.state.is_terminal() {
                    self.tasks.remove(&status.task_id);
                }
                out.push(Command::Deliver(Callback::Acknowledged(status)));
            }
            ExecutorEvent::Message { data } => out.push(Command::Deliver(Callback::Message(data))),
            ExecutorEvent::Shutdown { grace_period } => {
                if self.finishing.is_none() {
                    self.finishing = Some((now + grace_period, Ending::Stopped));
                }
                out.push(Command::Deliver(Callback::Shutdown { grace_period }));
            }
            ExecutorEvent::Error { message } => {
                out.push(Command::Deliver(Callback::Error(message.clone())));
                self.finish(Ending::Refused(message), out);
            }
        }
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
