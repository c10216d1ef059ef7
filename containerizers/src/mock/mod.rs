//! The mock containerizer: nothing runs, a [`MockSpec`] says what the container does
//! (Nomad's mock driver: `run_for`, `exit_code`, `start_error`, `kill_after`...).
//! For scheduler, benchmark and chaos tests: fault injection without processes.
//!
//! Cheap enough for 100,000 launches a second: a container is a map entry holding when
//! and how it ends (a tokio `watch` cell); no task, thread or timer exists per
//! container. `wait` sleeps until the end (a tokio timer, only while someone waits)
//! and wakes early if `destroy` moves the end; with a paused tokio clock it runs in
//! virtual time.
//!
//! ```text
//!   launch ─▶ Ending { at: now + run_for, termination: exit_code | signal | OOM }
//!   destroy at t < at ─▶ Ending { at: t + kill_after, Killed } (if that is earlier)
//!   wait ─▶ sleep_until(ending.at) ─▶ ending.termination
//! ```
//!
//! Recovery (recover.rs): the handle carries the spec and the wall-clock deadline, so
//! a new mock instance given the handles re-attaches the containers whose deadline has
//! not passed and reports the others gone with their simulated termination.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{ContainerConfig, Limits, MockSpec};
use crate::error::ContainerizerError;
use crate::tombstones::Tombstones;
use crate::types::{
    ContainerHandle, ContainerId, LaunchResult, Recovered, ResourceStatistics, Termination,
    TerminationReason,
};
use crate::{BoxFuture, Containerizer};

mod recover;

/// Name of the mock containerizer, as recorded in its handles.
pub const NAME: &str = "mock";
/// Handle `extra` key: the spec, as JSON.
pub const EXTRA_SPEC: &str = "spec";
/// Handle `extra` key: wall-clock time at which the container exits on its own, in
/// nanoseconds since the Unix epoch, or `never`.
pub const EXTRA_DEADLINE: &str = "deadline_unix_ns";

/// "Never" for deadlines: far enough, and safe to add to any `Instant`.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Simulates containers from their [`MockSpec`].
#[derive(Debug, Default)]
pub struct MockContainerizer {
    recovered: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    live: HashMap<ContainerId, Entry>,
    dead: Tombstones<Termination>,
    next_generation: u64,
}

#[derive(Debug)]
struct Entry {
    ending: watch::Sender<Ending>,
    kill_after: Duration,
    limits: Limits,
    /// Tells this entry from a later container reusing the id.
    generation: u64,
}

/// When and how a simulated container ends.
#[derive(Clone, Debug)]
struct Ending {
    at: Instant,
    termination: Termination,
}

/// How a container simulating `spec` ends on its own.
fn natural_termination(spec: &MockSpec) -> Termination {
    if spec.oom {
        Termination {
            status: None,
            signal: Some(libc::SIGKILL),
            reason: TerminationReason::Oom,
            message: "mock: killed by the OOM killer".into(),
        }
    } else if let Some(sig) = spec.exit_signal {
        Termination {
            status: None,
            signal: Some(sig),
            reason: TerminationReason::Signaled,
            message: format!("mock: killed by signal {sig}"),
        }
    } else {
        Termination::exited(spec.exit_code)
    }
}

fn not_found(id: &ContainerId) -> ContainerizerError {
    ContainerizerError::NotFound {
        id: id.clone(),
        containerizer: NAME,
    }
}

