//! An agent with the mock containerizer, driven by a fake master on the real QUIC
//! transport: registration, RunTask, updates with acknowledgements, kills, and the HTTP
//! API (`/state`, `/health`, `/metrics`, `/files/read` with path escapes).

mod common;

use common::{eventually, http_get, task, Dirs, FakeMaster};
use drover_agent::{Agent, AgentConfig, AgentExit, AgentHandle, ContainerizerKind};
use drover_proto::{AgentToMaster, MasterToAgent, Resources, TaskState};
use std::time::Duration;

async fn start_agent(dirs: &Dirs, master: &FakeMaster) -> AgentHandle {
    let mut config = AgentConfig::new(vec![master.addr().to_string()], &dirs.work, &dirs.tls);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.http_listen = "127.0.0.1:0".parse().unwrap();
    config.containerizers = vec![ContainerizerKind::Mock];
    config.resources = Some(Resources::parse("cpus:4;mem:4096;disk:1000").unwrap());
    config.set_attributes("rack:r1").unwrap();
    config.mock.run_for = Duration::from_millis(300);
    config.mock.stdout = Some("hello from mock\n".into());
    config.mock_sandboxes = true;
    config.executor_binary = Some("/bin/true".into());
    Agent::start(config).await.expect("agent starts")
}

#[actix_rt::test]
async fn mock_tasks_run_and_report_through_a_real_master_connection() {
    let dirs = Dirs::new();
    let mut master = FakeMaster::start(&dirs);
    let agent = start_agent(&dirs, &master).await;

    let info = master.register().await;
    assert_eq!(info.id, None);
    assert_eq!(info.containerizers, vec!["mock".to_owned()]);
    assert_eq!(info.resources.cpus().milli(), 4000);
    assert_eq!(info.resources.ports().len(), 1, "default ports are added");
    assert_eq!(info.http_port, agent.http_addr().port());
    master.send(MasterToAgent::Ping);
    loop {
        match master.recv().await {
            AgentToMaster::Pong => break,
            AgentToMaster::Register { .. } => {} // a retry that crossed Registered
            other => panic!("expected Pong, got {other:?}"),
        }
    }

    // A task that finishes.
    master.run(task("ok", &[]));
    let starting = master.expect("ok", TaskState::Starting).await;
    assert_eq!(starting.agent_id, Some("agent-1".into()));
    master.expect("ok", TaskState::Running).await;
    master.expect("ok", TaskState::Finished).await;

    // A task that fails with exit code 3 (a task label overrides the agent's mock spec).
    master.run(task("bad", &[("mock.exit_code", "3")]));
    master.expect("bad", TaskState::Starting).await;
    master.expect("bad", TaskState::Running).await;
    let failed = master.expect("bad", TaskState::Failed).await;
    assert!(failed.message.unwrap_or_default().contains('3'));

    // A long task, inspected over HTTP, then killed.
    master.run(task("long", &[("mock.run_for", "1h")]));
    master.expect("long", TaskState::Starting).await;
    master.expect("long", TaskState::Running).await;

    let (code, body) = http_get(agent.http_addr(), "/state").await;
    assert_eq!(code, 200, "{body}");
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["id"], "agent-1");
    assert_eq!(state["attributes"]["rack"], "r1");
    assert_eq!(state["registered"], true);
    let executor = &state["frameworks"][0]["executors"][0];
    assert_eq!(executor["id"], "long");
    assert_eq!(executor["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(state["used_resources"]["cpus"], 0.1);
    assert_eq!(http_get(agent.http_addr(), "/health").await.0, 200);
    let (code, metrics) = http_get(agent.http_addr(), "/metrics").await;
    assert_eq!(code, 200);
    assert!(metrics.contains("drover_agent_registered 1"), "{metrics}");
    assert!(
        metrics.contains("drover_agent_tasks{state=\"TASK_RUNNING\"} 1"),
        "{metrics}"
    );

    // Sandbox files: readable inside, refused outside.
    let runs = dirs.work.join("frameworks/fw-1/executors/long/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let stdout = run.join("stdout");
    let url = format!("/files/read?path={}&offset=0", stdout.display());
    let (code, body) = http_get(agent.http_addr(), &url).await;
    assert_eq!(code, 200, "{body}");
    let chunk: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(chunk["data"], "hello from mock\n");
    assert_eq!(chunk["offset"], 0);
    let key = dirs.tls.join("agent.key");
    std::os::unix::fs::symlink(&key, run.join("key")).unwrap();
    let escapes = [
        format!("{}/key", run.display()),
        format!("{}/../../../../../../../tls/agent.key", run.display()),
        "../../tls/agent.key".to_owned(),
        key.display().to_string(),
    ];
    for path in escapes {
        let url = format!("/files/read?path={path}&offset=0");
        let (code, body) = http_get(agent.http_addr(), &url).await;
        assert_eq!(code, 403, "{path}: {body}");
        assert!(!body.contains("PRIVATE KEY"));
    }
    let (code, _) = http_get(agent.http_addr(), "/files/read?path=nope&offset=0").await;
    assert_eq!(code, 404);

    master.send(MasterToAgent::KillTask {
        framework_id: "fw-1".into(),
        task_id: "long".into(),
        kill_policy: None,
    });
    master.expect("long", TaskState::Killed).await;

    // Killing an unknown task answers TASK_LOST.
    master.send(MasterToAgent::KillTask {
        framework_id: "fw-1".into(),
        task_id: "ghost".into(),
        kill_policy: None,
    });
    master.expect("ghost", TaskState::Lost).await;

    // Everything acknowledged: nothing pending, nothing left but completed tasks.
    let done = eventually("the agent to forget acknowledged tasks", || async {
        let s = agent.state().await.unwrap();
        (s.frameworks.is_empty() && s.status_updates_pending == 0).then_some(s)
    })
    .await;
    assert_eq!(done.completed_tasks.len(), 3);
    assert_eq!(agent.shutdown().await, AgentExit::Stopped);
}

#[actix_rt::test]
async fn a_refused_agent_stops() {
    let dirs = Dirs::new();
    let mut master = FakeMaster::start(&dirs);
    let mut agent = start_agent(&dirs, &master).await;
    assert!(matches!(
        master.recv().await,
        AgentToMaster::Register { .. }
    ));
    master.send(MasterToAgent::Refused {
        reason: "agent removed".into(),
    });
    let exit = tokio::time::timeout(common::WAIT, agent.wait())
        .await
        .expect("agent stops");
    assert_eq!(exit, AgentExit::Refused("agent removed".into()));
}
