//! The master's allocator: weighted hierarchical DRF as a pure function.
//!
//! ```text
//!   master shell events ──▶ AllocatorState ──owns──▶ Snapshot
//!                              (add_agent, track,        │ &Snapshot (read-only)
//!                               recover, decline, …)     ▼
//!                                               allocate(&Snapshot, &Policy, now)
//!                                                        │
//!   shell sends offers ◀── Vec<Allocation> ◀─────────────┘
//!   then state.apply(&allocations)
//! ```
//!
//! Semantics follow Mesos's `HierarchicalDRFAllocator`: roles are ordered by weighted
//! dominant share, frameworks within a role by dominant share; each agent's available
//! resources go to the first `(framework, role)` in that order that has no decline filter
//! on the agent, resources reserved to a role go only to that role's frameworks,
//! suppressed roles and disconnected frameworks get nothing, and offers below
//! [`MinAllocatable`] are not made. Nothing here reads a clock, the network or a random
//! source: `now` and the shuffle seed come in as arguments.
//!
//! Files: [`snapshot`](Snapshot) (the data), `state.rs` and `bookkeeping.rs` (incremental
//! updates), `cycle.rs` (the cycle), `drf.rs` (sorters), `policy.rs`, `quantities.rs`.

mod bookkeeping;
mod cycle;
mod drf;
mod policy;
mod quantities;
mod slots;
mod snapshot;
mod state;

#[cfg(test)]
mod tests;

use drover_proto::resources::Resources;
use drover_proto::{AgentId, FrameworkId};

pub use bookkeeping::MAX_REFUSE;
pub use cycle::allocate;
pub use policy::{AgentOrder, MinAllocatable, MinAllocatableError, Policy};
pub use quantities::Quantities;
pub use snapshot::{AgentView, FrameworkView, Snapshot};
pub use state::{AllocatorError, AllocatorState};

/// One offer to make: `resources` of `agent_id` to `framework_id` in `role`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The framework to offer to.
    pub framework_id: FrameworkId,
    /// The role the resources are allocated in (one the framework is subscribed to).
    pub role: String,
    /// The agent whose resources are offered.
    pub agent_id: AgentId,
    /// What is offered: unreserved resources and/or resources reserved to `role`.
    pub resources: Resources,
}
