//! The store thread's commit rounds driven directly, with a failure injected where only a
//! real disk fault could put it.

use std::collections::BTreeMap;

use bluehelm_proto::{MessageId, MessageRef, NodeId, Precedence};
use tokio::sync::{oneshot, watch};

use super::*;
use crate::store::HandOff;

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn worker(dir: &Path) -> Worker {
    let shared = Arc::new(Shared {
        depths: Default::default(),
        hop_changes: Default::default(),
        inbox_changes: watch::channel(0).0,
        hand_offs: Arc::default(),
    });
    let mut worker = Worker {
        kv: Kv::open(dir).unwrap(),
        shared,
        index: QueueIndex::default(),
        next_seq: 0,
        inbox_version: 0,
        purge_from: None,
    };
    worker.recover().unwrap();
    worker
}

/// A message relayed from a neighbour (hops 1), for `hop`.
fn relayed(n: u8, hop: &NodeId) -> Write {
    Write::Accept(Custody {
        message: StoredMessage {
            message: MessageRef {
                origin: id("ncb.fr"),
                id: MessageId::from([n; 16]),
            },
            precedence: Precedence::Routine,
            expires_at_ms: i64::MAX,
            hops: 1,
            recipients: vec![],
            signed: vec![n; 100],
            accepted_at_ms: 0,
        },
        copies: BTreeMap::from([(Hop::Next(hop.clone()), vec![])]),
        report: None,
    })
}

/// Runs one round with `writes` and returns its answer.
fn round(worker: &mut Worker, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, StoreError> {
    let (reply, answer) = oneshot::channel();
    worker.commit_round(vec![Command::Commit(writes, reply)]);
    answer.blocking_recv().expect("every commit is answered")
}

#[test]
fn a_failed_round_takes_back_its_cut_through_copies_and_never_reuses_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut worker = worker(dir.path());
    let gs = id("gs");
    let link = HandOff::register(
        worker.shared.hand_offs.clone(),
        gs.clone(),
        Precedence::Routine,
    );

    round(&mut worker, vec![relayed(1, &gs)]).unwrap();
    let first = link.take();
    assert_eq!(first.len(), 1, "a good round hands its copy over");
    let numbered = worker.next_seq;

    // A checkpoint failed in the background: the next commit finds out only when it has
    // already handed its relayed copy to the link.
    worker.kv.fail_checkpoint_for_test();
    assert!(round(&mut worker, vec![relayed(2, &gs)]).is_err());
    assert!(
        link.take().is_empty(),
        "the failed round's copy was taken back"
    );
    assert!(
        worker.next_seq > numbered,
        "the failed round's sequence number may have reached a link: never reused"
    );

    // Once failed, nothing leaves early.
    assert!(round(&mut worker, vec![relayed(3, &gs)]).is_err());
    assert!(link.take().is_empty());
    assert_eq!(
        worker.index.depths().get(&gs),
        Some(&1),
        "only the first is queued"
    );
}
