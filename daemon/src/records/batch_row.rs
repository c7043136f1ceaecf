//! What the hub keeps of each batch of record changes an owner signed (issue 16): the
//! signature and every leaf's hash. The hub stores each change apart, and a change may be
//! replaced while its batch-mates stay; with the row the hub can still prove to a replica any
//! set of the changes it holds of a batch, with one multiproof and the owner's signature.

use bluehelm_pki::batch::{self, Hash};
use bluehelm_pki::record_leaf_hash;
use bluehelm_proto::records::{RecordBatchId, RecordBatchProof, SignedRecordChange, HASH_LEN};
use bluehelm_proto::SIGNATURE_LEN;

/// A batch's signature and the hash of each of its leaves, in leaf order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    pub id: RecordBatchId,
    pub signature: [u8; SIGNATURE_LEN],
    pub leaves: Vec<Hash>,
}

impl BatchRow {
    /// The row of a whole batch: `changes` are every change the proof's batch holds, in any
    /// order. `None` if any leaf is missing, twice, or of another batch.
    pub fn of_whole_batch(
        proof: &RecordBatchProof,
        changes: &[&SignedRecordChange],
    ) -> Option<Self> {
        let size = usize::try_from(proof.batch.tree_size).ok()?;
        if changes.len() != size {
            return None;
        }
        let mut leaves: Vec<Option<Hash>> = vec![None; size];
        for signed in changes {
            let (batch, index) = signed.batch()?;
            let slot = leaves.get_mut(usize::try_from(index).ok()?)?;
            if batch != proof.batch || slot.is_some() {
                return None;
            }
            *slot = Some(record_leaf_hash(signed));
        }
        Some(BatchRow {
            id: proof.batch,
            signature: proof.signature,
            leaves: leaves.into_iter().collect::<Option<_>>()?,
        })
    }

    /// The proof of the changes at `included` (strictly ascending leaf indexes).
    pub fn proof(&self, included: &[u64]) -> Result<RecordBatchProof, batch::MultiproofError> {
        Ok(RecordBatchProof {
            batch: self.id,
            signature: self.signature,
            nodes: batch::multiproof(&self.leaves, included)?,
        })
    }

    /// The row's key after a one-byte prefix: signer, root, tree size.
    pub fn key(prefix: u8, id: &RecordBatchId) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + 2 * HASH_LEN + 8);
        key.push(prefix);
        key.extend_from_slice(&id.signer);
        key.extend_from_slice(&id.root);
        key.extend_from_slice(&id.tree_size.to_be_bytes());
        key
    }

    /// The stored value: the signature, then the leaves.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNATURE_LEN + self.leaves.len() * HASH_LEN);
        out.extend_from_slice(&self.signature);
        for leaf in &self.leaves {
            out.extend_from_slice(leaf);
        }
        out
    }

    /// Reads a stored value of the batch `id`.
    pub fn decode(id: RecordBatchId, bytes: &[u8]) -> Result<Self, String> {
        let (signature, leaves) = bytes
            .split_first_chunk::<SIGNATURE_LEN>()
            .ok_or("batch row cut short")?;
        let expected = usize::try_from(id.tree_size).unwrap_or(usize::MAX);
        if leaves.len() / HASH_LEN != expected || leaves.len() % HASH_LEN != 0 {
            return Err(format!(
                "batch row holds {} bytes of leaves for a batch of {}",
                leaves.len(),
                id.tree_size
            ));
        }
        Ok(BatchRow {
            id,
            signature: *signature,
            leaves: leaves
                .chunks_exact(HASH_LEN)
                .map(|leaf| leaf.try_into().unwrap_or([0; HASH_LEN]))
                .collect(),
        })
    }
}

/// Stand-ins for the store's and the sync's tests: changes whose batch a store can tell,
/// with no signature to check.
#[cfg(test)]
pub(crate) mod testing {
    use bluehelm_proto::records::{ChangeSignature, Database, RecordBatchId, RecordChange};
    use bluehelm_proto::SignedRecordChange;

