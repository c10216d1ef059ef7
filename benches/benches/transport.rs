//! Transport benchmark: Drover's QUIC + mTLS links between two actix actors against raw
//! quinn with the same TLS (no actors, no codec), measured side by side in one run.
//!
//! ```text
//!  (a) round trip   client actor ─Link::send─▶ … ─▶ echo actor ─PeerSender::send─▶ … ─▶ client actor
//!                   raw: write_all(N bytes) ─▶ server task read_exact + write_all ─▶ read_exact
//!  (b) one-way      client actor sends M messages in bursts; server actor counts them
//!                   raw: M × write_all(N bytes) on one stream; server task counts bytes
//!                   (also shown, for context: raw with 1000 messages per write)
//! ```
//!
//! N is the size of one encoded frame of [`Msg`], so both sides move the same bytes. Both
//! actors live on the actix system thread; both nodes share one transport runtime with the
//! same number of worker threads as the raw baseline's runtime (1, then 2). Each
//! measurement runs `ROUNDS` times, alternating Drover and raw; medians are shown.
//! Run: `cargo bench -p drover-benches --bench transport` (`DROVER_BENCH_QUICK=1` for a
//! short smoke run). Any setup failure aborts the benchmark with a message.

use std::time::Duration;

use drover_proto::codec::{encode_frame, Role};
use drover_transport::{ClusterCa, NodeIdentity};
use serde::{Deserialize, Serialize};

#[path = "transport/drover_side.rs"]
mod drover_side;
#[path = "transport/raw.rs"]
mod raw;

use drover_side::{drover_run, BURST};
use raw::raw_run;

/// The small typed message both benchmarks carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Msg {
    seq: u64,
    text: String,
}

fn msg(seq: u64) -> Msg {
    Msg {
        seq,
        text: "status update".to_owned(),
    }
}

const ROUNDS: usize = 3;

struct Scale {
    rtt_warmup: usize,
    rtt_samples: usize,
    messages: u64,
}

/// Round-trip latencies of one run.
pub(crate) struct Rtt {
    p50: Duration,
    p99: Duration,
    mean: Duration,
    detail: String,
}

/// Picks one statistic out of an [`Rtt`].
type Stat = fn(&Rtt) -> Duration;

impl Rtt {
    fn of(mut s: Vec<Duration>) -> Rtt {
        s.sort_unstable();
        let mean = s.iter().sum::<Duration>() / s.len().max(1) as u32;
        let q = |f: f64| s[((s.len() as f64 * f) as usize).min(s.len() - 1)];
        let over = s.iter().filter(|d| **d > Duration::from_millis(1)).count();
        let detail = format!(
            "p90 {:?} p95 {:?} p99.9 {:?} max {:?} over1ms {over}",
            q(0.9),
            q(0.95),
            q(0.999),
            q(1.0)
        );
        Rtt {
            p50: s[s.len() / 2],
            p99: s[s.len() * 99 / 100],
            mean,
            detail,
        }
    }
}

/// The two node identities both sides use.
struct Ids {
    master: NodeIdentity,
    agent: NodeIdentity,
}

// ---------------------------------------------------------------- report

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn us(d: f64) -> String {
    format!("{:.1} µs", d * 1e6)
}

/// CPU time (user + system) this process has used, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let ticks: f64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<f64>().ok())
        .sum();
    ticks / 100.0 // USER_HZ
}

/// Runs `f`, returning its result and the CPU seconds it used.
fn with_cpu<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let before = cpu_seconds();
    let out = f();
    (out, cpu_seconds() - before)
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✅"
    } else {
        "❌"
    }
}

