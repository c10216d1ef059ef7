//! The `drover` binary end to end: `drover up --agents 3` as a real process tree, a
//! framework written against the SDK running 100 `true` tasks on it, `drover run`
//! (exit codes, a missing binary, an unreachable master), `drover tasks [--all] --json` and
//! `drover agents`, and Ctrl-C (SIGINT) leaving no master, agent or executor behind.
//!
//! Every process the test starts is owned by a guard whose `Drop` sends SIGINT to
//! `drover up`, waits for it, and SIGKILLs whatever of its process tree is left, so a
//! failing assertion does not leak a cluster.

mod proc_tree;

use drover_proto::{
    CommandInfo, Filters, FrameworkInfo, Offer, Operation, Resources, TaskInfo, TaskState,
    TaskStatus,
};
use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use proc_tree::{cmdline, descendants};
use std::collections::HashSet;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DROVER: &str = env!("CARGO_BIN_EXE_drover");
/// Longest wait for anything here.
const WAIT: Duration = Duration::from_secs(30);

/// `drover up` and its process tree; stopped (SIGINT, then SIGKILL) when dropped.
struct Cluster {
    up: Child,
    home: tempfile::TempDir,
    /// Every descendant of `drover up` seen so far.
    seen: HashSet<i32>,
}

impl Cluster {
    fn start(agents: usize) -> Cluster {
        let home = tempfile::tempdir().expect("temp dir");
        let port = free_ports(agents as u16 + 1);
        let mut cmd = Command::new(DROVER);
        cmd.args([
            "up",
            "--agents",
            &agents.to_string(),
            "--port",
            &port.to_string(),
        ]);
        if !nix::unistd::geteuid().is_root() {
            cmd.args(["--containerizers", "posix"]);
        }
        let up = cmd
            .env("DROVER_HOME", home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("drover up starts");
        let mut cluster = Cluster {
            up,
            home,
            seen: HashSet::new(),
        };
        let file = cluster.home.path().join("cluster.json");
        poll("drover up to write cluster.json", || file.exists());
        cluster.record();
        cluster
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    /// `drover <args>` against this cluster, waited for.
    fn drover(&self, args: &[&str]) -> Output {
        Command::new(DROVER)
            .args(args)
            .env("DROVER_HOME", self.home())
            .stdin(Stdio::null())
            .output()
            .expect("drover runs")
    }

    /// The master's QUIC address from `cluster.json`.
    fn master(&self) -> String {
        let text = std::fs::read_to_string(self.home().join("cluster.json")).expect("cluster.json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("cluster.json is JSON");
        v["master"].as_str().expect("master address").to_owned()
    }

    /// Adds the current descendants of `drover up` to `seen`.
    fn record(&mut self) {
        self.seen.extend(descendants(self.up.id() as i32));
    }

    /// SIGINT to `drover up` and waits for it to exit; its exit status.
    fn interrupt(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.up.try_wait() {
            return Some(status);
        }
        let _ = kill(Pid::from_raw(self.up.id() as i32), Signal::SIGINT);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.up.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.record();
        if self.interrupt().is_none() {
            let _ = self.up.kill();
            let _ = self.up.wait();
        }
        for pid in self.seen.iter().copied().filter(|p| alive(*p)) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// `n` consecutive ports free on both TCP and UDP on 127.0.0.1; the first one.
fn free_ports(n: u16) -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let seed = std::process::id() as u64 ^ nanos;
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed.wrapping_mul(7919) + attempt * 131) % 30_000) as u16;
        let ok = (base..base + n).all(|p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        });
        if ok {
            return base;
        }
    }
    panic!("no {n} consecutive free ports found");
}

/// Polls `check` every 20 ms until it holds; panics after [`WAIT`].
fn poll(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Running (not gone, not a zombie waiting for a reaper).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

/// Launches `count` `true` tasks, then one `sleep` that stays running; reports updates.
struct Batch {
    count: usize,
    launched: usize,
    sleeper: bool,
    tx: mpsc::Sender<TaskStatus>,
}

impl Scheduler for Batch {
    fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>) {
        let need = Resources::parse("cpus:0.01;mem:32").expect("constant resources");
        let none = Filters {
            refuse_seconds: 0.0,
        };
        for offer in offers {
            let mut left = offer.resources.clone();
            let mut tasks = Vec::new();
            while self.launched < self.count || !self.sleeper {
                let Some(rest) = left.checked_sub(&need) else {
                    break;
                };
                left = rest;
                let (id, cmd) = if self.launched < self.count {
                    self.launched += 1;
                    (format!("true-{}", self.launched), "true")
                } else {
                    self.sleeper = true;
                    ("sleeper".to_owned(), "exec sleep 600")
                };
                tasks.push(TaskInfo::command(
                    id,
                    offer.agent_id.clone(),
                    need.clone(),
                    CommandInfo::shell(cmd),
                ));
            }
            let _ = if tasks.is_empty() {
                // Done launching: keep the resources for `drover run`.
                let later = Filters {
                    refuse_seconds: 3600.0,
                };
                driver.decline(offer.id, later)
            } else {
                driver.accept(vec![offer.id], vec![Operation::Launch { tasks }], none)
            };
        }
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, status: TaskStatus) {
        let _ = self.tx.send(status);
    }
}

