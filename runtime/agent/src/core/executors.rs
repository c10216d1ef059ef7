//! Executors on the wire: an executor subscribes (matched to its container) and gets
//! its queued tasks, reports updates and messages, may disconnect and come back;
//! acknowledgements and framework messages from the master flow back to it from here.
//! Container launches and ends are in [`containers`](super::containers).
//!
//! ```text
//!  Launching ─launched─▶ Registering ─Subscribe─▶ Running(conn) ─conn closed─▶ Disconnected
//!      │                    │ timeout                 │ Shutdown/kill           │ timeout
//!      │ launch failed      ▼                         ▼                         ▼
//!      └──────────────▶ Terminated ◀──container exit── Terminating ◀───────────┘
//!                       (removed once its tasks' last updates are acknowledged)
//! ```

use super::io::{to_executor, to_master, Command, ExecutorConn};
use super::state::Phase;
use super::timers::TimerKind;
use super::AgentCore;
use drover_proto::{
    AgentToMaster, ContainerId, ExecutorCall, ExecutorEvent, ExecutorId, FrameworkId, TaskId,
    TaskStatus, TaskStatusSource, UpdateUuid,
};
use std::time::Instant;

impl AgentCore {
    pub(super) fn executor_call(&mut self, now: Instant, conn: ExecutorConn, call: ExecutorCall) {
        match call {
            ExecutorCall::Subscribe {
                framework_id,
                executor_id,
                container_id,
                unacknowledged_tasks,
                unacknowledged_updates,
            } => {
                let has: Vec<TaskId> = unacknowledged_tasks
                    .into_iter()
                    .map(|t| t.task_id)
                    .collect();
                let ids = (framework_id, executor_id, container_id);
                self.subscribe(now, conn, ids, &has, unacknowledged_updates)
            }
            ExecutorCall::Update { status } => {
                let Some((fid, eid)) = self.conns.get(&conn).cloned() else {
                    self.reject(conn, "update before Subscribe");
                    return;
                };
                self.executor_update(now, &fid, &eid, status);
            }
            ExecutorCall::Message { data } => {
                let Some((framework_id, executor_id)) = self.conns.get(&conn).cloned() else {
                    self.reject(conn, "message before Subscribe");
                    return;
                };
                self.out.push(to_master(AgentToMaster::FrameworkMessage {
                    framework_id,
                    executor_id,
                    data,
                }));
            }
        }
    }

    fn reject(&mut self, conn: ExecutorConn, why: &str) {
        tracing::warn!(conn = conn.0, why, "refusing executor connection");
        let message = why.to_owned();
        self.out
            .push(to_executor(conn, ExecutorEvent::Error { message }));
        self.out.push(Command::DisconnectExecutor { conn });
    }

