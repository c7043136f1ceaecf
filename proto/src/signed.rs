//! The signed form of an envelope, and the bytes that are signed.
//!
//! Protobuf encoding is not canonical, so a signature covers the exact envelope bytes the
//! origin produced. Those bytes travel unchanged from origin to destination; a node that
//! verifies decodes them after checking the signature and never re-encodes them.
//!
//! Since `bluehelm/7` (issue 16, item 1) an origin signs once per round: the root of a Merkle
//! tree (RFC 9162 section 2.1) over the envelopes it commits together, with the tree size
//! ([`root_signing_input`]). Each envelope carries that signature and its [`BatchProof`]:
//! its leaf index, the tree size and its inclusion path. This crate carries the proof and
//! bounds it; it has no hash function, so building the tree and checking a path are the
//! `pki` crate's (`bluehelm_pki::batch`).

use bytes::Bytes;
use prost::Message as _;

use crate::check;
use crate::envelope::Envelope;
use crate::error::{DecodeError, ValidationError};
use crate::limits::{
    MAX_BATCH_PATH_LEN, MAX_BATCH_TREE_SIZE, MAX_CERTIFICATE_LEN, MAX_ENVELOPE_LEN,
};
use crate::link::MessageRef;
use crate::pb;
use crate::signed_wire::{SignedEnvelopeRef, WirePath};

/// Length of an Ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// Length of every hash of a batch tree (SHA-256): a leaf hash, a path element, a root.
pub const BATCH_HASH_LEN: usize = 32;

/// A hash of a batch tree: a path element or a root.
pub type BatchHash = [u8; BATCH_HASH_LEN];

/// Domain separation prefix of an envelope signed alone, as `bluehelm/1` to `/6` signed every
/// envelope: the signature covers [`ALONE_SIGNING_DOMAIN`] || the envelope bytes. No node makes
/// one any more; verifiers accept one so that what a node held in custody when it was upgraded
/// still goes on (an envelope without a [`BatchProof`], see [`SignedEnvelope::proof`]).
pub const ALONE_SIGNING_DOMAIN: &[u8] = b"bluehelm/v1/envelope\0";

/// The bytes of an envelope signed alone: [`ALONE_SIGNING_DOMAIN`] then the envelope.
pub fn alone_signing_input(envelope_bytes: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(ALONE_SIGNING_DOMAIN.len() + envelope_bytes.len());
    input.extend_from_slice(ALONE_SIGNING_DOMAIN);
    input.extend_from_slice(envelope_bytes);
    input
}

/// Domain separation prefix of every envelope batch signature (27 bytes, ending in a zero
/// byte). The same key signs TLS handshakes, record changes (`"bluehelm/v1/record-change\0"`)
/// and replica digests, and will sign other Merkle roots (record-change batches): the prefix
/// keeps a root of envelopes from ever passing for anything else the key signs, and any other
/// root from passing for a root of envelopes. `v2`: the `v1` signature covered one envelope's
/// bytes ([`ALONE_SIGNING_DOMAIN`]); it is no longer made, and accepted only without a proof.
pub const ROOT_SIGNING_DOMAIN: &[u8] = b"bluehelm/v2/envelope-batch\0";

/// Length of [`root_signing_input`]: the domain, the tree size (8 bytes), the root.
pub const ROOT_SIGNING_INPUT_LEN: usize = ROOT_SIGNING_DOMAIN.len() + 8 + BATCH_HASH_LEN;

/// The bytes an origin signs for a batch and a verifier checks:
/// [`ROOT_SIGNING_DOMAIN`] || `tree_size` as a big-endian u64 || `root`.
///
/// The tree size is signed because an inclusion path does not bind it: for some sizes a leaf
/// takes the same turns, and so yields the same root, in a smaller or larger tree (RFC 6962
/// signs the size with the root for the same reason).
pub fn root_signing_input(tree_size: u64, root: &BatchHash) -> [u8; ROOT_SIGNING_INPUT_LEN] {
    domain_root_input(ROOT_SIGNING_DOMAIN, tree_size, root)
}

/// `domain || tree_size (u64 big-endian) || root`, `N` bytes long: the input of a batch
/// signature under any domain.
pub(crate) fn domain_root_input<const N: usize>(
    domain: &[u8],
    tree_size: u64,
    root: &BatchHash,
) -> [u8; N] {
    let mut input = [0; N];
    let (prefix, rest) = input.split_at_mut(domain.len());
    let (size, hash) = rest.split_at_mut(8);
    prefix.copy_from_slice(domain);
    size.copy_from_slice(&tree_size.to_be_bytes());
    hash.copy_from_slice(root);
    input
}

