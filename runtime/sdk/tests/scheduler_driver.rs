//! The scheduler driver against a fake master on the real transport (QUIC + mTLS on
//! loopback): subscription, offers → launch, implicit acks, failover re-subscription,
//! moving on to another master, teardown, removal.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{certs, FakeServer, PATIENCE};
use drover_proto::codec::Role;
use drover_proto::{
    AgentId, CommandInfo, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, Operation,
    Resources, SchedulerCall, SchedulerEvent, TaskId, TaskInfo, TaskState, TaskStatus,
    TaskStatusSource, UpdateUuid,
};
use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver, StopReason};
use drover_sdk::SdkError;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

type Master = FakeServer<SchedulerCall, SchedulerEvent>;

/// What the test scheduler saw.
#[derive(Debug, PartialEq)]
enum Seen {
    Subscribed(FrameworkId),
    Update(TaskState),
    Disconnected,
    Error(String),
}

/// Launches one `true` task per offer and reports its callbacks.
struct TestScheduler(UnboundedSender<Seen>);

impl Scheduler for TestScheduler {
    fn subscribed(&mut self, _d: &SchedulerDriver, id: FrameworkId, _m: MasterInfo) {
        let _ = self.0.send(Seen::Subscribed(id));
    }

    fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>) {
        for offer in offers {
            let task = TaskInfo::command(
                format!("task-of-{}", offer.id),
                offer.agent_id.clone(),
                Resources::new(),
                CommandInfo::shell("true"),
            );
            driver
                .launch([offer.id], vec![task])
                .expect("driver running");
        }
    }

    fn status_update(&mut self, _d: &SchedulerDriver, status: TaskStatus) {
        let _ = self.0.send(Seen::Update(status.state));
    }

    fn error(&mut self, _d: &SchedulerDriver, message: String) {
        let _ = self.0.send(Seen::Error(message));
    }

    fn disconnected(&mut self, _d: &SchedulerDriver) {
        let _ = self.0.send(Seen::Disconnected);
    }
}

fn master_info() -> MasterInfo {
    MasterInfo {
        id: "m".into(),
        hostname: "localhost".into(),
        port: 5050,
        http_port: 5050,
        version: "test".into(),
    }
}

fn subscribed(id: &str) -> SchedulerEvent {
    SchedulerEvent::Subscribed {
        framework_id: FrameworkId::new(id),
        heartbeat_interval: Duration::from_secs(5),
        master_info: master_info(),
    }
}

fn offer(id: &str) -> Offer {
    Offer {
        id: OfferId::new(id),
        framework_id: FrameworkId::new("fw-1"),
        agent_id: AgentId::new("a1"),
        hostname: "localhost".into(),
        allocation_role: "*".into(),
        resources: Resources::new(),
        attributes: vec![],
        executor_ids: vec![],
    }
}

struct Setup {
    dir: tempfile::TempDir,
    seen: UnboundedReceiver<Seen>,
}

fn setup(masters: &[&str]) -> (Setup, Vec<Master>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut nodes: Vec<(Role, &str)> = masters.iter().map(|m| (Role::Master, *m)).collect();
    nodes.push((Role::Scheduler, "sched"));
    certs(dir.path(), &nodes);
    let local: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let servers = masters
        .iter()
        .map(|m| Master::start(dir.path(), m, local, Role::Scheduler))
        .collect();
    let (_tx, seen) = unbounded_channel();
    (Setup { dir, seen }, servers)
}

fn start(
    setup: &mut Setup,
    masters: &[&Master],
    tune: impl FnOnce(&mut SchedulerConfig),
) -> (SchedulerDriver, drover_sdk::scheduler::SchedulerRun) {
    let (tx, rx) = unbounded_channel();
    setup.seen = rx;
    let mut config = SchedulerConfig::new(
        masters.iter().map(|m| m.addr().to_string()).collect(),
        setup.dir.path(),
        "sched",
        FrameworkInfo::new("test", "nobody"),
    );
    tune(&mut config);
    SchedulerDriver::start(config, TestScheduler(tx)).expect("driver starts")
}

async fn seen(setup: &mut Setup) -> Seen {
    tokio::time::timeout(PATIENCE, setup.seen.recv())
        .await
        .expect("a callback in time")
        .expect("driver running")
}

