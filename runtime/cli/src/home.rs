//! `$DROVER_HOME` (default `~/.drover`): where `drover up` keeps the cluster's
//! certificates, work dirs and logs, and where client commands (`run`, `state`, ...)
//! find the certificates and the master's address.
//!
//! ```text
//!  $DROVER_HOME/tls/ca.pem, ca.key          cluster CA
//!  $DROVER_HOME/tls/{master,scheduler,agent,executor}.pem/.key
//!  $DROVER_HOME/cluster.json                {"master": "127.0.0.1:5050", "http": "127.0.0.1:5050"}
//!  $DROVER_HOME/master/  agents/<n>/  logs/
//! ```

use anyhow::{Context, Result};
use drover_proto::codec::Role;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The home directory.
pub(crate) fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("DROVER_HOME") {
        return PathBuf::from(h);
    }
    let base = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    base.join(".drover")
}

/// The certificate directory.
pub(crate) fn tls_dir() -> PathBuf {
    home().join("tls")
}

/// Where a local cluster's master listens, written by `drover up`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClusterFile {
    /// QUIC address of the master.
    pub(crate) master: SocketAddr,
    /// HTTP address of the master.
    pub(crate) http: SocketAddr,
    /// PID of the `drover up` process.
    pub(crate) pid: u32,
}

/// Reads `cluster.json`.
pub(crate) fn read_cluster() -> Result<ClusterFile> {
    let path = home().join("cluster.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no local cluster found ({} is missing): start one with `drover up`, or pass --master",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// Writes `cluster.json`.
pub(crate) fn write_cluster(c: &ClusterFile) -> Result<()> {
    let path = home().join("cluster.json");
    std::fs::write(&path, serde_json::to_vec_pretty(c)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Makes the CA (once) and one certificate per role (named after the role), so every
/// local process finds its identity.
pub(crate) fn ensure_certs(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if !dir.join("ca.pem").exists() {
        drover_transport::init_ca(dir)
            .with_context(|| format!("cannot create the cluster CA in {}", dir.display()))?;
    }
    for role in [Role::Master, Role::Agent, Role::Scheduler, Role::Executor] {
        let name = role.to_string();
        if !dir.join(format!("{name}.pem")).exists() {
            drover_transport::issue(dir, role, &name)
                .with_context(|| format!("cannot issue the {name} certificate"))?;
        }
    }
    Ok(())
}

/// The master's QUIC address: `--master` if given, else the local cluster's.
pub(crate) fn master_addr(flag: Option<&str>) -> Result<SocketAddr> {
    match flag {
        Some(s) => crate::resolve(s, 5050),
        None => Ok(read_cluster()?.master),
    }
}

/// The master's HTTP address: `--master` if given (same host and port), else the local
/// cluster's.
pub(crate) fn master_http(flag: Option<&str>) -> Result<SocketAddr> {
    match flag {
        Some(s) => crate::resolve(s, 5050),
        None => Ok(read_cluster()?.http),
    }
}
