//! Starting and stopping an agent: [`Agent::start`] turns an [`AgentConfig`] into a
//! running `AgentActor` (`agent_actor`) (QUIC endpoint, master link, containerizers, HTTP
//! API) and hands back an [`AgentHandle`].
//!
//! ```text
//!  Agent::start(config)
//!   ├─ validate, resolve masters, create work dir, discover resources
//!   ├─ load TLS identity (<tls_dir>/<tls_name>.pem, role agent) → QUIC Node on `listen`
//!   │  (on `transport_runtime` if given, shared with other agents of this process)
//!   ├─ docker configured: connect to the engine (down: unavailable, see `docker_watch`)
//!   ├─ containerizers → composing → recovery (--recover): meta/agent.json →
//!   │    recover(checkpointed handles) → Input::Recover (see `recovery`, `checkpointer`)
//!   ├─ actor context ─▶ Node::serve(executor) + HTTP server unless `http_enabled` is
//!   │                   off (both need its address)
//!   └─ AgentCore(settings) ─▶ actor runs: Start → connect to a master → Register
//! ```

mod agent_actor;
mod checkpoint_format;
mod checkpoint_writer;
pub mod checkpointer;
pub mod containers;
mod docker_watch;
mod durable;
mod messages;
pub mod recovery;

pub use messages::AgentExit;

