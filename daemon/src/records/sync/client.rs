//! A replica's side of a sync stream: one task per replicated database while the link with
//! the hub is up. Each batch is checked whole (`engine::records::replica::plan`) after its
//! owners' signatures are verified, and applied in one atomic write with the replica's new
//! position; a batch that fails any check is refused whole, the stream is dropped, and the
//! replica asks again later from where it stands.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bluehelm_proto::records::{RecordBatchId, RecordBatchProof};
use bluehelm_proto::records::{ReplicaDigest, SyncBatch, SyncItem, SyncRequest, HASH_LEN};
use bluehelm_proto::{Database, LinkFrame, NodeId, RecordChange, SignedRecordChange};
use quinn::Connection;

use super::{digest, hex, SYNC_PRIORITY};
use crate::custody::{now_ms, LinkHandle};
use crate::engine::policy::Party;
use crate::engine::records::freshness::Freshness;
use crate::engine::records::replica::{self, Apply};
use crate::net::frames::{frame_name, read_frame, write_frames, LinkError, Violation};
use crate::records::kinds;
use crate::records::status::{CatchUp, DigestCheck};
use crate::records::store::{Note, RecordStore, ReplicaWrite};
use crate::records::stored::Stored;

/// Wait before asking again after refusing a batch.
const RETRY_AFTER_REFUSAL: Duration = Duration::from_secs(60);
/// Most signer certificates remembered on one stream.
const MAX_CERTIFICATES: usize = 4096;

/// Why a sync session ended.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The hub sent something this replica refuses.
    #[error("{0}")]
    Refused(String),
}

/// Keeps `database` level with `hub` over `conn` until the link ends or the node stops.
pub async fn run(core: LinkHandle, conn: Connection, hub: NodeId, database: Database) {
    let Some(hub_certificate) =
        crate::net::tls::peer_chain(&conn).and_then(|chain| chain.first().map(|c| c.to_vec()))
    else {
        return;
    };
    loop {
        match session(&core, &conn, &hub, database, &hub_certificate).await {
            Ok(()) => return,
            Err(SyncError::Link(err)) => {
                tracing::info!(%hub, %database, error = %err, "replica sync ended");
                return;
            }
            Err(SyncError::Refused(reason)) => {
                tracing::error!(%hub, %database, %reason,
                    "replica refused a sync batch from the hub; it keeps its copy and asks again in 60 s");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_AFTER_REFUSAL) => {}
                    _ = core.cancel().cancelled() => return,
                    _ = conn.closed() => return,
                }
            }
        }
    }
}

async fn session(
    core: &LinkHandle,
    conn: &Connection,
    hub: &NodeId,
    database: Database,
    hub_certificate: &[u8],
) -> Result<(), SyncError> {
    let store = core.records().clone();
    let mut position = blocking(&store, move |s| s.position(database)).await?;
    // A catch-up is timed from here, the link's return, to level: what a post waits for.
    let asked_at = Instant::now();
    let asked_after = position.applied_seq;
    let (mut send, mut recv) = conn.open_bi().await.map_err(LinkError::from)?;
    let _ = send.set_priority(SYNC_PRIORITY);
    let request = SyncRequest {
        database,
        after_seq: position.applied_seq,
    };
    write_frames(&mut send, &[LinkFrame::SyncRequest(request)]).await?;
    tracing::info!(%hub, %database, after = position.applied_seq, "replica sync asked");
    let mut certificates: HashMap<[u8; HASH_LEN], Vec<u8>> = HashMap::new();
    let mut was_level = false;
    // Only the first time level in a session is a catch-up; later ones follow live changes.
    let mut timed = false;
    loop {
        let frame = tokio::select! {
            frame = read_frame(&mut recv, core.max_frame()) => frame?,
            _ = core.cancel().cancelled() => return Ok(()),
        };
        let batch = match frame {
            Some(LinkFrame::SyncBatch(batch)) => batch,
            Some(other) => {
                return Err(LinkError::from(Violation::UnexpectedFrame {
                    frame: frame_name(&other),
                    stream: "a sync stream",
                })
                .into())
            }
            None => return Ok(()),
        };
        let outcome = apply(
            core,
            &store,
            database,
            position,
            batch,
            &mut certificates,
            hub_certificate,
        )
        .await;
        match outcome {
            Ok(next) => {
                let level = next.applied_seq == next.head_seq;
                if level && !was_level && timed {
                    tracing::info!(%hub, %database, change = next.applied_seq,
                        "replica level with the hub");
                } else if level && !timed {
                    timed = true;
                    let catch_up = CatchUp {
                        changes: next.applied_seq.saturating_sub(asked_after),
                        ms: asked_at.elapsed().as_millis() as u64,
                        at_ms: now_ms(),
                    };
                    tracing::info!(%hub, %database, change = next.applied_seq,
                        changes = catch_up.changes, ms = catch_up.ms,
                        "replica level with the hub");
                    let value = serde_json::to_vec(&catch_up).unwrap_or_default();
                    blocking(&store, move |s| s.set_note(database, Note::CatchUp, value)).await?;
                }
                was_level = level;
                position = next;
            }
            Err(refusal) => {
                let _ = send.reset(crate::net::link::CLOSE_REFUSED);
                return Err(refusal);
            }
        }
    }
}

