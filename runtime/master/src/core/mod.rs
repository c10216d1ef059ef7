//! The master's pure core: every decision of the master, with no I/O.
//!
//! ```text
//!            ┌──────────── shell (actix actor, transport, timers) ────────────┐
//!  network ─▶│ Input::{Agent, Scheduler, *Disconnected, Tick}                  │
//!            │        │                                                        │
//!            │        ▼                                                        │
//!            │  MasterCore::handle(now, input) ──▶ Vec<Command>  ──▶ send      │
//!            │  MasterCore::next_deadline()    ──▶ wake-up timer               │
//!            └─────────────────────────────────────────────────────────────────┘
//! ```
//!
//! The core never reads the clock: `now` comes in with every input, and the shell calls
//! `handle(now, Input::Tick)` at [`MasterCore::next_deadline`]. Concerns are split by
//! file: [`agents`] (registration, pings, unreachable agents), [`frameworks`]
//! (subscription, failover, teardown, heartbeats), [`offers`] (allocation, offers,
//! declines, rescinds), [`tasks`] (launch validation, kills, status updates,
//! acknowledgements), [`reconciliation`] (frameworks asking the master, the master
//! asking agents about tasks that may never have reached them), [`recovery`] (restart from the registry, agents
//! re-registering, reconciliation of tasks the master does not know) and [`view`] (what
//! `/state` and `/metrics` show). Changes of what must survive a restart leave the core
//! as [`Command::Persist`] with a [`RegistryOp`].

pub mod agents;
mod alloc;
pub mod completed;
mod config;
pub mod frameworks;
pub mod offers;
pub mod reconciliation;
pub mod recovery;
pub mod tasks;
pub mod unreachable;
pub mod view;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_completed;
#[cfg(test)]
mod tests_persist;
#[cfg(test)]
mod tests_pings;
#[cfg(test)]
mod tests_reconcile;
#[cfg(test)]
mod tests_recovery;

use crate::allocator::{AllocatorState, Policy};
use crate::registry::RegistryOp;
use completed::{CompletedFrameworks, CompletedTasks};
pub use config::MasterConfig;
use drover_proto::{
    AgentId, AgentInfo, AgentToMaster, ExecutorId, FrameworkId, FrameworkInfo, MasterToAgent,
    Offer, OfferId, Resources, SchedulerCall, SchedulerEvent, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// A connection, numbered by the shell. The core addresses peers only through these.
pub type Conn = u64;

/// Something that happened, fed to [`MasterCore::handle`].
// Inputs are moved straight into `handle`; boxing the large message would cost an
// allocation per input for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Input {
    /// A message from the agent on `conn`.
    Agent {
        /// The connection.
        conn: Conn,
        /// The message.
        msg: AgentToMaster,
    },
    /// The agent connection `conn` was lost.
    AgentDisconnected {
        /// The connection.
        conn: Conn,
    },
    /// A call from the scheduler on `conn`.
    Scheduler {
        /// The connection.
        conn: Conn,
        /// The call.
        call: SchedulerCall,
    },
    /// The scheduler connection `conn` was lost.
    SchedulerDisconnected {
        /// The connection.
        conn: Conn,
    },
    /// A timer fired (the shell calls this at [`MasterCore::next_deadline`]).
    Tick,
}

/// Something the shell must do.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send `msg` to the agent on `conn`.
    ToAgent {
        /// The connection.
        conn: Conn,
        /// The message.
        msg: MasterToAgent,
    },
    /// Send `event` to the scheduler on `conn`.
    ToScheduler {
        /// The connection.
        conn: Conn,
        /// The event.
        event: SchedulerEvent,
    },
    /// Close the connection (e.g. a refused agent).
    Close {
        /// The connection.
        conn: Conn,
    },
    /// Append `op` to the registry (in order with every earlier `Persist`).
    Persist(RegistryOp),
}

/// Whether an agent can be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    /// Registered and answering pings.
    Active,
    /// Missed too many pings (or its connection dropped and it did not come back).
    Unreachable,
    /// Known from the registry after a master restart; has not re-registered yet.
    Recovering,
}

