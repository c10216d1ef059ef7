//! The agent's decisions, with no I/O: a plain struct fed [`Input`]s with the current
//! time, answering with [`Command`]s for the shell to carry out.
//!
//! ```text
//!            MasterToAgent, ExecutorCall,                 SendToMaster, SendToExecutor,
//!   shell ──▶ container results, Tick ──▶ AgentCore ──▶ LaunchContainer, DestroyContainer
//!     ▲                                     │ next_deadline()                      │
//!     └─────────── timer ◀──────────────────┘◀──────────── shell runs them ◀───────┘
//! ```
//!
//! Split by concern: `registration` (Register / Reregister / Ping), `run_task`
//! (RunTask → sandbox → container), `executors` (subscription, updates, acks,
//! messages), `containers` (launches, exits, registration timeouts), `mock` (the
//! agent playing the executor for the mock containerizer), `kill` (KillTask,
//! ShutdownFramework), `reconcile` (ReconcileTasks: tasks the master believes are here),
//! `availability` (containerizers coming and going, e.g. the Docker engine),
//! `tasks` (shared bookkeeping), [`status_updates`] (the status
//! update manager), [`snapshot`] (what `/state` and `/metrics` show), [`checkpoint`]
//! (what survives a restart) and [`recovery`] (rebuilding from it).

mod availability;
pub mod checkpoint;
mod containers;
mod docker_task;
mod executors;
pub mod io;
mod kill;
mod mock;
mod reconcile;
pub mod recovery;
mod registration;
mod run_task;
pub mod snapshot;
mod state;
pub mod status_updates;
mod tasks;
mod timers;

#[cfg(test)]
mod tests;

pub use checkpoint::{AgentCheckpoint, CheckpointDue};
pub use io::{Command, ContainerExit, ExecutorConn, ExitCause, Input, LaunchSpec};
pub use recovery::Recovery;
pub use run_task::sandbox_path;
pub use state::CompletedTask;
pub use status_updates::{RetryPolicy, StatusUpdateManager};

use crate::containerizer_kind::ContainerizerKind;
use drover_proto::{
    AgentInfo, ContainerId, ExecutorId, FrameworkId, MasterToAgent, TaskState, UpdateUuid,
};
use registration::Registration;
use state::{ContainerOwner, Framework};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use timers::{TimerKind, Timers};

/// How the agent starts executors (the env contract of `drover_proto::executor_env`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutorLaunch {
    /// The command executor program (normally the `drover` binary).
    pub program: String,
    /// Its arguments (normally `["executor"]`).
    pub args: Vec<String>,
    /// `host:port` executors use to reach the agent's QUIC endpoint.
    pub agent_addr: String,
    /// Directory with `ca.pem` and the executor certificate.
    pub tls_dir: String,
    /// Name of the executor certificate in `tls_dir`.
    pub tls_name: String,
    /// How long an executor keeps trying to reach a restarted agent.
    pub recovery_timeout: Duration,
}

/// Timeouts and backoffs of the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreTiming {
    /// An executor that has not subscribed this long after its launch is destroyed
    /// (Mesos `executor_registration_timeout`).
    pub executor_registration_timeout: Duration,
    /// Time between `Shutdown` to an executor and destroying its container.
    pub executor_shutdown_grace_period: Duration,
    /// First registration retry.
    pub registration_backoff_min: Duration,
    /// Registration retries stop doubling here.
    pub registration_backoff_max: Duration,
    /// Re-register after this many ping intervals without a `Ping`.
    pub ping_timeout_factor: u32,
    /// Status update resends.
    pub status_update_retry: RetryPolicy,
    /// After a restart, how long recovered executors have to subscribe again before
    /// they are destroyed (Mesos `executor_reregistration_timeout`, 2 s there). The
    /// agent re-registers without waiting for them. Executors normally reconnect within
    /// a second (the agent's persisted QUIC reset key ends their old connections at
    /// once); the idle timeout (5 s) is the fallback, hence the margin.
    pub executor_reregister_timeout: Duration,
}

