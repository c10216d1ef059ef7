//! The `Hello`/`HelloReply` exchange that opens every connection's stream, for both
//! sides; see [`drover_proto::codec::Hello`] for what is checked.
//!
//! ```text
//!  client: open_bi ─▶ write Hello ─▶ read HelloReply ─▶ Welcome from the expected role?
//!  server: accept_bi ─▶ read Hello ─▶ version ok, role = certificate's, id short?
//!          ─▶ write Welcome(our Hello) | Refused{reason} (then finish and close)
//! ```
//!
//! Both sides read with a small frame limit; bytes that arrive right behind the reply
//! stay in the returned decoder, whose limit is then raised to the connection's.

use std::time::Duration;

use drover_proto::codec::{encode_frame_limited, FrameDecoder, Hello, HelloReply, Role};
use quinn::{Connection, RecvStream, SendStream};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::conn::{code, describe};

/// Largest `Hello`/`HelloReply` frame accepted.
const HANDSHAKE_MAX_FRAME: usize = 64 * 1024;
/// Longest id accepted in a `Hello`.
const MAX_ID_LEN: usize = 256;
/// How long a refusing server waits for the client to read why.
const REFUSE_GRACE: Duration = Duration::from_secs(1);

/// A failed handshake: the close code to use and why.
#[derive(Debug)]
pub(crate) struct HandshakeError {
    pub(crate) code: u32,
    pub(crate) reason: String,
}

impl HandshakeError {
    fn protocol(reason: impl Into<String>) -> Self {
        HandshakeError {
            code: code::PROTOCOL,
            reason: reason.into(),
        }
    }
    fn refused(reason: impl Into<String>) -> Self {
        HandshakeError {
            code: code::REFUSED,
            reason: reason.into(),
        }
    }
}

fn read_err(e: quinn::ReadError) -> HandshakeError {
    match e {
        quinn::ReadError::ConnectionLost(c) => HandshakeError::protocol(describe(&c)),
        other => HandshakeError::protocol(format!("handshake stream: {other}")),
    }
}

async fn read_one<T: DeserializeOwned>(
    recv: &mut RecvStream,
    dec: &mut FrameDecoder,
) -> Result<T, HandshakeError> {
    loop {
        match dec.next::<T>() {
            Ok(Some(m)) => return Ok(m),
            Ok(None) => {}
            Err(e) => {
                return Err(HandshakeError::protocol(format!(
                    "bad handshake frame: {e}"
                )))
            }
        }
        match recv.read_chunk(HANDSHAKE_MAX_FRAME, true).await {
            Ok(Some(c)) => dec.push(&c.bytes),
            Ok(None) => return Err(HandshakeError::protocol("stream finished during handshake")),
            Err(e) => return Err(read_err(e)),
        }
    }
}

async fn write_frame<T: Serialize>(send: &mut SendStream, msg: &T) -> Result<(), HandshakeError> {
    let mut buf = Vec::new();
    encode_frame_limited(msg, &mut buf, HANDSHAKE_MAX_FRAME)
        .map_err(|e| HandshakeError::protocol(e.to_string()))?;
    send.write_all(&buf)
        .await
        .map_err(|e| HandshakeError::protocol(format!("handshake write: {e}")))
}

/// The streams and decoder of a handshaked connection, plus the peer's `Hello`.
pub(crate) type Handshaked = (SendStream, RecvStream, FrameDecoder, Hello);

/// Client side: open the stream, send `local`, expect a `Welcome` from a server of
/// `expect` role speaking our version.
pub(crate) async fn client_handshake(
    conn: &Connection,
    local: &Hello,
    expect: Role,
    max_frame: usize,
) -> Result<Handshaked, HandshakeError> {
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| HandshakeError::protocol(format!("open stream: {}", describe(&e))))?;
    write_frame(&mut send, local).await?;
    let mut dec = FrameDecoder::new(HANDSHAKE_MAX_FRAME);
    let server = match read_one::<HelloReply>(&mut recv, &mut dec).await? {
        HelloReply::Welcome(h) => h,
        HelloReply::Refused { reason } => {
            return Err(HandshakeError::refused(format!(
                "refused by server: {reason}"
            )))
        }
    };
    server
        .check_version()
        .map_err(|e| HandshakeError::refused(e.to_string()))?;
    if server.role != expect {
        return Err(HandshakeError::refused(format!(
            "expected a {expect}, server says it is a {}",
            server.role
        )));
    }
    dec.set_max_frame(max_frame);
    Ok((send, recv, dec, server))
}

/// Server side: accept the stream, read the client's `Hello`, check version and that the
/// announced role matches the certificate's, answer `Welcome(local)` or `Refused`.
pub(crate) async fn server_handshake(
    conn: &Connection,
    local: &Hello,
    cert_role: Role,
    max_frame: usize,
) -> Result<Handshaked, HandshakeError> {
    let (mut send, mut recv) = conn
        .accept_bi()
        .await
        .map_err(|e| HandshakeError::protocol(format!("accept stream: {}", describe(&e))))?;
    let mut dec = FrameDecoder::new(HANDSHAKE_MAX_FRAME);
    let peer = read_one::<Hello>(&mut recv, &mut dec).await?;
    let mut reply = HelloReply::answer(&peer, local.clone());
    if matches!(reply, HelloReply::Welcome(_)) {
        if peer.role != cert_role {
            let reason = format!(
                "hello claims role {} but the certificate says {cert_role}",
                peer.role
            );
            reply = HelloReply::Refused { reason };
        } else if peer.id.len() > MAX_ID_LEN {
            reply = HelloReply::Refused {
                reason: format!("id longer than {MAX_ID_LEN} bytes"),
            };
        }
    }
    write_frame(&mut send, &reply).await?;
    if let HelloReply::Refused { reason } = reply {
        // Let the client read why before the connection goes.
        let _ = send.finish();
        let _ = tokio::time::timeout(REFUSE_GRACE, send.stopped()).await;
        return Err(HandshakeError::refused(reason));
    }
    dec.set_max_frame(max_frame);
    Ok((send, recv, dec, peer))
}
