//! What the agent checkpoints, as plain data: [`AgentCheckpoint`] is built from the
//! core by [`AgentCore::checkpoint`] and given back on restart through
//! [`Input::Recover`](super::Input::Recover). The shell writes it to
//! `<work_dir>/meta/` (see `shell::checkpointer`); the core does no I/O.
//!
//! ```text
//!  AgentCheckpoint ─ agent_id
//!    ├─ frameworks[] ─ info, shutting_down
//!    │    └─ executors[] ─ info, containerizer, container_id, sandbox, container_running
//!    │         └─ tasks[] ─ info, state (latest), kill_requested, queued
//!    └─ streams[] ─ (framework, task): pending updates (oldest first), acknowledged uuids
//! ```
//!
//! Only what survives a restart is kept: executors of real containerizers (mock tasks
//! have no process to recover and are skipped, so the mock benchmark never pays for
//! checkpoints), their tasks and every status update stream of those tasks, plus the
//! streams of updates the agent made for tasks it does not hold (e.g. `TASK_LOST` for
//! an unknown task).
//!
//! The core raises a *dirty* flag whenever something in this picture changes; the shell
//! takes it with [`AgentCore::take_checkpoint_due`] after each input and hands the
//! checkpoint to its writer. Changes come in two kinds ([`CheckpointDue`]):
//!
//! - **durable** (a task, an executor, an update the agent made, a terminal update):
//!   the input's commands wait until it is on disk, so such an update is durable
//!   before it is forwarded to the master and a task before it reaches its executor;
//! - **prompt** (a container's handle, an executor's subscription, a non-terminal
//!   update from a subscribed executor): written at once, but nothing waits for it;
//! - **lazy** (acknowledgements only): nothing waits for it, and it is written with the
//!   next durable or prompt change (or after a short quiet, when none comes).
//!
//! What a crash can lose of a prompt or lazy change (a prompt one only within its own
//! fsync) is recovered or harmless: an acknowledgement lost makes the agent resend an
//! update, which at-least-once delivery allows; the executor keeps its updates until
//! the framework acknowledges them and hands them over again when it re-subscribes (as
//! Mesos's executor driver does), and lists the tasks it has, so queued tasks are not
//! sent twice; the master keeps a task's newer state when a re-registering agent
//! reports an older one; a container whose handle was lost is destroyed as an orphan
//! and its tasks end with an update of the agent's own.

use super::AgentCore;
use drover_proto::{
    AgentId, ContainerId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskId, TaskInfo, TaskState,
    TaskStatus, UpdateUuid,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;

/// How a checkpoint change must be written (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckpointDue {
    /// Only acknowledgements changed: write it with the next durable change; nothing
    /// waits for it.
    Lazy,
    /// Write it now; nothing waits for it.
    Prompt,
    /// The commands of the input must wait until it is on disk.
    Durable,
}

/// Everything the agent needs to recover its tasks after a restart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentCheckpoint {
    /// The id the master gave (none before the first `Registered`).
    pub agent_id: Option<AgentId>,
    /// Frameworks with executors of real containerizers, sorted by id.
    pub frameworks: Vec<FrameworkCheckpoint>,
    /// Unacknowledged status update streams, sorted by (framework, task).
    pub streams: Vec<StreamCheckpoint>,
}

/// A framework in a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkCheckpoint {
    /// Its description (id set).
    pub info: FrameworkInfo,
    /// `ShutdownFramework` had arrived.
    pub shutting_down: bool,
    /// Its executors, sorted by id.
    pub executors: Vec<ExecutorCheckpoint>,
}

/// An executor in a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorCheckpoint {
    /// Its description.
    pub info: ExecutorInfo,
    /// Name of the containerizer running it (`posix`, `native`, ...).
    pub containerizer: String,
    /// Its container.
    pub container_id: ContainerId,
    /// Its sandbox directory.
    pub sandbox: Option<PathBuf>,
    /// Whether its container was still known to run (false: it ended and the executor
    /// only waits for its tasks' last updates to be acknowledged).
    pub container_running: bool,
    /// Its tasks, sorted by id.
    pub tasks: Vec<TaskCheckpoint>,
}

/// A task in a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskCheckpoint {
    /// Its description.
    pub info: TaskInfo,
    /// Latest state received (not necessarily acknowledged).
    pub state: TaskState,
    /// A kill had been asked for.
    pub kill_requested: bool,
    /// It was still waiting for its executor to subscribe (not yet handed to it).
    pub queued: bool,
}

