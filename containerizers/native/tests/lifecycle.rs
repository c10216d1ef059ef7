//! Destroy, recovery and usage through the cgroups: daemons that left the session
//! die too, exit statuses survive agent restarts, orphans are destroyed, and the v2
//! code paths run against the host's cgroup2 tree.

mod common;

use std::path::Path;
use std::time::Duration;

use drover_containerizer_native::cgroups::{Controller, Hierarchy};
use drover_containerizer_native::{Isolation, NativeContainerizer};
use drover_containerizers::{ContainerId, Containerizer, TerminationReason};

fn beats(file: &Path) -> usize {
    std::fs::read_to_string(file)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Launches a main process that double-forks a setsid'd daemon (heartbeating into
/// `beat`) and exits; destroy must still kill the daemon.
async fn daemon_dies_with_destroy(c: &NativeContainerizer, sandbox: &Path) {
    let script = "setsid sh -c 'while :; do echo beat >> beat; sleep 0.05; done' </dev/null >/dev/null 2>&1 & exit 0";
    let id = ContainerId::new("daemon");
    common::launch(c, "daemon", common::shell(script, sandbox)).await;
    let t = c.wait(&id).await.unwrap();
    assert_eq!(t.status, Some(0), "{t:?}");
    let beat = sandbox.join("beat");
    common::wait_for(|| (beats(&beat) >= 3).then_some(())).await;
    let cg = c.container_cgroup(&id);
    assert!(
        !cg.pids().unwrap().is_empty(),
        "the daemon should still run in the cgroup"
    );
    assert_eq!(c.destroy(&id).await.unwrap(), t);
    let before = beats(&beat);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(beats(&beat), before, "the daemon survived destroy");
    assert!(!cg.exists(), "cgroup left behind: {:?}", cg.all_dirs());
}

#[tokio::test]
async fn destroy_kills_double_forked_daemons_without_a_pid_namespace() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup("daemon-v1");
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&dir.path().join("state"), "daemon-v1");
    config.isolation = Isolation::parse("cgroups/cpu,cgroups/mem,cgroups/pids").unwrap();
    let c = common::build(config).unwrap();
    c.recover(&[]).await.unwrap();
    daemon_dies_with_destroy(&c, &dir.path().join("s")).await;
}

#[tokio::test]
async fn cgroup_v2_paths_on_the_hosts_v2_tree() {
    if common::skip() {
        return;
    }
    // This host mounts v1 controllers and an empty v2 tree; elsewhere the v2 tree is
    // the only one. Either way, run on whatever v2 tree there is.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(mount) = mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        right
            .starts_with("cgroup2 ")
            .then(|| left.split_whitespace().nth(4).map(std::path::PathBuf::from))?
    }) else {
        assert!(
            std::env::var("DROVER_REQUIRE_ALL").as_deref() != Ok("1"),
            "DROVER_REQUIRE_ALL=1 but there is no cgroup2 mount"
        );
        eprintln!("SKIPPED: no cgroup2 mount");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hierarchy = Hierarchy::v2_at(&mount).unwrap();
    let Hierarchy::V2 { controllers, .. } = &hierarchy else {
        unreachable!()
    };
    let isolation = if controllers.contains(&Controller::Memory) {
        Isolation::default()
    } else {
        Isolation::parse("").unwrap()
    };
    let mut config = common::config(&dir.path().join("state"), "v2");
    config.hierarchy = Some(hierarchy.clone());
    config.isolation = isolation;
    let c = common::build(config).unwrap();
    c.recover(&[]).await.unwrap();
    assert!(c.container_cgroup(&"x".into()).is_v2());
    daemon_dies_with_destroy(&c, &dir.path().join("s")).await;
    // A running container: its processes are in the v2 cgroup and usage counts them.
    let id = ContainerId::new("v2-running");
    common::launch(
        &c,
        "v2-running",
        common::shell("sleep 30", &dir.path().join("r")),
    )
    .await;
    let u = c.usage(&id).await.unwrap();
    assert!(u.processes >= 1, "{u:?}");
    assert_eq!(
        c.destroy(&id).await.unwrap().reason,
        TerminationReason::Killed
    );
    assert!(!c.container_cgroup(&id).exists());
    let root = mount.join(common::cgroup_root("v2"));
    let _ = std::fs::remove_dir(&root);
    let _ = std::fs::remove_dir(root.parent().unwrap());
}

