//! Core tests of the registry ops the core emits and of master restart: a registry
//! written by one core is recovered into a fresh one; agents re-register (or do not);
//! frameworks re-subscribe; reconciliation answers. Injected clock, no I/O.

use super::tests::*;
use super::*;
use crate::registry::Registry;
use drover_proto::{
    FrameworkCapability, ReconcileTask, TaskReport, TaskState, TaskStatusReason, TaskStatusSource,
};

pub(super) fn persisted(out: &[Command]) -> Vec<RegistryOp> {
    out.iter()
        .filter_map(|c| match c {
            Command::Persist(op) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn config() -> MasterConfig {
    let mut c = master().config().clone();
    c.master_info.id = "m2".into();
    c.agent_reregister_timeout = Duration::from_secs(10);
    c.agent_removal_timeout = Duration::from_secs(30);
    c
}

pub(super) fn aware_info(failover: u64) -> FrameworkInfo {
    let mut info = FrameworkInfo::new("fw", "root");
    info.capabilities = vec![FrameworkCapability::PartitionAware];
    info.failover_timeout = Duration::from_secs(failover);
    info
}

pub(super) fn reconcile(
    m: &mut MasterCore,
    now: Instant,
    conn: Conn,
    fw: &FrameworkId,
    tasks: Vec<ReconcileTask>,
) -> Vec<TaskStatus> {
    updates_in(&m.handle(
        now,
        Input::Scheduler {
            conn,
            call: SchedulerCall::Reconcile {
                framework_id: fw.clone(),
                tasks,
            },
        },
    ))
}

pub(super) fn running_update(
    m: &mut MasterCore,
    now: Instant,
    fw: &FrameworkId,
    id: &str,
) -> Vec<Command> {
    let mut st = TaskStatus::new(id.into(), TaskState::Running, TaskStatusSource::Executor);
    st.uuid = Some(drover_proto::UpdateUuid([7; 16]));
    m.status_from_agent(now, AGENT_CONN, fw.clone(), st)
}

/// A first master run: one agent, one partition-aware framework, one running task `t`.
/// Returns the registry its ops built, the agent, the framework and the task.
pub(super) fn first_run(failover: u64) -> (Registry, AgentId, FrameworkId, TaskInfo) {
    let mut m = master();
    let mut now = Instant::now();
    let mut ops = Vec::new();
    let register = Input::Agent {
        conn: AGENT_CONN,
        msg: AgentToMaster::Register {
            agent: agent_info("cpus:4;mem:4096"),
        },
    };
    let out = m.handle(now, register);
    ops.extend(persisted(&out));
    let Command::ToAgent {
        msg: MasterToAgent::Registered {
            agent_id: agent, ..
        },
        ..
    } = first_msg(&out).clone()
    else {
        panic!("not registered: {out:?}")
    };
    let sub = Input::Scheduler {
        conn: FW_CONN,
        call: SchedulerCall::Subscribe {
            framework_info: aware_info(failover),
        },
    };
    let out = m.handle(now, sub);
    ops.extend(persisted(&out));
    let Command::ToScheduler {
        event: SchedulerEvent::Subscribed {
            framework_id: fw, ..
        },
        ..
    } = first_msg(&out).clone()
    else {
        panic!("not subscribed: {out:?}")
    };
    let out = settle(&mut m, &mut now);
    ops.extend(persisted(&out));
    let t = task("t", &agent, "cpus:1;mem:128");
    ops.extend(persisted(&accept(
        &mut m,
        now,
        &fw,
        &offers_in(&out)[0],
        vec![t.clone()],
    )));
    ops.extend(persisted(&running_update(&mut m, now, &fw, "t")));
    let registry = Registry::replay(&ops);
    assert_eq!(registry.agents.keys().collect::<Vec<_>>(), vec![&agent]);
    assert_eq!(registry.frameworks.keys().collect::<Vec<_>>(), vec![&fw]);
    (registry, agent, fw, t)
}

pub(super) fn reregister(
    m: &mut MasterCore,
    now: Instant,
    agent: &AgentId,
    fw: &FrameworkId,
    t: &TaskInfo,
) -> Vec<Command> {
    let mut info = agent_info("cpus:4;mem:4096");
    info.id = Some(agent.clone());
    let mut fwi = aware_info(60);
    fwi.id = Some(fw.clone());
    m.handle(
        now,
        Input::Agent {
            conn: 7,
            msg: AgentToMaster::Reregister {
                agent: info,
                frameworks: vec![fwi],
                tasks: vec![TaskReport {
                    framework_id: fw.clone(),
                    task: t.clone(),
                    state: TaskState::Running,
                    executor_id: t.task_id.as_str().into(),
                }],
            },
        },
    )
}

#[test]
fn restart_rebuilds_tasks_from_reregistering_agents() {
    let (registry, agent, fw, t) = first_run(60);
    let mut m = MasterCore::new(config());
    let mut now = Instant::now();
    m.recover(now, 1000.0, &registry);
    assert_eq!(m.agents[&agent].status, AgentStatus::Recovering);
    assert!(m.frameworks[&fw].conn.is_none());
    // While the agent may still come back, reconciling its task gets no answer.
    let mut fwi = aware_info(60);
    fwi.id = Some(fw.clone());
    assert_eq!(subscribe(&mut m, now, 300, fwi), fw);
    let rt = ReconcileTask {
        task_id: "t".into(),
        agent_id: Some(agent.clone()),
    };
    assert!(reconcile(&mut m, now, 300, &fw, vec![rt.clone()]).is_empty());
    // The agent re-registers with its running task: nothing is killed, nothing relaunched.
    now += Duration::from_secs(2);
    let out = reregister(&mut m, now, &agent, &fw, &t);
    assert!(matches!(
        first_msg(&out),
        Command::ToAgent {
            msg: MasterToAgent::Reregistered { .. },
            ..
        }
    ));
    assert!(!out.iter().any(|c| matches!(
        c,
        Command::ToAgent {
            msg: MasterToAgent::ShutdownFramework { .. }
                | MasterToAgent::RunTask { .. }
                | MasterToAgent::KillTask { .. },
            ..
        }
    )));
    assert_eq!(m.agents[&agent].status, AgentStatus::Active);
    assert_eq!(m.agents[&agent].used.to_string(), "cpus:1;mem:128");
    let answers = reconcile(&mut m, now, 300, &fw, vec![]);
    assert_eq!(answers.len(), 1);
    assert_eq!(
        (answers[0].state, answers[0].task_id.as_str()),
        (TaskState::Running, "t")
    );
    assert_eq!(
        reconcile(&mut m, now, 300, &fw, vec![rt])[0].state,
        TaskState::Running
    );
    // Past the re-register deadline nothing changes for an agent that came back.
    now += Duration::from_secs(10);
    let out = m.handle(now, Input::Tick);
    assert!(updates_in(&out).is_empty());
    assert_eq!(m.agents[&agent].status, AgentStatus::Active);
    // Offers flow again to the re-subscribed framework for the rest of the agent.
    let mut offers = offers_in(&out);
    offers.extend(offers_in(&settle(&mut m, &mut now)));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources.to_string(), "cpus:3;mem:3968");
}

#[test]
fn agents_not_back_in_time_become_unreachable() {
    for aware in [true, false] {
        let (mut registry, agent, fw, _t) = first_run(60);
        if !aware {
            registry
                .frameworks
                .get_mut(&fw)
                .unwrap()
                .capabilities
                .clear();
        }
        let mut m = MasterCore::new(config());
        let mut now = Instant::now();
        m.recover(now, 1000.0, &registry);
        assert_eq!(m.next_deadline(), Some(now + Duration::from_secs(10)));
        let mut fwi = registry.frameworks[&fw].clone();
        fwi.id = Some(fw.clone());
        subscribe(&mut m, now, 300, fwi);
        now += Duration::from_secs(10);
        let out = m.handle(now, Input::Tick);
        assert!(persisted(&out).contains(&RegistryOp::MarkUnreachable {
            id: agent.clone(),
            at_unix: 1000.0
        }));
        assert_eq!(m.agents[&agent].status, AgentStatus::Unreachable);
        let rt = ReconcileTask {
            task_id: "t".into(),
            agent_id: Some(agent.clone()),
        };
        let answer = &reconcile(&mut m, now, 300, &fw, vec![rt])[0];
        let want = if aware {
            TaskState::Unreachable
        } else {
            TaskState::Lost
        };
        assert_eq!(answer.state, want);
        assert_eq!(answer.reason, Some(TaskStatusReason::Reconciliation));
        // After the removal timeout the agent is gone: GONE (or LOST), and refused.
        now += Duration::from_secs(30);
        let out = m.handle(now, Input::Tick);
        assert!(persisted(&out).contains(&RegistryOp::RemoveAgent { id: agent.clone() }));
        let rt = ReconcileTask {
            task_id: "t".into(),
            agent_id: Some(agent.clone()),
        };
        let want = if aware {
            TaskState::Gone
        } else {
            TaskState::Lost
        };
        assert_eq!(reconcile(&mut m, now, 300, &fw, vec![rt])[0].state, want);
    }
}

#[test]
fn removed_agents_and_frameworks_stay_removed_after_restart() {
    let (mut registry, agent, fw, t) = first_run(60);
    registry.apply(RegistryOp::RemoveAgent { id: agent.clone() });
    registry.apply(RegistryOp::RemoveFramework { id: fw.clone() });
    let mut m = MasterCore::new(config());
    let now = Instant::now();
    m.recover(now, 1000.0, &registry);
    assert_eq!(m.next_deadline(), None);
    let out = reregister(&mut m, now, &agent, &fw, &t);
    assert!(matches!(
        first_msg(&out),
        Command::ToAgent {
            msg: MasterToAgent::Refused { .. },
            ..
        }
    ));
    let mut fwi = aware_info(60);
    fwi.id = Some(fw);
    let out = m.handle(
        now,
        Input::Scheduler {
            conn: 300,
            call: SchedulerCall::Subscribe {
                framework_info: fwi,
            },
        },
    );
    assert!(matches!(
        first_msg(&out),
        Command::ToScheduler {
            event: SchedulerEvent::Error { .. },
            ..
        }
    ));
}

#[test]
fn recovered_frameworks_get_their_failover_timeout_again() {
    // failover_timeout 0: still kept for the re-register timeout (the master was down).
    // failover_timeout 60 s: kept 60 s from the restart, then torn down.
    for (failover, kept) in [(0, 10), (60, 60)] {
        let (registry, _agent, fw, _t) = first_run(failover);
        let mut m = MasterCore::new(config());
        let now = Instant::now();
        m.recover(now, 1000.0, &registry);
        let before = now + Duration::from_secs(kept) - Duration::from_millis(1);
        m.handle(before, Input::Tick);
        assert!(m.frameworks.contains_key(&fw), "failover {failover}");
        let out = m.handle(now + Duration::from_secs(kept), Input::Tick);
        assert!(!m.frameworks.contains_key(&fw), "failover {failover}");
        assert!(persisted(&out).contains(&RegistryOp::RemoveFramework { id: fw }));
    }
}

#[test]
fn removal_timeout_is_a_config_value_and_gives_task_gone() {
    let mut m = MasterCore::new(config());
    let mut now = Instant::now();
    let agent = register_agent(&mut m, now, AGENT_CONN, "cpus:4;mem:4096");
    let fw = subscribe(&mut m, now, FW_CONN, aware_info(600));
    let offers = offers_in(&settle(&mut m, &mut now));
    accept(
        &mut m,
        now,
        &fw,
        &offers[0],
        vec![task("t", &agent, "cpus:1")],
    );
    running_update(&mut m, now, &fw, "t");
    m.handle(now, Input::AgentDisconnected { conn: AGENT_CONN });
    let mut states = Vec::new();
    let end = now + Duration::from_secs(40);
    while let Some(at) = m.next_deadline().filter(|t| *t <= end) {
        now = at.max(now);
        let out = m.handle(now, Input::Tick);
        states.extend(updates_in(&out).into_iter().map(|s| (s.state, s.reason)));
        if !m.agents.contains_key(&agent) {
            break;
        }
    }
    assert_eq!(
        states,
        vec![
            (
                TaskState::Unreachable,
                Some(TaskStatusReason::AgentUnreachable)
            ),
            (TaskState::Gone, Some(TaskStatusReason::AgentRemoved)),
        ]
    );
    assert!(m.removed_agents.contains(&agent));
}
