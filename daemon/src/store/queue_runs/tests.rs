use std::collections::BTreeMap;

use bluehelm_proto::{NodeId, Precedence};
use proptest::prelude::*;

use super::*;
use crate::engine::ledger::QueueKey;
use crate::store::error::Corruption;
use crate::store::overlay::{Kv, Op};
use crate::store::values::ValueSizes;

/// Small value files, so that compaction starts after a few records.
const SMALL: ValueSizes = ValueSizes {
    file_bytes: 16 * 1024,
    compact_slack: 16 * 1024,
};

fn copy_key(hop: usize, precedence: Precedence, seq: u64) -> Vec<u8> {
    let hop: NodeId = format!("ncb.h{hop}").parse().unwrap();
    QueueKey::new(&hop, precedence, seq).as_bytes().to_vec()
}

/// A record: long ones go to value files (a pointer in the run), short ones stay inline.
fn record(seq: u64, long: bool) -> Vec<u8> {
    let mut value = vec![1u8];
    value.extend(std::iter::repeat_n(
        (seq % 251) as u8,
        if long { 700 } else { 40 },
    ));
    value.extend_from_slice(&seq.to_be_bytes());
    value
}

/// A ROUTINE copy for one next hop: most tests need no other class.
fn routine(seq: u64) -> Vec<u8> {
    copy_key(1, Precedence::Routine, seq)
}

/// Fresh ROUTINE copies with long records (a pointer each in the runs).
fn fresh_routine(seqs: impl Iterator<Item = u64>) -> Vec<Op> {
    seqs.map(|seq| fresh(routine(seq), record(seq, true)))
        .collect()
}

fn value_file_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("values")).unwrap().count()
}

fn fresh(key: Vec<u8>, value: Vec<u8>) -> Op {
    Op::Put {
        key,
        value,
        fresh: true,
    }
}

fn queue(kv: &Kv) -> BTreeMap<Vec<u8>, Vec<u8>> {
    kv.scan_prefix(&[QUEUE])
        .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect()
}

fn sled_keys(kv: &Kv, tag: u8) -> usize {
    kv.sled().scan_prefix([tag]).count()
}

#[test]
fn a_checkpoint_puts_fresh_copies_into_runs_read_as_their_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    {
        let mut kv = Kv::open(dir.path()).unwrap();
        let mut ops = Vec::new();
        for seq in 0..1_000u64 {
            let (hop, precedence) = match seq % 3 {
                0 => (1, Precedence::Routine),
                1 => (1, Precedence::Flash),
                _ => (2, Precedence::Routine),
            };
            let key = copy_key(hop, precedence, seq);
            let value = record(seq, seq % 5 != 0);
            model.insert(key.clone(), value.clone());
            ops.push(fresh(key, value));
        }
        kv.commit(ops, true).unwrap();
        kv.checkpoint().unwrap();
        assert_eq!(sled_keys(&kv, QUEUE), 0, "no copy under its own key");
        let runs = sled_keys(&kv, RUN);
        assert!(
            (6..=12).contains(&runs),
            "{runs} runs for 1,000 copies in three classes"
        );
        assert_eq!(queue(&kv), model);
        for (key, value) in &model {
            assert_eq!(kv.get(key).unwrap().unwrap().as_ref(), value.as_slice());
            assert!(kv.contains_key(key).unwrap());
        }
        let absent = routine(1);
        assert!(kv.get(&absent).unwrap().is_none(), "1 is a FLASH copy's");
        assert!(!kv.contains_key(&absent).unwrap());
        // A read from inside a run starts there.
        let from = copy_key(2, Precedence::Routine, 500);
        let read: Vec<_> = kv
            .scan_prefix_from(&[QUEUE], &from)
            .map(|e| e.unwrap().0.to_vec())
            .collect();
        let expected: Vec<_> = model.range(from..).map(|(k, _)| k.clone()).collect();
        assert_eq!(read, expected);
    }
    let kv = Kv::open(dir.path()).unwrap();
    assert_eq!(queue(&kv), model, "after a reopen");
}

