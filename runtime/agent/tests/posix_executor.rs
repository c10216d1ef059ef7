//! An agent with the posix containerizer launching a real executor process, with the
//! test playing that executor over QUIC (role executor): the environment contract,
//! Subscribe → Launch, updates and acknowledgements both ways, kills, and an executor
//! that dies with its task.

mod common;

use common::{eventually, task, Dirs, FakeMaster, WAIT};
use drover_agent::{Agent, AgentConfig, AgentHandle, ContainerizerKind};
use drover_proto::codec::Role;
use drover_proto::executor_env as env;
use drover_proto::{
    ExecutorCall, ExecutorEvent, MasterToAgent, TaskState, TaskStatus, TaskStatusReason,
    TaskStatusSource, UpdateUuid,
};
use drover_transport::{Link, LinkEvent, Node, NodeConfig, NodeIdentity};
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedReceiver;

/// Starts a posix agent whose "command executor" is `sh -c script`.
async fn start_agent(dirs: &Dirs, master: &FakeMaster, script: &str) -> AgentHandle {
    let mut config = AgentConfig::new(vec![master.addr().to_string()], &dirs.work, &dirs.tls);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.http_listen = "127.0.0.1:0".parse().unwrap();
    config.containerizers = vec![ContainerizerKind::Posix];
    config.resources = Some("cpus:2;mem:1024;disk:1000".parse().unwrap());
    config.executor_binary = Some("/bin/sh".into());
    config.executor_args = vec!["-c".into(), script.into()];
    Agent::start(config).await.expect("agent starts")
}

/// The sandbox and container of the executor of task `t1` once it is launched.
async fn launched(agent: &AgentHandle) -> (PathBuf, String) {
    eventually("the executor container", || async {
        let s = agent.state().await.unwrap();
        let ex = s.frameworks.first()?.executors.first()?.clone();
        Some((PathBuf::from(ex.directory?), ex.container_id?))
    })
    .await
}

/// The test's executor connection.
struct FakeExecutor {
    _node: Node,
    link: Link<ExecutorCall>,
    events: UnboundedReceiver<LinkEvent<ExecutorEvent>>,
}

impl FakeExecutor {
    fn connect(dirs: &Dirs, agent: &AgentHandle) -> Self {
        let identity = NodeIdentity::load(&dirs.tls, "executor").unwrap();
        let node = Node::new(NodeConfig::new(identity, "127.0.0.1:0".parse().unwrap())).unwrap();
        let (link, events) = node.connect_channel(agent.executor_addr(), Role::Agent);
        Self {
            _node: node,
            link,
            events,
        }
    }

    async fn next(&mut self) -> ExecutorEvent {
        loop {
            let ev = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("the agent told the executor nothing in time")
                .expect("link closed");
            match ev {
                LinkEvent::Message(m) => return m.msg,
                LinkEvent::Up(_) | LinkEvent::Down(_) => {}
            }
        }
    }

    fn update(&self, task: &str, state: TaskState, uuid: u8) -> UpdateUuid {
        let mut status = TaskStatus::new(task.into(), state, TaskStatusSource::Executor);
        status.uuid = Some(UpdateUuid([uuid; 16]));
        self.link.send(ExecutorCall::Update { status }).unwrap();
        UpdateUuid([uuid; 16])
    }
}

