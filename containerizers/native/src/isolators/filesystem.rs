//! `filesystem/linux`: the container's root filesystem (an overlay on its image) and
//! host-path volumes, bound read-write or read-only.
//!
//! ```text
//!   prepare: rootfs (resolved by the image store) + each volume's host path must exist
//!            + the executor binary (only if the main process enters the rootfs)
//!            ─▶ Prepared.fs (see launcher::plan)
//!   check_plan: no directory the launcher creates inside the image may go through a
//!            symlink of the image (it would create it on the host instead)
//! ```

use std::io;
use std::path::{Path, PathBuf};

use super::{Isolator, PrepareCtx, Prepared};
use crate::isolation::IsolatorName;
use crate::launcher::plan::{BindSpec, FsPlan, MountOp, RootfsSpec};

/// The `filesystem/linux` isolator.
#[derive(Debug)]
pub(crate) struct FilesystemLinux;

impl Isolator for FilesystemLinux {
    fn name(&self) -> IsolatorName {
        IsolatorName::FilesystemLinux
    }

    fn prepare(&self, ctx: &PrepareCtx<'_>, out: &mut Prepared) -> Result<(), String> {
        out.fs.rootfs = ctx.rootfs.clone();
        for v in &ctx.config.kind.volumes {
            let meta = std::fs::metadata(&v.host_path).map_err(|e| {
                format!(
                    "volume host path {} cannot be used: {e}",
                    v.host_path.display()
                )
            })?;
            out.fs.binds.push(BindSpec {
                host: v.host_path.clone(),
                container: v.container_path.clone(),
                read_only: v.read_only,
                is_dir: meta.is_dir(),
            });
        }
        // A main process that enters the rootfs needs its binary there; one that stays
        // on the host's filesystem (`image_for=task`) has it already.
        let entered = ctx.rootfs.as_ref().is_some_and(|r| r.enter);
        if let (true, Some(bin)) = (entered, &ctx.options.executor_binary) {
            let meta = std::fs::metadata(bin)
                .map_err(|e| format!("executor binary {}: {e}", bin.display()))?;
            if !meta.is_file() {
                return Err(format!("executor binary {} is not a file", bin.display()));
            }
            out.fs.binds.push(BindSpec {
                host: bin.clone(),
                container: bin.clone(),
                read_only: true,
                is_dir: false,
            });
        }
        Ok(())
    }
}

/// Checks that the directories and files `plan` creates inside the rootfs do not go
/// through a symlink of the image (the upper layer is empty at launch, so the merged
/// tree is the image). A path not in the image is fine: the launcher creates it.
pub(crate) fn check_plan(plan: &FsPlan, rootfs: &RootfsSpec) -> Result<(), String> {
    for op in &plan.ops {
        let path = match op {
            MountOp::Mkdir(p) | MountOp::Touch(p) => p,
            MountOp::Symlink { link, .. } => link,
            _ => continue,
        };
        let Ok(rel) = path.strip_prefix(&rootfs.merged) else {
            continue;
        };
        // Only paths not under an earlier mount (e.g. /dev's tmpfs) reach the image;
        // checking every one is simply stricter.
        let mut lower = rootfs.lower.clone();
        for c in rel.components() {
            lower.push(c);
            match std::fs::symlink_metadata(&lower) {
                Ok(m) if m.file_type().is_symlink() && !under_tmpfs(rel) => {
                    return Err(format!(
                        "the image has a symlink at /{}; the container's mount points must \
                         not go through symlinks",
                        strip(&lower, &rootfs.lower).display()
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => {
                    return Err(format!(
                        "cannot inspect image path {}: {e}",
                        lower.display()
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Paths under `/dev` are created in the tmpfs mounted there, not in the image.
fn under_tmpfs(rel: &Path) -> bool {
    rel.starts_with("dev") && rel != Path::new("dev")
}

fn strip(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}
