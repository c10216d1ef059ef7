//! Registration with the master: `Register` (no id yet) or `Reregister` (with the id and
//! a report of every task), retried with doubling backoff, rotating through the
//! configured masters, until `Registered` / `Reregistered` arrives. Once registered the
//! master pings; too long without a ping means the master is gone, and the agent
//! re-registers (Mesos's agent does the same on a ping timeout).
//!
//! ```text
//!  Idle ──Start──▶ connect; MasterConnected (or first backoff) ──▶ Registering ──Registered/Reregistered──▶ Registered
//!                    ▲   │ timeout: retry (next master)        │ ping timeout /
//!                    │   ▼                                     │ link down
//!                    └───┴─────────────────────────────────────┘
//!  any ──Refused──▶ Refused (containers destroyed, shell stops)
//! ```

use super::io::{to_master, Command};
use super::state::Phase;
use super::timers::{TimerId, TimerKind};
use super::{AgentCore, CoreSettings};
use drover_proto::{AgentId, AgentToMaster, TaskReport};
use std::time::{Duration, Instant};

/// Where registration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RegState {
    /// Not started.
    Idle,
    /// Waiting for the master's answer.
    Registering,
    /// Registered; pings expected.
    Registered,
    /// The master refused the agent.
    Refused,
}

/// Registration state of the core.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) agent_id: Option<AgentId>,
    pub(crate) state: RegState,
    master_index: usize,
    masters: usize,
    backoff: Duration,
    timer: Option<TimerId>,
    ping_timer: Option<TimerId>,
    ping_timeout: Duration,
}

impl Registration {
    pub(crate) fn new(settings: &CoreSettings) -> Self {
        Self {
            agent_id: None,
            state: RegState::Idle,
            master_index: 0,
            masters: settings.masters,
            backoff: settings.timing.registration_backoff_min,
            timer: None,
            ping_timer: None,
            ping_timeout: Duration::ZERO,
        }
    }
}

impl AgentCore {
    /// The agent's id, once the master gave one.
    pub fn agent_id(&self) -> Option<&AgentId> {
        self.reg.agent_id.as_ref()
    }

    /// Whether the agent is registered with a master now.
    pub fn is_registered(&self) -> bool {
        self.reg.state == RegState::Registered
    }

    /// Whether the master refused the agent.
    pub fn is_refused(&self) -> bool {
        self.reg.state == RegState::Refused
    }

    pub(super) fn start(&mut self, now: Instant) {
        if self.reg.state != RegState::Idle {
            return;
        }
        self.reg.state = RegState::Registering;
        if self.reg.masters > 0 {
            self.out.push(Command::ConnectMaster {
                index: self.reg.master_index,
            });
        }
        // Register once the link is up (`Input::MasterConnected`); if that takes
        // longer than the first backoff, the retry sends it anyway (queued on the link).
        let at = now + self.reg.backoff;
        self.reg.timer = Some(self.timers.schedule(at, TimerKind::Registration));
    }

    pub(super) fn master_connected(&mut self, now: Instant) {
        match self.reg.state {
            RegState::Registering => {
                self.reg.backoff = self.settings.timing.registration_backoff_min;
                self.attempt_registration(now);
            }
            // A new connection under a registered agent: the master may have restarted.
            RegState::Registered => self.lose_master(now),
            RegState::Idle | RegState::Refused => {}
        }
    }

    pub(super) fn master_disconnected(&mut self, now: Instant) {
        if self.reg.state == RegState::Registered {
            self.reg.state = RegState::Registering;
            self.sum.pause();
            self.cancel_ping_timer();
            self.reg.backoff = self.settings.timing.registration_backoff_min;
            let at = now + self.reg.backoff;
            self.reg.timer = Some(self.timers.schedule(at, TimerKind::Registration));
        }
    }

    pub(super) fn registered(
        &mut self,
        now: Instant,
        agent_id: AgentId,
        ping_interval: Duration,
        reregistered: bool,
    ) {
        if self.reg.state == RegState::Refused {
            return;
        }
        if let Some(old) = &self.reg.agent_id {
            if *old != agent_id {
                let reason =
                    format!("master answered with agent id {agent_id} but this agent is {old}");
                self.refused(now, reason);
                return;
            }
        }
        tracing::info!(%agent_id, reregistered, "registered with the master");
        if self.reg.agent_id.is_none() {
            self.checkpoint_changed();
        }
        self.reg.agent_id = Some(agent_id);
        if let Some(t) = self.reg.timer.take() {
            self.timers.cancel(t);
        }
        self.reg.backoff = self.settings.timing.registration_backoff_min;
        self.reg.ping_timeout = ping_interval * self.settings.timing.ping_timeout_factor.max(1);
        self.arm_ping_timer(now);
        if self.reg.state != RegState::Registered {
            self.reg.state = RegState::Registered;
            let held = std::mem::take(&mut self.held_for_master);
            self.out.extend(held.into_iter().map(to_master));
            let mut msgs = std::mem::take(&mut self.scratch);
            self.sum.resume(now, &mut msgs);
            self.send_updates(&mut msgs);
            self.scratch = msgs;
        }
    }

