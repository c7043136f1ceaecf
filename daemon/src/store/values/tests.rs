use super::*;
use crate::store::overlay::{Kv, Op};
use proptest::prelude::*;

/// Small files, so that a few records roll them over and compaction starts early.
const SMALL: ValueSizes = ValueSizes {
    file_bytes: 8 * 1024,
    compact_slack: 16 * 1024,
};

fn queue_key(n: usize) -> Vec<u8> {
    let mut key = vec![QUEUE];
    key.extend_from_slice(format!("hop{n:06}").as_bytes());
    key
}

fn record(n: usize) -> Vec<u8> {
    // A record's first byte is its version, 1.
    let mut value = vec![1u8];
    value.extend(std::iter::repeat_n((n % 251) as u8, 1_000));
    value.extend_from_slice(&n.to_be_bytes());
    value
}

fn put(key: Vec<u8>, value: Vec<u8>) -> Op {
    Op::Put {
        key,
        value,
        fresh: false,
    }
}

fn value_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(FOLDER))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn files_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join(FOLDER))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// What is wrong with the record of `key`: reading it must fail as a corrupt entry.
fn read_problem(kv: &Kv, key: &[u8]) -> ValueError {
    match kv.get(key) {
        Err(StoreError::Corrupt {
            problem: Corruption::Value(problem),
            ..
        }) => problem,
        other => panic!("not a corrupt record: {other:?}"),
    }
}

/// A store with the record of `queue_key(1)` checkpointed: its pointer and its file.
fn one_record_in_a_file() -> (tempfile::TempDir, Kv, Pointer, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = Kv::open(dir.path()).unwrap();
    kv.commit(vec![put(queue_key(1), record(1))], true).unwrap();
    kv.checkpoint().unwrap();
    let pointer = Pointer::decode(&kv.sled().get(queue_key(1)).unwrap().unwrap()).unwrap();
    let path = file_path(&dir.path().join(FOLDER), pointer.file);
    (dir, kv, pointer, path)
}

#[test]
fn a_checkpoint_puts_records_in_value_files_and_sled_holds_pointers() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = Kv::open(dir.path()).unwrap();
    let inbox = crate::store::keys::inbox_key(7).to_vec();
    let note = b"a-note".to_vec();
    kv.commit(
        vec![
            put(queue_key(1), record(1)),
            put(inbox.clone(), record(2)),
            put(queue_key(2), vec![1; 100]),
            put(note.clone(), record(3)),
        ],
        true,
    )
    .unwrap();
    kv.checkpoint().unwrap();
    let in_sled = |key: &[u8]| kv.sled().get(key).unwrap().unwrap();
    assert!(Pointer::decode(&in_sled(&queue_key(1))).is_some());
    assert!(Pointer::decode(&in_sled(&inbox)).is_some());
    // A short record, and a value of another table, stay in sled.
    assert_eq!(in_sled(&queue_key(2)).as_ref(), &[1; 100][..]);
    assert_eq!(in_sled(&note).as_ref(), record(3).as_slice());
    assert_eq!(
        kv.get(&queue_key(1)).unwrap().unwrap().as_ref(),
        record(1).as_slice()
    );
    assert_eq!(
        kv.get(&inbox).unwrap().unwrap().as_ref(),
        record(2).as_slice()
    );
    let listed: Vec<(IVecBytes, IVecBytes)> = kv
        .scan_prefix(&[QUEUE])
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert_eq!(
        listed,
        vec![(queue_key(1), record(1)), (queue_key(2), vec![1; 100])]
    );
    assert_eq!(value_files(dir.path()).len(), 1);
}

type IVecBytes = Vec<u8>;