impl Default for CoreTiming {
    fn default() -> Self {
        Self {
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            registration_backoff_min: Duration::from_secs(1),
            registration_backoff_max: Duration::from_secs(30),
            ping_timeout_factor: 5,
            status_update_retry: RetryPolicy::default(),
            executor_reregister_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything the core needs to know about its agent.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    /// The agent's description (its `id` is ignored; the core keeps its own).
    pub agent: AgentInfo,
    /// Number of configured masters (tried in turn).
    pub masters: usize,
    /// Containerizers in order of preference.
    pub containerizers: Vec<ContainerizerKind>,
    /// Root of sandboxes (`<work_dir>/frameworks/...`).
    pub work_dir: PathBuf,
    /// How executors are started.
    pub executor: ExecutorLaunch,
    /// Make sandbox directories for mock tasks too (off for benchmarks).
    pub mock_sandboxes: bool,
    /// Timeouts.
    pub timing: CoreTiming,
    /// Random per-run value; container ids and update uuids are derived from it and a
    /// counter, so that the core itself needs no random source.
    pub nonce: u64,
    /// Wall-clock seconds since the Unix epoch at `epoch_instant` (for update timestamps).
    pub epoch_wall: f64,
    /// The instant matching `epoch_wall`.
    pub epoch_instant: Instant,
    /// Completed tasks kept for `/state`.
    pub max_completed_tasks: usize,
}

/// Monotonic counters for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Tasks received in `RunTask`.
    pub tasks_received: u64,
    /// Terminal states reached, by state.
    pub tasks_terminal: BTreeMap<TaskState, u64>,
    /// Containers launched.
    pub containers_launched: u64,
    /// Status updates sent to the master, resends included.
    pub status_updates_sent: u64,
}

/// The pure agent.
#[derive(Debug)]
pub struct AgentCore {
    settings: CoreSettings,
    reg: Registration,
    sum: StatusUpdateManager,
    timers: Timers,
    frameworks: HashMap<FrameworkId, Framework>,
    containers: HashMap<ContainerId, ContainerOwner>,
    conns: HashMap<ExecutorConn, (FrameworkId, ExecutorId)>,
    completed: VecDeque<CompletedTask>,
    counters: Counters,
    next_id: u64,
    out: Vec<Command>,
    /// Reused buffer for the status update manager's messages.
    scratch: Vec<drover_proto::AgentToMaster>,
    /// Something in [`checkpoint`](Self::checkpoint) changed that must be durable.
    checkpoint_due: bool,
    /// Acknowledgements in [`checkpoint`](Self::checkpoint) changed (lazy).
    checkpoint_lazy: bool,
    checkpoint_prompt: bool,
    /// Set while recovered executors are expected to subscribe again.
    recovery: Option<recovery::RecoveryWait>,
    /// Messages for the master held during recovery, sent once registered.
    held_for_master: Vec<drover_proto::AgentToMaster>,
    /// Configured containerizers and which of them are unavailable now.
    availability: availability::Availability,
}

impl AgentCore {
    /// A core that has not registered yet; feed it [`Input::Start`].
    pub fn new(mut settings: CoreSettings) -> Self {
        settings.agent.id = None;
        let reg = Registration::new(&settings);
        let availability = availability::Availability::new(&settings);
        let sum = StatusUpdateManager::new(settings.timing.status_update_retry);
        Self {
            settings,
            reg,
            sum,
            timers: Timers::default(),
            frameworks: HashMap::new(),
            containers: HashMap::new(),
            conns: HashMap::new(),
            completed: VecDeque::new(),
            counters: Counters::default(),
            next_id: 0,
            out: Vec::new(),
            scratch: Vec::new(),
            checkpoint_due: false,
            checkpoint_lazy: false,
            checkpoint_prompt: false,
            recovery: None,
            held_for_master: Vec::new(),
            availability,
        }
    }

    /// Handles one input at `now` and returns what the shell must do, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        self.handle_into(now, input, &mut out);
        out
    }

