//! Native containerizer launch latency: `/bin/true` in new pid, mount, uts and ipc
//! namespaces with cgroups (cpu, cpuacct, memory, pids, freezer), against the kernel's
//! own cost of those namespaces measured in the same run: `unshare -pfmui --mount-proc
//! true`.
//!
//! Each round runs one baseline and one native launch, alternating, so that both see
//! the same machine load. Timed for native:
//! - `launch`: `launch()` until it returns (the main process has exec'd);
//! - `launch+exit`: until `wait()` reports `/bin/true`'s exit (what `unshare ... true`
//!   measures: spawn to exit), the figure compared with the baseline;
//! - `destroy`: the clean-up after the exit (cgroups removed, runtime dir removed),
//!   reported beside it.
//!
//! Goal: native `launch+exit` p50 ≤ 1.5 × baseline p50.
//! Run (as root, on a host with cgroups): `cargo bench -p drover-benches --bench native_launch`.

use std::error::Error;
use std::time::{Duration, Instant};

use drover_containerizer_native::{Isolation, NativeConfig, NativeContainerizer};
use drover_containerizers::{
    Command, ContainerConfig, ContainerId, Containerizer, LaunchResult, Limits,
};

const WARMUP: usize = 20;
const ROUNDS: usize = 300;
const GOAL_RATIO: f64 = 1.5;

type BenchResult<T> = Result<T, Box<dyn Error>>;

fn main() -> BenchResult<()> {
    let isolation = Isolation::parse("cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid")?;
    if let Err(reasons) = drover_containerizer_native::probe(&isolation) {
        println!(
            "native_launch: SKIPPED, the native containerizer cannot run here: {}",
            reasons.join("; ")
        );
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(isolation))
}

async fn run(isolation: Isolation) -> BenchResult<()> {
    let dir = std::env::temp_dir().join(format!("drover-bench-native-{}", std::process::id()));
    let mut config = NativeConfig::new(dir.join("state"));
    config.isolation = isolation;
    config.cgroups_root = format!("drover-bench-{}", std::process::id());
    let c = NativeContainerizer::new(config)?;
    c.recover(&[]).await?;
    let sandbox = dir.join("sandbox");
    std::fs::create_dir_all(&sandbox)?;

    let (mut base, mut launch, mut exit, mut destroy) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..WARMUP + ROUNDS {
        let b = baseline()?;
        let (l, e, d) = native(&c, round, &sandbox).await?;
        if round >= WARMUP {
            base.push(b);
            launch.push(l);
            exit.push(e);
            destroy.push(d);
        }
    }
    for root in c.cgroups().root_dirs() {
        let _ = std::fs::remove_dir(root);
    }
    let _ = std::fs::remove_dir_all(&dir);

    let (b50, b99) = (pct(&mut base, 50.0), pct(&mut base, 99.0));
    let (l50, l99) = (pct(&mut launch, 50.0), pct(&mut launch, 99.0));
    let (e50, e99) = (pct(&mut exit, 50.0), pct(&mut exit, 99.0));
    let (d50, d99) = (pct(&mut destroy, 50.0), pct(&mut destroy, 99.0));
    let ratio = e50 / b50;
    println!(
        "native_launch: {ROUNDS} rounds after {WARMUP} warm-up, load average {}",
        load_average()
    );
    println!("| measure | p50 ms | p99 ms |");
    println!("|---|---|---|");
    println!("| baseline `unshare -pfmui --mount-proc true` | {b50:.2} | {b99:.2} |");
    println!("| native launch (until exec) | {l50:.2} | {l99:.2} |");
    println!("| native launch+exit of /bin/true | {e50:.2} | {e99:.2} |");
    println!("| native destroy after exit | {d50:.2} | {d99:.2} |");
    println!(
        "ratio native launch+exit / baseline (p50): {ratio:.2} (goal <= {GOAL_RATIO}); p99 ratio {:.2}",
        e99 / b99
    );
    Ok(())
}

/// One `unshare -pfmui --mount-proc true`, spawn to exit.
fn baseline() -> BenchResult<Duration> {
    let t = Instant::now();
    let status = std::process::Command::new("unshare")
        .args(["-pfmui", "--mount-proc", "true"])
        .status()?;
    let elapsed = t.elapsed();
    if !status.success() {
        return Err(format!("unshare failed: {status}").into());
    }
    Ok(elapsed)
}

/// One native `/bin/true`: (launch, launch+exit, destroy).
async fn native(
    c: &NativeContainerizer,
    round: usize,
    sandbox: &std::path::Path,
) -> BenchResult<(Duration, Duration, Duration)> {
    let id = ContainerId::new(format!("bench-{round}"));
    let mut config = ContainerConfig::new(
        Command::Argv {
            program: "/bin/true".into(),
            args: Vec::new(),
        },
        sandbox,
    );
    config.limits = Limits {
        cpus: 1.0,
        mem_bytes: 64 << 20,
        pids: Some(100),
    };
    let t = Instant::now();
    match c.launch(&id, config).await? {
        LaunchResult::Launched(_) => {}
        LaunchResult::NotSupported { reason } => return Err(reason.into()),
    }
    let launched = t.elapsed();
    let term = c.wait(&id).await?;
    let exited = t.elapsed();
    if term.status != Some(0) {
        return Err(format!("/bin/true ended with {term:?}").into());
    }
    let t = Instant::now();
    c.destroy(&id).await?;
    Ok((launched, exited, t.elapsed()))
}

/// The `p`th percentile, milliseconds.
fn pct(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p / 100.0).round() as usize;
    samples.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
