//! The agent's checkpoint on disk: `<work_dir>/meta/agent.json`, the core's
//! [`AgentCheckpoint`] plus the containerizers' handles of the executors' containers,
//! under a format version.
//!
//! ```text
//!  save:  agent.json.tmp ─write─▶ fsync ─rename─▶ agent.json ─▶ fsync(meta/)
//!  load:  agent.json ─▶ JSON ─▶ format_version known? ─▶ AgentCheckpoint + handles
//!                                   └ newer / missing / bad ─▶ CheckpointError (start fails)
//! ```
//!
//! A crash at any point leaves either the old or the new file, never a torn one. The
//! file is outside data: whatever is wrong with it is a typed error naming the file,
//! never a panic.

use crate::core::AgentCheckpoint;
use drover_containerizers::ContainerHandle;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Version of the checkpoint format written by this agent. A reader accepts every
/// version up to its own and refuses newer ones.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the checkpoint file under `<work_dir>/meta/`.
pub const CHECKPOINT_FILE: &str = "agent.json";

/// The checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file system operation failed.
    #[error("checkpoint {what} {path}: {source}")]
    Io {
        /// What was being done (`write`, `read`, `rename`...).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a checkpoint this agent can read.
    #[error("corrupt agent checkpoint {path}: {reason} (move it away, or start with --recover=cleanup to kill every task and start afresh)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file was written by a newer agent.
    #[error("agent checkpoint {path} has format version {found}, this agent reads up to {supported}: run a newer drover, or start with --recover=cleanup")]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u64,
        /// The newest this agent reads.
        supported: u32,
    },
    /// The checkpoint could not be encoded.
    #[error("cannot encode the agent checkpoint: {0}")]
    Encode(#[source] serde_json::Error),
}

/// What the file holds.
#[derive(Debug, Serialize, Deserialize)]
struct OnDisk {
    format_version: u32,
    agent: AgentCheckpoint,
    containers: Vec<ContainerHandle>,
}

/// A checkpoint read back from disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// The core's part.
    pub agent: AgentCheckpoint,
    /// Handles of the executors' containers, for the containerizers' `recover`.
    pub containers: Vec<ContainerHandle>,
}

/// Reads and writes `<work_dir>/meta/agent.json`.
#[derive(Clone, Debug)]
pub struct Checkpointer {
    dir: PathBuf,
}

impl Checkpointer {
    /// The checkpointer of the agent with this work directory.
    pub fn new(work_dir: &Path) -> Self {
        Self {
            dir: work_dir.join("meta"),
        }
    }

    /// The checkpoint file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(CHECKPOINT_FILE)
    }

    /// Reads the checkpoint; `None` if there is none (a fresh work directory).
    pub fn load(&self) -> Result<Option<Stored>, CheckpointError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Io {
                    what: "read",
                    path,
                    source,
                })
            }
        };
        let corrupt = |reason: String| CheckpointError::Corrupt {
            path: path.clone(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| corrupt("no format_version".to_owned()))?;
        if version == 0 || version > u64::from(FORMAT_VERSION) {
            return Err(CheckpointError::Version {
                path,
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let disk: OnDisk = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        Ok(Some(Stored {
            agent: disk.agent,
            containers: disk.containers,
        }))
    }

    /// Writes the checkpoint atomically: a temporary file, fsync, rename, fsync of the
    /// directory.
    pub fn save(
        &self,
        agent: &AgentCheckpoint,
        containers: &[ContainerHandle],
    ) -> Result<(), CheckpointError> {
        #[derive(Serialize)]
        struct Ref<'a> {
            format_version: u32,
            agent: &'a AgentCheckpoint,
            containers: &'a [ContainerHandle],
        }
        let bytes = serde_json::to_vec(&Ref {
            format_version: FORMAT_VERSION,
            agent,
            containers,
        })
        .map_err(CheckpointError::Encode)?;
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| CheckpointError::Io { what, path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io("create directory", &self.dir))?;
        let tmp = self.dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let mut f = File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(&bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        drop(f);
        let path = self.path();
        fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync directory", &self.dir))
    }

    /// Removes the checkpoint (`--recover=cleanup`); no checkpoint is fine.
    pub fn remove(&self) -> Result<(), CheckpointError> {
        let path = self.path();
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(CheckpointError::Io {
                what: "remove",
                path,
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn handle() -> ContainerHandle {
        ContainerHandle {
            id: "c1".into(),
            pid: Some(42),
            containerizer: "posix".into(),
            sandbox: "/w/frameworks/f/executors/e/runs/c1".into(),
            extra: BTreeMap::from([("boot_id".to_owned(), "b".to_owned())]),
        }
    }

    #[test]
    fn saves_and_loads_atomically_and_an_absent_file_is_no_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let c = Checkpointer::new(dir.path());
        assert_eq!(c.load().unwrap(), None);
        let agent = AgentCheckpoint {
            agent_id: Some("agent-7".into()),
            ..AgentCheckpoint::default()
        };
        c.save(&agent, &[handle()]).unwrap();
        c.save(&agent, &[handle()]).unwrap();
        let back = c.load().unwrap().unwrap();
        assert_eq!(back.agent, agent);
        assert_eq!(back.containers, vec![handle()]);
        assert!(!dir.path().join("meta/agent.json.tmp").exists());
        c.remove().unwrap();
        c.remove().unwrap();
        assert_eq!(c.load().unwrap(), None);
    }

    #[test]
    fn corrupt_and_newer_checkpoints_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let c = Checkpointer::new(dir.path());
        fs::create_dir_all(dir.path().join("meta")).unwrap();
        for (text, version_error) in [
            ("{not json", false),
            ("{\"agent\": {}}", false),
            (
                "{\"format_version\": 1, \"agent\": 3, \"containers\": []}",
                false,
            ),
            (
                "{\"format_version\": 99, \"agent\": {}, \"containers\": []}",
                true,
            ),
        ] {
            fs::write(c.path(), text).unwrap();
            let err = c.load().unwrap_err();
            assert_eq!(
                matches!(err, CheckpointError::Version { found: 99, .. }),
                version_error,
                "{text}: {err}"
            );
            assert!(err.to_string().contains("agent.json"), "{err}");
        }
    }
}
