//! [`AgentConfig`]: everything `drover agent` can be told, with Mesos-like defaults,
//! and its validation into what the shell needs (resolved master addresses, TLS
//! identity, executor program).

use crate::containerizer_kind::ContainerizerKind;
use crate::core::CoreTiming;
use drover_containerizers::MockSpec;
use drover_proto::{parse_attributes, Attribute, AttributeParseError, Resources};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Default QUIC (UDP) and HTTP (TCP) port of an agent.
pub const DEFAULT_PORT: u16 = 5051;
/// Default QUIC port of a master, used for master addresses given without a port.
pub const DEFAULT_MASTER_PORT: u16 = 5050;

/// Configuration of one agent.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Master QUIC addresses (`host:port`, `host` alone means port 5050), tried in turn.
    pub masters: Vec<String>,
    /// UDP address of the QUIC endpoint executors connect to (default `0.0.0.0:5051`).
    pub listen: SocketAddr,
    /// TCP address of the HTTP API (default `0.0.0.0:5051`; port 0 picks one).
    pub http_listen: SocketAddr,
    /// Work directory: sandboxes under `frameworks/`, checkpoints under `meta/`.
    pub work_dir: PathBuf,
    /// Runtime directory (`--runtime-dir`, Mesos's `--runtime_dir`): the native and
    /// posix containerizers' per-container records and status files, which must
    /// survive an agent restart but not a reboot. `None`: [`default_runtime_dir`].
    pub runtime_dir: Option<PathBuf>,
    /// Hostname reported to the master (default: the machine's).
    pub hostname: Option<String>,
    /// `--resources`: replaces or carves reservations out of discovered resources.
    pub resources: Option<Resources>,
    /// Attributes, e.g. from `rack:r1;zone:a` (see [`AgentConfig::set_attributes`]).
    pub attributes: Vec<Attribute>,
    /// Containerizers in order of preference (default `posix`).
    pub containerizers: Vec<ContainerizerKind>,
    /// Directory with `ca.pem`, the agent's `<tls_name>.pem/.key` and the executors'.
    pub tls_dir: PathBuf,
    /// Name of the agent's certificate in `tls_dir` (default `agent`).
    pub tls_name: String,
    /// Name of the certificate executors use (default `executor`), passed to them as
    /// `DROVER_TLS_NAME`.
    pub executor_tls_name: String,
    /// The command executor program (default: this process's executable).
    pub executor_binary: Option<PathBuf>,
    /// Its arguments (default `["executor"]`).
    pub executor_args: Vec<String>,
    /// How long executors keep trying to reach a restarted agent.
    pub executor_recovery_timeout: Duration,
    /// What the mock containerizer simulates unless a task's `mock.*` labels say
    /// otherwise.
    pub mock: MockSpec,
    /// Create sandbox directories for mock tasks (off: nothing touches the disk).
    pub mock_sandboxes: bool,
    /// Timeouts and backoffs.
    pub timing: CoreTiming,
    /// Native containerizer isolators (`--isolation`), see
    /// [`drover_containerizer_native::Isolation::DEFAULT`].
    pub isolation: String,
    /// Native containerizer: enforce CPU limits as hard CFS quotas.
    pub cgroups_enable_cfs: bool,
    /// Native containerizer: cgroup directory of this agent's containers (give each
    /// agent on a host its own: everything under it the agent does not know is destroyed
    /// at recovery).
    pub cgroups_root: String,
    /// Native containerizer: process limit for containers that ask for none.
    pub pids_max: Option<u64>,
    /// Completed tasks kept for `/state`.
    pub max_completed_tasks: usize,
    /// HTTP worker threads.
    pub http_workers: usize,
    /// The Docker engine's unix socket, for the docker containerizer (`--docker-socket`,
    /// default `/var/run/docker.sock`).
    pub docker_socket: PathBuf,
    /// How often the agent pings the Docker engine to notice it going away or coming
    /// back (`--docker-check-interval`, default 1 s).
    pub docker_check_interval: Duration,
    /// What to do with the checkpoint and containers of a previous run (`--recover`).
    pub recover: crate::shell::recovery::RecoverMode,
    /// Serve the HTTP API (default on). Off: no server is started and the agent reports
    /// HTTP port 0 to the master; for many agents in one process (benchmarks, tests).
    pub http_enabled: bool,
    /// Transport runtime to run the agent's QUIC node on (default: a new one owned by
    /// the node). Share one between many agents in one process (benchmarks, tests).
    pub transport_runtime: Option<drover_transport::TransportRuntime>,
}

