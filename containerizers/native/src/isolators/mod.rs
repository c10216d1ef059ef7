//! The isolators: one module each, run in the agent's `--isolation` order.
//!
//! ```text
//!   recover ─▶ prepare ─▶ isolate(pid) ─▶ update / usage ─▶ cleanup
//!   (cgroup     (validate,   (init joins the    (cgroup files)   (the container's
//!    manager)    write        prepared cgroups                    cgroups removed
//!                limits,      itself before                       together once its
//!                plan)        anything runs)                      tree is dead)
//! ```
//!
//! `prepare` checks the container's config against the isolator, writes its cgroup
//! limits, and adds what the launcher must do ([`Prepared`]: namespaces, mounts,
//! rlimits). Recovery and clean-up concern a container's cgroups as a whole, so the
//! containerizer does them for every cgroup isolator at once
//! ([`Cgroups::list`](crate::cgroups::Cgroups::list),
//! [`kill::remove`](crate::cgroups::kill::remove)); isolators hold no per-container
//! state of their own (everything is in cgroupfs or in the container's record).

mod cpu;
pub(crate) mod filesystem;
mod mem;
mod namespaces;
mod pids;
mod rlimits;

use std::fmt;
use std::io;

use drover_containerizers::{ContainerConfig, Limits, ResourceStatistics};

use crate::cgroups::ContainerCgroup;
use crate::isolation::{Isolation, IsolatorName};
use crate::launcher::plan::{FsSpec, RootfsSpec};
use crate::launcher::Rlimit;
use crate::options::ContainerOptions;

/// What the isolators decide the launcher must do for one container.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    /// New pid namespace (and private `/proc`).
    pub(crate) new_pid: bool,
    /// New network namespace with loopback only.
    pub(crate) new_net: bool,
    /// The container's filesystem.
    pub(crate) fs: FsSpec,
    /// Resource limits for the main process.
    pub(crate) rlimits: Vec<Rlimit>,
}

/// What `prepare` sees of the container.
#[derive(Debug)]
pub(crate) struct PrepareCtx<'a> {
    pub(crate) config: &'a ContainerConfig,
    pub(crate) options: &'a ContainerOptions,
    pub(crate) cgroup: &'a ContainerCgroup,
    /// The overlay of the container's image, when it has one (resolved beforehand).
    pub(crate) rootfs: Option<RootfsSpec>,
}

/// One isolator.
pub(crate) trait Isolator: Send + Sync + fmt::Debug {
    /// Its name.
    fn name(&self) -> IsolatorName;

    /// Checks the config (an `Err` message refuses the launch) and sets the container
    /// up: writes cgroup limits, adds to `out`.
    fn prepare(&self, ctx: &PrepareCtx<'_>, out: &mut Prepared) -> Result<(), String>;

    /// Applies new limits to a running container.
    fn update(&self, _cgroup: &ContainerCgroup, _limits: &Limits) -> io::Result<()> {
        Ok(())
    }

    /// Adds what it measures to `stats` (`limits`: the container's current ones).
    fn usage(
        &self,
        _cgroup: &ContainerCgroup,
        _limits: &Limits,
        _stats: &mut ResourceStatistics,
    ) -> io::Result<()> {
        Ok(())
    }
}

/// The isolators of `isolation`, in [`IsolatorName::ALL`] order.
pub(crate) fn build(
    isolation: &Isolation,
    cfs: bool,
    pids_max: Option<u64>,
) -> Vec<Box<dyn Isolator>> {
    isolation
        .names()
        .map(|name| -> Box<dyn Isolator> {
            match name {
                IsolatorName::CgroupsCpu => Box::new(cpu::CpuIsolator { cfs }),
                IsolatorName::CgroupsMem => Box::new(mem::MemIsolator),
                IsolatorName::CgroupsPids => Box::new(pids::PidsIsolator {
                    default_max: pids_max,
                }),
                IsolatorName::NamespacesPid => Box::new(namespaces::PidNamespace),
                IsolatorName::NetworkNone => Box::new(namespaces::NetworkNone),
                IsolatorName::FilesystemLinux => Box::new(filesystem::FilesystemLinux),
                IsolatorName::PosixRlimits => Box::new(rlimits::PosixRlimits),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
