//! [`NativeContainerizer`]: the table of containers and the `Containerizer` trait.
//!
//! ```text
//!   launch  ─▶ (own task, not cancellable) launch.rs: validate ─▶ cgroups + isolators
//!              prepare ─▶ launcher::spawn ─▶ record ─▶ reaper + OOM watcher (exit.rs)
//!   wait    ─▶ the entry's watch channel
//!   destroy ─▶ kill the cgroup tree ─▶ termination ─▶ remove cgroups and runtime dir
//!   update / usage ─▶ each isolator, on the container's cgroups (resources.rs)
//!   recover ─▶ recover.rs
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use drover_containerizers::proc::ProcFs;
use drover_containerizers::tombstones::Tombstones;
use drover_containerizers::{
    BoxFuture, ContainerConfig, ContainerHandle, ContainerId, Containerizer, ContainerizerError,
    LaunchResult, Limits, Recovered, ResourceStatistics, Termination,
};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::cgroups::{kill, Cgroups, ContainerCgroup, Hierarchy};
use crate::error::NativeError;
use crate::image::ImageStore;
use crate::isolators::{self, Isolator};
use crate::options::NativeConfig;

/// Name of the native containerizer, as recorded in its handles.
pub const NAME: &str = "native";
/// Handle `extra` key: start time of the container's init (clock ticks after boot).
pub const EXTRA_START_TIME: &str = "start_time";
/// Handle `extra` key: boot id of the host at launch.
pub const EXTRA_BOOT_ID: &str = "boot_id";
/// Handle `extra` key: the container's cgroup, relative to each hierarchy's mount.
pub const EXTRA_CGROUP: &str = "cgroup";

/// How long destroy keeps killing before it gives up with `DestroyFailed`.
pub(crate) const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long destroy waits for init's exit once the tree is dead.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long removing a dead container's cgroups may be retried.
pub(crate) const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);
const LAUNCHING_RETRY: Duration = Duration::from_millis(2);

/// Runs containers in namespaces and cgroups (Mesos's `MesosContainerizer`).
#[derive(Debug)]
pub struct NativeContainerizer {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: NativeConfig,
    /// `<runtime_dir>/containers`.
    pub(crate) containers_dir: PathBuf,
    /// `<scratch_dir>`: overlay layers of containers with an image.
    pub(crate) scratch_dir: PathBuf,
    pub(crate) cgroups: Cgroups,
    pub(crate) isolators: Vec<Box<dyn Isolator>>,
    pub(crate) images: Arc<ImageStore>,
    pub(crate) procfs: ProcFs,
    pub(crate) boot_id: String,
    pub(crate) recovered: AtomicBool,
    pub(crate) table: Mutex<Table>,
}

#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) live: HashMap<ContainerId, Slot>,
    pub(crate) dead: Tombstones<Termination>,
}

#[derive(Debug)]
pub(crate) enum Slot {
    Launching,
    Known(Arc<Entry>),
}

/// A container not yet destroyed.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) handle: ContainerHandle,
    /// `<runtime_dir>/containers/<id>`.
    pub(crate) dir: PathBuf,
    pub(crate) cgroup: ContainerCgroup,
    pub(crate) limits: Mutex<Limits>,
    /// `Some` once the container's init is gone.
    pub(crate) exit: watch::Receiver<Option<Termination>>,
    /// Set before destroy kills, so a signal death reads as `Killed`.
    pub(crate) destroying: AtomicBool,
    /// Set by the OOM watcher when the kernel's OOM killer acted in the container.
    pub(crate) oom: AtomicBool,
    /// Reaper and OOM watcher, aborted when the containerizer is dropped.
    pub(crate) tasks: Mutex<Vec<AbortHandle>>,
}

