//! The sealing directory: the node certificates, with their encryption keys, that a sender
//! seals to. The operator makes it from the CA's register (`bluehelm pki directory`) and
//! distributes it like the CA file; each entry is verified against the CA and the CRL in
//! force when it is used, so a stale directory can name a revoked node but never make a node
//! seal to it.

use std::path::Path;

use bluehelm_proto::NodeId;

use super::SealRecipient;
use crate::encoding::{pem_or_der, EncodingError, PEM_CERTIFICATE};
use crate::files::{read_file, ReadError};
use crate::{parse_certificate, TrustError, TrustStore};

/// A recipient cannot be sealed to.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory file could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// It is not a PEM bundle of certificates.
    #[error("the sealing directory is not a PEM file of certificates: {0}")]
    Encoding(#[from] EncodingError),
    /// The directory has no certificate of this node.
    #[error("the sealing directory has no certificate of {0}: ask the operator for a directory made after its certificate was issued (`bluehelm pki directory`)")]
    Unknown(NodeId),
    /// Every certificate of this node in the directory fails verification.
    #[error("no certificate of {node} in the sealing directory is trusted now: {source}")]
    Untrusted {
        /// The node.
        node: NodeId,
        /// Why its (newest) certificate was refused.
        source: TrustError,
    },
    /// The node's certificate carries no encryption key: it was issued before sealing existed.
    #[error("{0} has no certified encryption key, so it cannot receive sealed messages: reissue its certificate with `bluehelm pki issue`")]
    NoEncryptionKey(NodeId),
}

/// The certificates of a sealing directory, as read; nothing is trusted until
/// [`SealDirectory::recipient`] verifies it.
#[derive(Debug, Clone, Default)]
pub struct SealDirectory {
    certificates: Vec<Vec<u8>>,
}

impl SealDirectory {
    /// Reads a directory file (PEM certificates).
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        Self::from_pem(&read_file(path)?)
    }

    /// Reads a directory from PEM bytes.
    pub fn from_pem(bytes: &[u8]) -> Result<Self, DirectoryError> {
        Ok(Self {
            certificates: pem_or_der(bytes, PEM_CERTIFICATE)?,
        })
    }

    /// How many certificates it lists.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// `node`'s certified encryption key: of its certificates in the directory that `trust`
    /// accepts at `now_unix` (issued by the CA, valid, not revoked), the newest.
    pub fn recipient(
        &self,
        trust: &TrustStore,
        now_unix: i64,
        node: &NodeId,
    ) -> Result<SealRecipient, DirectoryError> {
        let mut refused = None;
        let mut best: Option<crate::NodeIdentity> = None;
        for der in &self.certificates {
            // An entry that does not even parse names nobody; skip it.
            let Ok(identity) = parse_certificate(der) else {
                continue;
            };
            if &identity.node != node {
                continue;
            }
            match trust.verify_node(der, now_unix) {
                Ok(verified)
                    if best
                        .as_ref()
                        .is_none_or(|b| verified.not_before > b.not_before) =>
                {
                    best = Some(verified)
                }
                Ok(_) => {}
                Err(e) => refused = Some(e),
            }
        }
        let identity = match (best, refused) {
            (Some(identity), _) => identity,
            (None, Some(source)) => {
                return Err(DirectoryError::Untrusted {
                    node: node.clone(),
                    source,
                })
            }
            (None, None) => return Err(DirectoryError::Unknown(node.clone())),
        };
        let public_key = identity
            .encryption_key
            .ok_or_else(|| DirectoryError::NoEncryptionKey(node.clone()))?;
        Ok(SealRecipient {
            node: node.clone(),
            public_key,
        })
    }
}
