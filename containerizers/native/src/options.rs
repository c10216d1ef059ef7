//! The native containerizer's settings: the agent's [`NativeConfig`] and a container's
//! [`ContainerOptions`] (read from `ContainerKind.options`).
//!
//! Container options (keys of `ContainerKind.options`; other keys are left to other
//! containerizers):
//!
//! | key | value | default |
//! | --- | --- | --- |
//! | `executor_binary` | host path of the executor, bound read-only at the same path into a container with an image | none |
//! | `image_for` | `container`: the main process `pivot_root`s into the image; `task`: the main process (the command executor) stays on the host's filesystem in the container's namespaces and cgroups, and finds the image's prepared rootfs at `$DROVER_ROOTFS` to start its task in | `container` |
//! | `hostname` | the container's hostname | the container id (first 63 characters) |
//! | `network` | `none` (own network namespace, loopback only) or `host` | `none` with `network/none` isolation, else `host` |
//! | `network_for` | `container`: the whole container gets the network namespace `network` asks for; `task`: the main process (the command executor) stays in the host's network namespace, so it can reach its agent, and starts its task in a new one with only `lo` when `network` is `none` (`$DROVER_NETWORK_NONE=1`) | `container` |
//! | `rlimit.<name>` | `<soft>[:<hard>]` or `unlimited` (needs `posix/rlimits`) | inherited |

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::cgroups::Hierarchy;
use crate::isolation::{Isolation, IsolatorName};
use crate::launcher::Rlimit;

/// Option key: host path of the executor binary.
pub const OPT_EXECUTOR_BINARY: &str = "executor_binary";
/// Option key: who enters the image's root filesystem.
pub const OPT_IMAGE_FOR: &str = "image_for";
/// Option key: hostname.
pub const OPT_HOSTNAME: &str = "hostname";
/// Option key: network mode.
pub const OPT_NETWORK: &str = "network";
/// Option key: who enters the private network namespace.
pub const OPT_NETWORK_FOR: &str = "network_for";
/// Option key prefix: resource limits (`rlimit.nofile`).
pub const OPT_RLIMIT_PREFIX: &str = "rlimit.";
/// The smallest memory limit a container may ask for (below it, the executor itself
/// would be OOM-killed): 32 MiB.
pub const MIN_MEMORY_BYTES: u64 = 32 << 20;

/// How the agent sets up the native containerizer.
#[derive(Clone, Debug)]
pub struct NativeConfig {
    /// Where the containerizer keeps each container's record and status file
    /// (`<runtime_dir>/containers/<id>/`): state that must survive an agent restart
    /// but not a reboot (Mesos's `--runtime_dir`), so a tmpfs such as `/run` suits it,
    /// and keeps launches off the disk. Use the same directory across agent restarts:
    /// recovery reads it.
    pub runtime_dir: PathBuf,
    /// Where containers with an image get their overlay's writable layer
    /// (`<scratch_dir>/<id>/{upper,work,rootfs}`): what a task writes to its root
    /// filesystem, so it belongs on the agent's disk, not in memory.
    pub scratch_dir: PathBuf,
    /// Where rootfs tarballs are unpacked, once each (`<image_store>/<key>/`).
    pub image_store: PathBuf,
    /// The isolators to run (`--isolation`).
    pub isolation: Isolation,
    /// Isolators asked for that the kernel cannot support, with the reason (from
    /// [`probe_isolators`](crate::probe_isolators)): a task that needs one fails at
    /// launch with a message naming it.
    pub dropped: Vec<(IsolatorName, String)>,
    /// Directory, under each cgroup hierarchy's mount, holding the containers'
    /// cgroups (`--cgroups_root`, default `drover`). Everything under it that the agent
    /// does not know is destroyed at recovery: give each agent its own.
    pub cgroups_root: String,
    /// Enforce CPU limits as hard CFS quotas, not only as shares
    /// (`--cgroups-enable-cfs`).
    pub cgroups_enable_cfs: bool,
    /// Process limit for containers that ask for none; `None` for no limit.
    pub pids_max: Option<u64>,
    /// The cgroup hierarchy to use; `None` detects the host's.
    pub hierarchy: Option<Hierarchy>,
}

impl NativeConfig {
    /// Defaults: images under `<runtime_dir>/images`, overlay layers under
    /// `<runtime_dir>/scratch`, [`Isolation::default`], cgroups under `drover`, no CFS
    /// quota, no default process limit, detected hierarchy.
    pub fn new(runtime_dir: impl Into<PathBuf>) -> Self {
        let runtime_dir = runtime_dir.into();
        NativeConfig {
            image_store: runtime_dir.join("images"),
            scratch_dir: runtime_dir.join("scratch"),
            runtime_dir,
            isolation: Isolation::default(),
            dropped: Vec::new(),
            cgroups_root: "drover".into(),
            cgroups_enable_cfs: false,
            pids_max: None,
            hierarchy: None,
        }
    }
}

/// A container's native options, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerOptions {
    /// Host path of the executor binary to bind into the container's rootfs.
    pub executor_binary: Option<PathBuf>,
    /// Who enters the image's root filesystem.
    pub image_for: ImageFor,
    /// Hostname to set.
    pub hostname: Option<String>,
    /// `Some(true)`: own network namespace; `Some(false)`: host network; `None`: as
    /// the isolation says.
    pub network_none: Option<bool>,
    /// Only the task enters the private network namespace (`network_for=task`): the
    /// main process stays in the host's and gets `$DROVER_NETWORK_NONE=1` instead.
    pub network_for_task: bool,
    /// Resource limits to set.
    pub rlimits: Vec<Rlimit>,
}

