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
//! - [`shell`]: [`Agent::start`] and the actor around the core.
//! - [`http`]: `/state`, `/health`, `/metrics`, `/files/read`.
//! - [`resources_discovery`]: what the machine has, and `--resources` overrides.
//! - [`config`]: [`AgentConfig`], what the `drover agent` flags map to.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use drover_agent::{Agent, AgentConfig, ContainerizerKind};
//! let mut config = AgentConfig::new(vec!["127.0.0.1:5050".into()], "/var/lib/drover", "/etc/drover/tls");
//! config.containerizers = vec![ContainerizerKind::Mock];
//! let agent = Agent::start(config).await?;   // inside an actix system
//! println!("HTTP on {}", agent.http_addr());
//! agent.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod containerizer_kind;
pub mod core;
pub mod http;
pub mod resources_discovery;
pub mod shell;

pub use config::AgentConfig;
pub use containerizer_kind::ContainerizerKind;
pub use shell::recovery::RecoverMode;
pub use shell::{Agent, AgentExit, AgentHandle, StartError};