use crate::config::{AgentConfig, ConfigError};
use crate::containerizer_kind::ContainerizerKind;
use crate::core::snapshot::AgentSnapshot;
use crate::core::{AgentCore, CoreSettings, ExecutorLaunch};
use crate::http::{self, GetSnapshot, HttpError, HttpState};
use crate::resources_discovery::{self, DiscoveryError};
use actix::prelude::*;
use agent_actor::AgentActor;
use drover_containerizers::{
    ComposingContainerizer, Containerizer, ContainerizerError, MockContainerizer,
    PosixContainerizer,
};
use drover_proto::codec::Role;
use drover_proto::{AgentInfo, Attribute, AttributeValue};
use drover_transport::{
    CertError, Node, NodeConfig, NodeIdentity, ResetKey, ResetKeyError, TransportError,
};
use messages::Stop;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Why an agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The work directory could not be created.
    #[error("cannot create the work directory {path}: {source}")]
    WorkDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Resources could not be discovered.
    #[error(transparent)]
    Resources(#[from] DiscoveryError),
    /// The agent's certificate could not be loaded.
    #[error("cannot load the agent certificate '{name}' from {dir}: {source}")]
    Identity {
        /// Certificate directory.
        dir: std::path::PathBuf,
        /// Certificate name.
        name: String,
        /// Why.
        #[source]
        source: CertError,
    },
    /// The certificate is not an agent certificate.
    #[error("certificate '{name}' has role {role}; an agent needs a certificate with role agent (drover certs issue --role agent)")]
    WrongRole {
        /// Certificate name.
        name: String,
        /// Its role.
        role: Role,
    },
    /// The QUIC endpoint could not start.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// `docker` is the only configured containerizer and its engine does not answer.
    #[error("docker is the only configured containerizer and cannot run: {0}")]
    DockerUnavailable(drover_containerizer_docker::DockerError),
    /// A containerizer could not be created or recovered.
    #[error("containerizer setup failed: {0}")]
    Containerizer(#[from] ContainerizerError),
    /// `--isolation` names an isolator that does not exist.
    #[error("invalid --isolation: {0}")]
    Isolation(#[from] drover_containerizer_native::UnknownIsolator),
    /// The native containerizer could not be set up.
    #[error("native containerizer: {0}")]
    Native(#[from] drover_containerizer_native::NativeError),
    /// The HTTP API could not start.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The QUIC reset key could not be read or created.
    #[error(transparent)]
    ResetKey(#[from] ResetKeyError),
    /// The checkpoint could not be read or the containers not recovered.
    #[error("agent recovery failed: {0}")]
    Recovery(#[from] recovery::RecoveryError),
}

/// Name of the QUIC stateless-reset key file under `<work_dir>/meta/`.
pub const RESET_KEY_FILE: &str = "quic-reset-key";

/// The agent has stopped: it can no longer answer.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the agent has stopped")]
pub struct AgentStopped;

/// Entry point.
#[derive(Debug)]
pub struct Agent;

/// A running agent.
#[derive(Debug)]
pub struct AgentHandle {
    addr: Addr<AgentActor>,
    http: Option<actix_web::dev::ServerHandle>,
    http_addr: SocketAddr,
    executor_addr: SocketAddr,
    exit: watch::Receiver<Option<AgentExit>>,
}

impl Agent {
    /// Starts an agent on the current actix system (call it inside `actix_rt`): binds the
    /// QUIC endpoint and the HTTP API, recovers the containerizers and starts
    /// registering with the masters.
    pub async fn start(mut config: AgentConfig) -> Result<AgentHandle, StartError> {
        config.validate()?;
        let docker = docker_engine(&config).await?;
        let (usable, dropped) = usable_containerizers(&config)?;
        config.containerizers = usable;
        let masters = config.master_addrs()?;
        std::fs::create_dir_all(&config.work_dir).map_err(|source| StartError::WorkDir {
            path: config.work_dir.clone(),
            source,
        })?;
        let resources =
            resources_discovery::agent_resources(&config.work_dir, config.resources.as_ref())?;
        let identity = NodeIdentity::load(&config.tls_dir, &config.tls_name).map_err(|source| {
            StartError::Identity {
                dir: config.tls_dir.clone(),
                name: config.tls_name.clone(),
                source,
            }
        })?;
        if identity.role() != Role::Agent {
            return Err(StartError::WrongRole {
                name: config.tls_name.clone(),
                role: identity.role(),
            });
        }
        let mut node_config = NodeConfig::new(identity, config.listen);
        node_config.runtime = config.transport_runtime.clone();
        // Kept across restarts, so that executors' connections to the old process are
        // reset as soon as this one answers on the same port (see `ResetKey`).
        let key_path = config.work_dir.join("meta").join(RESET_KEY_FILE);
        node_config.reset_key = Some(ResetKey::load_or_create(&key_path)?);
        let node = Node::new(node_config)?;
        let containerizer =
            build_containerizers(&config, docker.as_ref().map(|(r, _)| r.clone()), dropped)?;
        let docker_watch = docker.map(|(runner, initial)| docker_watch::DockerWatch {
            runner,
            interval: config.docker_check_interval,
            initial,
        });
        let checkpointer = checkpointer::Checkpointer::new(&config.work_dir);
        let recovered = recovery::recover(config.recover, checkpointer, &*containerizer).await?;
        let executor_program = config.executor_program()?;

        let ctx = Context::<AgentActor>::new();
        let addr = ctx.address();
        node.serve::<drover_proto::ExecutorCall, drover_proto::ExecutorEvent, _>(
            &[Role::Executor],
            addr.clone().recipient(),
        )?;
        let (http, http_addr) = if config.http_enabled {
            let (server, http_addr) = http::serve(
                config.http_listen,
                config.http_workers,
                HttpState {
                    snapshot: addr.clone().recipient(),
                    metrics: addr.clone().recipient(),
                    files_root: config.work_dir.join("frameworks"),
                    containerizer: Some(containerizer.clone()),
                },
            )?;
            let http = server.handle();
            actix::spawn(server);
            (Some(http), http_addr)
        } else {
            (None, SocketAddr::new(config.http_listen.ip(), 0))
        };

        let executor_addr = reachable(node.local_addr());
        let settings = core_settings(
            &config,
            resources,
            http_addr.port(),
            executor_addr,
            executor_program,
        );
        let core = AgentCore::new(settings);
        let (exit_tx, exit) = watch::channel(None);
        let mut actor = AgentActor::new(
            core,
            node,
            masters,
            containerizer,
            config.mock.clone(),
            exit_tx,
            recovered,
        );
        actor.docker_watch = docker_watch;
        ctx.run(actor);
        tracing::info!(%http_addr, %executor_addr, "agent started");
        Ok(AgentHandle {
            addr,
            http,
            http_addr,
            executor_addr,
            exit,
        })
    }
}

impl AgentHandle {
    /// Address of the HTTP API (port 0 when it is disabled).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// QUIC address executors connect to.
    pub fn executor_addr(&self) -> SocketAddr {
        self.executor_addr
    }

    /// What `/state` would show.
    pub async fn state(&self) -> Result<AgentSnapshot, AgentStopped> {
        self.addr.send(GetSnapshot).await.map_err(|_| AgentStopped)
    }

    /// Resolves when the agent stops (on request or because the master refused it).
    pub async fn wait(&mut self) -> AgentExit {
        loop {
            if let Some(why) = self.exit.borrow_and_update().clone() {
                return why;
            }
            if self.exit.changed().await.is_err() {
                return AgentExit::Stopped;
            }
        }
    }

    /// Stops the agent, leaving its containers running (as Mesos does, for recovery).
    pub async fn stop(mut self) -> AgentExit {
        self.addr.do_send(Stop {
            destroy_containers: false,
        });
        self.finish().await
    }

    /// Destroys every container, then stops the agent.
    pub async fn shutdown(mut self) -> AgentExit {
        self.addr.do_send(Stop {
            destroy_containers: true,
        });
        self.finish().await
    }

    async fn finish(&mut self) -> AgentExit {
        let why = self.wait().await;
        if let Some(http) = &self.http {
            http.stop(true).await;
        }
        why
    }
}

/// The address executors should dial: the bound one, with a wildcard IP made loopback.
fn reachable(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// Native isolators the host cannot support, each with the reason.
type Dropped = Vec<(drover_containerizer_native::IsolatorName, String)>;

/// The configured containerizers this host can run, and the native isolators it
/// cannot. `native` needs root, the cpu and memory cgroup controllers and namespaces;
/// where it cannot run, the agent falls back to `posix` with a loud warning naming
/// what is missing, rather than failing. An optional isolator the kernel lacks
/// (`cgroups/pids`, `filesystem/linux`, `network/none`) is dropped with a warning;
/// tasks that need it then fail at launch, naming it.
fn usable_containerizers(
    config: &AgentConfig,
) -> Result<(Vec<ContainerizerKind>, Dropped), StartError> {
    let isolation = drover_containerizer_native::Isolation::parse(&config.isolation)?;
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    for kind in &config.containerizers {
        let kind = match kind {
            ContainerizerKind::Native => {
                match drover_containerizer_native::probe_isolators(&isolation) {
                    Ok(probed) => {
                        for (name, why) in &probed.dropped {
                            tracing::warn!(isolator = %name, reason = %why, "this host cannot support a native isolator: DROPPED; tasks that need it will fail");
                        }
                        dropped = probed.dropped;
                        ContainerizerKind::Native
                    }
                    Err(reasons) => {
                        tracing::warn!(
                            missing = %reasons.join("; "),
                            "the native containerizer cannot run here: FALLING BACK TO POSIX (no isolation)"
                        );
                        ContainerizerKind::Posix
                    }
                }
            }
            other => *other,
        };
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok((out, dropped))
}

/// The Docker engine, when `docker` is configured, and why it does not answer now
/// (`None`: it does). An engine that is down is watched like one that goes away later
/// (see [`docker_watch`]): `docker` stays configured but is not advertised until the
/// engine answers. Fails only if `docker` is the only containerizer and its engine is
/// down.
async fn docker_engine(
    config: &AgentConfig,
) -> Result<Option<(drover_containerizer_docker::DockerRunner, Option<String>)>, StartError> {
    if !config.containerizers.contains(&ContainerizerKind::Docker) {
        return Ok(None);
    }
    match drover_containerizer_docker::DockerRunner::connect(&config.docker_socket).await {
        Ok(runner) => Ok(Some((runner, None))),
        Err(e) if config.containerizers == [ContainerizerKind::Docker] => {
            Err(StartError::DockerUnavailable(e))
        }
        Err(e) => {
            let runner = drover_containerizer_docker::DockerRunner::lazy(&config.docker_socket)
                .map_err(StartError::DockerUnavailable)?;
            Ok(Some((runner, Some(e.to_string()))))
        }
    }
}

fn build_containerizers(
    config: &AgentConfig,
    docker: Option<drover_containerizer_docker::DockerRunner>,
    dropped: Dropped,
) -> Result<Arc<dyn Containerizer>, StartError> {
    let mut members: Vec<Arc<dyn Containerizer>> = Vec::new();
    for kind in &config.containerizers {
        match kind {
            ContainerizerKind::Docker => {
                let Some(runner) = docker.clone() else {
                    return Err(ConfigError::ContainerizerUnavailable(*kind).into());
                };
                let dir = config.work_dir.join("containerizers").join("docker");
                members.push(Arc::new(
                    drover_containerizer_docker::DockerContainerizer::new(dir, runner)?,
                ));
            }
            ContainerizerKind::Posix => {
                let dir = config.effective_runtime_dir().join("posix");
                members.push(Arc::new(PosixContainerizer::new(dir)?));
            }
            ContainerizerKind::Mock => members.push(Arc::new(MockContainerizer::new())),
            ContainerizerKind::Native => {
                let dir = config.work_dir.join("containerizers").join("native");
                let mut cfg = drover_containerizer_native::NativeConfig::new(
                    config.effective_runtime_dir().join("native"),
                );
                cfg.image_store = dir.join("images");
                cfg.scratch_dir = dir.join("scratch");
                let asked = drover_containerizer_native::Isolation::parse(&config.isolation)?;
                cfg.isolation = drover_containerizer_native::Isolation::of(
                    asked
                        .names()
                        .filter(|n| !dropped.iter().any(|(d, _)| d == n)),
                );
                cfg.dropped = dropped.clone();
                cfg.cgroups_enable_cfs = config.cgroups_enable_cfs;
                cfg.cgroups_root = config.cgroups_root.clone();
                cfg.pids_max = config.pids_max;
                members.push(Arc::new(
                    drover_containerizer_native::NativeContainerizer::new(cfg)?,
                ));
            }
        }
    }
    Ok(Arc::new(ComposingContainerizer::new(members)))
}

fn core_settings(
    config: &AgentConfig,
    resources: drover_proto::Resources,
    http_port: u16,
    executor_addr: SocketAddr,
    executor_program: std::path::PathBuf,
) -> CoreSettings {
    let names = ContainerizerKind::join(&config.containerizers);
    let mut attributes = config.attributes.clone();
    if !attributes.iter().any(|a| a.name == "containerizers") {
        attributes.push(Attribute {
            name: "containerizers".to_owned(),
            value: AttributeValue::Text(names),
        });
    }
    let epoch_wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    CoreSettings {
        agent: AgentInfo {
            id: None,
            hostname: config.effective_hostname(),
            http_port,
            resources,
            attributes,
            containerizers: config
                .containerizers
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect(),
        },
        masters: config.masters.len(),
        containerizers: config.containerizers.clone(),
        work_dir: config.work_dir.clone(),
        executor: ExecutorLaunch {
            program: executor_program.to_string_lossy().into_owned(),
            args: config.executor_args.clone(),
            agent_addr: executor_addr.to_string(),
            tls_dir: config.tls_dir.to_string_lossy().into_owned(),
            tls_name: config.executor_tls_name.clone(),
            recovery_timeout: config.executor_recovery_timeout,
        },
        mock_sandboxes: config.mock_sandboxes,
        timing: config.timing,
        nonce: uuid::Uuid::new_v4().as_u64_pair().0,
        epoch_wall,
        epoch_instant: Instant::now(),
        max_completed_tasks: config.max_completed_tasks,
    }
}
