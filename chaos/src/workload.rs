//! Workloads: a framework (an SDK scheduler in this process) that launches a fixed set
//! of tasks on whatever offers come, launches each at most once, and records every
//! update it receives into an [`EventLog`].

use crate::cluster::Cluster;
use crate::events::EventLog;
use drover_proto::{
    CommandInfo, Filters, FrameworkCapability, FrameworkInfo, Offer, Operation, Parameter,
    Resources, TaskInfo, TaskStatus,
};
use drover_sdk::scheduler::{Scheduler, SchedulerDriver, SchedulerRun};
use drover_sdk::SdkError;
use std::collections::VecDeque;
use std::time::Duration;

/// One task of a workload.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// Task id (unique within the framework).
    pub id: String,
    /// What it takes.
    pub resources: Resources,
    /// Shell command (posix/native agents).
    pub command: String,
    /// Labels, e.g. `mock.run_for=2s` for the mock containerizer.
    pub labels: Vec<Parameter>,
    /// Only on the agent with this hostname (see [`Cluster::agent_name`]).
    pub on: Option<String>,
}

impl TaskSpec {
    /// A task for the mock containerizer that runs for `run_for` and exits 0
    /// (`None`: until killed).
    pub fn mock(id: impl Into<String>, run_for: Option<Duration>) -> TaskSpec {
        let run_for =
            run_for.map_or_else(|| "100000s".to_owned(), |d| format!("{}ms", d.as_millis()));
        TaskSpec {
            id: id.into(),
            resources: Resources::parse("cpus:0.01;mem:1").unwrap_or_default(),
            command: "true".into(),
            labels: vec![Parameter::new("mock.run_for", run_for)],
            on: None,
        }
    }

    /// The same task, placed on agent `i` only.
    pub fn on_agent(mut self, i: usize) -> TaskSpec {
        self.on = Some(Cluster::agent_name(i));
        self
    }
}

/// The scheduler: launches `pending` tasks in order into the offers that fit them.
struct Batch {
    name: String,
    pending: VecDeque<TaskSpec>,
    log: EventLog,
}

impl Scheduler for Batch {
    fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>) {
        let refuse = Filters {
            refuse_seconds: 1.0,
        };
        for offer in offers {
            let mut left = offer.resources.clone();
            let mut tasks = Vec::new();
            let mut rest = VecDeque::new();
            while let Some(spec) = self.pending.pop_front() {
                let here = spec.on.as_ref().is_none_or(|h| *h == offer.hostname);
                match left.checked_sub(&spec.resources).filter(|_| here) {
                    Some(remaining) => {
                        left = remaining;
                        let mut t = TaskInfo::command(
                            spec.id.as_str(),
                            offer.agent_id.clone(),
                            spec.resources,
                            CommandInfo::shell(spec.command),
                        );
                        t.labels = spec.labels;
                        tasks.push(t);
                    }
                    None => rest.push_back(spec),
                }
            }
            self.pending = rest;
            let _ = if tasks.is_empty() {
                driver.decline(offer.id, refuse)
            } else {
                driver.accept(vec![offer.id], vec![Operation::Launch { tasks }], refuse)
            };
        }
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, status: TaskStatus) {
        self.log.push(&self.name, status);
    }
}

/// A running framework; its driver stops when dropped.
#[derive(Debug)]
pub struct Framework {
    /// Its name (the [`crate::Event::framework`] of its updates).
    pub name: String,
    /// Ids of its tasks, in launch order.
    pub task_ids: Vec<String>,
    /// Its driver.
    pub driver: SchedulerDriver,
    run: Option<SchedulerRun>,
}

impl Framework {
    /// Subscribes a framework named `name` (PARTITION_AWARE if `partition_aware`) to
    /// `cluster`, which launches `tasks` and records updates into `log`.
    pub fn start(
        cluster: &Cluster,
        name: &str,
        partition_aware: bool,
        failover_timeout: Duration,
        tasks: Vec<TaskSpec>,
        log: &EventLog,
    ) -> Result<Framework, SdkError> {
        let mut info = FrameworkInfo::new(name, "root");
        info.failover_timeout = failover_timeout;
        if partition_aware {
            info.capabilities = vec![FrameworkCapability::PartitionAware];
        }
        let task_ids = tasks.iter().map(|t| t.id.clone()).collect();
        let sched = Batch {
            name: name.to_owned(),
            pending: tasks.into(),
            log: log.clone(),
        };
        let (driver, run) = SchedulerDriver::start(cluster.scheduler_config(info), sched)?;
        Ok(Framework {
            name: name.to_owned(),
            task_ids,
            driver,
            run: Some(run),
        })
    }

    /// Tears the framework down (the master kills its tasks) and waits for the driver.
    pub fn teardown(mut self) -> Result<(), SdkError> {
        self.driver.teardown()?;
        if let Some(run) = self.run.take() {
            run.join()?;
        }
        Ok(())
    }
}

impl Drop for Framework {
    fn drop(&mut self) {
        if self.run.is_some() {
            let _ = self.driver.stop(false);
        }
    }
}
