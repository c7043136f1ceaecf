//! Signing envelopes with the node's certified Ed25519 key.

use bluehelm_proto::{signing_input, Envelope, SignedEnvelope, ValidationError};
use ed25519_dalek::{Signer as _, SigningKey};

use crate::NodeId;

/// Signs this node's envelopes: Ed25519 over `SIGNING_DOMAIN || envelope_bytes`, attaching
/// the node certificate so any receiver can check who signed.
///
/// The signer does not check `envelope.origin`: receivers refuse an envelope whose origin
/// is not the certified node ([`VerifyError::OriginMismatch`](crate::VerifyError::OriginMismatch)).
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    cert_der: Vec<u8>,
    node: NodeId,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub(crate) fn new(key: SigningKey, cert_der: Vec<u8>, node: NodeId) -> Self {
        Self {
            key,
            cert_der,
            node,
        }
    }

    /// The DER of this node's certificate.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub(crate) fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The node whose key this is.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Encodes the envelope once and signs those exact bytes.
    ///
    /// Fails only for an envelope whose encoding is longer than
    /// [`MAX_ENVELOPE_LEN`](bluehelm_proto::limits::MAX_ENVELOPE_LEN): too large to travel.
    pub fn sign(&self, envelope: &Envelope) -> Result<SignedEnvelope, ValidationError> {
        self.sign_bytes(envelope.encode_to_vec())
    }

    /// Signs already encoded envelope bytes as they are. Fails for empty or oversized bytes.
    pub fn sign_bytes(&self, envelope_bytes: Vec<u8>) -> Result<SignedEnvelope, ValidationError> {
        let signature = self.key.sign(&signing_input(&envelope_bytes)).to_bytes();
        SignedEnvelope::new(envelope_bytes, signature, self.cert_der.clone())
    }
}
