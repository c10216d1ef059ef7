//! The Docker "task runner" of the command executor: runs a DOCKER task as a container
//! through [`DockerRunner`] (the executor itself is on the host), and turns what
//! happens to the container into the same core inputs a process would give.
//!
//! ```text
//!  Shell ─Spawn─▶ start(spec) ── tokio task ─────────────────────────────┐
//!                 connect ─▶ pull? create start ─▶ Event::Started / Failed │
//!  Shell ─Signal─▶ control ─▶ SIGTERM / SIGKILL to the container          │
//!                 wait + inspect ─▶ remove ─▶ Event::Exited(code | OOM) ──┘
//! ```

use std::path::Path;
use std::sync::{Arc, OnceLock};

use drover_containerizer_docker::{DockerRunSpec, DockerRunner};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

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

/// Starts running `spec` on the engine at `socket`, logs appended to the sandbox's
/// `stdout`/`stderr`.
pub(crate) fn start(socket: &Path, spec: DockerRunSpec, sandbox: &Path) -> DockerRun {
    let (control, control_rx) = unbounded_channel();
    let (events_tx, events) = unbounded_channel();
    let socket = socket.to_owned();
    let sandbox = sandbox.to_owned();
    let id = Arc::new(OnceLock::new());
    let id_set = id.clone();
    tokio::spawn(async move {
        let event = match run(&socket, &spec, &sandbox, control_rx, &events_tx, &id_set).await {
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
    socket: &Path,
    spec: &DockerRunSpec,
    sandbox: &Path,
    mut control: UnboundedReceiver<KillSignal>,
    events: &UnboundedSender<Event>,
    id_slot: &OnceLock<String>,
) -> Result<ExitKind, RunError> {
    let start_err = |e: drover_containerizer_docker::DockerError| RunError::Start(e.to_string());
    let runner = DockerRunner::connect(socket).await.map_err(start_err)?;
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
