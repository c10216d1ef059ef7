//! Reconciliation with agents: a lost `RunTask` is found when the agent re-registers
//! without the task, or when the framework reconciles a STAGING task.

use super::tests::*;
use super::*;
use drover_proto::{
    FrameworkCapability, ReconcileTask, TaskReport, TaskState, TaskStatusReason, TaskStatusSource,
    UpdateUuid,
};

/// The `ReconcileTasks` requests in `out`: (conn, framework id, task ids).
fn asked(out: &[Command]) -> Vec<(Conn, FrameworkId, Vec<String>)> {
    out.iter()
        .filter_map(|c| match c {
            Command::ToAgent {
                conn,
                msg:
                    MasterToAgent::ReconcileTasks {
                        framework,
                        task_ids,
                    },
            } => Some((
                *conn,
                framework.id.clone().unwrap_or_default(),
                task_ids.iter().map(|t| t.0.clone()).collect(),
            )),
            _ => None,
        })
        .collect()
}

fn reregister(
    m: &mut MasterCore,
    now: Instant,
    conn: Conn,
    agent: &AgentId,
    reports: Vec<TaskReport>,
) -> Vec<Command> {
    let mut info = agent_info("cpus:4;mem:4096");
    info.id = Some(agent.clone());
    let frameworks = m.frameworks.values().map(|f| f.info.clone()).collect();
    m.handle(
        now,
        Input::Agent {
            conn,
            msg: AgentToMaster::Reregister {
                agent: info,
                frameworks,
                tasks: reports,
            },
        },
    )
}

fn report(fw: &FrameworkId, t: &TaskInfo, state: TaskState) -> TaskReport {
    TaskReport {
        framework_id: fw.clone(),
        task: t.clone(),
        state,
        executor_id: t.task_id.as_str().into(),
    }
}

fn agent_update(
    m: &mut MasterCore,
    now: Instant,
    conn: Conn,
    fw: &FrameworkId,
    id: &str,
    state: TaskState,
) -> Vec<Command> {
    let mut st = TaskStatus::new(id.into(), state, TaskStatusSource::Agent)
        .with_reason(TaskStatusReason::Reconciliation);
    st.uuid = Some(UpdateUuid([9; 16]));
    m.status_from_agent(now, conn, fw.clone(), st)
}

#[test]
fn a_reregistering_agent_is_asked_about_the_tasks_it_did_not_report() {
    let (mut m, now, agent, fw, offer) = setup();
    let (t1, t2) = (
        task("t1", &agent, "cpus:1;mem:128"),
        task("t2", &agent, "cpus:1;mem:128"),
    );
    accept(&mut m, now, &fw, &offer, vec![t1.clone(), t2.clone()]);
    // The connection broke; t2's RunTask never arrived.
    m.handle(now, Input::AgentDisconnected { conn: AGENT_CONN });
    let out = reregister(
        &mut m,
        now,
        2,
        &agent,
        vec![report(&fw, &t1, TaskState::Running)],
    );
    let pos = |f: &dyn Fn(&Command) -> bool| out.iter().position(f);
    let reregistered = pos(&|c| {
        matches!(
            c,
            Command::ToAgent {
                msg: MasterToAgent::Reregistered { .. },
                ..
            }
        )
    });
    let reconcile = pos(&|c| {
        matches!(
            c,
            Command::ToAgent {
                msg: MasterToAgent::ReconcileTasks { .. },
                ..
            }
        )
    });
    assert!(reregistered < reconcile, "Reregistered first: {out:?}");
    assert_eq!(asked(&out), vec![(2, fw.clone(), vec!["t2".to_owned()])]);
    // The agent's answer is a normal update: forwarded, resources freed.
    let out = agent_update(&mut m, now, 2, &fw, "t2", TaskState::Lost);
    let ups = updates_in(&out);
    assert_eq!(ups.len(), 1);
    assert_eq!(
        (ups[0].state, ups[0].reason),
        (TaskState::Lost, Some(TaskStatusReason::Reconciliation))
    );
    assert_eq!(m.agents[&agent].used.to_string(), "cpus:1;mem:128");
    assert!(m.frameworks[&fw].completed.contains(&"t2".into()));
}

#[test]
fn an_agent_that_reports_everything_is_asked_nothing() {
    let (mut m, now, agent, fw, offer) = setup();
    let t1 = task("t1", &agent, "cpus:1;mem:128");
    accept(&mut m, now, &fw, &offer, vec![t1.clone()]);
    let out = reregister(
        &mut m,
        now,
        AGENT_CONN,
        &agent,
        vec![report(&fw, &t1, TaskState::Staging)],
    );
    assert!(asked(&out).is_empty(), "{out:?}");
}

