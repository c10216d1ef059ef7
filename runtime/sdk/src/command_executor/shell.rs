//! The command executor's shell: runs [`CommandCore`]'s commands (spawn, signal, send
//! updates, exit) and feeds it what happens (driver callbacks, the process's exit, the
//! clock). It decides nothing itself. A task with a DOCKER container is "spawned" as a
//! Docker container instead of a process (see [`super::docker`]).
//!
//! ```text
//!  ExecutorDriver callbacks ─▶ CommandExecutor ─▶ mpsc ─┐
//!  child.wait() ───────────────────────────────────────┼─▶ Shell ─▶ CommandCore
//!  sleep_until(next_deadline) ─────────────────────────┘      │
//!     Outbox (driver): updates, stop ◀── Update / Exit ◀──────┤
//!     process group: spawn, SIGTERM/SIGKILL ◀── Spawn/Signal ◀┘
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use drover_proto::{FrameworkInfo, KillPolicy, TaskId, TaskInfo, TaskStatus};
use tokio::process::Child;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::core::{Command, CommandCore, ExitKind, Input};
use super::docker::{self, DockerRun, Engine, Event};
use super::docker_spec::{docker_spec, is_docker, DockerContext};
use super::probe::{self, Target};
use super::process;
use crate::executor::{Executor, ExecutorDriver};

/// Where the shell sends updates and its decision to stop: the executor driver, or a
/// test double.
pub(crate) trait Outbox {
    /// Sends a task status update.
    fn update(&self, status: TaskStatus);
    /// Ends the executor driver.
    fn stop(&self);
}

impl Outbox for ExecutorDriver {
    fn update(&self, status: TaskStatus) {
        if let Err(e) = self.send_status_update(status) {
            tracing::warn!(error = %e, "status update not sent");
        }
    }

    fn stop(&self) {
        let _ = ExecutorDriver::stop(self);
    }
}

/// The [`Executor`] of the command executor: turns each callback into a core input.
#[derive(Debug)]
pub(crate) struct CommandExecutor {
    pub(crate) inputs: UnboundedSender<Input>,
}

impl CommandExecutor {
    fn send(&self, input: Input) {
        // The shell only goes away after deciding to exit; later callbacks are moot.
        let _ = self.inputs.send(input);
    }
}

impl Executor for CommandExecutor {
    fn registered(
        &mut self,
        _driver: &ExecutorDriver,
        _executor_info: drover_proto::ExecutorInfo,
        framework_info: FrameworkInfo,
        _agent_id: drover_proto::AgentId,
    ) {
        self.send(Input::Subscribed { framework_info });
    }

    fn reregistered(&mut self, _driver: &ExecutorDriver, _agent_id: drover_proto::AgentId) {
        self.send(Input::Reregistered);
    }

    fn disconnected(&mut self, _driver: &ExecutorDriver) {
        self.send(Input::Disconnected);
    }

    fn launch_task(&mut self, _driver: &ExecutorDriver, task: TaskInfo) {
        self.send(Input::Launch(task));
    }

    fn kill_task(
        &mut self,
        _driver: &ExecutorDriver,
        task_id: TaskId,
        kill_policy: Option<KillPolicy>,
    ) {
        self.send(Input::Kill {
            task_id,
            kill_policy,
        });
    }

    fn acknowledged(&mut self, _driver: &ExecutorDriver, status: TaskStatus) {
        self.send(Input::Acknowledged {
            task_id: status.task_id,
            state: status.state,
        });
    }

    fn shutdown(&mut self, _driver: &ExecutorDriver, grace_period: Duration) {
        self.send(Input::Shutdown { grace_period });
    }
}

