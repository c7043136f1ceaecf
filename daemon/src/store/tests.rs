//! The store on real sled in temporary folders.

use std::collections::BTreeMap;

use bluehelm_proto::{MessageId, MessageRef, NodeId, Precedence};

use super::*;
use crate::engine::Hop;

mod dedup;
mod quarantine;

/// Whether opening failed only because sled's file lock is still held.
fn still_locked(err: &StoreError) -> bool {
    match err {
        StoreError::InUse { .. } => true,
        StoreError::Sled(err) => err.to_string().contains("lock"),
        _ => false,
    }
}

/// Opens a store with `open` once sled's own threads, which may hold its file lock for a
/// moment after a drop, have let go of it (at most 5 s). `after`: what happened before, for
/// the panic if it does not open.
pub(super) fn reopened(
    after: &str,
    open: impl Fn() -> Result<overlay::Kv, StoreError>,
) -> overlay::Kv {
    let mut tries = 0;
    loop {
        match open() {
            Ok(kv) => return kv,
            Err(err) if tries < 100 && still_locked(&err) => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(err) => panic!("reopen after {after}: {err}"),
        }
    }
}

/// Runs `f` on the sled of the closed store in `dir` (to read it, or to damage it as a disk
/// would), then closes it again.
pub(super) fn in_sled<T>(dir: &std::path::Path, f: impl FnOnce(&sled::Db) -> T) -> T {
    let kv = overlay::Kv::open(dir).unwrap();
    let out = f(kv.sled());
    kv.close().unwrap();
    out
}

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn record(n: u8, precedence: Precedence, expires_at_ms: i64) -> StoredMessage {
    StoredMessage {
        message: MessageRef {
            origin: id("ncb.fr"),
            id: MessageId::from([n; 16]),
        },
        precedence,
        expires_at_ms,
        hops: 1,
        recipients: vec![],
        signed: vec![n; 100].into(),
        accepted_at_ms: 0,
    }
}

/// Custody of `message` for `hop`. A message with no hops taken is one this node originates
/// (as the node's own messages go out at hop zero); the others are relayed from ncb.de.
fn to(hop: Hop, message: StoredMessage) -> Write {
    let provenance = if message.hops == 0 {
        Provenance::Originated
    } else {
        Provenance::Relayed { from: id("ncb.de") }
    };
    Write::Accept(Custody {
        message,
        copies: BTreeMap::from([(hop, vec![])]),
        report: None,
        provenance,
    })
}

