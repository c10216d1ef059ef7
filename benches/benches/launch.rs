//! End-to-end launch throughput: one master and many agents in this one process over
//! real QUIC (mutual TLS on loopback) with the mock containerizer, and one framework
//! written against the SDK launching short tasks through the whole offer cycle:
//!
//! ```text
//!  framework (SDK driver thread) ──Accept{Launch}──▶ master ──RunTask──▶ agent (mock)
//!        ▲  ack ──────────────────────────────────▶   │   ◀──STARTING/RUNNING/FINISHED
//!        └────────── Offers, Update ──────────────────┘
//! ```
//!
//! A task counts when its `TASK_FINISHED` reached the scheduler (the driver then
//! acknowledges it, which the agent needs before it forgets the task). Reported:
//! tasks/s over the whole run and over its middle 80 % (sustained), compared with
//! Nomad C1M's 3,750 placements/s; the process's resident memory after the master
//! started, after the agents registered and after the tasks ran, divided per agent and
//! per task.
//!
//! Environment: `DROVER_BENCH_AGENTS` (default 1000), `DROVER_BENCH_TASKS` (100000),
//! `DROVER_BENCH_TASK_CPUS` (0.1) and `DROVER_BENCH_AGENT_CPUS` (1: with 0.1 per task,
//! at most 10 tasks per agent at a time, 10,000 in flight on 1,000 agents),
//! `DROVER_BENCH_NET_THREADS` (transport threads shared by the agents, 1),
//! `DROVER_BENCH_ALLOC_WINDOW_US` (the master's allocation window, 5000 as by default).
//! Goal: ≥ 10,000 tasks/s sustained on 2 cores.
//! Run: `cargo bench -p drover-benches --bench launch`
//! (quick: `DROVER_BENCH_AGENTS=50 DROVER_BENCH_TASKS=5000 cargo bench ... --bench launch`).

use drover_benches::env_or;
use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_agent::{Agent, AgentConfig, AgentHandle, ContainerizerKind};
use drover_proto::{
    CommandInfo, Filters, FrameworkInfo, Offer, Operation, Resources, TaskInfo, TaskState,
    TaskStatus,
};
use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};
use drover_transport::TransportRuntime;

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// The allocator of the `drover` binary, so that the numbers are those of the product.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Nomad's C1M: 1,000,000 containers placed at 3,750 placements/s on 5 servers.
const NOMAD_C1M_PER_SEC: f64 = 3_750.0;
const GOAL_PER_SEC: f64 = 10_000.0;

struct Params {
    agents: usize,
    tasks: u64,
    task_cpus: f64,
    agent_cpus: f64,
    net_threads: usize,
    alloc_window_us: u64,
}

fn main() -> BenchResult<()> {
    let p = Params {
        agents: env_or("DROVER_BENCH_AGENTS", 1000)?,
        tasks: env_or("DROVER_BENCH_TASKS", 100_000)?,
        task_cpus: env_or("DROVER_BENCH_TASK_CPUS", 0.1)?,
        agent_cpus: env_or("DROVER_BENCH_AGENT_CPUS", 1.0)?,
        net_threads: env_or("DROVER_BENCH_NET_THREADS", 1)?,
        alloc_window_us: env_or("DROVER_BENCH_ALLOC_WINDOW_US", 5000)?,
    };
    actix_rt::System::new().block_on(run(&p))
}

/// Resident memory of this process in KiB (`VmRSS` of /proc/self/status).
fn rss_kib() -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS in /proc/self/status")?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmRSS line")?
        .parse()?;
    Ok(kib)
}

/// Polls `check` every 10 ms until it is true or `limit` passes.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F) -> BenchResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

