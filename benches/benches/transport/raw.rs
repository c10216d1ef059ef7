//! Raw quinn baseline of the transport benchmark: the same TLS configs, one stream, raw
//! bytes of the frame size, no actors and no codec; all tasks on one tokio runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_proto::codec::Role;
use drover_transport::tls::{self, AllowedRoles};
use tokio::sync::oneshot;

use crate::{Ids, Rtt, Scale};

async fn raw_pair(ids: &Ids) -> (quinn::Endpoint, quinn::Endpoint, quinn::ClientConfig) {
    let transport = Arc::new(
        tls::transport_config(Duration::from_secs(1), Duration::from_secs(5)).expect("transport"),
    );
    let allowed = Arc::new(AllowedRoles::new(&[Role::Agent]));
    let server_cfg = tls::server_config(&ids.master, allowed, transport.clone()).expect("server");
    let server = quinn::Endpoint::server(server_cfg, "127.0.0.1:0".parse().expect("addr"))
        .expect("server endpoint");
    let client =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("client endpoint");
    let client_cfg = tls::client_config(&ids.agent, transport).expect("client");
    (server, client, client_cfg)
}

/// Raw round trips (`messages == 0`) or raw one-way throughput of `messages` messages,
/// `per_write` of them per `write_all`.
pub(crate) fn raw_run(
    ids: &Ids,
    scale: &Scale,
    workers: usize,
    size: usize,
    messages: u64,
    per_write: usize,
) -> (Option<Rtt>, f64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (server, client, client_cfg) = raw_pair(ids).await;
        let addr = server.local_addr().expect("addr");
        let (done_tx, done_rx) = oneshot::channel();
        tokio::spawn(async move {
            let conn = server
                .accept()
                .await
                .expect("incoming")
                .await
                .expect("conn");
            let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
            if messages == 0 {
                let mut buf = vec![0u8; size];
                while recv.read_exact(&mut buf).await.is_ok() {
                    if send.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            } else {
                let (mut got, want) = (0u64, messages * size as u64);
                while got < want {
                    match recv.read_chunk(usize::MAX, true).await {
                        Ok(Some(c)) => got += c.bytes.len() as u64,
                        _ => break,
                    }
                }
                let _ = done_tx.send(Instant::now());
            }
            conn.closed().await;
        });
        let conn = client
            .connect_with(client_cfg, addr, "master.drover")
            .expect("connect")
            .await
            .expect("tls");
        let (mut send, mut recv) = conn.open_bi().await.expect("stream");
        let out = if messages == 0 {
            let payload = vec![7u8; size];
            let mut buf = vec![0u8; size];
            let mut samples = Vec::with_capacity(scale.rtt_samples);
            for i in 0..scale.rtt_warmup + scale.rtt_samples {
                let t = Instant::now();
                send.write_all(&payload).await.expect("write");
                recv.read_exact(&mut buf).await.expect("read");
                if i >= scale.rtt_warmup {
                    samples.push(t.elapsed());
                }
            }
            (Some(Rtt::of(samples)), 0.0)
        } else {
            let payload = vec![7u8; size * per_write];
            let start = Instant::now();
            for _ in 0..messages / per_write as u64 {
                send.write_all(&payload).await.expect("write");
            }
            let end = done_rx.await.expect("server count");
            (None, messages as f64 / (end - start).as_secs_f64())
        };
        conn.close(0u32.into(), b"done");
        client.wait_idle().await;
        out
    })
}
