//! [`DockerContainerizer`]: the container's main process is the executor, run on the
//! host like posix runs it (mesos-docker-executor style); the executor runs the task as
//! a Docker container labelled with the Drover container id.
//!
//! ```text
//!   launch(id, config{kind.containerizer = "docker"})
//!      ─▶ posix launch of the executor, env + DROVER_DOCKER_SOCKET, DROVER_CONTAINER_ID
//!            └─▶ executor ─▶ DockerRunner: create/start container labelled
//!                            drover.container_id = id, drover.scope = runtime dir
//!   wait ─▶ posix (the executor process)
//!   usage ─▶ the executor's (posix) + its Docker containers' (stats, limits)
//!   update ─▶ its Docker containers' cpu shares and memory limit
//!   destroy(id) ─▶ posix destroy (kills the executor) ─▶ remove containers labelled id
//!   recover(known) ─▶ posix recover ─▶ remove labelled containers whose id is not a
//!                     running known container (orphans)
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;

use drover_containerizers::{
    BoxFuture, ContainerConfig, ContainerHandle, ContainerId, Containerizer, ContainerizerError,
    LaunchResult, Limits, PosixContainerizer, Recovered, ResourceStatistics, Termination,
};

use crate::error::DockerError;
use crate::runner::DockerRunner;
use crate::spec::{LABEL_CONTAINER_ID, LABEL_SCOPE};

/// Name of the Docker containerizer, as recorded in its handles.
pub const NAME: &str = "docker";
/// Environment variable telling the executor where the engine's socket is.
pub const ENV_DOCKER_SOCKET: &str = "DROVER_DOCKER_SOCKET";
/// Environment variable with the containerizer's scope, for the [`LABEL_SCOPE`] label.
pub const ENV_DOCKER_SCOPE: &str = "DROVER_DOCKER_SCOPE";
/// Environment variable with the Drover container id (also set by the agent).
pub const ENV_CONTAINER_ID: &str = "DROVER_CONTAINER_ID";

/// Runs executors on the host for tasks whose containers are Docker containers.
#[derive(Debug)]
pub struct DockerContainerizer {
    posix: PosixContainerizer,
    runner: DockerRunner,
    scope: String,
}

impl DockerContainerizer {
    /// A Docker containerizer keeping its executor records in `runtime_dir` (e.g.
    /// `<work dir>/containerizers/docker`) and talking to the engine through `runner`.
    pub fn new(
        runtime_dir: impl Into<PathBuf>,
        runner: DockerRunner,
    ) -> Result<Self, ContainerizerError> {
        let posix = PosixContainerizer::new(runtime_dir)?;
        let scope = posix.runtime_dir().display().to_string();
        Ok(DockerContainerizer {
            posix,
            runner,
            scope,
        })
    }

    /// The engine client.
    pub fn runner(&self) -> &DockerRunner {
        &self.runner
    }

    /// The value of the [`LABEL_SCOPE`] label of this containerizer's containers.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Engine ids of the Docker containers of this scope run for Drover container `id`.
    async fn containers_of(&self, id: &ContainerId) -> Result<Vec<String>, DockerError> {
        Ok(self
            .runner
            .list_labelled(LABEL_SCOPE)
            .await?
            .into_iter()
            .filter(|(_, labels)| {
                labels.get(LABEL_SCOPE) == Some(&self.scope)
                    && labels.get(LABEL_CONTAINER_ID).map(String::as_str) == Some(id.as_str())
            })
            .map(|(docker_id, _)| docker_id)
            .collect())
    }

