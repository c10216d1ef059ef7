//! The mock containerizer path: the agent plays the executor.

use super::*;
use drover_proto::TaskStatusReason;

fn exited(b: &mut Bench, spec: &LaunchSpec, exit: ContainerExit) -> Vec<Command> {
    b.input(Input::ContainerExited {
        container_id: spec.container_id.clone(),
        exit,
    })
}

#[test]
fn a_mock_task_runs_to_finished_through_acknowledged_updates() {
    let mut b = Bench::registered(&[ContainerizerKind::Mock]);
    let cmds = b.run(command_task("t1"));
    let spec = launches(&cmds).remove(0);
    assert_eq!(spec.containerizer, ContainerizerKind::Mock);
    assert_eq!(spec.task_id, Some("t1".into()));
    assert_eq!(spec.sandbox, None, "mock sandboxes are off");
    let cmds = b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    });
    let starting = updates(&cmds).remove(0);
    assert_eq!(starting.state, TaskState::Starting);
    assert_eq!(starting.container_id, Some(spec.container_id.clone()));
    let running = updates(&b.ack(&starting)).remove(0);
    assert_eq!(running.state, TaskState::Running);
    assert_eq!(
        b.core.snapshot().frameworks[0].executors[0].tasks[0].state,
        "TASK_RUNNING"
    );
    let cmds = exited(&mut b, &spec, ContainerExit::code(0));
    assert!(
        cmds.contains(&Command::SendToMaster(AgentToMaster::ExecutorExited {
            framework_id: "fw-1".into(),
            executor_id: "t1".into(),
            status: Some(0),
        }))
    );
    assert_eq!(
        destroyed(&cmds),
        vec![spec.container_id.clone()],
        "released after its end"
    );
    let finished = updates(&b.ack(&running)).remove(0);
    assert_eq!(finished.state, TaskState::Finished);
    b.ack(&finished);
    let snap = b.core.snapshot();
    assert!(snap.frameworks.is_empty());
    assert_eq!(snap.completed_tasks[0].state, TaskState::Finished);
    assert_eq!(
        b.core
            .metrics()
            .counters
            .tasks_terminal
            .get(&TaskState::Finished),
        Some(&1)
    );
}

#[test]
fn a_non_zero_mock_exit_fails_the_task_with_the_code() {
    let mut b = Bench::registered(&[ContainerizerKind::Mock]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    let starting = updates(&b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    }))
    .remove(0);
    let running = updates(&b.ack(&starting)).remove(0);
    exited(&mut b, &spec, ContainerExit::code(3));
    let failed = updates(&b.ack(&running)).remove(0);
    assert_eq!(failed.state, TaskState::Failed);
    assert_eq!(failed.reason, Some(TaskStatusReason::CommandExited));
    assert!(failed
        .message
        .unwrap_or_default()
        .contains("exited with status 3"));
}

#[test]
fn killing_a_mock_task_destroys_its_container_and_reports_killed() {
    let mut b = Bench::registered(&[ContainerizerKind::Mock]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    let starting = updates(&b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    }))
    .remove(0);
    let cmds = b.master(MasterToAgent::KillTask {
        framework_id: "fw-1".into(),
        task_id: "t1".into(),
        kill_policy: None,
    });
    assert_eq!(destroyed(&cmds), vec![spec.container_id.clone()]);
    exited(
        &mut b,
        &spec,
        ContainerExit {
            code: None,
            signal: Some(9),
            cause: ExitCause::Destroyed,
            message: None,
        },
    );
    let running = updates(&b.ack(&starting)).remove(0);
    let killed = updates(&b.ack(&running)).remove(0);
    assert_eq!(killed.state, TaskState::Killed);
}

#[test]
fn a_mock_start_error_fails_the_task() {
    let mut b = Bench::registered(&[ContainerizerKind::Mock]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    let cmds = b.input(Input::ContainerLaunchFailed {
        container_id: spec.container_id.clone(),
        message: "injected start error".into(),
    });
    let ups = updates(&cmds);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].state, TaskState::Failed);
    assert_eq!(ups[0].reason, Some(TaskStatusReason::ContainerLaunchFailed));
    assert!(ups[0]
        .message
        .clone()
        .unwrap_or_default()
        .contains("injected start error"));
}

#[test]
fn mock_sandboxes_can_be_turned_on() {
    let now = Instant::now();
    let mut s = settings(&[ContainerizerKind::Mock], now);
    s.mock_sandboxes = true;
    let mut core = AgentCore::new(s);
    core.handle(now, Input::Start);
    core.handle(now, Input::MasterConnected);
    core.handle(
        now,
        Input::Master(MasterToAgent::Registered {
            agent_id: "agent-1".into(),
            master_info: master_info(),
            ping_interval: PING,
        }),
    );
    let cmds = core.handle(
        now,
        Input::Master(MasterToAgent::RunTask {
            framework: framework(),
            task: command_task("t1"),
        }),
    );
    let spec = launches(&cmds).remove(0);
    let sandbox = spec.sandbox.expect("a sandbox");
    assert!(sandbox.starts_with("/var/drover/frameworks/fw-1/executors/t1/runs/"));
}