impl AgentConfig {
    /// Defaults for an agent of `masters` with its work and certificate directories.
    pub fn new(
        masters: Vec<String>,
        work_dir: impl Into<PathBuf>,
        tls_dir: impl Into<PathBuf>,
    ) -> Self {
        let any = std::net::Ipv4Addr::UNSPECIFIED;
        Self {
            masters,
            listen: SocketAddr::from((any, DEFAULT_PORT)),
            http_listen: SocketAddr::from((any, DEFAULT_PORT)),
            work_dir: work_dir.into(),
            runtime_dir: None,
            hostname: None,
            resources: None,
            attributes: Vec::new(),
            containerizers: vec![ContainerizerKind::Posix],
            tls_dir: tls_dir.into(),
            tls_name: "agent".to_owned(),
            executor_tls_name: "executor".to_owned(),
            executor_binary: None,
            executor_args: vec!["executor".to_owned()],
            executor_recovery_timeout: Duration::from_secs(15 * 60),
            mock: MockSpec::default(),
            mock_sandboxes: false,
            timing: CoreTiming::default(),
            isolation: drover_containerizer_native::Isolation::DEFAULT.to_owned(),
            cgroups_enable_cfs: false,
            cgroups_root: "drover".to_owned(),
            pids_max: None,
            max_completed_tasks: 1000,
            http_workers: 1,
            docker_socket: PathBuf::from(drover_containerizer_docker::DEFAULT_SOCKET),
            docker_check_interval: Duration::from_secs(1),
            recover: crate::shell::recovery::RecoverMode::Reconnect,
            http_enabled: true,
            transport_runtime: None,
        }
    }

    /// Sets the attributes from Mesos's text form, `rack:r1;zone:a`.
    pub fn set_attributes(&mut self, text: &str) -> Result<(), AttributeParseError> {
        self.attributes = parse_attributes(text)?;
        Ok(())
    }

    /// Resolves the master addresses (DNS lookups; blocking).
    pub fn master_addrs(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        if self.masters.is_empty() {
            return Err(ConfigError::NoMasters);
        }
        let mut out = Vec::new();
        for m in &self.masters {
            let with_port = if m.parse::<SocketAddr>().is_ok() || has_port(m) {
                m.clone()
            } else {
                format!("{m}:{DEFAULT_MASTER_PORT}")
            };
            let addr = with_port
                .to_socket_addrs()
                .map_err(|e| ConfigError::MasterAddr {
                    addr: m.clone(),
                    reason: e.to_string(),
                })?
                .next()
                .ok_or_else(|| ConfigError::MasterAddr {
                    addr: m.clone(),
                    reason: "no address found".to_owned(),
                })?;
            out.push(addr);
        }
        Ok(out)
    }

    /// The hostname to report: the configured one or the machine's.
    pub fn effective_hostname(&self) -> String {
        if let Some(h) = &self.hostname {
            return h.clone();
        }
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_owned())
    }

    /// The executor program: the configured one or this process's executable.
    pub fn executor_program(&self) -> Result<PathBuf, ConfigError> {
        match &self.executor_binary {
            Some(p) => Ok(p.clone()),
            None => std::env::current_exe().map_err(ConfigError::CurrentExe),
        }
    }

    /// Checks what can be checked without touching the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.containerizers.is_empty() {
            return Err(ConfigError::NoContainerizers);
        }
        if self.masters.is_empty() {
            return Err(ConfigError::NoMasters);
        }
        Ok(())
    }
}

