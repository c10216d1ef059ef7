//! Docker launch overhead: tasks launched through Drover's Docker containerizer (one
//! master, one agent with `--containerizers docker`, one SDK framework, all in this
//! process over real QUIC; the agent starts the real `drover executor` binary), against
//! raw Engine API create + start of the same image and create body, in the same run:
//!
//! ```text
//!  one:   accept(1 task) ─▶ RunTask ─▶ executor process ─▶ QUIC subscribe ─▶ create+start
//!         ─▶ TASK_RUNNING at the scheduler            vs   create + start (bollard)
//!  fifty: accept(50 tasks) ─▶ … ─▶ 50th TASK_RUNNING  vs   50 concurrent create + start
//! ```
//!
//! Rounds alternate raw and Drover so that both see the same machine load; p50 (and
//! min/max) reported. Containers run `sleep 600`; every one is removed afterwards
//! (Drover's by a kill with a zero grace period).
//!
//! Goal: p50 of each Drover figure ≤ 1.1 × the raw p50.
//! Needs: a Docker engine on /var/run/docker.sock, and the `drover` binary next to the
//! bench's directory (`cargo build [--release] -p drover-cli` first) or named by
//! `DROVER_BENCH_DROVER_BIN`.
//! Run: `cargo build --release -p drover-cli && cargo bench -p drover-benches --bench docker_launch`.
//! Knobs: `DROVER_BENCH_ONE_ROUNDS` (10), `DROVER_BENCH_FIFTY_ROUNDS` (3),
//! `DROVER_BENCH_FIFTY` (50).

