//! Two nodes exchange typed messages both ways over real QUIC + mutual TLS on 127.0.0.1,
//! through actix actors and through the channel API.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use common::*;
use drover_proto::codec::Role;
use drover_transport::{
    ClusterCa, Inbound, Link, LinkDown, LinkEvent, LinkOptions, LinkUp, PeerConnected,
    PeerDisconnected, PeerId, PeerSender, ServerEvent, TransportError,
};
use tokio::sync::oneshot;

#[derive(Default)]
struct Server {
    peers: HashMap<PeerId, PeerSender<Down>>,
}

impl Actor for Server {
    type Context = Context<Self>;
}

impl Handler<PeerConnected<Down>> for Server {
    type Result = ();
    fn handle(&mut self, m: PeerConnected<Down>, _: &mut Context<Self>) {
        assert_eq!((m.info.role, m.info.id.as_str()), (Role::Agent, "agent-1"));
        m.sender.send(Down::Text("welcome".into())).unwrap();
        self.peers.insert(m.peer, m.sender);
    }
}

impl Handler<Inbound<Up>> for Server {
    type Result = ();
    fn handle(&mut self, m: Inbound<Up>, _: &mut Context<Self>) {
        let reply = match m.msg {
            Up::Ping(n) => Down::Pong(n),
            Up::Text(t) => Down::Text(t.to_uppercase()),
        };
        self.peers[&m.peer].send(reply).unwrap();
    }
}

impl Handler<PeerDisconnected> for Server {
    type Result = ();
    fn handle(&mut self, m: PeerDisconnected, _: &mut Context<Self>) {
        self.peers.remove(&m.peer);
    }
}

struct Client {
    link: Link<Up>,
    pings: u64,
    got: Vec<Down>,
    up: Option<LinkUp>,
    done: Option<oneshot::Sender<(LinkUp, Vec<Down>)>>,
}

impl Actor for Client {
    type Context = Context<Self>;
}

impl Handler<LinkUp> for Client {
    type Result = ();
    fn handle(&mut self, m: LinkUp, _: &mut Context<Self>) {
        for i in 0..self.pings {
            self.link.send(Up::Ping(i)).unwrap();
        }
        self.link.send(Up::Text("bye".into())).unwrap();
        self.up = Some(m);
    }
}

impl Handler<Inbound<Down>> for Client {
    type Result = ();
    fn handle(&mut self, m: Inbound<Down>, _: &mut Context<Self>) {
        self.got.push(m.msg);
        if self.got.len() as u64 == self.pings + 2 {
            if let (Some(done), Some(up)) = (self.done.take(), self.up.clone()) {
                let _ = done.send((up, std::mem::take(&mut self.got)));
            }
        }
    }
}

impl Handler<LinkDown> for Client {
    type Result = ();
    fn handle(&mut self, m: LinkDown, _: &mut Context<Self>) {
        panic!("unexpected link down: {}", m.reason);
    }
}

#[actix_rt::test]
async fn actors_exchange_typed_messages_both_ways() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let agent = node(&ca, Role::Agent, "agent-1");
    master
        .serve::<Up, Down, _>(&[Role::Agent], Server::default().start())
        .unwrap();

    let (tx, rx) = oneshot::channel();
    let addr = master.local_addr();
    let _client = Client::create(|ctx| Client {
        link: agent.connect::<Up, Down, _>(addr, Role::Master, ctx.address()),
        pings: 2000,
        got: Vec::new(),
        up: None,
        done: Some(tx),
    });
    let (up, got) = tokio::time::timeout(WAIT, rx)
        .await
        .expect("timed out")
        .unwrap();
    assert_eq!(
        (
            up.info.role,
            up.info.id.as_str(),
            up.info.cert_name.as_str()
        ),
        (Role::Master, "master-1", "master-1")
    );
    assert_eq!(up.info.addr, addr);
    let mut want = vec![Down::Text("welcome".into())];
    want.extend((0..2000).map(Down::Pong));
    want.push(Down::Text("BYE".into()));
    assert_eq!(got, want, "every message arrives, in order");
}

