//! Reconciliation, both ways: frameworks asking the master about their tasks, and the
//! master asking an agent about tasks that may never have reached it.
//!
//! ```text
//!  Reconcile{tasks} ─▶ Update(latest known state, REASON_RECONCILIATION, no uuid)
//!                      └ STAGING ones also ─▶ agent: ReconcileTasks
//!  Reregister{tasks} ─▶ tasks the master has on the agent but not reported:
//!                       non-terminal ─▶ agent: ReconcileTasks
//!                       LOST already told ─▶ forgotten here
//!  agent: ReconcileTasks ─▶ unknown there ─▶ TASK_DROPPED / TASK_LOST (acknowledged update)
//! ```
//!
//! A lost `RunTask` leaves a task STAGING in the master. When the agent re-registers,
//! the master compares its report with what it believes (Mesos
//! `Master::reconcileKnownSlave`). A `RunTask` can also be lost inside a connection that
//! stays up (the fault hooks do this); no re-registration follows. So, unlike Mesos,
//! whose master only answers a STAGING task with STAGING, the master answers with the
//! truth it has (STAGING) *and* asks the agent: the framework's usual periodic
//! reconciliation then resolves the task — the agent either knows it (and its updates
//! are already being resent until acknowledged) or answers DROPPED/LOST. This is safe
//! because messages on one connection are ordered and a fault drops, never reorders:
//! the request follows the `RunTask` on the agent's stream, so an agent that does not
//! know the task when the request arrives never got it and never will. Only STAGING
//! tasks are asked about: any later state came from the agent, which then has the task.

use super::{MasterCore, TaskEntry};
use drover_proto::{
    AgentId, FrameworkId, MasterToAgent, ReconcileTask, TaskId, TaskState, TaskStatus,
    TaskStatusReason, TaskStatusSource,
};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

impl MasterCore {
    /// Answers a framework's `Reconcile` call: every listed task (all of its tasks if
    /// the list is empty) with its latest state, and asks the agents of the STAGING ones.
    pub(crate) fn reconcile(
        &mut self,
        _now: Instant,
        conn: super::Conn,
        framework_id: &FrameworkId,
        tasks: Vec<ReconcileTask>,
    ) {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        let mut answers = Vec::new();
        let mut staging: BTreeMap<AgentId, Vec<TaskId>> = BTreeMap::new();
        let mut known = |t: &TaskEntry, answers: &mut Vec<TaskStatus>| {
            if t.status.state == TaskState::Staging {
                let agent = t.info.agent_id.clone();
                staging
                    .entry(agent)
                    .or_default()
                    .push(t.info.task_id.clone());
            }
            answers.push(reconciled(&t.status, self.unix_now));
        };
        if tasks.is_empty() {
            let mut all: Vec<&TaskEntry> = fw.tasks.values().collect();
            all.sort_by(|a, b| a.info.task_id.cmp(&b.info.task_id));
            for t in all {
                known(t, &mut answers);
            }
        } else {
            for rt in tasks {
                match fw.tasks.get(&rt.task_id) {
                    Some(t) => known(t, &mut answers),
                    None => answers.extend(self.unknown_task_answer(framework_id, &rt)),
                }
            }
        }
        for status in answers {
            self.send_update(conn, status);
        }
        for (agent_id, task_ids) in staging {
            self.ask_agent(&agent_id, framework_id, task_ids);
        }
    }

    /// After an agent re-registered with `reported` tasks: asks it about the tasks the
    /// master believes are on it but that it did not report, and forgets those whose
    /// framework was already told LOST (nothing more reaches it about them).
    pub(crate) fn reconcile_unreported(
        &mut self,
        agent_id: &AgentId,
        reported: &HashSet<(FrameworkId, TaskId)>,
    ) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let mut missing: Vec<(FrameworkId, TaskId)> = agent
            .tasks
            .iter()
            .filter(|k| !reported.contains(*k))
            .cloned()
            .collect();
        missing.sort();
        let mut ask: BTreeMap<FrameworkId, Vec<TaskId>> = BTreeMap::new();
        for (fid, tid) in missing {
            let Some(entry) = self.frameworks.get(&fid).and_then(|f| f.tasks.get(&tid)) else {
                continue;
            };
            if !entry.status.state.is_terminal() {
                tracing::warn!(%agent_id, framework = %fid, task = %tid, "task unknown to the re-registered agent: reconciling with it");
                ask.entry(fid).or_default().push(tid);
                continue;
            }
            // Reported LOST while the agent was unreachable, and gone from the agent: its
            // resources left the allocator then; only the bookkeeping remains.
            let res = entry.info.resources.clone();
            if let Some(a) = self.agents.get_mut(agent_id) {
                a.used -= &res;
                a.tasks.remove(&(fid.clone(), tid.clone()));
            }
            self.complete_task(&fid, &tid);
        }
        for (fid, task_ids) in ask {
            self.ask_agent(agent_id, &fid, task_ids);
        }
    }

    /// Sends `ReconcileTasks` for `task_ids` of `framework_id` to the agent (if connected).
    fn ask_agent(&mut self, agent_id: &AgentId, framework_id: &FrameworkId, task_ids: Vec<TaskId>) {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        let framework = fw.info.clone();
        self.send_to_agent(
            agent_id,
            MasterToAgent::ReconcileTasks {
                framework,
                task_ids,
            },
        );
    }
}

/// A task's latest status as a reconciliation answer: no uuid, source master.
fn reconciled(status: &TaskStatus, now: f64) -> TaskStatus {
    let mut s = status.clone();
    s.uuid = None;
    s.source = TaskStatusSource::Master;
    s.reason = Some(TaskStatusReason::Reconciliation);
    s.timestamp = now;
    s
}
