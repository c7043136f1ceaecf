//! The sync stream (docs/protocol.md, "Field databases"): a replica opens a stream on its
//! link with the hub, names a database and the last change it applied; the hub answers with
//! batches of the latest changes after it, in sequence, zstd-compressed, and keeps the stream
//! open, sending new changes as they come and an empty batch every
//! [`HEARTBEAT`](crate::engine::records::freshness::HEARTBEAT) while idle. The stream has the
//! lowest QUIC priority on the link, below ROUTINE, so a sync never delays a message.
//!
//! A fresh replica (after change 0) gets a snapshot: every live record released to it,
//! in sequence order. One that was away gets only what changed since, each record once in
//! its latest form. When a batch reaches the hub's head the hub may add its signed digest of
//! the replica's copy, which the replica compares with its own.

pub mod client;
pub mod serve;

use bluehelm_proto::records::{SyncBatch, SyncChanges, HASH_LEN, MAX_SYNC_BATCH_BYTES};
use bluehelm_proto::{Database, DecodeError};

use super::store::{RecordStore, RecordStoreError};
use super::stored::Stored;
use crate::engine::records::{digest::Digest, sha256};

/// QUIC stream priority of sync streams: below every precedence class (ROUTINE is 0).
pub const SYNC_PRIORITY: i32 = -1;

/// Why a sync batch's changes cannot be read: the replica refuses the batch whole.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("the batch does not decompress within 4 MiB: {0}")]
    Decompress(std::io::Error),
    #[error("the batch does not decode: {0}")]
    Decode(#[from] DecodeError),
}

/// The changes a batch from the hub carries: decompressed into at most
/// [`MAX_SYNC_BATCH_BYTES`], then decoded. Their signatures are not checked yet.
pub fn unpack(batch: &SyncBatch) -> Result<SyncChanges, UnpackError> {
    let raw = zstd::bulk::decompress(&batch.compressed, MAX_SYNC_BATCH_BYTES)
        .map_err(UnpackError::Decompress)?;
    Ok(SyncChanges::decode(&raw)?)
}

/// The digest of the records `keep` selects, with the change it is at and the count.
pub fn digest(
    store: &RecordStore,
    database: Database,
    mut keep: impl FnMut(&Stored) -> bool,
) -> Result<(u64, u64, [u8; HASH_LEN]), RecordStoreError> {
    let mut digest = Digest::default();
    let at = store.walk(database, |stored| {
        if keep(&stored) {
            digest.push(&stored.storage_key, &sha256(&stored.signed));
        }
        true
    })?;
    Ok((at, digest.leaves(), digest.root()))
}

pub use crate::engine::records::hex;

#[cfg(test)]
mod tests {
    use bluehelm_proto::records::SyncItem;

    use super::*;

    fn batch(compressed: Vec<u8>) -> SyncBatch {
        SyncBatch {
            database: Database::Sltd,
            after_seq: 0,
            through_seq: 1,
            head_seq: 1,
            sent_at_ms: 0,
            compressed,
            digest: None,
        }
    }

    #[test]
    fn unpack_reads_what_the_hub_packed() {
        let changes = SyncChanges {
            items: vec![SyncItem::Erase {
                seq: 1,
                key: [7; HASH_LEN],
            }],
            certificates: vec![vec![0x30, 0x03, 0x02, 0x01, 0x01]],
            proofs: Vec::new(),
        };
        let compressed = zstd::bulk::compress(&changes.encode_to_vec(), 3).unwrap();
        assert_eq!(unpack(&batch(compressed)).unwrap(), changes);
    }

    #[test]
    fn unpack_refuses_bytes_that_are_not_zstd_or_expand_past_the_cap() {
        assert!(matches!(
            unpack(&batch(b"not zstd".to_vec())),
            Err(UnpackError::Decompress(_))
        ));
        // 5 MiB of zeros packs into a few hundred bytes: a bomb the cap must stop.
        let bomb = zstd::bulk::compress(&vec![0; 5 * 1024 * 1024], 3).unwrap();
        assert!(bomb.len() < 4096);
        let err = unpack(&batch(bomb)).unwrap_err();
        assert!(matches!(err, UnpackError::Decompress(_)), "{err}");
        assert!(err.to_string().contains("within 4 MiB"), "{err}");
    }

    #[test]
    fn unpack_refuses_a_batch_whose_contents_do_not_decode() {
        let compressed = zstd::bulk::compress(&[0xff; 16], 3).unwrap();
        assert!(matches!(
            unpack(&batch(compressed)),
            Err(UnpackError::Decode(_))
        ));
    }
}
