//! The pure core of the command executor: one task's life as a state machine, from
//! launch to the executor's exit. Inputs are the agent's requests (through the executor
//! driver), what happened to the process, and the clock; outputs are updates to send,
//! the process to spawn, signals for its process group, and when to exit.
//!
//! ```text
//!  Idle ─Launch─▶ Launching ─Spawned─▶ Running ─Exited─▶ Terminal ─Acknowledged / ack timeout─▶ Done
//!   │ Shutdown       │ SpawnFailed ──────────┼─────────────▲                                (Exit)
//!   ▼                │ Kill (remembered,     │ Kill: SIGTERM    │ Exited
//!  Done              │ sent on Spawned)      ▼                  │
//!                    └─────────────────▶ Killing ─grace passed: SIGKILL
//! ```
//!
//! Updates: `TASK_STARTING` on launch, `TASK_RUNNING` once spawned, `TASK_KILLING` on a
//! kill if the framework declared `TaskKillingState`, then one terminal state:
//! `TASK_FINISHED` (exit 0), `TASK_FAILED` (non-zero exit, a signal it did not ask for,
//! or a command that could not be spawned; an OOM kill with
//! `REASON_CONTAINER_LIMITATION_MEMORY`) or `TASK_KILLED` (exited after a kill).
//!
//! The acknowledgement timeout of the terminal update only runs while the executor is
//! subscribed: while the agent is away (a restart) the executor waits, and the driver
//! resends the update on its next `Subscribe`; the driver's recovery timeout
//! (`DROVER_RECOVERY_TIMEOUT`, the agent's `executor_recovery_timeout`, 15 min by
//! default) bounds that wait, then the driver ends and so does the executor.
//!
//! Health checks: a task with a [`HealthCheck`] gets a
//! [`HealthChecker`] when it starts to run. The core asks the shell for probes
//! ([`Command::Probe`]) while the phase is `Running`, turns each change of health into
//! a `TASK_RUNNING` update with `healthy` set and `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`,
//! and kills the task (kill policy as usual) after `consecutive_failures`: it then ends
//! `TASK_KILLED` with that reason and a message saying the health check failed. Once
//! health is known, every later update of the task carries it.

use std::time::{Duration, Instant};

use drover_proto::{
    CommandInfo, FrameworkCapability, FrameworkInfo, HealthCheck, KillPolicy, TaskId, TaskInfo,
    TaskState, TaskStatus, TaskStatusReason, TaskStatusSource,
};

use super::health::{HealthChecker, HealthCommand, HealthInput, ProbeOutcome};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// It exited with this status.
    Code(i32),
    /// A signal (this number) terminated it.
    Signal(i32),
    /// The kernel's OOM killer ended it at its memory limit (Docker's `OOMKilled`).
    OomKilled,
}

impl ExitKind {
    /// `Command exited with status N` / `Command terminated with signal SIGTERM`.
    pub fn describe(self) -> String {
        match self {
            ExitKind::Code(code) => format!("Command exited with status {code}"),
            ExitKind::Signal(sig) => match nix::sys::signal::Signal::try_from(sig) {
                Ok(s) => format!("Command terminated with signal {}", s.as_str()),
                Err(_) => format!("Command terminated with signal {sig}"),
            },
            ExitKind::OomKilled => "Container exceeded its memory limit and was OOM-killed".into(),
        }
    }
}

/// Which signal to send to the task's process group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillSignal {
    /// SIGTERM: please exit.
    Term,
    /// SIGKILL: the grace period is over.
    Kill,
}

/// What the shell feeds the core.
#[allow(
    clippy::large_enum_variant,
    reason = "moved once per event; boxing would only add an allocation"
)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The executor is subscribed; its framework tells which updates it understands.
    Subscribed {
        /// The framework.
        framework_info: FrameworkInfo,
    },
    /// The agent hands over a task.
    Launch(TaskInfo),
    /// The process asked for by [`Command::Spawn`] runs.
    Spawned,
    /// It could not be spawned.
    SpawnFailed {
        /// Why, from the OS.
        error: String,
    },
    /// The process exited.
    Exited(ExitKind),
    /// The agent asks to kill a task.
    Kill {
        /// The task.
        task_id: TaskId,
        /// Overrides the task's kill policy.
        kill_policy: Option<KillPolicy>,
    },
    /// The agent asks the executor to kill everything and exit within `grace_period`.
    Shutdown {
        /// Upper bound for the whole shutdown.
        grace_period: Duration,
    },
    /// An update was acknowledged.
    Acknowledged {
        /// Its task.
        task_id: TaskId,
        /// Its state.
        state: TaskState,
    },
    /// The link to the agent dropped (e.g. the agent restarts); the driver keeps
    /// reconnecting until its recovery timeout and keeps the unacknowledged updates.
    Disconnected,
    /// The executor subscribed again after [`Input::Disconnected`]; the driver resent
    /// the unacknowledged updates with its `Subscribe`.
    Reregistered,
    /// The executor driver ended; no update can be sent any more.
    DriverEnded,
    /// Time passed; check deadlines (see [`CommandCore::next_deadline`]).
    Tick,
    /// The health probe asked for by [`Command::Probe`] ended.
    Probed {
        /// The probe's sequence number.
        seq: u64,
        /// How it went.
        outcome: ProbeOutcome,
    },
}

