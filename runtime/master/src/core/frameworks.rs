//! Framework subscription, failover, teardown and heartbeats.
//!
//! A scheduler subscribes and gets an id. If its connection drops, the framework stays
//! with its tasks for `failover_timeout`; a `Subscribe` with the same id within it
//! resumes the framework on the new connection. After it, or on `Teardown`, the
//! framework's tasks are killed and its id can never subscribe again.

use super::completed::{CompletedFramework, CompletedTasks};
use super::{Command, Conn, FrameworkState, MasterCore};
use crate::registry::RegistryOp;
use drover_proto::{
    FrameworkId, FrameworkInfo, MasterToAgent, SchedulerEvent, TaskState, TaskStatusReason,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

impl MasterCore {
    pub(crate) fn subscribe(&mut self, now: Instant, conn: Conn, mut info: FrameworkInfo) {
        if info.roles.is_empty() {
            info.roles = vec!["*".to_owned()];
        }
        if let Some(bad) = info.roles.iter().find(|r| !valid_role(r)) {
            let message = format!(
                "invalid role '{bad}': roles are non-empty, without whitespace, '/', '(' or ')'"
            );
            self.out.push(Command::ToScheduler {
                conn,
                event: SchedulerEvent::Error { message },
            });
            return;
        }
        let framework_id = match info.id.clone() {
            Some(id) if self.removed_frameworks.contains(&id) => {
                let message = format!("framework {id} has been removed and cannot subscribe again");
                tracing::warn!(%id, "refusing subscription of a removed framework");
                self.out.push(Command::ToScheduler {
                    conn,
                    event: SchedulerEvent::Error { message },
                });
                return;
            }
            Some(id) => id,
            None => FrameworkId::new(self.fresh_id("F")),
        };
        info.id = Some(framework_id.clone());
        if let Some(other) = self.framework_conns.get(&conn) {
            if *other != framework_id {
                let message = format!("this connection already serves framework {other}");
                self.reject(conn, "SUBSCRIBE", message);
                return;
            }
        }
        match self.frameworks.get_mut(&framework_id) {
            Some(fw) => {
                tracing::info!(%framework_id, "framework re-subscribed (failover)");
                let old = fw.conn.replace(conn);
                fw.disconnected_at = None;
                fw.failover_grace = Duration::ZERO;
                let changed = fw.info != info;
                fw.info = info.clone();
                if changed {
                    self.persist(RegistryOp::UpdateFramework { info });
                }
                if let Some(old) = old.filter(|c| *c != conn) {
                    self.framework_conns.remove(&old);
                    self.out.push(Command::ToScheduler {
                        conn: old,
                        event: SchedulerEvent::Error {
                            message: "framework failed over to another scheduler".into(),
                        },
                    });
                }
                // Offers made to the old connection are void.
                self.rescind_framework_offers(now, &framework_id);
            }
            None => {
                tracing::info!(%framework_id, name = %info.name, roles = ?info.roles, "framework subscribed");
                self.persist(RegistryOp::AddFramework { info: info.clone() });
                self.frameworks.insert(
                    framework_id.clone(),
                    FrameworkState {
                        info,
                        conn: Some(conn),
                        disconnected_at: None,
                        failover_grace: Duration::ZERO,
                        tasks: HashMap::new(),
                        offers: HashSet::new(),
                        completed: CompletedTasks::new(
                            self.config.max_completed_tasks_per_framework,
                        ),
                    },
                );
            }
        }
        self.framework_conns.insert(conn, framework_id.clone());
        let roles = self.frameworks[&framework_id].info.roles.clone();
        self.alloc_add_framework(&framework_id, &roles, true);
        self.out.push(Command::ToScheduler {
            conn,
            event: SchedulerEvent::Subscribed {
                framework_id,
                heartbeat_interval: self.config.heartbeat_interval,
                master_info: self.config.master_info.clone(),
            },
        });
        if self.next_heartbeat.is_none() {
            self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        }
        self.request_allocation(now);
    }

    /// A framework learned from an agent's re-registration (after a master restart),
    /// waiting for its scheduler to re-subscribe.
    pub(crate) fn add_disconnected_framework(&mut self, now: Instant, info: FrameworkInfo) {
        if info.id.is_some() {
            self.persist(RegistryOp::AddFramework { info: info.clone() });
        }
        let grace = self.config.agent_reregister_timeout;
        self.restore_framework(now, info, grace);
    }

    /// Inserts a framework without a scheduler: kept for at least `grace` (or its
    /// failover timeout if longer) for its scheduler to re-subscribe.
    pub(crate) fn restore_framework(&mut self, now: Instant, info: FrameworkInfo, grace: Duration) {
        let Some(id) = info.id.clone() else {
            return;
        };
        let roles = info.effective_roles();
        self.frameworks.insert(
            id.clone(),
            FrameworkState {
                info,
                conn: None,
                disconnected_at: Some(now),
                failover_grace: grace,
                tasks: HashMap::new(),
                offers: HashSet::new(),
                completed: CompletedTasks::new(self.config.max_completed_tasks_per_framework),
            },
        );
        self.alloc_add_framework(&id, &roles, false);
    }

    pub(crate) fn on_scheduler_disconnected(&mut self, now: Instant, conn: Conn) {
        let Some(framework_id) = self.framework_conns.remove(&conn) else {
            return;
        };
        let Some(fw) = self.frameworks.get_mut(&framework_id) else {
            return;
        };
        if fw.conn != Some(conn) {
            return;
        }
        fw.conn = None;
        fw.disconnected_at = Some(now);
        let timeout = fw.info.failover_timeout;
        tracing::info!(%framework_id, ?timeout, "scheduler disconnected; framework kept for its failover timeout");
        self.alloc_framework_active(&framework_id, false);
        self.rescind_framework_offers(now, &framework_id);
        if timeout.is_zero() {
            self.teardown(
                now,
                &framework_id,
                "scheduler disconnected and failover_timeout is 0",
            );
        }
    }

    pub(crate) fn next_failover_expiry(&self) -> Option<Instant> {
        self.frameworks
            .values()
            .filter_map(FrameworkState::failover_deadline)
            .min()
    }

    pub(crate) fn tick_failovers(&mut self, now: Instant) {
        let mut expired: Vec<FrameworkId> = self
            .frameworks
            .iter()
            .filter(|(_, f)| f.failover_deadline().is_some_and(|t| t <= now))
            .map(|(id, _)| id.clone())
            .collect();
        expired.sort();
        for id in expired {
            self.teardown(now, &id, "failover timeout expired");
        }
    }

    /// Removes a framework: its offers are rescinded, its tasks killed on their agents, and
    /// its id is refused from now on.
    pub(crate) fn teardown(&mut self, now: Instant, framework_id: &FrameworkId, why: &str) {
        tracing::info!(%framework_id, why, "removing framework");
        self.rescind_framework_offers(now, framework_id);
        let Some(fw) = self.frameworks.remove(framework_id) else {
            return;
        };
        if let Some(conn) = fw.conn {
            self.framework_conns.remove(&conn);
            self.out.push(Command::ToScheduler {
                conn,
                event: SchedulerEvent::Error {
                    message: format!("framework removed: {why}"),
                },
            });
        }
        let mut agents: Vec<_> = fw.tasks.values().map(|t| t.info.agent_id.clone()).collect();
        agents.sort();
        agents.dedup();
        for agent_id in &agents {
            self.send_to_agent(
                agent_id,
                MasterToAgent::ShutdownFramework {
                    framework_id: framework_id.clone(),
                },
            );
        }
        let FrameworkState {
            info,
            tasks,
            mut completed,
            ..
        } = fw;
        let mut active: Vec<_> = tasks.into_iter().collect();
        active.sort_by(|a, b| a.0.cmp(&b.0));
        for (task_id, mut task) in active {
            self.release_task(
                &task.info.agent_id,
                framework_id,
                &task_id,
                &task.info.resources,
            );
            if !task.status.state.is_terminal() {
                // As Mesos records it: its agent kills it, nobody will hear of it again.
                let mut status = self.master_status(
                    task_id,
                    TaskState::Killed,
                    TaskStatusReason::FrameworkRemoved,
                    format!("framework removed: {why}"),
                    Some(task.info.agent_id.clone()),
                );
                status.executor_id = Some(task.executor_id.clone());
                task.status = status;
            }
            self.counters.task_completed(task.status.state);
            completed.push(task);
        }
        self.completed_frameworks.push(CompletedFramework {
            info,
            tasks: completed,
            unregistered_at: self.unix_now,
        });
        for agent in self.agents.values_mut() {
            agent.executors.retain(|(fid, _), _| fid != framework_id);
        }
        self.alloc_remove_framework(framework_id);
        self.removed_frameworks.insert(framework_id.clone());
        self.persist(RegistryOp::RemoveFramework {
            id: framework_id.clone(),
        });
        self.request_allocation(now);
    }

    pub(crate) fn tick_heartbeats(&mut self, now: Instant) {
        let Some(at) = self.next_heartbeat else {
            return;
        };
        if at > now {
            return;
        }
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        let mut conns: Vec<Conn> = self.frameworks.values().filter_map(|f| f.conn).collect();
        conns.sort_unstable();
        for conn in conns {
            self.out.push(Command::ToScheduler {
                conn,
                event: SchedulerEvent::Heartbeat,
            });
        }
    }
}

/// Mesos's role name rules, simplified: non-empty, no whitespace, no `/`, `(`, `)`,
/// not `.` or `..`.
pub(crate) fn valid_role(role: &str) -> bool {
    !role.is_empty()
        && role != "."
        && role != ".."
        && !role
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '(' | ')' | ';' | ':'))
}

impl FrameworkState {
    /// When the framework is torn down if its scheduler does not re-subscribe.
    pub fn failover_deadline(&self) -> Option<Instant> {
        self.disconnected_at
            .map(|t| t + self.info.failover_timeout.max(self.failover_grace))
    }
}
