//! The posix containerizer: plain processes, no isolation (Mesos posix launcher, Nomad
//! `raw_exec`).
//!
//! ```text
//!   launch ─▶ fork/exec in a new session (launch.rs) ─▶ record file (record.rs)
//!                 │                                      <runtime_dir>/<id>.json
//!                 ▼
//!            reaper task: child.wait() ─▶ Termination ─▶ record + watch channel ─▶ wait()
//!            (exit.rs; re-attached containers: a pidfd watcher task instead)
//!   destroy ─▶ SIGKILL process group + every /proc member of the session (kill.rs)
//!   recover ─▶ known handles: re-attach by pid + start time (pidfd watch), or "gone";
//!              records not known: orphans, killed (recover.rs)
//! ```
//!
//! Exit status after an agent restart: a re-attached process is not the new agent's
//! child, so its exit status cannot be collected. Posix reports such a container's end
//! with reason [`TerminationReason::Unknown`](crate::TerminationReason::Unknown), unless
//! the container wrote its exit code to [`EXIT_STATUS_FILE`] in its sandbox (see
//! [`write_exit_status`]). If the previous agent saw the process exit, the record holds
//! the exact termination. (A supervisor process per container would keep the status,
//! at the price of a process per container; Drover's executor reports task states
//! itself, so the agent mostly needs to know that it died.)
//!
//! Limits are accepted and not enforced: `update` succeeds, `usage` reports no limits.
//! Configs with an image, volumes or a mock spec are answered `NotSupported`.
//!
//! Containers outlive the containerizer: dropping it stops watching them (as an agent
//! crash would) and a new instance with the same runtime directory recovers them.

mod exit;
mod kill;
mod launch;
mod record;
mod recover;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::config::{ContainerConfig, Limits};
use crate::error::ContainerizerError;
use crate::proc::{ProcFs, ProcessIdentity};
use crate::tombstones::Tombstones;
use crate::types::{
    ContainerHandle, ContainerId, LaunchResult, Recovered, ResourceStatistics, Termination,
};
use crate::{BoxFuture, Containerizer};

pub use launch::DEFAULT_PATH;
pub use record::{write_exit_status, EXIT_STATUS_FILE};

/// Name of the posix containerizer, as recorded in its handles.
pub const NAME: &str = "posix";
/// Handle `extra` key: start time of the main process (clock ticks after boot).
pub const EXTRA_START_TIME: &str = "start_time";
/// Handle `extra` key: boot id of the host when the container was launched.
pub const EXTRA_BOOT_ID: &str = "boot_id";

/// How long destroy waits to observe the main process's exit once its tree is gone.
const EXIT_AFTER_KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a lookup retries while the container is still being launched.
const LAUNCHING_RETRY: Duration = Duration::from_millis(5);

/// Runs containers as plain processes, each in its own session.
#[derive(Debug)]
pub struct PosixContainerizer {
    runtime_dir: PathBuf,
    procfs: ProcFs,
    boot_id: String,
    recovered: AtomicBool,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    live: HashMap<ContainerId, Slot>,
    dead: Tombstones<Termination>,
}

#[derive(Debug)]
enum Slot {
    /// `launch` is starting it.
    Launching,
    /// Started (possibly already exited) and not yet destroyed.
    Known(Arc<Entry>),
}

/// A container that has not been destroyed.
#[derive(Debug)]
struct Entry {
    handle: ContainerHandle,
    /// Leader of its session; `None` if nothing of it can be running (other boot) or
    /// it cannot be identified safely.
    leader: Option<ProcessIdentity>,
    /// Becomes `Some` when the main process has exited.
    exit: watch::Receiver<Option<Termination>>,
    /// Set by destroy before killing, so a signal death reads as `Killed`.
    destroying: Arc<AtomicBool>,
    /// The task watching the main process, aborted when the containerizer is dropped.
    watcher: Option<AbortHandle>,
}

/// Result of looking a container up.
enum Lookup {
    Live(Arc<Entry>),
    Dead(Termination),
}

impl PosixContainerizer {
    /// A posix containerizer keeping its records in `runtime_dir` (created if missing;
    /// e.g. `<agent work dir>/containerizers/posix`). Use the same directory across
    /// agent restarts.
    pub fn new(runtime_dir: impl Into<PathBuf>) -> Result<Self, ContainerizerError> {
        let runtime_dir = runtime_dir.into();
        std::fs::create_dir_all(&runtime_dir).map_err(|e| {
            ContainerizerError::io("cannot create runtime directory", &runtime_dir, e)
        })?;
        let procfs = ProcFs::host();
        let boot_id = procfs
            .boot_id()
            .map_err(|e| ContainerizerError::io("cannot read boot id", procfs.root(), e))?;
        Ok(PosixContainerizer {
            runtime_dir,
            procfs,
            boot_id,
            recovered: AtomicBool::new(false),
            table: Mutex::new(Table::default()),
        })
    }

