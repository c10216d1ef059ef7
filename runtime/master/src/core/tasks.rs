//! Tasks: launch validation (`Accept`), kills, status updates from agents,
//! acknowledgements and framework messages (reconciliation: [`super::reconciliation`]).
//!
//! Nothing is dropped silently: a task on an unknown, rescinded or foreign offer gets
//! `TASK_DROPPED`; a task that fails validation gets `TASK_ERROR` with a message saying
//! what is wrong; a kill or reconcile of an unknown task gets an answer too.

use super::{Command, Conn, MasterCore, TaskEntry};
use drover_proto::{
    AgentId, CommandInfo, ContainerType, ExecutorId, Filters, FrameworkCapability, FrameworkId,
    KillPolicy, MasterToAgent, Offer, OfferId, Operation, Resources, SchedulerEvent, TaskId,
    TaskInfo, TaskState, TaskStatus, TaskStatusReason, TaskStatusSource, UpdateUuid,
};
use std::time::Instant;

impl MasterCore {
    /// A master-made status update (no uuid: needs no acknowledgement).
    pub(crate) fn master_status(
        &self,
        task_id: TaskId,
        state: TaskState,
        reason: TaskStatusReason,
        message: String,
        agent_id: Option<AgentId>,
    ) -> TaskStatus {
        let mut s = TaskStatus::new(task_id, state, TaskStatusSource::Master)
            .with_reason(reason)
            .with_message(message);
        s.agent_id = agent_id;
        s.timestamp = self.unix_now;
        s
    }

    pub(crate) fn send_update(&mut self, conn: Conn, status: TaskStatus) {
        self.out.push(Command::ToScheduler {
            conn,
            event: SchedulerEvent::Update { status },
        });
    }

    pub(crate) fn accept(
        &mut self,
        now: Instant,
        conn: Conn,
        framework_id: &FrameworkId,
        offer_ids: Vec<OfferId>,
        operations: Vec<Operation>,
        filters: Filters,
    ) {
        let tasks: Vec<TaskInfo> = operations
            .into_iter()
            .flat_map(|op| match op {
                Operation::Launch { tasks } => tasks,
            })
            .collect();
        // Validate the offers first: all known, all ours, all on one agent.
        let mut offers: Vec<Offer> = Vec::new();
        let mut offer_error = None;
        for id in &offer_ids {
            match self.offers.get(id) {
                None => {
                    offer_error = Some(format!("offer {id} is unknown or was rescinded"));
                }
                Some(e) if e.offer.framework_id != *framework_id => {
                    let msg = format!("offer {id} belongs to another framework");
                    self.reject(conn, "ACCEPT", msg.clone());
                    offer_error = Some(msg);
                }
                Some(e) => offers.push(e.offer.clone()),
            }
        }
        if offer_error.is_none() {
            if offers.is_empty() {
                offer_error = Some("no offers given".into());
            } else if offers.iter().any(|o| o.agent_id != offers[0].agent_id) {
                offer_error = Some("offers span more than one agent".into());
            }
        }
        if let Some(why) = offer_error {
            // Offers of ours named in the call go back to the pool.
            for o in &offers {
                if let Some(offer) = self.remove_offer(&o.id) {
                    self.recover_resources(
                        now,
                        &offer.agent_id,
                        framework_id,
                        &offer.allocation_role,
                        &offer.resources,
                        None,
                    );
                }
            }
            for task in tasks {
                let status = self.master_status(
                    task.task_id.clone(),
                    TaskState::Dropped,
                    TaskStatusReason::InvalidOffers,
                    format!("task dropped: {why}"),
                    Some(task.agent_id.clone()),
                );
                self.send_update(conn, status);
            }
            return;
        }
        let agent_id = offers[0].agent_id.clone();
        let role = offers[0].allocation_role.clone();
        let mut remaining = Resources::new();
        for o in &offers {
            self.remove_offer(&o.id);
            remaining += &o.resources;
        }
        for task in tasks {
            match self.validate_task(framework_id, &agent_id, &remaining, &task) {
                Ok(needed) => {
                    remaining -= &needed;
                    self.launch_task(framework_id, &agent_id, &role, task, needed);
                }
                Err(message) => {
                    tracing::info!(%framework_id, task_id = %task.task_id, %message, "invalid task");
                    let status = self.master_status(
                        task.task_id.clone(),
                        TaskState::Error,
                        TaskStatusReason::TaskInvalid,
                        message,
                        Some(agent_id.clone()),
                    );
                    self.send_update(conn, status);
                }
            }
        }
        self.recover_resources(
            now,
            &agent_id,
            framework_id,
            &role,
            &remaining,
            Some(filters),
        );
    }

