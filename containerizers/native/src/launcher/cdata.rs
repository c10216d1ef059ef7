//! Everything the forked child needs, converted to C strings before the fork.
//!
//! The child of a multi-threaded process must not allocate (another thread may have
//! held the allocator's lock at the fork), so every path, argument and option is
//! turned into a `CString` here, in the parent, and the child only reads them.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::plan::MountOp;
use super::LaunchSpec;

/// A [`MountOp`] with C strings.
#[derive(Debug)]
pub(crate) enum COp {
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    Mkdir(CString),
    Touch(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    PivotRoot(CString),
}

/// Credentials to switch to.
#[derive(Debug)]
pub(crate) struct CCreds {
    pub(crate) uid: libc::uid_t,
    pub(crate) gid: libc::gid_t,
    pub(crate) groups: Vec<libc::gid_t>,
}

/// The launch spec in C form.
#[derive(Debug)]
pub(crate) struct CSpec {
    pub(crate) cgroup_procs: Vec<CString>,
    pub(crate) ops: Vec<COp>,
    pub(crate) hostname: Option<Vec<u8>>,
    pub(crate) loopback_up: bool,
    pub(crate) subreaper: bool,
    pub(crate) rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit)>,
    pub(crate) creds: Option<CCreds>,
    pub(crate) cwd: CString,
    pub(crate) program: CString,
    pub(crate) argv: Vec<CString>,
    pub(crate) envp: Vec<CString>,
}

/// A C string of `bytes`; `None` if they contain a NUL.
pub(crate) fn cstr(bytes: &[u8]) -> Option<CString> {
    CString::new(bytes).ok()
}

fn cpath(p: &Path) -> Result<CString, String> {
    cstr(p.as_os_str().as_bytes())
        .ok_or_else(|| format!("path {} contains a NUL byte", p.display()))
}

fn cop(op: &MountOp) -> Result<COp, String> {
    Ok(match op {
        MountOp::Mount {
            source,
            target,
            fstype,
            flags,
            data,
        } => COp::Mount {
            source: source.as_deref().map(cpath).transpose()?,
            target: cpath(target)?,
            fstype: fstype.and_then(|t| cstr(t.as_bytes())),
            flags: *flags,
            data: match data {
                Some(d) => Some(cstr(d.as_bytes()).ok_or("mount options contain a NUL byte")?),
                None => None,
            },
        },
        MountOp::Mkdir(p) => COp::Mkdir(cpath(p)?),
        MountOp::Touch(p) => COp::Touch(cpath(p)?),
        MountOp::Symlink { target, link } => COp::Symlink {
            target: cpath(target)?,
            link: cpath(link)?,
        },
        MountOp::PivotRoot(p) => COp::PivotRoot(cpath(p)?),
    })
}

impl CSpec {
    /// Converts `spec`; errs naming the string that holds a NUL byte.
    pub(crate) fn new(spec: &LaunchSpec) -> Result<CSpec, String> {
        let strings = |items: &[String], what: &str| -> Result<Vec<CString>, String> {
            items
                .iter()
                .map(|s| {
                    cstr(s.as_bytes()).ok_or_else(|| format!("{what} `{s}` contains a NUL byte"))
                })
                .collect()
        };
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(CSpec {
            cgroup_procs: spec
                .cgroup_procs
                .iter()
                .map(|p| cpath(p))
                .collect::<Result<_, _>>()?,
            ops: spec.fs.ops.iter().map(cop).collect::<Result<_, _>>()?,
            hostname: spec.hostname.as_ref().map(|h| h.as_bytes().to_vec()),
            loopback_up: spec.new_net,
            subreaper: !spec.new_pid,
            rlimits: spec
                .rlimits
                .iter()
                .map(|r| {
                    (
                        r.resource,
                        libc::rlimit {
                            rlim_cur: r.soft,
                            rlim_max: r.hard,
                        },
                    )
                })
                .collect(),
            creds: spec.user.as_ref().map(|u| CCreds {
                uid: u.uid,
                gid: u.gid,
                groups: u.groups.clone(),
            }),
            cwd: cpath(&spec.fs.cwd)?,
            program: cpath(&spec.program)?,
            argv: strings(&spec.argv, "argument")?,
            envp: strings(&env, "environment variable")?,
        })
    }
}