    /// Like [`handle`](Self::handle), appending the commands to `out`, so that a shell
    /// reusing one buffer allocates nothing for it.
    pub fn handle_into(&mut self, now: Instant, input: Input, out: &mut Vec<Command>) {
        match input {
            Input::Start => self.start(now),
            Input::Recover(r) => self.recover(now, *r),
            Input::MasterConnected => self.master_connected(now),
            Input::MasterDisconnected => self.master_disconnected(now),
            Input::Master(msg) => self.master_message(now, msg),
            Input::Executor { conn, call } => self.executor_call(now, conn, call),
            Input::ExecutorDisconnected { conn } => self.executor_disconnected(now, conn),
            Input::ContainerLaunched { container_id } => self.container_launched(now, container_id),
            Input::ContainerLaunchFailed {
                container_id,
                message,
            } => self.container_launch_failed(now, container_id, message),
            Input::ContainerExited { container_id, exit } => {
                self.container_exited(now, container_id, exit)
            }
            Input::ContainerizerAvailability { kind, unavailable } => {
                self.containerizer_availability(now, kind, unavailable)
            }
            Input::Tick => self.tick(now),
        }
        out.append(&mut self.out);
    }

    /// The earliest instant at which the core wants an [`Input::Tick`].
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.timers.next_deadline(), self.sum.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The status update manager (for a checkpointer and for metrics).
    pub fn status_updates(&self) -> &StatusUpdateManager {
        &self.sum
    }

    /// Monotonic counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Every container the agent knows to be running or starting, sorted.
    pub fn container_ids(&self) -> Vec<ContainerId> {
        let mut ids: Vec<ContainerId> = self.containers.keys().cloned().collect();
        ids.sort();
        ids
    }

    fn master_message(&mut self, now: Instant, msg: MasterToAgent) {
        match msg {
            MasterToAgent::Registered {
                agent_id,
                ping_interval,
                ..
            } => self.registered(now, agent_id, ping_interval, false),
            MasterToAgent::Reregistered {
                agent_id,
                ping_interval,
                ..
            } => self.registered(now, agent_id, ping_interval, true),
            MasterToAgent::Refused { reason } => self.refused(now, reason),
            MasterToAgent::Ping => self.ping(now),
            MasterToAgent::RunTask { framework, task } => self.run_task(now, framework, task),
            MasterToAgent::KillTask {
                framework_id,
                task_id,
                kill_policy,
            } => self.kill_task(now, framework_id, task_id, kill_policy),
            MasterToAgent::Acknowledge {
                framework_id,
                task_id,
                uuid,
            } => self.acknowledge(now, framework_id, task_id, uuid),
            MasterToAgent::FrameworkMessage {
                framework_id,
                executor_id,
                data,
            } => self.framework_message(framework_id, executor_id, data),
            MasterToAgent::ShutdownFramework { framework_id } => {
                self.shutdown_framework(now, framework_id)
            }
            MasterToAgent::ReconcileTasks {
                framework,
                task_ids,
            } => self.reconcile_tasks(now, framework, task_ids),
        }
    }

    fn tick(&mut self, now: Instant) {
        // Timers first: a lost master pauses the resends due at the same instant.
        for kind in self.timers.take_due(now) {
            match kind {
                TimerKind::Registration => self.registration_timeout(now),
                TimerKind::MasterPingTimeout => self.ping_timeout(now),
                TimerKind::ExecutorRegistration(cid) => self.executor_registration_timeout(cid),
                TimerKind::ExecutorShutdown(cid) => self.executor_shutdown_timeout(cid),
                TimerKind::RecoveryTimeout => self.recovery_timeout(),
            }
        }
        let mut msgs = std::mem::take(&mut self.scratch);
        self.sum.retry_due(now, &mut msgs);
        self.send_updates(&mut msgs);
        self.scratch = msgs;
    }

    /// A fresh container id: `<nonce>-<counter>`.
    fn new_container_id(&mut self) -> ContainerId {
        self.next_id += 1;
        ContainerId(format!("{:016x}-{}", self.settings.nonce, self.next_id))
    }

    /// A fresh update uuid: the nonce and a counter.
    fn new_uuid(&mut self) -> UpdateUuid {
        self.next_id += 1;
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.settings.nonce.to_be_bytes());
        b[8..].copy_from_slice(&self.next_id.to_be_bytes());
        UpdateUuid(b)
    }

    /// Wall-clock seconds since the epoch at `now`.
    fn wall(&self, now: Instant) -> f64 {
        let since = now.saturating_duration_since(self.settings.epoch_instant);
        self.settings.epoch_wall + since.as_secs_f64()
    }
}
