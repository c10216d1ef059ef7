//! Drover's built-in command executor, the process behind `drover executor`: the agent
//! starts it for a task that has a [`drover_proto::CommandInfo`] and no executor of its
//! own. It runs that one command and reports its life:
//!
//! - the command runs with working directory = the sandbox (`DROVER_SANDBOX`), the
//!   executor's environment plus the command's, stdout/stderr = the executor's (which
//!   the containerizer points at the sandbox's `stdout`/`stderr` files), in a process
//!   group of its own; a shell command runs as `/bin/sh -c value`, otherwise `value`
//!   with `arguments` as argv;
//! - updates: `TASK_STARTING`, `TASK_RUNNING`, then `TASK_FINISHED` (exit 0),
//!   `TASK_FAILED` ("Command exited with status N" / "Command terminated with signal
//!   S", or a command that could not be spawned) or `TASK_KILLED`;
//! - a kill sends SIGTERM to the whole group, then SIGKILL after the kill policy's grace
//!   period (3 s by default);
//! - with `DROVER_ROOTFS` set (the native containerizer gave the task an image and left
//!   the executor on the host's filesystem), the command enters that root filesystem
//!   before its exec and runs in `/mnt/sandbox` (`rootfs`);
//! - with `DROVER_NETWORK_NONE=1` (the native containerizer's `network/none`: the
//!   executor stays in the host's network namespace to reach its agent), the command
//!   gets a new network namespace with only `lo` up, and its health checks run in it;
//! - a task whose `ContainerInfo` is DOCKER runs as a Docker container instead, through
//!   the engine at `DROVER_DOCKER_SOCKET` (set by the docker containerizer; default
//!   `/var/run/docker.sock`): same updates, an OOM kill ends `TASK_FAILED` with
//!   `REASON_CONTAINER_LIMITATION_MEMORY`, its logs go to the sandbox files, and the
//!   host ports of its `ports` resources are in `PORT0…`/`PORTS`;
//! - a task with a [`HealthCheck`](drover_proto::HealthCheck) is checked while it runs
//!   (COMMAND, HTTP, TCP; inside a Docker task's container): each change of health is a
//!   `TASK_RUNNING` update with `healthy` set, and `consecutive_failures` failures in a
//!   row kill the task (`TASK_KILLED`, `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`); see
//!   [`health`] and `docs/health-checks.md`;
//! - once the terminal update is acknowledged, or [`TERMINAL_ACK_TIMEOUT`] after it
//!   was sent while subscribed, the executor exits; while the agent is away (restarting)
//!   it keeps the update and waits, up to the driver's recovery timeout, and the driver
//!   resends it when it subscribes again.
//!
//! Decisions live in [`core`] (pure, tested without processes); [`run`] wires the
//! executor driver, the shell and the process together.

pub mod core;
mod docker;
mod docker_spec;
pub mod health;
mod probe;
mod probe_docker;
mod process;
mod rootfs;
mod shell;

use std::time::Duration;

use tokio::sync::mpsc::unbounded_channel;

use crate::error::SdkError;
use crate::executor::{ExecutorConfig, ExecutorDriver};
use shell::{CommandExecutor, Shell};

/// How long the executor, subscribed to its agent, waits for the acknowledgement of the
/// task's terminal update before it exits anyway (the clock stops while the agent is
/// away and starts over when the executor subscribes again). The agent has the update by then unless it is gone; an
/// executor that outlives its task holds the container for nothing.
pub const TERMINAL_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the command executor as started by an agent: reads the environment contract,
/// runs the task, and returns the executor's exit status (0 once the task's terminal
/// update went out). Errors: the environment or TLS identity is unusable, or the agent
/// refused the executor or stayed away past the recovery timeout.
///
/// Blocks; creates its own runtime, so call it from a plain `fn main` (not from inside
/// an async runtime).
pub fn run() -> Result<i32, SdkError> {
    run_with(ExecutorConfig::from_env()?)
}

/// [`run`] with an explicit configuration instead of the environment.
pub fn run_with(config: ExecutorConfig) -> Result<i32, SdkError> {
    let sandbox = config.sandbox.clone();
    // Set by the docker containerizer: this executor runs a DOCKER task.
    let docker_executor =
        std::env::var_os(drover_containerizer_docker::ENV_DOCKER_SOCKET).is_some();
    let docker_ctx = docker_spec::DockerContext {
        socket: std::env::var_os(drover_containerizer_docker::ENV_DOCKER_SOCKET).map_or_else(
            || drover_containerizer_docker::DEFAULT_SOCKET.into(),
            Into::into,
        ),
        container_id: config.container_id.to_string(),
        agent_id: config.agent_id.to_string(),
        framework_id: config.framework_id.to_string(),
        scope: std::env::var(drover_containerizer_docker::ENV_DOCKER_SCOPE).ok(),
    };
    let rootfs = std::env::var_os(drover_containerizers::ENV_ROOTFS)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    // Set by the native containerizer (`network/none`, `network_for=task`).
    let network_none =
        std::env::var_os(drover_containerizers::ENV_NETWORK_NONE).is_some_and(|v| v == "1");
    let (tx, rx) = unbounded_channel();
    let (driver, driver_run) =
        ExecutorDriver::start(config, CommandExecutor { inputs: tx.clone() })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let ended = tokio::spawn(async move {
            let result = driver_run.wait().await;
            // Tell the shell, in case it is not the one that stopped the driver.
            let _ = tx.send(core::Input::DriverEnded);
            result
        });
        let mut shell = Shell::new(driver, sandbox, TERMINAL_ACK_TIMEOUT)
            .with_docker(docker_ctx)
            .with_rootfs(rootfs)
            .with_network_none(network_none);
        if docker_executor {
            shell = shell.warm_up_docker();
        }
        let code = shell.run(rx).await;
        match ended.await {
            Ok(Ok(())) => Ok(code),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(SdkError::DriverPanicked(e.to_string())),
        }
    })
}
