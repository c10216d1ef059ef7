//! Checkpoint → restart → recovery: what the checkpoint holds, how update streams come
//! back, and what the agent decides for executors that are back, gone or late.

use super::*;
use crate::core::CheckpointDue;
use drover_proto::{TaskReport, TaskStatusReason};

/// A registered agent with `t1` RUNNING (unacknowledged) in a subscribed executor, and
/// the launch spec of its container.
fn running_agent() -> (Bench, LaunchSpec, TaskStatus) {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    });
    b.subscribe(1, &spec);
    let up = updates(&b.executor(1, exec_update("t1", TaskState::Running))).remove(0);
    (b, spec, up)
}

/// A fresh core (new nonce, same settings) fed the checkpoint of `old`.
fn restart(
    old: &Bench,
    running: &[&ContainerId],
    gone: &[(&ContainerId, ContainerExit)],
) -> (Bench, Vec<Command>) {
    let checkpoint = old.core.checkpoint();
    let mut s = settings(&[ContainerizerKind::Posix], old.now);
    s.nonce = 0xdef;
    let mut b = Bench {
        core: AgentCore::new(s),
        now: old.now + Duration::from_secs(1),
    };
    let cmds = b.input(Input::Recover(Box::new(Recovery {
        checkpoint,
        running: running.iter().map(|c| (*c).clone()).collect(),
        gone: gone
            .iter()
            .map(|(c, e)| ((*c).clone(), e.clone()))
            .collect(),
    })));
    (b, cmds)
}

fn reregister(cmds: &[Command]) -> Option<(AgentInfo, Vec<TaskReport>)> {
    cmds.iter().find_map(|c| match c {
        Command::SendToMaster(AgentToMaster::Reregister { agent, tasks, .. }) => {
            Some((agent.clone(), tasks.clone()))
        }
        _ => None,
    })
}

fn reregistered(b: &mut Bench) -> Vec<Command> {
    b.master(MasterToAgent::Reregistered {
        agent_id: "agent-1".into(),
        master_info: master_info(),
        ping_interval: PING,
    })
}

#[test]
fn the_checkpoint_is_due_on_durable_changes_and_holds_tasks_and_streams() {
    let mut b = Bench::new(&[ContainerizerKind::Posix]);
    b.input(Input::Start);
    assert_eq!(b.core.take_checkpoint_due(), None);
    b.master(MasterToAgent::Registered {
        agent_id: "agent-1".into(),
        master_info: master_info(),
        ping_interval: PING,
    });
    assert_eq!(
        b.core.take_checkpoint_due(),
        Some(CheckpointDue::Durable),
        "the agent id is checkpointed"
    );
    b.master(MasterToAgent::Ping);
    assert_eq!(
        b.core.take_checkpoint_due(),
        None,
        "a ping changes nothing durable"
    );
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    assert_eq!(b.core.take_checkpoint_due(), Some(CheckpointDue::Durable));
    b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    });
    b.subscribe(1, &spec);
    assert_eq!(
        b.core.take_checkpoint_due(),
        Some(CheckpointDue::Prompt),
        "the container's handle and the subscription are written at once, nothing waits"
    );
    let up = updates(&b.executor(1, exec_update("t1", TaskState::Running))).remove(0);
    assert_eq!(
        b.core.take_checkpoint_due(),
        Some(CheckpointDue::Prompt),
        "the executor keeps a non-terminal update until it is acknowledged: nothing waits"
    );
    let cp = b.core.checkpoint();
    assert_eq!(cp.agent_id, Some("agent-1".into()));
    let ex = &cp.frameworks[0].executors[0];
    assert_eq!(
        (ex.container_id.clone(), ex.containerizer.as_str()),
        (spec.container_id.clone(), "posix")
    );
    assert!(ex.container_running);
    assert_eq!(ex.tasks[0].state, TaskState::Running);
    assert_eq!(cp.streams[0].pending, vec![up.clone()]);
    b.ack(&up);
    assert_eq!(
        b.core.take_checkpoint_due(),
        Some(CheckpointDue::Lazy),
        "acknowledgements are persisted, lazily: losing one only causes a resend"
    );
    let cp = b.core.checkpoint();
    assert!(cp.streams[0].pending.is_empty());
    assert_eq!(cp.streams[0].acknowledged, vec![up.uuid.unwrap()]);
    let fin = updates(&b.executor(1, exec_update("t1", TaskState::Finished))).remove(0);
    assert_eq!(fin.state, TaskState::Finished);
    assert_eq!(
        b.core.take_checkpoint_due(),
        Some(CheckpointDue::Durable),
        "a terminal update is persisted before it is sent: the executor may exit after it"
    );
}

