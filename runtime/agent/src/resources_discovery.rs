//! What the agent offers: CPUs, memory and disk discovered on the machine (less a
//! reserve for the system, Mesos's rule), ports `[31000-32000]`, and the `--resources`
//! overrides on top.
//!
//! ```text
//!  cpus  = available parallelism
//!  mem   = MemTotal (/proc/meminfo) − 1 GiB if MemTotal ≥ 2 GiB, else MemTotal / 2
//!  disk  = size of the work dir's filesystem − 5 GiB if ≥ 10 GiB, else size / 2
//!  ports = [31000-32000]
//! ```
//!
//! Overrides, per resource name: if `--resources` has an unreserved entry for a name
//! (`cpus:8`), it replaces what was discovered. If it only has reservations for it
//! (`cpus(analytics):2`), they are carved out of the discovered total: the rest stays
//! unreserved. Names the agent does not discover (`gpus`, custom ones) are taken as given.

use drover_proto::resources::{Range, Resource, Scalar, Value};
use drover_proto::{Resources, ResourcesError};
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Ports offered when `--resources` names none.
pub const DEFAULT_PORTS: Range = Range {
    begin: 31000,
    end: 32000,
};

/// Why the agent's resources could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// `/proc/meminfo` could not be read.
    #[error("cannot read {path}: {source} (pass mem in --resources to skip discovery)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `/proc/meminfo` has no usable `MemTotal` line.
    #[error("no MemTotal line in /proc/meminfo (pass mem in --resources to skip discovery)")]
    NoMemTotal,
    /// The work dir's filesystem could not be measured.
    #[error("cannot measure the filesystem of {path}: {source} (pass disk in --resources to skip discovery)")]
    Statvfs {
        /// The work dir.
        path: PathBuf,
        /// Why.
        #[source]
        source: nix::Error,
    },
    /// A discovered amount could not be represented (should not happen).
    #[error("invalid discovered resource: {0}")]
    Resources(#[from] ResourcesError),
}

/// Memory offered out of `total` bytes: all but 1 GiB when there are at least 2 GiB,
/// else half (Mesos's rule).
pub fn mem_after_reserve(total: u64) -> u64 {
    if total >= 2 * GIB {
        total - GIB
    } else {
        total / 2
    }
}

/// Disk offered out of `total` bytes: all but 5 GiB when there are at least 10 GiB,
/// else half (Mesos's rule).
pub fn disk_after_reserve(total: u64) -> u64 {
    if total >= 10 * GIB {
        total - 5 * GIB
    } else {
        total / 2
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut parts = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => kib.checked_mul(1024),
        Some(_) => None,
    }
}

fn scalar(name: &str, v: f64) -> Result<Resource, ResourcesError> {
    Ok(Resource {
        name: name.to_owned(),
        role: None,
        value: Value::Scalar(Scalar::try_from_f64(v)?),
    })
}

fn discover_cpus() -> Result<Resource, DiscoveryError> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(scalar("cpus", n as f64)?)
}

fn discover_mem() -> Result<Resource, DiscoveryError> {
    let path = PathBuf::from("/proc/meminfo");
    let text = std::fs::read_to_string(&path).map_err(|source| DiscoveryError::Read {
        path: path.clone(),
        source,
    })?;
    let total = parse_meminfo(&text).ok_or(DiscoveryError::NoMemTotal)?;
    Ok(scalar("mem", (mem_after_reserve(total) / MIB) as f64)?)
}

fn discover_disk(work_dir: &Path) -> Result<Resource, DiscoveryError> {
    let st = nix::sys::statvfs::statvfs(work_dir).map_err(|source| DiscoveryError::Statvfs {
        path: work_dir.to_owned(),
        source,
    })?;
    // The field types are 32-bit on some targets.
    #[allow(clippy::useless_conversion)]
    let total = u64::from(st.blocks()).saturating_mul(u64::from(st.fragment_size()));
    Ok(scalar("disk", (disk_after_reserve(total) / MIB) as f64)?)
}

fn default_ports() -> Resource {
    Resource {
        name: "ports".to_owned(),
        role: None,
        value: Value::Ranges(vec![DEFAULT_PORTS]),
    }
}

