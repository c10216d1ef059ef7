//! Starting a master: the transport node (QUIC + mTLS) serving agents and schedulers,
//! the master actor, and the HTTP API, all on the current actix system.

use crate::core::{MasterConfig, MasterCore};
use crate::shell::MasterActor;
use actix::{Actor, Addr};
use drover_proto::codec::Role;
use drover_proto::{AgentToMaster, MasterToAgent, SchedulerCall, SchedulerEvent};
use drover_transport::events::ServerEvent;
use drover_transport::{Faults, Node, NodeConfig, NodeIdentity, TransportError};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors starting a master.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// The TLS identity could not be loaded: run `drover certs init` / `issue` first.
    #[error("cannot load the master's TLS identity '{name}' from {dir}: {source}")]
    Identity {
        /// Certificate directory.
        dir: PathBuf,
        /// Certificate name.
        name: String,
        /// Cause.
        source: drover_transport::CertError,
    },
    /// The certificate is not a master certificate.
    #[error("certificate '{0}' is not a master certificate (role {1})")]
    WrongRole(String, Role),
    /// The QUIC endpoint could not start.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The HTTP API could not bind.
    #[error("cannot bind the HTTP API on {addr}: {source}")]
    Http {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// How to start a master.
#[derive(Debug, Clone)]
pub struct MasterOptions {
    /// UDP address for QUIC (agents, schedulers).
    pub quic_addr: SocketAddr,
    /// TCP address for HTTP.
    pub http_addr: SocketAddr,
    /// Directory with `ca.pem` and the master's certificate.
    pub tls_dir: PathBuf,
    /// Name of the master's certificate in `tls_dir`.
    pub cert_name: String,
    /// The core's tunables.
    pub config: MasterConfig,
    /// Fault hooks for tests and chaos (inactive by default).
    pub faults: Faults,
}

/// A running master.
#[derive(Debug)]
pub struct RunningMaster {
    /// The actor.
    pub addr: Addr<MasterActor>,
    /// Bound QUIC address.
    pub quic_addr: SocketAddr,
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// The transport node (keep it alive).
    pub node: Node,
    /// The HTTP server.
    pub http: actix_web::dev::ServerHandle,
}

impl RunningMaster {
    /// Stops the HTTP server and closes every connection.
    pub async fn stop(self) {
        self.http.stop(true).await;
        self.node.shutdown();
    }
}

/// Starts a master on the current actix system.
pub fn start(opts: MasterOptions) -> Result<RunningMaster, MasterError> {
    let identity = NodeIdentity::load(&opts.tls_dir, &opts.cert_name).map_err(|source| {
        MasterError::Identity {
            dir: opts.tls_dir.clone(),
            name: opts.cert_name.clone(),
            source,
        }
    })?;
    if identity.role() != Role::Master {
        return Err(MasterError::WrongRole(opts.cert_name, identity.role()));
    }
    let mut node_cfg = NodeConfig::new(identity, opts.quic_addr);
    node_cfg.faults = opts.faults.clone();
    let node = Node::new(node_cfg)?;
    let mut config = opts.config;
    config.master_info.port = node.local_addr().port();
    let http_port_hint = opts.http_addr.port();
    config.master_info.http_port = http_port_hint;
    let addr = MasterActor::new(MasterCore::new(config)).start();
    node.serve::<AgentToMaster, MasterToAgent, _>(
        &[Role::Agent],
        addr.clone()
            .recipient::<ServerEvent<AgentToMaster, MasterToAgent>>(),
    )?;
    node.serve::<SchedulerCall, SchedulerEvent, _>(
        &[Role::Scheduler],
        addr.clone()
            .recipient::<ServerEvent<SchedulerCall, SchedulerEvent>>(),
    )?;
    let (http_addr, http) =
        crate::http::serve(opts.http_addr, addr.clone()).map_err(|source| MasterError::Http {
            addr: opts.http_addr,
            source,
        })?;
    tracing::info!(quic = %node.local_addr(), http = %http_addr, "master listening");
    Ok(RunningMaster {
        addr,
        quic_addr: node.local_addr(),
        http_addr,
        node,
        http,
    })
}
