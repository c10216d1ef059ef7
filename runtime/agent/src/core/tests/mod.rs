//! Tests of the pure core: inputs in, commands out, time injected.

mod availability;
mod executors;
mod kill;
mod mock;
mod reconcile;
mod recovery;
mod registration;
mod run_task;
mod status_updates;

use super::*;
use drover_proto::{
    AgentToMaster, CommandInfo, ExecutorCall, ExecutorEvent, FrameworkInfo, MasterToAgent,
    Resources, TaskInfo, TaskStatus, TaskStatusSource,
};

/// Ping interval given by the test master: long, so that tests about other timers do
/// not lose the master.
pub(super) const PING: Duration = Duration::from_secs(3600);

/// Settings of a test agent with the given containerizers.
pub(super) fn settings(containerizers: &[ContainerizerKind], t0: Instant) -> CoreSettings {
    CoreSettings {
        agent: AgentInfo {
            id: None,
            hostname: "node1".into(),
            http_port: 5051,
            resources: Resources::parse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]").unwrap(),
            attributes: vec![],
            containerizers: containerizers.iter().map(|k| k.to_string()).collect(),
        },
        masters: 1,
        containerizers: containerizers.to_vec(),
        work_dir: "/var/drover".into(),
        executor: ExecutorLaunch {
            program: "/usr/bin/drover".into(),
            args: vec!["executor".into()],
            agent_addr: "127.0.0.1:5051".into(),
            tls_dir: "/etc/drover/tls".into(),
            tls_name: "executor".into(),
            recovery_timeout: Duration::from_secs(900),
        },
        mock_sandboxes: false,
        timing: CoreTiming::default(),
        nonce: 0xabc,
        epoch_wall: 1_700_000_000.0,
        epoch_instant: t0,
        max_completed_tasks: 10,
    }
}

/// A test bench: a core and a clock.
pub(super) struct Bench {
    pub core: AgentCore,
    pub now: Instant,
}

impl Bench {
    pub(super) fn new(containerizers: &[ContainerizerKind]) -> Self {
        let now = Instant::now();
        Self {
            core: AgentCore::new(settings(containerizers, now)),
            now,
        }
    }

    /// A bench whose agent registered as `agent-1`.
    pub(super) fn registered(containerizers: &[ContainerizerKind]) -> Self {
        let mut b = Self::new(containerizers);
        b.input(Input::Start);
        b.input(Input::MasterConnected);
        b.master(MasterToAgent::Registered {
            agent_id: "agent-1".into(),
            master_info: master_info(),
            ping_interval: PING,
        });
        b
    }

    pub(super) fn input(&mut self, input: Input) -> Vec<Command> {
        self.core.handle(self.now, input)
    }

    pub(super) fn master(&mut self, msg: MasterToAgent) -> Vec<Command> {
        self.input(Input::Master(msg))
    }

    pub(super) fn executor(&mut self, conn: u64, call: ExecutorCall) -> Vec<Command> {
        self.input(Input::Executor {
            conn: ExecutorConn(conn),
            call,
        })
    }

    pub(super) fn advance(&mut self, d: Duration) -> Vec<Command> {
        self.now += d;
        self.input(Input::Tick)
    }

    pub(super) fn run(&mut self, task: TaskInfo) -> Vec<Command> {
        self.master(MasterToAgent::RunTask {
            framework: framework(),
            task,
        })
    }

    pub(super) fn ack(&mut self, status: &TaskStatus) -> Vec<Command> {
        self.master(MasterToAgent::Acknowledge {
            framework_id: "fw-1".into(),
            task_id: status.task_id.clone(),
            uuid: status.uuid.expect("sent updates carry a uuid"),
        })
    }

    /// Subscribes the executor of the (only) process container launched in `cmds`.
    pub(super) fn subscribe(&mut self, conn: u64, spec: &LaunchSpec) -> Vec<Command> {
        self.executor(
            conn,
            ExecutorCall::Subscribe {
                framework_id: spec.framework_id.clone(),
                executor_id: spec.executor_id.clone(),
                container_id: spec.container_id.clone(),
                unacknowledged_tasks: vec![],
                unacknowledged_updates: vec![],
            },
        )
    }
}

pub(super) fn master_info() -> drover_proto::MasterInfo {
    drover_proto::MasterInfo {
        id: "m1".into(),
        hostname: "master".into(),
        port: 5050,
        http_port: 5050,
        version: "0.1.0".into(),
    }
}

pub(super) fn framework() -> FrameworkInfo {
    let mut f = FrameworkInfo::new("test", "root");
    f.id = Some("fw-1".into());
    f
}

pub(super) fn command_task(id: &str) -> TaskInfo {
    TaskInfo::command(
        id,
        "agent-1".into(),
        Resources::parse("cpus:1;mem:128").unwrap(),
        CommandInfo::shell("true"),
    )
}

/// The status updates sent to the master, in order.
pub(super) fn updates(cmds: &[Command]) -> Vec<TaskStatus> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::SendToMaster(AgentToMaster::StatusUpdate { status, .. }) => {
                Some(status.clone())
            }
            _ => None,
        })
        .collect()
}

/// (task, state) of each update sent.
pub(super) fn states(cmds: &[Command]) -> Vec<(String, TaskState)> {
    updates(cmds)
        .into_iter()
        .map(|s| (s.task_id.0, s.state))
        .collect()
}

/// The launch specs in `cmds`.
pub(super) fn launches(cmds: &[Command]) -> Vec<LaunchSpec> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::LaunchContainer(spec) => Some((**spec).clone()),
            _ => None,
        })
        .collect()
}

/// Events sent to executor connections.
pub(super) fn to_executors(cmds: &[Command]) -> Vec<(u64, ExecutorEvent)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::SendToExecutor { conn, event } => Some((conn.0, (**event).clone())),
            _ => None,
        })
        .collect()
}

/// Containers destroyed by `cmds`.
pub(super) fn destroyed(cmds: &[Command]) -> Vec<ContainerId> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::DestroyContainer { container_id, .. } => Some(container_id.clone()),
            _ => None,
        })
        .collect()
}

/// An executor's update for a task.
pub(super) fn exec_update(task: &str, state: TaskState) -> ExecutorCall {
    ExecutorCall::Update {
        status: TaskStatus::new(task.into(), state, TaskStatusSource::Executor),
    }
}
