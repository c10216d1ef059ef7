//! The conformance checks about one container's run: exit codes, environment,
//! output, failed launches, resource calls, ids; and the opt-in OOM and CPU checks.

use std::time::{Duration, SystemTime};

use super::{
    destroyed, ensure, express, launched, read, setup, verdict, waited, within, Build, Checked,
    Outcome, Target, Workload,
};
use crate::error::ContainerizerError;
use crate::types::{ContainerId, LaunchResult, TerminationReason};
use crate::{Containerizer, Limits};

/// Extracts the config from [`express`]'s answer, or returns the skip.
macro_rules! config_or_skip {
    ($e:expr) => {
        match $e? {
            Ok(config) => config,
            Err(skip) => return Ok(skip),
        }
    };
}
pub(super) use config_or_skip;

/// `exit 0` and `exit 3` end with those statuses, reason `Exited`, no signal; `destroy`
/// after the exit returns the same termination.
pub async fn exit_codes<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_exit_codes(t).await)
}

async fn check_exit_codes<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    for code in [0, 3] {
        let name = format!("exit{code}");
        let config = config_or_skip!(express(t, &scratch, &name, &Workload::Exit(code)));
        let id = ContainerId::new(name);
        launched(&c, &id, config).await?;
        let term = waited(&c, &id).await?;
        ensure!(
            term.status == Some(code)
                && term.signal.is_none()
                && term.reason == TerminationReason::Exited,
            "exit {code}: expected status {code}, reason Exited, no signal; got {term:?}"
        );
        let again = destroyed(&c, &id).await?;
        ensure!(
            again == term,
            "destroy after exit {code} returned {again:?}, wait returned {term:?}"
        );
    }
    Ok(Outcome::Passed)
}

/// The environment given in the config reaches the process, and its working directory
/// is the sandbox (it writes a relative file that appears in the sandbox).
pub async fn env_and_working_dir<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_env_and_working_dir(t).await)
}

async fn check_env_and_working_dir<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    let value = "drover suite: it's $HOME, with spaces";
    let workload = Workload::EnvToFile {
        var: "DROVER_SUITE_VAR".into(),
        value: value.into(),
        file: "env-value".into(),
    };
    let config = config_or_skip!(express(t, &scratch, "env", &workload));
    let sandbox = config.sandbox.clone();
    let id = ContainerId::new("env");
    launched(&c, &id, config).await?;
    let term = waited(&c, &id).await?;
    ensure!(term.status == Some(0), "expected exit 0, got {term:?}");
    let written = read(&sandbox.join("env-value"))?;
    ensure!(
        written == value,
        "the process saw DROVER_SUITE_VAR={written:?}, expected {value:?}"
    );
    destroyed(&c, &id).await?;
    Ok(Outcome::Passed)
}

/// Standard output and error are appended to `<sandbox>/stdout` and `<sandbox>/stderr`.
pub async fn stdout_stderr<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_stdout_stderr(t).await)
}

async fn check_stdout_stderr<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    let workload = Workload::Output {
        stdout: "drover-suite-out".into(),
        stderr: "drover-suite-err".into(),
    };
    let config = config_or_skip!(express(t, &scratch, "output", &workload));
    let (out_path, err_path) = (config.stdout_path(), config.stderr_path());
    std::fs::write(&out_path, "earlier\n")
        .map_err(|e| format!("cannot prepare stdout file: {e}"))?;
    let id = ContainerId::new("output");
    launched(&c, &id, config).await?;
    let term = waited(&c, &id).await?;
    ensure!(term.status == Some(0), "expected exit 0, got {term:?}");
    let (out, err) = (read(&out_path)?, read(&err_path)?);
    ensure!(
        out.starts_with("earlier\n"),
        "stdout was truncated instead of appended to: {out:?}"
    );
    ensure!(
        out.contains("drover-suite-out\n") && !out.contains("drover-suite-err"),
        "stdout file holds {out:?}"
    );
    ensure!(
        err.contains("drover-suite-err\n") && !err.contains("drover-suite-out"),
        "stderr file holds {err:?}"
    );
    destroyed(&c, &id).await?;
    Ok(Outcome::Passed)
}