#[test]
fn a_task_already_reported_lost_and_absent_from_the_agent_is_forgotten_silently() {
    let (mut m, mut now, agent, fw, offer) = setup();
    let t1 = task("t1", &agent, "cpus:1;mem:128");
    accept(&mut m, now, &fw, &offer, vec![t1]);
    m.handle(now, Input::AgentDisconnected { conn: AGENT_CONN });
    // Silent until unreachable: the (not partition-aware) framework is told LOST.
    let mut lost = Vec::new();
    for _ in 0..100 {
        now += Duration::from_millis(100);
        lost.extend(updates_in(&m.handle(now, Input::Tick)));
    }
    assert_eq!(
        lost.iter().map(|s| s.state).collect::<Vec<_>>(),
        vec![TaskState::Lost]
    );
    let out = reregister(&mut m, now, 2, &agent, vec![]);
    assert!(asked(&out).is_empty(), "{out:?}");
    assert!(updates_in(&out).is_empty(), "nothing after LOST: {out:?}");
    assert!(m.agents[&agent].used.is_empty());
    assert!(m.agents[&agent].tasks.is_empty());
    assert!(m.frameworks[&fw].tasks.is_empty());
}

#[test]
fn reconciling_a_staging_task_answers_staging_and_asks_its_agent() {
    let (mut m, now, agent, fw, offer) = setup();
    let (t1, t2) = (
        task("t1", &agent, "cpus:1;mem:128"),
        task("t2", &agent, "cpus:1;mem:128"),
    );
    accept(&mut m, now, &fw, &offer, vec![t1, t2]);
    running_update_of(&mut m, now, &fw, "t1");
    let call = |tasks: Vec<ReconcileTask>| Input::Scheduler {
        conn: FW_CONN,
        call: SchedulerCall::Reconcile {
            framework_id: fw.clone(),
            tasks,
        },
    };
    // Explicit: only the STAGING task goes to the agent.
    let out = m.handle(
        now,
        call(vec![
            ReconcileTask {
                task_id: "t1".into(),
                agent_id: None,
            },
            ReconcileTask {
                task_id: "t2".into(),
                agent_id: None,
            },
        ]),
    );
    let states: Vec<_> = updates_in(&out)
        .iter()
        .map(|s| (s.task_id.0.clone(), s.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("t1".into(), TaskState::Running),
            ("t2".into(), TaskState::Staging)
        ]
    );
    assert_eq!(
        asked(&out),
        vec![(AGENT_CONN, fw.clone(), vec!["t2".to_owned()])]
    );
    // Implicit too.
    let out = m.handle(now, call(vec![]));
    assert_eq!(
        asked(&out),
        vec![(AGENT_CONN, fw.clone(), vec!["t2".to_owned()])]
    );
    // The agent never got it: DROPPED/LOST comes back and reaches the framework; the
    // next reconciliation asks nothing.
    let out = agent_update(&mut m, now, AGENT_CONN, &fw, "t2", TaskState::Lost);
    assert_eq!(updates_in(&out)[0].state, TaskState::Lost);
    assert!(asked(&m.handle(now, call(vec![]))).is_empty());
}

#[test]
fn a_partition_aware_framework_is_named_in_the_request() {
    let mut m = master();
    let mut now = Instant::now();
    let agent = register_agent(&mut m, now, AGENT_CONN, "cpus:4;mem:4096");
    let mut info = FrameworkInfo::new("fw", "root");
    info.capabilities = vec![FrameworkCapability::PartitionAware];
    let fw = subscribe(&mut m, now, FW_CONN, info);
    let offer = offers_in(&settle(&mut m, &mut now)).remove(0);
    accept(
        &mut m,
        now,
        &fw,
        &offer,
        vec![task("t1", &agent, "cpus:1;mem:128")],
    );
    let out = reregister(&mut m, now, AGENT_CONN, &agent, vec![]);
    let framework = out.iter().find_map(|c| match c {
        Command::ToAgent {
            msg: MasterToAgent::ReconcileTasks { framework, .. },
            ..
        } => Some(framework.clone()),
        _ => None,
    });
    assert!(framework.is_some_and(|f| f.has(FrameworkCapability::PartitionAware)));
}

fn running_update_of(m: &mut MasterCore, now: Instant, fw: &FrameworkId, id: &str) {
    let mut st = TaskStatus::new(id.into(), TaskState::Running, TaskStatusSource::Executor);
    st.uuid = Some(UpdateUuid([1; 16]));
    m.status_from_agent(now, AGENT_CONN, fw.clone(), st);
}

#[test]
fn a_reregistering_agent_reporting_an_older_state_does_not_take_a_task_back() {
    let (mut m, now, agent, fw, offer) = setup();
    let t1 = task("t1", &agent, "cpus:1;mem:128");
    accept(&mut m, now, &fw, &offer, vec![t1.clone()]);
    agent_update(&mut m, now, AGENT_CONN, &fw, "t1", TaskState::Running);
    assert_eq!(
        m.frameworks[&fw].tasks[&t1.task_id].status.state,
        TaskState::Running
    );
    // The agent crashed before its checkpoint had RUNNING: it reports STAGING.
    m.handle(now, Input::AgentDisconnected { conn: AGENT_CONN });
    reregister(
        &mut m,
        now,
        2,
        &agent,
        vec![report(&fw, &t1, TaskState::Staging)],
    );
    assert_eq!(
        m.frameworks[&fw].tasks[&t1.task_id].status.state,
        TaskState::Running
    );
}
