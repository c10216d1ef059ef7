//! Reading `/proc`: process status, the members of a session, and waiting for a
//! process that is not our child to exit.
//!
//! Pid reuse is the hazard everywhere here: a pid (or a session id, which is the pid of
//! its leader) only names *our* process if that process's start time, read from
//! `/proc/<pid>/stat`, is the one recorded at launch. [`ProcessIdentity`] carries both.
//!
//! The `/proc` root is a parameter ([`ProcFs::new`]) so that tests can point it at a
//! directory of fake files.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// How often [`ExitWatch`] polls `/proc` when pidfds are not available.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The fields of `/proc/<pid>/stat` that containerizers use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: i32,
    /// State letter (`R`, `S`, `Z`...).
    pub state: char,
    /// Process group id.
    pub pgrp: i32,
    /// Session id.
    pub session: i32,
    /// User-mode CPU time, clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time, clock ticks.
    pub stime: u64,
    /// Number of threads.
    pub num_threads: u64,
    /// Start time after boot, clock ticks: with the pid, identifies the process.
    pub start_time: u64,
    /// Resident set size, pages.
    pub rss_pages: u64,
}

impl ProcStat {
    /// True for a process that has exited (zombie or dead) but may still be listed.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the text of `/proc/<pid>/stat`. `None` if it is malformed. The command name
/// (field 2) may contain spaces and parentheses, so fields are counted from the last
/// `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // Field n of proc(5) is rest[n - 3].
    let num = |n: usize| -> Option<u64> { rest.get(n - 3)?.parse().ok() };
    let int = |n: usize| -> Option<i32> { rest.get(n - 3)?.parse().ok() };
    Some(ProcStat {
        pid,
        state: rest.first()?.chars().next()?,
        pgrp: int(5)?,
        session: int(6)?,
        utime: num(14)?,
        stime: num(15)?,
        num_threads: num(20)?,
        start_time: num(22)?,
        // rss is signed in the kernel's format; a negative value is treated as 0.
        rss_pages: rest.get(21)?.parse::<i64>().ok()?.max(0).unsigned_abs(),
    })
}

/// A process named by pid and start time, so that a reused pid is not mistaken for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// Process id.
    pub pid: i32,
    /// Start time after boot, clock ticks (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
}

/// Access to a `/proc` tree.
#[derive(Clone, Debug)]
pub struct ProcFs {
    root: PathBuf,
}

impl ProcFs {
    /// The `/proc` at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ProcFs { root: root.into() }
    }

    /// The host's `/proc`.
    pub fn host() -> Self {
        ProcFs::new("/proc")
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Status of process `pid`; `None` if there is no such process (or its stat file
    /// is unreadable or malformed because it vanished while being read).
    pub fn stat(&self, pid: i32) -> Option<ProcStat> {
        let text = std::fs::read_to_string(self.root.join(pid.to_string()).join("stat")).ok()?;
        parse_stat(&text)
    }

    /// Status of the process `id`, if it is still that process and alive.
    pub fn alive(&self, id: ProcessIdentity) -> Option<ProcStat> {
        self.stat(id.pid)
            .filter(|s| s.start_time == id.start_time && !s.is_dead())
    }

    /// All pids listed.
    pub fn pids(&self) -> io::Result<Vec<i32>> {
        let mut pids = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
                pids.push(pid);
            }
        }
        Ok(pids)
    }

    /// This boot's id (`sys/kernel/random/boot_id`): a pid and start time identify a
    /// process only within one boot.
    pub fn boot_id(&self) -> io::Result<String> {
        let path = self.root.join("sys/kernel/random/boot_id");
        Ok(std::fs::read_to_string(path)?.trim().to_owned())
    }

    /// The live processes of the session led (or once led) by `leader`.
    ///
    /// Linux frees a pid number only when no process uses it as pid, process group id
    /// or session id. So if pid `leader.pid` now belongs to a process with another start
    /// time, the number was free, hence the session is empty: nothing is returned
    /// (and the unrelated new owner of the number is left alone). Otherwise every
    /// process whose session id is `leader.pid` is ours.
    pub fn session_members(&self, leader: ProcessIdentity) -> io::Result<Vec<ProcStat>> {
        if let Some(s) = self.stat(leader.pid) {
            if s.start_time != leader.start_time {
                return Ok(Vec::new());
            }
        }
        let mut members = Vec::new();
        for pid in self.pids()? {
            if let Some(s) = self.stat(pid) {
                if s.session == leader.pid && !s.is_dead() {
                    members.push(s);
                }
            }
        }
        Ok(members)
    }
}

/// Kernel clock ticks per second (for `utime`/`stime`/`start_time`).
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// Memory page size, bytes.
pub fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
}

