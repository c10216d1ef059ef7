//! The cluster CA and node certificates. A node's role is part of its certificate, so
//! the TLS handshake itself proves what a peer is.
//!
//! ```text
//!  <dir>/ca.pem, ca.key          self-signed cluster CA (init_ca, once per cluster)
//!  <dir>/<name>.pem, <name>.key  node cert signed by the CA (issue), carrying
//!        URI SAN  drover://role/<role>/<name>   ← the peer's role and name
//!        DNS SAN  <role>.drover                 ← server-name check on the client side
//!        EKU      serverAuth + clientAuth       ← one cert serves both directions
//! ```
//!
//! Keys are ECDSA P-256, written with mode 0600. Certificates carry rcgen's default
//! validity (they do not expire in practice): rotate by creating a new CA.

use std::fmt;
use std::fs;
use std::path::Path;

use drover_proto::codec::Role;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::CertError;
use files::{bad_pem, io_err, read, write_file};

mod files;
mod identity;

pub use identity::NodeIdentity;

/// File name of the CA certificate inside a certificate directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside a certificate directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// Prefix of the URI SAN that carries a node's role and name.
pub const ROLE_URI_PREFIX: &str = "drover://role/";

const CA_COMMON_NAME: &str = "Drover cluster CA";
const ORGANIZATION: &str = "Drover";

/// The DNS name a server of `role` carries and a client verifies: `<role>.drover`.
pub fn role_dns_name(role: Role) -> String {
    format!("{role}.drover")
}

/// The cluster certificate authority: signs every node certificate.
pub struct ClusterCa {
    cert: CertificateDer<'static>,
    cert_pem: String,
    key: KeyPair,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field("cert_len", &self.cert.len())
            .finish_non_exhaustive()
    }
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, ORGANIZATION);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn node_params(role: Role, name: &str) -> Result<CertificateParams, CertError> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::OrganizationalUnitName, role.as_str());
    p.distinguished_name = dn;
    p.subject_alt_names = vec![
        SanType::URI(format!("{ROLE_URI_PREFIX}{role}/{name}").try_into()?),
        SanType::DnsName(role_dns_name(role).try_into()?),
    ];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

/// Checks a node name: it becomes a file name and part of a URI.
pub fn validate_name(name: &str) -> Result<(), CertError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CertError::InvalidName(name.to_owned()))
    }
}

impl ClusterCa {
    /// A fresh CA, in memory (tests and benchmarks; [`init_ca`] also writes it out).
    pub fn generate() -> Result<ClusterCa, CertError> {
        let key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            cert: cert.der().clone(),
            key,
        })
    }

    /// Loads `ca.pem` and `ca.key` from `dir`, checking that they belong together.
    pub fn load(dir: &Path) -> Result<ClusterCa, CertError> {
        let cert_pem = read(&dir.join(CA_CERT_FILE))?;
        let key_pem = read(&dir.join(CA_KEY_FILE))?;
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| bad_pem(CA_CERT_FILE, e))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| bad_pem(CA_KEY_FILE, e))?;
        // Re-create the CA certificate from our fixed parameters and the loaded key: same
        // subject and public key means the key matches and the issuer name will match.
        let probe = ca_params().self_signed(&key)?;
        if !same_subject_and_key(&cert, probe.der())? {
            return Err(CertError::CaMismatch);
        }
        Ok(ClusterCa {
            cert,
            cert_pem,
            key,
        })
    }

    /// Writes `ca.pem` and `ca.key` (mode 0600) into `dir`, creating it; refuses to
    /// overwrite an existing CA.
    pub fn save(&self, dir: &Path) -> Result<(), CertError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        for f in [CA_CERT_FILE, CA_KEY_FILE] {
            if dir.join(f).exists() {
                return Err(CertError::AlreadyExists(dir.join(f)));
            }
        }
        write_file(&dir.join(CA_KEY_FILE), &self.key.serialize_pem(), true)?;
        write_file(&dir.join(CA_CERT_FILE), &self.cert_pem, false)
    }

    /// The CA certificate (DER), the trust anchor of every node.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a certificate for node `name` with `role`, in memory.
    pub fn issue(&self, role: Role, name: &str) -> Result<NodeIdentity, CertError> {
        validate_name(name)?;
        let key = KeyPair::generate()?;
        let params = node_params(role, name)?;
        let ca_params = ca_params();
        let issuer = Issuer::from_params(&ca_params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(NodeIdentity {
            role,
            name: name.to_owned(),
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            ca: self.cert.clone(),
        })
    }
}

