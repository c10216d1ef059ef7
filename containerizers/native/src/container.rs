//! One container's files in the runtime directory, and how its end is told.
//!
//! ```text
//!   <runtime_dir>/containers/<id>/
//!       record.json   { handle, limits, termination }  written at launch, on update,
//!                                                      and when the container ends
//!       status        "exited 3" / "signaled 9": written by the container's init
//!                     when the main process ends (survives agent restarts)
//!       upper/ work/ rootfs/                           overlay dirs (image only)
//! ```
//!
//! [`termination`] is pure: it turns what is known at the end (status file, init's
//! own exit, OOM, whether we were destroying it) into a [`Termination`].

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use drover_containerizers::{ContainerHandle, ContainerId, Limits, Termination, TerminationReason};
use serde::{Deserialize, Serialize};

use crate::launcher::InitExit;

/// Record file name.
pub const RECORD_FILE: &str = "record.json";
/// Status file name.
pub const STATUS_FILE: &str = "status";

/// What the native containerizer remembers of one container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) handle: ContainerHandle,
    pub(crate) limits: Limits,
    pub(crate) termination: Option<Termination>,
}

/// The directory of container `id` (a path-safe id) under `containers`.
pub(crate) fn dir(containers: &Path, id: &ContainerId) -> PathBuf {
    containers.join(id.as_str())
}

/// Writes `record` atomically into `dir`.
pub(crate) fn write_record(dir: &Path, record: &Record) -> io::Result<()> {
    let path = dir.join(RECORD_FILE);
    let tmp = dir.join(format!("{RECORD_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&json)?;
    drop(file);
    std::fs::rename(&tmp, &path)
}

/// Reads the record in `dir`.
pub(crate) fn read_record(dir: &Path) -> Result<Record, String> {
    let path = dir.join(RECORD_FILE);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The main process's end as written by init: `Exited(code)` or `Signaled(signal)`.
pub(crate) fn parse_status(text: &str) -> Option<InitExit> {
    let (word, n) = text.trim().split_once(' ')?;
    let n: i32 = n.parse().ok()?;
    match word {
        "exited" => Some(InitExit::Exited(n)),
        "signaled" => Some(InitExit::Signaled(n)),
        _ => None,
    }
}

/// Reads the status file in `dir`.
pub(crate) fn read_status(dir: &Path) -> Option<InitExit> {
    parse_status(&std::fs::read_to_string(dir.join(STATUS_FILE)).ok()?)
}

/// Everything known when a container's init is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExitFacts {
    /// The main process's end, from the status file.
    pub(crate) main: Option<InitExit>,
    /// Init's own end, when we reaped it.
    pub(crate) init: Option<InitExit>,
    /// Destroy was killing the container.
    pub(crate) destroying: bool,
    /// OOM kills in the container's memory cgroup, or the OOM watcher fired.
    pub(crate) oom: bool,
    /// The container's memory limit, for the OOM message.
    pub(crate) mem_limit: u64,
}

fn signal_name(sig: i32) -> &'static str {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str())
        .unwrap_or("unknown signal")
}

/// How the container ended.
pub(crate) fn termination(f: &ExitFacts) -> Termination {
    let (status, signal) = match f.main.or(f.init) {
        Some(InitExit::Exited(c)) => (Some(c), None),
        Some(InitExit::Signaled(s)) => (None, Some(s)),
        None => (None, None),
    };
    if f.oom {
        let limit = if f.mem_limit > 0 {
            format!("its memory limit of {} MiB", f.mem_limit >> 20)
        } else {
            "its memory limit".to_owned()
        };
        return Termination {
            status,
            signal,
            reason: TerminationReason::Oom,
            message: format!(
                "the container reached {limit}: the kernel's OOM killer ended a process of it"
            ),
        };
    }
    match (f.main, f.init) {
        (Some(InitExit::Exited(c)), _) => Termination::exited(c),
        (Some(InitExit::Signaled(s)), _) | (None, Some(InitExit::Signaled(s))) => {
            if f.destroying {
                Termination::killed(
                    Some(s),
                    format!("destroyed: killed by signal {s} ({})", signal_name(s)),
                )
            } else {
                Termination {
                    status: None,
                    signal: Some(s),
                    reason: TerminationReason::Signaled,
                    message: format!("killed by signal {s} ({})", signal_name(s)),
                }
            }
        }
        (None, Some(InitExit::Exited(c))) => Termination::unknown(format!(
            "the container's init exited with status {c} without reporting the main process"
        )),
        (None, None) if f.destroying => Termination::killed(None, "destroyed"),
        (None, None) => Termination::unknown(
            "the container ended while it was not watched (agent restart) and left no status",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_round_trip() {
        assert_eq!(parse_status("exited 3\n"), Some(InitExit::Exited(3)));
        assert_eq!(parse_status("signaled 9"), Some(InitExit::Signaled(9)));
        assert_eq!(parse_status(""), None);
        assert_eq!(parse_status("exploded 1"), None);
    }

    #[test]
    fn terminations() {
        let f = |main, init, destroying, oom| ExitFacts {
            main,
            init,
            destroying,
            oom,
            mem_limit: 32 << 20,
        };
        use InitExit::*;
        let t = termination(&f(Some(Exited(3)), Some(Exited(3)), false, false));
        assert_eq!((t.reason, t.status), (TerminationReason::Exited, Some(3)));
        // Exited before destroy: the exit stands.
        let t = termination(&f(Some(Exited(0)), None, true, false));
        assert_eq!(t.reason, TerminationReason::Exited);
        let t = termination(&f(Some(Signaled(9)), Some(Exited(137)), true, false));
        assert_eq!((t.reason, t.signal), (TerminationReason::Killed, Some(9)));
        let t = termination(&f(None, Some(Signaled(9)), true, false));
        assert_eq!(t.reason, TerminationReason::Killed);
        let t = termination(&f(Some(Signaled(10)), None, false, false));
        assert_eq!(
            (t.reason, t.signal),
            (TerminationReason::Signaled, Some(10))
        );
        assert!(t.message.contains("SIGUSR1"), "{}", t.message);
        let t = termination(&f(Some(Signaled(9)), None, true, true));
        assert_eq!(t.reason, TerminationReason::Oom);
        assert!(t.message.contains("32 MiB"), "{}", t.message);
        let t = termination(&f(None, None, false, false));
        assert_eq!(t.reason, TerminationReason::Unknown);
        let t = termination(&f(None, None, true, false));
        assert_eq!(t.reason, TerminationReason::Killed);
    }

    #[test]
    fn record_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Record {
            handle: ContainerHandle {
                id: "c".into(),
                pid: Some(5),
                containerizer: "native".into(),
                sandbox: "/s".into(),
                extra: Default::default(),
            },
            limits: Limits {
                cpus: 0.5,
                mem_bytes: 64 << 20,
                pids: Some(10),
            },
            termination: Some(Termination::exited(1)),
        };
        write_record(dir.path(), &rec).unwrap();
        assert_eq!(read_record(dir.path()).unwrap(), rec);
        std::fs::write(dir.path().join(RECORD_FILE), "{").unwrap();
        assert!(read_record(dir.path()).is_err());
    }
}
