//! What the master remembers of tasks and frameworks that are over, for operators
//! (`GET /state`, `drover tasks --all`): Mesos's `completed_tasks` per framework and
//! `completed_frameworks`, each a bounded ring (`--max_completed_tasks_per_framework`,
//! default 1000; `--max_completed_frameworks`, default 50). The oldest entry goes when a
//! ring is full, so the master's memory does not grow with the number of tasks run.
//!
//! ```text
//!  terminal update / agent removed ─▶ FrameworkState.tasks ──remove──▶ completed ring
//!  teardown / failover timeout ─────▶ frameworks ──remove──▶ completed_frameworks ring
//! ```
//!
//! A task id stays refused for re-use while the task is active or in its framework's
//! ring (Mesos refuses only active ids).

use super::TaskEntry;
use drover_proto::{FrameworkInfo, TaskId};
use std::collections::{HashSet, VecDeque};

/// Default of [`MasterConfig::max_completed_tasks_per_framework`](super::MasterConfig).
pub const DEFAULT_MAX_COMPLETED_TASKS_PER_FRAMEWORK: usize = 1000;
/// Default of [`MasterConfig::max_completed_frameworks`](super::MasterConfig).
pub const DEFAULT_MAX_COMPLETED_FRAMEWORKS: usize = 50;

/// A framework's last completed tasks, oldest first, at most `cap`.
#[derive(Debug, Clone, Default)]
pub struct CompletedTasks {
    tasks: VecDeque<TaskEntry>,
    ids: HashSet<TaskId>,
    cap: usize,
}

impl CompletedTasks {
    /// An empty ring keeping at most `cap` tasks (0 keeps none).
    pub fn new(cap: usize) -> Self {
        Self {
            tasks: VecDeque::new(),
            ids: HashSet::new(),
            cap,
        }
    }

    /// Records a task that reached a terminal state (or was removed with its agent),
    /// dropping the oldest one if the ring is full. A task already in the ring is
    /// replaced (moved to the newest end).
    pub fn push(&mut self, entry: TaskEntry) {
        if self.cap == 0 {
            return;
        }
        if self.ids.contains(&entry.info.task_id) {
            self.tasks.retain(|t| t.info.task_id != entry.info.task_id);
        } else {
            self.ids.insert(entry.info.task_id.clone());
        }
        while self.tasks.len() >= self.cap {
            match self.tasks.pop_front() {
                Some(old) => {
                    self.ids.remove(&old.info.task_id);
                }
                None => break,
            }
        }
        self.tasks.push_back(entry);
    }

    /// Whether the ring holds this task.
    pub fn contains(&self, task_id: &TaskId) -> bool {
        self.ids.contains(task_id)
    }

    /// The tasks, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &TaskEntry> {
        self.tasks.iter()
    }

    /// Number of tasks held.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// A framework that was removed (teardown, failover timeout), as `/state` shows it.
#[derive(Debug, Clone)]
pub struct CompletedFramework {
    /// As last subscribed.
    pub info: FrameworkInfo,
    /// Its completed tasks, including those that were still active when it was removed
    /// (recorded `TASK_KILLED` with `REASON_FRAMEWORK_REMOVED`: the agents kill them).
    pub tasks: CompletedTasks,
    /// Wall-clock time (seconds since the Unix epoch) of its removal.
    pub unregistered_at: f64,
}

/// The last removed frameworks, oldest first, at most `cap`.
#[derive(Debug, Clone, Default)]
pub struct CompletedFrameworks {
    frameworks: VecDeque<CompletedFramework>,
    cap: usize,
}

impl CompletedFrameworks {
    /// An empty ring keeping at most `cap` frameworks (0 keeps none).
    pub fn new(cap: usize) -> Self {
        Self {
            frameworks: VecDeque::new(),
            cap,
        }
    }

    /// Records a removed framework, dropping the oldest if the ring is full.
    pub fn push(&mut self, framework: CompletedFramework) {
        if self.cap == 0 {
            return;
        }
        while self.frameworks.len() >= self.cap {
            self.frameworks.pop_front();
        }
        self.frameworks.push_back(framework);
    }

    /// The frameworks, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &CompletedFramework> {
        self.frameworks.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_proto::{
        AgentId, CommandInfo, ExecutorId, Resources, TaskInfo, TaskState, TaskStatus,
        TaskStatusSource,
    };

    fn entry(id: &str) -> TaskEntry {
        let task_id = TaskId::new(id);
        TaskEntry {
            info: TaskInfo::command(
                id,
                AgentId::new("a"),
                Resources::new(),
                CommandInfo::shell("true"),
            ),
            executor_id: ExecutorId::new(id),
            role: "*".into(),
            status: TaskStatus::new(task_id, TaskState::Finished, TaskStatusSource::Executor),
        }
    }

    fn ids(c: &CompletedTasks) -> Vec<String> {
        c.iter().map(|t| t.info.task_id.to_string()).collect()
    }

    #[test]
    fn completed_tasks_keep_the_newest_up_to_the_cap() {
        let mut c = CompletedTasks::new(3);
        for i in 0..5 {
            c.push(entry(&format!("t{i}")));
        }
        assert_eq!(ids(&c), ["t2", "t3", "t4"]);
        assert!(!c.contains(&TaskId::new("t1")));
        assert!(c.contains(&TaskId::new("t2")));
        // Pushed again: moved to the newest end, not held twice.
        c.push(entry("t2"));
        assert_eq!(ids(&c), ["t3", "t4", "t2"]);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn a_cap_of_zero_keeps_nothing() {
        let mut c = CompletedTasks::new(0);
        c.push(entry("t"));
        assert!(c.is_empty());
        assert!(!c.contains(&TaskId::new("t")));
        let mut f = CompletedFrameworks::new(0);
        f.push(CompletedFramework {
            info: FrameworkInfo::new("f", "u"),
            tasks: c,
            unregistered_at: 0.0,
        });
        assert_eq!(f.iter().count(), 0);
    }

    #[test]
    fn completed_frameworks_keep_the_newest_up_to_the_cap() {
        let mut f = CompletedFrameworks::new(2);
        for name in ["a", "b", "c"] {
            f.push(CompletedFramework {
                info: FrameworkInfo::new(name, "u"),
                tasks: CompletedTasks::new(1),
                unregistered_at: 0.0,
            });
        }
        let names: Vec<&str> = f.iter().map(|c| c.info.name.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
    }
}
