//! The command executor core with a health check: probes only while the task runs,
//! `healthy` updates on change carrying TASK_RUNNING, the kill after N failures and
//! its TASK_KILLED with `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`. No processes, no
//! sleeps.

use super::*;
use drover_proto::{AgentId, HealthCheckKind, Resources};

const S: Duration = Duration::from_secs(1);

fn task_with_check(max: u32) -> TaskInfo {
    let mut task = TaskInfo::command(
        "t1",
        AgentId::new("a1"),
        Resources::new(),
        CommandInfo::shell("httpd -f"),
    );
    task.health_check = Some(HealthCheck {
        kind: HealthCheckKind::Http {
            port: 8080,
            path: "/".into(),
        },
        delay: S,
        interval: 2 * S,
        timeout: S,
        consecutive_failures: max,
        grace_period: Duration::ZERO,
    });
    task.kill_policy = Some(KillPolicy {
        grace_period: 4 * S,
    });
    task
}

fn updates(out: &[Command]) -> Vec<TaskStatus> {
    out.iter()
        .filter_map(|c| match c {
            Command::Update(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Ticks at `now`, expects exactly one probe, answers it with `outcome`.
fn probe(core: &mut CommandCore, now: Instant, outcome: ProbeOutcome) -> Vec<Command> {
    let out = core.handle(now, Input::Tick);
    let [Command::Probe { seq, check }] = out.as_slice() else {
        panic!("expected one probe at {now:?}, got {out:?}");
    };
    assert!(matches!(
        check.kind,
        HealthCheckKind::Http { port: 8080, .. }
    ));
    core.handle(now, Input::Probed { seq: *seq, outcome })
}

fn refused() -> ProbeOutcome {
    ProbeOutcome::Unhealthy("connection refused".into())
}

#[test]
fn health_changes_become_running_updates_and_n_failures_kill_the_task() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(Duration::from_secs(10));
    core.handle(t0, Input::Launch(task_with_check(2)));
    // No probes before the task runs.
    assert_eq!(core.next_deadline(), None);
    let out = core.handle(t0, Input::Spawned);
    assert_eq!(
        updates(&out)[0].healthy,
        None,
        "TASK_RUNNING before any check"
    );
    assert_eq!(core.next_deadline(), Some(t0 + S));

    let out = probe(&mut core, t0 + S, ProbeOutcome::Healthy);
    let [healthy] = updates(&out).try_into().expect("one update");
    assert_eq!(
        (healthy.state, healthy.healthy, healthy.reason),
        (
            TaskState::Running,
            Some(true),
            Some(TaskStatusReason::TaskHealthCheckStatusUpdated)
        )
    );
    // Unchanged health: nothing to say.
    assert!(probe(&mut core, t0 + 3 * S, ProbeOutcome::Healthy).is_empty());

    let out = probe(&mut core, t0 + 5 * S, refused());
    let [unhealthy] = updates(&out).try_into().expect("one update");
    assert_eq!(
        (unhealthy.state, unhealthy.healthy),
        (TaskState::Running, Some(false))
    );

    // Second failure: SIGTERM to the task, escalated after the kill policy's grace.
    let out = probe(&mut core, t0 + 7 * S, refused());
    assert_eq!(out, vec![Command::Signal(KillSignal::Term)]);
    assert_eq!(core.next_deadline(), Some(t0 + 11 * S));
    // No more probes while killing.
    assert_eq!(
        core.handle(t0 + 11 * S, Input::Tick),
        vec![Command::Signal(KillSignal::Kill)]
    );

    let out = core.handle(t0 + 11 * S, Input::Exited(ExitKind::Signal(9)));
    let [killed] = updates(&out).try_into().expect("one update");
    assert_eq!(killed.state, TaskState::Killed);
    assert_eq!(
        killed.reason,
        Some(TaskStatusReason::TaskHealthCheckStatusUpdated)
    );
    assert_eq!(killed.healthy, Some(false));
    let message = killed.message.unwrap_or_default();
    assert!(
        message.contains("failing 2 consecutive health checks")
            && message.contains("connection refused"),
        "{message}"
    );
}

#[test]
fn updates_after_a_check_carry_the_latest_health() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(Duration::from_secs(10));
    core.handle(t0, Input::Launch(task_with_check(3)));
    core.handle(t0, Input::Spawned);
    probe(&mut core, t0 + S, ProbeOutcome::Healthy);
    // The task exits on its own: TASK_FINISHED still says it was healthy.
    let out = core.handle(t0 + 2 * S, Input::Exited(ExitKind::Code(0)));
    let [finished] = updates(&out).try_into().expect("one update");
    assert_eq!(
        (finished.state, finished.healthy),
        (TaskState::Finished, Some(true))
    );
    assert_eq!(finished.reason, None);
}

#[test]
fn a_framework_kill_is_not_blamed_on_the_health_check_and_stops_probing() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(Duration::from_secs(10));
    core.handle(t0, Input::Launch(task_with_check(3)));
    core.handle(t0, Input::Spawned);
    let out = probe(&mut core, t0 + S, refused());
    assert_eq!(updates(&out)[0].healthy, Some(false));
    core.handle(
        t0 + 2 * S,
        Input::Kill {
            task_id: TaskId::new("t1"),
            kill_policy: None,
        },
    );
    assert_eq!(
        core.next_deadline(),
        Some(t0 + 6 * S),
        "only the SIGKILL timer"
    );
    let out = core.handle(t0 + 3 * S, Input::Exited(ExitKind::Signal(15)));
    let [killed] = updates(&out).try_into().expect("one update");
    assert_eq!((killed.state, killed.reason), (TaskState::Killed, None));
}

#[test]
fn zero_max_failures_reports_but_never_kills() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(Duration::from_secs(10));
    core.handle(t0, Input::Launch(task_with_check(0)));
    core.handle(t0, Input::Spawned);
    let mut now = t0 + S;
    for i in 0..5 {
        let out = probe(&mut core, now, refused());
        assert_eq!(updates(&out).len(), usize::from(i == 0));
        assert!(!out.iter().any(|c| matches!(c, Command::Signal(_))));
        now += 2 * S;
    }
}
