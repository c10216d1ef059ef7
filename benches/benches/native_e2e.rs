//! End-to-end launch latency through an agent running the native containerizer:
//! from the framework's `Accept{Launch}` to its receipt of `TASK_RUNNING`, one task at
//! a time, with everything real but the machine boundary (master, agent and framework
//! in this process over QUIC + mutual TLS on loopback; the executor a real `drover
//! executor` process in the container's pid, mount, uts and ipc namespaces and
//! cgroups cpu, memory, pids).
//!
//! ```text
//!  t0: driver.accept ─▶ master ─RunTask─▶ agent ─▶ native launch (cgroups, clone,
//!      init, exec `drover executor`) ─▶ executor: QUIC+TLS to the agent, Subscribe ─▶
//!      Launch ─▶ STARTING, spawn `sh -c true`, RUNNING ─▶ agent ─▶ master ─▶ framework: t1
//! ```
//!
//! Each round waits for the task's `TASK_FINISHED` (and the executor to go) before the
//! next accept, so rounds do not overlap. Reported: p50, p99, min and max of t1 − t0,
//! and (beside it) accept → `TASK_FINISHED`, and the CPU time all processes spent per
//! task (the floor of the latency on an idle machine). Goal: p50 ≤ 10 ms.
//!
//! Environment: `DROVER_BENCH_ROUNDS` (200), `DROVER_BENCH_WARMUP` (10),
//! `DROVER_BENCH_LOG` (a tracing filter, e.g. `debug`: logs the agent's and master's
//! timeline; executors log to their sandbox's `stderr`, kept in the temp dir then),
//! `DROVER_BENCH_EXECUTOR` (the `drover` binary; default: the one next to this bench's
//! `deps/` directory, so build it in the same profile first).
//! Run (as root, on a host with cgroups):
//! `cargo build --release --bin drover && cargo bench -p drover-benches --bench native_e2e`.

use drover_benches::env_or;
use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use drover_agent::{Agent, AgentConfig, ContainerizerKind};
use drover_proto::{
    CommandInfo, Filters, FrameworkInfo, Offer, Operation, Resources, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};

type BenchResult<T> = Result<T, Box<dyn Error>>;
/// For what runs on the blocking thread.
type SendResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const GOAL_P50_MS: f64 = 10.0;
const ISOLATION: &str = "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid";

fn main() -> BenchResult<()> {
    let isolation = drover_containerizer_native::Isolation::parse(ISOLATION)?;
    if let Err(reasons) = drover_containerizer_native::probe(&isolation) {
        println!(
            "native_e2e: SKIPPED, the native containerizer cannot run here: {}",
            reasons.join("; ")
        );
        return Ok(());
    }
    let executor = match std::env::var_os("DROVER_BENCH_EXECUTOR") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .ok_or("cannot find the target directory")?
            .join("drover"),
    };
    if !executor.is_file() {
        return Err(format!(
            "the executor binary {} is missing: build it first (`cargo build [--release] --bin drover`) \
             or set DROVER_BENCH_EXECUTOR",
            executor.display()
        )
        .into());
    }
    if let Ok(filter) = std::env::var("DROVER_BENCH_LOG") {
        // A timeline of the agent and master (the executor logs to its sandbox).
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .init();
    }
    let rounds = env_or("DROVER_BENCH_ROUNDS", 200usize)?;
    let warmup = env_or("DROVER_BENCH_WARMUP", 10usize)?;
    actix_rt::System::new().block_on(run(executor, warmup, rounds))
}

/// What the framework reports to the bench.
enum Event {
    Running(TaskId, Instant),
    Ended(TaskId, Instant, TaskState, Option<String>),
}

