//! Core tests: inputs in, commands out, an injected clock; no actors, sockets or sleeps.

use super::*;
use drover_proto::{
    AgentInfo, CommandInfo, Filters, FrameworkCapability, MasterInfo, Operation, ReconcileTask,
    TaskState, TaskStatusReason, TaskStatusSource,
};

pub(super) const AGENT_CONN: Conn = 1;
pub(super) const FW_CONN: Conn = 100;

/// The first command that is not a registry write.
pub(super) fn first_msg(out: &[Command]) -> &Command {
    out.iter()
        .find(|c| !matches!(c, Command::Persist(_)))
        .expect("a message besides registry writes")
}

pub(super) fn master() -> MasterCore {
    MasterCore::new(MasterConfig::new(MasterInfo {
        id: "m".into(),
        hostname: "localhost".into(),
        port: 5050,
        http_port: 5050,
        version: "test".into(),
    }))
}

pub(super) fn agent_info(res: &str) -> AgentInfo {
    AgentInfo {
        id: None,
        hostname: "host1".into(),
        http_port: 5051,
        resources: res.parse().unwrap(),
        attributes: vec![],
        containerizers: vec!["posix".into()],
    }
}

pub(super) fn register_agent(m: &mut MasterCore, now: Instant, conn: Conn, res: &str) -> AgentId {
    let out = m.handle(
        now,
        Input::Agent {
            conn,
            msg: AgentToMaster::Register {
                agent: agent_info(res),
            },
        },
    );
    match first_msg(&out) {
        Command::ToAgent {
            msg: MasterToAgent::Registered { agent_id, .. },
            ..
        } => agent_id.clone(),
        other => panic!("expected Registered, got {other:?}"),
    }
}

pub(super) fn subscribe(
    m: &mut MasterCore,
    now: Instant,
    conn: Conn,
    info: FrameworkInfo,
) -> FrameworkId {
    let out = m.handle(
        now,
        Input::Scheduler {
            conn,
            call: SchedulerCall::Subscribe {
                framework_info: info,
            },
        },
    );
    match first_msg(&out) {
        Command::ToScheduler {
            event: SchedulerEvent::Subscribed { framework_id, .. },
            ..
        } => framework_id.clone(),
        other => panic!("expected Subscribed, got {other:?}"),
    }
}

pub(super) fn offers_in(out: &[Command]) -> Vec<Offer> {
    out.iter()
        .flat_map(|c| match c {
            Command::ToScheduler {
                event: SchedulerEvent::Offers { offers },
                ..
            } => offers.clone(),
            _ => vec![],
        })
        .collect()
}

pub(super) fn updates_in(out: &[Command]) -> Vec<TaskStatus> {
    out.iter()
        .filter_map(|c| match c {
            Command::ToScheduler {
                event: SchedulerEvent::Update { status },
                ..
            } => Some(status.clone()),
            _ => None,
        })
        .collect()
}

/// Runs ticks until the allocation window has passed; returns all commands.
pub(super) fn settle(m: &mut MasterCore, now: &mut Instant) -> Vec<Command> {
    *now += Duration::from_millis(10);
    m.handle(*now, Input::Tick)
}

impl MasterCore {
    /// `status` of a task of `framework_id`, arriving from the agent on `conn`.
    pub(super) fn status_from_agent(
        &mut self,
        now: Instant,
        conn: Conn,
        framework_id: FrameworkId,
        status: TaskStatus,
    ) -> Vec<Command> {
        self.handle(
            now,
            Input::Agent {
                conn,
                msg: AgentToMaster::StatusUpdate {
                    framework_id,
                    status,
                },
            },
        )
    }
}

pub(super) fn setup() -> (MasterCore, Instant, AgentId, FrameworkId, Offer) {
    let mut m = master();
    let mut now = Instant::now();
    let agent = register_agent(&mut m, now, AGENT_CONN, "cpus:4;mem:4096");
    let fw = subscribe(&mut m, now, FW_CONN, FrameworkInfo::new("fw", "root"));
    let offers = offers_in(&settle(&mut m, &mut now));
    assert_eq!(offers.len(), 1);
    (m, now, agent, fw, offers[0].clone())
}

pub(super) fn task(id: &str, agent: &AgentId, res: &str) -> TaskInfo {
    TaskInfo::command(
        id,
        agent.clone(),
        res.parse().unwrap(),
        CommandInfo::shell("true"),
    )
}

pub(super) fn accept(
    m: &mut MasterCore,
    now: Instant,
    fw: &FrameworkId,
    offer: &Offer,
    tasks: Vec<TaskInfo>,
) -> Vec<Command> {
    m.handle(
        now,
        Input::Scheduler {
            conn: FW_CONN,
            call: SchedulerCall::Accept {
                framework_id: fw.clone(),
                offer_ids: vec![offer.id.clone()],
                operations: vec![Operation::Launch { tasks }],
                filters: Filters {
                    refuse_seconds: 0.0,
                },
            },
        },
    )
}