#[tokio::test]
async fn accepted_once_then_recognised_as_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let hop = Hop::Next(id("gs"));
    let outcomes = store
        .commit(vec![to(
            hop.clone(),
            record(1, Precedence::Routine, 10_000),
        )])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Stored]);
    let again = store
        .commit(vec![to(hop, record(1, Precedence::Routine, 10_000))])
        .await
        .unwrap();
    assert_eq!(again, vec![WriteOutcome::Duplicate]);
    assert_eq!(store.depth(&id("gs")), 1);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_permanent_refusal_of_a_message_held_is_a_duplicate_in_the_commit_round() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let held = record(1, Precedence::Routine, 10_000);
    let refused = |n: u8, reason| Write::Refused {
        message: record(n, Precedence::Routine, 10_000).message,
        reason,
    };
    let outcomes = store
        .commit(vec![
            to(Hop::Next(id("gs")), held),
            refused(1, bluehelm_proto::RefusalReason::Expired),
            refused(2, bluehelm_proto::RefusalReason::Expired),
        ])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            WriteOutcome::Stored,
            WriteOutcome::Duplicate,
            WriteOutcome::Refused
        ]
    );
    let again = store
        .commit(vec![refused(1, bluehelm_proto::RefusalReason::HopLimit)])
        .await
        .unwrap();
    assert_eq!(again, vec![WriteOutcome::Duplicate]);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn queue_reads_come_in_precedence_then_arrival_order_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let hop = Hop::Next(id("mission.unmiss"));
    let writes = [
        (1, Precedence::Routine),
        (2, Precedence::Flash),
        (3, Precedence::Routine),
        (4, Precedence::Flash),
    ]
    .map(|(n, p)| to(hop.clone(), record(n, p, 10_000)));
    store.commit(writes.to_vec()).await.unwrap();
    store.shutdown().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.depth(&id("mission.unmiss")), 4);
    let flash = store
        .queued(&id("mission.unmiss"), Precedence::Flash, None, 10)
        .await
        .unwrap();
    let numbers: Vec<u8> = flash.iter().map(|q| q.message.signed[0]).collect();
    assert_eq!(numbers, vec![2, 4]);
    let after_first = store
        .queued(
            &id("mission.unmiss"),
            Precedence::Flash,
            Some(flash[0].key.seq()),
            10,
        )
        .await
        .unwrap();
    assert_eq!(after_first.len(), 1);
    let routine = store
        .queued(&id("mission.unmiss"), Precedence::Routine, None, 10)
        .await
        .unwrap();
    assert_eq!(
        routine
            .iter()
            .map(|q| q.message.signed[0])
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn forget_and_inbox_acknowledgement_remove_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .commit(vec![
            to(Hop::Next(id("gs")), record(1, Precedence::Routine, 10_000)),
            to(Hop::Local, record(2, Precedence::Routine, 10_000)),
        ])
        .await
        .unwrap();
    let queued = store
        .queued(&id("gs"), Precedence::Routine, None, 10)
        .await
        .unwrap();
    let key = queued[0].key.clone();
    let outcomes = store
        .commit(vec![Write::Forget(key.clone()), Write::Forget(key)])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Removed, WriteOutcome::Missing]);
    assert_eq!(store.depth(&id("gs")), 0);

    let inbox = store.inbox(None, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    let seq = inbox[0].seq;
    let outcomes = store
        .commit(vec![Write::AckInbox(seq), Write::AckInbox(seq)])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Removed, WriteOutcome::Missing]);
    assert!(store.inbox(None, 10).await.unwrap().is_empty());
    store.shutdown().await.unwrap();

    // A forget is made durable by the next durable commit, and by a clean shutdown.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.depth(&id("gs")), 0);
    assert!(store.inbox(None, 10).await.unwrap().is_empty());
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn expired_copies_are_listed_soonest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let hop = Hop::Next(id("gs"));
    store
        .commit(vec![
            to(hop.clone(), record(1, Precedence::Routine, 5_000)),
            to(hop.clone(), record(2, Precedence::Routine, 1_000)),
            to(hop, record(3, Precedence::Routine, 9_000)),
        ])
        .await
        .unwrap();
    let expired = store.expired(5_000, 10).await.unwrap();
    let numbers: Vec<u8> = expired.iter().map(|q| q.message.signed[0]).collect();
    assert_eq!(numbers, vec![2, 1]);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn dedup_entries_are_purged_after_expiry_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .commit(vec![to(Hop::Local, record(1, Precedence::Routine, 1_000))])
        .await
        .unwrap();
    let message = record(1, Precedence::Routine, 1_000).message;
    assert_eq!(store.purge_seen(500, 100).await.unwrap(), 0);
    assert_eq!(store.seen(vec![message.clone()]).await.unwrap(), vec![true]);
    assert_eq!(store.purge_seen(2_000, 100).await.unwrap(), 1);
    assert_eq!(store.seen(vec![message]).await.unwrap(), vec![false]);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_open_of_the_same_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(Store::open(dir.path()).is_err());
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn notes_are_purged_once_no_message_can_still_answer_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let day = 24 * 3600 * 1000;
    let now = 100 * day;
    let old = MessageId::generate((now - 32 * day) as u64);
    let young = MessageId::generate((now - 29 * day) as u64);
    for id in [old, young] {
        store
            .commit(vec![Write::Note {
                id,
                value: b"delivered".to_vec(),
            }])
            .await
            .unwrap();
    }
    assert_eq!(store.purge_seen(now, 100).await.unwrap(), 1);
    assert_eq!(store.note(old).await.unwrap(), None);
    assert_eq!(
        store.note(young).await.unwrap().as_deref(),
        Some(&b"delivered"[..])
    );
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_store_replays_its_custody_log_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let message = record(7, Precedence::Flash, i64::MAX).message;
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .commit(vec![to(Hop::Local, record(7, Precedence::Flash, i64::MAX))])
            .await
            .unwrap();
        // No shutdown: the store thread's final checkpoint never runs, as after kill -9.
        std::mem::forget(store);
    }
    // The dropped store still holds sled's lock; a copy of the folder is what a restarted
    // process would find on disk.
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        }
    }
    let store = Store::open(copy.path()).unwrap();
    assert_eq!(store.seen(vec![message]).await.unwrap(), vec![true]);
    let inbox = store.inbox(None, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn dedup_sweeps_carry_on_where_the_last_one_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Three entries that live long, then one that has expired, in key order.
    for n in 1..=3 {
        store
            .commit(vec![to(
                Hop::Local,
                record(n, Precedence::Routine, i64::MAX),
            )])
            .await
            .unwrap();
    }
    store
        .commit(vec![to(Hop::Local, record(4, Precedence::Routine, 1_000))])
        .await
        .unwrap();
    let expired = record(4, Precedence::Routine, 1_000).message;
    // Two entries per sweep: the first sweep sees only live ones, the second reaches it.
    assert_eq!(store.purge_seen(2_000, 2).await.unwrap(), 0);
    assert_eq!(store.purge_seen(2_000, 2).await.unwrap(), 1);
    assert_eq!(store.seen(vec![expired]).await.unwrap(), vec![false]);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn commits_larger_than_one_round_all_land_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // 24 MiB queued at once: more than one round holds, so some wait for the next.
    let pending: Vec<_> = (0u8..24)
        .map(|n| {
            store.commit(vec![Write::Reference {
                key: vec![n],
                value: vec![n; 1024 * 1024],
            }])
        })
        .collect();
    for done in pending {
        assert_eq!(done.await.unwrap(), vec![WriteOutcome::Stored]);
    }
    for n in 0u8..24 {
        let value = store.reference(vec![n]).await.unwrap().unwrap();
        assert!(value.len() == 1024 * 1024 && value.iter().all(|b| *b == n));
    }
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn flash_commits_served_first_keep_every_outcome_and_dedup_right() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let hop = Hop::Next(id("gs"));
    // Sent without waiting, so that they share rounds: a ROUTINE flood, then a FLASH message,
    // then the same FLASH message again as a ROUTINE one (a duplicate either way round).
    let mut pending = Vec::new();
    for n in 0..200u8 {
        pending.push(store.commit(vec![to(
            hop.clone(),
            record(n, Precedence::Routine, 10_000),
        )]));
    }
    let flash = store.commit(vec![to(
        hop.clone(),
        record(250, Precedence::Flash, 10_000),
    )]);
    let again = store.commit(vec![to(
        hop.clone(),
        record(250, Precedence::Routine, 10_000),
    )]);
    for commit in pending {
        assert_eq!(commit.await.unwrap(), vec![WriteOutcome::Stored]);
    }
    let outcomes = [flash.await.unwrap()[0], again.await.unwrap()[0]];
    assert!(
        outcomes.contains(&WriteOutcome::Stored) && outcomes.contains(&WriteOutcome::Duplicate),
        "one of the two copies of message 250 is stored, the other is a duplicate: {outcomes:?}"
    );
    assert_eq!(store.depth(&id("gs")), 201);
    let gs = id("gs");
    let flash_queue = store
        .queued(&gs, Precedence::Flash, None, 10)
        .await
        .unwrap();
    let routine = store
        .queued(&gs, Precedence::Routine, None, 500)
        .await
        .unwrap();
    assert_eq!(flash_queue.len() + routine.len(), 201);
    store.shutdown().await.unwrap();
}

