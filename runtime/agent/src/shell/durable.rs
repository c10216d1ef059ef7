//! The durable side of the agent actor: handing the checkpoint (the core's part plus
//! the containers' handles) to the writer thread, failing loudly when a write fails,
//! feeding start-up recovery to the core, and watching containers (launched or
//! re-attached) until they exit.
//!
//! ```text
//!  feed(input) ─▶ core.handle ─▶ checkpoint due? ─▶ writer.submit(seq, sync)
//!                 durable ─▶ launch containers now, hold the other commands
//!                 prompt (handles, subscriptions, non-terminal executor updates)
//!                      ─▶ written now, hold nothing (unless older commands are held)
//!                 lazy (acks only) ─▶ hold nothing (unless older commands are held)
//!  CheckpointDurable(Ok(seq)) ─▶ run the held commands   (Err ─▶ the agent exits)
//!  started ─▶ Recover(checkpoint, running, gone) ─▶ wait() on each re-attached container
//!  launch ─▶ Launched{handle} ─▶ handles[cid] ─▶ ContainerLaunched ─▶ wait() ─▶ ContainerExited
//! ```

use super::agent_actor::AgentActor;
use super::checkpoint_writer::{CheckpointWriter, Job};
use super::containers::exit_of;
use super::messages::{AgentExit, CheckpointDurable, Feed, Launched};
use crate::core::{CheckpointDue, ContainerExit, ExitCause, Input};
use actix::prelude::*;
use drover_containerizers::{ContainerId as CId, Containerizer};
use drover_proto::ContainerId;
use std::sync::Arc;

impl AgentActor {
    /// Starts the checkpoint writer thread; false (and the agent ends) if it cannot.
    pub(super) fn start_writer(&mut self, ctx: &mut Context<Self>) -> bool {
        let Some(checkpointer) = self.recovered.as_ref().map(|r| r.checkpointer.clone()) else {
            return true;
        };
        let addr = ctx.address();
        match CheckpointWriter::spawn(checkpointer, move |r| {
            addr.do_send(CheckpointDurable(r.map_err(|e| e.to_string())));
        }) {
            Ok(w) => {
                self.writer = Some(w);
                true
            }
            Err(e) => {
                self.checkpoint_failed(
                    format!("cannot start the checkpoint writer thread: {e}"),
                    ctx,
                );
                false
            }
        }
    }

    /// A durable write failed: the agent's guarantees no longer hold, so it stops at
    /// once (as Mesos aborts), leaving its tasks running for the next agent process.
    fn checkpoint_failed(&mut self, error: String, ctx: &mut Context<Self>) {
        tracing::error!(%error, "CHECKPOINT WRITE FAILED: the agent exits (its tasks keep running; fix the work dir and restart it)");
        self.broken = true;
        self.held.clear();
        self.end(AgentExit::CheckpointFailed(error), ctx);
    }

    /// Hands the checkpoint, with the handles of the containers it names, to the writer;
    /// a durable one is what the commands that follow wait for.
    pub(super) fn save_checkpoint(&mut self, due: CheckpointDue) {
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
        self.submitted += 1;
        let sync = due >= CheckpointDue::Prompt;
        if due == CheckpointDue::Durable {
            self.needed = self.submitted;
        }
        let job = Job {
            seq: self.submitted,
            sync,
            agent: cp,
            containers: handles,
        };
        if let Some(w) = &self.writer {
            // A stopped writer has reported its failure, which ends the agent.
            w.submit(job);
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

impl Handler<CheckpointDurable> for AgentActor {
    type Result = ();

    fn handle(&mut self, msg: CheckpointDurable, ctx: &mut Context<Self>) {
        match msg.0 {
            Ok(seq) => self.checkpoint_durable(seq, ctx),
            Err(e) => self.checkpoint_failed(e, ctx),
        }
    }
}
