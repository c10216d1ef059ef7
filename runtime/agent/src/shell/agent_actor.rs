//! The agent actor: the thin shell around [`AgentCore`]. It turns transport events,
//! containerizer results and timer expiries into core inputs, and carries out the
//! core's commands.
//!
//! ```text
//!  master Link ─LinkUp/Inbound/LinkDown─┐                 ┌─▶ Link::send (master)
//!  executor peers ─Connected/Inbound/───┼─▶ AgentCore ────┼─▶ PeerSender::send (executors)
//!                  Disconnected         │   .handle(now)  ├─▶ containerizer futures ─┐
//!  containerizer futures ─Feed(input)───┤                 └─▶ run_later(next_deadline)
//!  run_later ─Tick──────────────────────┘◀────────────────────────────────────────────┘
//! ```
//!
//! Containerizer calls run as futures on the actor's arbiter (no thread per container);
//! each launch future reports `ContainerLaunched`, then waits and reports
//! `ContainerExited`.

use super::checkpoint_writer::CheckpointWriter;
use super::containers::container_config;
use super::messages::{AgentExit, Feed, Launched, MasterEvent, MasterSink, Stop};
use super::recovery::StartupRecovery;
use crate::core::{AgentCore, Command, ExecutorConn, Input, LaunchSpec};
use crate::http::{GetMetrics, GetSnapshot};
use actix::prelude::*;
use drover_containerizers::{
    ContainerHandle, ContainerId as CId, Containerizer, LaunchResult, MockSpec,
};
use drover_proto::codec::Role;
use drover_proto::{AgentToMaster, ExecutorCall, ExecutorEvent};
use drover_transport::{Link, LinkEvent, LinkOptions, Node, PeerId, PeerSender, ServerEvent};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// The agent actor.
pub(crate) struct AgentActor {
    pub(super) core: AgentCore,
    /// Reused command buffer.
    commands: Vec<Command>,
    node: Node,
    masters: Vec<SocketAddr>,
    link: Option<Link<AgentToMaster>>,
    generation: u64,
    executors: HashMap<PeerId, PeerSender<ExecutorEvent>>,
    pub(super) containerizer: Arc<dyn Containerizer>,
    mock: MockSpec,
    timer: Option<(Instant, SpawnHandle)>,
    exit: watch::Sender<Option<AgentExit>>,
    /// Set when the agent is ending: stop once `destroying` reaches zero.
    ending: Option<AgentExit>,
    destroying: usize,
    /// Writes `<work_dir>/meta/` on its own thread (started with the actor).
    pub(super) writer: Option<CheckpointWriter>,
    /// Sequence number of the last checkpoint handed to the writer.
    pub(super) submitted: u64,
    /// Sequence number of the last checkpoint that must be durable before the commands
    /// that follow it run (lazy checkpoints do not raise it).
    pub(super) needed: u64,
    /// Sequence number of the last checkpoint the writer reported durable.
    pub(super) durable: u64,
    /// Commands waiting for a checkpoint to be durable: (its sequence number, commands).
    pub(super) held: VecDeque<(u64, Vec<Command>)>,
    /// A checkpoint write failed: nothing more is carried out; the agent is ending.
    pub(super) broken: bool,
    /// Handles of launched or re-attached containers, by container id (checkpointed).
    pub(super) handles: HashMap<String, ContainerHandle>,
    /// What start-up recovery found, fed to the core when the actor starts.
    pub(super) recovered: Option<StartupRecovery>,
    /// The Docker engine to watch (docker containerizer configured), taken on start.
    pub(super) docker_watch: Option<super::docker_watch::DockerWatch>,
}

impl std::fmt::Debug for AgentActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentActor")
            .field("agent_id", &self.core.agent_id())
            .field("executors", &self.executors.len())
            .finish_non_exhaustive()
    }
}

impl AgentActor {
    pub(crate) fn new(
        core: AgentCore,
        node: Node,
        masters: Vec<SocketAddr>,
        containerizer: Arc<dyn Containerizer>,
        mock: MockSpec,
        exit: watch::Sender<Option<AgentExit>>,
        recovered: StartupRecovery,
    ) -> Self {
        Self {
            core,
            commands: Vec::new(),
            node,
            masters,
            link: None,
            generation: 0,
            executors: HashMap::new(),
            containerizer,
            mock,
            timer: None,
            exit,
            ending: None,
            destroying: 0,
            writer: None,
            submitted: 0,
            needed: 0,
            durable: 0,
            held: VecDeque::new(),
            broken: false,
            handles: HashMap::new(),
            recovered: Some(recovered),
            docker_watch: None,
        }
    }

