//! Executor subscription, updates, acknowledgements, messages, exits.

use super::*;
use drover_proto::TaskStatusReason;

/// A registered agent with task `t1` running in a subscribed command executor on conn 1.
fn running() -> (Bench, LaunchSpec, TaskStatus) {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    });
    b.subscribe(1, &spec);
    let cmds = b.executor(1, exec_update("t1", TaskState::Running));
    let up = updates(&cmds).remove(0);
    (b, spec, up)
}

#[test]
fn executor_updates_are_completed_and_acks_flow_back_to_the_executor() {
    let (mut b, spec, up) = running();
    assert_eq!(up.state, TaskState::Running);
    assert_eq!(up.source, TaskStatusSource::Executor);
    assert_eq!(up.agent_id, Some("agent-1".into()));
    assert_eq!(up.executor_id, Some("t1".into()));
    assert_eq!(up.container_id, Some(spec.container_id.clone()));
    assert!(up.timestamp >= 1_700_000_000.0);
    let uuid = up.uuid.unwrap();
    let cmds = b.ack(&up);
    assert_eq!(
        to_executors(&cmds),
        vec![(
            1,
            ExecutorEvent::Acknowledged {
                task_id: "t1".into(),
                uuid
            }
        )]
    );
}

#[test]
fn an_executor_chosen_uuid_is_kept() {
    let (mut b, _, _) = running();
    let mut status = TaskStatus::new("t1".into(), TaskState::Finished, TaskStatusSource::Executor);
    status.uuid = Some(drover_proto::UpdateUuid([7; 16]));
    b.executor(
        1,
        ExecutorCall::Update {
            status: status.clone(),
        },
    );
    // Duplicate resend of the same update: ignored.
    assert!(b.executor(1, ExecutorCall::Update { status }).is_empty());
}

#[test]
fn executor_exit_fails_its_tasks_reports_the_exit_and_cleans_up_after_acks() {
    let (mut b, spec, running_up) = running();
    let cmds = b.input(Input::ContainerExited {
        container_id: spec.container_id.clone(),
        exit: ContainerExit::code(1),
    });
    assert!(
        cmds.contains(&Command::SendToMaster(AgentToMaster::ExecutorExited {
            framework_id: "fw-1".into(),
            executor_id: "t1".into(),
            status: Some(1),
        }))
    );
    assert_eq!(destroyed(&cmds), vec![spec.container_id.clone()]);
    assert!(cmds.contains(&Command::DisconnectExecutor {
        conn: ExecutorConn(1)
    }));
    // TASK_FAILED waits behind the unacknowledged TASK_RUNNING.
    assert!(updates(&cmds).is_empty());
    let cmds = b.ack(&running_up);
    let failed = updates(&cmds).remove(0);
    assert_eq!(failed.state, TaskState::Failed);
    assert_eq!(failed.reason, Some(TaskStatusReason::ExecutorTerminated));
    assert_eq!(failed.source, TaskStatusSource::Agent);
    assert!(failed
        .message
        .as_deref()
        .unwrap_or("")
        .contains("exited with status 1"));
    assert_eq!(b.core.snapshot().frameworks.len(), 1);
    b.ack(&failed);
    let snap = b.core.snapshot();
    assert!(snap.frameworks.is_empty(), "{snap:?}");
    assert_eq!(snap.completed_tasks.len(), 1);
    assert_eq!(snap.completed_tasks[0].state, TaskState::Failed);
    assert_eq!(b.core.status_updates().pending_count(), 0);
}

#[test]
fn an_oom_kill_is_reported_as_a_memory_limitation() {
    let (mut b, spec, running_up) = running();
    b.ack(&running_up);
    let cmds = b.input(Input::ContainerExited {
        container_id: spec.container_id.clone(),
        exit: ContainerExit {
            code: None,
            signal: Some(9),
            cause: ExitCause::MemoryLimit,
            message: None,
        },
    });
    let up = updates(&cmds).remove(0);
    assert_eq!(up.reason, Some(TaskStatusReason::ContainerLimitationMemory));
}

#[test]
fn a_failed_launch_fails_the_queued_tasks() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    let cmds = b.input(Input::ContainerLaunchFailed {
        container_id: spec.container_id.clone(),
        message: "no such file".into(),
    });
    let up = updates(&cmds).remove(0);
    assert_eq!(up.state, TaskState::Failed);
    assert_eq!(up.reason, Some(TaskStatusReason::ContainerLaunchFailed));
    assert!(up.message.unwrap_or_default().contains("no such file"));
    assert!(cmds.iter().any(|c| matches!(
        c,
        Command::SendToMaster(AgentToMaster::ExecutorExited { status: None, .. })
    )));
}

#[test]
fn a_subscription_for_an_unknown_container_is_refused() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let cmds = b.executor(
        3,
        ExecutorCall::Subscribe {
            framework_id: "fw-1".into(),
            executor_id: "e".into(),
            container_id: ContainerId("nope".into()),
            unacknowledged_tasks: vec![],
            unacknowledged_updates: vec![],
        },
    );
    assert!(matches!(
        to_executors(&cmds).as_slice(),
        [(3, ExecutorEvent::Error { .. })]
    ));
    assert!(cmds.contains(&Command::DisconnectExecutor {
        conn: ExecutorConn(3)
    }));
    // An update on a connection that never subscribed is refused too.
    let cmds = b.executor(4, exec_update("t1", TaskState::Running));
    assert!(updates(&cmds).is_empty());
    assert!(cmds.contains(&Command::DisconnectExecutor {
        conn: ExecutorConn(4)
    }));
}

#[test]
fn framework_messages_flow_both_ways() {
    let (mut b, _, _) = running();
    let cmds = b.master(MasterToAgent::FrameworkMessage {
        framework_id: "fw-1".into(),
        executor_id: "t1".into(),
        data: b"hi".to_vec(),
    });
    assert_eq!(
        to_executors(&cmds),
        vec![(
            1,
            ExecutorEvent::Message {
                data: b"hi".to_vec()
            }
        )]
    );
    let cmds = b.executor(
        1,
        ExecutorCall::Message {
            data: b"yo".to_vec(),
        },
    );
    assert_eq!(
        cmds,
        vec![Command::SendToMaster(AgentToMaster::FrameworkMessage {
            framework_id: "fw-1".into(),
            executor_id: "t1".into(),
            data: b"yo".to_vec(),
        })]
    );
}

#[test]
fn a_disconnected_executor_may_come_back_before_the_timeout() {
    let (mut b, spec, _) = running();
    b.input(Input::ExecutorDisconnected {
        conn: ExecutorConn(1),
    });
    b.now += Duration::from_secs(30);
    let cmds = b.subscribe(2, &spec);
    assert!(matches!(
        to_executors(&cmds).as_slice(),
        [(2, ExecutorEvent::Subscribed { .. })]
    ));
    assert!(destroyed(&b.advance(Duration::from_secs(60))).is_empty());
    // Gone for good this time: destroyed after the timeout.
    b.input(Input::ExecutorDisconnected {
        conn: ExecutorConn(2),
    });
    let cmds = b.advance(Duration::from_secs(60));
    assert_eq!(destroyed(&cmds), vec![spec.container_id]);
}
