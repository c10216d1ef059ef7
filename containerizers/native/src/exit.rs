//! Watching a container until its init is gone, and telling how it ended.
//!
//! ```text
//!   launched here ─▶ reaper: pidfd readable ─▶ waitid (init's status)
//!   re-attached   ─▶ watcher: pidfd of a process that may not be our child
//!                      ─▶ reaped if it is ours (else its parent reaps it)
//!        both ─▶ status file + OOM + destroying ─▶ Termination ─▶ record, watch channel
//!   OOM watcher: memory event ─▶ oom_kill > 0? ─▶ flag + kill the tree (Mesos: a
//!                memory limitation ends the container)
//! ```

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_containerizers::proc::ExitWatch;
use drover_containerizers::{ContainerHandle, Limits, Termination};
use tokio::sync::watch;

use crate::cgroups::oom::{oom_kills, OomWatch};
use crate::cgroups::{kill, ContainerCgroup};
use crate::container::{self, ExitFacts, Record};
use crate::launcher::{self, InitExit};
use crate::native::{Entry, KILL_TIMEOUT};

/// How the container's init is watched.
#[derive(Debug)]
pub(crate) enum Watch {
    /// Our child, launched by this instance: reaped with its pidfd.
    Child(OwnedFd),
    /// Found at recovery, running.
    Reattached(ExitWatch),
    /// Found at recovery, already ended like this.
    Ended(Termination),
}

/// Makes the entry of a container and starts watching it (and its memory cgroup).
pub(crate) fn start(
    handle: ContainerHandle,
    dir: PathBuf,
    cgroup: ContainerCgroup,
    limits: Limits,
    how: Watch,
) -> Arc<Entry> {
    let (tx, rx) = match &how {
        Watch::Ended(t) => watch::channel(Some(t.clone())),
        _ => watch::channel(None),
    };
    let entry = Arc::new(Entry {
        handle,
        dir,
        cgroup,
        limits: Mutex::new(limits),
        exit: rx,
        destroying: AtomicBool::new(false),
        oom: AtomicBool::new(false),
        tasks: Mutex::new(Vec::new()),
    });
    let mut tasks = Vec::new();
    let reaper = match how {
        Watch::Ended(_) => None,
        Watch::Child(pidfd) => Some(tokio::spawn(reap_child(entry.clone(), pidfd, tx))),
        Watch::Reattached(w) => Some(tokio::spawn(watch_reattached(entry.clone(), w, tx))),
    };
    if let Some(reaper) = reaper {
        tasks.push(reaper.abort_handle());
        match OomWatch::open(&entry.cgroup) {
            Ok(Some(w)) => tasks.push(tokio::spawn(watch_oom(entry.clone(), w)).abort_handle()),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(container = %entry.handle.id, error = %e, "native: cannot watch for OOM kills")
            }
        }
    }
    *entry.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
    entry
}

async fn reap_child(entry: Arc<Entry>, pidfd: OwnedFd, tx: watch::Sender<Option<Termination>>) {
    let init = match launcher::wait_exit(pidfd).await {
        Ok(exit) => Some(exit),
        Err(e) => {
            tracing::warn!(container = %entry.handle.id, error = %e, "native: cannot reap the container's init");
            None
        }
    };
    finish(&entry, init, &tx);
}

async fn watch_reattached(entry: Arc<Entry>, w: ExitWatch, tx: watch::Sender<Option<Termination>>) {
    let init = match w {
        ExitWatch::Pidfd(fd) => {
            let _ = fd.readable().await;
            // Ours only if this process launched it (e.g. a test restarting the
            // containerizer in-process); otherwise ECHILD and init's parent reaps it.
            launcher::reap(fd.get_ref()).ok()
        }
        other => {
            other.exited().await;
            None
        }
    };
    finish(&entry, init, &tx);
}

/// Records and announces how the container ended.
fn finish(entry: &Entry, init: Option<InitExit>, tx: &watch::Sender<Option<Termination>>) {
    let limits = entry.limits();
    let facts = ExitFacts {
        main: container::read_status(&entry.dir),
        init,
        destroying: entry.destroying.load(Ordering::Acquire),
        oom: entry.oom.load(Ordering::Acquire) || oom_kills(&entry.cgroup) > 0,
        mem_limit: limits.mem_bytes,
    };
    let termination = container::termination(&facts);
    let record = Record {
        handle: entry.handle.clone(),
        limits,
        termination: Some(termination.clone()),
    };
    if let Err(e) = container::write_record(&entry.dir, &record) {
        tracing::warn!(container = %entry.handle.id, error = %e, "native: cannot record the termination");
    }
    tx.send_replace(Some(termination));
}

async fn watch_oom(entry: Arc<Entry>, mut w: OomWatch) {
    loop {
        if w.next().await.is_err() {
            return;
        }
        // v1 signals just before the kill: give the counter a moment.
        for _ in 0..20 {
            if oom_kills(&entry.cgroup) > 0 {
                entry.oom.store(true, Ordering::Release);
                tracing::info!(container = %entry.handle.id, "native: OOM kill; destroying the container's tree");
                if let Err(e) = kill::kill_all(&entry.cgroup, KILL_TIMEOUT).await {
                    tracing::warn!(container = %entry.handle.id, error = %e, "native: cannot kill after OOM");
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Saves new limits in the container's record (for recovery).
pub(crate) fn save_limits(entry: &Entry, limits: Limits) {
    let saved = container::read_record(&entry.dir).and_then(|mut r| {
        r.limits = limits;
        container::write_record(&entry.dir, &r).map_err(|e| e.to_string())
    });
    if let Err(e) = saved {
        tracing::warn!(container = %entry.handle.id, error = %e, "native: cannot record new limits");
    }
}