/// What the master knows of one agent.
#[derive(Debug)]
pub struct AgentState {
    /// As registered (id set).
    pub info: AgentInfo,
    /// Its current connection.
    pub conn: Option<Conn>,
    /// Reachability.
    pub status: AgentStatus,
    /// Resources of its tasks and executors.
    pub used: Resources,
    /// Resources currently in outstanding offers.
    pub offered: Resources,
    /// Tasks on it.
    pub tasks: HashSet<(FrameworkId, TaskId)>,
    /// Executors on it with their resources.
    pub executors: HashMap<(FrameworkId, ExecutorId), Resources>,
    /// Pings sent without a pong.
    pub missed_pings: u32,
    /// When a message (any, not only a pong) last came from it while connected.
    pub last_heard: Option<Instant>,
    /// When it became unreachable.
    pub unreachable_since: Option<Instant>,
    /// Whether the allocator currently has it (not while unreachable).
    pub in_allocator: bool,
}

/// What the master knows of one task.
#[derive(Debug, Clone)]
pub struct TaskEntry {
    /// As launched.
    pub info: TaskInfo,
    /// Its executor.
    pub executor_id: ExecutorId,
    /// The role its resources are allocated to.
    pub role: String,
    /// Latest state.
    pub status: TaskStatus,
}

/// What the master knows of one framework.
#[derive(Debug)]
pub struct FrameworkState {
    /// As subscribed (id set).
    pub info: FrameworkInfo,
    /// Its scheduler's connection, while connected.
    pub conn: Option<Conn>,
    /// When it disconnected (failover timer start).
    pub disconnected_at: Option<Instant>,
    /// Least time kept after `disconnected_at` whatever its failover timeout: after a
    /// master restart, the agent re-register timeout (the master was down, not the
    /// scheduler). Zero otherwise.
    pub failover_grace: Duration,
    /// Its tasks.
    pub tasks: HashMap<TaskId, TaskEntry>,
    /// Its outstanding offers.
    pub offers: HashSet<OfferId>,
    /// Its last tasks that reached a terminal state (bounded; see [`completed`]).
    pub completed: CompletedTasks,
}

/// An outstanding offer.
#[derive(Debug, Clone)]
pub struct OfferEntry {
    /// The offer as sent.
    pub offer: Offer,
    /// When it was made.
    pub created: Instant,
}

/// Counters exported as metrics.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Offers sent.
    pub offers_sent: u64,
    /// Offers rescinded.
    pub offers_rescinded: u64,
    /// Offers declined.
    pub offers_declined: u64,
    /// Tasks launched (sent to agents).
    pub tasks_launched: u64,
    /// Allocation cycles run.
    pub allocations: u64,
    /// Calls refused with `Rejected`.
    pub calls_rejected: u64,
    /// Tasks that left the active set, by the terminal state they ended in (each task
    /// counted once, when the master moves it to its framework's completed tasks).
    pub tasks_completed: BTreeMap<TaskState, u64>,
}

impl Counters {
    /// Counts a task that ended in `state`.
    pub fn task_completed(&mut self, state: TaskState) {
        *self.tasks_completed.entry(state).or_default() += 1;
    }
}

/// The master's state and decisions. See the module docs.
#[derive(Debug)]
pub struct MasterCore {
    pub(crate) config: MasterConfig,
    pub(crate) agents: HashMap<AgentId, AgentState>,
    pub(crate) agent_conns: HashMap<Conn, AgentId>,
    pub(crate) removed_agents: HashSet<AgentId>,
    pub(crate) frameworks: HashMap<FrameworkId, FrameworkState>,
    pub(crate) framework_conns: HashMap<Conn, FrameworkId>,
    pub(crate) removed_frameworks: HashSet<FrameworkId>,
    /// The last removed frameworks with their tasks, for `/state`.
    pub(crate) completed_frameworks: CompletedFrameworks,
    pub(crate) offers: HashMap<OfferId, OfferEntry>,
    pub(crate) allocator: AllocatorState,
    pub(crate) policy: Policy,
    pub(crate) next_id: u64,
    pub(crate) allocation_due: Option<Instant>,
    pub(crate) next_ping: Option<Instant>,
    /// When every active agent is pinged next (between rounds, only suspects are).
    pub(crate) next_ping_round: Option<Instant>,
    pub(crate) next_heartbeat: Option<Instant>,
    /// After a restart: when agents still recovering are marked unreachable.
    pub(crate) reregister_deadline: Option<Instant>,
    /// A lower bound of the earliest `unreachable_since` (exact after each removal tick),
    /// so that `next_deadline`, called after every input, never scans all agents.
    pub(crate) earliest_unreachable: Option<Instant>,
    pub(crate) out: Vec<Command>,
    /// Counters for `/metrics`.
    pub counters: Counters,
    /// Set by the last `Tick` if it ran an allocation (the shell times it).
    pub allocated_last_tick: bool,
    /// Wall-clock time (seconds since the Unix epoch) of the current input, for the
    /// timestamps of master-made status updates; set by the shell.
    pub(crate) unix_now: f64,
}

