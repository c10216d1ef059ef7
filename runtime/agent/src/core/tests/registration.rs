//! Register / Reregister / Ping / Refused.

use super::*;

fn master_msgs(cmds: &[Command]) -> Vec<&AgentToMaster> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::SendToMaster(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn start_connects_and_registers_without_id_then_stops_retrying() {
    let mut b = Bench::new(&[ContainerizerKind::Posix]);
    let cmds = b.input(Input::Start);
    assert_eq!(cmds, vec![Command::ConnectMaster { index: 0 }]);
    let cmds = b.input(Input::MasterConnected);
    match master_msgs(&cmds).as_slice() {
        [AgentToMaster::Register { agent }] => {
            assert_eq!(agent.id, None);
            assert_eq!(agent.hostname, "node1");
            assert_eq!(agent.containerizers, vec!["posix".to_owned()]);
        }
        other => panic!("expected one Register, got {other:?}"),
    }
    let cmds = b.master(MasterToAgent::Registered {
        agent_id: "agent-1".into(),
        master_info: master_info(),
        ping_interval: Duration::from_secs(1),
    });
    assert!(cmds.is_empty(), "{cmds:?}");
    assert!(b.core.is_registered());
    assert_eq!(b.core.agent_id(), Some(&"agent-1".into()));
    // Pings keep it registered; no registration retry is pending.
    for _ in 0..10 {
        b.now += Duration::from_secs(1);
        assert_eq!(
            b.master(MasterToAgent::Ping),
            vec![Command::SendToMaster(AgentToMaster::Pong)]
        );
        assert!(b.input(Input::Tick).is_empty());
    }
}

#[test]
fn registration_is_retried_with_doubling_backoff() {
    let mut b = Bench::new(&[ContainerizerKind::Posix]);
    b.input(Input::Start);
    b.input(Input::MasterConnected);
    let t0 = b.now;
    assert_eq!(b.core.next_deadline(), Some(t0 + Duration::from_secs(1)));
    let cmds = b.advance(Duration::from_secs(1));
    assert!(matches!(
        master_msgs(&cmds).as_slice(),
        [AgentToMaster::Register { .. }]
    ));
    assert_eq!(b.core.next_deadline(), Some(t0 + Duration::from_secs(3)));
    // Not yet due: nothing.
    assert!(b.advance(Duration::from_millis(1500)).is_empty());
    let cmds = b.advance(Duration::from_millis(500));
    assert!(matches!(
        master_msgs(&cmds).as_slice(),
        [AgentToMaster::Register { .. }]
    ));
    assert_eq!(b.core.next_deadline(), Some(t0 + Duration::from_secs(7)));
}

#[test]
fn retries_rotate_through_the_masters() {
    let now = Instant::now();
    let mut s = settings(&[ContainerizerKind::Posix], now);
    s.masters = 3;
    let mut core = AgentCore::new(s);
    let cmds = core.handle(now, Input::Start);
    assert_eq!(cmds, vec![Command::ConnectMaster { index: 0 }]);
    // The link never comes up: each retry moves on to the next master and registers
    // there (the message waits in the new link's queue).
    let cmds = core.handle(now + Duration::from_secs(1), Input::Tick);
    assert_eq!(cmds[0], Command::ConnectMaster { index: 1 });
    assert!(matches!(
        master_msgs(&cmds).as_slice(),
        [AgentToMaster::Register { .. }]
    ));
    let cmds = core.handle(now + Duration::from_secs(3), Input::Tick);
    assert_eq!(cmds[0], Command::ConnectMaster { index: 2 });
    let cmds = core.handle(now + Duration::from_secs(7), Input::Tick);
    assert_eq!(cmds[0], Command::ConnectMaster { index: 0 });
}

#[test]
fn lost_pings_lead_to_reregistration_with_task_reports_and_paused_updates() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let cmds = b.run(command_task("t1"));
    let spec = launches(&cmds).remove(0);
    b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    });
    b.subscribe(7, &spec);
    let cmds = b.executor(7, exec_update("t1", TaskState::Running));
    let running = updates(&cmds).remove(0);
    // The master goes silent for 5 ping intervals.
    let cmds = b.advance(PING * 5);
    assert!(!b.core.is_registered());
    match master_msgs(&cmds).as_slice() {
        [AgentToMaster::Reregister {
            agent,
            frameworks,
            tasks,
        }] => {
            assert_eq!(agent.id, Some("agent-1".into()));
            assert_eq!(frameworks.len(), 1);
            assert_eq!(tasks.len(), 1);
            assert_eq!(tasks[0].state, TaskState::Running);
            assert_eq!(tasks[0].executor_id, "t1".into());
        }
        other => panic!("expected Reregister, got {other:?}"),
    }
    // While unregistered, the unacknowledged update is not resent.
    let cmds = b.advance(Duration::from_secs(600));
    assert!(updates(&cmds).is_empty(), "{cmds:?}");
    // Re-registered: the pending update goes out again at once.
    let cmds = b.master(MasterToAgent::Reregistered {
        agent_id: "agent-1".into(),
        master_info: master_info(),
        ping_interval: PING,
    });
    assert_eq!(updates(&cmds), vec![running]);
}

#[test]
fn refusal_destroys_every_container_and_tells_the_shell() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    let cmds = b.master(MasterToAgent::Refused {
        reason: "removed".into(),
    });
    assert_eq!(destroyed(&cmds), vec![spec.container_id]);
    assert_eq!(
        cmds.last(),
        Some(&Command::Refused {
            reason: "removed".into()
        })
    );
    assert!(b.core.is_refused());
    // A refused agent runs nothing more.
    assert!(b.run(command_task("t2")).is_empty());
}

#[test]
fn a_different_agent_id_on_reregistration_is_a_refusal() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    b.input(Input::MasterDisconnected);
    b.input(Input::MasterConnected);
    let cmds = b.master(MasterToAgent::Registered {
        agent_id: "agent-2".into(),
        master_info: master_info(),
        ping_interval: PING,
    });
    assert!(
        matches!(cmds.last(), Some(Command::Refused { .. })),
        "{cmds:?}"
    );
}

#[test]
fn reconnect_reregisters_at_once() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    assert!(b.input(Input::MasterDisconnected).is_empty());
    let cmds = b.input(Input::MasterConnected);
    assert!(matches!(
        master_msgs(&cmds).as_slice(),
        [AgentToMaster::Reregister { .. }]
    ));
}
