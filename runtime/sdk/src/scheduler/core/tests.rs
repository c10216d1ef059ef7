//! Tests of the scheduler driver core: inputs in, commands out, time passed by hand.

use super::*;
use drover_proto::{
    AgentId, ExecutorId, Filters, MasterInfo, OfferId, TaskId, TaskState, TaskStatusSource,
    UpdateUuid,
};

fn config(masters: &[&str]) -> SchedulerConfig {
    SchedulerConfig::new(
        masters.iter().map(|m| (*m).to_owned()).collect(),
        "/tls",
        "sched",
        FrameworkInfo::new("fw", "nobody"),
    )
}

fn master_info() -> MasterInfo {
    MasterInfo {
        id: "m1".into(),
        hostname: "localhost".into(),
        port: 5050,
        http_port: 5050,
        version: "test".into(),
    }
}

fn subscribed_event(id: &str, heartbeat: Duration) -> Input {
    Input::Event(SchedulerEvent::Subscribed {
        framework_id: FrameworkId::new(id),
        heartbeat_interval: heartbeat,
        master_info: master_info(),
    })
}

fn connect(start: usize) -> Command {
    Command::Connect { start }
}

fn connected(master: usize) -> Input {
    Input::Connected {
        master: Some(master),
    }
}

/// A core subscribed as `fw-1` at `t0` with a 1 s heartbeat.
fn subscribed_core(cfg: &SchedulerConfig, t0: Instant) -> SchedulerCore {
    let mut core = SchedulerCore::new(cfg);
    core.handle(t0, Input::Start);
    core.handle(t0, connected(0));
    core.handle(t0, subscribed_event("fw-1", Duration::from_secs(1)));
    assert!(core.is_subscribed());
    core
}

fn update(uuid: Option<u8>) -> TaskStatus {
    let mut s = TaskStatus::new(
        TaskId::new("t1"),
        TaskState::Running,
        TaskStatusSource::Executor,
    );
    s.agent_id = Some(AgentId::new("a1"));
    s.uuid = uuid.map(|b| UpdateUuid([b; 16]));
    s
}

#[test]
fn subscribes_on_connect_and_records_the_framework_id() {
    let t0 = Instant::now();
    let mut core = SchedulerCore::new(&config(&["m1:5050"]));
    assert_eq!(core.handle(t0, Input::Start), vec![connect(0)]);
    let sub = core.handle(t0, connected(0));
    let expected = SchedulerCall::Subscribe {
        framework_info: FrameworkInfo::new("fw", "nobody"),
    };
    assert_eq!(sub, vec![Command::Send(expected)]);
    let out = core.handle(t0, subscribed_event("fw-1", Duration::from_secs(1)));
    assert_eq!(
        out,
        vec![Command::Deliver(Callback::Subscribed {
            framework_id: FrameworkId::new("fw-1"),
            master_info: master_info(),
        })]
    );
    assert_eq!(core.framework_id(), Some(&FrameworkId::new("fw-1")));
}

#[test]
fn resubscribes_with_the_framework_id_after_a_reconnect() {
    let t0 = Instant::now();
    let cfg = config(&["m1:5050", "m2:5050"]);
    let mut core = subscribed_core(&cfg, t0);
    // The link reconnects by itself: no new link is asked for.
    let out = core.handle(t0, Input::Disconnected);
    assert_eq!(out, vec![Command::Deliver(Callback::Disconnected)]);
    assert_eq!(core.next_deadline(), None);
    let out = core.handle(t0, connected(1));
    let Some(Command::Send(SchedulerCall::Subscribe { framework_info })) = out.first() else {
        panic!("expected a Subscribe, got {out:?}");
    };
    assert_eq!(framework_info.id, Some(FrameworkId::new("fw-1")));
}

#[test]
fn a_master_that_does_not_answer_subscribe_is_skipped() {
    let t0 = Instant::now();
    let cfg = config(&["m1:1", "m2:1", "m3:1"]);
    let mut core = SchedulerCore::new(&cfg);
    core.handle(t0, Input::Start);
    // Connecting has no deadline: the link tries the masters itself.
    assert_eq!(core.next_deadline(), None);
    core.handle(t0, connected(1));
    let t1 = t0 + cfg.subscribe_timeout;
    assert_eq!(core.next_deadline(), Some(t1));
    assert!(core
        .handle(t1 - Duration::from_millis(1), Input::Tick)
        .is_empty());
    assert_eq!(core.handle(t1, Input::Tick), vec![connect(2)]);
    // The new link reaches the last master, which does not answer either: wrap around.
    core.handle(t1, connected(2));
    let t2 = t1 + cfg.subscribe_timeout;
    assert_eq!(core.handle(t2, Input::Tick), vec![connect(0)]);
}

