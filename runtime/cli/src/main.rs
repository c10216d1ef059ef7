//! The `drover` binary: `master`, `agent`, `executor` (started by agents), `up` (a local
//! cluster), `run` (one task, like mesos-execute), `state` / `agents` / `tasks`, and
//! `certs`.

mod cmd;
mod home;

/// jemalloc instead of glibc malloc: the master and agents allocate and free small
/// messages at a high rate, where glibc's bins cost a quarter of the CPU
/// (benches/RESULTS.md, launch).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Drover: a cluster runtime in the line of Apache Mesos.
#[derive(Debug, Parser)]
#[command(name = "drover", version, about)]
struct Cli {
    /// Log as JSON lines instead of human text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a master.
    Master(cmd::master::MasterArgs),
    /// Run an agent.
    Agent(cmd::agent::AgentArgs),
    /// Start a local cluster: a master and N agents, until Ctrl-C.
    Up(cmd::up::UpArgs),
    /// Run one task and stream its output; exits with the task's exit code.
    Run(cmd::run::RunArgs),
    /// Run the command executor (started by agents, not by people).
    #[command(hide = true)]
    Executor,
    /// Show the cluster's state (agents, frameworks, tasks).
    State(cmd::query::QueryArgs),
    /// List agents.
    Agents(cmd::query::QueryArgs),
    /// List active tasks (`--all`: completed ones too).
    Tasks(cmd::query::TasksArgs),
    /// Manage the cluster CA and node certificates.
    #[command(subcommand)]
    Certs(cmd::certs::CertsCmd),
}

fn main() {
    let cli = Cli::parse();
    // Daemons log their life at info; client commands and executors (whose stderr is
    // the task's sandbox) only warnings.
    let daemon = matches!(cli.cmd, Cmd::Master(_) | Cmd::Agent(_) | Cmd::Up(_));
    init_logging(
        cli.log_json,
        if daemon { "warn,drover=info" } else { "warn" },
    );
    let result = match cli.cmd {
        Cmd::Master(a) => cmd::master::run(a),
        Cmd::Agent(a) => cmd::agent::run(a),
        Cmd::Up(a) => cmd::up::run(a),
        Cmd::Run(a) => match cmd::run::run(a) {
            Ok(code) => std::process::exit(code),
            Err(e) => Err(e),
        },
        Cmd::Executor => match drover_sdk::command_executor::run() {
            Ok(code) => std::process::exit(code),
            Err(e) => {
                eprintln!("drover executor: {e}");
                std::process::exit(1);
            }
        },
        Cmd::State(a) => cmd::query::run(cmd::query::View::State, a),
        Cmd::Agents(a) => cmd::query::run(cmd::query::View::Agents, a),
        Cmd::Tasks(a) => cmd::query::run(cmd::query::View::Tasks { all: a.all }, a.query),
        Cmd::Certs(c) => cmd::certs::run(c),
    };
    match result {
        Ok(()) => {}
        Err(e) => {
            eprintln!("drover: {e:#}");
            std::process::exit(1);
        }
    }
}

fn init_logging(json: bool, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves `host:port` (or `host` with `default_port`).
pub(crate) fn resolve(s: &str, default_port: u16) -> Result<SocketAddr> {
    let with_port = if s.contains(':') {
        s.to_owned()
    } else {
        format!("{s}:{default_port}")
    };
    with_port
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve address '{s}'"))?
        .next()
        .with_context(|| format!("address '{s}' resolves to nothing"))
}

/// Parses durations like `500ms`, `2s`, `1.5s`, `5m`, or plain seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let v: f64 = num.parse().map_err(|_| format!("invalid duration '{s}'"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("invalid duration unit in '{s}': use ms, s, m or h")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration '{s}'"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// This machine's hostname.
pub(crate) fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers, run until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {},
        _ = term.recv() => {},
    }
}
