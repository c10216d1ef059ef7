//! `network/none` end to end with real processes: `drover master`, `drover agent
//! --isolation=<defaults>,network/none` (native) and `drover run -- cat
//! /proc/net/dev`. The command executor stays in the host's network namespace (it
//! must reach its agent over QUIC) and only the task gets a new one: the task lists
//! only `lo` and `drover run` exits 0. The agent gets a cgroup root of its own, removed
//! at the end. Needs root and cgroups: fails under `DROVER_REQUIRE_ALL=1` without
//! them, skips otherwise.

#[allow(dead_code, reason = "shared helpers; this test uses some")]
mod restart_support;

use restart_support::*;
use std::process::Stdio;

use drover_containerizer_native::Isolation;

fn isolation() -> String {
    format!("{},network/none", Isolation::DEFAULT)
}

/// Removes the (empty) cgroup directories under and at `dir`, deepest first.
fn remove_cgroups(dir: &std::path::Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroups(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[test]
fn a_task_under_network_none_sees_only_loopback_and_its_executor_reaches_the_agent() {
    if !native_or_skip(&isolation(), Vec::new()) {
        return;
    }
    let home_dir = tempfile::tempdir().expect("temp dir");
    let home = home_dir.path();
    let _logs = Logs(home);
    let tls = home.join("tls");
    let tls_s = tls.to_string_lossy().into_owned();
    assert!(drover(home, &["certs", "init", &tls_s])
        .stdout(Stdio::null())
        .status()
        .expect("certs init")
        .success());
    for role in ["master", "agent", "scheduler", "executor"] {
        let ok = drover(
            home,
            &[
                "certs", "issue", "--role", role, "--name", role, "--dir", &tls_s,
            ],
        )
        .stdout(Stdio::null())
        .status()
        .expect("certs issue")
        .success();
        assert!(ok, "cannot issue the {role} certificate");
    }
    let port = free_ports(2, 21);
    let master = format!("127.0.0.1:{port}");
    let agent_addr = format!("127.0.0.1:{}", port + 1);
    let master_dir = home.join("master").to_string_lossy().into_owned();
    let work_dir = home.join("agent").to_string_lossy().into_owned();
    let cgroups_root = format!("drover-test-netnone-{port}");
    let isolation = isolation();
    let mut guard = Guard::default();
    guard.home = Some(home.to_path_buf());
    guard.children.push(spawn(
        home,
        &[
            "master",
            "--listen",
            &master,
            "--http",
            &master,
            "--work-dir",
            &master_dir,
        ],
        "master.log",
    ));
    guard.children.push(spawn(
        home,
        &[
            "agent",
            "--master",
            &master,
            "--listen",
            &agent_addr,
            "--http",
            &agent_addr,
            "--work-dir",
            &work_dir,
            "--containerizers",
            "native",
            "--isolation",
            &isolation,
            "--cgroups-root",
            &cgroups_root,
            "--resources",
            "cpus:2;mem:1024;disk:1024",
        ],
        "agent-1.log",
    ));

    let out = drover(
        home,
        &[
            "run",
            "--master",
            &master,
            "--containerizer",
            "native",
            "--",
            "cat /proc/net/dev",
        ],
    )
    .stdin(Stdio::null())
    .output()
    .expect("drover run runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "drover run failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    eprintln!("drover run:\n{stdout}\n{stderr}");
    // `/proc/net/dev`: two header lines, then `<name>: counters` per interface.
    let interfaces: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
        .filter(|name| !name.contains('|') && !name.is_empty() && !name.contains(' '))
        .collect();
    assert_eq!(interfaces, ["lo"], "{stdout}\n{stderr}");

    drop(guard);
    for dir in cgroup_dirs(&cgroups_root) {
        remove_cgroups(&dir);
    }
    let left = cgroup_dirs(&cgroups_root);
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}
