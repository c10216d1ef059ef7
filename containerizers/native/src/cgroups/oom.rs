//! Noticing that the kernel's OOM killer acted in a container's memory cgroup.
//!
//! ```text
//!   v1: eventfd registered in cgroup.event_control for memory.oom_control
//!   v2: inotify IN_MODIFY on memory.events (cgroups-rs does not do this for v2)
//!   event ─▶ OomWatch::next() resolves ─▶ the caller checks `oom_kill` (oom_kills())
//! ```
//!
//! v1 signals the eventfd just before the kill, and also when the cgroup is removed;
//! v2 signals every change of `memory.events` (e.g. `max` hits that reclaim solved).
//! So an event only means "look now": [`oom_kills`] tells whether a kill happened.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::{values, ContainerCgroup, Controller};

/// A registration for OOM events of one memory cgroup.
#[derive(Debug)]
pub struct OomWatch {
    fd: AsyncFd<OwnedFd>,
}

/// Number of OOM kills so far in `cg`'s memory cgroup (0 if it has none or is gone).
pub fn oom_kills(cg: &ContainerCgroup) -> u64 {
    let file = if cg.is_v2() {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    cg.read(Controller::Memory, file)
        .map(|t| values::oom_kills(&t))
        .unwrap_or(0)
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the caller just got `fd` from the kernel and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl OomWatch {
    /// Starts watching `cg`; `None` if it has no memory cgroup. Must be called within
    /// a tokio runtime.
    pub fn open(cg: &ContainerCgroup) -> io::Result<Option<OomWatch>> {
        let Some(dir) = cg.dir(Controller::Memory) else {
            return Ok(None);
        };
        let fd = if cg.is_v2() {
            // SAFETY: plain syscall with flag arguments.
            let fd = owned(unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) })?;
            let path = std::ffi::CString::new(
                dir.join("memory.events")
                    .into_os_string()
                    .into_encoded_bytes(),
            )
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in cgroup path"))?;
            // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
            let wd =
                unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) };
            if wd < 0 {
                return Err(io::Error::last_os_error());
            }
            fd
        } else {
            // SAFETY: plain syscall with flag arguments.
            let efd = owned(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
            let control = std::fs::File::open(dir.join("memory.oom_control"))?;
            let line = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
            std::fs::write(dir.join("cgroup.event_control"), line)?;
            efd
        };
        Ok(Some(OomWatch {
            fd: {
                // SAFETY: the OwnedFd is open and AsyncFd owns it from here on, so it stays
                // open (and is not replaced) while registered.
                unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            }?,
        }))
    }

    /// Resolves at the next event (and drains it).
    pub async fn next(&mut self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut buf = [0u8; 4096];
            // SAFETY: reads into a local buffer of the given length from an fd we own.
            let n = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(e);
            }
            guard.clear_ready();
        }
    }
}
