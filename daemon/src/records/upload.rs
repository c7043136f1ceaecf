//! The hub sequences record changes: an owner's upload that reached its inbox, or its own
//! import. Each change must be signed by its owner (for an upload: the envelope's signer,
//! with the very certificate that signed the envelope), be in its database's key form, and
//! pass `engine::records::admit` against what the hub holds. A refused change is logged and
//! dropped; the others are sequenced and durable before the upload leaves the inbox.

use std::collections::{BTreeMap, HashMap, HashSet};

use bluehelm_pki::Role;
use bluehelm_proto::records::{RecordBatchId, RecordBatchProof, RecordChange, RecordUpload};
use bluehelm_proto::{Database, SignedRecordChange};

use super::batch_row::BatchRow;
use super::kinds;
use super::store::{RecordStore, RecordStoreError};
use super::stored::Stored;
use crate::custody::{BureauHandle, Delivered};
use crate::engine::records::{self, Held};
use crate::store::{Failure, StoreError};

/// Most refusals of one upload logged one by one.
const LOGGED_REFUSALS: usize = 10;

/// A change the hub may sequence: verified, with its decoded form.
pub struct Checked {
    pub change: RecordChange,
    pub signed: SignedRecordChange,
    /// Where it came from, for the refusal's report (an import's line; 0 for an upload).
    pub line: u64,
}

/// Sequences verified changes, database by database, in order; `batches` holds the row of
/// every batch they were signed in. Returns the refusals with their lines; durable on return.
pub fn sequence(
    store: &RecordStore,
    changes: Vec<Checked>,
    batches: &[BatchRow],
) -> Result<(u64, Vec<(u64, String)>), RecordStoreError> {
    let mut refused = Vec::new();
    let mut by_database: BTreeMap<Database, Vec<Checked>> = BTreeMap::new();
    for checked in changes {
        if let Err(problem) = kinds::check_key(checked.change.database, &checked.change.key) {
            refused.push((checked.line, problem));
            continue;
        }
        by_database
            .entry(checked.change.database)
            .or_default()
            .push(checked);
    }
    let mut sequenced = 0;
    for (database, checked) in by_database {
        let lines: Vec<u64> = checked.iter().map(|c| c.line).collect();
        let changes: Vec<RecordChange> = checked.iter().map(|c| c.change.clone()).collect();
        let items = checked
            .into_iter()
            .map(|c| {
                let stored = Stored {
                    storage_key: records::storage_key(database, &c.change.key),
                    seq: 0,
                    withdrawn: c.change.withdrawn,
                    signed: c.signed.encode_to_vec(),
                    index_keys: Vec::new(),
                };
                (stored, kinds::index_entries(&c.change))
            })
            .collect();
        let mut next = 0;
        let results = store.sequence(database, items, batches, |held, _| {
            let change = &changes[next];
            next += 1;
            let held = held.map(held_of).transpose()?;
            records::admit(held.as_ref(), change).map_err(|r| r.to_string())
        })?;
        for (line, result) in lines.into_iter().zip(results) {
            match result {
                Ok(_) => sequenced += 1,
                Err(problem) => refused.push((line, problem)),
            }
        }
    }
    Ok((sequenced, refused))
}

/// Why the hub refuses a change whose batch the upload carries only part of.
const PART_OF_A_BATCH: &str =
    "the upload carries only part of the change's batch: the hub keeps whole batches only";

/// The rows of the batches an upload carries whole. The hub proves any part of a batch to a
/// replica from its row, so it needs every leaf. A batch with two proofs gets no row (its
/// changes fail verification anyway); each change is looked at once, whatever the proofs.
fn whole_batches(upload: &RecordUpload) -> Vec<BatchRow> {
    let mut members: HashMap<RecordBatchId, Vec<&SignedRecordChange>> = HashMap::new();
    for change in &upload.changes {
        if let Some((batch, _)) = change.batch() {
            members.entry(batch).or_default().push(change);
        }
    }
    let mut proofs: HashMap<RecordBatchId, Option<&RecordBatchProof>> = HashMap::new();
    for proof in &upload.proofs {
        proofs
            .entry(proof.batch)
            .and_modify(|twice| *twice = None)
            .or_insert(Some(proof));
    }
    proofs
        .into_values()
        .flatten()
        .filter_map(|proof| BatchRow::of_whole_batch(proof, members.get(&proof.batch)?))
        .collect()
}