fn originated(n: u8, precedence: Precedence) -> StoredMessage {
    StoredMessage {
        hops: 0,
        ..record(n, precedence, 10_000)
    }
}

#[tokio::test]
async fn new_copies_are_handed_to_their_running_link_once_and_stay_queued() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (gs, fr, ke) = (id("gs"), id("ncb.fr"), id("ncb.ke"));
    // Send loops run for gs (FLASH and ROUTINE) and ncb.fr (FLASH); ncb.ke has no link.
    let gs_flash = store.hand_off(&gs, Precedence::Flash);
    let gs_routine = store.hand_off(&gs, Precedence::Routine);
    let fr_flash = store.hand_off(&fr, Precedence::Flash);
    store
        .commit(vec![
            // Relayed (hops 1) and originated here (hops 0): both are handed off.
            to(Hop::Next(gs.clone()), record(1, Precedence::Flash, 10_000)),
            to(Hop::Next(gs.clone()), originated(2, Precedence::Routine)),
            to(Hop::Next(gs.clone()), originated(3, Precedence::Priority)),
            to(Hop::Next(fr.clone()), originated(4, Precedence::Flash)),
            to(Hop::Next(ke.clone()), record(5, Precedence::Flash, 10_000)),
        ])
        .await
        .unwrap();
    let ids = |copies: Vec<Queued>| -> Vec<u8> {
        copies
            .iter()
            .map(|q| q.message.message.id.as_bytes()[0])
            .collect()
    };
    let flash = gs_flash.take();
    assert_eq!(ids(flash.clone()), vec![1], "only gs's FLASH copy");
    assert_eq!(ids(gs_routine.take()), vec![2], "only gs's ROUTINE copy");
    assert!(gs_flash.take().is_empty(), "handed off once");
    assert_eq!(ids(fr_flash.take()), vec![4]);
    let gs_priority = store.hand_off(&gs, Precedence::Priority);
    let ke_flash = store.hand_off(&ke, Precedence::Flash);
    assert!(
        gs_priority.take().is_empty() && ke_flash.take().is_empty(),
        "nothing is held for a class or hop whose send loop had not started"
    );
    // Still queued: the link's queue reads find them too.
    let queued = store
        .queued(&gs, Precedence::Flash, None, 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].key, flash[0].key);
    assert_eq!(store.depth(&gs), 3);
    assert_eq!(store.depth(&ke), 1);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_round_with_a_copy_originated_here_hands_all_its_copies_over_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let gs = id("gs");
    let routine = store.hand_off(&gs, Precedence::Routine);
    // One round: a report this node originates, then a relayed message (its copy would
    // otherwise leave before the round's fsync, ahead of the report's).
    store
        .commit(vec![
            to(Hop::Next(gs.clone()), originated(1, Precedence::Routine)),
            to(
                Hop::Next(gs.clone()),
                record(2, Precedence::Routine, 10_000),
            ),
        ])
        .await
        .unwrap();
    let held = routine.take();
    let seqs: Vec<u64> = held.iter().map(|q| q.key.seq()).collect();
    assert_eq!(held.len(), 2);
    assert!(seqs[0] < seqs[1], "in sequence order: {seqs:?}");
    assert_eq!(held[0].message.message.id, MessageId::from([1; 16]));
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_link_that_takes_nothing_is_held_a_bounded_prefix_and_the_queue_has_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let gs = id("gs");
    let routine = store.hand_off(&gs, Precedence::Routine);
    let arrived = routine.arrived();
    for n in 0..2 * keeper::handoff::HELD_MAX as u8 {
        store
            .commit(vec![to(
                Hop::Next(gs.clone()),
                record(n, Precedence::Routine, 10_000),
            )])
            .await
            .unwrap();
    }
    tokio::time::timeout(std::time::Duration::from_secs(5), arrived)
        .await
        .expect("the send loop is woken when copies arrive");
    let held = routine.take();
    let expected: Vec<u8> = (0..keeper::handoff::HELD_MAX as u8).collect();
    let got: Vec<u8> = held
        .iter()
        .map(|q| q.message.message.id.as_bytes()[0])
        .collect();
    assert_eq!(
        got, expected,
        "the first copies, in order: none after a gap"
    );
    let queued = store
        .queued(&gs, Precedence::Routine, None, 1000)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2 * keeper::handoff::HELD_MAX);

    // Once taken, the next copies are held again; bytes bound them too.
    let big = StoredMessage {
        signed: vec![7; keeper::handoff::HELD_BYTES / 2].into(),
        ..record(200, Precedence::Routine, 10_000)
    };
    let bigger = StoredMessage {
        signed: vec![8; keeper::handoff::HELD_BYTES / 2 + 1].into(),
        ..record(201, Precedence::Routine, 10_000)
    };
    let small = record(202, Precedence::Routine, 10_000);
    store
        .commit(vec![
            to(Hop::Next(gs.clone()), big),
            to(Hop::Next(gs.clone()), bigger),
            to(Hop::Next(gs.clone()), small),
        ])
        .await
        .unwrap();
    let held = routine.take();
    assert_eq!(held.len(), 1, "the second would pass the byte bound");
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_copy_dropped_before_its_link_took_it_is_not_handed_off() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let gs = id("gs");
    let flash = store.hand_off(&gs, Precedence::Flash);
    store
        .commit(vec![
            to(Hop::Next(gs.clone()), record(1, Precedence::Flash, 10_000)),
            to(Hop::Next(gs.clone()), record(2, Precedence::Flash, 10_000)),
        ])
        .await
        .unwrap();
    // A queue read offered the first, the next hop took it, and it was dropped.
    let queued = store.queued(&gs, Precedence::Flash, None, 1).await.unwrap();
    store
        .commit(vec![Write::Forget(queued[0].key.clone())])
        .await
        .unwrap();
    let fresh = flash.take();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].message.message.id, MessageId::from([2; 16]));
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_hand_off_ends_when_the_last_send_loop_of_a_hop_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let gs = id("gs");
    let first = store.hand_off(&gs, Precedence::Immediate);
    let second = store.hand_off(&gs, Precedence::Immediate);
    drop(first);
    store
        .commit(vec![to(
            Hop::Next(gs.clone()),
            record(1, Precedence::Immediate, 10_000),
        )])
        .await
        .unwrap();
    assert_eq!(second.take().len(), 1, "one loop still runs");
    drop(second);
    store
        .commit(vec![to(
            Hop::Next(gs.clone()),
            record(2, Precedence::Immediate, 10_000),
        )])
        .await
        .unwrap();
    let later = store.hand_off(&gs, Precedence::Immediate);
    assert!(
        later.take().is_empty(),
        "nothing was held while no loop ran"
    );
    store.shutdown().await.unwrap();
}