impl MasterCore {
    /// A master with no agents and no frameworks.
    pub fn new(config: MasterConfig) -> Self {
        let policy = alloc::policy(config.min_allocatable_cpus, config.min_allocatable_mem);
        let completed_frameworks = CompletedFrameworks::new(config.max_completed_frameworks);
        let mut core = Self {
            config,
            agents: HashMap::new(),
            agent_conns: HashMap::new(),
            removed_agents: HashSet::new(),
            frameworks: HashMap::new(),
            framework_conns: HashMap::new(),
            removed_frameworks: HashSet::new(),
            completed_frameworks,
            offers: HashMap::new(),
            allocator: AllocatorState::new(),
            policy,
            next_id: 0,
            allocation_due: None,
            next_ping: None,
            next_ping_round: None,
            next_heartbeat: None,
            reregister_deadline: None,
            earliest_unreachable: None,
            out: Vec::new(),
            counters: Counters::default(),
            allocated_last_tick: false,
            unix_now: 0.0,
        };
        let weights: Vec<(String, f64)> = core
            .config
            .weights
            .iter()
            .map(|(r, w)| (r.clone(), *w))
            .collect();
        for (role, weight) in weights {
            if let Err(e) = core.allocator.set_weight(&role, weight) {
                tracing::error!(error = %e, "ignoring role weight");
            }
        }
        core
    }

    /// The configuration.
    pub fn config(&self) -> &MasterConfig {
        &self.config
    }

    /// Sets the wall-clock time used to stamp master-made status updates (seconds since
    /// the Unix epoch). The shell calls it before `handle`; tests may leave it at 0.
    pub fn set_unix_time(&mut self, secs: f64) {
        self.unix_now = secs;
    }

