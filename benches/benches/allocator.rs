//! Allocator cycle benchmark: 10,000 agents × 1,000 frameworks, the shape of Mesos's
//! `HierarchicalAllocator_BENCHMARK_Test` runs (1.06 s per cycle there).
//!
//! Scenarios, each timed over several runs of `allocate` on the same (unchanged) state:
//! - `first`: every agent free, no filters: 10,000 offers.
//! - `steady`: after `first`, each framework launched a task (8 cpus, 32 GiB) on every
//!   offer and declined the rest for 5 s: the remainders go to other frameworks.
//! - `idle`: after `steady`, everything is offered: the cycle finds nothing to do.
//! - `declines`: Mesos's DeclineOffers shape: for 20 cycles every framework declined
//!   every offer with a 1-hour filter; the 20th cycle skips 19 filters per agent.
//!
//! Only `allocate` is timed (the snapshot is maintained incrementally, so a cycle builds
//! nothing); `apply` (the shell recording 10,000 offers) is reported separately. Wall
//! time and the thread's CPU time are both reported, with the load average: on a shared
//! 2-core machine wall time includes waiting for a core, CPU time does not.
//!
//! Run: `cargo bench -p drover-benches --bench allocator`.

use std::error::Error;
use std::time::{Duration, Instant};

use drover_master::allocator::{Allocation, AllocatorState, Policy};
use drover_proto::resources::Resources;
use drover_proto::{AgentId, FrameworkId};

const AGENTS: usize = 10_000;
const FRAMEWORKS: usize = 1_000;
const ROLES: [(&str, f64); 5] = [
    ("r0", 1.0),
    ("r1", 1.0),
    ("r2", 2.0),
    ("r3", 2.0),
    ("r4", 4.0),
];
const RUNS: usize = 20;
/// Mesos's own benchmark of this shape, seconds per cycle.
const MESOS_SECS: f64 = 1.06;
/// Drover's goal, seconds per cycle.
const GOAL_SECS: f64 = 0.050;

type BenchResult<T> = Result<T, Box<dyn Error>>;

fn main() -> BenchResult<()> {
    let policy = Policy::default();
    let now = Instant::now();
    let base = build()?;

    let (first, first_out) = time_runs(&base, &policy, now);
    let mut after_first = base.clone();
    let t = Instant::now();
    after_first.apply(&first_out)?;
    let apply_ms = t.elapsed().as_secs_f64() * 1e3;

    let task = Resources::parse("cpus:8;mem:32768")?;
    consume_and_decline(
        &mut after_first,
        &first_out,
        &task,
        Duration::from_secs(5),
        now,
    )?;
    let (steady, steady_out) = time_runs(&after_first, &policy, now);
    let mut after_steady = after_first.clone();
    after_steady.apply(&steady_out)?;
    let (idle, idle_out) = time_runs(&after_steady, &policy, now);

    let mut declining = base.clone();
    let nothing = Resources::new();
    let mut last = Vec::new();
    for _ in 0..19 {
        let out = declining.allocate(&policy, now);
        declining.apply(&out)?;
        consume_and_decline(
            &mut declining,
            &out,
            &nothing,
            Duration::from_secs(3600),
            now,
        )?;
        last = out;
    }
    let (declines, declines_out) = time_runs(&declining, &policy, now);

    println!(
        "allocator: {AGENTS} agents x {FRAMEWORKS} frameworks in {} roles, {RUNS} runs each, load average {}",
        ROLES.len(),
        load_average()
    );
    println!("| scenario | offers | wall mean ms | wall p50 ms | wall max ms | cpu p50 ms | cpu min ms | Mesos 1.06 s / wall mean | wall mean / 50 ms goal |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, stats, offers) in [
        ("first cycle (all free)", &first, first_out.len()),
        ("steady (remainders re-offered)", &steady, steady_out.len()),
        ("idle (nothing to offer)", &idle, idle_out.len()),
        ("declines (19 filters/agent)", &declines, declines_out.len()),
    ] {
        println!(
            "| {name} | {offers} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0}x | {:.0}% |",
            stats.wall_mean_ms,
            stats.wall_p50_ms,
            stats.wall_max_ms,
            stats.cpu_p50_ms,
            stats.cpu_min_ms,
            MESOS_SECS * 1e3 / stats.wall_mean_ms,
            100.0 * stats.wall_mean_ms / (GOAL_SECS * 1e3),
        );
    }
    println!(
        "apply (record {} offers in AllocatorState): {apply_ms:.2} ms",
        first_out.len()
    );
    println!("declines warm-up: cycle 19 made {} offers", last.len());
    println!("load average after: {}", load_average());
    Ok(())
}

/// 10,000 agents (every tenth with a reservation for r0) and 1,000 frameworks spread
/// over five weighted roles.
fn build() -> BenchResult<AllocatorState> {
    let plain = Resources::parse("cpus:16;mem:65536;disk:1048576;ports:[31000-32000]")?;
    let reserved = Resources::parse(
        "cpus:12;mem:49152;disk:1048576;ports:[31000-32000];cpus(r0):4;mem(r0):16384",
    )?;
    let mut s = AllocatorState::new();
    for (role, weight) in ROLES {
        s.set_weight(role, weight)?;
    }
    for i in 0..AGENTS {
        let total = if i % 10 == 0 { &reserved } else { &plain };
        s.add_agent(AgentId::new(format!("agent-{i:05}")), total.clone())?;
    }
    for i in 0..FRAMEWORKS {
        let role = ROLES[i % ROLES.len()].0.to_owned();
        s.add_framework(FrameworkId::new(format!("framework-{i:04}")), &[role])?;
    }
    Ok(s)
}

/// Each offer: keep `task` if it fits (a launched task), decline the rest for `refuse`.
fn consume_and_decline(
    s: &mut AllocatorState,
    offers: &[Allocation],
    task: &Resources,
    refuse: Duration,
    now: Instant,
) -> BenchResult<()> {
    for a in offers {
        let keep = if !task.is_empty() && a.resources.contains(task) {
            task.clone()
        } else {
            Resources::new()
        };
        let rest = &a.resources - &keep;
        s.decline(&a.framework_id, &a.role, &a.agent_id, &rest, refuse, now)?;
    }
    Ok(())
}

struct Stats {
    wall_mean_ms: f64,
    wall_p50_ms: f64,
    wall_max_ms: f64,
    cpu_p50_ms: f64,
    cpu_min_ms: f64,
}

/// Times `allocate` on `state` RUNS times (after one warm-up); returns the stats and the
/// last run's output.
fn time_runs(state: &AllocatorState, policy: &Policy, now: Instant) -> (Stats, Vec<Allocation>) {
    let mut out = state.allocate(policy, now);
    let mut wall = Vec::with_capacity(RUNS);
    let mut cpu = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        drop(out);
        let (t, c) = (Instant::now(), thread_cpu_ms());
        out = state.allocate(policy, now);
        cpu.push(thread_cpu_ms() - c);
        wall.push(t.elapsed().as_secs_f64() * 1e3);
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let stats = Stats {
        wall_mean_ms: wall.iter().sum::<f64>() / wall.len() as f64,
        wall_p50_ms: wall[wall.len() / 2],
        wall_max_ms: wall[wall.len() - 1],
        cpu_p50_ms: cpu[cpu.len() / 2],
        cpu_min_ms: cpu[0],
    };
    (stats, out)
}

/// CPU time consumed by this thread, in ms.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel
    // knows. On failure `ts` stays zero and the reading is meaningless but harmless.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// The 1/5/15-minute load averages, from /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