#[test]
fn removals_rewrite_runs_and_a_run_emptied_is_deleted_with_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
    let keys: Vec<_> = (0..600).map(routine).collect();
    let ops = keys
        .iter()
        .enumerate()
        .map(|(seq, key)| fresh(key.clone(), record(seq as u64, true)))
        .collect();
    kv.commit(ops, true).unwrap();
    kv.checkpoint().unwrap();
    let runs = sled_keys(&kv, RUN);
    // Every other copy of `keys` from `first` on leaves, in one checkpoint.
    let remove = |kv: &mut Kv, keys: &[Vec<u8>], first: usize| {
        let ops = keys[first..]
            .iter()
            .step_by(2)
            .cloned()
            .map(Op::Remove)
            .collect();
        kv.commit(ops, true).unwrap();
        kv.checkpoint().unwrap();
    };
    // Every other copy leaves, then the first 300, then the rest.
    remove(&mut kv, &keys, 1);
    assert_eq!(sled_keys(&kv, RUN), runs, "runs half emptied are rewritten");
    assert_eq!(queue(&kv).len(), 300);
    remove(&mut kv, &keys[..300], 0);
    let left = queue(&kv);
    assert_eq!(left.len(), 150);
    assert!(left.keys().all(|k| k.as_slice() >= keys[300].as_slice()));
    assert!(sled_keys(&kv, RUN) < runs, "emptied runs are deleted");
    remove(&mut kv, &keys[300..], 0);
    assert_eq!(sled_keys(&kv, RUN), 0);
    assert!(queue(&kv).is_empty());
    let files = value_file_count(dir.path());
    assert!(files <= 1, "{files} value files left with nothing queued");
}

#[test]
fn a_damaged_run_is_a_corrupt_queue_entry_and_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut kv = Kv::open(dir.path()).unwrap();
        let ops = (0..10)
            .map(|seq| fresh(routine(seq), record(seq, false)))
            .collect();
        kv.commit(ops, true).unwrap();
        kv.checkpoint().unwrap();
        let (key, value) = kv.sled().scan_prefix([RUN]).next().unwrap().unwrap();
        // The second copy's sequence number made smaller than the first's.
        let mut damaged = value.to_vec();
        let second = 1 + ENTRY_HEADER + 41 + 8;
        damaged[second..second + 8].copy_from_slice(&0u64.to_be_bytes());
        kv.sled().insert(&key, damaged).unwrap();
        let problem = kv.scan_prefix(&[QUEUE]).find_map(Result::err).unwrap();
        assert!(
            matches!(
                &problem,
                StoreError::Corrupt {
                    problem: Corruption::BadQueueRun,
                    ..
                }
            ),
            "{problem}"
        );
        assert!(kv.get(&routine(3)).is_err());
        kv.close().unwrap();
    }
    let Err(err) = Kv::open(dir.path()) else {
        panic!("a store with a damaged run opened");
    };
    assert!(err.to_string().contains("run"), "{err}");
}

#[test]
fn runs_decode_only_ascending_copies_from_their_key_on() {
    let key = key_with(RUN, &[2, b'h', b'1', 5], 10);
    let run = Run {
        entries: vec![(10, IVec::from(&b"a"[..])), (12, IVec::from(&b"bc"[..]))],
    };
    assert_eq!(Run::decode(&key, &run.encode()).unwrap(), run);
    let early = key_with(RUN, &[2, b'h', b'1', 5], 11);
    assert!(
        Run::decode(&early, &run.encode()).is_err(),
        "a copy before the key"
    );
    let encoded = run.encode();
    assert!(Run::decode(&key, &encoded[..encoded.len() - 1]).is_err());
    assert!(Run::decode(&key, &[VERSION]).is_err(), "empty");
    assert!(Run::decode(&key, &[]).is_err());
    let twice = Run {
        entries: vec![(10, IVec::from(&b"a"[..])), (10, IVec::from(&b"b"[..]))],
    };
    assert!(Run::decode(&key, &twice.encode()).is_err());
    assert!(
        Run::decode(&key[1..], &run.encode()).is_err(),
        "not a run key"
    );
}

/// A checkpoint stopped after `writes` sled writes, then a reopen, whose replay puts the
/// copies again as puts that may be in sled: every copy reads back once. Whether the
/// checkpoint had that many writes.
fn stopped_part_way_then_reopened(writes: usize) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    {
        let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
        kv.commit(fresh_routine(0..600), true).unwrap();
        kv.checkpoint().unwrap();
        let mut ops: Vec<Op> = (0..600)
            .filter(|seq| seq % 8 != 0)
            .map(|seq| Op::Remove(routine(seq)))
            .collect();
        ops.extend(fresh_routine(600..900));
        kv.commit(ops, true).unwrap();
        for seq in (0..600).step_by(8).chain(600..900) {
            model.insert(routine(seq), record(seq, true));
        }
        kv.stop_next_checkpoint_after(writes);
        if kv.checkpoint().is_ok() {
            return false;
        }
    }
    let kv = crate::store::tests::reopened(&format!("{writes} writes"), || {
        Kv::open_with_values(dir.path(), SMALL)
    });
    assert_eq!(queue(&kv), model, "stopped after {writes} writes");
    true
}

