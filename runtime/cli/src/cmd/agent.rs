//! `drover agent`: runs an agent until SIGINT/SIGTERM (its containers keep running, as
//! in Mesos, unless `--kill-tasks-on-exit`).

use anyhow::{Context, Result};
use clap::Args;
use drover_agent::containerizer_kind::parse_containerizers;
use drover_agent::{Agent, AgentConfig};
use std::path::PathBuf;

/// `drover agent` flags.
#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// Master QUIC address(es), tried in turn (repeatable or comma-separated).
    #[arg(long, required = true, value_delimiter = ',')]
    master: Vec<String>,
    /// UDP address for executors (QUIC).
    #[arg(long, default_value = "0.0.0.0:5051")]
    listen: String,
    /// TCP address of the HTTP API.
    #[arg(long, default_value = "0.0.0.0:5051")]
    http: String,
    /// Work directory (sandboxes, checkpoints).
    #[arg(long, default_value = "/var/lib/drover/agent")]
    work_dir: PathBuf,
    /// Runtime directory: containers' records and status files, kept across agent
    /// restarts but not reboots (default, as root: `/run/drover/agents/<hash of the
    /// work dir>`; otherwise `<work-dir>/run`).
    #[arg(long)]
    runtime_dir: Option<PathBuf>,
    /// Resources, replacing discovered ones, e.g. `cpus:4;mem:8192;cpus(analytics):2`.
    #[arg(long)]
    resources: Option<String>,
    /// Attributes, e.g. `rack:r1;zone:a`.
    #[arg(long)]
    attributes: Option<String>,
    /// Hostname reported to the master.
    #[arg(long)]
    hostname: Option<String>,
    /// Containerizers in order of preference: native, posix, docker, mock. `native`
    /// falls back to `posix` (with a warning) where the agent is not root or lacks
    /// cgroups; `docker` is advertised only while its engine answers (checked every
    /// `--docker-check-interval`; an agent with only `docker` needs it at start).
    #[arg(long, default_value = "native")]
    containerizers: String,
    /// The Docker engine's unix socket (docker containerizer).
    #[arg(long, default_value = drover_containerizer_docker::DEFAULT_SOCKET)]
    docker_socket: PathBuf,
    /// How often the Docker engine is pinged: the docker containerizer is advertised
    /// only while it answers.
    #[arg(long, default_value = "1s", value_parser = crate::parse_duration)]
    docker_check_interval: std::time::Duration,
    /// Native isolators, e.g. `cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,filesystem/linux`.
    #[arg(long, default_value = drover_containerizer_native::Isolation::DEFAULT)]
    isolation: String,
    /// Enforce CPU limits as hard CFS quotas (native).
    #[arg(long)]
    cgroups_enable_cfs: bool,
    /// Cgroup directory of this agent's containers (one per agent on a host).
    #[arg(long, default_value = "drover")]
    cgroups_root: String,
    /// Default process limit of native containers.
    #[arg(long)]
    pids_max: Option<u64>,
    /// Directory with ca.pem and the agent and executor certificates (default:
    /// $DROVER_HOME/tls).
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// Name of the agent certificate.
    #[arg(long, default_value = "agent")]
    cert_name: String,
    /// Name of the certificate executors use.
    #[arg(long, default_value = "executor")]
    executor_cert_name: String,
    /// Destroy all containers when the agent stops (default: leave them running so a
    /// restarted agent recovers them).
    #[arg(long)]
    kill_tasks_on_exit: bool,
    /// On start, with the checkpoint of a previous run in the work dir: `reconnect`
    /// (re-attach to running executors, keep the agent id) or `cleanup` (kill every
    /// container and start as a new agent).
    #[arg(long, default_value = "reconnect")]
    recover: String,
    /// After a restart, how long executors have to reconnect before the agent
    /// re-registers without them and kills them (executors notice a dead agent after
    /// the QUIC idle timeout, 5 s, so keep it above that).
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    executor_reregister_timeout: std::time::Duration,
    /// First resend of an unacknowledged status update after this long; each further
    /// resend waits twice as long, up to --status-update-retry-max.
    #[arg(long, default_value = "5s", value_parser = crate::parse_duration)]
    status_update_retry_min: std::time::Duration,
    /// Longest wait between resends of an unacknowledged status update.
    #[arg(long, default_value = "300s", value_parser = crate::parse_duration)]
    status_update_retry_max: std::time::Duration,
}

/// Total memory of the machine in MB, from /proc/meminfo.
pub(crate) fn total_memory_mb() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    drover_agent::resources_discovery::parse_meminfo(&text)
        .map(|bytes| bytes as f64 / 1024.0 / 1024.0)
}

fn config(a: &AgentArgs) -> Result<AgentConfig> {
    let tls_dir = a.tls_dir.clone().unwrap_or_else(crate::home::tls_dir);
    let mut c = AgentConfig::new(a.master.clone(), a.work_dir.clone(), tls_dir);
    c.listen = crate::resolve(&a.listen, 5051)?;
    c.http_listen = crate::resolve(&a.http, 5051)?;
    c.hostname = a.hostname.clone();
    c.runtime_dir = a.runtime_dir.clone();
    if let Some(r) = &a.resources {
        c.resources = Some(
            r.parse()
                .map_err(|e| anyhow::anyhow!("invalid --resources: {e}"))?,
        );
    }
    if let Some(t) = &a.attributes {
        c.set_attributes(t).context("invalid --attributes")?;
    }
    c.containerizers =
        parse_containerizers(&a.containerizers).context("invalid --containerizers")?;
    drover_containerizer_native::Isolation::parse(&a.isolation).context("invalid --isolation")?;
    c.isolation = a.isolation.clone();
    c.cgroups_enable_cfs = a.cgroups_enable_cfs;
    c.cgroups_root = a.cgroups_root.clone();
    c.pids_max = a.pids_max;
    c.docker_socket = a.docker_socket.clone();
    c.docker_check_interval = a.docker_check_interval;
    c.tls_name = a.cert_name.clone();
    c.executor_tls_name = a.executor_cert_name.clone();
    c.recover = a
        .recover
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid --recover: {e}"))?;
    c.timing.executor_reregister_timeout = a.executor_reregister_timeout;
    if a.status_update_retry_min.is_zero() || a.status_update_retry_max < a.status_update_retry_min
    {
        anyhow::bail!(
            "--status-update-retry-min must be above zero and at most --status-update-retry-max"
        );
    }
    c.timing.status_update_retry = drover_agent::core::RetryPolicy {
        min: a.status_update_retry_min,
        max: a.status_update_retry_max,
    };
    Ok(c)
}

/// Runs the agent until a signal.
pub(crate) fn run(a: AgentArgs) -> Result<()> {
    let cfg = config(&a)?;
    actix_rt::System::new().block_on(async move {
        let mut agent = Agent::start(cfg).await?;
        println!(
            "drover agent: http://{} (HTTP), executors on {} (QUIC)",
            agent.http_addr(),
            agent.executor_addr()
        );
        let exit = tokio::select! {
            _ = crate::wait_for_signal() => {
                if a.kill_tasks_on_exit { agent.shutdown().await } else { agent.stop().await }
            }
            why = agent.wait() => why,
        };
        tracing::info!(?exit, "agent stopped");
        if let drover_agent::AgentExit::CheckpointFailed(e) = exit {
            anyhow::bail!("the agent cannot write its checkpoint: {e}");
        }
        Ok(())
    })
}
