//! What the transport tells its users, and how it reaches them: event types, the
//! [`EventSink`] trait, and its implementations for a tokio channel, an actix
//! [`Recipient`] of the whole event enum, and an actix [`Addr`] of an actor that handles
//! each event type separately.
//!
//! ```text
//!  server side (Node::serve):  PeerConnected<Out> → Inbound<In>* → PeerDisconnected
//!  client side (Node::connect): (LinkUp → Inbound<In>* → LinkDown)*   until closed
//! ```
//!
//! Sinks are called on transport threads; they must not block. A sink that reports its
//! receiver gone (returns `false`) makes the transport close the connection or link.

use std::net::SocketAddr;

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, Message, Recipient};
use drover_proto::codec::Role;
use tokio::sync::mpsc::UnboundedSender;

use crate::conn::PeerSender;

/// One connection to a peer on this node; unique for the life of the process, so a
/// reconnecting peer gets a new `PeerId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// Who is at the other end of a connection. `role` and `cert_name` are proven by its
/// certificate; `id` is what it announced in its handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Role from the certificate (the handshake must agree).
    pub role: Role,
    /// Id announced in the peer's `Hello` (agent id, framework id, master name...).
    pub id: String,
    /// Node name from the peer's certificate.
    pub cert_name: String,
    /// The peer's UDP address.
    pub addr: SocketAddr,
}

/// A typed message received from `peer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound<In> {
    /// The connection it came on.
    pub peer: PeerId,
    /// The message.
    pub msg: In,
}

/// Server side: a peer completed TLS and the handshake. Keep `sender` to talk to it.
#[derive(Debug)]
pub struct PeerConnected<Out> {
    /// The new connection.
    pub peer: PeerId,
    /// Who it is.
    pub info: PeerInfo,
    /// Queue messages to this peer (cheap to clone).
    pub sender: PeerSender<Out>,
}

/// Server side: a peer's connection ended; its `PeerSender` now fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerDisconnected {
    /// The connection that ended.
    pub peer: PeerId,
    /// Why (closed by either side, idle timeout, protocol error...).
    pub reason: String,
}

/// Client side: the link is connected and handshaked; queued messages are being flushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkUp {
    /// The connection now carrying the link.
    pub peer: PeerId,
    /// The server at the other end.
    pub info: PeerInfo,
}

/// Client side: the link's connection was lost; the link reconnects unless it was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDown {
    /// The connection that was lost.
    pub peer: PeerId,
    /// Why.
    pub reason: String,
}

/// Everything a link reports, in order.
#[derive(Debug)]
pub enum LinkEvent<In> {
    /// See [`LinkUp`].
    Up(LinkUp),
    /// A message from the server.
    Message(Inbound<In>),
    /// See [`LinkDown`].
    Down(LinkDown),
}

/// Everything a server endpoint reports for the roles given to one `serve` call.
#[derive(Debug)]
pub enum ServerEvent<In, Out> {
    /// See [`PeerConnected`].
    Connected(PeerConnected<Out>),
    /// A message from a peer.
    Message(Inbound<In>),
    /// See [`PeerDisconnected`].
    Disconnected(PeerDisconnected),
}

macro_rules! actix_message {
    ($($t:ty => [$($g:ident),*]),* $(,)?) => {$(
        impl<$($g: 'static),*> Message for $t {
            type Result = ();
        }
    )*};
}

actix_message!(
    Inbound<In> => [In],
    PeerConnected<Out> => [Out],
    PeerDisconnected => [],
    LinkUp => [],
    LinkDown => [],
    LinkEvent<In> => [In],
    ServerEvent<In, Out> => [In, Out],
);

/// Where the transport delivers events of type `E`. Called from transport threads; must
/// not block. Returns `false` once the receiver is gone.
pub trait EventSink<E>: Send + Sync + 'static {
    /// Delivers one event.
    fn deliver(&self, event: E) -> bool;
}

impl<E: Send + 'static> EventSink<E> for UnboundedSender<E> {
    #[inline]
    fn deliver(&self, event: E) -> bool {
        self.send(event).is_ok()
    }
}

/// An actor handling the whole event enum (`LinkEvent<In>` or `ServerEvent<In, Out>`).
impl<E> EventSink<E> for Recipient<E>
where
    E: Message<Result = ()> + Send + 'static,
{
    #[inline]
    fn deliver(&self, event: E) -> bool {
        if !self.connected() {
            return false;
        }
        self.do_send(event);
        true
    }
}

/// An actor handling [`LinkUp`], [`Inbound<In>`] and [`LinkDown`] separately.
impl<A, In> EventSink<LinkEvent<In>> for Addr<A>
where
    In: Send + 'static,
    A: Actor + Handler<LinkUp> + Handler<Inbound<In>> + Handler<LinkDown>,
    A::Context: ToEnvelope<A, LinkUp> + ToEnvelope<A, Inbound<In>> + ToEnvelope<A, LinkDown>,
{
    #[inline]
    fn deliver(&self, event: LinkEvent<In>) -> bool {
        if !self.connected() {
            return false;
        }
        match event {
            LinkEvent::Up(e) => self.do_send(e),
            LinkEvent::Message(e) => self.do_send(e),
            LinkEvent::Down(e) => self.do_send(e),
        }
        true
    }
}

/// An actor handling [`PeerConnected<Out>`], [`Inbound<In>`] and [`PeerDisconnected`]
/// separately.
impl<A, In, Out> EventSink<ServerEvent<In, Out>> for Addr<A>
where
    In: Send + 'static,
    Out: Send + 'static,
    A: Actor + Handler<PeerConnected<Out>> + Handler<Inbound<In>> + Handler<PeerDisconnected>,
    A::Context: ToEnvelope<A, PeerConnected<Out>>
        + ToEnvelope<A, Inbound<In>>
        + ToEnvelope<A, PeerDisconnected>,
{
    #[inline]
    fn deliver(&self, event: ServerEvent<In, Out>) -> bool {
        if !self.connected() {
            return false;
        }
        match event {
            ServerEvent::Connected(e) => self.do_send(e),
            ServerEvent::Message(e) => self.do_send(e),
            ServerEvent::Disconnected(e) => self.do_send(e),
        }
        true
    }
}