/// `host:port` with a numeric port (IPv6 literals must be bracketed).
fn has_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && port.parse::<u16>().is_ok()
                && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    }
}

/// A configuration the agent cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No master address was given.
    #[error("no master address given (--master host:port)")]
    NoMasters,
    /// A master address does not resolve.
    #[error("cannot resolve master address '{addr}': {reason}")]
    MasterAddr {
        /// The address as given.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The containerizer list is empty.
    #[error("no containerizer configured (--containerizers native,posix,docker,mock)")]
    NoContainerizers,
    /// A containerizer this build cannot run yet.
    #[error(
        "containerizer '{0}' is not available in this build of drover (available: native, posix, docker, mock)"
    )]
    ContainerizerUnavailable(ContainerizerKind),
    /// The executor program could not be found.
    #[error(
        "cannot find the drover executable for the command executor: {0} (set the executor binary)"
    )]
    CurrentExe(#[source] std::io::Error),
}

/// The runtime directory of an agent with `work_dir` when `--runtime-dir` is not given:
/// as root, `/run/drover/agents/<hash of the absolute work dir>` (a tmpfs on systemd
/// hosts: container launches then write nothing to the disk, and a reboot, which ends
/// every container, empties it); otherwise, or where `/run` is missing,
/// `<work_dir>/run`. Each work dir gets its own, so several agents can share a host.
pub fn default_runtime_dir(work_dir: &std::path::Path) -> PathBuf {
    let run = std::path::Path::new("/run");
    if !nix::unistd::Uid::effective().is_root() || !run.is_dir() {
        return work_dir.join("run");
    }
    let absolute = std::path::absolute(work_dir).unwrap_or_else(|_| work_dir.to_path_buf());
    // FNV-1a: stable across builds and releases, unlike std's hasher.
    let hash = absolute
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    run.join("drover")
        .join("agents")
        .join(format!("{hash:016x}"))
}

impl AgentConfig {
    /// `--runtime-dir`, or [`default_runtime_dir`] of the work dir.
    pub fn effective_runtime_dir(&self) -> PathBuf {
        self.runtime_dir
            .clone()
            .unwrap_or_else(|| default_runtime_dir(&self.work_dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_mesos_ports_and_validation_catches_mistakes() {
        let mut c = AgentConfig::new(vec!["127.0.0.1:5050".into()], "/tmp/w", "/tmp/tls");
        assert_eq!(c.listen.port(), 5051);
        assert_eq!(c.http_listen.port(), 5051);
        assert_eq!(c.containerizers, vec![ContainerizerKind::Posix]);
        assert_eq!(
            c.timing.executor_registration_timeout,
            Duration::from_secs(60)
        );
        c.validate().unwrap();
        c.containerizers = vec![ContainerizerKind::Docker, ContainerizerKind::Native];
        c.validate().unwrap();
        c.containerizers.clear();
        assert!(matches!(c.validate(), Err(ConfigError::NoContainerizers)));
    }

    #[test]
    fn master_addresses_resolve_with_a_default_port() {
        let c = AgentConfig::new(
            vec![
                "127.0.0.1:6000".into(),
                "localhost".into(),
                "[::1]:7000".into(),
            ],
            "/w",
            "/t",
        );
        let addrs = c.master_addrs().unwrap();
        assert_eq!(addrs[0], "127.0.0.1:6000".parse().unwrap());
        assert_eq!(addrs[1].port(), DEFAULT_MASTER_PORT);
        assert_eq!(addrs[2], "[::1]:7000".parse().unwrap());
        let bad = AgentConfig::new(vec!["no such host.invalid:1".into()], "/w", "/t");
        assert!(matches!(
            bad.master_addrs(),
            Err(ConfigError::MasterAddr { .. })
        ));
    }

    #[test]
    fn attributes_parse_in_mesos_text_form() {
        let mut c = AgentConfig::new(vec![], "/w", "/t");
        c.set_attributes("rack:r1;zone:a").unwrap();
        assert_eq!(c.attributes.len(), 2);
        assert!(c.set_attributes("rack").is_err());
    }
}
