//! Shared helpers of the SDK's integration tests: a cluster CA with node certificates
//! in a temp dir, and a fake server (master or agent) on the real transport.

#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use drover_proto::codec::Role;
use drover_transport::{Node, NodeConfig, PeerSender, ServerEvent, TransportError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;

/// How long a test waits for anything before failing.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Creates the CA and one certificate per `(role, name)` in `dir`.
pub fn certs(dir: &Path, nodes: &[(Role, &str)]) {
    drover_transport::init_ca(dir).expect("create CA");
    for (role, name) in nodes {
        drover_transport::issue(dir, *role, name).expect("issue certificate");
    }
}

/// A server node (fake master or agent) serving one client role, with the connected
/// peer's sender kept for replies.
pub struct FakeServer<In, Out> {
    pub node: Node,
    events: UnboundedReceiver<ServerEvent<In, Out>>,
    pub peer: Option<PeerSender<Out>>,
}

impl<In, Out> FakeServer<In, Out>
where
    In: DeserializeOwned + Send + std::fmt::Debug + 'static,
    Out: Serialize + Send + 'static,
{
    /// Starts a server with certificate `name` at `bind` (port 0: any) accepting `client`.
    pub fn start(dir: &Path, name: &str, bind: SocketAddr, client: Role) -> Self {
        Self::try_start(dir, name, bind, client).expect("start server node")
    }

    /// [`FakeServer::start`], failing if `bind` is taken (e.g. not yet released).
    pub fn try_start(
        dir: &Path,
        name: &str,
        bind: SocketAddr,
        client: Role,
    ) -> Result<Self, TransportError> {
        let identity = drover_transport::NodeIdentity::load(dir, name).expect("load identity");
        let node = Node::new(NodeConfig::new(identity, bind))?;
        let events = node.serve_channel::<In, Out>(&[client])?;
        Ok(FakeServer {
            node,
            events,
            peer: None,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.node.local_addr()
    }

    /// The next message from a client, remembering the client that connected;
    /// disconnections are skipped.
    pub async fn next(&mut self) -> In {
        loop {
            let event = tokio::time::timeout(PATIENCE, self.events.recv())
                .await
                .expect("a client message in time")
                .expect("server running");
            match event {
                ServerEvent::Connected(c) => self.peer = Some(c.sender),
                ServerEvent::Message(m) => return m.msg,
                ServerEvent::Disconnected(_) => {}
            }
        }
    }

    /// Waits until the current client disconnects.
    pub async fn disconnected(&mut self) {
        loop {
            let event = tokio::time::timeout(PATIENCE, self.events.recv())
                .await
                .expect("a disconnection in time")
                .expect("server running");
            if let ServerEvent::Disconnected(_) = event {
                return;
            }
        }
    }

    /// Sends to the last client that connected.
    pub fn send(&self, msg: Out) {
        self.peer
            .as_ref()
            .expect("a connected client")
            .send(msg)
            .expect("client connected");
    }
}
