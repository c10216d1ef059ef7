//! A [`Node`]: one QUIC endpoint (server and client at once) with this node's identity,
//! on the transport runtime; the server side (accept, handshake, per-peer tasks).
//!
//! ```text
//!  UDP ─▶ quinn Endpoint ─▶ accept loop ─▶ TLS (RoleClientVerifier: CA + role allowed?)
//!            │                              ─▶ handler for the cert's role (serve())
//!            │                              ─▶ Hello/HelloReply ─▶ PeerConnected{sender}
//!            │                              ─▶ conn::run: Inbound<In>* ─▶ PeerDisconnected
//!            └─ connect_with(client config, "<role>.drover") ◀── link supervisors
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use drover_proto::codec::{Hello, Role, DEFAULT_MAX_FRAME};
use quinn::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::certs::NodeIdentity;
use crate::conn::{self, close, code, describe, End, Established, PeerSender};
use crate::error::TransportError;
use crate::events::{EventSink, PeerConnected, PeerDisconnected, PeerId, ServerEvent};
use crate::faults::Faults;
use crate::runtime::{TransportRuntime, DEFAULT_WORKER_THREADS};
use crate::tls::{self, AllowedRoles};

/// Settings of a [`Node`].
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Certificate, key, role and cluster CA.
    pub identity: NodeIdentity,
    /// Id announced in handshakes (default: the certificate's node name).
    pub id: String,
    /// UDP address to bind (port 0 picks a free port).
    pub bind: SocketAddr,
    /// QUIC keep-alive interval (default 1 s).
    pub keep_alive: Duration,
    /// A connection silent this long is dead (default 5 s).
    pub idle_timeout: Duration,
    /// Limit for TLS + `Hello` exchange of one connection (default 5 s).
    pub handshake_timeout: Duration,
    /// Largest message payload accepted and sent (default 16 MiB).
    pub max_frame: usize,
    /// Fault hooks (default: a fresh, inactive set; share one handle across nodes to
    /// drive a test cluster).
    pub faults: Faults,
    /// Runtime to run on (default: a new one with 2 worker threads owned by this node).
    pub runtime: Option<TransportRuntime>,
}

impl NodeConfig {
    /// Defaults for `identity` bound to `bind`.
    pub fn new(identity: NodeIdentity, bind: SocketAddr) -> NodeConfig {
        NodeConfig {
            id: identity.name().to_owned(),
            identity,
            bind,
            keep_alive: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            max_frame: DEFAULT_MAX_FRAME,
            faults: Faults::new(),
            runtime: None,
        }
    }
}

/// Unique connection ids for the whole process.
static NEXT_PEER: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_peer_id() -> PeerId {
    PeerId(NEXT_PEER.fetch_add(1, Ordering::Relaxed))
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A `serve` registration, with its message types erased.
trait PeerHandler: Send + Sync {
    fn handle(
        &self,
        core: Arc<NodeCore>,
        conn: Connection,
        role: Role,
        cert_name: String,
    ) -> BoxFuture;
}

struct Typed<In, Out, S> {
    sink: Arc<S>,
    _types: PhantomData<fn(In) -> Out>,
}

impl<In, Out, S> PeerHandler for Typed<In, Out, S>
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
    S: EventSink<ServerEvent<In, Out>>,
{
    fn handle(
        &self,
        core: Arc<NodeCore>,
        conn: Connection,
        role: Role,
        cert_name: String,
    ) -> BoxFuture {
        Box::pin(serve_peer::<In, Out, S>(
            core,
            conn,
            role,
            cert_name,
            self.sink.clone(),
        ))
    }
}

/// What the transport's tasks share; owns no runtime (tasks hold it, so it must not
/// keep the runtime alive).
pub(crate) struct NodeCore {
    pub(crate) endpoint: quinn::Endpoint,
    pub(crate) client_cfg: quinn::ClientConfig,
    pub(crate) hello: Hello,
    pub(crate) max_frame: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) faults: Faults,
    allowed: Arc<AllowedRoles>,
    handlers: RwLock<HashMap<Role, Arc<dyn PeerHandler>>>,
    closed: AtomicBool,
}

