//! Translation between the core's container vocabulary and the containerizers crate:
//! [`LaunchSpec`] → [`ContainerConfig`], [`Termination`] → [`ContainerExit`], and the
//! per-task mock settings read from `mock.*` task labels.
//!
//! ```text
//!  labels: mock.run_for=2s|1.5|250ms|1h  mock.exit_code=3  mock.start_error=boom  mock.kill_after=500ms
//!          mock.exit_signal=9  mock.oom=true  mock.start_delay=10ms
//! ```

use crate::containerizer_kind::ContainerizerKind;
use crate::core::{ContainerExit, ExitCause, LaunchSpec};
use drover_containerizers::{
    Command as ContainerCommand, ContainerConfig, ContainerKind, Limits, MockSpec, Termination,
    TerminationReason, Volume,
};
use drover_proto::{CommandInfo, Parameter, Resources, VolumeMode};
use std::time::Duration;

/// Prefix of task labels that override the agent's mock spec.
pub const MOCK_LABEL_PREFIX: &str = "mock.";

/// A task label the mock containerizer cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid task label {key}={value}: {why}")]
pub struct MockLabelError {
    /// The label.
    pub key: String,
    /// Its value.
    pub value: String,
    /// What was expected.
    pub why: &'static str,
}

/// Parses `1.5` (seconds), `1.5s`, `200ms`, `2m`, `1h` into a duration.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    Duration::try_from_secs_f64(v * scale).ok()
}

/// The agent's mock spec with a task's `mock.*` labels applied.
pub fn mock_spec(base: &MockSpec, labels: &[Parameter]) -> Result<MockSpec, MockLabelError> {
    let mut spec = base.clone();
    for p in labels {
        let Some(key) = p.key.strip_prefix(MOCK_LABEL_PREFIX) else {
            continue;
        };
        let bad = |why| MockLabelError {
            key: p.key.clone(),
            value: p.value.clone(),
            why,
        };
        let v = p.value.as_str();
        match key {
            "run_for" => spec.run_for = parse_duration(v).ok_or_else(|| bad("a duration"))?,
            "start_delay" => {
                spec.start_delay = parse_duration(v).ok_or_else(|| bad("a duration"))?
            }
            "kill_after" => {
                spec.kill_after = Some(parse_duration(v).ok_or_else(|| bad("a duration"))?)
            }
            "exit_code" => spec.exit_code = v.parse().map_err(|_| bad("an integer"))?,
            "exit_signal" => {
                spec.exit_signal = Some(v.parse().map_err(|_| bad("a signal number"))?)
            }
            "oom" => spec.oom = v.parse().map_err(|_| bad("true or false"))?,
            "start_error" => spec.start_error = Some(v.to_owned()),
            _ => return Err(bad("an unknown mock setting")),
        }
    }
    Ok(spec)
}

/// Limits from resources: CPUs and memory (MB → bytes).
pub fn limits(r: &Resources) -> Limits {
    Limits {
        cpus: r.cpus().as_f64(),
        mem_bytes: r.mem().milli().saturating_mul(1024 * 1024) / 1000,
        pids: None,
    }
}

fn command(c: &CommandInfo) -> ContainerCommand {
    let value = c.value.clone().unwrap_or_default();
    if c.shell {
        return ContainerCommand::Shell(value);
    }
    // Mesos argv includes argv[0]; the containerizer wants the arguments after it.
    let args = c.arguments.iter().skip(1).cloned().collect();
    ContainerCommand::Argv {
        program: value,
        args,
    }
}

