//! The hub's side of a sync stream.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bluehelm_proto::records::{
    RecordBatchId, RecordBatchProof, ReplicaDigest, SyncBatch, SyncChanges, SyncItem, SyncRequest,
    HASH_LEN,
};
use bluehelm_proto::{Database, LinkFrame, NodeId};
use quinn::{RecvStream, SendStream};

use super::SYNC_PRIORITY;
use crate::custody::{now_ms, LinkHandle};
use crate::engine::policy::Party;
use crate::engine::records::freshness::HEARTBEAT;
use crate::engine::release::{self, Member};
use crate::net::frames::{write_frames, LinkError};
use crate::records::store::{RecordStore, RecordStoreError};
use crate::records::stored::Stored;

/// Most items in one batch.
const BATCH_ITEMS: usize = 4096;
/// About this many bytes of signed changes in one batch, before compression: far below the
/// smallest frame cap a peer may have, compressed or not.
const BATCH_BYTES: usize = 512 * 1024;
/// Least time between two digests on one stream: a digest walks the whole copy (about a
/// second per million records), so a stream of changes gets one when it pauses.
const DIGEST_GAP: Duration = Duration::from_secs(3);
/// zstd level: fast; record changes compress well at any level.
const ZSTD_LEVEL: i32 = 1;

/// Serves a sync stream a peer opened with `request`, until the peer closes it or the link
/// ends. Only the hub serves; a node that is not refuses the stream.
pub async fn serve(
    core: &LinkHandle,
    peer: &NodeId,
    request: SyncRequest,
    mut send: SendStream,
    recv: RecvStream,
) -> Result<(), LinkError> {
    let _ = send.set_priority(SYNC_PRIORITY);
    let Some(member) = core.member(peer) else {
        let _ = send.reset(crate::net::link::CLOSE_REFUSED);
        return Ok(());
    };
    if core.identity().role != bluehelm_pki::Role::Hub {
        tracing::info!(%peer, database = %request.database,
            "refused a sync stream: this node is not the hub");
        let _ = send.reset(crate::net::link::CLOSE_REFUSED);
        return Ok(());
    }
    tracing::info!(%peer, database = %request.database, after = request.after_seq,
        "replica sync started");
    // The replica never sends after its request; its closing the stream ends ours.
    let mut stopped = std::pin::pin!(async move {
        let mut recv = recv;
        let mut buf = [0u8; 64];
        while let Ok(Some(_)) = recv.read(&mut buf).await {}
    });
    let database = request.database;
    let store = core.records().clone();
    let mut head_changes = store.head_changes(database);
    let mut cursor = request.after_seq;
    let fresh = cursor == 0;
    let mut sent_certificates: HashSet<[u8; HASH_LEN]> = HashSet::new();
    // The change the last digest was at, and when it was sent.
    let mut last_digest: Option<(u64, tokio::time::Instant)> = None;
    loop {
        let (store2, member2, peer2) = (store.clone(), member.clone(), peer.clone());
        let known = sent_certificates.clone();
        let (batch, certificates) = tokio::task::spawn_blocking(move || {
            next_batch(&store2, database, cursor, fresh, &peer2, &member2, &known)
        })
        .await
        .map_err(|_| LinkError::LocalStream("sync worker failed"))?
        .map_err(|e| {
            tracing::warn!(%peer, error = %e, "replica sync stopped: field database failed");
            LinkError::LocalStream("field database failed")
        })?;
        sent_certificates.extend(certificates);
        let mut batch = batch;
        let level = batch.through_seq == batch.head_seq;
        let moved = batch.through_seq > cursor;
        let due = level && last_digest.is_none_or(|(seq, _)| seq != batch.through_seq);
        let gap = last_digest.map_or(Duration::ZERO, |(_, at)| {
            DIGEST_GAP.saturating_sub(at.elapsed())
        });
        // The batch that makes the replica level goes first; the digest (a walk over the
        // whole copy) follows in the next, empty batch.
        if due && !moved && gap.is_zero() {
            if let Some(signed) =
                signed_digest(core, &store, database, peer, &member, batch.through_seq).await
            {
                batch.digest = Some(signed);
                last_digest = Some((batch.through_seq, tokio::time::Instant::now()));
            } else {
                // Not computed (a change came in, or the walk failed): try again after the gap.
                last_digest = Some((u64::MAX, tokio::time::Instant::now()));
            }
        }
        let owed = due && batch.digest.is_none();
        let pause = if owed { gap } else { HEARTBEAT };
        cursor = batch.through_seq;
        match write_frames(&mut send, &[LinkFrame::SyncBatch(batch)]).await {
            Ok(()) => {}
            // The replica refused a batch or went away: its stream ends, the link stays.
            Err(LinkError::PeerStopped(_) | LinkError::PeerReset(_)) => {
                tracing::info!(%peer, %database, "replica sync stream ended by the replica");
                return Ok(());
            }
            Err(err) => return Err(err),
        }
        if moved && !level {
            continue;
        }
        // Level: wait for a new change, a heartbeat, the replica leaving or the node stopping.
        tokio::select! {
            _ = head_changes.changed() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = &mut stopped => return Ok(()),
            _ = core.cancel().cancelled() => return Ok(()),
        }
    }
}