impl NodeCore {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        self.endpoint
            .close(quinn::VarInt::from_u32(code::CLOSED), b"node shut down");
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Held by `Node` clones and links: when the last goes, the endpoint closes and the
/// runtime handle is released.
pub(crate) struct NodeHandle {
    pub(crate) core: Arc<NodeCore>,
    pub(crate) rt: TransportRuntime,
    accept: AbortHandle,
    local_addr: SocketAddr,
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.core.shutdown();
        self.accept.abort();
    }
}

/// One QUIC endpoint with this node's identity: serves peers ([`serve`](Self::serve))
/// and opens links ([`connect`](Self::connect)). `Clone` shares it; the endpoint closes
/// when the last `Node` clone and every `Link` made from it are dropped, or on
/// [`shutdown`](Self::shutdown).
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeHandle>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.core.hello.id)
            .field("role", &self.inner.core.hello.role)
            .field("addr", &self.inner.local_addr)
            .finish()
    }
}

impl Node {
    /// Binds the UDP socket and starts the endpoint (and, unless given one, a runtime).
    /// Callable from any thread, inside or outside an async runtime.
    pub fn new(cfg: NodeConfig) -> Result<Node, TransportError> {
        let rt = match cfg.runtime {
            Some(rt) => rt,
            None => TransportRuntime::new(DEFAULT_WORKER_THREADS)?,
        };
        let transport = Arc::new(tls::transport_config(cfg.keep_alive, cfg.idle_timeout)?);
        let allowed = Arc::new(AllowedRoles::default());
        let server_cfg = tls::server_config(&cfg.identity, allowed.clone(), transport.clone())?;
        let client_cfg = tls::client_config(&cfg.identity, transport)?;
        let socket =
            std::net::UdpSocket::bind(cfg.bind).map_err(|source| TransportError::Bind {
                addr: cfg.bind,
                source,
            })?;
        let local_addr = socket.local_addr().map_err(|source| TransportError::Bind {
            addr: cfg.bind,
            source,
        })?;
        let endpoint = {
            let _guard = rt.handle().enter();
            quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                Some(server_cfg),
                socket,
                Arc::new(quinn::TokioRuntime),
            )
            .map_err(|e| TransportError::Endpoint(e.to_string()))?
        };
        let core = Arc::new(NodeCore {
            endpoint,
            client_cfg,
            hello: Hello::new(cfg.identity.role(), cfg.id),
            max_frame: cfg.max_frame,
            handshake_timeout: cfg.handshake_timeout,
            faults: cfg.faults,
            allowed,
            handlers: RwLock::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        let accept = rt.spawn(accept_loop(core.clone())).abort_handle();
        tracing::info!(addr = %local_addr, role = %core.hello.role, id = %core.hello.id, "transport node started");
        Ok(Node {
            inner: Arc::new(NodeHandle {
                core,
                rt,
                accept,
                local_addr,
            }),
        })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// This node's role (from its certificate).
    pub fn role(&self) -> Role {
        self.inner.core.hello.role
    }

    /// The id this node announces in handshakes.
    pub fn id(&self) -> &str {
        &self.inner.core.hello.id
    }

    /// This node's fault hooks.
    pub fn faults(&self) -> &Faults {
        &self.inner.core.faults
    }

    /// The runtime the node runs on.
    pub fn runtime(&self) -> &TransportRuntime {
        &self.inner.rt
    }

    /// Accepts peers whose certificate role is in `allowed` and reports them to `sink`:
    /// [`PeerConnected`] (with a [`PeerSender`] to answer), each message as
    /// `Inbound<In>`, then [`PeerDisconnected`]. Call once per set of roles; each role may
    /// be served once (a master serves agents and schedulers with different types).
    pub fn serve<In, Out, S>(&self, allowed: &[Role], sink: S) -> Result<(), TransportError>
    where
        In: DeserializeOwned + Send + 'static,
        Out: Serialize + Send + 'static,
        S: EventSink<ServerEvent<In, Out>>,
    {
        if allowed.is_empty() {
            return Err(TransportError::NoRoles);
        }
        let core = &self.inner.core;
        let mut handlers = core.handlers.write().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = allowed.iter().find(|r| handlers.contains_key(r)) {
            return Err(TransportError::AlreadyServed(*r));
        }
        let handler: Arc<dyn PeerHandler> = Arc::new(Typed::<In, Out, S> {
            sink: Arc::new(sink),
            _types: PhantomData,
        });
        for r in allowed {
            handlers.insert(*r, handler.clone());
            core.allowed.allow(*r);
        }
        Ok(())
    }

    /// [`serve`](Self::serve) into a tokio channel (for code without actors).
    pub fn serve_channel<In, Out>(
        &self,
        allowed: &[Role],
    ) -> Result<mpsc::UnboundedReceiver<ServerEvent<In, Out>>, TransportError>
    where
        In: DeserializeOwned + Send + 'static,
        Out: Serialize + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        self.serve(allowed, tx)?;
        Ok(rx)
    }

    /// Closes the endpoint now: every connection is closed, links stop reconnecting,
    /// and new peers are refused.
    pub fn shutdown(&self) {
        self.inner.core.shutdown();
    }
}

async fn accept_loop(core: Arc<NodeCore>) {
    while let Some(incoming) = core.endpoint.accept().await {
        tokio::spawn(accept_one(core.clone(), incoming));
    }
}

async fn accept_one(core: Arc<NodeCore>, incoming: quinn::Incoming) {
    let addr = incoming.remote_address();
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => {
            return tracing::debug!(%addr, error = %describe(&e), "incoming connection failed")
        }
    };
    let conn = match tokio::time::timeout(core.handshake_timeout, connecting).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return tracing::warn!(%addr, reason = %describe(&e), "TLS handshake failed"),
        Err(_) => return tracing::warn!(%addr, "TLS handshake timed out"),
    };
    let Some((role, cert_name)) = tls::peer_role(&conn) else {
        tracing::warn!(%addr, "peer certificate carries no role");
        return close(&conn, code::PROTOCOL, "certificate carries no role");
    };
    let handler = core
        .handlers
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&role)
        .cloned();
    match handler {
        Some(h) => h.handle(core, conn, role, cert_name).await,
        None => {
            tracing::warn!(%addr, %role, "refusing peer: role not served");
            close(&conn, code::REFUSED, "role not served");
        }
    }
}

