//! Pure conversions between Drover's limits and cgroup file values, and parsers for
//! the cgroup files the isolators read. No I/O here.
//!
//! ```text
//!   cpus ─▶ shares = 1024 × cpus (min 2)  ─v2─▶ cpu.weight = 1 + (shares − 2) × 9999 / 262142
//!   cpus ─▶ CFS quota = cpus × period (min 1 ms)          v1: cpu.cfs_quota_us   v2: cpu.max
//!   "max" / 9223372036854771712 (v1 "unlimited")  ─▶  None
//! ```

use std::collections::BTreeMap;

/// CFS period used with quotas, microseconds (the kernel's default).
pub const CFS_PERIOD_US: u64 = 100_000;
/// Smallest CFS quota the kernel accepts, microseconds.
pub const MIN_CFS_QUOTA_US: u64 = 1_000;
/// Smallest `cpu.shares` value the kernel accepts.
pub const MIN_SHARES: u64 = 2;
/// Largest `cpu.shares` value the kernel accepts.
pub const MAX_SHARES: u64 = 262_144;
/// Values at or above this in a v1 limit file mean "no limit" (the kernel writes
/// `PAGE_COUNTER_MAX` × page size, 9223372036854771712 on x86-64).
const V1_UNLIMITED: u64 = 1 << 62;

/// `cpu.shares` for `cpus` CPUs (1024 per CPU, clamped to what the kernel accepts).
pub fn shares_for(cpus: f64) -> u64 {
    if !cpus.is_finite() || cpus <= 0.0 {
        return 1024;
    }
    ((cpus * 1024.0).round() as u64).clamp(MIN_SHARES, MAX_SHARES)
}

/// CPUs that `shares` stand for.
pub fn cpus_from_shares(shares: u64) -> f64 {
    shares as f64 / 1024.0
}

/// cgroup v2 `cpu.weight` (1–10000) for v1 `shares` (2–262144): the conversion runc,
/// crun and systemd use, so that weights compare across runtimes.
pub fn weight_for_shares(shares: u64) -> u64 {
    let shares = shares.clamp(MIN_SHARES, MAX_SHARES);
    1 + ((shares - MIN_SHARES) * 9999) / (MAX_SHARES - MIN_SHARES)
}

/// CFS quota, microseconds per [`CFS_PERIOD_US`], for a hard limit of `cpus` CPUs.
pub fn cfs_quota_for(cpus: f64) -> u64 {
    if !cpus.is_finite() || cpus <= 0.0 {
        return MIN_CFS_QUOTA_US;
    }
    ((cpus * CFS_PERIOD_US as f64).round() as u64).max(MIN_CFS_QUOTA_US)
}

/// The v2 `cpu.max` line: `"<quota> <period>"`, or `"max <period>"` for no quota.
pub fn cpu_max_line(quota_us: Option<u64>) -> String {
    match quota_us {
        Some(q) => format!("{q} {CFS_PERIOD_US}"),
        None => format!("max {CFS_PERIOD_US}"),
    }
}

/// The quota and period of a v2 `cpu.max` line; quota `None` for `max`.
pub fn parse_cpu_max(text: &str) -> Option<(Option<u64>, u64)> {
    let mut parts = text.split_whitespace();
    let quota = match parts.next()? {
        "max" => None,
        q => Some(q.parse().ok()?),
    };
    let period = parts.next()?.parse().ok()?;
    Some((quota, period))
}

/// A limit file's value: `None` for `max` (v2) or the v1 "unlimited" value; `-1`
/// (v1 CFS quota for none) is also `None`.
pub fn parse_limit(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" || t == "-1" {
        return None;
    }
    t.parse::<u64>().ok().filter(|v| *v < V1_UNLIMITED)
}

/// The text to write for an optional limit in v2 files (`max` for none).
pub fn limit_text(limit: Option<u64>) -> String {
    limit.map_or_else(|| "max".to_owned(), |v| v.to_string())
}

/// Parses `key value` lines (`memory.stat`, `cpu.stat`, `cpuacct.stat`,
/// `memory.events`, `memory.oom_control`). Lines that do not parse are skipped.
pub fn parse_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let key = parts.next()?;
            let value = parts.next()?.parse().ok()?;
            Some((key.to_owned(), value))
        })
        .collect()
}

/// CPU time of a cgroup, seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    /// User mode.
    pub user_secs: f64,
    /// Kernel mode.
    pub system_secs: f64,
}

/// CPU times from v1 `cpuacct.stat` (clock ticks of `ticks_per_sec`).
pub fn cpu_times_v1(cpuacct_stat: &str, ticks_per_sec: u64) -> CpuTimes {
    let m = parse_keyed(cpuacct_stat);
    let ticks = ticks_per_sec.max(1) as f64;
    CpuTimes {
        user_secs: m.get("user").copied().unwrap_or(0) as f64 / ticks,
        system_secs: m.get("system").copied().unwrap_or(0) as f64 / ticks,
    }
}

