//! The index's count rows, on a real sled store in a temporary directory.

use super::*;
use crate::records::stored::IndexEntry;

fn stored(key: u8, withdrawn: bool) -> Stored {
    Stored {
        storage_key: [key; HASH_LEN],
        seq: 0,
        withdrawn,
        signed: vec![key],
        index_keys: Vec::new(),
    }
}

fn entries(keys: &[&str]) -> Indexed {
    keys.iter()
        .map(|k| IndexEntry {
            key: k.as_bytes().to_vec(),
            value: vec![1],
        })
        .collect()
}

fn counts(store: &RecordStore, keys: &[&str]) -> Vec<u64> {
    keys.iter()
        .map(|k| store.index_count(Database::Persons, k.as_bytes()).unwrap())
        .collect()
}

fn sequence(store: &RecordStore, changes: Vec<(Stored, Indexed)>) {
    let done = store
        .sequence(Database::Persons, changes, &[], |_, _| Ok::<_, ()>(()))
        .unwrap();
    assert!(done.iter().all(Result::is_ok));
}

const KEYS: [&str; 3] = ["n:a", "n:ab", "p:a+b"];

#[test]
fn counts_follow_puts_replacements_and_withdrawals_at_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    sequence(
        &store,
        vec![
            (stored(1, false), entries(&["n:a", "p:a+b"])),
            (stored(2, false), entries(&["n:a"])),
            // The same record twice in one batch: counted once, under its last keys.
            (stored(3, false), entries(&["n:a"])),
            (stored(3, false), entries(&["n:ab"])),
        ],
    );
    assert_eq!(counts(&store, &KEYS), [2, 1, 1]);
    let mut seen = Vec::new();
    store
        .index_each(Database::Persons, b"n:a", 10, |key, _| seen.push(key[0]))
        .unwrap();
    assert_eq!(seen, [1, 2], "`n:a` is not a prefix scan of `n:ab`");

    sequence(&store, vec![(stored(1, true), Vec::new())]);
    assert_eq!(counts(&store, &KEYS), [1, 1, 0]);
    drop(store);
    let store = RecordStore::open(dir.path()).unwrap();
    assert_eq!(counts(&store, &KEYS), [1, 1, 0], "kept across a reopen");
}

#[test]
fn counts_follow_a_replicas_puts_and_erasures() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let position = |seq| Freshness {
        applied_seq: seq,
        head_seq: seq,
        level_at_ms: None,
    };
    let put = |key, keys: &[&str]| ReplicaWrite::Put(stored(key, false), entries(keys));
    store
        .apply(
            Database::Persons,
            vec![put(1, &KEYS), put(2, &["n:a"]), put(1, &["n:a", "n:ab"])],
            position(3),
        )
        .unwrap();
    assert_eq!(counts(&store, &KEYS), [2, 1, 0]);
    store
        .apply(
            Database::Persons,
            vec![ReplicaWrite::Erase([2; HASH_LEN])],
            position(4),
        )
        .unwrap();
    assert_eq!(counts(&store, &KEYS), [1, 1, 0]);
}

#[test]
fn a_store_written_before_count_rows_is_counted_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let many: Vec<(Stored, Indexed)> = (0..=200u8)
        .map(|k| {
            (
                stored(k, false),
                entries(if k % 2 == 0 { &KEYS } else { &["n:a"] }),
            )
        })
        .collect();
    sequence(&store, many);
    assert_eq!(counts(&store, &KEYS), [201, 101, 101]);
    // As an older version left it: entries without count rows or the mark.
    let tree = &store.db(Database::Persons).tree;
    for key in KEYS {
        tree.remove(count_key(key.as_bytes())).unwrap();
    }
    tree.remove(INDEX_COUNTED).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = RecordStore::open(dir.path()).unwrap();
    assert_eq!(counts(&store, &KEYS), [201, 101, 101]);
}

/// Changes to `keys` signed in one batch (root `[version; 32]`): stored forms and the row.
fn signed_batch(keys: &[&str], version: u8) -> (Vec<(Stored, Indexed)>, BatchRow) {
    crate::records::batch_row::testing::stored_batch(Database::Persons, keys, version)
}

#[test]
fn a_batch_row_stays_while_the_hub_holds_any_of_its_changes_and_goes_with_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let (first, first_row) = signed_batch(&["K1", "K2", "K3"], 10);
    let id = first_row.id;
    let put = |changes: Vec<(Stored, Indexed)>, rows: &[BatchRow]| {
        let done = store
            .sequence(Database::Persons, changes, rows, |_, _| Ok::<_, ()>(()))
            .unwrap();
        assert!(done.iter().all(Result::is_ok));
    };
    put(first, std::slice::from_ref(&first_row));
    assert_eq!(
        store.batch_row(Database::Persons, &id).unwrap(),
        Some(first_row.clone())
    );

    // A later batch replaces two of the three: the first batch's row stays for the third.
    let (second, second_row) = signed_batch(&["K1", "K2"], 20);
    put(second, std::slice::from_ref(&second_row));
    drop(store);
    let store = RecordStore::open(dir.path()).unwrap();
    assert_eq!(
        store.batch_row(Database::Persons, &id).unwrap(),
        Some(first_row)
    );
    let put = |changes: Vec<(Stored, Indexed)>, rows: &[BatchRow]| {
        store
            .sequence(Database::Persons, changes, rows, |_, _| Ok::<_, ()>(()))
            .unwrap();
    };
    // The third replaced too: the row goes, and the second batch's stays.
    let (third, third_row) = signed_batch(&["K3"], 30);
    put(third, &[third_row]);
    assert_eq!(store.batch_row(Database::Persons, &id).unwrap(), None);
    assert_eq!(
        store.batch_row(Database::Persons, &second_row.id).unwrap(),
        Some(second_row)
    );
    // A change whose batch's row is neither held nor given is not sequenced.
    let (orphan, _) = signed_batch(&["K4"], 40);
    assert!(store
        .sequence(Database::Persons, orphan, &[], |_, _| Ok::<_, ()>(()))
        .is_err());
}
