//! Processes of a chaos run: where the `drover` binary is, free ports, and a guard
//! that SIGKILLs every process a cluster started (and everything they started, found
//! by the marker each carries in its environment) when dropped, so that a failing
//! scenario leaks nothing.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::Child;

/// Environment variable naming the `drover` binary to run (default: next to the test
/// or bench executable, `target/<profile>/drover`).
pub const BINARY_ENV: &str = "DROVER_BIN";
/// Environment variable set on every process a cluster starts: its home directory.
pub const MARKER_ENV: &str = "DROVER_CHAOS_HOME";

/// The `drover` binary: `$DROVER_BIN`, else `target/<profile>/drover` beside the running
/// test or bench (`target/<profile>/deps/…`).
pub fn drover_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(BINARY_ENV) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| format!("no target dir above {}", exe.display()))?;
    let bin = profile_dir.join("drover");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build it first (`cargo build -p drover-cli`, with `--release` \
             for benches) or set {BINARY_ENV}",
            bin.display()
        ))
    }
}

/// `n` consecutive ports free on both TCP and UDP on 127.0.0.1 (the first), probed from
/// a start derived from the process id and `salt`.
pub fn free_ports(n: u16, salt: u64) -> Option<u16> {
    let seed = (u64::from(std::process::id()) ^ salt.rotate_left(17)).wrapping_mul(2_654_435_761);
    (0..400u64).find_map(|attempt| {
        let base = 20_000 + ((seed + attempt * 131) % 30_000) as u16;
        (base..base + n)
            .all(|p| {
                TcpListener::bind(("127.0.0.1", p)).is_ok()
                    && UdpSocket::bind(("127.0.0.1", p)).is_ok()
            })
            .then_some(base)
    })
}

/// Makes this process the reaper of orphaned descendants (an agent killed with -9
/// leaves its executors to us, where the guard finds them).
pub fn become_subreaper() {
    // SAFETY: plain prctl call with constant arguments.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
}

/// The children a cluster started; on drop they, and every process carrying the
/// cluster's marker, and their descendants, are SIGKILLed.
#[derive(Debug)]
pub struct ProcGuard {
    marker: String,
    children: Vec<Child>,
}

impl ProcGuard {
    /// A guard for processes marked with `marker` (the value of [`MARKER_ENV`]).
    pub fn new(marker: String) -> ProcGuard {
        ProcGuard {
            marker,
            children: Vec::new(),
        }
    }

    /// Takes ownership of `child`; returns its index.
    pub fn adopt(&mut self, child: Child) -> usize {
        self.children.push(child);
        self.children.len() - 1
    }

    /// The child at `i`.
    pub fn child(&mut self, i: usize) -> Option<&mut Child> {
        self.children.get_mut(i)
    }

    /// Every live process carrying the marker, and their descendants.
    pub fn marked_tree(&self) -> HashSet<i32> {
        if self.marker.is_empty() {
            return HashSet::new();
        }
        let parents = parents();
        let needle = format!("{MARKER_ENV}={}", self.marker);
        let marked: HashSet<i32> = parents
            .keys()
            .copied()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
            })
            .collect();
        let mut all = marked.clone();
        for &pid in parents.keys() {
            let mut p = pid;
            for _ in 0..64 {
                match parents.get(&p) {
                    Some(pp) if marked.contains(pp) => {
                        all.insert(pid);
                        break;
                    }
                    Some(&pp) if pp > 1 => p = pp,
                    _ => break,
                }
            }
        }
        all
    }
}

impl Drop for ProcGuard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in self.marked_tree() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// `pid → ppid` of every process.
fn parents() -> HashMap<i32, i32> {
    let mut parents = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return parents;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            parents.insert(pid, ppid);
        }
    }
    parents
}
