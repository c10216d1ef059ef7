//! Registry tests: the state machine (replay is deterministic, a snapshot plus the rest
//! of the log equals the whole log) and the redb store (reopen gives the same state,
//! compaction keeps it, a damaged file is a clear error).

use super::*;
use drover_proto::{AgentInfo, FrameworkInfo};
use proptest::prelude::*;
use std::time::Duration;

fn agent(n: u8) -> AgentInfo {
    AgentInfo {
        id: Some(AgentId::new(format!("S{n}"))),
        hostname: format!("host{n}"),
        http_port: 5051,
        resources: "cpus:2;mem:1024".parse().unwrap_or_default(),
        attributes: vec![],
        containerizers: vec!["posix".into()],
    }
}

fn framework(n: u8, failover: u64) -> FrameworkInfo {
    let mut f = FrameworkInfo::new(format!("fw{n}"), "root");
    f.id = Some(FrameworkId::new(format!("F{n}")));
    f.failover_timeout = Duration::from_secs(failover);
    f
}

fn op_strategy() -> impl Strategy<Value = RegistryOp> {
    let n = 0u8..4;
    prop_oneof![
        n.clone()
            .prop_map(|n| RegistryOp::AdmitAgent { info: agent(n) }),
        (n.clone(), 0u32..1000).prop_map(|(n, t)| RegistryOp::MarkUnreachable {
            id: AgentId::new(format!("S{n}")),
            at_unix: f64::from(t),
        }),
        n.clone().prop_map(|n| RegistryOp::MarkReachable {
            id: AgentId::new(format!("S{n}"))
        }),
        n.clone().prop_map(|n| RegistryOp::RemoveAgent {
            id: AgentId::new(format!("S{n}"))
        }),
        (n.clone(), 0u64..100).prop_map(|(n, f)| RegistryOp::AddFramework {
            info: framework(n, f)
        }),
        (n.clone(), 0u64..100).prop_map(|(n, f)| RegistryOp::UpdateFramework {
            info: framework(n, f)
        }),
        n.clone().prop_map(|n| RegistryOp::RemoveFramework {
            id: FrameworkId::new(format!("F{n}"))
        }),
        (n, 1u32..5).prop_map(|(n, w)| RegistryOp::SetWeight {
            role: format!("r{n}"),
            weight: f64::from(w),
        }),
    ]
}

