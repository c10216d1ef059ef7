//! A [`Node`]: one QUIC endpoint (server and client at once) with this node's identity,
//! on the transport runtime, and its lifetime (what shuts it down, and when).
//!
//! ```text
//!            Node / Link handles ──(last dropped or shutdown())──▶ endpoint closed
//!                   │
//!  UDP ◀─▶ quinn Endpoint ─▶ accept loop (server.rs) ─▶ handlers[role] from serve()
//!                   └─ connect_with(client config, "<role>.drover") ◀── links (link.rs)
//! ```

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use drover_proto::codec::{Hello, Role, DEFAULT_MAX_FRAME};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::certs::NodeIdentity;
use crate::conn::{code, ConnSettings};
use crate::error::TransportError;
use crate::events::{EventSink, PeerId, ServerEvent};
use crate::faults::Faults;
use crate::reset_key::ResetKey;
use crate::runtime::{TransportRuntime, DEFAULT_WORKER_THREADS};
use crate::server::{accept_loop, PeerHandler, Typed};
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
    /// After delivering a message, how long a connection keeps polling for the local
    /// actor's reply before parking its thread (default 200 µs; zero disables). Saves a
    /// thread wake-up per request/response; polling switches itself off on connections
    /// whose messages get no quick reply.
    pub reply_poll: Duration,
    /// Size asked of the kernel for the UDP socket's receive and send buffers (default
    /// [`DEFAULT_SOCKET_BUFFER`]; the kernel caps it at `net.core.rmem_max` /
    /// `wmem_max`). A node that many peers talk to (a master) receives bursts: with
    /// the kernel's default (~208 KiB) datagrams overflow the buffer and are dropped, and
    /// QUIC's loss recovery then stalls the connections they belonged to.
    pub socket_buffer: usize,
    /// Runtime to run on (default: a new one with
    /// [`DEFAULT_WORKER_THREADS`] threads owned by this node).
    pub runtime: Option<TransportRuntime>,
    /// Key of the QUIC stateless resets this node sends (default: a random one). A node
    /// restarted on the same address with the same key (see
    /// [`ResetKey::load_or_create`]) makes its peers drop their old connections at
    /// their next packet instead of after `idle_timeout`.
    pub reset_key: Option<ResetKey>,
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
            reply_poll: Duration::from_micros(200),
            socket_buffer: DEFAULT_SOCKET_BUFFER,
            runtime: None,
            reset_key: None,
        }
    }
}

/// Unique connection ids for the whole process.
static NEXT_PEER: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_peer_id() -> PeerId {
    PeerId(NEXT_PEER.fetch_add(1, Ordering::Relaxed))
}

/// What the transport's tasks share; owns no runtime (tasks hold it, so it must not
/// keep the runtime alive).
pub(crate) struct NodeCore {
    pub(crate) endpoint: quinn::Endpoint,
    pub(crate) client_cfg: quinn::ClientConfig,
    pub(crate) hello: Hello,
    pub(crate) conn: ConnSettings,
    pub(crate) handshake_timeout: Duration,
    pub(crate) allowed: Arc<AllowedRoles>,
    pub(crate) handlers: RwLock<HashMap<Role, Arc<dyn PeerHandler>>>,
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

/// How long a dropped node keeps its runtime alive so that peers receive the close.
const DROP_GRACE: Duration = Duration::from_millis(500);

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.core.shutdown();
        self.accept.abort();
        // Peers should hear the close rather than time out, but dropping must not block
        // (we may be on an actor's thread): a helper thread waits, then releases the
        // runtime handle (possibly the last one).
        let (core, rt) = (self.core.clone(), self.rt.clone());
        let spawned = std::thread::Builder::new()
            .name("drover-net-close".into())
            .spawn(move || {
                rt.handle().block_on(async {
                    let _ = tokio::time::timeout(DROP_GRACE, core.endpoint.wait_idle()).await;
                });
                drop(core);
                drop(rt);
            });
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "no thread to wait for closing connections");
        }
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

/// Default of [`NodeConfig::socket_buffer`]: 4 MiB, the usual `net.core.rmem_max`.
pub const DEFAULT_SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Asks for `size`-byte receive and send buffers on `socket`; the kernel may grant less
/// (logged), which only costs datagrams under bursts, so it is not an error.
fn size_buffers(socket: &std::net::UdpSocket, size: usize) {
    if size == 0 {
        return;
    }
    let sock = socket2::SockRef::from(socket);
    if let Err(e) = sock.set_recv_buffer_size(size) {
        tracing::warn!(size, error = %e, "cannot size the UDP receive buffer");
    }
    if let Err(e) = sock.set_send_buffer_size(size) {
        tracing::warn!(size, error = %e, "cannot size the UDP send buffer");
    }
    let granted = sock.recv_buffer_size().unwrap_or(0);
    if granted < size {
        tracing::debug!(
            asked = size,
            granted,
            "UDP receive buffer smaller than asked (raise net.core.rmem_max)"
        );
    }
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
        size_buffers(&socket, cfg.socket_buffer);
        let local_addr = socket.local_addr().map_err(|source| TransportError::Bind {
            addr: cfg.bind,
            source,
        })?;
        let endpoint = {
            let _guard = rt.handle().enter();
            quinn::Endpoint::new(
                cfg.reset_key
                    .as_ref()
                    .map_or_else(quinn::EndpointConfig::default, ResetKey::endpoint_config),
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
            conn: ConnSettings {
                faults: cfg.faults,
                max_frame: cfg.max_frame,
                reply_poll: cfg.reply_poll,
            },
            handshake_timeout: cfg.handshake_timeout,
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
        &self.inner.core.conn.faults
    }

    /// The runtime the node runs on.
    pub fn runtime(&self) -> &TransportRuntime {
        &self.inner.rt
    }

    /// Accepts peers whose certificate role is in `allowed` and reports them to `sink`:
    /// [`PeerConnected`](crate::PeerConnected) (with a [`PeerSender`](crate::PeerSender)
    /// to answer), each message as
    /// `Inbound<In>`, then [`PeerDisconnected`](crate::PeerDisconnected). Call once per set of roles; each role may
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