#[test]
fn records_read_back_after_a_reopen_and_files_no_pointer_names_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
        let ops = (0..40).map(|n| put(queue_key(n), record(n))).collect();
        kv.commit(ops, true).unwrap();
        kv.checkpoint().unwrap();
        assert!(value_files(dir.path()).len() >= 4, "rolled over");
        // Dropped without a checkpoint after this commit, as if killed.
        let ops = (0..20).map(|n| Op::Remove(queue_key(n))).collect();
        kv.commit(ops, true).unwrap();
    }
    // A stray file no pointer names, as a crash between its creation and its first pointer
    // leaves one.
    std::fs::write(dir.path().join(FOLDER).join("0000000999.bhv"), b"torn").unwrap();
    let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
    assert!(!value_files(dir.path()).contains(&"0000000999.bhv".to_string()));
    for n in 0..40 {
        let value = kv.get(&queue_key(n)).unwrap();
        if n < 20 {
            assert!(value.is_none(), "{n} was removed");
        } else {
            assert_eq!(value.unwrap().as_ref(), record(n).as_slice());
        }
    }
    // New records go to a new file, numbered after every file seen.
    kv.commit(vec![put(queue_key(99), record(99))], true)
        .unwrap();
    kv.checkpoint().unwrap();
    let newest = Pointer::decode(&kv.sled().get(queue_key(99)).unwrap().unwrap()).unwrap();
    assert!(newest.file >= 1000, "file {}", newest.file);
}

#[test]
fn a_file_no_pointer_names_is_deleted_after_the_checkpoint_that_released_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
    let ops = (0..40).map(|n| put(queue_key(n), record(n))).collect();
    kv.commit(ops, true).unwrap();
    kv.checkpoint().unwrap();
    let before = value_files(dir.path());
    let ops = (0..40).map(|n| Op::Remove(queue_key(n))).collect();
    kv.commit(ops, true).unwrap();
    kv.checkpoint().unwrap();
    let after = value_files(dir.path());
    // The last file takes the next records; every other one is gone.
    assert_eq!(after, vec![before.last().unwrap().clone()]);
}

/// A Kv with small value files in `dir` holding records `0..count`, checkpointed.
fn checkpointed_records(dir: &Path, count: usize) -> Kv {
    let mut kv = Kv::open_with_values(dir, SMALL).unwrap();
    let ops = (0..count).map(|n| put(queue_key(n), record(n))).collect();
    kv.commit(ops, true).unwrap();
    kv.checkpoint().unwrap();
    kv
}

#[test]
fn sparse_files_are_compacted_and_their_records_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    // One record in eight outlives the others, as a post's copies among a busy hub's.
    let count = 400;
    let mut kv = checkpointed_records(dir.path(), count);
    let written = files_bytes(dir.path());
    let ops = (0..count)
        .filter(|n| n % 8 != 0)
        .map(|n| Op::Remove(queue_key(n)))
        .collect();
    kv.commit(ops, true).unwrap();
    kv.checkpoint().unwrap();
    let live = (count / 8) as u64 * record(0).len() as u64;
    let now = files_bytes(dir.path());
    assert!(
        now <= 2 * live + SMALL.compact_slack + SMALL.file_bytes * 2,
        "{now} bytes in value files for {live} live (were {written})"
    );
    for n in 0..count {
        let value = kv.get(&queue_key(n)).unwrap();
        if n % 8 == 0 {
            assert_eq!(value.unwrap().as_ref(), record(n).as_slice());
        } else {
            assert!(value.is_none());
        }
    }
    drop(kv);
    let kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
    for n in (0..count).step_by(8) {
        assert_eq!(
            kv.get(&queue_key(n)).unwrap().unwrap().as_ref(),
            record(n).as_slice()
        );
    }
}

#[test]
fn a_damaged_record_is_a_corrupt_entry_not_a_panic() {
    let (_dir, kv, pointer, path) = one_record_in_a_file();
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&[0x55], pointer.offset + 10).unwrap();
    let problem = read_problem(&kv, &queue_key(1));
    assert!(matches!(problem, ValueError::Checksum(_)), "{problem}");
    let err = kv.get(&queue_key(1)).unwrap_err().to_string();
    assert!(err.contains("queue entry"), "{err}");
    let listed: Vec<_> = kv.scan_prefix(&[QUEUE]).collect();
    assert!(listed[0].is_err());
    // A damaged pointer that names more than any record allocates nothing for it.
    let huge = Pointer {
        len: u32::MAX,
        ..pointer
    };
    kv.sled().insert(queue_key(2), &huge.encode()[..]).unwrap();
    let problem = read_problem(&kv, &queue_key(2));
    assert!(matches!(problem, ValueError::TooLong(_)), "{problem}");
}

