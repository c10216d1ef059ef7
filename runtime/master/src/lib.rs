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
//!                     │
//!              http (actix-web: /state, /health, /metrics)
//! ```
#![warn(missing_docs)]

pub mod allocator;
pub mod core;
pub mod http;
pub mod metrics;
pub mod server;
pub mod shell;

pub use crate::core::{MasterConfig, MasterCore};
pub use server::{start, MasterError, MasterOptions, RunningMaster};
