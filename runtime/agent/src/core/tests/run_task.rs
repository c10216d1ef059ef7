//! RunTask → sandbox → container → Subscribe → Launch, and the ways it is refused.

use super::*;
use drover_proto::executor_env as env;
use drover_proto::{ContainerInfo, ContainerType, ExecutorInfo, TaskStatusReason};

fn container(kind: ContainerType) -> ContainerInfo {
    ContainerInfo {
        kind,
        docker: None,
        mesos: None,
        volumes: vec![],
        hostname: None,
    }
}

fn env_of<'a>(spec: &'a LaunchSpec, key: &str) -> Option<&'a str> {
    spec.command
        .environment
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

#[test]
fn a_command_task_launches_the_command_executor_in_a_fresh_sandbox() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix, ContainerizerKind::Mock]);
    let cmds = b.run(command_task("t1"));
    let specs = launches(&cmds);
    assert_eq!(specs.len(), 1, "{cmds:?}");
    let spec = &specs[0];
    assert_eq!(spec.containerizer, ContainerizerKind::Posix);
    assert_eq!(spec.executor_id, "t1".into());
    let sandbox = format!(
        "/var/drover/frameworks/fw-1/executors/t1/runs/{}",
        spec.container_id
    );
    assert_eq!(
        spec.sandbox.as_deref(),
        Some(std::path::Path::new(&sandbox))
    );
    assert_eq!(spec.command.value.as_deref(), Some("/usr/bin/drover"));
    assert_eq!(spec.command.arguments, vec!["/usr/bin/drover", "executor"]);
    assert_eq!(env_of(spec, env::AGENT_ADDR), Some("127.0.0.1:5051"));
    assert_eq!(env_of(spec, env::AGENT_ID), Some("agent-1"));
    assert_eq!(env_of(spec, env::FRAMEWORK_ID), Some("fw-1"));
    assert_eq!(env_of(spec, env::EXECUTOR_ID), Some("t1"));
    assert_eq!(
        env_of(spec, env::CONTAINER_ID),
        Some(spec.container_id.as_str())
    );
    assert_eq!(env_of(spec, env::SANDBOX), Some(sandbox.as_str()));
    assert_eq!(env_of(spec, env::TLS_DIR), Some("/etc/drover/tls"));
    assert_eq!(env_of(spec, env::TLS_NAME), Some("executor"));
    assert_eq!(env_of(spec, env::RECOVERY_TIMEOUT), Some("900"));
    assert_eq!(spec.resources, Resources::parse("cpus:1;mem:128").unwrap());
    // No update before the executor says anything.
    assert!(updates(&cmds).is_empty());

    // The task waits until the executor subscribes, then is launched.
    assert!(b
        .input(Input::ContainerLaunched {
            container_id: spec.container_id.clone()
        })
        .is_empty());
    let cmds = b.subscribe(9, spec);
    let events = to_executors(&cmds);
    assert_eq!(events.len(), 2, "{cmds:?}");
    match &events[0] {
        (
            9,
            ExecutorEvent::Subscribed {
                executor_info,
                agent_id,
                container_id,
                framework_info,
            },
        ) => {
            assert_eq!(executor_info.executor_id, "t1".into());
            assert_eq!(agent_id, &"agent-1".into());
            assert_eq!(container_id, &spec.container_id);
            assert_eq!(framework_info.id, Some("fw-1".into()));
        }
        other => panic!("expected Subscribed, got {other:?}"),
    }
    assert_eq!(
        events[1],
        (
            9,
            ExecutorEvent::Launch {
                task: command_task("t1")
            }
        )
    );
}