#[tokio::test]
async fn subscribes_launches_acknowledges_fails_over_and_tears_down() {
    let (mut s, mut masters) = setup(&["master"]);
    let mut master = masters.remove(0);
    let (driver, run) = start(&mut s, &[&master], |_| {});

    let SchedulerCall::Subscribe { framework_info } = master.next().await else {
        panic!("expected Subscribe");
    };
    assert_eq!(
        (framework_info.id, framework_info.name.as_str()),
        (None, "test")
    );
    master.send(subscribed("fw-1"));
    assert_eq!(
        seen(&mut s).await,
        Seen::Subscribed(FrameworkId::new("fw-1"))
    );
    assert_eq!(driver.framework_id(), Some(FrameworkId::new("fw-1")));

    // An offer becomes an Accept with a Launch.
    master.send(SchedulerEvent::Offers {
        offers: vec![offer("o1")],
    });
    let SchedulerCall::Accept {
        framework_id,
        offer_ids,
        operations,
        ..
    } = master.next().await
    else {
        panic!("expected Accept");
    };
    assert_eq!(framework_id, FrameworkId::new("fw-1"));
    assert_eq!(offer_ids, vec![OfferId::new("o1")]);
    let [Operation::Launch { tasks }] = operations.as_slice() else {
        panic!("expected one Launch");
    };
    assert_eq!(tasks[0].task_id, TaskId::new("task-of-o1"));

    // An update with a uuid is acknowledged after the callback.
    let mut status = TaskStatus::new(
        TaskId::new("task-of-o1"),
        TaskState::Running,
        TaskStatusSource::Executor,
    );
    status.agent_id = Some(AgentId::new("a1"));
    status.uuid = Some(UpdateUuid([9; 16]));
    master.send(SchedulerEvent::Update { status });
    assert_eq!(seen(&mut s).await, Seen::Update(TaskState::Running));
    assert_eq!(
        master.next().await,
        SchedulerCall::Acknowledge {
            framework_id: FrameworkId::new("fw-1"),
            agent_id: AgentId::new("a1"),
            task_id: TaskId::new("task-of-o1"),
            uuid: UpdateUuid([9; 16]),
        }
    );

    // The master drops the connection: the driver re-subscribes with its id.
    if let Some(peer) = master.peer.take() {
        peer.close();
    }
    assert_eq!(seen(&mut s).await, Seen::Disconnected);
    let SchedulerCall::Subscribe { framework_info } = master.next().await else {
        panic!("expected a re-Subscribe");
    };
    assert_eq!(framework_info.id, Some(FrameworkId::new("fw-1")));
    master.send(subscribed("fw-1"));
    assert_eq!(
        seen(&mut s).await,
        Seen::Subscribed(FrameworkId::new("fw-1"))
    );

    driver.stop(false).expect("driver running");
    assert_eq!(
        master.next().await,
        SchedulerCall::Teardown {
            framework_id: FrameworkId::new("fw-1")
        }
    );
    assert_eq!(run.wait().await.expect("clean stop"), StopReason::TornDown);
    assert!(matches!(driver.revive(vec![]), Err(SdkError::Stopped)));
}

#[tokio::test]
async fn a_master_that_does_not_answer_is_left_for_the_next() {
    let (mut s, mut masters) = setup(&["silent", "answering"]);
    let mut answering = masters.pop().expect("two masters");
    let mut silent = masters.pop().expect("two masters");
    let (driver, run) = start(&mut s, &[&silent, &answering], |c| {
        c.subscribe_timeout = Duration::from_millis(300);
    });
    assert!(matches!(
        silent.next().await,
        SchedulerCall::Subscribe { .. }
    ));
    // No answer: after the subscribe timeout the driver tries the other master.
    assert!(matches!(
        answering.next().await,
        SchedulerCall::Subscribe { .. }
    ));
    answering.send(subscribed("fw-2"));
    assert_eq!(
        seen(&mut s).await,
        Seen::Subscribed(FrameworkId::new("fw-2"))
    );
    driver.stop(true).expect("driver running");
    assert_eq!(run.wait().await.expect("clean stop"), StopReason::Failover);
}

#[test]
fn removal_by_the_master_ends_the_driver_from_a_plain_thread() {
    let rt = tokio::runtime::Runtime::new().expect("runtime for the fake master");
    let (mut s, mut masters) = setup(&["master"]);
    let mut master = masters.remove(0);
    let (_driver, run) = start(&mut s, &[&master], |_| {});
    rt.block_on(async {
        master.next().await;
        master.send(SchedulerEvent::Error {
            message: "failover timeout passed".into(),
        });
    });
    // Blocking join, outside any runtime.
    match run.join() {
        Err(SdkError::FrameworkRemoved { message }) => {
            assert_eq!(message, "failover timeout passed")
        }
        other => panic!("expected FrameworkRemoved, got {other:?}"),
    }
    let seen = rt.block_on(seen(&mut s));
    assert_eq!(seen, Seen::Error("failover timeout passed".into()));
}

#[test]
fn a_certificate_of_another_role_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    certs(dir.path(), &[(Role::Agent, "not-a-scheduler")]);
    let config = SchedulerConfig::new(
        vec!["127.0.0.1:5050".into()],
        dir.path(),
        "not-a-scheduler",
        FrameworkInfo::new("test", "nobody"),
    );
    let (tx, _rx) = unbounded_channel();
    let err = SchedulerDriver::start(config, TestScheduler(tx)).expect_err("wrong role");
    assert!(matches!(err, SdkError::Identity { .. }), "{err}");
    assert!(err.to_string().contains("role agent"), "{err}");
}

#[test]
fn works_from_inside_an_actix_system() {
    actix::System::new().block_on(async {
        let (mut s, mut masters) = setup(&["master"]);
        let mut master = masters.remove(0);
        let (driver, run) = start(&mut s, &[&master], |_| {});
        assert!(matches!(
            master.next().await,
            SchedulerCall::Subscribe { .. }
        ));
        master.send(subscribed("fw-3"));
        assert_eq!(
            seen(&mut s).await,
            Seen::Subscribed(FrameworkId::new("fw-3"))
        );
        assert!(driver.is_subscribed());
        driver.stop(true).expect("driver running");
        assert_eq!(run.wait().await.expect("clean stop"), StopReason::Failover);
    });
}