#[tokio::test]
async fn exit_status_survives_an_agent_restart_and_orphans_die() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup("restart");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let first = common::recovered(&state, "restart").await;
    let h = common::launch(
        &first,
        "ends-while-down",
        common::shell("sleep 0.3; exit 7", &dir.path().join("a")),
    )
    .await;
    let orphan_sandbox = dir.path().join("o");
    common::launch(
        &first,
        "orphan",
        common::shell(
            "while :; do echo beat >> beat; sleep 0.05; done",
            &orphan_sandbox,
        ),
    )
    .await;
    drop(first); // the agent crashes
    tokio::time::sleep(Duration::from_millis(600)).await;

    // A cgroup under our root that no record knows (e.g. a crash mid-launch).
    let second = common::build(common::config(&state, "restart")).unwrap();
    let stray = second.container_cgroup(&"stray".into());
    stray.create().unwrap();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    for procs in stray.procs_files() {
        std::fs::write(procs, sleeper.id().to_string()).unwrap();
    }

    let r = second.recover(std::slice::from_ref(&h)).await.unwrap();
    assert!(r.running.is_empty(), "{r:?}");
    let (id, t) = &r.gone[0];
    assert_eq!(id.as_str(), "ends-while-down");
    assert_eq!(
        (t.reason, t.status),
        (TerminationReason::Exited, Some(7)),
        "exact status from init: {t:?}"
    );
    let mut orphans: Vec<&str> = r
        .orphans_destroyed
        .iter()
        .map(ContainerId::as_str)
        .collect();
    orphans.sort();
    assert_eq!(orphans, ["orphan", "stray"]);
    let before = beats(&orphan_sandbox.join("beat"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        beats(&orphan_sandbox.join("beat")),
        before,
        "the orphan survived"
    );
    assert!(
        sleeper.wait().unwrap().code().is_none(),
        "the stray process was killed"
    );
    assert!(!stray.exists() && !second.container_cgroup(&"orphan".into()).exists());
    assert_eq!(
        second
            .destroy(&"ends-while-down".into())
            .await
            .unwrap()
            .status,
        Some(7)
    );
}

#[tokio::test]
async fn usage_comes_from_the_cgroups() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup("usage");
    let dir = tempfile::tempdir().unwrap();
    let c = common::recovered(&dir.path().join("state"), "usage").await;
    let mut config = common::shell(
        "sleep 30 & sleep 30 & i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo done > done; wait",
        &dir.path().join("s"),
    );
    config.limits.mem_bytes = 64 << 20;
    config.limits.cpus = 0.25;
    config.limits.pids = Some(50);
    common::launch(&c, "u", config).await;
    common::wait_for(|| dir.path().join("s/done").exists().then_some(())).await;
    let u = c.usage(&"u".into()).await.unwrap();
    // init, the shell, two sleeps.
    assert_eq!(u.processes, 4, "{u:?}");
    assert!(u.threads >= 4, "{u:?}");
    assert!(
        u.cpus_user_time_secs + u.cpus_system_time_secs > 0.0,
        "{u:?}"
    );
    assert!(u.mem_rss_bytes > 0 && u.mem_cache_bytes.is_some(), "{u:?}");
    assert_eq!(u.mem_limit_bytes, Some(64 << 20));
    assert_eq!(u.cpus_limit, Some(0.25));
    let cg = c.container_cgroup(&"u".into());
    assert_eq!(cg.read(Controller::Pids, "pids.max").unwrap().trim(), "50");
    // Below the minimum is refused on update too.
    let tiny = drover_containerizers::Limits {
        mem_bytes: 1 << 20,
        ..Default::default()
    };
    assert!(c.update(&"u".into(), tiny).await.is_err());
    c.destroy(&"u".into()).await.unwrap();
}
