//! Master restart with running tasks, with real processes: `drover master --work-dir D`,
//! one `drover agent --containerizers posix` and a framework on the SDK with a
//! `failover_timeout` run a `sleep` task; the master is killed with SIGKILL and started
//! again with the same work dir. The agent re-registers, `drover tasks --json` lists the
//! task RUNNING again, the framework re-subscribes with its id and reconciliation says
//! RUNNING, and the task was not restarted (the same `sleep` process, by pid).
//!
//! The test process is a child subreaper, so executors and tasks that outlive their
//! parents stay its descendants; the [`Procs`] guard SIGKILLs all of them on drop.

mod proc_tree;

use drover_proto::{
    CommandInfo, FrameworkCapability, FrameworkId, FrameworkInfo, Offer, Operation, Resources,
    TaskInfo, TaskState, TaskStatus,
};
use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use proc_tree::{cmdline, descendants};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DROVER: &str = env!("CARGO_BIN_EXE_drover");
/// Longest wait for any one step.
const WAIT: Duration = Duration::from_secs(30);

/// Every process this test started, and their descendants: SIGKILLed on drop.
struct Procs {
    children: Vec<Child>,
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in descendants(std::process::id() as i32) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

struct Cluster {
    home: tempfile::TempDir,
    port: u16,
    procs: Procs,
}

impl Cluster {
    fn home(&self) -> &Path {
        self.home.path()
    }

    fn addr(&self, offset: u16) -> String {
        format!("127.0.0.1:{}", self.port + offset)
    }

    fn drover(&self, args: &[&str]) -> Output {
        Command::new(DROVER)
            .args(args)
            .env("DROVER_HOME", self.home())
            .stdin(Stdio::null())
            .output()
            .expect("drover runs")
    }

    fn spawn(&mut self, name: &str, args: &[String]) -> usize {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.home().join(format!("{name}.log")))
            .expect("log file");
        let child = Command::new(DROVER)
            .args(args)
            .env("DROVER_HOME", self.home())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("drover starts");
        self.procs.children.push(child);
        self.procs.children.len() - 1
    }

    fn start_master(&mut self) -> usize {
        let args = [
            "master",
            "--listen",
            &self.addr(0),
            "--http",
            &self.addr(0),
            "--work-dir",
            &self.home().join("master").display().to_string(),
            "--agent-reregister-timeout",
            "20s",
        ]
        .map(String::from);
        let i = self.spawn("master", &args);
        poll("the master's HTTP API", || {
            self.drover(&["state", "--json", "--master", &self.addr(0)])
                .status
                .success()
        });
        i
    }

