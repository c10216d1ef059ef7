//! `usage` and `update` of a running container: each isolator reads or writes its
//! cgroup files; process and thread counts come from the container's cgroup.

use std::time::SystemTime;

use drover_containerizers::{ContainerId, ContainerizerError, Limits, ResourceStatistics};

use crate::native::{Entry, Inner};
use crate::options::MIN_MEMORY_BYTES;

impl Inner {
    pub(crate) fn usage_of(&self, entry: &Entry) -> Result<ResourceStatistics, ContainerizerError> {
        let limits = entry.limits();
        let mut stats = ResourceStatistics {
            timestamp: SystemTime::now(),
            cpus_user_time_secs: 0.0,
            cpus_system_time_secs: 0.0,
            cpus_limit: None,
            mem_rss_bytes: 0,
            mem_cache_bytes: None,
            mem_limit_bytes: None,
            processes: 0,
            threads: 0,
        };
        let io = |e: std::io::Error| {
            ContainerizerError::io("cannot read the container's cgroups", &entry.dir, e)
        };
        for iso in &self.isolators {
            iso.usage(&entry.cgroup, &limits, &mut stats).map_err(io)?;
        }
        stats.processes = u32::try_from(entry.cgroup.pids().map_err(io)?.len()).unwrap_or(u32::MAX);
        stats.threads = u32::try_from(entry.cgroup.thread_count().map_err(io)?).unwrap_or(u32::MAX);
        Ok(stats)
    }

    pub(crate) fn update_entry(
        &self,
        id: &ContainerId,
        entry: &Entry,
        limits: Limits,
    ) -> Result<(), ContainerizerError> {
        if limits.mem_bytes != 0 && limits.mem_bytes < MIN_MEMORY_BYTES {
            return Err(ContainerizerError::InvalidConfig {
                id: id.clone(),
                message: format!(
                    "memory limit of {} bytes is below the minimum of 32 MiB",
                    limits.mem_bytes
                ),
            });
        }
        for iso in &self.isolators {
            iso.update(&entry.cgroup, &limits)
                .map_err(|e| ContainerizerError::InvalidConfig {
                    id: id.clone(),
                    message: format!("{}: {e}", iso.name()),
                })?;
        }
        *entry.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
        crate::exit::save_limits(entry, limits);
        Ok(())
    }
}
