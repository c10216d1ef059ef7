//! The composing containerizer: routing by kind and by NotSupported, ownership, and
//! the conformance suite through it (commands reach posix, mock specs reach mock).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use drover_containerizers::suite::{self, Target, Workload};
use drover_containerizers::{
    Command, ComposingContainerizer, ContainerConfig, ContainerId, Containerizer,
    ContainerizerError, LaunchResult, MockContainerizer, MockSpec, PosixContainerizer,
    TerminationReason,
};

fn build(dir: &Path) -> Result<ComposingContainerizer, ContainerizerError> {
    let posix = PosixContainerizer::new(dir.join("posix"))?;
    Ok(ComposingContainerizer::new(vec![
        Arc::new(posix),
        Arc::new(MockContainerizer::new()),
    ]))
}

#[tokio::test]
async fn conformance_suite_with_commands() {
    suite::test_all(&Target::new(build, Workload::as_command))
        .await
        .assert_passed();
}

#[tokio::test]
async fn conformance_suite_with_mock_specs() {
    suite::test_all(&Target::new(build, Workload::as_mock))
        .await
        .assert_passed();
}

fn mock_config(exit_code: i32) -> ContainerConfig {
    let spec = MockSpec {
        run_for: Duration::from_millis(10),
        exit_code,
        ..MockSpec::default()
    };
    ContainerConfig::mock(spec, "/nonexistent")
}

#[tokio::test]
async fn routes_by_kind_and_by_not_supported() {
    let dir = tempfile::tempdir().unwrap();
    let c = build(dir.path()).unwrap();
    assert_eq!(c.member_names(), ["posix", "mock"]);
    c.recover(&[]).await.unwrap();

    // No kind: posix declines the mock spec, mock takes it.
    let LaunchResult::Launched(h) = c.launch(&"m".into(), mock_config(5)).await.unwrap() else {
        panic!()
    };
    assert_eq!(h.containerizer, "mock");
    assert_eq!(c.wait(&"m".into()).await.unwrap().status, Some(5));

    // A command goes to posix.
    let cmd = ContainerConfig::new(Command::Shell("exit 6".into()), dir.path().join("s"));
    let LaunchResult::Launched(h) = c.launch(&"p".into(), cmd.clone()).await.unwrap() else {
        panic!()
    };
    assert_eq!(h.containerizer, "posix");
    assert_eq!(c.wait(&"p".into()).await.unwrap().status, Some(6));

    // Asked by name: only that one; the mock cannot run a command.
    let mut to_mock = cmd.clone();
    to_mock.kind.containerizer = Some("mock".into());
    let r = c.launch(&"q".into(), to_mock).await.unwrap();
    assert!(
        matches!(r, LaunchResult::NotSupported { ref reason } if reason.contains("MockSpec")),
        "{r:?}"
    );

    // A containerizer this agent lacks: a clear error.
    let mut to_docker = cmd;
    to_docker.kind.containerizer = Some("docker".into());
    let err = c.launch(&"d".into(), to_docker).await.unwrap_err();
    assert!(
        err.to_string().contains("docker") && err.to_string().contains("posix, mock"),
        "{err}"
    );

    // Ids are unique across members; a failed launch frees the id.
    let err = c.launch(&"m".into(), mock_config(0)).await.unwrap_err();
    assert!(
        matches!(err, ContainerizerError::AlreadyExists { .. }),
        "{err}"
    );
    assert!(c.launch(&"q".into(), mock_config(0)).await.is_ok());

    for id in ["m", "p", "q"] {
        c.destroy(&id.into()).await.unwrap();
    }
}

#[tokio::test]
async fn recovery_routes_handles_and_reports_disabled_containerizers() {
    let dir = tempfile::tempdir().unwrap();
    let first = build(dir.path()).unwrap();
    first.recover(&[]).await.unwrap();
    let mut spec = mock_config(0);
    if let Some(m) = spec.mock.as_mut() {
        m.run_for = Duration::from_secs(60);
    }
    let LaunchResult::Launched(hm) = first.launch(&"m".into(), spec).await.unwrap() else {
        panic!()
    };
    let cmd = ContainerConfig::new(Command::Shell("sleep 60".into()), dir.path().join("s"));
    let LaunchResult::Launched(hp) = first.launch(&"p".into(), cmd).await.unwrap() else {
        panic!()
    };
    let mut foreign = hp.clone();
    foreign.id = ContainerId::new("d");
    foreign.containerizer = "docker".into();
    drop(first);

    let second = build(dir.path()).unwrap();
    let r = second.recover(&[hm, hp, foreign]).await.unwrap();
    let mut running: Vec<&str> = r.running.iter().map(|h| h.id.as_str()).collect();
    running.sort();
    assert_eq!(running, ["m", "p"]);
    assert_eq!(r.gone.len(), 1);
    assert_eq!(r.gone[0].0.as_str(), "d");
    assert_eq!(r.gone[0].1.reason, TerminationReason::Unknown);
    assert!(r.gone[0].1.message.contains("docker"));
    for id in ["m", "p"] {
        assert_eq!(
            second.destroy(&id.into()).await.unwrap().reason,
            TerminationReason::Killed
        );
    }
}
