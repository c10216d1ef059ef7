//! The checkpoint writer: a thread that owns the [`Checkpointer`], so that no file is
//! written on the actor's thread. The actor hands it numbered checkpoints; it writes
//! the newest one queued (older ones are contained in it), then reports the number as
//! durable. The actor holds every command that followed a checkpoint until then, so a
//! status update is forwarded only once it is on disk, and in order.
//!
//! ```text
//!  actor ──Job{seq 7}──▶ channel ─▶ writer: take the newest queued (seq 9)
//!                                      └─ Checkpointer::apply ─▶ report(Ok(9))
//!  actor ◀── CheckpointDurable(Ok(9)): run the commands held behind seqs ≤ 9
//!  a failed write ─▶ report(Err) and the writer stops: the agent must exit
//! ```

use super::checkpointer::{CheckpointError, Checkpointer};
use crate::core::AgentCheckpoint;
use drover_containerizers::ContainerHandle;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// One checkpoint to write.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) seq: u64,
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
    while let Ok(mut job) = rx.recv() {
        while let Ok(newer) = rx.try_recv() {
            job = newer;
        }
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

    #[test]
    fn reports_the_newest_written_and_stops_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Checkpointer::new(dir.path());
        c.save(&AgentCheckpoint::default(), &[]).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let w = CheckpointWriter::spawn(c, move |r| {
            sink.lock().unwrap().push(r.map_err(|e| e.to_string()));
        })
        .unwrap();
        let job = |seq, id: &str| Job {
            seq,
            agent: AgentCheckpoint {
                agent_id: Some(id.into()),
                ..AgentCheckpoint::default()
            },
            containers: vec![],
        };
        assert!(w.submit(job(1, "a1")));
        wait_for(&log, 1);
        assert_eq!(log.lock().unwrap()[0], Ok(1));
        let back = Checkpointer::new(dir.path()).load().unwrap().unwrap();
        assert_eq!(back.agent.agent_id, Some("a1".into()));
        // A file where the meta directory was: the next write fails, loudly.
        std::fs::rename(dir.path().join("meta"), dir.path().join("away")).unwrap();
        std::fs::write(dir.path().join("meta"), b"x").unwrap();
        assert!(w.submit(job(2, "a2")));
        wait_for(&log, 2);
        let err = log.lock().unwrap()[1].clone().unwrap_err();
        assert!(err.contains("meta/agent.journal"), "{err}");
        for _ in 0..100 {
            if !w.submit(job(3, "a3")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the writer kept accepting jobs after a failure");
    }
}
