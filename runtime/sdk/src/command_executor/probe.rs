//! Runs one health probe of a [`HealthCheck`] and says how it went; the health
//! checker ([`super::health`]) decides what that means.
//!
//! ```text
//!  COMMAND  /bin/sh -c value (or argv) in the sandbox (inside the task's image when it
//!           has one, entered as the task was: see [`super::rootfs`]) ── exit 0 ──▶ Healthy
//!  HTTP     GET http://127.0.0.1:port/path ── status 200..=399 ──▶ Healthy
//!  TCP      connect 127.0.0.1:port ── accepted ──▶ Healthy
//! ```
//!
//! Where the probe runs ([`Target`]): next to the executor ([`Target::Local`]), which
//! for the native containerizer is inside the container's namespaces since the executor
//! runs there; in the task's own network namespace ([`Target::NetNs`] of
//! `/proc/<task pid>/ns/net`) when the native `network/none` gave it one that the
//! executor is not in (all checks: COMMAND joins it before its exec); or, for a Docker task, in the container ([`Target::Docker`]: HTTP and
//! TCP from a thread that `setns`-es into the container's `/proc/<pid>/ns/net` first,
//! [`Target::NetNs`]; COMMAND through an Engine API exec, see [`super::probe_docker`]).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use drover_containerizers::{ENV_ROOTFS, SANDBOX_IN_ROOTFS};
use drover_proto::{executor_env, CommandInfo, HealthCheck, HealthCheckKind};

use tokio::sync::mpsc::UnboundedSender;

use super::core::Input;
use super::health::ProbeOutcome;
use super::rootfs::{Entry, Net};

/// Where HTTP and TCP probes connect from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The executor's own network namespace.
    Local,
    /// The network namespace at this path (`/proc/<pid>/ns/net`).
    NetNs(PathBuf),
    /// A Docker container (by id) of the engine at `socket`.
    Docker {
        /// The engine's socket.
        socket: PathBuf,
        /// The container.
        id: String,
    },
}

/// Starts probe `seq` of `check` on the runtime and sends its outcome to `results` as
/// [`Input::Probed`]; a probe still running after the check's `timeout` is dropped
/// (its command killed) and reported as failed.
pub(crate) fn spawn(
    seq: u64,
    check: HealthCheck,
    sandbox: PathBuf,
    rootfs: Option<PathBuf>,
    target: Target,
    results: UnboundedSender<Input>,
) {
    tokio::spawn(async move {
        let probe = async {
            match (&check.kind, &target) {
                (_, Target::Docker { socket, id }) => {
                    super::probe_docker::probe(&check, socket, id).await
                }
                (HealthCheckKind::Command(info), Target::NetNs(netns)) => {
                    command(info, &sandbox, rootfs.as_deref(), Some(netns)).await
                }
                (HealthCheckKind::Command(info), _) => {
                    command(info, &sandbox, rootfs.as_deref(), None).await
                }
                (HealthCheckKind::Http { .. } | HealthCheckKind::Tcp { .. }, _) => {
                    network(&check, &target).await
                }
            }
        };
        let outcome = tokio::time::timeout(check.timeout, probe)
            .await
            .unwrap_or_else(|_| {
                ProbeOutcome::Unhealthy(format!(
                    "the check did not answer within {:?}",
                    check.timeout
                ))
            });
        let _ = results.send(Input::Probed { seq, outcome });
    });
}

