//! A node's identity: its certificate chain and key, the role and name read from the
//! certificate, and the cluster CA it trusts; loaded from `<dir>/<name>.pem|.key` and
//! `<dir>/ca.pem`.

use std::fmt;
use std::fs;
use std::path::Path;

use drover_proto::codec::Role;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::files::{bad_pem, io_err, pem, read, write_file};
use super::{cert_role, validate_name, CA_CERT_FILE};
use crate::error::CertError;

/// What a node presents and trusts: its certificate chain and key, its role and name
/// (read from the certificate) and the cluster CA.
pub struct NodeIdentity {
    pub(super) role: Role,
    pub(super) name: String,
    pub(super) chain: Vec<CertificateDer<'static>>,
    pub(super) key: PrivateKeyDer<'static>,
    pub(super) ca: CertificateDer<'static>,
}

impl Clone for NodeIdentity {
    fn clone(&self) -> NodeIdentity {
        NodeIdentity {
            role: self.role,
            name: self.name.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            ca: self.ca.clone(),
        }
    }
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("role", &self.role)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// Loads `<name>.pem`, `<name>.key` and `ca.pem` from `dir`.
    pub fn load(dir: &Path, name: &str) -> Result<NodeIdentity, CertError> {
        validate_name(name)?;
        let cert = read(&dir.join(format!("{name}.pem")))?;
        let key = read(&dir.join(format!("{name}.key")))?;
        let ca = read(&dir.join(CA_CERT_FILE))?;
        NodeIdentity::from_pem(&cert, &key, &ca)
    }

    /// Builds an identity from PEM text: the node's certificate chain (leaf first), its
    /// private key, and the cluster CA certificate. Role and name come from the leaf.
    pub fn from_pem(
        chain_pem: &str,
        key_pem: &str,
        ca_pem: &str,
    ) -> Result<NodeIdentity, CertError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_pem("node certificate", e))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| bad_pem("node key", e))?;
        let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| bad_pem("CA", e))?;
        NodeIdentity::from_der(chain, key, ca)
    }

    /// Builds an identity from DER parts; role and name are read from the leaf.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        ca: CertificateDer<'static>,
    ) -> Result<NodeIdentity, CertError> {
        let leaf = chain
            .first()
            .ok_or_else(|| bad_pem("node certificate", "no certificate"))?;
        let (role, name) = cert_role(leaf)?;
        Ok(NodeIdentity {
            role,
            name,
            chain,
            key,
            ca,
        })
    }

    /// Writes `<name>.pem` and `<name>.key` (mode 0600) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), CertError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let chain: String = self.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
        write_file(
            &dir.join(format!("{}.key", self.name)),
            &pem("PRIVATE KEY", self.key.secret_der()),
            true,
        )?;
        write_file(&dir.join(format!("{}.pem", self.name)), &chain, false)
    }

    /// The role in this node's certificate.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The node name in this node's certificate.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Certificate chain, leaf first.
    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The private key of the leaf certificate.
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// The cluster CA certificate this node trusts.
    pub fn ca(&self) -> &CertificateDer<'static> {
        &self.ca
    }
}
