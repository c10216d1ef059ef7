//! The executor driver's actix shell: feeds link events, handle requests and timer
//! ticks into [`ExecutorCore`] and carries out its commands. No decisions here.

use std::net::SocketAddr;
use std::time::Instant;

use actix::fut::{ActorFutureExt, WrapFuture};
use actix::{Actor, ActorContext, AsyncContext, Context, Handler, SpawnHandle, StreamHandler};
use drover_proto::codec::Role;
use drover_proto::{ExecutorCall, ExecutorEvent};
use drover_transport::{Link, LinkEvent};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

use super::config::ExecutorConfig;
use super::core::{Callback, Command, Ending, ExecutorCore, Input};
use super::driver::{ExecutorDriver, Request};
use super::Executor;
use crate::error::SdkError;
use crate::net::{receiver_stream, Net, Tagged, TaggedSink};

type Outcome = Result<(), SdkError>;

/// Runs the driver on the calling thread (a thread of its own) until it ends.
pub(crate) fn run<E: Executor>(
    config: ExecutorConfig,
    agent: SocketAddr,
    net: Net,
    executor: E,
    driver: ExecutorDriver,
    requests: UnboundedReceiver<Request>,
) -> Outcome {
    let system = actix::System::new();
    let (done_tx, done_rx) = oneshot::channel();
    let outcome = system.block_on(async move {
        ExecutorActor::create(move |ctx| {
            ctx.add_stream(receiver_stream(requests));
            ExecutorActor {
                core: ExecutorCore::new(config),
                executor: Box::new(executor),
                driver,
                net,
                agent,
                link: None,
                timer: None,
                done: Some(done_tx),
            }
        });
        done_rx.await
    });
    outcome.unwrap_or_else(|_| Err(SdkError::DriverPanicked("the driver actor vanished".into())))
}

struct ExecutorActor<E: Executor> {
    core: ExecutorCore,
    /// Boxed: actors must be `Unpin`, user types need not be.
    executor: Box<E>,
    driver: ExecutorDriver,
    net: Net,
    agent: SocketAddr,
    link: Option<Link<ExecutorCall>>,
    timer: Option<SpawnHandle>,
    done: Option<oneshot::Sender<Outcome>>,
}

impl<E: Executor> Actor for ExecutorActor<E> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.feed(Input::Start, ctx);
    }
}

impl<E: Executor> ExecutorActor<E> {
    /// Runs `input` through the core and carries out its commands.
    fn feed(&mut self, input: Input, ctx: &mut Context<Self>) {
        for command in self.core.handle(Instant::now(), input) {
            self.execute(command, ctx);
        }
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(deadline) = self.core.next_deadline() {
            let delay = deadline.saturating_duration_since(Instant::now());
            self.timer = Some(ctx.run_later(delay, |act, ctx| {
                act.timer = None;
                act.feed(Input::Tick, ctx);
            }));
        }
    }

    fn execute(&mut self, command: Command, ctx: &mut Context<Self>) {
        match command {
            Command::Connect => {
                let sink = TaggedSink::new(0, ctx.address().recipient());
                self.link = Some(self.net.connect(vec![self.agent], Role::Agent, sink));
            }
            Command::Send(call) => {
                if self.link.as_ref().is_none_or(|l| l.send(call).is_err()) {
                    tracing::warn!("call to the agent not sent: the link is closed");
                }
            }
            Command::Deliver(callback) => self.deliver(callback),
            Command::Finish(ending) => {
                let outcome = match ending {
                    Ending::Stopped => Ok(()),
                    Ending::RecoveryTimeout(timeout) => Err(SdkError::RecoveryTimeout { timeout }),
                    Ending::Refused(message) => Err(SdkError::AgentRefused { message }),
                };
                let flushed = crate::net::close_and_wait(self.link.take());
                ctx.wait(flushed.into_actor(self).map(move |(), act, ctx| {
                    if let Some(done) = act.done.take() {
                        let _ = done.send(outcome);
                    }
                    ctx.stop();
                }));
            }
        }
    }

    fn deliver(&mut self, callback: Callback) {
        let (e, d) = (&mut *self.executor, &self.driver);
        match callback {
            Callback::Registered {
                executor_info,
                framework_info,
                agent_id,
            } => e.registered(d, executor_info, framework_info, agent_id),
            Callback::Reregistered { agent_id } => e.reregistered(d, agent_id),
            Callback::Disconnected => e.disconnected(d),
            Callback::Launch(task) => e.launch_task(d, task),
            Callback::Kill {
                task_id,
                kill_policy,
            } => e.kill_task(d, task_id, kill_policy),
            Callback::Acknowledged(status) => e.acknowledged(d, status),
            Callback::Message(data) => e.framework_message(d, data),
            Callback::Shutdown { grace_period } => e.shutdown(d, grace_period),
            Callback::Error(message) => e.error(d, message),
        }
    }
}

impl<E: Executor> Handler<Tagged<LinkEvent<ExecutorEvent>>> for ExecutorActor<E> {
    type Result = ();

    fn handle(&mut self, msg: Tagged<LinkEvent<ExecutorEvent>>, ctx: &mut Context<Self>) {
        let input = match msg.event {
            LinkEvent::Up(up) => {
                tracing::info!(agent = %up.info.addr, "connected to the agent");
                Input::Connected
            }
            LinkEvent::Message(inbound) => Input::Event(inbound.msg),
            LinkEvent::Down(down) => {
                tracing::warn!(reason = %down.reason, "link to the agent lost");
                Input::Disconnected
            }
        };
        self.feed(input, ctx);
    }
}

impl<E: Executor> StreamHandler<Request> for ExecutorActor<E> {
    fn handle(&mut self, request: Request, ctx: &mut Context<Self>) {
        let input = match request {
            Request::Update(status) => Input::SendUpdate(status),
            Request::Message(data) => Input::SendMessage(data),
            Request::Stop => Input::Stop,
        };
        self.feed(input, ctx);
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        // The actor holds a handle itself, so the request stream never ends first.
    }
}
