//! The Drover agent: resource discovery, executors launched through containerizers,
//! the status update manager and the HTTP API.
//!
//! ```text
//!            QUIC (role agent)                      QUIC (role executor)
//!  master ◀──────────────────▶ ┌───────────────┐ ◀──────────────────▶ executors
//!                              │ AgentActor    │
//!                              │  └ AgentCore  │ ──launch/wait/destroy──▶ containerizers
//!  HTTP /state /metrics ◀────▶ └───────────────┘
//!       /files/read
//! ```
//!
//! - [`core`]: every decision, pure (`handle(now, input) -> commands`).
//! - [`resources_discovery`]: what the machine has, and `--resources` overrides.
//! - [`config`]: [`AgentConfig`], what the `drover agent` flags map to.
#![warn(missing_docs)]

pub mod containerizer_kind;
pub mod core;

pub use containerizer_kind::ContainerizerKind;