/// What the core asks the shell to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Send this update (the driver fills in ids, timestamp and uuid).
    Update(TaskStatus),
    /// Spawn the command in the sandbox, in a process group of its own.
    Spawn(CommandInfo),
    /// Signal the task's process group.
    Signal(KillSignal),
    /// Stop the driver and exit the executor with this status.
    Exit(i32),
    /// Run the task's health check once, giving up after its `timeout`; answer with
    /// [`Input::Probed`] and this `seq`.
    Probe {
        /// Sequence number of the probe.
        seq: u64,
        /// The check to run.
        check: HealthCheck,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Launching {
        task: TaskInfo,
        kill_grace: Option<Duration>,
    },
    Running {
        task: TaskInfo,
    },
    Killing {
        task: TaskInfo,
        /// When to send SIGKILL; `None` once sent.
        escalate_at: Option<Instant>,
        during_launch: bool,
    },
    Terminal {
        task_id: TaskId,
        /// When to give up on the acknowledgement; `None` while the agent is away (the
        /// driver keeps the update and resends it when it subscribes again).
        exit_at: Option<Instant>,
    },
    Done,
}

/// The command executor's decisions. See the module docs.
#[derive(Debug)]
pub struct CommandCore {
    phase: Phase,
    ack_timeout: Duration,
    killing_state: bool,
    shutdown_grace: Option<Duration>,
    /// The running task's health checker, if it has a check.
    health: Option<HealthChecker>,
    /// Why the health checker had the task killed.
    health_kill: Option<String>,
    /// Whether the driver is subscribed to the agent (the acknowledgement timeout only
    /// runs while it is: an agent that restarts gets the update when it is back).
    connected: bool,
}

impl CommandCore {
    /// A core that, after the terminal update, waits at most `ack_timeout` for its
    /// acknowledgement before exiting.
    pub fn new(ack_timeout: Duration) -> Self {
        Self {
            phase: Phase::Idle,
            ack_timeout,
            killing_state: false,
            shutdown_grace: None,
            health: None,
            health_kill: None,
            connected: true,
        }
    }