/// Runs the COMMAND check `info` in `sandbox` (or inside the task's image at `rootfs`,
/// and in the network namespace at `netns`, the task's own): healthy on exit 0. The process is killed if the probe is abandoned (the caller's
/// timeout drops this future).
pub(crate) async fn command(
    info: &CommandInfo,
    sandbox: &Path,
    rootfs: Option<&Path>,
    netns: Option<&Path>,
) -> ProbeOutcome {
    let Some(value) = info.value.as_deref() else {
        return ProbeOutcome::Unhealthy("the health check command has no value".into());
    };
    let mut cmd = if info.shell {
        let mut c = tokio::process::Command::new("/bin/sh");
        c.arg("-c").arg(value);
        c
    } else {
        let mut c = tokio::process::Command::new(value);
        if let Some((_, rest)) = info.arguments.split_first() {
            c.args(rest);
        }
        c
    };
    cmd.envs(info.environment.iter().map(|p| (&p.key, &p.value)))
        .current_dir(sandbox)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let net = match netns {
        Some(path) => match std::fs::File::open(path) {
            Ok(file) => Net::Join(file.into()),
            Err(e) => {
                return ProbeOutcome::Unhealthy(format!(
                "cannot run command {value:?}: cannot open the task's network namespace {}: {e}",
                path.display()
            ))
            }
        },
        None => Net::Inherit,
    };
    if rootfs.is_some() || matches!(net, Net::Join(_)) {
        let entry = match Entry::new(rootfs, net, info.user.as_deref()) {
            Ok(entry) => entry,
            Err(e) => return ProbeOutcome::Unhealthy(format!("cannot run command {value:?}: {e}")),
        };
        if rootfs.is_some() {
            cmd.env_remove(ENV_ROOTFS)
                .env(executor_env::SANDBOX, SANDBOX_IN_ROOTFS);
        }
        // SAFETY: `enter` only makes system calls on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || entry.enter());
        }
    }
    match cmd.output().await {
        Ok(out) if out.status.success() => ProbeOutcome::Healthy,
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or("").trim();
            let tail = if last.is_empty() {
                String::new()
            } else {
                format!(": {last}")
            };
            ProbeOutcome::Unhealthy(format!("command {value:?} {}{tail}", out.status))
        }
        Err(e) => ProbeOutcome::Unhealthy(format!("cannot run command {value:?}: {e}")),
    }
}

/// Runs an HTTP or TCP check against `127.0.0.1:port` in `target`'s network namespace,
/// on a thread of its own (a thread that entered another namespace must not be reused).
pub(crate) async fn network(check: &HealthCheck, target: &Target) -> ProbeOutcome {
    let (kind, timeout, target) = (check.kind.clone(), check.timeout, target.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("health-probe".into())
        .spawn(move || {
            let outcome = match enter(&target) {
                Ok(()) => blocking_network(&kind, timeout),
                Err(e) => ProbeOutcome::Unhealthy(e),
            };
            let _ = tx.send(outcome);
        });
    if let Err(e) = spawned {
        return ProbeOutcome::Unhealthy(format!("cannot start a probe thread: {e}"));
    }
    rx.await
        .unwrap_or_else(|_| ProbeOutcome::Unhealthy("the probe thread died".into()))
}

/// Moves the calling thread into `target`'s network namespace.
fn enter(target: &Target) -> Result<(), String> {
    let path = match target {
        Target::Local => return Ok(()),
        Target::NetNs(path) => path,
        Target::Docker { .. } => return Err("a Docker target has no namespace path".into()),
    };
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "cannot open the container's network namespace {}: {e}",
            path.display()
        )
    })?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
        format!(
            "cannot enter the container's network namespace {}: {e}",
            path.display()
        )
    })
}

fn blocking_network(kind: &HealthCheckKind, timeout: Duration) -> ProbeOutcome {
    let result = match kind {
        HealthCheckKind::Tcp { port } => connect(*port, timeout).map(|_| ()),
        HealthCheckKind::Http { port, path } => http_get(*port, path, timeout),
        HealthCheckKind::Command(_) => Err("a COMMAND check is not a network check".into()),
    };
    match result {
        Ok(()) => ProbeOutcome::Healthy,
        Err(e) => ProbeOutcome::Unhealthy(e),
    }
}

fn connect(port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1)))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
    let _ = stream.set_write_timeout(Some(timeout.max(Duration::from_millis(1))));
    Ok(stream)
}

fn http_get(port: u16, path: &str, timeout: Duration) -> Result<(), String> {
    let mut stream = connect(port, timeout)?;
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: drover-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    // The status line fits in the first bytes; read until it is complete.
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("no HTTP response: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let code = status_code(&head)?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("GET {path} answered HTTP {code}"))
    }
}

/// The status code of an HTTP response that starts with `head`.
pub(crate) fn status_code(head: &[u8]) -> Result<u16, String> {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code
            .parse()
            .map_err(|_| format!("bad HTTP status line {line:?}")),
        _ => Err(format!("not an HTTP response: {line:?}")),
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