#[test]
fn drover_up_runs_a_framework_and_drover_run_then_stops_cleanly() {
    let mut cluster = Cluster::start(3);

    // `drover agents` lists the three agents once they have registered.
    poll("three agents in `drover agents --json`", || {
        let out = cluster.drover(&["agents", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            == Some(3)
    });
    let agents = cluster.drover(&["agents"]);
    assert!(agents.status.success(), "{agents:?}");
    let table = String::from_utf8_lossy(&agents.stdout);
    assert_eq!(
        table.lines().count(),
        4,
        "a header and three agents:\n{table}"
    );

    // A framework against the SDK: 100 `true` tasks all FINISH, and a sleeper runs.
    let (tx, rx) = mpsc::channel();
    let config = SchedulerConfig::new(
        vec![cluster.master()],
        cluster.home().join("tls"),
        "scheduler",
        FrameworkInfo::new("cli-test", "root"),
    );
    let batch = Batch {
        count: 100,
        launched: 0,
        sleeper: false,
        tx,
    };
    let (driver, run) = SchedulerDriver::start(config, batch).expect("driver starts");
    let (mut finished, mut sleeper_running) = (HashSet::new(), false);
    let deadline = Instant::now() + Duration::from_secs(60);
    while finished.len() < 100 || !sleeper_running {
        let left = deadline.saturating_duration_since(Instant::now());
        let s = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {} tasks finished in time", finished.len()));
        match (s.task_id.as_str(), s.state) {
            ("sleeper", TaskState::Running) => sleeper_running = true,
            (id, TaskState::Finished) => assert!(finished.insert(id.to_owned())),
            (id, st) if st.is_terminal() => panic!("{id} ended {st}: {:?}", s.message),
            _ => {}
        }
    }

    // `drover tasks --json` shows them.
    let tasks = cluster.drover(&["tasks", "--json"]);
    assert!(tasks.status.success(), "{tasks:?}");
    let tasks: serde_json::Value = serde_json::from_slice(&tasks.stdout).expect("JSON");
    let list = tasks.as_array().expect("a list of tasks");
    let state_of = |id: &str| {
        list.iter()
            .find(|t| t["id"] == id)
            .map(|t| t["state"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(
        state_of("sleeper").as_deref(),
        Some("TASK_RUNNING"),
        "{tasks}"
    );
    // Only active tasks by default (as `mesos task list`); `--all` adds the completed
    // ones the master keeps, with their terminal state.
    assert_eq!(state_of("true-1"), None, "{tasks}");
    let all = cluster.drover(&["tasks", "--all", "--json"]);
    assert!(all.status.success(), "{all:?}");
    let all: serde_json::Value = serde_json::from_slice(&all.stdout).expect("JSON");
    let all = all.as_array().expect("a list of tasks");
    let finished_listed = all.iter().filter(|t| t["state"] == "TASK_FINISHED").count();
    assert_eq!(finished_listed, 100, "{all:?}");
    assert!(all.iter().any(|t| t["id"] == "sleeper"), "{all:?}");
    let table = cluster.drover(&["tasks", "-a"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("true-1 ") && l.contains("TASK_FINISHED")),
        "{table}"
    );

    // `drover run`: output streamed, the task's exit code passed on.
    let out = cluster.drover(&["run", "--", "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "hi"),
        "{out:?}"
    );

    // A binary that does not exist (argv form): non-zero with a clear message.
    let out = cluster.drover(&["run", "--", "/no/such/binary", "arg"]);
    assert!(!out.status.success(), "{out:?}");
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("/no/such/binary"), "{said}");
    assert!(
        said.contains("No such file") || said.contains("not found") || said.contains("TASK_FAILED"),
        "{said}"
    );

    // Ctrl-C: everything goes, executors and the sleeping task included.
    cluster.record();
    let seen: Vec<(i32, String)> = cluster.seen.iter().map(|&p| (p, cmdline(p))).collect();
    assert!(
        seen.iter().any(|(_, c)| c.contains(" executor")),
        "an executor is running: {seen:?}"
    );
    assert!(
        seen.iter().any(|(_, c)| c.starts_with("sleep 600")),
        "{seen:?}"
    );
    drop(driver);
    let status = cluster.interrupt().expect("drover up exits after SIGINT");
    assert!(status.success(), "drover up exit status {status}");
    let left: Vec<_> = seen.iter().filter(|(p, _)| alive(*p)).collect();
    assert!(left.is_empty(), "left behind after SIGINT: {left:?}");
    let _ = run;
}

#[test]
fn drover_run_names_the_address_of_a_master_that_is_down() {
    let home = tempfile::tempdir().expect("temp dir");
    // Certificates exist (as after `drover up`), the master does not.
    for args in [
        &["certs", "init"][..],
        &[
            "certs",
            "issue",
            "--role",
            "scheduler",
            "--name",
            "scheduler",
        ][..],
    ] {
        let out = Command::new(DROVER)
            .args(args)
            .env("DROVER_HOME", home.path())
            .output()
            .expect("drover certs runs");
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let start = Instant::now();
    let out = Command::new(DROVER)
        .args([
            "run",
            "--master",
            "127.0.0.1:1",
            "--connect-timeout",
            "1s",
            "--",
            "true",
        ])
        .env("DROVER_HOME", home.path())
        .stdin(Stdio::null())
        .output()
        .expect("drover run runs");
    assert!(!out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("127.0.0.1:1"), "{said}");
    assert!(start.elapsed() < Duration::from_secs(15), "gave up in time");
}
