//! Tests of the command executor core: no processes, no sleeps.

use super::*;
use drover_proto::{AgentId, Resources};

const ACK_TIMEOUT: Duration = Duration::from_secs(10);

fn task() -> TaskInfo {
    TaskInfo::command(
        "t1",
        AgentId::new("a1"),
        Resources::new(),
        CommandInfo::shell("sleep 100"),
    )
}

fn states(out: &[Command]) -> Vec<TaskState> {
    out.iter()
        .filter_map(|c| match c {
            Command::Update(s) => Some(s.state),
            _ => None,
        })
        .collect()
}

fn last_update(out: &[Command]) -> TaskStatus {
    out.iter()
        .rev()
        .find_map(|c| match c {
            Command::Update(s) => Some(s.clone()),
            _ => None,
        })
        .expect("an update")
}

fn kill() -> Input {
    Input::Kill {
        task_id: TaskId::new("t1"),
        kill_policy: None,
    }
}

/// A core whose task runs, launched at `t0`.
fn running(t0: Instant) -> CommandCore {
    let mut core = CommandCore::new(ACK_TIMEOUT);
    core.handle(t0, Input::Launch(task()));
    core.handle(t0, Input::Spawned);
    core
}

fn acked(core: &mut CommandCore, t: Instant, state: TaskState) -> Vec<Command> {
    core.handle(
        t,
        Input::Acknowledged {
            task_id: TaskId::new("t1"),
            state,
        },
    )
}

#[test]
fn launch_reports_starting_then_running() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(ACK_TIMEOUT);
    let out = core.handle(t0, Input::Launch(task()));
    assert_eq!(states(&out), vec![TaskState::Starting]);
    assert_eq!(
        out.last(),
        Some(&Command::Spawn(CommandInfo::shell("sleep 100")))
    );
    let out = core.handle(t0, Input::Spawned);
    assert_eq!(states(&out), vec![TaskState::Running]);
    assert_eq!(core.next_deadline(), None);
}

#[test]
fn exit_zero_finishes_and_exits_after_the_acknowledgement() {
    let t0 = Instant::now();
    let mut core = running(t0);
    let out = core.handle(t0, Input::Exited(ExitKind::Code(0)));
    assert_eq!(states(&out), vec![TaskState::Finished]);
    assert!(!core.is_done());
    // The acknowledgement of an earlier, non-terminal update does not end it.
    assert!(acked(&mut core, t0, TaskState::Running).is_empty());
    assert_eq!(
        acked(&mut core, t0, TaskState::Finished),
        vec![Command::Exit(0)]
    );
    assert!(core.is_done());
}

#[test]
fn an_oom_kill_fails_with_the_memory_limitation_reason() {
    let t0 = Instant::now();
    let mut core = running(t0);
    let status = last_update(&core.handle(t0, Input::Exited(ExitKind::OomKilled)));
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(
        status.reason,
        Some(TaskStatusReason::ContainerLimitationMemory)
    );
}

#[test]
fn a_docker_task_may_leave_the_command_to_its_image() {
    let mut t = task();
    t.command = None;
    t.container = Some(drover_proto::ContainerInfo {
        kind: drover_proto::ContainerType::Docker,
        docker: None,
        mesos: None,
        volumes: Vec::new(),
        hostname: None,
    });
    let mut core = CommandCore::new(ACK_TIMEOUT);
    let out = core.handle(Instant::now(), Input::Launch(t));
    assert_eq!(states(&out), [TaskState::Starting]);
    assert!(out.iter().any(|c| matches!(c, Command::Spawn(_))));
}

#[test]
fn non_zero_exit_fails_with_the_status() {
    let t0 = Instant::now();
    let mut core = running(t0);
    let status = last_update(&core.handle(t0, Input::Exited(ExitKind::Code(3))));
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(
        status.message.as_deref(),
        Some("Command exited with status 3")
    );
    assert_eq!(status.reason, Some(TaskStatusReason::CommandExited));
}

#[test]
fn an_unrequested_signal_fails_the_task() {
    let t0 = Instant::now();
    let mut core = running(t0);
    let status = last_update(&core.handle(t0, Input::Exited(ExitKind::Signal(9))));
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(
        status.message.as_deref(),
        Some("Command terminated with signal SIGKILL")
    );
}

