//! What framework authors depend on: the [`scheduler::Scheduler`] and
//! [`executor::Executor`] traits with their drivers, and the built-in
//! [`command_executor`] that runs `CommandInfo` tasks.
//!
//! ```text
//!  framework process                     agent host
//!  ┌───────────────────────────┐         ┌─────────────────────────────────────────┐
//!  │ impl Scheduler            │         │ drover executor  (command_executor::run) │
//!  │ SchedulerDriver ──QUIC──▶ master ──▶ agent ──QUIC──▶ ExecutorDriver + Executor │
//!  └───────────────────────────┘         └─────────────────────────────────────────┘
//! ```
//!
//! Every driver runs on a thread of its own with its own actix System, as a thin shell
//! around a pure core (`scheduler::core`, `executor::core`, `command_executor::core`)
//! that takes `now` and inputs and returns commands. Nothing needs a runtime from the
//! caller: a plain `fn main` works, and so does a test inside an actix System.
#![warn(missing_docs)]

pub mod command_executor;
mod error;
pub mod executor;
mod net;
mod runtime;
pub mod scheduler;

/// The protocol types framework authors use (tasks, offers, resources...).
pub use drover_proto as proto;
pub use error::SdkError;
