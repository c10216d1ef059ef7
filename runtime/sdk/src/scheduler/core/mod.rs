//! The pure core of the scheduler driver: when to subscribe and re-subscribe, when a
//! master is presumed gone, which events become which callbacks, how driver calls
//! become [`SchedulerCall`]s, and implicit acknowledgements. It takes `now` and an
//! [`Input`] and returns [`Command`]s; it never touches the clock, the network or the
//! user's scheduler, so it is tested (and simulated) without either.
//!
//! The link (see [`Command::Connect`]) tries the masters in turn and reconnects by
//! itself with backoff; the core moves it on to the next master when a connected master
//! does not answer `Subscribe` in time or its heartbeats stop.
//!
//! ```text
//!  Idle ─Start─▶ Connecting ─Connected─▶ Subscribing ─Subscribed─▶ Subscribed
//!                 ▲    ▲ Disconnected        │ no answer in time       │ Disconnected: link
//!                 │    └─────────────────────┤                         │ reconnects by itself
//!                 └── Connect{next master} ◀─┴──── heartbeats missed ◀─┘
//!  any ─Stop / master Error─▶ Stopped
//! ```

use std::time::{Duration, Instant};

use drover_proto::{FrameworkId, FrameworkInfo, SchedulerCall, SchedulerEvent, TaskStatus};

use super::config::SchedulerConfig;

mod types;

pub use types::{Callback, Command, DriverCall, Ending, Input, StopReason};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Conn {
    Idle,
    Connecting,
    Subscribing {
        since: Instant,
    },
    Subscribed {
        last_event: Instant,
        heartbeat: Duration,
    },
    Stopped,
}

/// The scheduler driver's decisions. See the module docs.
#[derive(Debug)]
pub struct SchedulerCore {
    masters: usize,
    /// The master the link reached last.
    current: usize,
    subscribe_timeout: Duration,
    missed_heartbeats: u32,
    explicit_acks: bool,
    framework: FrameworkInfo,
    conn: Conn,
}

impl SchedulerCore {
    /// A core for `config` (assumed validated), idle until [`Input::Start`].
    pub fn new(config: &SchedulerConfig) -> Self {
        Self {
            masters: config.masters.len().max(1),
            current: 0,
            subscribe_timeout: config.subscribe_timeout,
            missed_heartbeats: config.missed_heartbeats,
            explicit_acks: config.explicit_acks,
            framework: config.framework.clone(),
            conn: Conn::Idle,
        }
    }

