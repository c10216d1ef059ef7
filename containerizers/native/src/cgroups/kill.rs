//! Killing every process of a container's cgroup, then removing the cgroup.
//!
//! ```text
//!   v2: write 1 to cgroup.kill (Linux ≥ 5.14: the kernel kills the whole subtree)
//!       (older v2: cgroup.freeze 1, SIGKILL each of cgroup.procs, cgroup.freeze 0)
//!   v1: freezer.state FROZEN ─▶ SIGKILL each of cgroup.procs ─▶ freezer.state THAWED
//!   repeat until cgroup.procs is empty, then rmdir every directory (retrying EBUSY)
//! ```
//!
//! Freezing first means no process can fork or exit between reading the pid list and
//! signalling it: double-forked daemons cannot escape and no reused pid is hit.

use std::io;
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{annotate, ContainerCgroup, Controller};

/// Pause between kill rounds and between checks that the cgroup emptied.
const ROUND: Duration = Duration::from_millis(2);
/// How long a freeze may stay in `FREEZING` before the round goes on regardless.
const FREEZE_WAIT: Duration = Duration::from_millis(100);

/// Kills every process of `cg` and waits until none is left, or fails with the pids
/// still there after `timeout`.
pub async fn kill_all(cg: &ContainerCgroup, timeout: Duration) -> io::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut first = true;
    loop {
        let pids = cg.pids()?;
        if pids.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("processes still in the cgroup after SIGKILL for {timeout:?}: {pids:?}"),
            ));
        }
        if !first {
            tokio::time::sleep(ROUND).await;
            if cg.pids()?.is_empty() {
                return Ok(());
            }
        }
        first = false;
        if cg.is_v2() {
            kill_round_v2(cg).await?;
        } else {
            kill_round_v1(cg).await?;
        }
    }
}

async fn kill_round_v2(cg: &ContainerCgroup) -> io::Result<()> {
    let Some(dir) = cg.procs_dir() else {
        return Ok(());
    };
    if dir.join("cgroup.kill").exists() {
        return write_ignoring_gone(&dir.join("cgroup.kill"), "1");
    }
    write_ignoring_gone(&dir.join("cgroup.freeze"), "1")?;
    wait_frozen(dir, "cgroup.events", |t| t.contains("frozen 1")).await;
    kill_each(cg)?;
    write_ignoring_gone(&dir.join("cgroup.freeze"), "0")
}

async fn kill_round_v1(cg: &ContainerCgroup) -> io::Result<()> {
    let Some(dir) = cg.dir(Controller::Freezer) else {
        return kill_each(cg);
    };
    write_ignoring_gone(&dir.join("freezer.state"), "FROZEN")?;
    wait_frozen(dir, "freezer.state", |t| t.trim() == "FROZEN").await;
    let killed = kill_each(cg);
    let thawed = write_ignoring_gone(&dir.join("freezer.state"), "THAWED");
    killed.and(thawed)
}

/// Waits (bounded) until `file` of `dir` says frozen.
async fn wait_frozen(dir: &Path, file: &str, frozen: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + FREEZE_WAIT;
    while tokio::time::Instant::now() < deadline {
        match std::fs::read_to_string(dir.join(file)) {
            Ok(text) if !frozen(&text) => tokio::time::sleep(Duration::from_millis(1)).await,
            _ => return,
        }
    }
}

fn kill_each(cg: &ContainerCgroup) -> io::Result<()> {
    for pid in cg.pids()? {
        match kill(Pid::from_raw(pid), Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => return Err(io::Error::other(format!("cannot SIGKILL pid {pid}: {e}"))),
        }
    }
    Ok(())
}

/// Writes a control file; a cgroup removed meanwhile is not an error.
fn write_ignoring_gone(path: &Path, value: &str) -> io::Result<()> {
    match std::fs::write(path, value) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(annotate(e, &format!("cannot write `{value}` to"), path))
        }
        _ => Ok(()),
    }
}

/// Removes every directory of `cg` (missing ones are fine), retrying while the kernel
/// still counts exiting processes (`EBUSY`) until `timeout`.
pub async fn remove(cg: &ContainerCgroup, timeout: Duration) -> io::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    for dir in cg.all_dirs() {
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e)
                    if e.raw_os_error() == Some(libc::EBUSY)
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(ROUND).await;
                }
                Err(e) => return Err(annotate(e, "cannot remove cgroup", dir)),
            }
        }
    }
    Ok(())
}
