//! The dedup table packed into parts by checkpoints (`seen_parts.rs`), on real sled: found
//! after a reopen, purged by a part's latest expiry, stores from before parts still read, a
//! damaged part reported, and a checkpoint stopped part way losing nothing.

use super::*;
use crate::store::keys::SEEN;
use crate::store::overlay::{Kv, Op};
use crate::store::seen_parts::{MAX_PARTS_PER_PREFIX, PARTS};
use crate::store::storage::packed;

/// A message of `origin` made at millisecond `ms`, with a random id as an origin makes them.
fn made_at(origin: &str, ms: u64, expires_at_ms: i64) -> StoredMessage {
    let mut message = record(1, Precedence::Routine, expires_at_ms);
    message.message = MessageRef {
        origin: id(origin),
        id: MessageId::generate(ms),
    };
    message
}

/// The number of sled keys with table tag `tag` in the closed store in `dir`.
fn sled_keys(dir: &std::path::Path, tag: u8) -> usize {
    in_sled(dir, |db| db.scan_prefix([tag]).count())
}

#[tokio::test]
async fn checkpoints_pack_dedup_entries_into_parts_found_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Two origins, 3,000 messages each over 1.5 s: a part per origin and quarter second.
    let messages: Vec<StoredMessage> = ["ncb.fr", "ncb.ke"]
        .iter()
        .flat_map(|origin| (0..3_000).map(|n| made_at(origin, 1_000_000 + n / 2, i64::MAX)))
        .collect();
    for chunk in messages.chunks(500) {
        let writes = chunk.iter().map(|m| to(Hop::Local, m.clone())).collect();
        store.commit(writes).await.unwrap();
    }
    store.shutdown().await.unwrap();
    assert_eq!(sled_keys(dir.path(), SEEN), 0, "no dedup entry of its own");
    let parts = sled_keys(dir.path(), PARTS);
    assert!(
        (12..=16).contains(&parts),
        "{parts} parts for 2 x 6 quarter seconds"
    );

    let store = Store::open(dir.path()).unwrap();
    let refs: Vec<MessageRef> = messages.iter().map(|m| m.message.clone()).collect();
    assert!(store.seen(refs).await.unwrap().iter().all(|s| *s));
    // Once the prefilter has read the parts in, new messages are told apart too.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let new: Vec<MessageRef> = (0..1_000)
        .map(|n| made_at("ncb.fr", 1_000_000 + n, i64::MAX).message)
        .collect();
    assert!(store.seen(new).await.unwrap().iter().all(|s| !*s));
    let again = store
        .commit(vec![
            to(Hop::Local, messages[0].clone()),
            to(Hop::Local, messages[5_999].clone()),
            to(Hop::Local, made_at("ncb.fr", 1_000_000, i64::MAX)),
        ])
        .await
        .unwrap();
    use WriteOutcome::{Duplicate, Stored};
    assert_eq!(again, vec![Duplicate, Duplicate, Stored]);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_part_is_purged_once_the_latest_expiry_in_it_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // One quarter second, one part: the entries expire at 1,000 and 3,000.
    let early = made_at("ncb.fr", 512, 1_000);
    let late = made_at("ncb.fr", 513, 3_000);
    let other = made_at("ncb.fr", 1_024, 1_000);
    for message in [&early, &late, &other] {
        store
            .commit(vec![to(Hop::Local, message.clone())])
            .await
            .unwrap();
    }
    store.shutdown().await.unwrap();
    assert_eq!(sled_keys(dir.path(), PARTS), 2);

    let store = Store::open(dir.path()).unwrap();
    let refs = vec![
        early.message.clone(),
        late.message.clone(),
        other.message.clone(),
    ];
    // Past the early entry's expiry, not the late one's: only the other part goes.
    assert_eq!(store.purge_seen(2_000, 100).await.unwrap(), 1);
    assert_eq!(
        store.seen(refs.clone()).await.unwrap(),
        vec![true, true, false]
    );
    assert_eq!(store.purge_seen(2_000, 100).await.unwrap(), 0);
    // A part's ids each count.
    assert_eq!(store.purge_seen(3_001, 100).await.unwrap(), 2);
    assert_eq!(store.seen(refs).await.unwrap(), vec![false; 3]);
    store.shutdown().await.unwrap();
    assert_eq!(sled_keys(dir.path(), PARTS), 0);
}

