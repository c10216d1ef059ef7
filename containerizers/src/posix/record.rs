//! The posix containerizer's own records, one JSON file per container in its runtime
//! directory, and the exit-status file a container may leave in its sandbox.
//!
//! ```text
//!   <runtime_dir>/<container id>.json   { handle, termination }   written at launch,
//!                                        termination added when the main process exits,
//!                                        removed by destroy
//! ```
//!
//! Records let `recover` find orphans (containers launched here that the agent does
//! not know, e.g. it crashed before checkpointing the handle) and tell the exact
//! termination of a container that exited while the agent was down, but after the
//! previous agent had seen it exit.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::{ContainerHandle, ContainerId, Termination, TerminationReason};

/// File, in a container's sandbox, where the container may write its own exit code
/// before exiting (decimal, e.g. `3`). Only read for containers whose main process was
/// re-attached after an agent restart: their exit status cannot be collected otherwise.
pub const EXIT_STATUS_FILE: &str = ".drover-exit-status";

/// Writes `code` to the sandbox's [`EXIT_STATUS_FILE`]: call it from the container's
/// main process (the executor) just before it exits with `code`.
pub fn write_exit_status(sandbox: &Path, code: i32) -> io::Result<()> {
    std::fs::write(sandbox.join(EXIT_STATUS_FILE), format!("{code}\n"))
}

/// The termination told by the sandbox's [`EXIT_STATUS_FILE`], if it holds an exit code.
pub(crate) fn exit_status_from_sandbox(sandbox: &Path) -> Option<Termination> {
    let text = std::fs::read_to_string(sandbox.join(EXIT_STATUS_FILE)).ok()?;
    let code: i32 = text.trim().parse().ok()?;
    Some(Termination {
        status: Some(code),
        signal: None,
        reason: TerminationReason::Exited,
        message: format!(
            "exited with status {code} (as written by the container to {EXIT_STATUS_FILE})"
        ),
    })
}

/// What the posix containerizer remembers of one container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The handle returned by launch.
    pub(crate) handle: ContainerHandle,
    /// How the main process ended, once the containerizer saw it end.
    pub(crate) termination: Option<Termination>,
}

/// Path of the record of `id` (an id already checked to be path-safe).
pub(crate) fn path(dir: &Path, id: &ContainerId) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// Writes `record` atomically (temporary file, then rename).
pub(crate) fn write(dir: &Path, record: &Record) -> io::Result<()> {
    let path = path(dir, &record.handle.id);
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&json)?;
    drop(file);
    std::fs::rename(&tmp, &path)
}

/// Removes the record of `id`; a missing record is not an error.
pub(crate) fn remove(dir: &Path, id: &ContainerId) -> io::Result<()> {
    match std::fs::remove_file(path(dir, id)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// One file found in the runtime directory.
#[derive(Debug)]
pub(crate) enum Found {
    /// A record that parsed.
    Record(Record),
    /// A file that is not a usable record, with why.
    Bad(PathBuf, String),
}

/// Every record in `dir`. Leftover temporary files are deleted.
pub(crate) fn read_all(dir: &Path) -> io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".json.tmp") {
            // A launch or update interrupted mid-write; the rename never happened.
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if !name.ends_with(".json") {
            continue;
        }
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).map_err(|e| e.to_string()));
        found.push(match parsed {
            Ok(record) if path == self::path(dir, &record.handle.id) => Found::Record(record),
            Ok(record) => Found::Bad(path, format!("holds the record of {}", record.handle.id)),
            Err(e) => Found::Bad(path, e),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn handle(id: &str) -> ContainerHandle {
        ContainerHandle {
            id: ContainerId::new(id),
            pid: Some(7),
            containerizer: "posix".into(),
            sandbox: "/tmp/x".into(),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Record {
            handle: handle("c1"),
            termination: Some(Termination::exited(3)),
        };
        write(dir.path(), &rec).unwrap();
        std::fs::write(dir.path().join("junk.json"), "{").unwrap();
        std::fs::write(dir.path().join("c2.json.tmp"), "{").unwrap();
        let found = read_all(dir.path()).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found
            .iter()
            .any(|f| matches!(f, Found::Record(r) if *r == rec)));
        assert!(found
            .iter()
            .any(|f| matches!(f, Found::Bad(p, _) if p.ends_with("junk.json"))));
        assert!(!dir.path().join("c2.json.tmp").exists());
        remove(dir.path(), &ContainerId::new("c1")).unwrap();
        remove(dir.path(), &ContainerId::new("c1")).unwrap();
        assert!(!path(dir.path(), &ContainerId::new("c1")).exists());
    }

    #[test]
    fn exit_status_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(exit_status_from_sandbox(dir.path()), None);
        write_exit_status(dir.path(), 3).unwrap();
        let t = exit_status_from_sandbox(dir.path()).unwrap();
        assert_eq!((t.status, t.reason), (Some(3), TerminationReason::Exited));
        std::fs::write(dir.path().join(EXIT_STATUS_FILE), "garbage").unwrap();
        assert_eq!(exit_status_from_sandbox(dir.path()), None);
    }
}
