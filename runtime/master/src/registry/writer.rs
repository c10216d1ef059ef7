//! The registry writer: a dedicated thread that owns the [`RegistryStore`] and appends
//! the ops the master core emits, in the order they were sent, batching whatever has
//! queued up into one transaction. The actor only pushes onto a channel, so a slow
//! fsync never blocks the master's decisions.

use super::{RegistryOp, RegistryStore, StoreError};
use std::sync::mpsc;
use std::thread::JoinHandle;

enum Msg {
    Op(RegistryOp),
    Sync(mpsc::Sender<()>),
    Stop,
}

/// Most ops written in one transaction.
const MAX_BATCH: usize = 512;

/// Handle to the writer thread. Dropping it writes what is queued and stops the thread.
#[derive(Debug)]
pub struct RegistryWriter {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl RegistryWriter {
    /// Starts the writer thread with `store`.
    pub fn spawn(store: RegistryStore) -> std::io::Result<Self> {
        Self::spawn_with_ack(store, |_| {})
    }

    /// Starts the writer thread; after each transaction it calls `ack(n)`: the first `n`
    /// ops persisted through this writer are on disk. A failure is logged and stops the
    /// writer.
    pub fn spawn_with_ack(
        store: RegistryStore,
        ack: impl Fn(u64) + Send + 'static,
    ) -> std::io::Result<Self> {
        Self::spawn_reporting(store, ack, |_| {})
    }

    /// Like [`spawn_with_ack`](Self::spawn_with_ack), and calls `failed` with the error
    /// of the write that stopped the writer.
    pub fn spawn_reporting(
        store: impl RegistryLog,
        ack: impl Fn(u64) + Send + 'static,
        failed: impl FnOnce(StoreError) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("registry-writer".into())
            .spawn(move || run(store, rx, ack, failed))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `op` for writing (after every op queued before it).
    pub fn persist(&self, op: RegistryOp) {
        if let Some(tx) = &self.tx {
            if tx.send(Msg::Op(op)).is_err() {
                tracing::error!(
                    "registry writer is gone (a write failed): registry change not persisted"
                );
            }
        }
    }

    /// Blocks until every op queued before has been written (or failed). Returns false
    /// if the writer thread is gone. Not for the actor thread: tests and shutdown.
    pub fn sync(&self) -> bool {
        self.flusher().is_some_and(|f| f.sync())
    }

    /// A handle that can wait for the queue to be written from elsewhere (e.g. a
    /// blocking task at shutdown, while the actor keeps the writer).
    pub fn flusher(&self) -> Option<RegistryFlusher> {
        self.tx.clone().map(|tx| RegistryFlusher { tx })
    }
}

/// Waits for a [`RegistryWriter`]'s queue to be written; does not keep the writer alive.
#[derive(Debug, Clone)]
pub struct RegistryFlusher {
    tx: mpsc::Sender<Msg>,
}

impl RegistryFlusher {
    /// Blocks until every op queued before has been written (or failed). Returns false
    /// if the writer has stopped.
    pub fn sync(&self) -> bool {
        let (done, wait) = mpsc::channel();
        self.tx.send(Msg::Sync(done)).is_ok() && wait.recv().is_ok()
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Op(op) => write!(f, "Op({op:?})"),
            Msg::Sync(_) => f.write_str("Sync"),
            Msg::Stop => f.write_str("Stop"),
        }
    }
}

impl Drop for RegistryWriter {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Stop);
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("registry writer thread panicked");
            }
        }
    }
}

/// Where the writer appends: the redb [`RegistryStore`], or a test's stand-in.
pub trait RegistryLog: Send + 'static {
    /// Appends `ops` durably, in order, in one transaction.
    fn append(&mut self, ops: &[RegistryOp]) -> Result<(), StoreError>;
}

impl RegistryLog for RegistryStore {
    fn append(&mut self, ops: &[RegistryOp]) -> Result<(), StoreError> {
        RegistryStore::append(self, ops)
    }
}

fn run(
    mut store: impl RegistryLog,
    rx: mpsc::Receiver<Msg>,
    ack: impl Fn(u64),
    failed: impl FnOnce(StoreError),
) {
    let mut written = 0u64;
    let mut batch = Vec::new();
    let mut waiting = Vec::new();
    let mut stop = false;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Op(op) => batch.push(op),
                Msg::Sync(done) => waiting.push(done),
                Msg::Stop => stop = true,
            }
            if stop {
                break;
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        // A sync with nothing queued before it writes nothing: an empty transaction
        // would cost an fsync (and, on a failing disk, report a failure for no change).
        if !batch.is_empty() {
            if let Err(e) = store.append(&batch) {
                tracing::error!(error = %e, ops = batch.len(), "REGISTRY WRITE FAILED: these changes are not durable; the master must stop");
                failed(e);
                return; // waiting syncs see the writer gone
            }
            written += batch.len() as u64;
            ack(written);
        }
        batch.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if stop {
            return;
        }
    }
}
