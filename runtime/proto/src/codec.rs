//! The frame codec and the connection handshake: the one place that knows how a typed
//! message becomes bytes on the wire (bincode 2 in serde mode; nobody else calls bincode).
//!
//! ```text
//!  ┌──────────────────────┬──────────────────────────────────────┐
//!  │ length: u32 (BE)     │ payload: bincode(msg), `length` bytes │   one frame
//!  └──────────────────────┴──────────────────────────────────────┘
//!
//!  connection:  Hello ─▶            (client → server, first frame)
//!               ◀─ HelloReply       (Welcome(Hello) | Refused{reason})
//!               frames of the channel's message enum, each direction
//! ```
//!
//! Decoding is defensive: a length prefix above the decoder's limit is rejected before
//! any payload is buffered, bincode decodes with a byte limit (so a length claimed inside
//! a payload never allocates beyond it), and bytes left over inside a frame after the
//! message are an error. bincode carries no field tags, so the handshake carries
//! [`PROTOCOL_VERSION`] and a mismatch is refused; the layout of [`Hello`] and
//! [`HelloReply`] must never change, so that peers of any version can say why they
//! disagree.

use bincode::error::{DecodeError, EncodeError};
use bytes::{Buf, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

mod handshake;

pub use handshake::{Hello, HelloReply, ParseRoleError, Role};

/// Version of the wire format of every message in this crate. Bump it on any change to
/// a type that crosses the wire; peers with different versions refuse each other.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default largest payload (bytes) a [`FrameDecoder`] accepts and [`encode_frame`] emits.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Largest frame limit a [`FrameDecoder`] can be configured with; larger requests are
/// clamped to it.
pub const MAX_FRAME_LIMIT: usize = 256 * 1024 * 1024;

/// Size of the big-endian length prefix in front of every frame.
pub const LENGTH_PREFIX: usize = 4;

/// Why a frame could not be encoded or decoded. Every variant means the byte stream it
/// came from can no longer be trusted: close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A frame's length is above the configured limit (on decode: checked on the length
    /// prefix, before its payload is buffered).
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Length of the payload, as claimed by the prefix or as encoded.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// The payload is not a valid encoding of the expected message type.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The payload held a complete message followed by extra bytes.
    #[error("{extra} trailing bytes after the message in a frame of {len} bytes")]
    TrailingBytes {
        /// Payload length.
        len: usize,
        /// Bytes left over after the message.
        extra: usize,
    },
    /// The message could not be serialized (a serde impl failed or the shape is not
    /// supported by bincode, e.g. a sequence of unknown length).
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// The peer speaks another protocol version.
    #[error("protocol version mismatch: peer speaks {peer}, this node speaks {ours}")]
    VersionMismatch {
        /// Version announced by the peer.
        peer: u32,
        /// [`PROTOCOL_VERSION`] of this build.
        ours: u32,
    },
}

/// bincode writer appending to a `Vec<u8>`.
struct VecSink<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecSink<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Encodes `msg` as a bare payload (no length prefix), e.g. to store it or to test a
/// type's wire form; [`decode_payload`] reads it back.
pub fn encode_payload<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_frame(msg, &mut out)?;
    out.drain(..LENGTH_PREFIX);
    Ok(out)
}

/// Appends one frame (length prefix + payload) holding `msg` to `out`, refusing payloads
/// above [`DEFAULT_MAX_FRAME`]. On error `out` is left as it was.
pub fn encode_frame<T: Serialize>(msg: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_frame_limited(msg, out, DEFAULT_MAX_FRAME)
}

/// Like [`encode_frame`] with an explicit payload limit (use the peer's decoder limit, so
/// that a message it would reject fails here, at the sender, with a typed error).
pub fn encode_frame_limited<T: Serialize>(
    msg: &T,
    out: &mut Vec<u8>,
    max_frame: usize,
) -> Result<(), CodecError> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_PREFIX]);
    let encoded =
        bincode::serde::encode_into_writer(msg, VecSink(out), bincode::config::standard());
    if let Err(e) = encoded {
        out.truncate(start);
        return Err(CodecError::Encode(e.to_string()));
    }
    let len = out.len() - start - LENGTH_PREFIX;
    let max = max_frame.min(u32::MAX as usize);
    if len > max {
        out.truncate(start);
        return Err(CodecError::FrameTooLarge { len, max });
    }
    // `len <= u32::MAX` was checked just above.
    out[start..start + LENGTH_PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// bincode's decode limit is a const generic; a decoder uses the smallest bucket that is
/// at least its frame limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitBucket {
    Mib1,
    Mib16,
    Mib64,
    Mib256,
}

const MIB: usize = 1024 * 1024;

impl LimitBucket {
    fn for_max(max_frame: usize) -> LimitBucket {
        match max_frame {
            m if m <= MIB => LimitBucket::Mib1,
            m if m <= 16 * MIB => LimitBucket::Mib16,
            m if m <= 64 * MIB => LimitBucket::Mib64,
            _ => LimitBucket::Mib256,
        }
    }

