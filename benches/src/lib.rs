//! Shared helpers for Drover's benchmarks; each benchmark measures its baseline in the
//! same run and prints the ratio. Results are appended to `benches/RESULTS.md`.
#![warn(missing_docs)]

use std::error::Error;
use std::path::Path;

use drover_master::{MasterConfig, MasterOptions, RunningMaster};
use drover_proto::codec::Role;
use drover_proto::MasterInfo;

/// What the benchmark helpers return on failure.
pub type BenchError = Box<dyn Error>;

/// Makes a cluster CA in `tls` and issues the master, agent, executor and scheduler
/// certificates (each named after its role), as `drover certs` does.
pub fn cluster_certs(tls: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(tls)?;
    drover_transport::init_ca(tls)?;
    for (role, name) in [
        (Role::Master, "master"),
        (Role::Agent, "agent"),
        (Role::Executor, "executor"),
        (Role::Scheduler, "scheduler"),
    ] {
        drover_transport::issue(tls, role, name)?;
    }
    Ok(())
}

/// The configuration of an in-process benchmark master, before a benchmark's own tuning.
pub fn master_config() -> MasterConfig {
    MasterConfig::new(MasterInfo {
        id: "bench".into(),
        hostname: "localhost".into(),
        port: 0,
        http_port: 0,
        version: "bench".into(),
    })
}

/// Starts an in-process master on ephemeral loopback ports, with the certificates of
/// [`cluster_certs`] and no work dir.
pub fn start_master(tls: &Path, config: MasterConfig) -> Result<RunningMaster, BenchError> {
    Ok(drover_master::start(MasterOptions {
        quic_addr: "127.0.0.1:0".parse()?,
        http_addr: "127.0.0.1:0".parse()?,
        tls_dir: tls.to_path_buf(),
        cert_name: "master".into(),
        config,
        faults: Default::default(),
        work_dir: None,
    })?)
}

/// The value of environment variable `name` parsed as a `T`, or `default` when it is
/// unset; a value that does not parse is an error naming it.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, BenchError> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("{name}={v} is not a valid value").into()),
        Err(_) => Ok(default),
    }
}
