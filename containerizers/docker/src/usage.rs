//! Resource usage and limits of a Drover container's Docker containers (Engine API
//! stats, inspect and update), on top of the executor's own by the Docker
//! containerizer.

use bollard::models::ContainerUpdateBody;
use bollard::query_parameters::StatsOptionsBuilder;
use drover_containerizers::{Limits, ResourceStatistics};
use futures::StreamExt;

use crate::error::DockerError;
use crate::runner::DockerRunner;
use crate::spec::{CPU_SHARES_PER_CPU, MIN_MEMORY_BYTES};

/// Adds the usage of container `id` to `stats`: CPU times, memory, processes, and its
/// CPU and memory limits (from its host config). A container that stopped meanwhile
/// adds nothing.
pub(crate) async fn add_container_usage(
    runner: &DockerRunner,
    id: &str,
    stats: &mut ResourceStatistics,
) -> Result<(), DockerError> {
    let info = runner
        .client()
        .inspect_container(id, None)
        .await
        .map_err(DockerError::api("inspect"))?;
    let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    if !running {
        return Ok(());
    }
    let options = StatsOptionsBuilder::new()
        .stream(false)
        .one_shot(true)
        .build();
    let mut sample = runner.client().stats(id, Some(options));
    let Some(sample) = sample.next().await else {
        return Ok(());
    };
    let sample = sample.map_err(DockerError::api("stats"))?;
    const NANOS: f64 = 1e9;
    if let Some(cpu) = sample.cpu_stats.and_then(|c| c.cpu_usage) {
        stats.cpus_user_time_secs += cpu.usage_in_usermode.unwrap_or(0) as f64 / NANOS;
        stats.cpus_system_time_secs += cpu.usage_in_kernelmode.unwrap_or(0) as f64 / NANOS;
    }
    if let Some(mem) = sample.memory_stats {
        stats.mem_rss_bytes += mem.usage.unwrap_or(0);
    }
    if let Some(pids) = sample.pids_stats.and_then(|p| p.current) {
        stats.processes += u32::try_from(pids).unwrap_or(u32::MAX);
        stats.threads += u32::try_from(pids).unwrap_or(u32::MAX);
    }
    if let Some(host) = info.host_config {
        if let Some(shares) = host.cpu_shares.filter(|s| *s > 0) {
            stats.cpus_limit = Some(shares as f64 / CPU_SHARES_PER_CPU);
        }
        if let Some(mem) = host.memory.filter(|m| *m > 0) {
            stats.mem_limit_bytes = u64::try_from(mem).ok();
        }
    }
    Ok(())
}

/// Sets container `id`'s CPU shares and memory limit to `limits` (what is `0` is left
/// as it is).
pub(crate) async fn update_limits(
    runner: &DockerRunner,
    id: &str,
    limits: Limits,
) -> Result<(), DockerError> {
    let body = ContainerUpdateBody {
        cpu_shares: (limits.cpus > 0.0)
            .then(|| ((limits.cpus * CPU_SHARES_PER_CPU).round() as i64).max(2)),
        memory: (limits.mem_bytes > 0)
            .then(|| i64::try_from(limits.mem_bytes.max(MIN_MEMORY_BYTES)).unwrap_or(i64::MAX)),
        ..ContainerUpdateBody::default()
    };
    runner
        .client()
        .update_container(id, body)
        .await
        .map_err(DockerError::api("update"))
}
