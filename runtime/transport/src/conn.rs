//! One connection's life after TLS and the handshake: a writer and a reader running side
//! by side on its single bidirectional stream until either ends; and the [`PeerSender`]
//! that feeds the writer.
//!
//! ```text
//!  PeerSender/Link::send ─▶ unbounded mpsc ─▶ writer: recv_many (drain all queued)
//!                                               ─▶ faults ─▶ encode all into one buffer
//!                                               ─▶ one write_all on the stream
//!  stream ─▶ reader: read_chunks ─▶ FrameDecoder ─▶ faults ─▶ sink.deliver(Inbound)
//!                                                   └─▶ opens the reply window: the
//!            writer polls (instead of parking) for the actor's answer, see reply_window
//! ```
//!
//! Reader and writer are two futures of one task, so a connection costs one task.
//! Any protocol error (malformed or oversized frame, stream reset) closes the connection
//! with a logged reason; the rest of the node is unaffected.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use drover_proto::codec::{encode_frame_limited, CodecError, FrameDecoder, Hello, Role};
use quinn::{Connection, ConnectionError, RecvStream, SendStream, VarInt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::error::SendError;
use crate::events::{Inbound, PeerId, PeerInfo};
use crate::faults::{Faults, PeerKeys};
use crate::reply_window::ReplyWindow;

/// Messages drained from the queue per write.
const WRITE_BATCH: usize = 4096;
/// Chunks taken from the stream per read.
const READ_CHUNKS: usize = 32;
/// Write buffers larger than this are not kept between batches.
const KEEP_BUF: usize = 1024 * 1024;
/// How long a local close waits for the peer to acknowledge queued data.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// QUIC application close codes.
pub(crate) mod code {
    /// Orderly close.
    pub(crate) const CLOSED: u32 = 0;
    /// The peer broke the protocol (bad frame, bad handshake).
    pub(crate) const PROTOCOL: u32 = 1;
    /// The handshake was refused (version, role).
    pub(crate) const REFUSED: u32 = 2;
    /// Nobody on this node receives the connection's messages any more.
    pub(crate) const GONE: u32 = 3;
}

/// Closes `conn` with `code` and a reason (truncated to fit a packet).
pub(crate) fn close(conn: &Connection, code: u32, reason: &str) {
    let mut end = reason.len().min(200);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    conn.close(VarInt::from_u32(code), &reason.as_bytes()[..end]);
}

/// What a sender's queue carries.
#[derive(Debug)]
pub(crate) enum Outgoing<Out> {
    /// A message to encode and send.
    Msg(Out),
    /// Flush what is queued before this, then close.
    Close,
}

/// Queues messages to one peer connection (server side). Cheap to clone; sending never
/// blocks. Dropping every clone does not close the connection (the peer may still talk);
/// [`close`](Self::close) does.
#[derive(Debug)]
pub struct PeerSender<Out> {
    peer: PeerId,
    tx: UnboundedSender<Outgoing<Out>>,
}

impl<Out> Clone for PeerSender<Out> {
    fn clone(&self) -> Self {
        PeerSender {
            peer: self.peer,
            tx: self.tx.clone(),
        }
    }
}

impl<Out> PeerSender<Out> {
    pub(crate) fn new(peer: PeerId, tx: UnboundedSender<Outgoing<Out>>) -> Self {
        PeerSender { peer, tx }
    }

    /// Queues `msg`; fails only once the connection has ended.
    #[inline]
    pub fn send(&self, msg: Out) -> Result<(), SendError> {
        self.tx.send(Outgoing::Msg(msg)).map_err(|_| SendError)
    }

    /// Closes the connection after the messages queued so far are sent.
    pub fn close(&self) {
        let _ = self.tx.send(Outgoing::Close);
    }

    /// The connection this sender writes to.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A connection that passed TLS and the handshake.
pub(crate) struct Established {
    pub(crate) conn: Connection,
    pub(crate) send: SendStream,
    pub(crate) recv: RecvStream,
    /// Holds any bytes that arrived right after the handshake.
    pub(crate) decoder: FrameDecoder,
    pub(crate) peer: PeerId,
    pub(crate) info: PeerInfo,
}

/// Human wording for a lost connection.
pub(crate) fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::TimedOut => "idle timeout: peer stopped responding".into(),
        ConnectionError::ApplicationClosed(c) => {
            format!(
                "closed by peer (code {}): {}",
                c.error_code,
                String::from_utf8_lossy(&c.reason)
            )
        }
        ConnectionError::LocallyClosed => "closed locally".into(),
        ConnectionError::Reset => "connection reset by peer".into(),
        other => other.to_string(),
    }
}