async fn run(executor: PathBuf, warmup: usize, rounds: usize) -> BenchResult<()> {
    let pid = std::process::id();
    let tmp = std::env::temp_dir().join(format!("drover-bench-e2e-{pid}"));
    let cgroups_root = format!("drover-bench-e2e-{pid}");
    let result = measure(&tmp, &cgroups_root, executor, warmup, rounds).await;
    remove_cgroup_root(&cgroups_root);
    if std::env::var_os("DROVER_BENCH_LOG").is_some() {
        println!(
            "native_e2e: sandboxes (executor logs) kept in {}",
            tmp.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

async fn measure(
    tmp: &Path,
    cgroups_root: &str,
    executor: PathBuf,
    warmup: usize,
    rounds: usize,
) -> BenchResult<()> {
    let tls = tmp.join("tls");
    drover_benches::cluster_certs(&tls)?;
    let master = drover_benches::start_master(&tls, drover_benches::master_config())?;
    let mut c = AgentConfig::new(vec![master.quic_addr.to_string()], tmp.join("agent"), &tls);
    c.listen = "127.0.0.1:0".parse()?;
    c.http_enabled = false;
    c.hostname = Some("bench-agent".into());
    c.containerizers = vec![ContainerizerKind::Native];
    c.isolation = ISOLATION.into();
    c.cgroups_root = cgroups_root.into();
    c.executor_binary = Some(executor.clone());
    c.resources = Some(Resources::parse("cpus:2;mem:2048;disk:10000")?);
    let agent = Agent::start(c).await?;

    let (tx, rx) = mpsc::channel();
    let offers = Arc::new(Mutex::new(Vec::new()));
    let sconfig = SchedulerConfig::new(
        vec![master.quic_addr.to_string()],
        &tls,
        "scheduler",
        FrameworkInfo::new("native-e2e-bench", "bench"),
    );
    let (driver, driver_run) = SchedulerDriver::start(
        sconfig,
        Framework {
            offers: offers.clone(),
            tx,
        },
    )?;
    let need = Resources::parse("cpus:0.1;mem:32")?;
    let (mut running, mut finished) = (Vec::new(), Vec::new());
    let load_before = load_average();
    let outcome = tokio::task::spawn_blocking(move || -> SendResult<_> {
        let mut cpu_start = Duration::ZERO;
        for round in 0..warmup + rounds {
            if round == warmup {
                cpu_start = cpu_time();
            }
            let (r, f) = one_round(&driver, &offers, &rx, &need, round)?;
            if round >= warmup {
                running.push(r);
                finished.push(f);
            }
        }
        // The last executor exits (and is reaped) once its terminal update is acknowledged.
        std::thread::sleep(Duration::from_millis(300));
        let cpu = cpu_time().saturating_sub(cpu_start);
        driver.stop(false)?;
        Ok((running, finished, cpu, driver_run))
    })
    .await?;
    let (mut running, mut finished, cpu, driver_run) = outcome.map_err(|e| e.to_string())?;
    let _ = tokio::task::spawn_blocking(move || driver_run.join()).await;
    let load_after = load_average();
    // Destroys any container left (none: every task finished before).
    agent.shutdown().await;
    master.stop().await;

    let (r50, r99) = (pct(&mut running, 50.0), pct(&mut running, 99.0));
    let (f50, f99) = (pct(&mut finished, 50.0), pct(&mut finished, 99.0));
    println!(
        "native_e2e: {rounds} rounds after {warmup} warm-up, executor {}, load average {load_before} before, {load_after} after",
        executor.display()
    );
    println!("| measure | p50 ms | p99 ms | min ms | max ms |");
    println!("|---|---|---|---|---|");
    println!(
        "| accept → TASK_RUNNING | {r50:.2} | {r99:.2} | {:.2} | {:.2} |",
        ms(running.first()),
        ms(running.last())
    );
    println!(
        "| accept → TASK_FINISHED | {f50:.2} | {f99:.2} | {:.2} | {:.2} |",
        ms(finished.first()),
        ms(finished.last())
    );
    println!(
        "CPU time per task, every process (master, agent, framework, executor, task): {:.2} ms",
        cpu.as_secs_f64() * 1e3 / rounds.max(1) as f64
    );
    println!(
        "goal accept → TASK_RUNNING p50 <= {GOAL_P50_MS} ms: {}",
        if r50 <= GOAL_P50_MS { "MET" } else { "MISSED" }
    );
    Ok(())
}

/// One task: waits for an offer that fits, accepts it, waits for RUNNING then for
/// the end. Returns (accept → RUNNING, accept → FINISHED).
fn one_round(
    driver: &SchedulerDriver,
    offers: &Mutex<Vec<Offer>>,
    rx: &mpsc::Receiver<Event>,
    need: &Resources,
    round: usize,
) -> SendResult<(Duration, Duration)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let offer = loop {
        let found = {
            let mut held = offers.lock().map_err(|_| "offers lock poisoned")?;
            let i = held.iter().position(|o| o.resources.contains(need));
            i.map(|i| held.swap_remove(i))
        };
        if let Some(o) = found {
            break o;
        }
        if Instant::now() > deadline {
            return Err(format!("round {round}: no offer fits {need}").into());
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let task_id = TaskId::new(format!("t{round}"));
    let task = TaskInfo::command(
        task_id.0.clone(),
        offer.agent_id.clone(),
        need.clone(),
        CommandInfo::shell("true"),
    );
    let refuse_none = Filters {
        refuse_seconds: 0.0,
    };
    let t0 = Instant::now();
    tracing::info!(task = %task_id, "bench: accept");
    driver.accept(
        vec![offer.id],
        vec![Operation::Launch { tasks: vec![task] }],
        refuse_none,
    )?;
    let mut seen: HashMap<&str, Duration> = HashMap::new();
    while !seen.contains_key("end") {
        match rx.recv_timeout(Duration::from_secs(30))? {
            Event::Running(id, at) if id == task_id => {
                tracing::info!(task = %id, "bench: TASK_RUNNING received");
                seen.insert("running", at.duration_since(t0));
            }
            Event::Ended(id, at, TaskState::Finished, _) if id == task_id => {
                seen.insert("end", at.duration_since(t0));
            }
            Event::Ended(id, _, state, message) if id == task_id => {
                return Err(format!("round {round}: task ended {state}: {message:?}").into());
            }
            _ => {}
        }
    }
    let running = seen
        .get("running")
        .copied()
        .ok_or("FINISHED without RUNNING")?;
    let end = seen.get("end").copied().unwrap_or(running);
    Ok((running, end))
}

/// Holds offers for the bench thread; reports updates with their arrival time.
struct Framework {
    offers: Arc<Mutex<Vec<Offer>>>,
    tx: mpsc::Sender<Event>,
}

impl Scheduler for Framework {
    fn offers(&mut self, _driver: &SchedulerDriver, offers: Vec<Offer>) {
        if let Ok(mut held) = self.offers.lock() {
            held.extend(offers);
        }
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, status: TaskStatus) {
        let now = Instant::now();
        let event = match status.state {
            TaskState::Running => Event::Running(status.task_id, now),
            s if s.is_terminal() => Event::Ended(status.task_id, now, s, status.message),
            _ => return,
        };
        let _ = self.tx.send(event);
    }
}

/// User + system CPU time of this process and of its reaped descendants (the
/// containers' inits, which reaped their executors and tasks).
fn cpu_time() -> Duration {
    let of = |who| {
        // SAFETY: getrusage fills a zeroed struct.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `who` is RUSAGE_SELF or RUSAGE_CHILDREN.
        if unsafe { libc::getrusage(who, &mut u) } != 0 {
            return Duration::ZERO;
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(u.ru_utime) + tv(u.ru_stime)
    };
    of(libc::RUSAGE_SELF) + of(libc::RUSAGE_CHILDREN)
}

/// Removes the bench's cgroup root (and anything left under it) on every hierarchy.
fn remove_cgroup_root(name: &str) {
    fn rmdir_tree(dir: &Path) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path());
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    let base = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![base.join(name)];
    for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
        dirs.push(e.path().join(name));
    }
    for d in dirs.iter().filter(|d| d.is_dir()) {
        rmdir_tree(d);
    }
}

/// The `p`th percentile, milliseconds (sorts `samples`).
fn pct(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p / 100.0).round() as usize;
    samples.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

fn ms(d: Option<&Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
