//! The executor side: implement [`Executor`] and run it with [`ExecutorDriver::start`]
//! in a process started by a Drover agent. The driver reads the agent→executor
//! environment contract ([`ExecutorConfig::from_env`]), connects to the agent as role
//! `executor`, subscribes, and turns the agent's events into callbacks.
//!
//! ```text
//!  agent ──ExecutorEvent──▶ driver thread ── core.rs (pure) ──▶ your Executor callbacks
//!  agent ◀─ExecutorCall──── (own actix       ◀── ExecutorDriver handle: updates, messages
//!                            System)
//! ```
//!
//! The driver keeps every task it was given until its terminal update is acknowledged
//! and every update until it is acknowledged. When the link to the agent drops (the
//! agent restarts), it re-subscribes with both lists as soon as the agent is back, so
//! nothing is lost; if the agent stays away longer than the recovery timeout
//! (`DROVER_RECOVERY_TIMEOUT`, 15 minutes by default) it calls [`Executor::shutdown`]
//! and ends with [`crate::SdkError::RecoveryTimeout`].
//!
//! # Example
//!
//! An executor that "runs" each task by reporting it finished at once:
//!
//! ```no_run
//! use std::time::Duration;
//! use drover_proto::{KillPolicy, TaskId, TaskInfo, TaskState, TaskStatus, TaskStatusSource};
//! use drover_sdk::executor::{Executor, ExecutorConfig, ExecutorDriver};
//!
//! struct Instant;
//!
//! impl Executor for Instant {
//!     fn launch_task(&mut self, driver: &ExecutorDriver, task: TaskInfo) {
//!         for state in [TaskState::Running, TaskState::Finished] {
//!             let status = TaskStatus::new(task.task_id.clone(), state, TaskStatusSource::Executor);
//!             let _ = driver.send_status_update(status);
//!         }
//!     }
//!
//!     fn kill_task(&mut self, driver: &ExecutorDriver, task_id: TaskId, _: Option<KillPolicy>) {
//!         let status = TaskStatus::new(task_id, TaskState::Killed, TaskStatusSource::Executor);
//!         let _ = driver.send_status_update(status);
//!     }
//!
//!     fn shutdown(&mut self, driver: &ExecutorDriver, _grace_period: Duration) {
//!         let _ = driver.stop();
//!     }
//! }
//!
//! fn main() -> Result<(), drover_sdk::SdkError> {
//!     ExecutorDriver::run(ExecutorConfig::from_env()?, Instant)
//! }
//! ```

mod actor;
mod config;
pub mod core;
mod driver;

pub use config::{ExecutorConfig, DEFAULT_RECOVERY_TIMEOUT};
pub use driver::{ExecutorDriver, ExecutorRun};

use std::time::Duration;

use drover_proto::{
    AgentId, ExecutorInfo, FrameworkInfo, KillPolicy, TaskId, TaskInfo, TaskStatus,
};

/// An executor: the callbacks the driver runs, one at a time and in the order the
/// agent's events arrive, on the driver's thread. Act through the `driver` handle.
pub trait Executor: Send + 'static {
    /// The agent accepted the executor's first subscription.
    fn registered(
        &mut self,
        driver: &ExecutorDriver,
        executor_info: ExecutorInfo,
        framework_info: FrameworkInfo,
        agent_id: AgentId,
    ) {
        let _ = (driver, executor_info, framework_info);
        tracing::info!(%agent_id, "executor registered");
    }

    /// The executor re-subscribed to a (restarted) agent; unacknowledged updates and
    /// tasks were handed over again.
    fn reregistered(&mut self, driver: &ExecutorDriver, agent_id: AgentId) {
        let _ = driver;
        tracing::info!(%agent_id, "executor re-registered");
    }

    /// The link to the agent dropped; the driver keeps trying until the recovery timeout.
    fn disconnected(&mut self, driver: &ExecutorDriver) {
        let _ = driver;
        tracing::warn!("disconnected from the agent");
    }

    /// Run a task: report `TASK_STARTING`/`TASK_RUNNING` and later a terminal state with
    /// [`ExecutorDriver::send_status_update`].
    fn launch_task(&mut self, driver: &ExecutorDriver, task: TaskInfo);

    /// Kill a task (SIGTERM, SIGKILL after the grace period of `kill_policy`, else of
    /// the task's own policy) and report `TASK_KILLED`.
    fn kill_task(
        &mut self,
        driver: &ExecutorDriver,
        task_id: TaskId,
        kill_policy: Option<KillPolicy>,
    );

    /// An update this executor sent was acknowledged by the scheduler (the driver has
    /// already forgotten it).
    fn acknowledged(&mut self, driver: &ExecutorDriver, status: TaskStatus) {
        let _ = (driver, status);
    }

    /// Opaque data from the scheduler.
    fn framework_message(&mut self, driver: &ExecutorDriver, data: Vec<u8>) {
        let _ = (driver, data);
        tracing::debug!("framework message ignored");
    }

    /// Kill every task within `grace_period`, send their terminal updates, then
    /// [`ExecutorDriver::stop`]. The driver ends by itself when `grace_period` passes.
    fn shutdown(&mut self, driver: &ExecutorDriver, grace_period: Duration);

    /// The agent refused the executor; the driver ends after this returns.
    fn error(&mut self, driver: &ExecutorDriver, message: String) {
        let _ = driver;
        tracing::error!(%message, "the agent refused the executor");
    }
}
