//! The command executor's shell running DOCKER tasks on the real engine (skipped
//! without one unless `DROVER_REQUIRE_ALL=1`): updates, exit code, logs, OOM, kill.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use drover_containerizer_docker::test_image::{engine_for_tests, TEST_IMAGE};
use drover_proto::{
    AgentId, CommandInfo, ContainerInfo, ContainerType, DockerInfo, Parameter, Resources, TaskId,
    TaskInfo, TaskState, TaskStatus, TaskStatusReason,
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

fn task(script: &str, resources: &str, parameters: Vec<Parameter>) -> TaskInfo {
    let mut t = TaskInfo::command(
        "docker-task",
        AgentId::new("a1"),
        resources.parse::<Resources>().expect("resources"),
        CommandInfo::shell(script),
    );
    t.container = Some(ContainerInfo {
        kind: ContainerType::Docker,
        docker: Some(DockerInfo {
            image: TEST_IMAGE.into(),
            parameters,
            ..DockerInfo::default()
        }),
        mesos: None,
        volumes: Vec::new(),
        hostname: None,
    });
    t
}

/// Runs `task` through a shell; `kill_after`: kill it then. Returns every update.
async fn run(task: TaskInfo, sandbox: &Path, kill_after: Option<Duration>) -> Vec<TaskStatus> {
    let ctx = DockerContext {
        socket: drover_containerizer_docker::DEFAULT_SOCKET.into(),
        container_id: format!("sdk-test-{}", std::process::id()),
        agent_id: "a1".into(),
        framework_id: "f1".into(),
        scope: Some("drover-sdk-tests".into()),
    };
    let (tx, rx) = std_mpsc::channel();
    let shell =
        Shell::new(Recorder(tx), sandbox.to_owned(), Duration::from_millis(50)).with_docker(ctx);
    let (inputs, input_rx) = unbounded_channel();
    let running = tokio::spawn(shell.run(input_rx));
    let task_id: TaskId = task.task_id.clone();
    inputs.send(Input::Launch(task)).expect("shell runs");
    if let Some(after) = kill_after {
        tokio::time::sleep(after).await;
        inputs
            .send(Input::Kill {
                task_id,
                kill_policy: None,
            })
            .expect("shell runs");
    }
    let code = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the executor exits")
        .expect("no panic");
    assert_eq!(code, 0);
    rx.try_iter().collect()
}

fn states(updates: &[TaskStatus]) -> Vec<TaskState> {
    updates.iter().map(|u| u.state).collect()
}

#[tokio::test]
async fn docker_task_reports_its_exit_code_and_logs() {
    if engine_for_tests().await.is_none() {
        return;
    }
    let sandbox = tempfile::tempdir().expect("tempdir");
    let updates = run(
        task("echo hi; exit 3", "cpus:0.1;mem:32", vec![]),
        sandbox.path(),
        None,
    )
    .await;
    assert_eq!(
        states(&updates),
        [TaskState::Starting, TaskState::Running, TaskState::Failed]
    );
    let last = updates.last().expect("updates");
    assert!(
        last.message.as_deref().unwrap_or("").contains("status 3"),
        "{last:?}"
    );
    let out = std::fs::read_to_string(sandbox.path().join("stdout")).expect("stdout");
    assert_eq!(out, "hi\n");
}

#[tokio::test]
async fn a_docker_task_without_a_command_runs_the_containers_default() {
    if engine_for_tests().await.is_none() {
        return;
    }
    let sandbox = tempfile::tempdir().expect("tempdir");
    // No command: what runs is the image's default, here set by the entrypoint flag.
    let entrypoint = vec![Parameter::new("entrypoint", "/bin/echo default-cmd")];
    let mut t = task("unused", "cpus:0.1;mem:32", entrypoint);
    t.command = None;
    let updates = run(t, sandbox.path(), None).await;
    assert_eq!(
        states(&updates),
        [TaskState::Starting, TaskState::Running, TaskState::Finished]
    );
    let out = std::fs::read_to_string(sandbox.path().join("stdout")).expect("stdout");
    assert_eq!(out, "default-cmd\n");
}

#[tokio::test]
async fn oom_kill_is_a_memory_limitation() {
    if engine_for_tests().await.is_none() {
        return;
    }
    let sandbox = tempfile::tempdir().expect("tempdir");
    let script = "x=$(head -c 268435456 /dev/zero | tr '\\0' a); echo survived";
    let swap = vec![Parameter::new("memory-swap", "32m")];
    let updates = run(task(script, "cpus:0.1;mem:32", swap), sandbox.path(), None).await;
    let last = updates.last().expect("updates");
    assert_eq!(last.state, TaskState::Failed, "{updates:?}");
    assert_eq!(
        last.reason,
        Some(TaskStatusReason::ContainerLimitationMemory)
    );
}

#[tokio::test]
async fn kill_ends_killed_and_a_missing_image_fails_naming_it() {
    if engine_for_tests().await.is_none() {
        return;
    }
    let sandbox = tempfile::tempdir().expect("tempdir");
    let mut t = task("sleep 60", "cpus:0.1;mem:32", vec![]);
    t.kill_policy = Some(drover_proto::KillPolicy {
        grace_period: Duration::from_millis(500),
    });
    let updates = run(t, sandbox.path(), Some(Duration::from_secs(2))).await;
    assert_eq!(
        states(&updates),
        [TaskState::Starting, TaskState::Running, TaskState::Killed]
    );

    let mut t = task("true", "cpus:0.1;mem:32", vec![]);
    if let Some(d) = t.container.as_mut().and_then(|c| c.docker.as_mut()) {
        d.image = "127.0.0.1:1/drover-missing:none".into();
    }
    let updates = run(t, sandbox.path(), None).await;
    let last = updates.last().expect("updates");
    assert_eq!(last.state, TaskState::Failed);
    assert_eq!(last.reason, Some(TaskStatusReason::ContainerLaunchFailed));
    assert!(
        last.message
            .as_deref()
            .unwrap_or("")
            .contains("drover-missing"),
        "{last:?}"
    );
}