impl MockContainerizer {
    /// A mock containerizer with no containers (call `recover` first).
    pub fn new() -> Self {
        MockContainerizer::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_recovered(&self, operation: &'static str) -> Result<(), ContainerizerError> {
        if self.recovered.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ContainerizerError::NotRecovered {
                containerizer: NAME,
                operation,
            })
        }
    }

    fn insert(
        &self,
        id: ContainerId,
        ending: Ending,
        kill_after: Duration,
        limits: Limits,
    ) -> Result<(), ContainerizerError> {
        let mut state = self.lock();
        if state.live.contains_key(&id) {
            return Err(ContainerizerError::AlreadyExists { id });
        }
        state.next_generation += 1;
        let generation = state.next_generation;
        let (ending, _) = watch::channel(ending);
        state.live.insert(
            id,
            Entry {
                ending,
                kill_after,
                limits,
                generation,
            },
        );
        Ok(())
    }

    async fn launch_container(
        &self,
        id: &ContainerId,
        config: ContainerConfig,
    ) -> Result<LaunchResult, ContainerizerError> {
        self.check_recovered("launch")?;
        if let Some(name) = config.kind.containerizer.as_deref().filter(|n| *n != NAME) {
            let reason = format!("mock: the config asks for the `{name}` containerizer");
            return Ok(LaunchResult::NotSupported { reason });
        }
        let Some(spec) = config.mock else {
            let reason = "mock: the config has no MockSpec".to_owned();
            return Ok(LaunchResult::NotSupported { reason });
        };
        if self.lock().live.contains_key(id) {
            return Err(ContainerizerError::AlreadyExists { id: id.clone() });
        }
        if !spec.start_delay.is_zero() {
            tokio::time::sleep(spec.start_delay).await;
        }
        if let Some(message) = spec.start_error.clone() {
            return Err(ContainerizerError::LaunchFailed {
                id: id.clone(),
                message,
            });
        }
        for (text, file) in [
            (&spec.stdout, crate::STDOUT_FILE),
            (&spec.stderr, crate::STDERR_FILE),
        ] {
            if let Some(text) = text {
                append(&config.sandbox, file, text).await?;
            }
        }
        let run_for = spec.run_for.min(FOREVER);
        let deadline = SystemTime::now()
            .checked_add(run_for)
            .and_then(|d| d.duration_since(UNIX_EPOCH).ok())
            .filter(|_| run_for < FOREVER)
            .map_or_else(|| "never".to_owned(), |d| d.as_nanos().to_string());
        let spec_json =
            serde_json::to_string(&spec).map_err(|e| ContainerizerError::InvalidConfig {
                id: id.clone(),
                message: format!("cannot encode the mock spec: {e}"),
            })?;
        let handle = ContainerHandle {
            id: id.clone(),
            pid: None,
            containerizer: NAME.to_owned(),
            sandbox: config.sandbox,
            extra: BTreeMap::from([
                (EXTRA_SPEC.to_owned(), spec_json),
                (EXTRA_DEADLINE.to_owned(), deadline),
            ]),
        };
        let ending = Ending {
            at: Instant::now() + run_for,
            termination: natural_termination(&spec),
        };
        self.insert(
            id.clone(),
            ending,
            spec.kill_after.unwrap_or_default(),
            config.limits,
        )?;
        Ok(LaunchResult::Launched(handle))
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<Termination, ContainerizerError> {
        self.check_recovered("wait")?;
        let mut rx = {
            let state = self.lock();
            match state.live.get(id) {
                Some(entry) => entry.ending.subscribe(),
                None => return state.dead.get(id).cloned().ok_or_else(|| not_found(id)),
            }
        };
        loop {
            let ending = rx.borrow_and_update().clone();
            tokio::select! {
                _ = tokio::time::sleep_until(ending.at) => return Ok(ending.termination),
                changed = rx.changed() => {
                    if changed.is_err() {
                        // Destroyed and released; the last value is the final one.
                        let ending = rx.borrow().clone();
                        tokio::time::sleep_until(ending.at).await;
                        return Ok(ending.termination);
                    }
                }
            }
        }
    }

    async fn destroy_container(&self, id: &ContainerId) -> Result<Termination, ContainerizerError> {
        self.check_recovered("destroy")?;
        let (ending, generation) = {
            let state = self.lock();
            let Some(entry) = state.live.get(id) else {
                return state.dead.get(id).cloned().ok_or_else(|| not_found(id));
            };
            let now = Instant::now();
            let current = entry.ending.borrow().clone();
            let kill_at = now + entry.kill_after.min(FOREVER);
            let ending = if now < current.at && kill_at < current.at {
                let killed = Ending {
                    at: kill_at,
                    termination: Termination::killed(Some(libc::SIGKILL), "mock: destroyed"),
                };
                entry.ending.send_replace(killed.clone());
                killed
            } else {
                current
            };
            (ending, entry.generation)
        };
        tokio::time::sleep_until(ending.at).await;
        let mut state = self.lock();
        if state
            .live
            .get(id)
            .is_some_and(|e| e.generation == generation)
        {
            state.live.remove(id);
        }
        state.dead.insert(id.clone(), ending.termination.clone());
        Ok(ending.termination)
    }

    fn usage_of(&self, id: &ContainerId) -> Result<ResourceStatistics, ContainerizerError> {
        self.check_recovered("usage")?;
        let state = self.lock();
        let entry = state.live.get(id).ok_or_else(|| not_found(id))?;
        let running = Instant::now() < entry.ending.borrow().at;
        Ok(ResourceStatistics {
            timestamp: SystemTime::now(),
            cpus_user_time_secs: 0.0,
            cpus_system_time_secs: 0.0,
            cpus_limit: Some(entry.limits.cpus).filter(|c| *c > 0.0),
            mem_rss_bytes: 0,
            mem_cache_bytes: Some(0),
            mem_limit_bytes: Some(entry.limits.mem_bytes).filter(|m| *m > 0),
            processes: u32::from(running),
            threads: u32::from(running),
        })
    }
}

async fn append(
    sandbox: &std::path::Path,
    file: &str,
    text: &str,
) -> Result<(), ContainerizerError> {
    use tokio::io::AsyncWriteExt;
    tokio::fs::create_dir_all(sandbox)
        .await
        .map_err(|e| ContainerizerError::io("cannot create sandbox", sandbox, e))?;
    let path = sandbox.join(file);
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await
        .map_err(|e| ContainerizerError::io("cannot open sandbox output file", &path, e))?;
    f.write_all(text.as_bytes())
        .await
        .map_err(|e| ContainerizerError::io("cannot write sandbox output file", &path, e))?;
    f.flush()
        .await
        .map_err(|e| ContainerizerError::io("cannot write sandbox output file", &path, e))
}

impl Containerizer for MockContainerizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn recover<'a>(
        &'a self,
        known: &'a [ContainerHandle],
    ) -> BoxFuture<'a, Result<Recovered, ContainerizerError>> {
        Box::pin(async move { Ok(self.recover_containers(known)) })
    }

    fn launch<'a>(
        &'a self,
        id: &'a ContainerId,
        config: ContainerConfig,
    ) -> BoxFuture<'a, Result<LaunchResult, ContainerizerError>> {
        Box::pin(self.launch_container(id, config))
    }

    fn wait<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
        Box::pin(self.wait_container(id))
    }

    fn destroy<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<Termination, ContainerizerError>> {
        Box::pin(self.destroy_container(id))
    }

    fn update<'a>(
        &'a self,
        id: &'a ContainerId,
        limits: Limits,
    ) -> BoxFuture<'a, Result<(), ContainerizerError>> {
        Box::pin(async move {
            self.check_recovered("update")?;
            let mut state = self.lock();
            let entry = state.live.get_mut(id).ok_or_else(|| not_found(id))?;
            entry.limits = limits;
            Ok(())
        })
    }

    fn usage<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<ResourceStatistics, ContainerizerError>> {
        Box::pin(async move { self.usage_of(id) })
    }
}