use drover_benches::env_or;
use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use drover_agent::{Agent, AgentConfig, ContainerizerKind};
use drover_containerizer_docker::test_image::{ensure_test_image, TEST_IMAGE};
use drover_containerizer_docker::{DockerRunSpec, DockerRunner, DroverIds, RunCommand};
use drover_proto::{
    AgentId, CommandInfo, ContainerInfo, ContainerType, DockerInfo, DockerNetwork, Filters,
    FrameworkInfo, KillPolicy, Offer, OfferId, Operation, Resources, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

type BenchResult<T> = Result<T, Box<dyn Error>>;

const GOAL_RATIO: f64 = 1.1;
const TASK_CPUS: f64 = 0.1;
const TASK_MEM: f64 = 32.0;

fn main() -> BenchResult<()> {
    actix_rt::System::new().block_on(run())
}

/// The `drover` binary the agent starts as executor.
fn drover_binary() -> BenchResult<PathBuf> {
    if let Ok(p) = std::env::var("DROVER_BENCH_DROVER_BIN") {
        return Ok(p.into());
    }
    // The bench runs as target/<profile>/deps/docker_launch-<hash>.
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("drover"))
        .ok_or("cannot locate the target directory")?;
    if !bin.exists() {
        return Err(format!(
            "{} is missing: build it first (cargo build --release -p drover-cli) or set DROVER_BENCH_DROVER_BIN",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

/// What the scheduler saw, forwarded to the bench loop.
enum Seen {
    Offers(Vec<Offer>),
    Update(TaskStatus),
}

/// Forwards offers and updates to the bench loop, which decides everything.
struct Forwarder(UnboundedSender<Seen>);

impl Scheduler for Forwarder {
    fn offers(&mut self, _driver: &SchedulerDriver, offers: Vec<Offer>) {
        let _ = self.0.send(Seen::Offers(offers));
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, status: TaskStatus) {
        let _ = self.0.send(Seen::Update(status));
    }
}

/// The create body both sides use (Drover's executor builds the same one).
fn raw_spec(name: &str) -> DockerRunSpec {
    DockerRunSpec {
        image: TEST_IMAGE.to_owned(),
        command: Some(RunCommand::Shell("sleep 600".into())),
        cpus: TASK_CPUS,
        mem_bytes: (TASK_MEM as u64) << 20,
        ids: DroverIds {
            container_id: format!("bench-raw-{name}"),
            ..DroverIds::default()
        },
        labels: vec![("drover.bench".into(), "raw".into())],
        ..DockerRunSpec::default()
    }
}

/// Raw Engine API: `n` concurrent create + start; returns the wall time and the ids.
async fn raw_launch(
    runner: &DockerRunner,
    n: usize,
    round: usize,
) -> BenchResult<(Duration, Vec<String>)> {
    let t0 = Instant::now();
    let mut joins = Vec::with_capacity(n);
    for i in 0..n {
        let docker = runner.client().clone();
        let body = raw_spec(&format!("{round}-{i}")).to_create_body()?;
        joins.push(tokio::spawn(async move {
            let created = docker.create_container(None, body).await?;
            docker.start_container(&created.id, None).await?;
            Ok::<_, bollard::errors::Error>(created.id)
        }));
    }
    let mut ids = Vec::with_capacity(n);
    let mut failure = None;
    for j in joins {
        match j.await? {
            Ok(id) => ids.push(id),
            Err(e) => failure = Some(e),
        }
    }
    let elapsed = t0.elapsed();
    if let Some(e) = failure {
        remove_all(runner, &ids).await;
        return Err(format!("raw create/start failed: {e}").into());
    }
    Ok((elapsed, ids))
}

async fn remove_all(runner: &DockerRunner, ids: &[String]) {
    for id in ids {
        if let Err(e) = runner.remove(id).await {
            eprintln!("docker_launch: cannot remove {id}: {e}");
        }
    }
}

/// The bench loop's side of the framework.
struct Framework {
    driver: SchedulerDriver,
    seen: UnboundedReceiver<Seen>,
    offers: Vec<Offer>,
}

impl Framework {
    async fn next(&mut self) -> BenchResult<Seen> {
        tokio::time::timeout(Duration::from_secs(120), self.seen.recv())
            .await
            .map_err(|_| "nothing from the master for 120 s")?
            .ok_or_else(|| "the scheduler driver stopped".into())
    }

    /// An offer with room for `n` tasks (holding every other offer back).
    async fn offer_for(&mut self, n: usize) -> BenchResult<Offer> {
        let need = task_resources()?;
        loop {
            if let Some(i) = self.offers.iter().position(|o| {
                let mut left = o.resources.clone();
                (0..n).all(|_| match left.checked_sub(&need) {
                    Some(rest) => {
                        left = rest;
                        true
                    }
                    None => false,
                })
            }) {
                return Ok(self.offers.swap_remove(i));
            }
            // Give back what does not fit so that the master can merge it.
            for o in std::mem::take(&mut self.offers) {
                self.driver.decline(
                    o.id,
                    Filters {
                        refuse_seconds: 0.0,
                    },
                )?;
            }
            if let Seen::Offers(o) = self.next().await? {
                self.offers.extend(o);
            }
        }
    }

    /// Accepts `offer` with `n` sleeping Docker tasks; returns the time from the accept
    /// to the last TASK_RUNNING, and the task ids.
    async fn launch(
        &mut self,
        offer: Offer,
        n: usize,
        round: usize,
    ) -> BenchResult<(Duration, Vec<TaskId>)> {
        let need = task_resources()?;
        let tasks: Vec<TaskInfo> = (0..n)
            .map(|i| {
                docker_task(
                    format!("r{round}-t{i}"),
                    offer.agent_id.clone(),
                    need.clone(),
                )
            })
            .collect();
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.task_id.clone()).collect();
        let t0 = Instant::now();
        self.driver.accept(
            vec![offer.id],
            vec![Operation::Launch { tasks }],
            Filters {
                refuse_seconds: 0.0,
            },
        )?;
        let mut running = 0;
        while running < n {
            match self.next().await? {
                Seen::Offers(o) => self.offers.extend(o),
                Seen::Update(s) if s.state == TaskState::Running => running += 1,
                Seen::Update(s) if s.state.is_terminal() => {
                    return Err(
                        format!("task {} ended {}: {:?}", s.task_id, s.state, s.message).into(),
                    )
                }
                Seen::Update(_) => {}
            }
        }
        Ok((t0.elapsed(), ids))
    }

    /// Kills `ids` and waits for their terminal updates.
    async fn kill_all(&mut self, ids: &[TaskId], agent: &AgentId) -> BenchResult<()> {
        for id in ids {
            self.driver.kill(id.clone(), Some(agent.clone()))?;
        }
        let mut ended = 0;
        while ended < ids.len() {
            match self.next().await? {
                Seen::Offers(o) => self.offers.extend(o),
                Seen::Update(s) if s.state.is_terminal() => ended += 1,
                Seen::Update(_) => {}
            }
        }
        Ok(())
    }

    fn decline_held(&mut self) -> BenchResult<()> {
        for o in std::mem::take(&mut self.offers) {
            let id: OfferId = o.id;
            self.driver.decline(
                id,
                Filters {
                    refuse_seconds: 0.0,
                },
            )?;
        }
        Ok(())
    }
}

fn task_resources() -> BenchResult<Resources> {
    Ok(Resources::parse(&format!(
        "cpus:{TASK_CPUS};mem:{TASK_MEM}"
    ))?)
}

fn docker_task(id: String, agent: AgentId, resources: Resources) -> TaskInfo {
    let mut t = TaskInfo::command(id, agent, resources, CommandInfo::shell("sleep 600"));
    t.container = Some(ContainerInfo {
        kind: ContainerType::Docker,
        docker: Some(DockerInfo {
            image: TEST_IMAGE.to_owned(),
            network: DockerNetwork::Bridge,
            ..DockerInfo::default()
        }),
        mesos: None,
        volumes: Vec::new(),
        hostname: None,
    });
    t.kill_policy = Some(KillPolicy {
        grace_period: Duration::ZERO,
    });
    t
}

fn p50(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

fn summary(name: &str, raw: &[Duration], drover: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let range = |v: &[Duration]| {
        let min = v.iter().min().copied().unwrap_or_default();
        let max = v.iter().max().copied().unwrap_or_default();
        format!("min {:.0} max {:.0}", ms(min), ms(max))
    };
    let ratio = ms(p50(drover)) / ms(p50(raw)).max(1e-9);
    println!(
        "  {name}: raw p50 {:.0} ms ({}), drover p50 {:.0} ms ({}): {ratio:.2}x raw; goal <= {GOAL_RATIO}x: {}",
        ms(p50(raw)),
        range(raw),
        ms(p50(drover)),
        range(drover),
        if ratio <= GOAL_RATIO { "MET" } else { "MISSED" }
    );
    let all = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.0}", ms(*d)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("    raw ms: {}", all(raw));
    println!("    drover ms: {}", all(drover));
}

async fn run() -> BenchResult<()> {
    let one_rounds: usize = env_or("DROVER_BENCH_ONE_ROUNDS", 10)?;
    let fifty_rounds: usize = env_or("DROVER_BENCH_FIFTY_ROUNDS", 3)?;
    let fifty: usize = env_or("DROVER_BENCH_FIFTY", 50)?;
    let drover = drover_binary()?;
    let runner = DockerRunner::connect(std::path::Path::new(
        drover_containerizer_docker::DEFAULT_SOCKET,
    ))
    .await?;
    ensure_test_image(&runner).await?;

    let tmp = std::env::temp_dir().join(format!("drover-bench-docker-{}", std::process::id()));
    let tls = tmp.join("tls");
    drover_benches::cluster_certs(&tls)?;
    let master = drover_benches::start_master(&tls, drover_benches::master_config())?;
    let mut c = AgentConfig::new(vec![master.quic_addr.to_string()], tmp.join("agent"), &tls);
    c.listen = "127.0.0.1:0".parse()?;
    c.http_listen = "127.0.0.1:0".parse()?;
    c.containerizers = vec![ContainerizerKind::Docker];
    c.executor_binary = Some(drover.clone());
    let room = fifty.max(1) as f64;
    c.resources = Some(Resources::parse(&format!(
        "cpus:{};mem:{};disk:1000",
        room * TASK_CPUS,
        room * TASK_MEM
    ))?);
    let agent = Agent::start(c).await?;

    let (tx, seen) = unbounded_channel();
    let sconfig = SchedulerConfig::new(
        vec![master.quic_addr.to_string()],
        &tls,
        "scheduler",
        FrameworkInfo::new("docker-launch-bench", "bench"),
    );
    let (driver, sched_run) = SchedulerDriver::start(sconfig, Forwarder(tx))?;
    let mut fw = Framework {
        driver: driver.clone(),
        seen,
        offers: Vec::new(),
    };

    let result = measure(&mut fw, &runner, one_rounds, fifty_rounds, fifty).await;
    let _ = fw.decline_held();
    driver.stop(false)?;
    let _ = tokio::task::spawn_blocking(move || sched_run.join()).await;
    agent.shutdown().await;
    master.stop().await;
    let _ = std::fs::remove_dir_all(&tmp);
    let (one_raw, one_drover, fifty_raw, fifty_drover) = result?;
    println!(
        "docker_launch: image {TEST_IMAGE}, `sleep 600`, cpus {TASK_CPUS} mem {TASK_MEM} MB; executor {}",
        drover.display()
    );
    summary(
        "one task: accepted -> TASK_RUNNING vs create+start",
        &one_raw,
        &one_drover,
    );
    summary(
        &format!("{fifty} tasks at once: accepted -> last TASK_RUNNING vs {fifty} concurrent create+start"),
        &fifty_raw,
        &fifty_drover,
    );
    Ok(())
}

type Figures = (Vec<Duration>, Vec<Duration>, Vec<Duration>, Vec<Duration>);

async fn measure(
    fw: &mut Framework,
    runner: &DockerRunner,
    one_rounds: usize,
    fifty_rounds: usize,
    fifty: usize,
) -> BenchResult<Figures> {
    let (mut one_raw, mut one_drover, mut fifty_raw, mut fifty_drover) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // One warm-up round of each (page cache, executor binary, engine caches).
    for round in 0..=one_rounds {
        let (raw, ids) = raw_launch(runner, 1, round).await?;
        remove_all(runner, &ids).await;
        let offer = fw.offer_for(1).await?;
        let agent = offer.agent_id.clone();
        let (d, tasks) = fw.launch(offer, 1, round).await?;
        fw.kill_all(&tasks, &agent).await?;
        if round > 0 {
            one_raw.push(raw);
            one_drover.push(d);
        }
    }
    for round in 0..fifty_rounds {
        let (raw, ids) = raw_launch(runner, fifty, 1000 + round).await?;
        remove_all(runner, &ids).await;
        let offer = fw.offer_for(fifty).await?;
        let agent = offer.agent_id.clone();
        let (d, tasks) = fw.launch(offer, fifty, 1000 + round).await?;
        fw.kill_all(&tasks, &agent).await?;
        fifty_raw.push(raw);
        fifty_drover.push(d);
        eprintln!(
            "docker_launch: fifty round {round}: raw {:.2} s, drover {:.2} s",
            raw.as_secs_f64(),
            d.as_secs_f64()
        );
    }
    Ok((one_raw, one_drover, fifty_raw, fifty_drover))
}