#[test]
fn a_checkpoint_stopped_part_way_through_runs_loses_and_duplicates_nothing() {
    let mut writes = 0;
    while stopped_part_way_then_reopened(writes) {
        writes += 1;
    }
    assert!(writes > 4, "the checkpoint wrote runs: {writes} writes");
}

#[test]
fn records_named_by_runs_are_compacted_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
    kv.commit(fresh_routine(0..400), true).unwrap();
    kv.checkpoint().unwrap();
    let files_before = value_file_count(dir.path());
    // Nine in ten leave: the files are sparse, and the next checkpoint compacts them.
    let ops = (0..400)
        .filter(|seq| seq % 10 != 0)
        .map(|seq| Op::Remove(routine(seq)))
        .collect();
    kv.commit(ops, true).unwrap();
    kv.checkpoint().unwrap();
    kv.checkpoint().unwrap();
    let model: BTreeMap<_, _> = (0..400)
        .step_by(10)
        .map(|seq| (routine(seq), record(seq, true)))
        .collect();
    assert_eq!(queue(&kv), model);
    let files_after = value_file_count(dir.path());
    assert!(
        files_after * 3 < files_before,
        "{files_before} value files before, {files_after} after"
    );
    drop(kv);
    let kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
    assert_eq!(queue(&kv), model, "after a reopen");
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Step {
    /// New copies, fresh, for a class (0..4), long or short.
    Queue {
        class: u8,
        count: u8,
        long: bool,
    },
    /// Removes the copies at these positions (modulo the number queued).
    Remove(Vec<u16>),
    /// Puts a copy again, as a replay does (not fresh).
    Again(u16),
    Checkpoint,
    Reopen,
    /// A read of `[start, end)`, positions into every key ever used.
    Read(u16, u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..6, 1u8..120, any::<bool>())
            .prop_map(|(class, count, long)| Step::Queue { class, count, long }),
        3 => proptest::collection::vec(any::<u16>(), 1..80).prop_map(Step::Remove),
        1 => any::<u16>().prop_map(Step::Again),
        2 => Just(Step::Checkpoint),
        1 => Just(Step::Reopen),
        2 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Step::Read(a, b)),
    ]
}

/// Hops whose ids are prefixes of each other, and of another length.
const HOPS: [&str; 3] = ["ncb.h1", "ncb.h10", "gs"];

fn class_of(class: u8) -> (NodeId, Precedence) {
    let precedence = match class % 2 {
        0 => Precedence::Routine,
        _ => Precedence::Flash,
    };
    (
        HOPS[usize::from(class / 2) % HOPS.len()].parse().unwrap(),
        precedence,
    )
}

fn class_key(class: u8, seq: u64) -> Vec<u8> {
    let (hop, precedence) = class_of(class);
    QueueKey::new(&hop, precedence, seq).as_bytes().to_vec()
}

/// Where reads may start and end: every key used, each hop's and class's prefix, the
/// queue's own bounds, and none.
fn bounds(used: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut bounds = used.to_vec();
    for class in 0..(2 * HOPS.len() as u8) {
        let (hop, precedence) = class_of(class);
        bounds.push(QueueKey::prefix(&hop, Some(precedence)));
        bounds.push(QueueKey::prefix(&hop, None));
    }
    bounds.extend([vec![], vec![RUN], vec![QUEUE], vec![QUEUE + 1]]);
    bounds.sort();
    bounds
}

/// What sled holds must keep the rules of `queue_runs.rs`: no copy both in a run and under
/// its own key, and runs that do not overlap.
fn check_runs(kv: &Kv) -> Result<(), TestCaseError> {
    let db = kv.sled();
    let mut in_runs = std::collections::BTreeSet::new();
    let mut previous: Option<(Vec<u8>, u64)> = None;
    for entry in runs(db) {
        let (key, run) = entry.unwrap();
        let (middle, from) = split(RUN, &key).unwrap();
        if let Some((before, last)) = &previous {
            prop_assert!(before.as_slice() != middle || *last < from, "runs overlap");
        }
        previous = Some((middle.to_vec(), run.last_seq().unwrap()));
        for (copy, _) in run.into_copies(&key) {
            prop_assert!(in_runs.insert(copy.to_vec()));
        }
    }
    for entry in db.scan_prefix([QUEUE]) {
        let (key, _) = entry.unwrap();
        prop_assert!(
            !in_runs.contains(key.as_ref()),
            "a copy in a run and under its key"
        );
    }
    Ok(())
}

