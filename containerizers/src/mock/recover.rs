//! Mock recovery: the handle carries the spec and the wall-clock deadline, so a new
//! instance re-attaches containers whose deadline has not passed and reports the
//! others gone with their simulated termination. Containers of this instance missing
//! from the known handles are destroyed as orphans (a fresh instance has none: the
//! simulation ended with the previous one).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::{
    natural_termination, Ending, MockContainerizer, EXTRA_DEADLINE, EXTRA_SPEC, FOREVER, NAME,
};
use crate::config::{Limits, MockSpec};
use crate::types::{ContainerHandle, ContainerId, Recovered, Termination};

impl MockContainerizer {
    /// See [`Containerizer::recover`](crate::Containerizer::recover) and the module doc.
    pub(super) fn recover_containers(&self, known: &[ContainerHandle]) -> Recovered {
        let mut out = Recovered::default();
        let mut known_ids = HashSet::new();
        for handle in known.iter().filter(|h| h.containerizer == NAME) {
            known_ids.insert(handle.id.clone());
            let existing = self
                .lock()
                .live
                .get(&handle.id)
                .map(|e| e.ending.borrow().clone());
            if let Some(ending) = existing {
                if Instant::now() < ending.at {
                    out.running.push(handle.clone());
                } else {
                    out.gone.push((handle.id.clone(), ending.termination));
                }
                continue;
            }
            match parse_handle(handle) {
                Ok((spec, remaining)) => {
                    let termination = natural_termination(&spec);
                    let ending = Ending {
                        at: Instant::now() + remaining,
                        termination: termination.clone(),
                    };
                    // Cannot collide: the id is not live (checked above).
                    let _ = self.insert(
                        handle.id.clone(),
                        ending,
                        spec.kill_after.unwrap_or_default(),
                        Limits::default(),
                    );
                    if remaining.is_zero() {
                        out.gone.push((handle.id.clone(), termination));
                    } else {
                        out.running.push(handle.clone());
                    }
                }
                Err(why) => {
                    let termination = Termination::unknown(format!("mock: unusable handle: {why}"));
                    self.lock()
                        .dead
                        .insert(handle.id.clone(), termination.clone());
                    out.gone.push((handle.id.clone(), termination));
                }
            }
        }
        let mut state = self.lock();
        let orphans: Vec<ContainerId> = state
            .live
            .keys()
            .filter(|id| !known_ids.contains(*id))
            .cloned()
            .collect();
        for id in orphans {
            state.live.remove(&id);
            state.dead.insert(
                id.clone(),
                Termination::killed(Some(libc::SIGKILL), "mock: orphan destroyed at recovery"),
            );
            out.orphans_destroyed.push(id);
        }
        drop(state);
        self.recovered.store(true, Ordering::Release);
        out
    }
}

/// The spec and the time left to run, from a mock handle.
fn parse_handle(handle: &ContainerHandle) -> Result<(MockSpec, Duration), String> {
    let spec_json = handle
        .extra
        .get(EXTRA_SPEC)
        .ok_or(format!("no `{EXTRA_SPEC}`"))?;
    let spec: MockSpec =
        serde_json::from_str(spec_json).map_err(|e| format!("bad `{EXTRA_SPEC}`: {e}"))?;
    let deadline = handle
        .extra
        .get(EXTRA_DEADLINE)
        .ok_or(format!("no `{EXTRA_DEADLINE}`"))?;
    if deadline == "never" {
        return Ok((spec, FOREVER));
    }
    let nanos: u128 = deadline
        .parse()
        .map_err(|e| format!("bad `{EXTRA_DEADLINE}`: {e}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let left = u64::try_from(nanos.saturating_sub(now)).unwrap_or(u64::MAX);
    Ok((spec, Duration::from_nanos(left).min(FOREVER)))
}