    pub(super) fn ping(&mut self, now: Instant) {
        self.out.push(to_master(AgentToMaster::Pong));
        if self.reg.state == RegState::Registered {
            self.arm_ping_timer(now);
        }
    }

    pub(super) fn refused(&mut self, _now: Instant, reason: String) {
        tracing::error!(%reason, "the master refused this agent");
        self.reg.state = RegState::Refused;
        self.sum.pause();
        self.cancel_ping_timer();
        if let Some(t) = self.reg.timer.take() {
            self.timers.cancel(t);
        }
        for fw in self.frameworks.values_mut() {
            for ex in fw.executors.values_mut() {
                for t in ex.tasks.values_mut() {
                    t.kill_requested = true;
                }
                if !matches!(ex.phase, Phase::Terminated) && !ex.is_mock() {
                    ex.phase = Phase::Terminating;
                }
            }
        }
        let mut cids: Vec<_> = self.containers.keys().cloned().collect();
        cids.sort();
        for cid in cids {
            self.destroy_container(cid);
        }
        self.out.push(Command::Refused { reason });
    }

    pub(super) fn registration_timeout(&mut self, now: Instant) {
        self.reg.timer = None;
        if self.reg.state != RegState::Registering {
            return;
        }
        if self.reg.masters > 1 {
            self.reg.master_index = (self.reg.master_index + 1) % self.reg.masters;
            self.out.push(Command::ConnectMaster {
                index: self.reg.master_index,
            });
        }
        self.attempt_registration(now);
    }

    pub(super) fn ping_timeout(&mut self, now: Instant) {
        self.reg.ping_timer = None;
        if self.reg.state == RegState::Registered {
            tracing::warn!(
                "no ping from the master in {:?}; re-registering",
                self.reg.ping_timeout
            );
            self.lose_master(now);
        }
    }

    /// The agent's description changed (a containerizer came or went): re-register
    /// now so that the master replaces its copy.
    pub(super) fn reregister_now(&mut self, now: Instant) {
        self.lose_master(now);
    }

    /// The master is gone or restarted: pause updates and register again.
    fn lose_master(&mut self, now: Instant) {
        self.reg.state = RegState::Registering;
        self.sum.pause();
        self.cancel_ping_timer();
        self.reg.backoff = self.settings.timing.registration_backoff_min;
        self.attempt_registration(now);
    }

    /// Sends `Register` or `Reregister` and schedules the retry. After a restart this
    /// does not wait for recovered executors (see `recovery`).
    fn attempt_registration(&mut self, now: Instant) {
        let msg = match &self.reg.agent_id {
            None => AgentToMaster::Register {
                agent: self.settings.agent.clone(),
            },
            Some(id) => {
                let mut agent = self.settings.agent.clone();
                agent.id = Some(id.clone());
                let (frameworks, tasks) = self.task_reports();
                AgentToMaster::Reregister {
                    agent,
                    frameworks,
                    tasks,
                }
            }
        };
        self.out.push(to_master(msg));
        if let Some(t) = self.reg.timer.take() {
            self.timers.cancel(t);
        }
        self.reg.timer = Some(
            self.timers
                .schedule(now + self.reg.backoff, TimerKind::Registration),
        );
        self.reg.backoff =
            (self.reg.backoff * 2).min(self.settings.timing.registration_backoff_max);
    }

    /// Frameworks with tasks here and every task's latest state, for `Reregister`.
    fn task_reports(&self) -> (Vec<drover_proto::FrameworkInfo>, Vec<TaskReport>) {
        let mut fids: Vec<_> = self.frameworks.keys().collect();
        fids.sort();
        let mut frameworks = Vec::new();
        let mut tasks = Vec::new();
        for fid in fids {
            let fw = &self.frameworks[fid];
            frameworks.push(fw.info.clone());
            let mut eids: Vec<_> = fw.executors.keys().collect();
            eids.sort();
            for eid in eids {
                let ex = &fw.executors[eid];
                let mut ts: Vec<_> = ex.tasks.values().collect();
                ts.sort_by(|a, b| a.info.task_id.cmp(&b.info.task_id));
                tasks.extend(ts.into_iter().map(|t| TaskReport {
                    framework_id: fid.clone(),
                    task: t.info.clone(),
                    state: t.state,
                    executor_id: eid.clone(),
                }));
            }
        }
        (frameworks, tasks)
    }

    fn arm_ping_timer(&mut self, now: Instant) {
        self.cancel_ping_timer();
        if self.reg.ping_timeout > Duration::ZERO {
            let at = now + self.reg.ping_timeout;
            self.reg.ping_timer = Some(self.timers.schedule(at, TimerKind::MasterPingTimeout));
        }
    }

    fn cancel_ping_timer(&mut self) {
        if let Some(t) = self.reg.ping_timer.take() {
            self.timers.cancel(t);
        }
    }
}