#[test]
fn a_store_written_before_value_files_reads_its_inline_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        // An older store: records inline in sled.
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        db.insert(queue_key(1), record(1)).unwrap();
        db.insert(queue_key(2), record(2)).unwrap();
        db.flush().unwrap();
    }
    let mut kv = Kv::open(dir.path()).unwrap();
    assert_eq!(
        kv.get(&queue_key(1)).unwrap().unwrap().as_ref(),
        record(1).as_slice()
    );
    kv.commit(
        vec![Op::Remove(queue_key(1)), put(queue_key(3), record(3))],
        true,
    )
    .unwrap();
    kv.checkpoint().unwrap();
    let listed: Vec<Vec<u8>> = kv
        .scan_prefix(&[QUEUE])
        .map(|e| e.unwrap().1.to_vec())
        .collect();
    assert_eq!(listed, vec![record(2), record(3)]);
}

#[test]
fn a_record_never_starts_as_a_pointer_does() {
    // The tag is what tells the two apart (a record could have a pointer's length only if it
    // were much shorter than the shortest one): a record's first byte is its version.
    let stored = crate::store::record::StoredMessage {
        message: bluehelm_proto::MessageRef {
            origin: "a.b".parse().unwrap(),
            id: bluehelm_proto::MessageId::generate(1_000),
        },
        precedence: bluehelm_proto::Precedence::Routine,
        expires_at_ms: 1,
        hops: 0,
        recipients: vec![],
        signed: vec![POINTER_TAG; 2].into(),
        accepted_at_ms: 1,
    }
    .encode();
    assert_ne!(stored[0], POINTER_TAG);
    let mut shaped = stored[..POINTER_LEN].to_vec();
    assert!(Pointer::decode(&shaped).is_none());
    shaped[0] = POINTER_TAG;
    assert!(Pointer::decode(&shaped).is_some());
}

#[test]
fn a_value_of_another_table_shaped_like_a_pointer_frees_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
    kv.commit(vec![put(queue_key(1), record(1))], true).unwrap();
    kv.checkpoint().unwrap();
    let pointer = Pointer::decode(&kv.sled().get(queue_key(1)).unwrap().unwrap()).unwrap();
    // An application's note whose bytes happen to be that pointer, written then removed.
    let note = b"a-note".to_vec();
    kv.commit(vec![put(note.clone(), pointer.encode().to_vec())], true)
        .unwrap();
    kv.checkpoint().unwrap();
    kv.commit(vec![Op::Remove(note)], true).unwrap();
    // Fill the file past its size, so that a new one takes the next records.
    let ops = (2..20).map(|n| put(queue_key(n), record(n))).collect();
    kv.commit(ops, true).unwrap();
    kv.checkpoint().unwrap();
    assert_eq!(
        kv.get(&queue_key(1)).unwrap().unwrap().as_ref(),
        record(1).as_slice()
    );
}

#[test]
fn a_record_past_the_end_of_its_file_is_a_corrupt_entry() {
    let (_dir, kv, pointer, path) = one_record_in_a_file();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(pointer.offset + 5)
        .unwrap();
    let problem = read_problem(&kv, &queue_key(1));
    assert!(matches!(problem, ValueError::Truncated(_)), "{problem}");
}

#[test]
fn a_damaged_record_in_a_sparse_file_does_not_stop_compaction_or_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let count = 400;
    let mut kv = checkpointed_records(dir.path(), count);
    let damaged = Pointer::decode(&kv.sled().get(queue_key(0)).unwrap().unwrap()).unwrap();
    let path = file_path(&dir.path().join(FOLDER), damaged.file);
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&[0x55], damaged.offset + 3).unwrap();
    let ops = (0..count)
        .filter(|n| n % 8 != 0)
        .map(|n| Op::Remove(queue_key(n)))
        .collect();
    kv.commit(ops, true).unwrap();
    kv.checkpoint().unwrap();
    kv.commit(vec![put(queue_key(count), record(count))], true)
        .unwrap();
    kv.checkpoint().unwrap();
    assert!(kv.get(&queue_key(0)).is_err(), "the damaged record");
    for n in (8..count).step_by(8) {
        assert_eq!(
            kv.get(&queue_key(n)).unwrap().unwrap().as_ref(),
            record(n).as_slice()
        );
    }
    // Its file stays; the other sparse ones were compacted away.
    assert!(path.exists());
    assert!(
        value_files(dir.path()).len() < 10,
        "{:?}",
        value_files(dir.path())
    );
}

