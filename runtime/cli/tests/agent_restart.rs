//! Agent restart with running tasks, with real processes: `drover master`, `drover
//! agent --containerizers posix` (and `native` when root) and three `drover run`s.
//! The agent is `kill -9`ed and, while it is down, the executor of the second task is
//! killed and the third task ends by itself; then the agent is started again on the
//! same work dir. The first task's process must still be the same one, the master must
//! still list it RUNNING on the same agent id, nothing may be launched twice, and the
//! task must then finish normally (`drover run` exits 0). The second task must be
//! reported TASK_FAILED (executor terminated) and its leftover process killed. The third
//! must be reported TASK_FINISHED: its executor kept the terminal update and resent it
//! when it subscribed to the restarted agent.
//!
//! Every process the test starts is owned by a guard that SIGKILLs it (and, for the
//! agent, the executors and tasks it started) when dropped, so a failing assertion
//! leaks nothing.

#[allow(dead_code, reason = "shared helpers; this test uses some")]
mod restart_support;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use restart_support::*;
use std::time::Instant;

/// One run of the scenario: the containerizer, and the distinct durations of its two
/// tasks (the tests run in parallel; each guard kills only its own).
struct Variant {
    containerizer: &'static str,
    sleep: &'static str,
    sleep_doomed: &'static str,
    port_salt: u64,
}

#[test]
fn a_kill_9_posix_agent_restarted_on_its_work_dir_keeps_its_running_task() {
    restart_scenario(&Variant {
        containerizer: "posix",
        sleep: "14.75",
        sleep_doomed: "14.5",
        port_salt: 1,
    });
}

#[test]
fn a_kill_9_native_agent_restarted_on_its_work_dir_keeps_its_running_task() {
    if !is_root_or_skip("the native containerizer") {
        return;
    }
    restart_scenario(&Variant {
        containerizer: "native",
        sleep: "14.25",
        sleep_doomed: "14.0",
        port_salt: 2,
    });
}

