//! The pure health-check state machine of one task (Mesos's health checker, without
//! the I/O): when to probe, how a probe's outcome changes the task's health, when to
//! report it and when to give up on the task. Time is injected; the shell runs the
//! probes (the private `probe` module) and feeds their outcomes back.
//!
//! ```text
//!  start(now) ── delay ──▶ Probe ─ok──────▶ healthy (report on change) ─ interval ─▶ Probe …
//!                            │ fail / no answer within `timeout`
//!                            ▼
//!        in the grace period and never healthy yet? ── yes ─▶ ignored ─ interval ─▶ Probe …
//!                            │ no
//!                            ▼
//!        failures += 1, unhealthy (report on change) ── failures == consecutive_failures ─▶ Kill
//! ```
//!
//! Semantics, as in Mesos:
//! - the first probe runs `delay` after the task started to run; the next one
//!   `interval` after the previous one ended;
//! - a probe that has not answered within `timeout` has failed;
//! - failures while the task is inside its `grace_period` (counted from its start) are
//!   ignored until the first success: a slow starter is not unhealthy yet, a task that
//!   was healthy once is judged from then on;
//! - a success resets the consecutive failures;
//! - health is reported only when it changes (the first result counts as a change);
//! - after `consecutive_failures` consecutive failures the task must be killed, and no
//!   more probes run. `consecutive_failures == 0` never kills (Marathon's
//!   `maxConsecutiveFailures: 0`): the task is only reported unhealthy.

use std::time::{Duration, Instant};

use drover_proto::HealthCheck;

/// A probe's outcome, as the shell saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The check passed.
    Healthy,
    /// The check failed; why, for the logs and the kill message.
    Unhealthy(String),
}

/// What the health checker is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthInput {
    /// Time passed; see [`HealthChecker::next_deadline`].
    Tick,
    /// The probe asked for by [`HealthCommand::Probe`] with this `seq` ended.
    Outcome {
        /// The probe's sequence number; a late answer to an abandoned probe is ignored.
        seq: u64,
        /// How it went.
        outcome: ProbeOutcome,
    },
}

/// What the health checker asks for, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthCommand {
    /// Run the task's check once; answer with [`HealthInput::Outcome`] and this `seq`.
    Probe {
        /// Sequence number of the probe.
        seq: u64,
    },
    /// The task's health changed: tell the framework.
    Report {
        /// The new health.
        healthy: bool,
    },
    /// The task failed `failures` checks in a row: kill it.
    Kill {
        /// How many consecutive checks failed.
        failures: u32,
        /// The last failure's explanation.
        last_error: String,
    },
}

/// The health-check decisions for one task. See the module docs.
#[derive(Debug)]
pub struct HealthChecker {
    check: HealthCheck,
    started: Instant,
    /// When the next probe is due; `None` while one runs or once the task is doomed.
    next_probe: Option<Instant>,
    /// The running probe: its seq and when it times out.
    in_flight: Option<(u64, Instant)>,
    seq: u64,
    failures: u32,
    healthy: Option<bool>,
    ever_healthy: bool,
    gave_up: bool,
}

impl HealthChecker {
    /// A checker for a task that started to run at `now`.
    pub fn start(check: HealthCheck, now: Instant) -> Self {
        Self {
            next_probe: Some(now + check.delay),
            check,
            started: now,
            in_flight: None,
            seq: 0,
            failures: 0,
            healthy: None,
            ever_healthy: false,
            gave_up: false,
        }
    }

    /// The latest health, once a check counted.
    pub fn healthy(&self) -> Option<bool> {
        self.healthy
    }

    /// When the shell must feed [`HealthInput::Tick`] next, if at all.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.in_flight {
            Some((_, timeout_at)) => Some(timeout_at),
            None => self.next_probe,
        }
    }

    /// Feeds one input; returns what to do.
    pub fn handle(&mut self, now: Instant, input: HealthInput) -> Vec<HealthCommand> {
        let mut out = Vec::new();
        if self.gave_up {
            return out;
        }
        match input {
            HealthInput::Tick => {
                if let Some((_, timeout_at)) = self.in_flight {
                    if now >= timeout_at {
                        let why =
                            format!("the check did not answer within {:?}", self.check.timeout);
                        self.conclude(now, ProbeOutcome::Unhealthy(why), &mut out);
                    }
                } else if self.next_probe.is_some_and(|at| now >= at) {
                    self.seq += 1;
                    self.next_probe = None;
                    self.in_flight = Some((self.seq, now + self.check.timeout));
                    out.push(HealthCommand::Probe { seq: self.seq });
                }
            }
            HealthInput::Outcome { seq, outcome } => {
                if self.in_flight.is_some_and(|(s, _)| s == seq) {
                    self.conclude(now, outcome, &mut out);
                } else {
                    tracing::debug!(seq, "late health check outcome ignored");
                }
            }
        }
        out
    }

    fn conclude(&mut self, now: Instant, outcome: ProbeOutcome, out: &mut Vec<HealthCommand>) {
        self.in_flight = None;
        self.next_probe = Some(now + self.check.interval);
        match outcome {
            ProbeOutcome::Healthy => {
                self.failures = 0;
                self.ever_healthy = true;
                self.set(true, out);
            }
            ProbeOutcome::Unhealthy(why) => {
                if !self.ever_healthy && now < self.started + self.check.grace_period {
                    tracing::info!(reason = %why, "health check failed in the grace period: ignored");
                    return;
                }
                self.failures += 1;
                tracing::info!(failures = self.failures, reason = %why, "health check failed");
                self.set(false, out);
                let max = self.check.consecutive_failures;
                if max > 0 && self.failures >= max {
                    self.gave_up = true;
                    self.next_probe = None;
                    out.push(HealthCommand::Kill {
                        failures: self.failures,
                        last_error: why,
                    });
                }
            }
        }
    }

    fn set(&mut self, healthy: bool, out: &mut Vec<HealthCommand>) {
        if self.healthy != Some(healthy) {
            self.healthy = Some(healthy);
            out.push(HealthCommand::Report { healthy });
        }
    }
}

/// Mesos's defaults for the fields a user leaves out: 15 s delay, 10 s interval, 20 s
/// timeout, 3 consecutive failures, 10 s grace period.
pub fn mesos_defaults(kind: drover_proto::HealthCheckKind) -> HealthCheck {
    HealthCheck {
        kind,
        delay: Duration::from_secs(15),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(20),
        consecutive_failures: 3,
        grace_period: Duration::from_secs(10),
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
