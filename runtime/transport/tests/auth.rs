//! Who may connect: only certificates from the cluster CA, only roles the endpoint
//! serves, only servers of the expected role, only peers speaking our protocol version
//! whose handshake agrees with their certificate. A good peer still works afterwards.

mod common;

use std::time::Duration;

use common::*;
use drover_proto::codec::{Hello, HelloReply, Role, PROTOCOL_VERSION};
use drover_transport::{ClusterCa, Node, NodeIdentity};
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair, SanType};
use rustls_pki_types::PrivateKeyDer;

/// TLS fails, either while connecting or right after (TLS 1.3 clients finish first).
async fn assert_tls_refused(raw: &RawClient, addr: std::net::SocketAddr, role: Role) {
    let err = match raw.connect(addr, role).await {
        Err(e) => e,
        Ok(conn) => tokio::time::timeout(WAIT, conn.closed())
            .await
            .expect("connection stayed open"),
    };
    assert!(
        matches!(
            err,
            quinn::ConnectionError::TransportError(_) | quinn::ConnectionError::ConnectionClosed(_)
        ),
        "expected a TLS failure, got {err}"
    );
}

fn self_signed_agent(ca: &ClusterCa) -> NodeIdentity {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["agent.drover".to_owned()]).unwrap();
    p.subject_alt_names.push(SanType::URI(
        "drover://role/agent/rogue".try_into().unwrap(),
    ));
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = p.self_signed(&key).unwrap();
    // It trusts the real cluster CA, so it would accept the server; the server must not accept it.
    NodeIdentity::from_der(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        ca.cert_der().clone(),
    )
    .unwrap()
}

#[tokio::test]
async fn untrusted_clients_are_refused_during_tls() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();

    // A self-signed certificate, and one from another CA, both claiming the agent role.
    let rogue = self_signed_agent(&ca);
    let foreign_ca = ClusterCa::generate().unwrap();
    let foreign = foreign_ca.issue(Role::Agent, "foreign").unwrap();
    let foreign = NodeIdentity::from_der(
        foreign.cert_chain().to_vec(),
        foreign.key().clone_key(),
        ca.cert_der().clone(),
    )
    .unwrap();
    for id in [rogue, foreign] {
        assert_tls_refused(&RawClient::new(&id), master.local_addr(), Role::Master).await;
        let mut cfg = config(&ca, Role::Agent, "unused");
        cfg.identity = id;
        let client = Node::new(cfg).unwrap();
        let (_link, mut events) =
            client.connect_channel::<Up, Down>(master.local_addr(), Role::Master);
        quiet(&mut events, Duration::from_millis(1500)).await;
    }
    quiet(&mut server, Duration::from_millis(100)).await;
    good_agent_still_works(&ca, &master, &mut server).await;
}

#[tokio::test]
async fn a_client_role_not_served_is_refused_during_tls() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    let executor = ca.issue(Role::Executor, "exec-1").unwrap();
    assert_tls_refused(
        &RawClient::new(&executor),
        master.local_addr(),
        Role::Master,
    )
    .await;
    let exec_node = node(&ca, Role::Executor, "exec-2");
    let (_link, mut events) =
        exec_node.connect_channel::<Up, Down>(master.local_addr(), Role::Master);
    quiet(&mut events, Duration::from_millis(1500)).await;
    quiet(&mut server, Duration::from_millis(100)).await;
    good_agent_still_works(&ca, &master, &mut server).await;
}

#[tokio::test]
async fn a_server_of_another_role_is_refused_by_the_client() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    // An agent pretending to be where the master should be.
    let impostor = node(&ca, Role::Agent, "agent-9");
    let mut server = impostor
        .serve_channel::<Up, Down>(&[Role::Scheduler])
        .unwrap();
    let raw = RawClient::new(&ca.issue(Role::Scheduler, "fw-raw").unwrap());
    let err = raw
        .connect(impostor.local_addr(), Role::Master)
        .await
        .expect_err("name check must fail");
    assert!(err.to_string().contains("certificate"), "{err}");
    let sched = node(&ca, Role::Scheduler, "fw-1");
    let (_link, mut events) =
        sched.connect_channel::<Up, Down>(impostor.local_addr(), Role::Master);
    quiet(&mut events, Duration::from_millis(1500)).await;
    quiet(&mut server, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn version_mismatch_is_refused_naming_both_versions() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    let raw = RawClient::new(&ca.issue(Role::Agent, "old-agent").unwrap());
    let conn = raw
        .connect(master.local_addr(), Role::Master)
        .await
        .unwrap();
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION + 1,
        role: Role::Agent,
        id: "old-agent".into(),
    };
    let (_s, _r, reply) = raw_hello(&conn, &hello).await;
    let want = format!(
        "protocol version mismatch: peer speaks {}, this node speaks {PROTOCOL_VERSION}",
        PROTOCOL_VERSION + 1
    );
    assert_eq!(
        reply,
        HelloReply::Refused {
            reason: want.clone()
        }
    );
    assert_eq!(close_reason(&conn).await, (2, want));
    quiet(&mut server, Duration::from_millis(100)).await;
    good_agent_still_works(&ca, &master, &mut server).await;
}

#[tokio::test]
async fn hello_must_agree_with_the_certificate_role() {
    init_tracing();
    let ca = ClusterCa::generate().unwrap();
    let master = node(&ca, Role::Master, "master-1");
    let mut server = master.serve_channel::<Up, Down>(&[Role::Agent]).unwrap();
    let raw = RawClient::new(&ca.issue(Role::Agent, "liar").unwrap());
    let conn = raw
        .connect(master.local_addr(), Role::Master)
        .await
        .unwrap();
    let (_s, _r, reply) = raw_hello(&conn, &Hello::new(Role::Master, "liar")).await;
    let HelloReply::Refused { reason } = reply else {
        panic!("expected refusal, got {reply:?}")
    };
    assert_eq!(
        reason,
        "hello claims role master but the certificate says agent"
    );
    quiet(&mut server, Duration::from_millis(100)).await;
    good_agent_still_works(&ca, &master, &mut server).await;
}
