//! Client links: a [`Link`] to one server role at one or more addresses that reconnects
//! forever (exponential backoff with jitter) until closed or dropped, queueing messages
//! while disconnected.
//!
//! ```text
//!        ┌──────────── Link::send ─▶ unbounded mpsc ───────────────────────────┐
//!        ▼                                                                     │
//!  ┌ supervisor ──────────────────────────────────────────────────────────────┐│
//!  │ connecting: try addrs[i] (TLS "<role>.drover" + Hello)  ◀── queue (bounded,││
//!  │   ok ─▶ LinkUp ─▶ flush queue ─▶ conn::run (writer ◀────── drops oldest)◀─┘│
//!  │        ─▶ LinkDown{reason} ─▶ backoff ─▶ connecting (same addr first)      │
//!  │   failed ─▶ next address; after a full round: backoff, doubling, jittered  │
//!  │ close()/all Links dropped ─▶ flush, finish stream, close ─▶ LinkDown, exit │
//!  └────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Delivery is at most once: messages written to a connection that then dies are lost
//! (the layers above retry what matters, e.g. status updates). Messages queued while
//! disconnected are sent in order after the next `LinkUp`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use drover_proto::codec::Role;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::backoff::Backoff;
use crate::certs::role_dns_name;
use crate::conn::{self, close, code, describe, Established, Outgoing};
use crate::endpoint::{next_peer_id, Node, NodeCore, NodeHandle};
use crate::error::SendError;
use crate::events::{EventSink, LinkDown, LinkEvent, LinkUp};
use crate::handshake::{self, HandshakeError};
use crate::server::log_end;
use crate::tls;

/// Settings of one link.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Messages kept while disconnected; when full the oldest is dropped (with a
    /// warning). Default 10 000.
    pub queue_limit: usize,
    /// Reconnect delays.
    pub backoff: Backoff,
}

impl Default for LinkOptions {
    fn default() -> LinkOptions {
        LinkOptions {
            queue_limit: 10_000,
            backoff: Backoff::default(),
        }
    }
}

/// A client link to a server role. Cheap to clone; [`send`](Self::send) never blocks.
/// Dropping every clone closes it like [`close`](Self::close).
pub struct Link<Out> {
    tx: UnboundedSender<Outgoing<Out>>,
    up: Arc<AtomicBool>,
    _node: Arc<NodeHandle>,
}

impl<Out> Clone for Link<Out> {
    fn clone(&self) -> Self {
        Link {
            tx: self.tx.clone(),
            up: self.up.clone(),
            _node: self._node.clone(),
        }
    }
}

impl<Out> std::fmt::Debug for Link<Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("up", &self.is_up())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<Out> Link<Out> {
    /// Queues `msg`: sent now if connected, else after the next reconnect. Fails only
    /// once the link is closed for good.
    #[inline]
    pub fn send(&self, msg: Out) -> Result<(), SendError> {
        self.tx.send(Outgoing::Msg(msg)).map_err(|_| SendError)
    }

    /// Flushes what is queued (if connected), closes the connection and stops
    /// reconnecting.
    pub fn close(&self) {
        let _ = self.tx.send(Outgoing::Close);
    }

    /// Whether a connection is currently up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Whether the link has stopped for good.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl Node {
    /// A link to the `expect_role` server at `addr` with default options; events go to
    /// `sink` (an actor `Addr` handling `LinkUp`/`Inbound<In>`/`LinkDown`, a
    /// `Recipient<LinkEvent<In>>`, or a channel).
    pub fn connect<Out, In, S>(&self, addr: SocketAddr, expect_role: Role, sink: S) -> Link<Out>
    where
        Out: Serialize + Send + 'static,
        In: DeserializeOwned + Send + 'static,
        S: EventSink<LinkEvent<In>>,
    {
        self.connect_any(vec![addr], expect_role, LinkOptions::default(), sink)
    }

    /// A link trying `addrs` in turn (e.g. every master), reconnecting to the last good
    /// one first. An empty `addrs` gives a closed link.
    pub fn connect_any<Out, In, S>(
        &self,
        addrs: Vec<SocketAddr>,
        expect_role: Role,
        opts: LinkOptions,
        sink: S,
    ) -> Link<Out>
    where
        Out: Serialize + Send + 'static,
        In: DeserializeOwned + Send + 'static,
        S: EventSink<LinkEvent<In>>,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let up = Arc::new(AtomicBool::new(false));
        if !addrs.is_empty() {
            let sup = Supervisor {
                core: self.inner.core.clone(),
                addrs,
                expect_role,
                opts,
                up: up.clone(),
            };
            self.inner.rt.spawn(sup.run::<In, Out, S>(rx, sink));
        }
        Link {
            tx,
            up,
            _node: self.inner.clone(),
        }
    }

    /// [`connect`](Self::connect) with events delivered to a tokio channel.
    pub fn connect_channel<Out, In>(
        &self,
        addr: SocketAddr,
        expect_role: Role,
    ) -> (Link<Out>, UnboundedReceiver<LinkEvent<In>>)
    where
        Out: Serialize + Send + 'static,
        In: DeserializeOwned + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        (self.connect(addr, expect_role, tx), rx)
    }
}

struct Supervisor {
    core: Arc<NodeCore>,
    addrs: Vec<SocketAddr>,
    expect_role: Role,
    opts: LinkOptions,
    up: Arc<AtomicBool>,
}

/// Messages waiting for a connection.
struct Pending<Out> {
    queue: VecDeque<Out>,
    limit: usize,
    dropped: u64,
}

