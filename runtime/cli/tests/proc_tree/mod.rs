//! `/proc` scans shared by the process tests: who descends from whom, and what each
//! process runs.

use std::collections::{HashMap, HashSet};

/// `(pid → ppid)` of every process, and each one's state letter.
pub(crate) fn processes() -> (HashMap<i32, i32>, HashMap<i32, char>) {
    let (mut parents, mut states) = (HashMap::new(), HashMap::new());
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if let Some(ppid) = fields.next().and_then(|s| s.parse().ok()) {
            parents.insert(pid, ppid);
            states.insert(pid, state);
        }
    }
    (parents, states)
}

pub(crate) fn descendants(root: i32) -> HashSet<i32> {
    let (parents, _) = processes();
    parents
        .keys()
        .copied()
        .filter(|&pid| {
            let mut p = pid;
            for _ in 0..64 {
                match parents.get(&p) {
                    Some(&pp) if pp == root => return true,
                    Some(&pp) if pp > 1 => p = pp,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

/// The command line of `pid` (empty if it is gone).
pub(crate) fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}
