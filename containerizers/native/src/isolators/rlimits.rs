//! `posix/rlimits`: resource limits (`setrlimit`) for the main process, from the
//! container's `rlimit.<name>` options (see [`crate::options`]). The launcher sets
//! them after the fork, before the exec, so only the container is affected.

use super::{Isolator, PrepareCtx, Prepared};
use crate::isolation::IsolatorName;

/// The `posix/rlimits` isolator.
#[derive(Debug)]
pub(crate) struct PosixRlimits;

impl Isolator for PosixRlimits {
    fn name(&self) -> IsolatorName {
        IsolatorName::PosixRlimits
    }

    fn prepare(&self, ctx: &PrepareCtx<'_>, out: &mut Prepared) -> Result<(), String> {
        out.rlimits = ctx.options.rlimits.clone();
        Ok(())
    }
}
