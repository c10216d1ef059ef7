//! The messages of the agent actor, and the transport sink that tags master link
//! events with the link they came from.

use super::agent_actor::AgentActor;
use crate::core::Input;
use actix::prelude::*;
use drover_proto::MasterToAgent;
use drover_transport::{EventSink, LinkEvent};

/// How the agent ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentExit {
    /// Stopped on request.
    Stopped,
    /// The master refused the agent.
    Refused(String),
    /// A checkpoint write failed (the message names the file and the cause): the agent
    /// cannot keep its promises and must not go on.
    CheckpointFailed(String),
}

/// The checkpoint writer's report: checkpoints up to this sequence number are on
/// disk, or the write failed.
#[derive(Debug)]
pub(crate) struct CheckpointDurable(pub(crate) Result<u64, String>);

impl Message for CheckpointDurable {
    type Result = ();
}

/// An input from a containerizer future.
#[derive(Debug)]
pub(crate) struct Feed(pub(crate) Input);

impl Message for Feed {
    type Result = ();
}

/// A container was launched: remember its handle (for the checkpoint), then feed
/// `ContainerLaunched`.
#[derive(Debug)]
pub(crate) struct Launched {
    pub(crate) container_id: drover_proto::ContainerId,
    pub(crate) handle: drover_containerizers::ContainerHandle,
}

impl Message for Launched {
    type Result = ();
}

/// A master link event, tagged with the link it came from.
#[derive(Debug)]
pub(crate) struct MasterEvent {
    pub(crate) generation: u64,
    pub(crate) event: LinkEvent<MasterToAgent>,
}

impl Message for MasterEvent {
    type Result = ();
}

/// Stop the agent (optionally destroying every container first).
#[derive(Debug)]
pub(crate) struct Stop {
    pub(crate) destroy_containers: bool,
}

impl Message for Stop {
    type Result = ();
}

/// Delivers one master link's events to the actor, tagged with its generation so that
/// events of a replaced link are ignored.
pub(crate) struct MasterSink {
    pub(crate) addr: Addr<AgentActor>,
    pub(crate) generation: u64,
}

impl EventSink<LinkEvent<MasterToAgent>> for MasterSink {
    fn deliver(&self, event: LinkEvent<MasterToAgent>) -> bool {
        if !self.addr.connected() {
            return false;
        }
        self.addr.do_send(MasterEvent {
            generation: self.generation,
            event,
        });
        true
    }
}
