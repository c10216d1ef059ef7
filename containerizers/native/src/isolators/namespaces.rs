//! `namespaces/pid` and `network/none`: namespaces beyond the launcher's mount, uts
//! and ipc ones.
//!
//! - `namespaces/pid`: the container's init is pid 1 of a new pid namespace (the
//!   task sees itself as a low pid and `ps` shows only the container) and `/proc` is
//!   mounted afresh for it.
//! - `network/none`: a new network namespace with only `lo`, brought up; the
//!   container option `network=host` opts one container out. The whole container
//!   (a custom executor too, which then cannot reach its agent) gets it, unless
//!   `network_for=task` (the command executor's case): then the launch leaves the main
//!   process in the host's namespace and sets `DROVER_NETWORK_NONE=1` for it to give
//!   its task the private one.

use super::{Isolator, PrepareCtx, Prepared};
use crate::isolation::IsolatorName;

/// The `namespaces/pid` isolator.
#[derive(Debug)]
pub(crate) struct PidNamespace;

impl Isolator for PidNamespace {
    fn name(&self) -> IsolatorName {
        IsolatorName::NamespacesPid
    }

    fn prepare(&self, _ctx: &PrepareCtx<'_>, out: &mut Prepared) -> Result<(), String> {
        out.new_pid = true;
        out.fs.private_proc = true;
        Ok(())
    }
}

/// The `network/none` isolator.
#[derive(Debug)]
pub(crate) struct NetworkNone;

impl Isolator for NetworkNone {
    fn name(&self) -> IsolatorName {
        IsolatorName::NetworkNone
    }

    fn prepare(&self, ctx: &PrepareCtx<'_>, out: &mut Prepared) -> Result<(), String> {
        out.new_net = ctx.options.network_none.unwrap_or(true);
        Ok(())
    }
}
