//! The mock containerizer: the conformance suite, then its fault injection in virtual
//! time (paused tokio clock) and its launch rate.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use drover_containerizers::suite::{self, Target, Workload};
use drover_containerizers::{
    ContainerConfig, ContainerId, Containerizer, ContainerizerError, LaunchResult, Limits,
    MockContainerizer, MockSpec, TerminationReason,
};
use tokio::time::Instant;

fn build(_dir: &Path) -> Result<MockContainerizer, ContainerizerError> {
    Ok(MockContainerizer::new())
}

async fn recovered() -> MockContainerizer {
    let c = MockContainerizer::new();
    c.recover(&[]).await.unwrap();
    c
}

fn spec(run_for_ms: u64, exit_code: i32) -> MockSpec {
    MockSpec {
        run_for: Duration::from_millis(run_for_ms),
        exit_code,
        ..MockSpec::default()
    }
}

async fn launch(c: &MockContainerizer, id: &str, spec: MockSpec) {
    let r = c
        .launch(
            &id.into(),
            ContainerConfig::mock(spec, "/nonexistent-sandbox"),
        )
        .await
        .unwrap();
    assert!(matches!(r, LaunchResult::Launched(_)), "{r:?}");
}

#[tokio::test]
async fn conformance_suite() {
    suite::test_all(&Target::new(build, Workload::as_mock))
        .await
        .assert_passed();
}

