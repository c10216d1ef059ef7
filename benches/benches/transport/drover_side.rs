//! Drover side of the transport benchmark: an echo/count actor served by one node and a
//! client actor on a link from another node, both on the actix system thread, both
//! nodes on one shared transport runtime.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix::prelude::*;
use drover_proto::codec::Role;
use drover_transport::{
    Inbound, Link, LinkDown, LinkUp, Node, NodeConfig, NodeIdentity, PeerConnected,
    PeerDisconnected, PeerId, PeerSender, TransportRuntime,
};
use tokio::sync::oneshot;

use crate::{msg, Ids, Msg, Rtt, Scale};

#[derive(Default)]
struct Echo {
    peers: HashMap<PeerId, PeerSender<Msg>>,
    count: u64,
    target: u64,
    done: Option<oneshot::Sender<Instant>>,
}

impl Actor for Echo {
    type Context = Context<Self>;
}

impl Handler<PeerConnected<Msg>> for Echo {
    type Result = ();
    fn handle(&mut self, m: PeerConnected<Msg>, _: &mut Context<Self>) {
        self.peers.insert(m.peer, m.sender);
    }
}

impl Handler<PeerDisconnected> for Echo {
    type Result = ();
    fn handle(&mut self, m: PeerDisconnected, _: &mut Context<Self>) {
        self.peers.remove(&m.peer);
    }
}

impl Handler<Inbound<Msg>> for Echo {
    type Result = ();
    fn handle(&mut self, m: Inbound<Msg>, _: &mut Context<Self>) {
        if self.target == 0 {
            if let Some(p) = self.peers.get(&m.peer) {
                let _ = p.send(m.msg); // echo mode
            }
            return;
        }
        self.count += 1; // sink mode
        if self.count == self.target {
            if let Some(done) = self.done.take() {
                let _ = done.send(Instant::now());
            }
        }
    }
}

struct Client {
    link: Link<Msg>,
    warmup: usize,
    samples: Vec<Duration>,
    want: usize,
    sent_at: Instant,
    seq: u64,
    blast: u64,
    started: Option<oneshot::Sender<Instant>>,
    rtt_done: Option<oneshot::Sender<Vec<Duration>>>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Burst;

/// Messages sent per actor turn in the one-way test.
pub(crate) const BURST: u64 = 1000;

impl Actor for Client {
    type Context = Context<Self>;
}

impl Client {
    fn ping(&mut self) {
        self.seq += 1;
        self.sent_at = Instant::now();
        let _ = self.link.send(msg(self.seq));
    }
}

impl Handler<LinkUp> for Client {
    type Result = ();
    fn handle(&mut self, _: LinkUp, ctx: &mut Context<Self>) {
        if let Some(s) = self.started.take() {
            let _ = s.send(Instant::now());
        }
        if self.blast > 0 {
            ctx.notify(Burst);
        } else {
            self.ping();
        }
    }
}

impl Handler<Burst> for Client {
    type Result = ();
    fn handle(&mut self, _: Burst, ctx: &mut Context<Self>) {
        for _ in 0..BURST.min(self.blast) {
            self.seq += 1;
            let _ = self.link.send(msg(self.seq));
        }
        self.blast = self.blast.saturating_sub(BURST);
        if self.blast > 0 {
            ctx.notify(Burst);
        }
    }
}

impl Handler<Inbound<Msg>> for Client {
    type Result = ();
    fn handle(&mut self, _: Inbound<Msg>, _: &mut Context<Self>) {
        let rtt = self.sent_at.elapsed();
        if self.warmup > 0 {
            self.warmup -= 1;
        } else {
            self.samples.push(rtt);
        }
        if self.samples.len() < self.want {
            self.ping();
        } else if let Some(done) = self.rtt_done.take() {
            let _ = done.send(std::mem::take(&mut self.samples));
        }
    }
}

impl Handler<LinkDown> for Client {
    type Result = ();
    fn handle(&mut self, m: LinkDown, _: &mut Context<Self>) {
        eprintln!("bench link down: {}", m.reason);
    }
}

fn drover_node(id: &NodeIdentity, rt: &TransportRuntime) -> Node {
    let mut cfg = NodeConfig::new(id.clone(), "127.0.0.1:0".parse().expect("literal address"));
    cfg.runtime = Some(rt.clone());
    Node::new(cfg).expect("transport node")
}

/// Runs one Drover measurement: `blast == 0` measures round trips, otherwise one-way
/// throughput of `blast` messages. Both actors on the actix system thread.
pub(crate) fn drover_run(
    ids: &Ids,
    scale: &Scale,
    workers: usize,
    blast: u64,
) -> (Option<Rtt>, f64) {
    let rt = TransportRuntime::new(workers).expect("runtime");
    let master = drover_node(&ids.master, &rt);
    let agent = drover_node(&ids.agent, &rt);
    let sys = System::new();
    let result = sys.block_on(async {
        let (done_tx, done_rx) = oneshot::channel();
        let echo = Echo {
            target: blast,
            done: Some(done_tx),
            ..Echo::default()
        }
        .start();
        master
            .serve::<Msg, Msg, _>(&[Role::Agent], echo)
            .expect("serve");
        let (started_tx, started_rx) = oneshot::channel();
        let (rtt_tx, rtt_rx) = oneshot::channel();
        let addr: SocketAddr = master.local_addr();
        let _client = Client::create(|ctx| Client {
            link: agent.connect::<Msg, Msg, _>(addr, Role::Master, ctx.address()),
            warmup: scale.rtt_warmup,
            samples: Vec::with_capacity(scale.rtt_samples),
            want: scale.rtt_samples,
            sent_at: Instant::now(),
            seq: 0,
            blast,
            started: Some(started_tx),
            rtt_done: Some(rtt_tx),
        });
        let start = started_rx.await.expect("link up");
        let out = if blast == 0 {
            (Some(Rtt::of(rtt_rx.await.expect("round trips"))), 0.0)
        } else {
            let end = done_rx.await.expect("all messages");
            (None, blast as f64 / (end - start).as_secs_f64())
        };
        out
    });
    drop((master, agent));
    result
}