/// A task's status update stream in a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamCheckpoint {
    /// The framework.
    pub framework_id: FrameworkId,
    /// The task.
    pub task_id: TaskId,
    /// Updates not yet acknowledged, oldest (in flight) first; uuids set.
    pub pending: Vec<TaskStatus>,
    /// Uuids already acknowledged (duplicates of them are ignored).
    pub acknowledged: Vec<UpdateUuid>,
    /// A terminal update was received.
    pub terminated: bool,
}

impl AgentCore {
    /// The checkpoint of the agent as it is now (see the module doc for what is kept).
    pub fn checkpoint(&self) -> AgentCheckpoint {
        let mut frameworks = Vec::new();
        let mut streams = Vec::new();
        let mut durable_tasks: HashSet<(&FrameworkId, &TaskId)> = HashSet::new();
        let mut mock_tasks: HashSet<(&FrameworkId, &TaskId)> = HashSet::new();
        let mut fids: Vec<&FrameworkId> = self.frameworks.keys().collect();
        fids.sort();
        for fid in fids {
            let fw = &self.frameworks[fid];
            let mut executors = Vec::new();
            let mut eids: Vec<_> = fw.executors.keys().collect();
            eids.sort();
            for eid in eids {
                let ex = &fw.executors[eid];
                let Some(cid) = ex.container_id.clone().filter(|_| !ex.is_mock()) else {
                    mock_tasks.extend(ex.tasks.keys().map(|t| (fid, t)));
                    continue;
                };
                let mut tasks: Vec<TaskCheckpoint> = ex
                    .tasks
                    .values()
                    .map(|t| TaskCheckpoint {
                        info: t.info.clone(),
                        state: t.state,
                        kill_requested: t.kill_requested,
                        queued: ex.queued.contains(&t.info.task_id),
                    })
                    .collect();
                tasks.sort_by(|a, b| a.info.task_id.cmp(&b.info.task_id));
                durable_tasks.extend(ex.tasks.keys().map(|t| (fid, t)));
                executors.push(ExecutorCheckpoint {
                    info: ex.info.clone(),
                    containerizer: ex.containerizer.as_str().to_owned(),
                    container_running: self.containers.contains_key(&cid),
                    container_id: cid,
                    sandbox: ex.sandbox.clone(),
                    tasks,
                });
            }
            if !executors.is_empty() {
                frameworks.push(FrameworkCheckpoint {
                    info: fw.info.clone(),
                    shutting_down: fw.shutting_down,
                    executors,
                });
            }
        }
        for (key, stream) in self.sum.streams() {
            let k = (&key.framework_id, &key.task_id);
            let orphan = !durable_tasks.contains(&k) && !mock_tasks.contains(&k);
            if durable_tasks.contains(&k) || orphan {
                streams.push(StreamCheckpoint {
                    framework_id: key.framework_id.clone(),
                    task_id: key.task_id.clone(),
                    pending: stream.pending().cloned().collect(),
                    acknowledged: stream.acknowledged().to_vec(),
                    terminated: stream.is_terminated(),
                });
            }
        }
        streams.sort_by(|a, b| (&a.framework_id, &a.task_id).cmp(&(&b.framework_id, &b.task_id)));
        AgentCheckpoint {
            agent_id: self.reg.agent_id.clone(),
            frameworks,
            streams,
        }
    }

    /// Whether the checkpoint changed since the last call, and how it must be written
    /// (and clears the flags). The shell writes [`checkpoint`](Self::checkpoint) when
    /// it returns some; after a [`CheckpointDue::Durable`] change it carries out the
    /// commands that depend on it once it is on disk.
    pub fn take_checkpoint_due(&mut self) -> Option<CheckpointDue> {
        let durable = std::mem::take(&mut self.checkpoint_due);
        let lazy = std::mem::take(&mut self.checkpoint_lazy);
        let prompt = std::mem::take(&mut self.checkpoint_prompt);
        if durable {
            Some(CheckpointDue::Durable)
        } else if prompt {
            Some(CheckpointDue::Prompt)
        } else if lazy {
            Some(CheckpointDue::Lazy)
        } else {
            None
        }
    }

    /// Marks the checkpoint as changed, durably.
    pub(super) fn checkpoint_changed(&mut self) {
        self.checkpoint_due = true;
    }

    /// Marks the checkpoint as changed, to be written at once with nothing waiting.
    pub(super) fn checkpoint_changed_promptly(&mut self) {
        self.checkpoint_prompt = true;
    }

    /// Marks the checkpoint as changed by acknowledgements only (lazy).
    pub(super) fn checkpoint_changed_lazily(&mut self) {
        self.checkpoint_lazy = true;
    }
}
