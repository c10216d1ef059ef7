//! The server side of a [`Node`](crate::Node): accepting connections, dispatching each
//! to the `serve` registration for the role in its certificate, the server handshake,
//! and one task per peer.
//!
//! ```text
//!  accept loop ─▶ Incoming ─▶ TLS (RoleClientVerifier) ─▶ role from certificate
//!     ─▶ handlers[role] ─▶ server handshake ─▶ PeerConnected{sender} to the sink
//!     ─▶ conn::run (Inbound<In>* to the sink) ─▶ PeerDisconnected{reason}
//! ```

use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use drover_proto::codec::Role;
use quinn::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::conn::{self, close, code, describe, End, Established, PeerSender};
use crate::endpoint::{next_peer_id, NodeCore};
use crate::events::{EventSink, PeerConnected, PeerDisconnected, PeerId, ServerEvent};
use crate::handshake;
use crate::tls;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A `serve` registration, with its message types erased.
pub(crate) trait PeerHandler: Send + Sync {
    fn handle(
        &self,
        core: Arc<NodeCore>,
        conn: Connection,
        role: Role,
        cert_name: String,
    ) -> BoxFuture;
}

pub(crate) struct Typed<In, Out, S> {
    pub(crate) sink: Arc<S>,
    pub(crate) _types: PhantomData<fn(In) -> Out>,
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

pub(crate) async fn accept_loop(core: Arc<NodeCore>) {
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
    let handshake = handshake::server_handshake(&conn, &core.hello, role, core.conn.max_frame);
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
    let end = conn::run(est, &mut rx, Vec::new(), true, &core.conn, |m| {
        sink.deliver(ServerEvent::Message(m))
    })
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
