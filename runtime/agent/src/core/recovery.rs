//! Agent restart: rebuilding the core from its checkpoint and what the containerizers
//! found, then deciding each executor's fate. The agent re-registers at once from the
//! checkpoint (the tasks are known from it); executors subscribe again in parallel.
//!
//! ```text
//!  Recover{checkpoint, running, gone}
//!   ├─ agent id, frameworks, executors, tasks, update streams restored
//!   ├─ executor whose container still runs ─▶ Disconnected, waits for its Subscribe
//!   │      (deadline executor_reregister_timeout, then destroyed → its tasks fail)
//!   ├─ executor whose container is gone ───▶ non-terminal tasks TASK_FAILED
//!   │      (REASON_EXECUTOR_TERMINATED), ExecutorExited, DestroyContainer (clean-up)
//!   └─ executor already ended ─────────────▶ waits for its last acknowledgements
//!  Start ─▶ connect ─▶ Reregister (same agent id, checkpointed task states) at once;
//!  the update streams and held messages go out once Reregistered arrives
//! ```
//!
//! Re-registering without waiting for the executors (Mesos waits) keeps a restart
//! shorter than the master's agent ping timeout, so that frameworks never see
//! `TASK_UNREACHABLE` for a plain restart. A task whose state changed while the agent
//! was down is reported with its checkpointed state; the executor's update, resent on
//! its `Subscribe`, then corrects it through the status update stream.

use super::checkpoint::AgentCheckpoint;
use super::io::{Command, ContainerExit, ExitCause};
use super::state::{ContainerOwner, Executor, Framework, Phase, Task};
use super::status_updates::StreamKey;
use super::timers::{TimerId, TimerKind};
use super::AgentCore;
use crate::containerizer_kind::ContainerizerKind;
use drover_proto::ContainerId;
use std::collections::HashSet;
use std::time::Instant;

/// What the shell hands the core on restart: the checkpoint and what the
/// containerizers' `recover` found.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovery {
    /// The checkpoint read from `<work_dir>/meta/`.
    pub checkpoint: AgentCheckpoint,
    /// Containers of the checkpoint that still run (re-attached).
    pub running: Vec<ContainerId>,
    /// Containers of the checkpoint whose process is gone, with what is known of how it
    /// ended. A checkpointed container in neither list is treated as gone.
    pub gone: Vec<(ContainerId, ContainerExit)>,
}

/// Recovery in progress: executors still expected to subscribe again.
#[derive(Debug, Default)]
pub(crate) struct RecoveryWait {
    pub(crate) awaiting: HashSet<ContainerId>,
    pub(crate) timer: Option<TimerId>,
}

impl AgentCore {
    /// Whether the agent is still waiting for recovered executors to subscribe.
    pub fn is_recovering(&self) -> bool {
        self.recovery.is_some()
    }

