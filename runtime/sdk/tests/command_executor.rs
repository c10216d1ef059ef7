//! The command executor end to end against a fake agent on the real transport: a task
//! runs to completion, survives an agent restart (re-subscription with what is
//! unacknowledged), and is killed when the agent stays away past the recovery timeout.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{certs, FakeServer};
use drover_proto::codec::Role;
use drover_proto::{
    AgentId, CommandInfo, ContainerId, ExecutorCall, ExecutorEvent, ExecutorId, ExecutorInfo,
    FrameworkId, FrameworkInfo, Resources, TaskId, TaskInfo, TaskState, TaskStatus,
    TaskStatusSource,
};
use drover_sdk::executor::ExecutorConfig;
use drover_sdk::SdkError;

type Agent = FakeServer<ExecutorCall, ExecutorEvent>;

struct Setup {
    tls: tempfile::TempDir,
    sandbox: tempfile::TempDir,
}

fn setup() -> Setup {
    let tls = tempfile::tempdir().expect("temp dir");
    certs(
        tls.path(),
        &[(Role::Agent, "agent"), (Role::Executor, "executor")],
    );
    Setup {
        tls,
        sandbox: tempfile::tempdir().expect("sandbox"),
    }
}

fn agent(s: &Setup, bind: SocketAddr) -> Agent {
    Agent::start(s.tls.path(), "agent", bind, Role::Executor)
}

/// Starts the command executor against `agent` on a thread, as `drover executor` would.
fn executor(s: &Setup, agent: SocketAddr, recovery: Duration) -> JoinHandle<Result<i32, SdkError>> {
    let config = ExecutorConfig {
        agent_addr: agent.to_string(),
        agent_id: AgentId::new("a1"),
        framework_id: FrameworkId::new("f1"),
        executor_id: ExecutorId::new("e1"),
        container_id: ContainerId::new("c1"),
        sandbox: s.sandbox.path().to_path_buf(),
        tls_dir: s.tls.path().to_path_buf(),
        tls_name: "executor".into(),
        recovery_timeout: recovery,
        recovery_shutdown_grace: Duration::from_millis(500),
    };
    std::thread::spawn(move || drover_sdk::command_executor::run_with(config))
}

fn subscribed() -> ExecutorEvent {
    ExecutorEvent::Subscribed {
        executor_info: ExecutorInfo {
            executor_id: ExecutorId::new("e1"),
            framework_id: Some(FrameworkId::new("f1")),
            command: CommandInfo::shell("drover executor"),
            container: None,
            resources: Resources::new(),
            name: None,
        },
        framework_info: FrameworkInfo::new("fw", "nobody"),
        agent_id: AgentId::new("a1"),
        container_id: ContainerId::new("c1"),
    }
}

fn launch(command: &str) -> ExecutorEvent {
    ExecutorEvent::Launch {
        task: TaskInfo::command(
            "t1",
            AgentId::new("a1"),
            Resources::new(),
            CommandInfo::shell(command),
        ),
    }
}

async fn update(agent: &mut Agent) -> TaskStatus {
    match agent.next().await {
        ExecutorCall::Update { status } => status,
        other => panic!("expected an update, got {other:?}"),
    }
}

fn ack(agent: &Agent, status: &TaskStatus) {
    agent.send(ExecutorEvent::Acknowledged {
        task_id: status.task_id.clone(),
        uuid: status.uuid.expect("updates carry a uuid"),
    });
}

