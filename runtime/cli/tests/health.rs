//! Health checks end to end with real processes: `drover master`, `drover agent` and
//! `drover run --health-http PORT/ -- <script>` whose task serves HTTP with busybox
//! `httpd`. The task must be reported healthy (in `drover run`'s output and in the
//! master's `/state`); once the test tells the script to stop the server, it must turn
//! unhealthy and be killed after `--health-max-failures` failures: TASK_KILLED with
//! `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`.
//!
//! Variants: the posix containerizer; (root only) the native one, whose executor
//! runs in the container's namespaces and cgroup, so its checks run there too; and
//! Docker (`drover-test-busybox`, BRIDGE network, port 8080 published nowhere: the
//! check enters the container's network namespace; the task stops its server itself
//! after 6 s, as the host's trigger file is not in the container); and (root only) a
//! native agent with `network/none`, whose task alone has a network namespace (with
//! only `lo`) while its executor stays in the host's: the server listens in the task's
//! namespace, so the check is healthy only if it enters `/proc/<task pid>/ns/net`.
//! Without busybox, root or a Docker engine the test fails under
//! `DROVER_REQUIRE_ALL=1` and skips otherwise.

#[allow(dead_code, reason = "shared helpers; this test uses some")]
mod restart_support;

use restart_support::*;
use std::path::Path;
use std::time::{Duration, Instant};

const BUSYBOX: &str = "/bin/busybox";
/// Checks fail this many times in a row before the task is killed.
const MAX_FAILURES: &str = "3";

struct Variant {
    containerizer: &'static str,
    port_salt: u64,
    /// Native only: add `network/none` to the default isolation (the agent gets a
    /// cgroup root of its own, removed at the end).
    network_none: bool,
}

fn required(what: &str) -> bool {
    if std::env::var("DROVER_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{what} (DROVER_REQUIRE_ALL=1)");
    }
    eprintln!("skipped: {what}");
    false
}

#[test]
fn posix_task_with_an_http_check_is_healthy_then_killed_when_its_server_stops() {
    if !Path::new(BUSYBOX).exists()
        && !required("needs /bin/busybox (apt-get install busybox-static)")
    {
        return;
    }
    scenario(&Variant {
        containerizer: "posix",
        port_salt: 11,
        network_none: false,
    });
}

#[test]
fn native_task_with_an_http_check_is_healthy_then_killed_when_its_server_stops() {
    if !Path::new(BUSYBOX).exists()
        && !required("needs /bin/busybox (apt-get install busybox-static)")
    {
        return;
    }
    if !nix::unistd::geteuid().is_root() && !required("the native containerizer needs root") {
        return;
    }
    scenario(&Variant {
        containerizer: "native",
        port_salt: 12,
        network_none: false,
    });
}

#[test]
fn native_network_none_task_is_checked_in_its_own_network_namespace() {
    if !Path::new(BUSYBOX).exists()
        && !required("needs /bin/busybox (apt-get install busybox-static)")
    {
        return;
    }
    if !nix::unistd::geteuid().is_root() && !required("the native containerizer needs root") {
        return;
    }
    scenario(&Variant {
        containerizer: "native",
        port_salt: 14,
        network_none: true,
    });
}

#[test]
fn docker_task_with_an_http_check_is_checked_through_its_bridge_network() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Fails under DROVER_REQUIRE_ALL=1 without an engine; builds the test image.
    if rt
        .block_on(drover_containerizer_docker::test_image::engine_for_tests())
        .is_none()
    {
        return;
    }
    scenario(&Variant {
        containerizer: "docker",
        port_salt: 13,
        network_none: false,
    });
}

