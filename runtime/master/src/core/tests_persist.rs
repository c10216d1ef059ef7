//! Core tests of what the core persists: registry ops come before the replies they
//! justify, and the log replayed gives exactly what the core believes; plus what an
//! agent coming back does to tasks already reported LOST. Injected clock, no I/O.

use super::tests::*;
use super::tests_recovery::*;
use super::*;
use crate::registry::Registry;
use drover_proto::{TaskState, TaskStatusSource};

#[test]
fn registry_changes_are_persisted_before_replies() {
    let mut m = master();
    let now = Instant::now();
    let out = m.handle(
        now,
        Input::Agent {
            conn: AGENT_CONN,
            msg: AgentToMaster::Register {
                agent: agent_info("cpus:1;mem:256"),
            },
        },
    );
    assert!(
        matches!(&out[0], Command::Persist(RegistryOp::AdmitAgent { info }) if info.id.is_some())
    );
    let fw = subscribe(&mut m, now, FW_CONN, aware_info(0));
    let out = m.handle(
        now,
        Input::Scheduler {
            conn: FW_CONN,
            call: SchedulerCall::Teardown {
                framework_id: fw.clone(),
            },
        },
    );
    assert_eq!(
        persisted(&out),
        vec![RegistryOp::RemoveFramework { id: fw }]
    );
}

#[test]
fn lost_tasks_of_frameworks_not_partition_aware_are_killed_when_the_agent_is_back() {
    let mut m = MasterCore::new(config());
    let mut now = Instant::now();
    let agent = register_agent(&mut m, now, AGENT_CONN, "cpus:4;mem:4096");
    let mut info = aware_info(600);
    info.capabilities.clear();
    let fw = subscribe(&mut m, now, FW_CONN, info);
    let offers = offers_in(&settle(&mut m, &mut now));
    let t = task("t", &agent, "cpus:1;mem:128");
    accept(&mut m, now, &fw, &offers[0], vec![t.clone()]);
    running_update(&mut m, now, &fw, "t");
    m.handle(now, Input::AgentDisconnected { conn: AGENT_CONN });
    while m.agents[&agent].status == AgentStatus::Active {
        now = m.next_deadline().unwrap_or(now).max(now);
        m.handle(now, Input::Tick);
    }
    assert_eq!(
        m.frameworks[&fw].tasks[&TaskId::from("t")].status.state,
        TaskState::Lost
    );
    let out = reregister(&mut m, now, &agent, &fw, &t);
    assert!(out.iter().any(|c| matches!(c, Command::ToAgent { msg: MasterToAgent::KillTask { task_id, .. }, .. } if task_id.as_str() == "t")));
    assert!(
        updates_in(&out).is_empty(),
        "no RUNNING for a task reported LOST"
    );
    // A RUNNING the agent resends is not forwarded either (it would follow LOST), but
    // acknowledged so that the KILLED behind it can come.
    let mut st = TaskStatus::new("t".into(), TaskState::Running, TaskStatusSource::Executor);
    st.uuid = Some(drover_proto::UpdateUuid([7; 16]));
    let out = m.status_from_agent(now, 7, fw.clone(), st);
    assert!(
        updates_in(&out).is_empty(),
        "no RUNNING after LOST: {out:?}"
    );
    assert!(out.iter().any(|c| matches!(
        c,
        Command::ToAgent {
            msg: MasterToAgent::Acknowledge { .. },
            ..
        }
    )));
    assert!(!m.agents[&agent].used.is_empty(), "still held until killed");
    // The kill's terminal update frees the task's resources.
    let mut st = TaskStatus::new("t".into(), TaskState::Killed, TaskStatusSource::Executor);
    st.uuid = Some(drover_proto::UpdateUuid([8; 16]));
    let out = m.status_from_agent(now, 7, fw.clone(), st);
    // LOST was terminal for the framework: Mesos tells it nothing more. The master
    // acknowledges the update for it so the agent's stream drains.
    assert!(updates_in(&out).is_empty(), "nothing after LOST: {out:?}");
    assert!(out.iter().any(|c| matches!(c, Command::ToAgent { msg: MasterToAgent::Acknowledge { task_id, .. }, .. } if task_id.as_str() == "t")));
    assert!(m.agents[&agent].used.is_empty());
    assert!(!m.frameworks[&fw].tasks.contains_key(&TaskId::from("t")));
}

