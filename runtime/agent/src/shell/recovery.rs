//! Agent start-up recovery (`--recover`): read the checkpoint, let the containerizers
//! re-attach the checkpointed containers (and destroy every other one), and turn what
//! they found into the core's [`Recovery`] input.
//!
//! ```text
//!  reconnect: meta/agent.json + journal ─▶ compact ─▶ recover(handles) ─▶ running / gone
//!             ─▶ Input::Recover
//!             (none) ─▶ recover([]) ─▶ empty snapshot ─▶ fresh agent
//!  cleanup:   recover([]) (kills every container) ─▶ remove meta/agent.json ─▶ fresh agent, new id
//! ```

use super::checkpointer::{CheckpointError, Checkpointer};
use super::containers::exit_of;
use crate::core::{AgentCheckpoint, Recovery};
use drover_containerizers::{ContainerHandle, Containerizer, ContainerizerError};
use drover_proto::ContainerId;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// What a restarted agent does with what it finds (Mesos `--recover`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoverMode {
    /// Re-attach to running executors and re-register with the same agent id.
    #[default]
    Reconnect,
    /// Kill every container, forget the checkpoint and register as a new agent.
    Cleanup,
}

impl RecoverMode {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            RecoverMode::Reconnect => "reconnect",
            RecoverMode::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for RecoverMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--recover` value that is neither `reconnect` nor `cleanup`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown recover mode '{0}' (expected reconnect or cleanup)")]
pub struct UnknownRecoverMode(pub String);

impl FromStr for RecoverMode {
    type Err = UnknownRecoverMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reconnect" => Ok(RecoverMode::Reconnect),
            "cleanup" => Ok(RecoverMode::Cleanup),
            other => Err(UnknownRecoverMode(other.to_owned())),
        }
    }
}

/// Why recovery failed at start-up.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The checkpoint is unreadable.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A containerizer's `recover` failed.
    #[error("containerizer recovery failed: {0}")]
    Containerizer(#[from] ContainerizerError),
}

/// What start-up recovery hands the actor.
#[derive(Debug)]
pub(crate) struct StartupRecovery {
    /// Writes the checkpoint from now on.
    pub(crate) checkpointer: Checkpointer,
    /// The core's input (none for a fresh agent).
    pub(crate) input: Option<Recovery>,
    /// Handles of re-attached containers, by container id.
    pub(crate) handles: HashMap<String, ContainerHandle>,
}

/// Runs start-up recovery with `containerizer` (see the module doc).
pub(crate) async fn recover(
    mode: RecoverMode,
    mut checkpointer: Checkpointer,
    containerizer: &dyn Containerizer,
) -> Result<StartupRecovery, RecoveryError> {
    let fresh = |checkpointer| StartupRecovery {
        checkpointer,
        input: None,
        handles: HashMap::new(),
    };
    if mode == RecoverMode::Cleanup {
        let found = containerizer.recover(&[]).await?;
        checkpointer.remove()?;
        checkpointer.save(&AgentCheckpoint::default(), &[])?;
        tracing::warn!(
            destroyed = found.orphans_destroyed.len(),
            "--recover=cleanup: every container destroyed, starting as a new agent"
        );
        return Ok(fresh(checkpointer));
    }
    let Some(stored) = checkpointer.load()? else {
        let found = containerizer.recover(&[]).await?;
        if !found.orphans_destroyed.is_empty() {
            tracing::warn!(
                destroyed = found.orphans_destroyed.len(),
                "no checkpoint: destroyed containers left in the work dir"
            );
        }
        // An empty snapshot: a work dir where nothing can be written fails the start.
        checkpointer.save(&AgentCheckpoint::default(), &[])?;
        return Ok(fresh(checkpointer));
    };
    // Start from a compacted snapshot (in this version's format) and an empty journal.
    checkpointer.save(&stored.agent, &stored.containers)?;
    let known = known_handles(&stored.agent, stored.containers);
    let found = containerizer.recover(&known).await?;
    if !found.orphans_destroyed.is_empty() {
        tracing::warn!(destroyed = ?found.orphans_destroyed, "destroyed containers the checkpoint did not know");
    }
    let handles: HashMap<String, ContainerHandle> = found
        .running
        .iter()
        .map(|h| (h.id.as_str().to_owned(), h.clone()))
        .collect();
    let input = Recovery {
        checkpoint: stored.agent,
        running: found
            .running
            .iter()
            .map(|h| ContainerId(h.id.as_str().to_owned()))
            .collect(),
        gone: found
            .gone
            .iter()
            .map(|(id, t)| (ContainerId(id.as_str().to_owned()), exit_of(t)))
            .collect(),
    };
    Ok(StartupRecovery {
        checkpointer,
        input: Some(input),
        handles,
    })
}

/// The handles of the checkpoint's live executor containers (others are stale).
fn known_handles(agent: &AgentCheckpoint, handles: Vec<ContainerHandle>) -> Vec<ContainerHandle> {
    let live: std::collections::HashSet<&str> = agent
        .frameworks
        .iter()
        .flat_map(|f| &f.executors)
        .filter(|e| e.container_running)
        .map(|e| e.container_id.as_str())
        .collect();
    handles
        .into_iter()
        .filter(|h| live.contains(h.id.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::checkpoint::{ExecutorCheckpoint, FrameworkCheckpoint};
    use drover_containerizers::{
        Command, ContainerConfig, ContainerId as CId, LaunchResult, PosixContainerizer,
    };
    use drover_proto::{CommandInfo, ExecutorInfo, FrameworkInfo};
    use std::path::Path;

    /// A checkpoint naming one posix executor container.
    fn checkpoint_of(cid: &str, sandbox: &Path) -> AgentCheckpoint {
        let mut info = FrameworkInfo::new("f", "root");
        info.id = Some("fw-1".into());
        AgentCheckpoint {
            agent_id: Some("agent-1".into()),
            frameworks: vec![FrameworkCheckpoint {
                info,
                shutting_down: false,
                executors: vec![ExecutorCheckpoint {
                    info: ExecutorInfo {
                        executor_id: "e1".into(),
                        framework_id: Some("fw-1".into()),
                        command: CommandInfo::default(),
                        container: None,
                        resources: Default::default(),
                        name: None,
                    },
                    containerizer: "posix".into(),
                    container_id: ContainerId(cid.to_owned()),
                    sandbox: Some(sandbox.to_path_buf()),
                    container_running: true,
                    tasks: vec![],
                }],
            }],
            streams: vec![],
        }
    }

    /// Launches `sleep 30` in a posix container, checkpoints it, and drops the
    /// containerizer (as an agent crash would); the checkpointer and the pid.
    async fn crashed_agent(work: &Path) -> (Checkpointer, u32) {
        let posix = PosixContainerizer::new(work.join("posix")).unwrap();
        posix.recover(&[]).await.unwrap();
        let sandbox = work.join("sandbox");
        std::fs::create_dir_all(&sandbox).unwrap();
        let config = ContainerConfig::new(Command::Shell("exec sleep 30".into()), &sandbox);
        let LaunchResult::Launched(handle) = posix.launch(&CId::new("c1"), config).await.unwrap()
        else {
            panic!("posix launches shell commands");
        };
        let pid = handle.pid.unwrap();
        let mut checkpointer = Checkpointer::new(work);
        checkpointer
            .save(&checkpoint_of("c1", &sandbox), &[handle])
            .unwrap();
        (checkpointer, pid)
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    }

    #[actix_rt::test]
    async fn reconnect_reattaches_the_checkpointed_container() {
        let dir = tempfile::tempdir().unwrap();
        let (checkpointer, pid) = crashed_agent(dir.path()).await;
        let posix = PosixContainerizer::new(dir.path().join("posix")).unwrap();
        let r = recover(RecoverMode::Reconnect, checkpointer, &posix)
            .await
            .unwrap();
        let input = r.input.expect("a recovery input");
        assert_eq!(input.running, vec![ContainerId("c1".into())]);
        assert_eq!(input.checkpoint.agent_id, Some("agent-1".into()));
        assert!(r.handles.contains_key("c1") && alive(pid));
        posix.destroy(&CId::new("c1")).await.unwrap();
        assert!(!alive(pid));
    }

    #[actix_rt::test]
    async fn cleanup_kills_everything_and_forgets_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (checkpointer, pid) = crashed_agent(dir.path()).await;
        let posix = PosixContainerizer::new(dir.path().join("posix")).unwrap();
        let r = recover(RecoverMode::Cleanup, checkpointer.clone(), &posix)
            .await
            .unwrap();
        assert!(r.input.is_none() && r.handles.is_empty());
        let stored = Checkpointer::new(dir.path()).load().unwrap();
        assert_eq!(stored.map(|s| s.agent), Some(AgentCheckpoint::default()));
        for _ in 0..100 {
            if !alive(pid) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(!alive(pid), "the container was destroyed");
    }

    #[actix_rt::test]
    async fn a_corrupt_checkpoint_fails_the_start_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let checkpointer = Checkpointer::new(dir.path());
        std::fs::create_dir_all(dir.path().join("meta")).unwrap();
        std::fs::write(checkpointer.path(), b"\0\0garbage").unwrap();
        let posix = PosixContainerizer::new(dir.path().join("posix")).unwrap();
        let err = recover(RecoverMode::Reconnect, checkpointer, &posix)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RecoveryError::Checkpoint(CheckpointError::Corrupt { .. })
        ));
    }

    #[test]
    fn recover_modes_parse() {
        assert_eq!("cleanup".parse(), Ok(RecoverMode::Cleanup));
        assert_eq!("reconnect".parse(), Ok(RecoverMode::Reconnect));
        assert!("wipe".parse::<RecoverMode>().is_err());
    }
}
