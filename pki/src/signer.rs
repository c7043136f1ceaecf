//! Signing envelopes with the node's certified Ed25519 key, a batch at a time (issue 16,
//! item 1).

use bluehelm_proto::{
    root_signing_input, BatchProof, Envelope, SignedEnvelope, ValidationError, SIGNATURE_LEN,
};
use ed25519_dalek::{Signer as _, SigningKey};

use crate::batch::{leaf_hash, BatchTree, BatchTreeError, Hash};
use crate::NodeId;

// The wire format bounds what the tree makes and the verifier checks: the same numbers.
const _: () = {
    assert!(crate::batch::MAX_PATH_LEN == bluehelm_proto::limits::MAX_BATCH_PATH_LEN);
    assert!(crate::batch::MAX_TREE_SIZE == bluehelm_proto::limits::MAX_BATCH_TREE_SIZE);
    assert!(crate::batch::HASH_LEN == bluehelm_proto::BATCH_HASH_LEN);
};

/// Signs this node's envelopes, attaching the node certificate so any receiver can check who
/// signed.
///
/// Envelopes committed together are signed together ([`Signer::sign_batch`]): one Ed25519
/// signature over the tree size and the root of the RFC 9162 Merkle tree whose leaves are
/// their encoded bytes ([`root_signing_input`]), and each envelope carries that signature
/// with its own inclusion proof. A lone envelope is a batch of one ([`Signer::sign`]).
///
/// The signer does not check `envelope.origin`: receivers refuse an envelope whose origin
/// is not the certified node ([`VerifyError::OriginMismatch`](crate::VerifyError::OriginMismatch)).
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    cert_der: Vec<u8>,
    node: NodeId,
}

/// A batch could not be signed; nothing of it was. Always the caller's mistake: the
/// envelopes come from this node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// One envelope cannot travel: its bytes are empty or longer than
    /// [`MAX_ENVELOPE_LEN`](bluehelm_proto::limits::MAX_ENVELOPE_LEN).
    #[error("envelope {index} of the batch cannot be signed: {source}")]
    Envelope {
        /// Its position in the batch.
        index: usize,
        /// What is wrong with it.
        source: ValidationError,
    },
    /// More envelopes than one tree holds ([`MAX_TREE_SIZE`](crate::batch::MAX_TREE_SIZE)).
    #[error("too many envelopes for one batch: {0}")]
    TooLarge(BatchTreeError),
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

    /// Encodes the envelope once and signs those exact bytes, as a batch of one.
    ///
    /// Fails only for an envelope whose encoding is longer than
    /// [`MAX_ENVELOPE_LEN`](bluehelm_proto::limits::MAX_ENVELOPE_LEN): too large to travel.
    pub fn sign(&self, envelope: &Envelope) -> Result<SignedEnvelope, ValidationError> {
        self.sign_bytes(envelope.encode_to_vec())
    }

    /// Signs already encoded envelope bytes as they are, as a batch of one: the tree has one
    /// leaf, so its root is the leaf hash (RFC 9162 section 2.1.1) and the path is empty.
    /// Fails for empty or oversized bytes. The same as `sign_batch(vec![envelope_bytes])`.
    pub fn sign_bytes(&self, envelope_bytes: Vec<u8>) -> Result<SignedEnvelope, ValidationError> {
        let signature = self.sign_root(1, &leaf_hash(&envelope_bytes));
        SignedEnvelope::new(
            envelope_bytes,
            signature,
            self.cert_der.clone(),
            BatchProof::single(),
        )
    }

    /// Signs encoded envelopes together: builds the Merkle tree over their leaf hashes (in
    /// this order), signs its size and root once, and returns each envelope, in the same
    /// order, with that signature and its own inclusion path. No envelope needs another to
    /// verify: a receiver that gets one alone checks its path up to the signed root.
    ///
    /// An empty batch gives an empty result and makes no signature. All or nothing: if one
    /// envelope cannot travel, none is returned.
    pub fn sign_batch(&self, envelopes: Vec<Vec<u8>>) -> Result<Vec<SignedEnvelope>, SignError> {
        if envelopes.is_empty() {
            return Ok(Vec::new());
        }
        let leaves = envelopes.iter().map(|bytes| leaf_hash(bytes)).collect();
        let tree = BatchTree::from_leaf_hashes(leaves).map_err(SignError::TooLarge)?;
        let tree_size = tree.tree_size();
        let signature = self.sign_root(tree_size, &tree.root());
        envelopes
            .into_iter()
            .enumerate()
            .map(|(index, bytes)| {
                let invalid = |source| SignError::Envelope { index, source };
                // The tree has a leaf at every index of the batch, and the tree checked the
                // size (at most 2^32 leaves, paths of at most 32 hashes): `path` is `Some`
                // and the proof's shape is valid. Errors, not panics, all the same.
                let path = tree.path(index).unwrap_or_default();
                let proof = BatchProof::new(index as u64, tree_size, path).map_err(invalid)?;
                SignedEnvelope::new(bytes, signature, self.cert_der.clone(), proof).map_err(invalid)
            })
            .collect()
    }

    /// Ed25519 over [`root_signing_input`].
    fn sign_root(&self, tree_size: u64, root: &Hash) -> [u8; SIGNATURE_LEN] {
        self.key
            .sign(&root_signing_input(tree_size, root))
            .to_bytes()
    }
}
