//! Control groups: which hierarchy the host has (v1 or v2), where a container's
//! cgroups live, and the file reads and writes the isolators need.
//!
//! ```text
//!   /proc/self/mountinfo ──parse──▶ Hierarchy::V1 { controller ─▶ mount point }
//!                                   Hierarchy::V2 { mount point, controllers }
//!   Cgroups { hierarchy, root: "drover" }
//!     .container(id) ─▶ ContainerCgroup
//!          v1: <cpu mount>/drover/<id>, <memory mount>/drover/<id>, ... (+ freezer)
//!          v2: <mount>/drover/<id>          (controllers enabled in the ancestors)
//! ```
//!
//! Everything takes root paths: unit tests lay out a temporary directory like
//! cgroupfs and run the v1 and v2 code paths against it. The helper functions that
//! do I/O are small; decisions (paths, values) are pure.

mod hierarchy;
pub mod kill;
pub mod oom;
pub mod values;

pub use hierarchy::{Controller, Hierarchy};

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// Where Drover's cgroups live: `<hierarchy>/<root>/<container id>`.
#[derive(Clone, Debug)]
pub struct Cgroups {
    hierarchy: Hierarchy,
    root: PathBuf,
    controllers: BTreeSet<Controller>,
}

impl Cgroups {
    /// Drover's cgroups under `root` (relative to each hierarchy's mount, e.g.
    /// `drover`) using `controllers`. Errs with the reasons if some are missing.
    pub fn new(
        hierarchy: Hierarchy,
        root: impl Into<PathBuf>,
        controllers: BTreeSet<Controller>,
    ) -> Result<Self, Vec<String>> {
        let missing = hierarchy.missing(&controllers);
        if !missing.is_empty() {
            return Err(missing);
        }
        let root: PathBuf = root.into();
        let root = root
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        Ok(Cgroups {
            hierarchy,
            root,
            controllers,
        })
    }

    /// The hierarchy.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The directories holding Drover's containers: one per distinct v1 mount, or the
    /// single v2 one.
    pub fn root_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = match &self.hierarchy {
            Hierarchy::V1 { mounts } => self
                .controllers
                .iter()
                .filter_map(|c| mounts.get(c))
                .map(|m| m.join(&self.root))
                .collect(),
            Hierarchy::V2 { mount, .. } => vec![mount.join(&self.root)],
        };
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// Creates the root directories; on v2 also enables the needed controllers in
    /// `cgroup.subtree_control` from the mount down to the root, so that containers'
    /// cgroups get their files.
    pub fn ensure_root(&self) -> io::Result<()> {
        for dir in self.root_dirs() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| annotate(e, "cannot create cgroup directory", &dir))?;
        }
        if let Hierarchy::V2 { mount, .. } = &self.hierarchy {
            let enable: BTreeSet<&str> = self
                .controllers
                .iter()
                .filter_map(|c| c.v2_name())
                .collect();
            let line: Vec<String> = enable.iter().map(|n| format!("+{n}")).collect();
            let mut dir = mount.clone();
            let mut parents = vec![dir.clone()];
            for part in self.root.components() {
                dir.push(part);
                parents.push(dir.clone());
            }
            for parent in parents {
                if !line.is_empty() {
                    let file = parent.join("cgroup.subtree_control");
                    std::fs::write(&file, line.join(" "))
                        .map_err(|e| annotate(e, "cannot enable cgroup v2 controllers", &file))?;
                }
            }
        }
        Ok(())
    }

    /// The cgroup of container `id` (a path-safe id). Pure path math: nothing is
    /// created.
    pub fn container(&self, id: &str) -> ContainerCgroup {
        let dirs = match &self.hierarchy {
            Hierarchy::V1 { mounts } => self
                .controllers
                .iter()
                .filter_map(|c| Some((*c, mounts.get(c)?.join(&self.root).join(id))))
                .collect(),
            Hierarchy::V2 { mount, .. } => {
                let dir = mount.join(&self.root).join(id);
                self.controllers.iter().map(|c| (*c, dir.clone())).collect()
            }
        };
        ContainerCgroup {
            v2: self.hierarchy.is_v2(),
            dirs,
        }
    }

    /// Names of the container cgroups present under the root, in any hierarchy.
    pub fn list(&self) -> io::Result<BTreeSet<String>> {
        let mut ids = BTreeSet::new();
        for dir in self.root_dirs() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(annotate(e, "cannot list cgroups", &dir)),
            };
            for entry in entries {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    if let Some(name) = entry.file_name().to_str() {
                        ids.insert(name.to_owned());
                    }
                }
            }
        }
        Ok(ids)
    }
}

/// The cgroup directories of one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerCgroup {
    v2: bool,
    dirs: BTreeMap<Controller, PathBuf>,
}

impl ContainerCgroup {
    /// True on cgroup v2.
    pub fn is_v2(&self) -> bool {
        self.v2
    }

    /// The directory of `controller`, if it is used.
    pub fn dir(&self, controller: Controller) -> Option<&Path> {
        self.dirs.get(&controller).map(PathBuf::as_path)
    }

    /// Every distinct directory (v1: one per mount; v2: one).
    pub fn all_dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = self.dirs.values().map(PathBuf::as_path).collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// The `cgroup.procs` files a process writes `0` to in order to join every
    /// hierarchy.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.all_dirs()
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// The directory whose `cgroup.procs` lists every process of the container (the
    /// freezer's on v1).
    pub fn procs_dir(&self) -> Option<&Path> {
        self.dir(Controller::Freezer)
    }

    /// Creates the directories (an existing one is fine).
    pub fn create(&self) -> io::Result<()> {
        for dir in self.all_dirs() {
            match std::fs::create_dir(dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(annotate(e, "cannot create cgroup", dir))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// True if any directory exists.
    pub fn exists(&self) -> bool {
        self.all_dirs().iter().any(|d| d.is_dir())
    }

    /// Reads `file` of `controller`'s directory.
    pub fn read(&self, controller: Controller, file: &str) -> io::Result<String> {
        let path = self.file(controller, file)?;
        std::fs::read_to_string(&path).map_err(|e| annotate(e, "cannot read cgroup file", &path))
    }

    /// Writes `value` to `file` of `controller`'s directory.
    pub fn write(&self, controller: Controller, file: &str, value: &str) -> io::Result<()> {
        let path = self.file(controller, file)?;
        std::fs::write(&path, value)
            .map_err(|e| annotate(e, &format!("cannot write `{value}` to"), &path))
    }

    fn file(&self, controller: Controller, file: &str) -> io::Result<PathBuf> {
        self.dir(controller).map(|d| d.join(file)).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("the `{controller}` controller is not used by this containerizer"),
            )
        })
    }

    /// The pids of the container's processes (none if its cgroup is gone).
    pub fn pids(&self) -> io::Result<Vec<i32>> {
        let Some(dir) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        match std::fs::read_to_string(dir.join("cgroup.procs")) {
            Ok(text) => Ok(values::parse_pids(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(annotate(e, "cannot read cgroup.procs", dir)),
        }
    }

    /// Number of threads of the container's processes.
    pub fn thread_count(&self) -> io::Result<usize> {
        let Some(dir) = self.procs_dir() else {
            return Ok(0);
        };
        let file = if self.v2 { "cgroup.threads" } else { "tasks" };
        match std::fs::read_to_string(dir.join(file)) {
            Ok(text) => Ok(values::parse_pids(&text).len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(annotate(e, "cannot read the cgroup's threads", dir)),
        }
    }
}

/// `e` with what was being done and the path in its message.
pub(crate) fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
