//! Can the native containerizer run on this host? The agent asks at start-up and
//! falls back to posix, with a loud warning naming what is missing, when it cannot.
//!
//! ```text
//!   probe(isolation) ─┬─ root?                                  (needs CAP_SYS_ADMIN etc.)
//!                     ├─ cgroup hierarchy detected? v1 / v2
//!                     ├─ controllers of the isolation present?  (cpu, memory, pids, freezer)
//!                     ├─ overlayfs known to the kernel?         (filesystem/linux)
//!                     └─ can a child be cloned into new namespaces? (tried for real)
//!                     ─▶ Ok(hierarchy) | Err(reasons)
//! ```

use crate::cgroups::Hierarchy;
use crate::isolation::{Isolation, IsolatorName};

/// Checks that the native containerizer can run here with `isolation`. `Ok` carries
/// the detected cgroup hierarchy; `Err` lists every missing piece, in words meant for
/// the operator.
pub fn probe(isolation: &Isolation) -> Result<Hierarchy, Vec<String>> {
    let mut missing = Vec::new();
    let euid = nix::unistd::Uid::effective();
    if !euid.is_root() {
        missing.push(format!(
            "the agent runs as uid {euid}, not root: namespaces, mounts and cgroups need root"
        ));
    }
    let hierarchy = match Hierarchy::detect() {
        Ok(h) => {
            missing.extend(h.missing(&isolation.controllers()));
            Some(h)
        }
        Err(e) => {
            missing.push(format!("no usable cgroup hierarchy: {e}"));
            None
        }
    };
    if isolation.has(IsolatorName::FilesystemLinux) {
        let known = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        if !known.split_whitespace().any(|w| w == "overlay") {
            missing.push(
                "filesystem/linux needs overlayfs, which this kernel does not list in \
                 /proc/filesystems (try `modprobe overlay`)"
                    .into(),
            );
        }
    }
    if missing.is_empty() {
        if let Err(e) = try_namespaces(isolation.has(IsolatorName::NetworkNone)) {
            missing.push(format!(
                "cannot create pid, mount, uts and ipc namespaces: {e}"
            ));
        }
    }
    match (missing.is_empty(), hierarchy) {
        (true, Some(h)) => Ok(h),
        _ => Err(missing),
    }
}

/// Clones a child into the namespaces the launcher uses; it exits at once.
fn try_namespaces(net: bool) -> std::io::Result<()> {
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWPID;
    if net {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: fork semantics (no CLONE_VM); the child only calls _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) }
    }
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let pid = nix::unistd::Pid::from_raw(pid as libc::pid_t);
    nix::sys::wait::waitpid(pid, None).map_err(std::io::Error::from)?;
    Ok(())
}
