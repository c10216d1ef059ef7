//! The task's process: spawning a [`CommandInfo`] in the sandbox (or in the task's own
//! root filesystem and/or network namespace, see [`super::rootfs`]) in a process group of its own, signalling
//! that group, and reading how the process ended.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use drover_containerizers::{ENV_NETWORK_NONE, ENV_ROOTFS, SANDBOX_IN_ROOTFS};
use drover_proto::{executor_env, CommandInfo};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Pid, User};
use tokio::process::{Child, Command};

use super::core::{ExitKind, KillSignal};
use super::rootfs::{Entry, Net};

/// Spawns `info` with working directory `sandbox`: `/bin/sh -c value` for a shell
/// command, else `value` with `arguments` as its argv (argv\[0\] first). The
/// environment is the executor's plus `info.environment`; stdin is closed, stdout and
/// stderr are the executor's (the containerizer points them at the sandbox files). The
/// process leads a new process group, so a kill reaches everything it started.
///
/// With `rootfs` (the task's image, prepared by the containerizer) the process enters
/// it before its exec ([`Entry`]): it runs in `/mnt/sandbox` of its own root filesystem,
/// `DROVER_SANDBOX` says so, and the program is looked up in the image. With
/// `new_net` (`DROVER_NETWORK_NONE=1`) it first gets a network namespace of its own
/// with only `lo`.
pub(crate) fn spawn(
    info: &CommandInfo,
    sandbox: &Path,
    rootfs: Option<&Path>,
    new_net: bool,
) -> Result<Child, String> {
    let value = info
        .value
        .as_deref()
        .ok_or_else(|| "the command has no value".to_owned())?;
    let mut cmd = if info.shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(value);
        c
    } else {
        let mut c = Command::new(value);
        if let Some((argv0, rest)) = info.arguments.split_first() {
            c.arg0(argv0).args(rest);
        }
        c
    };
    cmd.envs(info.environment.iter().map(|p| (&p.key, &p.value)))
        .env_remove(ENV_NETWORK_NONE)
        .current_dir(sandbox)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0);
    if rootfs.is_none() && !new_net {
        if let Some(user) = info.user.as_deref() {
            switch_user(&mut cmd, user)?;
        }
        return cmd.spawn().map_err(|e| e.to_string());
    }
    let net = if new_net { Net::New } else { Net::Inherit };
    // The user switch happens in the entry, after the namespaces (which need the
    // executor's privileges).
    let entry = Entry::new(rootfs, net, info.user.as_deref())?;
    if rootfs.is_some() {
        cmd.env_remove(ENV_ROOTFS)
            .env(executor_env::SANDBOX, SANDBOX_IN_ROOTFS);
    }
    // SAFETY: `enter` only makes system calls on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || entry.enter());
    }
    let place = match (rootfs.is_some(), new_net) {
        (true, true) => " (in the task's image and network namespace)",
        (true, false) => " (in the task's image)",
        _ => " (in the task's network namespace)",
    };
    cmd.spawn().map_err(|e| format!("{e}{place}"))
}

/// Runs the command as `user` if that is not who we are already (needs privileges).
fn switch_user(cmd: &mut Command, user: &str) -> Result<(), String> {
    let entry = User::from_name(user)
        .map_err(|e| format!("cannot look up user {user:?}: {e}"))?
        .ok_or_else(|| format!("no such user {user:?}"))?;
    if entry.uid != nix::unistd::geteuid() {
        cmd.uid(entry.uid.as_raw()).gid(entry.gid.as_raw());
    }
    Ok(())
}

/// Sends `signal` to the process group led by `pgid`; a group already gone is fine.
pub(crate) fn signal_group(pgid: u32, signal: KillSignal) {
    let Ok(raw) = i32::try_from(pgid) else {
        return;
    };
    let sig = match signal {
        KillSignal::Term => Signal::SIGTERM,
        KillSignal::Kill => Signal::SIGKILL,
    };
    match killpg(Pid::from_raw(raw), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => {
            tracing::warn!(pgid, signal = %sig, error = %e, "cannot signal the task's process group")
        }
    }
}

/// How the process ended.
pub(crate) fn exit_kind(status: ExitStatus) -> ExitKind {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitKind::Code(code),
        (None, Some(sig)) => ExitKind::Signal(sig),
        // Neither: stopped/continued statuses are not reported by wait(); be safe.
        (None, None) => ExitKind::Code(-1),
    }
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
