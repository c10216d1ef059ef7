//! Helpers shared by the native containerizer's integration tests: skipping where
//! the machine cannot run native, building containerizers with their own cgroup root,
//! and cleaning those roots up.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use drover_containerizer_native::cgroups::Hierarchy;
use drover_containerizer_native::{Isolation, NativeConfig, NativeContainerizer};
use drover_containerizers::{
    Command, ContainerConfig, ContainerHandle, ContainerId, Containerizer, ContainerizerError,
    LaunchResult,
};

/// True (and a message) when native cannot run here; panics instead under
/// `DROVER_REQUIRE_ALL=1`.
pub fn skip() -> bool {
    match drover_containerizer_native::probe(&Isolation::default()) {
        Ok(_) => false,
        Err(reasons) => {
            let why = reasons.join("; ");
            assert!(
                std::env::var("DROVER_REQUIRE_ALL").as_deref() != Ok("1"),
                "DROVER_REQUIRE_ALL=1 but the native containerizer cannot run here: {why}"
            );
            eprintln!("SKIPPED: the native containerizer cannot run here: {why}");
            true
        }
    }
}

/// The cgroup root of this test process's containerizers: `drover-test-<pid>/<name>`.
pub fn cgroup_root(name: &str) -> String {
    format!("drover-test-{}/{name}", std::process::id())
}

/// A config for a containerizer in `state` with cgroups under [`cgroup_root`]`(name)`.
pub fn config(state: &Path, name: &str) -> NativeConfig {
    let mut c = NativeConfig::new(state);
    c.cgroups_root = cgroup_root(name);
    c
}

/// Builds from `config`, as the suite wants errors.
pub fn build(config: NativeConfig) -> Result<NativeContainerizer, ContainerizerError> {
    let dir = config.runtime_dir.clone();
    NativeContainerizer::new(config).map_err(|e| {
        ContainerizerError::io(
            "cannot build the native containerizer",
            dir,
            std::io::Error::other(e.to_string()),
        )
    })
}

/// A recovered containerizer in `state` with cgroup root `name`.
pub async fn recovered(state: &Path, name: &str) -> NativeContainerizer {
    let c = build(config(state, name)).unwrap();
    c.recover(&[]).await.unwrap();
    c
}

/// Removes the (empty) cgroup directories under `drover-test-<pid>/<name>` in every
/// hierarchy, deepest first.
pub fn remove_cgroup_root(name: &str) {
    let Ok(h) = Hierarchy::detect() else { return };
    let mounts: Vec<PathBuf> = match h {
        Hierarchy::V1 { mounts } => mounts.into_values().collect(),
        Hierarchy::V2 { mount, .. } => vec![mount],
    };
    for mount in mounts {
        let root = mount.join(cgroup_root(name));
        rmdir_tree(&root);
        let _ = std::fs::remove_dir(root.parent().unwrap_or(&root)); // fine if others use it
    }
}

fn rmdir_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// `sh -c script` in `sandbox`.
pub fn shell(script: &str, sandbox: &Path) -> ContainerConfig {
    ContainerConfig::new(Command::Shell(script.into()), sandbox)
}

/// Launches and expects `Launched`.
pub async fn launch(c: &NativeContainerizer, id: &str, config: ContainerConfig) -> ContainerHandle {
    match c.launch(&ContainerId::new(id), config).await {
        Ok(LaunchResult::Launched(h)) => h,
        other => panic!("launch of {id}: {other:?}"),
    }
}

/// Reads a sandbox file.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Polls `f` for up to 5 s.
pub async fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not met within 5 s");
}

/// Removes the cgroup root `drover-test-<pid>/<name>` when dropped, also when the
/// test panics.
pub struct Cleanup(pub &'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_cgroup_root(self.0);
    }
}