    /// Whether the executor has decided to exit.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// When the shell must feed [`Input::Tick`] next, if any timer runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Killing { escalate_at, .. } => *escalate_at,
            Phase::Terminal { exit_at, .. } => *exit_at,
            Phase::Running { .. } => self.health.as_ref().and_then(HealthChecker::next_deadline),
            _ => None,
        }
    }

    /// Feeds one input; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        match input {
            Input::Subscribed { framework_info } => {
                self.killing_state = framework_info.has(FrameworkCapability::TaskKillingState);
                self.on_reconnect(now);
            }
            Input::Reregistered => self.on_reconnect(now),
            Input::Disconnected => {
                self.connected = false;
                if let Phase::Terminal { exit_at, .. } = &mut self.phase {
                    *exit_at = None;
                }
            }
            Input::Launch(task) => self.on_launch(now, task, &mut out),
            Input::Spawned => self.on_spawned(now, &mut out),
            Input::SpawnFailed { error } => {
                if let Phase::Launching { task, .. } = &self.phase {
                    let status = if runs_in_docker(task) {
                        update(&task.task_id, TaskState::Failed)
                            .with_message(format!("Failed to launch the Docker container: {error}"))
                            .with_reason(TaskStatusReason::ContainerLaunchFailed)
                    } else {
                        let program = task.command.as_ref().and_then(|c| c.value.clone());
                        let message = format!(
                            "Failed to launch command {:?}: {error}",
                            program.unwrap_or_default()
                        );
                        update(&task.task_id, TaskState::Failed)
                            .with_message(message)
                            .with_reason(TaskStatusReason::CommandExited)
                    };
                    self.terminal(now, status, &mut out);
                }
            }
            Input::Exited(kind) => self.on_exited(now, kind, &mut out),
            Input::Kill {
                task_id,
                kill_policy,
            } => self.on_kill(now, &task_id, kill_policy, &mut out),
            Input::Shutdown { grace_period } => {
                self.shutdown_grace = Some(grace_period);
                match &self.phase {
                    Phase::Idle => self.exit(0, &mut out),
                    Phase::Launching { task, .. }
                    | Phase::Running { task }
                    | Phase::Killing { task, .. } => {
                        let task_id = task.task_id.clone();
                        self.on_kill(now, &task_id, None, &mut out);
                    }
                    Phase::Terminal { .. } | Phase::Done => {}
                }
            }
            Input::Acknowledged { task_id, state } => {
                if let Phase::Terminal { task_id: ours, .. } = &self.phase {
                    if *ours == task_id && state.is_terminal() {
                        self.exit(0, &mut out);
                    }
                }
            }
            Input::DriverEnded => match self.phase {
                Phase::Launching { .. } | Phase::Running { .. } | Phase::Killing { .. } => {
                    out.push(Command::Signal(KillSignal::Kill));
                    self.exit(1, &mut out);
                }
                Phase::Idle | Phase::Terminal { .. } => self.exit(0, &mut out),
                Phase::Done => {}
            },
            Input::Tick => {
                self.on_tick(now, &mut out);
                self.on_health(now, HealthInput::Tick, &mut out);
            }
            Input::Probed { seq, outcome } => {
                self.on_health(now, HealthInput::Outcome { seq, outcome }, &mut out);
            }
        }
        // Once health is known, every update of the task carries it.
        let healthy = self.health.as_ref().and_then(HealthChecker::healthy);
        for command in &mut out {
            if let Command::Update(status) = command {
                status.healthy = status.healthy.or(healthy);
            }
        }
        out
    }

    /// Runs the health checker while the task runs and carries out its decisions.
    fn on_health(&mut self, now: Instant, input: HealthInput, out: &mut Vec<Command>) {
        let (Phase::Running { task }, Some(health)) = (&self.phase, &mut self.health) else {
            return;
        };
        let Some(check) = task.health_check.clone() else {
            return;
        };
        let task = task.clone();
        for decision in health.handle(now, input) {
            match decision {
                HealthCommand::Probe { seq } => out.push(Command::Probe {
                    seq,
                    check: check.clone(),
                }),
                HealthCommand::Report { healthy } => {
                    let mut status = update(&task.task_id, TaskState::Running)
                        .with_reason(TaskStatusReason::TaskHealthCheckStatusUpdated);
                    status.healthy = Some(healthy);
                    out.push(Command::Update(status));
                }
                HealthCommand::Kill {
                    failures,
                    last_error,
                } => {
                    tracing::warn!(task = %task.task_id, failures, "health check failed: killing the task");
                    self.health_kill = Some(format!(
                        "Task killed after failing {failures} consecutive health checks (last: {last_error})"
                    ));
                    let grace = task.kill_policy.unwrap_or_default().grace_period;
                    self.start_kill(now, task, grace, false, out);
                    return;
                }
            }
        }
    }

    fn on_launch(&mut self, now: Instant, task: TaskInfo, out: &mut Vec<Command>) {
        if self.phase != Phase::Idle {
            out.push(Command::Update(
                update(&task.task_id, TaskState::Failed)
                    .with_message("Attempted to run multiple tasks using the command executor")
                    .with_reason(TaskStatusReason::TaskInvalid),
            ));
            return;
        }
        let command = match &task.command {
            Some(c) if c.value.as_deref().is_some_and(|v| !v.trim().is_empty()) => c.clone(),
            // A Docker task without a command runs its image's default command.
            c if runs_in_docker(&task) => c.clone().unwrap_or_default(),
            _ => {
                let status = update(&task.task_id, TaskState::Failed)
                    .with_message(format!(
                        "Task {} has no command: the command executor runs tasks with a CommandInfo value",
                        task.task_id
                    ))
                    .with_reason(TaskStatusReason::TaskInvalid);
                self.terminal(now, status, out);
                return;
            }
        };
        out.push(Command::Update(update(&task.task_id, TaskState::Starting)));
        out.push(Command::Spawn(command));
        self.phase = Phase::Launching {
            task,
            kill_grace: None,
        };
    }

    fn on_spawned(&mut self, now: Instant, out: &mut Vec<Command>) {
        let Phase::Launching { task, kill_grace } = &self.phase else {
            return;
        };
        let (task, kill_grace) = (task.clone(), *kill_grace);
        out.push(Command::Update(update(&task.task_id, TaskState::Running)));
        match kill_grace {
            None => {
                if let Some(check) = task.health_check.clone() {
                    self.health = Some(HealthChecker::start(check, now));
                }
                self.phase = Phase::Running { task };
            }
            Some(grace) => self.start_kill(now, task, grace, true, out),
        }
    }

    fn on_kill(
        &mut self,
        now: Instant,
        task_id: &TaskId,
        policy: Option<KillPolicy>,
        out: &mut Vec<Command>,
    ) {
        let grace_for = |task: &TaskInfo| {
            let grace = policy.or(task.kill_policy).unwrap_or_default().grace_period;
            self.shutdown_grace.map_or(grace, |g| grace.min(g))
        };
        match &mut self.phase {
            Phase::Launching { task, kill_grace } if task.task_id == *task_id => {
                let grace = grace_for(task);
                *kill_grace = Some(kill_grace.map_or(grace, |g| g.min(grace)));
            }
            Phase::Running { task } if task.task_id == *task_id => {
                let (task, grace) = (task.clone(), grace_for(task));
                self.start_kill(now, task, grace, false, out);
            }
            Phase::Killing {
                task,
                escalate_at: Some(at),
                ..
            } if task.task_id == *task_id => {
                // A shorter grace period in a repeated kill brings SIGKILL forward.
                *at = (*at).min(now + grace_for(task));
            }
            _ => tracing::debug!(%task_id, "kill ignored: not a running task of this executor"),
        }
    }

    fn start_kill(
        &mut self,
        now: Instant,
        task: TaskInfo,
        grace: Duration,
        during_launch: bool,
        out: &mut Vec<Command>,
    ) {
        if self.killing_state {
            out.push(Command::Update(update(&task.task_id, TaskState::Killing)));
        }
        out.push(Command::Signal(KillSignal::Term));
        self.phase = Phase::Killing {
            task,
            escalate_at: Some(now + grace),
            during_launch,
        };
    }

    fn on_exited(&mut self, now: Instant, kind: ExitKind, out: &mut Vec<Command>) {
        let status = match &self.phase {
            Phase::Running { task } | Phase::Launching { task, .. } => match kind {
                ExitKind::Code(0) => {
                    update(&task.task_id, TaskState::Finished).with_message(kind.describe())
                }
                ExitKind::OomKilled => update(&task.task_id, TaskState::Failed)
                    .with_message(kind.describe())
                    .with_reason(TaskStatusReason::ContainerLimitationMemory),
                _ => update(&task.task_id, TaskState::Failed)
                    .with_message(kind.describe())
                    .with_reason(TaskStatusReason::CommandExited),
            },
            Phase::Killing {
                task,
                during_launch,
                ..
            } => {
                let status = update(&task.task_id, TaskState::Killed).with_message(kind.describe());
                if let Some(why) = &self.health_kill {
                    status
                        .with_message(format!("{why}; {}", kind.describe()))
                        .with_reason(TaskStatusReason::TaskHealthCheckStatusUpdated)
                } else if *during_launch {
                    status.with_reason(TaskStatusReason::TaskKilledDuringLaunch)
                } else {
                    status
                }
            }
            _ => return,
        };
        self.terminal(now, status, out);
    }

    fn on_tick(&mut self, now: Instant, out: &mut Vec<Command>) {
        match &mut self.phase {
            Phase::Killing {
                escalate_at: escalate @ Some(_),
                task,
                ..
            } if escalate.is_some_and(|at| now >= at) => {
                tracing::warn!(task = %task.task_id, "grace period over: sending SIGKILL");
                *escalate = None;
                out.push(Command::Signal(KillSignal::Kill));
            }
            Phase::Terminal {
                exit_at: Some(at),
                task_id,
            } if now >= *at => {
                tracing::warn!(%task_id, "terminal update not acknowledged in time: exiting anyway");
                self.exit(0, out);
            }
            _ => {}
        }
    }

    /// Subscribed (again): a pending terminal update was just resent, so its
    /// acknowledgement timeout starts over.
    fn on_reconnect(&mut self, now: Instant) {
        self.connected = true;
        if let Phase::Terminal { exit_at, .. } = &mut self.phase {
            *exit_at = Some(now + self.ack_timeout);
        }
    }

    fn terminal(&mut self, now: Instant, status: TaskStatus, out: &mut Vec<Command>) {
        let task_id = status.task_id.clone();
        out.push(Command::Update(status));
        let exit_at = self.connected.then(|| now + self.ack_timeout);
        self.phase = Phase::Terminal { task_id, exit_at };
    }

    fn exit(&mut self, code: i32, out: &mut Vec<Command>) {
        self.phase = Phase::Done;
        out.push(Command::Exit(code));
    }
}

/// True if the task asks for a Docker container.
fn runs_in_docker(task: &TaskInfo) -> bool {
    task.container
        .as_ref()
        .is_some_and(|c| c.kind == drover_proto::ContainerType::Docker)
}

/// An executor update for `task_id` in `state`.
fn update(task_id: &TaskId, state: TaskState) -> TaskStatus {
    TaskStatus::new(task_id.clone(), state, TaskStatusSource::Executor)
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "core_health_tests.rs"]
mod health_tests;
