//! Signing and verifying audit-log checkpoints (issue 14, item 5): a node signs where its
//! audit log stood, with its envelope key, so that gs can keep a promise the node cannot
//! take back. The message is built by the daemon (`engine::audit::checkpoint_message`) and
//! starts with its own domain tag, so no checkpoint signature verifies as an envelope, a
//! record change or a digest, nor the reverse.

use std::sync::Arc;

use ed25519_dalek::{Signature, Signer as _};

use crate::verify::VerifyError;
use crate::{EnvelopeVerifier, NodeIdentity, Signer};

/// Length of a checkpoint signature (Ed25519).
pub const CHECKPOINT_SIGNATURE_LEN: usize = 64;

impl Signer {
    /// Signs a checkpoint message.
    pub fn sign_checkpoint(&self, message: &[u8]) -> [u8; CHECKPOINT_SIGNATURE_LEN] {
        self.key().sign(message).to_bytes()
    }
}

impl EnvelopeVerifier {
    /// Verifies a checkpoint signature made with the key of `certificate` (DER) at `at_ms`
    /// (when the checkpoint says it was made): the certificate trusted then, and, if the CRL
    /// revokes it, the checkpoint made before its revocation's cutoff, as for envelopes
    /// (`crl/cutoff.rs`: a key superseded by a rotation keeps what it signed before). Returns
    /// who signed.
    pub fn verify_checkpoint(
        &self,
        certificate: &[u8],
        message: &[u8],
        signature: &[u8],
        at_ms: i64,
    ) -> Result<Arc<NodeIdentity>, VerifyError> {
        let (identity, key) = self
            .signer_key_signed_at(certificate, at_ms)
            .map_err(VerifyError::Untrusted)?;
        let signature: [u8; CHECKPOINT_SIGNATURE_LEN] = signature
            .try_into()
            .map_err(|_| VerifyError::BadSignature)?;
        key.verify_strict(message, &Signature::from_bytes(&signature))
            .map_err(|_| VerifyError::BadSignature)?;
        Ok(identity)
    }
}
