//! Signing and verifying field-database records (issue 13): an owner signs its changes, the
//! hub signs its digest of a replica's copy. Both use the node's envelope key with their own
//! domain prefix (`bluehelm_proto::records`), so no signature made for one purpose verifies
//! for another.
//!
//! Since `bluehelm/8` (issue 16, item 1) an owner signs a batch of changes once: the root of a
//! [`crate::batch`] tree whose leaves are the changes' bytes. A message carries, per batch, the
//! signature and the multiproof of the changes it holds ([`RecordBatchProof`]), so a replica
//! that holds only some changes of a batch verifies each of them. Record roots are never put
//! in the envelope verifier's root cache: each message's batches are verified afresh, so a
//! root of changes can never stand in for a root of envelopes there, whatever its domain.

use std::collections::HashMap;
use std::sync::Arc;

use bluehelm_proto::records::{
    digest_signing_input, record_root_signing_input, record_signing_input, ChangeSignature,
    RecordBatchId, RecordBatchProof, RecordChange, ReplicaDigest, SignedDigest, SignedRecordChange,
    RECORD_SALT_LEN,
};
use bluehelm_proto::DecodeError;
use ed25519_dalek::{Signature, Signer as _, Verifier as _, VerifyingKey};

use crate::batch::{root_from_multiproof, salted_leaf_hash, BatchTree, Hash};
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
    /// The change is in a batch the message carries no signature for.
    #[error("no signature for the change's batch came with it")]
    NoBatchSignature,
    /// The change's batch proof does not lead to the root its owner signed.
    #[error("the change's batch proof does not hold: {0}")]
    BadBatchProof(String),
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

    /// Signs changes to records this node owns as one batch: one signature over the root of
    /// a tree whose leaves are the encoded changes. The caller made each `change.owner` this
    /// node. The proof carries no nodes: it goes with the whole batch.
    ///
    /// # Panics
    /// If `changes` is empty or holds more than 2^32 changes, or the system's random source
    /// (for the salts) fails.
    pub fn sign_record_batch(
        &self,
        changes: &[RecordChange],
    ) -> (Vec<SignedRecordChange>, RecordBatchProof) {
        let encoded: Vec<Vec<u8>> = changes.iter().map(RecordChange::encode_to_vec).collect();
        let salts = random_salts(encoded.len());
        let leaves = encoded
            .iter()
            .zip(&salts)
            .map(|(change, salt)| salted_leaf_hash(salt, change))
            .collect();
        let tree =
            BatchTree::from_leaf_hashes(leaves).expect("a record batch holds 1 to 2^32 changes");
        let (tree_size, root) = (tree.tree_size(), tree.root());
        let signer = self.certificate_fingerprint();
        let signature = self
            .key()
            .sign(&record_root_signing_input(tree_size, &root))
            .to_bytes();
        let signed = encoded
            .into_iter()
            .zip(salts)
            .zip(0..)
            .map(|((change, salt), leaf_index)| SignedRecordChange {
                change,
                signer,
                signature: ChangeSignature::Batch {
                    leaf_index,
                    tree_size,
                    root,
                    salt,
                },
            })
            .collect();
        let proof = RecordBatchProof {
            batch: RecordBatchId {
                signer,
                tree_size,
                root,
            },
            signature,
            nodes: Vec::new(),
        };
        (signed, proof)
    }

    /// Signs one change alone, in the form of `bluehelm/7` and before. No node makes these
    /// any more; verifiers accept them so that what a hub or replica already holds still
    /// verifies. Kept for tests of that path.
    pub fn sign_record_change_alone(&self, change: &RecordChange) -> SignedRecordChange {
        let bytes = change.encode_to_vec();
        let signature = self.key().sign(&record_signing_input(&bytes)).to_bytes();
        SignedRecordChange {
            change: bytes,
            signature: ChangeSignature::Alone(signature),
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
    /// A change in a batch is verified through its batch's entry in `proofs`: the leaves of
    /// the batch's changes among `changes`, with the proof's nodes, must lead to the root, and
    /// the signature over the root must verify. A change signed alone carries its signature.
    /// `certificate` finds a signer's certificate (DER) by its SHA-256. A certificate is
    /// checked against the trust store (CA and CRL) at the time the change says it was made,
    /// so a record outlives the certificate that signed it, but never its revocation. All
    /// signatures are checked in one batch; if the batch fails, one by one. A proof that no
    /// change uses is not looked at.
    pub fn verify_record_changes<'c>(
        &self,
        changes: &[SignedRecordChange],
        proofs: &[RecordBatchProof],
        certificate: impl Fn(&[u8; 32]) -> Option<&'c [u8]>,
    ) -> Vec<Result<VerifiedChange, RecordVerifyError>> {
        let mut prepared: Vec<Result<Prepared, RecordVerifyError>> = changes
            .iter()
            .map(|signed| self.prepare_change(signed, &certificate))
            .collect();
        let batches = check_batches(changes, proofs, &mut prepared);
        // One signature per batch and per change signed alone.
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        let mut signatures = Vec::new();
        let mut keys = Vec::new();
        let mut checked_batch: HashMap<RecordBatchId, usize> = HashMap::new();
        let mut which: Vec<Option<usize>> = Vec::with_capacity(changes.len());
        for (signed, item) in changes.iter().zip(&prepared) {
            let Ok(prepared) = item else {
                which.push(None);
                continue;
            };
            let slot = match (&signed.signature, signed.batch()) {
                (ChangeSignature::Alone(signature), _) => {
                    inputs.push(record_signing_input(&signed.change));
                    signatures.push(Signature::from_bytes(signature));
                    keys.push(prepared.key);
                    Some(inputs.len() - 1)
                }
                // check_batches failed every change whose batch has no proof that holds.
                (_, Some((batch, _))) => batches.get(&batch).map(|proof| {
                    *checked_batch.entry(batch).or_insert_with(|| {
                        let input = record_root_signing_input(batch.tree_size, &batch.root);
                        inputs.push(input.to_vec());
                        signatures.push(Signature::from_bytes(&proof.signature));
                        keys.push(prepared.key);
                        inputs.len() - 1
                    })
                }),
                (ChangeSignature::Batch { .. }, None) => None,
            };
            which.push(slot);
        }
        let messages: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let all_good = !messages.is_empty()
            && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
        let mut verdicts: Vec<Option<bool>> = vec![None; messages.len()];
        let mut good = |slot: usize| {
            all_good
                || *verdicts[slot].get_or_insert_with(|| {
                    keys[slot]
                        .verify_strict(messages[slot], &signatures[slot])
                        .is_ok()
                })
        };
        prepared
            .into_iter()
            .zip(which)
            .map(|(item, slot)| {
                let prepared = item?;
                match slot {
                    Some(slot) if good(slot) => Ok(VerifiedChange {
                        change: prepared.change,
                        signer: prepared.signer,
                    }),
                    _ => Err(RecordVerifyError::BadSignature),
                }
            })
            .collect()
    }

    /// Decodes a change and finds its signer's key, trusted when the change was made.
    fn prepare_change<'c>(
        &self,
        signed: &SignedRecordChange,
        certificate: &impl Fn(&[u8; 32]) -> Option<&'c [u8]>,
    ) -> Result<Prepared, RecordVerifyError> {
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
        Ok(Prepared {
            change,
            signer: identity,
            key,
        })
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

/// The leaf hash of a change in its batch's tree: `SHA-256(0x00 || salt || change)`, the salt
/// 16 random bytes the owner chose (docs/protocol.md 11.2). A proof given to a replica holds
/// the leaf hashes of changes withheld from it; unsalted, the hash of a short change (a
/// withdrawal names only a key) could be tested against guesses of the key.
pub fn record_leaf_hash(signed: &SignedRecordChange) -> Hash {
    salted_leaf_hash(signed.salt(), &signed.change)
}

/// `n` salts from one read of the system's random source.
fn random_salts(n: usize) -> Vec<[u8; RECORD_SALT_LEN]> {
    let mut bytes = vec![0; n * RECORD_SALT_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system's random source works");
    bytes
        .chunks_exact(RECORD_SALT_LEN)
        .map(|salt| salt.try_into().unwrap_or([0; RECORD_SALT_LEN]))
        .collect()
}

/// A change decoded, with its signer's trusted key.
struct Prepared {
    change: RecordChange,
    signer: Arc<NodeIdentity>,
    key: VerifyingKey,
}

/// Checks that the changes of each batch, with its proof's nodes, lead to the batch's root.
/// A change whose batch has no proof, or whose batch's proof does not hold, fails in
/// `prepared`. Returns the proof of each batch that holds.
fn check_batches<'p>(
    changes: &[SignedRecordChange],
    proofs: &'p [RecordBatchProof],
    prepared: &mut [Result<Prepared, RecordVerifyError>],
) -> HashMap<RecordBatchId, &'p RecordBatchProof> {
    let mut leaves: HashMap<RecordBatchId, Vec<(u64, Hash, usize)>> = HashMap::new();
    for (i, signed) in changes.iter().enumerate() {
        // Every change of a batch is a leaf, whether it decodes or not: a bad change fails
        // alone, and its batch-mates still verify.
        if let Some((batch, leaf_index)) = signed.batch() {
            let leaf = (leaf_index, record_leaf_hash(signed), i);
            leaves.entry(batch).or_default().push(leaf);
        }
    }
    let mut by_batch: HashMap<RecordBatchId, Result<&RecordBatchProof, String>> = HashMap::new();
    for proof in proofs {
        if leaves.contains_key(&proof.batch) {
            let twice = Err("two proofs for one batch".to_owned());
            by_batch
                .entry(proof.batch)
                .and_modify(|held| *held = twice)
                .or_insert(Ok(proof));
        }
    }
    let mut holding = HashMap::new();
    for (batch, mut members) in leaves {
        members.sort_unstable_by_key(|(leaf_index, _, _)| *leaf_index);
        let verdict = match by_batch.remove(&batch) {
            None => Err(RecordVerifyError::NoBatchSignature),
            Some(Err(problem)) => Err(RecordVerifyError::BadBatchProof(problem)),
            Some(Ok(proof)) => {
                let included: Vec<(u64, Hash)> = members
                    .iter()
                    .map(|(index, hash, _)| (*index, *hash))
                    .collect();
                match root_from_multiproof(batch.tree_size, &included, &proof.nodes) {
                    Ok(root) if root == batch.root => Ok(proof),
                    Ok(_) => Err(RecordVerifyError::BadBatchProof(
                        "it leads to another root".to_owned(),
                    )),
                    Err(problem) => Err(RecordVerifyError::BadBatchProof(problem.to_string())),
                }
            }
        };
        match verdict {
            Ok(proof) => {
                holding.insert(batch, proof);
            }
            Err(problem) => {
                for (_, _, i) in members {
                    if prepared[i].is_ok() {
                        prepared[i] = Err(problem.clone());
                    }
                }
            }
        }
    }
    holding
}

#[cfg(test)]
mod example;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