impl Entry {
    pub(crate) fn limits(&self) -> Limits {
        *self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn abort_tasks(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }

    /// Waits until the container's init is gone.
    pub(crate) async fn exited(&self) -> Termination {
        let mut rx = self.exit.clone();
        let ended = match rx.wait_for(Option::is_some).await {
            Ok(t) => t.clone(),
            Err(_) => None,
        };
        ended.unwrap_or_else(|| {
            Termination::unknown("the containerizer stopped watching the container")
        })
    }
}

pub(crate) enum Lookup {
    Live(Arc<Entry>),
    Dead(Termination),
}

pub(crate) fn not_found(id: &ContainerId) -> ContainerizerError {
    ContainerizerError::NotFound {
        id: id.clone(),
        containerizer: NAME,
    }
}

impl NativeContainerizer {
    /// A native containerizer set up as `config` says. Fails if the host lacks what
    /// the isolation needs (see [`probe`](crate::probe) for the agent's fallback
    /// decision) or the runtime directory cannot be created. Call
    /// [`recover`](Containerizer::recover) before anything else.
    pub fn new(config: NativeConfig) -> Result<Self, NativeError> {
        let hierarchy = match &config.hierarchy {
            Some(h) => h.clone(),
            None => Hierarchy::detect().map_err(|e| {
                NativeError::Unsupported(vec![format!("no usable cgroup hierarchy: {e}")])
            })?,
        };
        let cgroups = Cgroups::new(
            hierarchy,
            &config.cgroups_root,
            config.isolation.controllers(),
        )
        .map_err(NativeError::Unsupported)?;
        cgroups
            .ensure_root()
            .map_err(|e| NativeError::Unsupported(vec![e.to_string()]))?;
        let containers_dir = config.runtime_dir.join("containers");
        std::fs::create_dir_all(&containers_dir).map_err(|source| NativeError::Io {
            context: "cannot create the runtime directory",
            path: containers_dir.clone(),
            source,
        })?;
        let scratch_dir = config.scratch_dir.clone();
        let procfs = ProcFs::host();
        let boot_id = procfs.boot_id().map_err(|source| NativeError::Io {
            context: "cannot read the boot id",
            path: procfs.root().join("sys/kernel/random/boot_id"),
            source,
        })?;
        let isolators = isolators::build(
            &config.isolation,
            config.cgroups_enable_cfs,
            config.pids_max,
        );
        Ok(NativeContainerizer {
            inner: Arc::new(Inner {
                images: Arc::new(ImageStore::new(&config.image_store)),
                config,
                containers_dir,
                scratch_dir,
                cgroups,
                isolators,
                procfs,
                boot_id,
                recovered: AtomicBool::new(false),
                table: Mutex::new(Table::default()),
            }),
        })
    }

    /// The cgroups this containerizer manages.
    pub fn cgroups(&self) -> &Cgroups {
        &self.inner.cgroups
    }

