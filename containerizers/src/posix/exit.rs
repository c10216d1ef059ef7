//! Watching a posix container's main process until it exits.
//!
//! ```text
//!   launched here ─▶ reaper task: child.wait() ─▶ exit code / signal
//!   re-attached   ─▶ watcher task: pidfd readable ─▶ exit-status file or Unknown
//!                          │
//!                          ▼
//!   finish: termination into the record file, then into the entry's watch channel
//! ```
//!
//! The tasks are aborted when the containerizer is dropped; the processes run on.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use super::{launch, record, Entry, PosixContainerizer, EXTRA_BOOT_ID, EXTRA_START_TIME, NAME};
use crate::config::ContainerConfig;
use crate::error::ContainerizerError;
use crate::proc::{ExitWatch, ProcessIdentity};
use crate::types::{ContainerHandle, ContainerId, Termination};

impl PosixContainerizer {
    /// Spawns the process, records it, and starts its reaper.
    pub(super) fn start(
        &self,
        id: &ContainerId,
        config: &ContainerConfig,
    ) -> Result<Arc<Entry>, ContainerizerError> {
        let launch::Spawned { mut child, leader } = launch::spawn(id, config, &self.procfs)?;
        let handle = ContainerHandle {
            id: id.clone(),
            pid: u32::try_from(leader.pid).ok(),
            containerizer: NAME.to_owned(),
            sandbox: config.sandbox.clone(),
            extra: BTreeMap::from([
                (EXTRA_START_TIME.to_owned(), leader.start_time.to_string()),
                (EXTRA_BOOT_ID.to_owned(), self.boot_id.clone()),
            ]),
        };
        let rec = record::Record {
            handle: handle.clone(),
            termination: None,
        };
        if let Err(e) = record::write(&self.runtime_dir, &rec) {
            // Without a record the container could leak past a restart: undo.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(leader.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            return Err(ContainerizerError::io(
                "cannot write container record",
                record::path(&self.runtime_dir, id),
                e,
            ));
        }
        let (tx, rx) = watch::channel(None);
        let destroying = Arc::new(AtomicBool::new(false));
        let flag = destroying.clone();
        let dir = self.runtime_dir.clone();
        let task = tokio::spawn(async move {
            let termination = match child.wait().await {
                Ok(status) => launch::termination_of(status, flag.load(Ordering::Acquire)),
                Err(e) => Termination::unknown(format!("cannot wait for the main process: {e}")),
            };
            finish(&dir, rec.handle, termination, &tx);
        });
        Ok(Arc::new(Entry {
            handle,
            leader: Some(leader),
            exit: rx,
            destroying,
            watcher: Some(task.abort_handle()),
        }))
    }

    /// An entry for a container found at recovery: either watch its running main
    /// process, or it has already ended with `ended`.
    pub(super) fn attach(
        &self,
        handle: ContainerHandle,
        leader: Option<ProcessIdentity>,
        running: Result<ExitWatch, Termination>,
    ) -> Arc<Entry> {
        let destroying = Arc::new(AtomicBool::new(false));
        let (exit, watcher) = match running {
            Err(ended) => (watch::channel(Some(ended)).1, None),
            Ok(watch) => {
                let (tx, rx) = watch::channel(None);
                let flag = destroying.clone();
                let dir = self.runtime_dir.clone();
                let handle = handle.clone();
                let task = tokio::spawn(async move {
                    watch.exited().await;
                    let termination = if flag.load(Ordering::Acquire) {
                        Termination::killed(
                            None,
                            "destroyed (re-attached after an agent restart: signal unknown)",
                        )
                    } else {
                        record::exit_status_from_sandbox(&handle.sandbox).unwrap_or_else(|| {
                            Termination::unknown(
                                "the main process exited; it was re-attached after an agent \
                                 restart, so its exit status is unknown",
                            )
                        })
                    };
                    finish(&dir, handle, termination, &tx);
                });
                (rx, Some(task.abort_handle()))
            }
        };
        Arc::new(Entry {
            handle,
            leader,
            exit,
            destroying,
            watcher,
        })
    }
}

/// Records `termination` for the container and tells waiters.
fn finish(
    dir: &Path,
    handle: ContainerHandle,
    termination: Termination,
    tx: &watch::Sender<Option<Termination>>,
) {
    let rec = record::Record {
        handle,
        termination: Some(termination.clone()),
    };
    if let Err(e) = record::write(dir, &rec) {
        tracing::warn!(container = %rec.handle.id, error = %e, "posix: cannot record termination");
    }
    tx.send_replace(Some(termination));
}

/// Waits until the main process of `entry` has exited.
pub(super) async fn exit_of(entry: &Entry) -> Termination {
    let mut rx = entry.exit.clone();
    let ended = match rx.wait_for(Option::is_some).await {
        Ok(t) => t.clone(),
        Err(_) => None,
    };
    ended.unwrap_or_else(|| {
        Termination::unknown("the containerizer stopped watching the main process")
    })
}
