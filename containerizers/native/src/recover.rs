//! Native recovery after an agent restart.
//!
//! ```text
//!   known handle (native) ─┬─ record says it ended ─────────────▶ gone (exact termination)
//!                          ├─ init alive (pid + start time, same boot) ▶ running (pidfd)
//!                          └─ otherwise ─────────────────────────▶ gone (status file, exact
//!                                                                  if init wrote it)
//!   runtime dir entry not known ─┐
//!   cgroup under our root not known ┴─▶ orphan: tree killed, cgroups + directory removed
//! ```
//!
//! The status file written by the container's own init makes the exit status of a
//! container that ended while the agent was down exact (posix can only say Unknown).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;

use drover_containerizers::proc::{ExitWatch, ProcessIdentity};
use drover_containerizers::{
    ContainerHandle, ContainerId, ContainerizerError, Limits, Recovered, Termination,
};

use crate::cgroups::oom::oom_kills;
use crate::cgroups::{kill, ContainerCgroup};
use crate::container::{self, ExitFacts, Record};
use crate::exit::{self, Watch};
use crate::native::{
    Inner, Slot, EXTRA_BOOT_ID, EXTRA_START_TIME, KILL_TIMEOUT, NAME, REMOVE_TIMEOUT,
};

impl Inner {
    /// Who a handle's init is, if it is running in this boot.
    fn identify(&self, handle: &ContainerHandle) -> Result<ProcessIdentity, String> {
        if handle.extra.get(EXTRA_BOOT_ID) != Some(&self.boot_id) {
            return Err("the host rebooted since the launch (or the handle has no boot id)".into());
        }
        let pid = handle
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or("the handle has no valid pid")?;
        let start_time = handle
            .extra
            .get(EXTRA_START_TIME)
            .and_then(|s| s.parse().ok())
            .ok_or("the handle has no valid start time")?;
        Ok(ProcessIdentity { pid, start_time })
    }

    /// See [`Containerizer::recover`](drover_containerizers::Containerizer::recover).
    pub(crate) async fn recover(
        &self,
        known: &[ContainerHandle],
    ) -> Result<Recovered, ContainerizerError> {
        let dir = &self.containers_dir;
        let mut records: HashMap<ContainerId, Result<Record, String>> = HashMap::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| ContainerizerError::io("cannot read the runtime directory", dir, e))?;
        for entry in entries {
            let entry = entry
                .map_err(|e| ContainerizerError::io("cannot read the runtime directory", dir, e))?;
            if let Some(name) = entry.file_name().to_str() {
                records.insert(
                    ContainerId::new(name),
                    container::read_record(&entry.path()),
                );
            }
        }

        let mut out = Recovered::default();
        let mut known_ids = HashSet::new();
        for handle in known
            .iter()
            .filter(|h| h.containerizer == NAME && h.id.is_path_safe())
        {
            known_ids.insert(handle.id.clone());
            let record = records.remove(&handle.id).and_then(Result::ok);
            if let Some(Slot::Known(entry)) = self.lock().live.get(&handle.id) {
                // Recovered twice: already attached.
                match entry.exit.borrow().clone() {
                    Some(t) => out.gone.push((handle.id.clone(), t)),
                    None => out.running.push(handle.clone()),
                }
                continue;
            }
            let cdir = container::dir(dir, &handle.id);
            let limits = record.as_ref().map_or_else(Limits::default, |r| r.limits);
            let cgroup = self.cgroups.container(handle.id.as_str());
            let how = match (record.and_then(|r| r.termination), self.identify(handle)) {
                (Some(ended), _) => Watch::Ended(ended),
                (None, Ok(id)) => match ExitWatch::open(&self.procfs, id) {
                    Some(w) => Watch::Reattached(w),
                    None => Watch::Ended(gone(
                        &cdir,
                        &cgroup,
                        limits,
                        "its init was not running at recovery",
                    )),
                },
                (None, Err(why)) => Watch::Ended(gone(&cdir, &cgroup, limits, &why)),
            };
            match &how {
                Watch::Ended(t) => out.gone.push((handle.id.clone(), t.clone())),
                _ => out.running.push(handle.clone()),
            }
            if let Watch::Ended(t) = &how {
                let rec = Record {
                    handle: handle.clone(),
                    limits,
                    termination: Some(t.clone()),
                };
                if std::fs::create_dir_all(&cdir)
                    .and_then(|()| container::write_record(&cdir, &rec))
                    .is_err()
                {
                    tracing::warn!(container = %handle.id, "native: cannot record a recovered termination");
                }
            }
            let entry = exit::start(handle.clone(), cdir, cgroup, limits, how);
            self.lock()
                .live
                .insert(handle.id.clone(), Slot::Known(entry));
        }

        // Launched here but not known to the agent: in the runtime dir or in cgroupfs.
        let mut orphans: BTreeSet<String> = records
            .into_keys()
            .map(|id| id.as_str().to_owned())
            .collect();
        let listed = self.cgroups.list().map_err(|e| {
            ContainerizerError::io(
                "cannot list cgroups",
                self.cgroups
                    .root_dirs()
                    .first()
                    .cloned()
                    .unwrap_or_default(),
                e,
            )
        })?;
        orphans.extend(listed);
        // Overlay layers of containers whose records are gone (a reboot emptied a
        // runtime dir on tmpfs).
        if let Ok(entries) = std::fs::read_dir(&self.scratch_dir) {
            orphans.extend(
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned)),
            );
        }
        for name in orphans {
            let id = ContainerId::new(name.clone());
            if known_ids.contains(&id) || self.lock().live.contains_key(&id) {
                continue;
            }
            self.destroy_orphan(&id).await?;
            out.orphans_destroyed.push(id);
        }
        // Containers of this instance the agent no longer knows (recover called again).
        let stale: Vec<_> = self
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
        self.recovered.store(true, Ordering::Release);
        Ok(out)
    }

    /// Kills and removes a container nobody knows.
    async fn destroy_orphan(&self, id: &ContainerId) -> Result<(), ContainerizerError> {
        let failed = |e: std::io::Error| ContainerizerError::DestroyFailed {
            id: id.clone(),
            message: e.to_string(),
        };
        let cgroup = self.cgroups.container(id.as_str());
        kill::kill_all(&cgroup, KILL_TIMEOUT)
            .await
            .map_err(failed)?;
        kill::remove(&cgroup, REMOVE_TIMEOUT)
            .await
            .map_err(failed)?;
        if id.is_path_safe() {
            self.remove_dirs(id, &container::dir(&self.containers_dir, id))
                .map_err(failed)?;
        }
        tracing::info!(container = %id, "native: destroyed an orphan container");
        Ok(())
    }
}

/// How a container whose init is gone ended, as far as its status file tells.
fn gone(dir: &std::path::Path, cgroup: &ContainerCgroup, limits: Limits, why: &str) -> Termination {
    let facts = ExitFacts {
        main: container::read_status(dir),
        oom: oom_kills(cgroup) > 0,
        mem_limit: limits.mem_bytes,
        ..ExitFacts::default()
    };
    let t = container::termination(&facts);
    if facts.main.is_some() {
        t
    } else {
        Termination::unknown(format!(
            "the container is gone: {why}; its exit status is unknown"
        ))
    }
}
