//! The container's filesystem as a list of mount operations, decided before the fork.
//!
//! ```text
//!   no rootfs:  / rprivate ─▶ proc on /proc (new pid ns) ─▶ volumes ─▶ cwd = sandbox
//!   rootfs:     / rprivate ─▶ overlay(lower = image, upper/work in the runtime dir) on
//!               <merged> ─▶ proc, sysfs (ro), minimal /dev (tmpfs + binds of null, zero,
//!               random, urandom, tty; shm; fd symlinks) ─▶ sandbox at /mnt/sandbox ─▶
//!               volumes (ro: bind + remount ro) ─▶ executor binary (ro, same path) ─▶
//!               pivot_root(<merged>) ─▶ cwd = /mnt/sandbox
//!   rootfs for the task only (`RootfsSpec::enter` false: the command executor's case):
//!               the same mounts up to the volumes, then proc on the host's /proc (new pid
//!               ns); no pivot_root: the main process stays on the host's filesystem with
//!               cwd = sandbox and starts its task inside <merged> (see `enter_rootfs`
//!               in drover-sdk's command executor)
//! ```
//!
//! Pure but for one check (without a rootfs, an absolute volume target must exist on
//! the host): [`build`] turns a [`FsSpec`] into [`MountOp`]s that the launcher's child runs
//! one by one (reporting the index of the one that failed, which [`MountOp::describe`]
//! turns into a message). Every mount is made in the container's own mount namespace
//! after `/` was made private, so nothing leaks to the host and nothing needs
//! unmounting: the mounts vanish with the namespace.

use std::path::{Component, Path, PathBuf};

/// Where the sandbox appears inside a container with its own root filesystem.
pub const SANDBOX_IN_CONTAINER: &str = drover_containerizers::SANDBOX_IN_ROOTFS;
/// Device nodes bound from the host into a rootfs's `/dev`.
pub const DEVICES: [&str; 5] = ["null", "zero", "random", "urandom", "tty"];

/// One step of setting up the container's filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountOp {
    /// `mount(source, target, fstype, flags, data)`.
    Mount {
        /// Source (a path, or a name like `proc`); `None` for propagation changes and
        /// remounts.
        source: Option<PathBuf>,
        /// Mount point.
        target: PathBuf,
        /// Filesystem type, if one is mounted.
        fstype: Option<&'static str>,
        /// `MS_*` flags.
        flags: libc::c_ulong,
        /// Filesystem options.
        data: Option<String>,
    },
    /// `mkdir(path, 0755)`; an existing directory is fine.
    Mkdir(PathBuf),
    /// Creates an empty file if missing (a mount point for a file).
    Touch(PathBuf),
    /// `symlink(target, link)`; an existing link is fine.
    Symlink {
        /// What the link points to.
        target: PathBuf,
        /// The link.
        link: PathBuf,
    },
    /// `pivot_root` into this directory and detach the old root.
    PivotRoot(PathBuf),
}

impl MountOp {
    /// What the step does, for error messages.
    pub fn describe(&self) -> String {
        match self {
            MountOp::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => {
                let what = match (fstype, source) {
                    (Some("overlay"), _) => format!("overlay ({})", data.as_deref().unwrap_or("")),
                    (Some(t), _) => (*t).to_owned(),
                    (None, Some(s)) => format!("bind of {}", s.display()),
                    (None, None) if flags & libc::MS_REMOUNT != 0 => "read-only remount".into(),
                    (None, None) => "mount propagation change".into(),
                };
                format!("mount {what} at {}", target.display())
            }
            MountOp::Mkdir(p) => format!("create directory {}", p.display()),
            MountOp::Touch(p) => format!("create mount point {}", p.display()),
            MountOp::Symlink { target, link } => {
                format!("symlink {} -> {}", link.display(), target.display())
            }
            MountOp::PivotRoot(p) => format!("pivot_root into {}", p.display()),
        }
    }
}

