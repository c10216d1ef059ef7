//! A real master, mock-containerizer agents and SDK frameworks in this one process over
//! real QUIC: weighted DRF between two roles converging to their weights, and bad input
//! through the whole stack (someone else's offer, a task larger than any agent, a task
//! id already in use, resources that cannot even be built).

use drover_agent::{Agent, AgentConfig, AgentHandle, ContainerizerKind};
use drover_master::shell::GetState;
use drover_master::{MasterConfig, MasterOptions, RunningMaster};
use drover_proto::codec::Role;
use drover_proto::{
    CommandInfo, Filters, FrameworkInfo, MasterInfo, Offer, Operation, Resources, TaskInfo,
    TaskState, TaskStatus,
};
use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver, SchedulerRun};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Longest wait for anything here.
const WAIT: Duration = Duration::from_secs(30);
/// One task: 0.1 CPU and 32 MB.
const TASK: &str = "cpus:0.1;mem:32";

/// A master and `n` mock agents of `resources` each, whose tasks run for an hour.
struct Cluster {
    dir: tempfile::TempDir,
    master: RunningMaster,
    agents: Vec<AgentHandle>,
}

impl Cluster {
    async fn start(weights: &[(&str, f64)], n: usize, resources: &str) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let tls = dir.path().join("tls");
        std::fs::create_dir_all(&tls).expect("tls dir");
        drover_transport::init_ca(&tls).expect("CA");
        for (role, name) in [
            (Role::Master, "master"),
            (Role::Agent, "agent"),
            (Role::Executor, "executor"),
            (Role::Scheduler, "scheduler"),
        ] {
            drover_transport::issue(&tls, role, name).expect("certificate");
        }
        let mut config = MasterConfig::new(MasterInfo {
            id: "test".into(),
            hostname: "localhost".into(),
            port: 0,
            http_port: 0,
            version: "test".into(),
        });
        config.weights = weights
            .iter()
            .map(|(r, w)| ((*r).to_owned(), *w))
            .collect::<BTreeMap<_, _>>();
        let master = drover_master::start(MasterOptions {
            quic_addr: "127.0.0.1:0".parse().expect("address"),
            http_addr: "127.0.0.1:0".parse().expect("address"),
            tls_dir: tls.clone(),
            cert_name: "master".into(),
            config,
            faults: Default::default(),
            work_dir: None,
        })
        .expect("master starts");
        let mut agents = Vec::new();
        for i in 0..n {
            let work = dir.path().join(format!("agent-{i}"));
            let mut c = AgentConfig::new(vec![master.quic_addr.to_string()], work, &tls);
            c.listen = "127.0.0.1:0".parse().expect("address");
            c.http_enabled = false;
            c.hostname = Some(format!("agent-{i}"));
            c.containerizers = vec![ContainerizerKind::Mock];
            c.resources = Some(Resources::parse(resources).expect("agent resources"));
            c.mock.run_for = Duration::from_secs(3600);
            c.mock_sandboxes = false;
            agents.push(Agent::start(c).await.expect("agent starts"));
        }
        let cluster = Cluster {
            dir,
            master,
            agents,
        };
        cluster
            .until("every agent to register", |s| {
                (s.agents.iter().filter(|a| a.connected).count() == n).then_some(())
            })
            .await;
        cluster
    }

    fn tls(&self) -> std::path::PathBuf {
        self.dir.path().join("tls")
    }

    /// Polls the master's state every 20 ms until `check` gives a value.
    async fn until<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&drover_master::core::view::StateView) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let state = self
                .master
                .addr
                .send(GetState)
                .await
                .expect("master running");
            if let Some(v) = check(&state) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a framework in `role` on this cluster.
    fn framework<S: Scheduler>(
        &self,
        name: &str,
        role: &str,
        s: S,
    ) -> (SchedulerDriver, SchedulerRun) {
        let mut info = FrameworkInfo::new(name, "test");
        info.roles = vec![role.to_owned()];
        let config = SchedulerConfig::new(
            vec![self.master.quic_addr.to_string()],
            self.tls(),
            "scheduler",
            info,
        );
        SchedulerDriver::start(config, s).expect("driver starts")
    }

    async fn stop(self) {
        for a in self.agents {
            a.shutdown().await;
        }
        self.master.stop().await;
    }
}

fn refuse_none() -> Filters {
    Filters {
        refuse_seconds: 0.0,
    }
}