/// A program that does not exist fails fast: `launch` errs, or the container ends with
/// reason `LaunchFailed`; either way the message names the program.
pub async fn nonexistent_command<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_nonexistent_command(t).await)
}

async fn check_nonexistent_command<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    let program = "drover-suite-no-such-command";
    let workload = Workload::Nonexistent {
        program: program.into(),
    };
    let config = config_or_skip!(express(t, &scratch, "nonexistent", &workload));
    let id = ContainerId::new("nonexistent");
    let fast = Duration::from_secs(5);
    let started = tokio::time::Instant::now();
    match within("launch", c.launch(&id, config)).await? {
        Err(e) => ensure!(
            e.to_string().contains(program),
            "the launch error does not name `{program}`: {e}"
        ),
        Ok(LaunchResult::Launched(_)) => {
            let term = waited(&c, &id).await?;
            ensure!(
                term.reason == TerminationReason::LaunchFailed && term.message.contains(program),
                "expected reason LaunchFailed and a message naming `{program}`, got {term:?}"
            );
        }
        Ok(LaunchResult::NotSupported { reason }) => {
            return Err(format!("launch answered NotSupported: {reason}"))
        }
    }
    ensure!(
        started.elapsed() < fast,
        "failing took {:?}, more than {fast:?}",
        started.elapsed()
    );
    Ok(Outcome::Passed)
}

/// Operations on a container never launched answer `NotFound`.
pub async fn unknown_container<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_unknown_container(t).await)
}

async fn check_unknown_container<B: Build>(t: &Target<B>) -> Checked {
    let (_scratch, c) = setup(t).await?;
    let id = ContainerId::new("drover-suite-unknown");
    let not_found = |what: &str, r: Result<(), ContainerizerError>| match r {
        Err(ContainerizerError::NotFound { .. }) => Ok(()),
        other => Err(format!(
            "{what} of an unknown container: expected NotFound, got {other:?}"
        )),
    };
    not_found("wait", within("wait", c.wait(&id)).await?.map(drop))?;
    not_found(
        "destroy",
        within("destroy", c.destroy(&id)).await?.map(drop),
    )?;
    not_found("usage", within("usage", c.usage(&id)).await?.map(drop))?;
    not_found(
        "update",
        within("update", c.update(&id, Limits::default())).await?,
    )?;
    Ok(Outcome::Passed)
}

/// Launching an id that is running fails with `AlreadyExists` and leaves the first
/// container alone.
pub async fn duplicate_id<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_duplicate_id(t).await)
}

async fn check_duplicate_id<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    let long = Workload::Sleep(Duration::from_secs(60));
    let first = config_or_skip!(express(t, &scratch, "dup", &long));
    let second = first.clone();
    let id = ContainerId::new("dup");
    launched(&c, &id, first).await?;
    match within("launch", c.launch(&id, second)).await? {
        Err(ContainerizerError::AlreadyExists { .. }) => {}
        other => {
            let _ = c.destroy(&id).await;
            return Err(format!(
                "second launch of a running id: expected AlreadyExists, got {other:?}"
            ));
        }
    }
    let term = destroyed(&c, &id).await?;
    ensure!(
        term.reason == TerminationReason::Killed,
        "the first container was not running any more: {term:?}"
    );
    Ok(Outcome::Passed)
}

/// `usage` and `update` work on a running container and answer `NotFound` once it is
/// destroyed. If the containerizer runs processes, `usage` counts at least one.
pub async fn usage_and_update<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_usage_and_update(t).await)
}