#[test]
fn a_second_store_on_the_same_directory_is_told_it_is_in_use_and_by_whom() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let first = Store::open(dir.path()).unwrap();
    let second = Store::open(dir.path())
        .err()
        .expect("the directory is in use");
    let said = second.to_string();
    assert!(
        said.contains(&format!("is in use by process {}", std::process::id())),
        "{said}"
    );
    runtime.block_on(first.shutdown()).unwrap();
}

/// A publication's signed bytes, as a register entry's value (signatures are not checked
/// by the store).
fn publication_bytes(notice_ref: &str) -> Vec<u8> {
    use bluehelm_proto::testing::{sample_envelope, sample_red_notice};
    use bluehelm_proto::{BatchProof, Body, Destination, SignedEnvelope};
    let mut request = sample_red_notice();
    request.lifecycle = bluehelm_proto::NoticeLifecycle::Requested;
    request.notice_ref = notice_ref.into();
    let request = sample_envelope(
        id("ncb.fr"),
        Destination::Node(id("gs")),
        Precedence::Routine,
        1_000,
        Body::Notice(request),
    );
    let mut notice = sample_red_notice();
    notice.notice_ref = notice_ref.into();
    let single = BatchProof::single;
    let request = SignedEnvelope::new(request.encode_to_vec(), [0; 64], vec![1], single());
    notice.request = Some(Box::new(request.unwrap()));
    let publication = sample_envelope(
        id("gs"),
        Destination::Node(id("ncb.ke")),
        Precedence::Routine,
        2_000,
        Body::Notice(notice),
    );
    SignedEnvelope::new(publication.encode_to_vec(), [0; 64], vec![1], single())
        .unwrap()
        .encode_to_vec()
}

