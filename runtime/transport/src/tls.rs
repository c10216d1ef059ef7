//! rustls and quinn configurations built from a [`NodeIdentity`], with the `ring` crypto
//! provider installed explicitly (never the process default).
//!
//! ```text
//!  client ──ClientHello, SNI "<role>.drover"──▶ server
//!         ◀── server cert: WebPKI vs cluster CA + DNS SAN "<expected role>.drover"
//!         ── client cert ──▶ RoleClientVerifier: WebPKI vs cluster CA (only root),
//!                            then role URI SAN ∈ AllowedRoles, else handshake fails
//! ```
//!
//! Only TLS 1.3 (QUIC requires it); ALPN [`ALPN`].

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use drover_proto::codec::Role;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};

use crate::certs::{cert_role, NodeIdentity};
use crate::error::TlsError;

/// ALPN protocol id of Drover's QUIC connections.
pub const ALPN: &[u8] = b"drover";

/// The one crypto provider the transport uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The set of roles a server endpoint currently accepts; shared with its verifier so that
/// serving a new role takes effect for the next handshake.
#[derive(Debug, Default)]
pub struct AllowedRoles(AtomicU8);

impl AllowedRoles {
    fn bit(role: Role) -> u8 {
        1 << Role::ALL.iter().position(|r| *r == role).unwrap_or(0)
    }

    /// A set holding `roles`.
    pub fn new(roles: &[Role]) -> AllowedRoles {
        let set = AllowedRoles::default();
        roles.iter().for_each(|r| set.allow(*r));
        set
    }

    /// Adds `role`.
    pub fn allow(&self, role: Role) {
        self.0.fetch_or(Self::bit(role), Ordering::AcqRel);
    }

    /// Whether `role` is in the set.
    pub fn contains(&self, role: Role) -> bool {
        self.0.load(Ordering::Acquire) & Self::bit(role) != 0
    }
}

/// Why a client certificate was rejected after passing WebPKI validation.
#[derive(Debug)]
struct RoleRejected(String);

impl fmt::Display for RoleRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RoleRejected {}

/// Client-certificate verifier: WebPKI against the cluster CA, then the role in the
/// certificate must be allowed on this endpoint.
#[derive(Debug)]
pub struct RoleClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Arc<AllowedRoles>,
}

impl RoleClientVerifier {
    /// A verifier trusting only `ca` and accepting the roles in `allowed`.
    pub fn new(ca: &CertificateDer<'static>, allowed: Arc<AllowedRoles>) -> Result<Self, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone())?;
        let inner =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build()?;
        Ok(RoleClientVerifier { inner, allowed })
    }
}

impl ClientCertVerifier for RoleClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        // The endpoint logs the failed handshake with this reason and the peer address.
        let reject = |why: String| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                RoleRejected(why),
            ))))
        };
        match cert_role(end_entity) {
            Ok((role, _)) if self.allowed.contains(role) => Ok(verified),
            Ok((role, name)) => Err(reject(format!(
                "peer {name} has role {role}, not served here"
            ))),
            Err(e) => Err(reject(e.to_string())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Keep-alive and idle timeout of every connection.
pub fn transport_config(
    keep_alive: Duration,
    idle_timeout: Duration,
) -> Result<quinn::TransportConfig, TlsError> {
    let idle = quinn::IdleTimeout::try_from(idle_timeout)
        .map_err(|e| TlsError::Quic(format!("idle timeout {idle_timeout:?}: {e}")))?;
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(keep_alive))
        .max_idle_timeout(Some(idle));
    Ok(t)
}

/// Server side: present `identity`, require a client certificate from the cluster CA
/// whose role is in `allowed`.
pub fn server_config(
    identity: &NodeIdentity,
    allowed: Arc<AllowedRoles>,
    transport: Arc<quinn::TransportConfig>,
) -> Result<quinn::ServerConfig, TlsError> {
    let verifier = RoleClientVerifier::new(identity.ca(), allowed)?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(identity.cert_chain().to_vec(), identity.key().clone_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(quic));
    cfg.transport_config(transport);
    Ok(cfg)
}

/// Client side: present `identity`, trust only the cluster CA. The expected server role
/// is checked through the server name passed to `connect` (see
/// [`crate::certs::role_dns_name`]).
pub fn client_config(
    identity: &NodeIdentity,
    transport: Arc<quinn::TransportConfig>,
) -> Result<quinn::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(identity.ca().clone())?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(identity.cert_chain().to_vec(), identity.key().clone_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
    cfg.transport_config(transport);
    Ok(cfg)
}

/// Role and name of the authenticated peer of an established connection, read from the
/// leaf certificate it presented.
pub fn peer_role(conn: &quinn::Connection) -> Option<(Role, String)> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    cert_role(certs.first()?).ok()
}
