//! The composing containerizer: an ordered list of containerizers acting as one
//! (Mesos `ComposingContainerizer`; the agent's `--containerizers=docker,native`).
//!
//! ```text
//!   launch(config) ─▶ config.kind.containerizer = Some(name)? ─▶ only that one
//!                                                  (not enabled here: Unsupported error)
//!                  └▶ None ─▶ each in order until one does not answer NotSupported
//!   remembers id ─▶ owner; wait/destroy/update/usage go to the owner
//!   recover(known) ─▶ every member gets all handles (each takes its own, by name)
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::{ContainerConfig, Limits};
use crate::error::ContainerizerError;
use crate::tombstones::Tombstones;
use crate::types::{
    ContainerHandle, ContainerId, LaunchResult, Recovered, ResourceStatistics, Termination,
};
use crate::{BoxFuture, Containerizer};

/// Name of the composing containerizer (its members name the handles).
pub const NAME: &str = "composing";
const LAUNCHING_RETRY: Duration = Duration::from_millis(5);

/// Tries its members in order and routes each container to the one that launched it.
#[derive(Debug)]
pub struct ComposingContainerizer {
    members: Vec<Arc<dyn Containerizer>>,
    owners: Mutex<Owners>,
}

#[derive(Debug, Default)]
struct Owners {
    /// `None` while the launch is in progress.
    live: HashMap<ContainerId, Option<usize>>,
    dead: Tombstones<usize>,
}

/// Removes a launch reservation unless the launch succeeded (also if the launch
/// future is dropped midway).
struct Reservation<'a> {
    owners: &'a Mutex<Owners>,
    id: &'a ContainerId,
    committed: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.committed {
            lock(self.owners).live.remove(self.id);
        }
    }
}

fn lock(owners: &Mutex<Owners>) -> MutexGuard<'_, Owners> {
    // Single inserts and removes: a poisoned map is still consistent.
    owners.lock().unwrap_or_else(|p| p.into_inner())
}

impl ComposingContainerizer {
    /// Composes `members`, tried in this order. Of members with the same name, only
    /// the first is kept (names route recovery).
    pub fn new(members: Vec<Arc<dyn Containerizer>>) -> Self {
        let mut seen = HashSet::new();
        let members = members
            .into_iter()
            .filter(|m| {
                let first = seen.insert(m.name());
                if !first {
                    tracing::warn!(
                        name = m.name(),
                        "composing: ignoring a second containerizer with this name"
                    );
                }
                first
            })
            .collect();
        ComposingContainerizer {
            members,
            owners: Mutex::new(Owners::default()),
        }
    }

    /// Names of the members, in order.
    pub fn member_names(&self) -> Vec<&'static str> {
        self.members.iter().map(|m| m.name()).collect()
    }

    /// The member owning `id` (waiting while it is being launched).
    async fn owner(&self, id: &ContainerId) -> Result<&Arc<dyn Containerizer>, ContainerizerError> {
        loop {
            let found = {
                let owners = lock(&self.owners);
                match owners.live.get(id) {
                    Some(Some(i)) => Some(*i),
                    Some(None) => None,
                    None => match owners.dead.get(id) {
                        Some(i) => Some(*i),
                        None => {
                            return Err(ContainerizerError::NotFound {
                                id: id.clone(),
                                containerizer: NAME,
                            })
                        }
                    },
                }
            };
            if let Some(member) = found.and_then(|i| self.members.get(i)) {
                return Ok(member);
            }
            tokio::time::sleep(LAUNCHING_RETRY).await;
        }
    }

    async fn launch_container(
        &self,
        id: &ContainerId,
        config: ContainerConfig,
    ) -> Result<LaunchResult, ContainerizerError> {
        let candidates: Vec<usize> = match config.kind.containerizer.as_deref() {
            Some(name) => match self.members.iter().position(|m| m.name() == name) {
                Some(i) => vec![i],
                None => {
                    return Err(ContainerizerError::Unsupported {
                        id: id.clone(),
                        message: format!(
                            "the `{name}` containerizer is not enabled on this agent (enabled: {})",
                            self.member_names().join(", ")
                        ),
                    })
                }
            },
            None => (0..self.members.len()).collect(),
        };
        {
            let mut owners = lock(&self.owners);
            if owners.live.contains_key(id) {
                return Err(ContainerizerError::AlreadyExists { id: id.clone() });
            }
            owners.live.insert(id.clone(), None);
        }
        let mut reservation = Reservation {
            owners: &self.owners,
            id,
            committed: false,
        };
        let mut reasons = Vec::new();
        let mut config = Some(config);
        for (n, &i) in candidates.iter().enumerate() {
            let Some(member) = self.members.get(i) else {
                continue;
            };
            // Clone for all but the last candidate.
            let this = if n + 1 == candidates.len() {
                config.take()
            } else {
                config.clone()
            };
            let Some(this) = this else { break };
            match member.launch(id, this).await? {
                LaunchResult::Launched(handle) => {
                    lock(&self.owners).live.insert(id.clone(), Some(i));
                    reservation.committed = true;
                    return Ok(LaunchResult::Launched(handle));
                }
                LaunchResult::NotSupported { reason } => reasons.push(reason),
            }
        }
        Ok(LaunchResult::NotSupported {
            reason: if reasons.is_empty() {
                "no containerizer is configured".into()
            } else {
                reasons.join("; ")
            },
        })
    }

    async fn recover_containers(
        &self,
        known: &[ContainerHandle],
    ) -> Result<Recovered, ContainerizerError> {
        let mut out = Recovered::default();
        for (i, member) in self.members.iter().enumerate() {
            let r = member.recover(known).await?;
            let mut owners = lock(&self.owners);
            for id in r
                .running
                .iter()
                .map(|h| &h.id)
                .chain(r.gone.iter().map(|(id, _)| id))
            {
                owners.live.insert(id.clone(), Some(i));
            }
            for id in &r.orphans_destroyed {
                owners.live.remove(id);
            }
            out.running.extend(r.running);
            out.gone.extend(r.gone);
            out.orphans_destroyed.extend(r.orphans_destroyed);
        }
        let names = self.member_names();
        for h in known
            .iter()
            .filter(|h| !names.contains(&h.containerizer.as_str()))
        {
            out.gone.push((
                h.id.clone(),
                Termination::unknown(format!(
                    "it was launched by the `{}` containerizer, which is not enabled on this agent \
                     (enabled: {}); its processes, if any, were left alone",
                    h.containerizer,
                    names.join(", ")
                )),
            ));
        }
        Ok(out)
    }

    async fn destroy_container(&self, id: &ContainerId) -> Result<Termination, ContainerizerError> {
        let member = self.owner(id).await?;
        let termination = member.destroy(id).await?;
        let mut owners = lock(&self.owners);
        if let Some(Some(i)) = owners.live.remove(id) {
            owners.dead.insert(id.clone(), i);
        }
        Ok(termination)
    }
}

impl Containerizer for ComposingContainerizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn recover<'a>(
        &'a self,
        known: &'a [ContainerHandle],
    ) -> BoxFuture<'a, Result<Recovered, ContainerizerError>> {
        Box::pin(self.recover_containers(known))
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
        Box::pin(async move { self.owner(id).await?.wait(id).await })
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
        Box::pin(async move { self.owner(id).await?.update(id, limits).await })
    }

    fn usage<'a>(
        &'a self,
        id: &'a ContainerId,
    ) -> BoxFuture<'a, Result<ResourceStatistics, ContainerizerError>> {
        Box::pin(async move { self.owner(id).await?.usage(id).await })
    }
}
