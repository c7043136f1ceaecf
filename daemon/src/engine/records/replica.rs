//! What a replica does with a batch from the hub: the batch must continue exactly where the
//! replica stands, its changes must be in sequence, signed by their owners (verified before,
//! by the shell, in one batch) and released to this node. Any fault refuses the whole batch,
//! so a replica's copy is always the hub's at some change, never a mixture.

use bluehelm_proto::records::{Database, RecordChange, SyncItem, HASH_LEN};
use bluehelm_proto::SignedRecordChange;

use super::storage_key;
use crate::engine::policy::Party;
use crate::engine::release;

/// One write a batch makes to the replica's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apply {
    /// Store (or replace) the record under its storage key.
    Put {
        storage_key: [u8; HASH_LEN],
        change: Box<RecordChange>,
        signed: SignedRecordChange,
    },
    /// Remove the record with this storage key, if held.
    Erase { storage_key: [u8; HASH_LEN] },
}

/// Why a replica refuses a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchRefusal {
    #[error("the batch continues from change {got}, but this replica stands at change {expected}")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("change {seq} comes after change {previous}: changes must be in increasing order")]
    NotIncreasing { seq: u64, previous: u64 },
    #[error("change {seq} lies beyond the batch's end, change {through}")]
    BeyondBatch { seq: u64, through: u64 },
    #[error("the batch is for {found}, the stream for {expected}")]
    WrongDatabase { expected: Database, found: Database },
    #[error("change {seq} does not verify: {problem}")]
    Unsigned { seq: u64, problem: String },
    #[error("change {seq} ({key}) is not released to this node")]
    NotReleased { seq: u64, key: String },
}

/// Plans the writes of a batch for a replica that stands at `applied`. `verified[i]` is the
/// verification of the i-th `Change` item (in order; erasures have none).
pub fn plan(
    database: Database,
    applied: u64,
    after: u64,
    through: u64,
    items: Vec<SyncItem>,
    verified: Vec<Result<RecordChange, String>>,
    me: Party<'_>,
) -> Result<Vec<Apply>, BatchRefusal> {
    if after != applied {
        return Err(BatchRefusal::OutOfOrder {
            expected: applied,
            got: after,
        });
    }
    let mut previous = after;
    let mut verified = verified.into_iter();
    let mut writes = Vec::with_capacity(items.len());
    for item in items {
        let seq = item.seq();
        if seq <= previous {
            return Err(BatchRefusal::NotIncreasing { seq, previous });
        }
        if seq > through {
            return Err(BatchRefusal::BeyondBatch { seq, through });
        }
        previous = seq;
        match item {
            SyncItem::Erase { key, .. } => writes.push(Apply::Erase { storage_key: key }),
            SyncItem::Change { change: signed, .. } => {
                let change = verified
                    .next()
                    .unwrap_or_else(|| Err("no verification result".into()))
                    .map_err(|problem| BatchRefusal::Unsigned { seq, problem })?;
                if change.database != database {
                    return Err(BatchRefusal::WrongDatabase {
                        expected: database,
                        found: change.database,
                    });
                }
                let released = change
                    .release_to
                    .as_ref()
                    .is_none_or(|list| release::admits(list, me));
                if !released {
                    return Err(BatchRefusal::NotReleased {
                        seq,
                        key: change.key,
                    });
                }
                let storage_key = storage_key(database, &change.key);
                writes.push(if change.withdrawn {
                    Apply::Erase { storage_key }
                } else {
                    Apply::Put {
                        storage_key,
                        change: Box::new(change),
                        signed,
                    }
                });
            }
        }
    }
    Ok(writes)
}
