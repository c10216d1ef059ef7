//! `cgroups/mem`: a hard memory limit (task + executor memory, as the agent sums it),
//! memory usage, and the OOM signal (see [`crate::cgroups::oom`]).
//!
//! ```text
//!   limit ─▶ v1: memory.limit_in_bytes        v2: memory.max (+ memory.swap.max = 0)
//!   usage ◀─ memory.stat (rss/anon, cache/file), the limit read back
//! ```

use std::io;

use drover_containerizers::{Limits, ResourceStatistics};

use super::{Isolator, PrepareCtx, Prepared};
use crate::cgroups::values;
use crate::cgroups::{ContainerCgroup, Controller};
use crate::isolation::IsolatorName;

/// The `cgroups/mem` isolator.
#[derive(Debug)]
pub(crate) struct MemIsolator;

fn apply(cg: &ContainerCgroup, bytes: u64) -> io::Result<()> {
    let limit = (bytes > 0).then_some(bytes);
    if cg.is_v2() {
        cg.write(Controller::Memory, "memory.max", &values::limit_text(limit))?;
        if limit.is_some()
            && cg
                .dir(Controller::Memory)
                .is_some_and(|d| d.join("memory.swap.max").exists())
        {
            // Over the limit means OOM, not swapping.
            cg.write(Controller::Memory, "memory.swap.max", "0")?;
        }
        Ok(())
    } else {
        cg.write(
            Controller::Memory,
            "memory.limit_in_bytes",
            &limit.map_or("-1".into(), |l| l.to_string()),
        )
    }
}

impl Isolator for MemIsolator {
    fn name(&self) -> IsolatorName {
        IsolatorName::CgroupsMem
    }

    fn prepare(&self, ctx: &PrepareCtx<'_>, _out: &mut Prepared) -> Result<(), String> {
        apply(ctx.cgroup, ctx.config.limits.mem_bytes).map_err(|e| e.to_string())
    }

    fn update(&self, cgroup: &ContainerCgroup, limits: &Limits) -> io::Result<()> {
        apply(cgroup, limits.mem_bytes)
    }

    fn usage(
        &self,
        cgroup: &ContainerCgroup,
        _limits: &Limits,
        stats: &mut ResourceStatistics,
    ) -> io::Result<()> {
        let stat = cgroup.read(Controller::Memory, "memory.stat")?;
        let (used, limit) = if cgroup.is_v2() {
            (
                values::memory_use_v2(&stat),
                cgroup.read(Controller::Memory, "memory.max")?,
            )
        } else {
            (
                values::memory_use_v1(&stat),
                cgroup.read(Controller::Memory, "memory.limit_in_bytes")?,
            )
        };
        stats.mem_rss_bytes = used.rss;
        stats.mem_cache_bytes = Some(used.cache);
        stats.mem_limit_bytes = values::parse_limit(&limit);
        Ok(())
    }
}