async fn finished(thread: JoinHandle<Result<i32, SdkError>>) -> Result<i32, SdkError> {
    for _ in 0..1500 {
        if thread.is_finished() {
            return thread.join().expect("executor thread did not panic");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the executor did not exit");
}

async fn wait_for_file(path: &Path) -> String {
    for _ in 0..1000 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} not written", path.display());
}

#[tokio::test]
async fn runs_a_task_and_exits_after_the_terminal_acknowledgement() {
    let s = setup();
    let mut agent = agent(&s, "127.0.0.1:0".parse().expect("addr"));
    let thread = executor(&s, agent.addr(), Duration::from_secs(60));

    let ExecutorCall::Subscribe {
        container_id,
        unacknowledged_tasks,
        ..
    } = agent.next().await
    else {
        panic!("expected Subscribe");
    };
    assert_eq!(container_id, ContainerId::new("c1"));
    assert!(unacknowledged_tasks.is_empty());
    agent.send(subscribed());
    agent.send(launch("echo out; echo err >&2; exit 0"));

    let mut states = Vec::new();
    for _ in 0..3 {
        let status = update(&mut agent).await;
        assert_eq!(status.source, TaskStatusSource::Executor);
        assert_eq!(status.executor_id, Some(ExecutorId::new("e1")));
        assert_eq!(status.agent_id, Some(AgentId::new("a1")));
        assert!(status.timestamp > 0.0);
        states.push(status.state);
        ack(&agent, &status);
    }
    assert_eq!(
        states,
        [TaskState::Starting, TaskState::Running, TaskState::Finished]
    );
    assert_eq!(finished(thread).await.expect("clean exit"), 0);
}

#[tokio::test]
async fn survives_an_agent_restart_and_hands_over_what_is_unacknowledged() {
    let s = setup();
    let mut first = agent(&s, "127.0.0.1:0".parse().expect("addr"));
    let addr = first.addr();
    let thread = executor(&s, addr, Duration::from_secs(60));
    first.next().await;
    first.send(subscribed());
    first.send(launch("while [ ! -f go ]; do sleep 0.02; done"));
    assert_eq!(update(&mut first).await.state, TaskState::Starting);
    assert_eq!(update(&mut first).await.state, TaskState::Running);

    // The agent goes away before acknowledging anything, and comes back on its port.
    first.node.shutdown();
    drop(first);
    let mut second = None;
    for _ in 0..100 {
        match Agent::try_start(s.tls.path(), "agent", addr, Role::Executor) {
            Ok(a) => {
                second = Some(a);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut second = second.expect("agent restarted on the same port");
    let ExecutorCall::Subscribe {
        unacknowledged_tasks,
        unacknowledged_updates,
        ..
    } = second.next().await
    else {
        panic!("expected a re-Subscribe");
    };
    assert_eq!(unacknowledged_tasks.len(), 1);
    assert_eq!(unacknowledged_tasks[0].task_id, TaskId::new("t1"));
    let states: Vec<TaskState> = unacknowledged_updates.iter().map(|u| u.state).collect();
    assert_eq!(states, [TaskState::Starting, TaskState::Running]);
    second.send(subscribed());
    for status in &unacknowledged_updates {
        ack(&second, status);
    }

    std::fs::write(s.sandbox.path().join("go"), b"").expect("write go");
    let done = update(&mut second).await;
    assert_eq!(done.state, TaskState::Finished);
    ack(&second, &done);
    assert_eq!(finished(thread).await.expect("clean exit"), 0);
}

#[tokio::test]
async fn kills_the_task_when_the_agent_stays_away_past_the_recovery_timeout() {
    let s = setup();
    let mut agent = agent(&s, "127.0.0.1:0".parse().expect("addr"));
    let thread = executor(&s, agent.addr(), Duration::from_millis(500));
    agent.next().await;
    agent.send(subscribed());
    agent.send(launch("echo $$ > pid; exec sleep 60"));
    update(&mut agent).await;
    assert_eq!(update(&mut agent).await.state, TaskState::Running);
    let pid: PathBuf = s.sandbox.path().join("pid");
    let pid = wait_for_file(&pid).await.trim().to_owned();

    agent.node.shutdown();
    drop(agent);
    match finished(thread).await {
        Err(SdkError::RecoveryTimeout { timeout }) => {
            assert_eq!(timeout, Duration::from_millis(500));
        }
        other => panic!("expected RecoveryTimeout, got {other:?}"),
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let stat = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z"),
        "task process {pid} still runs"
    );
}
