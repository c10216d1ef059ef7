//! Killing a posix container's process tree and measuring it.
//!
//! A posix container is the session its main process leads (see `launch`). Destroy
//! sends SIGKILL to the process group and to every live process of the session found
//! in `/proc`, and repeats until none is left:
//!
//! ```text
//!   loop: members = /proc/* with session == leader pid (guarded against pid reuse)
//!         none left? ─▶ done
//!         killpg(leader pid, SIGKILL); kill(each member, SIGKILL); sleep 10 ms
//! ```
//!
//! Limits (why the native containerizer exists): a process that calls `setsid()`
//! itself (a double-forking daemon) leaves the session and escapes; so does anything
//! started through another service (e.g. `systemd-run`). Posix has no cgroup to find
//! them by. The pid-reuse guard has a window of a few microseconds between reading
//! `/proc` and sending the signal.

use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::error::ContainerizerError;
use crate::proc::{self, ProcFs, ProcStat, ProcessIdentity};
use crate::types::{ContainerId, ResourceStatistics};

/// How long destroy keeps killing before it gives up with `DestroyFailed`.
pub(crate) const DESTROY_TIMEOUT: Duration = Duration::from_secs(10);
const KILL_ROUND_INTERVAL: Duration = Duration::from_millis(10);

fn scan(procfs: &ProcFs, leader: ProcessIdentity) -> Result<Vec<ProcStat>, ContainerizerError> {
    procfs
        .session_members(leader)
        .map_err(|e| ContainerizerError::io("cannot list processes", procfs.root(), e))
}

/// Kills every process of the session led (or once led) by `leader` and returns once
/// none is alive, or fails after [`DESTROY_TIMEOUT`].
pub(crate) async fn kill_session(
    procfs: &ProcFs,
    leader: ProcessIdentity,
    id: &ContainerId,
) -> Result<(), ContainerizerError> {
    let deadline = tokio::time::Instant::now() + DESTROY_TIMEOUT;
    loop {
        let members = scan(procfs, leader)?;
        if members.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let pids: Vec<String> = members
                .iter()
                .map(|m| format!("{} ({})", m.pid, m.state))
                .collect();
            return Err(ContainerizerError::DestroyFailed {
                id: id.clone(),
                message: format!(
                    "processes still alive after SIGKILL for {DESTROY_TIMEOUT:?}: {}",
                    pids.join(", ")
                ),
            });
        }
        // The group first: one atomic signal for everything that stayed in it.
        ignore_gone(killpg(Pid::from_raw(leader.pid), Signal::SIGKILL));
        for m in &members {
            ignore_gone(kill(Pid::from_raw(m.pid), Signal::SIGKILL));
        }
        tokio::time::sleep(KILL_ROUND_INTERVAL).await;
    }
}

/// A signal to a process that has just gone is not a failure.
fn ignore_gone(result: nix::Result<()>) {
    if let Err(e) = result {
        if e != Errno::ESRCH {
            tracing::warn!(error = %e, "posix: kill failed");
        }
    }
}

/// Resource usage of the live processes of the session led by `leader`.
pub(crate) fn usage(
    procfs: &ProcFs,
    leader: Option<ProcessIdentity>,
) -> Result<ResourceStatistics, ContainerizerError> {
    let members = match leader {
        Some(leader) => scan(procfs, leader)?,
        None => Vec::new(),
    };
    Ok(sum(
        &members,
        proc::clock_ticks_per_sec(),
        proc::page_size(),
    ))
}

/// Sums the usage of `members`. Posix enforces no limit, so limits are `None`, and it
/// cannot tell page cache, so that is `None` too. Shared pages count once per process.
pub(crate) fn sum(members: &[ProcStat], ticks_per_sec: u64, page_size: u64) -> ResourceStatistics {
    let ticks = ticks_per_sec.max(1) as f64;
    let (utime, stime) = members.iter().fold((0u64, 0u64), |(u, s), m| {
        (u.saturating_add(m.utime), s.saturating_add(m.stime))
    });
    ResourceStatistics {
        timestamp: SystemTime::now(),
        cpus_user_time_secs: utime as f64 / ticks,
        cpus_system_time_secs: stime as f64 / ticks,
        cpus_limit: None,
        mem_rss_bytes: members.iter().fold(0u64, |acc, m| {
            acc.saturating_add(m.rss_pages.saturating_mul(page_size))
        }),
        mem_cache_bytes: None,
        mem_limit_bytes: None,
        processes: u32::try_from(members.len()).unwrap_or(u32::MAX),
        threads: members.iter().fold(0u32, |acc, m| {
            acc.saturating_add(u32::try_from(m.num_threads).unwrap_or(u32::MAX))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_members() {
        let m = |pid, utime, stime, threads, rss| ProcStat {
            pid,
            state: 'S',
            pgrp: 1,
            session: 1,
            utime,
            stime,
            num_threads: threads,
            start_time: 1,
            rss_pages: rss,
        };
        let s = sum(&[m(1, 150, 50, 1, 10), m(2, 50, 50, 3, 5)], 100, 4096);
        assert_eq!(s.cpus_user_time_secs, 2.0);
        assert_eq!(s.cpus_system_time_secs, 1.0);
        assert_eq!(s.mem_rss_bytes, 15 * 4096);
        assert_eq!((s.processes, s.threads), (2, 4));
        assert_eq!((s.cpus_limit, s.mem_limit_bytes), (None, None));
    }
}
