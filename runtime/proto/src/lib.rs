//! Drover's wire types: ids, resources, task and container descriptions, the messages of
//! every channel (one enum per direction) and the frame codec with the protocol version.
//!
//! ```text
//!  scheduler ──SchedulerCall──▶ master ──MasterToAgent──▶ agent ──ExecutorEvent──▶ executor
//!  scheduler ◀─SchedulerEvent── master ◀─AgentToMaster── agent ◀─ExecutorCall─── executor
//! ```
//!
//! Every arrow is one enum in [`messages`], encoded by [`codec`] into length-prefixed
//! frames. A connection starts with a [`codec::Hello`] that carries
//! [`codec::PROTOCOL_VERSION`]; bincode has no field tags, so any change to a type in this
//! crate must bump that version.
#![warn(missing_docs)]

pub mod codec;
pub mod executor_env;
pub mod host_ports;
pub mod ids;
pub mod info;
pub mod messages;
pub mod resources;
pub mod task;

pub use ids::{AgentId, ContainerId, ExecutorId, FrameworkId, OfferId, TaskId};
pub use info::*;
pub use messages::*;
pub use resources::{Resources, ResourcesError};
pub use task::*;