    /// Runs one input through the core and carries out the commands. If the checkpoint
    /// changed durably, they (and those of later inputs, to keep their order) wait until
    /// it is on disk, except container launches (see [`launch_early`]); a lazy change
    /// (acknowledgements only) holds nothing by itself.
    pub(super) fn feed(&mut self, input: Input, ctx: &mut Context<Self>) {
        if self.broken {
            return;
        }
        let mut cmds = std::mem::take(&mut self.commands);
        self.core.handle_into(Instant::now(), input, &mut cmds);
        if let Some(due) = self.core.take_checkpoint_due() {
            self.save_checkpoint(due);
        }
        if self.durable < self.needed {
            self.launch_early(&mut cmds, ctx);
            self.held
                .push_back((self.needed, std::mem::take(&mut cmds)));
        } else {
            for cmd in cmds.drain(..) {
                self.execute(cmd, ctx);
            }
            self.commands = cmds;
        }
        self.rearm_timer(ctx);
    }

    /// Launches the containers of `cmds` now, without waiting for the checkpoint that
    /// records their tasks to be durable: the launch (and the executor's start-up)
    /// overlaps the fsync. This is safe because nothing the outside world sees depends
    /// on the launch alone: the tasks reach the executor only after the durable
    /// checkpoint that contains them (commands stay in order behind it). If the
    /// agent dies before the task's checkpoint is durable, the recovered agent does not
    /// know the container and destroys it as an orphan (the same as a crash between a
    /// launch and the checkpoint of its handle, a window that always existed), and the
    /// master's reconciliation (`ReconcileTasks`) turns the task, unknown to the agent,
    /// into `TASK_DROPPED`/`TASK_LOST`.
    fn launch_early(&mut self, cmds: &mut Vec<Command>, ctx: &mut Context<Self>) {
        if !cmds
            .iter()
            .any(|c| matches!(c, Command::LaunchContainer(_)))
        {
            return;
        }
        let (launches, rest): (Vec<_>, Vec<_>) = std::mem::take(cmds)
            .into_iter()
            .partition(|c| matches!(c, Command::LaunchContainer(_)));
        *cmds = rest;
        for cmd in launches {
            self.execute(cmd, ctx);
        }
    }

    /// The writer reports checkpoint `seq` durable: carry out what waited for it.
    pub(super) fn checkpoint_durable(&mut self, seq: u64, ctx: &mut Context<Self>) {
        self.durable = self.durable.max(seq);
        while self.held.front().is_some_and(|(s, _)| *s <= self.durable) {
            if let Some((_, cmds)) = self.held.pop_front() {
                for cmd in cmds {
                    self.execute(cmd, ctx);
                }
            }
        }
    }

    fn rearm_timer(&mut self, ctx: &mut Context<Self>) {
        let next = self.core.next_deadline();
        if self.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, h)) = self.timer.take() {
            ctx.cancel_future(h);
        }
        if let Some(at) = next {
            let delay = at.saturating_duration_since(Instant::now());
            let h = ctx.run_later(delay, |act, ctx| {
                act.timer = None;
                act.feed(Input::Tick, ctx);
            });
            self.timer = Some((at, h));
        }
    }

    fn execute(&mut self, cmd: Command, ctx: &mut Context<Self>) {
        match cmd {
            Command::ConnectMaster { index } => self.connect_master(index, ctx),
            Command::SendToMaster(msg) => {
                if let Some(link) = &self.link {
                    if link.send(msg).is_err() {
                        tracing::warn!("master link closed; message dropped");
                    }
                }
            }
            Command::SendToExecutor { conn, event } => {
                let peer = PeerId(conn.0);
                if let Some(s) = self.executors.get(&peer) {
                    if s.send(*event).is_err() {
                        tracing::debug!(%peer, "executor connection closed; event dropped");
                    }
                }
            }
            Command::DisconnectExecutor { conn } => {
                if let Some(s) = self.executors.remove(&PeerId(conn.0)) {
                    s.close();
                }
            }
            Command::LaunchContainer(spec) => self.launch(*spec, ctx),
            Command::UpdateContainer {
                container_id,
                resources,
                ..
            } => {
                let c = self.containerizer.clone();
                let limits = super::containers::limits(&resources);
                actix::spawn(async move {
                    let id = CId::new(container_id.0);
                    if let Err(e) = c.update(&id, limits).await {
                        tracing::debug!(container = %id, error = %e, "container update failed");
                    }
                });
            }
            Command::DestroyContainer { container_id, .. } => self.destroy(container_id.0, ctx),
            Command::Refused { reason } => self.end(AgentExit::Refused(reason), ctx),
        }
    }

    fn connect_master(&mut self, index: usize, ctx: &mut Context<Self>) {
        if let Some(old) = self.link.take() {
            old.close();
        }
        self.generation += 1;
        let mut addrs = self.masters.clone();
        let n = addrs.len();
        if n > 0 {
            addrs.rotate_left(index % n);
        }
        let sink = MasterSink {
            addr: ctx.address(),
            generation: self.generation,
        };
        self.link = Some(
            self.node
                .connect_any(addrs, Role::Master, LinkOptions::default(), sink),
        );
    }

    fn launch(&mut self, spec: LaunchSpec, ctx: &mut Context<Self>) {
        let addr = ctx.address();
        let c = self.containerizer.clone();
        let config = container_config(&spec, &self.mock);
        let cid = spec.container_id;
        let sandbox = spec.sandbox;
        actix::spawn(async move {
            let config = match config {
                Ok(c) => c,
                Err(e) => {
                    let message = e.to_string();
                    addr.do_send(Feed(Input::ContainerLaunchFailed {
                        container_id: cid,
                        message,
                    }));
                    return;
                }
            };
            if let Some(dir) = &sandbox {
                if let Err(e) = tokio::fs::create_dir_all(dir).await {
                    let message = format!("cannot create sandbox {}: {e}", dir.display());
                    addr.do_send(Feed(Input::ContainerLaunchFailed {
                        container_id: cid,
                        message,
                    }));
                    return;
                }
            }
            let id = CId::new(cid.0.clone());
            let handle = match c.launch(&id, config).await {
                Ok(LaunchResult::Launched(handle)) => handle,
                Ok(LaunchResult::NotSupported { reason: message }) => {
                    addr.do_send(Feed(Input::ContainerLaunchFailed {
                        container_id: cid,
                        message,
                    }));
                    return;
                }
                Err(e) => {
                    addr.do_send(Feed(Input::ContainerLaunchFailed {
                        container_id: cid,
                        message: e.to_string(),
                    }));
                    return;
                }
            };
            addr.do_send(Launched {
                container_id: cid.clone(),
                handle,
            });
            super::durable::wait_for_exit(addr, c, cid).await;
        });
    }

    fn destroy(&mut self, id: String, ctx: &mut Context<Self>) {
        let c = self.containerizer.clone();
        self.destroying += 1;
        let fut = async move {
            let id = CId::new(id);
            if let Err(e) = c.destroy(&id).await {
                tracing::warn!(container = %id, error = %e, "container destroy failed");
            }
        };
        ctx.spawn(fut.into_actor(self).map(|(), act, ctx| {
            act.destroying -= 1;
            act.maybe_stop(ctx);
        }));
    }

    /// Ends the agent once every destroy in flight has finished.
    pub(super) fn end(&mut self, why: AgentExit, ctx: &mut Context<Self>) {
        if self.ending.is_none() {
            self.ending = Some(why);
        }
        self.maybe_stop(ctx);
    }

    fn maybe_stop(&mut self, ctx: &mut Context<Self>) {
        if self.destroying == 0 && self.ending.is_some() {
            ctx.stop();
        }
    }
}

