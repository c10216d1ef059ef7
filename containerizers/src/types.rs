//! What containerizer operations return: container ids and handles, terminations,
//! resource statistics and the outcome of `recover` and `launch`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Identifies a container on this agent. Chosen by the agent (typically a UUID).
///
/// Containerizers that name files after the id (posix keeps one record file per
/// container) refuse ids that are not [`path_safe`](ContainerId::is_path_safe).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContainerId(String);

impl ContainerId {
    /// Wraps a string as a container id (no validation; see [`ContainerId::is_path_safe`]).
    pub fn new(id: impl Into<String>) -> Self {
        ContainerId(id.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if the id is 1 to 200 characters of `[A-Za-z0-9._-]`, not starting with a
    /// dot: safe to use as a file name.
    pub fn is_path_safe(&self) -> bool {
        let s = self.0.as_str();
        !s.is_empty()
            && s.len() <= 200
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for ContainerId {
    fn from(s: String) -> Self {
        ContainerId(s)
    }
}

impl From<&str> for ContainerId {
    fn from(s: &str) -> Self {
        ContainerId(s.to_owned())
    }
}

/// Everything needed to find a container again after an agent restart. The agent
/// checkpoints it (it is `Serialize`) and passes it back to `recover`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerHandle {
    /// The container.
    pub id: ContainerId,
    /// Host pid of the container's main process, when there is one.
    pub pid: Option<u32>,
    /// [`name`](crate::Containerizer::name) of the containerizer that owns it; the
    /// composing containerizer routes recovery by it.
    pub containerizer: String,
    /// The container's sandbox directory.
    pub sandbox: PathBuf,
    /// Containerizer-private data (e.g. posix: process start time and boot id, which
    /// guard against pid reuse).
    pub extra: BTreeMap<String, String>,
}

/// Why a container's main process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TerminationReason {
    /// The main process exited on its own; `status` holds its exit code (0 or not).
    Exited,
    /// The main process was killed by a signal the containerizer did not send.
    Signaled,
    /// The container was destroyed on request ([`destroy`](crate::Containerizer::destroy)
    /// or orphan clean-up at recovery).
    Killed,
    /// The container hit its memory limit and the kernel's OOM killer ended it.
    Oom,
    /// The container could not be started (e.g. the command does not exist).
    LaunchFailed,
    /// The main process is gone but how it ended is not known: it was re-attached after
    /// an agent restart, so it was not the agent's child and its exit status was lost.
    Unknown,
}

/// How a container's main process ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Termination {
    /// Exit code, when the process exited normally and the code is known.
    pub status: Option<i32>,
    /// Number of the signal that killed the process, when known.
    pub signal: Option<i32>,
    /// Why it ended.
    pub reason: TerminationReason,
    /// Human-readable detail, for the task's status message.
    pub message: String,
}

impl Termination {
    /// The main process exited with `code` on its own.
    pub fn exited(code: i32) -> Self {
        Termination {
            status: Some(code),
            signal: None,
            reason: TerminationReason::Exited,
            message: format!("exited with status {code}"),
        }
    }

    /// The main process is gone and nothing is known of how it ended.
    pub fn unknown(message: impl Into<String>) -> Self {
        Termination {
            status: None,
            signal: None,
            reason: TerminationReason::Unknown,
            message: message.into(),
        }
    }

    /// The container was destroyed; `signal` is the signal that killed the main
    /// process when known.
    pub fn killed(signal: Option<i32>, message: impl Into<String>) -> Self {
        Termination {
            status: None,
            signal,
            reason: TerminationReason::Killed,
            message: message.into(),
        }
    }
}

/// Resource usage of a container at one instant (Mesos `ResourceStatistics`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceStatistics {
    /// When the sample was taken.
    pub timestamp: SystemTime,
    /// CPU time spent in user mode by the container's live processes, seconds.
    pub cpus_user_time_secs: f64,
    /// CPU time spent in kernel mode by the container's live processes, seconds.
    pub cpus_system_time_secs: f64,
    /// CPU limit enforced on the container, in CPUs; `None` if none is enforced.
    pub cpus_limit: Option<f64>,
    /// Resident memory, bytes.
    pub mem_rss_bytes: u64,
    /// Page cache charged to the container, bytes; `None` if not measurable.
    pub mem_cache_bytes: Option<u64>,
    /// Memory limit enforced on the container, bytes; `None` if none is enforced.
    pub mem_limit_bytes: Option<u64>,
    /// Number of live processes in the container.
    pub processes: u32,
    /// Number of live threads in the container.
    pub threads: u32,
}

/// What `recover` found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovered {
    /// Known containers still running, re-attached: `wait`, `destroy`, `usage` and
    /// `update` work on them.
    pub running: Vec<ContainerHandle>,
    /// Known containers whose main process is gone, with what is known of how it
    /// ended. `wait` returns that termination; call `destroy` to clean up leftovers.
    pub gone: Vec<(ContainerId, Termination)>,
    /// Containers this containerizer found that were not among the known ones; they
    /// have been destroyed.
    pub orphans_destroyed: Vec<ContainerId>,
}

/// Outcome of a `launch` that did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchResult {
    /// The container runs; checkpoint the handle.
    Launched(ContainerHandle),
    /// This containerizer cannot run this config (wrong kind, image asked from posix,
    /// no mock spec for the mock...); a composing containerizer tries the next one.
    NotSupported {
        /// Why, for the error shown when no containerizer accepts.
        reason: String,
    },
}