/// The agent's total resources: discovered ones merged with `overrides` (see the module
/// docs). Discovery is skipped for names the overrides set unreserved.
pub fn agent_resources(
    work_dir: &Path,
    overrides: Option<&Resources>,
) -> Result<Resources, DiscoveryError> {
    let empty = Resources::new();
    let overrides = overrides.unwrap_or(&empty);
    let mut discovered = Resources::new();
    let set_unreserved = |name: &str| overrides.iter().any(|r| r.name == name && r.role.is_none());
    if !set_unreserved("cpus") {
        discovered.add_resource(discover_cpus()?)?;
    }
    if !set_unreserved("mem") {
        discovered.add_resource(discover_mem()?)?;
    }
    if !set_unreserved("disk") {
        discovered.add_resource(discover_disk(work_dir)?)?;
    }
    if !set_unreserved("ports") {
        discovered.add_resource(default_ports())?;
    }
    Ok(apply_overrides(&discovered, overrides)?)
}

/// Merges discovered resources (all unreserved) with `--resources` overrides.
pub fn apply_overrides(
    discovered: &Resources,
    overrides: &Resources,
) -> Result<Resources, ResourcesError> {
    let mut out = overrides.clone();
    for d in discovered.iter() {
        if overrides
            .iter()
            .any(|o| o.name == d.name && o.role.is_none())
        {
            continue; // replaced
        }
        // Reservations of this name come out of the discovered total.
        let mut reserved_as_unreserved = Resources::new();
        for o in overrides.iter().filter(|o| o.name == d.name) {
            reserved_as_unreserved.add_resource(Resource {
                role: None,
                ..o.clone()
            })?;
        }
        let mut rest = Resources::new();
        rest.add_resource(d.clone())?;
        rest -= &reserved_as_unreserved;
        out += &rest;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Resources {
        Resources::parse(s).unwrap()
    }

    #[test]
    fn memory_and_disk_reserves_follow_mesos() {
        assert_eq!(mem_after_reserve(16 * GIB), 15 * GIB);
        assert_eq!(mem_after_reserve(2 * GIB), GIB);
        assert_eq!(mem_after_reserve(GIB), GIB / 2);
        assert_eq!(disk_after_reserve(100 * GIB), 95 * GIB);
        assert_eq!(disk_after_reserve(8 * GIB), 4 * GIB);
    }

    #[test]
    fn meminfo_total_is_read_in_bytes() {
        let text = "MemTotal:       24576000 kB\nMemFree:  100 kB\n";
        assert_eq!(parse_meminfo(text), Some(24_576_000 * 1024));
        assert_eq!(parse_meminfo("MemFree: 1 kB"), None);
        assert_eq!(parse_meminfo("MemTotal: lots kB"), None);
    }

    #[test]
    fn unreserved_overrides_replace_and_reservations_carve_out() {
        let found = r("cpus:8;mem:16000;disk:50000;ports:[31000-32000]");
        let out = apply_overrides(
            &found,
            &r("cpus:2;mem(analytics):4000;ports(web):[31000-31009];gpus:1"),
        )
        .unwrap();
        assert_eq!(
            out,
            r("cpus:2;mem:12000;mem(analytics):4000;disk:50000;ports:[31010-32000];ports(web):[31000-31009];gpus:1")
        );
        assert_eq!(apply_overrides(&found, &Resources::new()).unwrap(), found);
    }

    #[test]
    fn discovery_on_this_machine_gives_all_four() {
        let dir = tempfile::tempdir().unwrap();
        let res = agent_resources(dir.path(), None).unwrap();
        assert!(res.cpus().milli() >= 1000, "{res}");
        assert!(res.mem().milli() > 0, "{res}");
        assert!(res.disk().milli() > 0, "{res}");
        assert_eq!(res.ports(), vec![DEFAULT_PORTS]);
        let fixed =
            agent_resources(dir.path(), Some(&r("cpus:3;mem:100;disk:10;ports:[80-80]"))).unwrap();
        assert_eq!(fixed, r("cpus:3;mem:100;disk:10;ports:[80-80]"));
    }
}
