//! [`DockerRunner`]: one container's life through the Docker Engine API, as
//! mesos-docker-executor does it.
//!
//! ```text
//!   connect(socket) ─▶ negotiate_version (one GET /version: proves the engine answers)
//!   run(spec, stdout, stderr):
//!     forced pull? ─▶ create (labels: drover ids)
//!        └─ 404 (no such image) ─▶ ensure_image (pull; progress to stderr) ─▶ create
//!     ─▶ start ─▶ logs streamed to the files
//!   wait(id) ─▶ wait + inspect ─▶ ContainerExit { exit_code, oom_killed }
//!   stop(id, grace) ─▶ SIGTERM, SIGKILL after grace (then kill if still running)
//!   remove(id) ─▶ force remove
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use crate::error::DockerError;
use crate::spec::DockerRunSpec;

/// The Docker engine's default socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Seconds the client waits for an engine answer (pulls stream, so this is per read).
const CLIENT_TIMEOUT_SECS: u64 = 120;

/// How a container ended, from wait + inspect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerExit {
    /// Exit code of the container's main process (128+n after signal n).
    pub exit_code: i64,
    /// The kernel's OOM killer ended it (memory limit).
    pub oom_killed: bool,
    /// An error the engine recorded (e.g. the command could not be executed).
    pub error: Option<String>,
}

/// A started container: its id and the task copying its logs.
#[derive(Debug)]
pub struct Started {
    /// Engine container id.
    pub id: String,
    /// Copies stdout/stderr into the files until the container stops.
    pub logs: JoinHandle<()>,
}

/// Runs containers on one engine. Cheap to clone; clones share the client, so a
/// version negotiated by one ([`DockerRunner::ping`] of a [`DockerRunner::lazy`]
/// runner) serves all.
#[derive(Clone, Debug)]
pub struct DockerRunner {
    docker: Arc<RwLock<Docker>>,
    /// The API version has been negotiated with the engine.
    negotiated: Arc<AtomicBool>,
    socket: PathBuf,
}

impl DockerRunner {
    /// Connects to the engine on `socket` and negotiates the API version (one request);
    /// fails with [`DockerError::EngineUnavailable`] if the engine does not answer.
    pub async fn connect(socket: &Path) -> Result<Self, DockerError> {
        let unavailable = |source| DockerError::EngineUnavailable {
            socket: socket.to_owned(),
            source,
        };
        let path = socket.to_string_lossy();
        let docker =
            Docker::connect_with_unix(&path, CLIENT_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                .map_err(unavailable)?;
        let docker = docker.negotiate_version().await.map_err(unavailable)?;
        Ok(DockerRunner {
            docker: Arc::new(RwLock::new(docker)),
            negotiated: Arc::new(AtomicBool::new(true)),
            socket: socket.to_owned(),
        })
    }

    /// A runner for the engine on `socket` that has not talked to it yet (the engine
    /// may be down): the first successful [`DockerRunner::ping`] negotiates the API
    /// version. Until then calls use the client's default version, which an engine
    /// older than it refuses.
    pub fn lazy(socket: &Path) -> Result<Self, DockerError> {
        let docker = Docker::connect_with_unix(
            &socket.to_string_lossy(),
            CLIENT_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|source| DockerError::EngineUnavailable {
            socket: socket.to_owned(),
            source,
        })?;
        Ok(DockerRunner {
            docker: Arc::new(RwLock::new(docker)),
            negotiated: Arc::new(AtomicBool::new(false)),
            socket: socket.to_owned(),
        })
    }

    /// Asks the engine whether it answers (`GET /_ping`), giving up after `timeout`;
    /// [`DockerError::EngineUnavailable`] if not.
    pub async fn ping(&self, timeout: Duration) -> Result<(), DockerError> {
        let unavailable = |source| DockerError::EngineUnavailable {
            socket: self.socket.clone(),
            source,
        };
        let answer = async {
            if !self.negotiated.load(Ordering::Acquire) {
                let docker = self.client().negotiate_version().await?;
                if let Ok(mut slot) = self.docker.write() {
                    *slot = docker;
                }
                self.negotiated.store(true, Ordering::Release);
            }
            self.client().ping().await.map(|_| ())
        };
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(unavailable(bollard::errors::Error::RequestTimeoutError)),
        }
    }

