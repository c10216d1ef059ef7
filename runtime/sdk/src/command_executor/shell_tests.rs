//! Real-process tests of the command executor shell, without an agent: a fake outbox
//! records the updates and the test plays the driver's part.

use super::*;
use drover_proto::{AgentId, CommandInfo, Parameter, Resources, TaskState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use tokio::sync::mpsc::unbounded_channel;

/// Records updates; `stopped` flips on stop.
#[derive(Debug, Clone)]
struct FakeOutbox {
    updates: std_mpsc::Sender<TaskStatus>,
    stopped: Arc<AtomicBool>,
}

impl Outbox for FakeOutbox {
    fn update(&self, status: TaskStatus) {
        let _ = self.updates.send(status);
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

struct Harness {
    inputs: UnboundedSender<Input>,
    updates: std_mpsc::Receiver<TaskStatus>,
    stopped: Arc<AtomicBool>,
    shell: tokio::task::JoinHandle<i32>,
    sandbox: tempfile::TempDir,
}

impl Harness {
    fn start(ack_timeout: Duration) -> Harness {
        let sandbox = tempfile::tempdir().expect("temp dir");
        let (tx, updates) = std_mpsc::channel();
        let stopped = Arc::new(AtomicBool::new(false));
        let outbox = FakeOutbox {
            updates: tx,
            stopped: stopped.clone(),
        };
        let (inputs, rx) = unbounded_channel();
        let shell = Shell::new(outbox, sandbox.path().to_path_buf(), ack_timeout);
        let shell = tokio::spawn(shell.run(rx));
        Harness {
            inputs,
            updates,
            stopped,
            shell,
            sandbox,
        }
    }

    fn send(&self, input: Input) {
        self.inputs.send(input).expect("shell running");
    }

    /// The next update, waiting up to 10 s.
    async fn next(&self) -> TaskStatus {
        for _ in 0..1000 {
            if let Ok(s) = self.updates.try_recv() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no update within 10 s");
    }

    async fn ack(&self, status: &TaskStatus) {
        self.send(Input::Acknowledged {
            task_id: status.task_id.clone(),
            state: status.state,
        });
    }

    async fn exit_code(self) -> i32 {
        let code = tokio::time::timeout(Duration::from_secs(10), self.shell)
            .await
            .expect("shell exits")
            .expect("shell did not panic");
        assert!(self.stopped.load(Ordering::SeqCst), "driver not stopped");
        code
    }
}

fn task(command: CommandInfo) -> TaskInfo {
    TaskInfo::command("t1", AgentId::new("a1"), Resources::new(), command)
}

#[tokio::test]
async fn a_command_runs_in_the_sandbox_with_its_environment() {
    let h = Harness::start(Duration::from_secs(10));
    let mut cmd = CommandInfo::shell("pwd > where; echo \"$GREETING\" > env; exit 0");
    cmd.environment.push(Parameter::new("GREETING", "hello"));
    h.send(Input::Launch(task(cmd)));
    assert_eq!(h.next().await.state, TaskState::Starting);
    assert_eq!(h.next().await.state, TaskState::Running);
    let done = h.next().await;
    assert_eq!(done.state, TaskState::Finished);
    let where_ = std::fs::read_to_string(h.sandbox.path().join("where")).expect("pwd output");
    let expected = h.sandbox.path().canonicalize().expect("canonical sandbox");
    assert_eq!(where_.trim(), expected.to_string_lossy());
    let env = std::fs::read_to_string(h.sandbox.path().join("env")).expect("env output");
    assert_eq!(env.trim(), "hello");
    h.ack(&done).await;
    assert_eq!(h.exit_code().await, 0);
}

#[tokio::test]
async fn an_argv_command_gets_its_arguments() {
    let h = Harness::start(Duration::from_secs(10));
    let cmd = CommandInfo::argv("/bin/sh", ["-c", "exit \"$0\"", "7"]);
    h.send(Input::Launch(task(cmd)));
    h.next().await;
    h.next().await;
    let done = h.next().await;
    assert_eq!(done.state, TaskState::Failed);
    assert_eq!(
        done.message.as_deref(),
        Some("Command exited with status 7")
    );
    h.ack(&done).await;
    assert_eq!(h.exit_code().await, 0);
}

#[tokio::test]
async fn a_missing_program_fails_naming_it() {
    let h = Harness::start(Duration::from_secs(10));
    let cmd = CommandInfo::argv("/nonexistent/drover-test-binary", Vec::<String>::new());
    h.send(Input::Launch(task(cmd)));
    assert_eq!(h.next().await.state, TaskState::Starting);
    let failed = h.next().await;
    assert_eq!(failed.state, TaskState::Failed);
    let message = failed.message.expect("message");
    assert!(
        message.contains("/nonexistent/drover-test-binary"),
        "{message}"
    );
}

#[tokio::test]
async fn kill_terminates_the_whole_process_group() {
    let h = Harness::start(Duration::from_secs(10));
    // A background grandchild writes its pid; the kill must reach it too.
    let cmd = CommandInfo::shell("sleep 60 & echo $! > bg; wait");
    h.send(Input::Launch(task(cmd)));
    h.next().await;
    assert_eq!(h.next().await.state, TaskState::Running);
    let bg = h.sandbox.path().join("bg");
    let mut pid = None;
    for _ in 0..500 {
        if let Some(p) = std::fs::read_to_string(&bg)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            pid = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = pid.expect("background pid written");
    h.send(Input::Kill {
        task_id: TaskId::new("t1"),
        kill_policy: None,
    });
    let killed = h.next().await;
    assert_eq!(killed.state, TaskState::Killed);
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal SIGTERM")
    );
    // The grandchild got SIGTERM too (it is not our child, so it may linger as a
    // zombie of init for a moment: check it is gone or a zombie).
    let mut gone = false;
    for _ in 0..500 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "background process {pid} survived the kill");
    h.ack(&killed).await;
    assert_eq!(h.exit_code().await, 0);
}

#[tokio::test]
async fn a_command_ignoring_sigterm_is_killed_after_the_grace_period() {
    let h = Harness::start(Duration::from_secs(10));
    let mut t = task(CommandInfo::shell(
        "trap '' TERM; echo ready > ready; while :; do sleep 0.05; done",
    ));
    t.kill_policy = Some(KillPolicy {
        grace_period: Duration::from_millis(300),
    });
    h.send(Input::Launch(t));
    h.next().await;
    h.next().await;
    let ready = h.sandbox.path().join("ready");
    for _ in 0..500 {
        if ready.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    h.send(Input::Kill {
        task_id: TaskId::new("t1"),
        kill_policy: None,
    });
    let killed = h.next().await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "killed before the grace period"
    );
    assert_eq!(killed.state, TaskState::Killed);
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal SIGKILL")
    );
}

#[tokio::test]
async fn without_an_acknowledgement_the_executor_exits_after_the_timeout() {
    let h = Harness::start(Duration::from_millis(200));
    h.send(Input::Launch(task(CommandInfo::shell("exit 0"))));
    h.next().await;
    h.next().await;
    assert_eq!(h.next().await.state, TaskState::Finished);
    assert_eq!(h.exit_code().await, 0);
}