#[test]
fn a_restart_that_lost_the_subscription_does_not_launch_a_task_twice() {
    let mut old = Bench::registered(&[ContainerizerKind::Posix]);
    let spec = launches(&old.run(command_task("t1"))).remove(0);
    let cid = spec.container_id.clone();
    old.input(Input::ContainerLaunched {
        container_id: cid.clone(),
    });
    // The checkpoint on disk when the agent dies: t1 queued, the subscription that
    // sent it to the executor not written yet.
    let (mut b, _) = restart(&old, &[&cid], &[]);
    b.input(Input::Start);
    b.input(Input::MasterConnected);
    reregistered(&mut b);
    let resubscribe = |b: &mut Bench, conn: u64| {
        b.executor(
            conn,
            ExecutorCall::Subscribe {
                framework_id: "fw-1".into(),
                executor_id: "t1".into(),
                container_id: cid.clone(),
                unacknowledged_tasks: vec![command_task("t1")],
                unacknowledged_updates: vec![],
            },
        )
    };
    let cmds = resubscribe(&mut b, 7);
    let events = to_executors(&cmds);
    assert!(matches!(events[0].1, ExecutorEvent::Subscribed { .. }));
    assert_eq!(events.len(), 1, "the executor has t1: {events:?}");

    // Killed while the executor was away: it gets a Kill when it is back.
    let (mut b, _) = restart(&old, &[&cid], &[]);
    b.input(Input::Start);
    b.input(Input::MasterConnected);
    reregistered(&mut b);
    let cmds = b.master(MasterToAgent::KillTask {
        framework_id: "fw-1".into(),
        task_id: "t1".into(),
        kill_policy: None,
    });
    assert_eq!(states(&cmds), vec![("t1".to_owned(), TaskState::Killed)]);
    let events = to_executors(&resubscribe(&mut b, 8));
    assert_eq!(
        events[1..],
        [(
            8,
            ExecutorEvent::Kill {
                task_id: "t1".into(),
                kill_policy: None
            }
        )]
    );
}

#[test]
fn mock_tasks_never_make_the_checkpoint_due() {
    let mut b = Bench::registered(&[ContainerizerKind::Mock]);
    b.core.take_checkpoint_due();
    let cmds = b.run(command_task("m1"));
    let cid = launches(&cmds).remove(0).container_id;
    let cmds = b.input(Input::ContainerLaunched {
        container_id: cid.clone(),
    });
    for up in updates(&cmds) {
        b.ack(&up);
    }
    let cmds = b.input(Input::ContainerExited {
        container_id: cid,
        exit: ContainerExit::code(0),
    });
    for up in updates(&cmds) {
        b.ack(&up);
    }
    assert_eq!(b.core.take_checkpoint_due(), None);
    assert!(b.core.checkpoint().frameworks.is_empty());
}

#[test]
fn a_recovered_agent_reregisters_at_once_and_its_executor_comes_back_in_parallel() {
    let (old, spec, up) = running_agent();
    let cid = spec.container_id.clone();
    let (mut b, cmds) = restart(&old, &[&cid], &[]);
    assert!(b.core.is_recovering());
    assert!(launches(&cmds).is_empty() && destroyed(&cmds).is_empty());
    // Registration does not wait for the executor: the tasks come from the checkpoint.
    let cmds = b.input(Input::Start);
    assert!(reregister(&cmds).is_none(), "not before the link is up");
    let (agent, tasks) =
        reregister(&b.input(Input::MasterConnected)).expect("re-registers at once");
    assert_eq!(agent.id, Some("agent-1".into()));
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0].task.task_id.as_str(), tasks[0].state),
        ("t1", TaskState::Running)
    );
    // The unacknowledged RUNNING goes out again, once, with its uuid.
    let cmds = reregistered(&mut b);
    assert_eq!(updates(&cmds), vec![up.clone()]);
    assert!(b.core.is_recovering(), "the executor is still expected");
    // The executor re-subscribes and resends its unacknowledged update: a duplicate.
    let cmds = b.executor(
        7,
        ExecutorCall::Subscribe {
            framework_id: "fw-1".into(),
            executor_id: "t1".into(),
            container_id: cid.clone(),
            unacknowledged_tasks: vec![],
            unacknowledged_updates: vec![up.clone()],
        },
    );
    assert!(matches!(
        to_executors(&cmds)[0].1,
        ExecutorEvent::Subscribed { .. }
    ));
    assert!(updates(&cmds).is_empty(), "a duplicate is not sent again");
    assert!(!b.core.is_recovering());
    // Its ack reaches the executor on its new connection.
    let cmds = b.ack(&up);
    assert_eq!(
        to_executors(&cmds),
        vec![(
            7,
            ExecutorEvent::Acknowledged {
                task_id: "t1".into(),
                uuid: up.uuid.unwrap()
            }
        )]
    );
    // And the task finishes normally.
    let fin = updates(&b.executor(7, exec_update("t1", TaskState::Finished))).remove(0);
    assert_eq!(fin.state, TaskState::Finished);
}

