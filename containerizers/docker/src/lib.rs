//! Drover's Docker containerizer, after mesos-docker-executor: the executor of a
//! DOCKER task runs on the host (a posix-style process, [`DockerContainerizer`]) and
//! runs the task as a Docker container through the Engine API ([`DockerRunner`], over
//! the engine's unix socket with bollard; never the `docker` CLI).
//!
//! ```text
//!   agent ─▶ DockerContainerizer::launch ─▶ executor process on the host
//!                                             └─▶ DockerRunner::run(DockerRunSpec)
//!                                                   pull? ─▶ create ─▶ start ─▶ logs
//!                                                   wait ─▶ inspect (exit, OOMKilled)
//! ```
//!
//! Modules: [`spec`] (what to run, and its create body), [`params`] (docker-run flags
//! as key/value), [`runner`] (engine calls), [`containerizer`], [`test_image`] (the
//! local busybox image tests use).
#![warn(missing_docs)]

pub mod containerizer;
mod error;
pub mod params;
pub mod runner;
pub mod spec;
pub mod test_image;
mod usage;

pub use containerizer::{
    DockerContainerizer, ENV_CONTAINER_ID, ENV_DOCKER_SCOPE, ENV_DOCKER_SOCKET, NAME,
};
pub use error::DockerError;
pub use runner::{ContainerExit, DockerRunner, Started, DEFAULT_SOCKET};
pub use spec::{DockerRunSpec, DroverIds, Network, PortMapping, RunCommand};

/// True if a Docker engine answers on `socket` (connect + version negotiation).
pub async fn engine_answers(socket: &std::path::Path) -> bool {
    DockerRunner::connect(socket).await.is_ok()
}
