//! The agent's checkpoint on disk, under `<work_dir>/meta/`: a snapshot
//! (`agent.json`) and a journal of changes since it (`agent.journal`), both over the
//! same keyed entries, so that a change rewrites only what changed.
//!
//! ```text
//!  entries:  "agent"                        → { agent_id }
//!            "executor [fid, eid]"          → framework info + executor + its tasks
//!            "stream [fid, task]"           → pending updates, acknowledged uuids
//!            "container cid"                → the containerizer's handle
//!  apply:    changed entries ─▶ agent.journal (one JSON line each, value null = gone)
//!                              ─▶ fsync ─▶ (journal > 2 × snapshot: compact)
//!  compact:  agent.json.tmp ─write─▶ fsync ─rename─▶ agent.json ─▶ fsync(meta/)
//!            ─▶ empty agent.journal ─▶ fsync
//!  load:     agent.json (format_version 1: one document; 2: entries) + replay journal
//!            └ newer / bad ─▶ CheckpointError (start fails)
//! ```
//!
//! A crash at any point leaves a readable state: the snapshot is replaced atomically,
//! journal lines are idempotent (the whole value of a key), and a torn last line (a
//! write that was never reported durable) is dropped. The files are outside data:
//! whatever is wrong with them is a typed error naming the file, never a panic.

use super::checkpoint_format::{entries_of, stored_of, Entries};
use crate::core::AgentCheckpoint;
use drover_containerizers::ContainerHandle;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

pub use super::checkpoint_format::{Stored, FORMAT_VERSION};

/// Name of the snapshot under `<work_dir>/meta/`.
pub const CHECKPOINT_FILE: &str = "agent.json";
/// Name of the journal under `<work_dir>/meta/`.
pub const JOURNAL_FILE: &str = "agent.journal";

/// The journal is compacted into the snapshot once it is larger than this many times
/// the snapshot (and at least [`MIN_COMPACT_BYTES`]).
const COMPACT_RATIO: u64 = 2;
const MIN_COMPACT_BYTES: u64 = 256 * 1024;

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

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| CheckpointError::Io { what, path, source }
}

/// Reads and writes `<work_dir>/meta/agent.json` and `agent.journal`. Remembers the
/// entries on disk, so that [`apply`](Self::apply) writes only the changed ones.
#[derive(Clone, Debug)]
pub struct Checkpointer {
    dir: PathBuf,
    on_disk: Entries,
    snapshot_bytes: u64,
    journal_bytes: u64,
}

impl Checkpointer {
    /// The checkpointer of the agent with this work directory.
    pub fn new(work_dir: &Path) -> Self {
        Self {
            dir: work_dir.join("meta"),
            on_disk: Entries::new(),
            snapshot_bytes: 0,
            journal_bytes: 0,
        }
    }

    /// The snapshot file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(CHECKPOINT_FILE)
    }

    /// The journal file.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join(JOURNAL_FILE)
    }

    /// Reads the checkpoint (snapshot, then journal); `None` if there is none (a fresh
    /// work directory).
    pub fn load(&mut self) -> Result<Option<Stored>, CheckpointError> {
        let path = self.path();
        let snapshot = match fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(source) => return Err(io_err("read", &path)(source)),
        };
        let journal = match fs::read(self.journal_path()) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(io_err("read", &self.journal_path())(source)),
        };
        if snapshot.is_none() && journal.is_empty() {
            return Ok(None);
        }
        let mut entries = match &snapshot {
            Some(bytes) => super::checkpoint_format::parse_snapshot(&path, bytes)?,
            None => Entries::new(),
        };
        super::checkpoint_format::replay(&self.journal_path(), &journal, &mut entries)?;
        let stored = stored_of(&path, &entries)?;
        // In this version's encoding, so that the first `apply` writes only changes.
        self.on_disk = entries_of(&stored.agent, &stored.containers)?;
        self.snapshot_bytes = snapshot.map_or(0, |b| b.len() as u64);
        self.journal_bytes = journal.len() as u64;
        Ok(Some(stored))
    }

    /// Writes the whole checkpoint as a new snapshot (temporary file, fsync, rename,
    /// fsync of the directory) and empties the journal.
    pub fn save(
        &mut self,
        agent: &AgentCheckpoint,
        containers: &[ContainerHandle],
    ) -> Result<(), CheckpointError> {
        self.on_disk = entries_of(agent, containers)?;
        self.compact()
    }

    /// Writes the entries of this checkpoint that differ from those on disk to the
    /// journal and fsyncs it (compacting when the journal has grown); returns how many
    /// entries were written.
    pub fn apply(
        &mut self,
        agent: &AgentCheckpoint,
        containers: &[ContainerHandle],
    ) -> Result<usize, CheckpointError> {
        let new = entries_of(agent, containers)?;
        let mut lines = String::new();
        let mut changed = 0;
        for (k, v) in &new {
            if self.on_disk.get(k) != Some(v) {
                super::checkpoint_format::journal_line(&mut lines, k, Some(v))?;
                changed += 1;
            }
        }
        for k in self.on_disk.keys().filter(|k| !new.contains_key(*k)) {
            super::checkpoint_format::journal_line(&mut lines, k, None)?;
            changed += 1;
        }
        if changed == 0 {
            return Ok(0);
        }
        let path = self.journal_path();
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        f.write_all(lines.as_bytes())
            .map_err(io_err("write", &path))?;
        f.sync_data().map_err(io_err("fsync", &path))?;
        if self.journal_bytes == 0 {
            sync_dir(&self.dir)?; // the journal may be new
        }
        self.journal_bytes += lines.len() as u64;
        self.on_disk = new;
        if self.journal_bytes > MIN_COMPACT_BYTES.max(COMPACT_RATIO * self.snapshot_bytes) {
            self.compact()?;
        }
        Ok(changed)
    }

    /// Writes `on_disk` as the snapshot and empties the journal.
    fn compact(&mut self) -> Result<(), CheckpointError> {
        let bytes = super::checkpoint_format::snapshot_bytes(&self.on_disk)?;
        fs::create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
        let tmp = self.dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(&bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        drop(f);
        let path = self.path();
        fs::rename(&tmp, &path).map_err(io_err("rename", &path))?;
        sync_dir(&self.dir)?;
        // Only now: a crash before this replays the journal over the new snapshot,
        // which ends in the same state.
        let journal = self.journal_path();
        File::create(&journal)
            .and_then(|f| f.sync_all())
            .map_err(io_err("truncate", &journal))?;
        self.snapshot_bytes = bytes.len() as u64;
        self.journal_bytes = 0;
        Ok(())
    }

    /// Removes the checkpoint (`--recover=cleanup`); no checkpoint is fine.
    pub fn remove(&mut self) -> Result<(), CheckpointError> {
        for path in [self.path(), self.journal_path()] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(io_err("remove", &path)(e));
                }
                _ => {}
            }
        }
        self.on_disk.clear();
        self.snapshot_bytes = 0;
        self.journal_bytes = 0;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

#[cfg(test)]
#[path = "checkpointer_tests.rs"]
mod tests;