/// The containerizer config for a core launch.
pub fn container_config(
    spec: &LaunchSpec,
    mock: &MockSpec,
) -> Result<ContainerConfig, MockLabelError> {
    let sandbox = spec.sandbox.clone().unwrap_or_default();
    let mut config = if spec.containerizer == ContainerizerKind::Mock {
        let mut m = mock_spec(mock, &spec.labels)?;
        if spec.sandbox.is_none() {
            // No sandbox to write simulated output into.
            m.stdout = None;
            m.stderr = None;
        }
        ContainerConfig::mock(m, sandbox)
    } else {
        let mut c = ContainerConfig::new(command(&spec.command), sandbox);
        c.env = spec
            .command
            .environment
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        c.user = spec.command.user.clone();
        c
    };
    config.limits = limits(&spec.resources);
    config.kind = ContainerKind {
        containerizer: Some(spec.containerizer.as_str().to_owned()),
        image: spec.container.as_ref().and_then(|c| {
            c.docker
                .as_ref()
                .map(|d| d.image.clone())
                .or_else(|| c.mesos.as_ref()?.image.clone())
        }),
        volumes: spec
            .container
            .iter()
            .flat_map(|c| &c.volumes)
            .filter_map(|v| {
                Some(Volume {
                    host_path: v.host_path.clone()?.into(),
                    container_path: v.container_path.clone().into(),
                    read_only: v.mode == VolumeMode::Ro,
                })
            })
            .collect(),
        ..ContainerKind::default()
    };
    if spec.containerizer == ContainerizerKind::Native {
        // The command executor is linked against the host's libraries: it runs in the
        // container's namespaces and cgroups on the host's filesystem (so its binary
        // reaches the container as it is) and starts the task inside the image. A
        // custom executor with an image runs inside it, as in Mesos. Likewise it stays
        // in the host's network namespace (it must reach the agent) and starts the task
        // in a private one under `network/none`; a custom executor gets the private one.
        if spec.command_executor {
            for key in ["image_for", "network_for"] {
                config
                    .kind
                    .options
                    .insert(key.to_owned(), "task".to_owned());
            }
        }
        if let Some(h) = spec.container.as_ref().and_then(|c| c.hostname.clone()) {
            config.kind.options.insert("hostname".to_owned(), h);
        }
    }
    config.labels = vec![
        (
            "drover.framework_id".to_owned(),
            spec.framework_id.0.clone(),
        ),
        ("drover.executor_id".to_owned(), spec.executor_id.0.clone()),
    ];
    Ok(config)
}

/// The core's view of a termination.
pub fn exit_of(t: &Termination) -> ContainerExit {
    let cause = match t.reason {
        TerminationReason::Killed => ExitCause::Destroyed,
        TerminationReason::Oom => ExitCause::MemoryLimit,
        _ => ExitCause::Exited,
    };
    ContainerExit {
        code: t.status,
        signal: t.signal,
        cause,
        message: (!t.message.is_empty()).then(|| t.message.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_seconds_or_milliseconds() {
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn task_labels_override_the_mock_spec_and_bad_ones_are_refused() {
        let base = MockSpec::default();
        let labels = vec![
            Parameter::new("mock.run_for", "2s"),
            Parameter::new("mock.exit_code", "3"),
            Parameter::new("mock.kill_after", "100ms"),
            Parameter::new("mock.start_error", "boom"),
            Parameter::new("team", "a"),
        ];
        let spec = mock_spec(&base, &labels).unwrap();
        assert_eq!(spec.run_for, Duration::from_secs(2));
        assert_eq!(spec.exit_code, 3);
        assert_eq!(spec.kill_after, Some(Duration::from_millis(100)));
        assert_eq!(spec.start_error.as_deref(), Some("boom"));
        let err = mock_spec(&base, &[Parameter::new("mock.exit_code", "x")]).unwrap_err();
        assert_eq!(err.key, "mock.exit_code");
        assert!(mock_spec(&base, &[Parameter::new("mock.color", "red")]).is_err());
    }

    #[test]
    fn argv_drops_argv0_and_limits_convert_megabytes() {
        let c = command(&CommandInfo::argv("/bin/drover", ["executor"]));
        assert_eq!(
            c,
            ContainerCommand::Argv {
                program: "/bin/drover".into(),
                args: vec!["executor".into()]
            }
        );
        let l = limits(&Resources::parse("cpus:1.5;mem:128").unwrap());
        assert_eq!(l.cpus, 1.5);
        assert_eq!(l.mem_bytes, 128 * 1024 * 1024);
    }

    #[test]
    fn terminations_map_to_exit_causes() {
        assert_eq!(exit_of(&Termination::exited(3)).code, Some(3));
        let killed = exit_of(&Termination::killed(Some(9), "destroyed"));
        assert_eq!(
            (killed.cause, killed.signal),
            (ExitCause::Destroyed, Some(9))
        );
    }
}