/// Where an envelope sits in the batch its origin signed: its leaf index, the number of
/// leaves, and its inclusion path from the leaf upwards.
///
/// Constructing or decoding one checks its shape only: `1 <= tree_size <= 2^32`,
/// `leaf_index < tree_size`, at most [`MAX_BATCH_PATH_LEN`] hashes of [`BATCH_HASH_LEN`]
/// bytes. Whether the path has the right length for the index and size, and where it leads,
/// the verifier finds out when it recomputes the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchProof {
    leaf_index: u64,
    tree_size: u64,
    path: Vec<BatchHash>,
}

impl BatchProof {
    /// A proof with these parts, if their shape is valid.
    pub fn new(
        leaf_index: u64,
        tree_size: u64,
        path: Vec<BatchHash>,
    ) -> Result<Self, ValidationError> {
        check_position(leaf_index, tree_size)?;
        check::max_count("signed_envelope.path", path.len(), MAX_BATCH_PATH_LEN)?;
        Ok(BatchProof {
            leaf_index,
            tree_size,
            path,
        })
    }

    /// The proof of a batch of one: leaf 0 of a tree of one leaf, an empty path (the root is
    /// the leaf hash).
    pub fn single() -> Self {
        BatchProof {
            leaf_index: 0,
            tree_size: 1,
            path: Vec::new(),
        }
    }

    /// The envelope's leaf, from 0.
    pub fn leaf_index(&self) -> u64 {
        self.leaf_index
    }

    /// The number of envelopes signed together, at least one.
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The inclusion path, from the leaf upwards.
    pub fn path(&self) -> &[BatchHash] {
        &self.path
    }

    /// Checks what a peer sent: the position, the number of path elements, then that each
    /// was a hash (the decoder kept only those, see `signed_wire.rs`).
    fn from_wire(leaf_index: u64, tree_size: u64, path: WirePath) -> Result<Self, ValidationError> {
        check_position(leaf_index, tree_size)?;
        check::max_count("signed_envelope.path", path.elements, MAX_BATCH_PATH_LEN)?;
        if let Some(len) = path.first_bad_len {
            return Err(ValidationError::BadLength {
                field: "signed_envelope.path",
                len,
                expected: BATCH_HASH_LEN,
            });
        }
        Ok(BatchProof {
            leaf_index,
            tree_size,
            path: path.hashes,
        })
    }
}

/// `1 <= tree_size <= 2^32` and `leaf_index < tree_size`: a leaf of a batch, envelopes' or
/// record changes'.
pub(crate) fn check_position(leaf_index: u64, tree_size: u64) -> Result<(), ValidationError> {
    if tree_size == 0 || tree_size > MAX_BATCH_TREE_SIZE {
        return Err(ValidationError::TreeSize(tree_size));
    }
    if leaf_index >= tree_size {
        return Err(ValidationError::LeafIndex {
            index: leaf_index,
            tree_size,
        });
    }
    Ok(())
}

/// An encoded envelope with its origin's batch signature, its proof and the certificate.
///
/// Constructing or decoding one checks only its shape (non-empty bytes, a 64-byte
/// signature, a bounded certificate, a well-formed [`BatchProof`]). It neither verifies the
/// signature or the proof (the `pki` crate does) nor decodes the envelope (see
/// [`SignedEnvelope::decode_envelope`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignedEnvelope {
    // Shared, not owned: a clone (for verification off the async workers, into a verified
    // envelope) costs a reference count, not a copy of the envelope and its certificate.
    envelope_bytes: Bytes,
    signature: [u8; SIGNATURE_LEN],
    signer_certificate: Bytes,
    /// `None`: signed alone, before batch signatures (see [`ALONE_SIGNING_DOMAIN`]).
    proof: Option<BatchProof>,
}

impl SignedEnvelope {
    /// Wraps signed envelope bytes; both byte strings must be non-empty, the envelope at most
    /// [`MAX_ENVELOPE_LEN`] and the certificate at most [`MAX_CERTIFICATE_LEN`] bytes.
    pub fn new(
        envelope_bytes: impl Into<Bytes>,
        signature: [u8; SIGNATURE_LEN],
        signer_certificate: impl Into<Bytes>,
        proof: BatchProof,
    ) -> Result<Self, ValidationError> {
        Self::with_proof(
            envelope_bytes.into(),
            signature,
            signer_certificate.into(),
            Some(proof),
        )
    }

