//! What operators see: the `/state` document and the numbers behind `/metrics`, read
//! from the core without changing it.

use super::{AgentStatus, MasterCore, TaskEntry};
use drover_proto::{format_attributes, Resources, TaskState};
use serde::Serialize;
use std::collections::BTreeMap;

/// One agent in `/state`.
#[derive(Debug, Serialize)]
pub struct AgentView {
    /// Id.
    pub id: String,
    /// Hostname.
    pub hostname: String,
    /// Port of the agent's HTTP API (sandbox files, state).
    pub http_port: u16,
    /// `active` or `unreachable`.
    pub status: &'static str,
    /// Whether it is connected now.
    pub connected: bool,
    /// Total resources (Mesos text form).
    pub resources: String,
    /// Used by tasks and executors.
    pub used_resources: String,
    /// In outstanding offers.
    pub offered_resources: String,
    /// Neither used nor offered.
    pub unreserved_free: String,
    /// Attributes in text form.
    pub attributes: String,
    /// Containerizers.
    pub containerizers: Vec<String>,
    /// Number of tasks on it.
    pub tasks: usize,
}

/// One task in `/state`.
#[derive(Debug, Serialize)]
pub struct TaskView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Agent.
    pub agent_id: String,
    /// State, e.g. `TASK_RUNNING`.
    pub state: String,
    /// Resources.
    pub resources: String,
    /// Latest status message.
    pub message: Option<String>,
    /// Latest health, if checked.
    pub healthy: Option<bool>,
    /// Wall-clock time (seconds since the Unix epoch) of its latest status.
    pub timestamp: f64,
}

impl TaskView {
    fn of(t: &TaskEntry) -> Self {
        TaskView {
            id: t.info.task_id.to_string(),
            name: t.info.name.clone(),
            agent_id: t.info.agent_id.to_string(),
            state: t.status.state.to_string(),
            resources: t.info.resources.to_string(),
            message: t.status.message.clone(),
            healthy: t.status.healthy,
            timestamp: t.status.timestamp,
        }
    }
}

/// One framework in `/state`.
#[derive(Debug, Serialize)]
pub struct FrameworkView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Whether its scheduler is connected.
    pub active: bool,
    /// Failover timeout in seconds.
    pub failover_timeout_secs: f64,
    /// Outstanding offers.
    pub offers: usize,
    /// Its active tasks (not yet terminal), by id.
    pub tasks: Vec<TaskView>,
    /// Its last tasks that reached a terminal state, oldest first (at most
    /// `--max-completed-tasks-per-framework`).
    pub completed_tasks: Vec<TaskView>,
    /// When it was removed (seconds since the Unix epoch); only for completed frameworks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unregistered_time: Option<f64>,
}

/// The `/state` document.
#[derive(Debug, Serialize)]
pub struct StateView {
    /// The master.
    pub master: drover_proto::MasterInfo,
    /// Agents, by id.
    pub agents: Vec<AgentView>,
    /// Frameworks, by id.
    pub frameworks: Vec<FrameworkView>,
    /// Role weights (roles in use or configured).
    pub roles: BTreeMap<String, f64>,
    /// The last frameworks that were removed, oldest first (at most
    /// `--max-completed-frameworks`), with their tasks; they are never active.
    pub completed_frameworks: Vec<FrameworkView>,
}