#[tokio::test]
async fn register_entries_survive_a_restart_and_a_corrupt_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let write = |notice_ref: &str, value: Vec<u8>| Write::Notice {
        notice_ref: notice_ref.into(),
        value,
    };
    let outcomes = store
        .commit(vec![
            write("A-1/2026", publication_bytes("A-1/2026")),
            write("B-2/2026", publication_bytes("B-2/2026")),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Stored; 2]);
    store.shutdown().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    let refs: Vec<String> = store
        .notices()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.notice_ref)
        .collect();
    assert_eq!(refs, ["A-1/2026", "B-2/2026"]);
    // An entry under another reference's key, and one that is no publication.
    store
        .commit(vec![write("C-3/2026", publication_bytes("A-1/2026"))])
        .await
        .unwrap();
    let err = store.notices().await.unwrap_err().to_string();
    assert!(err.contains("notice register entry C-3/2026"), "{err}");
    store
        .commit(vec![write("C-3/2026", vec![1, 2, 3])])
        .await
        .unwrap();
    let err = store.notices().await.unwrap_err().to_string();
    assert!(err.contains("notice register entry C-3/2026"), "{err}");
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn directory_entries_survive_a_restart_and_a_corrupt_one_is_named() {
    use crate::engine::release::Member;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let fr = Member {
        role: bluehelm_pki::Role::Ncb,
        country: Some("FR".into()),
        mission: None,
    };
    let node: NodeId = "ncb.fr".parse().unwrap();
    store
        .commit(vec![Write::Identity {
            node: node.clone(),
            value: fr.encode(),
        }])
        .await
        .unwrap();
    store.shutdown().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.identities().await.unwrap(), vec![(node, fr)]);
    // A mission post with a country and no mission is no certified identity.
    store
        .commit(vec![Write::Identity {
            node: "mission.x".parse().unwrap(),
            value: b"mission\nKE\n".to_vec(),
        }])
        .await
        .unwrap();
    let err = store.identities().await.unwrap_err().to_string();
    assert!(err.contains("directory entry"), "{err}");
    store.shutdown().await.unwrap();
}

