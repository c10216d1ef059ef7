//! The health checker driven by hand: probes, timeouts, grace period, reports on
//! change, the kill after N failures. No sleeps: time is an `Instant` we move.

use super::*;
use drover_proto::HealthCheckKind;
use HealthCommand::{Kill, Probe, Report};

const S: Duration = Duration::from_secs(1);

fn check(max: u32, grace: Duration) -> HealthCheck {
    HealthCheck {
        kind: HealthCheckKind::Tcp { port: 80 },
        delay: 2 * S,
        interval: 5 * S,
        timeout: 3 * S,
        consecutive_failures: max,
        grace_period: grace,
    }
}

fn ok(seq: u64) -> HealthInput {
    HealthInput::Outcome {
        seq,
        outcome: ProbeOutcome::Healthy,
    }
}

fn fail(seq: u64) -> HealthInput {
    HealthInput::Outcome {
        seq,
        outcome: ProbeOutcome::Unhealthy("connection refused".into()),
    }
}

#[test]
fn first_probe_waits_for_the_delay_then_the_interval_follows_each_outcome() {
    let t0 = Instant::now();
    let mut h = HealthChecker::start(check(3, Duration::ZERO), t0);
    assert_eq!(h.next_deadline(), Some(t0 + 2 * S));
    assert_eq!(h.handle(t0 + S, HealthInput::Tick), vec![]);
    assert_eq!(
        h.handle(t0 + 2 * S, HealthInput::Tick),
        vec![Probe { seq: 1 }]
    );
    // While it runs, the deadline is its timeout; ticks before it do nothing.
    assert_eq!(h.next_deadline(), Some(t0 + 5 * S));
    assert_eq!(h.handle(t0 + 3 * S, HealthInput::Tick), vec![]);
    assert_eq!(h.handle(t0 + 3 * S, ok(1)), vec![Report { healthy: true }]);
    assert_eq!(h.healthy(), Some(true));
    assert_eq!(h.next_deadline(), Some(t0 + 8 * S));
    assert_eq!(
        h.handle(t0 + 8 * S, HealthInput::Tick),
        vec![Probe { seq: 2 }]
    );
    // Still healthy: no report.
    assert_eq!(h.handle(t0 + 8 * S, ok(2)), vec![]);
}

#[test]
fn reports_only_changes_and_kills_after_consecutive_failures() {
    let t0 = Instant::now();
    let mut h = HealthChecker::start(check(3, Duration::ZERO), t0);
    let mut now = t0 + 2 * S;
    let mut seq = 0;
    let mut probe = |h: &mut HealthChecker, input: fn(u64) -> HealthInput| {
        seq += 1;
        assert_eq!(h.handle(now, HealthInput::Tick), vec![Probe { seq }]);
        let out = h.handle(now, input(seq));
        now += 5 * S;
        out
    };
    assert_eq!(probe(&mut h, ok), vec![Report { healthy: true }]);
    assert_eq!(probe(&mut h, fail), vec![Report { healthy: false }]);
    assert_eq!(probe(&mut h, fail), vec![]);
    // A success in between resets the count.
    assert_eq!(probe(&mut h, ok), vec![Report { healthy: true }]);
    assert_eq!(probe(&mut h, fail), vec![Report { healthy: false }]);
    assert_eq!(probe(&mut h, fail), vec![]);
    assert_eq!(
        probe(&mut h, fail),
        vec![Kill {
            failures: 3,
            last_error: "connection refused".into()
        }]
    );
    // Given up: no more probes.
    assert_eq!(h.next_deadline(), None);
    assert_eq!(h.handle(now + 60 * S, HealthInput::Tick), vec![]);
}

