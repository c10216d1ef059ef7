//! Starting a master: the transport node (QUIC + mTLS) serving agents and schedulers,
//! the master actor, and the HTTP API, all on the current actix system.

use crate::core::{MasterConfig, MasterCore};
use crate::registry::{RegistryFlusher, RegistryStore, RegistryWriter, StoreError, REGISTRY_FILE};
use crate::shell::{MasterActor, RegistryDurable};
use actix::{Actor, Addr, AsyncContext};
use drover_proto::codec::Role;
use drover_proto::{AgentToMaster, MasterToAgent, SchedulerCall, SchedulerEvent};
use drover_transport::events::ServerEvent;
use drover_transport::{Faults, Node, NodeConfig, NodeIdentity, TransportError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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
    /// The work dir could not be created.
    #[error("cannot create the master work dir {dir}: {source}")]
    WorkDir {
        /// The directory.
        dir: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The registry could not be read.
    #[error(transparent)]
    Registry(#[from] StoreError),
    /// The QUIC reset key could not be read or created.
    #[error(transparent)]
    ResetKey(#[from] drover_transport::ResetKeyError),
    /// The registry writer thread could not start.
    #[error("cannot start the registry writer thread: {0}")]
    RegistryWriter(std::io::Error),
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
    /// Where the registry lives (`<work_dir>/registry.redb`); `None`: nothing survives
    /// a restart.
    pub work_dir: Option<PathBuf>,
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
    /// Waits for queued registry writes (with a work dir).
    pub registry: Option<RegistryFlusher>,
    /// Set when a registry write failed (the error names the file and the cause): the
    /// master can no longer keep its promises and must stop; see [`Self::failed`].
    pub fatal: tokio::sync::watch::Receiver<Option<String>>,
}

impl RunningMaster {
    /// Resolves with the error of a failed registry write (never, without a work dir).
    pub async fn failed(&mut self) -> String {
        loop {
            if let Some(e) = self.fatal.borrow_and_update().clone() {
                return e;
            }
            if self.fatal.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops the HTTP server, closes every connection and waits until the registry
    /// changes made so far are on disk.
    pub async fn stop(self) {
        self.http.stop(true).await;
        self.node.shutdown();
        if let Some(f) = self.registry {
            match tokio::task::spawn_blocking(move || f.sync()).await {
                Ok(true) => {}
                _ => tracing::error!("registry writes may not all be on disk"),
            }
        }
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
    if let Some(dir) = &opts.work_dir {
        // Kept across restarts: agents' and schedulers' connections to the previous
        // process are reset at their next packet instead of idling out.
        node_cfg.reset_key = Some(drover_transport::ResetKey::load_or_create(
            &dir.join("quic-reset-key"),
        )?);
    }
    let node = Node::new(node_cfg)?;
    let mut config = opts.config;
    config.master_info.port = node.local_addr().port();
    let http_port_hint = opts.http_addr.port();
    config.master_info.http_port = http_port_hint;
    let mut core = MasterCore::new(config);
    let (fatal_tx, fatal) = tokio::sync::watch::channel(None);
    let (addr, registry) = match &opts.work_dir {
        Some(dir) => {
            let store = open_registry(dir, &mut core)?;
            // The writer reports to the actor, so the actor's address comes first.
            let ctx = actix::Context::<MasterActor>::new();
            let me = ctx.address();
            let writer = RegistryWriter::spawn_reporting(
                store,
                move |n| me.do_send(RegistryDurable(n)),
                move |e| {
                    fatal_tx.send_replace(Some(e.to_string()));
                },
            )
            .map_err(MasterError::RegistryWriter)?;
            let flusher = writer.flusher();
            (
                ctx.run(MasterActor::new(core).with_registry(writer)),
                flusher,
            )
        }
        None => (MasterActor::new(core).start(), None),
    };
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
    let (http_addr, http) = crate::http::serve(opts.http_addr, addr.clone(), opts.faults.clone())
        .map_err(|source| MasterError::Http {
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
        registry,
        fatal,
    })
}

/// Opens the registry in `dir` and loads it into `core`. Runs once at start-up, before
/// the actor exists.
fn open_registry(dir: &Path, core: &mut MasterCore) -> Result<RegistryStore, MasterError> {
    std::fs::create_dir_all(dir).map_err(|source| MasterError::WorkDir {
        dir: dir.to_owned(),
        source,
    })?;
    let (store, registry) = RegistryStore::open(&dir.join(REGISTRY_FILE))?;
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    core.recover(Instant::now(), unix, &registry);
    Ok(store)
}
