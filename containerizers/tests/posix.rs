//! The posix containerizer: the conformance suite, then what is specific to posix
//! (session escapees, pid reuse, users, exit-status file, routing answers).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use drover_containerizers::posix::{self, PosixContainerizer};
use drover_containerizers::suite::{self, Target, Workload};
use drover_containerizers::{
    Command, ContainerConfig, ContainerHandle, ContainerId, Containerizer, ContainerizerError,
    LaunchResult, MockSpec, TerminationReason,
};

fn build(dir: &Path) -> Result<PosixContainerizer, ContainerizerError> {
    PosixContainerizer::new(dir)
}

/// Skips (returns true) when something the machine lacks is needed, unless
/// `DROVER_REQUIRE_ALL=1`, in which case it fails.
fn lacks(what: &str, missing: bool) -> bool {
    if missing {
        assert!(
            std::env::var("DROVER_REQUIRE_ALL").as_deref() != Ok("1"),
            "DROVER_REQUIRE_ALL=1 but {what}"
        );
        eprintln!("SKIPPED: {what}");
    }
    missing
}

async fn recovered(dir: &Path) -> PosixContainerizer {
    let c = PosixContainerizer::new(dir).unwrap();
    c.recover(&[]).await.unwrap();
    c
}

fn shell(script: &str, sandbox: &Path) -> ContainerConfig {
    ContainerConfig::new(Command::Shell(script.into()), sandbox)
}