fn task(id: &str, offer: &Offer, resources: &str) -> TaskInfo {
    TaskInfo::command(
        id,
        offer.agent_id.clone(),
        Resources::parse(resources).expect("task resources"),
        CommandInfo::shell("sleep 3600"),
    )
}

/// Takes one task's slice of every offer and gives the rest back at once.
struct Slicer {
    prefix: String,
    next: usize,
}

impl Scheduler for Slicer {
    fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>) {
        let need = Resources::parse(TASK).expect("constant");
        for offer in offers {
            if !offer.resources.contains(&need) {
                let _ = driver.decline(offer.id, refuse_none());
                continue;
            }
            self.next += 1;
            let t = task(&format!("{}-{}", self.prefix, self.next), &offer, TASK);
            let launch = vec![Operation::Launch { tasks: vec![t] }];
            let _ = driver.accept(vec![offer.id], launch, refuse_none());
        }
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, _status: TaskStatus) {}
}

/// Dominant share of each framework (by name) over the cluster's total resources,
/// counting its non-terminal tasks.
fn dominant_shares(s: &drover_master::core::view::StateView) -> BTreeMap<String, f64> {
    let mut total = Resources::new();
    for a in &s.agents {
        total += Resources::parse(&a.resources).expect("agent resources parse");
    }
    let mut out = BTreeMap::new();
    for f in &s.frameworks {
        let mut used = Resources::new();
        for t in f.tasks.iter().filter(|t| {
            t.state == "TASK_RUNNING" || t.state == "TASK_STAGING" || t.state == "TASK_STARTING"
        }) {
            used += Resources::parse(&t.resources).expect("task resources parse");
        }
        let share = ["cpus", "mem"]
            .iter()
            .map(|r| used.scalar(r).as_f64() / total.scalar(r).as_f64())
            .fold(0.0, f64::max);
        out.insert(f.name.clone(), share);
    }
    out
}

#[actix_rt::test]
async fn weighted_drf_shares_converge_to_the_role_weights() {
    // 4 agents × 40 tasks; memory runs out with the CPUs, so a full cluster makes no
    // more offers.
    let cluster = Cluster::start(&[("a", 1.0), ("b", 2.0)], 4, "cpus:4;mem:1280").await;
    let slicer = |p: &str| Slicer {
        prefix: p.to_owned(),
        next: 0,
    };
    let (fa, _ra) = cluster.framework("fw-a", "a", slicer("a"));
    let (fb, _rb) = cluster.framework("fw-b", "b", slicer("b"));
    let shares = cluster
        .until("the cluster to fill up", |s| {
            let running: usize = s
                .frameworks
                .iter()
                .flat_map(|f| &f.tasks)
                .filter(|t| t.state == "TASK_RUNNING")
                .count();
            (running == 160).then(|| dominant_shares(s))
        })
        .await;
    let (a, b) = (shares["fw-a"], shares["fw-b"]);
    assert!(
        (a + b - 1.0).abs() < 1e-9,
        "the cluster is full: {shares:?}"
    );
    let ratio = a / b;
    assert!(
        (ratio - 0.5).abs() <= 0.5 * 0.05,
        "dominant shares {a:.4} : {b:.4} = {ratio:.4}, want 0.5 within 5 %"
    );
    let _ = (fa.stop(false), fb.stop(false));
    cluster.stop().await;
}

/// What the bad-input test's frameworks report.
#[derive(Debug)]
enum Seen {
    Offers(Vec<Offer>),
    Update(TaskStatus),
    Rejected(String, String),
}

/// Forwards offers, updates and rejections to the test, which acts itself.
struct Remote(UnboundedSender<Seen>);

impl Scheduler for Remote {
    fn offers(&mut self, _driver: &SchedulerDriver, offers: Vec<Offer>) {
        let _ = self.0.send(Seen::Offers(offers));
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, status: TaskStatus) {
        let _ = self.0.send(Seen::Update(status));
    }

    fn rejected(&mut self, _driver: &SchedulerDriver, call: String, message: String) {
        let _ = self.0.send(Seen::Rejected(call, message));
    }
}

/// A framework's callbacks as the test sees them; offers skipped while looking for an
/// update are kept for [`Inbox::offer`].
struct Inbox {
    rx: UnboundedReceiver<Seen>,
    offers: VecDeque<Offer>,
}