    pub(super) fn recover(&mut self, now: Instant, r: Recovery) {
        let Recovery {
            checkpoint,
            running,
            gone,
        } = r;
        let running: HashSet<ContainerId> = running.into_iter().collect();
        self.reg.agent_id = checkpoint.agent_id;
        let mut scratch = Vec::new();
        for s in checkpoint.streams {
            let key = StreamKey {
                framework_id: s.framework_id,
                task_id: s.task_id,
            };
            self.sum.restore(
                now,
                key,
                s.pending,
                s.acknowledged,
                s.terminated,
                &mut scratch,
            );
        }
        let mut wait = RecoveryWait::default();
        let mut ended = Vec::new();
        let timeout = self.settings.timing.executor_reregister_timeout;
        for f in checkpoint.frameworks {
            let Some(fid) = f.info.id.clone() else {
                tracing::warn!(name = %f.info.name, "checkpointed framework without an id: skipped");
                continue;
            };
            let mut fw = Framework::new(f.info);
            fw.shutting_down = f.shutting_down;
            for e in f.executors {
                let kind = match e.containerizer.parse::<ContainerizerKind>() {
                    Ok(k) if k != ContainerizerKind::Mock => k,
                    _ => {
                        tracing::warn!(containerizer = %e.containerizer, executor = %e.info.executor_id, "checkpointed executor of an unknown containerizer: skipped");
                        continue;
                    }
                };
                let eid = e.info.executor_id.clone();
                let cid = e.container_id;
                let phase = if e.container_running {
                    Phase::Disconnected
                } else {
                    Phase::Terminated
                };
                let mut ex = Executor::new(e.info, kind, Some(cid.clone()), e.sandbox, phase);
                for t in e.tasks {
                    let tid = t.info.task_id.clone();
                    let mut task = Task::new(t.info, None);
                    task.state = t.state;
                    task.kill_requested = t.kill_requested;
                    if t.queued {
                        ex.queued.push(tid.clone());
                    }
                    fw.task_executor.insert(tid.clone(), eid.clone());
                    ex.tasks.insert(tid, task);
                }
                ex.container_resources = ex.resources();
                if e.container_running {
                    self.containers.insert(
                        cid.clone(),
                        ContainerOwner {
                            framework_id: fid.clone(),
                            executor_id: eid.clone(),
                            task_id: None,
                        },
                    );
                    if running.contains(&cid) {
                        let at = now + timeout;
                        ex.timer = Some(
                            self.timers
                                .schedule(at, TimerKind::ExecutorRegistration(cid.clone())),
                        );
                        wait.awaiting.insert(cid);
                    } else {
                        ended.push(cid);
                    }
                } else {
                    ended_without_container(&mut ex);
                }
                fw.executors.insert(eid, ex);
            }
            self.frameworks.insert(fid, fw);
        }
        tracing::info!(
            agent_id = ?self.reg.agent_id,
            frameworks = self.frameworks.len(),
            running = wait.awaiting.len(),
            gone = ended.len(),
            updates = self.sum.pending_count(),
            "recovered the agent's checkpoint"
        );
        if !wait.awaiting.is_empty() {
            wait.timer = Some(
                self.timers
                    .schedule(now + timeout, TimerKind::RecoveryTimeout),
            );
        }
        self.recovery = Some(wait);
        ended.sort();
        for cid in ended {
            let exit = gone
                .iter()
                .find(|(c, _)| *c == cid)
                .map(|(_, e)| e.clone())
                .unwrap_or_else(|| ContainerExit {
                    code: None,
                    signal: None,
                    cause: ExitCause::Exited,
                    message: Some("the container was not found after the agent restarted".into()),
                });
            tracing::warn!(container = %cid, exit = %exit.describe(), "executor's container ended while the agent was down");
            self.container_exited(now, cid, exit);
        }
        // Executors that had ended and have nothing left to report are forgotten.
        let done: Vec<_> = self
            .frameworks
            .iter()
            .flat_map(|(f, fw)| fw.executors.keys().map(move |e| (f.clone(), e.clone())))
            .collect();
        for (fid, eid) in done {
            self.maybe_remove_executor(&fid, &eid);
        }
        self.hold_master_messages();
        self.checkpoint_changed();
        if self
            .recovery
            .as_ref()
            .is_some_and(|w| w.awaiting.is_empty())
        {
            self.finish_recovery();
        }
    }

    /// Moves messages for the master out of the commands: they go out once the agent
    /// is registered again.
    fn hold_master_messages(&mut self) {
        let mut kept = Vec::with_capacity(self.out.len());
        for cmd in self.out.drain(..) {
            match cmd {
                Command::SendToMaster(msg) => self.held_for_master.push(msg),
                other => kept.push(other),
            }
        }
        self.out = kept;
    }

    /// A recovered executor subscribed again, or its container ended.
    pub(super) fn recovery_progress(&mut self, cid: &ContainerId) {
        let Some(wait) = self.recovery.as_mut() else {
            return;
        };
        if wait.awaiting.remove(cid) && wait.awaiting.is_empty() {
            tracing::info!("every recovered executor is back");
            self.finish_recovery();
        }
    }

    /// The executor re-registration deadline passed (each missing executor's own timer
    /// destroys it).
    pub(super) fn recovery_timeout(&mut self) {
        if let Some(wait) = self.recovery.as_mut() {
            wait.timer = None;
            tracing::warn!(
                missing = wait.awaiting.len(),
                "executors did not subscribe again in time; their containers are destroyed"
            );
            self.finish_recovery();
        }
    }

    /// Ends recovery.
    fn finish_recovery(&mut self) {
        let Some(wait) = self.recovery.take() else {
            return;
        };
        if let Some(t) = wait.timer {
            self.timers.cancel(t);
        }
    }
}

/// An executor whose container had already ended before the restart.
fn ended_without_container(ex: &mut Executor) {
    ex.queued.clear();
    ex.phase = Phase::Terminated;
}