#[test]
fn connected_is_ignored_unless_connecting() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    assert!(core.handle(t0, connected(0)).is_empty());
    assert!(core.is_subscribed());
}

#[test]
fn missed_heartbeats_mean_the_master_is_gone() {
    let t0 = Instant::now();
    let cfg = config(&["m1:1"]);
    let mut core = subscribed_core(&cfg, t0);
    // Any event resets the heartbeat clock.
    let t1 = t0 + Duration::from_secs(3);
    core.handle(t1, Input::Event(SchedulerEvent::Heartbeat));
    let deadline = t1 + Duration::from_secs(u64::from(cfg.missed_heartbeats));
    assert_eq!(core.next_deadline(), Some(deadline));
    assert!(core
        .handle(deadline - Duration::from_millis(1), Input::Tick)
        .is_empty());
    let out = core.handle(deadline, Input::Tick);
    assert_eq!(
        out,
        vec![Command::Deliver(Callback::Disconnected), connect(0)]
    );
    assert!(!core.is_subscribed());
}

#[test]
fn updates_with_a_uuid_are_acknowledged_after_the_callback() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    let status = update(Some(7));
    let out = core.handle(
        t0,
        Input::Event(SchedulerEvent::Update {
            status: status.clone(),
        }),
    );
    assert_eq!(
        out,
        vec![
            Command::Deliver(Callback::StatusUpdate(status)),
            Command::Send(SchedulerCall::Acknowledge {
                framework_id: FrameworkId::new("fw-1"),
                agent_id: AgentId::new("a1"),
                task_id: TaskId::new("t1"),
                uuid: UpdateUuid([7; 16]),
            }),
        ]
    );
    // Master-generated updates (no uuid) need no acknowledgement.
    let out = core.handle(
        t0,
        Input::Event(SchedulerEvent::Update {
            status: update(None),
        }),
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn explicit_acks_wait_for_the_scheduler() {
    let t0 = Instant::now();
    let cfg = config(&["m1:1"]).with_explicit_acks(true);
    let mut core = subscribed_core(&cfg, t0);
    let status = update(Some(1));
    let out = core.handle(
        t0,
        Input::Event(SchedulerEvent::Update {
            status: status.clone(),
        }),
    );
    assert_eq!(
        out,
        vec![Command::Deliver(Callback::StatusUpdate(status.clone()))]
    );
    let out = core.handle(t0, Input::Call(DriverCall::Acknowledge { status }));
    assert!(matches!(
        out.as_slice(),
        [Command::Send(SchedulerCall::Acknowledge { .. })]
    ));
}

#[test]
fn explicit_acknowledge_is_ignored_with_implicit_acks() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    let out = core.handle(
        t0,
        Input::Call(DriverCall::Acknowledge {
            status: update(Some(1)),
        }),
    );
    assert!(out.is_empty());
}

#[test]
fn calls_carry_the_framework_id_and_are_dropped_while_disconnected() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    let call = DriverCall::Decline {
        offer_ids: vec![OfferId::new("o1")],
        filters: Filters::default(),
    };
    let out = core.handle(t0, Input::Call(call.clone()));
    assert_eq!(
        out,
        vec![Command::Send(SchedulerCall::Decline {
            framework_id: FrameworkId::new("fw-1"),
            offer_ids: vec![OfferId::new("o1")],
            filters: Filters::default(),
        })]
    );
    core.handle(t0, Input::Disconnected);
    assert!(core.handle(t0, Input::Call(call)).is_empty());
}