async fn check_usage_and_update<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    let config = config_or_skip!(express(
        t,
        &scratch,
        "usage",
        &Workload::Sleep(Duration::from_secs(60))
    ));
    let runs_processes = (t.express)(
        &Workload::TreeIgnoringTerm { file: "x".into() },
        &config.sandbox,
    )
    .is_some();
    let id = ContainerId::new("usage");
    launched(&c, &id, config).await?;
    let before = SystemTime::now() - Duration::from_secs(1);
    let stats = within("usage", c.usage(&id))
        .await?
        .map_err(|e| format!("usage: {e}"))?;
    ensure!(
        stats.timestamp >= before,
        "usage timestamp {:?} is in the past",
        stats.timestamp
    );
    ensure!(
        !runs_processes || stats.processes >= 1,
        "usage counts {} processes",
        stats.processes
    );
    let limits = Limits {
        cpus: 0.5,
        mem_bytes: 64 << 20,
        pids: Some(100),
    };
    within("update", c.update(&id, limits))
        .await?
        .map_err(|e| format!("update: {e}"))?;
    destroyed(&c, &id).await?;
    let usage_after = within("usage", c.usage(&id)).await?;
    ensure!(
        matches!(usage_after, Err(ContainerizerError::NotFound { .. })),
        "usage after destroy: {usage_after:?}"
    );
    let update_after = within("update", c.update(&id, limits)).await?;
    ensure!(
        matches!(update_after, Err(ContainerizerError::NotFound { .. })),
        "update after destroy: {update_after:?}"
    );
    Ok(Outcome::Passed)
}

/// Opt-in ([`Capabilities::oom`](super::Capabilities)): a container allocating 256 MiB
/// under a 32 MiB limit ends with reason `Oom`.
pub async fn oom<B: Build>(t: &Target<B>) -> Outcome {
    if !t.caps.oom {
        return Outcome::Skipped("capability `oom` not claimed".into());
    }
    verdict(check_oom(t).await)
}

async fn check_oom<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    let mut config = config_or_skip!(express(
        t,
        &scratch,
        "oom",
        &Workload::AllocateMemory { bytes: 256 << 20 }
    ));
    config.limits.mem_bytes = 32 << 20;
    let id = ContainerId::new("oom");
    launched(&c, &id, config).await?;
    let term = waited(&c, &id).await?;
    destroyed(&c, &id).await?;
    ensure!(
        term.reason == TerminationReason::Oom,
        "expected reason Oom, got {term:?}"
    );
    Ok(Outcome::Passed)
}

/// Opt-in ([`Capabilities::cpu_shares`](super::Capabilities)): the CPU limit asked at
/// launch, then by `update`, is the one `usage` reports as enforced.
pub async fn cpu_shares<B: Build>(t: &Target<B>) -> Outcome {
    if !t.caps.cpu_shares {
        return Outcome::Skipped("capability `cpu_shares` not claimed".into());
    }
    verdict(check_cpu_shares(t).await)
}

async fn check_cpu_shares<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    let mut config = config_or_skip!(express(
        t,
        &scratch,
        "cpu",
        &Workload::Sleep(Duration::from_secs(60))
    ));
    config.limits.cpus = 0.5;
    let id = ContainerId::new("cpu");
    launched(&c, &id, config).await?;
    let result = cpu_limit_follows(&c, &id).await;
    destroyed(&c, &id).await?;
    result.map(|()| Outcome::Passed)
}

async fn cpu_limit_follows<C: Containerizer>(c: &C, id: &ContainerId) -> Result<(), String> {
    let close = |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() < 1e-6);
    let stats = within("usage", c.usage(id))
        .await?
        .map_err(|e| format!("usage: {e}"))?;
    ensure!(
        close(stats.cpus_limit, 0.5),
        "asked 0.5 CPUs at launch, usage reports {:?}",
        stats.cpus_limit
    );
    let limits = Limits {
        cpus: 1.5,
        ..Limits::default()
    };
    within("update", c.update(id, limits))
        .await?
        .map_err(|e| format!("update: {e}"))?;
    let stats = within("usage", c.usage(id))
        .await?
        .map_err(|e| format!("usage: {e}"))?;
    ensure!(
        close(stats.cpus_limit, 1.5),
        "updated to 1.5 CPUs, usage reports {:?}",
        stats.cpus_limit
    );
    Ok(())
}
