//! The `Containerizer` trait, its conformance suite, and the containerizers: mock,
//! posix, and a composing one (native and docker come later and reuse the suite).
//!
//! A containerizer runs a container's main process (in Drover: the executor) and
//! reports how it ended. Its interface follows Mesos's `containerizer.hpp`:
//!
//! ```text
//!   agent start ──▶ recover(known handles) ──▶ Recovered { running, gone, orphans_destroyed }
//!                        │  (always first)
//!                        ▼
//!   launch(id, config) ──▶ Launched(handle) ──▶ agent checkpoints handle
//!          │            └─▶ NotSupported      ──▶ composing tries the next containerizer
//!          ▼
//!   update(limits) / usage()      while it runs
//!   wait()    ──▶ Termination     when the main process exits
//!   destroy() ──▶ Termination     kills the whole tree; idempotent; releases the container
//! ```
//!
//! This crate knows nothing of the wire protocol: the agent maps a `TaskInfo` to a
//! [`ContainerConfig`].
//!
//! Modules: [`posix`] (plain processes in their own session), [`mock`] (simulated,
//! for benchmarks and chaos tests), [`composing`] (an ordered list of containerizers),
//! [`suite`] (the conformance checks every containerizer must pass), [`proc`]
//! (reading `/proc`, shared with the native containerizer) and [`tombstones`].
#![warn(missing_docs)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub mod composing;
mod config;
mod error;
pub mod mock;
pub mod posix;
pub mod proc;
pub mod suite;
pub mod tombstones;
mod types;

pub use composing::ComposingContainerizer;
pub use config::{
    Command, ContainerConfig, ContainerKind, Limits, MockSpec, Volume, ENV_NETWORK_NONE,
    ENV_ROOTFS, SANDBOX_IN_ROOTFS, STDERR_FILE, STDOUT_FILE,
};
pub use error::ContainerizerError;
pub use mock::MockContainerizer;
pub use posix::PosixContainerizer;
pub use tombstones::REMEMBERED_DESTROYED;
pub use types::{
    ContainerHandle, ContainerId, LaunchResult, Recovered, ResourceStatistics, Termination,
    TerminationReason,
};

/// A boxed future, so that [`Containerizer`] is object-safe (`Arc<dyn Containerizer>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs containers. Object-safe and shared between tasks (`&self` everywhere).
///
/// Contract (checked by [`suite`]):
/// - `recover` is called first, always, once per agent start; other calls before it
///   fail with [`ContainerizerError::NotRecovered`].
/// - Container ids are unique while the container is known (`AlreadyExists`).
/// - `wait` may be called any number of times, concurrently; all callers get the same
///   termination.
/// - `destroy` kills every process of the container and returns its termination (the
///   natural one if the main process had already exited, else reason `Killed`). It is
///   idempotent: destroying a destroyed container returns the same termination (as
///   long as it is remembered, see [`REMEMBERED_DESTROYED`]). The agent calls it once
///   `wait` resolves, to clean up leftovers and release the container.
/// - Dropping a containerizer leaves its containers running (as an agent crash would);
///   a new instance finds them with `recover`.
pub trait Containerizer: Send + Sync + fmt::Debug {
    /// Short name (`"posix"`, `"mock"`...), recorded in each handle.
    fn name(&self) -> &'static str;

    /// Re-attaches the `known` containers (the agent's checkpointed handles) that still
    /// run, reports which are gone and how they ended, and destroys containers it finds
    /// that are not in `known` (orphans). Handles of other containerizers are ignored.
    fn recover<'a>(
        &'a self,
        known: &'a [ContainerHandle],
    ) -> BoxFuture<'a, Result<Recovered, ContainerizerError>>;

    /// Starts container `id`. `NotSupported` if this containerizer cannot run `config`.
    fn launch<'a>(
        &'a self,
        id: &'a ContainerId,
        config: ContainerConfig,
    ) -> BoxFuture<'a, Result<LaunchResult, ContainerizerError>>;

    /// Resolves when the container's main process has exited.
    fn wait<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>>;

    /// Kills the container's whole process tree and releases it; idempotent.
    fn destroy<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>>;

    /// Changes the container's resource limits (accepted but not enforced by
    /// containerizers that cannot).
    fn update<'a>(
        &'a self,
        id: &'a ContainerId,
        limits: Limits,
    ) -> BoxFuture<'a, Result<(), ContainerizerError>>;

    /// Samples the container's resource usage.
    fn usage<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<ResourceStatistics, ContainerizerError>>;
}

macro_rules! forward_containerizer {
    ($ptr:ty) => {
        impl<T: Containerizer + ?Sized> Containerizer for $ptr {
            fn name(&self) -> &'static str {
                (**self).name()
            }
            fn recover<'a>(
                &'a self,
                known: &'a [ContainerHandle],
            ) -> BoxFuture<'a, Result<Recovered, ContainerizerError>> {
                (**self).recover(known)
            }
            fn launch<'a>(
                &'a self,
                id: &'a ContainerId,
                config: ContainerConfig,
            ) -> BoxFuture<'a, Result<LaunchResult, ContainerizerError>> {
                (**self).launch(id, config)
            }
            fn wait<'a>(
                &'a self,
                id: &'a ContainerId,
            ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
                (**self).wait(id)
            }
            fn destroy<'a>(
                &'a self,
                id: &'a ContainerId,
            ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
                (**self).destroy(id)
            }
            fn update<'a>(
                &'a self,
                id: &'a ContainerId,
                limits: Limits,
            ) -> BoxFuture<'a, Result<(), ContainerizerError>> {
                (**self).update(id, limits)
            }
            fn usage<'a>(
                &'a self,
                id: &'a ContainerId,
            ) -> BoxFuture<'a, Result<ResourceStatistics, ContainerizerError>> {
                (**self).usage(id)
            }
        }
    };
}

forward_containerizer!(Arc<T>);
forward_containerizer!(Box<T>);
