//! What the agent asks a containerizer to run: [`ContainerConfig`].
//!
//! The agent maps a task's `TaskInfo`/`ContainerInfo` to a `ContainerConfig`; this crate
//! knows nothing of the wire protocol. In Drover the command is usually the executor
//! (`drover executor ...`), which in turn runs the task; the containerizer does not care.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The file, in the sandbox, that receives the container's standard output (appended).
pub const STDOUT_FILE: &str = "stdout";
/// The file, in the sandbox, that receives the container's standard error (appended).
pub const STDERR_FILE: &str = "stderr";
/// Environment variable a containerizer sets for a main process that stays on the
/// host's filesystem while its task gets an image: the directory where the task's root
/// filesystem is mounted, ready to `pivot_root` into (native, `image_for=task`).
pub const ENV_ROOTFS: &str = "DROVER_ROOTFS";
/// Environment variable a containerizer sets (to `1`) for a main process that stays in
/// the host's network namespace while its task gets a network namespace of its own
/// with only `lo` (native, `network/none` with `network_for=task`): the process must
/// start its task in a new network namespace and bring `lo` up there.
pub const ENV_NETWORK_NONE: &str = "DROVER_NETWORK_NONE";
/// Where the sandbox appears inside a container's own root filesystem.
pub const SANDBOX_IN_ROOTFS: &str = "/mnt/sandbox";

/// The container's main program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Run by `/bin/sh -c <script>`.
    Shell(String),
    /// Run `program` with `args` directly (no shell); `program` is looked up in the
    /// container's `PATH` if it has no `/`.
    Argv {
        /// Program name or path.
        program: String,
        /// Arguments, not including the program name.
        args: Vec<String>,
    },
}

impl Command {
    /// The program that will be executed, for error messages.
    pub fn program(&self) -> &str {
        match self {
            Command::Shell(_) => "/bin/sh",
            Command::Argv { program, .. } => program,
        }
    }
}

/// Resource limits of a container. Containerizers that cannot enforce a limit accept
/// it and report `None` for it in [`ResourceStatistics`](crate::ResourceStatistics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// CPUs (shares / quota); `0.0` means not limited.
    pub cpus: f64,
    /// Memory, bytes; `0` means not limited.
    pub mem_bytes: u64,
    /// Maximum number of processes/threads; `None` means not limited.
    pub pids: Option<u64>,
}

/// A host path made visible inside the container (native, docker).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Path on the host.
    pub host_path: PathBuf,
    /// Path inside the container.
    pub container_path: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Which containerizer should run the container and what isolation it asks for.
/// Containerizers answer `NotSupported` to what they cannot do (posix: any image or
/// volume). New needs go in `options` first, then become fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerKind {
    /// [`name`](crate::Containerizer::name) of the containerizer that must run it;
    /// `None`: the first one that accepts the config.
    pub containerizer: Option<String>,
    /// Container image (docker reference, or a rootfs for native).
    pub image: Option<String>,
    /// Host paths to mount.
    pub volumes: Vec<Volume>,
    /// Containerizer-specific settings (e.g. `network=host`).
    pub options: BTreeMap<String, String>,
}

/// A simulated container for the mock containerizer (Nomad mock driver style): nothing
/// runs; the container "exits" after `run_for`. Fault injection for scheduler,
/// benchmark and chaos tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockSpec {
    /// How long the container runs before it exits on its own.
    pub run_for: Duration,
    /// Exit code it exits with.
    pub exit_code: i32,
    /// If set, it dies of this signal instead of exiting (reason `Signaled`).
    pub exit_signal: Option<i32>,
    /// If true, it dies of an OOM kill after `run_for` (reason `Oom`).
    pub oom: bool,
    /// If set, `launch` fails with this message.
    pub start_error: Option<String>,
    /// How long `launch` takes before answering.
    pub start_delay: Duration,
    /// How long a `destroy` takes before the container is gone (`None`: at once).
    pub kill_after: Option<Duration>,
    /// Text appended to `<sandbox>/stdout` at launch.
    pub stdout: Option<String>,
    /// Text appended to `<sandbox>/stderr` at launch.
    pub stderr: Option<String>,
}

/// Everything a containerizer needs to start a container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The main program (in Drover: the executor).
    pub command: Command,
    /// The complete environment of the main process. Nothing is inherited from the
    /// agent; posix adds a default `PATH` if this has none.
    pub env: Vec<(String, String)>,
    /// The sandbox directory, also the working directory. Standard output and error go
    /// to `<sandbox>/stdout` and `<sandbox>/stderr` (appended). The agent creates it
    /// and sets its ownership; containerizers create it if missing.
    pub sandbox: PathBuf,
    /// Run as this user (name), if set; needs the agent to run as root.
    pub user: Option<String>,
    /// Resource limits.
    pub limits: Limits,
    /// Which containerizer and what isolation.
    pub kind: ContainerKind,
    /// Free-form labels (docker labels, logging).
    pub labels: Vec<(String, String)>,
    /// Set for the mock containerizer: what to simulate. Real containerizers answer
    /// `NotSupported` to configs that have one.
    pub mock: Option<MockSpec>,
}

impl ContainerConfig {
    /// A config running `command` in `sandbox`, with empty environment, no user, no
    /// limits and any containerizer.
    pub fn new(command: Command, sandbox: impl Into<PathBuf>) -> Self {
        ContainerConfig {
            command,
            env: Vec::new(),
            sandbox: sandbox.into(),
            user: None,
            limits: Limits::default(),
            kind: ContainerKind::default(),
            labels: Vec::new(),
            mock: None,
        }
    }

    /// A config for the mock containerizer simulating `spec` in `sandbox`.
    pub fn mock(spec: MockSpec, sandbox: impl Into<PathBuf>) -> Self {
        let mut config = ContainerConfig::new(Command::Shell(String::new()), sandbox);
        config.mock = Some(spec);
        config
    }

    /// `<sandbox>/stdout`.
    pub fn stdout_path(&self) -> PathBuf {
        self.sandbox.join(STDOUT_FILE)
    }

    /// `<sandbox>/stderr`.
    pub fn stderr_path(&self) -> PathBuf {
        self.sandbox.join(STDERR_FILE)
    }
}