#[tokio::test]
async fn channel_api_reports_peers_and_server_close_makes_link_reconnect() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let sched = node(&ca, Role::Scheduler, "fw-1");
    let mut server = master
        .serve_channel::<Up, Down>(&[Role::Scheduler])
        .unwrap();
    let (link, mut events) = sched.connect_channel::<Up, Down>(master.local_addr(), Role::Master);

    let ServerEvent::Connected(c) = next(&mut server, "PeerConnected").await else {
        panic!("expected Connected")
    };
    assert_eq!(
        (c.info.role, c.info.cert_name.as_str()),
        (Role::Scheduler, "fw-1")
    );
    let LinkEvent::Up(up) = next(&mut events, "LinkUp").await else {
        panic!("expected Up")
    };
    assert!(link.is_up());

    link.send(Up::Ping(7)).unwrap();
    let ServerEvent::Message(m) = next(&mut server, "ping").await else {
        panic!("expected Message")
    };
    assert_eq!((m.peer, m.msg), (c.peer, Up::Ping(7)));
    c.sender.send(Down::Pong(7)).unwrap();
    let LinkEvent::Message(m) = next(&mut events, "pong").await else {
        panic!("expected Message")
    };
    assert_eq!((m.peer, m.msg), (up.peer, Down::Pong(7)));

    // The server closes this peer: the link goes down, then reconnects by itself.
    c.sender.close();
    let ServerEvent::Disconnected(d) = next(&mut server, "PeerDisconnected").await else {
        panic!()
    };
    assert_eq!((d.peer, d.reason.as_str()), (c.peer, "closed locally"));
    let LinkEvent::Down(down) = next(&mut events, "LinkDown").await else {
        panic!("expected Down")
    };
    assert_eq!(down.peer, up.peer);
    assert!(
        c.sender.send(Down::Pong(8)).is_err(),
        "sender of a closed connection fails"
    );
    let LinkEvent::Up(up2) = next(&mut events, "second LinkUp").await else {
        panic!("expected Up")
    };
    assert_ne!(up2.peer, up.peer, "a new connection gets a new PeerId");
    let ServerEvent::Connected(c2) = next(&mut server, "second PeerConnected").await else {
        panic!()
    };
    assert_ne!(c2.peer, c.peer);
}

#[tokio::test]
async fn link_close_flushes_queued_messages_then_disconnects() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let agent = node(&ca, Role::Agent, "agent-1");
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    let (link, mut events) = agent.connect_channel::<Up, Down>(master.local_addr(), Role::Master);
    assert!(matches!(
        next(&mut events, "LinkUp").await,
        LinkEvent::Up(_)
    ));
    for i in 0..500 {
        link.send(Up::Ping(i)).unwrap();
    }
    link.close();
    assert!(matches!(
        next(&mut server, "Connected").await,
        ServerEvent::Connected(_)
    ));
    for i in 0..500 {
        match next(&mut server, "ping").await {
            ServerEvent::Message(m) => assert_eq!(m.msg, Up::Ping(i)),
            other => panic!("expected ping {i}, got {other:?}"),
        }
    }
    let ServerEvent::Disconnected(d) = next(&mut server, "Disconnected").await else {
        panic!()
    };
    assert_eq!(d.reason, "closed by peer");
    let LinkEvent::Down(down) = next(&mut events, "LinkDown").await else {
        panic!()
    };
    assert_eq!(down.reason, "closed locally");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(link.is_closed() && link.send(Up::Ping(0)).is_err());
    quiet(&mut server, Duration::from_millis(500)).await; // no reconnect after close
}

#[tokio::test]
async fn connect_any_moves_past_dead_addresses() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-2");
    let agent = node(&ca, Role::Agent, "agent-1");
    let _server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    let dead = std::net::UdpSocket::bind(localhost())
        .unwrap()
        .local_addr()
        .unwrap();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let _link = agent.connect_any::<Up, Down, _>(
        vec![dead, master.local_addr()],
        Role::Master,
        LinkOptions::default(),
        tx,
    );
    let LinkEvent::Up(up) = next(&mut events, "LinkUp").await else {
        panic!()
    };
    assert_eq!(
        (up.info.addr, up.info.id.as_str()),
        (master.local_addr(), "master-2")
    );
}

#[tokio::test]
async fn each_role_is_served_once() {
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let _a = master
        .serve_channel::<Up, Down>(&[Role::Agent, Role::Scheduler])
        .unwrap();
    let again = master.serve_channel::<Up, Down>(&[Role::Scheduler]);
    assert!(matches!(
        again,
        Err(TransportError::AlreadyServed(Role::Scheduler))
    ));
    assert!(matches!(
        master.serve_channel::<Up, Down>(&[]),
        Err(TransportError::NoRoles)
    ));
}
