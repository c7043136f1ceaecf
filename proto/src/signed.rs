//! The signed form of an envelope, and the bytes that are signed.
//!
//! Protobuf encoding is not canonical, so a signature covers the exact envelope bytes the
//! origin produced. Those bytes travel unchanged from origin to destination; a node that
//! verifies decodes them after checking the signature and never re-encodes them.

use prost::Message as _;

use crate::check;
use crate::envelope::Envelope;
use crate::error::{DecodeError, ValidationError};
use crate::limits::{MAX_CERTIFICATE_LEN, MAX_ENVELOPE_LEN};
use crate::link::MessageRef;
use crate::pb;

/// Domain separation prefix of every envelope signature, so that a signature over an
/// envelope can never be replayed as a signature over anything else the same key signs.
pub const SIGNING_DOMAIN: &[u8] = b"bluehelm/v1/envelope\0";

/// Length of an Ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// The bytes an origin signs and a verifier checks: [`SIGNING_DOMAIN`] then the encoded
/// envelope.
pub fn signing_input(envelope_bytes: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(SIGNING_DOMAIN.len() + envelope_bytes.len());
    input.extend_from_slice(SIGNING_DOMAIN);
    input.extend_from_slice(envelope_bytes);
    input
}

/// An encoded envelope with its origin's signature and certificate.
///
/// Constructing or decoding one checks only its shape (non-empty bytes, a 64-byte
/// signature, a bounded certificate). It neither verifies the signature (the `pki` crate
/// does) nor decodes the envelope (see [`SignedEnvelope::decode_envelope`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignedEnvelope {
    envelope_bytes: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
    signer_certificate: Vec<u8>,
}

impl SignedEnvelope {
    /// Wraps signed envelope bytes; both byte strings must be non-empty and the certificate
    /// at most [`MAX_CERTIFICATE_LEN`] bytes.
    pub fn new(
        envelope_bytes: Vec<u8>,
        signature: [u8; SIGNATURE_LEN],
        signer_certificate: Vec<u8>,
    ) -> Result<Self, ValidationError> {
        if envelope_bytes.is_empty() {
            return Err(ValidationError::Empty {
                field: "signed_envelope.envelope",
            });
        }
        if signer_certificate.is_empty() {
            return Err(ValidationError::Empty {
                field: "signed_envelope.signer_certificate",
            });
        }
        check::max_len(
            "signed_envelope.envelope",
            envelope_bytes.len(),
            MAX_ENVELOPE_LEN,
        )?;
        check::max_len(
            "signed_envelope.signer_certificate",
            signer_certificate.len(),
            MAX_CERTIFICATE_LEN,
        )?;
        Ok(SignedEnvelope {
            envelope_bytes,
            signature,
            signer_certificate,
        })
    }

    /// The encoded envelope, exactly as signed.
    pub fn envelope_bytes(&self) -> &[u8] {
        &self.envelope_bytes
    }

    /// The Ed25519 signature over [`signing_input`] of the envelope bytes.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// DER of the origin's certificate.
    pub fn signer_certificate(&self) -> &[u8] {
        &self.signer_certificate
    }

    /// The bytes to verify the signature against.
    pub fn signing_input(&self) -> Vec<u8> {
        signing_input(&self.envelope_bytes)
    }

    /// Takes the parts: envelope bytes, signature, certificate.
    pub fn into_parts(self) -> (Vec<u8>, [u8; SIGNATURE_LEN], Vec<u8>) {
        (self.envelope_bytes, self.signature, self.signer_certificate)
    }

    /// Decodes and validates the inner envelope. Call this only after the signature has been
    /// verified.
    pub fn decode_envelope(&self) -> Result<Envelope, DecodeError> {
        Envelope::decode(&self.envelope_bytes)
    }

    /// The inner envelope's reference, read without validating the rest (see
    /// [`Envelope::reference_of`]): for naming a message that is refused.
    pub fn message_ref(&self) -> Result<MessageRef, DecodeError> {
        Envelope::reference_of(&self.envelope_bytes)
    }

    /// Encodes as protobuf.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_pb().encode_to_vec()
    }

    /// Decodes and checks the shape; does not decode the inner envelope.
    pub fn decode(bytes: &[u8]) -> Result<SignedEnvelope, DecodeError> {
        Ok(Self::from_pb(pb::SignedEnvelope::decode(bytes)?)?)
    }

    pub(crate) fn to_pb(&self) -> pb::SignedEnvelope {
        pb::SignedEnvelope {
            envelope: self.envelope_bytes.clone(),
            signature: self.signature.to_vec(),
            signer_certificate: self.signer_certificate.clone(),
        }
    }

    pub(crate) fn from_pb(s: pb::SignedEnvelope) -> Result<Self, ValidationError> {
        let signature = <[u8; SIGNATURE_LEN]>::try_from(s.signature.as_slice()).map_err(|_| {
            ValidationError::BadLength {
                field: "signed_envelope.signature",
                len: s.signature.len(),
                expected: SIGNATURE_LEN,
            }
        })?;
        Self::new(s.envelope, signature, s.signer_certificate)
    }
}

impl std::fmt::Debug for SignedEnvelope {
    /// Lengths only: the bytes are opaque and large.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedEnvelope")
            .field("envelope_bytes", &self.envelope_bytes.len())
            .field("signature", &"[64 bytes]")
            .field("signer_certificate", &self.signer_certificate.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_input_is_domain_then_bytes() {
        let input = signing_input(b"abc");
        assert_eq!(&input[..SIGNING_DOMAIN.len()], SIGNING_DOMAIN);
        assert_eq!(&input[SIGNING_DOMAIN.len()..], b"abc");
        assert!(SIGNING_DOMAIN.ends_with(&[0]));
    }

    #[test]
    fn signed_envelope_round_trips_without_touching_the_envelope_bytes() {
        // Not an envelope at all: SignedEnvelope::decode must not look inside.
        let signed =
            SignedEnvelope::new(vec![0xff, 0x00, 0x01], [7; 64], vec![0x30, 0x82]).unwrap();
        let decoded = SignedEnvelope::decode(&signed.encode_to_vec()).unwrap();
        assert_eq!(decoded, signed);
        assert_eq!(decoded.envelope_bytes(), &[0xff, 0x00, 0x01]);
        assert!(decoded.decode_envelope().is_err());
    }

    #[test]
    fn signed_envelope_rejects_a_signature_that_is_not_64_bytes() {
        for len in [0, 63, 65] {
            let bytes = pb::SignedEnvelope {
                envelope: vec![1],
                signature: vec![0; len],
                signer_certificate: vec![1],
            }
            .encode_to_vec();
            assert_eq!(
                SignedEnvelope::decode(&bytes),
                Err(DecodeError::Invalid(ValidationError::BadLength {
                    field: "signed_envelope.signature",
                    len,
                    expected: 64,
                }))
            );
        }
    }

    #[test]
    fn signed_envelope_rejects_empty_or_oversized_parts() {
        assert_eq!(
            SignedEnvelope::new(vec![], [0; 64], vec![1]),
            Err(ValidationError::Empty {
                field: "signed_envelope.envelope"
            })
        );
        assert_eq!(
            SignedEnvelope::new(vec![1], [0; 64], vec![]),
            Err(ValidationError::Empty {
                field: "signed_envelope.signer_certificate"
            })
        );
        assert!(matches!(
            SignedEnvelope::new(vec![1], [0; 64], vec![0; MAX_CERTIFICATE_LEN + 1]),
            Err(ValidationError::TooLong { .. })
        ));
    }
}
