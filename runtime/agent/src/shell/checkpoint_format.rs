//! The versioned format of the agent checkpoint files (see `checkpointer`): the core's
//! [`AgentCheckpoint`] and the containers' handles split into keyed entries, each
//! value a JSON document, and back.
//!
//! ```text
//!  version 1 (older agents): agent.json = { format_version: 1, agent, containers }
//!  version 2:                agent.json = { format_version: 2, entries: { key: value } }
//!                            agent.journal = { "key": k, "value": v | null } per line
//! ```

use super::checkpointer::CheckpointError;
use crate::core::checkpoint::{ExecutorCheckpoint, FrameworkCheckpoint, StreamCheckpoint};
use crate::core::AgentCheckpoint;
use drover_containerizers::ContainerHandle;
use drover_proto::{AgentId, FrameworkId, FrameworkInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the checkpoint format written by this agent. A reader accepts every
/// version up to its own and refuses newer ones.
pub const FORMAT_VERSION: u32 = 2;

/// Key → the value's JSON text.
pub(crate) type Entries = BTreeMap<String, String>;

/// A checkpoint read back from disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// The core's part.
    pub agent: AgentCheckpoint,
    /// Handles of the executors' containers, for the containerizers' `recover`.
    pub containers: Vec<ContainerHandle>,
}

/// Version 1: the whole checkpoint in one document.
#[derive(Deserialize)]
struct V1 {
    agent: AgentCheckpoint,
    containers: Vec<ContainerHandle>,
}

#[derive(Serialize, Deserialize)]
struct AgentEntry {
    agent_id: Option<AgentId>,
}

/// An executor with its framework (so that each executor is an entry of its own).
#[derive(Serialize, Deserialize)]
struct ExecutorEntry {
    framework: FrameworkInfo,
    shutting_down: bool,
    executor: ExecutorCheckpoint,
}

const AGENT: &str = "agent";
const EXECUTOR: &str = "executor ";
const STREAM: &str = "stream ";
const CONTAINER: &str = "container ";

fn json<T: Serialize + ?Sized>(v: &T) -> Result<String, CheckpointError> {
    serde_json::to_string(v).map_err(CheckpointError::Encode)
}

/// The entries of a checkpoint.
pub(crate) fn entries_of(
    agent: &AgentCheckpoint,
    containers: &[ContainerHandle],
) -> Result<Entries, CheckpointError> {
    let mut out = Entries::new();
    let agent_id = agent.agent_id.clone();
    out.insert(AGENT.to_owned(), json(&AgentEntry { agent_id })?);
    for f in &agent.frameworks {
        let fid = f.info.id.clone().unwrap_or_default();
        for e in &f.executors {
            let key = format!("{EXECUTOR}{}", json(&(&fid, &e.info.executor_id))?);
            let entry = ExecutorEntry {
                framework: f.info.clone(),
                shutting_down: f.shutting_down,
                executor: e.clone(),
            };
            out.insert(key, json(&entry)?);
        }
    }
    for s in &agent.streams {
        let key = format!("{STREAM}{}", json(&(&s.framework_id, &s.task_id))?);
        out.insert(key, json(s)?);
    }
    for c in containers {
        out.insert(format!("{CONTAINER}{}", json(c.id.as_str())?), json(c)?);
    }
    Ok(out)
}