    /// Checks one task against the offer; returns the resources it consumes (task plus
    /// a new executor's) or what is wrong.
    fn validate_task(
        &self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        remaining: &Resources,
        task: &TaskInfo,
    ) -> Result<Resources, String> {
        let fw = self
            .frameworks
            .get(framework_id)
            .ok_or_else(|| format!("unknown framework {framework_id}"))?;
        if task.task_id.as_str().is_empty() {
            return Err("task id is empty".into());
        }
        if fw.tasks.contains_key(&task.task_id) || fw.completed.contains(&task.task_id) {
            return Err(format!(
                "task id {} is already in use by this framework",
                task.task_id
            ));
        }
        if task.agent_id != *agent_id {
            return Err(format!(
                "task names agent {} but the offer is for agent {agent_id}",
                task.agent_id
            ));
        }
        match (&task.command, &task.executor) {
            (Some(_), Some(_)) => return Err("task has both a command and an executor".into()),
            (None, None) => return Err("task has neither a command nor an executor".into()),
            (Some(cmd), None) => validate_command(cmd)?,
            (None, Some(e)) => validate_command(&e.command)?,
        }
        if task.resources.is_empty() {
            return Err("task uses no resources".into());
        }
        let agent = self
            .agents
            .get(agent_id)
            .ok_or_else(|| format!("agent {agent_id} is gone"))?;
        let container = task
            .container
            .as_ref()
            .or(task.executor.as_ref().and_then(|e| e.container.as_ref()));
        if let Some(c) = container {
            let wanted = match c.kind {
                ContainerType::Docker => "docker",
                ContainerType::Mesos => "native",
            };
            let has = &agent.info.containerizers;
            let ok = has.iter().any(|z| z == wanted || z == "mock")
                || (c.kind == ContainerType::Mesos && has.iter().any(|z| z == "posix"));
            if !ok {
                return Err(format!(
                    "task asks for the {wanted} containerizer ({} container) but agent {agent_id} has only [{}]",
                    c.kind,
                    has.join(", ")
                ));
            }
        }
        let mut needed = task.resources.clone();
        if let Some(e) = &task.executor {
            let known = agent
                .executors
                .contains_key(&(framework_id.clone(), e.executor_id.clone()));
            if !known {
                needed += &e.resources;
            }
        }
        if !remaining.contains(&needed) {
            return Err(format!(
                "task needs {needed} but the offers have only {remaining} left"
            ));
        }
        Ok(needed)
    }

