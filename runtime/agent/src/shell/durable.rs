//! The durable side of the agent actor: writing the checkpoint (the core's part plus
//! the containers' handles), feeding start-up recovery to the core, and watching
//! containers (launched or re-attached) until they exit.
//!
//! ```text
//!  feed(input) ─▶ core.handle ─▶ checkpoint due? ─▶ save meta/agent.json ─▶ run commands
//!  started ─▶ Recover(checkpoint, running, gone) ─▶ wait() on each re-attached container
//!  launch ─▶ Launched{handle} ─▶ handles[cid] ─▶ ContainerLaunched ─▶ wait() ─▶ ContainerExited
//! ```

use super::agent_actor::AgentActor;
use super::containers::exit_of;
use super::messages::{Feed, Launched};
use crate::core::{ContainerExit, ExitCause, Input};
use actix::prelude::*;
use drover_containerizers::{ContainerId as CId, Containerizer};
use drover_proto::ContainerId;
use std::sync::Arc;

impl AgentActor {
    /// Writes the checkpoint with the handles of the containers it names. A failure is
    /// logged loudly: the agent keeps running, but a restart may not recover.
    pub(super) fn save_checkpoint(&mut self) {
        let cp = self.core.checkpoint();
        let live: std::collections::HashSet<&str> = cp
            .frameworks
            .iter()
            .flat_map(|f| &f.executors)
            .filter(|e| e.container_running)
            .map(|e| e.container_id.as_str())
            .collect();
        self.handles.retain(|id, _| live.contains(id.as_str()));
        let mut handles: Vec<_> = self.handles.values().cloned().collect();
        handles.sort_by(|a, b| a.id.cmp(&b.id));
        if let Err(e) = self.checkpointer.save(&cp, &handles) {
            tracing::error!(error = %e, "CANNOT CHECKPOINT: a restart of this agent may lose tasks");
        }
    }

    /// Feeds what start-up recovery found to the core and watches every re-attached
    /// container.
    pub(super) fn start_recovered(&mut self, ctx: &mut Context<Self>) {
        let Some(recovered) = self.recovered.take() else {
            return;
        };
        self.handles = recovered.handles;
        let Some(input) = recovered.input else {
            return;
        };
        let running = input.running.clone();
        self.feed(Input::Recover(Box::new(input)), ctx);
        for cid in running {
            let (addr, c) = (ctx.address(), self.containerizer.clone());
            actix::spawn(wait_for_exit(addr, c, cid));
        }
    }
}

/// Waits for a container's end and feeds `ContainerExited`.
pub(super) async fn wait_for_exit(
    addr: Addr<AgentActor>,
    c: Arc<dyn Containerizer>,
    cid: ContainerId,
) {
    let id = CId::new(cid.0.clone());
    let exit = match c.wait(&id).await {
        Ok(t) => exit_of(&t),
        Err(e) => ContainerExit {
            code: None,
            signal: None,
            cause: ExitCause::Exited,
            message: Some(format!("lost track of the container: {e}")),
        },
    };
    addr.do_send(Feed(Input::ContainerExited {
        container_id: cid,
        exit,
    }));
}

impl Handler<Launched> for AgentActor {
    type Result = ();

    fn handle(&mut self, msg: Launched, ctx: &mut Context<Self>) {
        if msg.handle.containerizer != "mock" {
            self.handles.insert(msg.container_id.0.clone(), msg.handle);
        }
        self.feed(
            Input::ContainerLaunched {
                container_id: msg.container_id,
            },
            ctx,
        );
    }
}
