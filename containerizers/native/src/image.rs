//! The per-agent image store: container root filesystems from a directory or a rootfs
//! tarball (for example `docker export` output).
//!
//! ```text
//!   image "/srv/rootfs"          (a directory) ─▶ used as is, as the overlay's lower layer
//!   image "/srv/app.tar[.gz|.xz]" (a file)     ─▶ key = hash(path, size, mtime)
//!        <store>/<key>/ exists? ─▶ use it
//!        else tar -xf into <store>/.<key>.<pid>.<n>.tmp, then rename to <store>/<key>
//!   image "busybox:1.36"         (not a path)  ─▶ not ours: NotSupported (docker's)
//! ```
//!
//! Unpacking uses the system `tar` (as root it keeps owners, modes and device nodes;
//! it detects compression). A file that is not a tarball fails with tar's message and
//! leaves nothing behind. Concurrent launches of one new tarball each unpack into
//! their own temporary directory; the first rename wins and the others are discarded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

/// What an image reference is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// An absolute path: a directory or a tarball.
    Path(PathBuf),
    /// Anything else (a registry reference): not for the native containerizer.
    Other(String),
}

impl ImageRef {
    /// Classifies `image`: absolute paths (optionally `file://`) are ours.
    pub fn parse(image: &str) -> ImageRef {
        let path = image.strip_prefix("file://").unwrap_or(image);
        if path.starts_with('/') {
            ImageRef::Path(PathBuf::from(path))
        } else {
            ImageRef::Other(image.to_owned())
        }
    }
}

/// Unpacked images.
#[derive(Debug)]
pub struct ImageStore {
    dir: PathBuf,
    counter: AtomicU64,
}

/// FNV-1a, 64 bits: a stable hash for store keys.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The store key of a tarball at `path` with `size` bytes modified at `mtime_ns`.
pub fn store_key(path: &Path, size: u64, mtime_ns: u128) -> String {
    let text = format!("{}\0{size}\0{mtime_ns}", path.display());
    let name = path
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        })
        .unwrap_or_default();
    let name: String = name.chars().take(40).collect();
    format!("{name}-{:016x}", fnv1a(text.as_bytes()))
}

impl ImageStore {
    /// A store in `dir` (created when first needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ImageStore {
            dir: dir.into(),
            counter: AtomicU64::new(0),
        }
    }

    /// The root filesystem directory of the image at `path`, unpacking a tarball if
    /// it is not in the store yet. Blocking (it may run `tar`): call it from a blocking
    /// thread. Errs with a message for the task's status.
    pub fn rootfs(&self, path: &Path) -> Result<PathBuf, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("image {}: {e}", path.display()))?;
        if meta.is_dir() {
            return Ok(path.to_path_buf());
        }
        if !meta.is_file() {
            return Err(format!(
                "image {} is neither a directory nor a rootfs tarball",
                path.display()
            ));
        }
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = store_key(path, meta.len(), mtime_ns);
        let target = self.dir.join(&key);
        if target.is_dir() {
            return Ok(target);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create image store {}: {e}", self.dir.display()))?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".{key}.{}.{n}.tmp", std::process::id()));
        let result = unpack(path, &tmp).and_then(|()| match std::fs::rename(&tmp, &target) {
            Ok(()) => Ok(()),
            // Someone else unpacked it meanwhile: theirs is as good.
            Err(_) if target.is_dir() => Ok(()),
            Err(e) => Err(format!(
                "cannot move the unpacked image to {}: {e}",
                target.display()
            )),
        });
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result.map(|()| target)
    }
}

/// Unpacks the tarball `file` into the new directory `into`.
fn unpack(file: &Path, into: &Path) -> Result<(), String> {
    std::fs::create_dir(into).map_err(|e| format!("cannot create {}: {e}", into.display()))?;
    let out = std::process::Command::new("tar")
        .arg("-xf")
        .arg(file)
        .arg("-C")
        .arg(into)
        .arg("--numeric-owner")
        .output()
        .map_err(|e| format!("cannot run tar to unpack image {}: {e}", file.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first: Vec<&str> = stderr.lines().take(3).collect();
    Err(format!(
        "image {} is not a usable rootfs tarball: tar {}: {}",
        file.display(),
        out.status,
        first.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_references() {
        assert_eq!(
            ImageRef::parse("/srv/rootfs"),
            ImageRef::Path("/srv/rootfs".into())
        );
        assert_eq!(
            ImageRef::parse("file:///a.tar"),
            ImageRef::Path("/a.tar".into())
        );
        assert_eq!(
            ImageRef::parse("busybox:1.36"),
            ImageRef::Other("busybox:1.36".into())
        );
        assert_eq!(
            ImageRef::parse("rel/dir"),
            ImageRef::Other("rel/dir".into())
        );
    }

    #[test]
    fn keys_are_stable_and_change_with_the_file() {
        let k = store_key(Path::new("/i/app v1.tar"), 10, 5);
        assert_eq!(k, store_key(Path::new("/i/app v1.tar"), 10, 5));
        assert!(k.starts_with("app_v1_tar-"), "{k}");
        assert_ne!(k, store_key(Path::new("/i/app v1.tar"), 11, 5));
        assert_ne!(k, store_key(Path::new("/i/app v1.tar"), 10, 6));
    }

    #[test]
    fn directory_is_used_in_place_and_junk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::new(dir.path().join("store"));
        assert_eq!(store.rootfs(dir.path()).unwrap(), dir.path());
        let missing = store.rootfs(&dir.path().join("nope")).unwrap_err();
        assert!(missing.contains("nope"), "{missing}");
        let junk = dir.path().join("junk.tar");
        std::fs::write(&junk, b"this is not a tarball at all").unwrap();
        let err = store.rootfs(&junk).unwrap_err();
        assert!(err.contains("not a usable rootfs tarball"), "{err}");
        // Nothing half-unpacked is left in the store.
        let left: Vec<_> = std::fs::read_dir(dir.path().join("store"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn tarball_is_unpacked_once() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("etc")).unwrap();
        std::fs::write(src.join("etc/hostname"), "x\n").unwrap();
        let tar = dir.path().join("root.tar");
        let ok = std::process::Command::new("tar")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .status()
            .unwrap();
        assert!(ok.success());
        let store = ImageStore::new(dir.path().join("store"));
        let a = store.rootfs(&tar).unwrap();
        assert_eq!(
            std::fs::read_to_string(a.join("etc/hostname")).unwrap(),
            "x\n"
        );
        std::fs::write(a.join("marker"), "").unwrap();
        let b = store.rootfs(&tar).unwrap();
        assert_eq!(a, b);
        assert!(b.join("marker").exists(), "unpacked again");
    }
}
