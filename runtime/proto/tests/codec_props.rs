//! Property tests of the frame codec: arbitrary input never panics the decoder, typed
//! messages round-trip, and frames split at arbitrary points reassemble.

use drover_proto::codec::{
    encode_frame, CodecError, FrameDecoder, Hello, HelloReply, Role, DEFAULT_MAX_FRAME,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Ping(u64),
    Text { id: u32, body: String },
    Blob(Vec<u8>),
    Nested(Vec<Option<(i16, String)>>),
}

fn arb_msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        any::<u64>().prop_map(Msg::Ping),
        (any::<u32>(), ".{0,40}").prop_map(|(id, body)| Msg::Text { id, body }),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Msg::Blob),
        proptest::collection::vec(proptest::option::of((any::<i16>(), ".{0,8}")), 0..10)
            .prop_map(Msg::Nested),
    ]
}

fn arb_role() -> impl Strategy<Value = Role> {
    proptest::sample::select(Role::ALL.to_vec())
}

/// Drains every decodable frame; stops at the first error or when more bytes are needed.
fn drain<T: serde::de::DeserializeOwned>(d: &mut FrameDecoder) -> (Vec<T>, Option<CodecError>) {
    let mut out = Vec::new();
    loop {
        match d.next::<T>() {
            Ok(Some(m)) => out.push(m),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                   max in 0usize..4096) {
        let mut d = FrameDecoder::new(max);
        d.push(&bytes);
        let _ = drain::<Msg>(&mut d);
        let mut d = FrameDecoder::new(max);
        d.push(&bytes);
        let _ = drain::<Hello>(&mut d);
    }

    #[test]
    fn valid_prefix_with_garbage_payload_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        d.push(&bytes);
        let (msgs, err) = drain::<Msg>(&mut d);
        // A complete frame yields exactly one outcome: a message or an error.
        prop_assert_eq!(msgs.len() + usize::from(err.is_some()), 1);
    }

    #[test]
    fn encode_then_decode_round_trips(msgs in proptest::collection::vec(arb_msg(), 0..20)) {
        let mut buf = Vec::new();
        for m in &msgs {
            encode_frame(m, &mut buf).unwrap();
        }
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        d.push(&buf);
        let (got, err) = drain::<Msg>(&mut d);
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, msgs);
        prop_assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn frames_split_at_arbitrary_points_reassemble(
        msgs in proptest::collection::vec(arb_msg(), 1..20),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let mut buf = Vec::new();
        for m in &msgs {
            encode_frame(m, &mut buf).unwrap();
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(buf.len() + 1)).collect();
        points.push(0);
        points.push(buf.len());
        points.sort_unstable();
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        let mut got = Vec::new();
        for w in points.windows(2) {
            d.push(&buf[w[0]..w[1]]);
            let (mut part, err) = drain::<Msg>(&mut d);
            prop_assert_eq!(err, None);
            got.append(&mut part);
        }
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn handshake_types_round_trip(role in arb_role(), id in ".{0,30}", version in any::<u32>(),
                                  reason in ".{0,30}") {
        let hello = Hello { protocol_version: version, role, id };
        let replies = [HelloReply::Welcome(hello.clone()), HelloReply::Refused { reason }];
        let mut buf = Vec::new();
        encode_frame(&hello, &mut buf).unwrap();
        for r in &replies {
            encode_frame(r, &mut buf).unwrap();
        }
        let mut d = FrameDecoder::new(1024);
        d.push(&buf);
        prop_assert_eq!(d.next::<Hello>().unwrap(), Some(hello));
        for r in replies {
            prop_assert_eq!(d.next::<HelloReply>().unwrap(), Some(r));
        }
    }

    #[test]
    fn oversized_prefix_is_refused(len in 1025u32..=u32::MAX) {
        let mut d = FrameDecoder::new(1024);
        d.push(&len.to_be_bytes());
        prop_assert_eq!(d.next::<Msg>(), Err(CodecError::FrameTooLarge { len: len as usize, max: 1024 }));
    }
}