/// Per-node settings every connection runs with.
#[derive(Debug, Clone)]
pub(crate) struct ConnSettings {
    pub(crate) faults: Faults,
    pub(crate) max_frame: usize,
    /// See `NodeConfig::reply_poll`.
    pub(crate) reply_poll: Duration,
}

/// How a connection ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Closed by this node (`close()`, or the link dropped).
    Local,
    /// The peer finished its stream: an orderly close.
    PeerClosed,
    /// The local receiver of messages is gone.
    SinkGone,
    /// The peer broke the protocol.
    Protocol(String),
    /// The connection was lost (idle timeout, closed by peer, reset).
    Lost(String),
}

impl End {
    pub(crate) fn reason(&self) -> String {
        match self {
            End::Local => "closed locally".into(),
            End::PeerClosed => "closed by peer".into(),
            End::SinkGone => "local receiver gone".into(),
            End::Protocol(r) => format!("protocol error: {r}"),
            End::Lost(r) => r.clone(),
        }
    }

    /// Whether the owner asked for this end (no reconnect).
    pub(crate) fn is_final(&self) -> bool {
        matches!(self, End::Local | End::SinkGone)
    }
}

/// Runs the reader and writer of `est` until either ends, then closes the connection
/// (gracefully for a local close). `initial` is sent before anything from `rx`. With
/// `keep_open`, the connection outlives the senders of `rx`.
pub(crate) async fn run<In, Out, F>(
    est: Established,
    rx: &mut UnboundedReceiver<Outgoing<Out>>,
    initial: Vec<Out>,
    keep_open: bool,
    settings: &ConnSettings,
    deliver: F,
) -> End
where
    In: DeserializeOwned,
    Out: Serialize,
    F: FnMut(Inbound<In>) -> bool,
{
    let Established {
        conn,
        mut send,
        mut recv,
        mut decoder,
        peer,
        info,
    } = est;
    let keys = PeerKeys {
        id: info.id,
        cert_name: info.cert_name,
        addr: info.addr,
    };
    let faults = &settings.faults;
    let window = ReplyWindow::new(settings.reply_poll);
    let end = {
        let writer = write_loop(&mut send, rx, initial, keep_open, settings, &keys, &window);
        let reader = read_loop(
            &mut recv,
            &mut decoder,
            peer,
            faults,
            &keys,
            deliver,
            &window,
        );
        tokio::select! {
            end = writer => end,
            end = reader => end,
        }
    };
    match &end {
        End::Local => {
            let _ = send.finish();
            let _ = tokio::time::timeout(CLOSE_GRACE, send.stopped()).await;
            close(&conn, code::CLOSED, "closed");
        }
        End::PeerClosed => close(&conn, code::CLOSED, "closed"),
        End::SinkGone => close(&conn, code::GONE, "receiver gone"),
        End::Protocol(r) => {
            tracing::warn!(%peer, addr = %keys.addr, reason = %r, "closing connection: protocol error");
            close(&conn, code::PROTOCOL, r);
        }
        End::Lost(_) => {}
    }
    end
}

