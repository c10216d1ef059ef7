//! The docker containerizer end to end through the real `drover` binary: `drover up`
//! (which adds `docker` after `native` when the engine answers), then `drover run
//! --containerizer docker --image drover-test-busybox:latest` printing the task's
//! output and exiting with its code, next to a native task on the same agent; and an
//! agent `kill -9`ed while a Docker task runs and restarted on its work dir: the task
//! keeps running and finishes normally. Skipped without a Docker engine unless
//! `DROVER_REQUIRE_ALL=1`.

#[allow(dead_code, reason = "shared helpers; this test uses some")]
mod restart_support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use restart_support::*;

/// `drover up` in a temp DROVER_HOME; SIGINT (then SIGKILL) when dropped.
struct Cluster {
    up: Child,
    home: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let home = tempfile::tempdir().expect("temp dir");
        let port = free_ports(2, 1);
        let up = Command::new(DROVER)
            .args(["up", "--agents", "1", "--port", &port.to_string()])
            .env("DROVER_HOME", home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("drover up starts");
        let cluster = Cluster { up, home };
        let file = cluster.home.path().join("cluster.json");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !file.exists() {
            assert!(Instant::now() < deadline, "drover up did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster
    }

    fn drover(&self, args: &[&str]) -> Output {
        Command::new(DROVER)
            .args(args)
            .env("DROVER_HOME", self.home.path())
            .stdin(Stdio::null())
            .output()
            .expect("drover runs")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.up.id() as i32), Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.up.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.up.kill();
        let _ = self.up.wait();
    }
}

/// True (after building the test image) when a Docker engine answers.
fn engine() -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(drover_containerizer_docker::test_image::engine_for_tests())
        .is_some()
}

#[test]
fn drover_run_with_a_docker_image_prints_and_exits_with_the_tasks_code() {
    if !engine() {
        return;
    }
    let cluster = Cluster::start();
    // `drover up` adds docker after native: the agent advertises both.
    let mut listing = String::new();
    wait_for(
        "the agent to register with native,docker",
        Duration::from_secs(20),
        || {
            listing = String::from_utf8_lossy(&cluster.drover(&["agents"]).stdout).into_owned();
            listing.contains("native,docker")
        },
    );

    let out = cluster.drover(&[
        "run",
        "--containerizer",
        "docker",
        "--image",
        drover_containerizer_docker::test_image::TEST_IMAGE,
        "--",
        "sh",
        "-c",
        "echo hi; exit 3",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stdout {stdout}\nstderr {stderr}"
    );
    assert!(stdout.contains("hi"), "stdout {stdout}\nstderr {stderr}");

    // A native task on the same agent.
    let out = cluster.drover(&["run", "--", "sh", "-c", "echo native-too"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("native-too"), "{stdout}");

    // A missing image fails the task with a message naming it.
    let out = cluster.drover(&[
        "run",
        "--containerizer",
        "docker",
        "--image",
        "127.0.0.1:1/drover-missing:none",
        "--",
        "true",
    ]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("drover-missing"), "{all}");
}

#[test]
fn a_docker_task_survives_a_kill_9_agent_restart() {
    if !engine() {
        return;
    }
    let home_dir = tempfile::tempdir().expect("temp dir");
    let home = home_dir.path();
    issue_certs(home);
    let port = free_ports(2, 2);
    let master = format!("127.0.0.1:{port}");
    let agent_addr = format!("127.0.0.1:{}", port + 1);
    let work_dir = home.join("agent");
    let mut guard = Guard::default();
    let master_args = master_args(
        &master,
        &home.join("master"),
        &[
            "--agent-ping-timeout",
            "1s",
            "--max-agent-ping-timeouts",
            "10",
        ],
    );
    guard.children.push(spawn(home, &master_args, "master.log"));
    let agent_args = agent_args(
        &master,
        &agent_addr,
        &work_dir,
        "docker,posix",
        &[
            "--resources",
            "cpus:2;mem:1024;disk:1024;ports:[31000-31010]",
        ],
    );
    guard.children.push(spawn(home, &agent_args, "agent-1.log"));
    let run_log = home.join("run.log");
    let log = || std::fs::read_to_string(&run_log).unwrap_or_default();
    // Give the agent time to register: `drover run` waits for an offer anyway.
    let mut run = spawn(
        home,
        &[
            "run",
            "--master",
            &master,
            "--containerizer",
            "docker",
            "--image",
            drover_containerizer_docker::test_image::TEST_IMAGE,
            "--",
            "sh",
            "-c",
            "sleep 6; echo done-after-restart",
        ],
        "run.log",
    );
    wait_for("the docker task to run", Duration::from_secs(30), || {
        log().contains("TASK_RUNNING")
    });
    let mut old = guard.children.remove(1);
    kill(Pid::from_raw(old.id() as i32), Signal::SIGKILL).expect("kill -9 the agent");
    let _ = old.wait();
    guard.children.push(spawn(home, &agent_args, "agent-2.log"));
    let mut status = None;
    wait_for("`drover run` to end", Duration::from_secs(40), || {
        status = run.try_wait().ok().flatten();
        status.is_some()
    });
    let text = log();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{text}");
    assert!(text.contains("TASK_FINISHED"), "{text}");
    // The container's output reached the sandbox (read from disk: `drover run`'s own
    // streaming through the agent may break off when the agent dies).
    assert!(
        sandbox_stdout_contains(&work_dir, "done-after-restart"),
        "{text}"
    );
    assert_eq!(text.matches("launching task").count(), 1, "{text}");
    for bad in ["TASK_LOST", "TASK_FAILED", "TASK_KILLED"] {
        assert!(!text.contains(bad), "{bad}:\n{text}");
    }
}

/// True if a `stdout` file under `dir` contains `needle`.
fn sandbox_stdout_contains(dir: &std::path::Path, needle: &str) -> bool {
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n == "stdout")
                && std::fs::read_to_string(&path).is_ok_and(|t| t.contains(needle))
            {
                return true;
            }
        }
    }
    false
}
