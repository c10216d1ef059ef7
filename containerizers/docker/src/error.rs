//! The error type of the Docker runner and the Docker containerizer's engine calls.

use std::path::PathBuf;

/// Why a Docker operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockerError {
    /// The engine did not answer on its socket (not installed, not running, no
    /// permission on the socket).
    #[error("the Docker engine does not answer on {socket}: {source}", socket = socket.display())]
    EngineUnavailable {
        /// The socket tried.
        socket: PathBuf,
        /// What the client saw.
        #[source]
        source: bollard::errors::Error,
    },

    /// The image is not present and could not be pulled (no registry reachable, no such
    /// image, no access).
    #[error("cannot get image {image}: {message}")]
    Image {
        /// The image reference.
        image: String,
        /// What the engine said.
        message: String,
    },

    /// A docker-run parameter (`parameters` of a DOCKER task) is unknown or malformed.
    #[error("docker parameter `{key}`: {message}")]
    Parameter {
        /// The parameter's key, as given.
        key: String,
        /// What is wrong with it.
        message: String,
    },

    /// The run spec is unusable (empty image, bad port mapping...).
    #[error("invalid docker run spec: {0}")]
    InvalidSpec(String),

    /// An Engine API call failed.
    #[error("docker {operation} failed: {source}")]
    Api {
        /// What was being done (`create`, `start`, `inspect`...).
        operation: &'static str,
        /// The client error.
        #[source]
        source: bollard::errors::Error,
    },

    /// The engine answered something unusable (e.g. an inspect without a state).
    #[error("unexpected answer from the Docker engine to {operation}: {message}")]
    BadResponse {
        /// The call.
        operation: &'static str,
        /// What was missing or wrong.
        message: String,
    },

    /// A sandbox log file could not be opened or written.
    #[error("{context} ({path}): {source}", path = path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl DockerError {
    pub(crate) fn api(operation: &'static str) -> impl FnOnce(bollard::errors::Error) -> Self {
        move |source| DockerError::Api { operation, source }
    }
}
