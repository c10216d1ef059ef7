//! The scheduler side of a framework: implement [`Scheduler`], start it with
//! [`SchedulerDriver::start`] (or [`SchedulerDriver::run`]) and act on offers and
//! status updates through the [`SchedulerDriver`] handle every callback receives.
//!
//! ```text
//!   your fn main ──start──▶ driver thread (own actix System)
//!                            ┌────────────────────────────────────┐
//!   SchedulerDriver ─calls──▶│ actor.rs: shell ── core.rs: pure   │──SchedulerCall──▶ master
//!   (Clone + Send handle)    │   │ runs callbacks of your         │◀─SchedulerEvent── (one of
//!                            │   ▼ Scheduler, in event order      │    several addresses)
//!   SchedulerRun::join ◀─────│ ends on stop / teardown / removal  │
//!                            └────────────────────────────────────┘
//! ```
//!
//! The driver subscribes when it connects, records the framework id from `Subscribed`
//! and re-subscribes with it after any reconnect (a failover, so the master keeps the
//! framework's tasks for its `failover_timeout`). It tries the configured master
//! addresses in turn, moving on when one does not answer, and treats a master whose
//! heartbeats stop as gone. Status updates that carry a uuid are acknowledged after
//! [`Scheduler::status_update`] returns, unless [`SchedulerConfig::explicit_acks`] is
//! set, in which case call [`SchedulerDriver::acknowledge`] yourself.
//!
//! Calls made while the driver is not subscribed are dropped with a warning (offers are
//! void after a reconnect anyway); re-send what matters from [`Scheduler::subscribed`],
//! typically a [`SchedulerDriver::reconcile`].
//!
//! # Example
//!
//! A scheduler that runs `echo hello` once on the first offer big enough:
//!
//! ```no_run
//! use drover_proto::{
//!     AgentId, CommandInfo, ExecutorId, FrameworkId, FrameworkInfo, MasterInfo, Offer,
//!     Resources, TaskInfo, TaskStatus,
//! };
//! use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver, StopReason};
//!
//! struct Hello {
//!     launched: bool,
//! }
//!
//! impl Scheduler for Hello {
//!     fn subscribed(&mut self, _d: &SchedulerDriver, id: FrameworkId, _m: MasterInfo) {
//!         println!("subscribed as {id}");
//!     }
//!
//!     fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>) {
//!         let need = Resources::parse("cpus:0.1;mem:32").expect("constant resources");
//!         for offer in offers {
//!             if self.launched || !offer.resources.contains(&need) {
//!                 let _ = driver.decline(offer.id, Default::default());
//!                 continue;
//!             }
//!             let task = TaskInfo::command(
//!                 "hello-1",
//!                 offer.agent_id.clone(),
//!                 need.clone(),
//!                 CommandInfo::shell("echo hello"),
//!             );
//!             let _ = driver.launch([offer.id], vec![task]);
//!             self.launched = true;
//!         }
//!     }
//!
//!     fn status_update(&mut self, driver: &SchedulerDriver, status: TaskStatus) {
//!         println!("{} is {}", status.task_id, status.state);
//!         if status.state.is_terminal() {
//!             let _ = driver.stop(false); // tear the framework down: we are done
//!         }
//!     }
//! }
//!
//! fn main() -> Result<(), drover_sdk::SdkError> {
//!     let config = SchedulerConfig::new(
//!         vec!["127.0.0.1:5050".to_owned()],
//!         "/etc/drover/tls",
//!         "scheduler",
//!         FrameworkInfo::new("hello", "nobody"),
//!     );
//!     let reason: StopReason = SchedulerDriver::run(config, Hello { launched: false })?;
//!     println!("driver ended: {reason:?}");
//!     Ok(())
//! }
//! ```

mod actor;
mod config;
pub mod core;
mod driver;

pub use config::{SchedulerConfig, DEFAULT_IDLE_TIMEOUT, MIN_IDLE_TIMEOUT};
pub use driver::{SchedulerDriver, SchedulerRun, StopReason};

use drover_proto::{AgentId, ExecutorId, FrameworkId, MasterInfo, Offer, OfferId, TaskStatus};

/// A framework's scheduler: the callbacks the driver runs, one at a time and in the
/// order the master's events arrive, on the driver's thread. A callback should return
/// quickly; it acts through the `driver` handle, whose calls are queued and sent after
/// the callback returns. Only [`Scheduler::offers`] and [`Scheduler::status_update`]
/// must be written; the rest default to logging or doing nothing.
pub trait Scheduler: Send + 'static {
    /// The framework is subscribed: on the first subscription with a new id, and again
    /// after every re-subscription (failover, master change) with the same id. A good
    /// place to [`SchedulerDriver::reconcile`] after a reconnect.
    fn subscribed(
        &mut self,
        driver: &SchedulerDriver,
        framework_id: FrameworkId,
        master_info: MasterInfo,
    ) {
        let _ = (driver, master_info);
        tracing::info!(%framework_id, "framework subscribed");
    }

    /// New offers. Answer each with [`SchedulerDriver::launch`]/[`SchedulerDriver::accept`]
    /// or [`SchedulerDriver::decline`]; an offer left alone holds its resources until it
    /// is rescinded.
    fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>);

    /// An offer is no longer valid; do not use it.
    fn offer_rescinded(&mut self, driver: &SchedulerDriver, offer_id: OfferId) {
        let _ = (driver, offer_id);
    }

    /// A task changed state. With implicit acknowledgements (the default) the driver
    /// acknowledges the update when this returns.
    fn status_update(&mut self, driver: &SchedulerDriver, status: TaskStatus);

    /// Opaque data from one of the framework's executors.
    fn framework_message(
        &mut self,
        driver: &SchedulerDriver,
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    ) {
        let _ = (driver, data);
        tracing::debug!(%agent_id, %executor_id, "framework message ignored");
    }

    /// An agent is gone; its tasks' updates (LOST / UNREACHABLE) come separately.
    fn agent_lost(&mut self, driver: &SchedulerDriver, agent_id: AgentId) {
        let _ = driver;
        tracing::warn!(%agent_id, "agent lost");
    }

    /// An executor exited with `status` (if known); its tasks' updates come separately.
    fn executor_lost(
        &mut self,
        driver: &SchedulerDriver,
        agent_id: AgentId,
        executor_id: ExecutorId,
        status: Option<i32>,
    ) {
        let _ = driver;
        if status == Some(0) {
            tracing::debug!(%agent_id, %executor_id, "executor exited");
        } else {
            tracing::warn!(%agent_id, %executor_id, ?status, "executor lost");
        }
    }

    /// The master refused a call (someone else's offer, malformed call). The framework
    /// stays subscribed; this is a bug in the scheduler's logic to log and fix.
    fn rejected(&mut self, driver: &SchedulerDriver, call: String, message: String) {
        let _ = driver;
        tracing::warn!(%call, %message, "call rejected by the master");
    }

    /// The master removed the framework (torn down, failover timeout, refused
    /// subscription). The driver stops after this returns and
    /// [`SchedulerRun::join`] yields [`crate::SdkError::FrameworkRemoved`].
    fn error(&mut self, driver: &SchedulerDriver, message: String) {
        let _ = driver;
        tracing::error!(%message, "framework removed by the master");
    }

    /// The connection to the master is lost. The driver keeps trying the configured
    /// masters and calls [`Scheduler::subscribed`] when it is back; offers received
    /// before are void.
    fn disconnected(&mut self, driver: &SchedulerDriver) {
        let _ = driver;
        tracing::warn!("disconnected from the master");
    }
}