/// What the registry should say, read from the core's own state.
fn registry_of(m: &MasterCore) -> Registry {
    let mut r = Registry::new();
    for (id, a) in &m.agents {
        r.agents.insert(
            id.clone(),
            crate::registry::RegisteredAgent {
                info: a.info.clone(),
                unreachable_since: (a.status == AgentStatus::Unreachable).then_some(0.0),
            },
        );
    }
    r.removed_agents = m.removed_agents.iter().cloned().collect();
    r.frameworks = m
        .frameworks
        .iter()
        .map(|(id, f)| (id.clone(), f.info.clone()))
        .collect();
    r.removed_frameworks = m.removed_frameworks.iter().cloned().collect();
    r
}

#[test]
fn the_persisted_log_mirrors_the_core() {
    let mut m = MasterCore::new(config());
    let mut now = Instant::now();
    let mut ops = Vec::new();
    let mut step = |m: &mut MasterCore, now: Instant, input: Input| {
        let out = m.handle(now, input);
        ops.extend(persisted(&out));
        out
    };
    let mut agents = Vec::new();
    for conn in 1..=3 {
        let out = step(
            &mut m,
            now,
            Input::Agent {
                conn,
                msg: AgentToMaster::Register {
                    agent: agent_info("cpus:1;mem:256"),
                },
            },
        );
        if let Command::ToAgent {
            msg: MasterToAgent::Registered { agent_id, .. },
            ..
        } = first_msg(&out)
        {
            agents.push(agent_id.clone());
        }
    }
    let mut fws = Vec::new();
    for conn in [100, 101] {
        let out = step(
            &mut m,
            now,
            Input::Scheduler {
                conn,
                call: SchedulerCall::Subscribe {
                    framework_info: aware_info(5),
                },
            },
        );
        if let Command::ToScheduler {
            event: SchedulerEvent::Subscribed { framework_id, .. },
            ..
        } = first_msg(&out)
        {
            fws.push(framework_id.clone());
        }
    }
    // Agents 1 and 2 go silent; framework 1 tears down; framework 2 fails over with a
    // longer timeout; agent 2 comes back; agent 1 is removed.
    step(&mut m, now, Input::AgentDisconnected { conn: 1 });
    step(&mut m, now, Input::AgentDisconnected { conn: 2 });
    step(
        &mut m,
        now,
        Input::Scheduler {
            conn: 100,
            call: SchedulerCall::Teardown {
                framework_id: fws[0].clone(),
            },
        },
    );
    step(&mut m, now, Input::SchedulerDisconnected { conn: 101 });
    let mut info = aware_info(120);
    info.id = Some(fws[1].clone());
    step(
        &mut m,
        now,
        Input::Scheduler {
            conn: 102,
            call: SchedulerCall::Subscribe {
                framework_info: info,
            },
        },
    );
    let end = now + Duration::from_secs(3);
    while let Some(at) = m.next_deadline().filter(|t| *t <= end) {
        now = at.max(now);
        step(&mut m, now, Input::Tick);
        // Agent 3 keeps answering pings.
        step(
            &mut m,
            now,
            Input::Agent {
                conn: 3,
                msg: AgentToMaster::Pong,
            },
        );
    }
    assert_eq!(m.agents[&agents[0]].status, AgentStatus::Unreachable);
    let mut back = agent_info("cpus:2;mem:256");
    back.id = Some(agents[1].clone());
    step(
        &mut m,
        now,
        Input::Agent {
            conn: 4,
            msg: AgentToMaster::Reregister {
                agent: back,
                frameworks: vec![],
                tasks: vec![],
            },
        },
    );
    now += Duration::from_secs(31);
    step(&mut m, now, Input::Tick);
    step(
        &mut m,
        now,
        Input::Agent {
            conn: 3,
            msg: AgentToMaster::Pong,
        },
    );
    assert!(m.removed_agents.contains(&agents[0]));
    assert!(m.removed_frameworks.contains(&fws[0]));
    let mut replayed = Registry::replay(&ops);
    for a in replayed.agents.values_mut() {
        a.unreachable_since = a.unreachable_since.map(|_| 0.0);
    }
    assert_eq!(replayed, registry_of(&m));
    assert_eq!(
        replayed.frameworks[&fws[1]].failover_timeout,
        Duration::from_secs(120)
    );
    assert_eq!(
        replayed.agents[&agents[1]].info.resources.to_string(),
        "cpus:2;mem:256"
    );
}