impl Actor for AgentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if !self.start_writer(ctx) {
            return;
        }
        self.start_recovered(ctx);
        self.start_docker_watch(ctx);
        self.feed(Input::Start, ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(link) = self.link.take() {
            link.close();
        }
        for (_, s) in self.executors.drain() {
            s.close();
        }
        self.node.shutdown();
        let why = self.ending.clone().unwrap_or(AgentExit::Stopped);
        tracing::info!(?why, "agent stopped");
        self.exit.send_replace(Some(why));
    }
}

impl Handler<Feed> for AgentActor {
    type Result = ();

    fn handle(&mut self, msg: Feed, ctx: &mut Context<Self>) {
        self.feed(msg.0, ctx);
    }
}

impl Handler<MasterEvent> for AgentActor {
    type Result = ();

    fn handle(&mut self, msg: MasterEvent, ctx: &mut Context<Self>) {
        if msg.generation != self.generation {
            return;
        }
        let input = match msg.event {
            LinkEvent::Up(_) => Input::MasterConnected,
            LinkEvent::Message(m) => Input::Master(m.msg),
            LinkEvent::Down(d) => {
                tracing::warn!(reason = %d.reason, "lost the master connection");
                Input::MasterDisconnected
            }
        };
        self.feed(input, ctx);
    }
}

impl Handler<ServerEvent<ExecutorCall, ExecutorEvent>> for AgentActor {
    type Result = ();

    fn handle(&mut self, msg: ServerEvent<ExecutorCall, ExecutorEvent>, ctx: &mut Context<Self>) {
        match msg {
            ServerEvent::Connected(c) => {
                tracing::debug!(peer = %c.peer, id = %c.info.id, "executor connected");
                self.executors.insert(c.peer, c.sender);
            }
            ServerEvent::Message(m) => {
                let conn = ExecutorConn(m.peer.0);
                self.feed(Input::Executor { conn, call: m.msg }, ctx);
            }
            ServerEvent::Disconnected(d) => {
                self.executors.remove(&d.peer);
                let conn = ExecutorConn(d.peer.0);
                self.feed(Input::ExecutorDisconnected { conn }, ctx);
            }
        }
    }
}

impl Handler<GetSnapshot> for AgentActor {
    type Result = MessageResult<GetSnapshot>;

    fn handle(&mut self, _: GetSnapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.snapshot())
    }
}

impl Handler<GetMetrics> for AgentActor {
    type Result = MessageResult<GetMetrics>;

    fn handle(&mut self, _: GetMetrics, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.metrics())
    }
}

impl Handler<Stop> for AgentActor {
    type Result = ();

    fn handle(&mut self, msg: Stop, ctx: &mut Context<Self>) {
        if msg.destroy_containers {
            for id in self.core.container_ids() {
                self.destroy(id.0, ctx);
            }
        }
        self.end(AgentExit::Stopped, ctx);
    }
}
