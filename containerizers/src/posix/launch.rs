//! Starting a posix container: the process, its session, its user, its output files.
//!
//! ```text
//!   agent ──fork──▶ child: setsid() ─▶ setgroups/setgid/setuid (if user) ─▶ exec command
//!                   cwd = sandbox, stdin = /dev/null,
//!                   stdout/stderr appended to <sandbox>/stdout, <sandbox>/stderr,
//!                   env = exactly the config's (+ default PATH)
//! ```
//!
//! The new session makes the main process leader of a session and of a process group
//! whose ids are its pid, so the whole tree can be found and killed later.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use nix::unistd::{Gid, Uid, User};

use crate::config::{Command, ContainerConfig};
use crate::error::ContainerizerError;
use crate::proc::{ProcFs, ProcessIdentity};
use crate::types::{ContainerId, Termination, TerminationReason};

/// `PATH` given to containers whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A freshly started main process.
#[derive(Debug)]
pub(crate) struct Spawned {
    /// The child, to be reaped.
    pub(crate) child: tokio::process::Child,
    /// Its pid and start time; also the session id.
    pub(crate) leader: ProcessIdentity,
}

/// Credentials to switch to in the child, resolved before forking (the lookup reads
/// files and allocates, which must not happen between fork and exec).
#[derive(Clone, Debug)]
struct Credentials {
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
}

/// Credentials to switch to for user `name`; `None` if the agent already runs as that
/// user (no switch needed, works without root).
fn resolve_user(id: &ContainerId, name: &str) -> Result<Option<Credentials>, ContainerizerError> {
    let failed = |message: String| ContainerizerError::LaunchFailed {
        id: id.clone(),
        message,
    };
    let user = User::from_name(name)
        .map_err(|e| failed(format!("cannot look up user `{name}`: {e}")))?
        .ok_or_else(|| failed(format!("user `{name}` does not exist")))?;
    let me = Uid::effective();
    if user.uid == me {
        return Ok(None);
    }
    if !me.is_root() {
        return Err(failed(format!(
            "running as user `{name}` needs the agent to run as root (it runs as uid {me})"
        )));
    }
    let cname =
        CString::new(name).map_err(|_| failed(format!("user name `{name}` contains NUL")))?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid)
        .map_err(|e| failed(format!("cannot list the groups of user `{name}`: {e}")))?;
    Ok(Some(Credentials {
        uid: user.uid,
        gid: user.gid,
        groups,
    }))
}

fn open_append(path: &Path) -> Result<File, ContainerizerError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ContainerizerError::io("cannot open sandbox output file", path, e))
}

/// Starts `config`'s command as the leader of a new session.
pub(crate) fn spawn(
    id: &ContainerId,
    config: &ContainerConfig,
    procfs: &ProcFs,
) -> Result<Spawned, ContainerizerError> {
    std::fs::create_dir_all(&config.sandbox)
        .map_err(|e| ContainerizerError::io("cannot create sandbox", &config.sandbox, e))?;
    let stdout = open_append(&config.stdout_path())?;
    let mut stderr = open_append(&config.stderr_path())?;
    let credentials = match &config.user {
        Some(name) => resolve_user(id, name)?,
        None => None,
    };

    let mut cmd = match &config.command {
        Command::Shell(script) => {
            let mut cmd = tokio::process::Command::new("/bin/sh");
            cmd.arg("-c").arg(script);
            cmd
        }
        Command::Argv { program, args } => {
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args);
            cmd
        }
    };
    cmd.env_clear()
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&config.sandbox)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr.try_clone().map_err(|e| {
            ContainerizerError::io("cannot duplicate stderr file", config.stderr_path(), e)
        })?))
        .kill_on_drop(false);
    if !config.env.iter().any(|(k, _)| k == "PATH") {
        // Also what the program is looked up in (std uses the child's PATH if set).
        cmd.env("PATH", DEFAULT_PATH);
    }
    // SAFETY: between fork and exec the closure only makes async-signal-safe system
    // calls (setsid, setgroups, setgid, setuid) on data prepared before the fork; it
    // does not allocate or take locks.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid()?;
            if let Some(c) = &credentials {
                nix::unistd::setgroups(&c.groups)?;
                nix::unistd::setgid(c.gid)?;
                nix::unistd::setuid(c.uid)?;
            }
            Ok(())
        });
    }

    let program = config.command.program();
    let child = cmd.spawn().map_err(|e| {
        let message = format!("cannot execute `{program}`: {e}");
        // Best effort: the task's stderr is where its user looks first.
        let _ = writeln!(stderr, "drover posix containerizer: {message}");
        ContainerizerError::LaunchFailed {
            id: id.clone(),
            message,
        }
    })?;
    // Not yet reaped (nobody waited), so both the pid and its /proc entry exist.
    let leader = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(|pid| procfs.stat(pid))
        .map(|s| ProcessIdentity {
            pid: s.pid,
            start_time: s.start_time,
        })
        .ok_or_else(|| ContainerizerError::LaunchFailed {
            id: id.clone(),
            message: format!("`{program}` started but its process cannot be found in /proc"),
        })?;
    Ok(Spawned { child, leader })
}

/// The termination told by the wait status of our own child. `destroying`: the
/// containerizer was killing it, so a signal death is reason `Killed`.
pub(crate) fn termination_of(status: ExitStatus, destroying: bool) -> Termination {
    if let Some(code) = status.code() {
        return Termination::exited(code);
    }
    match status.signal() {
        Some(sig) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| s.as_str())
                .unwrap_or("unknown signal");
            if destroying {
                Termination::killed(
                    Some(sig),
                    format!("destroyed: killed by signal {sig} ({name})"),
                )
            } else {
                Termination {
                    status: None,
                    signal: Some(sig),
                    reason: TerminationReason::Signaled,
                    message: format!("killed by signal {sig} ({name})"),
                }
            }
        }
        None => Termination::unknown(format!("ended with wait status {status}")),
    }
}
