//! Why the native containerizer cannot be set up on this agent.

use std::io;
use std::path::PathBuf;

use crate::isolation::UnknownIsolator;

/// Why [`NativeContainerizer::new`](crate::NativeContainerizer::new) or [`probe`](crate::probe)
/// refused. The agent falls back to posix on `Unsupported`, naming the reasons.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NativeError {
    /// The `--isolation` list names an isolator that does not exist.
    #[error(transparent)]
    UnknownIsolator(#[from] UnknownIsolator),

    /// This host cannot run the native containerizer with the asked isolation; each
    /// reason says what is missing (root, a cgroup controller, overlayfs...).
    #[error("the native containerizer cannot run here: {}", .0.join("; "))]
    Unsupported(Vec<String>),

    /// A filesystem operation failed while setting up.
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