    /// Handles one input and returns what the shell must do.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Command> {
        self.allocated_last_tick = false;
        match input {
            Input::Agent { conn, msg } => self.on_agent_message(now, conn, msg),
            Input::AgentDisconnected { conn } => self.on_agent_disconnected(now, conn),
            Input::Scheduler { conn, call } => self.on_scheduler_call(now, conn, call),
            Input::SchedulerDisconnected { conn } => self.on_scheduler_disconnected(now, conn),
            Input::Tick => self.on_tick(now),
        }
        std::mem::take(&mut self.out)
    }

    /// When the shell must next call `handle(now, Input::Tick)`.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.allocation_due,
            self.allocator.next_filter_expiry(),
            self.next_ping,
            self.next_heartbeat,
            self.next_offer_expiry(),
            self.next_failover_expiry(),
            self.next_agent_removal(),
            self.reregister_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_tick(&mut self, now: Instant) {
        self.tick_pings(now);
        self.tick_heartbeats(now);
        self.tick_failovers(now);
        self.tick_agent_removals(now);
        self.refresh_earliest_unreachable();
        self.tick_recovery(now);
        self.tick_offer_timeouts(now);
        // An expired decline filter is a change: its agent may be offered again.
        let filters_expired = self.allocator.expire_filters(now) > 0;
        let due = self.allocation_due.is_some_and(|t| t <= now);
        if due || filters_expired {
            self.allocation_due = None;
            self.allocate(now);
        }
    }

    fn on_agent_message(&mut self, now: Instant, conn: Conn, msg: AgentToMaster) {
        self.heard_from(now, conn);
        match msg {
            AgentToMaster::Register { agent } => self.register_agent(now, conn, agent),
            AgentToMaster::Reregister {
                agent,
                frameworks,
                tasks,
            } => self.reregister_agent(now, conn, agent, frameworks, tasks),
            AgentToMaster::Pong => {}
            other => {
                let Some(agent_id) = self.agent_conns.get(&conn).cloned() else {
                    tracing::warn!(
                        conn,
                        "message from an unregistered agent connection ignored"
                    );
                    return;
                };
                match other {
                    AgentToMaster::StatusUpdate {
                        framework_id,
                        status,
                    } => self.on_status_update(now, &agent_id, framework_id, status),
                    AgentToMaster::FrameworkMessage {
                        framework_id,
                        executor_id,
                        data,
                    } => self.on_executor_message(&agent_id, framework_id, executor_id, data),
                    AgentToMaster::ExecutorExited {
                        framework_id,
                        executor_id,
                        status,
                    } => self.on_executor_exited(now, &agent_id, framework_id, executor_id, status),
                    AgentToMaster::Register { .. }
                    | AgentToMaster::Reregister { .. }
                    | AgentToMaster::Pong => {}
                }
            }
        }
    }

    fn on_scheduler_call(&mut self, now: Instant, conn: Conn, call: SchedulerCall) {
        if let SchedulerCall::Subscribe { framework_info } = call {
            self.subscribe(now, conn, framework_info);
            return;
        }
        // Every other call must come from the connection the framework subscribed on.
        let name = call.name();
        let framework_id = call.framework_id().cloned().unwrap_or_default();
        match self.framework_conns.get(&conn) {
            Some(fid) if *fid == framework_id => {}
            Some(fid) => {
                let msg = format!(
                    "call for framework {framework_id} on the connection of framework {fid}"
                );
                self.reject(conn, name, msg);
                return;
            }
            None => {
                let msg = if self.frameworks.contains_key(&framework_id) {
                    format!("framework {framework_id} is not subscribed on this connection")
                } else {
                    format!("unknown framework {framework_id}: subscribe first")
                };
                self.reject(conn, name, msg);
                return;
            }
        }
        match call {
            SchedulerCall::Subscribe { .. } => {}
            SchedulerCall::Teardown { framework_id } => {
                self.teardown(now, &framework_id, "framework teardown requested")
            }
            SchedulerCall::Accept {
                framework_id,
                offer_ids,
                operations,
                filters,
            } => self.accept(now, conn, &framework_id, offer_ids, operations, filters),
            SchedulerCall::Decline {
                framework_id,
                offer_ids,
                filters,
            } => self.decline(now, conn, &framework_id, offer_ids, filters),
            SchedulerCall::Revive {
                framework_id,
                roles,
            } => self.revive(now, &framework_id, roles),
            SchedulerCall::Suppress {
                framework_id,
                roles,
            } => self.suppress(&framework_id, roles),
            SchedulerCall::Kill {
                framework_id,
                task_id,
                agent_id,
                kill_policy,
            } => self.kill(conn, &framework_id, task_id, agent_id, kill_policy),
            SchedulerCall::Acknowledge {
                framework_id,
                agent_id,
                task_id,
                uuid,
            } => self.acknowledge(conn, framework_id, agent_id, task_id, uuid),
            SchedulerCall::Reconcile {
                framework_id,
                tasks,
            } => self.reconcile(now, conn, &framework_id, tasks),
            SchedulerCall::Message {
                framework_id,
                agent_id,
                executor_id,
                data,
            } => self.scheduler_message(conn, framework_id, agent_id, executor_id, data),
        }
    }

    /// Refuses a call without ending the framework.
    pub(crate) fn reject(&mut self, conn: Conn, call: &str, message: String) {
        tracing::warn!(conn, call, %message, "call rejected");
        self.counters.calls_rejected += 1;
        self.out.push(Command::ToScheduler {
            conn,
            event: SchedulerEvent::Rejected {
                call: call.to_owned(),
                message,
            },
        });
    }

    /// A fresh id with the given prefix, unique for this master run.
    pub(crate) fn fresh_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{}-{prefix}{}", self.config.master_info.id, self.next_id)
    }

    /// Asks for an allocation soon (coalesced over the allocation window).
    pub(crate) fn request_allocation(&mut self, now: Instant) {
        let at = now + self.config.allocation_window;
        self.allocation_due = Some(self.allocation_due.map_or(at, |t| t.min(at)));
    }

    /// Sends an event to a framework if its scheduler is connected.
    pub(crate) fn send_to_framework(&mut self, framework_id: &FrameworkId, event: SchedulerEvent) {
        if let Some(conn) = self.frameworks.get(framework_id).and_then(|f| f.conn) {
            self.out.push(Command::ToScheduler { conn, event });
        }
    }

    /// Records a registry change (the shell appends it to the registry log).
    pub(crate) fn persist(&mut self, op: RegistryOp) {
        self.out.push(Command::Persist(op));
    }

    /// Sends a message to an agent if it is connected.
    pub(crate) fn send_to_agent(&mut self, agent_id: &AgentId, msg: MasterToAgent) {
        if let Some(conn) = self.agents.get(agent_id).and_then(|a| a.conn) {
            self.out.push(Command::ToAgent { conn, msg });
        }
    }
}
