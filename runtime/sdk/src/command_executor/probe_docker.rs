//! Health probes of a DOCKER task, which runs in a container next to the executor
//! rather than around it: HTTP and TCP probes enter the container's network namespace
//! (`/proc/<pid>/ns/net` of its init process, from inspect), so they reach the ports
//! the container listens on whatever its network (bridge, none, user-defined, host);
//! COMMAND probes run inside the container through an Engine API exec, healthy on exit
//! 0.
//!
//! ```text
//!  HTTP/TCP ─▶ inspect(id).State.Pid ─▶ probe::network(Target::NetNs(/proc/pid/ns/net))
//!  COMMAND  ─▶ create_exec(id, sh -c value) ─▶ start_exec (attached, until EOF) ─▶ inspect_exec.ExitCode
//! ```

use std::path::{Path, PathBuf};

use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use drover_containerizer_docker::DockerRunner;
use drover_proto::{CommandInfo, HealthCheck, HealthCheckKind};
use futures::StreamExt;

use super::health::ProbeOutcome;
use super::probe::{self, Target};

/// Runs `check` once against the Docker container `container` of the engine at
/// `socket`.
pub(crate) async fn probe(check: &HealthCheck, socket: &Path, container: &str) -> ProbeOutcome {
    let runner = match DockerRunner::connect(socket).await {
        Ok(r) => r,
        Err(e) => return ProbeOutcome::Unhealthy(format!("cannot reach the Docker engine: {e}")),
    };
    let result = match &check.kind {
        HealthCheckKind::Command(info) => exec(&runner, container, info).await,
        HealthCheckKind::Http { .. } | HealthCheckKind::Tcp { .. } => {
            match netns(&runner, container).await {
                Ok(target) => return probe::network(check, &target).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ProbeOutcome::Healthy,
        Err(e) => ProbeOutcome::Unhealthy(e),
    }
}

/// The network namespace of the container's init process.
async fn netns(runner: &DockerRunner, container: &str) -> Result<Target, String> {
    let info = runner
        .client()
        .inspect_container(container, None)
        .await
        .map_err(|e| format!("cannot inspect container {container}: {e}"))?;
    let pid = info
        .state
        .and_then(|s| s.pid)
        .filter(|pid| *pid > 0)
        .ok_or_else(|| format!("container {container} is not running"))?;
    Ok(Target::NetNs(PathBuf::from(format!("/proc/{pid}/ns/net"))))
}

/// Runs `info` in the container; `Ok` on exit 0.
async fn exec(runner: &DockerRunner, container: &str, info: &CommandInfo) -> Result<(), String> {
    let value = info
        .value
        .clone()
        .ok_or_else(|| "the health check command has no value".to_owned())?;
    let cmd = if info.shell {
        vec!["/bin/sh".to_owned(), "-c".to_owned(), value.clone()]
    } else if info.arguments.is_empty() {
        vec![value.clone()]
    } else {
        info.arguments.clone()
    };
    let config = ExecConfig {
        cmd: Some(cmd),
        env: Some(
            info.environment
                .iter()
                .map(|p| format!("{}={}", p.key, p.value))
                .collect(),
        ),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        user: info.user.clone(),
        ..ExecConfig::default()
    };
    let docker = runner.client();
    let created = docker
        .create_exec(container, config)
        .await
        .map_err(|e| format!("cannot exec in container {container}: {e}"))?;
    let started = docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| format!("cannot start the exec in container {container}: {e}"))?;
    let mut last_err = String::new();
    if let StartExecResults::Attached { mut output, .. } = started {
        // The stream ends when the command does.
        while let Some(item) = output.next().await {
            if let Ok(bollard::container::LogOutput::StdErr { message }) = item {
                let text = String::from_utf8_lossy(&message);
                if let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) {
                    last_err = line.trim().to_owned();
                }
            }
        }
    }
    let inspected = docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| format!("cannot inspect the exec in container {container}: {e}"))?;
    match inspected.exit_code {
        Some(0) => Ok(()),
        code => {
            let code = code.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
            let tail = if last_err.is_empty() {
                String::new()
            } else {
                format!(": {last_err}")
            };
            Err(format!("command {value:?} exited with status {code}{tail}"))
        }
    }
}

#[cfg(test)]
#[path = "probe_docker_tests.rs"]
mod tests;
