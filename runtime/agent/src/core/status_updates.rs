//! The status update manager: the agent's promise that every task update reaches the
//! framework, in order, at least once.
//!
//! ```text
//!  executor / agent ──update──▶ stream(fid, task) ──head──▶ master ──▶ scheduler
//!                                 [u1 u2 u3]   ▲  resend head with backoff
//!                                              └── Acknowledge(u1): pop, send u2
//! ```
//!
//! One [`UpdateStream`] per task holds the updates not yet acknowledged, oldest first.
//! Only the oldest is in flight; it is resent after `retry_min`, doubling up to
//! `retry_max`, until the acknowledgement naming its uuid comes back; the next one
//! waits behind it. While the agent is not registered the manager is paused: nothing is
//! sent, and on resume every stream's head goes out at once.
//!
//! Everything here is plain data with no clock or I/O, so a checkpointer can write the
//! streams (their pending updates and uuids) to `<work_dir>/meta` and rebuild them on
//! recovery with [`StatusUpdateManager::restore`].

use drover_proto::{AgentToMaster, FrameworkId, TaskId, TaskStatus, UpdateUuid};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Identifies a task's stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The task's framework.
    pub framework_id: FrameworkId,
    /// The task.
    pub task_id: TaskId,
}

/// Resend timing of unacknowledged updates (Mesos `status_update_retry_interval_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First resend after this long.
    pub min: Duration,
    /// Doubling stops here.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min: Duration::from_secs(5),
            max: Duration::from_secs(300),
        }
    }
}

/// The updates of one task that the framework has not acknowledged yet.
#[derive(Clone, Debug)]
pub struct UpdateStream {
    key: Arc<StreamKey>,
    pending: VecDeque<TaskStatus>,
    acknowledged: Vec<UpdateUuid>,
    terminated: bool,
    backoff: Duration,
    retry_at: Option<(Instant, u64)>,
}

impl UpdateStream {
    fn new(key: Arc<StreamKey>, backoff: Duration) -> Self {
        Self {
            key,
            pending: VecDeque::new(),
            acknowledged: Vec::new(),
            terminated: false,
            backoff,
            retry_at: None,
        }
    }

    /// Unacknowledged updates, oldest (in flight) first.
    pub fn pending(&self) -> impl Iterator<Item = &TaskStatus> {
        self.pending.iter()
    }

    /// Uuids acknowledged so far (a resent duplicate of one of them is ignored).
    pub fn acknowledged(&self) -> &[UpdateUuid] {
        &self.acknowledged
    }

    /// Whether a terminal update was received (later ones are refused).
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// When the head is resent next, if it is in flight.
    pub fn next_retry(&self) -> Option<Instant> {
        self.retry_at.map(|(at, _)| at)
    }
}

/// What happened to an update handed to [`StatusUpdateManager::update`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Queued (and sent, if it is the stream's head and the manager runs).
    Queued,
    /// An update with this uuid is already known: ignored.
    Duplicate,
    /// The task already had a terminal update: ignored.
    AfterTerminal,
}

/// Why an acknowledgement was ignored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No stream for the task (already finished, or never seen).
    #[error("no pending status updates for task {0}")]
    UnknownStream(TaskId),
    /// The uuid is not the one in flight (a duplicate or stale acknowledgement).
    #[error("acknowledgement {uuid} for task {task_id} does not match the update in flight")]
    Mismatch {
        /// The task.
        task_id: TaskId,
        /// The uuid acknowledged.
        uuid: UpdateUuid,
    },
}

/// An accepted acknowledgement.
#[derive(Clone, Debug, PartialEq)]
pub struct Acked {
    /// The update that was acknowledged.
    pub status: TaskStatus,
    /// Whether the stream is finished (its terminal update was acknowledged) and removed.
    pub stream_closed: bool,
}

/// Resend deadlines, earliest first (`(deadline, sequence) → stream`).
type Retries = BTreeMap<(Instant, u64), Arc<StreamKey>>;