#[test]
fn fresh_copies_among_those_of_a_run_are_stored_under_their_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = Kv::open(dir.path()).unwrap();
    let key = routine;
    let mut model: BTreeMap<_, _> = (100..300)
        .step_by(2)
        .map(|seq| (key(seq), record(seq, true)))
        .collect();
    let ops = model
        .iter()
        .map(|(k, v)| fresh(k.clone(), v.clone()))
        .collect();
    kv.commit(ops, true).unwrap();
    kv.checkpoint().unwrap();
    assert_eq!((sled_keys(&kv, RUN), sled_keys(&kv, QUEUE)), (1, 0));
    // Sequence numbers only grow, but if one did not, the run must not overlap another.
    model.insert(key(151), record(151, true));
    kv.commit(vec![fresh(key(151), record(151, true))], true)
        .unwrap();
    kv.checkpoint().unwrap();
    assert_eq!((sled_keys(&kv, RUN), sled_keys(&kv, QUEUE)), (1, 1));
    assert_eq!(queue(&kv), model);
    for seq in [150, 151, 152] {
        model.remove(&key(seq));
        kv.commit(vec![Op::Remove(key(seq))], true).unwrap();
    }
    kv.checkpoint().unwrap();
    assert_eq!(sled_keys(&kv, QUEUE), 0);
    assert_eq!(queue(&kv), model);
    drop(kv);
    let kv = Kv::open(dir.path()).unwrap();
    assert_eq!(queue(&kv), model);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn what_a_kv_reads_with_runs_is_what_was_committed(steps in proptest::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut used: Vec<Vec<u8>> = Vec::new();
        let mut next_seq = 0u64;
        for step in steps {
            match step {
                Step::Queue { class, count, long } => {
                    let ops = (0..count).map(|_| {
                        next_seq += 1;
                        let key = class_key(class, next_seq);
                        let value = record(next_seq, long);
                        model.insert(key.clone(), value.clone());
                        used.push(key.clone());
                        fresh(key, value)
                    }).collect();
                    kv.commit(ops, true).unwrap();
                }
                Step::Remove(at) => {
                    if model.is_empty() { continue; }
                    let keys: Vec<_> = model.keys().cloned().collect();
                    let mut ops = Vec::new();
                    for i in at {
                        let key = &keys[usize::from(i) % keys.len()];
                        if model.remove(key).is_some() {
                            ops.push(Op::Remove(key.clone()));
                        }
                    }
                    kv.commit(ops, true).unwrap();
                }
                Step::Again(i) => {
                    if model.is_empty() { continue; }
                    let key = model.keys().nth(usize::from(i) % model.len()).unwrap().clone();
                    let value = record(u64::from(i), i % 2 == 0);
                    model.insert(key.clone(), value.clone());
                    kv.commit(vec![Op::Put { key, value, fresh: false }], true).unwrap();
                }
                Step::Checkpoint => kv.checkpoint().unwrap(),
                Step::Reopen => {
                    drop(kv);
                    kv = Kv::open_with_values(dir.path(), SMALL).unwrap();
                }
                Step::Read(a, b) => {
                    let bounds = bounds(&used);
                    let start = bounds[usize::from(a) % bounds.len()].clone();
                    let end = bounds[usize::from(b) % bounds.len()].clone();
                    // The store's own keys (`mlog`) aside; a run's key would show.
                    let read: Vec<_> = kv.range(&start, Some(&end))
                        .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                        .filter(|(k, _)| matches!(k[0], QUEUE | RUN))
                        .collect();
                    let expected: Vec<_> = if start < end {
                        model.range(start.clone()..end.clone()).map(|(k, v)| (k.clone(), v.clone())).collect()
                    } else {
                        Vec::new()
                    };
                    prop_assert_eq!(read, expected);
                    for key in [&start, &end] {
                        prop_assert_eq!(kv.get(key).unwrap().map(|v| v.to_vec()), model.get(key).cloned());
                    }
                }
            }
            prop_assert_eq!(&queue(&kv), &model);
            check_runs(&kv)?;
        }
        kv.checkpoint().unwrap();
        check_runs(&kv)?;
        prop_assert_eq!(&queue(&kv), &model);
        let everything: Vec<_> = kv.range(&[], None).map(|e| e.unwrap().0.to_vec()).collect();
        prop_assert!(everything.iter().all(|k| k[0] != RUN), "a run key was read");
    }
}