#[test]
fn offer_accept_launch_update_cycle() {
    let (mut m, now, agent, fw, offer) = setup();
    assert_eq!(offer.resources.to_string(), "cpus:4;mem:4096");
    let out = accept(
        &mut m,
        now,
        &fw,
        &offer,
        vec![task("t1", &agent, "cpus:1;mem:128")],
    );
    assert!(out.iter().any(|c| matches!(c, Command::ToAgent { msg: MasterToAgent::RunTask { task, .. }, .. } if task.task_id.as_str() == "t1")));
    // Running, then finished: resources come back.
    let mut st = TaskStatus::new("t1".into(), TaskState::Running, TaskStatusSource::Executor);
    st.uuid = Some(drover_proto::UpdateUuid([1; 16]));
    let out = m.status_from_agent(now, AGENT_CONN, fw.clone(), st.clone());
    assert_eq!(updates_in(&out)[0].state, TaskState::Running);
    assert_eq!(m.agents[&agent].used.to_string(), "cpus:1;mem:128");
    st.state = TaskState::Finished;
    m.status_from_agent(now, AGENT_CONN, fw.clone(), st);
    assert!(m.agents[&agent].used.is_empty());
}

#[test]
fn unknown_offer_drops_tasks_and_foreign_offer_is_rejected() {
    let (mut m, mut now, agent, fw, offer) = setup();
    // A second framework cannot use the first one's offer.
    let other = subscribe(&mut m, now, 101, FrameworkInfo::new("other", "root"));
    let out = m.handle(
        now,
        Input::Scheduler {
            conn: 101,
            call: SchedulerCall::Accept {
                framework_id: other,
                offer_ids: vec![offer.id.clone()],
                operations: vec![Operation::Launch {
                    tasks: vec![task("x", &agent, "cpus:1")],
                }],
                filters: Filters::default(),
            },
        },
    );
    assert!(out.iter().any(|c| matches!(
        c,
        Command::ToScheduler {
            event: SchedulerEvent::Rejected { .. },
            ..
        }
    )));
    assert_eq!(updates_in(&out)[0].state, TaskState::Dropped);
    // The rightful owner still has it.
    let out = accept(&mut m, now, &fw, &offer, vec![task("t1", &agent, "cpus:1")]);
    assert!(updates_in(&out).is_empty());
    // Using it twice: dropped.
    now += Duration::from_millis(1);
    let out = accept(&mut m, now, &fw, &offer, vec![task("t2", &agent, "cpus:1")]);
    let u = updates_in(&out);
    assert_eq!(u[0].state, TaskState::Dropped);
    assert_eq!(u[0].reason, Some(TaskStatusReason::InvalidOffers));
}

#[test]
fn invalid_tasks_get_task_error_with_reason() {
    let (mut m, now, agent, fw, offer) = setup();
    let mut no_cmd = task("nocmd", &agent, "cpus:1");
    no_cmd.command = None;
    let out = accept(
        &mut m,
        now,
        &fw,
        &offer,
        vec![
            task("big", &agent, "cpus:64"),
            task("dup", &agent, "cpus:1"),
            task("dup", &agent, "cpus:1"),
            no_cmd,
        ],
    );
    let u = updates_in(&out);
    assert_eq!(u.len(), 3, "{u:?}");
    assert!(u.iter().all(|s| s.state == TaskState::Error));
    assert!(u[0].message.as_deref().unwrap().contains("needs cpus:64"));
    assert!(u[1].message.as_deref().unwrap().contains("already in use"));
    assert!(u[2]
        .message
        .as_deref()
        .unwrap()
        .contains("neither a command"));
}

