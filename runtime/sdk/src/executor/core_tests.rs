//! Tests of the executor driver core.

use super::*;
use drover_proto::{
    CommandInfo, ContainerId, ExecutorId, FrameworkId, Resources, TaskState, TaskStatusSource,
    UpdateUuid,
};
use std::path::PathBuf;

fn config() -> ExecutorConfig {
    ExecutorConfig {
        agent_addr: "127.0.0.1:5051".into(),
        agent_id: AgentId::new("a1"),
        framework_id: FrameworkId::new("f1"),
        executor_id: ExecutorId::new("e1"),
        container_id: ContainerId::new("c1"),
        sandbox: PathBuf::from("/sandbox"),
        tls_dir: PathBuf::from("/tls"),
        tls_name: "exec".into(),
        recovery_timeout: Duration::from_secs(60),
        recovery_shutdown_grace: Duration::from_secs(5),
    }
}

fn subscribed() -> ExecutorEvent {
    ExecutorEvent::Subscribed {
        executor_info: ExecutorInfo {
            executor_id: ExecutorId::new("e1"),
            framework_id: Some(FrameworkId::new("f1")),
            command: CommandInfo::shell("drover executor"),
            container: None,
            resources: Resources::new(),
            name: None,
        },
        framework_info: FrameworkInfo::new("fw", "nobody"),
        agent_id: AgentId::new("a1"),
        container_id: ContainerId::new("c1"),
    }
}

fn task(id: &str) -> TaskInfo {
    TaskInfo::command(
        id,
        AgentId::new("a1"),
        Resources::new(),
        CommandInfo::shell("true"),
    )
}

fn status(id: &str, state: TaskState, uuid: u8) -> TaskStatus {
    let mut s = TaskStatus::new(TaskId::new(id), state, TaskStatusSource::Executor);
    s.uuid = Some(UpdateUuid([uuid; 16]));
    s
}

fn running_core(t0: Instant) -> ExecutorCore {
    let mut core = ExecutorCore::new(config());
    core.handle(t0, Input::Start);
    core.handle(t0, Input::Connected);
    core.handle(t0, Input::Event(subscribed()));
    core
}

fn ack(id: &str, uuid: u8) -> Input {
    Input::Event(ExecutorEvent::Acknowledged {
        task_id: TaskId::new(id),
        uuid: UpdateUuid([uuid; 16]),
    })
}

#[test]
fn subscribes_on_connect_then_registers() {
    let t0 = Instant::now();
    let mut core = ExecutorCore::new(config());
    assert_eq!(core.handle(t0, Input::Start), vec![Command::Connect]);
    let out = core.handle(t0, Input::Connected);
    assert_eq!(
        out,
        vec![Command::Send(ExecutorCall::Subscribe {
            framework_id: FrameworkId::new("f1"),
            executor_id: ExecutorId::new("e1"),
            container_id: ContainerId::new("c1"),
            unacknowledged_tasks: vec![],
            unacknowledged_updates: vec![],
        })]
    );
    let out = core.handle(t0, Input::Event(subscribed()));
    assert!(matches!(
        out.as_slice(),
        [Command::Deliver(Callback::Registered { .. })]
    ));
    assert!(core.is_subscribed());
    assert_eq!(core.next_deadline(), None);
}

#[test]
fn resubscribes_with_unacknowledged_tasks_and_updates() {
    let t0 = Instant::now();
    let mut core = running_core(t0);
    core.handle(t0, Input::Event(ExecutorEvent::Launch { task: task("t1") }));
    core.handle(t0, Input::Event(ExecutorEvent::Launch { task: task("t2") }));
    let sent = core.handle(t0, Input::SendUpdate(status("t1", TaskState::Running, 1)));
    assert!(matches!(
        sent.as_slice(),
        [Command::Send(ExecutorCall::Update { .. })]
    ));
    core.handle(t0, Input::SendUpdate(status("t2", TaskState::Finished, 2)));
    core.handle(t0, ack("t2", 2)); // t2 is terminal and acknowledged: forgotten

    assert_eq!(
        core.handle(t0, Input::Disconnected),
        vec![Command::Deliver(Callback::Disconnected)]
    );
    // Updates made while disconnected are kept, not sent.
    assert!(core
        .handle(t0, Input::SendUpdate(status("t1", TaskState::Failed, 3)))
        .is_empty());
    let out = core.handle(t0, Input::Connected);
    let [Command::Send(ExecutorCall::Subscribe {
        unacknowledged_tasks,
        unacknowledged_updates,
        ..
    })] = out.as_slice()
    else {
        panic!("expected a Subscribe, got {out:?}");
    };
    let task_ids: Vec<&str> = unacknowledged_tasks
        .iter()
        .map(|t| t.task_id.as_str())
        .collect();
    assert_eq!(task_ids, vec!["t1"]);
    let states: Vec<TaskState> = unacknowledged_updates.iter().map(|u| u.state).collect();
    assert_eq!(states, vec![TaskState::Running, TaskState::Failed]);
    let out = core.handle(t0, Input::Event(subscribed()));
    assert_eq!(
        out,
        vec![Command::Deliver(Callback::Reregistered {
            agent_id: AgentId::new("a1")
        })]
    );
}