async fn run(p: &Params) -> BenchResult<()> {
    let tmp = std::env::temp_dir().join(format!("drover-bench-launch-{}", std::process::id()));
    let tls = tmp.join("tls");
    drover_benches::cluster_certs(&tls)?;

    let rss_start = rss_kib()?;
    let mut config = drover_benches::master_config();
    // Agents are never lost during the run: pings every few seconds are plenty.
    config.agent_ping_timeout = Duration::from_secs(5);
    config.allocation_window = Duration::from_micros(p.alloc_window_us);
    let master = drover_benches::start_master(&tls, config)?;
    let rss_master = rss_kib()?;

    let t0 = Instant::now();
    let net = TransportRuntime::new(p.net_threads)?;
    // Memory runs out with the CPUs: no offer of memory alone that nobody can use.
    let agent_mem = (p.agent_cpus / p.task_cpus).floor() * 32.0;
    let mut agents: Vec<AgentHandle> = Vec::with_capacity(p.agents);
    for i in 0..p.agents {
        let mut c = AgentConfig::new(vec![master.quic_addr.to_string()], tmp.join("work"), &tls);
        c.listen = "127.0.0.1:0".parse()?;
        c.http_enabled = false;
        c.transport_runtime = Some(net.clone());
        c.hostname = Some(format!("agent-{i}"));
        c.containerizers = vec![ContainerizerKind::Mock];
        c.resources = Some(Resources::parse(&format!(
            "cpus:{};mem:{agent_mem};disk:10000",
            p.agent_cpus
        ))?);
        c.mock.run_for = Duration::ZERO;
        c.mock_sandboxes = false;
        c.max_completed_tasks = 100;
        agents.push(Agent::start(c).await?);
    }
    let addr = master.addr.clone();
    let want = p.agents;
    wait_for("agents to register", Duration::from_secs(300), || {
        let addr = addr.clone();
        async move {
            addr.send(drover_master::shell::GetState)
                .await
                .map(|s| s.agents.iter().filter(|a| a.connected).count() >= want)
                .unwrap_or(false)
        }
    })
    .await?;
    let registered_in = t0.elapsed();
    let rss_agents = rss_kib()?;

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stamps = Arc::new(std::sync::Mutex::new(Vec::with_capacity(p.tasks as usize)));
    let sconfig = SchedulerConfig::new(
        vec![master.quic_addr.to_string()],
        &tls,
        "scheduler",
        FrameworkInfo::new("launch-bench", "bench"),
    );
    let start = Instant::now();
    let sched = Launcher {
        next: 0,
        total: p.tasks,
        need: Resources::parse(&format!("cpus:{};mem:32", p.task_cpus))?,
        done: done.clone(),
        failed: failed.clone(),
        stamps: stamps.clone(),
        start,
    };
    let (driver, run) = SchedulerDriver::start(sconfig, sched)?;
    let total = p.tasks;
    let d = done.clone();
    wait_for("every task to end", Duration::from_secs(600), move || {
        let all = d.load(Ordering::Relaxed) >= total;
        async move { all }
    })
    .await?;
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} tasks did not finish (see above)").into());
    }
    let elapsed = start.elapsed();
    let rss_tasks = rss_kib()?;
    driver.stop(false)?;
    let _ = tokio::task::spawn_blocking(move || run.join()).await;

    let stamps = std::mem::take(&mut *stamps.lock().map_err(|_| "stamps lock poisoned")?);
    report(
        p,
        elapsed,
        &stamps,
        registered_in,
        [rss_start, rss_master, rss_agents, rss_tasks],
    );

    for a in agents {
        a.stop().await;
    }
    master.stop().await;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn report(
    p: &Params,
    elapsed: Duration,
    stamps: &[Duration],
    registered_in: Duration,
    [rss_start, rss_master, rss_agents, rss_tasks]: [u64; 4],
) {
    let overall = p.tasks as f64 / elapsed.as_secs_f64();
    // Sustained: the middle 80 % of completions, leaving out ramp-up and the tail.
    let (lo, hi) = (stamps.len() / 10, stamps.len() * 9 / 10);
    let sustained = if hi > lo + 1 {
        (hi - lo) as f64 / (stamps[hi - 1] - stamps[lo]).as_secs_f64()
    } else {
        overall
    };
    println!(
        "launch: {} agents (cpus {} each), {} tasks (cpus {} each, mock run_for 0), allocation window {} us",
        p.agents, p.agent_cpus, p.tasks, p.task_cpus, p.alloc_window_us
    );
    println!(
        "  agents registered in {:.2} s",
        registered_in.as_secs_f64()
    );
    println!(
        "  all tasks FINISHED and acknowledged in {:.2} s: {:.0} tasks/s overall, {:.0} tasks/s sustained (middle 80 %)",
        elapsed.as_secs_f64(),
        overall,
        sustained
    );
    if let (Some(first), Some(last)) = (stamps.first(), stamps.last()) {
        let at = |i: usize| stamps[i.min(stamps.len() - 1)].as_secs_f64();
        println!(
            "  completions at: first {:.2} s, 10 % {:.2} s, 90 % {:.2} s, last {:.2} s",
            first.as_secs_f64(),
            at(lo),
            at(hi.saturating_sub(1)),
            last.as_secs_f64()
        );
    }
    println!(
        "  vs Nomad C1M 3,750 placements/s: {:.2}x; goal {:.0}/s: {}",
        sustained / NOMAD_C1M_PER_SEC,
        GOAL_PER_SEC,
        if sustained >= GOAL_PER_SEC {
            "MET"
        } else {
            "MISSED"
        }
    );
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "  RSS (whole process): start {:.1} MiB, master up {:.1} MiB, +agents {:.1} MiB, after tasks {:.1} MiB",
        mib(rss_start),
        mib(rss_master),
        mib(rss_agents),
        mib(rss_tasks)
    );
    println!(
        "  per agent (master + agent in-process): {:.1} KiB; per task launched: {:.2} KiB",
        rss_agents.saturating_sub(rss_master) as f64 / p.agents.max(1) as f64,
        rss_tasks.saturating_sub(rss_agents) as f64 / p.tasks.max(1) as f64
    );
}

