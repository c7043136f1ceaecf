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

use bluehelm_proto::records::HASH_LEN;
use bluehelm_proto::Database;

use super::store::{RecordStore, RecordStoreError};
use super::stored::Stored;
use crate::engine::records::{digest::Digest, sha256};

/// QUIC stream priority of sync streams: below every precedence class (ROUTINE is 0).
pub const SYNC_PRIORITY: i32 = -1;

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