#[tokio::test]
async fn a_sweep_counts_a_part_as_the_entries_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // A part of 100 entries, then one of one that has expired.
    let writes = (0..100)
        .map(|n| to(Hop::Local, made_at("ncb.fr", 512 + n, i64::MAX)))
        .collect();
    store.commit(writes).await.unwrap();
    let expired = made_at("ncb.fr", 5_000, 1_000);
    store
        .commit(vec![to(Hop::Local, expired.clone())])
        .await
        .unwrap();
    store.shutdown().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    // A sweep of 50 entries stops after the first part; the next one reaches the second.
    assert_eq!(store.purge_seen(2_000, 50).await.unwrap(), 0);
    assert_eq!(store.purge_seen(2_000, 50).await.unwrap(), 1);
    assert_eq!(
        store.seen(vec![expired.message]).await.unwrap(),
        vec![false]
    );
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn dedup_entries_of_a_store_from_before_parts_are_found_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap().shutdown().await.unwrap();
    let old = made_at("ncb.fr", 512, 1_000);
    // As a store written before parts left it: one sled key per dedup entry.
    in_sled(dir.path(), |db| {
        db.insert(keys::seen_key(&old.message), &1_000i64.to_be_bytes())
            .unwrap()
    });
    let store = Store::open(dir.path()).unwrap();
    let again = store
        .commit(vec![to(Hop::Local, old.clone())])
        .await
        .unwrap();
    assert_eq!(again, vec![WriteOutcome::Duplicate]);
    // A new message next to it goes to a part; the sweep passes both tables.
    let new = made_at("ncb.fr", 513, 1_000);
    store
        .commit(vec![to(Hop::Local, new.clone())])
        .await
        .unwrap();
    store.shutdown().await.unwrap();
    let store = Store::open(dir.path()).unwrap();
    let refs = vec![old.message, new.message];
    assert_eq!(store.seen(refs.clone()).await.unwrap(), vec![true, true]);
    assert_eq!(store.purge_seen(2_000, 100).await.unwrap(), 2);
    assert_eq!(store.seen(refs).await.unwrap(), vec![false, false]);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_damaged_part_is_a_corrupt_dedup_entry_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let message = made_at("ncb.fr", 512, i64::MAX);
    store
        .commit(vec![to(Hop::Local, message.clone())])
        .await
        .unwrap();
    store.shutdown().await.unwrap();
    in_sled(dir.path(), |db| {
        let (key, _) = db.scan_prefix([PARTS]).next().unwrap().unwrap();
        // Seven bytes: not even an expiry.
        db.insert(key, &[0u8; 7]).unwrap();
    });
    let store = Store::open(dir.path()).unwrap();
    let err = store
        .seen(vec![message.message])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("dedup entry"), "{err}");
    // The sweep leaves it, and the store goes on.
    assert_eq!(store.purge_seen(i64::MAX, 100).await.unwrap(), 0);
    let other = made_at("ncb.ke", 512, i64::MAX);
    assert_eq!(
        store.commit(vec![to(Hop::Local, other)]).await.unwrap(),
        vec![WriteOutcome::Stored]
    );
    store.shutdown().await.unwrap();
}

/// A put of the dedup entry `key`, living long.
fn put_entry(key: &[u8]) -> Op {
    Op::Put {
        key: key.to_vec(),
        value: i64::MAX.to_be_bytes().to_vec(),
        fresh: true,
    }
}

