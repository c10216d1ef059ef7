//! The checkpoint writer: a thread that owns the [`Checkpointer`], so that no file is
//! written on the actor's thread. The actor hands it numbered checkpoints; it writes
//! the newest one queued (older ones are contained in it), then reports the number as
//! durable. The actor holds the commands that followed a durable checkpoint until then,
//! so an update that must be durable is forwarded only once it is on disk, and in order.
//!
//! A *prompt* checkpoint (see `core::checkpoint`) is written like a durable one; only
//! the actor does not hold commands behind it. A *lazy* checkpoint (acknowledgements
//! only, `sync: false`) is not written by itself:
//! nothing waits for it, so it is kept until the next durable one, which contains it
//! (one fsync for both), or written after [`LAZY_FLUSH`] without one. So the journal
//! only ever holds lines that were fsynced (but for a torn last write), and an
//! acknowledgement costs no fsync on the path of the next update.
//!
//! ```text
//!  actor ──Job{seq 7, sync}──▶ channel ─▶ writer: take the newest queued (seq 9),
//!                                         sync if any of them is
//!          sync ─▶ Checkpointer::apply (fsync) ─▶ report(Ok(9))
//!          lazy ─▶ keep it; the next sync job, or LAZY_FLUSH of quiet, writes it
//!  actor ◀── CheckpointDurable(Ok(9)): run the commands held behind seqs ≤ 9
//!  a failed write ─▶ report(Err) and the writer stops: the agent must exit
//! ```

use super::checkpointer::{CheckpointError, Checkpointer};
use crate::core::AgentCheckpoint;
use drover_containerizers::ContainerHandle;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a lazy checkpoint waits for a durable one to carry it before it is written
/// on its own.
pub(crate) const LAZY_FLUSH: Duration = Duration::from_millis(250);

/// One checkpoint to write.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) seq: u64,
    /// Commands wait for it: write and fsync it now (false: acknowledgements only).
    pub(crate) sync: bool,
    pub(crate) agent: AgentCheckpoint,
    pub(crate) containers: Vec<ContainerHandle>,
}

/// Handle to the writer thread; dropping it lets the thread finish what is queued.
#[derive(Debug)]
pub(crate) struct CheckpointWriter {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl CheckpointWriter {
    /// Starts the thread; `report` gets the newest sequence number written, or the
    /// error that stopped the writer.
    pub(crate) fn spawn(
        checkpointer: Checkpointer,
        report: impl Fn(Result<u64, CheckpointError>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("agent-checkpoint".into())
            .spawn(move || run(checkpointer, &rx, report))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a checkpoint; false if the writer has stopped (after a failure).
    pub(crate) fn submit(&self, job: Job) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
    }
}

impl Drop for CheckpointWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the checkpoint writer thread panicked");
            }
        }
    }
}

fn run(
    mut checkpointer: Checkpointer,
    rx: &mpsc::Receiver<Job>,
    report: impl Fn(Result<u64, CheckpointError>),
) {
    // The newest lazy checkpoint not written yet.
    let mut lazy: Option<Job> = None;
    loop {
        let next = if lazy.is_some() {
            rx.recv_timeout(LAZY_FLUSH)
        } else {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        let job = match next {
            Ok(mut job) => {
                while let Ok(newer) = rx.try_recv() {
                    let sync = job.sync || newer.sync;
                    job = newer;
                    job.sync = sync;
                }
                if !job.sync {
                    lazy = Some(job);
                    continue;
                }
                job
            }
            // Quiet for a while, or the agent is stopping: write the lazy one.
            Err(RecvTimeoutError::Timeout) => match lazy.take() {
                Some(job) => job,
                None => continue,
            },
            Err(RecvTimeoutError::Disconnected) => match lazy.take() {
                Some(job) => {
                    if let Err(e) = checkpointer.apply(&job.agent, &job.containers) {
                        report(Err(e));
                    }
                    return;
                }
                None => return,
            },
        };
        lazy = None;
        match checkpointer.apply(&job.agent, &job.containers) {
            Ok(_) => report(Ok(job.seq)),
            Err(e) => {
                report(Err(e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn wait_for<T>(log: &Mutex<Vec<T>>, n: usize) {
        for _ in 0..500 {
            if log.lock().unwrap().len() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the writer did not report");
    }

    /// What the writer reported, in order.
    type Log = Arc<Mutex<Vec<Result<u64, String>>>>;

    /// A writer on a fresh checkpoint in `dir`, and the log of its reports.
    fn start(dir: &std::path::Path) -> (CheckpointWriter, Log) {
        let mut c = Checkpointer::new(dir);
        c.save(&AgentCheckpoint::default(), &[]).unwrap();
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let w = CheckpointWriter::spawn(c, move |r| {
            sink.lock().unwrap().push(r.map_err(|e| e.to_string()));
        })
        .unwrap();
        (w, log)
    }

    /// Checkpoint `seq`, recognisable on disk by its agent id.
    fn job(seq: u64, sync: bool, id: &str) -> Job {
        Job {
            seq,
            sync,
            agent: AgentCheckpoint {
                agent_id: Some(id.into()),
                ..AgentCheckpoint::default()
            },
            containers: vec![],
        }
    }

    #[test]
    fn reports_the_newest_written_and_stops_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (w, log) = start(dir.path());
        assert!(w.submit(job(1, true, "a1")));
        wait_for(&log, 1);
        assert_eq!(log.lock().unwrap()[0], Ok(1));
        let back = Checkpointer::new(dir.path()).load().unwrap().unwrap();
        assert_eq!(back.agent.agent_id, Some("a1".into()));
        // A file where the meta directory was: the next write fails, loudly.
        std::fs::rename(dir.path().join("meta"), dir.path().join("away")).unwrap();
        std::fs::write(dir.path().join("meta"), b"x").unwrap();
        assert!(w.submit(job(2, true, "a2")));
        wait_for(&log, 2);
        let err = log.lock().unwrap()[1].clone().unwrap_err();
        assert!(err.contains("meta/agent.journal"), "{err}");
        for _ in 0..100 {
            if !w.submit(job(3, true, "a3")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the writer kept accepting jobs after a failure");
    }

    #[test]
    fn a_lazy_checkpoint_waits_for_the_next_durable_one_or_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (w, log) = start(dir.path());
        let on_disk = || {
            Checkpointer::new(dir.path())
                .load()
                .unwrap()
                .unwrap()
                .agent
                .agent_id
        };
        // Lazy, then durable: one write of the newest, reported as durable.
        assert!(w.submit(job(1, false, "lazy")));
        assert!(w.submit(job(2, true, "durable")));
        wait_for(&log, 1);
        assert_eq!(log.lock().unwrap()[0], Ok(2));
        assert_eq!(on_disk(), Some("durable".into()));
        // Lazy alone: written by the flush after LAZY_FLUSH of quiet.
        assert!(w.submit(job(4, false, "later")));
        wait_for(&log, 2);
        assert_eq!(log.lock().unwrap()[1], Ok(4));
        assert_eq!(on_disk(), Some("later".into()));
        // Lazy, then the agent stops: written before the thread ends.
        assert!(w.submit(job(5, false, "last")));
        drop(w);
        assert_eq!(on_disk(), Some("last".into()));
    }
}
