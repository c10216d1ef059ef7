//! Completed tasks and frameworks: kept for `/state`, bounded, and the ids they hold.

use super::tests::{
    accept, agent_info, offers_in, settle, subscribe, task, updates_in, AGENT_CONN, FW_CONN,
};
use super::*;
use drover_proto::{MasterInfo, TaskState, TaskStatusReason, TaskStatusSource, UpdateUuid};

fn master_with(max_tasks: usize, max_frameworks: usize) -> MasterCore {
    let mut config = MasterConfig::new(MasterInfo {
        id: "m".into(),
        hostname: "localhost".into(),
        port: 5050,
        http_port: 5050,
        version: "test".into(),
    });
    config.max_completed_tasks_per_framework = max_tasks;
    config.max_completed_frameworks = max_frameworks;
    MasterCore::new(config)
}

fn register(m: &mut MasterCore, now: Instant) -> AgentId {
    let out = m.handle(
        now,
        Input::Agent {
            conn: AGENT_CONN,
            msg: AgentToMaster::Register {
                agent: agent_info("cpus:8;mem:8192"),
            },
        },
    );
    out.iter()
        .find_map(|c| match c {
            Command::ToAgent {
                msg: MasterToAgent::Registered { agent_id, .. },
                ..
            } => Some(agent_id.clone()),
            _ => None,
        })
        .expect("Registered")
}

fn report(m: &mut MasterCore, now: Instant, fw: &FrameworkId, id: &str, state: TaskState) {
    let mut st = TaskStatus::new(id.into(), state, TaskStatusSource::Executor);
    st.uuid = Some(UpdateUuid([state as u8; 16]));
    st.timestamp = 1000.0;
    m.status_from_agent(now, AGENT_CONN, fw.clone(), st);
}

/// Launches `ids` (0.1 cpu each) on the framework's next offer.
fn launch(m: &mut MasterCore, now: &mut Instant, fw: &FrameworkId, agent: &AgentId, ids: &[&str]) {
    let offer = offers_in(&settle(m, now))
        .into_iter()
        .next()
        .expect("an offer");
    let tasks = ids.iter().map(|id| task(id, agent, "cpus:0.1")).collect();
    let out = accept(m, *now, fw, &offer, tasks);
    let launched = out
        .iter()
        .filter(|c| {
            matches!(
                c,
                Command::ToAgent {
                    msg: MasterToAgent::RunTask { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(launched, ids.len(), "launch refused: {out:?}");
}

fn ids(tasks: &[view::TaskView]) -> Vec<&str> {
    tasks.iter().map(|t| t.id.as_str()).collect()
}

#[test]
fn terminal_tasks_are_kept_per_framework_up_to_the_limit() {
    let mut m = master_with(3, 50);
    let mut now = Instant::now();
    let agent = register(&mut m, now);
    let fw = subscribe(&mut m, now, FW_CONN, FrameworkInfo::new("fw", "root"));
    launch(
        &mut m,
        &mut now,
        &fw,
        &agent,
        &["t0", "t1", "t2", "t3", "t4", "t5"],
    );
    for id in ["t0", "t1", "t2", "t3"] {
        report(&mut m, now, &fw, id, TaskState::Running);
        report(&mut m, now, &fw, id, TaskState::Finished);
    }
    report(&mut m, now, &fw, "t4", TaskState::Failed);
    report(&mut m, now, &fw, "t5", TaskState::Running);
    // A resent terminal update is not a second completion.
    report(&mut m, now, &fw, "t3", TaskState::Finished);
    // The metrics count every completion, also those that fell out of the ring.
    let done = &m.counters.tasks_completed;
    assert_eq!(done.get(&TaskState::Finished), Some(&4));
    assert_eq!(done.get(&TaskState::Failed), Some(&1));
    assert_eq!(done.values().sum::<u64>(), 5);

    let state = m.state_view();
    let f = &state.frameworks[0];
    assert_eq!(ids(&f.tasks), ["t5"]);
    assert_eq!(f.tasks[0].state, "TASK_RUNNING");
    // The newest three, oldest first, with their terminal state.
    assert_eq!(ids(&f.completed_tasks), ["t2", "t3", "t4"]);
    let states: Vec<&str> = f.completed_tasks.iter().map(|t| t.state.as_str()).collect();
    assert_eq!(states, ["TASK_FINISHED", "TASK_FINISHED", "TASK_FAILED"]);
    assert_eq!(f.completed_tasks[2].timestamp, 1000.0);
    assert!(f.unregistered_time.is_none());
    // The JSON carries them under Mesos's name.
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(
        json["frameworks"][0]["completed_tasks"][0]["id"],
        serde_json::json!("t2")
    );

    // An id still in the ring is refused; one that fell out of it is free again
    // (Mesos refuses only active ids).
    let offer = offers_in(&settle(&mut m, &mut now)).remove(0);
    let out = accept(
        &mut m,
        now,
        &fw,
        &offer,
        vec![
            task("t3", &agent, "cpus:0.1"),
            task("t0", &agent, "cpus:0.1"),
        ],
    );
    let refused = updates_in(&out);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].task_id.as_str(), "t3");
    assert_eq!(refused[0].state, TaskState::Error);
    assert_eq!(refused[0].reason, Some(TaskStatusReason::TaskInvalid));
    assert!(m.frameworks[&fw].tasks.contains_key(&TaskId::from("t0")));
}

#[test]
fn removed_frameworks_are_kept_with_their_tasks_up_to_the_limit() {
    let mut m = master_with(10, 2);
    let mut now = Instant::now();
    let agent = register(&mut m, now);
    let mut fws = Vec::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        // One after the other on the same connection (the previous one is torn down).
        let conn = FW_CONN;
        let fw = subscribe(&mut m, now, conn, FrameworkInfo::new(name, "root"));
        launch(&mut m, &mut now, &fw, &agent, &["done", "live"]);
        report(&mut m, now, &fw, "done", TaskState::Finished);
        report(&mut m, now, &fw, "live", TaskState::Running);
        m.set_unix_time(2000.0 + i as f64);
        let out = m.handle(
            now,
            Input::Scheduler {
                conn,
                call: SchedulerCall::Teardown {
                    framework_id: fw.clone(),
                },
            },
        );
        assert!(
            out.iter().any(|c| matches!(
                c,
                Command::ToAgent {
                    msg: MasterToAgent::ShutdownFramework { .. },
                    ..
                }
            )),
            "{name}: {out:?}"
        );
        fws.push(fw);
    }
    let state = m.state_view();
    assert!(state.frameworks.is_empty());
    // Only the last two, oldest first; the task that was running is recorded killed.
    let names: Vec<&str> = state
        .completed_frameworks
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["b", "c"]);
    let b = &state.completed_frameworks[0];
    assert_eq!(b.id, fws[1].to_string());
    assert!(!b.active);
    assert!(b.tasks.is_empty());
    assert_eq!(ids(&b.completed_tasks), ["done", "live"]);
    assert_eq!(b.completed_tasks[0].state, "TASK_FINISHED");
    assert_eq!(b.completed_tasks[1].state, "TASK_KILLED");
    assert!(b.completed_tasks[1]
        .message
        .as_deref()
        .is_some_and(|m| m.contains("framework removed")));
    assert_eq!(b.unregistered_time, Some(2001.0));
    // Removed ids stay refused even when their record is dropped.
    assert!(m.removed_frameworks.contains(&fws[0]));
    assert!(m.agents[&agent].used.is_empty());
}
