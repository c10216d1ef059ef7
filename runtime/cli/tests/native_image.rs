//! A task with its own root filesystem through the real `drover` binary, as a new
//! user would run it: `drover up` (native containerizer), then `drover run
//! --containerizer native --image <busybox rootfs> --volume …`. The task sees the
//! image (busybox, no host `/etc/os-release`), the sandbox at `/mnt/sandbox` and its
//! volumes (read-only enforced); its stdout arrives and its exit code propagates; a
//! COMMAND health check runs inside the image too. The
//! same image as a tarball works; bad input (missing image, a tarball that is not one,
//! a missing volume host path, memory below 32 MB) fails the task with a clear
//! message; and nothing of any container is left behind (runtime dirs, cgroups,
//! half-unpacked images).
//!
//! Needs root, cgroups and `/bin/busybox` (busybox-static); skipped without them
//! unless `DROVER_REQUIRE_ALL=1`, then it fails.

#[allow(dead_code, reason = "shared helpers; this test uses some")]
mod restart_support;

use restart_support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const DROVER: &str = env!("CARGO_BIN_EXE_drover");
const WAIT: Duration = Duration::from_secs(30);

/// Whether the machine can run this test; panics when it cannot but must.
fn can_run() -> bool {
    let mut missing = Vec::new();
    if !Path::new("/bin/busybox").is_file() {
        missing.push("/bin/busybox (apt-get install busybox-static)".to_owned());
    }
    native_or_skip(drover_containerizer_native::Isolation::DEFAULT, missing)
}

/// `drover up --agents 1` (native only) in a temp DROVER_HOME; stopped when dropped.
struct Cluster {
    up: Child,
    home: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let home = tempfile::tempdir().expect("temp dir");
        let port = free_ports(2, 23);
        let log = std::fs::File::create(home.path().join("up.log")).expect("log");
        let up = Command::new(DROVER)
            .args(["up", "--agents", "1", "--containerizers", "native"])
            .args(["--port", &port.to_string()])
            .env("DROVER_HOME", home.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("drover up starts");
        let cluster = Cluster { up, home, port };
        let file = cluster.home.path().join("cluster.json");
        wait_for("drover up to write cluster.json", WAIT, || file.exists());
        cluster
    }

    /// `drover run --containerizer native <args>`, waited for.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(DROVER)
            .args(["run", "--containerizer", "native"])
            .args(args)
            .env("DROVER_HOME", self.home.path())
            .stdin(Stdio::null())
            .output()
            .expect("drover run runs")
    }

    /// The agent's native containerizer state: per-container records in its runtime
    /// dir, overlay layers in its work dir.
    fn native_dirs(&self) -> [PathBuf; 2] {
        let work_dir = self.home.path().join("agents/0");
        [
            drover_agent::config::default_runtime_dir(&work_dir).join("native/containers"),
            work_dir.join("containerizers/native/scratch"),
        ]
    }

    /// The agent's cgroup directories (those that exist) on every hierarchy.
    fn agent_cgroups(&self) -> Vec<PathBuf> {
        cgroup_dirs(&format!("drover-up-{}/agent-0", self.port))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for log in ["up.log", "logs/agent-0.log"] {
                let text = std::fs::read_to_string(self.home.path().join(log)).unwrap_or_default();
                eprintln!("===== {log}\n{text}");
            }
        }
        let _ = kill(Pid::from_raw(self.up.id() as i32), Signal::SIGINT);
        let deadline = Instant::now() + WAIT;
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