fn restart_scenario(v: &Variant) {
    let (sleep, sleep_doomed) = (v.sleep, v.sleep_doomed);
    let home_dir = tempfile::tempdir().expect("temp dir");
    let home = home_dir.path();
    let _logs = Logs(home);
    issue_certs(home);
    let port = free_ports(2, v.port_salt);
    let master = format!("127.0.0.1:{port}");
    let agent_addr = format!("127.0.0.1:{}", port + 1);
    let work_dir = home.join("agent");
    let mut guard = Guard::default();
    guard.home = Some(home.to_path_buf());
    guard.sleeps = vec![sleep, sleep_doomed];
    // Default failure detection (unreachable after 2.5 s): a plain restart must be
    // faster than that, so that the framework never sees TASK_UNREACHABLE.
    let master_args = master_args(&master, &home.join("master"), &[]);
    guard.children.push(spawn(home, &master_args, "master.log"));
    let agent_args = agent_args(
        &master,
        &agent_addr,
        &work_dir,
        v.containerizer,
        &[
            "--resources",
            "cpus:2;mem:1024;disk:1024;ports:[31000-31010]",
        ],
    );
    guard.children.push(spawn(home, &agent_args, "agent-1.log"));
    let agent_id = poll("the agent to register", || {
        let v = query(home, "agents", &master)?;
        let a = v.as_array()?.first()?.clone();
        a["id"].as_str().map(str::to_owned)
    });

    let mut run = Guard::default();
    run.children.push(spawn(
        home,
        &[
            "run", "--master", &master, "--name", "sleeper", "--", "sleep", sleep,
        ],
        "run.log",
    ));
    let (task_id, on_agent) = task_in(home, &master, "TASK_RUNNING", &[]);
    assert_eq!(on_agent, agent_id);
    run.children.push(spawn(
        home,
        &[
            "run",
            "--master",
            &master,
            "--name",
            "doomed",
            "--",
            "sleep",
            sleep_doomed,
        ],
        "run-doomed.log",
    ));
    let (doomed_id, _) = task_in(home, &master, "TASK_RUNNING", &[&task_id]);
    // A third task ends by itself while the agent is down: its executor must keep the
    // terminal update and hand it to the restarted agent.
    let go = home.join("ender-go");
    let ender_cmd = format!("while [ ! -e {} ]; do sleep 0.05; done", go.display());
    run.children.push(spawn(
        home,
        &[
            "run", "--master", &master, "--name", "ender", "--", &ender_cmd,
        ],
        "run-ender.log",
    ));
    let (ender_id, _) = task_in(home, &master, "TASK_RUNNING", &[&task_id, &doomed_id]);
    let is_ender = |argv: &[String]| argv.get(2).is_some_and(|a| *a == ender_cmd);
    let ender_pid = poll("the ending task's process", || {
        find(is_ender).first().copied()
    });
    guard.pids.push(ender_pid);
    let is_doomed =
        |argv: &[String]| argv.len() == 2 && argv[0].ends_with("sleep") && argv[1] == sleep_doomed;
    let doomed_pid = poll("the doomed task's process", || {
        find(is_doomed).first().copied()
    });
    guard.pids.push(doomed_pid);
    let is_task =
        |argv: &[String]| argv.len() == 2 && argv[0].ends_with("sleep") && argv[1] == sleep;
    let task_pid = poll("the task's process", || find(is_task).first().copied());
    let is_executor = |argv: &[String]| {
        argv.first().is_some_and(|a| a.ends_with("drover"))
            && argv.get(1).is_some_and(|a| a == "executor")
    };
    let executors: Vec<i32> = find(is_executor)
        .into_iter()
        .filter(|p| mentions(*p, home))
        .collect();
    guard.pids.push(task_pid);
    guard.pids.extend(&executors);
    assert_eq!(executors.len(), 3, "one executor per task: {executors:?}");
    let (ender_executor, executors): (Vec<i32>, Vec<i32>) =
        executors.iter().partition(|p| mentions_str(**p, &ender_id));
    let (doomed_executor, executor): (Vec<i32>, Vec<i32>) = executors
        .iter()
        .partition(|p| mentions_str(**p, &doomed_id));
    assert_eq!(
        (ender_executor.len(), doomed_executor.len(), executor.len()),
        (1, 1, 1),
        "{executors:?}"
    );

    // kill -9 the agent, start it again on the same work dir.
    let checkpoint = work_dir.join("meta/agent.json");
    assert!(
        checkpoint.exists(),
        "the agent checkpointed into {}",
        checkpoint.display()
    );
    let mut old = guard.children.remove(1);
    kill(Pid::from_raw(old.id() as i32), Signal::SIGKILL).expect("kill -9 the agent");
    let _ = old.wait();
    assert!(
        alive(task_pid) && alive(executor[0]),
        "the task outlives its agent"
    );
    // While the agent is down, the doomed task's executor dies (its task process is
    // left behind in the container).
    kill(Pid::from_raw(doomed_executor[0]), Signal::SIGKILL).expect("kill the executor");
    // And the third task ends (its executor cannot reach the agent with the update).
    std::fs::write(&go, b"").expect("write the go file");
    poll("the ending task to exit while the agent is down", || {
        (!alive(ender_pid)).then_some(())
    });
    guard.children.push(spawn(home, &agent_args, "agent-2.log"));

    // Re-attached: same agent id, same task, same process, RUNNING, never relaunched.
    let agent_state = || -> Option<serde_json::Value> {
        let url = format!("http://{agent_addr}/state");
        reqwest::blocking::get(url).ok()?.json().ok()
    };
    let restarted = Instant::now();
    poll("the restarted agent to re-register", || {
        let s = agent_state()?;
        (s["registered"] == true).then_some(())
    });
    let reregistered_in = restarted.elapsed();
    let running_executors = |state: &serde_json::Value| {
        state["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| f["executors"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["state"] == "RUNNING")
            .count()
    };
    // The task that ended while the agent was down is reported TASK_FINISHED (not
    // failed with an unknown exit status): its executor resent the update on its
    // Subscribe, then exited once it was acknowledged.
    let status = poll("the ended task's `drover run` to end", || {
        run.children[2].try_wait().ok().flatten()
    });
    let log = std::fs::read_to_string(home.join("run-ender.log")).unwrap_or_default();
    assert!(status.success(), "drover run (ender): {status:?}\n{log}");
    assert!(
        log.contains(&format!("task {ender_id} TASK_FINISHED")),
        "{log}"
    );
    assert!(!log.contains("TASK_FAILED"), "{log}");
    poll("the ended task's executor to exit", || {
        (!alive(ender_executor[0])).then_some(())
    });
    poll("the live executor to subscribe again", || {
        (running_executors(&agent_state()?) == 1).then_some(())
    });
    let resubscribed_in = restarted.elapsed();
    let state = agent_state().expect("agent /state");
    let used = state["containerizers"][0].as_str().unwrap_or("").to_owned();
    if used != v.containerizer {
        eprintln!(
            "note: {} cannot run here; the agent fell back to {used}",
            v.containerizer
        );
    }
    assert_eq!(state["id"].as_str(), Some(agent_id.as_str()), "{state}");
    assert_eq!(
        running_executors(&state),
        1,
        "the live executor re-subscribed: {state}"
    );
    let on_agent = wait_state(home, &master, &task_id, "TASK_RUNNING");
    assert_eq!(on_agent, agent_id);
    // The dead executor's task failed (the framework hears it; `drover run` then tears
    // its framework down, so the master no longer lists it), and its leftover process
    // was cleaned up.
    poll("the dead executor's task process to be killed", || {
        (!alive(doomed_pid)).then_some(())
    });
    let status = poll("the doomed `drover run` to end", || {
        run.children[1].try_wait().ok().flatten()
    });
    let log = std::fs::read_to_string(home.join("run-doomed.log")).unwrap_or_default();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("TASK_FAILED (REASON_EXECUTOR_TERMINATED)"),
        "{log}"
    );
    assert_eq!(
        find(is_task),
        vec![task_pid],
        "the same process, not a relaunch"
    );
    let now: Vec<i32> = find(is_executor)
        .into_iter()
        .filter(|p| mentions(*p, home))
        .collect();
    assert_eq!(now, executor, "the same executor");
    let agents = query(home, "agents", &master).expect("agents");
    assert_eq!(
        agents.as_array().map(Vec::len),
        Some(1),
        "no second agent: {agents}"
    );

    // The task then finishes normally and its FINISHED reaches the framework.
    let status = poll("`drover run` to end", || {
        run.children[0].try_wait().ok().flatten()
    });
    let log = std::fs::read_to_string(home.join("run.log")).unwrap_or_default();
    assert!(status.success(), "drover run: {status:?}\n{log}");
    assert!(
        log.contains(&format!("task {task_id} TASK_FINISHED")),
        "{log}"
    );
    for bad in [
        "TASK_LOST",
        "TASK_FAILED",
        "TASK_UNREACHABLE",
        "TASK_KILLED",
    ] {
        assert!(!log.contains(bad), "the framework saw {bad}:\n{log}");
    }
    let launches = log.matches("launching task").count();
    assert_eq!(launches, 1, "launched once:\n{log}");
    assert!(!alive(task_pid));
    eprintln!(
        "agent re-registered {reregistered_in:?} and its executor subscribed again \
         {resubscribed_in:?} after its restart"
    );
}