/// The directories of a container's overlay root filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootfsSpec {
    /// The image's unpacked root filesystem (read-only lower layer).
    pub lower: PathBuf,
    /// Writable upper layer (per container).
    pub upper: PathBuf,
    /// Overlay work directory (same filesystem as `upper`).
    pub work: PathBuf,
    /// Where the overlay is mounted (and pivoted into, if `enter`).
    pub merged: PathBuf,
    /// The main process `pivot_root`s into the rootfs (the image is the whole
    /// container's). `false`: the image is its task's; the main process stays on the
    /// host's filesystem and finds the prepared rootfs at `merged`.
    pub enter: bool,
}

/// A host path to bind into the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindSpec {
    /// Host path (exists; checked before planning).
    pub host: PathBuf,
    /// Path in the container: absolute, or relative to the sandbox.
    pub container: PathBuf,
    /// Remounted read-only.
    pub read_only: bool,
    /// The host path is a directory (else a file).
    pub is_dir: bool,
}

/// What the container's filesystem should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsSpec {
    /// Its own root filesystem, if any.
    pub rootfs: Option<RootfsSpec>,
    /// The sandbox (host path).
    pub sandbox: PathBuf,
    /// Volumes, then the executor binary (read-only, at its host path).
    pub binds: Vec<BindSpec>,
    /// Mount a fresh `/proc` (the container has its own pid namespace).
    pub private_proc: bool,
}

/// The steps, and the working directory inside the container once they ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsPlan {
    /// Steps in order.
    pub ops: Vec<MountOp>,
    /// Working directory of the main process, as seen inside the container.
    pub cwd: PathBuf,
}

/// Why a spec cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A container path leaves its root (`..`) or is empty.
    #[error("container path `{0}` must not be empty or contain `..`")]
    BadContainerPath(PathBuf),
    /// Without a root filesystem, an absolute container path must already exist on the
    /// host (the containerizer does not create directories in the host's tree).
    #[error(
        "container path `{0}` does not exist; without an image, absolute container paths \
         must exist on the host (or use a path relative to the sandbox)"
    )]
    NoMountPoint(PathBuf),
    /// Overlay options cannot carry these characters.
    #[error("path `{0}` contains `,` or `:`, which overlay mount options cannot carry")]
    OverlayPath(PathBuf),
}

const MS_PRIVATE_REC: libc::c_ulong = libc::MS_PRIVATE | libc::MS_REC;
const MS_SAFE: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

fn mount(
    source: &str,
    target: PathBuf,
    fstype: &'static str,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> MountOp {
    MountOp::Mount {
        source: Some(source.into()),
        target,
        fstype: Some(fstype),
        flags,
        data: data.map(str::to_owned),
    }
}

/// `rel` (normal components only) under `base`.
fn under(base: &Path, rel: &Path) -> Result<PathBuf, PlanError> {
    let mut out = base.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(PlanError::BadContainerPath(rel.to_path_buf()))
            }
        }
    }
    if out == base && rel.as_os_str().is_empty() {
        return Err(PlanError::BadContainerPath(rel.to_path_buf()));
    }
    Ok(out)
}

/// `Mkdir` for `path` and each of its ancestors below `base`.
fn mkdir_all(ops: &mut Vec<MountOp>, base: &Path, path: &Path) {
    let Ok(rel) = path.strip_prefix(base) else {
        return;
    };
    let mut dir = base.to_path_buf();
    for c in rel.components() {
        dir.push(c);
        ops.push(MountOp::Mkdir(dir.clone()));
    }
}

/// Bind `host` at `target` (creating the mount point below `base`), read-only if asked.
fn bind(ops: &mut Vec<MountOp>, base: &Path, b: &BindSpec, target: PathBuf, create: bool) {
    if create {
        if b.is_dir {
            mkdir_all(ops, base, &target);
        } else {
            if let Some(parent) = target.parent() {
                mkdir_all(ops, base, parent);
            }
            ops.push(MountOp::Touch(target.clone()));
        }
    }
    // Read-only binds are not recursive, so no writable submount shows through.
    let rec = if b.read_only { 0 } else { libc::MS_REC };
    ops.push(MountOp::Mount {
        source: Some(b.host.clone()),
        target: target.clone(),
        fstype: None,
        flags: libc::MS_BIND | rec,
        data: None,
    });
    if b.read_only {
        ops.push(MountOp::Mount {
            source: None,
            target,
            fstype: None,
            flags: libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
            data: None,
        });
    }
}

