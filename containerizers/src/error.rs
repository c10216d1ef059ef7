//! The one error type of every [`Containerizer`](crate::Containerizer) operation.
//!
//! Each variant says what went wrong and, where there is one, what to do about it.
//! A launch that a containerizer *cannot* do is not an error: it answers
//! [`LaunchResult::NotSupported`](crate::LaunchResult::NotSupported) so that a composing
//! containerizer can try the next one.

use std::io;
use std::path::PathBuf;

use crate::types::ContainerId;

/// Why a containerizer operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerizerError {
    /// An operation other than `recover` was called before `recover`. The agent must
    /// call `recover` first, always, even with no known containers (`recover(&[])`).
    #[error(
        "the {containerizer} containerizer was not recovered: call recover() before {operation}()"
    )]
    NotRecovered {
        /// Name of the containerizer.
        containerizer: &'static str,
        /// The operation that was refused.
        operation: &'static str,
    },

    /// No container with this id is known (never launched here, or destroyed long
    /// enough ago to be forgotten).
    #[error("container {id} is not known to the {containerizer} containerizer")]
    NotFound {
        /// The container asked for.
        id: ContainerId,
        /// Name of the containerizer asked.
        containerizer: &'static str,
    },

    /// A container with this id is already running (or being launched): container ids
    /// must be unique.
    #[error("container {id} already exists")]
    AlreadyExists {
        /// The duplicate id.
        id: ContainerId,
    },

    /// The container's configuration is unusable; the message says which field.
    #[error("invalid configuration for container {id}: {message}")]
    InvalidConfig {
        /// The container being launched.
        id: ContainerId,
        /// What is wrong.
        message: String,
    },

    /// The container was accepted but could not be started (e.g. the command does not
    /// exist, the user is unknown). The message names the command or resource.
    #[error("launch of container {id} failed: {message}")]
    LaunchFailed {
        /// The container being launched.
        id: ContainerId,
        /// What failed, naming the command.
        message: String,
    },

    /// The launch asked for a containerizer this agent does not run (composing
    /// containerizer), or no configured containerizer accepted the config.
    #[error("cannot launch container {id}: {message}")]
    Unsupported {
        /// The container being launched.
        id: ContainerId,
        /// Which containerizers were asked and why each declined.
        message: String,
    },

    /// `destroy` could not get rid of every process of the container in time (e.g. a
    /// process stuck in uninterruptible sleep). Calling `destroy` again retries.
    #[error("destroy of container {id} did not complete: {message}")]
    DestroyFailed {
        /// The container being destroyed.
        id: ContainerId,
        /// Which processes survived.
        message: String,
    },

    /// A filesystem or process-control call failed.
    #[error("{context} ({path}): {source}", path = path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl ContainerizerError {
    /// Shorthand for [`ContainerizerError::Io`].
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        ContainerizerError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}
