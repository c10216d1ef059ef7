//! Read-only views of the core for the HTTP API: [`AgentSnapshot`] (`GET /state`, JSON)
//! and [`MetricsSnapshot`] (`GET /metrics`, Prometheus text).

use super::{AgentCore, CompletedTask, Counters};
use drover_proto::{AgentId, AttributeValue, Resources, TaskState};
use serde::Serialize;
use std::collections::BTreeMap;

/// Resources in the shape Mesos's `/state` uses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourcesView {
    /// CPUs over all roles.
    pub cpus: f64,
    /// Memory in MB over all roles.
    pub mem: f64,
    /// Disk in MB over all roles.
    pub disk: f64,
    /// Port ranges, e.g. `[31000-32000]`.
    pub ports: String,
    /// The full Mesos text form, reservations included.
    pub text: String,
}

impl ResourcesView {
    /// The view of `r`.
    pub fn of(r: &Resources) -> Self {
        let ports = r
            .ports()
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        Self {
            cpus: r.cpus().as_f64(),
            mem: r.mem().as_f64(),
            disk: r.disk().as_f64(),
            ports: format!("[{ports}]"),
            text: r.to_string(),
        }
    }
}

/// A task in `/state`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskView {
    /// Task id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Latest state, e.g. `TASK_RUNNING`.
    pub state: &'static str,
    /// Its resources.
    pub resources: ResourcesView,
}

/// An executor in `/state`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecutorView {
    /// Executor id.
    pub id: String,
    /// Name, if any.
    pub name: Option<String>,
    /// Its container (none for mock executors, whose tasks each have one).
    pub container_id: Option<String>,
    /// Containerizer running it.
    pub containerizer: &'static str,
    /// `LAUNCHING`, `REGISTERING`, `RUNNING`, `DISCONNECTED`, `TERMINATING`, `TERMINATED`.
    pub state: &'static str,
    /// Sandbox directory, if one was made.
    pub directory: Option<String>,
    /// Executor plus live tasks.
    pub resources: ResourcesView,
    /// Tasks not yet acknowledged as finished.
    pub tasks: Vec<TaskView>,
}

/// A framework in `/state`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameworkView {
    /// Framework id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Its executors.
    pub executors: Vec<ExecutorView>,
}

/// What `GET /state` returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentSnapshot {
    /// The agent's id, once registered.
    pub id: Option<AgentId>,
    /// Hostname.
    pub hostname: String,
    /// Registered with a master now.
    pub registered: bool,
    /// Total resources.
    pub resources: ResourcesView,
    /// Resources of live executors and tasks.
    pub used_resources: ResourcesView,
    /// Attributes.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Usable containerizers, in order of preference (the ones advertised).
    pub containerizers: Vec<&'static str>,
    /// Configured containerizers that cannot run containers now, with why (e.g.
    /// `docker`: the engine does not answer).
    pub unavailable_containerizers: BTreeMap<&'static str, String>,
    /// Frameworks with executors here.
    pub frameworks: Vec<FrameworkView>,
    /// Recently completed tasks, oldest first.
    pub completed_tasks: Vec<CompletedTask>,
    /// Status updates not yet acknowledged.
    pub status_updates_pending: usize,
}

/// What `GET /metrics` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    /// Tasks on the agent by latest state.
    pub tasks_by_state: BTreeMap<TaskState, u64>,
    /// Executors (including ended ones awaiting acknowledgements).
    pub executors: u64,
    /// Frameworks.
    pub frameworks: u64,
    /// Registered with a master now.
    pub registered: bool,
    /// Status updates not yet acknowledged.
    pub status_updates_pending: u64,
    /// Monotonic counters.
    pub counters: Counters,
}

impl AgentCore {
    /// The agent as `/state` shows it; frameworks, executors and tasks sorted by id.
    pub fn snapshot(&self) -> AgentSnapshot {
        let mut used = Resources::new();
        let mut frameworks: Vec<FrameworkView> = self
            .frameworks
            .iter()
            .map(|(fid, fw)| {
                let mut executors: Vec<ExecutorView> = fw
                    .executors
                    .iter()
                    .map(|(eid, ex)| {
                        let r = ex.resources();
                        used += &r;
                        let mut tasks: Vec<TaskView> = ex
                            .tasks
                            .values()
                            .map(|t| TaskView {
                                id: t.info.task_id.0.clone(),
                                name: t.info.name.clone(),
                                state: t.state.as_str(),
                                resources: ResourcesView::of(&t.info.resources),
                            })
                            .collect();
                        tasks.sort_by(|a, b| a.id.cmp(&b.id));
                        let state = match ex.phase {
                            super::state::Phase::Terminated => "TERMINATED",
                            _ if ex.is_mock() => "RUNNING",
                            p => p.as_str(),
                        };
                        ExecutorView {
                            id: eid.0.clone(),
                            name: ex.info.name.clone(),
                            container_id: ex.container_id.as_ref().map(|c| c.0.clone()),
                            containerizer: ex.containerizer.as_str(),
                            state,
                            directory: ex.sandbox.as_ref().map(|p| p.display().to_string()),
                            resources: ResourcesView::of(&r),
                            tasks,
                        }
                    })
                    .collect();
                executors.sort_by(|a, b| a.id.cmp(&b.id));
                FrameworkView {
                    id: fid.0.clone(),
                    name: fw.info.name.clone(),
                    executors,
                }
            })
            .collect();
        frameworks.sort_by(|a, b| a.id.cmp(&b.id));
        let attributes = self
            .settings
            .agent
            .attributes
            .iter()
            .map(|a| {
                let v = match &a.value {
                    AttributeValue::Text(s) => serde_json::Value::from(s.clone()),
                    AttributeValue::Scalar(x) => serde_json::Value::from(*x),
                };
                (a.name.clone(), v)
            })
            .collect();
        AgentSnapshot {
            id: self.reg.agent_id.clone(),
            hostname: self.settings.agent.hostname.clone(),
            registered: self.is_registered(),
            resources: ResourcesView::of(&self.settings.agent.resources),
            used_resources: ResourcesView::of(&used),
            attributes,
            containerizers: self
                .settings
                .containerizers
                .iter()
                .map(|k| k.as_str())
                .collect(),
            unavailable_containerizers: self
                .availability
                .unavailable()
                .iter()
                .map(|(k, why)| (k.as_str(), why.clone()))
                .collect(),
            frameworks,
            completed_tasks: self.completed.iter().cloned().collect(),
            status_updates_pending: self.sum.pending_count(),
        }
    }

    /// Numbers for `/metrics`.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut tasks_by_state = BTreeMap::new();
        let mut executors = 0;
        for fw in self.frameworks.values() {
            executors += fw.executors.len() as u64;
            for ex in fw.executors.values() {
                for t in ex.tasks.values() {
                    *tasks_by_state.entry(t.state).or_insert(0) += 1;
                }
            }
        }
        MetricsSnapshot {
            tasks_by_state,
            executors,
            frameworks: self.frameworks.len() as u64,
            registered: self.is_registered(),
            status_updates_pending: self.sum.pending_count() as u64,
            counters: self.counters.clone(),
        }
    }
}