impl Inbox {
    async fn next(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("a callback in time")
            .expect("driver running")
    }

    /// The next offer.
    async fn offer(&mut self) -> Offer {
        loop {
            if let Some(o) = self.offers.pop_front() {
                return o;
            }
            if let Seen::Offers(o) = self.next().await {
                self.offers.extend(o);
            }
        }
    }

    /// The first update of `task_id` that is RUNNING or terminal.
    async fn settled(&mut self, task_id: &str) -> TaskStatus {
        loop {
            match self.next().await {
                Seen::Offers(o) => self.offers.extend(o),
                Seen::Update(s)
                    if s.task_id.as_str() == task_id
                        && (s.state == TaskState::Running || s.state.is_terminal()) =>
                {
                    return s
                }
                _ => {}
            }
        }
    }
}

fn framework(cluster: &Cluster, name: &str) -> (SchedulerDriver, SchedulerRun, Inbox) {
    let (tx, rx) = unbounded_channel();
    let (driver, run) = cluster.framework(name, "*", Remote(tx));
    let inbox = Inbox {
        rx,
        offers: VecDeque::new(),
    };
    (driver, run, inbox)
}

#[actix_rt::test]
async fn bad_input_gets_a_typed_error_or_a_terminal_state_with_a_reason() {
    // Resources that make no sense cannot even be built.
    for bad in ["cpus:-1", "cpus:NaN", "mem:nan", "cpus:inf"] {
        assert!(Resources::parse(bad).is_err(), "{bad} parsed");
    }

    let cluster = Cluster::start(&[], 1, "cpus:2;mem:1024").await;
    let (d1, _r1, mut one) = framework(&cluster, "one");
    let launch = |t: TaskInfo| vec![Operation::Launch { tasks: vec![t] }];

    // A task larger than any agent: TASK_ERROR saying what is wrong.
    let o = one.offer().await;
    let big = task("big", &o, "cpus:64;mem:32");
    d1.accept(vec![o.id], launch(big), refuse_none())
        .expect("driver running");
    let s = one.settled("big").await;
    assert_eq!(s.state, TaskState::Error, "{s:?}");
    let msg = s.message.unwrap_or_default();
    assert!(msg.contains("cpus") && msg.contains("left"), "{msg}");

    // A task id already in use: the second launch is TASK_ERROR.
    for expect in [TaskState::Running, TaskState::Error] {
        let o = one.offer().await;
        d1.accept(
            vec![o.id.clone()],
            launch(task("dup", &o, TASK)),
            refuse_none(),
        )
        .expect("driver running");
        let s = one.settled("dup").await;
        assert_eq!(s.state, expect, "{s:?}");
        if expect == TaskState::Error {
            let msg = s.message.unwrap_or_default();
            assert!(msg.contains("already in use"), "{msg}");
        }
    }

    // Another framework's offer: the call is rejected and the task dropped; the
    // offer stays with its owner, who can still use it.
    let held = one.offer().await;
    let (d2, _r2, mut two) = framework(&cluster, "two");
    let deadline = Instant::now() + WAIT;
    while !d2.is_subscribed() {
        assert!(Instant::now() < deadline, "second framework subscribes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    d2.accept(
        vec![held.id.clone()],
        launch(task("stolen", &held, TASK)),
        refuse_none(),
    )
    .expect("driver running");
    let (mut rejected, mut dropped) = (None, None);
    while rejected.is_none() || dropped.is_none() {
        match two.next().await {
            Seen::Rejected(call, m) => rejected = Some((call, m)),
            Seen::Update(s) if s.task_id.as_str() == "stolen" => dropped = Some(s),
            _ => {}
        }
    }
    let (call, m) = rejected.expect("rejected");
    assert_eq!(call, "ACCEPT");
    assert!(m.contains("another framework"), "{m}");
    let dropped = dropped.expect("dropped");
    assert_eq!(dropped.state, TaskState::Dropped, "{dropped:?}");
    let why = dropped.message.unwrap_or_default();
    assert!(why.contains("another framework"), "{why}");
    d1.accept(
        vec![held.id.clone()],
        launch(task("mine", &held, TASK)),
        refuse_none(),
    )
    .expect("driver running");
    assert_eq!(one.settled("mine").await.state, TaskState::Running);

    let _ = (d1.stop(false), d2.stop(false));
    cluster.stop().await;
}