    /// The underlying client (for callers needing other Engine API calls).
    pub fn client(&self) -> Docker {
        match self.docker.read() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The engine's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Makes sure `image` is present: pulls it if missing or if `force_pull`, writing
    /// pull progress to `progress`. A missing image that cannot be pulled is a
    /// [`DockerError::Image`] naming it.
    pub async fn ensure_image(
        &self,
        image: &str,
        force_pull: bool,
        progress: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<(), DockerError> {
        let present = self.client().inspect_image(image).await.is_ok();
        if present && !force_pull {
            return Ok(());
        }
        let _ = progress
            .write_all(format!("Pulling image {image}\n").as_bytes())
            .await;
        let options = CreateImageOptionsBuilder::new().from_image(image).build();
        let mut pull = self.client().create_image(Some(options), None, None);
        while let Some(item) = pull.next().await {
            match item {
                Ok(info) => {
                    let line = [info.id, info.status]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    let _ = progress.write_all(format!("{line}\n").as_bytes()).await;
                }
                Err(e) if present => {
                    tracing::warn!(image, error = %e, "forced pull failed; using the local image");
                    return Ok(());
                }
                Err(e) => {
                    return Err(DockerError::Image {
                        image: image.to_owned(),
                        message: format!("not present locally and the pull failed: {e}"),
                    })
                }
            }
        }
        match self.client().inspect_image(image).await {
            Ok(_) => Ok(()),
            Err(e) => Err(DockerError::Image {
                image: image.to_owned(),
                message: format!("still missing after the pull: {e}"),
            }),
        }
    }

    /// Creates and starts the container of `spec` (pulling its image first if forced,
    /// or if the create says it is missing: like `docker run`, no inspect before), and
    /// streams its logs (appended) to `stdout` and `stderr`. On a start failure the
    /// created container is removed.
    pub async fn run(
        &self,
        spec: &DockerRunSpec,
        stdout: &Path,
        stderr: &Path,
    ) -> Result<Started, DockerError> {
        let body = spec.to_create_body()?;
        let mut err_file = open_append(stderr).await?;
        if spec.force_pull {
            self.ensure_image(&spec.image, true, &mut err_file).await?;
        }
        let mut options = CreateContainerOptionsBuilder::new();
        if let Some(name) = &spec.name {
            options = options.name(name);
        }
        let options = options.build();
        let created = match self
            .client()
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Err(e) if is_not_found(&e) => {
                // Most likely the image is missing: pull it (an image that is there is
                // not pulled again), then create again; other 404s surface from there.
                self.ensure_image(&spec.image, false, &mut err_file).await?;
                self.client().create_container(Some(options), body).await
            }
            other => other,
        }
        .map_err(DockerError::api("create"))?;
        let id = created.id;
        if let Err(e) = self.client().start_container(&id, None).await {
            let _ = self.remove(&id).await;
            return Err(DockerError::Api {
                operation: "start",
                source: e,
            });
        }
        let out_file = open_append(stdout).await?;
        let logs = tokio::spawn(copy_logs(self.client(), id.clone(), out_file, err_file));
        Ok(Started { id, logs })
    }

    /// Waits for container `id` to stop and reads how it ended.
    pub async fn wait(&self, id: &str) -> Result<ContainerExit, DockerError> {
        let mut wait = self.client().wait_container(id, None);
        // One answer when the container stops; a non-zero exit arrives as an error.
        match wait.next().await {
            Some(Ok(_) | Err(bollard::errors::Error::DockerContainerWaitError { .. })) | None => {}
            Some(Err(e)) => return Err(DockerError::api("wait")(e)),
        }
        self.inspect_exit(id).await
    }

    /// Reads the exit code and OOM flag of a stopped container.
    pub async fn inspect_exit(&self, id: &str) -> Result<ContainerExit, DockerError> {
        let info = self
            .client()
            .inspect_container(id, None)
            .await
            .map_err(DockerError::api("inspect"))?;
        let state = info.state.ok_or_else(|| DockerError::BadResponse {
            operation: "inspect",
            message: format!("container {id} has no state"),
        })?;
        Ok(ContainerExit {
            exit_code: state.exit_code.unwrap_or(-1),
            oom_killed: state.oom_killed.unwrap_or(false),
            error: state.error.filter(|e| !e.is_empty()),
        })
    }

    /// Sends `signal` (e.g. `SIGTERM`) to the container's main process; a container
    /// already stopped is fine.
    pub async fn signal(&self, id: &str, signal: &str) -> Result<(), DockerError> {
        let options = KillContainerOptionsBuilder::new().signal(signal).build();
        match self.client().kill_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if gone_or_stopped(&e) => Ok(()),
            Err(e) => Err(DockerError::api("kill")(e)),
        }
    }