/// Who enters a container's image (the `image_for` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageFor {
    /// The whole container: the main process `pivot_root`s into it.
    #[default]
    Container,
    /// Only the task: the main process (an executor, dynamically linked against the
    /// host's libraries) stays on the host's filesystem and starts its task inside the
    /// rootfs prepared at `$DROVER_ROOTFS` (Mesos's `mesos-containerizer launch
    /// --rootfs`).
    Task,
}

const RLIMITS: [(&str, libc::__rlimit_resource_t); 16] = [
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

fn rlimit_value(s: &str) -> Option<libc::rlim_t> {
    match s.trim() {
        "unlimited" | "infinity" => Some(libc::RLIM_INFINITY),
        v => v.parse().ok(),
    }
}

/// Parses one `rlimit.<name>` option.
fn parse_rlimit(name: &str, value: &str) -> Result<Rlimit, String> {
    let resource = RLIMITS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
        .ok_or_else(|| {
            let valid: Vec<&str> = RLIMITS.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown resource limit `{name}`; valid: {}",
                valid.join(", ")
            )
        })?;
    let bad =
        || format!("resource limit `{name}={value}`: expected <soft>[:<hard>] or `unlimited`");
    let (soft, hard) = match value.split_once(':') {
        Some((s, h)) => (
            rlimit_value(s).ok_or_else(bad)?,
            rlimit_value(h).ok_or_else(bad)?,
        ),
        None => {
            let v = rlimit_value(value).ok_or_else(bad)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(format!(
            "resource limit `{name}={value}`: soft limit above hard limit"
        ));
    }
    Ok(Rlimit {
        resource,
        soft,
        hard,
    })
}

impl ContainerOptions {
    /// Parses the native keys of `options`; the first bad one is an error.
    pub fn parse(options: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut out = ContainerOptions::default();
        for (key, value) in options {
            match key.as_str() {
                OPT_EXECUTOR_BINARY => {
                    let path = PathBuf::from(value);
                    if !path.is_absolute() {
                        return Err(format!(
                            "`{OPT_EXECUTOR_BINARY}` must be an absolute path, got `{value}`"
                        ));
                    }
                    out.executor_binary = Some(path);
                }
                OPT_IMAGE_FOR => {
                    out.image_for = match value.as_str() {
                        "container" => ImageFor::Container,
                        "task" => ImageFor::Task,
                        other => {
                            return Err(format!(
                                "`{OPT_IMAGE_FOR}` must be `container` or `task`, got `{other}`"
                            ))
                        }
                    }
                }
                OPT_HOSTNAME => {
                    if value.is_empty() || value.len() > 64 || value.contains('\0') {
                        return Err(format!(
                            "`{OPT_HOSTNAME}` must be 1 to 64 bytes, got `{value}`"
                        ));
                    }
                    out.hostname = Some(value.clone());
                }
                OPT_NETWORK => {
                    out.network_none = Some(match value.as_str() {
                        "none" => true,
                        "host" => false,
                        other => {
                            return Err(format!(
                                "`{OPT_NETWORK}` must be `none` or `host`, got `{other}`"
                            ))
                        }
                    })
                }
                OPT_NETWORK_FOR => {
                    out.network_for_task = match value.as_str() {
                        "container" => false,
                        "task" => true,
                        other => {
                            return Err(format!(
                                "`{OPT_NETWORK_FOR}` must be `container` or `task`, got `{other}`"
                            ))
                        }
                    }
                }
                k => {
                    if let Some(name) = k.strip_prefix(OPT_RLIMIT_PREFIX) {
                        out.rlimits.push(parse_rlimit(name, value)?);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The default hostname of container `id`: its first 63 characters.
pub fn default_hostname(id: &str) -> String {
    id.chars().take(63).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Result<ContainerOptions, String> {
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ContainerOptions::parse(&map)
    }

    #[test]
    fn parses_known_keys_and_ignores_others() {
        let o = opts(&[
            ("executor_binary", "/usr/bin/drover"),
            ("hostname", "web-1"),
            ("network", "none"),
            ("image_for", "task"),
            ("network_for", "task"),
            ("rlimit.nofile", "1024:4096"),
            ("rlimit.core", "unlimited"),
            ("docker.privileged", "true"),
        ])
        .unwrap();
        assert_eq!(o.executor_binary, Some("/usr/bin/drover".into()));
        assert_eq!(o.hostname.as_deref(), Some("web-1"));
        assert_eq!(o.network_none, Some(true));
        assert_eq!(o.image_for, ImageFor::Task);
        assert!(o.network_for_task);
        // BTreeMap order: core before nofile.
        assert_eq!(
            o.rlimits[0],
            Rlimit {
                resource: libc::RLIMIT_CORE,
                soft: libc::RLIM_INFINITY,
                hard: libc::RLIM_INFINITY
            }
        );
        assert_eq!(
            o.rlimits[1],
            Rlimit {
                resource: libc::RLIMIT_NOFILE,
                soft: 1024,
                hard: 4096
            }
        );
        assert_eq!(opts(&[]).unwrap(), ContainerOptions::default());
    }

    #[test]
    fn rejects_bad_values() {
        for (k, v, needle) in [
            ("executor_binary", "drover", "absolute"),
            ("hostname", "", "1 to 64"),
            ("network", "bridge", "`none` or `host`"),
            ("image_for", "agent", "`container` or `task`"),
            ("network_for", "both", "`container` or `task`"),
            ("rlimit.files", "1", "valid: as, core"),
            ("rlimit.nofile", "lots", "expected"),
            ("rlimit.nofile", "10:5", "soft limit above hard"),
        ] {
            let err = opts(&[(k, v)]).unwrap_err();
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
    }

    #[test]
    fn default_hostname_is_truncated() {
        assert_eq!(default_hostname("abc"), "abc");
        assert_eq!(default_hostname(&"x".repeat(100)).len(), 63);
    }
}
