//! Helpers shared by the transport's integration tests: test message types, nodes with
//! short timeouts on 127.0.0.1, raw quinn clients with valid certificates, and a UDP
//! proxy that can black-hole a connection.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use drover_proto::codec::{encode_frame, FrameDecoder, Hello, HelloReply, Role};
use drover_transport::certs::role_dns_name;
use drover_transport::{tls, ClusterCa, LinkEvent, Node, NodeConfig, NodeIdentity, ServerEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;

/// Client → server messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Up {
    Ping(u64),
    Text(String),
}

/// Server → client messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Down {
    Pong(u64),
    Text(String),
}

pub const WAIT: Duration = Duration::from_secs(10);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "drover_transport=debug".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A config with test-friendly timeouts (keep-alive 200 ms, idle 1 s, handshake 1 s).
pub fn config(ca: &ClusterCa, role: Role, name: &str) -> NodeConfig {
    let mut cfg = NodeConfig::new(ca.issue(role, name).unwrap(), localhost());
    cfg.keep_alive = Duration::from_millis(200);
    cfg.idle_timeout = Duration::from_secs(1);
    cfg.handshake_timeout = Duration::from_secs(1);
    cfg
}

pub fn node(ca: &ClusterCa, role: Role, name: &str) -> Node {
    Node::new(config(ca, role, name)).unwrap()
}

/// Next event within [`WAIT`], or panic naming what was awaited.
pub async fn next<E>(rx: &mut UnboundedReceiver<E>, what: &str) -> E {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(e)) => e,
        Ok(None) => panic!("channel closed while waiting for {what}"),
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Asserts nothing arrives within `d`.
pub async fn quiet<E: std::fmt::Debug>(rx: &mut UnboundedReceiver<E>, d: Duration) {
    if let Ok(Some(e)) = tokio::time::timeout(d, rx.recv()).await {
        panic!("expected silence, got {e:?}");
    }
}

/// A quinn client endpoint presenting `identity`, outside Drover's Node machinery.
pub struct RawClient {
    pub endpoint: quinn::Endpoint,
    pub cfg: quinn::ClientConfig,
}

impl RawClient {
    pub fn new(identity: &NodeIdentity) -> RawClient {
        let transport =
            tls::transport_config(Duration::from_millis(200), Duration::from_secs(2)).unwrap();
        let cfg = tls::client_config(identity, Arc::new(transport)).unwrap();
        let endpoint = quinn::Endpoint::client(localhost()).unwrap();
        RawClient { endpoint, cfg }
    }

    /// TLS connect to a server of `role`; `Err` if TLS fails.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        role: Role,
    ) -> Result<quinn::Connection, quinn::ConnectionError> {
        self.endpoint
            .connect_with(self.cfg.clone(), addr, &role_dns_name(role))
            .unwrap()
            .await
    }
}

/// Opens the stream and sends `hello`; returns the streams and the server's reply.
pub async fn raw_hello(
    conn: &quinn::Connection,
    hello: &Hello,
) -> (quinn::SendStream, quinn::RecvStream, HelloReply) {
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let mut buf = Vec::new();
    encode_frame(hello, &mut buf).unwrap();
    send.write_all(&buf).await.unwrap();
    let mut dec = FrameDecoder::new(64 * 1024);
    loop {
        if let Some(r) = dec.next::<HelloReply>().unwrap() {
            return (send, recv, r);
        }
        let chunk = recv
            .read_chunk(64 * 1024, true)
            .await
            .unwrap()
            .expect("stream ended before reply");
        dec.push(&chunk.bytes);
    }
}

/// The application close reason of a connection the server closed.
pub async fn close_reason(conn: &quinn::Connection) -> (u64, String) {
    match tokio::time::timeout(WAIT, conn.closed())
        .await
        .expect("server never closed")
    {
        quinn::ConnectionError::ApplicationClosed(c) => (
            c.error_code.into_inner(),
            String::from_utf8_lossy(&c.reason).into_owned(),
        ),
        other => (u64::MAX, other.to_string()),
    }
}

/// A one-client UDP relay in front of `target` that can drop everything (black hole).
pub struct UdpProxy {
    pub addr: SocketAddr,
    blackhole: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpProxy {
    pub async fn start(target: SocketAddr) -> UdpProxy {
        let sock = tokio::net::UdpSocket::bind(localhost()).await.unwrap();
        let addr = sock.local_addr().unwrap();
        let blackhole = Arc::new(AtomicBool::new(false));
        let bh = blackhole.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            let mut client = None;
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                if bh.load(Ordering::Relaxed) {
                    continue;
                }
                let to = if from == target {
                    client
                } else {
                    client = Some(from);
                    Some(target)
                };
                if let Some(to) = to {
                    let _ = sock.send_to(&buf[..n], to).await;
                }
            }
        });
        UdpProxy {
            addr,
            blackhole,
            task,
        }
    }

    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, Ordering::Relaxed);
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Checks that a good agent can still talk to `master` after a refused attempt.
pub async fn good_agent_still_works(
    ca: &ClusterCa,
    master: &Node,
    server: &mut tokio::sync::mpsc::UnboundedReceiver<ServerEvent<Up, Down>>,
) {
    let agent = node(ca, Role::Agent, "good-agent");
    let (link, mut events) = agent.connect_channel::<Up, Down>(master.local_addr(), Role::Master);
    assert!(matches!(
        next(&mut events, "LinkUp").await,
        LinkEvent::Up(_)
    ));
    link.send(Up::Ping(1)).unwrap();
    let ServerEvent::Connected(c) = next(server, "Connected").await else {
        panic!("expected Connected")
    };
    assert_eq!(c.info.cert_name, "good-agent");
    let ServerEvent::Message(m) = next(server, "ping").await else {
        panic!("expected ping")
    };
    assert_eq!(m.msg, Up::Ping(1));
}
