//! QUIC endpoints with mutual TLS, links with reconnect and backoff, the bridge between
//! remote peers and local actix actors, and fault hooks for tests and the chaos suite.
//!
//! ```text
//!   client node                                              server node
//!  ┌───────────────────────────────┐                        ┌──────────────────────────────┐
//!  │ actor ─Link::send─▶ mpsc ─▶ writer (drain, encode all, │ accept ─▶ TLS: CA + role ok? │
//!  │                             one write) ─────QUIC──────▶│ ─▶ Hello/HelloReply          │
//!  │ actor ◀─do_send(Inbound)── reader ◀── FrameDecoder ◀───│ ─▶ PeerConnected{sender}     │
//!  │ LinkUp / LinkDown, reconnect with backoff + jitter     │ ─▶ Inbound<In>* ─▶ actor     │
//!  └───────────────────────────────┘                        │ PeerSender::send ─▶ writer   │
//!           all I/O on the transport's own tokio runtime    └──────────────────────────────┘
//! ```
//!
//! Each connection carries one bidirectional stream: a `Hello`/`HelloReply` exchange
//! (protocol version, role, id), then length-prefixed bincode frames of the channel's
//! message enums (see [`drover_proto::codec`]), ordered and reliable per direction.
//!
//! An actor shell needs a few lines:
//!
//! ```no_run
//! # use actix::prelude::*;
//! # use drover_transport::*;
//! # use drover_proto::codec::Role;
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Ping(u64);
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Pong(u64);
//! struct Master { peers: std::collections::HashMap<PeerId, PeerSender<Pong>> }
//! impl Actor for Master { type Context = Context<Self>; }
//! impl Handler<PeerConnected<Pong>> for Master {
//!     type Result = ();
//!     fn handle(&mut self, m: PeerConnected<Pong>, _: &mut Context<Self>) { self.peers.insert(m.peer, m.sender); }
//! }
//! impl Handler<Inbound<Ping>> for Master {
//!     type Result = ();
//!     fn handle(&mut self, m: Inbound<Ping>, _: &mut Context<Self>) {
//!         if let Some(s) = self.peers.get(&m.peer) { let _ = s.send(Pong(m.msg.0)); }
//!     }
//! }
//! impl Handler<PeerDisconnected> for Master {
//!     type Result = ();
//!     fn handle(&mut self, m: PeerDisconnected, _: &mut Context<Self>) { self.peers.remove(&m.peer); }
//! }
//! # fn demo(node: Node, master: Addr<Master>) -> Result<(), TransportError> {
//! node.serve::<Ping, Pong, _>(&[Role::Agent], master)?;
//! # Ok(()) }
//! // Client side: `let link = node.connect::<Ping, Pong, _>(addr, Role::Master, ctx.address());`
//! // then `link.send(Ping(1))`, with Handler<LinkUp>, Handler<Inbound<Pong>>, Handler<LinkDown>.
//! ```
#![warn(missing_docs)]

mod backoff;
pub mod certs;
mod conn;
pub mod endpoint;
pub mod error;
pub mod events;
pub mod faults;
mod handshake;
pub mod link;
mod reply_window;
pub mod reset_key;
pub mod runtime;
mod server;
pub mod tls;

pub use backoff::Backoff;
pub use certs::{init_ca, issue, ClusterCa, NodeIdentity};
pub use conn::PeerSender;
pub use endpoint::{Node, NodeConfig, DEFAULT_SOCKET_BUFFER};
pub use error::{CertError, SendError, TlsError, TransportError};
pub use events::{
    EventSink, Inbound, LinkDown, LinkEvent, LinkUp, PeerConnected, PeerDisconnected, PeerId,
    PeerInfo, ServerEvent,
};
pub use faults::{FaultRule, FaultTarget, Faults, PeerKeys};
pub use link::{Link, LinkOptions};
pub use reset_key::{ResetKey, ResetKeyError};
pub use runtime::TransportRuntime;