/// The next batch after `cursor`, and the certificates it carries.
fn next_batch(
    store: &crate::records::store::RecordStore,
    database: bluehelm_proto::Database,
    cursor: u64,
    fresh: bool,
    peer: &NodeId,
    member: &Member,
    known: &HashSet<[u8; HASH_LEN]>,
) -> Result<(SyncBatch, Vec<[u8; HASH_LEN]>), RecordStoreError> {
    let (stored, head) = store.changes_after(database, cursor, BATCH_ITEMS, BATCH_BYTES)?;
    let exhausted = stored.len() < BATCH_ITEMS
        && stored.iter().map(|s| s.signed.len()).sum::<usize>() < BATCH_BYTES;
    let last = stored.last().map_or(cursor, |s| s.seq);
    let through = if exhausted { head.max(last) } else { last };
    let mut items = Vec::with_capacity(stored.len());
    let mut certificates = Vec::new();
    let mut new_certificates = Vec::new();
    for s in stored {
        match released_change(&s, database, peer, member) {
            Some(change) => {
                if !known.contains(&change.signer) && !new_certificates.contains(&change.signer) {
                    if let Some(der) = store.certificate(&change.signer)? {
                        certificates.push(der);
                        new_certificates.push(change.signer);
                    }
                }
                items.push(SyncItem::Change { seq: s.seq, change });
            }
            // A fresh replica holds nothing to erase.
            None if fresh => {}
            None => items.push(SyncItem::Erase {
                seq: s.seq,
                key: s.storage_key,
            }),
        }
    }
    let proofs = batch_proofs(store, database, &mut items)?;
    let raw = SyncChanges {
        items,
        certificates,
        proofs,
    }
    .encode_to_vec();
    let compressed =
        zstd::bulk::compress(&raw, ZSTD_LEVEL).map_err(|e| RecordStoreError::Corrupt {
            database,
            problem: format!("cannot compress a sync batch: {e}"),
        })?;
    Ok((
        SyncBatch {
            database,
            after_seq: cursor,
            through_seq: through,
            head_seq: head.max(through),
            sent_at_ms: now_ms(),
            compressed,
            digest: None,
        },
        new_certificates,
    ))
}

/// One proof per batch the items' changes were signed in: the owner's signature, and the
/// multiproof of the changes of that batch in these items (a replica may get only some).
///
/// The items were read without the writer's lock: a batch's row may have gone since, with
/// the last of its changes, which a newer change replaced. Those items are dropped, as
/// `changes_after` drops what was replaced while it read: the newer change comes later in
/// sequence. A row missing for a change still held is a corrupt store.
fn batch_proofs(
    store: &RecordStore,
    database: Database,
    items: &mut Vec<SyncItem>,
) -> Result<Vec<RecordBatchProof>, RecordStoreError> {
    let mut included: BTreeMap<RecordBatchId, Vec<u64>> = BTreeMap::new();
    for item in items.iter() {
        if let SyncItem::Change { change, .. } = item {
            if let Some((batch, leaf_index)) = change.batch() {
                included.entry(batch).or_default().push(leaf_index);
            }
        }
    }
    let mut proofs = Vec::with_capacity(included.len());
    let mut gone = HashSet::new();
    for (batch, mut leaves) in included {
        let Some(row) = store.batch_row(database, &batch)? else {
            gone.insert(batch);
            continue;
        };
        leaves.sort_unstable();
        proofs.push(row.proof(&leaves).map_err(|e| RecordStoreError::Corrupt {
            database,
            problem: format!("cannot prove a batch's changes from its row: {e}"),
        })?);
    }
    if gone.is_empty() {
        return Ok(proofs);
    }
    let mut kept = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        let SyncItem::Change { seq, change } = &item else {
            kept.push(item);
            continue;
        };
        if !change
            .batch()
            .is_some_and(|(batch, _)| gone.contains(&batch))
        {
            kept.push(item);
            continue;
        }
        let key = crate::engine::records::storage_key(
            database,
            &change
                .decode_change()
                .map_err(|e| RecordStoreError::Corrupt {
                    database,
                    problem: format!("a held change does not decode: {e}"),
                })?
                .key,
        );
        if store
            .get(database, &key)?
            .is_some_and(|held| held.seq == *seq)
        {
            return Err(RecordStoreError::Corrupt {
                database,
                problem: "a change is held without its batch's row".into(),
            });
        }
    }
    *items = kept;
    Ok(proofs)
}