async fn write_loop<Out: Serialize>(
    send: &mut SendStream,
    rx: &mut UnboundedReceiver<Outgoing<Out>>,
    initial: Vec<Out>,
    keep_open: bool,
    settings: &ConnSettings,
    keys: &PeerKeys,
    window: &ReplyWindow,
) -> End {
    let (faults, max_frame) = (&settings.faults, settings.max_frame);
    let mut batch: Vec<Outgoing<Out>> = initial.into_iter().map(Outgoing::Msg).collect();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        if batch.is_empty() && window.is_open(window.now()) {
            loop {
                match rx.try_recv() {
                    Ok(item) => {
                        batch.push(item);
                        window.caught();
                        // Take whatever else is queued with it: one write for all.
                        while batch.len() < WRITE_BATCH {
                            match rx.try_recv() {
                                Ok(item) => batch.push(item),
                                Err(_) => break,
                            }
                        }
                        break;
                    }
                    Err(TryRecvError::Empty) if window.is_open(window.now()) => {
                        tokio::task::yield_now().await
                    }
                    Err(TryRecvError::Empty) => {
                        window.expired();
                        break;
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            }
        }
        if batch.is_empty() {
            if rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
                window.woke(window.now());
            } else {
                if keep_open {
                    return std::future::pending().await;
                }
                return End::Local;
            }
        }
        let mut close = false;
        for item in batch.drain(..) {
            let Outgoing::Msg(msg) = item else {
                close = true;
                break;
            };
            if faults.drops(keys) {
                continue;
            }
            if let Err(e) = encode_frame_limited(&msg, &mut buf, max_frame) {
                tracing::error!(peer = %keys.id, error = %e, "dropping a message that cannot be encoded");
            }
        }
        let delay = faults.delay(keys);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if !buf.is_empty() {
            if let Err(e) = send.write_all(&buf).await {
                return match e {
                    quinn::WriteError::ConnectionLost(c) => lost(&c),
                    other => End::Protocol(format!("write: {other}")),
                };
            }
            buf.clear();
            if buf.capacity() > KEEP_BUF {
                buf = Vec::with_capacity(16 * 1024);
            }
        }
        if close {
            return End::Local;
        }
    }
}

async fn read_loop<In, F>(
    recv: &mut RecvStream,
    decoder: &mut FrameDecoder,
    peer: PeerId,
    faults: &Faults,
    keys: &PeerKeys,
    mut deliver: F,
    window: &ReplyWindow,
) -> End
where
    In: DeserializeOwned,
    F: FnMut(Inbound<In>) -> bool,
{
    let mut chunks: [Bytes; READ_CHUNKS] = std::array::from_fn(|_| Bytes::new());
    loop {
        // Bytes may already be buffered (they arrived with the handshake).
        let delay = faults.delay(keys);
        if !delay.is_zero() && decoder.buffered() > 0 {
            tokio::time::sleep(delay).await;
        }
        loop {
            match decoder.next::<In>() {
                Ok(Some(msg)) => {
                    if faults.drops(keys) {
                        continue;
                    }
                    if !deliver(Inbound { peer, msg }) {
                        return End::SinkGone;
                    }
                    window.delivered(window.now());
                }
                Ok(None) => break,
                Err(e) => return End::Protocol(frame_error(&e)),
            }
        }
        match recv.read_chunks(&mut chunks).await {
            Ok(Some(n)) => chunks[..n]
                .iter_mut()
                .for_each(|c| decoder.push(&std::mem::take(c))),
            Ok(None) => return End::PeerClosed,
            Err(quinn::ReadError::ConnectionLost(c)) => return lost(&c),
            Err(e) => return End::Protocol(format!("read: {e}")),
        }
    }
}

/// The end of a connection that quinn reports lost; closing our own endpoint is a local
/// close, not a failure.
fn lost(e: &ConnectionError) -> End {
    match e {
        ConnectionError::LocallyClosed => End::Local,
        other => End::Lost(describe(other)),
    }
}

fn frame_error(e: &CodecError) -> String {
    format!("bad frame: {e}")
}

/// The peer's address and identity as seen on `conn`.
pub(crate) fn peer_info(
    conn: &Connection,
    role: Role,
    cert_name: String,
    hello: Hello,
) -> PeerInfo {
    let addr: SocketAddr = conn.remote_address();
    PeerInfo {
        role,
        id: hello.id,
        cert_name,
        addr,
    }
}
