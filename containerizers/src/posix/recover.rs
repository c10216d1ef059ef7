//! Posix recovery after an agent restart.
//!
//! ```text
//!   known handle (posix) ─┬─ record says it ended ───────────▶ gone (exact termination)
//!                         ├─ pid + start time alive, same boot ▶ running (pidfd watch)
//!                         └─ otherwise ──────────────────────▶ gone (exit-status file or Unknown)
//!   record not known ────────────────────────────────────────▶ orphan: session killed, record removed
//! ```
//!
//! Gone containers stay known until `destroy`, which kills leftovers of their session.

use std::collections::{HashMap, HashSet};

use super::{kill, record, PosixContainerizer, Slot, EXTRA_BOOT_ID, EXTRA_START_TIME, NAME};
use crate::error::ContainerizerError;
use crate::proc::{ExitWatch, ProcessIdentity};
use crate::types::{ContainerHandle, ContainerId, Recovered, Termination};

/// Who a handle's main process is.
enum Identity {
    /// Launched during this boot: this pid and start time.
    Current(ProcessIdentity),
    /// Launched during an earlier boot: nothing of it can run.
    OtherBoot,
    /// The handle lacks what is needed to tell (never kill on a guess).
    Invalid(String),
}

impl PosixContainerizer {
    fn identify(&self, handle: &ContainerHandle) -> Identity {
        let Some(boot_id) = handle.extra.get(EXTRA_BOOT_ID) else {
            return Identity::Invalid(format!("the handle has no `{EXTRA_BOOT_ID}`"));
        };
        if *boot_id != self.boot_id {
            return Identity::OtherBoot;
        }
        let Some(pid) = handle
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 0)
        else {
            return Identity::Invalid("the handle has no valid pid".into());
        };
        match handle.extra.get(EXTRA_START_TIME).map(|s| s.parse::<u64>()) {
            Some(Ok(start_time)) => Identity::Current(ProcessIdentity { pid, start_time }),
            _ => Identity::Invalid(format!("the handle has no valid `{EXTRA_START_TIME}`")),
        }
    }

    /// See [`Containerizer::recover`](crate::Containerizer::recover) and the module doc.
    pub(super) async fn recover_containers(
        &self,
        known: &[ContainerHandle],
    ) -> Result<Recovered, ContainerizerError> {
        let dir = &self.runtime_dir;
        let mut records = HashMap::new();
        for found in record::read_all(dir)
            .map_err(|e| ContainerizerError::io("cannot read runtime directory", dir, e))?
        {
            match found {
                record::Found::Record(r) => {
                    records.insert(r.handle.id.clone(), r);
                }
                record::Found::Bad(path, why) => {
                    // Its processes cannot be identified, so they cannot be killed safely.
                    tracing::warn!(path = %path.display(), %why, "posix: discarding unusable record");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }

        let mut out = Recovered::default();
        let mut known_ids = HashSet::new();
        for handle in known.iter().filter(|h| h.containerizer == NAME) {
            known_ids.insert(handle.id.clone());
            let stored = records.remove(&handle.id).and_then(|r| r.termination);
            if let Some(Slot::Known(entry)) = self.lock().live.get(&handle.id) {
                // Recovered twice: already attached.
                match entry.exit.borrow().clone() {
                    Some(t) => out.gone.push((handle.id.clone(), t)),
                    None => out.running.push(handle.clone()),
                }
                continue;
            }
            let (leader, state) = match (self.identify(handle), stored) {
                (Identity::Current(leader), Some(ended)) => (Some(leader), Err(ended)),
                (Identity::Current(leader), None) => match ExitWatch::open(&self.procfs, leader) {
                    Some(watch) => (Some(leader), Ok(watch)),
                    None => (
                        Some(leader),
                        Err(gone_termination(handle, "it was not running at recovery")),
                    ),
                },
                (_, Some(ended)) => (None, Err(ended)),
                (Identity::OtherBoot, None) => (
                    None,
                    Err(Termination::unknown("the host rebooted since the launch")),
                ),
                (Identity::Invalid(why), None) => {
                    tracing::warn!(container = %handle.id, %why, "posix: cannot identify container");
                    (
                        None,
                        Err(Termination::unknown(format!(
                            "cannot identify its process: {why}"
                        ))),
                    )
                }
            };
            let termination = state.as_ref().err().cloned();
            let rec = record::Record {
                handle: handle.clone(),
                termination: termination.clone(),
            };
            record::write(dir, &rec).map_err(|e| {
                ContainerizerError::io(
                    "cannot write container record",
                    record::path(dir, &handle.id),
                    e,
                )
            })?;
            match termination {
                Some(t) => out.gone.push((handle.id.clone(), t)),
                None => out.running.push(handle.clone()),
            }
            let entry = self.attach(handle.clone(), leader, state);
            self.lock()
                .live
                .insert(handle.id.clone(), Slot::Known(entry));
        }

        // Records nobody knows: launched here, never checkpointed by the agent.
        for (id, rec) in records {
            if let Identity::Current(leader) = self.identify(&rec.handle) {
                kill::kill_session(&self.procfs, leader, &id).await?;
            }
            record::remove(dir, &id).map_err(|e| {
                ContainerizerError::io("cannot remove container record", record::path(dir, &id), e)
            })?;
            out.orphans_destroyed.push(id);
        }
        // Containers of this instance the agent no longer knows (recover called again).
        let stale: Vec<(ContainerId, std::sync::Arc<super::Entry>)> = self
            .lock()
            .live
            .iter()
            .filter(|(id, _)| !known_ids.contains(*id))
            .filter_map(|(id, slot)| match slot {
                Slot::Known(e) => Some((id.clone(), e.clone())),
                Slot::Launching => None,
            })
            .collect();
        for (id, entry) in stale {
            self.destroy_entry(&id, entry).await?;
            out.orphans_destroyed.push(id);
        }

        self.recovered
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(out)
    }
}

/// How a container whose process is gone ended, as far as can be told.
fn gone_termination(handle: &ContainerHandle, why: &str) -> Termination {
    record::exit_status_from_sandbox(&handle.sandbox).unwrap_or_else(|| {
        Termination::unknown(format!(
            "the main process is gone: {why}; its exit status is unknown"
        ))
    })
}