    use super::BatchRow;
    use crate::records::store::Indexed;
    use crate::records::stored::Stored;

    /// Changes to `keys` of `database`, all version `version`, as one batch whose root is
    /// `[version; 32]`: their stored forms and the batch's row.
    pub fn stored_batch(
        database: Database,
        keys: &[&str],
        version: u8,
    ) -> (Vec<(Stored, Indexed)>, BatchRow) {
        let id = RecordBatchId {
            signer: [1; 32],
            tree_size: keys.len() as u64,
            root: [version; 32],
        };
        let stored = keys
            .iter()
            .zip(0..)
            .map(|(key, leaf_index)| {
                let change = RecordChange {
                    database,
                    key: (*key).into(),
                    owner: "ncb.fr".parse().expect("a node id"),
                    version: version.into(),
                    withdrawn: false,
                    record: b"{}".to_vec(),
                    release_to: None,
                    changed_at_ms: 1,
                };
                let signed = SignedRecordChange {
                    change: change.encode_to_vec(),
                    signer: id.signer,
                    signature: ChangeSignature::Batch {
                        leaf_index,
                        tree_size: id.tree_size,
                        root: id.root,
                        salt: [0; 16],
                    },
                };
                let stored = Stored {
                    storage_key: crate::engine::records::storage_key(database, key),
                    seq: 0,
                    withdrawn: false,
                    signed: signed.encode_to_vec(),
                    index_keys: Vec::new(),
                };
                (stored, Vec::new())
            })
            .collect();
        let row = BatchRow {
            id,
            signature: [2; 64],
            leaves: keys.iter().map(|k| [k.len() as u8; 32]).collect(),
        };
        (stored, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluehelm_proto::records::ChangeSignature;

    fn change(index: u64, size: u64, root: [u8; 32]) -> SignedRecordChange {
        SignedRecordChange {
            change: vec![index as u8 + 1],
            signer: [1; 32],
            signature: ChangeSignature::Batch {
                leaf_index: index,
                tree_size: size,
                root,
                salt: [7; 16],
            },
        }
    }

    #[test]
    fn a_row_holds_a_whole_batch_round_trips_and_proves_any_part() {
        let changes: Vec<_> = (0..5).map(|i| change(i, 5, [9; 32])).collect();
        let proof = RecordBatchProof {
            batch: changes[0].batch().unwrap().0,
            signature: [4; 64],
            nodes: Vec::new(),
        };
        let all: Vec<&SignedRecordChange> = changes.iter().rev().collect();
        let row = BatchRow::of_whole_batch(&proof, &all).unwrap();
        assert_eq!(row.leaves[0], record_leaf_hash(&changes[0]));
        assert_eq!(BatchRow::decode(row.id, &row.encode()).unwrap(), row);
        assert!(BatchRow::decode(row.id, &row.encode()[..100]).is_err());
        // A part of the batch, a leaf twice, or a leaf of another batch is no whole batch.
        assert!(BatchRow::of_whole_batch(&proof, &all[1..]).is_none());
        let twice = [all[0], all[0], all[1], all[2], all[3]];
        assert!(BatchRow::of_whole_batch(&proof, &twice).is_none());
        let stranger = change(4, 5, [8; 32]);
        let mixed = [&stranger, all[1], all[2], all[3], all[4]];
        assert!(BatchRow::of_whole_batch(&proof, &mixed).is_none());
        let part = row.proof(&[1, 3]).unwrap();
        let root =
            batch::root_from_multiproof(5, &[(1, row.leaves[1]), (3, row.leaves[3])], &part.nodes)
                .unwrap();
        let whole = batch::BatchTree::from_leaf_hashes(row.leaves.clone()).unwrap();
        assert_eq!(root, whole.root());
    }
}
