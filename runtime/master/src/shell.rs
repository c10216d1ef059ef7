//! The master's actix actor: a thin shell around [`MasterCore`]. It turns transport
//! events into core inputs, performs the commands the core returns (sends on the right
//! connection), and keeps one timer armed for the core's next deadline.
//!
//! ```text
//!  transport ServerEvent<AgentToMaster, MasterToAgent> ─┐
//!  transport ServerEvent<SchedulerCall, SchedulerEvent> ┼─▶ MasterActor ─▶ MasterCore::handle
//!  timer (next_deadline) ───────────────────────────────┘        │ commands
//!                      PeerSender::send ◀────────────────────────┤
//!          RegistryWriter::persist (own thread) ◀──────── Persist ───┘
//! ```
//!
//! Registry writes never run on the actor: `Persist` commands go, in order, to the
//! [`RegistryWriter`] thread, and the [`Outbox`] holds what follows them until the
//! writer reports them durable ([`RegistryDurable`]).

use crate::core::view::StateView;
use crate::core::{Command, Conn, Input, MasterCore};
use crate::metrics::{render_sample, Histogram};
use crate::outbox::Outbox;
use crate::registry::RegistryWriter;
use actix::prelude::*;
use drover_proto::{AgentToMaster, MasterToAgent, SchedulerCall, SchedulerEvent, TaskState};
use drover_transport::events::ServerEvent;
use drover_transport::PeerSender;
use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Ask for the `/state` document.
#[derive(Debug, Message)]
#[rtype(result = "StateView")]
pub struct GetState;

/// Ask for the `/metrics` text.
#[derive(Debug, Message)]
#[rtype(result = "String")]
pub struct GetMetrics;

/// The master actor. See the module docs.
#[derive(Debug)]
pub struct MasterActor {
    core: MasterCore,
    agents: HashMap<Conn, PeerSender<MasterToAgent>>,
    schedulers: HashMap<Conn, PeerSender<SchedulerEvent>>,
    timer: Option<(Instant, SpawnHandle)>,
    allocation_time: Histogram,
    registry: Option<RegistryWriter>,
    outbox: Outbox,
}

/// The registry writer's report: the first `n` registry ops are on disk.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RegistryDurable(pub u64);

impl MasterActor {
    /// A master actor around `core`.
    pub fn new(core: MasterCore) -> Self {
        Self {
            core,
            agents: HashMap::new(),
            schedulers: HashMap::new(),
            timer: None,
            allocation_time: Histogram::default(),
            registry: None,
            outbox: Outbox::new(),
        }
    }

    /// Persists the core's registry changes with `writer` (without one they are only
    /// logged: a master without a work dir forgets everything on restart). The writer
    /// must report progress to this actor as [`RegistryDurable`]
    /// ([`RegistryWriter::spawn_with_ack`]), or replies after a change are held forever.
    pub fn with_registry(mut self, writer: RegistryWriter) -> Self {
        self.registry = Some(writer);
        self
    }

    fn run(&mut self, input: Input, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.core.set_unix_time(unix);
        let commands = self.core.handle(now, input);
        if self.core.allocated_last_tick {
            self.allocation_time.observe(now.elapsed());
        }
        for c in commands {
            if matches!(c, Command::Persist(_)) && self.registry.is_none() {
                continue; // nothing to wait for
            }
            if let Some(c) = self.outbox.push(c) {
                self.execute(c);
            }
        }
        self.arm_timer(ctx);
    }

    fn execute(&mut self, command: Command) {
        match command {
            Command::ToAgent { conn, msg } => {
                if let Some(s) = self.agents.get(&conn) {
                    if s.send(msg).is_err() {
                        tracing::debug!(conn, "send to a closed agent connection");
                    }
                }
            }
            Command::ToScheduler { conn, event } => {
                if let Some(s) = self.schedulers.get(&conn) {
                    if s.send(event).is_err() {
                        tracing::debug!(conn, "send to a closed scheduler connection");
                    }
                }
            }
            Command::Persist(op) => match &self.registry {
                Some(w) => w.persist(op),
                None => tracing::trace!(?op, "no registry: change not persisted"),
            },
            Command::Close { conn } => {
                if let Some(s) = self.agents.get(&conn) {
                    s.close();
                }
                if let Some(s) = self.schedulers.get(&conn) {
                    s.close();
                }
            }
        }
    }

