//! Can the native containerizer run on this host? The agent asks at start-up
//! ([`probe_isolators`]): without root, a cgroup hierarchy, the cpu and memory
//! controllers or the container namespaces it falls back to posix, with a loud warning
//! naming what is missing; an optional isolator the kernel cannot support
//! (`cgroups/pids`, `filesystem/linux` without overlayfs, `network/none`) is dropped
//! with a warning instead, and the tasks that need it fail at launch naming it and why.
//! [`probe`] is the strict form (everything asked for, or an error).
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

/// The isolators a task can do without: the kernel lacking one costs only the tasks
/// that need it.
const OPTIONAL: [IsolatorName; 3] = [
    IsolatorName::CgroupsPids,
    IsolatorName::FilesystemLinux,
    IsolatorName::NetworkNone,
];

/// What the start-up probe found on the host: the input of [`decide`].
#[derive(Clone, Debug)]
pub struct HostFacts {
    /// Why the agent lacks the privileges, if it does.
    pub not_root: Option<String>,
    /// The cgroup hierarchy, or why there is none.
    pub hierarchy: Result<Hierarchy, String>,
    /// Whether the kernel knows overlayfs.
    pub overlay: bool,
    /// Why pid, mount, uts and ipc namespaces cannot be created, if they cannot.
    pub namespaces: Option<String>,
    /// Why a network namespace cannot be created, if it cannot.
    pub netns: Option<String>,
}

/// What the native containerizer runs with on this host.
#[derive(Clone, Debug)]
pub struct Probed {
    /// The detected cgroup hierarchy.
    pub hierarchy: Hierarchy,
    /// The isolators asked for that the host supports.
    pub isolation: Isolation,
    /// The isolators asked for that it does not, each with the reason.
    pub dropped: Vec<(IsolatorName, String)>,
}

/// Which of `isolation` the host described by `facts` supports (pure). `Err` lists
/// what rules out the native containerizer altogether.
pub fn decide(isolation: &Isolation, facts: HostFacts) -> Result<Probed, Vec<String>> {
    let mut fatal: Vec<String> = facts.not_root.into_iter().collect();
    fatal.extend(facts.namespaces);
    let hierarchy = match facts.hierarchy {
        Ok(h) => Some(h),
        Err(e) => {
            fatal.push(format!("no usable cgroup hierarchy: {e}"));
            None
        }
    };
    let mut dropped = Vec::new();
    if let Some(h) = &hierarchy {
        let mut base = isolation.controllers();
        for name in OPTIONAL {
            for c in name.controllers() {
                base.remove(c);
            }
        }
        fatal.extend(h.missing(&base));
        for name in OPTIONAL.into_iter().filter(|n| isolation.has(*n)) {
            let wanted = name.controllers().iter().copied().collect();
            let mut why = h.missing(&wanted);
            if name == IsolatorName::FilesystemLinux && !facts.overlay {
                why.push(
                    "the kernel does not list overlayfs in /proc/filesystems (try `modprobe overlay`)"
                        .into(),
                );
            }
            if name == IsolatorName::NetworkNone {
                why.extend(facts.netns.clone());
            }
            if !why.is_empty() {
                dropped.push((name, why.join("; ")));
            }
        }
    }
    match hierarchy {
        Some(hierarchy) if fatal.is_empty() => Ok(Probed {
            hierarchy,
            isolation: Isolation::of(
                isolation
                    .names()
                    .filter(|n| !dropped.iter().any(|(d, _)| d == n)),
            ),
            dropped,
        }),
        _ => Err(fatal),
    }
}

