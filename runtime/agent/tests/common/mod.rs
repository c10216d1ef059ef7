//! Shared by the agent's integration tests: a fake master on the real QUIC transport,
//! certificates, task helpers and a minimal HTTP client.
#![allow(dead_code, unreachable_pub)]

use drover_proto::codec::Role;
use drover_proto::{
    AgentInfo, AgentToMaster, CommandInfo, ExecutorId, FrameworkInfo, MasterInfo, MasterToAgent,
    Parameter, Resources, TaskInfo, TaskState, TaskStatus,
};
use drover_transport::{init_ca, issue, Node, NodeConfig, PeerSender, ServerEvent};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;

/// Longest wait for anything in these tests.
pub const WAIT: Duration = Duration::from_secs(15);

/// A temporary cluster: `tls/` with a CA and master, agent and executor certificates,
/// and the agent's `work/`.
pub struct Dirs {
    _tmp: tempfile::TempDir,
    pub tls: PathBuf,
    pub work: PathBuf,
}

impl Dirs {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (tls, work) = (tmp.path().join("tls"), tmp.path().join("work"));
        std::fs::create_dir_all(&tls).unwrap();
        init_ca(&tls).unwrap();
        issue(&tls, Role::Agent, "agent").unwrap();
        issue(&tls, Role::Executor, "executor").unwrap();
        Self {
            _tmp: tmp,
            tls,
            work,
        }
    }
}

/// The master side of a test: a transport node serving agents.
pub struct FakeMaster {
    node: Node,
    events: UnboundedReceiver<ServerEvent<AgentToMaster, MasterToAgent>>,
    to_agent: Option<PeerSender<MasterToAgent>>,
    /// `ExecutorExited` messages seen so far: (executor, status).
    pub exits: Vec<(ExecutorId, Option<i32>)>,
}

impl FakeMaster {
    pub fn start(dirs: &Dirs) -> Self {
        let identity = issue(&dirs.tls, Role::Master, "master").unwrap();
        let node = Node::new(NodeConfig::new(identity, "127.0.0.1:0".parse().unwrap())).unwrap();
        let events = node.serve_channel(&[Role::Agent]).unwrap();
        Self {
            node,
            events,
            to_agent: None,
            exits: Vec::new(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.node.local_addr()
    }

    /// The next message from the agent (connection events are absorbed).
    pub async fn recv(&mut self) -> AgentToMaster {
        loop {
            let ev = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("the agent said nothing in time")
                .expect("transport closed");
            match ev {
                ServerEvent::Connected(c) => {
                    assert_eq!(c.info.role, Role::Agent);
                    self.to_agent = Some(c.sender);
                }
                ServerEvent::Message(m) => return m.msg,
                ServerEvent::Disconnected(_) => self.to_agent = None,
            }
        }
    }

    /// Waits for `Register` and answers `Registered` as `agent-1`.
    pub async fn register(&mut self) -> AgentInfo {
        let agent = match self.recv().await {
            AgentToMaster::Register { agent } => agent,
            other => panic!("expected Register, got {other:?}"),
        };
        self.send(MasterToAgent::Registered {
            agent_id: "agent-1".into(),
            master_info: MasterInfo {
                id: "m".into(),
                hostname: "localhost".into(),
                port: self.addr().port(),
                http_port: 0,
                version: "test".into(),
            },
            ping_interval: Duration::from_secs(60),
        });
        agent
    }

    /// The next status update; pongs and registration retries are skipped, executor
    /// exits are recorded in [`exits`](Self::exits).
    pub async fn update(&mut self) -> TaskStatus {
        loop {
            match self.recv().await {
                AgentToMaster::StatusUpdate { status, .. } => return status,
                AgentToMaster::ExecutorExited {
                    executor_id,
                    status,
                    ..
                } => self.exits.push((executor_id, status)),
                AgentToMaster::Pong | AgentToMaster::Register { .. } => {}
                other => panic!("unexpected message {other:?}"),
            }
        }
    }

    /// The next `ExecutorExited` (one already seen by [`update`](Self::update) first).
    pub async fn executor_exit(&mut self) -> (ExecutorId, Option<i32>) {
        if !self.exits.is_empty() {
            return self.exits.remove(0);
        }
        loop {
            match self.recv().await {
                AgentToMaster::ExecutorExited {
                    executor_id,
                    status,
                    ..
                } => return (executor_id, status),
                AgentToMaster::Pong | AgentToMaster::Register { .. } => {}
                other => panic!("expected ExecutorExited, got {other:?}"),
            }
        }
    }

    pub fn send(&self, msg: MasterToAgent) {
        self.to_agent
            .as_ref()
            .expect("agent connected")
            .send(msg)
            .unwrap();
    }

    pub fn ack(&self, s: &TaskStatus) {
        self.send(MasterToAgent::Acknowledge {
            framework_id: "fw-1".into(),
            task_id: s.task_id.clone(),
            uuid: s.uuid.expect("agent updates carry a uuid"),
        });
    }

    /// Receives the next update, checks its task and state, and acknowledges it.
    pub async fn expect(&mut self, task: &str, state: TaskState) -> TaskStatus {
        let s = self.update().await;
        assert_eq!((s.task_id.as_str(), s.state), (task, state), "{s:?}");
        self.ack(&s);
        s
    }

    pub fn run(&self, task: TaskInfo) {
        self.send(MasterToAgent::RunTask {
            framework: framework(),
            task,
        });
    }
}

pub fn framework() -> FrameworkInfo {
    let mut f = FrameworkInfo::new("test", "root");
    f.id = Some("fw-1".into());
    f
}

/// A small command task with `labels`.
pub fn task(id: &str, labels: &[(&str, &str)]) -> TaskInfo {
    let mut t = TaskInfo::command(
        id,
        "agent-1".into(),
        Resources::parse("cpus:0.1;mem:32").unwrap(),
        CommandInfo::shell("sleep 1"),
    );
    t.labels = labels.iter().map(|(k, v)| Parameter::new(*k, *v)).collect();
    t
}

/// `GET path` on an HTTP server: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls `f` every 20 ms until it is `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
