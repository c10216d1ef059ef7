//! Framework failover with real processes: `drover master`, `drover agent
//! --containerizers posix`, and a scheduler in a process of its own (this test binary
//! re-executed as [`failover_scheduler_child`]) that launches one `sleep` with a
//! `failover_timeout`. The scheduler is killed with SIGKILL and started again with the
//! same framework id inside the timeout: the task is untouched (same pid, RUNNING, and
//! still so well after the first timeout would have passed). The second scheduler is
//! killed too and not restarted: after the timeout the task is killed — promptly, since
//! the master notices the dead scheduler within its connection's idle timeout (1.5 s).
//!
//! Every process the test starts is owned by a guard that SIGKILLs it (and the
//! executors and tasks it started) when dropped, so a failing assertion leaks nothing.

#[allow(dead_code, reason = "shared helpers; this test uses some")]
mod restart_support;

use drover_proto::{
    CommandInfo, FrameworkId, FrameworkInfo, Offer, Operation, Resources, TaskInfo, TaskStatus,
};
use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver, DEFAULT_IDLE_TIMEOUT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use restart_support::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable that turns this binary into the scheduler process:
/// `<master>|<tls dir>|<framework id or empty>`.
const CHILD: &str = "DROVER_FAILOVER_CHILD";
/// The framework's failover timeout.
const FAILOVER: Duration = Duration::from_secs(4);
/// The task's `sleep` argument (unique to this test).
const SLEEP: &str = "41.25";

/// Launches one `sleep` unless it resumes a framework; prints what it hears.
struct Sleeper {
    resume: bool,
}

impl Scheduler for Sleeper {
    fn subscribed(
        &mut self,
        driver: &SchedulerDriver,
        framework_id: FrameworkId,
        _master: drover_proto::MasterInfo,
    ) {
        let _ = driver.reconcile(vec![]);
        println!("SUBSCRIBED {framework_id}");
    }

    fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>) {
        let need = Resources::parse("cpus:0.1;mem:32").expect("constant resources");
        let filters = drover_proto::Filters {
            refuse_seconds: 1.0,
        };
        for offer in offers {
            let _ = if self.resume || !offer.resources.contains(&need) {
                driver.decline(offer.id, filters)
            } else {
                self.resume = true;
                let task = TaskInfo::command(
                    "failover-sleeper",
                    offer.agent_id.clone(),
                    need.clone(),
                    CommandInfo::shell(format!("exec sleep {SLEEP}")),
                );
                driver.accept(
                    vec![offer.id],
                    vec![Operation::Launch { tasks: vec![task] }],
                    filters,
                )
            };
        }
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, status: TaskStatus) {
        println!("UPDATE {} {}", status.task_id, status.state);
    }
}

/// The scheduler process (does nothing unless started by the test below).
#[test]
#[ignore = "run as a child process by the failover test"]
fn failover_scheduler_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [master, tls, fid] = parts[..] else {
        panic!("bad {CHILD}: {spec}");
    };
    let mut info = FrameworkInfo::new("failover-test", "root");
    info.failover_timeout = FAILOVER;
    if !fid.is_empty() {
        info.id = Some(FrameworkId::new(fid));
    }
    let config = SchedulerConfig::new(
        vec![master.to_owned()],
        std::path::PathBuf::from(tls),
        "scheduler",
        info,
    );
    let sched = Sleeper {
        resume: !fid.is_empty(),
    };
    let (_driver, _run) = SchedulerDriver::start(config, sched).expect("driver starts");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn scheduler(home: &std::path::Path, master: &str, fid: &str, log: &str) -> Child {
    let out = std::fs::File::create(home.join(log)).expect("log file");
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "failover_scheduler_child",
            "--nocapture",
        ])
        .env(
            CHILD,
            format!("{master}|{}|{fid}", home.join("tls").display()),
        )
        .env("DROVER_HOME", home)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .expect("the scheduler process starts")
}