/// The shell around one [`CommandCore`].
#[derive(Debug)]
pub(crate) struct Shell<O: Outbox> {
    core: CommandCore,
    outbox: O,
    sandbox: PathBuf,
    /// The task's root filesystem, prepared by the containerizer (`DROVER_ROOTFS`).
    rootfs: Option<PathBuf>,
    /// The task gets a network namespace of its own with only `lo`
    /// (`DROVER_NETWORK_NONE=1`); its health checks run there.
    new_net: bool,
    child: Option<Child>,
    /// Process group of the task (its pid), kept after the process is reaped so that a
    /// late SIGKILL still reaches what it left behind.
    pgid: Option<u32>,
    /// Where and as whom DOCKER tasks run.
    docker_ctx: Option<DockerContext>,
    /// The engine DOCKER tasks run on (at `docker_ctx.socket`).
    engine: Option<Engine>,
    /// The launched task, when it asks for a Docker container.
    docker_task: Option<TaskInfo>,
    /// The task's running Docker container.
    docker: Option<DockerRun>,
    /// Health probe outcomes come back here.
    probes: (UnboundedSender<Input>, UnboundedReceiver<Input>),
}

impl<O: Outbox> Shell<O> {
    /// A shell running tasks in `sandbox`, waiting `ack_timeout` at most for the
    /// terminal update's acknowledgement.
    pub(crate) fn new(outbox: O, sandbox: PathBuf, ack_timeout: Duration) -> Self {
        Self {
            core: CommandCore::new(ack_timeout),
            outbox,
            sandbox,
            rootfs: None,
            new_net: false,
            child: None,
            pgid: None,
            docker_ctx: None,
            engine: None,
            docker_task: None,
            docker: None,
            probes: unbounded_channel(),
        }
    }

    /// The same shell, starting tasks inside the root filesystem at `rootfs`.
    pub(crate) fn with_rootfs(mut self, rootfs: Option<PathBuf>) -> Self {
        self.rootfs = rootfs;
        self
    }

    /// The same shell, starting tasks in a new network namespace with only `lo` if
    /// `new_net`.
    pub(crate) fn with_network_none(mut self, new_net: bool) -> Self {
        self.new_net = new_net;
        self
    }

    /// The same shell, able to run DOCKER tasks as described by `ctx`.
    pub(crate) fn with_docker(mut self, ctx: DockerContext) -> Self {
        self.engine = Some(Engine::new(ctx.socket.clone()));
        self.docker_ctx = Some(ctx);
        self
    }

    /// Starts connecting to the Docker engine now, while the executor subscribes (the
    /// executor of a DOCKER task; call inside the runtime).
    pub(crate) fn warm_up_docker(self) -> Self {
        if let Some(engine) = &self.engine {
            engine.warm_up();
        }
        self
    }

    /// Runs until the core decides to exit; returns the executor's exit status. A
    /// closed `inputs` means the driver is gone.
    pub(crate) async fn run(mut self, mut inputs: UnboundedReceiver<Input>) -> i32 {
        loop {
            let deadline = self.core.next_deadline();
            let input = tokio::select! {
                input = inputs.recv() => input.unwrap_or(Input::DriverEnded),
                exited = wait_child(&mut self.child) => {
                    self.child = None;
                    Input::Exited(exited)
                }
                event = next_docker(&mut self.docker) => match event {
                    Event::Started => Input::Spawned,
                    Event::Failed(error) => Input::SpawnFailed { error },
                    Event::Exited(kind) => Input::Exited(kind),
                },
                Some(probed) = self.probes.1.recv() => probed,
                () = sleep_until(deadline) => Input::Tick,
            };
            if let Input::Launch(task) = &input {
                if is_docker(task) && self.docker_task.is_none() && self.child.is_none() {
                    self.docker_task = Some(task.clone());
                }
            }
            for command in self.core.handle(Instant::now(), input) {
                if let Some(code) = self.execute(command) {
                    return code;
                }
            }
        }
    }

