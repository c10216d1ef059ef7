//! The registry's storage in redb: an append-only log of [`RegistryOp`]s since the last
//! snapshot, and the snapshot itself. Opening replays snapshot + log into a
//! [`Registry`]; appending writes a batch of ops in one transaction and, every
//! [`COMPACT_EVERY`] ops, writes a fresh snapshot and drops the log entries it covers
//! (in the same transaction, so a crash leaves either the old or the new pair).
//!
//! Values are JSON (small, human-inspectable, tolerant to added optional fields); the
//! file carries a format version that a newer master checks before reading.

use super::{Registry, RegistryOp};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Ops appended between two snapshots.
pub const COMPACT_EVERY: u64 = 1000;

/// The on-disk format this master writes and reads.
const FORMAT_VERSION: u32 = 1;

const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const KEY_VERSION: &str = "format_version";
const KEY_SNAPSHOT: &str = "snapshot";

/// Errors reading or writing the registry file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened as a redb database (corrupt, not a registry, locked
    /// by another master, or unreadable).
    #[error("cannot open the master registry {path}: {source} (is another master using this --work-dir, or is the file damaged? move it away to start with an empty registry)")]
    Open {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: redb::DatabaseError,
    },
    /// A read or write of the database failed.
    #[error("master registry {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: redb::Error,
    },
    /// An entry could not be decoded.
    #[error("master registry {path} is damaged: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The file was written by a master with another format.
    #[error(
        "master registry {path} has format version {found}, this master reads version {expected}"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this master understands.
        expected: u32,
    },
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    /// Index of the last op the snapshot includes (0: none).
    last_index: u64,
    registry: Registry,
}

/// An open registry file. Used from one thread (the [`super::RegistryWriter`]'s); never
/// from the actor.
#[derive(Debug)]
pub struct RegistryStore {
    db: Database,
    path: PathBuf,
    state: Registry,
    next_index: u64,
    snapshot_index: u64,
}

impl RegistryStore {
    /// Opens (or creates) the registry at `path` and replays it. Returns the store and
    /// the recovered state.
    pub fn open(path: &Path) -> Result<(Self, Registry), StoreError> {
        let db = Database::create(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        let mut store = Self {
            db,
            path: path.to_owned(),
            state: Registry::new(),
            next_index: 1,
            snapshot_index: 0,
        };
        store.init()?;
        store.load()?;
        let state = store.state.clone();
        Ok((store, state))
    }

    /// The state after every op appended so far.
    pub fn registry(&self) -> &Registry {
        &self.state
    }

    /// Ops in the log since the last snapshot.
    pub fn log_len(&self) -> u64 {
        self.next_index - 1 - self.snapshot_index
    }

    fn io(&self, source: impl Into<redb::Error>) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source: source.into(),
        }
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what,
        }
    }

    /// Creates the tables and stamps the format version on a new file; checks it on an
    /// existing one.
    fn init(&mut self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.io(e))?;
            let found = meta
                .get(KEY_VERSION)
                .map_err(|e| self.io(e))?
                .map(|v| v.value().to_vec());
            match found {
                None => {
                    let v = FORMAT_VERSION.to_le_bytes();
                    meta.insert(KEY_VERSION, v.as_slice())
                        .map_err(|e| self.io(e))?;
                }
                Some(bytes) => {
                    let arr: [u8; 4] = bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| self.corrupt("format version is not 4 bytes".into()))?;
                    let found = u32::from_le_bytes(arr);
                    if found != FORMAT_VERSION {
                        return Err(StoreError::Version {
                            path: self.path.clone(),
                            found,
                            expected: FORMAT_VERSION,
                        });
                    }
                }
            }
            txn.open_table(LOG).map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    fn load(&mut self) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let meta = txn.open_table(META).map_err(|e| self.io(e))?;
        if let Some(bytes) = meta.get(KEY_SNAPSHOT).map_err(|e| self.io(e))? {
            let snap: Snapshot = serde_json::from_slice(bytes.value())
                .map_err(|e| self.corrupt(format!("snapshot: {e}")))?;
            self.state = snap.registry;
            self.snapshot_index = snap.last_index;
            self.next_index = snap.last_index + 1;
        }
        let log = txn.open_table(LOG).map_err(|e| self.io(e))?;
        for entry in log.iter().map_err(|e| self.io(e))? {
            let (k, v) = entry.map_err(|e| self.io(e))?;
            let index = k.value();
            if index <= self.snapshot_index {
                continue;
            }
            if index != self.next_index {
                return Err(self.corrupt(format!(
                    "log entry {index} follows {}: entries are missing",
                    self.next_index - 1
                )));
            }
            let op: RegistryOp = serde_json::from_slice(v.value())
                .map_err(|e| self.corrupt(format!("log entry {index}: {e}")))?;
            self.state.apply(op);
            self.next_index += 1;
        }
        Ok(())
    }

    /// Appends `ops` in one durable transaction, in order; compacts when the log is long.
    pub fn append(&mut self, ops: &[RegistryOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut next = self.next_index;
        let mut state = self.state.clone();
        let mut encoded = Vec::with_capacity(ops.len());
        for op in ops {
            let bytes = serde_json::to_vec(op)
                .map_err(|e| self.corrupt(format!("cannot encode {op:?}: {e}")))?;
            encoded.push((next, bytes));
            state.apply(op.clone());
            next += 1;
        }
        let last = next - 1;
        let compact = last - self.snapshot_index >= COMPACT_EVERY;
        let txn = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut log = txn.open_table(LOG).map_err(|e| self.io(e))?;
            for (index, bytes) in &encoded {
                log.insert(*index, bytes.as_slice())
                    .map_err(|e| self.io(e))?;
            }
            if compact {
                let snap = Snapshot {
                    last_index: last,
                    registry: state.clone(),
                };
                let bytes = serde_json::to_vec(&snap)
                    .map_err(|e| self.corrupt(format!("cannot encode the snapshot: {e}")))?;
                let mut meta = txn.open_table(META).map_err(|e| self.io(e))?;
                meta.insert(KEY_SNAPSHOT, bytes.as_slice())
                    .map_err(|e| self.io(e))?;
                log.retain(|k, _| k > last).map_err(|e| self.io(e))?;
            }
        }
        txn.commit().map_err(|e| self.io(e))?;
        self.state = state;
        self.next_index = next;
        if compact {
            self.snapshot_index = last;
        }
        Ok(())
    }
}
