//! The scheduler driver's actix shell: feeds link events, driver requests and timer
//! ticks into [`SchedulerCore`], and carries out its commands (open links, send calls,
//! run the user's callbacks, end). It makes no decision of its own.

use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::Instant;

use actix::fut::{ActorFutureExt, WrapFuture};
use actix::{Actor, ActorContext, AsyncContext, Context, Handler, SpawnHandle, StreamHandler};
use drover_proto::codec::Role;
use drover_proto::{SchedulerCall, SchedulerEvent};
use drover_transport::LinkEvent;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

use super::config::SchedulerConfig;
use super::core::{Callback, Command, Ending, Input, SchedulerCore, StopReason};
use super::driver::{Request, SchedulerDriver};
use super::Scheduler;
use crate::error::SdkError;
use crate::net::{Net, Tagged, TaggedSink};
use drover_transport::Link;
use std::net::SocketAddr;

type Outcome = Result<StopReason, SdkError>;

/// Runs the driver on the calling thread (a thread of its own) until it ends.
pub(crate) fn run<S: Scheduler>(
    config: SchedulerConfig,
    masters: Vec<SocketAddr>,
    net: Net,
    scheduler: S,
    driver: SchedulerDriver,
    requests: UnboundedReceiver<Request>,
) -> Outcome {
    let system = actix::System::new();
    let (done_tx, done_rx) = oneshot::channel();
    let outcome = system.block_on(async move {
        SchedulerActor::create(move |ctx| {
            ctx.add_stream(crate::net::receiver_stream(requests));
            SchedulerActor {
                core: SchedulerCore::new(&config),
                scheduler: Box::new(scheduler),
                driver,
                net,
                masters,
                link: None,
                generation: 0,
                timer: None,
                done: Some(done_tx),
            }
        });
        done_rx.await
    });
    outcome.unwrap_or_else(|_| Err(SdkError::DriverPanicked("the driver actor vanished".into())))
}

struct SchedulerActor<S: Scheduler> {
    core: SchedulerCore,
    /// Boxed: actors must be `Unpin`, user types need not be.
    scheduler: Box<S>,
    driver: SchedulerDriver,
    net: Net,
    /// The configured masters, resolved, in order.
    masters: Vec<SocketAddr>,
    link: Option<Link<SchedulerCall>>,
    /// Tags events of the current link; events of older links are ignored.
    generation: u64,
    timer: Option<SpawnHandle>,
    done: Option<oneshot::Sender<Outcome>>,
}

impl<S: Scheduler> Actor for SchedulerActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.feed(Input::Start, ctx);
    }
}

impl<S: Scheduler> SchedulerActor<S> {
    /// Runs `input` through the core and carries out its commands.
    fn feed(&mut self, input: Input, ctx: &mut Context<Self>) {
        let commands = self.core.handle(Instant::now(), input);
        // Publish the core's state before running callbacks, so a callback (e.g.
        // `subscribed`) sees the driver as it now is.
        let shared = self.driver.shared();
        shared
            .subscribed
            .store(self.core.is_subscribed(), Ordering::Release);
        *shared
            .framework_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self.core.framework_id().cloned();
        for command in commands {
            self.execute(command, ctx);
        }
        self.arm_timer(ctx);
    }

    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
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
            Command::Connect { start } => {
                if let Some(old) = self.link.take() {
                    old.close();
                }
                self.generation += 1;
                let sink = TaggedSink::new(self.generation, ctx.address().recipient());
                let mut order = self.masters.clone();
                order.rotate_left(start % self.masters.len().max(1));
                self.link = Some(self.net.connect(order, Role::Master, sink));
            }
            Command::Send(call) => {
                let name = call.name();
                if self.link.as_ref().is_none_or(|l| l.send(call).is_err()) {
                    tracing::warn!(call = name, "call not sent: the link is closed");
                }
            }
            Command::Deliver(callback) => self.deliver(callback),
            Command::Finish(ending) => {
                let outcome = match ending {
                    Ending::Stopped(reason) => Ok(reason),
                    Ending::Removed { message } => Err(SdkError::FrameworkRemoved { message }),
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
        let (s, d) = (&mut *self.scheduler, &self.driver);
        match callback {
            Callback::Subscribed {
                framework_id,
                master_info,
            } => s.subscribed(d, framework_id, master_info),
            Callback::Offers(offers) => s.offers(d, offers),
            Callback::Rescinded(offer_id) => s.offer_rescinded(d, offer_id),
            Callback::StatusUpdate(status) => s.status_update(d, status),
            Callback::FrameworkMessage {
                agent_id,
                executor_id,
                data,
            } => s.framework_message(d, agent_id, executor_id, data),
            Callback::AgentLost(agent_id) => s.agent_lost(d, agent_id),
            Callback::ExecutorLost {
                agent_id,
                executor_id,
                status,
            } => s.executor_lost(d, agent_id, executor_id, status),
            Callback::Rejected { call, message } => s.rejected(d, call, message),
            Callback::Error(message) => s.error(d, message),
            Callback::Disconnected => s.disconnected(d),
        }
    }
}

/// An event of the link of generation `.0`.
type LinkMsg = Tagged<LinkEvent<SchedulerEvent>>;

impl<S: Scheduler> Handler<LinkMsg> for SchedulerActor<S> {
    type Result = ();

    fn handle(&mut self, msg: LinkMsg, ctx: &mut Context<Self>) {
        if msg.generation != self.generation {
            return;
        }
        let input = match msg.event {
            LinkEvent::Up(up) => {
                tracing::info!(master = %up.info.addr, "connected to master");
                let master = self.masters.iter().position(|m| *m == up.info.addr);
                Input::Connected { master }
            }
            LinkEvent::Message(inbound) => Input::Event(inbound.msg),
            LinkEvent::Down(down) => {
                tracing::warn!(reason = %down.reason, "link to master lost");
                Input::Disconnected
            }
        };
        self.feed(input, ctx);
    }
}

impl<S: Scheduler> StreamHandler<Request> for SchedulerActor<S> {
    fn handle(&mut self, request: Request, ctx: &mut Context<Self>) {
        let input = match request {
            Request::Call(call) => Input::Call(call),
            Request::Stop { failover } => Input::Stop { failover },
        };
        self.feed(input, ctx);
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        // The actor holds a handle itself, so the request stream never ends first.
    }
}