#[test]
fn a_command_that_cannot_be_spawned_fails_naming_it() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(ACK_TIMEOUT);
    core.handle(t0, Input::Launch(task()));
    let out = core.handle(
        t0,
        Input::SpawnFailed {
            error: "No such file or directory".into(),
        },
    );
    let status = last_update(&out);
    assert_eq!(status.state, TaskState::Failed);
    let message = status.message.expect("a message");
    assert!(message.contains("sleep 100"), "{message}");
    assert!(message.contains("No such file"), "{message}");
}

#[test]
fn a_task_without_a_command_fails_at_once() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(ACK_TIMEOUT);
    let mut t = task();
    t.command = None;
    let out = core.handle(t0, Input::Launch(t));
    assert!(!out.iter().any(|c| matches!(c, Command::Spawn(_))));
    let status = last_update(&out);
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(status.reason, Some(TaskStatusReason::TaskInvalid));
}

#[test]
fn kill_sends_sigterm_then_sigkill_after_the_grace_period() {
    let t0 = Instant::now();
    let mut core = running(t0);
    let out = core.handle(t0, kill());
    assert_eq!(out, vec![Command::Signal(KillSignal::Term)]);
    let grace = KillPolicy::default().grace_period;
    assert_eq!(core.next_deadline(), Some(t0 + grace));
    assert!(core
        .handle(t0 + grace - Duration::from_millis(1), Input::Tick)
        .is_empty());
    assert_eq!(
        core.handle(t0 + grace, Input::Tick),
        vec![Command::Signal(KillSignal::Kill)]
    );
    assert_eq!(core.next_deadline(), None);
    let status = last_update(&core.handle(t0 + grace, Input::Exited(ExitKind::Signal(9))));
    assert_eq!(status.state, TaskState::Killed);
    assert_eq!(status.reason, None);
}

#[test]
fn the_kill_policy_of_the_kill_overrides_the_tasks() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(ACK_TIMEOUT);
    let mut t = task();
    t.kill_policy = Some(KillPolicy {
        grace_period: Duration::from_secs(30),
    });
    core.handle(t0, Input::Launch(t));
    core.handle(t0, Input::Spawned);
    core.handle(t0, kill());
    assert_eq!(core.next_deadline(), Some(t0 + Duration::from_secs(30)));
    // A second kill with a shorter grace period brings SIGKILL forward.
    let short = Input::Kill {
        task_id: TaskId::new("t1"),
        kill_policy: Some(KillPolicy {
            grace_period: Duration::from_secs(1),
        }),
    };
    assert!(core.handle(t0, short).is_empty());
    assert_eq!(core.next_deadline(), Some(t0 + Duration::from_secs(1)));
}

#[test]
fn killing_state_is_reported_when_the_framework_understands_it() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(ACK_TIMEOUT);
    let mut fw = FrameworkInfo::new("fw", "nobody");
    fw.capabilities.push(FrameworkCapability::TaskKillingState);
    core.handle(t0, Input::Subscribed { framework_info: fw });
    core.handle(t0, Input::Launch(task()));
    core.handle(t0, Input::Spawned);
    let out = core.handle(t0, kill());
    assert_eq!(states(&out), vec![TaskState::Killing]);
    assert_eq!(out.last(), Some(&Command::Signal(KillSignal::Term)));
}

#[test]
fn a_kill_during_launch_is_carried_out_once_spawned() {
    let t0 = Instant::now();
    let mut core = CommandCore::new(ACK_TIMEOUT);
    core.handle(t0, Input::Launch(task()));
    assert!(core.handle(t0, kill()).is_empty());
    let out = core.handle(t0, Input::Spawned);
    assert_eq!(states(&out), vec![TaskState::Running]);
    assert_eq!(out.last(), Some(&Command::Signal(KillSignal::Term)));
    let status = last_update(&core.handle(t0, Input::Exited(ExitKind::Signal(15))));
    assert_eq!(status.state, TaskState::Killed);
    assert_eq!(
        status.reason,
        Some(TaskStatusReason::TaskKilledDuringLaunch)
    );
    assert_eq!(
        status.message.as_deref(),
        Some("Command terminated with signal SIGTERM")
    );
}

#[test]
fn a_kill_for_another_task_is_ignored() {
    let t0 = Instant::now();
    let mut core = running(t0);
    let other = Input::Kill {
        task_id: TaskId::new("t2"),
        kill_policy: None,
    };
    assert!(core.handle(t0, other).is_empty());
    assert_eq!(core.next_deadline(), None);
}