    /// Stops the container honouring `grace`: SIGTERM, SIGKILL once `grace` has passed
    /// (the engine's stop timeout), then a kill in case the stop did not end it.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), DockerError> {
        let secs = i32::try_from(grace.as_secs_f64().ceil() as i64).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(secs).build();
        match self.client().stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if gone_or_stopped(&e) => Ok(()),
            Err(e) => {
                tracing::warn!(id, error = %e, "docker stop failed; killing");
                self.signal(id, "SIGKILL").await
            }
        }
    }

    /// Removes the container (killing it if it runs) and its anonymous volumes; a
    /// container already gone is fine.
    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.client().remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if gone_or_stopped(&e) => Ok(()),
            Err(e) => Err(DockerError::api("remove")(e)),
        }
    }

    /// Containers (running or not) carrying label `key`, with their labels.
    pub async fn list_labelled(
        &self,
        key: &str,
    ) -> Result<Vec<(String, HashMap<String, String>)>, DockerError> {
        let filters = HashMap::from([("label", vec![key.to_owned()])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .client()
            .list_containers(Some(options))
            .await
            .map_err(DockerError::api("list"))?;
        Ok(list
            .into_iter()
            .filter_map(|c| Some((c.id?, c.labels.unwrap_or_default())))
            .collect())
    }
}

/// 404: no such image / container / network.
fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// 404 (no such container) and 304/409 (already stopped / removal in progress).
fn gone_or_stopped(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError { status_code, .. }
            if matches!(status_code, 304 | 404 | 409)
    )
}

async fn open_append(path: &Path) -> Result<tokio::fs::File, DockerError> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(|source| DockerError::Io {
            context: "cannot open the sandbox log",
            path: path.to_owned(),
            source,
        })
}

/// Follows the container's logs into the two files until it stops.
async fn copy_logs(docker: Docker, id: String, mut out: tokio::fs::File, mut err: tokio::fs::File) {
    let options = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut logs = docker.logs(&id, Some(options));
    while let Some(item) = logs.next().await {
        let written = match item {
            Ok(bollard::container::LogOutput::StdErr { message }) => err.write_all(&message).await,
            Ok(
                bollard::container::LogOutput::StdOut { message }
                | bollard::container::LogOutput::Console { message },
            ) => out.write_all(&message).await,
            Ok(bollard::container::LogOutput::StdIn { .. }) => Ok(()),
            Err(e) => {
                tracing::warn!(id, error = %e, "container log stream ended");
                break;
            }
        };
        if let Err(e) = written {
            tracing::warn!(id, error = %e, "cannot write container logs to the sandbox");
            break;
        }
    }
    let _ = out.flush().await;
    let _ = err.flush().await;
}