proptest! {
    #[test]
    fn replay_is_deterministic_and_snapshots_compose(
        ops in proptest::collection::vec(op_strategy(), 0..60),
        cut in 0usize..60,
    ) {
        let a = Registry::replay(&ops);
        prop_assert_eq!(&a, &Registry::replay(&ops));
        // A snapshot (serialized and read back) plus the rest of the log: same state.
        let cut = cut.min(ops.len());
        let snap = Registry::replay(&ops[..cut]);
        let json = serde_json::to_vec(&snap).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut b: Registry = serde_json::from_slice(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for op in &ops[cut..] {
            b.apply(op.clone());
        }
        prop_assert_eq!(&a, &b);
        // Removed ids never come back, whatever follows.
        for id in &a.removed_agents {
            prop_assert!(!a.agents.contains_key(id));
        }
        for id in &a.removed_frameworks {
            prop_assert!(!a.frameworks.contains_key(id));
        }
    }
}

#[test]
fn state_machine_rules() {
    let mut r = Registry::new();
    r.apply(RegistryOp::AdmitAgent { info: agent(1) });
    let s1 = AgentId::new("S1");
    r.apply(RegistryOp::MarkUnreachable {
        id: s1.clone(),
        at_unix: 5.0,
    });
    // A second MarkUnreachable keeps the first time (the removal timer does not restart).
    r.apply(RegistryOp::MarkUnreachable {
        id: s1.clone(),
        at_unix: 9.0,
    });
    assert_eq!(r.agents[&s1].unreachable_since, Some(5.0));
    r.apply(RegistryOp::MarkReachable { id: s1.clone() });
    assert_eq!(r.agents[&s1].unreachable_since, None);
    r.apply(RegistryOp::RemoveAgent { id: s1.clone() });
    r.apply(RegistryOp::AdmitAgent { info: agent(1) });
    assert!(r.agents.is_empty(), "a removed agent is never re-admitted");
    r.apply(RegistryOp::AddFramework {
        info: framework(1, 5),
    });
    r.apply(RegistryOp::UpdateFramework {
        info: framework(1, 50),
    });
    let f1 = FrameworkId::new("F1");
    assert_eq!(r.frameworks[&f1].failover_timeout, Duration::from_secs(50));
    r.apply(RegistryOp::RemoveFramework { id: f1.clone() });
    r.apply(RegistryOp::AddFramework {
        info: framework(1, 5),
    });
    assert!(r.frameworks.is_empty());
    r.apply(RegistryOp::SetWeight {
        role: "a".into(),
        weight: -1.0,
    });
    assert!(r.weights.is_empty());
}

fn ops(n: usize) -> Vec<RegistryOp> {
    (0..n)
        .map(|i| match i % 4 {
            0 => RegistryOp::AdmitAgent {
                info: agent((i % 7) as u8),
            },
            1 => RegistryOp::AddFramework {
                info: framework((i % 5) as u8, i as u64),
            },
            2 => RegistryOp::MarkUnreachable {
                id: AgentId::new(format!("S{}", i % 7)),
                at_unix: i as f64,
            },
            _ => RegistryOp::MarkReachable {
                id: AgentId::new(format!("S{}", i % 7)),
            },
        })
        .collect()
}

#[test]
fn store_reopens_with_the_same_state() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Corrupt {
        path: "tempdir".into(),
        what: e.to_string(),
    })?;
    let path = dir.path().join(REGISTRY_FILE);
    let all = ops(10);
    {
        let (mut store, r) = RegistryStore::open(&path)?;
        assert_eq!(r, Registry::new());
        store.append(&all[..4])?;
        store.append(&all[4..])?;
        assert_eq!(store.registry(), &Registry::replay(&all));
    }
    let (store, r) = RegistryStore::open(&path)?;
    assert_eq!(r, Registry::replay(&all));
    assert_eq!(store.log_len(), 10);
    Ok(())
}

#[test]
fn store_compacts_and_keeps_the_state() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Corrupt {
        path: "tempdir".into(),
        what: e.to_string(),
    })?;
    let path = dir.path().join(REGISTRY_FILE);
    let n = COMPACT_EVERY as usize + 37;
    let all = ops(n);
    {
        let (mut store, _) = RegistryStore::open(&path)?;
        for chunk in all.chunks(100) {
            store.append(chunk)?;
        }
        assert!(
            store.log_len() < COMPACT_EVERY,
            "log compacted: {}",
            store.log_len()
        );
    }
    let (mut store, r) = RegistryStore::open(&path)?;
    assert_eq!(r, Registry::replay(&all));
    store.append(&ops(3))?;
    drop(store);
    let mut expected = Registry::replay(&all);
    for op in ops(3) {
        expected.apply(op);
    }
    assert_eq!(RegistryStore::open(&path)?.1, expected);
    Ok(())
}

#[test]
fn writer_thread_persists_in_order() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Corrupt {
        path: "tempdir".into(),
        what: e.to_string(),
    })?;
    let path = dir.path().join(REGISTRY_FILE);
    let all = ops(300);
    {
        let (store, _) = RegistryStore::open(&path)?;
        let w = RegistryWriter::spawn(store).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            what: e.to_string(),
        })?;
        for op in &all {
            w.persist(op.clone());
        }
        assert!(w.sync());
        // A flusher does not keep the writer alive: dropping the writer stops it.
        let flusher = w.flusher();
        drop(w);
        assert!(flusher.is_some_and(|f| !f.sync()));
    }
    assert_eq!(RegistryStore::open(&path)?.1, Registry::replay(&all));
    Ok(())
}

