//! Agent registration, re-registration, pings and unreachable agents.
//!
//! An agent registers once and gets an id; after any reconnect (its restart, the
//! master's restart, a network blip) it re-registers with that id and the tasks it runs,
//! from which the master rebuilds what it lost. The master pings every agent each
//! `agent_ping_timeout`, probes an agent whose answer is overdue ten times as often, and
//! declares it unreachable once nothing (no pong, no message at all) came from it for
//! `agent_ping_timeout × max_agent_ping_timeouts` (see `MasterCore::tick_pings` and
//! [`super::unreachable`]). An agent whose description changed (a containerizer became unavailable or came
//! back) re-registers too: the master keeps the new `AgentInfo` and rescinds the
//! agent's offers, which carried the old one.

use super::{AgentState, AgentStatus, Command, Conn, MasterCore, TaskEntry};
use crate::registry::RegistryOp;
use drover_proto::{
    AgentId, AgentInfo, FrameworkInfo, MasterToAgent, Resources, TaskReport, TaskState, TaskStatus,
    TaskStatusSource,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Default of [`super::MasterConfig::agent_removal_timeout`]: how long an unreachable
/// agent is kept before it is removed for good.
pub const DEFAULT_AGENT_REMOVAL_TIMEOUT: Duration = Duration::from_secs(600);

/// Pings per `agent_ping_timeout` sent to an agent whose answer is overdue.
pub const SUSPECT_PROBES: u32 = 10;

impl MasterCore {
    pub(crate) fn register_agent(&mut self, now: Instant, conn: Conn, mut info: AgentInfo) {
        if info.id.is_some() {
            // A register carrying an id is a re-registration without tasks.
            self.reregister_agent(now, conn, info, Vec::new(), Vec::new());
            return;
        }
        if let Some(agent_id) = self.agent_conns.get(&conn).cloned() {
            // A retry that crossed our `Registered` (the agent retries after 1 s, a busy
            // master may answer later): answer again with the same id rather than admit
            // the same agent twice, as Mesos does for a known agent pid.
            self.out.push(Command::ToAgent {
                conn,
                msg: MasterToAgent::Registered {
                    agent_id,
                    master_info: self.config.master_info.clone(),
                    ping_interval: self.config.agent_ping_timeout,
                },
            });
            return;
        }
        let agent_id = AgentId::new(self.fresh_id("S"));
        info.id = Some(agent_id.clone());
        tracing::info!(%agent_id, hostname = %info.hostname, resources = %info.resources, "agent registered");
        self.admit_agent(now, conn, info);
        self.out.push(Command::ToAgent {
            conn,
            msg: MasterToAgent::Registered {
                agent_id,
                master_info: self.config.master_info.clone(),
                ping_interval: self.config.agent_ping_timeout,
            },
        });
    }

    fn admit_agent(&mut self, now: Instant, conn: Conn, info: AgentInfo) {
        let Some(agent_id) = info.id.clone() else {
            return;
        };
        self.persist(RegistryOp::AdmitAgent { info: info.clone() });
        self.alloc_add_agent(&agent_id, &info.resources);
        self.agents.insert(
            agent_id.clone(),
            AgentState {
                info,
                conn: Some(conn),
                status: AgentStatus::Active,
                used: Resources::new(),
                offered: Resources::new(),
                tasks: HashSet::new(),
                executors: HashMap::new(),
                missed_pings: 0,
                last_heard: Some(now),
                unreachable_since: None,
                in_allocator: true,
            },
        );
        self.agent_conns.insert(conn, agent_id);
        self.ensure_ping_timer(now);
        self.request_allocation(now);
    }

    pub(crate) fn reregister_agent(
        &mut self,
        now: Instant,
        conn: Conn,
        info: AgentInfo,
        frameworks: Vec<FrameworkInfo>,
        tasks: Vec<TaskReport>,
    ) {
        let Some(agent_id) = info.id.clone() else {
            self.register_agent(now, conn, info);
            return;
        };
        if self.removed_agents.contains(&agent_id) {
            tracing::warn!(%agent_id, "refusing re-registration of a removed agent");
            self.out.push(Command::ToAgent {
                conn,
                msg: MasterToAgent::Refused {
                    reason: format!("agent {agent_id} was removed from the cluster; start it with a fresh work dir"),
                },
            });
            self.out.push(Command::Close { conn });
            return;
        }
        if self.agents.contains_key(&agent_id) {
            self.reattach_agent(now, conn, &agent_id, info, &tasks);
        } else {
            tracing::info!(%agent_id, tasks = tasks.len(), "unknown agent re-registered: admitting it");
            self.admit_agent(now, conn, info);
        }
        let reported: HashSet<_> = tasks
            .iter()
            .map(|r| (r.framework_id.clone(), r.task.task_id.clone()))
            .collect();
        self.rebuild_tasks(now, &agent_id, frameworks, tasks);
        self.out.push(Command::ToAgent {
            conn,
            msg: MasterToAgent::Reregistered {
                agent_id: agent_id.clone(),
                master_info: self.config.master_info.clone(),
                ping_interval: self.config.agent_ping_timeout,
            },
        });
        self.reconcile_unreported(&agent_id, &reported);
    }

    fn reattach_agent(
        &mut self,
        now: Instant,
        conn: Conn,
        agent_id: &AgentId,
        info: AgentInfo,
        _tasks: &[TaskReport],
    ) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if let Some(old) = agent.conn.replace(conn) {
            if old != conn {
                self.agent_conns.remove(&old);
            }
        }
        let was_unreachable = agent.status == AgentStatus::Unreachable;
        let was_out = !agent.in_allocator;
        let changed = agent.info != info;
        agent.status = AgentStatus::Active;
        agent.missed_pings = 0;
        agent.last_heard = Some(now);
        agent.unreachable_since = None;
        agent.info = info.clone();
        self.agent_conns.insert(conn, agent_id.clone());
        if changed {
            self.persist(RegistryOp::AdmitAgent { info });
            // Offers carry the agent's attributes (e.g. its containerizers, which change
            // when its Docker engine goes or comes back): replace them.
            self.rescind_agent_offers(now, agent_id);
        } else if was_unreachable {
            self.persist(RegistryOp::MarkReachable {
                id: agent_id.clone(),
            });
        }
        self.ensure_ping_timer(now);
        if was_out {
            let total = self.agents[agent_id].info.resources.clone();
            self.alloc_add_agent(agent_id, &total);
            if let Some(a) = self.agents.get_mut(agent_id) {
                a.in_allocator = true;
            }
            self.restore_agent_allocations(agent_id);
            tracing::info!(%agent_id, was_unreachable, "agent is back");
        }
        self.request_allocation(now);
    }

    /// Rebuilds the tasks an agent reports (after a master restart or a partition): tasks
    /// the master knows resume (those reported LOST to a framework that is not
    /// partition-aware are killed); tasks it does not know are adopted; tasks of
    /// frameworks that were removed are killed.
    fn rebuild_tasks(
        &mut self,
        now: Instant,
        agent_id: &AgentId,
        frameworks: Vec<FrameworkInfo>,
        tasks: Vec<TaskReport>,
    ) {
        for fw in frameworks {
            if let Some(id) = fw.id.clone() {
                if !self.frameworks.contains_key(&id) && !self.removed_frameworks.contains(&id) {
                    self.add_disconnected_framework(now, fw);
                }
            }
        }
        for report in tasks {
            let fid = report.framework_id.clone();
            if self.removed_frameworks.contains(&fid) || !self.frameworks.contains_key(&fid) {
                self.send_to_agent(
                    agent_id,
                    MasterToAgent::ShutdownFramework { framework_id: fid },
                );
                continue;
            }
            let task_id = report.task.task_id.clone();
            let known = self.frameworks[&fid].tasks.get(&task_id).cloned();
            if report.state.is_terminal() {
                if known.is_some_and(|k| k.status.state == TaskState::Lost) {
                    // Reported LOST, already over on the agent: its resources stay
                    // accounted until the agent's terminal update (not forwarded) frees
                    // them, as for the LOST tasks killed below.
                    let role = self.default_role(&fid);
                    self.alloc_track(agent_id, &fid, &role, &report.task.resources);
                }
                continue;
            }
            let mut status = match known {
                Some(entry) => entry.status,
                None => {
                    // Adopt: account its resources.
                    if let Some(agent) = self.agents.get_mut(agent_id) {
                        agent.used += &report.task.resources;
                        agent.tasks.insert((fid.clone(), task_id.clone()));
                    }
                    let role = self.default_role(&fid);
                    self.alloc_track(agent_id, &fid, &role, &report.task.resources);
                    TaskStatus::new(task_id.clone(), report.state, TaskStatusSource::Agent)
                }
            };
            let role = self.default_role(&fid);
            let resumed = status.state == TaskState::Unreachable;
            // Mesos: tasks of frameworks that are not partition-aware were reported LOST
            // when the agent became unreachable; now that it is back they are killed.
            let kill = status.state == TaskState::Lost;
            if kill {
                // LOST is terminal, so the allocator dropped it: account it until killed.
                self.alloc_track(agent_id, &fid, &role, &report.task.resources);
                self.send_to_agent(
                    agent_id,
                    MasterToAgent::KillTask {
                        framework_id: fid.clone(),
                        task_id: task_id.clone(),
                        kill_policy: None,
                    },
                );
            }
            // A task reported LOST stays LOST for its framework (terminal). A state older
            // than the one the master has (the agent forwards STARTING and RUNNING
            // before its checkpoint has them, so a crash can lose them there) does not
            // take the task back.
            let older = matches!(
                (progress(report.state), progress(status.state)),
                (Some(r), Some(k)) if r < k
            );
            if !kill && !older {
                status.state = report.state;
            }
            status.agent_id = Some(agent_id.clone());
            if let Some(fw) = self.frameworks.get_mut(&fid) {
                fw.tasks.insert(
                    task_id.clone(),
                    TaskEntry {
                        info: report.task,
                        executor_id: report.executor_id,
                        role,
                        status: status.clone(),
                    },
                );
            }
            if resumed {
                // Partition-aware frameworks learn that the task is back.
                let mut update = status;
                update.uuid = None;
                update.source = TaskStatusSource::Master;
                update.timestamp = self.unix_now;
                update.message = Some("agent re-registered".into());
                self.send_to_framework(
                    &fid,
                    drover_proto::SchedulerEvent::Update { status: update },
                );
            }
        }
    }

    /// Re-enters into the allocator what the tasks on an agent use (after the agent was
    /// out of it while unreachable).
    fn restore_agent_allocations(&mut self, agent_id: &AgentId) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let mut keys: Vec<_> = agent.tasks.iter().cloned().collect();
        keys.sort();
        for (fid, tid) in keys {
            if let Some(t) = self.frameworks.get(&fid).and_then(|f| f.tasks.get(&tid)) {
                if !t.status.state.is_terminal() {
                    let (role, res) = (t.role.clone(), t.info.resources.clone());
                    self.alloc_track(agent_id, &fid, &role, &res);
                }
            }
        }
    }

    /// The role a framework's adopted tasks are accounted to: its first role.
    pub(crate) fn default_role(&self, framework_id: &drover_proto::FrameworkId) -> String {
        self.frameworks
            .get(framework_id)
            .and_then(|f| f.info.roles.first().cloned())
            .unwrap_or_else(|| "*".to_owned())
    }

    pub(crate) fn on_agent_disconnected(&mut self, now: Instant, conn: Conn) {
        let Some(agent_id) = self.agent_conns.remove(&conn) else {
            return;
        };
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            if agent.conn == Some(conn) {
                agent.conn = None;
            }
        }
        tracing::info!(%agent_id, "agent connection lost; waiting for it to re-register");
        // The ping timer decides when it is unreachable; its offers go now.
        self.rescind_agent_offers(now, &agent_id);
    }

    /// Any message from an agent's connection proves it alive, as a pong does.
    pub(crate) fn heard_from(&mut self, now: Instant, conn: Conn) {
        if let Some(agent) = self
            .agent_conns
            .get(&conn)
            .and_then(|id| self.agents.get_mut(id))
        {
            agent.missed_pings = 0;
            agent.last_heard = Some(now);
        }
    }

    pub(crate) fn ensure_ping_timer(&mut self, now: Instant) {
        if self.next_ping.is_none() {
            let at = now + self.config.agent_ping_timeout;
            self.next_ping = Some(at);
            self.next_ping_round = Some(at);
        }
    }

    /// Pings every active agent each `agent_ping_timeout` (a round). An agent silent for
    /// longer than that is a suspect: it is probed [`SUSPECT_PROBES`] times per interval
    /// until it answers, so that a lossy link is not mistaken for a dead agent (with 30 %
    /// of messages lost each way, ~22 probes must all fail: ~4e-7, against 3.5 % for
    /// the five pings of Mesos's scheme). An agent silent for `agent_ping_timeout ×
    /// max_agent_ping_timeouts` is unreachable.
    pub(crate) fn tick_pings(&mut self, now: Instant) {
        let Some(at) = self.next_ping else {
            return;
        };
        if at > now {
            return;
        }
        let interval = self.config.agent_ping_timeout;
        let give_up = interval * self.config.max_agent_ping_timeouts.max(1);
        // A tick this late means the master itself did not run (overloaded host,
        // stopped process): it cannot tell silence from its own absence, so every agent
        // gets the benefit of the doubt and a fresh ping.
        let stalled = now.saturating_duration_since(at) > interval;
        let round = stalled || self.next_ping_round.is_none_or(|r| r <= now);
        let next_round = if round {
            now + interval
        } else {
            self.next_ping_round.unwrap_or(now + interval)
        };
        self.next_ping_round = Some(next_round);
        let mut lost = Vec::new();
        let mut suspects = false;
        for (id, agent) in &mut self.agents {
            if agent.status != AgentStatus::Active {
                continue;
            }
            if stalled {
                agent.last_heard = Some(now);
            }
            let heard = *agent.last_heard.get_or_insert(now);
            let silence = now.saturating_duration_since(heard);
            if silence >= give_up {
                lost.push(id.clone());
                continue;
            }
            let suspect = silence > interval;
            suspects |= suspect;
            if let Some(conn) = agent.conn.filter(|_| round || suspect) {
                agent.missed_pings += 1;
                self.out.push(Command::ToAgent {
                    conn,
                    msg: MasterToAgent::Ping,
                });
            }
        }
        self.next_ping = if self.agents.is_empty() {
            self.next_ping_round = None;
            None
        } else if suspects {
            Some((now + interval / SUSPECT_PROBES).min(next_round))
        } else {
            Some(next_round)
        };
        lost.sort();
        for id in lost {
            self.mark_unreachable(now, &id);
        }
    }
}

/// How far a live task has come (`None` for other states, which always apply).
fn progress(state: TaskState) -> Option<u8> {
    match state {
        TaskState::Staging => Some(0),
        TaskState::Starting => Some(1),
        TaskState::Running => Some(2),
        _ => None,
    }
}
