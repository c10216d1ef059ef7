//! Drover's chaos suite: a harness that starts clusters of real `drover` processes,
//! fault injectors, workloads, invariant checkers and seeded scenarios.
//!
//! ```text
//!   Seed ──derive──▶ fault seed, workload shape, timings      (printed on failure)
//!     │
//!   Cluster ── drover master --fault-injection ── drover agent ×N   (real processes,
//!     │            ▲ POST /faults (drop/partition)      ▲ kill -9    real QUIC + mTLS)
//!     │
//!   Workload (SDK scheduler in this process) ──▶ EventLog (every update, timestamped)
//!     │
//!   invariants::*  (pure checks over the EventLog: no terminal update lost, per-task
//!                   order, ...; one module per invariant)
//! ```
//!
//! A scenario runs a *safety phase* (faults on, invariants that must hold despite them)
//! then a *liveness phase* (faults healed, the cluster must converge). Every random
//! choice comes from one [`Seed`]; a failing scenario prints it, and
//! `DROVER_CHAOS_SEED=<seed>` replays it.
//!
//! The scenarios need the `drover` binary of the same build (`cargo build -p drover-cli`;
//! `cargo test --workspace` builds it): see [`procs::drover_binary`].
#![warn(missing_docs)]

pub mod cluster;
pub mod detection;
pub mod events;
pub mod invariants;
pub mod procs;
pub mod seed;
pub mod workload;

pub use cluster::{Cluster, ClusterError, ClusterSpec};
pub use events::{Event, EventLog};
pub use seed::Seed;
pub use workload::{Framework, TaskSpec};
