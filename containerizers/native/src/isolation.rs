//! The agent's `--isolation` list: which isolators the native containerizer runs.
//!
//! ```text
//!   "cgroups/cpu,cgroups/mem,namespaces/pid"  ──parse──▶  Isolation { cpu, mem, pid ns }
//!   "cgroups/cpu,cgroups/gpu"                 ──parse──▶  Err: unknown isolator `cgroups/gpu`;
//!                                                              valid: cgroups/cpu, cgroups/mem, ...
//! ```
//!
//! Pure: parsing, defaults, and which cgroup controllers a list needs (so that the
//! agent can tell at start-up whether the kernel supports it).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::cgroups::Controller;

/// One isolator of the native containerizer (Mesos's names where Mesos has one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IsolatorName {
    /// `cgroups/cpu`: CPU shares (v2: `cpu.weight`), CFS quota when enabled, CPU time.
    CgroupsCpu,
    /// `cgroups/mem`: hard memory limit, OOM detection, memory usage.
    CgroupsMem,
    /// `cgroups/pids`: a limit on the number of processes and threads.
    CgroupsPids,
    /// `namespaces/pid`: a new pid namespace with a private `/proc`.
    NamespacesPid,
    /// `filesystem/linux`: container root filesystems (images) and host-path volumes.
    FilesystemLinux,
    /// `posix/rlimits`: resource limits (`setrlimit`) from the container's options.
    PosixRlimits,
    /// `network/none`: a new network namespace with only a loopback interface.
    NetworkNone,
}

impl IsolatorName {
    /// Every isolator, in the order they are listed to users.
    pub const ALL: [IsolatorName; 7] = [
        IsolatorName::CgroupsCpu,
        IsolatorName::CgroupsMem,
        IsolatorName::CgroupsPids,
        IsolatorName::NamespacesPid,
        IsolatorName::FilesystemLinux,
        IsolatorName::PosixRlimits,
        IsolatorName::NetworkNone,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            IsolatorName::CgroupsCpu => "cgroups/cpu",
            IsolatorName::CgroupsMem => "cgroups/mem",
            IsolatorName::CgroupsPids => "cgroups/pids",
            IsolatorName::NamespacesPid => "namespaces/pid",
            IsolatorName::FilesystemLinux => "filesystem/linux",
            IsolatorName::PosixRlimits => "posix/rlimits",
            IsolatorName::NetworkNone => "network/none",
        }
    }

    /// The cgroup controllers this isolator writes to (cgroup v1 names; on v2 `cpuacct`
    /// is part of `cpu`).
    pub fn controllers(self) -> &'static [Controller] {
        match self {
            IsolatorName::CgroupsCpu => &[Controller::Cpu, Controller::Cpuacct],
            IsolatorName::CgroupsMem => &[Controller::Memory],
            IsolatorName::CgroupsPids => &[Controller::Pids],
            _ => &[],
        }
    }
}

impl fmt::Display for IsolatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An isolator name that is not one of [`IsolatorName::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown isolator `{name}` in --isolation; valid isolators: {valid}")]
pub struct UnknownIsolator {
    /// The name given.
    pub name: String,
    /// The valid names, comma-separated.
    pub valid: String,
}

impl FromStr for IsolatorName {
    type Err = UnknownIsolator;
    fn from_str(s: &str) -> Result<Self, UnknownIsolator> {
        IsolatorName::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownIsolator {
                name: s.to_owned(),
                valid: IsolatorName::ALL.map(IsolatorName::as_str).join(", "),
            })
    }
}

/// The set of isolators an agent runs. Launcher basics are always on: new mount, uts
/// and ipc namespaces, a pid-1 init of our own, and a freezer (v1) or the cgroup
/// itself (v2) to kill the whole tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isolation {
    names: BTreeSet<IsolatorName>,
}

impl Isolation {
    /// The default list: `cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,
    /// filesystem/linux,posix/rlimits` (everything but `network/none`, which takes
    /// tasks off the network: the command executor stays in the host's network
    /// namespace and gives only its task the private one, but a custom executor is
    /// cut off from its agent).
    pub const DEFAULT: &'static str =
        "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,filesystem/linux,posix/rlimits";

    /// Parses a comma-separated list (`--isolation=`). Blanks around names are ignored,
    /// duplicates are allowed; an empty list means only the launcher basics. An
    /// unknown name is an error listing the valid ones.
    pub fn parse(list: &str) -> Result<Self, UnknownIsolator> {
        let names = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(IsolatorName::from_str)
            .collect::<Result<_, _>>()?;
        Ok(Isolation { names })
    }

    /// An isolation with exactly `names`.
    pub fn of(names: impl IntoIterator<Item = IsolatorName>) -> Self {
        Isolation {
            names: names.into_iter().collect(),
        }
    }

    /// True if `name` is enabled.
    pub fn has(&self, name: IsolatorName) -> bool {
        self.names.contains(&name)
    }

    /// The enabled isolators, in [`IsolatorName::ALL`] order.
    pub fn names(&self) -> impl Iterator<Item = IsolatorName> + '_ {
        self.names.iter().copied()
    }

    /// The cgroup controllers needed: those of the enabled isolators, plus `freezer`
    /// (v1: destroy freezes the tree before killing it).
    pub fn controllers(&self) -> BTreeSet<Controller> {
        let mut set: BTreeSet<Controller> = self
            .names
            .iter()
            .flat_map(|n| n.controllers().iter().copied())
            .collect();
        set.insert(Controller::Freezer);
        set
    }
}

impl Default for Isolation {
    fn default() -> Self {
        // The constant is made of valid names (checked by a test).
        Isolation::parse(Isolation::DEFAULT).unwrap_or_else(|_| Isolation::of([]))
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.names().map(IsolatorName::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_with_blanks_and_duplicates() {
        let i = Isolation::parse(" cgroups/cpu, cgroups/mem,,cgroups/cpu ").unwrap();
        assert!(i.has(IsolatorName::CgroupsCpu) && i.has(IsolatorName::CgroupsMem));
        assert!(!i.has(IsolatorName::NamespacesPid));
        assert_eq!(i.to_string(), "cgroups/cpu,cgroups/mem");
        assert_eq!(Isolation::parse("").unwrap(), Isolation::of([]));
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = Isolation::parse("cgroups/cpu,cgroups/gpu").unwrap_err();
        assert_eq!(err.name, "cgroups/gpu");
        let text = err.to_string();
        for name in IsolatorName::ALL {
            assert!(text.contains(name.as_str()), "{text}");
        }
    }

    #[test]
    fn default_is_valid_and_leaves_the_network_alone() {
        let d = Isolation::default();
        assert_eq!(d, Isolation::parse(Isolation::DEFAULT).unwrap());
        assert!(d.has(IsolatorName::NamespacesPid) && !d.has(IsolatorName::NetworkNone));
        assert_eq!(d.names().count(), 6);
    }

    #[test]
    fn controllers_always_include_the_freezer() {
        let c = Isolation::parse("cgroups/cpu").unwrap().controllers();
        assert_eq!(
            c.into_iter().collect::<Vec<_>>(),
            vec![Controller::Cpu, Controller::Cpuacct, Controller::Freezer]
        );
        let none = Isolation::of([]).controllers();
        assert_eq!(
            none.into_iter().collect::<Vec<_>>(),
            vec![Controller::Freezer]
        );
    }
}