    fn tasks(&self) -> serde_json::Value {
        let out = self.drover(&["tasks", "--json", "--master", &self.addr(0)]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn logs(&self) -> String {
        ["master", "agent"]
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(self.home().join(format!("{n}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                format!(
                    "--- {n}.log (tail) ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `n` consecutive ports free on both TCP and UDP on 127.0.0.1; the first one.
fn free_ports(n: u16) -> u16 {
    let seed = u64::from(std::process::id()).wrapping_mul(2_654_435_761);
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed + attempt * 131) % 30_000) as u16;
        let ok = (base..base + n).all(|p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        });
        if ok {
            return base;
        }
    }
    panic!("no {n} consecutive free ports found");
}

fn poll(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Our `sleep` task processes.
fn sleepers() -> Vec<i32> {
    let mut v: Vec<i32> = descendants(std::process::id() as i32)
        .into_iter()
        .filter(|p| cmdline(*p).starts_with("sleep 45"))
        .collect();
    v.sort_unstable();
    v
}

enum Event {
    Subscribed(FrameworkId),
    Update(TaskStatus),
}

/// Launches one long `sleep`; reconciles after every (re-)subscription.
struct Sleeper {
    launched: bool,
    tx: mpsc::Sender<Event>,
}

impl Scheduler for Sleeper {
    fn subscribed(
        &mut self,
        driver: &SchedulerDriver,
        framework_id: FrameworkId,
        _master: drover_proto::MasterInfo,
    ) {
        let _ = driver.reconcile(vec![]);
        let _ = self.tx.send(Event::Subscribed(framework_id));
    }

    fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>) {
        let need = Resources::parse("cpus:0.1;mem:32").expect("constant resources");
        let none = drover_proto::Filters {
            refuse_seconds: 1.0,
        };
        for offer in offers {
            let _ = if self.launched || !offer.resources.contains(&need) {
                driver.decline(offer.id, none)
            } else {
                self.launched = true;
                let task = TaskInfo::command(
                    "sleeper",
                    offer.agent_id.clone(),
                    need.clone(),
                    CommandInfo::shell("exec sleep 45"),
                );
                driver.accept(
                    vec![offer.id],
                    vec![Operation::Launch { tasks: vec![task] }],
                    none,
                )
            };
        }
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, status: TaskStatus) {
        let _ = self.tx.send(Event::Update(status));
    }
}

fn wait_for(rx: &mpsc::Receiver<Event>, what: &str, mut want: impl FnMut(&Event) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) if want(&e) => return,
            Ok(_) => {}
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

#[test]
fn killed_master_restarts_from_its_registry_and_tasks_keep_running() {
    // SAFETY: plain prctl call; makes orphaned executors and tasks our children.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
    let mut c = Cluster {
        home: tempfile::tempdir().expect("temp dir"),
        port: free_ports(2),
        procs: Procs { children: vec![] },
    };
    c.drover(&["certs", "init"]);
    for role in ["master", "agent", "scheduler", "executor"] {
        let out = c.drover(&["certs", "issue", "--role", role, "--name", role]);
        assert!(out.status.success(), "certs issue {role}: {out:?}");
    }
    let master = c.start_master();
    let agent_args = [
        "agent",
        "--master",
        &c.addr(0),
        "--listen",
        &c.addr(1),
        "--http",
        &c.addr(1),
        "--work-dir",
        &c.home().join("agent").display().to_string(),
        "--containerizers",
        "posix",
        "--resources",
        "cpus:2;mem:1024",
    ]
    .map(String::from);
    c.spawn("agent", &agent_args);
    poll("the agent to register", || {
        let out = c.drover(&["agents", "--json", "--master", &c.addr(0)]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            == Some(1)
    });

    let (tx, rx) = mpsc::channel();
    let mut info = FrameworkInfo::new("restart-test", "root");
    info.failover_timeout = Duration::from_secs(60);
    info.capabilities = vec![FrameworkCapability::PartitionAware];
    let config = SchedulerConfig::new(vec![c.addr(0)], c.home().join("tls"), "scheduler", info);
    let sched = Sleeper {
        launched: false,
        tx,
    };
    let (driver, _run) = SchedulerDriver::start(config, sched).expect("driver starts");
    let mut fid = None;
    wait_for(&rx, "subscribed", |e| match e {
        Event::Subscribed(id) => {
            fid = Some(id.clone());
            true
        }
        _ => false,
    });
    wait_for(
        &rx,
        "the task RUNNING",
        |e| matches!(e, Event::Update(s) if s.state == TaskState::Running),
    );
    let before = sleepers();
    assert_eq!(
        before.len(),
        1,
        "one sleep process: {before:?}\n{}",
        c.logs()
    );

    // kill -9 the master, start it again with the same work dir.
    let m = &mut c.procs.children[master];
    m.kill().expect("SIGKILL the master");
    let _ = m.wait();
    assert!(c.home().join("master/registry.redb").exists());
    let restarted = Instant::now();
    c.start_master();

    // The framework re-subscribes with its id, and reconciliation says RUNNING.
    wait_for(
        &rx,
        "re-subscription with the same id",
        |e| matches!(e, Event::Subscribed(id) if Some(id) == fid.as_ref()),
    );
    // The agent re-registers and the master lists the task again.
    let mut last = serde_json::Value::Null;
    poll("`drover tasks` to list the task RUNNING", || {
        last = c.tasks();
        last.as_array().is_some_and(|l| {
            l.iter()
                .any(|t| t["id"] == "sleeper" && t["state"] == "TASK_RUNNING")
        })
    });
    let back = restarted.elapsed();
    // Explicit reconciliation after the restart (what the scheduler did at subscription
    // time was answered before the agent was back: a scheduler retries) says RUNNING.
    driver
        .reconcile(vec![drover_proto::ReconcileTask {
            task_id: "sleeper".into(),
            agent_id: None,
        }])
        .expect("reconcile");
    wait_for(
        &rx,
        "reconciliation: RUNNING",
        |e| matches!(e, Event::Update(s) if s.task_id.as_str() == "sleeper" && s.state == TaskState::Running),
    );
    // Not restarted: the same process, and only it.
    assert_eq!(sleepers(), before, "tasks {last}\n{}", c.logs());
    let agents = c.drover(&["agents", "--json", "--master", &c.addr(0)]);
    let agents: serde_json::Value = serde_json::from_slice(&agents.stdout).expect("JSON");
    assert_eq!(agents.as_array().map(Vec::len), Some(1), "{agents}");
    eprintln!("task listed RUNNING again {back:?} after the master restart");
    drop(driver);
}