fn scenario(v: &Variant) {
    let home_dir = tempfile::tempdir().expect("temp dir");
    let home = home_dir.path();
    let _logs = Logs(home);
    issue_certs(home);
    let port = free_ports(3, v.port_salt);
    let master = format!("127.0.0.1:{port}");
    let agent_addr = format!("127.0.0.1:{}", port + 1);
    let http_port = (port + 2).to_string();
    let cgroups_root = format!("drover-test-health-netnone-{port}");
    let _cgroups = CgroupRoot(v.network_none.then(|| cgroups_root.clone()));
    let mut guard = Guard::default();
    guard.home = Some(home.to_path_buf());
    let master_args = master_args(&master, &home.join("master"), &[]);
    guard.children.push(spawn(home, &master_args, "master.log"));
    let isolation = format!(
        "{},network/none",
        drover_containerizer_native::Isolation::DEFAULT
    );
    let mut extra = vec![
        "--resources",
        "cpus:2;mem:1024;disk:1024;ports:[31000-31010]",
    ];
    if v.network_none {
        extra.extend(["--isolation", &isolation, "--cgroups-root", &cgroups_root]);
    }
    let agent_args = agent_args(
        &master,
        &agent_addr,
        &home.join("agent"),
        v.containerizer,
        &extra,
    );
    guard.children.push(spawn(home, &agent_args, "agent-1.log"));

    // The server runs until the trigger file appears; then the task lives on without it.
    let trigger = home.join("stop-the-server");
    let www = home.join("www");
    std::fs::create_dir_all(&www).expect("www dir");
    std::fs::write(www.join("index.html"), "ok\n").expect("index.html");
    let docker = v.containerizer == "docker";
    let script = if docker {
        // Port 8080 of the container's bridge network, published nowhere; the host's
        // files are not there, so the task stops its server by itself after a while.
        "mkdir -p /www && echo ok > /www/index.html && { httpd -f -p 8080 -h /www & server=$!; }; \
         sleep 6; kill $server; echo server stopped; exec sleep 300"
            .to_owned()
    } else {
        format!(
            "{BUSYBOX} httpd -f -p 127.0.0.1:{http_port} -h {www} & server=$!; \
             while [ ! -e {trigger} ]; do sleep 0.1; done; \
             kill $server; echo server stopped; exec sleep 300",
            www = www.display(),
            trigger = trigger.display(),
        )
    };
    let http_port = if docker { "8080".into() } else { http_port };
    let mut run_args = vec![
        "run",
        "--master",
        &master,
        "--containerizer",
        v.containerizer,
    ];
    if docker {
        run_args.extend([
            "--image",
            drover_containerizer_docker::test_image::TEST_IMAGE,
        ]);
    }
    let health_http = format!("{http_port}/index.html");
    run_args.extend([
        "--health-http",
        &health_http,
        "--health-delay",
        "0s",
        "--health-interval",
        "300ms",
        "--health-timeout",
        "2s",
        "--health-grace-period",
        "5s",
        "--health-max-failures",
        MAX_FAILURES,
        "--",
        &script,
    ]);
    guard.children.push(spawn(home, &run_args, "run.log"));
    let run_log = || std::fs::read_to_string(home.join("run.log")).unwrap_or_default();

    poll("drover run to report the task healthy", || {
        run_log().contains("is healthy").then_some(())
    });
    let (task_id, healthy) = poll("the master to list the task's health", || {
        let v = query(home, "tasks", &master)?;
        let t = v.as_array()?.first()?.clone();
        Some((t["id"].as_str()?.to_owned(), t["healthy"].as_bool()?))
    });
    assert!(healthy, "the master lists task {task_id} as unhealthy");
    let table = drover(home, &["tasks", "--master", &master])
        .output()
        .expect("drover tasks");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("HEALTH") && table.contains("healthy"),
        "{table}"
    );

    std::fs::write(&trigger, "").expect("trigger");
    let mut stopped = Instant::now();
    if docker {
        poll("the task to stop its server", || {
            run_log().contains("server stopped").then_some(())
        });
        stopped = Instant::now();
    }
    let run = guard.children.last_mut().expect("drover run");
    let status = poll("drover run to exit", || run.try_wait().ok().flatten());
    let took = stopped.elapsed();
    let log = run_log();
    eprintln!("server stopped -> task killed in {took:?}\n{log}");
    assert!(log.contains("is unhealthy"), "{log}");
    let killed = log
        .lines()
        .find(|l| l.contains("TASK_KILLED"))
        .unwrap_or_else(|| panic!("no TASK_KILLED in:\n{log}"));
    assert!(
        killed.contains("REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")
            && killed.contains(&format!("failing {MAX_FAILURES} consecutive health checks"))
            && killed.contains("unhealthy"),
        "{killed}"
    );
    assert!(
        !status.success(),
        "a killed task is not a success: {status}"
    );
    // 3 failures at 300 ms intervals plus the kill: well under the poll limit.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(killed.contains(&task_id), "{killed}");
}

/// Removes an agent's own cgroup root (empty by then) on every hierarchy when dropped;
/// declared before the [`Guard`], so dropped after it killed the processes.
struct CgroupRoot(Option<String>);

impl Drop for CgroupRoot {
    fn drop(&mut self) {
        let Some(root) = &self.0 else {
            return;
        };
        let mut bases = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
        for e in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            bases.push(e.path());
        }
        for dir in bases.iter().map(|b| b.join(root)).filter(|p| p.is_dir()) {
            remove_tree(&dir);
        }
    }
}

fn remove_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}