#[test]
fn value_files_beside_a_sled_never_checkpointed_are_refused_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut kv = Kv::open(dir.path()).unwrap();
        kv.commit(vec![put(queue_key(1), record(1))], true).unwrap();
        kv.checkpoint().unwrap();
    }
    let files = value_files(dir.path());
    // sled lost: the store must not start on a new one and delete the records.
    std::fs::remove_file(dir.path().join("db")).unwrap();
    std::fs::remove_file(dir.path().join("conf")).unwrap();
    for log in ["custody.0.log", "custody.1.log"] {
        let _ = std::fs::remove_file(dir.path().join(log));
    }
    let err = Kv::open(dir.path()).err().expect("refused");
    assert!(err.to_string().contains("value files"), "{err}");
    assert_eq!(value_files(dir.path()), files);
}

/// A checkpoint stopped after `writes` sled writes, sled left as the stop found it, then a
/// reopen: what was committed reads back whole. Whether the checkpoint had that many.
fn stopped_part_way_then_reopened(writes: usize) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    {
        let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
        let ops = (0..200).map(|n| put(queue_key(n), record(n))).collect();
        kv.commit(ops, true).unwrap();
        kv.checkpoint().unwrap();
        let ops = (0..200)
            .filter(|n| n % 8 != 0)
            .map(|n| Op::Remove(queue_key(n)))
            .chain((200..240).map(|n| put(queue_key(n), record(n))))
            .collect();
        kv.commit(ops, true).unwrap();
        for n in (0..200).step_by(8).chain(200..240) {
            model.insert(queue_key(n), record(n));
        }
        kv.stop_next_checkpoint_after(writes);
        if kv.checkpoint().is_ok() {
            return false;
        }
        // Dropped as it is: sled's drop flushes what the checkpoint wrote.
    }
    let kv = crate::store::tests::reopened(&format!("{writes} writes"), || {
        Kv::open_with_values(dir.path(), SMALL)
    });
    let read: BTreeMap<Vec<u8>, Vec<u8>> = kv
        .scan_prefix(&[QUEUE])
        .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect();
    assert_eq!(read, model, "stopped after {writes} writes");
    true
}

#[test]
fn a_checkpoint_stopped_part_way_loses_and_duplicates_nothing() {
    // 215 changes are applied first (175 removals, 40 records); the compaction's pointer
    // updates follow: stops among those too.
    let mut writes = 0;
    while stopped_part_way_then_reopened(writes) {
        writes += if (210..240).contains(&writes) { 1 } else { 15 };
    }
    assert!(
        writes > 216,
        "the compaction moved records: {writes} writes"
    );
}

