//! [`ExecutorDriver`], the handle an executor acts through, and [`ExecutorRun`], the
//! handle to wait for the driver's end. Like the scheduler driver it runs on a thread
//! of its own with its own actix System.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use drover_proto::codec::Role;
use drover_proto::{AgentId, ContainerId, ExecutorId, TaskStatus, TaskStatusSource, UpdateUuid};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::config::ExecutorConfig;
use super::Executor;
use crate::error::SdkError;
use crate::net::{resolve, Net};
use crate::runtime::DriverThread;

/// What the handle sends to the driver's actor.
#[derive(Debug)]
pub(crate) enum Request {
    Update(TaskStatus),
    Message(Vec<u8>),
    Stop,
}

/// Who this executor is, for filling in updates.
#[derive(Debug)]
struct Identity {
    agent_id: AgentId,
    executor_id: ExecutorId,
    container_id: ContainerId,
    sandbox: PathBuf,
}

/// A cheap, cloneable, `Send` handle to a running executor driver. Calls are queued to
/// the driver's thread and return at once; they fail only with [`SdkError::Stopped`]
/// once the driver has ended.
#[derive(Clone, Debug)]
pub struct ExecutorDriver {
    tx: UnboundedSender<Request>,
    identity: Arc<Identity>,
}

/// The running driver: wait for its end with [`ExecutorRun::join`] (blocking) or
/// [`ExecutorRun::wait`] (async).
#[derive(Debug)]
pub struct ExecutorRun {
    thread: DriverThread<()>,
}

impl ExecutorDriver {
    /// Loads the TLS identity named in `config` and starts the driver on a thread of
    /// its own; it connects to the agent and subscribes in the background.
    pub fn start<E: Executor>(
        config: ExecutorConfig,
        executor: E,
    ) -> Result<(ExecutorDriver, ExecutorRun), SdkError> {
        let agent: SocketAddr = resolve(&config.agent_addr, "agent")?;
        let net = Net::new(
            &config.tls_dir,
            &config.tls_name,
            Role::Executor,
            &[agent],
            Some(config.container_id.to_string()),
            None,
        )?;
        let (tx, rx) = unbounded_channel();
        let driver = ExecutorDriver {
            tx,
            identity: Arc::new(Identity {
                agent_id: config.agent_id.clone(),
                executor_id: config.executor_id.clone(),
                container_id: config.container_id.clone(),
                sandbox: config.sandbox.clone(),
            }),
        };
        let handle = driver.clone();
        let thread = DriverThread::spawn("drover-executor", move || {
            super::actor::run(config, agent, net, executor, handle, rx)
        })?;
        Ok((driver, ExecutorRun { thread }))
    }

    /// [`ExecutorDriver::start`] and [`ExecutorRun::join`] in one.
    pub fn run<E: Executor>(config: ExecutorConfig, executor: E) -> Result<(), SdkError> {
        let (_driver, run) = Self::start(config, executor)?;
        run.join()
    }

    /// Sends a task's new status. The driver fills in the source (executor), the
    /// executor, agent and container ids if missing, the timestamp if zero and a fresh
    /// uuid if none, keeps the update until the agent acknowledges it, and resends it
    /// after an agent restart. Returns the update's uuid.
    pub fn send_status_update(&self, mut status: TaskStatus) -> Result<UpdateUuid, SdkError> {
        let id = &self.identity;
        status.source = TaskStatusSource::Executor;
        status
            .executor_id
            .get_or_insert_with(|| id.executor_id.clone());
        status.agent_id.get_or_insert_with(|| id.agent_id.clone());
        status
            .container_id
            .get_or_insert_with(|| id.container_id.clone());
        if status.timestamp == 0.0 {
            status.timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
        }
        let uuid = *status
            .uuid
            .get_or_insert_with(|| UpdateUuid(*uuid::Uuid::new_v4().as_bytes()));
        self.tx
            .send(Request::Update(status))
            .map_err(|_| SdkError::Stopped)?;
        Ok(uuid)
    }

    /// Sends opaque data to the scheduler (dropped while disconnected from the agent).
    pub fn send_framework_message(&self, data: Vec<u8>) -> Result<(), SdkError> {
        self.tx
            .send(Request::Message(data))
            .map_err(|_| SdkError::Stopped)
    }

    /// Ends the driver: the link to the agent is flushed and closed.
    pub fn stop(&self) -> Result<(), SdkError> {
        self.tx.send(Request::Stop).map_err(|_| SdkError::Stopped)
    }

    /// The executor's sandbox directory.
    pub fn sandbox(&self) -> &Path {
        &self.identity.sandbox
    }

    /// The executor's id.
    pub fn executor_id(&self) -> &ExecutorId {
        &self.identity.executor_id
    }

    /// The agent's id.
    pub fn agent_id(&self) -> &AgentId {
        &self.identity.agent_id
    }
}

impl ExecutorRun {
    /// Blocks until the driver ends: `Ok` when the executor stopped (or its shutdown
    /// grace period passed); [`SdkError::RecoveryTimeout`] or [`SdkError::AgentRefused`]
    /// otherwise. Use [`ExecutorRun::wait`] on an async runtime's thread.
    pub fn join(self) -> Result<(), SdkError> {
        self.thread.join()
    }

    /// Waits for the driver's end without blocking an async runtime.
    pub async fn wait(self) -> Result<(), SdkError> {
        self.thread.wait().await
    }

    /// Whether the driver has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}
