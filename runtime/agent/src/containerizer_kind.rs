//! The containerizers an agent can be started with (`--containerizers=posix,mock`) and
//! which of them serves a task's `ContainerInfo` type.

use drover_proto::ContainerType;
use std::fmt;
use std::str::FromStr;

/// One containerizer of the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerizerKind {
    /// Plain processes in their own process group, no isolation.
    Posix,
    /// No process at all: the agent plays the executor and the mock containerizer
    /// decides how the task ends (benchmarks, scheduler and chaos tests).
    Mock,
    /// Namespaces + cgroups (Mesos's "MESOS" containerizer).
    Native,
    /// The Docker Engine.
    Docker,
}

impl ContainerizerKind {
    /// The name used in flags and in the agent's `containerizers` list.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerizerKind::Posix => "posix",
            ContainerizerKind::Mock => "mock",
            ContainerizerKind::Native => "native",
            ContainerizerKind::Docker => "docker",
        }
    }

    /// Containerizers that can run a container of type `t`, best first: `DOCKER` needs
    /// `docker`; `MESOS` is served by `native`, or by `posix` (Mesos's containerizer with
    /// the posix launcher and no isolation).
    pub fn serving(t: ContainerType) -> &'static [ContainerizerKind] {
        match t {
            ContainerType::Docker => &[ContainerizerKind::Docker],
            ContainerType::Mesos => &[ContainerizerKind::Native, ContainerizerKind::Posix],
        }
    }

    /// Picks the containerizer for a task from the agent's list (`available`, in order of
    /// preference): the first of the list when there is no container type, otherwise the
    /// best one serving that type.
    pub fn choose(
        available: &[ContainerizerKind],
        wanted: Option<ContainerType>,
    ) -> Result<ContainerizerKind, UnavailableContainerizer> {
        match wanted {
            None => available.first().copied().ok_or(UnavailableContainerizer {
                wanted: None,
                available: Vec::new(),
            }),
            Some(t) => Self::serving(t)
                .iter()
                .find(|k| available.contains(k))
                .copied()
                .ok_or_else(|| UnavailableContainerizer {
                    wanted: Some(t),
                    available: available.to_vec(),
                }),
        }
    }

    /// Formats a list as flags spell it: `posix,mock`.
    pub fn join(kinds: &[ContainerizerKind]) -> String {
        kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for ContainerizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A containerizer name that Drover does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown containerizer '{0}' (known: posix, mock, native, docker)")]
pub struct UnknownContainerizer(pub String);

impl FromStr for ContainerizerKind {
    type Err = UnknownContainerizer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "posix" => Ok(ContainerizerKind::Posix),
            "mock" => Ok(ContainerizerKind::Mock),
            "native" | "mesos" => Ok(ContainerizerKind::Native),
            "docker" => Ok(ContainerizerKind::Docker),
            _ => Err(UnknownContainerizer(s.to_owned())),
        }
    }
}

/// Parses a comma-separated list such as `docker,native`; duplicates are dropped.
pub fn parse_containerizers(s: &str) -> Result<Vec<ContainerizerKind>, UnknownContainerizer> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let k: ContainerizerKind = name.parse()?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    Ok(out)
}

/// No containerizer of the agent can run the task's container.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.wanted, .available))]
pub struct UnavailableContainerizer {
    /// The container type the task asked for (`None`: the agent has no containerizer).
    pub wanted: Option<ContainerType>,
    /// What the agent has.
    pub available: Vec<ContainerizerKind>,
}

fn describe(wanted: &Option<ContainerType>, available: &[ContainerizerKind]) -> String {
    match wanted {
        None => "the agent has no containerizer".to_owned(),
        Some(t) => format!(
            "container type {t} needs containerizer {} but this agent has only [{}]",
            ContainerizerKind::serving(*t)
                .iter()
                .map(|k| format!("'{k}'"))
                .collect::<Vec<_>>()
                .join(" or "),
            ContainerizerKind::join(available)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_refuses_unknown_names() {
        assert_eq!(
            parse_containerizers("posix, mock,posix").unwrap(),
            vec![ContainerizerKind::Posix, ContainerizerKind::Mock]
        );
        assert_eq!(
            parse_containerizers("posix,lxc"),
            Err(UnknownContainerizer("lxc".into()))
        );
    }

    #[test]
    fn chooses_first_without_type_and_names_both_when_missing() {
        let have = [ContainerizerKind::Mock, ContainerizerKind::Posix];
        assert_eq!(
            ContainerizerKind::choose(&have, None),
            Ok(ContainerizerKind::Mock)
        );
        assert_eq!(
            ContainerizerKind::choose(&have, Some(ContainerType::Mesos)),
            Ok(ContainerizerKind::Posix)
        );
        let err = ContainerizerKind::choose(&have, Some(ContainerType::Docker)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("DOCKER") && msg.contains("'docker'"), "{msg}");
        assert!(msg.contains("mock,posix"), "{msg}");
    }
}
