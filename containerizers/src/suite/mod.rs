//! The conformance suite every containerizer passes (openraft's `Suite::test_all`).
//!
//! ```text
//!   test_all(build, express, caps)
//!     for each check:  fresh temp dir ─▶ build(<tmp>/state) ─▶ recover(&[]) ─▶ launch
//!                      workloads expressed by `express` ─▶ assert on terminations,
//!                      sandbox files, processes ─▶ Passed | Skipped(why) | Failed(why)
//! ```
//!
//! - `build` makes a fresh containerizer keeping its state under the given directory.
//!   The recovery check calls it twice with the same directory to simulate an agent
//!   restart: the second instance must find the first one's containers.
//! - `express` says how the containerizer runs a [`Workload`]: [`Workload::as_command`]
//!   for real processes, [`Workload::as_mock`] for the mock; a workload it cannot
//!   express skips the checks that need it.
//! - [`Capabilities`] opt into checks only some containerizers can pass (OOM, CPU
//!   limits).
//!
//! Each check is a pub async fn, so a containerizer's own tests can run one alone:
//!
//! ```no_run
//! # async fn f() {
//! use std::path::Path;
//! use drover_containerizers::{suite, PosixContainerizer};
//! let build = |dir: &Path| PosixContainerizer::new(dir);
//! let target = suite::Target::new(build, suite::Workload::as_command);
//! suite::test_all(&target).await.assert_passed();
//! let one = suite::exit_codes(&target).await;
//! # }
//! ```

mod checks;
mod lifecycle;
mod workload;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use checks::{
    cpu_shares, duplicate_id, env_and_working_dir, exit_codes, nonexistent_command, oom,
    stdout_stderr, unknown_container, usage_and_update,
};
pub use lifecycle::{destroy_process_tree, destroy_running, recover_after_restart};
pub use workload::{Express, Workload};

use crate::error::ContainerizerError;
use crate::types::{ContainerHandle, ContainerId, LaunchResult, Termination};
use crate::{ContainerConfig, Containerizer};

/// Checks a containerizer may or may not be able to pass; each flag opts into one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// A container exceeding its memory limit ends with reason `Oom` (native, docker).
    pub oom: bool,
    /// The CPU limit asked at launch and by `update` is enforced and reported by
    /// `usage().cpus_limit` (native, docker).
    pub cpu_shares: bool,
}

/// Builds a containerizer keeping its state under a directory.
pub trait Build {
    /// The containerizer built.
    type Output: Containerizer;
    /// A fresh instance using `state_dir` (which exists) for its state.
    fn build(&self, state_dir: &Path) -> Result<Self::Output, ContainerizerError>;
}

impl<F, C> Build for F
where
    F: Fn(&Path) -> Result<C, ContainerizerError>,
    C: Containerizer,
{
    type Output = C;
    fn build(&self, state_dir: &Path) -> Result<C, ContainerizerError> {
        self(state_dir)
    }
}

/// The containerizer under test: how to build it, how it expresses workloads, what it
/// can do.
#[derive(Debug)]
pub struct Target<B> {
    /// Builds fresh instances.
    pub build: B,
    /// Expresses workloads.
    pub express: Express,
    /// Opt-in checks.
    pub caps: Capabilities,
}

impl<B: Build> Target<B> {
    /// A target with no optional capabilities.
    pub fn new(build: B, express: Express) -> Self {
        Target {
            build,
            express,
            caps: Capabilities::default(),
        }
    }

    /// The same target with `caps`.
    pub fn with_capabilities(self, caps: Capabilities) -> Self {
        Target { caps, ..self }
    }
}

/// The verdict of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The containerizer behaved as required.
    Passed,
    /// Not applicable to this containerizer, with why.
    Skipped(String),
    /// It did not behave as required, with what went wrong.
    Failed(String),
}

/// The verdicts of [`test_all`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Each check's name and verdict, in the order run.
    pub results: Vec<(&'static str, Outcome)>,
}

impl Report {
    /// Names of the failed checks.
    pub fn failed(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .map(|(n, _)| *n)
            .collect()
    }

