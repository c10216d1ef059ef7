//! [`SchedulerDriver`], the handle a scheduler acts through, and [`SchedulerRun`], the
//! handle to wait for the driver's end. `start` spawns a thread that runs its own actix
//! System with the driver's actor, so it works from a plain `fn main` and from inside
//! any async runtime alike.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use drover_proto::{
    AgentId, ExecutorId, Filters, FrameworkId, OfferId, Operation, ReconcileTask, TaskId, TaskInfo,
    TaskStatus,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::config::SchedulerConfig;
use super::core::DriverCall;
pub use super::core::StopReason;
use super::Scheduler;
use crate::error::SdkError;
use crate::runtime::DriverThread;

/// What the handle sends to the driver's actor.
#[derive(Debug)]
pub(crate) enum Request {
    Call(DriverCall),
    Stop { failover: bool },
}

/// State the actor publishes for the handles.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) framework_id: Mutex<Option<FrameworkId>>,
    pub(crate) subscribed: AtomicBool,
}

/// A cheap, cloneable, `Send` handle to a running scheduler driver. Every call is
/// queued to the driver's thread and returns at once; it fails only with
/// [`SdkError::Stopped`] once the driver has ended. Calls made while the driver is not
/// subscribed are dropped (see the [module docs](super)).
#[derive(Clone, Debug)]
pub struct SchedulerDriver {
    tx: UnboundedSender<Request>,
    shared: Arc<Shared>,
}

/// The running driver: wait for its end with [`SchedulerRun::join`] (blocking) or
/// [`SchedulerRun::wait`] (async).
#[derive(Debug)]
pub struct SchedulerRun {
    thread: DriverThread<StopReason>,
}

impl SchedulerDriver {
    /// Validates `config`, loads the TLS identity, and starts the driver on a thread of
    /// its own; it connects and subscribes in the background. Returns the handle and
    /// the run to wait on.
    pub fn start<S: Scheduler>(
        config: SchedulerConfig,
        scheduler: S,
    ) -> Result<(SchedulerDriver, SchedulerRun), SdkError> {
        config.validate()?;
        let masters = config
            .masters
            .iter()
            .map(|m| crate::net::resolve(m, "master"))
            .collect::<Result<Vec<_>, _>>()?;
        let net = crate::net::Net::new(
            &config.tls_dir,
            &config.tls_name,
            drover_proto::codec::Role::Scheduler,
            &masters,
            None,
            Some(config.idle_timeout),
        )?;
        let (tx, rx) = unbounded_channel();
        let shared = Arc::new(Shared {
            framework_id: Mutex::new(config.framework.id.clone()),
            subscribed: AtomicBool::new(false),
        });
        let driver = SchedulerDriver { tx, shared };
        let handle = driver.clone();
        let thread = DriverThread::spawn("drover-scheduler", move || {
            super::actor::run(config, masters, net, scheduler, handle, rx)
        })?;
        Ok((driver, SchedulerRun { thread }))
    }

    /// [`SchedulerDriver::start`] and [`SchedulerRun::join`] in one: blocks until the
    /// driver ends. Stop it from a callback with [`SchedulerDriver::stop`].
    pub fn run<S: Scheduler>(
        config: SchedulerConfig,
        scheduler: S,
    ) -> Result<StopReason, SdkError> {
        let (_driver, run) = Self::start(config, scheduler)?;
        run.join()
    }

    fn send(&self, call: DriverCall) -> Result<(), SdkError> {
        self.tx
            .send(Request::Call(call))
            .map_err(|_| SdkError::Stopped)
    }

