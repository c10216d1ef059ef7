//! Drover's native containerizer, after the Mesos containerizer: a launcher that puts
//! the executor in new pid, mount, uts and ipc namespaces (and a network namespace
//! with `network/none`) under an init of our own, plus isolators on cgroups v1 or v2.
//!
//! ```text
//!   NativeContainerizer::new(NativeConfig { runtime_dir, isolation, cgroups_root, .. })
//!     recover(known) ─▶ re-attach by pid + start time; orphans (runtime dir, cgroups)
//!                       destroyed
//!     launch ─▶ isolators prepare (cgroups/cpu, cgroups/mem, cgroups/pids,
//!               namespaces/pid, network/none, filesystem/linux, posix/rlimits)
//!            ─▶ launcher: clone into namespaces ─▶ init joins cgroups, mounts
//!               (overlay rootfs, /proc, /dev, volumes; pivot_root unless the image
//!               is the task's: `image_for=task`), forks the executor, reaps
//!               zombies, forwards SIGTERM, writes the exit status
//!     wait / usage / update
//!     destroy ─▶ freeze + SIGKILL (v1) or cgroup.kill (v2) ─▶ cgroups removed
//! ```
//!
//! Modules: [`cgroups`] (hierarchy detection, paths, values, kill, OOM events),
//! [`launcher`] (namespaces, init, mount plan), [`isolation`] (the `--isolation`
//! list), [`options`] (agent config and container options), [`image`] (rootfs store),
//! [`probe`] (can native run here?).
//!
//! An image is either the whole container's (the main process `pivot_root`s into it)
//! or, with the option `image_for=task` (the agent's choice for its command executor,
//! as Mesos does), only the task's: the main process stays on the host's filesystem
//! in the container's namespaces and cgroups, and finds the prepared rootfs at
//! `$DROVER_ROOTFS` to start its task in (see [`options`] and [`launcher::plan`]).
//! `network/none` has the same split: with `network_for=task` the main process stays
//! in the host's network namespace (it must reach the agent) and, told by
//! `$DROVER_NETWORK_NONE=1`, starts its task in a new one with only `lo`.
//!
//! The agent decides between native and posix with [`probe`]: on `Err(reasons)` it
//! falls back to posix and logs the reasons.
#![warn(missing_docs)]

pub mod cgroups;
mod command;
mod container;
mod error;
mod exit;
pub mod image;
pub mod isolation;
mod isolators;
mod launch;
pub mod launcher;
mod native;
pub mod options;
mod probe;
mod recover;
mod resources;

pub use container::{RECORD_FILE, STATUS_FILE};
pub use error::NativeError;
pub use isolation::{Isolation, IsolatorName, UnknownIsolator};
pub use native::{NativeContainerizer, EXTRA_BOOT_ID, EXTRA_CGROUP, EXTRA_START_TIME, NAME};
pub use options::{ContainerOptions, ImageFor, NativeConfig, MIN_MEMORY_BYTES};
pub use probe::{decide, probe, probe_isolators, HostFacts, Probed};