#[test]
fn tasks_for_a_running_executor_are_launched_at_once_and_grow_its_container() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let mut task = command_task("t1");
    task.command = None;
    task.executor = Some(ExecutorInfo {
        executor_id: "ex".into(),
        framework_id: None,
        command: CommandInfo::shell("./my-executor"),
        container: None,
        resources: Resources::parse("cpus:0.1;mem:32").unwrap(),
        name: None,
    });
    let spec = launches(&b.run(task.clone())).remove(0);
    assert_eq!(spec.command.value.as_deref(), Some("./my-executor"));
    assert_eq!(
        spec.resources,
        Resources::parse("cpus:1.1;mem:160").unwrap()
    );
    b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    });
    b.subscribe(1, &spec);
    let mut t2 = task.clone();
    t2.task_id = "t2".into();
    let cmds = b.run(t2.clone());
    assert!(launches(&cmds).is_empty());
    assert_eq!(
        to_executors(&cmds),
        vec![(1, ExecutorEvent::Launch { task: t2 })]
    );
    assert!(cmds.contains(&Command::UpdateContainer {
        container_id: spec.container_id.clone(),
        containerizer: ContainerizerKind::Posix,
        resources: Resources::parse("cpus:2.1;mem:288").unwrap(),
    }));
}

#[test]
fn a_container_type_the_agent_lacks_is_a_task_error_naming_both() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix, ContainerizerKind::Mock]);
    let mut task = command_task("t1");
    task.container = Some(container(ContainerType::Docker));
    let cmds = b.run(task);
    assert!(launches(&cmds).is_empty());
    let ups = updates(&cmds);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].state, TaskState::Error);
    assert_eq!(ups[0].reason, Some(TaskStatusReason::TaskInvalid));
    assert_eq!(ups[0].source, TaskStatusSource::Agent);
    assert_eq!(ups[0].agent_id, Some("agent-1".into()));
    let msg = ups[0].message.clone().unwrap_or_default();
    assert!(
        msg.contains("docker") && msg.contains("posix,mock"),
        "{msg}"
    );
    assert!(ups[0].uuid.is_some());
}

#[test]
fn the_mesos_type_runs_on_posix_when_native_is_absent() {
    let mut b = Bench::registered(&[ContainerizerKind::Mock, ContainerizerKind::Posix]);
    let mut task = command_task("t1");
    task.container = Some(container(ContainerType::Mesos));
    let spec = launches(&b.run(task)).remove(0);
    assert_eq!(spec.containerizer, ContainerizerKind::Posix);
    // No type: the first containerizer of the agent.
    let spec = launches(&b.run(command_task("t2"))).remove(0);
    assert_eq!(spec.containerizer, ContainerizerKind::Mock);
}

#[test]
fn invalid_tasks_are_task_errors() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let mut neither = command_task("t1");
    neither.command = None;
    let escape = command_task("..");
    let slash = command_task("a/b");
    for task in [neither, escape, slash] {
        let cmds = b.run(task);
        assert!(launches(&cmds).is_empty());
        let ups = updates(&cmds);
        assert_eq!(ups.len(), 1, "{cmds:?}");
        assert_eq!(ups[0].state, TaskState::Error);
    }
}

#[test]
fn an_executor_that_never_subscribes_is_destroyed_and_its_tasks_fail() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    b.input(Input::ContainerLaunched {
        container_id: spec.container_id.clone(),
    });
    assert!(b.advance(Duration::from_secs(59)).is_empty());
    let cmds = b.advance(Duration::from_secs(1));
    assert_eq!(destroyed(&cmds), vec![spec.container_id.clone()]);
    let cmds = b.input(Input::ContainerExited {
        container_id: spec.container_id.clone(),
        exit: ContainerExit {
            code: None,
            signal: Some(9),
            cause: ExitCause::Destroyed,
            message: None,
        },
    });
    let ups = updates(&cmds);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].state, TaskState::Failed);
    assert_eq!(
        ups[0].reason,
        Some(TaskStatusReason::ExecutorRegistrationTimeout)
    );
}

#[test]
fn a_duplicate_run_task_is_ignored() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    assert_eq!(launches(&b.run(command_task("t1"))).len(), 1);
    assert!(b.run(command_task("t1")).is_empty());
}