    /// An executor subscribes (first time, or again after it or the agent restarted):
    /// it gets `Subscribed`, then `Launch` for each queued task it does not report
    /// having, and `Kill` for each task it has that was killed while it was away.
    ///
    /// The subscription is checkpointed lazily: nothing outside the agent depends on it.
    /// Its `Launch`es still wait for the durable checkpoint of their tasks (the shell
    /// holds commands behind a pending durable write), so no task reaches an executor
    /// before the agent has it on disk. If the agent dies before the subscription is
    /// written, the recovered agent still has those tasks queued; the executor, which
    /// lists the tasks it has when it subscribes again, is not sent them twice.
    fn subscribe(
        &mut self,
        now: Instant,
        conn: ExecutorConn,
        (fid, eid, cid): (FrameworkId, ExecutorId, ContainerId),
        has: &[TaskId],
        unacknowledged: Vec<TaskStatus>,
    ) {
        let owner_ok = self
            .containers
            .get(&cid)
            .is_some_and(|o| o.framework_id == fid && o.executor_id == eid && o.task_id.is_none());
        if !owner_ok {
            self.reject(conn, &format!("unknown container {cid} for executor {eid}"));
            return;
        }
        let agent_id = self.reg.agent_id.clone().unwrap_or_default();
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            self.reject(conn, "unknown framework");
            return;
        };
        let framework_info = fw.info.clone();
        let Some(ex) = fw.executors.get_mut(&eid) else {
            self.reject(conn, "unknown executor");
            return;
        };
        let old = match ex.phase {
            Phase::Terminating | Phase::Terminated => {
                self.reject(conn, "the executor is shutting down");
                return;
            }
            Phase::Running(old) if old != conn => Some(old),
            _ => None,
        };
        ex.phase = Phase::Running(conn);
        self.checkpoint_prompt = true;
        if let Some(t) = ex.timer.take() {
            self.timers.cancel(t);
        }
        let launches: Vec<TaskId> = std::mem::take(&mut ex.queued);
        let executor_info = ex.info.clone();
        let tasks: Vec<_> = launches
            .iter()
            .filter(|t| !has.contains(t))
            .filter_map(|t| ex.tasks.get(t).map(|t| t.info.clone()))
            .collect();
        // Killed while queued, after an agent restart lost the subscription that had
        // already sent them: the agent reported them killed; the executor must stop them.
        let kills: Vec<TaskId> = has
            .iter()
            .filter(|t| ex.tasks.get(*t).is_some_and(|t| t.kill_requested))
            .cloned()
            .collect();
        if let Some(old) = old {
            self.conns.remove(&old);
            self.out.push(Command::DisconnectExecutor { conn: old });
        }
        self.conns.insert(conn, (fid.clone(), eid.clone()));
        self.out.push(to_executor(
            conn,
            ExecutorEvent::Subscribed {
                executor_info,
                framework_info,
                agent_id,
                container_id: cid.clone(),
            },
        ));
        for status in unacknowledged {
            self.executor_update(now, &fid, &eid, status);
        }
        for task in tasks {
            self.out
                .push(to_executor(conn, ExecutorEvent::Launch { task }));
        }
        for task_id in kills {
            let kill_policy = None;
            let event = ExecutorEvent::Kill {
                task_id,
                kill_policy,
            };
            self.out.push(to_executor(conn, event));
        }
        self.recovery_progress(&cid);
    }

    /// An update from an executor for one of its tasks.
    fn executor_update(
        &mut self,
        now: Instant,
        fid: &FrameworkId,
        eid: &ExecutorId,
        mut status: TaskStatus,
    ) {
        let known = self
            .frameworks
            .get(fid)
            .and_then(|f| f.executors.get(eid))
            .is_some_and(|e| e.tasks.contains_key(&status.task_id));
        if !known {
            tracing::warn!(executor = %eid, task = %status.task_id, "update for a task the executor does not have: ignored");
            return;
        }
        status.source = TaskStatusSource::Executor;
        self.fill_status(now, &mut status, fid, Some(eid));
        let terminal = status.state.is_terminal();
        self.record_update(now, fid, status);
        if terminal {
            self.resize_container(fid, eid);
        }
    }

    pub(super) fn executor_disconnected(&mut self, now: Instant, conn: ExecutorConn) {
        let Some((fid, eid)) = self.conns.remove(&conn) else {
            return;
        };
        let timeout = self.settings.timing.executor_registration_timeout;
        let Some(ex) = self
            .frameworks
            .get_mut(&fid)
            .and_then(|f| f.executors.get_mut(&eid))
        else {
            return;
        };
        if ex.phase != Phase::Running(conn) {
            return;
        }
        tracing::info!(executor = %eid, "executor disconnected; waiting for it to subscribe again");
        ex.phase = Phase::Disconnected;
        if let Some(cid) = ex.container_id.clone() {
            let t = self
                .timers
                .schedule(now + timeout, TimerKind::ExecutorRegistration(cid));
            ex.timer = Some(t);
        }
    }

    pub(super) fn acknowledge(
        &mut self,
        now: Instant,
        fid: FrameworkId,
        tid: TaskId,
        uuid: UpdateUuid,
    ) {
        let mut msgs = std::mem::take(&mut self.scratch);
        let acked = self.sum.acknowledge(now, &fid, &tid, uuid, &mut msgs);
        self.send_updates(&mut msgs);
        self.scratch = msgs;
        let acked = match acked {
            Ok(a) => {
                if !self.is_mock_task(&fid, &tid) {
                    // Only acknowledgements change (the next update was durable when
                    // it arrived; a closed stream drops its task): lazy.
                    self.checkpoint_changed_lazily();
                }
                a
            }
            Err(e) => {
                tracing::debug!(error = %e, "acknowledgement ignored");
                return;
            }
        };
        if acked.status.source == TaskStatusSource::Executor {
            let conn = self.frameworks.get(&fid).and_then(|f| {
                let eid = f.task_executor.get(&tid)?;
                f.executors.get(eid)?.conn()
            });
            if let Some(conn) = conn {
                let event = ExecutorEvent::Acknowledged {
                    task_id: tid.clone(),
                    uuid,
                };
                self.out.push(to_executor(conn, event));
            }
        }
        if acked.stream_closed {
            self.remove_task(&fid, &tid);
        }
    }

    pub(super) fn framework_message(&mut self, fid: FrameworkId, eid: ExecutorId, data: Vec<u8>) {
        let conn = self
            .frameworks
            .get(&fid)
            .and_then(|f| f.executors.get(&eid))
            .and_then(|e| e.conn());
        match conn {
            Some(conn) => self
                .out
                .push(to_executor(conn, ExecutorEvent::Message { data })),
            None => {
                tracing::warn!(framework = %fid, executor = %eid, "framework message for an executor that is not subscribed: dropped")
            }
        }
    }
}
