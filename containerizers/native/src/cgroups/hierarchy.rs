//! Which cgroup hierarchy the host has: v1 (controllers mounted one by one, maybe
//! beside an empty v2 tree) or v2 (one unified tree), read off `/proc/self/mountinfo`.
//!
//! ```text
//!   mountinfo ─▶ any v1 controller Drover uses mounted? ─▶ V1 { controller ─▶ mount }
//!             └▶ else a cgroup2 mount               ─▶ V2 { mount, cgroup.controllers }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A cgroup controller Drover uses, by its cgroup v1 name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    /// CPU shares and quota.
    Cpu,
    /// CPU accounting (v1 only; part of `cpu` on v2).
    Cpuacct,
    /// Memory limit and accounting.
    Memory,
    /// Process count limit.
    Pids,
    /// Freezing (v1 controller; a core feature on v2).
    Freezer,
}

impl Controller {
    /// The controller's name in `/proc/self/mountinfo` and `cgroup.controllers`.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
        }
    }

    pub(crate) const ALL: [Controller; 5] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Memory,
        Controller::Pids,
        Controller::Freezer,
    ];

    /// The v2 controller that provides this one; `None` for core features (freezer).
    pub(crate) fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Cpu | Controller::Cpuacct => Some("cpu"),
            Controller::Memory => Some("memory"),
            Controller::Pids => Some("pids"),
            Controller::Freezer => None,
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The cgroup hierarchy of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1: each controller mounted somewhere (several may share a mount).
    V1 {
        /// Mount point of each controller found.
        mounts: BTreeMap<Controller, PathBuf>,
    },
    /// cgroup v2 (unified): one tree.
    V2 {
        /// Its mount point.
        mount: PathBuf,
        /// Controllers offered at the mount point (`cgroup.controllers`), by v1 name;
        /// `cpuacct` and `freezer` are implied by `cpu` and by v2 itself.
        controllers: BTreeSet<Controller>,
    },
}

impl Hierarchy {
    /// Detects the host's hierarchy from `/proc/self/mountinfo` (and, on v2, the
    /// mount's `cgroup.controllers`).
    pub fn detect() -> io::Result<Hierarchy> {
        // cgroups-rs answers the host-level question (is /sys/fs/cgroup itself a
        // cgroup2 mount, i.e. a pure v2 host?) the same way its `hierarchies::auto()`
        // does; hybrid and v1 hosts are read off mountinfo below.
        let unified = Path::new(cgroups_rs::fs::hierarchies::UNIFIED_MOUNTPOINT);
        if cgroups_rs::fs::hierarchies::is_cgroup2_unified_mode() {
            return Hierarchy::v2_at(unified);
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        match Hierarchy::from_mountinfo(&mountinfo) {
            Some(Hierarchy::V2 { mount, .. }) => Hierarchy::v2_at(&mount),
            Some(h) => Ok(h),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no cgroup filesystem is mounted (see /proc/self/mountinfo)",
            )),
        }
    }

    /// A v2 hierarchy mounted at `mount`, with the controllers its root offers.
    pub fn v2_at(mount: &Path) -> io::Result<Hierarchy> {
        let text = std::fs::read_to_string(mount.join("cgroup.controllers"))?;
        let offered: BTreeSet<&str> = text.split_whitespace().collect();
        let controllers = Controller::ALL
            .into_iter()
            .filter(|c| c.v2_name().is_none_or(|n| offered.contains(n)))
            .collect();
        Ok(Hierarchy::V2 {
            mount: mount.to_path_buf(),
            controllers,
        })
    }

    /// Reads the hierarchy off the text of a mountinfo file. v1 wins when any v1
    /// controller Drover uses is mounted (hybrid hosts: v1 controllers with an empty
    /// v2 tree at `/sys/fs/cgroup/unified`); otherwise the first cgroup2 mount, with
    /// its controllers left empty (see [`Hierarchy::v2_at`]). `None` if neither.
    pub fn from_mountinfo(text: &str) -> Option<Hierarchy> {
        let mut v1 = BTreeMap::new();
        let mut v2 = None;
        for line in text.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let Some(mount_point) = left.split_whitespace().nth(4) else {
                continue;
            };
            let mut right = right.split_whitespace();
            let fstype = right.next();
            let super_opts = right.nth(1).unwrap_or("");
            match fstype {
                Some("cgroup") => {
                    for opt in super_opts.split(',') {
                        if let Some(c) = Controller::ALL.into_iter().find(|c| c.name() == opt) {
                            v1.entry(c).or_insert_with(|| unescape(mount_point));
                        }
                    }
                }
                Some("cgroup2") if v2.is_none() => v2 = Some(unescape(mount_point)),
                _ => {}
            }
        }
        if !v1.is_empty() {
            return Some(Hierarchy::V1 { mounts: v1 });
        }
        v2.map(|mount| Hierarchy::V2 {
            mount,
            controllers: BTreeSet::new(),
        })
    }

    /// True for cgroup v2.
    pub fn is_v2(&self) -> bool {
        matches!(self, Hierarchy::V2 { .. })
    }

    /// Why each of `wanted` cannot be used here (empty if all can).
    pub fn missing(&self, wanted: &BTreeSet<Controller>) -> Vec<String> {
        wanted
            .iter()
            .filter_map(|c| match self {
                Hierarchy::V1 { mounts } if !mounts.contains_key(c) => Some(format!(
                    "the cgroup v1 `{c}` controller is not mounted (see /proc/self/mountinfo)"
                )),
                Hierarchy::V2 { mount, controllers } if !controllers.contains(c) => Some(format!(
                    "the cgroup v2 hierarchy at {} does not offer the `{}` controller \
                     (see its cgroup.controllers)",
                    mount.display(),
                    c.v2_name().unwrap_or(c.name())
                )),
                _ => None,
            })
            .collect()
    }
}

/// Decodes the octal escapes (`\040` for a space) of a mountinfo path.
fn unescape(s: &str) -> PathBuf {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}