#[test]
fn calls_for_unknown_framework_are_rejected() {
    let mut m = master();
    let out = m.handle(
        Instant::now(),
        Input::Scheduler {
            conn: 7,
            call: SchedulerCall::Revive {
                framework_id: "nope".into(),
                roles: vec![],
            },
        },
    );
    match first_msg(&out) {
        Command::ToScheduler {
            event: SchedulerEvent::Rejected { call, message },
            ..
        } => {
            assert_eq!(call, "REVIVE");
            assert!(message.contains("unknown framework nope"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn decline_filter_holds_for_refuse_seconds() {
    let (mut m, mut now, _agent, fw, offer) = setup();
    m.handle(
        now,
        Input::Scheduler {
            conn: FW_CONN,
            call: SchedulerCall::Decline {
                framework_id: fw.clone(),
                offer_ids: vec![offer.id.clone()],
                filters: Filters {
                    refuse_seconds: 5.0,
                },
            },
        },
    );
    assert!(offers_in(&settle(&mut m, &mut now)).is_empty());
    now += Duration::from_secs(4);
    assert!(offers_in(&m.handle(now, Input::Tick)).is_empty());
    now += Duration::from_millis(1100);
    assert!(m.next_deadline().is_some_and(|d| d <= now));
    assert_eq!(offers_in(&m.handle(now, Input::Tick)).len(), 1);
}

#[test]
fn suppress_and_revive() {
    let (mut m, mut now, _agent, fw, offer) = setup();
    m.handle(
        now,
        Input::Scheduler {
            conn: FW_CONN,
            call: SchedulerCall::Suppress {
                framework_id: fw.clone(),
                roles: vec![],
            },
        },
    );
    m.handle(
        now,
        Input::Scheduler {
            conn: FW_CONN,
            call: SchedulerCall::Decline {
                framework_id: fw.clone(),
                offer_ids: vec![offer.id.clone()],
                filters: Filters {
                    refuse_seconds: 0.0,
                },
            },
        },
    );
    assert!(offers_in(&settle(&mut m, &mut now)).is_empty());
    m.handle(
        now,
        Input::Scheduler {
            conn: FW_CONN,
            call: SchedulerCall::Revive {
                framework_id: fw.clone(),
                roles: vec![],
            },
        },
    );
    assert_eq!(offers_in(&settle(&mut m, &mut now)).len(), 1);
}

#[test]
fn reservation_offered_only_to_its_role() {
    let mut m = master();
    let mut now = Instant::now();
    register_agent(&mut m, now, AGENT_CONN, "cpus:2;mem:1024;cpus(analytics):2");
    let mut plain = FrameworkInfo::new("plain", "root");
    plain.roles = vec!["web".into()];
    subscribe(&mut m, now, FW_CONN, plain);
    let offers = offers_in(&settle(&mut m, &mut now));
    assert_eq!(offers.len(), 1);
    assert!(offers[0].resources.reserved("analytics").is_empty());
    let mut analytics = FrameworkInfo::new("a", "root");
    analytics.roles = vec!["analytics".into()];
    subscribe(&mut m, now, 101, analytics);
    let offers = offers_in(&settle(&mut m, &mut now));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources.to_string(), "cpus(analytics):2");
}

#[test]
fn kill_and_reconcile_of_unknown_tasks_are_answered() {
    let (mut m, now, _agent, fw, _offer) = setup();
    let out = m.handle(
        now,
        Input::Scheduler {
            conn: FW_CONN,
            call: SchedulerCall::Kill {
                framework_id: fw.clone(),
                task_id: "ghost".into(),
                agent_id: None,
                kill_policy: None,
            },
        },
    );
    assert_eq!(updates_in(&out)[0].state, TaskState::Lost);
    let out = m.handle(
        now,
        Input::Scheduler {
            conn: FW_CONN,
            call: SchedulerCall::Reconcile {
                framework_id: fw,
                tasks: vec![ReconcileTask {
                    task_id: "ghost".into(),
                    agent_id: None,
                }],
            },
        },
    );
    let u = updates_in(&out);
    assert_eq!(u[0].state, TaskState::Lost);
    assert_eq!(u[0].reason, Some(TaskStatusReason::Reconciliation));
}

#[test]
fn implicit_reconciliation_lists_all_tasks() {
    let (mut m, now, agent, fw, offer) = setup();
    accept(
        &mut m,
        now,
        &fw,
        &offer,
        vec![task("a", &agent, "cpus:1"), task("b", &agent, "cpus:1")],
    );
    let out = m.handle(
        now,
        Input::Scheduler {
            conn: FW_CONN,
            call: SchedulerCall::Reconcile {
                framework_id: fw,
                tasks: vec![],
            },
        },
    );
    let ids: Vec<_> = updates_in(&out)
        .iter()
        .map(|s| s.task_id.to_string())
        .collect();
    assert_eq!(ids, vec!["a", "b"]);
}

#[test]
fn silent_agent_becomes_unreachable_and_tasks_are_reported() {
    let (mut m, mut now, agent, _fw, offer) = setup();
    let mut aware = FrameworkInfo::new("aware", "root");
    aware.capabilities = vec![FrameworkCapability::PartitionAware];
    let fw = m.frameworks.keys().next().unwrap().clone();
    accept(&mut m, now, &fw, &offer, vec![task("t", &agent, "cpus:1")]);
    let mut lost = Vec::new();
    let deadline = now + Duration::from_secs(3);
    while now < deadline && lost.is_empty() {
        now = m.next_deadline().unwrap().max(now);
        lost = updates_in(&m.handle(now, Input::Tick));
    }
    assert_eq!(lost[0].state, TaskState::Lost);
    assert_eq!(lost[0].reason, Some(TaskStatusReason::AgentUnreachable));
    assert!(
        now <= deadline,
        "declared unreachable only at {:?}",
        deadline - now
    );
    // It comes back: re-registers with its id.
    let mut info = agent_info("cpus:4;mem:4096");
    info.id = Some(agent.clone());
    let out = m.handle(
        now,
        Input::Agent {
            conn: 2,
            msg: AgentToMaster::Reregister {
                agent: info,
                frameworks: vec![],
                tasks: vec![],
            },
        },
    );
    assert!(matches!(
        first_msg(&out),
        Command::ToAgent {
            msg: MasterToAgent::Reregistered { .. },
            ..
        }
    ));
    let _ = aware;
}

#[test]
fn framework_failover_and_timeout() {
    let (mut m, mut now, agent, fw, offer) = setup();
    accept(&mut m, now, &fw, &offer, vec![task("t", &agent, "cpus:1")]);
    m.frameworks.get_mut(&fw).unwrap().info.failover_timeout = Duration::from_secs(10);
    m.handle(now, Input::SchedulerDisconnected { conn: FW_CONN });
    // Re-subscribe within the timeout: same framework, task still there.
    now += Duration::from_secs(5);
    let mut info = FrameworkInfo::new("fw", "root");
    info.id = Some(fw.clone());
    info.failover_timeout = Duration::from_secs(10);
    assert_eq!(subscribe(&mut m, now, 200, info), fw);
    assert!(m.frameworks[&fw].tasks.contains_key(&TaskId::from("t")));
    // Disconnect again and let the timeout pass: the framework's tasks are shut down.
    m.handle(now, Input::SchedulerDisconnected { conn: 200 });
    now += Duration::from_secs(11);
    let out = m.handle(now, Input::Tick);
    assert!(out.iter().any(|c| matches!(
        c,
        Command::ToAgent {
            msg: MasterToAgent::ShutdownFramework { .. },
            ..
        }
    )));
    assert!(!m.frameworks.contains_key(&fw));
    assert!(m.agents[&agent].used.is_empty());
    // A removed framework cannot come back.
    let mut info = FrameworkInfo::new("fw", "root");
    info.id = Some(fw);
    let out = m.handle(
        now,
        Input::Scheduler {
            conn: 300,
            call: SchedulerCall::Subscribe {
                framework_info: info,
            },
        },
    );
    assert!(matches!(
        &out[0],
        Command::ToScheduler {
            event: SchedulerEvent::Error { .. },
            ..
        }
    ));
}

/// An agent whose Docker engine went away re-registers without `docker`: the master
/// keeps the new description, rescinds the offer that carried the old one, offers
/// again with the new attributes, and refuses DOCKER tasks with a reason naming both.
#[test]
fn reregistration_with_changed_containerizers_replaces_offers() {
    let (mut m, mut now, agent, fw, offer) = setup();
    let mut info = agent_info("cpus:4;mem:4096");
    info.id = Some(agent.clone());
    info.containerizers = vec!["native".into()];
    info.attributes = vec![drover_proto::Attribute {
        name: "containerizers".into(),
        value: drover_proto::AttributeValue::Text("native".into()),
    }];
    let out = m.handle(
        now,
        Input::Agent {
            conn: AGENT_CONN,
            msg: AgentToMaster::Reregister {
                agent: info,
                frameworks: vec![],
                tasks: vec![],
            },
        },
    );
    assert!(
        out.iter().any(|c| matches!(c,
            Command::ToScheduler { event: SchedulerEvent::Rescind { offer_id }, .. } if *offer_id == offer.id)),
        "{out:?}"
    );
    assert_eq!(m.agents[&agent].info.containerizers, vec!["native"]);
    let offers = offers_in(&settle(&mut m, &mut now));
    assert_eq!(offers.len(), 1);
    assert_eq!(
        drover_proto::format_attributes(&offers[0].attributes),
        "containerizers:native"
    );
    let mut t = task("d", &agent, "cpus:1");
    t.container = Some(drover_proto::ContainerInfo {
        kind: drover_proto::ContainerType::Docker,
        docker: Some(drover_proto::DockerInfo {
            image: "busybox".into(),
            ..Default::default()
        }),
        mesos: None,
        volumes: vec![],
        hostname: None,
    });
    let updates = updates_in(&accept(&mut m, now, &fw, &offers[0], vec![t]));
    assert_eq!(updates[0].state, TaskState::Error);
    let msg = updates[0].message.clone().unwrap_or_default();
    assert!(msg.contains("docker") && msg.contains("native"), "{msg}");
}