fn held_of(stored: &Stored) -> Result<Held, String> {
    let change = stored
        .change()
        .map_err(|e| format!("the record held does not decode: {e}"))?;
    Ok(Held {
        owner: change.owner,
        version: change.version,
        withdrawn: change.withdrawn,
    })
}

/// Sequences an upload that reached this node's inbox; the caller removes it afterwards.
/// Only a storage failure is an error (the caller tries again later).
pub async fn accept(
    node: &BureauHandle,
    message: &Delivered,
    upload: &RecordUpload,
) -> Result<(), StoreError> {
    let envelope = &message.envelope;
    if node.identity().role != Role::Hub {
        tracing::warn!(upload = %envelope.message_id, origin = %envelope.origin,
            "dropped a record upload: only the hub sequences records");
        return Ok(());
    }
    let node = node.clone();
    let certificate = message.signed.signer_certificate().to_vec();
    let upload = upload.clone();
    let (origin, id) = (envelope.origin.clone(), envelope.message_id);
    let outcome = tokio::task::spawn_blocking(move || {
        let fingerprint = records::sha256(&certificate);
        let verified =
            node.verifier()
                .verify_record_changes(&upload.changes, &upload.proofs, |signer| {
                    (*signer == fingerprint).then_some(certificate.as_slice())
                });
        let rows = whole_batches(&upload);
        let whole: HashSet<RecordBatchId> = rows.iter().map(|row| row.id).collect();
        let mut refused = Vec::new();
        let mut checked = Vec::new();
        for (signed, result) in upload.changes.into_iter().zip(verified) {
            let whole = signed
                .batch()
                .is_none_or(|(batch, _)| whole.contains(&batch));
            match result {
                Ok(_) if !whole => refused.push((0, PART_OF_A_BATCH.to_owned())),
                Ok(v) => checked.push(Checked {
                    change: v.change,
                    signed,
                    line: 0,
                }),
                Err(err) => refused.push((0, err.to_string())),
            }
        }
        let store = node.records();
        store.keep_certificate(&fingerprint, &certificate)?;
        let (sequenced, more) = sequence(store, checked, &rows)?;
        refused.extend(more);
        Ok::<_, RecordStoreError>((sequenced, refused))
    })
    .await
    .map_err(|_| StoreError::Closed)?
    .map_err(|e| StoreError::Failed(Failure::Records(e.to_string())))?;
    let (sequenced, refused) = outcome;
    tracing::info!(upload = %id, origin = %origin, sequenced, refused = refused.len(),
        "sequenced a record upload");
    for (_, problem) in refused.iter().take(LOGGED_REFUSALS) {
        tracing::warn!(upload = %id, origin = %origin, %problem, "refused a record change");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bluehelm_proto::records::ChangeSignature;

    use super::*;

    /// A batch of `size` changes with this root (the hashes are not checked here).
    fn batch(size: u64, root: u8) -> (Vec<SignedRecordChange>, RecordBatchProof) {
        let changes: Vec<SignedRecordChange> = (0..size)
            .map(|leaf_index| SignedRecordChange {
                change: vec![root, leaf_index as u8],
                signer: [1; 32],
                signature: ChangeSignature::Batch {
                    leaf_index,
                    tree_size: size,
                    root: [root; 32],
                    salt: [0; 16],
                },
            })
            .collect();
        let proof = RecordBatchProof {
            batch: changes[0].batch().unwrap().0,
            signature: [root; 64],
            nodes: Vec::new(),
        };
        (changes, proof)
    }

    #[test]
    fn only_batches_an_upload_carries_whole_and_proves_once_get_a_row() {
        let (whole, whole_proof) = batch(3, 1);
        let (part, part_proof) = batch(4, 2);
        let (twice, twice_proof) = batch(2, 3);
        let mut changes = whole.clone();
        changes.extend_from_slice(&part[..3]);
        changes.extend(twice);
        let upload = RecordUpload {
            changes,
            proofs: vec![whole_proof, part_proof, twice_proof.clone(), twice_proof],
        };
        let rows = whole_batches(&upload);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].id, whole[0].batch().unwrap().0);
        assert_eq!(rows[0].leaves.len(), 3);
    }
}