    /// Keeps exactly one timer, for the core's earliest deadline.
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(deadline) = self.core.next_deadline() else {
            return;
        };
        if let Some((at, handle)) = self.timer {
            if at <= deadline {
                return;
            }
            ctx.cancel_future(handle);
        }
        let delay = deadline.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            act.run(Input::Tick, ctx);
        });
        self.timer = Some((deadline, handle));
    }
}

impl Actor for MasterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(id = %self.core.config().master_info.id, "master started");
        self.arm_timer(ctx);
    }
}

impl Handler<ServerEvent<AgentToMaster, MasterToAgent>> for MasterActor {
    type Result = ();

    fn handle(&mut self, ev: ServerEvent<AgentToMaster, MasterToAgent>, ctx: &mut Context<Self>) {
        match ev {
            ServerEvent::Connected(c) => {
                tracing::debug!(peer = %c.peer, id = %c.info.id, addr = %c.info.addr, "agent connected");
                self.agents.insert(c.peer.0, c.sender);
            }
            ServerEvent::Message(m) => self.run(
                Input::Agent {
                    conn: m.peer.0,
                    msg: m.msg,
                },
                ctx,
            ),
            ServerEvent::Disconnected(d) => {
                tracing::info!(peer = %d.peer, reason = %d.reason, "agent connection closed");
                self.agents.remove(&d.peer.0);
                self.run(Input::AgentDisconnected { conn: d.peer.0 }, ctx);
            }
        }
    }
}

impl Handler<ServerEvent<SchedulerCall, SchedulerEvent>> for MasterActor {
    type Result = ();

    fn handle(&mut self, ev: ServerEvent<SchedulerCall, SchedulerEvent>, ctx: &mut Context<Self>) {
        match ev {
            ServerEvent::Connected(c) => {
                tracing::debug!(peer = %c.peer, id = %c.info.id, "scheduler connected");
                self.schedulers.insert(c.peer.0, c.sender);
            }
            ServerEvent::Message(m) => self.run(
                Input::Scheduler {
                    conn: m.peer.0,
                    call: m.msg,
                },
                ctx,
            ),
            ServerEvent::Disconnected(d) => {
                tracing::info!(peer = %d.peer, reason = %d.reason, "scheduler connection closed");
                self.schedulers.remove(&d.peer.0);
                self.run(Input::SchedulerDisconnected { conn: d.peer.0 }, ctx);
            }
        }
    }
}

impl Handler<RegistryDurable> for MasterActor {
    type Result = ();

    fn handle(&mut self, msg: RegistryDurable, _: &mut Context<Self>) {
        for c in self.outbox.durable(msg.0) {
            self.execute(c);
        }
    }
}

impl Handler<GetState> for MasterActor {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _: GetState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.state_view())
    }
}

impl Handler<GetMetrics> for MasterActor {
    type Result = String;

    fn handle(&mut self, _: GetMetrics, _: &mut Context<Self>) -> String {
        let mut out = String::new();
        for (name, help, value) in self.core.gauges() {
            render_sample(&mut out, &name, help, "gauge", value);
        }
        let c = &self.core.counters;
        for (name, help, v) in [
            (
                "drover_master_offers_sent_total",
                "Offers sent",
                c.offers_sent,
            ),
            (
                "drover_master_offers_declined_total",
                "Offers declined",
                c.offers_declined,
            ),
            (
                "drover_master_offers_rescinded_total",
                "Offers rescinded",
                c.offers_rescinded,
            ),
            (
                "drover_master_tasks_launched_total",
                "Tasks sent to agents",
                c.tasks_launched,
            ),
            (
                "drover_master_allocation_runs_total",
                "Allocation cycles",
                c.allocations,
            ),
            (
                "drover_master_calls_rejected_total",
                "Scheduler calls rejected",
                c.calls_rejected,
            ),
        ] {
            render_sample(&mut out, name, help, "counter", v as f64);
        }
        for state in TaskState::ALL.iter().filter(|s| s.is_terminal()) {
            render_sample(
                &mut out,
                &format!(
                    "drover_master_tasks_completed_total{{state=\"{}\"}}",
                    state.as_str()
                ),
                "Tasks that ended, by terminal state",
                "counter",
                c.tasks_completed.get(state).copied().unwrap_or(0) as f64,
            );
        }
        self.allocation_time.render(
            &mut out,
            "drover_master_allocation_seconds",
            "Time of one allocation cycle (allocator plus offer bookkeeping)",
        );
        out
    }
}
