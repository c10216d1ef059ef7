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
//! Split by concern: [`registration`] (Register / Reregister / Ping),
//! [`run_task`] (RunTask → sandbox → container), [`executors`] (subscription, updates,
//! exits, timeouts), [`mock`] (the agent playing the executor for the mock
//! containerizer), [`kill`] (KillTask, ShutdownFramework), [`status_updates`] (the
//! status update manager) and [`snapshot`] (what `/state` and `/metrics` show).

mod executors;
pub mod io;
mod kill;
mod mock;
mod registration;
mod run_task;
pub mod snapshot;
mod state;
pub mod status_updates;
mod timers;

#[cfg(test)]
mod tests;

pub use io::{Command, ContainerExit, ExecutorConn, ExitCause, Input, LaunchSpec};
pub use run_task::sandbox_path;
pub use state::CompletedTask;
pub use status_updates::{RetryPolicy, StatusUpdateManager};

use crate::containerizer_kind::ContainerizerKind;
use drover_proto::{
    AgentInfo, ContainerId, ExecutorId, FrameworkId, MasterToAgent, TaskId, TaskState,
    TaskStatus, TaskStatusReason, TaskStatusSource, UpdateUuid,
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
}

impl AgentCore {
    /// A core that has not registered yet; feed it [`Input::Start`].
    pub fn new(mut settings: CoreSettings) -> Self {
        settings.agent.id = None;
        let reg = Registration::new(&settings);
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
        }
    }

    /// Handles one input at `now` and returns what the shell must do, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Command> {
        match input {
            Input::Start => self.start(now),
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
            Input::Tick => self.tick(now),
        }
        std::mem::take(&mut self.out)
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
            }
        }
        let mut msgs = Vec::new();
        self.sum.retry_due(now, &mut msgs);
        self.send_updates(msgs);
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

    fn send_updates(&mut self, msgs: Vec<drover_proto::AgentToMaster>) {
        self.counters.status_updates_sent += msgs.len() as u64;
        self.out.extend(msgs.into_iter().map(io::to_master));
    }

    /// Records a task's new status (from its executor or the agent) and hands it to the
    /// status update manager. Updates of a framework that is shutting down are not
    /// forwarded; its terminal tasks are dropped at once.
    fn record_update(&mut self, now: Instant, framework_id: &FrameworkId, status: TaskStatus) {
        let fw = self.frameworks.get(framework_id);
        if fw.is_some_and(|f| f.shutting_down) {
            self.set_task_state(framework_id, &status.task_id, status.state);
            if status.state.is_terminal() {
                self.remove_task(framework_id, &status.task_id);
            }
            return;
        }
        let fresh = self.new_uuid();
        let (task_id, state) = (status.task_id.clone(), status.state);
        let mut msgs = Vec::new();
        let outcome = self.sum.update(now, framework_id, status, fresh, &mut msgs);
        self.send_updates(msgs);
        if outcome == status_updates::UpdateOutcome::Queued {
            self.set_task_state(framework_id, &task_id, state);
        }
    }

    /// An update made by the agent itself (launch failures, executor loss, unknown tasks).
    #[allow(clippy::too_many_arguments)]
    fn agent_update(
        &mut self,
        now: Instant,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        executor_id: Option<&ExecutorId>,
        state: TaskState,
        reason: Option<TaskStatusReason>,
        message: String,
    ) {
        let mut status = TaskStatus::new(task_id.clone(), state, TaskStatusSource::Agent)
            .with_message(message);
        status.reason = reason;
        self.fill_status(now, &mut status, framework_id, executor_id);
        self.record_update(now, framework_id, status);
    }

    /// Sets agent id, executor id, container id and timestamp of a status.
    fn fill_status(
        &self,
        now: Instant,
        status: &mut TaskStatus,
        framework_id: &FrameworkId,
        executor_id: Option<&ExecutorId>,
    ) {
        status.agent_id = self.reg.agent_id.clone();
        if status.timestamp == 0.0 {
            status.timestamp = self.wall(now);
        }
        let Some(eid) = executor_id else { return };
        status.executor_id = Some(eid.clone());
        if status.container_id.is_none() {
            let ex = self
                .frameworks
                .get(framework_id)
                .and_then(|f| f.executors.get(eid));
            status.container_id = ex.and_then(|e| {
                e.tasks
                    .get(&status.task_id)
                    .and_then(|t| t.container_id.clone())
                    .or_else(|| e.container_id.clone())
            });
        }
    }

    fn set_task_state(&mut self, framework_id: &FrameworkId, task_id: &TaskId, state: TaskState) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(eid) = fw.task_executor.get(task_id) else {
            return;
        };
        if let Some(task) = fw.executors.get_mut(eid).and_then(|e| e.tasks.get_mut(task_id)) {
            if !task.state.is_terminal() {
                task.state = state;
                if state.is_terminal() {
                    *self.counters.tasks_terminal.entry(state).or_default() += 1;
                }
            }
        }
    }

    /// Forgets a task whose terminal update was acknowledged (or needs none), then its
    /// executor and framework if nothing is left of them.
    fn remove_task(&mut self, framework_id: &FrameworkId, task_id: &TaskId) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(eid) = fw.task_executor.remove(task_id) else {
            return;
        };
        if let Some(ex) = fw.executors.get_mut(&eid) {
            if let Some(task) = ex.tasks.remove(task_id) {
                ex.queued.retain(|t| t != task_id);
                if self.settings.max_completed_tasks > 0 {
                    if self.completed.len() >= self.settings.max_completed_tasks {
                        self.completed.pop_front();
                    }
                    self.completed.push_back(CompletedTask {
                        framework_id: framework_id.clone(),
                        executor_id: eid.clone(),
                        task_id: task_id.clone(),
                        name: task.info.name,
                        state: task.state,
                    });
                }
            }
        }
        self.maybe_remove_executor(framework_id, &eid);
    }

    /// Removes an executor that has ended and has no tasks left, and its framework if it
    /// was the last one.
    fn maybe_remove_executor(&mut self, framework_id: &FrameworkId, executor_id: &ExecutorId) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let done = fw.executors.get(executor_id).is_some_and(|ex| {
            ex.tasks.is_empty()
                && (ex.is_mock() || ex.phase == state::Phase::Terminated)
                && ex.container_id.as_ref().is_none_or(|c| !self.containers.contains_key(c))
        });
        if done {
            fw.executors.remove(executor_id);
        }
        if fw.executors.is_empty() {
            self.frameworks.remove(framework_id);
        }
    }
}