#[test]
fn past_its_limit_of_parts_a_prefix_takes_loose_entries_and_finds_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = Kv::open(dir.path()).unwrap();
    // An origin whose ids all carry the same time: one part per checkpoint, and more
    // checkpoints than a prefix may hold parts.
    let mut keys = Vec::new();
    for round in 0..MAX_PARTS_PER_PREFIX + 4 {
        let round_keys: Vec<Vec<u8>> = (0..10)
            .map(|_| keys::seen_key(&made_at("ncb.fr", 512, i64::MAX).message))
            .collect();
        kv.commit(round_keys.iter().map(|k| put_entry(k)).collect(), true)
            .unwrap();
        kv.checkpoint().unwrap();
        keys.extend(round_keys);
        let parts = kv.sled().scan_prefix([PARTS]).count();
        assert_eq!(parts, (round + 1).min(MAX_PARTS_PER_PREFIX));
    }
    assert_eq!(kv.sled().scan_prefix([SEEN]).count(), 4 * 10);
    for key in &keys {
        assert!(kv.contains_key(key).unwrap() || packed(&kv, key).unwrap());
    }
    kv.close().unwrap();
}

#[test]
fn a_damaged_part_does_not_hide_an_id_another_part_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = Kv::open(dir.path()).unwrap();
    let first = keys::seen_key(&made_at("ncb.fr", 512, i64::MAX).message);
    let second = keys::seen_key(&made_at("ncb.fr", 513, i64::MAX).message);
    for key in [&first, &second] {
        kv.commit(vec![put_entry(key)], true).unwrap();
        kv.checkpoint().unwrap();
    }
    let (damaged, _) = kv.sled().scan_prefix([PARTS]).next().unwrap().unwrap();
    kv.sled().insert(damaged, &[1u8; 9][..]).unwrap();
    // Which part was damaged depends on key order: one id is still found, the other is a
    // corrupt dedup entry, never "not seen".
    let results = [packed(&kv, &first), packed(&kv, &second)];
    let found = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let corrupt = results
        .iter()
        .filter(|r| {
            r.as_ref()
                .is_err_and(|e| e.to_string().contains("dedup entry"))
        })
        .count();
    assert_eq!((found, corrupt), (1, 1), "{results:?}");
    kv.close().unwrap();
}

/// Commits dedup entries over a checkpoint, stops the next checkpoint after `writes` sled
/// writes, reopens and checks every committed entry is found and no other. False once the
/// checkpoint needs fewer writes than that (it ended).
fn stopped_part_way_then_reopened(writes: usize) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let entry = |origin: &str, n: u64| {
        let message = made_at(origin, 10_000 + n, i64::MAX);
        keys::seen_key(&message.message)
    };
    // Ids of 2 origins over 4 s, about 16 parts per checkpoint.
    let first: Vec<Vec<u8>> = ["gs", "ncb.fr"]
        .iter()
        .flat_map(|o| (0..2_000).map(move |n| entry(o, n * 2)))
        .collect();
    let second: Vec<Vec<u8>> = ["gs", "ncb.fr"]
        .iter()
        .flat_map(|o| (0..2_000).map(move |n| entry(o, n * 2 + 1)))
        .collect();
    {
        let mut kv = Kv::open(dir.path()).unwrap();
        kv.commit(first.iter().map(|k| put_entry(k)).collect(), true)
            .unwrap();
        kv.checkpoint().unwrap();
        kv.commit(second.iter().map(|k| put_entry(k)).collect(), true)
            .unwrap();
        kv.stop_next_checkpoint_after(writes);
        if kv.checkpoint().is_ok() {
            return false;
        }
    }
    let kv = crate::store::tests::reopened(&format!("{writes} writes"), || Kv::open(dir.path()));
    let found = |key: &Vec<u8>| kv.contains_key(key).unwrap() || packed(&kv, key).unwrap();
    for key in first.iter().chain(&second) {
        assert!(found(key), "stopped after {writes} writes: an entry lost");
    }
    for n in 0..100 {
        assert!(!found(&entry("gs", n)), "a fresh id found");
    }
    true
}

#[test]
fn a_checkpoint_of_parts_stopped_part_way_loses_nothing() {
    let mut writes = 0;
    while stopped_part_way_then_reopened(writes) {
        writes += 1;
    }
    assert!(writes >= 16, "the checkpoint wrote {writes} parts");
}
