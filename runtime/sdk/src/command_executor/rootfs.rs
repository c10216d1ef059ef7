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
//! reach the host's filesystem while the executor keeps it. Everything the forked
//! child uses is prepared before the fork ([`Entry`]): it only makes system calls.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use drover_containerizers::SANDBOX_IN_ROOTFS;
use nix::unistd::User;

/// What the task's child does before its exec, prepared in the executor.
#[derive(Debug)]
pub(crate) struct Entry {
    rootfs: CString,
    cwd: CString,
    /// `(uid, gid, groups)` to switch to after entering, if not the executor's.
    creds: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
}

fn cpath(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| format!("path {} contains a NUL byte", p.display()))
}

impl Entry {
    /// The entry into `rootfs` (a mount point, as the containerizer prepared it), as
    /// `user` if given. Errs if the rootfs is not there or the user is unknown.
    pub(crate) fn new(rootfs: &Path, user: Option<&str>) -> Result<Entry, String> {
        if !rootfs
            .join(SANDBOX_IN_ROOTFS.trim_start_matches('/'))
            .is_dir()
        {
            return Err(format!(
                "the task's root filesystem is not prepared at {} (no {SANDBOX_IN_ROOTFS} in it)",
                rootfs.display()
            ));
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
        Ok(Entry {
            rootfs: cpath(rootfs)?,
            cwd: cpath(&PathBuf::from(SANDBOX_IN_ROOTFS))?,
            creds,
        })
    }

    /// Enters the rootfs: to be called in the forked child before its exec.
    ///
    /// # Safety
    /// Only in a forked child (it changes the process's mount namespace and root);
    /// makes no allocation and takes no lock.
    pub(crate) unsafe fn enter(&self) -> io::Result<()> {
        let ok = |ret: libc::c_long| {
            if ret < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        // SAFETY: system calls on NUL-terminated strings and a slice owned by `self`.
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
            ok(libc::chdir(self.rootfs.as_ptr()).into())?;
            ok(libc::syscall(
                libc::SYS_pivot_root,
                c".".as_ptr(),
                c".".as_ptr(),
            ))?;
            ok(libc::umount2(c".".as_ptr(), libc::MNT_DETACH).into())?;
            ok(libc::chdir(self.cwd.as_ptr()).into())?;
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