/// All streams of the agent, with their resend deadlines. Streams are looked up by
/// borrowed ids (framework, then task), so the hot path clones no strings; a stream's
/// key is shared with its resend deadline.
#[derive(Debug)]
pub struct StatusUpdateManager {
    streams: HashMap<FrameworkId, HashMap<TaskId, UpdateStream>>,
    retries: Retries,
    seq: u64,
    policy: RetryPolicy,
    paused: bool,
    pending: usize,
}

impl StatusUpdateManager {
    /// An empty manager, paused until [`resume`](Self::resume).
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            streams: HashMap::new(),
            retries: BTreeMap::new(),
            seq: 0,
            policy,
            paused: true,
            pending: 0,
        }
    }

    /// Takes an update for `framework_id`. Its uuid is kept if set (an executor-chosen
    /// uuid), otherwise `fresh` is used. Sends it at once if the stream was empty.
    pub fn update(
        &mut self,
        now: Instant,
        framework_id: &FrameworkId,
        mut status: TaskStatus,
        fresh: UpdateUuid,
        out: &mut Vec<AgentToMaster>,
    ) -> UpdateOutcome {
        let uuid = *status.uuid.get_or_insert(fresh);
        let backoff = self.policy.min;
        let tasks = match self.streams.get_mut(framework_id) {
            Some(t) => t,
            None => self.streams.entry(framework_id.clone()).or_default(),
        };
        let stream = match tasks.get_mut(&status.task_id) {
            Some(s) => s,
            None => {
                let key = Arc::new(StreamKey {
                    framework_id: framework_id.clone(),
                    task_id: status.task_id.clone(),
                });
                tasks
                    .entry(status.task_id.clone())
                    .or_insert_with(|| UpdateStream::new(key, backoff))
            }
        };
        if stream.acknowledged.contains(&uuid)
            || stream.pending.iter().any(|s| s.uuid == Some(uuid))
        {
            return UpdateOutcome::Duplicate;
        }
        if stream.terminated {
            return UpdateOutcome::AfterTerminal;
        }
        stream.terminated = status.state.is_terminal();
        stream.pending.push_back(status);
        self.pending += 1;
        if stream.pending.len() == 1 && !self.paused {
            send_head(now, stream, &mut self.retries, &mut self.seq, out);
        }
        UpdateOutcome::Queued
    }

    /// Handles the framework's acknowledgement of `uuid`: drops the update and sends the
    /// task's next one.
    pub fn acknowledge(
        &mut self,
        now: Instant,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        uuid: UpdateUuid,
        out: &mut Vec<AgentToMaster>,
    ) -> Result<Acked, AckError> {
        let unknown = || AckError::UnknownStream(task_id.clone());
        let tasks = self.streams.get_mut(framework_id).ok_or_else(unknown)?;
        let stream = tasks.get_mut(task_id).ok_or_else(unknown)?;
        if stream.pending.front().and_then(|s| s.uuid) != Some(uuid) {
            return Err(AckError::Mismatch {
                task_id: task_id.clone(),
                uuid,
            });
        }
        let status = stream.pending.pop_front().ok_or_else(unknown)?;
        self.pending -= 1;
        if let Some(t) = stream.retry_at.take() {
            self.retries.remove(&t);
        }
        stream.backoff = self.policy.min;
        stream.acknowledged.push(uuid);
        let stream_closed = stream.pending.is_empty() && stream.terminated;
        if stream_closed {
            tasks.remove(task_id);
            if tasks.is_empty() {
                self.streams.remove(framework_id);
            }
        } else if !stream.pending.is_empty() && !self.paused {
            send_head(now, stream, &mut self.retries, &mut self.seq, out);
        }
        Ok(Acked {
            status,
            stream_closed,
        })
    }

    /// Resends every head whose deadline has come, doubling its backoff.
    pub fn retry_due(&mut self, now: Instant, out: &mut Vec<AgentToMaster>) {
        while let Some(entry) = self.retries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            let stream = self
                .streams
                .get_mut(&key.framework_id)
                .and_then(|t| t.get_mut(&key.task_id));
            if let Some(stream) = stream {
                stream.retry_at = None;
                stream.backoff = (stream.backoff * 2).min(self.policy.max);
                send_head(now, stream, &mut self.retries, &mut self.seq, out);
            }
        }
    }

    /// Stops sending (the master is gone); deadlines are dropped.
    pub fn pause(&mut self) {
        self.paused = true;
        self.retries.clear();
        for stream in self.streams.values_mut().flat_map(|t| t.values_mut()) {
            stream.retry_at = None;
        }
    }

    /// Starts sending again: every stream's head goes out now, in (framework, task) order.
    pub fn resume(&mut self, now: Instant, out: &mut Vec<AgentToMaster>) {
        self.paused = false;
        let mut keys: Vec<Arc<StreamKey>> = self
            .streams
            .values()
            .flat_map(|t| t.values())
            .filter(|s| !s.pending.is_empty() && s.retry_at.is_none())
            .map(|s| s.key.clone())
            .collect();
        keys.sort();
        for key in keys {
            let stream = self
                .streams
                .get_mut(&key.framework_id)
                .and_then(|t| t.get_mut(&key.task_id));
            if let Some(stream) = stream {
                stream.backoff = self.policy.min;
                send_head(now, stream, &mut self.retries, &mut self.seq, out);
            }
        }
    }

    /// Forgets every stream of a framework that is gone (Mesos `cleanup`).
    pub fn cleanup_framework(&mut self, framework_id: &FrameworkId) {
        let Some(tasks) = self.streams.remove(framework_id) else {
            return;
        };
        for stream in tasks.into_values() {
            self.pending -= stream.pending.len();
            if let Some(t) = stream.retry_at {
                self.retries.remove(&t);
            }
        }
    }

    /// Restores a stream read back from a checkpoint (pending updates oldest first,
    /// uuids set; the uuids already acknowledged, so that resent duplicates are
    /// ignored). Its head is sent on the next [`resume`](Self::resume), or at once if
    /// the manager runs.
    pub fn restore(
        &mut self,
        now: Instant,
        key: StreamKey,
        pending: Vec<TaskStatus>,
        acknowledged: Vec<UpdateUuid>,
        terminated: bool,
        out: &mut Vec<AgentToMaster>,
    ) {
        self.pending += pending.len();
        let (fid, tid) = (key.framework_id.clone(), key.task_id.clone());
        let mut stream = UpdateStream::new(Arc::new(key), self.policy.min);
        stream.pending = pending.into();
        stream.acknowledged = acknowledged;
        stream.terminated = terminated;
        let tasks = self.streams.entry(fid).or_default();
        if let Some(old) = tasks.insert(tid.clone(), stream) {
            self.pending -= old.pending.len();
            if let Some(t) = old.retry_at {
                self.retries.remove(&t);
            }
        }
        if !self.paused {
            if let Some(stream) = tasks.get_mut(&tid) {
                send_head(now, stream, &mut self.retries, &mut self.seq, out);
            }
        }
    }

    /// The earliest resend deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.retries.keys().next().map(|k| k.0)
    }

    /// Number of updates not yet acknowledged, over all streams.
    pub fn pending_count(&self) -> usize {
        self.pending
    }

    /// The stream of a task, if it has one.
    pub fn stream(&self, framework_id: &FrameworkId, task_id: &TaskId) -> Option<&UpdateStream> {
        self.streams.get(framework_id)?.get(task_id)
    }

    /// Every stream, for a checkpointer.
    pub fn streams(&self) -> impl Iterator<Item = (&StreamKey, &UpdateStream)> {
        self.streams
            .values()
            .flat_map(|t| t.values())
            .map(|s| (&*s.key, s))
    }

    /// Whether the manager is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }
}

/// Sends a stream's head and (re)schedules its resend.
fn send_head(
    now: Instant,
    stream: &mut UpdateStream,
    retries: &mut Retries,
    seq: &mut u64,
    out: &mut Vec<AgentToMaster>,
) {
    let Some(head) = stream.pending.front() else {
        return;
    };
    out.push(AgentToMaster::StatusUpdate {
        framework_id: stream.key.framework_id.clone(),
        status: head.clone(),
    });
    if let Some(t) = stream.retry_at.take() {
        retries.remove(&t);
    }
    *seq += 1;
    let t = (now + stream.backoff, *seq);
    stream.retry_at = Some(t);
    retries.insert(t, stream.key.clone());
}
