//! The Docker "task runner" of the command executor: runs a DOCKER task as a container
//! through [`DockerRunner`] (the executor itself is on the host), and turns what
//! happens to the container into the same core inputs a process would give.
//!
//! ```text
//!  executor start ─▶ Engine::warm_up (connect while the executor subscribes)
//!  Shell ─Spawn─▶ start(spec) ── tokio task ─────────────────────────────┐
//!                 engine ─▶ create (pull if missing) start ─▶ Started/Failed │
//!  Shell ─Signal─▶ control ─▶ SIGTERM / SIGKILL to the container          │
//!                 wait + inspect ─▶ remove ─▶ Event::Exited(code | OOM) ──┘
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use drover_containerizer_docker::{DockerError, DockerRunSpec, DockerRunner};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::OnceCell;

use super::core::{ExitKind, KillSignal};

/// What happened to the container.
#[derive(Debug)]
pub(crate) enum Event {
    /// It runs.
    Started,
    /// It could not be started (engine down, missing image, bad parameter...).
    Failed(String),
    /// It ended (and was removed).
    Exited(ExitKind),
}

/// A container being run: where to send signals, where events come from.
#[derive(Debug)]
pub(crate) struct DockerRun {
    control: UnboundedSender<KillSignal>,
    events: UnboundedReceiver<Event>,
    /// The container's id once it was created (for health probes).
    id: Arc<OnceLock<String>>,
}

impl DockerRun {
    /// Asks for `signal` to be sent to the container.
    pub(crate) fn signal(&self, signal: KillSignal) {
        let _ = self.control.send(signal);
    }

    /// The container's id, once it runs.
    pub(crate) fn container_id(&self) -> Option<&str> {
        self.id.get().map(String::as_str)
    }

    /// The next event; pending forever once the run is over.
    pub(crate) async fn next(&mut self) -> Event {
        match self.events.recv().await {
            Some(e) => e,
            None => std::future::pending().await,
        }
    }
}

/// The executor's connection to the engine, made once and shared. The executor of a
/// DOCKER task starts connecting as soon as it starts ([`Engine::warm_up`]), so the
/// version negotiation overlaps with its subscription to the agent instead of
/// delaying the container's start. A failed attempt is not kept: the next use retries.
#[derive(Clone, Debug)]
pub(crate) struct Engine {
    socket: PathBuf,
    conn: Arc<OnceCell<DockerRunner>>,
}

impl Engine {
    /// The engine on `socket`, not connected yet.
    pub(crate) fn new(socket: PathBuf) -> Self {
        Engine {
            socket,
            conn: Arc::new(OnceCell::new()),
        }
    }

    /// Connects in the background (call inside the runtime).
    pub(crate) fn warm_up(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.get().await {
                tracing::debug!(error = %e, "docker engine not reachable yet");
            }
        });
    }

    /// The connected client (connecting now if needed).
    async fn get(&self) -> Result<DockerRunner, DockerError> {
        self.conn
            .get_or_try_init(|| DockerRunner::connect(&self.socket))
            .await
            .cloned()
    }
}

/// Starts running `spec` on `engine`, logs appended to the sandbox's `stdout`/`stderr`.
pub(crate) fn start(engine: &Engine, spec: DockerRunSpec, sandbox: &Path) -> DockerRun {
    let (control, control_rx) = unbounded_channel();
    let (events_tx, events) = unbounded_channel();
    let engine = engine.clone();
    let sandbox = sandbox.to_owned();
    let id = Arc::new(OnceLock::new());
    let id_set = id.clone();
    tokio::spawn(async move {
        let event = match run(&engine, &spec, &sandbox, control_rx, &events_tx, &id_set).await {
            Ok(kind) => Event::Exited(kind),
            Err(RunError::Start(e)) => Event::Failed(e),
            Err(RunError::Lost(e)) => {
                tracing::error!(error = %e, "lost the docker container");
                Event::Exited(ExitKind::Code(-1))
            }
        };
        let _ = events_tx.send(event);
    });
    DockerRun {
        control,
        events,
        id,
    }
}

enum RunError {
    /// Before the container ran.
    Start(String),
    /// While waiting for it.
    Lost(String),
}

async fn run(
    engine: &Engine,
    spec: &DockerRunSpec,
    sandbox: &Path,
    mut control: UnboundedReceiver<KillSignal>,
    events: &UnboundedSender<Event>,
    id_slot: &OnceLock<String>,
) -> Result<ExitKind, RunError> {
    let start_err = |e: drover_containerizer_docker::DockerError| RunError::Start(e.to_string());
    let runner = engine.get().await.map_err(start_err)?;
    let started = runner
        .run(spec, &sandbox.join("stdout"), &sandbox.join("stderr"))
        .await
        .map_err(start_err)?;
    let _ = id_slot.set(started.id.clone());
    let _ = events.send(Event::Started);
    let id = started.id.clone();
    let wait = runner.wait(&id);
    tokio::pin!(wait);
    let exit = loop {
        tokio::select! {
            exit = &mut wait => break exit,
            Some(signal) = control.recv() => {
                let name = match signal {
                    KillSignal::Term => "SIGTERM",
                    KillSignal::Kill => "SIGKILL",
                };
                tracing::info!(container = %id, signal = name, "signalling the docker container");
                if let Err(e) = runner.signal(&id, name).await {
                    tracing::warn!(container = %id, error = %e, "cannot signal the docker container");
                }
            }
        }
    };
    // The log stream ends with the container; then the container can go.
    let _ = started.logs.await;
    if let Err(e) = runner.remove(&id).await {
        tracing::warn!(container = %id, error = %e, "cannot remove the docker container");
    }
    let exit = exit.map_err(|e| RunError::Lost(e.to_string()))?;
    Ok(if exit.oom_killed {
        ExitKind::OomKilled
    } else {
        // Docker reports a signal death n as exit code 128+n, like a shell.
        ExitKind::Code(i32::try_from(exit.exit_code).unwrap_or(-1))
    })
}

#[cfg(test)]
#[path = "docker_tests.rs"]
mod tests;