    /// Prints the report to stderr and panics if any check failed (for tests).
    #[track_caller]
    pub fn assert_passed(&self) {
        eprintln!("{self}");
        let failed = self.failed();
        assert!(
            failed.is_empty(),
            "containerizer conformance checks failed: {failed:?}\n{self}"
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, outcome) in &self.results {
            match outcome {
                Outcome::Passed => writeln!(f, "  PASS {name}")?,
                Outcome::Skipped(why) => writeln!(f, "  SKIP {name}: {why}")?,
                Outcome::Failed(why) => writeln!(f, "  FAIL {name}: {why}")?,
            }
        }
        Ok(())
    }
}

/// Runs every check, one after the other.
pub async fn test_all<B: Build>(target: &Target<B>) -> Report {
    let mut report = Report::default();
    report
        .results
        .push(("exit_codes", exit_codes(target).await));
    report
        .results
        .push(("env_and_working_dir", env_and_working_dir(target).await));
    report
        .results
        .push(("stdout_stderr", stdout_stderr(target).await));
    report
        .results
        .push(("nonexistent_command", nonexistent_command(target).await));
    report
        .results
        .push(("unknown_container", unknown_container(target).await));
    report
        .results
        .push(("duplicate_id", duplicate_id(target).await));
    report
        .results
        .push(("usage_and_update", usage_and_update(target).await));
    report
        .results
        .push(("destroy_running", destroy_running(target).await));
    report
        .results
        .push(("destroy_process_tree", destroy_process_tree(target).await));
    report
        .results
        .push(("recover_after_restart", recover_after_restart(target).await));
    report.results.push(("oom", oom(target).await));
    report
        .results
        .push(("cpu_shares", cpu_shares(target).await));
    report
}

// ---- helpers shared by the checks -------------------------------------------------

/// A check's body: `Ok(Passed | Skipped)` or `Err(what failed)`.
type Checked = Result<Outcome, String>;

fn verdict(result: Checked) -> Outcome {
    result.unwrap_or_else(Outcome::Failed)
}

/// Fails the check with a formatted message unless `cond`.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}
pub(crate) use ensure;

/// Longest any single step may take.
const STEP: Duration = Duration::from_secs(15);

/// A temporary directory with `state/` for the containerizer and sandboxes.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("drover-suite-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        std::fs::create_dir(dir.path().join("state"))
            .map_err(|e| format!("cannot create state dir: {e}"))?;
        Ok(Scratch { dir })
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A new, empty sandbox (created, as the agent would).
    fn sandbox(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.dir.path().join("sandboxes").join(name);
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create sandbox {}: {e}", path.display()))?;
        Ok(path)
    }
}

/// A fresh scratch dir and a recovered containerizer using it.
async fn setup<B: Build>(target: &Target<B>) -> Result<(Scratch, B::Output), String> {
    let scratch = Scratch::new()?;
    let c = target
        .build
        .build(&scratch.state())
        .map_err(|e| format!("build: {e}"))?;
    within("recover", c.recover(&[]))
        .await?
        .map_err(|e| format!("recover: {e}"))?;
    Ok((scratch, c))
}

/// The config for `workload` in a new sandbox `name`, or the reason to skip.
fn express<B>(
    target: &Target<B>,
    scratch: &Scratch,
    name: &str,
    workload: &Workload,
) -> Result<Result<ContainerConfig, Outcome>, String> {
    let sandbox = scratch.sandbox(name)?;
    Ok((target.express)(workload, &sandbox)
        .ok_or_else(|| Outcome::Skipped(format!("the containerizer cannot express {workload:?}"))))
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(STEP, fut)
        .await
        .map_err(|_| format!("{what}: no answer within {STEP:?}"))
}

async fn launched<C: Containerizer>(
    c: &C,
    id: &ContainerId,
    config: ContainerConfig,
) -> Result<ContainerHandle, String> {
    match within("launch", c.launch(id, config)).await? {
        Ok(LaunchResult::Launched(handle)) => Ok(handle),
        Ok(LaunchResult::NotSupported { reason }) => {
            Err(format!("launch of {id}: NotSupported: {reason}"))
        }
        Err(e) => Err(format!("launch of {id}: {e}")),
    }
}

async fn waited<C: Containerizer>(c: &C, id: &ContainerId) -> Result<Termination, String> {
    within("wait", c.wait(id))
        .await?
        .map_err(|e| format!("wait for {id}: {e}"))
}

async fn destroyed<C: Containerizer>(c: &C, id: &ContainerId) -> Result<Termination, String> {
    within("destroy", c.destroy(id))
        .await?
        .map_err(|e| format!("destroy of {id}: {e}"))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