    fn decode<T: DeserializeOwned>(self, payload: &[u8]) -> Result<(T, usize), DecodeError> {
        use bincode::config::standard;
        use bincode::serde::decode_from_slice;
        match self {
            LimitBucket::Mib1 => decode_from_slice(payload, standard().with_limit::<MIB>()),
            LimitBucket::Mib16 => {
                decode_from_slice(payload, standard().with_limit::<{ 16 * MIB }>())
            }
            LimitBucket::Mib64 => {
                decode_from_slice(payload, standard().with_limit::<{ 64 * MIB }>())
            }
            LimitBucket::Mib256 => {
                decode_from_slice(payload, standard().with_limit::<{ 256 * MIB }>())
            }
        }
    }
}

/// Decodes one complete payload (no length prefix) as a `T`, under the limit of a
/// decoder configured with `max_frame`. Trailing bytes are an error.
pub fn decode_payload<T: DeserializeOwned>(
    payload: &[u8],
    max_frame: usize,
) -> Result<T, CodecError> {
    let max = max_frame.min(MAX_FRAME_LIMIT);
    if payload.len() > max {
        return Err(CodecError::FrameTooLarge {
            len: payload.len(),
            max,
        });
    }
    let (msg, used) = LimitBucket::for_max(max)
        .decode::<T>(payload)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(CodecError::TrailingBytes {
            len: payload.len(),
            extra: payload.len() - used,
        });
    }
    Ok(msg)
}

/// Reassembles frames from a byte stream delivered in arbitrary pieces and decodes them.
///
/// Feed bytes with [`push`](Self::push) as they arrive, then call
/// [`next`](Self::next) until it returns `Ok(None)` (needs more bytes). After
/// [`CodecError::FrameTooLarge`] the decoder stays in that error (the stream cannot be
/// resynchronised); after [`CodecError::Malformed`] or [`CodecError::TrailingBytes`] the
/// bad frame has been consumed, but the peer is broken and should be disconnected.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame: usize,
    bucket: LimitBucket,
    buf: BytesMut,
}

impl FrameDecoder {
    /// A decoder accepting payloads up to `max_frame` bytes (clamped to
    /// [`MAX_FRAME_LIMIT`]).
    pub fn new(max_frame: usize) -> FrameDecoder {
        let max_frame = max_frame.min(MAX_FRAME_LIMIT);
        FrameDecoder {
            max_frame,
            bucket: LimitBucket::for_max(max_frame),
            buf: BytesMut::new(),
        }
    }

    /// The payload limit of this decoder.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Changes the payload limit (clamped to [`MAX_FRAME_LIMIT`]) for frames not yet
    /// decoded, keeping buffered bytes: e.g. a small limit for the handshake, then the
    /// connection's limit for the messages that follow.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame.min(MAX_FRAME_LIMIT);
        self.bucket = LimitBucket::for_max(self.max_frame);
    }

    /// Bytes received but not yet consumed by [`next`](Self::next).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends bytes received from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Decodes the next complete frame as a `T`: `Ok(None)` if more bytes are needed.
    #[allow(clippy::should_implement_trait)] // generic over T and fallible: not an Iterator
    pub fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, CodecError> {
        let Some(prefix) = self.buf.first_chunk::<LENGTH_PREFIX>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > self.max_frame {
            return Err(CodecError::FrameTooLarge {
                len,
                max: self.max_frame,
            });
        }
        let total = LENGTH_PREFIX + len;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let payload = &self.buf[LENGTH_PREFIX..total];
        let decoded = self.bucket.decode::<T>(payload);
        self.buf.advance(total);
        let (msg, used) = decoded.map_err(|e| CodecError::Malformed(e.to_string()))?;
        if used != len {
            return Err(CodecError::TrailingBytes {
                len,
                extra: len - used,
            });
        }
        Ok(Some(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_prefix_is_refused_before_the_payload_arrives() {
        let mut d = FrameDecoder::new(1024);
        d.push(&2048u32.to_be_bytes());
        assert_eq!(
            d.next::<u8>(),
            Err(CodecError::FrameTooLarge {
                len: 2048,
                max: 1024
            })
        );
        assert_eq!(d.buffered(), LENGTH_PREFIX);
    }

    #[test]
    fn trailing_bytes_inside_a_frame_are_an_error() {
        let mut d = FrameDecoder::new(1024);
        d.push(&[0, 0, 0, 2, 7, 9]);
        assert_eq!(
            d.next::<u8>(),
            Err(CodecError::TrailingBytes { len: 2, extra: 1 })
        );
    }

    #[test]
    fn claimed_string_length_beyond_the_limit_does_not_allocate() {
        // A payload claiming a 2^40-byte string: varint tag 253 + u64 LE.
        let mut payload = vec![253u8];
        payload.extend_from_slice(&(1u64 << 40).to_le_bytes());
        let err = decode_payload::<String>(&payload, 1024);
        assert!(matches!(err, Err(CodecError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn payload_round_trips_without_prefix() {
        let bytes = encode_payload(&(7u32, "x".to_owned())).unwrap();
        assert_eq!(bytes, vec![7, 1, b'x']);
        assert_eq!(
            decode_payload::<(u32, String)>(&bytes, 1024),
            Ok((7, "x".to_owned()))
        );
    }

    #[test]
    fn encode_respects_the_limit_and_leaves_output_untouched() {
        let mut out = vec![1, 2, 3];
        let err = encode_frame_limited(&vec![0u8; 100], &mut out, 10);
        assert_eq!(err, Err(CodecError::FrameTooLarge { len: 101, max: 10 }));
        assert_eq!(out, vec![1, 2, 3]);
    }
}