    /// The framework id, once the master issued one (or the one configured for failover).
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        self.framework.id.as_ref()
    }

    /// Whether the framework is subscribed on the current link.
    pub fn is_subscribed(&self) -> bool {
        matches!(self.conn, Conn::Subscribed { .. })
    }

    /// Whether the driver has ended.
    pub fn is_stopped(&self) -> bool {
        self.conn == Conn::Stopped
    }

    /// When the shell must feed [`Input::Tick`] next, if any timer runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.conn {
            Conn::Subscribing { since } => Some(since + self.subscribe_timeout),
            Conn::Subscribed {
                last_event,
                heartbeat,
            } if !heartbeat.is_zero() => Some(last_event + heartbeat * self.missed_heartbeats),
            _ => None,
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
                    out.push(Command::Connect { start: 0 });
                }
            }
            Input::Connected { master } => {
                if self.conn == Conn::Connecting {
                    self.current = master.unwrap_or(self.current) % self.masters;
                    self.conn = Conn::Subscribing { since: now };
                    out.push(Command::Send(SchedulerCall::Subscribe {
                        framework_info: self.framework.clone(),
                    }));
                }
            }
            Input::Disconnected => {
                if self.is_subscribed() {
                    out.push(Command::Deliver(Callback::Disconnected));
                }
                if self.conn != Conn::Idle {
                    self.conn = Conn::Connecting;
                }
            }
            Input::Event(event) => self.on_event(now, event, &mut out),
            Input::Call(call) => self.on_call(call, &mut out),
            Input::Stop { failover } => self.on_stop(failover, &mut out),
            Input::Tick => {
                if self.next_deadline().is_some_and(|d| now >= d) {
                    tracing::warn!(
                        master = self.current,
                        "master did not answer in time, trying the next one"
                    );
                    if self.is_subscribed() {
                        out.push(Command::Deliver(Callback::Disconnected));
                    }
                    self.current = (self.current + 1) % self.masters;
                    self.conn = Conn::Connecting;
                    out.push(Command::Connect {
                        start: self.current,
                    });
                }
            }
        }
        out
    }

    fn on_event(&mut self, now: Instant, event: SchedulerEvent, out: &mut Vec<Command>) {
        match (&mut self.conn, event) {
            (
                Conn::Subscribing { .. } | Conn::Subscribed { .. },
                SchedulerEvent::Subscribed {
                    framework_id,
                    heartbeat_interval,
                    master_info,
                },
            ) => {
                self.framework.id = Some(framework_id.clone());
                self.conn = Conn::Subscribed {
                    last_event: now,
                    heartbeat: heartbeat_interval,
                };
                out.push(Command::Deliver(Callback::Subscribed {
                    framework_id,
                    master_info,
                }));
            }
            (
                Conn::Subscribing { .. } | Conn::Subscribed { .. },
                SchedulerEvent::Error { message },
            ) => {
                self.conn = Conn::Stopped;
                out.push(Command::Deliver(Callback::Error(message.clone())));
                out.push(Command::Finish(Ending::Removed { message }));
            }
            (Conn::Subscribed { last_event, .. }, event) => {
                *last_event = now;
                self.on_subscribed_event(event, out);
            }
            (_, event) => {
                tracing::debug!(?event, "event ignored: not subscribed");
            }
        }
    }

    fn on_subscribed_event(&mut self, event: SchedulerEvent, out: &mut Vec<Command>) {
        let callback = match event {
            SchedulerEvent::Offers { offers } => Callback::Offers(offers),
            SchedulerEvent::Rescind { offer_id } => Callback::Rescinded(offer_id),
            SchedulerEvent::Update { status } => {
                let ack = (!self.explicit_acks)
                    .then(|| self.ack_call(&status))
                    .flatten();
                out.push(Command::Deliver(Callback::StatusUpdate(status)));
                out.extend(ack.map(Command::Send));
                return;
            }
            SchedulerEvent::Message {
                agent_id,
                executor_id,
                data,
            } => Callback::FrameworkMessage {
                agent_id,
                executor_id,
                data,
            },
            SchedulerEvent::Failure {
                agent_id: Some(agent_id),
                executor_id: Some(executor_id),
                status,
            } => Callback::ExecutorLost {
                agent_id,
                executor_id,
                status,
            },
            SchedulerEvent::Failure {
                agent_id: Some(agent_id),
                executor_id: None,
                ..
            } => Callback::AgentLost(agent_id),
            SchedulerEvent::Failure { agent_id: None, .. } => {
                tracing::warn!("failure event without an agent id ignored");
                return;
            }
            SchedulerEvent::Rejected { call, message } => Callback::Rejected { call, message },
            SchedulerEvent::Heartbeat => return,
            // Handled in `on_event` before we get here.
            SchedulerEvent::Subscribed { .. } | SchedulerEvent::Error { .. } => return,
        };
        out.push(Command::Deliver(callback));
    }

    /// The `Acknowledge` for an update, if it needs one and can have one.
    fn ack_call(&self, status: &TaskStatus) -> Option<SchedulerCall> {
        let uuid = status.uuid?;
        let framework_id = self.framework.id.clone()?;
        let Some(agent_id) = status.agent_id.clone() else {
            tracing::warn!(task = %status.task_id, "update with a uuid but no agent id: cannot acknowledge");
            return None;
        };
        Some(SchedulerCall::Acknowledge {
            framework_id,
            agent_id,
            task_id: status.task_id.clone(),
            uuid,
        })
    }

    fn on_call(&mut self, call: DriverCall, out: &mut Vec<Command>) {
        let Some(framework_id) = self.framework.id.clone().filter(|_| self.is_subscribed()) else {
            tracing::warn!(?call, "call dropped: the driver is not subscribed");
            return;
        };
        let call = match call {
            DriverCall::Accept {
                offer_ids,
                operations,
                filters,
            } => SchedulerCall::Accept {
                framework_id,
                offer_ids,
                operations,
                filters,
            },
            DriverCall::Decline { offer_ids, filters } => SchedulerCall::Decline {
                framework_id,
                offer_ids,
                filters,
            },
            DriverCall::Revive { roles } => SchedulerCall::Revive {
                framework_id,
                roles,
            },
            DriverCall::Suppress { roles } => SchedulerCall::Suppress {
                framework_id,
                roles,
            },
            DriverCall::Kill { task_id, agent_id } => SchedulerCall::Kill {
                framework_id,
                task_id,
                agent_id,
                kill_policy: None,
            },
            DriverCall::Acknowledge { status } => {
                if !self.explicit_acks {
                    tracing::warn!(task = %status.task_id, "acknowledge ignored: the driver acknowledges implicitly (set explicit_acks)");
                    return;
                }
                match self.ack_call(&status) {
                    Some(call) => call,
                    None => return,
                }
            }
            DriverCall::Reconcile { tasks } => SchedulerCall::Reconcile {
                framework_id,
                tasks,
            },
            DriverCall::Message {
                agent_id,
                executor_id,
                data,
            } => SchedulerCall::Message {
                framework_id,
                agent_id,
                executor_id,
                data,
            },
        };
        out.push(Command::Send(call));
    }

    fn on_stop(&mut self, failover: bool, out: &mut Vec<Command>) {
        let reason = if failover {
            StopReason::Failover
        } else {
            match (&self.framework.id, self.is_subscribed()) {
                (Some(framework_id), true) => {
                    out.push(Command::Send(SchedulerCall::Teardown {
                        framework_id: framework_id.clone(),
                    }));
                    StopReason::TornDown
                }
                (Some(framework_id), false) => {
                    tracing::warn!(%framework_id, "not subscribed: the teardown cannot be sent");
                    StopReason::TeardownUnsent
                }
                (None, _) => StopReason::TornDown,
            }
        };
        self.conn = Conn::Stopped;
        out.push(Command::Finish(Ending::Stopped(reason)));
    }
}

#[cfg(test)]
mod tests;
