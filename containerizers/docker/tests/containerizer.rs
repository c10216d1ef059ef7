//! DockerContainerizer on the real engine: the conformance suite (the executor runs as
//! a host process), usage, update and destroy covering the container's Docker containers, recover
//! removing orphans of its own scope only.

mod common;

use std::path::Path;
use std::time::Duration;

use drover_containerizer_docker::spec::LABEL_CONTAINER_ID;
use drover_containerizer_docker::{
    DockerContainerizer, DockerRunSpec, DockerRunner, DroverIds, RunCommand, NAME,
};
use drover_containerizers::suite::{self, Target, Workload};
use drover_containerizers::{Command, ContainerConfig, ContainerId, Containerizer, LaunchResult};

/// Workloads as host commands, asking for the docker containerizer.
fn express(workload: &Workload, sandbox: &Path) -> Option<ContainerConfig> {
    let mut config = Workload::as_command(workload, sandbox)?;
    config.kind.containerizer = Some(NAME.into());
    Some(config)
}

#[tokio::test]
async fn conformance_suite() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let build = move |dir: &Path| DockerContainerizer::new(dir, runner.clone());
    suite::test_all(&Target::new(build, express))
        .await
        .assert_passed();
}

fn labelled(id: &str, scope: &str) -> DockerRunSpec {
    DockerRunSpec {
        image: common::IMAGE.into(),
        command: Some(RunCommand::Shell("sleep 60".into())),
        ids: DroverIds {
            container_id: id.into(),
            scope: Some(scope.into()),
            ..DroverIds::default()
        },
        ..DockerRunSpec::default()
    }
}

async fn containers_of(runner: &DockerRunner, id: &str) -> usize {
    runner
        .list_labelled(LABEL_CONTAINER_ID)
        .await
        .unwrap()
        .iter()
        .filter(|(_, l)| l.get(LABEL_CONTAINER_ID).map(String::as_str) == Some(id))
        .count()
}

#[tokio::test]
async fn usage_update_and_destroy_cover_the_containers_docker_containers() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let sandbox = tempfile::tempdir().unwrap();
    let c = DockerContainerizer::new(state.path(), runner.clone()).unwrap();
    c.recover(&[]).await.unwrap();
    let id = ContainerId::new(format!("destroy-{}", std::process::id()));
    let mut config = ContainerConfig::new(Command::Shell("sleep 60".into()), sandbox.path());
    config.kind.containerizer = Some(NAME.into());
    let LaunchResult::Launched(handle) = c.launch(&id, config).await.unwrap() else {
        panic!("not launched");
    };
    assert_eq!(handle.containerizer, NAME);
    let mut s = labelled(id.as_str(), c.scope());
    s.cpus = 0.5;
    s.mem_bytes = 64 << 20;
    let out = sandbox.path().join("stdout");
    runner.run(&s, &out, &out).await.unwrap();
    assert_eq!(containers_of(&runner, id.as_str()).await, 1);
    // Usage covers the task's container: its limits and its processes.
    let usage = c.usage(&id).await.unwrap();
    assert_eq!(usage.cpus_limit, Some(0.5), "{usage:?}");
    assert_eq!(usage.mem_limit_bytes, Some(64 << 20), "{usage:?}");
    assert!(usage.processes >= 2, "executor + container: {usage:?}");
    let limits = drover_containerizers::Limits {
        cpus: 1.0,
        mem_bytes: 128 << 20,
        pids: None,
    };
    c.update(&id, limits).await.unwrap();
    let usage = c.usage(&id).await.unwrap();
    assert_eq!(usage.cpus_limit, Some(1.0), "{usage:?}");
    assert_eq!(usage.mem_limit_bytes, Some(128 << 20), "{usage:?}");
    let t = tokio::time::timeout(Duration::from_secs(20), c.destroy(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.reason, drover_containerizers::TerminationReason::Killed);
    assert_eq!(containers_of(&runner, id.as_str()).await, 0);
}

#[tokio::test]
async fn launch_only_for_docker_kind() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let c = DockerContainerizer::new(state.path(), runner).unwrap();
    c.recover(&[]).await.unwrap();
    let config = ContainerConfig::new(Command::Shell("true".into()), state.path());
    let answer = c.launch(&ContainerId::new("x"), config).await.unwrap();
    assert!(
        matches!(answer, LaunchResult::NotSupported { .. }),
        "{answer:?}"
    );
}

#[tokio::test]
async fn recover_removes_orphans_of_its_scope_only() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let out = logs.path().join("out");
    let c = DockerContainerizer::new(state.path(), runner.clone()).unwrap();
    let pid = std::process::id();
    let orphan = format!("orphan-{pid}");
    let foreign = format!("foreign-{pid}");
    runner
        .run(&labelled(&orphan, c.scope()), &out, &out)
        .await
        .unwrap();
    let other = runner
        .run(&labelled(&foreign, "another-agent"), &out, &out)
        .await
        .unwrap();
    let recovered = c.recover(&[]).await.unwrap();
    assert!(
        recovered
            .orphans_destroyed
            .contains(&ContainerId::new(orphan.clone())),
        "{recovered:?}"
    );
    assert_eq!(containers_of(&runner, &orphan).await, 0);
    assert_eq!(
        containers_of(&runner, &foreign).await,
        1,
        "another scope was touched"
    );
    runner.remove(&other.id).await.unwrap();
}