#[test]
fn a_task_launched_again_is_ignored() {
    let t0 = Instant::now();
    let mut core = running_core(t0);
    let out = core.handle(t0, Input::Event(ExecutorEvent::Launch { task: task("t1") }));
    assert_eq!(out, vec![Command::Deliver(Callback::Launch(task("t1")))]);
    let again = core.handle(t0, Input::Event(ExecutorEvent::Launch { task: task("t1") }));
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(core.unacknowledged_tasks().count(), 1);
}

#[test]
fn an_acknowledgement_with_an_unknown_uuid_retires_the_oldest_update_of_the_task() {
    let t0 = Instant::now();
    let mut core = running_core(t0);
    core.handle(t0, Input::SendUpdate(status("t1", TaskState::Starting, 1)));
    core.handle(t0, Input::SendUpdate(status("t1", TaskState::Running, 2)));
    let out = core.handle(t0, ack("t1", 99));
    assert_eq!(
        out,
        vec![Command::Deliver(Callback::Acknowledged(status(
            "t1",
            TaskState::Starting,
            1
        )))]
    );
    assert_eq!(core.unacknowledged_updates().len(), 1);
    assert!(core.handle(t0, ack("t9", 1)).is_empty());
}

#[test]
fn gives_up_after_the_recovery_timeout() {
    let t0 = Instant::now();
    let mut core = running_core(t0);
    let t1 = t0 + Duration::from_secs(1);
    core.handle(t1, Input::Disconnected);
    let deadline = t1 + config().recovery_timeout;
    assert_eq!(core.next_deadline(), Some(deadline));
    // A reconnect that does not lead to a subscription does not reset the timer.
    core.handle(t1, Input::Connected);
    assert!(core
        .handle(deadline - Duration::from_millis(1), Input::Tick)
        .is_empty());
    let out = core.handle(deadline, Input::Tick);
    assert_eq!(
        out,
        vec![Command::Deliver(Callback::Shutdown {
            grace_period: Duration::from_secs(5)
        })]
    );
    // The executor stops in time: the ending still says why.
    let out = core.handle(deadline, Input::Stop);
    assert_eq!(
        out,
        vec![Command::Finish(Ending::RecoveryTimeout(
            Duration::from_secs(60)
        ))]
    );
}

#[test]
fn the_recovery_timeout_also_bounds_the_first_subscription() {
    let t0 = Instant::now();
    let mut core = ExecutorCore::new(config());
    core.handle(t0, Input::Start);
    let deadline = t0 + config().recovery_timeout;
    assert_eq!(core.next_deadline(), Some(deadline));
    let out = core.handle(deadline, Input::Tick);
    assert!(matches!(
        out.as_slice(),
        [Command::Deliver(Callback::Shutdown { .. })]
    ));
    // The executor does not stop: the driver ends when the grace period passes.
    let end = deadline + Duration::from_secs(5);
    assert_eq!(core.next_deadline(), Some(end));
    let out = core.handle(end, Input::Tick);
    assert_eq!(
        out,
        vec![Command::Finish(Ending::RecoveryTimeout(
            Duration::from_secs(60)
        ))]
    );
    assert!(core.handle(end, Input::Connected).is_empty());
}

#[test]
fn shutdown_gives_the_executor_its_grace_period() {
    let t0 = Instant::now();
    let mut core = running_core(t0);
    let grace = Duration::from_secs(2);
    let out = core.handle(
        t0,
        Input::Event(ExecutorEvent::Shutdown {
            grace_period: grace,
        }),
    );
    assert_eq!(
        out,
        vec![Command::Deliver(Callback::Shutdown {
            grace_period: grace
        })]
    );
    assert_eq!(core.next_deadline(), Some(t0 + grace));
    assert_eq!(
        core.handle(t0 + grace, Input::Tick),
        vec![Command::Finish(Ending::Stopped)]
    );
}

#[test]
fn an_agent_error_ends_the_driver() {
    let t0 = Instant::now();
    let mut core = running_core(t0);
    let out = core.handle(
        t0,
        Input::Event(ExecutorEvent::Error {
            message: "unknown container".into(),
        }),
    );
    assert_eq!(
        out,
        vec![
            Command::Deliver(Callback::Error("unknown container".into())),
            Command::Finish(Ending::Refused("unknown container".into())),
        ]
    );
}

#[test]
fn messages_are_sent_only_while_subscribed() {
    let t0 = Instant::now();
    let mut core = running_core(t0);
    let out = core.handle(t0, Input::SendMessage(b"hi".to_vec()));
    assert_eq!(
        out,
        vec![Command::Send(ExecutorCall::Message {
            data: b"hi".to_vec()
        })]
    );
    core.handle(t0, Input::Disconnected);
    assert!(core
        .handle(t0, Input::SendMessage(b"hi".to_vec()))
        .is_empty());
}