#[tokio::test(start_paused = true)]
async fn exits_after_run_for_with_exit_code() {
    let c = recovered().await;
    launch(&c, "a", spec(5_000, 3)).await;
    let t0 = Instant::now();
    let t = c.wait(&"a".into()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
    assert_eq!((t.status, t.reason), (Some(3), TerminationReason::Exited));
}

#[tokio::test(start_paused = true)]
async fn destroy_takes_kill_after_and_wakes_waiters() {
    let c = Arc::new(recovered().await);
    let mut s = spec(60_000, 0);
    s.kill_after = Some(Duration::from_secs(2));
    launch(&c, "slow", s).await;
    let waiter = tokio::spawn({
        let c = c.clone();
        async move { (c.wait(&"slow".into()).await.unwrap(), Instant::now()) }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t0 = Instant::now();
    let d = c.destroy(&"slow".into()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    assert_eq!(d.reason, TerminationReason::Killed);
    let (w, at) = waiter.await.unwrap();
    assert_eq!((w, at), (d.clone(), t0 + Duration::from_secs(2)));
    assert_eq!(c.destroy(&"slow".into()).await.unwrap(), d);
}

#[tokio::test(start_paused = true)]
async fn natural_exit_wins_over_a_slower_kill() {
    let c = recovered().await;
    let mut s = spec(1_000, 4);
    s.kill_after = Some(Duration::from_secs(10));
    launch(&c, "a", s).await;
    let t0 = Instant::now();
    let d = c.destroy(&"a".into()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    assert_eq!((d.status, d.reason), (Some(4), TerminationReason::Exited));
}

#[tokio::test(start_paused = true)]
async fn start_error_delay_signal_and_oom() {
    let c = recovered().await;
    let mut s = spec(0, 0);
    s.start_error = Some("image pull failed".into());
    s.start_delay = Duration::from_secs(3);
    let t0 = Instant::now();
    let err = c
        .launch(&"bad".into(), ContainerConfig::mock(s, "/x"))
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
    assert!(err.to_string().contains("image pull failed"), "{err}");
    assert!(matches!(
        c.wait(&"bad".into()).await,
        Err(ContainerizerError::NotFound { .. })
    ));

    let mut s = spec(10, 0);
    s.exit_signal = Some(libc::SIGSEGV);
    launch(&c, "segv", s).await;
    let t = c.wait(&"segv".into()).await.unwrap();
    assert_eq!(
        (t.reason, t.signal),
        (TerminationReason::Signaled, Some(libc::SIGSEGV))
    );

    let mut s = spec(10, 0);
    s.oom = true;
    launch(&c, "oom", s).await;
    assert_eq!(
        c.wait(&"oom".into()).await.unwrap().reason,
        TerminationReason::Oom
    );
}

#[tokio::test(start_paused = true)]
async fn usage_reports_limits_and_liveness() {
    let c = recovered().await;
    launch(&c, "a", spec(1_000, 0)).await;
    let u = c.usage(&"a".into()).await.unwrap();
    assert_eq!((u.processes, u.cpus_limit), (1, None));
    let limits = Limits {
        cpus: 2.0,
        mem_bytes: 1 << 30,
        pids: None,
    };
    c.update(&"a".into(), limits).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let u = c.usage(&"a".into()).await.unwrap();
    assert_eq!(
        (u.processes, u.cpus_limit, u.mem_limit_bytes),
        (0, Some(2.0), Some(1 << 30))
    );
}

#[tokio::test]
async fn declines_configs_without_a_spec_or_for_another_kind() {
    let c = recovered().await;
    let plain = ContainerConfig::new(drover_containerizers::Command::Shell("true".into()), "/x");
    assert!(matches!(
        c.launch(&"a".into(), plain).await.unwrap(),
        LaunchResult::NotSupported { .. }
    ));
    let mut other = ContainerConfig::mock(spec(0, 0), "/x");
    other.kind.containerizer = Some("docker".into());
    assert!(matches!(
        c.launch(&"a".into(), other).await.unwrap(),
        LaunchResult::NotSupported { .. }
    ));
    let fresh = MockContainerizer::new();
    let err = fresh
        .launch(&"a".into(), ContainerConfig::mock(spec(0, 0), "/x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ContainerizerError::NotRecovered { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn recover_from_garbled_handle_reports_unknown() {
    let c = recovered().await;
    let handle = match c
        .launch(&"a".into(), ContainerConfig::mock(spec(60_000, 0), "/x"))
        .await
        .unwrap()
    {
        LaunchResult::Launched(h) => h,
        other => panic!("{other:?}"),
    };
    let mut bad = handle.clone();
    bad.extra
        .insert(drover_containerizers::mock::EXTRA_SPEC.into(), "{".into());
    let fresh = MockContainerizer::new();
    let r = fresh.recover(&[bad]).await.unwrap();
    assert_eq!(r.gone[0].1.reason, TerminationReason::Unknown);
    let r = MockContainerizer::new().recover(&[handle]).await.unwrap();
    assert_eq!(r.running.len(), 1);
}

/// Launch, wait and destroy rate, on one task. Release numbers are in the crate
/// report; this only checks that the path stays cheap (no per-container tasks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_rate() {
    let c = recovered().await;
    let n = 100_000u32;
    let ids: Vec<ContainerId> = (0..n).map(|i| ContainerId::new(format!("c{i}"))).collect();
    let config = ContainerConfig::mock(spec(0, 0), "/x");
    let t0 = std::time::Instant::now();
    for id in &ids {
        c.launch(id, config.clone()).await.unwrap();
    }
    let launched = t0.elapsed();
    for id in &ids {
        c.wait(id).await.unwrap();
        c.destroy(id).await.unwrap();
    }
    let total = t0.elapsed();
    eprintln!(
        "mock: {n} launches in {launched:?} ({:.0}/s); launch+wait+destroy {:.0}/s",
        f64::from(n) / launched.as_secs_f64(),
        f64::from(n) / total.as_secs_f64()
    );
    assert!(
        launched < Duration::from_secs(20),
        "launching {n} mock containers took {launched:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn runs_forever_until_destroyed() {
    let c = recovered().await;
    let mut s = spec(0, 0);
    s.run_for = Duration::MAX;
    launch(&c, "forever", s).await;
    let day = Duration::from_secs(86_400);
    assert!(tokio::time::timeout(day, c.wait(&"forever".into()))
        .await
        .is_err());
    assert_eq!(c.usage(&"forever".into()).await.unwrap().processes, 1);
    let t = c.destroy(&"forever".into()).await.unwrap();
    assert_eq!(t.reason, TerminationReason::Killed);
}
