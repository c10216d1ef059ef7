//! Failure detection with real processes: `drover master` and `drover agent` (default
//! flags: `--agent-ping-timeout 500ms`, `--max-agent-ping-timeouts 4`) and two
//! frameworks on the SDK in this process, one PARTITION_AWARE and one not, each with
//! 5 running tasks (mock containerizer) on the agent. The agent is `kill -9`ed; the time
//! from the signal until each framework holds the TASK_UNREACHABLE (aware) or TASK_LOST
//! (not aware) update of every one of its tasks. A fresh cluster per repetition; the
//! kill comes 0–1 s after the last task is RUNNING (seeded, `DROVER_CHAOS_SEED`), so it
//! lands anywhere in the 500 ms ping cycle.
//!
//! Reported: p50 and max over the repetitions (default 20, `DROVER_BENCH_REPS`), against
//! the goal of 3 s, Docker Swarm's ~15 s and Mesos's 75 s (15 s × 5 pings by default).
//! Run: `cargo build -p drover-cli --release && cargo bench -p drover-benches --bench
//! failure_detection` (or with `--profile dev` after `cargo build -p drover-cli`; the
//! harness runs `target/<profile>/drover`, or `$DROVER_BIN`).

use drover_chaos::{detection, Seed};
use std::time::Duration;

const GOAL: Duration = Duration::from_secs(3);
const SWARM: Duration = Duration::from_secs(15);
const MESOS: Duration = Duration::from_secs(75);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reps: usize = std::env::var("DROVER_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut seed = Seed::for_scenario("failure_detection bench");
    let (mut aware, mut lost) = (Vec::new(), Vec::new());
    for i in 0..reps {
        let settle = Duration::from_millis(seed.range(0, 1_000));
        let d = detection::run(Vec::new(), 5, settle, Duration::from_secs(20))?;
        if !d.violations.is_empty() {
            return Err(format!("invariants broken: {:?}", d.violations).into());
        }
        println!(
            "rep {:>2}: kill {:>4} ms after RUNNING: UNREACHABLE {:>7.3} s   LOST {:>7.3} s",
            i + 1,
            settle.as_millis(),
            d.aware.as_secs_f64(),
            d.not_aware.as_secs_f64()
        );
        aware.push(d.aware);
        lost.push(d.not_aware);
    }
    aware.sort();
    lost.sort();
    println!("\n| framework | update | reps | min s | p50 s | max s | goal 3 s | vs Swarm 15 s | vs Mesos 75 s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (who, what, v) in [
        ("partition-aware", "TASK_UNREACHABLE", &aware),
        ("not partition-aware", "TASK_LOST", &lost),
    ] {
        let (p50, max) = (percentile(v, 0.5), percentile(v, 1.0));
        println!(
            "| {who} | {what} | {} | {:.3} | {:.3} | {:.3} | {} | {:.1}× faster | {:.1}× faster |",
            v.len(),
            percentile(v, 0.0).as_secs_f64(),
            p50.as_secs_f64(),
            max.as_secs_f64(),
            if max <= GOAL { "✅" } else { "❌" },
            SWARM.as_secs_f64() / p50.as_secs_f64().max(1e-9),
            MESOS.as_secs_f64() / p50.as_secs_f64().max(1e-9),
        );
    }
    Ok(())
}
