//! `GET /files/read?path=…&offset=…&length=…`: a chunk of a sandbox file, as Mesos's
//! files API returns it (`{"data": "...", "offset": N}`), confined to
//! `<work_dir>/frameworks`.
//!
//! ```text
//!  path ─▶ relative? join onto the root ─▶ canonicalize (resolves `..` and symlinks)
//!       ─▶ under the canonical root? else 403 ─▶ open ─▶ the opened file's real path
//!          (/proc/self/fd) still under the root? else 403 ─▶ seek, read ≤ 64 KiB
//! ```
//!
//! `offset` absent or `-1` answers the file's size with no data (how Mesos clients
//! find the end before tailing). `length` absent or `-1` reads to the end, at most
//! [`MAX_READ`] bytes.

use serde::Serialize;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Most bytes returned by one read (Mesos: 16 pages).
pub const MAX_READ: u64 = 64 * 1024;

/// A chunk of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileChunk {
    /// The bytes read (invalid UTF-8 replaced).
    pub data: String,
    /// Where they start; with no data, where the file ends.
    pub offset: u64,
}

/// Why a read was refused.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// Bad parameters, or a directory.
    #[error("{0}")]
    BadRequest(String),
    /// The path leads outside the sandboxes.
    #[error("{0} is outside the agent's sandboxes")]
    Forbidden(String),
    /// No such file.
    #[error("{0} not found")]
    NotFound(String),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path asked for.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Reads a chunk of `path` (absolute, or relative to `root`), refusing anything whose
/// real location is not under `root`.
pub fn read(
    root: &Path,
    path: &str,
    offset: Option<i64>,
    length: Option<i64>,
) -> Result<FileChunk, FilesError> {
    if path.is_empty() {
        return Err(FilesError::BadRequest("missing 'path'".to_owned()));
    }
    if path.contains('\0') {
        return Err(FilesError::BadRequest("invalid 'path'".to_owned()));
    }
    let offset = match offset {
        None | Some(-1) => None,
        Some(o) if o >= 0 => Some(o as u64),
        Some(o) => return Err(FilesError::BadRequest(format!("invalid offset {o}"))),
    };
    let length = match length {
        None | Some(-1) => MAX_READ,
        Some(l) if l >= 0 => (l as u64).min(MAX_READ),
        Some(l) => return Err(FilesError::BadRequest(format!("invalid length {l}"))),
    };
    let not_found = || FilesError::NotFound(path.to_owned());
    // A missing root means no sandbox exists yet: nothing can be found.
    let root = root.canonicalize().map_err(|_| not_found())?;
    let real = root.join(path).canonicalize().map_err(|_| not_found())?;
    if !real.starts_with(&root) {
        return Err(FilesError::Forbidden(path.to_owned()));
    }
    let io = |source| FilesError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(&real).map_err(io)?;
    // The path may have been swapped for a symlink between the check and the open:
    // check where the opened file really is.
    if let Some(opened) = opened_path(&file) {
        if !opened.starts_with(&root) {
            return Err(FilesError::Forbidden(path.to_owned()));
        }
    }
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(FilesError::BadRequest(format!("{path} is a directory")));
    }
    let size = meta.len();
    let Some(offset) = offset else {
        return Ok(FileChunk {
            data: String::new(),
            offset: size,
        });
    };
    if offset >= size {
        return Ok(FileChunk {
            data: String::new(),
            offset: offset.min(size),
        });
    }
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = Vec::new();
    file.take(length).read_to_end(&mut buf).map_err(io)?;
    Ok(FileChunk {
        data: String::from_utf8_lossy(&buf).into_owned(),
        offset,
    })
}

/// Where an open file really is, when the OS can tell (Linux `/proc/self/fd`).
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// `<tmp>/frameworks/f/executors/e/runs/c/stdout` and a secret next to the root.
    fn sandbox() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("frameworks");
        let run = root.join("f/executors/e/runs/c");
        fs::create_dir_all(&run).unwrap();
        fs::write(run.join("stdout"), "hello world").unwrap();
        fs::write(tmp.path().join("secret"), "top secret").unwrap();
        (tmp, root, run)
    }

    #[test]
    fn reads_chunks_and_sizes_like_mesos() {
        let (_tmp, root, run) = sandbox();
        let abs = run.join("stdout").display().to_string();
        let c = read(&root, &abs, Some(6), Some(3)).unwrap();
        assert_eq!(
            c,
            FileChunk {
                data: "wor".into(),
                offset: 6
            }
        );
        let c = read(&root, "f/executors/e/runs/c/stdout", Some(0), None).unwrap();
        assert_eq!(c.data, "hello world");
        assert_eq!(
            read(&root, &abs, None, None).unwrap(),
            FileChunk {
                data: String::new(),
                offset: 11
            }
        );
        assert_eq!(read(&root, &abs, Some(-1), None).unwrap().offset, 11);
        assert_eq!(
            read(&root, &abs, Some(50), None).unwrap(),
            FileChunk {
                data: String::new(),
                offset: 11
            }
        );
        assert!(matches!(
            read(&root, &abs, Some(-5), None),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(
            read(&root, &abs, Some(0), Some(-2)),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(
            read(&root, "", None, None),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(
            read(&root, &run.display().to_string(), Some(0), None),
            Err(FilesError::BadRequest(_))
        ));
    }

    #[test]
    fn dot_dot_escapes_are_refused() {
        let (tmp, root, run) = sandbox();
        let up = format!("{}/../../../../../../secret", run.display());
        assert!(matches!(
            read(&root, &up, Some(0), None),
            Err(FilesError::Forbidden(_))
        ));
        assert!(matches!(
            read(&root, "../secret", Some(0), None),
            Err(FilesError::Forbidden(_))
        ));
        let abs = tmp.path().join("secret").display().to_string();
        assert!(matches!(
            read(&root, &abs, Some(0), None),
            Err(FilesError::Forbidden(_))
        ));
        assert!(matches!(
            read(&root, "/etc/passwd", Some(0), None),
            Err(FilesError::Forbidden(_))
        ));
        assert!(matches!(
            read(&root, "f/nope", Some(0), None),
            Err(FilesError::NotFound(_))
        ));
    }

    #[test]
    fn symlinks_out_of_the_sandbox_are_refused_and_inside_ones_followed() {
        let (tmp, root, run) = sandbox();
        std::os::unix::fs::symlink(tmp.path().join("secret"), run.join("leak")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), run.join("updir")).unwrap();
        std::os::unix::fs::symlink(run.join("stdout"), run.join("alias")).unwrap();
        let rel = "f/executors/e/runs/c";
        assert!(matches!(
            read(&root, &format!("{rel}/leak"), Some(0), None),
            Err(FilesError::Forbidden(_))
        ));
        assert!(matches!(
            read(&root, &format!("{rel}/updir/secret"), Some(0), None),
            Err(FilesError::Forbidden(_))
        ));
        assert_eq!(
            read(&root, &format!("{rel}/alias"), Some(0), Some(5))
                .unwrap()
                .data,
            "hello"
        );
    }

    #[test]
    fn a_missing_root_finds_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("frameworks");
        assert!(matches!(
            read(&root, "x", Some(0), None),
            Err(FilesError::NotFound(_))
        ));
    }
}