async fn serve_peer<In, Out, S>(
    core: Arc<NodeCore>,
    conn: Connection,
    role: Role,
    cert_name: String,
    sink: Arc<S>,
) where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
    S: EventSink<ServerEvent<In, Out>>,
{
    let addr = conn.remote_address();
    let handshake = conn::server_handshake(&conn, &core.hello, role, core.max_frame);
    let (send, recv, decoder, hello) = match tokio::time::timeout(core.handshake_timeout, handshake)
        .await
    {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            tracing::warn!(%addr, %role, name = %cert_name, reason = %e.reason, "handshake failed");
            return close(&conn, e.code, &e.reason);
        }
        Err(_) => {
            tracing::warn!(%addr, %role, name = %cert_name, "handshake timed out");
            return close(&conn, code::PROTOCOL, "handshake timed out");
        }
    };
    let peer = next_peer_id();
    let info = conn::peer_info(&conn, role, cert_name, hello);
    tracing::info!(%peer, %addr, %role, id = %info.id, "peer connected");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let connected = PeerConnected {
        peer,
        info: info.clone(),
        sender: PeerSender::new(peer, tx),
    };
    if !sink.deliver(ServerEvent::Connected(connected)) {
        return close(&conn, code::GONE, "receiver gone");
    }
    let est = Established {
        conn,
        send,
        recv,
        decoder,
        peer,
        info,
    };
    let end = conn::run(
        est,
        &mut rx,
        Vec::new(),
        true,
        &core.faults,
        core.max_frame,
        |m| sink.deliver(ServerEvent::Message(m)),
    )
    .await;
    log_end(peer, addr, &end);
    drop(rx); // senders fail from here on, before the actor hears of the disconnect
    sink.deliver(ServerEvent::Disconnected(PeerDisconnected {
        peer,
        reason: end.reason(),
    }));
}

pub(crate) fn log_end(peer: PeerId, addr: SocketAddr, end: &End) {
    match end {
        End::Local | End::PeerClosed | End::SinkGone => {
            tracing::info!(%peer, %addr, reason = %end.reason(), "connection closed")
        }
        End::Protocol(_) | End::Lost(_) => {
            tracing::warn!(%peer, %addr, reason = %end.reason(), "connection lost")
        }
    }
}
