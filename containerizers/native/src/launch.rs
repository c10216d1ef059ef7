//! Launching a native container: from a [`ContainerConfig`] to a running init.
//!
//! ```text
//!   declined? (other containerizer, mock, registry image, image/volumes without
//!              filesystem/linux)                                  ─▶ NotSupported
//!   invalid?  (id, options, memory < 32 MiB, rlimits without posix/rlimits) ─▶ InvalidConfig
//!   reserve the id ─▶ own task: runtime dir, cgroups, image (blocking thread),
//!   isolators' prepare, mount plan, program lookup (in the image if the main process
//!   enters it; on the host with `image_for=task`, which also sets `DROVER_ROOTFS`),
//!   user ─▶ launcher::spawn
//!   ─▶ record ─▶ reaper + OOM watcher.   Any failure: LaunchFailed, and the cgroups,
//!   runtime dir and child made so far are removed (mounts die with the namespace).
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drover_containerizers::posix::DEFAULT_PATH;
use drover_containerizers::proc::ProcessIdentity;
use drover_containerizers::{
    ContainerConfig, ContainerHandle, ContainerId, ContainerizerError, LaunchResult,
    ENV_NETWORK_NONE, ENV_ROOTFS,
};

use crate::cgroups::kill;
use crate::command::{resolve_command, resolve_user};
use crate::container::{self, Record, STATUS_FILE};
use crate::exit::{self, Watch};
use crate::image::ImageRef;
use crate::isolation::IsolatorName;
use crate::isolators::{filesystem, PrepareCtx, Prepared};
use crate::launcher::plan::{self, FsSpec, RootfsSpec};
use crate::launcher::{self, LaunchSpec};
use crate::native::{
    Entry, Inner, Slot, EXTRA_BOOT_ID, EXTRA_CGROUP, EXTRA_START_TIME, KILL_TIMEOUT, NAME,
    REMOVE_TIMEOUT,
};
use crate::options::{default_hostname, ContainerOptions, ImageFor, MIN_MEMORY_BYTES};

impl Inner {
    /// Why native cannot run `config`, if it cannot.
    fn unsupported(&self, config: &ContainerConfig) -> Option<String> {
        if let Some(name) = config.kind.containerizer.as_deref().filter(|n| *n != NAME) {
            return Some(format!(
                "native: the config asks for the `{name}` containerizer"
            ));
        }
        if config.mock.is_some() {
            return Some("native: the config is a mock (it has a MockSpec)".into());
        }
        let fs = self.config.isolation.has(IsolatorName::FilesystemLinux);
        if let Some(image) = &config.kind.image {
            if let ImageRef::Other(r) = ImageRef::parse(image) {
                return Some(format!(
                    "native: images are directories or rootfs tarballs given by absolute path; \
                     `{r}` is a registry reference"
                ));
            }
            if !fs {
                return Some(format!(
                    "native: images need {}",
                    self.lacking(IsolatorName::FilesystemLinux)
                ));
            }
        }
        if !config.kind.volumes.is_empty() && !fs {
            return Some(format!(
                "native: volumes need {}",
                self.lacking(IsolatorName::FilesystemLinux)
            ));
        }
        None
    }

    /// "`name` isolation, which this agent does not run", with the kernel's reason if
    /// the agent dropped it at start.
    fn lacking(&self, name: IsolatorName) -> String {
        match self.config.dropped.iter().find(|(n, _)| *n == name) {
            Some((_, why)) => format!(
                "`{name}` isolation, which the agent dropped at start because this host \
                 cannot support it: {why}"
            ),
            None => format!("`{name}` isolation, which this agent does not run"),
        }
    }

