//! Links survive their server: reconnect after a restart on the same port, queue (bounded,
//! oldest dropped) while down and flush in order, and notice a silent server through the
//! idle timeout.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use drover_proto::codec::Role;
use drover_transport::{ClusterCa, LinkEvent, LinkOptions, Node, ServerEvent, TransportError};

/// Starts a master on `addr`, retrying while the previous socket is being released.
fn master_at(ca: &ClusterCa, addr: SocketAddr) -> Node {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut cfg = config(ca, Role::Master, "master-1");
        cfg.bind = addr;
        match Node::new(cfg) {
            Ok(n) => return n,
            Err(TransportError::Bind { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("cannot restart master on {addr}: {e}"),
        }
    }
}

async fn expect_pings<E: std::fmt::Debug>(
    server: &mut tokio::sync::mpsc::UnboundedReceiver<ServerEvent<Up, E>>,
    range: std::ops::Range<u64>,
) {
    for i in range {
        match next(server, "ping").await {
            ServerEvent::Message(m) => assert_eq!(m.msg, Up::Ping(i)),
            other => panic!("expected ping {i}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn link_reconnects_after_server_restart_and_flushes_queue_in_order() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let addr = master.local_addr();
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    let agent = node(&ca, Role::Agent, "agent-1");
    let (link, mut events) = agent.connect_channel::<Up, Down>(addr, Role::Master);
    let LinkEvent::Up(first) = next(&mut events, "LinkUp").await else {
        panic!()
    };
    link.send(Up::Ping(0)).unwrap();
    assert!(matches!(
        next(&mut server, "Connected").await,
        ServerEvent::Connected(_)
    ));
    expect_pings(&mut server, 0..1).await;

    drop((master, server)); // the server process "dies"
    let LinkEvent::Down(down) = next(&mut events, "LinkDown").await else {
        panic!()
    };
    assert_eq!(down.peer, first.peer);
    assert!(!link.is_up());
    for i in 1..=10 {
        link.send(Up::Ping(i)).unwrap(); // queued while down
    }

    let master = master_at(&ca, addr);
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    let LinkEvent::Up(second) = next(&mut events, "LinkUp after restart").await else {
        panic!()
    };
    assert_ne!(second.peer, first.peer);
    assert!(matches!(
        next(&mut server, "Connected").await,
        ServerEvent::Connected(_)
    ));
    expect_pings(&mut server, 1..11).await;
    link.send(Up::Ping(11)).unwrap();
    expect_pings(&mut server, 11..12).await;
}

#[tokio::test]
async fn queue_while_down_is_bounded_and_drops_oldest() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let addr = std::net::UdpSocket::bind(localhost())
        .unwrap()
        .local_addr()
        .unwrap();
    let agent = node(&ca, Role::Agent, "agent-1");
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let opts = LinkOptions {
        queue_limit: 5,
        ..LinkOptions::default()
    };
    let link = agent.connect_any::<Up, Down, _>(vec![addr], Role::Master, opts, tx);
    for i in 0..10 {
        link.send(Up::Ping(i)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let master = master_at(&ca, addr);
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    assert!(matches!(
        next(&mut events, "LinkUp").await,
        LinkEvent::Up(_)
    ));
    assert!(matches!(
        next(&mut server, "Connected").await,
        ServerEvent::Connected(_)
    ));
    expect_pings(&mut server, 5..10).await;
    quiet(&mut server, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_silent_server_is_noticed_and_the_link_comes_back() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    let proxy = UdpProxy::start(master.local_addr()).await;
    let agent = node(&ca, Role::Agent, "agent-1");
    let (link, mut events) = agent.connect_channel::<Up, Down>(proxy.addr, Role::Master);
    assert!(matches!(
        next(&mut events, "LinkUp").await,
        LinkEvent::Up(_)
    ));
    let ServerEvent::Connected(c) = next(&mut server, "Connected").await else {
        panic!()
    };

    proxy.set_blackhole(true);
    let cut = Instant::now();
    let LinkEvent::Down(down) = next(&mut events, "LinkDown").await else {
        panic!()
    };
    assert_eq!(down.reason, "idle timeout: peer stopped responding");
    assert!(
        cut.elapsed() < Duration::from_secs(3),
        "noticed after {:?}",
        cut.elapsed()
    );
    let ServerEvent::Disconnected(d) = next(&mut server, "Disconnected").await else {
        panic!()
    };
    assert_eq!(
        (d.peer, d.reason.as_str()),
        (c.peer, "idle timeout: peer stopped responding")
    );

    proxy.set_blackhole(false);
    assert!(matches!(
        next(&mut events, "LinkUp again").await,
        LinkEvent::Up(_)
    ));
    link.send(Up::Ping(3)).unwrap();
    assert!(matches!(
        next(&mut server, "Connected").await,
        ServerEvent::Connected(_)
    ));
    expect_pings(&mut server, 3..4).await;
}