/// One worker-count configuration: measures everything `ROUNDS` times, prints a table.
fn run_config(ids: &Ids, scale: &Scale, size: usize, workers: usize) {
    let (mut d_rtt, mut r_rtt) = (Vec::new(), Vec::new());
    let (mut d_cpu, mut r_cpu) = (Vec::new(), Vec::new());
    let (mut d_tp, mut r_tp, mut r_bulk) = (Vec::new(), Vec::new(), Vec::new());
    let trips = (scale.rtt_warmup + scale.rtt_samples) as f64;
    for round in 1..=ROUNDS {
        let (r, cpu) = with_cpu(|| raw_run(ids, scale, workers, size, 0, 1));
        r_rtt.push(r.0.expect("rtt"));
        r_cpu.push(cpu / trips);
        let (d, cpu) = with_cpu(|| drover_run(ids, scale, workers, 0));
        d_rtt.push(d.0.expect("rtt"));
        d_cpu.push(cpu / trips);
        r_tp.push(raw_run(ids, scale, workers, size, scale.messages, 1).1);
        d_tp.push(drover_run(ids, scale, workers, scale.messages).1);
        r_bulk.push(raw_run(ids, scale, workers, size, scale.messages, BURST as usize).1);
        eprintln!("{workers} worker(s): round {round} of {ROUNDS} done");
        for (who, r) in [("raw", &r_rtt[round - 1]), ("drover", &d_rtt[round - 1])] {
            eprintln!("  {who:>6} round trip: {}", r.detail);
        }
    }
    let pick =
        |v: &[Rtt], f: fn(&Rtt) -> Duration| median(v.iter().map(|r| f(r).as_secs_f64()).collect());
    let rows: [(&str, Stat); 3] = [("p50", |r| r.p50), ("p99", |r| r.p99), ("mean", |r| r.mean)];
    println!("\n#### transport runtime: {workers} worker thread(s) (Drover and raw alike)\n");
    println!(
        "| metric | Drover (2 actors + codec + QUIC/mTLS) | raw quinn (same TLS) | ratio | goal |"
    );
    println!("|---|---|---|---|---|");
    for (name, f) in rows {
        let (d, r) = (pick(&d_rtt, f), pick(&r_rtt, f));
        let goal = match name {
            "p50" | "mean" => format!("≤ 1.25× {}", mark(d / r <= 1.25)),
            _ => String::new(),
        };
        println!(
            "| round trip {name} | {} | {} | {:.2}× | {goal} |",
            us(d),
            us(r),
            d / r
        );
    }
    let (d, r) = (median(d_cpu), median(r_cpu));
    println!(
        "| CPU per round trip (whole process) | {} | {} | {:.2}× | |",
        us(d),
        us(r),
        d / r
    );
    let (d, r, bulk) = (median(d_tp), median(r_tp), median(r_bulk));
    let ok = mark(d / r >= 0.8 && d >= 100_000.0);
    println!(
        "| one-way throughput | {d:.0} msg/s | {r:.0} msg/s (one write per message) | {:.2}× | ≥ 0.8× and ≥ 100k/s {ok} |",
        d / r
    );
    println!(
        "| (context) raw, {BURST} messages per write | | {bulk:.0} msg/s | {:.2}× | |",
        d / bulk
    );
}

fn main() {
    let quick = std::env::var_os("DROVER_BENCH_QUICK").is_some();
    let scale = if quick {
        Scale {
            rtt_warmup: 200,
            rtt_samples: 2_000,
            messages: 50_000,
        }
    } else {
        Scale {
            rtt_warmup: 2_000,
            rtt_samples: 20_000,
            messages: 500_000,
        }
    };
    let ca = ClusterCa::generate().expect("CA");
    let ids = Ids {
        master: ca.issue(Role::Master, "bench-master").expect("cert"),
        agent: ca.issue(Role::Agent, "bench-agent").expect("cert"),
    };
    let mut frame = Vec::new();
    encode_frame(&msg(1_000_000), &mut frame).expect("encode");
    let size = frame.len();
    println!(
        "### transport — {size}-byte frames, {} round trips and {} one-way messages per run, median of {ROUNDS} runs",
        scale.rtt_samples, scale.messages
    );
    for workers in [1, 2] {
        run_config(&ids, &scale, size, workers);
    }
}
