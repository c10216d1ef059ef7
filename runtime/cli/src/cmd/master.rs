//! `drover master`: runs a master until SIGINT/SIGTERM.

use anyhow::{Context, Result};
use clap::Args;
use drover_master::{MasterConfig, MasterOptions};
use drover_proto::MasterInfo;
use std::path::PathBuf;
use std::time::Duration;

/// `drover master` flags.
#[derive(Debug, Args)]
pub(crate) struct MasterArgs {
    /// Address for QUIC (UDP) from agents and schedulers.
    #[arg(long, default_value = "0.0.0.0:5050")]
    pub(crate) listen: String,
    /// Address for the HTTP API (TCP).
    #[arg(long, default_value = "0.0.0.0:5050")]
    pub(crate) http: String,
    /// Directory for the master's state (the registry, `registry.redb`, survives restarts).
    #[arg(long, default_value = "/var/lib/drover/master")]
    pub(crate) work_dir: PathBuf,
    /// Directory with ca.pem and the master certificate (default: $DROVER_HOME/tls).
    #[arg(long)]
    pub(crate) tls_dir: Option<PathBuf>,
    /// Name of the master certificate in --tls-dir.
    #[arg(long, default_value = "master")]
    pub(crate) cert_name: String,
    /// Hostname advertised to clients.
    #[arg(long)]
    pub(crate) hostname: Option<String>,
    /// Ping agents this often (e.g. 500ms, 2s).
    #[arg(long, default_value = "500ms", value_parser = crate::parse_duration)]
    pub(crate) agent_ping_timeout: Duration,
    /// Missed pings after which an agent is unreachable.
    #[arg(long, default_value_t = 4)]
    pub(crate) max_agent_ping_timeouts: u32,
    /// After a restart, how long known agents have to re-register before they are
    /// marked unreachable.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    pub(crate) agent_reregister_timeout: Duration,
    /// How long an unreachable agent is kept before it is removed (its id is then refused).
    #[arg(long, default_value = "10m", value_parser = crate::parse_duration)]
    pub(crate) agent_removal_timeout: Duration,
    /// Interval of heartbeats to schedulers.
    #[arg(long, default_value = "15s", value_parser = crate::parse_duration)]
    pub(crate) heartbeat_interval: Duration,
    /// Coalesce changes this long before allocating.
    #[arg(long, default_value = "5ms", value_parser = crate::parse_duration)]
    pub(crate) allocation_window: Duration,
    /// Rescind offers not used within this time (off by default).
    #[arg(long, value_parser = crate::parse_duration)]
    pub(crate) offer_timeout: Option<Duration>,
    /// Role weights, e.g. `analytics=2,web=1`.
    #[arg(long, default_value = "")]
    pub(crate) weights: String,
    /// Minimum CPUs of an offer (an offer needs this or --min-allocatable-mem).
    #[arg(long, default_value_t = 0.01)]
    pub(crate) min_allocatable_cpus: f64,
    /// Minimum memory (MB) of an offer.
    #[arg(long, default_value_t = 32.0)]
    pub(crate) min_allocatable_mem: f64,
    /// Testing only: accept fault rules (drop / delay / partition of a peer's messages)
    /// at `POST /faults` on the HTTP API. Never on a production master.
    #[arg(long)]
    pub(crate) fault_injection: bool,
    /// Seed of the drop decisions of --fault-injection (random when absent).
    #[arg(long, requires = "fault_injection")]
    pub(crate) fault_seed: Option<u64>,
    /// Completed tasks kept per framework for /state and `drover tasks --all`.
    #[arg(long, default_value_t = drover_master::core::completed::DEFAULT_MAX_COMPLETED_TASKS_PER_FRAMEWORK)]
    pub(crate) max_completed_tasks_per_framework: usize,
    /// Removed frameworks kept (with their tasks) for /state.
    #[arg(long, default_value_t = drover_master::core::completed::DEFAULT_MAX_COMPLETED_FRAMEWORKS)]
    pub(crate) max_completed_frameworks: usize,
}

/// Builds the options from flags.
pub(crate) fn options(a: &MasterArgs) -> Result<MasterOptions> {
    let quic_addr = crate::resolve(&a.listen, 5050)?;
    let http_addr = crate::resolve(&a.http, 5050)?;
    let hostname = a.hostname.clone().unwrap_or_else(crate::hostname);
    let info = MasterInfo {
        id: format!("{:08x}", rand_id()),
        hostname,
        port: quic_addr.port(),
        http_port: http_addr.port(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let mut config = MasterConfig::new(info);
    config.agent_ping_timeout = a.agent_ping_timeout;
    config.max_agent_ping_timeouts = a.max_agent_ping_timeouts;
    config.agent_reregister_timeout = a.agent_reregister_timeout;
    config.agent_removal_timeout = a.agent_removal_timeout;
    config.heartbeat_interval = a.heartbeat_interval;
    config.allocation_window = a.allocation_window;
    config.offer_timeout = a.offer_timeout;
    config.min_allocatable_cpus = a.min_allocatable_cpus;
    config.min_allocatable_mem = a.min_allocatable_mem;
    config.max_completed_tasks_per_framework = a.max_completed_tasks_per_framework;
    config.max_completed_frameworks = a.max_completed_frameworks;
    for pair in a
        .weights
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (role, w) = pair
            .split_once('=')
            .with_context(|| format!("invalid weight '{pair}': expected role=weight"))?;
        let w: f64 = w
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite() && *w > 0.0)
            .with_context(|| {
                format!("invalid weight '{pair}': weight must be a positive number")
            })?;
        config.weights.insert(role.trim().to_owned(), w);
    }
    Ok(MasterOptions {
        quic_addr,
        http_addr,
        tls_dir: a.tls_dir.clone().unwrap_or_else(crate::home::tls_dir),
        cert_name: a.cert_name.clone(),
        config,
        faults: faults(a),
        work_dir: Some(a.work_dir.clone()),
    })
}

/// The fault switchboard: inert unless `--fault-injection`.
fn faults(a: &MasterArgs) -> drover_transport::Faults {
    let f = match a.fault_seed {
        Some(seed) => drover_transport::Faults::seeded(seed),
        None => drover_transport::Faults::new(),
    };
    if a.fault_injection {
        tracing::warn!("fault injection enabled: POST /faults can drop this master's messages");
        f.with_remote_control()
    } else {
        f
    }
}

fn rand_id() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    t ^ std::process::id().rotate_left(16)
}

/// Runs the master until a signal.
pub(crate) fn run(a: MasterArgs) -> Result<()> {
    let opts = options(&a)?;
    actix_rt::System::new().block_on(async move {
        let mut master = drover_master::start(opts)?;
        println!(
            "drover master listening on {} (QUIC) and http://{} (HTTP)",
            master.quic_addr, master.http_addr
        );
        tokio::select! {
            () = crate::wait_for_signal() => {}
            error = master.failed() => {
                tracing::error!(%error, "REGISTRY WRITE FAILED: the master exits");
                anyhow::bail!("the master cannot write its registry: {error}");
            }
        }
        tracing::info!("master shutting down");
        master.stop().await;
        Ok(())
    })
}
