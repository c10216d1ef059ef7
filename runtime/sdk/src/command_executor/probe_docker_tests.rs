//! Health checks of DOCKER tasks through the command executor's shell on the real
//! engine (skipped without one unless `DROVER_REQUIRE_ALL=1`): an HTTP check reaches a
//! server on the container's bridge network that no host port publishes, a COMMAND
//! check runs inside the container; both turn unhealthy when the task is told to stop
//! (a file in a bind-mounted directory) and the task ends TASK_KILLED with
//! `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`. The shell removes the container.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use drover_containerizer_docker::test_image::{engine_for_tests, TEST_IMAGE};
use drover_proto::{
    AgentId, CommandInfo, ContainerInfo, ContainerType, DockerInfo, DockerNetwork, HealthCheck,
    HealthCheckKind, KillPolicy, Resources, TaskInfo, TaskState, TaskStatus, TaskStatusReason,
    Volume, VolumeMode,
};
use tokio::sync::mpsc::unbounded_channel;

use super::super::core::Input;
use super::super::docker_spec::DockerContext;
use super::super::shell::{Outbox, Shell};

#[derive(Debug)]
struct Recorder(std_mpsc::Sender<TaskStatus>);

impl Outbox for Recorder {
    fn update(&self, status: TaskStatus) {
        let _ = self.0.send(status);
    }
    fn stop(&self) {}
}

async fn scenario(name: &str, script: &str, kind: HealthCheckKind) {
    if engine_for_tests().await.is_none() {
        return;
    }
    let sandbox = tempfile::tempdir().expect("sandbox");
    let trigger = tempfile::tempdir().expect("trigger dir");
    let mut task = TaskInfo::command(
        name,
        AgentId::new("a1"),
        "cpus:0.1;mem:64".parse::<Resources>().expect("resources"),
        CommandInfo::shell(format!(
            "{script} while [ ! -e /trigger/stop ]; do sleep 0.1; done; stop; exec sleep 300"
        )),
    );
    task.container = Some(ContainerInfo {
        kind: ContainerType::Docker,
        docker: Some(DockerInfo {
            image: TEST_IMAGE.into(),
            network: DockerNetwork::Bridge,
            ..DockerInfo::default()
        }),
        mesos: None,
        volumes: vec![Volume {
            container_path: "/trigger".into(),
            host_path: Some(trigger.path().display().to_string()),
            mode: VolumeMode::Ro,
        }],
        hostname: None,
    });
    task.health_check = Some(HealthCheck {
        kind,
        delay: Duration::ZERO,
        interval: Duration::from_millis(300),
        timeout: Duration::from_secs(3),
        consecutive_failures: 3,
        grace_period: Duration::from_secs(10),
    });
    task.kill_policy = Some(KillPolicy {
        grace_period: Duration::from_secs(1),
    });
    let ctx = DockerContext {
        socket: drover_containerizer_docker::DEFAULT_SOCKET.into(),
        container_id: format!("sdk-health-{name}-{}", std::process::id()),
        agent_id: "a1".into(),
        framework_id: "f1".into(),
        scope: Some("drover-sdk-tests".into()),
    };
    let (tx, rx) = std_mpsc::channel();
    let shell = Shell::new(
        Recorder(tx),
        sandbox.path().to_owned(),
        Duration::from_millis(50),
    )
    .with_docker(ctx);
    let (inputs, input_rx) = unbounded_channel();
    let running = tokio::spawn(shell.run(input_rx));
    inputs.send(Input::Launch(task)).expect("shell runs");

    let mut seen: Vec<TaskStatus> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|s| s.healthy == Some(true)) {
        assert!(Instant::now() < deadline, "never healthy: {seen:?}");
        seen.extend(rx.try_iter());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::write(trigger.path().join("stop"), "").expect("trigger");
    let code = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the executor exits")
        .expect("no panic");
    assert_eq!(code, 0);
    seen.extend(rx.try_iter());
    let health: Vec<(TaskState, Option<bool>)> = seen
        .iter()
        .filter(|s| s.reason == Some(TaskStatusReason::TaskHealthCheckStatusUpdated))
        .map(|s| (s.state, s.healthy))
        .collect();
    assert_eq!(
        health,
        vec![
            (TaskState::Running, Some(true)),
            (TaskState::Running, Some(false)),
            (TaskState::Killed, Some(false)),
        ],
        "{seen:?}"
    );
    let last = seen.last().expect("updates");
    assert!(
        last.message
            .as_deref()
            .is_some_and(|m| m.contains("failing 3 consecutive health checks")),
        "{last:?}"
    );
}

#[tokio::test]
async fn http_check_goes_through_the_containers_bridge_network() {
    scenario(
        "docker-http",
        "mkdir -p /www && echo ok > /www/index.html && { httpd -f -p 8080 -h /www & s=$!; }; \
         stop() { kill $s; };",
        HealthCheckKind::Http {
            port: 8080,
            path: "/index.html".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn command_check_runs_inside_the_container() {
    scenario(
        "docker-cmd",
        "touch /alive; stop() { rm /alive; };",
        HealthCheckKind::Command(CommandInfo::shell("test -e /alive")),
    )
    .await;
}
