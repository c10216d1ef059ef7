//! `cgroups/cpu`: CPU shares (v2: `cpu.weight`), an optional CFS quota, CPU time.
//!
//! ```text
//!   cpus ─▶ v1: cpu.shares = 1024 × cpus   [cfs: cpu.cfs_period_us, cpu.cfs_quota_us]
//!        ─▶ v2: cpu.weight = convert(shares) [cfs: cpu.max = "<quota> <period>"]
//!   usage: v1 cpuacct.stat (ticks), v2 cpu.stat (µs); limit read back from the kernel
//! ```

use std::io;

use drover_containerizers::{Limits, ResourceStatistics};

use super::{Isolator, PrepareCtx, Prepared};
use crate::cgroups::values::{self, CFS_PERIOD_US};
use crate::cgroups::{ContainerCgroup, Controller};
use crate::isolation::IsolatorName;

/// The `cgroups/cpu` isolator.
#[derive(Debug)]
pub(crate) struct CpuIsolator {
    /// Enforce a hard limit with a CFS quota.
    pub(crate) cfs: bool,
}

impl CpuIsolator {
    fn apply(&self, cg: &ContainerCgroup, cpus: f64) -> io::Result<()> {
        let limited = cpus > 0.0;
        let shares = values::shares_for(cpus);
        let quota = (self.cfs && limited).then(|| values::cfs_quota_for(cpus));
        if cg.is_v2() {
            cg.write(
                Controller::Cpu,
                "cpu.weight",
                &values::weight_for_shares(shares).to_string(),
            )?;
            if self.cfs {
                cg.write(Controller::Cpu, "cpu.max", &values::cpu_max_line(quota))?;
            }
        } else {
            cg.write(Controller::Cpu, "cpu.shares", &shares.to_string())?;
            if self.cfs {
                cg.write(
                    Controller::Cpu,
                    "cpu.cfs_period_us",
                    &CFS_PERIOD_US.to_string(),
                )?;
                let q = quota.map_or_else(|| "-1".to_owned(), |q| q.to_string());
                cg.write(Controller::Cpu, "cpu.cfs_quota_us", &q)?;
            }
        }
        Ok(())
    }

    /// The CPU limit the kernel enforces, in CPUs; `None` if none was asked.
    fn enforced(&self, cg: &ContainerCgroup, asked: f64) -> io::Result<Option<f64>> {
        if asked <= 0.0 {
            return Ok(None);
        }
        if self.cfs {
            let (quota, period) = if cg.is_v2() {
                let text = cg.read(Controller::Cpu, "cpu.max")?;
                values::parse_cpu_max(&text).unwrap_or((None, CFS_PERIOD_US))
            } else {
                let quota = values::parse_limit(&cg.read(Controller::Cpu, "cpu.cfs_quota_us")?);
                let period = values::parse_limit(&cg.read(Controller::Cpu, "cpu.cfs_period_us")?);
                (quota, period.unwrap_or(CFS_PERIOD_US))
            };
            return Ok(quota.map(|q| q as f64 / period.max(1) as f64));
        }
        if cg.is_v2() {
            // cpu.weight is coarser than shares: report the asked value if the kernel
            // holds exactly its weight, else what the weight stands for.
            let weight = values::parse_limit(&cg.read(Controller::Cpu, "cpu.weight")?);
            let asked_weight = values::weight_for_shares(values::shares_for(asked));
            return Ok(weight.map(|w| {
                if w == asked_weight {
                    asked
                } else {
                    values::cpus_from_shares(2 + (w.saturating_sub(1) * 262_142) / 9999)
                }
            }));
        }
        let shares = values::parse_limit(&cg.read(Controller::Cpu, "cpu.shares")?);
        Ok(shares.map(values::cpus_from_shares))
    }
}

impl Isolator for CpuIsolator {
    fn name(&self) -> IsolatorName {
        IsolatorName::CgroupsCpu
    }

    fn prepare(&self, ctx: &PrepareCtx<'_>, _out: &mut Prepared) -> Result<(), String> {
        let cpus = ctx.config.limits.cpus;
        if !cpus.is_finite() || cpus < 0.0 {
            return Err(format!("cpus must be a non-negative number, got {cpus}"));
        }
        self.apply(ctx.cgroup, cpus).map_err(|e| e.to_string())
    }

    fn update(&self, cgroup: &ContainerCgroup, limits: &Limits) -> io::Result<()> {
        self.apply(cgroup, limits.cpus)
    }

    fn usage(
        &self,
        cgroup: &ContainerCgroup,
        limits: &Limits,
        stats: &mut ResourceStatistics,
    ) -> io::Result<()> {
        let times = if cgroup.is_v2() {
            values::cpu_times_v2(&cgroup.read(Controller::Cpu, "cpu.stat")?)
        } else {
            let text = cgroup.read(Controller::Cpuacct, "cpuacct.stat")?;
            values::cpu_times_v1(&text, drover_containerizers::proc::clock_ticks_per_sec())
        };
        stats.cpus_user_time_secs = times.user_secs;
        stats.cpus_system_time_secs = times.system_secs;
        stats.cpus_limit = self.enforced(cgroup, limits.cpus)?;
        Ok(())
    }
}
