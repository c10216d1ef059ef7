//! Starting the task inside its image's root filesystem, as Mesos's
//! `mesos-containerizer launch --rootfs` does.
//!
//! The native containerizer (option `image_for=task`) runs the command executor in the
//! container's namespaces and cgroups but on the host's filesystem (the executor is
//! linked against the host's libraries), with the task's rootfs mounted and ready at
//! `$DROVER_ROOTFS`: overlay on the image, private `/proc`, minimal `/dev`, the sandbox
//! at `/mnt/sandbox`, volumes. Only the task's process enters it:
//!
//! ```text
//!   executor (host fs, container's mount ns)
//!     fork ─▶ unshare(NEWNS) ─▶ / rprivate ─▶ chdir(rootfs) ─▶ pivot_root(".", ".")
//!          ─▶ umount2(old root, DETACH) ─▶ chdir(/mnt/sandbox) ─▶ user ─▶ execvp
//! ```
//!
//! The old root is detached in the task's own mount namespace, so the task cannot
//! reach the host's filesystem while the executor keeps it.
//!
//! The network works the same way (native `network/none` with `network_for=task`,
//! `DROVER_NETWORK_NONE=1`): the executor stays in the host's network namespace, where
//! it reaches its agent, and the task's child first `unshare`s `CLONE_NEWNET` and
//! brings `lo` up ([`Net::New`]); a COMMAND health check joins the task's namespace
//! instead ([`Net::Join`]). The network comes first, while the child still has the
//! executor's privileges, then the rootfs, then the user.
//!
//! Everything the forked child uses is prepared before the fork ([`Entry`]): it only
//! makes system calls.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use drover_containerizers::SANDBOX_IN_ROOTFS;
use nix::unistd::User;

/// The network namespace a task's (or a check's) child runs in.
#[derive(Debug)]
pub(crate) enum Net {
    /// The executor's own.
    Inherit,
    /// A new one with only `lo`, brought up.
    New,
    /// The one this file (`/proc/<task pid>/ns/net`, opened close-on-exec) refers to.
    Join(OwnedFd),
}

/// What the task's child does before its exec, prepared in the executor.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The rootfs to `pivot_root` into and the directory to start in there.
    rootfs: Option<(CString, CString)>,
    net: Net,
    /// `(uid, gid, groups)` to switch to after entering, if not the executor's.
    creds: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
}

fn cpath(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| format!("path {} contains a NUL byte", p.display()))
}

impl Entry {
    /// The entry into network `net` and `rootfs` (a mount point, as the containerizer
    /// prepared it), as `user` if given. Errs if the rootfs is not there or the user is
    /// unknown.
    pub(crate) fn new(
        rootfs: Option<&Path>,
        net: Net,
        user: Option<&str>,
    ) -> Result<Entry, String> {
        if let Some(rootfs) = rootfs {
            if !rootfs
                .join(SANDBOX_IN_ROOTFS.trim_start_matches('/'))
                .is_dir()
            {
                return Err(format!(
                    "the task's root filesystem is not prepared at {} (no {SANDBOX_IN_ROOTFS} in it)",
                    rootfs.display()
                ));
            }
        }
        let creds = match user {
            None => None,
            Some(name) => {
                let u = User::from_name(name)
                    .map_err(|e| format!("cannot look up user {name:?}: {e}"))?
                    .ok_or_else(|| format!("no such user {name:?}"))?;
                if u.uid == nix::unistd::geteuid() {
                    None
                } else {
                    let cname = CString::new(name)
                        .map_err(|_| format!("user name {name:?} contains a NUL byte"))?;
                    let groups = nix::unistd::getgrouplist(&cname, u.gid)
                        .map_err(|e| format!("cannot list the groups of {name:?}: {e}"))?;
                    Some((
                        u.uid.as_raw(),
                        u.gid.as_raw(),
                        groups.into_iter().map(|g| g.as_raw()).collect(),
                    ))
                }
            }
        };
        let rootfs = match rootfs {
            Some(r) => Some((cpath(r)?, cpath(&PathBuf::from(SANDBOX_IN_ROOTFS))?)),
            None => None,
        };
        Ok(Entry { rootfs, net, creds })
    }

    /// Enters the network namespace, the rootfs and the user: to be called in the
    /// forked child before its exec.
    ///
    /// # Safety
    /// Only in a forked child (it changes the process's namespaces and root); makes no
    /// allocation and takes no lock.
    pub(crate) unsafe fn enter(&self) -> io::Result<()> {
        // SAFETY: system calls on a descriptor, NUL-terminated strings and a slice
        // owned by `self`.
        unsafe {
            match &self.net {
                Net::Inherit => {}
                Net::New => {
                    ok(libc::unshare(libc::CLONE_NEWNET).into())?;
                    loopback_up()?;
                }
                Net::Join(fd) => ok(libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET).into())?,
            }
            if let Some((rootfs, cwd)) = &self.rootfs {
                enter_rootfs(rootfs, cwd)?;
            }
            if let Some((uid, gid, groups)) = &self.creds {
                // Raw system calls: glibc's wrappers would signal threads that the
                // fork did not copy.
                ok(libc::syscall(
                    libc::SYS_setgroups,
                    groups.len(),
                    groups.as_ptr(),
                ))?;
                ok(libc::syscall(libc::SYS_setresgid, *gid, *gid, *gid))?;
                ok(libc::syscall(libc::SYS_setresuid, *uid, *uid, *uid))?;
            }
        }
        Ok(())
    }
}

fn ok(ret: libc::c_long) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `pivot_root`s into `rootfs` in a new mount namespace and changes to `cwd` there.
///
/// # Safety
/// As [`Entry::enter`].
unsafe fn enter_rootfs(rootfs: &CString, cwd: &CString) -> io::Result<()> {
    // SAFETY: system calls on NUL-terminated strings owned by the caller.
    unsafe {
        ok(libc::unshare(libc::CLONE_NEWNS).into())?;
        ok(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
        .into())?;
        ok(libc::chdir(rootfs.as_ptr()).into())?;
        ok(libc::syscall(
            libc::SYS_pivot_root,
            c".".as_ptr(),
            c".".as_ptr(),
        ))?;
        ok(libc::umount2(c".".as_ptr(), libc::MNT_DETACH).into())?;
        ok(libc::chdir(cwd.as_ptr()).into())?;
    }
    Ok(())
}

/// Brings the (new) network namespace's loopback interface up.
///
/// # Safety
/// As [`Entry::enter`].
unsafe fn loopback_up() -> io::Result<()> {
    // SAFETY: socket/ioctl on a zeroed ifreq naming "lo".
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let result = ok(libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut ifr).into()).and_then(|()| {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            ok(libc::ioctl(sock, libc::SIOCSIFFLAGS, &ifr).into())
        });
        libc::close(sock);
        result
    }
}