async fn launch(
    c: &PosixContainerizer,
    id: &ContainerId,
    config: ContainerConfig,
) -> ContainerHandle {
    match c.launch(id, config).await.unwrap() {
        LaunchResult::Launched(h) => h,
        other => panic!("not launched: {other:?}"),
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn conformance_suite() {
    suite::test_all(&Target::new(build, Workload::as_command))
        .await
        .assert_passed();
}

#[tokio::test]
async fn calls_before_recover_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = PosixContainerizer::new(dir.path()).unwrap();
    let err = c
        .launch(&"a".into(), shell("true", dir.path()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ContainerizerError::NotRecovered {
                operation: "launch",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn declines_images_volumes_mocks_and_other_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let c = recovered(&dir.path().join("state")).await;
    let base = shell("true", &dir.path().join("s"));
    let mut image = base.clone();
    image.kind.image = Some("busybox".into());
    let mock = ContainerConfig::mock(MockSpec::default(), dir.path());
    let mut other = base.clone();
    other.kind.containerizer = Some("docker".into());
    for config in [image, mock, other] {
        let r = c.launch(&"x".into(), config).await.unwrap();
        assert!(matches!(r, LaunchResult::NotSupported { .. }), "{r:?}");
    }
    let err = c.launch(&"../escape".into(), base).await.unwrap_err();
    assert!(
        matches!(err, ContainerizerError::InvalidConfig { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn signal_death_is_reported_as_signaled() {
    let dir = tempfile::tempdir().unwrap();
    let c = recovered(&dir.path().join("state")).await;
    let id = ContainerId::new("sig");
    launch(
        &c,
        &id,
        shell("kill -USR1 $$; sleep 5", &dir.path().join("s")),
    )
    .await;
    let t = c.wait(&id).await.unwrap();
    assert_eq!(
        (t.reason, t.signal, t.status),
        (TerminationReason::Signaled, Some(libc::SIGUSR1), None)
    );
    assert_eq!(c.destroy(&id).await.unwrap(), t);
}

#[tokio::test]
async fn destroy_kills_processes_that_left_the_process_group() {
    if lacks("perl is not installed", which("perl").is_none()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = recovered(&dir.path().join("state")).await;
    let id = ContainerId::new("pgroup");
    let sandbox = dir.path().join("s");
    // The child moves to its own process group (same session) and records its pid.
    let script =
        r#"perl -e 'setpgrp(0,0); open(F,">escapee.pid"); print F $$; close F; sleep 1000' & wait"#;
    let h = launch(&c, &id, shell(script, &sandbox)).await;
    let pid_file = sandbox.join("escapee.pid");
    let escapee: i32 =
        wait_for(|| std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok()).await;
    let main = h.pid.unwrap() as i32;
    assert_ne!(
        pgid(escapee),
        main,
        "the escapee should have its own process group"
    );
    let t = c.destroy(&id).await.unwrap();
    assert_eq!(t.reason, TerminationReason::Killed);
    assert!(
        !alive(escapee),
        "process {escapee} outside the group survived destroy"
    );
    assert!(
        !posix_record(&dir.path().join("state"), &id).exists(),
        "record left behind"
    );
}

#[tokio::test]
async fn usage_counts_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let c = recovered(&dir.path().join("state")).await;
    let id = ContainerId::new("usage");
    launch(
        &c,
        &id,
        shell(
            "sleep 30 & sleep 30 & i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; wait",
            &dir.path().join("s"),
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let u = c.usage(&id).await.unwrap();
    assert_eq!(u.processes, 3, "{u:?}");
    assert!(
        u.mem_rss_bytes > 0 && u.cpus_user_time_secs + u.cpus_system_time_secs > 0.0,
        "{u:?}"
    );
    assert_eq!((u.cpus_limit, u.mem_limit_bytes), (None, None));
    c.destroy(&id).await.unwrap();
}

#[tokio::test]
async fn runs_as_the_given_user() {
    let root = nix::unistd::Uid::effective().is_root();
    let nobody = nix::unistd::User::from_name("nobody").ok().flatten();
    if lacks("not root, or no user `nobody`", !root || nobody.is_none()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = recovered(&dir.path().join("state")).await;
    let sandbox = dir.path().join("s");
    std::fs::create_dir_all(&sandbox).unwrap();
    let mut config = shell("id -u; id -g", &sandbox);
    config.user = Some("nobody".into());
    let id = ContainerId::new("user");
    launch(&c, &id, config).await;
    assert_eq!(c.wait(&id).await.unwrap().status, Some(0));
    let out = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    let u = nobody.unwrap();
    assert_eq!(out, format!("{}\n{}\n", u.uid, u.gid));

    let mut config = shell("true", &sandbox);
    config.user = Some("drover-no-such-user".into());
    let err = c.launch(&"nouser".into(), config).await.unwrap_err();
    assert!(err.to_string().contains("drover-no-such-user"), "{err}");
}

#[tokio::test]
async fn recovery_refuses_a_reused_pid() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let c = recovered(&state).await;
    let id = ContainerId::new("victim");
    let mut h = launch(&c, &id, shell("sleep 30", &dir.path().join("s"))).await;
    drop(c);
    std::fs::remove_file(posix_record(&state, &id)).unwrap(); // as if never recorded
                                                              // Same pid, other start time: the process at that pid is not ours.
    let start: u64 = h.extra[posix::EXTRA_START_TIME].parse().unwrap();
    h.extra
        .insert(posix::EXTRA_START_TIME.into(), (start + 1).to_string());
    let c = PosixContainerizer::new(&state).unwrap();
    let r = c.recover(std::slice::from_ref(&h)).await.unwrap();
    assert!(r.running.is_empty(), "{r:?}");
    assert_eq!(r.gone[0].1.reason, TerminationReason::Unknown);
    let pid = h.pid.unwrap() as i32;
    c.destroy(&id).await.unwrap();
    assert!(
        alive(pid),
        "destroy killed a process whose start time did not match"
    );
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

#[tokio::test]
async fn recovered_container_reports_its_exit_status_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let sandbox = dir.path().join("s");
    let c = recovered(&state).await;
    let id = ContainerId::new("reporter");
    let script = format!("sleep 0.5; echo 7 > {}; exit 7", posix::EXIT_STATUS_FILE);
    let h = launch(&c, &id, shell(&script, &sandbox)).await;
    drop(c);
    let c = PosixContainerizer::new(&state).unwrap();
    let r = c.recover(std::slice::from_ref(&h)).await.unwrap();
    assert_eq!(r.running.len(), 1, "{r:?}");
    let t = c.wait(&id).await.unwrap();
    assert_eq!(
        (t.reason, t.status),
        (TerminationReason::Exited, Some(7)),
        "{t:?}"
    );
}

#[tokio::test]
async fn unusable_handles_and_records_are_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("garbage.json"), "{not json").unwrap();
    let c = PosixContainerizer::new(&state).unwrap();
    let h = ContainerHandle {
        id: "nohints".into(),
        pid: Some(1),
        containerizer: posix::NAME.into(),
        sandbox: dir.path().join("s"),
        extra: BTreeMap::new(),
    };
    let r = c.recover(&[h]).await.unwrap();
    assert_eq!(r.gone.len(), 1);
    assert_eq!(r.gone[0].1.reason, TerminationReason::Unknown);
    assert!(!state.join("garbage.json").exists());
    assert!(alive(1), "pid 1 must not be touched");
    c.destroy(&"nohints".into()).await.unwrap();
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

fn pgid(pid: i32) -> i32 {
    nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid)))
        .map(|p| p.as_raw())
        .unwrap_or(-1)
}

fn posix_record(state: &Path, id: &ContainerId) -> std::path::PathBuf {
    state.join(format!("{id}.json"))
}

async fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not met within 5 s");
}

#[tokio::test]
async fn destroy_after_exit_kills_leftovers_and_keeps_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let c = recovered(&dir.path().join("state")).await;
    let sandbox = dir.path().join("s");
    let id = ContainerId::new("leftover");
    launch(
        &c,
        &id,
        shell("sleep 1000 & echo $! > left.pid; exit 5", &sandbox),
    )
    .await;
    let t = c.wait(&id).await.unwrap();
    assert_eq!(t.status, Some(5));
    let left: i32 = std::fs::read_to_string(sandbox.join("left.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        alive(left),
        "the background child should outlive the main process"
    );
    assert_eq!(c.usage(&id).await.unwrap().processes, 1);
    assert_eq!(c.destroy(&id).await.unwrap(), t);
    assert!(
        !alive(left),
        "destroy left the background child {left} running"
    );
}