    fn validate(
        &self,
        id: &ContainerId,
        config: &ContainerConfig,
    ) -> Result<ContainerOptions, String> {
        if !id.is_path_safe() {
            return Err(
                "native needs a container id of 1-200 characters from [A-Za-z0-9._-], \
                        not starting with '.'"
                    .into(),
            );
        }
        let options = ContainerOptions::parse(&config.kind.options)?;
        let mem = config.limits.mem_bytes;
        if mem != 0 && mem < MIN_MEMORY_BYTES {
            return Err(format!(
                "memory limit of {mem} bytes ({} MiB) is below the minimum of 32 MiB",
                mem >> 20
            ));
        }
        if !options.rlimits.is_empty() && !self.config.isolation.has(IsolatorName::PosixRlimits) {
            return Err(format!(
                "rlimit options need {}",
                self.lacking(IsolatorName::PosixRlimits)
            ));
        }
        let dropped = |n: IsolatorName| self.config.dropped.iter().any(|(d, _)| *d == n);
        if options.network_none == Some(true) && dropped(IsolatorName::NetworkNone) {
            return Err(format!(
                "a private network needs {}",
                self.lacking(IsolatorName::NetworkNone)
            ));
        }
        if config.limits.pids.is_some_and(|p| p > 0) && dropped(IsolatorName::CgroupsPids) {
            return Err(format!(
                "a process limit needs {}",
                self.lacking(IsolatorName::CgroupsPids)
            ));
        }
        Ok(options)
    }

    /// See [`Containerizer::launch`](drover_containerizers::Containerizer::launch).
    pub(crate) async fn launch(
        self: Arc<Self>,
        id: ContainerId,
        config: ContainerConfig,
    ) -> Result<LaunchResult, ContainerizerError> {
        self.check_recovered("launch")?;
        if let Some(reason) = self.unsupported(&config) {
            return Ok(LaunchResult::NotSupported { reason });
        }
        let options =
            self.validate(&id, &config)
                .map_err(|message| ContainerizerError::InvalidConfig {
                    id: id.clone(),
                    message,
                })?;
        {
            let mut table = self.lock();
            if table.live.contains_key(&id) {
                return Err(ContainerizerError::AlreadyExists { id });
            }
            table.live.insert(id.clone(), Slot::Launching);
        }
        // In its own task: a caller giving up midway must not leave a half-made
        // container (the task finishes, and the container is then known or gone).
        let inner = self.clone();
        let task_id = id.clone();
        let started = tokio::spawn(async move { inner.start(&task_id, &config, &options).await });
        let result = match started.await {
            Ok(r) => r,
            Err(e) => Err(format!("the launch task failed: {e}")),
        };
        let mut table = self.lock();
        match result {
            Ok(entry) => {
                let handle = entry.handle.clone();
                table.live.insert(id, Slot::Known(entry));
                Ok(LaunchResult::Launched(handle))
            }
            Err(message) => {
                table.live.remove(&id);
                Err(ContainerizerError::LaunchFailed { id, message })
            }
        }
    }

    /// Builds and starts the container; on failure removes what it made.
    async fn start(
        &self,
        id: &ContainerId,
        config: &ContainerConfig,
        options: &ContainerOptions,
    ) -> Result<Arc<Entry>, String> {
        let dir = container::dir(&self.containers_dir, id);
        let cgroup = self.cgroups.container(id.as_str());
        let result = self.start_in(id, config, options, &dir, &cgroup).await;
        if result.is_err() {
            if let Err(e) = kill::kill_all(&cgroup, KILL_TIMEOUT).await {
                tracing::warn!(container = %id, error = %e, "native: cannot kill a failed launch");
            }
            if let Err(e) = kill::remove(&cgroup, REMOVE_TIMEOUT).await {
                tracing::warn!(container = %id, error = %e, "native: cannot remove a failed launch's cgroups");
            }
            if let Err(e) = self.remove_dirs(id, &dir) {
                tracing::warn!(container = %id, error = %e, "native: cannot remove a failed launch's directory");
            }
        }
        result
    }

