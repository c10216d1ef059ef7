//! The Drover master: agent and framework registration, the DRF allocator, offers,
//! task validation, the registry and the HTTP operator API.
//!
//! ```text
//!  schedulers ──QUIC──┐                      ┌──QUIC── agents
//!                     ▼                      ▼
//!              shell::MasterActor (actix, transport bridge, timers)
//!                     │ Input                ▲ Vec<Command>
//!                     ▼                      │
//!              core::MasterCore (pure) ── allocator (pure DRF)
//!                     │ Command::Persist(RegistryOp)
//!                     ▼
//!              registry::RegistryWriter (own thread) ──▶ <work_dir>/registry.redb
//!
//!              http (actix-web: /state, /health, /metrics)
//! ```
//!
//! On start, [`server::start`] replays the registry into the core
//! ([`MasterCore::recover`]): known agents get `agent_reregister_timeout` to
//! re-register, frameworks wait for their schedulers; see [`core::recovery`].
#![warn(missing_docs)]

pub mod allocator;
pub mod core;
pub mod http;
pub mod http_faults;
pub mod metrics;
pub mod outbox;
pub mod registry;
pub mod server;
pub mod shell;

pub use crate::core::{MasterConfig, MasterCore};
pub use server::{start, MasterError, MasterOptions, RunningMaster};
