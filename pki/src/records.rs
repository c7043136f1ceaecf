//! Signing and verifying field-database records (issue 13): an owner signs each change to
//! its records, the hub signs its digest of a replica's copy. Both use the node's envelope
//! key with their own domain prefix (`bluehelm_proto::records`), so no signature made for one
//! purpose verifies for another.

use std::sync::Arc;

use bluehelm_proto::records::{
    digest_signing_input, record_signing_input, RecordChange, ReplicaDigest, SignedDigest,
    SignedRecordChange,
};
use bluehelm_proto::DecodeError;
use ed25519_dalek::{Signature, Signer as _, Verifier as _, VerifyingKey};

use crate::identity::fingerprint;
use crate::verify::VerifyError;
use crate::{EnvelopeVerifier, NodeId, NodeIdentity, Signer, TrustError};

/// Why a record change does not verify.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordVerifyError {
    /// The change names a signer certificate the verifier was not given.
    #[error("the signer certificate {0} of the change is unknown here")]
    UnknownSigner(String),
    /// The signer's certificate is not trusted (unknown issuer, revoked, or not valid when
    /// the change was made).
    #[error("signer certificate refused: {0}")]
    Untrusted(TrustError),
    /// The signature does not verify.
    #[error("record change signature does not verify against the signer certificate")]
    BadSignature,
    /// The signed bytes do not decode to a valid change.
    #[error("signed record change does not decode: {0}")]
    Decode(DecodeError),
    /// The change names another owner than the node that signed it.
    #[error("the change names owner {claimed} but was signed by {certified}")]
    OwnerMismatch {
        /// The owner the change names.
        claimed: NodeId,
        /// The node whose certificate signed it.
        certified: NodeId,
    },
}

/// A change whose owner's signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedChange {
    /// The change, decoded from the signed bytes.
    pub change: RecordChange,
    /// Who signed it (its owner).
    pub signer: Arc<NodeIdentity>,
}

impl Signer {
    /// SHA-256 of this node's certificate: how a signed change names its signer.
    pub fn certificate_fingerprint(&self) -> [u8; 32] {
        fingerprint(self.certificate_der())
    }

    /// Signs a change to a record this node owns. The caller made `change.owner` this node.
    pub fn sign_record_change(&self, change: &RecordChange) -> SignedRecordChange {
        let bytes = change.encode_to_vec();
        let signature = self.key().sign(&record_signing_input(&bytes)).to_bytes();
        SignedRecordChange {
            change: bytes,
            signature,
            signer: self.certificate_fingerprint(),
        }
    }

    /// Signs the hub's digest of a replica's copy.
    pub fn sign_digest(&self, digest: &ReplicaDigest) -> SignedDigest {
        let bytes = digest.encode_to_vec();
        let signature = self.key().sign(&digest_signing_input(&bytes)).to_bytes();
        SignedDigest {
            digest: bytes,
            signature,
        }
    }
}

impl EnvelopeVerifier {
    /// Verifies record changes made by their owners; result `i` belongs to `changes[i]`.
    /// `certificate` finds a signer's certificate (DER) by its SHA-256. A certificate is
    /// checked against the trust store (CA and CRL) at the time the change says it was made,
    /// so a record outlives the certificate that signed it, but never its revocation. All
    /// signatures are checked in one batch; if the batch fails, one by one.
    pub fn verify_record_changes<'c>(
        &self,
        changes: &[SignedRecordChange],
        certificate: impl Fn(&[u8; 32]) -> Option<&'c [u8]>,
    ) -> Vec<Result<VerifiedChange, RecordVerifyError>> {
        let prepared: Vec<Result<(RecordChange, Arc<NodeIdentity>, VerifyingKey), _>> = changes
            .iter()
            .map(|signed| {
                let change = signed.decode_change().map_err(RecordVerifyError::Decode)?;
                let der = certificate(&signed.signer)
                    .ok_or_else(|| RecordVerifyError::UnknownSigner(hex(&signed.signer)))?;
                let at = change.changed_at_ms.div_euclid(1000);
                let (identity, key) = self
                    .signer_key(der, at)
                    .map_err(RecordVerifyError::Untrusted)?;
                if identity.fingerprint != signed.signer {
                    return Err(RecordVerifyError::UnknownSigner(hex(&signed.signer)));
                }
                if change.owner != identity.node {
                    return Err(RecordVerifyError::OwnerMismatch {
                        claimed: change.owner.clone(),
                        certified: identity.node.clone(),
                    });
                }
                Ok((change, identity, key))
            })
            .collect();
        let mut inputs = Vec::new();
        let mut signatures = Vec::new();
        let mut keys = Vec::new();
        for (signed, item) in changes.iter().zip(&prepared) {
            if let Ok((_, _, key)) = item {
                inputs.push(record_signing_input(&signed.change));
                signatures.push(Signature::from_bytes(&signed.signature));
                keys.push(*key);
            }
        }
        let messages: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let all_good = !messages.is_empty()
            && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
        let mut candidate = 0;
        prepared
            .into_iter()
            .map(|item| {
                let (change, signer, key) = item?;
                let i = candidate;
                candidate += 1;
                if !all_good {
                    key.verify_strict(messages[i], &signatures[i])
                        .map_err(|_| RecordVerifyError::BadSignature)?;
                }
                Ok(VerifiedChange { change, signer })
            })
            .collect()
    }

    /// Verifies the hub's signed digest with the hub's certificate (the link peer's).
    pub fn verify_digest(
        &self,
        signed: &SignedDigest,
        hub_certificate: &[u8],
        now_unix: i64,
    ) -> Result<ReplicaDigest, VerifyError> {
        let (_, key) = self.signer_key(hub_certificate, now_unix)?;
        key.verify(
            &digest_signing_input(&signed.digest),
            &Signature::from_bytes(&signed.signature),
        )
        .map_err(|_| VerifyError::BadSignature)?;
        ReplicaDigest::decode(&signed.digest).map_err(VerifyError::Decode)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
