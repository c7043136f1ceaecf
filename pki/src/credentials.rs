//! A node's own certificate chain and key, as loaded at start-up.

use std::path::Path;

use bluehelm_proto::limits::MAX_CERTIFICATE_LEN;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::SigningKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::encoding::{pem_or_der, EncodingError, PEM_CERTIFICATE, PEM_PRIVATE_KEY};
use crate::files::{read_file, read_key_file, ReadError};
use crate::{parse_certificate, CertError, NodeIdentity, Signer};

/// The node's certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A file could not be read, or the key file is readable by others.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A file is not PEM or DER of the expected kind.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The first certificate is not a well-formed node certificate.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// The key is not an Ed25519 PKCS#8 key.
    #[error("node key is not an Ed25519 PKCS#8 key ({0}): use the .key file written by `bluehelm pki issue`")]
    BadKey(String),
    /// The certificate is larger than a signed envelope may carry.
    #[error("node certificate is {0} bytes, more than envelopes may carry ({MAX_CERTIFICATE_LEN}): reissue it with `bluehelm pki issue`")]
    CertificateTooLarge(usize),
    /// The key does not belong to the certificate.
    #[error("node key does not match the certificate's public key: pair the .pem and .key issued together")]
    KeyMismatch,
}

/// A node's certificate chain (its own certificate, then the CA), what it certifies, and
/// the Ed25519 key that is both its TLS key and its envelope signing key.
pub struct NodeCredentials {
    chain: Vec<CertificateDer<'static>>,
    identity: NodeIdentity,
    signing_key: SigningKey,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredentials")
            .field("identity", &self.identity)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl NodeCredentials {
    /// Loads `cert_pem_path` (node certificate first, then the CA) and `key_path` (PKCS#8).
    /// Refuses a key file that its group or others can read.
    pub fn load(cert_pem_path: &Path, key_path: &Path) -> Result<Self, CredentialsError> {
        let key = read_key_file(key_path)?;
        let cert = read_file(cert_pem_path)?;
        Self::from_pem(&cert, &key)
    }

    /// Builds credentials from the certificate chain and key in memory (PEM or DER).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, CredentialsError> {
        let chain: Vec<CertificateDer<'static>> = pem_or_der(cert, PEM_CERTIFICATE)?
            .into_iter()
            .map(CertificateDer::from)
            .collect();
        // `pem_or_der` returns at least one block or an error.
        let identity = parse_certificate(&chain[0])?;
        if chain[0].len() > MAX_CERTIFICATE_LEN {
            return Err(CredentialsError::CertificateTooLarge(chain[0].len()));
        }
        let pkcs8 = pem_or_der(key, PEM_PRIVATE_KEY)?.remove(0);
        let signing_key = SigningKey::from_pkcs8_der(&pkcs8)
            .map_err(|e| CredentialsError::BadKey(e.to_string()))?;
        if signing_key.verifying_key().to_bytes() != identity.signing_key {
            return Err(CredentialsError::KeyMismatch);
        }
        Ok(Self {
            chain,
            identity,
            signing_key,
            pkcs8,
        })
    }

    /// What the node certificate certifies.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// The certificate chain for rustls: the node certificate, then the CA.
    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The node certificate's DER.
    pub fn node_cert_der(&self) -> &[u8] {
        &self.chain[0]
    }

    /// The private key for rustls (PKCS#8).
    pub fn private_key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone()))
    }

    /// A signer for this node's envelopes.
    pub fn signer(&self) -> Signer {
        Signer::new(
            self.signing_key.clone(),
            self.chain[0].to_vec(),
            self.identity.node.clone(),
        )
    }
}