/// Launches as many tasks as fit in every offer until `total` are launched; counts
/// terminal updates (`done`) and those other than `TASK_FINISHED` (`failed`).
struct Launcher {
    next: u64,
    total: u64,
    need: Resources,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stamps: Arc<std::sync::Mutex<Vec<Duration>>>,
    start: Instant,
}

impl Scheduler for Launcher {
    fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>) {
        let refuse_none = Filters {
            refuse_seconds: 0.0,
        };
        for offer in offers {
            let mut left = offer.resources.clone();
            let mut tasks = Vec::new();
            while self.next < self.total {
                let Some(rest) = left.checked_sub(&self.need) else {
                    break;
                };
                left = rest;
                tasks.push(TaskInfo::command(
                    format!("t{}", self.next),
                    offer.agent_id.clone(),
                    self.need.clone(),
                    CommandInfo::shell("true"),
                ));
                self.next += 1;
            }
            let result = if tasks.is_empty() {
                driver.decline(offer.id, refuse_none)
            } else {
                driver.accept(
                    vec![offer.id],
                    vec![Operation::Launch { tasks }],
                    refuse_none,
                )
            };
            if let Err(e) = result {
                eprintln!("launch: driver call failed: {e}");
            }
        }
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, status: TaskStatus) {
        match status.state {
            TaskState::Finished => {
                if let Ok(mut s) = self.stamps.lock() {
                    s.push(self.start.elapsed());
                }
                self.done.fetch_add(1, Ordering::Relaxed);
            }
            s if s.is_terminal() => {
                let n = self.failed.fetch_add(1, Ordering::Relaxed);
                self.done.fetch_add(1, Ordering::Relaxed);
                if n < 5 {
                    eprintln!(
                        "launch: task {} ended {s}: {:?}",
                        status.task_id, status.message
                    );
                }
            }
            _ => {}
        }
    }
}