    /// Carries out one command; `Some(status)` once the executor is to exit.
    fn execute(&mut self, command: Command) -> Option<i32> {
        match command {
            Command::Update(status) => {
                tracing::info!(task = %status.task_id, state = %status.state, message = ?status.message, "task status");
                self.outbox.update(status);
            }
            Command::Spawn(_) if self.docker_task.is_some() => {
                if let Some(error) = self.start_docker() {
                    return self.feed(Input::SpawnFailed { error });
                }
            }
            Command::Spawn(info) => {
                let input = match process::spawn(
                    &info,
                    &self.sandbox,
                    self.rootfs.as_deref(),
                    self.new_net,
                ) {
                    Ok(child) => {
                        self.pgid = child.id();
                        self.child = Some(child);
                        Input::Spawned
                    }
                    Err(error) => Input::SpawnFailed { error },
                };
                // The spawn's outcome goes straight back in, before anything else.
                for command in self.core.handle(Instant::now(), input) {
                    if let Some(code) = self.execute(command) {
                        return Some(code);
                    }
                }
            }
            Command::Signal(signal) if self.docker.is_some() => {
                if let Some(run) = &self.docker {
                    run.signal(signal);
                }
            }
            Command::Signal(signal) => {
                if let Some(pgid) = self.pgid {
                    tracing::info!(pgid, ?signal, "signalling the task's process group");
                    process::signal_group(pgid, signal);
                }
            }
            Command::Exit(code) => {
                self.outbox.stop();
                return Some(code);
            }
            Command::Probe { seq, check } => {
                let target = self.probe_target();
                let results = self.probes.0.clone();
                let (sandbox, rootfs) = (self.sandbox.clone(), self.rootfs.clone());
                probe::spawn(seq, check, sandbox, rootfs, target, results);
            }
        }
        None
    }
}

impl<O: Outbox> Shell<O> {
    /// Where health probes run: in the task's Docker container, in the task's own
    /// network namespace, or next to the executor (which the native containerizer put
    /// inside the container).
    fn probe_target(&self) -> Target {
        if self.docker.is_none() && self.new_net {
            if let Some(pid) = self.pgid {
                return Target::NetNs(PathBuf::from(format!("/proc/{pid}/ns/net")));
            }
        }
        match (&self.docker, &self.docker_ctx) {
            (Some(run), Some(ctx)) => match run.container_id() {
                Some(id) => Target::Docker {
                    socket: ctx.socket.clone(),
                    id: id.to_owned(),
                },
                None => Target::Local,
            },
            _ => Target::Local,
        }
    }

    /// Starts the DOCKER task's container; `Some(why)` if it cannot even be tried.
    fn start_docker(&mut self) -> Option<String> {
        let task = self.docker_task.as_ref()?;
        let (Some(ctx), Some(engine)) = (&self.docker_ctx, &self.engine) else {
            return Some("this executor cannot run Docker containers".into());
        };
        match docker_spec(task, ctx, &self.sandbox) {
            Ok(spec) => {
                self.docker = Some(docker::start(engine, spec, &self.sandbox));
                None
            }
            Err(error) => Some(error),
        }
    }

    /// Feeds `input` to the core and carries out what it says.
    fn feed(&mut self, input: Input) -> Option<i32> {
        for command in self.core.handle(Instant::now(), input) {
            if let Some(code) = self.execute(command) {
                return Some(code);
            }
        }
        None
    }
}

/// The container's next event; pending forever without one.
async fn next_docker(run: &mut Option<DockerRun>) -> Event {
    match run {
        Some(run) => run.next().await,
        None => std::future::pending().await,
    }
}

/// The child's end; pending forever without a child.
async fn wait_child(child: &mut Option<Child>) -> ExitKind {
    let Some(child) = child else {
        return std::future::pending().await;
    };
    match child.wait().await {
        Ok(status) => process::exit_kind(status),
        Err(e) => {
            tracing::error!(error = %e, "cannot wait for the task's process");
            ExitKind::Code(-1)
        }
    }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