impl<Out> Pending<Out> {
    /// Takes one item from the link's channel; `false` when the link is to stop.
    fn take(&mut self, item: Option<Outgoing<Out>>) -> bool {
        let Some(Outgoing::Msg(msg)) = item else {
            return false;
        };
        if self.queue.len() >= self.limit {
            if self.dropped == 0 {
                tracing::warn!(
                    limit = self.limit,
                    "link disconnected and its queue is full: dropping oldest messages"
                );
            }
            self.dropped += 1;
            if self.queue.pop_front().is_none() {
                return true; // limit 0: nothing is kept
            }
        }
        self.queue.push_back(msg);
        true
    }
}

impl Supervisor {
    async fn run<In, Out, S>(self, mut rx: UnboundedReceiver<Outgoing<Out>>, sink: S)
    where
        Out: Serialize + Send + 'static,
        In: DeserializeOwned + Send + 'static,
        S: EventSink<LinkEvent<In>>,
    {
        let mut pending = Pending {
            queue: VecDeque::new(),
            limit: self.opts.queue_limit,
            dropped: 0,
        };
        let (mut idx, mut failed_rounds, mut last_error) = (0usize, 0u32, String::new());
        loop {
            if self.core.is_closed() {
                return;
            }
            let addr = self.addrs[idx % self.addrs.len()];
            let attempt = self.connect_once(addr);
            tokio::pin!(attempt);
            let result = loop {
                tokio::select! {
                    r = &mut attempt => break r,
                    item = rx.recv() => if !pending.take(item) { return },
                }
            };
            match result {
                Ok(est) => {
                    failed_rounds = 0;
                    last_error.clear();
                    if pending.dropped > 0 {
                        tracing::warn!(
                            dropped = pending.dropped,
                            "messages dropped while the link was down"
                        );
                        pending.dropped = 0;
                    }
                    let (peer, info) = (est.peer, est.info.clone());
                    tracing::info!(%peer, %addr, id = %info.id, "link up");
                    self.up.store(true, Ordering::Release);
                    if !sink.deliver(LinkEvent::Up(LinkUp { peer, info })) {
                        return close(&est.conn, code::GONE, "receiver gone");
                    }
                    let initial: Vec<Out> = pending.queue.drain(..).collect();
                    let end = conn::run(est, &mut rx, initial, false, &self.core.conn, |m| {
                        sink.deliver(LinkEvent::Message(m))
                    })
                    .await;
                    self.up.store(false, Ordering::Release);
                    log_end(peer, addr, &end);
                    if end.is_final() {
                        rx.close(); // `send` fails from here on
                    }
                    let alive = sink.deliver(LinkEvent::Down(LinkDown {
                        peer,
                        reason: end.reason(),
                    }));
                    if end.is_final() || !alive {
                        return;
                    }
                }
                Err(e) => {
                    if e.reason != last_error {
                        tracing::warn!(%addr, reason = %e.reason, "link cannot connect; retrying");
                        last_error = e.reason;
                    } else {
                        tracing::debug!(%addr, reason = %last_error, "link cannot connect; retrying");
                    }
                    idx += 1;
                    if idx % self.addrs.len() != 0 {
                        continue; // next address right away
                    }
                    failed_rounds = failed_rounds.saturating_add(1);
                }
            }
            let delay = self
                .opts
                .backoff
                .delay(failed_rounds, rand::random::<f64>());
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    item = rx.recv() => if !pending.take(item) { return },
                }
            }
        }
    }

    /// One attempt: QUIC + TLS (server name `<role>.drover`), then the handshake.
    async fn connect_once(&self, addr: SocketAddr) -> Result<Established, HandshakeError> {
        let core = &self.core;
        let refused = |reason: String| HandshakeError {
            code: code::REFUSED,
            reason,
        };
        let connecting = core
            .endpoint
            .connect_with(
                core.client_cfg.clone(),
                addr,
                &role_dns_name(self.expect_role),
            )
            .map_err(|e| refused(format!("cannot connect: {e}")))?;
        let attempt = async {
            let conn = connecting
                .await
                .map_err(|e| refused(format!("TLS: {}", describe(&e))))?;
            let hs = handshake::client_handshake(
                &conn,
                &core.hello,
                self.expect_role,
                core.conn.max_frame,
            )
            .await;
            let (send, recv, decoder, hello) =
                hs.inspect_err(|e| close(&conn, e.code, &e.reason))?;
            let Some((role, cert_name)) =
                tls::peer_role(&conn).filter(|(r, _)| *r == self.expect_role)
            else {
                close(&conn, code::REFUSED, "server certificate role mismatch");
                return Err(refused("server certificate carries another role".into()));
            };
            let info = conn::peer_info(&conn, role, cert_name, hello);
            Ok(Established {
                conn,
                send,
                recv,
                decoder,
                peer: next_peer_id(),
                info,
            })
        };
        tokio::time::timeout(core.handshake_timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(refused("handshake timed out".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_queue_drops_oldest_when_full() {
        let mut p = Pending {
            queue: VecDeque::new(),
            limit: 2,
            dropped: 0,
        };
        for i in 0..5 {
            assert!(p.take(Some(Outgoing::Msg(i))));
        }
        assert_eq!(p.queue, [3, 4]);
        assert_eq!(p.dropped, 3);
        assert!(!p.take(Some(Outgoing::Close)));
        assert!(!p.take(None));
    }
}