    /// The framework id, once the master issued one (or the configured one for a failover).
    pub fn framework_id(&self) -> Option<FrameworkId> {
        self.shared
            .framework_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the framework is subscribed right now.
    pub fn is_subscribed(&self) -> bool {
        self.shared.subscribed.load(Ordering::Acquire)
    }

    /// Uses offers (all of one agent) for `operations`; the unused rest is refused for
    /// `filters.refuse_seconds`.
    pub fn accept(
        &self,
        offer_ids: Vec<OfferId>,
        operations: Vec<Operation>,
        filters: Filters,
    ) -> Result<(), SdkError> {
        self.send(DriverCall::Accept {
            offer_ids,
            operations,
            filters,
        })
    }

    /// Launches `tasks` on offers of one agent, e.g. `driver.launch([offer.id], tasks)`.
    /// The unused rest of the offers is refused with the default filter.
    pub fn launch(
        &self,
        offer_ids: impl IntoIterator<Item = OfferId>,
        tasks: Vec<TaskInfo>,
    ) -> Result<(), SdkError> {
        self.accept(
            offer_ids.into_iter().collect(),
            vec![Operation::Launch { tasks }],
            Filters::default(),
        )
    }

    /// Refuses an offer; its agent is not offered again for `filters.refuse_seconds`.
    pub fn decline(&self, offer_id: OfferId, filters: Filters) -> Result<(), SdkError> {
        self.send(DriverCall::Decline {
            offer_ids: vec![offer_id],
            filters,
        })
    }

    /// Asks for offers again in `roles` (all roles if empty), clearing decline filters.
    pub fn revive(&self, roles: Vec<String>) -> Result<(), SdkError> {
        self.send(DriverCall::Revive { roles })
    }

    /// Stops offers in `roles` (all roles if empty) until [`SchedulerDriver::revive`].
    pub fn suppress(&self, roles: Vec<String>) -> Result<(), SdkError> {
        self.send(DriverCall::Suppress { roles })
    }

    /// Kills a task; its terminal update follows as a status update.
    pub fn kill(&self, task_id: TaskId, agent_id: Option<AgentId>) -> Result<(), SdkError> {
        self.send(DriverCall::Kill { task_id, agent_id })
    }

    /// Acknowledges an update as received in [`Scheduler::status_update`]. Only with
    /// [`SchedulerConfig::explicit_acks`]; otherwise the driver does it and this is ignored.
    pub fn acknowledge(&self, status: &TaskStatus) -> Result<(), SdkError> {
        self.send(DriverCall::Acknowledge {
            status: status.clone(),
        })
    }

    /// Asks for the latest state of `tasks` (all of the framework's if empty); answers
    /// come as status updates with reason `Reconciliation`.
    pub fn reconcile(&self, tasks: Vec<ReconcileTask>) -> Result<(), SdkError> {
        self.send(DriverCall::Reconcile { tasks })
    }

    /// Sends opaque data to an executor of the framework.
    pub fn message(
        &self,
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    ) -> Result<(), SdkError> {
        self.send(DriverCall::Message {
            agent_id,
            executor_id,
            data,
        })
    }

    /// Ends the framework: the master kills its tasks and forgets it. Same as `stop(false)`.
    pub fn teardown(&self) -> Result<(), SdkError> {
        self.stop(false)
    }

    /// Stops the driver. `failover = true`: just disconnect; the master keeps the
    /// framework and its tasks for its `failover_timeout`, so a new driver started with
    /// the same framework id takes over. `false`: tear the framework down.
    pub fn stop(&self, failover: bool) -> Result<(), SdkError> {
        self.tx
            .send(Request::Stop { failover })
            .map_err(|_| SdkError::Stopped)
    }

    /// Used by the actor to publish its state.
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl SchedulerRun {
    /// Blocks until the driver ends. `Ok` says how it was stopped; the master removing
    /// the framework gives [`SdkError::FrameworkRemoved`]. Do not call it on an async
    /// runtime's thread: use [`SchedulerRun::wait`] there.
    pub fn join(self) -> Result<StopReason, SdkError> {
        self.thread.join()
    }

    /// Waits for the driver's end without blocking an async runtime (tokio or actix).
    pub async fn wait(self) -> Result<StopReason, SdkError> {
        self.thread.wait().await
    }

    /// Whether the driver has ended (then `join` returns at once).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}