/// Checks and applies one batch; the replica's new position.
async fn apply(
    core: &LinkHandle,
    store: &std::sync::Arc<RecordStore>,
    database: Database,
    position: Freshness,
    batch: SyncBatch,
    certificates: &mut HashMap<[u8; HASH_LEN], Vec<u8>>,
    hub_certificate: &[u8],
) -> Result<Freshness, SyncError> {
    if batch.database != database {
        return Err(SyncError::Refused(format!(
            "a batch for {} on the {database} stream",
            batch.database
        )));
    }
    let changes = super::unpack(&batch).map_err(|e| SyncError::Refused(e.to_string()))?;
    for der in changes.certificates {
        if certificates.len() >= MAX_CERTIFICATES {
            return Err(SyncError::Refused("too many signer certificates".into()));
        }
        certificates.insert(crate::engine::records::sha256(&der), der);
    }
    let identity = core.identity().clone();
    let core2 = core.clone();
    let certs = certificates.clone();
    let store2 = store.clone();
    let (after, through, head) = (batch.after_seq, batch.through_seq, batch.head_seq);
    let (items, proofs) = (changes.items, changes.proofs);
    let next = tokio::task::spawn_blocking(move || {
        let signed: Vec<SignedRecordChange> = items
            .iter()
            .filter_map(|item| match item {
                SyncItem::Change { change, .. } => Some(change.clone()),
                SyncItem::Erase { .. } => None,
            })
            .collect();
        let verified = verify_in_parallel(&core2, signed, &proofs, &certs);
        let me = Party::of(&identity);
        let writes = replica::plan(
            database,
            position.applied_seq,
            after,
            through,
            items,
            verified,
            me,
        )
        .map_err(|r| SyncError::Refused(r.to_string()))?;
        let writes = writes
            .into_iter()
            .map(|write| match write {
                Apply::Put {
                    storage_key,
                    change,
                    signed,
                } => {
                    let index = kinds::index_entries(&change);
                    let stored = Stored {
                        storage_key,
                        seq: 0,
                        withdrawn: false,
                        signed: signed.encode_to_vec(),
                        index_keys: Vec::new(),
                    };
                    ReplicaWrite::Put(stored, index)
                }
                Apply::Erase { storage_key } => ReplicaWrite::Erase(storage_key),
            })
            .collect();
        let next = Freshness {
            applied_seq: through,
            head_seq: head,
            level_at_ms: if through == head {
                Some(now_ms())
            } else {
                position.level_at_ms
            },
        };
        store2
            .apply(database, writes, next)
            .map_err(|e| SyncError::Refused(format!("cannot store the batch: {e}")))?;
        Ok::<_, SyncError>(next)
    })
    .await
    .map_err(|_| SyncError::Refused("the sync worker failed".into()))??;
    if let Some(signed) = batch.digest {
        let digest = core
            .verifier()
            .verify_digest(&signed, hub_certificate, now_ms() / 1000)
            .map_err(|e| SyncError::Refused(format!("the hub's digest does not verify: {e}")))?;
        compare(store, database, core.me(), digest, next.applied_seq).await?;
    }
    Ok(next)
}