fn numbered(n: u32) -> StoredMessage {
    let mut id = [7u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    let mut message = record(7, Precedence::Routine, i64::MAX / 2);
    message.message.id = MessageId::from(id);
    message
}

#[tokio::test]
async fn dedup_stays_right_while_its_prefilter_fills_at_open_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // More than two filling steps' worth, so that filling takes several.
    for chunk in (0..5_000u32).collect::<Vec<_>>().chunks(1_000) {
        let writes = chunk.iter().map(|n| to(Hop::Local, numbered(*n))).collect();
        store.commit(writes).await.unwrap();
    }
    store.shutdown().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    let held: Vec<MessageRef> = (0..5_000).map(|n| numbered(n).message).collect();
    // At once, while the prefilter is (most likely) still reading the table in.
    assert!(store.seen(held.clone()).await.unwrap().iter().all(|s| *s));
    let during = store
        .commit(vec![to(Hop::Local, numbered(5_000))])
        .await
        .unwrap();
    assert_eq!(during, vec![WriteOutcome::Stored]);
    // Once it has read everything (the store thread fills it while idle).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut all = held.clone();
    all.push(numbered(5_000).message);
    assert!(store.seen(all).await.unwrap().iter().all(|s| *s));
    let new: Vec<MessageRef> = (5_001..6_000).map(|n| numbered(n).message).collect();
    assert!(store.seen(new).await.unwrap().iter().all(|s| !*s));
    let again = store
        .commit(vec![
            to(Hop::Local, numbered(17)),
            to(Hop::Local, numbered(4_999)),
            to(Hop::Local, numbered(5_000)),
        ])
        .await
        .unwrap();
    assert_eq!(again, vec![WriteOutcome::Duplicate; 3]);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_queue_entry_stops_the_start_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .commit(vec![
            to(
                Hop::Next(id("gs")),
                record(1, Precedence::Routine, i64::MAX),
            ),
            to(
                Hop::Next(id("gs")),
                record(2, Precedence::Routine, i64::MAX),
            ),
        ])
        .await
        .unwrap();
    store.shutdown().await.unwrap();
    // The first queued copy no longer decodes; the second still does. Both are in one run
    // (`queue_runs.rs`), which still decodes.
    in_sled(dir.path(), |db| {
        let (key, value) = db.scan_prefix([queue_runs::RUN]).next().unwrap().unwrap();
        let mut run = queue_runs::Run::decode(&key, &value).unwrap();
        *run.values_mut().next().unwrap() = sled::IVec::from(&[9u8, 9, 9][..]);
        db.insert(key, run.encode()).unwrap();
    });
    // The ledger is rebuilt from the queue as it is read: a copy it cannot read stops the
    // start, rather than a start without it.
    let err = Store::open(dir.path()).err().expect("the start fails");
    assert!(err.to_string().contains("queue entry"), "{err}");
}