    /// Wraps an envelope signed alone, as `bluehelm/6` and before signed every envelope (the
    /// signature over [`alone_signing_input`]). Nothing makes these any more: this reads what
    /// such a node stored, and lets tests make one.
    pub fn signed_alone(
        envelope_bytes: impl Into<Bytes>,
        signature: [u8; SIGNATURE_LEN],
        signer_certificate: impl Into<Bytes>,
    ) -> Result<Self, ValidationError> {
        Self::with_proof(
            envelope_bytes.into(),
            signature,
            signer_certificate.into(),
            None,
        )
    }

    fn with_proof(
        envelope_bytes: Bytes,
        signature: [u8; SIGNATURE_LEN],
        signer_certificate: Bytes,
        proof: Option<BatchProof>,
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
            proof,
        })
    }

    /// The encoded envelope, exactly as signed: the leaf of the batch tree.
    pub fn envelope_bytes(&self) -> &[u8] {
        &self.envelope_bytes
    }

    /// The Ed25519 signature over [`root_signing_input`] of the batch's tree size and root (or,
    /// without a proof, over [`alone_signing_input`]).
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// DER of the origin's certificate.
    pub fn signer_certificate(&self) -> &[u8] {
        &self.signer_certificate
    }

    /// Where the envelope sits in its batch; `None` for an envelope signed alone before
    /// batch signatures (`bluehelm/6` and before: no tree size on the wire).
    pub fn proof(&self) -> Option<&BatchProof> {
        self.proof.as_ref()
    }

    /// Takes the parts: envelope bytes, signature, certificate, proof.
    pub fn into_parts(self) -> (Bytes, [u8; SIGNATURE_LEN], Bytes, Option<BatchProof>) {
        (
            self.envelope_bytes,
            self.signature,
            self.signer_certificate,
            self.proof,
        )
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

    /// Encodes as protobuf, straight from these fields (no copy into a message first).
    pub fn encode_to_vec(&self) -> Vec<u8> {
        let (leaf_index, tree_size, path) = match &self.proof {
            Some(proof) => (proof.leaf_index, proof.tree_size, proof.path.as_slice()),
            // Exactly the bytes bluehelm/6 wrote: no tree size, no index, no path.
            None => (0, 0, &[][..]),
        };
        SignedEnvelopeRef {
            envelope: &self.envelope_bytes,
            signature: &self.signature,
            signer_certificate: &self.signer_certificate,
            leaf_index,
            tree_size,
            path,
        }
        .encode_to_vec()
    }

    /// Decodes and checks the shape; does not decode the inner envelope.
    pub fn decode(bytes: &[u8]) -> Result<SignedEnvelope, DecodeError> {
        Ok(Self::from_pb(pb::SignedEnvelope::decode(bytes)?)?)
    }

    /// [`SignedEnvelope::decode`] of bytes in a buffer of their own (a stored record): the
    /// envelope and certificate share it instead of being copied out.
    pub fn decode_shared(bytes: Bytes) -> Result<SignedEnvelope, DecodeError> {
        Ok(Self::from_pb(pb::SignedEnvelope::decode(bytes)?)?)
    }

    pub(crate) fn to_pb(&self) -> pb::SignedEnvelope {
        let (leaf_index, tree_size, path) = match &self.proof {
            Some(proof) => (
                proof.leaf_index,
                proof.tree_size,
                WirePath::of(proof.path.clone()),
            ),
            // Exactly the bytes bluehelm/6 wrote: no tree size, no index, no path.
            None => (0, 0, WirePath::default()),
        };
        pb::SignedEnvelope {
            envelope: self.envelope_bytes.clone(),
            signature: self.signature.to_vec(),
            signer_certificate: self.signer_certificate.clone(),
            leaf_index,
            tree_size,
            path,
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
        // No tree size, index nor path: signed alone (bluehelm/6). A tree size of 0 with
        // either of the others is malformed.
        let proof = if s.tree_size == 0 && s.leaf_index == 0 && s.path.elements == 0 {
            None
        } else {
            Some(BatchProof::from_wire(s.leaf_index, s.tree_size, s.path)?)
        };
        Self::with_proof(s.envelope, signature, s.signer_certificate, proof)
    }
}

impl std::fmt::Debug for SignedEnvelope {
    /// Lengths and positions only: the bytes are opaque and large.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedEnvelope")
            .field("envelope_bytes", &self.envelope_bytes.len())
            .field("signature", &"[64 bytes]")
            .field("signer_certificate", &self.signer_certificate.len())
            .field(
                "leaf_index",
                &self.proof.as_ref().map(BatchProof::leaf_index),
            )
            .field("tree_size", &self.proof.as_ref().map(BatchProof::tree_size))
            .field("path", &self.proof.as_ref().map(|p| p.path.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(leaf_index: u64, tree_size: u64, hashes: usize) -> BatchProof {
        BatchProof::new(leaf_index, tree_size, vec![[9; BATCH_HASH_LEN]; hashes]).unwrap()
    }

    fn wire(leaf_index: u64, tree_size: u64, path: Vec<Vec<u8>>) -> Vec<u8> {
        crate::signed_wire::reference::SignedEnvelope {
            envelope: vec![1],
            signature: vec![0; 64],
            signer_certificate: vec![1],
            leaf_index,
            tree_size,
            path,
        }
        .encode_to_vec()
    }

    fn invalid(bytes: &[u8]) -> ValidationError {
        match SignedEnvelope::decode(bytes) {
            Err(DecodeError::Invalid(e)) => e,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn root_signing_input_is_domain_then_big_endian_size_then_root() {
        let input = root_signing_input(0x0102_0304_0506_0708, &[0xab; 32]);
        assert_eq!(input.len(), 67);
        assert_eq!(ROOT_SIGNING_DOMAIN, b"bluehelm/v2/envelope-batch\0");
        assert_eq!(&input[..27], ROOT_SIGNING_DOMAIN);
        assert_eq!(&input[27..35], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&input[35..], &[0xab; 32]);
    }

    #[test]
    fn signed_envelope_round_trips_without_touching_the_envelope_bytes() {
        // Not an envelope at all: SignedEnvelope::decode must not look inside.
        let signed = SignedEnvelope::new(
            vec![0xff, 0x00, 0x01],
            [7; 64],
            vec![0x30, 0x82],
            proof(5, 6, 2),
        )
        .unwrap();
        let decoded = SignedEnvelope::decode(&signed.encode_to_vec()).unwrap();
        assert_eq!(decoded, signed);
        assert_eq!(decoded.envelope_bytes(), &[0xff, 0x00, 0x01]);
        assert_eq!(decoded.proof().unwrap().leaf_index(), 5);
        assert_eq!(decoded.proof().unwrap().tree_size(), 6);
        assert_eq!(decoded.proof().unwrap().path(), &[[9; 32]; 2]);
        assert!(decoded.decode_envelope().is_err());
    }

    #[test]
    fn a_batch_of_one_encodes_its_size_and_nothing_else_of_the_proof() {
        let signed = SignedEnvelope::new(vec![1], [0; 64], vec![1], BatchProof::single()).unwrap();
        // envelope, signature, certificate, then tree_size 1 (leaf_index 0 and the empty
        // path are proto3 defaults: absent).
        let bytes = signed.encode_to_vec();
        assert_eq!(&bytes[bytes.len() - 5..], &[0x1a, 0x01, 0x01, 0x28, 0x01]);
        assert_eq!(SignedEnvelope::decode(&bytes).unwrap(), signed);
    }

    #[test]
    fn a_signed_envelope_without_any_proof_is_one_signed_alone_and_encodes_as_it_came() {
        // What a bluehelm/6 node stored: no tree size, index nor path.
        let bytes = wire(0, 0, vec![]);
        let signed = SignedEnvelope::decode(&bytes).unwrap();
        assert_eq!(signed.proof(), None);
        assert_eq!(signed.encode_to_vec(), bytes);
        let alone = SignedEnvelope::signed_alone(vec![1], [0; 64], vec![1]).unwrap();
        assert_eq!(alone, signed);
    }

    #[test]
    fn a_tree_size_of_zero_with_an_index_or_a_path_is_refused() {
        assert_eq!(invalid(&wire(1, 0, vec![])), ValidationError::TreeSize(0));
        assert_eq!(
            invalid(&wire(0, 0, vec![vec![0; 32]])),
            ValidationError::TreeSize(0)
        );
    }

    #[test]
    fn the_alone_signing_input_is_the_v1_domain_then_the_envelope() {
        assert_eq!(ALONE_SIGNING_DOMAIN, b"bluehelm/v1/envelope\0");
        assert_eq!(
            alone_signing_input(&[7, 8]),
            b"bluehelm/v1/envelope\0\x07\x08"
        );
    }

    #[test]
    fn tree_size_and_leaf_index_are_bounded() {
        assert_eq!(
            invalid(&wire(0, (1 << 32) + 1, vec![])),
            ValidationError::TreeSize((1 << 32) + 1)
        );
        assert_eq!(
            invalid(&wire(0, u64::MAX, vec![])),
            ValidationError::TreeSize(u64::MAX)
        );
        assert_eq!(
            invalid(&wire(3, 3, vec![])),
            ValidationError::LeafIndex {
                index: 3,
                tree_size: 3
            }
        );
        assert_eq!(
            invalid(&wire(u64::MAX, 1, vec![])),
            ValidationError::LeafIndex {
                index: u64::MAX,
                tree_size: 1
            }
        );
        // The largest tree and its last leaf are fine in shape.
        let last = wire((1 << 32) - 1, 1 << 32, vec![vec![0; 32]; 32]);
        assert!(SignedEnvelope::decode(&last).is_ok());
        assert_eq!(
            BatchProof::new(0, 0, Vec::new()),
            Err(ValidationError::TreeSize(0))
        );
        assert_eq!(
            BatchProof::new(1, 1, Vec::new()),
            Err(ValidationError::LeafIndex {
                index: 1,
                tree_size: 1
            })
        );
    }

    #[test]
    fn path_elements_are_32_bytes_and_at_most_32_of_them() {
        for len in [0, 31, 33, 64] {
            assert_eq!(
                invalid(&wire(0, 2, vec![vec![0; len]])),
                ValidationError::BadLength {
                    field: "signed_envelope.path",
                    len,
                    expected: 32,
                }
            );
        }
        assert_eq!(
            invalid(&wire(0, 2, vec![vec![0; 32]; 33])),
            ValidationError::TooMany {
                field: "signed_envelope.path",
                count: 33,
                max: 32,
            }
        );
        assert_eq!(
            BatchProof::new(0, 2, vec![[0; 32]; 33]),
            Err(ValidationError::TooMany {
                field: "signed_envelope.path",
                count: 33,
                max: 32,
            })
        );
    }

    #[test]
    fn encoding_straight_from_the_fields_writes_what_the_message_writes() {
        for proof in [None, Some(proof(0, 1, 0)), Some(proof(5, 11, 4))] {
            let signed = SignedEnvelope::with_proof(
                vec![1, 2, 3].into(),
                [7; SIGNATURE_LEN],
                vec![4; 300].into(),
                proof,
            )
            .unwrap();
            let bytes = signed.encode_to_vec();
            assert_eq!(bytes, signed.to_pb().encode_to_vec());
            assert_eq!(SignedEnvelope::decode(&bytes).unwrap(), signed);
        }
    }

    #[test]
    fn signed_envelope_rejects_a_signature_that_is_not_64_bytes() {
        for len in [0, 63, 65] {
            let bytes = crate::signed_wire::reference::SignedEnvelope {
                envelope: vec![1],
                signature: vec![0; len],
                signer_certificate: vec![1],
                leaf_index: 0,
                tree_size: 1,
                path: Vec::new(),
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
        let single = BatchProof::single;
        assert_eq!(
            SignedEnvelope::new(vec![], [0; 64], vec![1], single()),
            Err(ValidationError::Empty {
                field: "signed_envelope.envelope"
            })
        );
        assert_eq!(
            SignedEnvelope::new(vec![1], [0; 64], vec![], single()),
            Err(ValidationError::Empty {
                field: "signed_envelope.signer_certificate"
            })
        );
        assert!(matches!(
            SignedEnvelope::new(vec![1], [0; 64], vec![0; MAX_CERTIFICATE_LEN + 1], single()),
            Err(ValidationError::TooLong { .. })
        ));
        assert!(matches!(
            SignedEnvelope::new(vec![1; MAX_ENVELOPE_LEN + 1], [0; 64], vec![1], single()),
            Err(ValidationError::TooLong { .. })
        ));
    }
}