/// Verifies changes on both cores. Each side gets whole batches: a batch's multiproof
/// leads to its root only from all of the batch's changes in the sync batch.
fn verify_in_parallel(
    core: &LinkHandle,
    signed: Vec<SignedRecordChange>,
    proofs: &[RecordBatchProof],
    certificates: &HashMap<[u8; HASH_LEN], Vec<u8>>,
) -> Vec<Result<RecordChange, String>> {
    let verify = |part: &[SignedRecordChange]| -> Vec<Result<RecordChange, String>> {
        core.verifier()
            .verify_record_changes(part, proofs, |fp| certificates.get(fp).map(Vec::as_slice))
            .into_iter()
            .map(|r| r.map(|v| v.change).map_err(|e| e.to_string()))
            .collect()
    };
    if signed.len() < 64 {
        return verify(&signed);
    }
    let right_side = sides(&signed);
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for (change, &right_side) in signed.into_iter().zip(&right_side) {
        if right_side { &mut right } else { &mut left }.push(change);
    }
    let (left, right) = std::thread::scope(|scope| {
        let other = scope.spawn(|| verify(&right));
        let left = verify(&left);
        let right = other.join().unwrap_or_else(|_| {
            right
                .iter()
                .map(|_| Err("verifier thread failed".to_owned()))
                .collect()
        });
        (left, right)
    });
    let (mut left, mut right) = (left.into_iter(), right.into_iter());
    right_side
        .into_iter()
        .map(|right_side| {
            let next = if right_side {
                right.next()
            } else {
                left.next()
            };
            next.unwrap_or_else(|| Err("a verdict went missing".to_owned()))
        })
        .collect()
}

/// Which changes go to the second verifier: each batch whole, and each change signed alone,
/// to the side with fewer changes so far.
fn sides(signed: &[SignedRecordChange]) -> Vec<bool> {
    let mut batch_sizes: HashMap<RecordBatchId, usize> = HashMap::new();
    for change in signed {
        if let Some((batch, _)) = change.batch() {
            *batch_sizes.entry(batch).or_default() += 1;
        }
    }
    let mut load = [0usize; 2];
    let mut placed: HashMap<RecordBatchId, bool> = HashMap::new();
    signed
        .iter()
        .map(|change| match change.batch() {
            Some((batch, _)) => *placed.entry(batch).or_insert_with(|| {
                let right = load[1] < load[0];
                load[usize::from(right)] += batch_sizes[&batch];
                right
            }),
            None => {
                let right = load[1] < load[0];
                load[usize::from(right)] += 1;
                right
            }
        })
        .collect()
}

/// Compares the hub's digest of this replica's copy with the replica's own, and keeps the
/// outcome for `db status`.
async fn compare(
    store: &std::sync::Arc<RecordStore>,
    database: Database,
    me: &NodeId,
    hub: ReplicaDigest,
    applied: u64,
) -> Result<(), SyncError> {
    if hub.database != database || &hub.replica != me || hub.seq != applied {
        return Err(SyncError::Refused(format!(
            "the hub's digest is for {} of {} at change {}, not {database} of {me} at change {applied}",
            hub.database, hub.replica, hub.seq
        )));
    }
    let store2 = store.clone();
    let (at, records, root) = blocking(store, move |_| digest(&store2, database, |_| true)).await?;
    let check = DigestCheck {
        seq: at,
        records,
        root: hex(&root),
        hub_root: hex(&hub.root),
        matches: at == hub.seq && root == hub.root && records == hub.records,
        checked_at_ms: now_ms(),
    };
    if check.matches {
        tracing::info!(%database, change = at, records, root = %check.root,
            "replica digest matches the hub's");
    } else {
        tracing::error!(%database, change = at, records, hub_records = hub.records,
            root = %check.root, hub_root = %check.hub_root,
            "replica digest DIFFERS from the hub's: remove records/ under the storage directory to sync afresh");
    }
    let value = serde_json::to_vec(&check).unwrap_or_default();
    blocking(store, move |s| {
        s.set_note(database, Note::DigestCheck, value)
    })
    .await
}

async fn blocking<T: Send + 'static>(
    store: &std::sync::Arc<RecordStore>,
    f: impl FnOnce(&RecordStore) -> Result<T, crate::records::store::RecordStoreError> + Send + 'static,
) -> Result<T, SyncError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|_| SyncError::Refused("the sync worker failed".into()))?
        .map_err(|e| SyncError::Refused(format!("field database: {e}")))
}