/// The checkpoint of entries (`path` names the file in errors).
pub(crate) fn stored_of(path: &Path, entries: &Entries) -> Result<Stored, CheckpointError> {
    let corrupt = |key: &str, e: serde_json::Error| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("entry {key}: {e}"),
    };
    let mut agent = AgentCheckpoint::default();
    let mut frameworks: BTreeMap<FrameworkId, FrameworkCheckpoint> = BTreeMap::new();
    let mut containers = Vec::new();
    for (key, value) in entries {
        if key == AGENT {
            let a: AgentEntry = serde_json::from_str(value).map_err(|e| corrupt(key, e))?;
            agent.agent_id = a.agent_id;
        } else if key.starts_with(EXECUTOR) {
            let e: ExecutorEntry = serde_json::from_str(value).map_err(|e| corrupt(key, e))?;
            let fid = e.framework.id.clone().unwrap_or_default();
            let f = frameworks
                .entry(fid)
                .or_insert_with(|| FrameworkCheckpoint {
                    info: e.framework.clone(),
                    shutting_down: false,
                    executors: Vec::new(),
                });
            f.shutting_down |= e.shutting_down;
            f.executors.push(e.executor);
        } else if key.starts_with(STREAM) {
            let s: StreamCheckpoint = serde_json::from_str(value).map_err(|e| corrupt(key, e))?;
            agent.streams.push(s);
        } else if key.starts_with(CONTAINER) {
            let c: ContainerHandle = serde_json::from_str(value).map_err(|e| corrupt(key, e))?;
            containers.push(c);
        } else {
            return Err(CheckpointError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("unknown entry {key}"),
            });
        }
    }
    for f in frameworks.values_mut() {
        f.executors
            .sort_by(|a, b| a.info.executor_id.cmp(&b.info.executor_id));
    }
    agent.frameworks = frameworks.into_values().collect();
    agent
        .streams
        .sort_by(|a, b| (&a.framework_id, &a.task_id).cmp(&(&b.framework_id, &b.task_id)));
    containers.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Stored { agent, containers })
}

/// Reads a snapshot of any known version into entries.
pub(crate) fn parse_snapshot(path: &Path, bytes: &[u8]) -> Result<Entries, CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt("no format_version".to_owned()))?;
    match version {
        1 => {
            let v1: V1 = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
            entries_of(&v1.agent, &v1.containers)
        }
        2 => {
            let entries = value
                .get("entries")
                .and_then(serde_json::Value::as_object)
                .ok_or_else(|| corrupt("no entries".to_owned()))?;
            Ok(entries
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect())
        }
        found => Err(CheckpointError::Version {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        }),
    }
}

/// A snapshot of `entries` in the current version.
pub(crate) fn snapshot_bytes(entries: &Entries) -> Result<Vec<u8>, CheckpointError> {
    let mut out = format!("{{\"format_version\":{FORMAT_VERSION},\"entries\":{{");
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json(k)?);
        out.push(':');
        out.push_str(v);
    }
    out.push_str("}}\n");
    Ok(out.into_bytes())
}

/// Appends one journal line: `key` now has `value` (`None`: removed).
pub(crate) fn journal_line(
    out: &mut String,
    key: &str,
    value: Option<&String>,
) -> Result<(), CheckpointError> {
    out.push_str("{\"key\":");
    out.push_str(&json(key)?);
    out.push_str(",\"value\":");
    out.push_str(value.map_or("null", String::as_str));
    out.push_str("}\n");
    Ok(())
}

#[derive(Deserialize)]
struct Line {
    key: String,
    value: serde_json::Value,
}

/// Replays a journal over `entries`. A last line that is torn (no newline, or not
/// JSON) was never reported durable and is dropped; a bad line before it is corruption.
pub(crate) fn replay(
    path: &Path,
    bytes: &[u8],
    entries: &mut Entries,
) -> Result<(), CheckpointError> {
    let mut lines = bytes.split_inclusive(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let complete = line.ends_with(b"\n");
        match (serde_json::from_slice::<Line>(line), complete) {
            (Ok(l), true) => {
                if l.value.is_null() {
                    entries.remove(&l.key);
                } else {
                    entries.insert(l.key, l.value.to_string());
                }
            }
            _ if last => {
                tracing::warn!(path = %path.display(), "dropping a torn last journal line (it was never reported durable)");
            }
            (Err(e), _) => {
                return Err(CheckpointError::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!("bad journal line: {e}"),
                })
            }
            (Ok(_), false) => {
                return Err(CheckpointError::Corrupt {
                    path: path.to_path_buf(),
                    reason: "journal line without its newline".to_owned(),
                })
            }
        }
    }
    Ok(())
}