#[test]
fn a_second_task_is_refused_without_touching_the_first() {
    let t0 = Instant::now();
    let mut core = running(t0);
    let mut second = task();
    second.task_id = TaskId::new("t2");
    let status = last_update(&core.handle(t0, Input::Launch(second)));
    assert_eq!(
        (status.task_id.as_str(), status.state),
        ("t2", TaskState::Failed)
    );
    let status = last_update(&core.handle(t0, Input::Exited(ExitKind::Code(0))));
    assert_eq!(
        (status.task_id.as_str(), status.state),
        ("t1", TaskState::Finished)
    );
}

#[test]
fn without_an_acknowledgement_it_exits_after_the_timeout() {
    let t0 = Instant::now();
    let mut core = running(t0);
    core.handle(t0, Input::Exited(ExitKind::Code(1)));
    assert_eq!(core.next_deadline(), Some(t0 + ACK_TIMEOUT));
    assert_eq!(
        core.handle(t0 + ACK_TIMEOUT, Input::Tick),
        vec![Command::Exit(0)]
    );
}

#[test]
fn shutdown_kills_within_the_shutdown_grace_period() {
    let t0 = Instant::now();
    let mut core = running(t0);
    let out = core.handle(
        t0,
        Input::Shutdown {
            grace_period: Duration::from_secs(1),
        },
    );
    assert_eq!(out, vec![Command::Signal(KillSignal::Term)]);
    assert_eq!(core.next_deadline(), Some(t0 + Duration::from_secs(1)));
    let status = last_update(&core.handle(t0, Input::Exited(ExitKind::Signal(15))));
    assert_eq!(status.state, TaskState::Killed);
}

#[test]
fn shutdown_without_a_task_exits_at_once() {
    let mut core = CommandCore::new(ACK_TIMEOUT);
    let out = core.handle(
        Instant::now(),
        Input::Shutdown {
            grace_period: Duration::from_secs(5),
        },
    );
    assert_eq!(out, vec![Command::Exit(0)]);
}

#[test]
fn when_the_driver_ends_a_running_task_is_killed_hard() {
    let t0 = Instant::now();
    let mut core = running(t0);
    assert_eq!(
        core.handle(t0, Input::DriverEnded),
        vec![Command::Signal(KillSignal::Kill), Command::Exit(1)]
    );
    assert!(core.handle(t0, Input::Tick).is_empty());
}

#[test]
fn a_task_ending_while_the_agent_is_away_waits_for_it_to_come_back() {
    let t0 = Instant::now();
    let mut core = running(t0);
    // The agent goes away (restart), then the task ends.
    assert!(core.handle(t0, Input::Disconnected).is_empty());
    let t1 = t0 + Duration::from_secs(1);
    let out = core.handle(t1, Input::Exited(ExitKind::Code(0)));
    assert_eq!(states(&out), vec![TaskState::Finished]);
    // No acknowledgement clock while the agent is away: the driver's recovery timeout
    // bounds the wait (it ends the driver, and DriverEnded the executor).
    assert_eq!(core.next_deadline(), None);
    assert!(core.handle(t1 + ACK_TIMEOUT * 100, Input::Tick).is_empty());
    assert!(!core.is_done());
    // The agent is back: the driver resent the update; the clock starts over.
    let t2 = t1 + ACK_TIMEOUT * 100;
    assert!(core.handle(t2, Input::Reregistered).is_empty());
    assert_eq!(core.next_deadline(), Some(t2 + ACK_TIMEOUT));
    assert_eq!(
        acked(&mut core, t2, TaskState::Finished),
        vec![Command::Exit(0)]
    );
}

#[test]
fn a_disconnect_after_the_terminal_update_stops_the_acknowledgement_clock() {
    let t0 = Instant::now();
    let mut core = running(t0);
    core.handle(t0, Input::Exited(ExitKind::Code(1)));
    assert_eq!(core.next_deadline(), Some(t0 + ACK_TIMEOUT));
    core.handle(t0, Input::Disconnected);
    assert_eq!(core.next_deadline(), None);
    assert!(core.handle(t0 + ACK_TIMEOUT, Input::Tick).is_empty());
    let t1 = t0 + ACK_TIMEOUT * 3;
    core.handle(t1, Input::Reregistered);
    // Still no acknowledgement (say the update was lost): it exits after the timeout.
    assert_eq!(
        core.handle(t1 + ACK_TIMEOUT, Input::Tick),
        vec![Command::Exit(0)]
    );
    // The driver ending while away ends the executor (cleanly: the update went out).
    let mut core = running(t0);
    core.handle(t0, Input::Disconnected);
    core.handle(t0, Input::Exited(ExitKind::Code(0)));
    assert_eq!(core.handle(t0, Input::DriverEnded), vec![Command::Exit(0)]);
}