    async fn container_usage(
        &self,
        id: &ContainerId,
    ) -> Result<ResourceStatistics, ContainerizerError> {
        let mut stats = self.posix.usage(id).await?;
        let added: Result<(), DockerError> = async {
            for docker_id in self.containers_of(id).await? {
                crate::usage::add_container_usage(&self.runner, &docker_id, &mut stats).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = added {
            tracing::warn!(%id, error = %e, "docker: usage of the task's container unavailable");
        }
        Ok(stats)
    }

    async fn update_limits(
        &self,
        id: &ContainerId,
        limits: Limits,
    ) -> Result<(), ContainerizerError> {
        self.posix.update(id, limits).await?;
        let updated: Result<(), DockerError> = async {
            for docker_id in self.containers_of(id).await? {
                crate::usage::update_limits(&self.runner, &docker_id, limits).await?;
            }
            Ok(())
        }
        .await;
        updated.map_err(|e| ContainerizerError::InvalidConfig {
            id: id.clone(),
            message: format!("docker refused the new limits: {e}"),
        })
    }

    /// Removes every Docker container of this scope labelled with one of `ids` (or, with
    /// `keep_only`, every labelled container whose id is *not* in `ids`); returns the
    /// Drover ids whose containers were removed.
    async fn remove_labelled(
        &self,
        ids: &BTreeSet<String>,
        keep_only: bool,
    ) -> Result<Vec<ContainerId>, String> {
        let list = self
            .runner
            .list_labelled(LABEL_SCOPE)
            .await
            .map_err(|e| e.to_string())?;
        let mut removed = BTreeSet::new();
        for (docker_id, labels) in list {
            if labels.get(LABEL_SCOPE) != Some(&self.scope) {
                continue;
            }
            let Some(drover_id) = labels.get(LABEL_CONTAINER_ID) else {
                continue;
            };
            if ids.contains(drover_id) == keep_only {
                continue;
            }
            tracing::info!(%drover_id, docker_id, "removing docker container");
            self.runner
                .remove(&docker_id)
                .await
                .map_err(|e| e.to_string())?;
            removed.insert(drover_id.clone());
        }
        Ok(removed.into_iter().map(ContainerId::new).collect())
    }

    async fn launch_executor(
        &self,
        id: &ContainerId,
        mut config: ContainerConfig,
    ) -> Result<LaunchResult, ContainerizerError> {
        if config.kind.containerizer.as_deref() != Some(NAME) {
            return Ok(LaunchResult::NotSupported {
                reason: "docker: runs only containers that ask for the `docker` containerizer"
                    .into(),
            });
        }
        if config.mock.is_some() {
            return Ok(LaunchResult::NotSupported {
                reason: "docker: the config is a mock (it has a MockSpec)".into(),
            });
        }
        // The image, volumes and options are the task's, read by the executor from its
        // TaskInfo; the executor itself runs as a plain host process.
        config.kind = Default::default();
        let socket = self.runner.socket().display().to_string();
        config
            .env
            .retain(|(k, _)| k != ENV_DOCKER_SOCKET && k != ENV_DOCKER_SCOPE);
        config.env.push((ENV_DOCKER_SOCKET.to_owned(), socket));
        config
            .env
            .push((ENV_DOCKER_SCOPE.to_owned(), self.scope.clone()));
        if !config.env.iter().any(|(k, _)| k == ENV_CONTAINER_ID) {
            config
                .env
                .push((ENV_CONTAINER_ID.to_owned(), id.as_str().to_owned()));
        }
        Ok(match self.posix.launch(id, config).await? {
            LaunchResult::Launched(handle) => LaunchResult::Launched(ours(handle)),
            other => other,
        })
    }

    async fn destroy_container(&self, id: &ContainerId) -> Result<Termination, ContainerizerError> {
        let termination = self.posix.destroy(id).await?;
        let ids = BTreeSet::from([id.as_str().to_owned()]);
        if let Err(message) = self.remove_labelled(&ids, false).await {
            return Err(ContainerizerError::DestroyFailed {
                id: id.clone(),
                message: format!("cannot remove its docker containers: {message}"),
            });
        }
        Ok(termination)
    }

    async fn recover_containers(
        &self,
        known: &[ContainerHandle],
    ) -> Result<Recovered, ContainerizerError> {
        let mine: Vec<ContainerHandle> = known
            .iter()
            .filter(|h| h.containerizer == NAME)
            .map(|h| ContainerHandle {
                containerizer: drover_containerizers::posix::NAME.to_owned(),
                ..h.clone()
            })
            .collect();
        let mut recovered = self.posix.recover(&mine).await?;
        recovered.running = recovered.running.into_iter().map(ours).collect();
        let running: BTreeSet<String> = recovered
            .running
            .iter()
            .map(|h| h.id.as_str().to_owned())
            .collect();
        match self.remove_labelled(&running, true).await {
            Ok(orphans) => {
                for id in orphans {
                    if !recovered.orphans_destroyed.contains(&id)
                        && !recovered.gone.iter().any(|(g, _)| *g == id)
                    {
                        recovered.orphans_destroyed.push(id);
                    }
                }
            }
            Err(message) => {
                tracing::warn!(%message, "docker: cannot clean up orphan containers")
            }
        }
        Ok(recovered)
    }
}

/// A posix handle relabelled as the Docker containerizer's.
fn ours(handle: ContainerHandle) -> ContainerHandle {
    ContainerHandle {
        containerizer: NAME.to_owned(),
        ..handle
    }
}

impl Containerizer for DockerContainerizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn recover<'a>(
        &'a self,
        known: &'a [ContainerHandle],
    ) -> BoxFuture<'a, Result<Recovered, ContainerizerError>> {
        Box::pin(self.recover_containers(known))
    }

    fn launch<'a>(
        &'a self,
        id: &'a ContainerId,
        config: ContainerConfig,
    ) -> BoxFuture<'a, Result<LaunchResult, ContainerizerError>> {
        Box::pin(self.launch_executor(id, config))
    }

    fn wait<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
        self.posix.wait(id)
    }

    fn destroy<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
        Box::pin(self.destroy_container(id))
    }

    fn update<'a>(
        &'a self,
        id: &'a ContainerId,
        limits: Limits,
    ) -> BoxFuture<'a, Result<(), ContainerizerError>> {
        Box::pin(self.update_limits(id, limits))
    }

    fn usage<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<ResourceStatistics, ContainerizerError>> {
        Box::pin(self.container_usage(id))
    }
}