    /// The directory holding this containerizer's records.
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves the table consistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_recovered(&self, operation: &'static str) -> Result<(), ContainerizerError> {
        if self.recovered.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ContainerizerError::NotRecovered {
                containerizer: NAME,
                operation,
            })
        }
    }

    async fn lookup(
        &self,
        id: &ContainerId,
        operation: &'static str,
    ) -> Result<Lookup, ContainerizerError> {
        self.check_recovered(operation)?;
        loop {
            {
                let table = self.lock();
                match table.live.get(id) {
                    Some(Slot::Known(entry)) => return Ok(Lookup::Live(entry.clone())),
                    Some(Slot::Launching) => {}
                    None => {
                        return match table.dead.get(id) {
                            Some(t) => Ok(Lookup::Dead(t.clone())),
                            None => Err(not_found(id)),
                        }
                    }
                }
            }
            tokio::time::sleep(LAUNCHING_RETRY).await;
        }
    }

    async fn launch_container(
        &self,
        id: &ContainerId,
        config: ContainerConfig,
    ) -> Result<LaunchResult, ContainerizerError> {
        self.check_recovered("launch")?;
        if let Some(reason) = unsupported(&config) {
            return Ok(LaunchResult::NotSupported { reason });
        }
        if !id.is_path_safe() {
            return Err(ContainerizerError::InvalidConfig {
                id: id.clone(),
                message: "posix needs a container id of 1-200 characters from [A-Za-z0-9._-], \
                          not starting with '.'"
                    .into(),
            });
        }
        {
            let mut table = self.lock();
            if table.live.contains_key(id) {
                return Err(ContainerizerError::AlreadyExists { id: id.clone() });
            }
            table.live.insert(id.clone(), Slot::Launching);
        }
        // No await between reserving and settling the slot: cannot be cancelled midway.
        let result = self.start(id, &config);
        let mut table = self.lock();
        match result {
            Ok(entry) => {
                let handle = entry.handle.clone();
                table.live.insert(id.clone(), Slot::Known(entry));
                Ok(LaunchResult::Launched(handle))
            }
            Err(e) => {
                table.live.remove(id);
                Err(e)
            }
        }
    }

    /// Kills what is left of `entry`, waits for its main process, forgets it.
    async fn destroy_entry(
        &self,
        id: &ContainerId,
        entry: Arc<Entry>,
    ) -> Result<Termination, ContainerizerError> {
        entry.destroying.store(true, Ordering::Release);
        if let Some(leader) = entry.leader {
            kill::kill_session(&self.procfs, leader, id).await?;
        }
        let termination = tokio::time::timeout(EXIT_AFTER_KILL_TIMEOUT, exit::exit_of(&entry))
            .await
            .unwrap_or_else(|_| {
                Termination::killed(None, "destroyed; the main process's exit was not observed")
            });
        record::remove(&self.runtime_dir, id).map_err(|e| {
            ContainerizerError::io(
                "cannot remove container record",
                record::path(&self.runtime_dir, id),
                e,
            )
        })?;
        let mut table = self.lock();
        if matches!(table.live.get(id), Some(Slot::Known(e)) if Arc::ptr_eq(e, &entry)) {
            table.live.remove(id);
        }
        table.dead.insert(id.clone(), termination.clone());
        Ok(termination)
    }
}

impl Drop for PosixContainerizer {
    /// Stops watching (the processes keep running, as after an agent crash).
    fn drop(&mut self) {
        for slot in self.lock().live.values() {
            if let Slot::Known(entry) = slot {
                if let Some(w) = &entry.watcher {
                    w.abort();
                }
            }
        }
    }
}

fn not_found(id: &ContainerId) -> ContainerizerError {
    ContainerizerError::NotFound {
        id: id.clone(),
        containerizer: NAME,
    }
}

/// Why posix cannot run `config`, if it cannot.
fn unsupported(config: &ContainerConfig) -> Option<String> {
    if let Some(name) = config.kind.containerizer.as_deref().filter(|n| *n != NAME) {
        return Some(format!(
            "posix: the config asks for the `{name}` containerizer"
        ));
    }
    if config.mock.is_some() {
        return Some("posix: the config is a mock (it has a MockSpec)".into());
    }
    if let Some(image) = &config.kind.image {
        return Some(format!("posix: cannot run images (asked for `{image}`)"));
    }
    if !config.kind.volumes.is_empty() {
        return Some("posix: cannot mount volumes".into());
    }
    None
}

impl Containerizer for PosixContainerizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn recover<'a>(
        &'a self,
        known: &'a [ContainerHandle],
    ) -> BoxFuture<'a, Result<Recovered, ContainerizerError>> {
        Box::pin(self.recover_containers(known))
    }

    fn launch<'a>(
        &'a self,
        id: &'a ContainerId,
        config: ContainerConfig,
    ) -> BoxFuture<'a, Result<LaunchResult, ContainerizerError>> {
        Box::pin(self.launch_container(id, config))
    }

    fn wait<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
        Box::pin(async move {
            match self.lookup(id, "wait").await? {
                Lookup::Live(entry) => Ok(exit::exit_of(&entry).await),
                Lookup::Dead(t) => Ok(t),
            }
        })
    }

    fn destroy<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
        Box::pin(async move {
            match self.lookup(id, "destroy").await? {
                Lookup::Live(entry) => self.destroy_entry(id, entry).await,
                Lookup::Dead(t) => Ok(t),
            }
        })
    }

    fn update<'a>(
        &'a self,
        id: &'a ContainerId,
        _limits: Limits,
    ) -> BoxFuture<'a, Result<(), ContainerizerError>> {
        Box::pin(async move {
            match self.lookup(id, "update").await? {
                Lookup::Live(_) => Ok(()),
                Lookup::Dead(_) => Err(not_found(id)),
            }
        })
    }

    fn usage<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<ResourceStatistics, ContainerizerError>> {
        Box::pin(async move {
            match self.lookup(id, "usage").await? {
                Lookup::Live(entry) => kill::usage(&self.procfs, entry.leader),
                Lookup::Dead(_) => Err(not_found(id)),
            }
        })
    }
}
