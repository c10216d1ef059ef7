//! Fault hooks at run time: partition and heal, drop probability, added delay, matched
//! by peer id or address, on the node that holds the rules.

mod common;

use std::time::{Duration, Instant};

use common::*;
use drover_proto::codec::Role;
use drover_transport::{ClusterCa, Faults, Link, LinkEvent, Node, PeerSender, ServerEvent};
use tokio::sync::mpsc::UnboundedReceiver;

struct Pair {
    master: Node,
    agent: Node,
    link: Link<Up>,
    events: UnboundedReceiver<LinkEvent<Down>>,
    server: UnboundedReceiver<ServerEvent<Up, Down>>,
    to_agent: PeerSender<Down>,
}

async fn pair(faults: Faults) -> Pair {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let mut cfg = config(&ca, Role::Master, "master-1");
    cfg.faults = faults.clone();
    let master = Node::new(cfg).unwrap();
    let mut cfg = config(&ca, Role::Agent, "agent-1");
    cfg.faults = faults;
    let agent = Node::new(cfg).unwrap();
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    let (link, mut events) = agent.connect_channel::<Up, Down>(master.local_addr(), Role::Master);
    assert!(matches!(
        next(&mut events, "LinkUp").await,
        LinkEvent::Up(_)
    ));
    let ServerEvent::Connected(c) = next(&mut server, "Connected").await else {
        panic!()
    };
    Pair {
        master,
        agent,
        link,
        events,
        server,
        to_agent: c.sender,
    }
}

impl Pair {
    async fn ping_arrives(&mut self, n: u64) {
        self.link.send(Up::Ping(n)).unwrap();
        match next(&mut self.server, "ping").await {
            ServerEvent::Message(m) => assert_eq!(m.msg, Up::Ping(n)),
            other => panic!("expected ping {n}, got {other:?}"),
        }
    }

    async fn pong_arrives(&mut self, n: u64) {
        self.to_agent.send(Down::Pong(n)).unwrap();
        match next(&mut self.events, "pong").await {
            LinkEvent::Message(m) => assert_eq!(m.msg, Down::Pong(n)),
            other => panic!("expected pong {n}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn partition_drops_both_ways_until_healed() {
    let mut p = pair(Faults::seeded(1)).await;
    p.master.faults().partition("agent-1");
    p.link.send(Up::Ping(1)).unwrap();
    p.to_agent.send(Down::Pong(1)).unwrap();
    quiet(&mut p.server, Duration::from_millis(500)).await;
    quiet(&mut p.events, Duration::from_millis(100)).await;
    assert!(p.link.is_up(), "a partition is silence, not a disconnect");
    p.master.faults().heal("agent-1");
    p.ping_arrives(2).await; // 1 was lost, not delayed
    p.pong_arrives(2).await;
}

#[tokio::test]
async fn drop_probability_applies_and_can_be_switched_off() {
    let mut p = pair(Faults::seeded(7)).await;
    let faults = p.agent.faults().clone();
    faults.set_drop("master-1", 1.0);
    p.link.send(Up::Ping(0)).unwrap();
    quiet(&mut p.server, Duration::from_millis(300)).await;

    faults.set_drop("master-1", 0.5);
    for i in 0..2000 {
        p.link.send(Up::Ping(i)).unwrap();
    }
    // Drops are decided when the writer takes a message: count what arrives until the
    // link goes quiet, then lift the rule.
    let mut delivered = 0;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), p.server.recv()).await
    {
        assert!(matches!(ev, ServerEvent::Message(_)), "unexpected {ev:?}");
        delivered += 1;
    }
    faults.set_drop("master-1", 0.0);
    assert!(
        (600..1400).contains(&delivered),
        "{delivered} of 2000 delivered at p=0.5"
    );
    p.ping_arrives(1).await;
}

#[tokio::test]
async fn delay_by_address_adds_latency_and_clear_removes_it() {
    let mut p = pair(Faults::seeded(3)).await;
    let master_addr = p.master.local_addr();
    p.agent
        .faults()
        .set_delay(master_addr, Duration::from_millis(300));
    let t = Instant::now();
    p.ping_arrives(1).await;
    p.pong_arrives(1).await;
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "send and receive delayed: {:?}",
        t.elapsed()
    );
    p.agent.faults().clear();
    let t = Instant::now();
    p.ping_arrives(2).await;
    p.pong_arrives(2).await;
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}