/// Probes this host for `isolation` (see the module doc): `Ok` with what to run, or
/// `Err` with why the native containerizer cannot run here at all.
pub fn probe_isolators(isolation: &Isolation) -> Result<Probed, Vec<String>> {
    let euid = nix::unistd::Uid::effective();
    let namespaces = try_namespaces(false)
        .err()
        .map(|e| format!("cannot create pid, mount, uts and ipc namespaces: {e}"));
    let netns = if isolation.has(IsolatorName::NetworkNone) && namespaces.is_none() {
        try_namespaces(true)
            .err()
            .map(|e| format!("cannot create a network namespace: {e}"))
    } else {
        None
    };
    let facts = HostFacts {
        not_root: (!euid.is_root()).then(|| {
            format!(
                "the agent runs as uid {euid}, not root: namespaces, mounts and cgroups need root"
            )
        }),
        hierarchy: Hierarchy::detect().map_err(|e| e.to_string()),
        overlay: std::fs::read_to_string("/proc/filesystems")
            .unwrap_or_default()
            .split_whitespace()
            .any(|w| w == "overlay"),
        namespaces,
        netns,
    };
    decide(isolation, facts)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::Controller;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    fn v2(controllers: &[Controller]) -> Hierarchy {
        Hierarchy::V2 {
            mount: PathBuf::from("/sys/fs/cgroup"),
            controllers: controllers
                .iter()
                .copied()
                .chain([Controller::Cpuacct, Controller::Freezer])
                .collect::<BTreeSet<_>>(),
        }
    }

    fn facts(hierarchy: Hierarchy) -> HostFacts {
        HostFacts {
            not_root: None,
            hierarchy: Ok(hierarchy),
            overlay: true,
            namespaces: None,
            netns: None,
        }
    }

    const ALL: &str =
        "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,filesystem/linux,network/none";

    #[test]
    fn a_host_with_everything_runs_every_isolator() {
        let asked = Isolation::parse(ALL).unwrap();
        let all = [Controller::Cpu, Controller::Memory, Controller::Pids];
        let p = decide(&asked, facts(v2(&all))).unwrap();
        assert_eq!(p.isolation, asked);
        assert!(p.dropped.is_empty());
    }

    #[test]
    fn optional_isolators_the_kernel_lacks_are_dropped_with_the_reason() {
        let asked = Isolation::parse(ALL).unwrap();
        let mut f = facts(v2(&[Controller::Cpu, Controller::Memory]));
        f.overlay = false;
        f.netns = Some("cannot create a network namespace: EPERM".into());
        let p = decide(&asked, f).unwrap();
        let dropped: Vec<_> = p.dropped.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            dropped,
            [
                IsolatorName::CgroupsPids,
                IsolatorName::FilesystemLinux,
                IsolatorName::NetworkNone
            ]
        );
        assert!(p.dropped[0].1.contains("`pids`"), "{:?}", p.dropped);
        assert!(p.dropped[1].1.contains("overlayfs"), "{:?}", p.dropped);
        assert!(p.dropped[2].1.contains("EPERM"), "{:?}", p.dropped);
        assert_eq!(
            p.isolation,
            Isolation::parse("cgroups/cpu,cgroups/mem,namespaces/pid").unwrap()
        );
    }

    #[test]
    fn missing_essentials_rule_native_out_naming_each() {
        let asked = Isolation::parse(ALL).unwrap();
        let mut f = facts(v2(&[Controller::Cpu, Controller::Pids]));
        f.not_root = Some("the agent runs as uid 1000, not root".into());
        let why = decide(&asked, f).unwrap_err();
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("uid 1000"), "{why:?}");
        assert!(why[1].contains("memory"), "{why:?}");

        let mut f = facts(v2(&[]));
        f.hierarchy = Err("no cgroup mount".into());
        let why = decide(&asked, f).unwrap_err();
        assert!(why[0].contains("no cgroup mount"), "{why:?}");
    }

    #[test]
    fn isolators_not_asked_for_are_not_probed() {
        let asked = Isolation::parse("cgroups/cpu,cgroups/mem").unwrap();
        let mut f = facts(v2(&[Controller::Cpu, Controller::Memory]));
        f.overlay = false;
        let p = decide(&asked, f).unwrap();
        assert!(p.dropped.is_empty());
        assert_eq!(p.isolation, asked);
    }
}