#[test]
fn failures_map_to_agent_and_executor_lost() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    let agent = Input::Event(SchedulerEvent::Failure {
        agent_id: Some(AgentId::new("a1")),
        executor_id: None,
        status: None,
    });
    assert_eq!(
        core.handle(t0, agent),
        vec![Command::Deliver(Callback::AgentLost(AgentId::new("a1")))]
    );
    let executor = Input::Event(SchedulerEvent::Failure {
        agent_id: Some(AgentId::new("a1")),
        executor_id: Some(ExecutorId::new("e1")),
        status: Some(9),
    });
    assert_eq!(
        core.handle(t0, executor),
        vec![Command::Deliver(Callback::ExecutorLost {
            agent_id: AgentId::new("a1"),
            executor_id: ExecutorId::new("e1"),
            status: Some(9),
        })]
    );
}

#[test]
fn a_master_error_removes_the_framework_and_ends_the_driver() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    let out = core.handle(
        t0,
        Input::Event(SchedulerEvent::Error {
            message: "failover timeout".into(),
        }),
    );
    assert_eq!(
        out,
        vec![
            Command::Deliver(Callback::Error("failover timeout".into())),
            Command::Finish(Ending::Removed {
                message: "failover timeout".into()
            }),
        ]
    );
    assert!(core.is_stopped());
    assert!(core.handle(t0, connected(0)).is_empty());
}

#[test]
fn stop_without_failover_tears_down() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    let out = core.handle(t0, Input::Stop { failover: false });
    assert_eq!(
        out,
        vec![
            Command::Send(SchedulerCall::Teardown {
                framework_id: FrameworkId::new("fw-1")
            }),
            Command::Finish(Ending::Stopped(StopReason::TornDown)),
        ]
    );
}

#[test]
fn stop_with_failover_keeps_the_framework() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    let out = core.handle(t0, Input::Stop { failover: true });
    assert_eq!(
        out,
        vec![Command::Finish(Ending::Stopped(StopReason::Failover))]
    );
}

#[test]
fn stop_while_disconnected_says_the_teardown_was_not_sent() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    core.handle(t0, Input::Disconnected);
    let out = core.handle(t0, Input::Stop { failover: false });
    assert_eq!(
        out,
        vec![Command::Finish(Ending::Stopped(StopReason::TeardownUnsent))]
    );
}

#[test]
fn a_configured_framework_id_is_used_for_the_first_subscribe() {
    let t0 = Instant::now();
    let mut cfg = config(&["m1:1"]);
    cfg.framework.id = Some(FrameworkId::new("old"));
    let mut core = SchedulerCore::new(&cfg);
    core.handle(t0, Input::Start);
    let out = core.handle(t0, connected(0));
    let [Command::Send(SchedulerCall::Subscribe { framework_info })] = out.as_slice() else {
        panic!("expected a Subscribe, got {out:?}");
    };
    assert_eq!(framework_info.id, Some(FrameworkId::new("old")));
}

#[test]
fn events_before_subscription_are_ignored() {
    let t0 = Instant::now();
    let mut core = SchedulerCore::new(&config(&["m1:1"]));
    core.handle(t0, Input::Start);
    core.handle(t0, connected(0));
    let out = core.handle(t0, Input::Event(SchedulerEvent::Offers { offers: vec![] }));
    assert!(out.is_empty());
}

#[test]
fn rejections_rescinds_and_messages_become_callbacks() {
    let t0 = Instant::now();
    let mut core = subscribed_core(&config(&["m1:1"]), t0);
    let rejected = Input::Event(SchedulerEvent::Rejected {
        call: "ACCEPT".into(),
        message: "not your offer".into(),
    });
    assert_eq!(
        core.handle(t0, rejected),
        vec![Command::Deliver(Callback::Rejected {
            call: "ACCEPT".into(),
            message: "not your offer".into(),
        })]
    );
    let rescind = Input::Event(SchedulerEvent::Rescind {
        offer_id: OfferId::new("o1"),
    });
    assert_eq!(
        core.handle(t0, rescind),
        vec![Command::Deliver(Callback::Rescinded(OfferId::new("o1")))]
    );
    let message = Input::Event(SchedulerEvent::Message {
        agent_id: AgentId::new("a1"),
        executor_id: ExecutorId::new("e1"),
        data: vec![1, 2],
    });
    assert_eq!(
        core.handle(t0, message),
        vec![Command::Deliver(Callback::FrameworkMessage {
            agent_id: AgentId::new("a1"),
            executor_id: ExecutorId::new("e1"),
            data: vec![1, 2],
        })]
    );
}