    async fn start_in(
        &self,
        id: &ContainerId,
        config: &ContainerConfig,
        options: &ContainerOptions,
        dir: &Path,
        cgroup: &crate::cgroups::ContainerCgroup,
    ) -> Result<Arc<Entry>, String> {
        let mkdir = |p: &Path| {
            std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
        };
        mkdir(dir)?;
        mkdir(&config.sandbox)?;
        cgroup.create().map_err(|e| e.to_string())?;

        let rootfs = match config.kind.image.as_deref().map(ImageRef::parse) {
            Some(ImageRef::Path(image)) => {
                let inner_images = self.images.clone();
                let lower = tokio::task::spawn_blocking(move || inner_images.rootfs(&image))
                    .await
                    .map_err(|e| format!("the image task failed: {e}"))??;
                let scratch = self.scratch(id);
                let spec = RootfsSpec {
                    lower,
                    upper: scratch.join("upper"),
                    work: scratch.join("work"),
                    merged: scratch.join("rootfs"),
                    enter: options.image_for == ImageFor::Container,
                };
                for d in [&spec.upper, &spec.work, &spec.merged] {
                    mkdir(d)?;
                }
                Some(spec)
            }
            _ => None,
        };
        let mut prepared = Prepared {
            new_pid: false,
            new_net: options.network_none == Some(true),
            fs: FsSpec {
                rootfs: None,
                sandbox: config.sandbox.clone(),
                binds: Vec::new(),
                private_proc: false,
            },
            rlimits: Vec::new(),
        };
        let ctx = PrepareCtx {
            config,
            options,
            cgroup,
            rootfs: rootfs.clone(),
        };
        for iso in &self.isolators {
            iso.prepare(&ctx, &mut prepared)
                .map_err(|e| format!("{}: {e}", iso.name()))?;
        }
        let fs = plan::build(&prepared.fs).map_err(|e| e.to_string())?;
        if let Some(r) = &rootfs {
            filesystem::check_plan(&fs, r)?;
        }
        let mut env = config.env.clone();
        if let Some(r) = rootfs.as_ref().filter(|r| !r.enter) {
            env.retain(|(k, _)| k != ENV_ROOTFS);
            env.push((ENV_ROOTFS.into(), r.merged.display().to_string()));
        }
        // `network_for=task`: the main process (the command executor) must reach its
        // agent, so it stays in the host's network namespace and its task gets the
        // private one.
        env.retain(|(k, _)| k != ENV_NETWORK_NONE);
        if options.network_for_task && prepared.new_net {
            prepared.new_net = false;
            env.push((ENV_NETWORK_NONE.into(), "1".into()));
        }
        if !env.iter().any(|(k, _)| k == "PATH") {
            env.push(("PATH".into(), DEFAULT_PATH.into()));
        }
        let path_var = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let root = rootfs
            .as_ref()
            .filter(|r| r.enter)
            .map_or_else(|| PathBuf::from("/"), |r| r.lower.clone());
        let bound: Vec<PathBuf> = prepared
            .fs
            .binds
            .iter()
            .map(|b| b.container.clone())
            .collect();
        let (program, argv) = resolve_command(&config.command, &path_var, &root, &bound)?;
        let user = match &config.user {
            Some(name) => resolve_user(name)?,
            None => None,
        };
        let spec = LaunchSpec {
            new_pid: prepared.new_pid,
            new_net: prepared.new_net,
            cgroup_procs: cgroup.procs_files(),
            fs,
            hostname: Some(
                options
                    .hostname
                    .clone()
                    .unwrap_or_else(|| default_hostname(id.as_str())),
            ),
            rlimits: prepared.rlimits,
            user,
            program,
            argv,
            env,
            stdout: config.stdout_path(),
            stderr: config.stderr_path(),
            status_file: dir.join(STATUS_FILE),
        };
        let spawned = launcher::spawn(&spec).await.inspect_err(|message| {
            // The task's stderr is where its user looks first.
            let line = format!("drover native containerizer: {message}\n");
            let _ = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(config.stderr_path())
                .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
        })?;
        let start_time = self
            .procfs
            .stat(spawned.pid)
            .map(|s| s.start_time)
            .ok_or_else(|| format!("the container's init (pid {}) is not in /proc", spawned.pid))?;
        let identity = ProcessIdentity {
            pid: spawned.pid,
            start_time,
        };
        let handle = ContainerHandle {
            id: id.clone(),
            pid: u32::try_from(identity.pid).ok(),
            containerizer: NAME.to_owned(),
            sandbox: config.sandbox.clone(),
            extra: BTreeMap::from([
                (EXTRA_START_TIME.to_owned(), identity.start_time.to_string()),
                (EXTRA_BOOT_ID.to_owned(), self.boot_id.clone()),
                (
                    EXTRA_CGROUP.to_owned(),
                    format!("{}/{id}", self.config.cgroups_root),
                ),
            ]),
        };
        let record = Record {
            handle: handle.clone(),
            limits: config.limits,
            termination: None,
        };
        // Without a record the container could leak past an agent restart; the
        // caller's clean-up kills it through its cgroup.
        container::write_record(dir, &record)
            .map_err(|e| format!("cannot write the container's record: {e}"))?;
        Ok(exit::start(
            handle,
            dir.to_path_buf(),
            cgroup.clone(),
            config.limits,
            Watch::Child(spawned.pidfd),
        ))
    }
}
