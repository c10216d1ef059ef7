//! Stopping things: `KillTask` (one task) and `ShutdownFramework` (all of a framework's
//! executors on this agent).
//!
//! ```text
//!  KillTask ─▶ unknown task ──────────────▶ TASK_LOST (REASON_TASK_UNKNOWN)
//!            ├ queued, executor not up ───▶ TASK_KILLED, executor destroyed if now idle
//!            ├ running executor ──────────▶ ExecutorEvent::Kill (it reports TASK_KILLED)
//!            ├ mock task / lost executor ─▶ destroy container → TASK_KILLED on exit
//!            └ already terminal ──────────▶ nothing
//!  ShutdownFramework ─▶ Shutdown to subscribed executors (destroy after the grace
//!                       period), destroy the rest; updates are no longer forwarded
//! ```

use super::io::to_executor;
use super::state::Phase;
use super::timers::TimerKind;
use super::AgentCore;
use drover_proto::{
    ExecutorEvent, ExecutorId, FrameworkId, KillPolicy, TaskId, TaskState, TaskStatusReason,
};
use std::time::Instant;

/// What to do for one kill.
enum KillAction {
    Unknown,
    Nothing,
    KilledInQueue { destroy_executor: bool },
    Forward(super::io::ExecutorConn),
    Destroy(drover_proto::ContainerId),
}

impl AgentCore {
    pub(super) fn kill_task(
        &mut self,
        now: Instant,
        fid: FrameworkId,
        tid: TaskId,
        kill_policy: Option<KillPolicy>,
    ) {
        let (action, eid) = self.plan_kill(&fid, &tid);
        match action {
            KillAction::Unknown => {
                let msg = format!("task {tid} is unknown to this agent");
                let reason = Some(TaskStatusReason::TaskUnknown);
                self.agent_update(now, &fid, &tid, None, TaskState::Lost, reason, msg);
            }
            KillAction::Nothing => {}
            KillAction::KilledInQueue { destroy_executor } => {
                let msg = "killed before it was launched".to_owned();
                let reason = Some(TaskStatusReason::TaskKilledDuringLaunch);
                self.agent_update(
                    now,
                    &fid,
                    &tid,
                    eid.as_ref(),
                    TaskState::Killed,
                    reason,
                    msg,
                );
                if destroy_executor {
                    if let Some(eid) = &eid {
                        self.terminate_idle_executor(&fid, eid);
                    }
                }
            }
            KillAction::Forward(conn) => {
                let event = ExecutorEvent::Kill {
                    task_id: tid,
                    kill_policy,
                };
                self.out.push(to_executor(conn, event));
            }
            KillAction::Destroy(cid) => self.destroy_container(cid),
        }
    }

    /// Decides how to kill a task and marks it as being killed.
    fn plan_kill(&mut self, fid: &FrameworkId, tid: &TaskId) -> (KillAction, Option<ExecutorId>) {
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return (KillAction::Unknown, None);
        };
        let Some(eid) = fw.task_executor.get(tid).cloned() else {
            return (KillAction::Unknown, None);
        };
        let Some(ex) = fw.executors.get_mut(&eid) else {
            return (KillAction::Unknown, None);
        };
        let phase = ex.phase;
        let queued = ex.queued.contains(tid);
        let (is_mock, container) = (ex.is_mock(), ex.container_id.clone());
        let Some(task) = ex.tasks.get_mut(tid) else {
            return (KillAction::Unknown, None);
        };
        if task.state.is_terminal() {
            return (KillAction::Nothing, Some(eid));
        }
        let first_kill = !task.kill_requested;
        task.kill_requested = true;
        let task_container = task.container_id.clone();
        if queued {
            ex.queued.retain(|t| t != tid);
            let others_live = ex
                .tasks
                .values()
                .any(|t| &t.info.task_id != tid && !t.state.is_terminal());
            let idle = !others_live && matches!(phase, Phase::Launching | Phase::Registering);
            return (
                KillAction::KilledInQueue {
                    destroy_executor: idle,
                },
                Some(eid),
            );
        }
        let action = match (is_mock, phase) {
            (true, _) => task_container.map_or(KillAction::Nothing, KillAction::Destroy),
            (false, Phase::Running(conn)) => KillAction::Forward(conn),
            (false, Phase::Disconnected) if first_kill => {
                container.map_or(KillAction::Nothing, KillAction::Destroy)
            }
            _ => KillAction::Nothing,
        };
        (action, Some(eid))
    }

    /// An executor whose only tasks were killed before it subscribed is not needed.
    fn terminate_idle_executor(&mut self, fid: &FrameworkId, eid: &ExecutorId) {
        let Some(ex) = self
            .frameworks
            .get_mut(fid)
            .and_then(|f| f.executors.get_mut(eid))
        else {
            return;
        };
        if let Some(t) = ex.timer.take() {
            self.timers.cancel(t);
        }
        ex.phase = Phase::Terminating;
        if let Some(cid) = ex.container_id.clone() {
            self.destroy_container(cid);
        }
    }

    pub(super) fn shutdown_framework(&mut self, now: Instant, fid: FrameworkId) {
        let grace = self.settings.timing.executor_shutdown_grace_period;
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            return;
        };
        tracing::info!(framework = %fid, "shutting down framework");
        fw.shutting_down = true;
        self.checkpoint_due = true;
        self.sum.cleanup_framework(&fid);
        let mut destroy = Vec::new();
        let mut finished = Vec::new();
        let mut eids: Vec<_> = fw.executors.keys().cloned().collect();
        eids.sort();
        for eid in eids {
            let Some(ex) = fw.executors.get_mut(&eid) else {
                continue;
            };
            for t in ex.tasks.values_mut() {
                t.kill_requested = true;
                if t.state.is_terminal() {
                    finished.push(t.info.task_id.clone());
                }
            }
            if ex.is_mock() {
                destroy.extend(ex.tasks.values().filter_map(|t| {
                    (!t.state.is_terminal())
                        .then(|| t.container_id.clone())
                        .flatten()
                }));
                continue;
            }
            let Some(cid) = ex.container_id.clone() else {
                continue;
            };
            match ex.phase {
                Phase::Running(conn) => {
                    let event = ExecutorEvent::Shutdown {
                        grace_period: grace,
                    };
                    self.out.push(to_executor(conn, event));
                    if let Some(t) = ex.timer.take() {
                        self.timers.cancel(t);
                    }
                    let t = self
                        .timers
                        .schedule(now + grace, TimerKind::ExecutorShutdown(cid));
                    ex.timer = Some(t);
                    ex.phase = Phase::Terminating;
                }
                Phase::Launching | Phase::Registering | Phase::Disconnected => {
                    if let Some(t) = ex.timer.take() {
                        self.timers.cancel(t);
                    }
                    ex.phase = Phase::Terminating;
                    destroy.push(cid);
                }
                Phase::Terminating | Phase::Terminated => {}
            }
        }
        // Tasks whose terminal update will never be acknowledged now.
        for tid in finished {
            self.remove_task(&fid, &tid);
        }
        destroy.sort();
        for cid in destroy {
            self.destroy_container(cid);
        }
        // A framework with nothing running is forgotten at once.
        if let Some(fw) = self.frameworks.get(&fid) {
            if fw.executors.is_empty() {
                self.frameworks.remove(&fid);
            }
        }
    }
}