/// CPU times from v2 `cpu.stat` (microseconds).
pub fn cpu_times_v2(cpu_stat: &str) -> CpuTimes {
    let m = parse_keyed(cpu_stat);
    CpuTimes {
        user_secs: m.get("user_usec").copied().unwrap_or(0) as f64 / 1e6,
        system_secs: m.get("system_usec").copied().unwrap_or(0) as f64 / 1e6,
    }
}

/// Resident and page-cache memory of a cgroup, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Anonymous memory (`total_rss` on v1, `anon` on v2).
    pub rss: u64,
    /// Page cache (`total_cache` on v1, `file` on v2).
    pub cache: u64,
}

/// Memory use from v1 `memory.stat` (hierarchical `total_*` values when present).
pub fn memory_use_v1(memory_stat: &str) -> MemoryUse {
    let m = parse_keyed(memory_stat);
    let get = |total: &str, local: &str| m.get(total).or_else(|| m.get(local)).copied();
    MemoryUse {
        rss: get("total_rss", "rss").unwrap_or(0),
        cache: get("total_cache", "cache").unwrap_or(0),
    }
}

/// Memory use from v2 `memory.stat`.
pub fn memory_use_v2(memory_stat: &str) -> MemoryUse {
    let m = parse_keyed(memory_stat);
    MemoryUse {
        rss: m.get("anon").copied().unwrap_or(0),
        cache: m.get("file").copied().unwrap_or(0),
    }
}

/// Number of OOM kills recorded in v1 `memory.oom_control` or v2 `memory.events`
/// (both name it `oom_kill`).
pub fn oom_kills(text: &str) -> u64 {
    parse_keyed(text).get("oom_kill").copied().unwrap_or(0)
}

/// Number of pids listed in a `cgroup.procs` or `cgroup.threads`/`tasks` file.
pub fn parse_pids(text: &str) -> Vec<i32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_from_cpus() {
        assert_eq!(shares_for(1.0), 1024);
        assert_eq!(shares_for(0.5), 512);
        assert_eq!(shares_for(0.001), MIN_SHARES);
        assert_eq!(shares_for(1000.0), MAX_SHARES);
        assert_eq!(shares_for(0.0), 1024);
        assert_eq!(shares_for(f64::NAN), 1024);
        assert_eq!(cpus_from_shares(shares_for(1.5)), 1.5);
    }

    #[test]
    fn weight_conversion_matches_runc() {
        // Values from runc's ConvertCPUSharesToCgroupV2Value.
        assert_eq!(weight_for_shares(2), 1);
        assert_eq!(weight_for_shares(1024), 39);
        assert_eq!(weight_for_shares(262_144), 10_000);
        assert_eq!(weight_for_shares(512), 20);
        assert_eq!(weight_for_shares(0), 1);
    }

    #[test]
    fn cfs_quota() {
        assert_eq!(cfs_quota_for(0.5), 50_000);
        assert_eq!(cfs_quota_for(2.0), 200_000);
        assert_eq!(cfs_quota_for(0.001), MIN_CFS_QUOTA_US);
        assert_eq!(cpu_max_line(Some(50_000)), "50000 100000");
        assert_eq!(cpu_max_line(None), "max 100000");
        assert_eq!(
            parse_cpu_max("50000 100000\n"),
            Some((Some(50_000), 100_000))
        );
        assert_eq!(parse_cpu_max("max 100000"), Some((None, 100_000)));
        assert_eq!(parse_cpu_max("junk"), None);
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("-1"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("33554432\n"), Some(32 << 20));
        assert_eq!(parse_limit("x"), None);
        assert_eq!(limit_text(None), "max");
        assert_eq!(limit_text(Some(7)), "7");
    }

    #[test]
    fn stats() {
        let v1 = "cache 10\nrss 20\ntotal_cache 100\ntotal_rss 200\n";
        assert_eq!(
            memory_use_v1(v1),
            MemoryUse {
                rss: 200,
                cache: 100
            }
        );
        assert_eq!(
            memory_use_v1("cache 1\nrss 2\n"),
            MemoryUse { rss: 2, cache: 1 }
        );
        let v2 = "anon 4096\nfile 8192\nkernel 1\n";
        assert_eq!(
            memory_use_v2(v2),
            MemoryUse {
                rss: 4096,
                cache: 8192
            }
        );
        let t = cpu_times_v1("user 150\nsystem 50\n", 100);
        assert_eq!((t.user_secs, t.system_secs), (1.5, 0.5));
        let t = cpu_times_v2("usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\n");
        assert_eq!((t.user_secs, t.system_secs), (2.0, 1.0));
    }

    #[test]
    fn oom_counters() {
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n"), 1);
        assert_eq!(oom_kills("oom_kill_disable 0\n"), 0);
        assert_eq!(parse_pids("1\n22\n\nx\n"), vec![1, 22]);
    }
}