#[test]
fn damaged_files_are_clear_errors() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no tempdir");
    };
    // Not a redb file at all.
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap_or_else(|e| panic!("{e}"));
    let err = RegistryStore::open(&garbage).map(|_| ()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains("garbage.redb"), "{err}");
    // A valid redb file whose log holds something that is not an op.
    let bad = dir.path().join(REGISTRY_FILE);
    {
        let Ok((mut store, _)) = RegistryStore::open(&bad) else {
            panic!("cannot create the registry");
        };
        store.append(&ops(2)).unwrap_or_else(|e| panic!("{e}"));
    }
    {
        let db = redb::Database::create(&bad).unwrap_or_else(|e| panic!("{e}"));
        let txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        {
            let def: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new("log");
            let mut log = txn.open_table(def).unwrap_or_else(|e| panic!("{e}"));
            log.insert(3, b"{not json".as_slice())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        txn.commit().unwrap_or_else(|e| panic!("{e}"));
    }
    let err = RegistryStore::open(&bad).map(|_| ()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { what, .. } if what.contains("log entry 3")),
        "{err}"
    );
}

#[test]
fn writer_reports_how_many_ops_are_durable() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Corrupt {
        path: "tempdir".into(),
        what: e.to_string(),
    })?;
    let path = dir.path().join(REGISTRY_FILE);
    let (store, _) = RegistryStore::open(&path)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let w = RegistryWriter::spawn_with_ack(store, move |n| {
        let _ = tx.send(n);
    })
    .map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        what: e.to_string(),
    })?;
    for op in ops(25) {
        w.persist(op);
    }
    assert!(w.sync());
    let acks: Vec<u64> = rx.try_iter().collect();
    assert!(acks.windows(2).all(|p| p[0] < p[1]), "{acks:?}");
    assert_eq!(acks.last(), Some(&25));
    Ok(())
}

/// A log whose disk fails after `ok` transactions, as a full or read-only disk would.
struct FailingLog {
    ok: usize,
}

impl RegistryLog for FailingLog {
    fn append(&mut self, _ops: &[RegistryOp]) -> Result<(), StoreError> {
        if self.ok == 0 {
            return Err(StoreError::Corrupt {
                path: "/w/registry.redb".into(),
                what: "No space left on device".into(),
            });
        }
        self.ok -= 1;
        Ok(())
    }
}

#[test]
fn a_failed_write_stops_the_writer_and_is_reported_once() {
    let (ack_tx, acks) = std::sync::mpsc::channel();
    let (fail_tx, failures) = std::sync::mpsc::channel();
    let w = RegistryWriter::spawn_reporting(
        FailingLog { ok: 1 },
        move |n| {
            let _ = ack_tx.send(n);
        },
        move |e| {
            let _ = fail_tx.send(e.to_string());
        },
    )
    .unwrap();
    let mut ops = ops(3).into_iter();
    w.persist(ops.next().unwrap());
    assert!(w.sync(), "the first transaction is durable");
    for op in ops {
        w.persist(op);
    }
    assert!(!w.sync(), "the writer is gone after the failure");
    assert_eq!(
        acks.try_iter().collect::<Vec<_>>(),
        vec![1],
        "nothing after it"
    );
    let failures: Vec<String> = failures.try_iter().collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("/w/registry.redb") && failures[0].contains("No space"),
        "{failures:?}"
    );
}

/// A log that counts its transactions.
struct CountingLog(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl RegistryLog for CountingLog {
    fn append(&mut self, _ops: &[RegistryOp]) -> Result<(), StoreError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_sync_with_nothing_queued_writes_no_transaction() {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let w = RegistryWriter::spawn_reporting(CountingLog(count.clone()), |_| {}, |_| {}).unwrap();
    assert!(w.sync());
    for op in ops(1) {
        w.persist(op);
    }
    for _ in 0..5 {
        assert!(w.sync());
    }
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}