    /// The cgroup of container `id` (whether or not it exists).
    pub fn container_cgroup(&self, id: &ContainerId) -> ContainerCgroup {
        self.inner.cgroups.container(id.as_str())
    }
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Table> {
        // Single inserts and removes: a poisoned table is still consistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn check_recovered(
        &self,
        operation: &'static str,
    ) -> Result<(), ContainerizerError> {
        if self.recovered.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ContainerizerError::NotRecovered {
                containerizer: NAME,
                operation,
            })
        }
    }

    pub(crate) async fn lookup(
        &self,
        id: &ContainerId,
        operation: &'static str,
    ) -> Result<Lookup, ContainerizerError> {
        self.check_recovered(operation)?;
        loop {
            {
                let table = self.lock();
                match table.live.get(id) {
                    Some(Slot::Known(e)) => return Ok(Lookup::Live(e.clone())),
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

    /// Kills what is left of `entry`, waits for its end, removes its cgroups and
    /// runtime directory, forgets it.
    pub(crate) async fn destroy_entry(
        &self,
        id: &ContainerId,
        entry: Arc<Entry>,
    ) -> Result<Termination, ContainerizerError> {
        entry.destroying.store(true, Ordering::Release);
        let failed = |message: String| ContainerizerError::DestroyFailed {
            id: id.clone(),
            message,
        };
        kill::kill_all(&entry.cgroup, KILL_TIMEOUT)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let termination = tokio::time::timeout(EXIT_TIMEOUT, entry.exited())
            .await
            .unwrap_or_else(|_| {
                Termination::killed(None, "destroyed; the container's end was not observed")
            });
        entry.abort_tasks();
        kill::remove(&entry.cgroup, REMOVE_TIMEOUT)
            .await
            .map_err(|e| failed(e.to_string()))?;
        self.remove_dirs(id, &entry.dir)
            .map_err(|e| failed(e.to_string()))?;
        let mut table = self.lock();
        if matches!(table.live.get(id), Some(Slot::Known(e)) if Arc::ptr_eq(e, &entry)) {
            table.live.remove(id);
        }
        table.dead.insert(id.clone(), termination.clone());
        Ok(termination)
    }
}

impl Inner {
    /// `<scratch_dir>/<id>`: the container's overlay layers, if it has an image.
    pub(crate) fn scratch(&self, id: &ContainerId) -> PathBuf {
        self.scratch_dir.join(id.as_str())
    }

    /// Removes a container's runtime directory `dir` and its scratch directory.
    pub(crate) fn remove_dirs(
        &self,
        id: &ContainerId,
        dir: &std::path::Path,
    ) -> std::io::Result<()> {
        remove_dir(dir)?;
        remove_dir(&self.scratch(id))
    }
}

/// Removes a container's runtime directory; missing is fine.
pub(crate) fn remove_dir(dir: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(crate::cgroups::annotate(e, "cannot remove", dir))
        }
        _ => Ok(()),
    }
}

impl Drop for NativeContainerizer {
    /// Stops watching (the containers keep running, as after an agent crash).
    fn drop(&mut self) {
        for slot in self.inner.lock().live.values() {
            if let Slot::Known(entry) = slot {
                entry.abort_tasks();
            }
        }
    }
}

impl Containerizer for NativeContainerizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn recover<'a>(
        &'a self,
        known: &'a [ContainerHandle],
    ) -> BoxFuture<'a, Result<Recovered, ContainerizerError>> {
        Box::pin(self.inner.recover(known))
    }

    fn launch<'a>(
        &'a self,
        id: &'a ContainerId,
        config: ContainerConfig,
    ) -> BoxFuture<'a, Result<LaunchResult, ContainerizerError>> {
        Box::pin(Inner::launch(self.inner.clone(), id.clone(), config))
    }

    fn wait<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
        Box::pin(async move {
            match self.inner.lookup(id, "wait").await? {
                Lookup::Live(entry) => Ok(entry.exited().await),
                Lookup::Dead(t) => Ok(t),
            }
        })
    }

    fn destroy<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
        Box::pin(async move {
            match self.inner.lookup(id, "destroy").await? {
                Lookup::Live(entry) => self.inner.destroy_entry(id, entry).await,
                Lookup::Dead(t) => Ok(t),
            }
        })
    }

    fn update<'a>(
        &'a self,
        id: &'a ContainerId,
        limits: Limits,
    ) -> BoxFuture<'a, Result<(), ContainerizerError>> {
        Box::pin(async move {
            match self.inner.lookup(id, "update").await? {
                Lookup::Live(entry) => self.inner.update_entry(id, &entry, limits),
                Lookup::Dead(_) => Err(not_found(id)),
            }
        })
    }

    fn usage<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<ResourceStatistics, ContainerizerError>> {
        Box::pin(async move {
            match self.inner.lookup(id, "usage").await? {
                Lookup::Live(entry) => self.inner.usage_of(&entry),
                Lookup::Dead(_) => Err(not_found(id)),
            }
        })
    }
}
