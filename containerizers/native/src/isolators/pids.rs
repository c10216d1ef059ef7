//! `cgroups/pids`: a limit on the container's processes and threads (`pids.max`, the
//! same file on v1 and v2), from the container's limits or the agent's default.

use std::io;

use drover_containerizers::Limits;

use super::{Isolator, PrepareCtx, Prepared};
use crate::cgroups::values;
use crate::cgroups::{ContainerCgroup, Controller};
use crate::isolation::IsolatorName;

/// The `cgroups/pids` isolator.
#[derive(Debug)]
pub(crate) struct PidsIsolator {
    /// Limit for containers that ask for none.
    pub(crate) default_max: Option<u64>,
}

impl PidsIsolator {
    fn apply(&self, cg: &ContainerCgroup, asked: Option<u64>) -> io::Result<()> {
        let max = asked.or(self.default_max);
        cg.write(Controller::Pids, "pids.max", &values::limit_text(max))
    }
}

impl Isolator for PidsIsolator {
    fn name(&self) -> IsolatorName {
        IsolatorName::CgroupsPids
    }

    fn prepare(&self, ctx: &PrepareCtx<'_>, _out: &mut Prepared) -> Result<(), String> {
        if ctx.config.limits.pids == Some(0) {
            return Err("a process limit of 0 would not even let the executor start".into());
        }
        self.apply(ctx.cgroup, ctx.config.limits.pids)
            .map_err(|e| e.to_string())
    }

    fn update(&self, cgroup: &ContainerCgroup, limits: &Limits) -> io::Result<()> {
        self.apply(cgroup, limits.pids)
    }
}
