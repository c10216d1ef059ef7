//! KillTask and ShutdownFramework.

use super::*;
use drover_proto::TaskStatusReason;

fn kill(b: &mut Bench, task: &str) -> Vec<Command> {
    b.master(MasterToAgent::KillTask {
        framework_id: "fw-1".into(),
        task_id: task.into(),
        kill_policy: None,
    })
}

#[test]
fn killing_an_unknown_task_answers_task_lost() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let cmds = kill(&mut b, "ghost");
    let ups = updates(&cmds);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].task_id, "ghost".into());
    assert_eq!(ups[0].state, TaskState::Lost);
    assert_eq!(ups[0].reason, Some(TaskStatusReason::TaskUnknown));
    assert!(ups[0].uuid.is_some());
    // Its acknowledgement closes the stream.
    b.ack(&ups[0]);
    assert_eq!(b.core.status_updates().pending_count(), 0);
}

#[test]
fn a_task_killed_before_its_executor_subscribes_never_launches() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    });
    let cmds = kill(&mut b, "t1");
    let ups = updates(&cmds);
    assert_eq!(ups[0].state, TaskState::Killed);
    assert_eq!(
        ups[0].reason,
        Some(TaskStatusReason::TaskKilledDuringLaunch)
    );
    // The executor has nothing left to do: destroyed.
    assert_eq!(destroyed(&cmds), vec![spec.container_id.clone()]);
    // If it subscribes meanwhile it is told to go away, and gets no Launch.
    let cmds = b.subscribe(1, &spec);
    assert!(matches!(
        to_executors(&cmds).as_slice(),
        [(1, ExecutorEvent::Error { .. })]
    ));
}

#[test]
fn a_kill_for_a_running_task_goes_to_its_executor() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    b.subscribe(4, &spec);
    let policy = drover_proto::KillPolicy {
        grace_period: Duration::from_secs(1),
    };
    let cmds = b.master(MasterToAgent::KillTask {
        framework_id: "fw-1".into(),
        task_id: "t1".into(),
        kill_policy: Some(policy),
    });
    assert_eq!(
        to_executors(&cmds),
        vec![(
            4,
            ExecutorEvent::Kill {
                task_id: "t1".into(),
                kill_policy: Some(policy)
            }
        )]
    );
    // If the executor dies instead of reporting, the task counts as killed.
    let cmds = b.input(Input::ContainerExited {
        container_id: spec.container_id,
        exit: ContainerExit {
            code: None,
            signal: Some(15),
            cause: ExitCause::Exited,
            message: None,
        },
    });
    assert_eq!(states(&cmds), vec![("t1".into(), TaskState::Killed)]);
}

#[test]
fn shutting_down_a_framework_stops_its_executors_and_forgets_it() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    b.subscribe(4, &spec);
    let up = updates(&b.executor(4, exec_update("t1", TaskState::Running))).remove(0);
    let queued = launches(&b.run(command_task("t2"))).remove(0);
    let cmds = b.master(MasterToAgent::ShutdownFramework {
        framework_id: "fw-1".into(),
    });
    assert_eq!(
        to_executors(&cmds),
        vec![(
            4,
            ExecutorEvent::Shutdown {
                grace_period: Duration::from_secs(5)
            }
        )]
    );
    assert_eq!(destroyed(&cmds), vec![queued.container_id.clone()]);
    assert_eq!(b.core.status_updates().pending_count(), 0);
    // After the grace period the running executor is destroyed too.
    let cmds = b.advance(Duration::from_secs(5));
    assert_eq!(destroyed(&cmds), vec![spec.container_id.clone()]);
    // Its end is not reported to the master (the framework is gone), and nothing stays.
    for cid in [spec.container_id, queued.container_id] {
        let cmds = b.input(Input::ContainerExited {
            container_id: cid,
            exit: ContainerExit::code(0),
        });
        assert!(
            !cmds.iter().any(|c| matches!(c, Command::SendToMaster(_))),
            "{cmds:?}"
        );
    }
    assert!(b.core.snapshot().frameworks.is_empty());
    // A late acknowledgement is harmless.
    assert!(updates(&b.ack(&up)).is_empty());
}