proptest! {
    #[test]
    fn pointers_round_trip(file: u32, offset: u64, len: u32, crc: u32) {
        let pointer = Pointer { file, offset, len, crc };
        prop_assert_eq!(Pointer::decode(&pointer.encode()), Some(pointer));
    }

    #[test]
    fn only_a_tagged_value_of_pointer_length_is_a_pointer(value in proptest::collection::vec(any::<u8>(), 0..64)) {
        let is = Pointer::decode(&value).is_some();
        prop_assert_eq!(is, value.len() == POINTER_LEN && value[0] == POINTER_TAG);
    }

    #[test]
    fn what_a_kv_reads_is_what_was_committed_across_checkpoints_and_reopens(
        rounds in proptest::collection::vec(
            proptest::collection::vec((0usize..24, proptest::option::of(0usize..5)), 1..12),
            1..6,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
        for (i, round) in rounds.iter().enumerate() {
            let mut ops = Vec::new();
            for (key, value) in round {
                let key = queue_key(*key);
                match value {
                    // Short values stay in sled: a key moves between the two.
                    Some(v) => {
                        let value = if v % 2 == 0 { record(*v + i) } else { vec![1; *v] };
                        model.insert(key.clone(), value.clone());
                        ops.push(put(key, value));
                    }
                    None => {
                        model.remove(&key);
                        ops.push(Op::Remove(key));
                    }
                }
            }
            kv.commit(ops, true).unwrap();
            match i % 3 {
                0 => kv.checkpoint().unwrap(),
                1 => {
                    drop(kv);
                    kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
                }
                _ => {}
            }
            let read: BTreeMap<Vec<u8>, Vec<u8>> = kv
                .scan_prefix(&[QUEUE])
                .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                .collect();
            prop_assert_eq!(&read, &model);
        }
        kv.checkpoint().unwrap();
        // Every file left holds a live record, or takes the next ones.
        let named: std::collections::BTreeSet<u32> = kv
            .sled()
            .scan_prefix([QUEUE])
            .filter_map(|e| Pointer::decode(&e.unwrap().1))
            .map(|p| p.file)
            .collect();
        prop_assert!(value_files(dir.path()).len() <= named.len() + 1);
    }
}

#[test]
fn value_files_are_private_to_the_nodes_user() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _kv, _pointer, path) = one_record_in_a_file();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&dir.path().join(FOLDER)), DIR_MODE);
    assert_eq!(mode(&path), FILE_MODE);
}

#[test]
fn records_read_in_order_in_reverse_or_at_random_are_the_records_written() {
    for sizes in [SMALL, ValueSizes::default()] {
        let dir = tempfile::tempdir().unwrap();
        let count = 300;
        let mut kv = Kv::open_with_values(dir.path(), sizes).unwrap();
        let ops = (0..count).map(|n| put(queue_key(n), record(n))).collect();
        kv.commit(ops, true).unwrap();
        kv.checkpoint().unwrap();
        // In order: after the first two, from windows read ahead (cut short at a file's end
        // with SMALL files).
        let reads_before = kv.value_file_reads();
        let read: Vec<_> = kv.scan_prefix(&[QUEUE]).map(Result::unwrap).collect();
        assert_eq!(read.len(), count);
        // Records of 1 KiB: some sixty to a window, or the rest of an 8 KiB file.
        let reads = kv.value_file_reads() - reads_before;
        let most = if sizes.file_bytes == SMALL.file_bytes {
            count / 3
        } else {
            count / 20
        };
        assert!(
            reads <= most as u64,
            "{reads} reads for {count} records in order"
        );
        for (n, (key, value)) in read.iter().enumerate() {
            assert_eq!(key.as_ref(), queue_key(n).as_slice());
            assert_eq!(value.as_ref(), record(n).as_slice(), "record {n}");
        }
        for n in (0..count).rev().chain((0..count).map(|n| n * 7 % count)) {
            let value = kv.get(&queue_key(n)).unwrap().unwrap();
            assert_eq!(value.as_ref(), record(n).as_slice(), "record {n}");
        }
    }
}

#[test]
fn a_damaged_record_among_records_read_in_order_is_a_corrupt_entry() {
    let dir = tempfile::tempdir().unwrap();
    let kv = checkpointed_records(dir.path(), 40);
    let pointer = Pointer::decode(&kv.sled().get(queue_key(20)).unwrap().unwrap()).unwrap();
    let file = OpenOptions::new()
        .write(true)
        .open(file_path(&dir.path().join(FOLDER), pointer.file))
        .unwrap();
    file.write_all_at(&[0x55], pointer.offset + 10).unwrap();
    let read: Vec<_> = kv.scan_prefix(&[QUEUE]).collect();
    for (n, entry) in read.iter().enumerate() {
        match entry {
            Ok((_, value)) => assert_eq!(value.as_ref(), record(n).as_slice(), "record {n}"),
            Err(err) => {
                assert_eq!(n, 20, "{err}");
                assert!(err.to_string().contains("queue entry"), "{err}");
            }
        }
    }
    assert!(read[20].is_err());
}