/// The record's change if it is live and released to the peer.
fn released_change(
    stored: &Stored,
    database: bluehelm_proto::Database,
    peer: &NodeId,
    member: &Member,
) -> Option<bluehelm_proto::SignedRecordChange> {
    if stored.withdrawn {
        // A withdrawal the replica may see travels signed, so it can check its owner made it.
        let signed = stored.signed_change().ok()?;
        let change = signed.decode_change().ok()?;
        return (change.database == database && admits(&change, peer, member)).then_some(signed);
    }
    let signed = stored.signed_change().ok()?;
    let change = signed.decode_change().ok()?;
    admits(&change, peer, member).then_some(signed)
}

fn admits(change: &bluehelm_proto::RecordChange, peer: &NodeId, member: &Member) -> bool {
    let party = Party {
        node: peer,
        role: member.role,
        country: member.country.as_deref(),
        mission: member.mission.as_deref(),
    };
    change
        .release_to
        .as_ref()
        .is_none_or(|list| release::admits(list, party))
}

/// The hub's signed digest of the peer's copy at `seq`, if the hub is still at `seq`.
async fn signed_digest(
    core: &LinkHandle,
    store: &std::sync::Arc<crate::records::store::RecordStore>,
    database: bluehelm_proto::Database,
    peer: &NodeId,
    member: &Member,
    seq: u64,
) -> Option<bluehelm_proto::records::SignedDigest> {
    let (store, peer2, member) = (store.clone(), peer.clone(), member.clone());
    let computed = tokio::task::spawn_blocking(move || {
        super::digest(&store, database, |s| {
            !s.withdrawn && s.change().is_ok_and(|c| admits(&c, &peer2, &member))
        })
    })
    .await
    .ok()?
    .ok()?;
    let (at, records, root) = computed;
    if at != seq {
        // A change came in between: the next level batch carries the digest.
        return None;
    }
    let digest = ReplicaDigest {
        database,
        replica: peer.clone(),
        seq,
        records,
        root,
        computed_at_ms: now_ms(),
    };
    Some(core.record_signer().sign_digest(&digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::batch_row::testing::stored_batch;
    use crate::records::batch_row::BatchRow;
    use crate::records::store::Indexed;

    fn batch(keys: &[&str], version: u8) -> (Vec<(Stored, Indexed)>, BatchRow) {
        stored_batch(Database::Sltd, keys, version)
    }

    fn sequence(store: &RecordStore, (changes, row): (Vec<(Stored, Indexed)>, BatchRow)) {
        let done = store
            .sequence(Database::Sltd, changes, &[row], |_, _| Ok::<_, ()>(()))
            .unwrap();
        assert!(done.iter().all(Result::is_ok));
    }

    fn items(store: &RecordStore) -> Vec<SyncItem> {
        let (held, _) = store
            .changes_after(Database::Sltd, 0, 100, 1 << 20)
            .unwrap();
        held.iter()
            .map(|s| SyncItem::Change {
                seq: s.seq,
                change: s.signed_change().unwrap(),
            })
            .collect()
    }

    #[test]
    fn a_batch_whose_changes_were_all_replaced_while_a_sync_read_is_left_to_the_next_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(dir.path()).unwrap();
        sequence(&store, batch(&["FR/X1", "FR/X22"], 1));
        let mut read = items(&store);
        let mut again = read.clone();
        let proofs = batch_proofs(&store, Database::Sltd, &mut again).unwrap();
        assert_eq!((proofs.len(), again.len()), (1, 2));
        assert!(proofs[0].nodes.is_empty(), "the whole batch needs no nodes");

        // Both replaced after the read: the first batch's row is gone with them.
        sequence(&store, batch(&["FR/X1", "FR/X22"], 2));
        let proofs = batch_proofs(&store, Database::Sltd, &mut read).unwrap();
        assert!(proofs.is_empty() && read.is_empty(), "{read:?}");
        // What the next read finds: the new changes, with their batch's proof.
        let mut next = items(&store);
        let proofs = batch_proofs(&store, Database::Sltd, &mut next).unwrap();
        assert_eq!((proofs.len(), next.len()), (1, 2));
    }
}