impl MasterCore {
    /// The `/state` document.
    pub fn state_view(&self) -> StateView {
        let mut agents: Vec<AgentView> = self
            .agents
            .iter()
            .map(|(id, a)| {
                let free = a.info.resources.clone() - &a.used - &a.offered;
                AgentView {
                    id: id.to_string(),
                    hostname: a.info.hostname.clone(),
                    http_port: a.info.http_port,
                    status: match a.status {
                        AgentStatus::Active => "active",
                        AgentStatus::Unreachable => "unreachable",
                        AgentStatus::Recovering => "recovering",
                    },
                    connected: a.conn.is_some(),
                    resources: a.info.resources.to_string(),
                    used_resources: a.used.to_string(),
                    offered_resources: a.offered.to_string(),
                    unreserved_free: free.unreserved().to_string(),
                    attributes: format_attributes(&a.info.attributes),
                    containerizers: a.info.containerizers.clone(),
                    tasks: a.tasks.len(),
                }
            })
            .collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        let mut roles: BTreeMap<String, f64> = self.config.weights.clone();
        let mut frameworks: Vec<FrameworkView> = self
            .frameworks
            .iter()
            .map(|(id, f)| {
                for r in &f.info.roles {
                    roles.entry(r.clone()).or_insert(1.0);
                }
                let mut tasks: Vec<TaskView> = f.tasks.values().map(TaskView::of).collect();
                tasks.sort_by(|a, b| a.id.cmp(&b.id));
                FrameworkView {
                    id: id.to_string(),
                    name: f.info.name.clone(),
                    roles: f.info.roles.clone(),
                    active: f.conn.is_some(),
                    failover_timeout_secs: f.info.failover_timeout.as_secs_f64(),
                    offers: f.offers.len(),
                    tasks,
                    completed_tasks: f.completed.iter().map(TaskView::of).collect(),
                    unregistered_time: None,
                }
            })
            .collect();
        frameworks.sort_by(|a, b| a.id.cmp(&b.id));
        let completed = self
            .completed_frameworks
            .iter()
            .map(|c| FrameworkView {
                id: c
                    .info
                    .id
                    .as_ref()
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                name: c.info.name.clone(),
                roles: c.info.roles.clone(),
                active: false,
                failover_timeout_secs: c.info.failover_timeout.as_secs_f64(),
                offers: 0,
                tasks: Vec::new(),
                completed_tasks: c.tasks.iter().map(TaskView::of).collect(),
                unregistered_time: Some(c.unregistered_at),
            })
            .collect();
        StateView {
            master: self.config.master_info.clone(),
            agents,
            frameworks,
            roles,
            completed_frameworks: completed,
        }
    }

    /// Gauges for `/metrics`: (name, help, value).
    pub fn gauges(&self) -> Vec<(String, &'static str, f64)> {
        let active = self
            .agents
            .values()
            .filter(|a| a.status == AgentStatus::Active)
            .count();
        let mut out = vec![
            (
                "drover_master_agents_active".to_owned(),
                "Agents registered and reachable",
                active as f64,
            ),
            (
                "drover_master_agents_unreachable".to_owned(),
                "Agents marked unreachable",
                (self.agents.len() - active) as f64,
            ),
            (
                "drover_master_frameworks_active".to_owned(),
                "Frameworks with a connected scheduler",
                self.frameworks
                    .values()
                    .filter(|f| f.conn.is_some())
                    .count() as f64,
            ),
            (
                "drover_master_frameworks_inactive".to_owned(),
                "Frameworks waiting for failover",
                self.frameworks
                    .values()
                    .filter(|f| f.conn.is_none())
                    .count() as f64,
            ),
            (
                "drover_master_offers_outstanding".to_owned(),
                "Offers not yet accepted or declined",
                self.offers.len() as f64,
            ),
        ];
        let mut by_state: BTreeMap<TaskState, usize> =
            TaskState::ALL.iter().map(|s| (*s, 0)).collect();
        for f in self.frameworks.values() {
            for t in f.tasks.values() {
                *by_state.entry(t.status.state).or_default() += 1;
            }
        }
        for (state, n) in by_state {
            out.push((
                format!("drover_master_tasks{{state=\"{}\"}}", state.as_str()),
                "Tasks the master tracks, by state",
                n as f64,
            ));
        }
        let total: Resources = self
            .agents
            .values()
            .filter(|a| a.status == AgentStatus::Active)
            .fold(Resources::new(), |acc, a| acc + &a.info.resources);
        let used: Resources = self
            .agents
            .values()
            .fold(Resources::new(), |acc, a| acc + &a.used);
        out.push((
            "drover_master_cpus_total".to_owned(),
            "CPUs of reachable agents",
            total.cpus().as_f64(),
        ));
        out.push((
            "drover_master_cpus_used".to_owned(),
            "CPUs used by tasks and executors",
            used.cpus().as_f64(),
        ));
        out.push((
            "drover_master_mem_total_mb".to_owned(),
            "Memory of reachable agents (MB)",
            total.mem().as_f64(),
        ));
        out.push((
            "drover_master_mem_used_mb".to_owned(),
            "Memory used by tasks and executors (MB)",
            used.mem().as_f64(),
        ));
        out
    }
}
