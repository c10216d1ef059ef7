//! Typed errors of the transport: one enum per operation (certificates, TLS configuration,
//! node setup, sending), each variant saying what went wrong and what to check.

use std::net::SocketAddr;
use std::path::PathBuf;

use drover_proto::codec::Role;

/// Creating, writing or loading the cluster CA and node certificates failed.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `init_ca` refuses to overwrite an existing CA (it would orphan every issued cert).
    #[error("{0} already exists; remove it first to create a new cluster CA")]
    AlreadyExists(PathBuf),
    /// Node names become file names and certificate URIs: `[A-Za-z0-9._-]`, 1–64 chars,
    /// not starting with a dot.
    #[error(
        "invalid node name {0:?}: use 1-64 characters of [A-Za-z0-9._-], not starting with '.'"
    )]
    InvalidName(String),
    /// A PEM file holds no usable certificate or key.
    #[error("{what}: {detail}")]
    BadPem {
        /// Which file or object.
        what: String,
        /// Why it was rejected.
        detail: String,
    },
    /// The certificate does not carry exactly one `drover://role/<role>/<name>` URI SAN.
    #[error("certificate carries no valid Drover role: {0}")]
    NoRole(String),
    /// `ca.key` does not belong to `ca.pem`, or `ca.pem` was not made by [`crate::certs`].
    #[error("ca.key does not match ca.pem (or ca.pem was not created by drover)")]
    CaMismatch,
    /// Certificate generation failed inside rcgen.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Building a rustls/quinn configuration from a node identity failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls rejected the certificate, key or protocol settings.
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    /// The cluster CA could not be used as a trust anchor.
    #[error("cluster CA unusable as trust anchor: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    /// The rustls config lacks what QUIC needs (TLS 1.3 and an initial cipher suite).
    #[error("TLS configuration unusable for QUIC: {0}")]
    Quic(String),
}

/// Setting up or using a [`crate::Node`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The UDP socket could not be bound (port taken? address not local?).
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The dedicated tokio runtime could not be started.
    #[error("cannot start the transport runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The node's identity could not be turned into TLS configs.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// [`crate::Node::serve`] was called twice for the same role.
    #[error("role {0} is already served by this node")]
    AlreadyServed(Role),
    /// [`crate::Node::serve`] was called with no role.
    #[error("serve needs at least one allowed role")]
    NoRoles,
    /// QUIC endpoint setup failed.
    #[error("QUIC endpoint error: {0}")]
    Endpoint(String),
}

/// A message could not be queued because its link or peer connection is closed for good
/// (closed locally, node dropped, or the peer connection ended). Links that are merely
/// disconnected still accept messages and queue them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("link closed")]
pub struct SendError;