/// Creates a cluster CA and writes `ca.pem`/`ca.key` into `dir` (refuses to overwrite).
pub fn init_ca(dir: &Path) -> Result<ClusterCa, CertError> {
    let ca = ClusterCa::generate()?;
    ca.save(dir)?;
    Ok(ca)
}

/// Issues a certificate for `name` with `role`, signed by the CA in `dir`, and writes
/// `<name>.pem`/`<name>.key` (mode 0600) next to it, replacing older ones.
pub fn issue(dir: &Path, role: Role, name: &str) -> Result<NodeIdentity, CertError> {
    let ca = ClusterCa::load(dir)?;
    let id = ca.issue(role, name)?;
    id.save(dir)?;
    Ok(id)
}

/// Reads role and name from a certificate's `drover://role/<role>/<name>` URI SAN
/// (exactly one must be present). Does not verify the certificate.
pub fn cert_role(der: &CertificateDer<'_>) -> Result<(Role, String), CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| CertError::NoRole(format!("unparsable certificate: {e}")))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CertError::NoRole(format!("bad subjectAltName: {e}")))?
        .ok_or_else(|| CertError::NoRole("no subjectAltName".into()))?;
    let mut found = None;
    for gn in &san.value.general_names {
        let x509_parser::extensions::GeneralName::URI(uri) = gn else {
            continue;
        };
        let Some(rest) = uri.strip_prefix(ROLE_URI_PREFIX) else {
            continue;
        };
        if found.is_some() {
            return Err(CertError::NoRole("more than one role URI".into()));
        }
        let (role, name) = rest
            .split_once('/')
            .ok_or_else(|| CertError::NoRole(format!("bad role URI {uri:?}")))?;
        let role = role
            .parse::<Role>()
            .map_err(|e| CertError::NoRole(e.to_string()))?;
        validate_name(name).map_err(|e| CertError::NoRole(e.to_string()))?;
        found = Some((role, name.to_owned()));
    }
    found.ok_or_else(|| CertError::NoRole(format!("no {ROLE_URI_PREFIX}... URI")))
}

fn same_subject_and_key(a: &CertificateDer<'_>, b: &CertificateDer<'_>) -> Result<bool, CertError> {
    let parse = |d: &[u8]| {
        x509_parser::parse_x509_certificate(d)
            .map(|(_, c)| (c.subject().as_raw().to_vec(), c.public_key().raw.to_vec()))
            .map_err(|e| bad_pem(CA_CERT_FILE, e))
    };
    Ok(parse(a.as_ref())? == parse(b.as_ref())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_cert_carries_role_and_name() {
        let ca = ClusterCa::generate().unwrap();
        let id = ca.issue(Role::Agent, "agent-1").unwrap();
        assert_eq!(
            cert_role(&id.cert_chain()[0]).unwrap(),
            (Role::Agent, "agent-1".to_owned())
        );
        assert_eq!((id.role(), id.name()), (Role::Agent, "agent-1"));
    }

    #[test]
    fn files_round_trip_and_ca_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let ca = init_ca(dir.path()).unwrap();
        assert!(matches!(
            init_ca(dir.path()),
            Err(CertError::AlreadyExists(_))
        ));
        let issued = issue(dir.path(), Role::Master, "m1").unwrap();
        let loaded = NodeIdentity::load(dir.path(), "m1").unwrap();
        assert_eq!(loaded.role(), Role::Master);
        assert_eq!(loaded.cert_chain(), issued.cert_chain());
        assert_eq!(loaded.key().secret_der(), issued.key().secret_der());
        assert_eq!(loaded.ca(), ca.cert_der());
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("m1.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn mismatched_ca_key_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        init_ca(dir.path()).unwrap();
        let other = KeyPair::generate().unwrap();
        fs::write(dir.path().join(CA_KEY_FILE), other.serialize_pem()).unwrap();
        assert!(matches!(
            ClusterCa::load(dir.path()),
            Err(CertError::CaMismatch)
        ));
    }

    #[test]
    fn names_that_escape_the_directory_are_refused() {
        let ca = ClusterCa::generate().unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "sp ace"] {
            assert!(
                matches!(ca.issue(Role::Agent, bad), Err(CertError::InvalidName(_))),
                "{bad}"
            );
        }
    }
}