fn log_line(home: &std::path::Path, log: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(home.join(log)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
}

#[test]
fn a_scheduler_killed_and_back_within_its_failover_timeout_keeps_its_task_and_not_after() {
    let home_dir = tempfile::tempdir().expect("temp dir");
    let home = home_dir.path();
    let _logs = Logs(home);
    issue_certs(home);
    let port = free_ports(2, 3);
    let master = format!("127.0.0.1:{port}");
    let agent_addr = format!("127.0.0.1:{}", port + 1);
    let mut guard = Guard::default();
    guard.home = Some(home.to_path_buf());
    guard.sleeps = vec![SLEEP];
    let master_args = master_args(&master, &home.join("master"), &[]);
    guard.children.push(spawn(home, &master_args, "master.log"));
    let agent_args = agent_args(
        &master,
        &agent_addr,
        &home.join("agent"),
        "posix",
        &["--resources", "cpus:2;mem:1024"],
    );
    guard.children.push(spawn(home, &agent_args, "agent-1.log"));
    poll("the agent to register", || {
        query(home, "agents", &master)?
            .as_array()?
            .first()
            .map(|_| ())
    });

    // The first scheduler launches the task.
    guard.children.push(scheduler(home, &master, "", "run.log"));
    let fid = poll("the framework id", || {
        log_line(home, "run.log", "SUBSCRIBED ")
    });
    let (task_id, _) = task_in(home, &master, "TASK_RUNNING", &[]);
    let is_task =
        |argv: &[String]| argv.len() == 2 && argv[0].ends_with("sleep") && argv[1] == SLEEP;
    let pid = poll("the task's process", || find(is_task).first().copied());
    guard.pids.push(pid);

    // kill -9 the scheduler; a new one with the same id comes back inside the timeout.
    let mut first = guard.children.remove(2);
    kill(Pid::from_raw(first.id() as i32), Signal::SIGKILL).expect("kill -9 the scheduler");
    let _ = first.wait();
    let killed = Instant::now();
    std::thread::sleep(FAILOVER / 4);
    guard
        .children
        .push(scheduler(home, &master, &fid, "run-doomed.log"));
    poll("the scheduler to re-subscribe", || {
        log_line(home, "run-doomed.log", &format!("SUBSCRIBED {fid}"))
    });
    poll("reconciliation to say RUNNING", || {
        log_line(
            home,
            "run-doomed.log",
            &format!("UPDATE {task_id} TASK_RUNNING"),
        )
    });
    // Well past the first scheduler's deadline: the task is untouched.
    std::thread::sleep((FAILOVER + Duration::from_secs(2)).saturating_sub(killed.elapsed()));
    assert!(alive(pid), "the task survived its scheduler's failover");
    assert_eq!(find(is_task), vec![pid], "the same process, not a relaunch");
    wait_state(home, &master, &task_id, "TASK_RUNNING");
    let log = std::fs::read_to_string(home.join("run-doomed.log")).unwrap_or_default();
    for bad in ["TASK_KILLED", "TASK_LOST", "TASK_FAILED"] {
        assert!(!log.contains(bad), "the framework saw {bad}:\n{log}");
    }

    // kill -9 the second scheduler and let the timeout pass: the task is killed.
    let mut second = guard.children.remove(2);
    kill(Pid::from_raw(second.id() as i32), Signal::SIGKILL).expect("kill -9 the scheduler");
    let _ = second.wait();
    let killed = Instant::now();
    poll("the task to be killed after the failover timeout", || {
        (!alive(pid)).then_some(())
    });
    let after = killed.elapsed();
    assert!(
        after >= FAILOVER - Duration::from_millis(500),
        "killed only after the failover timeout ({FAILOVER:?}), not {after:?}"
    );
    // The master notices the death within the scheduler connection's idle timeout
    // (1.5 s, not the transport's 5 s), then waits the failover timeout; the kill
    // itself and the polling take the rest.
    let bound = FAILOVER + DEFAULT_IDLE_TIMEOUT + Duration::from_secs(1);
    assert!(
        after <= bound,
        "killed {after:?} after the scheduler's death: failover_timeout {FAILOVER:?} started late (bound {bound:?})"
    );
    eprintln!("task killed {after:?} after its scheduler's death (failover_timeout {FAILOVER:?})");
}