    fn launch_task(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        task: TaskInfo,
        needed: Resources,
    ) {
        let executor_id = task
            .executor
            .as_ref()
            .map(|e| e.executor_id.clone())
            .unwrap_or_else(|| ExecutorId::new(task.task_id.as_str()));
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let mut status = TaskStatus::new(
            task.task_id.clone(),
            TaskState::Staging,
            TaskStatusSource::Master,
        );
        status.agent_id = Some(agent_id.clone());
        status.executor_id = Some(executor_id.clone());
        status.timestamp = self.unix_now;
        let framework = fw.info.clone();
        fw.tasks.insert(
            task.task_id.clone(),
            TaskEntry {
                info: task.clone(),
                executor_id: executor_id.clone(),
                role: role.to_owned(),
                status,
            },
        );
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.used += &needed;
            agent
                .tasks
                .insert((framework_id.clone(), task.task_id.clone()));
            if let Some(e) = &task.executor {
                agent
                    .executors
                    .entry((framework_id.clone(), e.executor_id.clone()))
                    .or_insert_with(|| e.resources.clone());
            }
        }
        // The resources stay allocated to the framework (they were offered to it): the
        // allocator is told only when they come back.
        self.counters.tasks_launched += 1;
        self.send_to_agent(agent_id, MasterToAgent::RunTask { framework, task });
    }

    /// Frees a task's resources (terminal update or framework removal).
    pub(crate) fn release_task(
        &mut self,
        agent_id: &AgentId,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        resources: &Resources,
    ) {
        let role = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(task_id))
            .map(|t| t.role.clone())
            .unwrap_or_else(|| self.default_role(framework_id));
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.used -= resources;
            agent.tasks.remove(&(framework_id.clone(), task_id.clone()));
        }
        self.alloc_recover(agent_id, framework_id, &role, resources);
    }

    /// A task ended: frees its resources, moves it to its framework's completed tasks
    /// and offers what it held again.
    fn finish_task(
        &mut self,
        now: Instant,
        agent_id: &AgentId,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        resources: &Resources,
    ) {
        self.release_task(agent_id, framework_id, task_id, resources);
        self.complete_task(framework_id, task_id);
        self.request_allocation(now);
    }

    /// Moves a task out of the active set into its framework's completed tasks,
    /// counting it once.
    pub(crate) fn complete_task(&mut self, framework_id: &FrameworkId, task_id: &TaskId) {
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            if let Some(entry) = fw.tasks.remove(task_id) {
                self.counters.task_completed(entry.status.state);
                fw.completed.push(entry);
            }
        }
    }

    pub(crate) fn on_status_update(
        &mut self,
        now: Instant,
        agent_id: &AgentId,
        framework_id: FrameworkId,
        status: TaskStatus,
    ) {
        let task_id = status.task_id.clone();
        let Some(fw) = self.frameworks.get_mut(&framework_id) else {
            tracing::warn!(%framework_id, %task_id, "status update for an unknown framework ignored");
            return;
        };
        let mut freed = None;
        match fw.tasks.get_mut(&task_id) {
            Some(entry) if entry.status.state.is_terminal() => {
                // The framework was already told a terminal state (LOST while the agent
                // was unreachable, for a framework that is not partition-aware): as in
                // Mesos, nothing more reaches it about this task. The agent's update is
                // acknowledged on the framework's behalf so that its stream drains, and
                // its terminal update frees what the task held.
                tracing::info!(%framework_id, %task_id, state = %status.state.as_str(), reported = %entry.status.state.as_str(), "update after a terminal state already reported: not forwarded");
                let res = entry.info.resources.clone();
                if let Some(uuid) = status.uuid {
                    self.send_to_agent(
                        agent_id,
                        MasterToAgent::Acknowledge {
                            framework_id: framework_id.clone(),
                            task_id: task_id.clone(),
                            uuid,
                        },
                    );
                }
                if status.state.is_terminal() {
                    self.finish_task(now, agent_id, &framework_id, &task_id, &res);
                }
                return;
            }
            Some(entry) => {
                entry.status = status.clone();
                if status.state.is_terminal() {
                    freed = Some(entry.info.resources.clone());
                }
            }
            None => {
                tracing::debug!(%framework_id, %task_id, "status update for a task the master does not track");
            }
        }
        if let Some(res) = freed {
            // Terminal: free resources at once, even before the acknowledgement.
            self.finish_task(now, agent_id, &framework_id, &task_id, &res);
        }
        self.send_to_framework(&framework_id, SchedulerEvent::Update { status });
    }

    pub(crate) fn on_executor_exited(
        &mut self,
        now: Instant,
        agent_id: &AgentId,
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        status: Option<i32>,
    ) {
        let role = self.default_role(&framework_id);
        if let Some(agent) = self.agents.get_mut(agent_id) {
            if let Some(res) = agent
                .executors
                .remove(&(framework_id.clone(), executor_id.clone()))
            {
                agent.used -= &res;
                self.alloc_recover(agent_id, &framework_id, &role, &res);
                self.request_allocation(now);
            }
        }
        self.send_to_framework(
            &framework_id,
            SchedulerEvent::Failure {
                agent_id: Some(agent_id.clone()),
                executor_id: Some(executor_id),
                status,
            },
        );
    }

    pub(crate) fn kill(
        &mut self,
        conn: Conn,
        framework_id: &FrameworkId,
        task_id: TaskId,
        agent_id: Option<AgentId>,
        kill_policy: Option<KillPolicy>,
    ) {
        let known = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(&task_id))
            .map(|t| t.info.agent_id.clone());
        match known {
            Some(agent_id) => self.send_to_agent(
                &agent_id,
                MasterToAgent::KillTask {
                    framework_id: framework_id.clone(),
                    task_id,
                    kill_policy,
                },
            ),
            None => {
                let state = self.unknown_task_state(framework_id);
                let status = self.master_status(
                    task_id.clone(),
                    state,
                    TaskStatusReason::TaskUnknown,
                    format!("cannot kill task {task_id}: the master does not know it"),
                    agent_id,
                );
                self.send_update(conn, status);
            }
        }
    }

    pub(crate) fn unknown_task_state(&self, framework_id: &FrameworkId) -> TaskState {
        let aware = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.info.has(FrameworkCapability::PartitionAware));
        if aware {
            TaskState::Unknown
        } else {
            TaskState::Lost
        }
    }

    pub(crate) fn acknowledge(
        &mut self,
        conn: Conn,
        framework_id: FrameworkId,
        agent_id: AgentId,
        task_id: TaskId,
        uuid: UpdateUuid,
    ) {
        if !self.agents.contains_key(&agent_id) {
            self.reject(conn, "ACKNOWLEDGE", format!("unknown agent {agent_id}"));
            return;
        }
        self.send_to_agent(
            &agent_id,
            MasterToAgent::Acknowledge {
                framework_id,
                task_id,
                uuid,
            },
        );
    }

    pub(crate) fn scheduler_message(
        &mut self,
        conn: Conn,
        framework_id: FrameworkId,
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    ) {
        if !self.agents.contains_key(&agent_id) {
            self.reject(conn, "MESSAGE", format!("unknown agent {agent_id}"));
            return;
        }
        self.send_to_agent(
            &agent_id,
            MasterToAgent::FrameworkMessage {
                framework_id,
                executor_id,
                data,
            },
        );
    }

    pub(crate) fn on_executor_message(
        &mut self,
        agent_id: &AgentId,
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    ) {
        self.send_to_framework(
            &framework_id,
            SchedulerEvent::Message {
                agent_id: agent_id.clone(),
                executor_id,
                data,
            },
        );
    }
}

fn validate_command(cmd: &CommandInfo) -> Result<(), String> {
    match &cmd.value {
        Some(v) if !v.trim().is_empty() => Ok(()),
        _ => Err("command has no value (nothing to run)".into()),
    }
}