#[test]
fn an_executor_that_died_while_the_agent_was_down_fails_its_tasks_after_reregistration() {
    let (mut old, spec, up) = running_agent();
    old.ack(&up);
    let cid = spec.container_id.clone();
    let exit = ContainerExit {
        code: None,
        signal: None,
        cause: ExitCause::Exited,
        message: Some("its exit status is unknown".into()),
    };
    let (mut b, cmds) = restart(&old, &[], &[(&cid, exit)]);
    assert_eq!(
        destroyed(&cmds),
        vec![cid.clone()],
        "leftovers are cleaned up"
    );
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::SendToMaster(_))),
        "nothing goes to the master before registration"
    );
    assert!(!b.core.is_recovering());
    let cmds = b.input(Input::Start);
    let cmds = [cmds, b.input(Input::MasterConnected)].concat();
    let (_, tasks) = reregister(&cmds).expect("re-registers at once");
    assert_eq!(tasks[0].state, TaskState::Failed);
    let cmds = reregistered(&mut b);
    let failed = updates(&cmds).remove(0);
    assert_eq!(
        (failed.state, failed.reason),
        (
            TaskState::Failed,
            Some(TaskStatusReason::ExecutorTerminated)
        )
    );
    assert!(
        cmds.contains(&Command::SendToMaster(AgentToMaster::ExecutorExited {
            framework_id: "fw-1".into(),
            executor_id: "t1".into(),
            status: None,
        }))
    );
    // Acknowledged: the task, executor and framework are gone, and so is the checkpoint's.
    b.ack(&failed);
    assert!(b.core.checkpoint().frameworks.is_empty());
}

#[test]
fn a_container_missing_from_both_lists_counts_as_gone() {
    let (old, _, _) = running_agent();
    let (b, cmds) = restart(&old, &[], &[]);
    assert_eq!(destroyed(&cmds).len(), 1);
    assert_eq!(
        b.core.snapshot().frameworks[0].executors[0].tasks[0].state,
        "TASK_FAILED"
    );
}

#[test]
fn an_executor_that_does_not_come_back_in_time_is_destroyed_and_the_agent_registers_anyway() {
    let (old, spec, _) = running_agent();
    let cid = spec.container_id.clone();
    let (mut b, _) = restart(&old, &[&cid], &[]);
    b.input(Input::Start);
    b.input(Input::MasterConnected);
    let timeout = CoreTiming::default().executor_reregister_timeout;
    let cmds = b.advance(timeout);
    assert!(reregister(&cmds).is_some());
    assert_eq!(destroyed(&cmds), vec![cid.clone()]);
    reregistered(&mut b);
    let cmds = b.input(Input::ContainerExited {
        container_id: cid,
        exit: ContainerExit::code(137),
    });
    // The unacknowledged RUNNING goes first; the failure waits behind it.
    assert!(updates(&cmds).is_empty());
    let snap = b.core.snapshot();
    assert_eq!(
        snap.frameworks[0].executors[0].tasks[0].state,
        "TASK_FAILED"
    );
}

#[test]
fn unacknowledged_updates_survive_in_order_and_acked_duplicates_are_ignored() {
    let (mut old, spec, running_up) = running_agent();
    let fin = updates(&old.executor(1, exec_update("t1", TaskState::Finished)));
    assert!(fin.is_empty(), "FINISHED waits behind RUNNING");
    let cid = spec.container_id.clone();
    let (mut b, _) = restart(&old, &[&cid], &[]);
    b.input(Input::Start);
    b.subscribe(3, &spec);
    let cmds = reregistered(&mut b);
    assert_eq!(updates(&cmds), vec![running_up.clone()]);
    let cmds = b.ack(&running_up);
    let fin = updates(&cmds).remove(0);
    assert_eq!(fin.state, TaskState::Finished);
    // A resend of the acknowledged RUNNING (the executor missed the ack) is ignored.
    let dup = b.executor(3, ExecutorCall::Update { status: running_up });
    assert!(updates(&dup).is_empty());
    b.ack(&fin);
    assert!(b.core.checkpoint().streams.is_empty());
}

#[test]
fn streams_round_trip_through_the_manager() {
    let (old, _, up) = running_agent();
    let cp = old.core.checkpoint();
    let mut sum = StatusUpdateManager::new(RetryPolicy::default());
    let mut out = Vec::new();
    for s in cp.streams.clone() {
        let key = crate::core::status_updates::StreamKey {
            framework_id: s.framework_id,
            task_id: s.task_id,
        };
        sum.restore(
            old.now,
            key,
            s.pending,
            s.acknowledged,
            s.terminated,
            &mut out,
        );
    }
    assert!(out.is_empty(), "a paused manager sends nothing");
    assert_eq!(sum.pending_count(), 1);
    sum.resume(old.now, &mut out);
    assert_eq!(
        out,
        vec![AgentToMaster::StatusUpdate {
            framework_id: "fw-1".into(),
            status: up
        }]
    );
}
