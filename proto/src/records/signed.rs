//! A record change as its owner signed it. Since `bluehelm/8` (issue 16, item 1) an owner signs
//! a batch of changes once: the root of a Merkle tree over them (the envelope batches' tree,
//! RFC 9162 section 2.1, each leaf the change's bytes) with the tree size, under
//! [`RECORD_ROOT_SIGNING_DOMAIN`]. A change names its batch and its leaf; the signature and the
//! hashes that lead from the changes a message carries to the root travel beside them in a
//! [`RecordBatchProof`]. This crate checks shapes; the `pki` crate hashes and verifies.

use prost::Message as _;

use super::{fixed, HASH_LEN, MAX_RECORD_LEN};
use crate::check;
use crate::error::{DecodeError, ValidationError};
use crate::pb;
use crate::signed::{check_position, domain_root_input, SIGNATURE_LEN};

use super::RecordChange;

/// Domain separation prefix of a record change signed alone (`bluehelm/7` and before).
pub const RECORD_SIGNING_DOMAIN: &[u8] = b"bluehelm/v1/record-change\0";

/// Domain separation prefix of a record batch signature (25 bytes, ending in a zero byte):
/// a root of record changes never passes for a root of envelopes
/// (`"bluehelm/v2/envelope-batch\0"`), a change signed alone or a digest, nor they for it.
pub const RECORD_ROOT_SIGNING_DOMAIN: &[u8] = b"bluehelm/v2/record-batch\0";

/// Length of a batched change's salt.
pub const RECORD_SALT_LEN: usize = 16;

/// Length of [`record_root_signing_input`].
pub const RECORD_ROOT_SIGNING_INPUT_LEN: usize = RECORD_ROOT_SIGNING_DOMAIN.len() + 8 + HASH_LEN;

/// The bytes of a change signed alone: [`RECORD_SIGNING_DOMAIN`] then the encoded change.
pub fn record_signing_input(change_bytes: &[u8]) -> Vec<u8> {
    [RECORD_SIGNING_DOMAIN, change_bytes].concat()
}

/// The bytes an owner signs for a batch of changes:
/// [`RECORD_ROOT_SIGNING_DOMAIN`] || `tree_size` as a big-endian u64 || `root`.
pub fn record_root_signing_input(
    tree_size: u64,
    root: &[u8; HASH_LEN],
) -> [u8; RECORD_ROOT_SIGNING_INPUT_LEN] {
    domain_root_input(RECORD_ROOT_SIGNING_DOMAIN, tree_size, root)
}

/// The batch a change was signed in: its signer, its size and its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordBatchId {
    /// SHA-256 of the signer's certificate (DER).
    pub signer: [u8; HASH_LEN],
    /// Changes signed together, 1 to 2^32.
    pub tree_size: u64,
    /// The tree's root.
    pub root: [u8; HASH_LEN],
}

/// How a change is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSignature {
    /// The older form: Ed25519 over [`record_signing_input`] of the change.
    Alone([u8; SIGNATURE_LEN]),
    /// Leaf `leaf_index` of a batch of `tree_size` changes with this root; the signature is in
    /// the batch's [`RecordBatchProof`].
    Batch {
        /// The change's leaf, from 0.
        leaf_index: u64,
        /// Changes signed together.
        tree_size: u64,
        /// The tree's root, which the owner signed.
        root: [u8; HASH_LEN],
        /// Random bytes hashed into the change's leaf before it, so that a leaf's hash in a
        /// proof given to a node the change is not released to tells it nothing it could
        /// test a guess of the change against.
        salt: [u8; RECORD_SALT_LEN],
    },
}

/// An encoded [`RecordChange`] with how its owner signed it. Checked for shape only: the
/// `pki` crate verifies the signature, [`SignedRecordChange::decode_change`] the contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRecordChange {
    /// The encoded [`RecordChange`], exactly as signed.
    pub change: Vec<u8>,
    /// SHA-256 of the signer's certificate (DER).
    pub signer: [u8; HASH_LEN],
    /// Signed alone, or in a batch.
    pub signature: ChangeSignature,
}

impl SignedRecordChange {
    /// The change, decoded and validated.
    pub fn decode_change(&self) -> Result<RecordChange, DecodeError> {
        RecordChange::decode(&self.change)
    }

    /// The batch the change was signed in and its leaf index; `None` when signed alone.
    pub fn batch(&self) -> Option<(RecordBatchId, u64)> {
        match self.signature {
            ChangeSignature::Alone(_) => None,
            ChangeSignature::Batch {
                leaf_index,
                tree_size,
                root,
                ..
            } => Some((
                RecordBatchId {
                    signer: self.signer,
                    tree_size,
                    root,
                },
                leaf_index,
            )),
        }
    }