/// A root filesystem of a static busybox and a few applet links.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("busybox-rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    std::fs::write(root.join("etc/image-marker"), "from the image\n").expect("write");
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "cat", "echo", "test", "touch", "pwd", "ls", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("link");
    }
    root
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file named `name` under `dir`.
fn find_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                dirs.push(p);
            } else if p.file_name().is_some_and(|n| n == name) {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn drover_run_with_a_native_rootfs_image() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let image = busybox_rootfs(dir.path());
    let (ro, rw) = (dir.path().join("ro"), dir.path().join("rw"));
    std::fs::create_dir_all(&ro).expect("mkdir");
    std::fs::create_dir_all(&rw).expect("mkdir");
    std::fs::write(ro.join("f"), "read-only data\n").expect("write");
    assert!(
        Path::new("/etc/os-release").exists(),
        "the host check below needs it"
    );
    let cluster = Cluster::start();

    let script = "cat /etc/image-marker; \
        test -e /etc/os-release && echo host-os-release || echo no-os-release; \
        test -x /bin/busybox && echo busybox-present; pwd; echo sandbox=$DROVER_SANDBOX; \
        cat /data/ro/f; touch /data/ro/new 2>/dev/null && echo ro-writable || echo ro-refused; \
        echo hi > /data/rw/new && echo rw-ok; echo kept > in-sandbox; exit 7";
    let (ro_vol, rw_vol) = (
        format!("{}:/data/ro:ro", ro.display()),
        format!("{}:/data/rw", rw.display()),
    );
    let image_arg = image.display().to_string();
    let out = cluster.run(&[
        "--image", &image_arg, "--volume", &ro_vol, "--volume", &rw_vol, "--", script,
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(7),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for line in [
        "from the image",
        "no-os-release",
        "busybox-present",
        "/mnt/sandbox",
        "sandbox=/mnt/sandbox",
        "read-only data",
        "ro-refused",
        "rw-ok",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} missing:\n{stdout}\n{stderr}"
        );
    }
    assert!(stderr.contains("TASK_RUNNING"), "{stderr}");
    assert!(stderr.contains("Command exited with status 7"), "{stderr}");
    assert!(!ro.join("new").exists(), "the read-only volume was written");
    assert_eq!(
        std::fs::read_to_string(rw.join("new")).ok().as_deref(),
        Some("hi\n")
    );
    let kept = find_files(&cluster.home.path().join("agents"), "in-sandbox");
    assert_eq!(
        kept.len(),
        1,
        "the task's file in its host sandbox: {kept:?}"
    );

    // The same image as a tarball (the shape of `docker export`), unpacked once.
    let tar = dir.path().join("busybox.tar");
    let ok = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&image)
        .arg(".")
        .status()
        .expect("tar runs");
    assert!(ok.success());
    let tar_arg = tar.display().to_string();
    for _ in 0..2 {
        let out = cluster.run(&["--image", &tar_arg, "--", "cat", "/etc/image-marker"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("from the image"), "{stdout}\n{stderr}");
    }

    // A COMMAND health check runs where the task runs: inside the image (the host has
    // no /etc/image-marker).
    let out = cluster.run(&[
        "--image",
        &image_arg,
        "--health-cmd",
        "test -f /etc/image-marker && test ! -e /etc/os-release",
        "--health-delay",
        "0s",
        "--health-interval",
        "200ms",
        "--",
        "sleep 3",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("is healthy"),
        "{stdout}\n{stderr}"
    );

    // Bad input: a clear TASK_FAILED with the reason, exit code 1.
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, "this is not a tarball\n").expect("write");
    let missing = dir.path().join("no-such-image");
    let missing_vol = format!("{}:/data", dir.path().join("no-such-volume").display());
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec![
                "--image",
                missing.to_str().unwrap_or_default(),
                "--",
                "true",
            ],
            "no-such-image: No such file or directory",
        ),
        (
            vec!["--image", junk.to_str().unwrap_or_default(), "--", "true"],
            "is not a usable rootfs tarball",
        ),
        (
            vec![
                "--image",
                &image_arg,
                "--volume",
                &missing_vol,
                "--",
                "true",
            ],
            "volume host path",
        ),
        (
            vec!["--image", &image_arg, "--mem", "16", "--", "true"],
            "below the minimum of 32 MiB",
        ),
        (
            vec!["--image", &image_arg, "--", "no-such-program", "x"],
            "Failed to launch command \"no-such-program\"",
        ),
    ];
    for (args, needle) in cases {
        let out = cluster.run(&args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{stdout}\n{stderr}");
        assert!(
            stderr.contains("TASK_FAILED") && stderr.contains(needle),
            "{args:?}: want TASK_FAILED and {needle:?}:\n{stderr}"
        );
    }

    // Nothing half-made is left: no container runtime dirs or cgroups, and the image
    // store holds exactly the one good tarball.
    wait_for(
        "every container's runtime and scratch dir to go",
        WAIT,
        || {
            cluster
                .native_dirs()
                .iter()
                .all(|dir| std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none()))
        },
    );
    let cgroups = cluster.agent_cgroups();
    assert!(
        !cgroups.is_empty(),
        "the agent's cgroups are not where expected"
    );
    wait_for("every container's cgroup to go", WAIT, || {
        cgroups.iter().all(|c| {
            std::fs::read_dir(c)
                .into_iter()
                .flatten()
                .flatten()
                .all(|e| !e.path().is_dir())
        })
    });
    let store: Vec<_> = std::fs::read_dir(
        cluster
            .home
            .path()
            .join("agents/0/containerizers/native/images"),
    )
    .expect("image store")
    .flatten()
    .map(|e| e.file_name())
    .collect();
    assert_eq!(store.len(), 1, "{store:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(&cluster.home.path().display().to_string()),
        "a container mount leaked to the host"
    );
}
