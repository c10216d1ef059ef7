//! Hostile or broken peers holding valid certificates: garbage, malformed and oversized
//! frames, trailing bytes, a peer that never handshakes and one that goes silent. Each
//! time the server closes that connection with a reason and keeps serving others.

mod common;

use common::*;
use drover_proto::codec::{encode_frame, Hello, HelloReply, Role};
use drover_transport::{ClusterCa, Node, ServerEvent};
use tokio::sync::mpsc::UnboundedReceiver;

type Events = UnboundedReceiver<ServerEvent<Up, Down>>;

fn master(ca: &ClusterCa) -> (Node, Events) {
    let master = node(ca, Role::Master, "master-1");
    let server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    (master, server)
}

/// A raw agent that completed the handshake; the server has reported it connected.
async fn handshaked(
    ca: &ClusterCa,
    master: &Node,
    server: &mut Events,
) -> (quinn::Connection, quinn::SendStream) {
    let raw = RawClient::new(&ca.issue(Role::Agent, "raw-agent").unwrap());
    let conn = raw
        .connect(master.local_addr(), Role::Master)
        .await
        .unwrap();
    let (send, _recv, reply) = raw_hello(&conn, &Hello::new(Role::Agent, "raw-agent")).await;
    assert!(matches!(reply, HelloReply::Welcome(_)), "{reply:?}");
    assert!(matches!(
        next(server, "Connected").await,
        ServerEvent::Connected(_)
    ));
    std::mem::forget(raw); // keep the endpoint alive as long as the connection
    (conn, send)
}

/// Sends `bytes` after a good handshake; returns the server's disconnect reason and the
/// close code/reason the client saw.
async fn after_handshake(
    ca: &ClusterCa,
    master: &Node,
    server: &mut Events,
    bytes: &[u8],
) -> (String, (u64, String)) {
    let (conn, mut send) = handshaked(ca, master, server).await;
    send.write_all(bytes).await.unwrap();
    let ServerEvent::Disconnected(d) = next(server, "Disconnected").await else {
        panic!("expected Disconnected")
    };
    (d.reason, close_reason(&conn).await)
}

#[tokio::test]
async fn garbage_instead_of_hello_closes_the_connection() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let (master, mut server) = master(&ca);
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0, 0, 0, 3, 0xff, 0xff, 0xff],
        &[0, 0, 0, 0],
    ] {
        let raw = RawClient::new(&ca.issue(Role::Agent, "raw").unwrap());
        let conn = raw
            .connect(master.local_addr(), Role::Master)
            .await
            .unwrap();
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        send.write_all(garbage).await.unwrap();
        let (code, reason) = close_reason(&conn).await;
        assert_eq!(code, 1, "{reason}");
        assert!(reason.starts_with("bad handshake frame"), "{reason}");
    }
    quiet(&mut server, std::time::Duration::from_millis(100)).await;
    good_agent_still_works(&ca, &master, &mut server).await;
}

#[tokio::test]
async fn oversized_length_prefix_is_refused_before_buffering() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let (master, mut server) = master(&ca);
    let (reason, (code, _)) =
        after_handshake(&ca, &master, &mut server, &u32::MAX.to_be_bytes()).await;
    assert_eq!(
        reason,
        "protocol error: bad frame: frame of 4294967295 bytes exceeds the limit of 16777216 bytes"
    );
    assert_eq!(code, 1);
    good_agent_still_works(&ca, &master, &mut server).await;
}

#[tokio::test]
async fn malformed_frames_and_trailing_bytes_close_the_connection() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let (master, mut server) = master(&ca);
    // An enum variant index that does not exist.
    let (reason, (code, _)) = after_handshake(&ca, &master, &mut server, &[0, 0, 0, 2, 9, 1]).await;
    assert!(
        reason.starts_with("protocol error: bad frame: malformed frame"),
        "{reason}"
    );
    assert_eq!(code, 1);
    // A valid message with one byte too many inside its frame.
    let mut frame = Vec::new();
    encode_frame(&Up::Ping(5), &mut frame).unwrap();
    frame.push(0);
    let len = (frame.len() - 4) as u32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    let (reason, _) = after_handshake(&ca, &master, &mut server, &frame).await;
    assert!(reason.contains("trailing bytes"), "{reason}");
    // Noise cut into frames of plausible length (a large claimed length would, rightly,
    // just wait for more bytes).
    let noise: Vec<u8> = (0..64u32)
        .flat_map(|i| {
            let body =
                (0..16u32).map(move |j| ((i * 16 + j).wrapping_mul(2_654_435_761) >> 13) as u8);
            [0, 0, 0, 16].into_iter().chain(body)
        })
        .collect();
    let (reason, _) = after_handshake(&ca, &master, &mut server, &noise).await;
    assert!(reason.starts_with("protocol error: bad frame"), "{reason}");
    good_agent_still_works(&ca, &master, &mut server).await;
}

#[tokio::test]
async fn a_peer_that_never_handshakes_is_dropped_after_the_timeout() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let (master, mut server) = master(&ca);
    let raw = RawClient::new(&ca.issue(Role::Agent, "mute").unwrap());
    let conn = raw
        .connect(master.local_addr(), Role::Master)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        close_reason(&conn).await,
        (1, "handshake timed out".to_owned())
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    good_agent_still_works(&ca, &master, &mut server).await;
}

#[tokio::test]
async fn a_peer_that_goes_silent_is_noticed_by_the_idle_timeout() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let (master, mut server) = master(&ca);
    let identity = ca.issue(Role::Agent, "silent").unwrap();
    let addr = master.local_addr();
    // Handshake on a runtime of its own, then kill that runtime without closing anything:
    // the server's peer just stops answering.
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let raw = RawClient::new(&identity);
            let conn = raw.connect(addr, Role::Master).await.unwrap();
            let streams = raw_hello(&conn, &Hello::new(Role::Agent, "silent")).await;
            std::mem::forget((raw, conn, streams));
        });
        rt.shutdown_background();
    })
    .await
    .unwrap();
    let ServerEvent::Connected(c) = next(&mut server, "Connected").await else {
        panic!("expected Connected")
    };
    let ServerEvent::Disconnected(d) = next(&mut server, "Disconnected").await else {
        panic!("expected Disconnected")
    };
    assert_eq!(
        (d.peer, d.reason.as_str()),
        (c.peer, "idle timeout: peer stopped responding")
    );
    good_agent_still_works(&ca, &master, &mut server).await;
}