#[test]
fn a_probe_that_does_not_answer_in_time_fails_and_its_late_answer_is_ignored() {
    let t0 = Instant::now();
    let mut h = HealthChecker::start(check(2, Duration::ZERO), t0);
    assert_eq!(
        h.handle(t0 + 2 * S, HealthInput::Tick),
        vec![Probe { seq: 1 }]
    );
    assert_eq!(
        h.handle(t0 + 5 * S, HealthInput::Tick),
        vec![Report { healthy: false }]
    );
    // The late success of probe 1 changes nothing.
    assert_eq!(h.handle(t0 + 6 * S, ok(1)), vec![]);
    assert_eq!(h.healthy(), Some(false));
    assert_eq!(
        h.handle(t0 + 10 * S, HealthInput::Tick),
        vec![Probe { seq: 2 }]
    );
    let out = h.handle(t0 + 13 * S, HealthInput::Tick);
    assert_eq!(
        out,
        vec![Kill {
            failures: 2,
            last_error: "the check did not answer within 3s".into()
        }]
    );
}

#[test]
fn failures_in_the_grace_period_do_not_count_until_the_first_success() {
    let t0 = Instant::now();
    let mut h = HealthChecker::start(check(1, 20 * S), t0);
    // Inside the grace period, never healthy: ignored, no report, no kill.
    assert_eq!(
        h.handle(t0 + 2 * S, HealthInput::Tick),
        vec![Probe { seq: 1 }]
    );
    assert_eq!(h.handle(t0 + 2 * S, fail(1)), vec![]);
    assert_eq!(h.healthy(), None);
    assert_eq!(
        h.handle(t0 + 7 * S, HealthInput::Tick),
        vec![Probe { seq: 2 }]
    );
    assert_eq!(h.handle(t0 + 7 * S, ok(2)), vec![Report { healthy: true }]);
    // Healthy once: the next failure counts although the grace period still runs.
    assert_eq!(
        h.handle(t0 + 12 * S, HealthInput::Tick),
        vec![Probe { seq: 3 }]
    );
    assert_eq!(
        h.handle(t0 + 12 * S, fail(3)),
        vec![
            Report { healthy: false },
            Kill {
                failures: 1,
                last_error: "connection refused".into()
            }
        ]
    );
}

#[test]
fn failures_after_the_grace_period_count_even_if_never_healthy() {
    let t0 = Instant::now();
    let mut h = HealthChecker::start(check(2, 4 * S), t0);
    assert_eq!(
        h.handle(t0 + 2 * S, HealthInput::Tick),
        vec![Probe { seq: 1 }]
    );
    assert_eq!(h.handle(t0 + 3 * S, fail(1)), vec![]);
    assert_eq!(
        h.handle(t0 + 8 * S, HealthInput::Tick),
        vec![Probe { seq: 2 }]
    );
    assert_eq!(
        h.handle(t0 + 8 * S, fail(2)),
        vec![Report { healthy: false }]
    );
    assert_eq!(
        h.handle(t0 + 13 * S, HealthInput::Tick),
        vec![Probe { seq: 3 }]
    );
    assert!(matches!(
        h.handle(t0 + 13 * S, fail(3)).as_slice(),
        [Kill { failures: 2, .. }]
    ));
}

#[test]
fn zero_consecutive_failures_never_kills() {
    let t0 = Instant::now();
    let mut h = HealthChecker::start(check(0, Duration::ZERO), t0);
    let mut now = t0 + 2 * S;
    for seq in 1..=10 {
        assert_eq!(h.handle(now, HealthInput::Tick), vec![Probe { seq }]);
        let out = h.handle(now, fail(seq));
        let expected = if seq == 1 {
            vec![Report { healthy: false }]
        } else {
            vec![]
        };
        assert_eq!(out, expected);
        now += 5 * S;
    }
    assert!(h.next_deadline().is_some());
}

#[test]
fn mesos_defaults_match_mesos() {
    let c = mesos_defaults(HealthCheckKind::Tcp { port: 1 });
    assert_eq!(
        (
            c.delay,
            c.interval,
            c.timeout,
            c.consecutive_failures,
            c.grace_period
        ),
        (15 * S, 10 * S, 20 * S, 3, 10 * S)
    );
}