/// Plans the container's filesystem.
pub fn build(spec: &FsSpec) -> Result<FsPlan, PlanError> {
    let mut ops = vec![MountOp::Mount {
        source: None,
        target: "/".into(),
        fstype: None,
        flags: MS_PRIVATE_REC,
        data: None,
    }];
    let Some(root) = &spec.rootfs else {
        if spec.private_proc {
            ops.push(mount("proc", "/proc".into(), "proc", MS_SAFE, None));
        }
        for b in &spec.binds {
            let (target, create) = if b.container.is_absolute() {
                let target = under(Path::new("/"), &b.container)?;
                if !target.exists() {
                    return Err(PlanError::NoMountPoint(target));
                }
                (target, false)
            } else {
                (under(&spec.sandbox, &b.container)?, true)
            };
            bind(&mut ops, &spec.sandbox, b, target, create);
        }
        return Ok(FsPlan {
            ops,
            cwd: spec.sandbox.clone(),
        });
    };

    for p in [&root.lower, &root.upper, &root.work] {
        if p.to_string_lossy().contains([',', ':']) {
            return Err(PlanError::OverlayPath(p.clone()));
        }
    }
    let m = &root.merged;
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        root.lower.display(),
        root.upper.display(),
        root.work.display()
    );
    ops.push(mount("overlay", m.clone(), "overlay", 0, Some(&data)));
    ops.push(MountOp::Mkdir(m.join("proc")));
    ops.push(mount("proc", m.join("proc"), "proc", MS_SAFE, None));
    ops.push(MountOp::Mkdir(m.join("sys")));
    ops.push(mount(
        "sysfs",
        m.join("sys"),
        "sysfs",
        MS_SAFE | libc::MS_RDONLY,
        None,
    ));
    let dev = m.join("dev");
    ops.push(MountOp::Mkdir(dev.clone()));
    ops.push(mount(
        "tmpfs",
        dev.clone(),
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("mode=755,size=64k"),
    ));
    for name in DEVICES {
        ops.push(MountOp::Touch(dev.join(name)));
        ops.push(MountOp::Mount {
            source: Some(Path::new("/dev").join(name)),
            target: dev.join(name),
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
        });
    }
    ops.push(MountOp::Mkdir(dev.join("shm")));
    ops.push(mount(
        "tmpfs",
        dev.join("shm"),
        "tmpfs",
        MS_SAFE,
        Some("mode=1777"),
    ));
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(MountOp::Symlink {
            target: target.into(),
            link: dev.join(link),
        });
    }
    let sandbox_in = under(m, Path::new(SANDBOX_IN_CONTAINER))?;
    let sandbox = BindSpec {
        host: spec.sandbox.clone(),
        container: SANDBOX_IN_CONTAINER.into(),
        read_only: false,
        is_dir: true,
    };
    bind(&mut ops, m, &sandbox, sandbox_in.clone(), true);
    for b in &spec.binds {
        let target = if b.container.is_absolute() {
            under(m, &b.container)?
        } else {
            under(&sandbox_in, &b.container)?
        };
        bind(&mut ops, m, b, target, true);
    }
    if !root.enter {
        if spec.private_proc {
            ops.push(mount("proc", "/proc".into(), "proc", MS_SAFE, None));
        }
        return Ok(FsPlan {
            ops,
            cwd: spec.sandbox.clone(),
        });
    }
    ops.push(MountOp::PivotRoot(m.clone()));
    Ok(FsPlan {
        ops,
        cwd: SANDBOX_IN_CONTAINER.into(),
    })
}

#[cfg(test)]
mod tests;