/// Waits for a process that need not be our child to exit.
///
/// Uses a pidfd (`pidfd_open`, Linux ≥ 5.3), which becomes readable when the process
/// exits, even if it stays a zombie; falls back to polling `/proc` every 50 ms.
#[derive(Debug)]
pub enum ExitWatch {
    /// A pidfd registered with the tokio reactor.
    Pidfd(AsyncFd<OwnedFd>),
    /// Polls `/proc` for the process.
    Poll(ProcFs, ProcessIdentity),
}

impl ExitWatch {
    /// Starts watching process `id`; `None` if it is not running (gone, zombie, or its
    /// pid now names another process). Must be called within a tokio runtime.
    pub fn open(procfs: &ProcFs, id: ProcessIdentity) -> Option<ExitWatch> {
        // Open the pidfd first, then check the identity: if the pid was reused in
        // between, the start time no longer matches and the pidfd is discarded.
        let pidfd = pidfd_open(id.pid);
        procfs.alive(id)?;
        match pidfd {
            // SAFETY: the OwnedFd is a valid open pidfd and AsyncFd owns it from here
            // on, so it stays open (and is not replaced) while registered.
            Ok(fd) => match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
                Ok(fd) => Some(ExitWatch::Pidfd(fd)),
                Err(_) => Some(ExitWatch::Poll(procfs.clone(), id)),
            },
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => None,
            Err(_) => Some(ExitWatch::Poll(procfs.clone(), id)),
        }
    }

    /// Resolves once the process has exited.
    pub async fn exited(self) {
        match self {
            ExitWatch::Pidfd(fd) => {
                // Readable means exited; an error from the reactor is not expected, but
                // the process surely exited by the time we would report it, so stop.
                let _ = fd.readable().await;
            }
            ExitWatch::Poll(procfs, id) => {
                while procfs.alive(id).is_some() {
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
        }
    }
}

/// `pidfd_open(pid, 0)`.
fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory
    // is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("pidfd out of range"))?;
    // SAFETY: the syscall just returned this fd and nobody else owns it; the kernel
    // sets close-on-exec on pidfds.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat_line(pid: i32, comm: &str, state: char, pgrp: i32, sid: i32, start: u64) -> String {
        format!(
            "{pid} ({comm}) {state} 1 {pgrp} {sid} 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 2 0 \
             {start} 1000000 250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
        )
    }

    #[test]
    fn parses_stat_with_tricky_command_name() {
        let s = parse_stat(&stat_line(42, "a) (b c", 'S', 40, 41, 12345)).unwrap();
        assert_eq!(s.pid, 42);
        assert_eq!(s.state, 'S');
        assert_eq!((s.pgrp, s.session), (40, 41));
        assert_eq!((s.utime, s.stime), (7, 3));
        assert_eq!(s.num_threads, 2);
        assert_eq!(s.start_time, 12345);
        assert_eq!(s.rss_pages, 250);
    }

    #[test]
    fn rejects_malformed_stat() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_stat("x (sh) S 1 2 3"), None);
    }

    #[test]
    fn parses_own_stat() {
        let me = std::process::id() as i32;
        let s = ProcFs::host().stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(s.num_threads >= 1);
    }

    fn fake_proc(procs: &[(i32, char, i32, u64)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for &(pid, state, sid, start) in procs {
            let p = dir.path().join(pid.to_string());
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("stat"), stat_line(pid, "sh", state, sid, sid, start)).unwrap();
        }
        std::fs::create_dir(dir.path().join("self")).unwrap();
        dir
    }

    #[test]
    fn session_members_skips_zombies_and_other_sessions() {
        let dir = fake_proc(&[
            (100, 'S', 100, 5),
            (101, 'R', 100, 6),
            (102, 'Z', 100, 6),
            (200, 'S', 200, 1),
        ]);
        let fs = ProcFs::new(dir.path());
        let leader = ProcessIdentity {
            pid: 100,
            start_time: 5,
        };
        let mut pids: Vec<i32> = fs
            .session_members(leader)
            .unwrap()
            .iter()
            .map(|s| s.pid)
            .collect();
        pids.sort();
        assert_eq!(pids, vec![100, 101]);
    }

    #[test]
    fn session_members_with_dead_leader_still_finds_leftovers() {
        let dir = fake_proc(&[(101, 'S', 100, 6)]);
        let fs = ProcFs::new(dir.path());
        let leader = ProcessIdentity {
            pid: 100,
            start_time: 5,
        };
        let pids: Vec<i32> = fs
            .session_members(leader)
            .unwrap()
            .iter()
            .map(|s| s.pid)
            .collect();
        assert_eq!(pids, vec![101]);
    }

    #[test]
    fn session_members_empty_when_leader_pid_reused() {
        // pid 100 now has another start time: the old session must be empty, and the
        // new session 100 (a different one) must not be touched.
        let dir = fake_proc(&[(100, 'S', 100, 999), (101, 'S', 100, 1000)]);
        let fs = ProcFs::new(dir.path());
        let leader = ProcessIdentity {
            pid: 100,
            start_time: 5,
        };
        assert!(fs.session_members(leader).unwrap().is_empty());
    }
}