#[actix_rt::test]
async fn a_real_executor_process_gets_the_contract_and_its_task() {
    let dirs = Dirs::new();
    let mut master = FakeMaster::start(&dirs);
    let script = "env > \"$DROVER_SANDBOX/env.txt\"; exec sleep 60";
    let agent = start_agent(&dirs, &master, script).await;
    master.register().await;
    master.run(task("t1", &[]));
    let (sandbox, container_id) = launched(&agent).await;
    assert!(sandbox.starts_with(dirs.work.join("frameworks/fw-1/executors/t1/runs")));

    // The environment contract, as the executor process saw it.
    let env_file = sandbox.join("env.txt");
    let text = eventually("the executor to write its environment", || async {
        std::fs::read_to_string(&env_file)
            .ok()
            .filter(|t| t.contains("DROVER_TLS_NAME"))
    })
    .await;
    let vars: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(vars[env::AGENT_ADDR], agent.executor_addr().to_string());
    assert_eq!(vars[env::AGENT_ID], "agent-1");
    assert_eq!(vars[env::FRAMEWORK_ID], "fw-1");
    assert_eq!(vars[env::EXECUTOR_ID], "t1");
    assert_eq!(vars[env::CONTAINER_ID], container_id);
    assert_eq!(vars[env::SANDBOX], sandbox.display().to_string());
    assert_eq!(vars[env::TLS_DIR], dirs.tls.display().to_string());
    assert_eq!(vars[env::TLS_NAME], "executor");

    // Subscribe → Subscribed, then the queued task.
    let mut exec = FakeExecutor::connect(&dirs, &agent);
    exec.link
        .send(ExecutorCall::Subscribe {
            framework_id: "fw-1".into(),
            executor_id: "t1".into(),
            container_id: drover_proto::ContainerId(container_id.clone()),
            unacknowledged_tasks: vec![],
            unacknowledged_updates: vec![],
        })
        .unwrap();
    match exec.next().await {
        ExecutorEvent::Subscribed {
            agent_id,
            executor_info,
            ..
        } => {
            assert_eq!(agent_id, "agent-1".into());
            assert_eq!(executor_info.command.value.as_deref(), Some("/bin/sh"));
        }
        other => panic!("expected Subscribed, got {other:?}"),
    }
    match exec.next().await {
        ExecutorEvent::Launch { task } => assert_eq!(task.task_id, "t1".into()),
        other => panic!("expected Launch, got {other:?}"),
    }

    // Executor updates reach the master with the executor's uuid; acks come back.
    let uuid = exec.update("t1", TaskState::Running, 1);
    let running = master.expect("t1", TaskState::Running).await;
    assert_eq!(running.uuid, Some(uuid));
    assert_eq!(
        running.container_id.map(|c| c.0),
        Some(container_id.clone())
    );
    assert_eq!(
        exec.next().await,
        ExecutorEvent::Acknowledged {
            task_id: "t1".into(),
            uuid
        }
    );

    // A kill goes to the executor, which reports it.
    master.send(MasterToAgent::KillTask {
        framework_id: "fw-1".into(),
        task_id: "t1".into(),
        kill_policy: None,
    });
    assert!(matches!(exec.next().await, ExecutorEvent::Kill { .. }));
    let uuid = exec.update("t1", TaskState::Killed, 2);
    master.expect("t1", TaskState::Killed).await;
    assert_eq!(
        exec.next().await,
        ExecutorEvent::Acknowledged {
            task_id: "t1".into(),
            uuid
        }
    );
    agent.shutdown().await;
}

#[actix_rt::test]
async fn an_executor_that_dies_fails_its_task_and_is_reported() {
    let dirs = Dirs::new();
    let mut master = FakeMaster::start(&dirs);
    let agent = start_agent(&dirs, &master, "exit 7").await;
    master.register().await;
    master.run(task("t1", &[]));
    let failed = master.expect("t1", TaskState::Failed).await;
    assert_eq!(failed.reason, Some(TaskStatusReason::ExecutorTerminated));
    assert!(failed.message.unwrap_or_default().contains("status 7"));
    assert_eq!(master.executor_exit().await, ("t1".into(), Some(7)));
    let s = eventually("the dead executor to be forgotten", || async {
        let s = agent.state().await.unwrap();
        s.frameworks.is_empty().then_some(s)
    })
    .await;
    assert_eq!(s.completed_tasks[0].state, TaskState::Failed);
    agent.shutdown().await;
}