    /// Encodes as protobuf: the form stored by the hub and by replicas.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_pb().encode_to_vec()
    }

    /// Decodes the stored or received form (shape only).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self::from_pb(pb::SignedRecordChange::decode(bytes)?)?)
    }

    pub(crate) fn to_pb(&self) -> pb::SignedRecordChange {
        let (signature, leaf_index, tree_size, batch_root, salt) = match &self.signature {
            ChangeSignature::Alone(signature) => (signature.to_vec(), 0, 0, Vec::new(), Vec::new()),
            ChangeSignature::Batch {
                leaf_index,
                tree_size,
                root,
                salt,
            } => (
                Vec::new(),
                *leaf_index,
                *tree_size,
                root.to_vec(),
                salt.to_vec(),
            ),
        };
        pb::SignedRecordChange {
            change: self.change.clone(),
            signature,
            signer: self.signer.to_vec(),
            leaf_index,
            tree_size,
            batch_root,
            salt,
        }
    }

    /// The salt hashed into the change's leaf: empty for a change signed alone.
    pub fn salt(&self) -> &[u8] {
        match &self.signature {
            ChangeSignature::Alone(_) => &[],
            ChangeSignature::Batch { salt, .. } => salt,
        }
    }

    pub(crate) fn from_pb(s: pb::SignedRecordChange) -> Result<Self, ValidationError> {
        if s.change.is_empty() {
            return Err(ValidationError::Empty {
                field: "signed_record_change.change",
            });
        }
        // A change is a key, an owner and a record: far below twice the record limit.
        check::max_len(
            "signed_record_change.change",
            s.change.len(),
            2 * MAX_RECORD_LEN,
        )?;
        let signature = if s.tree_size == 0 {
            // The older form carries nothing of a batch.
            fixed::<0>("signed_record_change.batch_root", &s.batch_root)?;
            fixed::<0>("signed_record_change.salt", &s.salt)?;
            if s.leaf_index != 0 {
                return Err(ValidationError::LeafIndex {
                    index: s.leaf_index,
                    tree_size: 0,
                });
            }
            ChangeSignature::Alone(fixed("signed_record_change.signature", &s.signature)?)
        } else {
            check_position(s.leaf_index, s.tree_size)?;
            fixed::<0>("signed_record_change.signature", &s.signature)?;
            ChangeSignature::Batch {
                leaf_index: s.leaf_index,
                tree_size: s.tree_size,
                root: fixed("signed_record_change.batch_root", &s.batch_root)?,
                salt: fixed("signed_record_change.salt", &s.salt)?,
            }
        };
        Ok(SignedRecordChange {
            change: s.change,
            signer: fixed("signed_record_change.signer", &s.signer)?,
            signature,
        })
    }
}

/// A batch's signature, and the multiproof of the changes of it that a message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatchProof {
    /// The batch.
    pub batch: RecordBatchId,
    /// Ed25519 over [`record_root_signing_input`] of the batch's size and root.
    pub signature: [u8; SIGNATURE_LEN],
    /// The roots of the largest subtrees holding none of the changes carried, left to right;
    /// empty when the message carries the whole batch.
    pub nodes: Vec<[u8; HASH_LEN]>,
}

impl RecordBatchProof {
    pub(crate) fn to_pb(&self) -> pb::RecordBatchProof {
        pb::RecordBatchProof {
            signer: self.batch.signer.to_vec(),
            tree_size: self.batch.tree_size,
            root: self.batch.root.to_vec(),
            signature: self.signature.to_vec(),
            nodes: self.nodes.concat(),
        }
    }

    pub(crate) fn from_pb(p: pb::RecordBatchProof) -> Result<Self, ValidationError> {
        check_position(0, p.tree_size)?;
        if p.nodes.len() % HASH_LEN != 0 {
            return Err(ValidationError::BadLength {
                field: "record_batch_proof.nodes",
                len: p.nodes.len(),
                expected: p.nodes.len() / HASH_LEN * HASH_LEN,
            });
        }
        let nodes = p
            .nodes
            .chunks_exact(HASH_LEN)
            .map(|node| fixed("record_batch_proof.nodes", node))
            .collect::<Result<_, _>>()?;
        Ok(RecordBatchProof {
            batch: RecordBatchId {
                signer: fixed("record_batch_proof.signer", &p.signer)?,
                tree_size: p.tree_size,
                root: fixed("record_batch_proof.root", &p.root)?,
            },
            signature: fixed("record_batch_proof.signature", &p.signature)?,
            nodes,
        })
    }
}
