//! The QUIC stateless-reset key of a node, kept in a file so that it survives a
//! restart.
//!
//! ```text
//!  process A on :5051 ── issues reset tokens = HMAC(key, connection id) ──▶ peers
//!  kill -9 A; process B on :5051 with the same key
//!  peer's next packet on its old connection ─▶ B: unknown connection id
//!    ─▶ stateless reset with the same token ─▶ peer drops the connection at once
//!       and reconnects (instead of waiting for its idle timeout)
//! ```
//!
//! The file holds 32 random bytes, written atomically (temporary file, fsync, rename)
//! with mode 0600. Anyone who reads it can reset this node's connections, so it lives
//! next to the node's other private state.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Length of the key in bytes.
pub const RESET_KEY_LEN: usize = 32;

/// A stateless-reset key (see the module doc).
#[derive(Clone, PartialEq, Eq)]
pub struct ResetKey(pub(crate) [u8; RESET_KEY_LEN]);

impl std::fmt::Debug for ResetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetKey(..)")
    }
}

/// The key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("QUIC reset key {path}: cannot {what}: {source}")]
pub struct ResetKeyError {
    /// What was being done.
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl ResetKey {
    /// A fresh random key.
    pub fn random() -> ResetKey {
        ResetKey(rand::random())
    }

    /// The key in `path`, or a new one written there if the file does not exist. A file
    /// of the wrong length is replaced (it cannot be a key this code wrote).
    pub fn load_or_create(path: &Path) -> Result<ResetKey, ResetKeyError> {
        let err = |what, source| ResetKeyError {
            what,
            path: path.to_path_buf(),
            source,
        };
        match fs::read(path) {
            Ok(bytes) => {
                if let Ok(key) = <[u8; RESET_KEY_LEN]>::try_from(bytes.as_slice()) {
                    return Ok(ResetKey(key));
                }
                tracing::warn!(path = %path.display(), "QUIC reset key file has the wrong length; replacing it");
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(err("read", e)),
        }
        let key = ResetKey::random();
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| err("create its directory", e))?;
        }
        let tmp = path.with_extension("tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err("create", e))?;
        f.write_all(&key.0).map_err(|e| err("write", e))?;
        f.sync_all().map_err(|e| err("fsync", e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| err("rename", e))?;
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| err("fsync its directory", e))?;
        }
        Ok(key)
    }

    /// The quinn endpoint configuration using this key. Connection ids are plain random
    /// ones: quinn's default generator signs them with a per-process key and drops
    /// packets whose id it did not sign, so a restarted process would never answer the
    /// old connections with a reset.
    pub(crate) fn endpoint_config(&self) -> quinn::EndpointConfig {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let mut cfg = quinn::EndpointConfig::new(std::sync::Arc::new(key));
        cfg.cid_generator(|| Box::new(RandomCids));
        cfg
    }
}

/// Random 8-byte connection ids that any process of the node accepts as its own.
struct RandomCids;

impl quinn::ConnectionIdGenerator for RandomCids {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        quinn::ConnectionId::new(&rand::random::<[u8; CID_LEN]>())
    }

    fn cid_len(&self) -> usize {
        CID_LEN
    }

    fn cid_lifetime(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Length of the connection ids a node with a [`ResetKey`] issues.
const CID_LEN: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta/quic-reset-key");
        let a = ResetKey::load_or_create(&path).unwrap();
        let b = ResetKey::load_or_create(&path).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, ResetKey::random());
        fs::write(&path, b"short").unwrap();
        let c = ResetKey::load_or_create(&path).unwrap();
        assert_ne!(a, c);
        assert_eq!(fs::read(&path).unwrap().len(), RESET_KEY_LEN);
    }

    #[test]
    fn an_unreadable_location_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        let err = ResetKey::load_or_create(&file.join("key")).unwrap_err();
        assert!(err.to_string().contains("file/key"), "{err}");
    }
}
