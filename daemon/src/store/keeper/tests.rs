//! The store thread's commit rounds driven directly, with a failure injected where only a
//! real disk fault could put it.

use std::collections::BTreeMap;

use bluehelm_proto::{MessageId, MessageRef, NodeId, Precedence};
use tokio::sync::{oneshot, watch};

use super::*;
use crate::engine::Hop;
use crate::store::{Custody, HandOff, Provenance, StoredMessage};

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn worker(dir: &Path) -> Keeper {
    let shared = Arc::new(Shared {
        depths: Default::default(),
        failed: Default::default(),
        fsync_latency: Default::default(),
        hop_changes: Default::default(),
        inbox_changes: watch::channel(0).0,
        hand_offs: Arc::default(),
    });
    Keeper::open(dir, crate::store::StoreSizes::default(), shared).unwrap()
}

/// A message relayed from a neighbour (hops 1), for `hop`.
fn relayed(n: u8, hop: &NodeId) -> Write {
    accept(n, hop, 1, Provenance::Relayed { from: id("ncb.de") })
}

/// A message this node originates (hops 0), for `hop`.
fn originated(n: u8, hop: &NodeId) -> Write {
    accept(n, hop, 0, Provenance::Originated)
}

fn accept(n: u8, hop: &NodeId, hops: u8, provenance: Provenance) -> Write {
    Write::Accept(Custody {
        message: StoredMessage {
            message: MessageRef {
                origin: id("ncb.fr"),
                id: MessageId::from([n; 16]),
            },
            precedence: Precedence::Routine,
            expires_at_ms: i64::MAX,
            hops,
            recipients: vec![],
            signed: vec![n; 100].into(),
            accepted_at_ms: 0,
        },
        copies: BTreeMap::from([(Hop::Next(hop.clone()), vec![])]),
        report: None,
        provenance,
    })
}

/// Whether copies were handed to `link` since the last look (even if taken back since).
fn woken(link: &HandOff) -> bool {
    use std::future::Future;
    let mut arrived = std::pin::pin!(link.arrived());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    arrived.as_mut().poll(&mut cx).is_ready()
}

/// Runs one round with `writes` and returns its answer.
fn round(worker: &mut Keeper, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, StoreError> {
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
    let numbered = worker.ledger.next_seq();

    // A checkpoint failed in the background: the next commit finds out only when it has
    // already handed its relayed copy to the link.
    worker.storage.fail_checkpoint_for_test();
    assert!(round(&mut worker, vec![relayed(2, &gs)]).is_err());
    assert!(
        link.take().is_empty(),
        "the failed round's copy was taken back"
    );
    assert!(
        worker.ledger.next_seq() > numbered,
        "the failed round's sequence number may have reached a link: never reused"
    );

    // Once failed, nothing leaves early.
    woken(&link);
    assert!(round(&mut worker, vec![relayed(3, &gs)]).is_err());
    assert!(!woken(&link), "nothing was handed to the link");
    assert!(link.take().is_empty());
    assert_eq!(worker.ledger.depth(&gs), 1, "only the first is queued");
}

#[test]
fn copies_cut_through_only_where_no_copy_originated_here_shares_their_hop_and_class() {
    let dir = tempfile::tempdir().unwrap();
    let mut worker = worker(dir.path());
    let (gs, ke) = (id("gs"), id("ncb.ke"));
    let to_gs = HandOff::register(
        worker.shared.hand_offs.clone(),
        gs.clone(),
        Precedence::Routine,
    );
    let to_ke = HandOff::register(
        worker.shared.hand_offs.clone(),
        ke.clone(),
        Precedence::Routine,
    );
    // The round's commit fails, so only what left before it reached a link at all.
    worker.storage.fail_checkpoint_for_test();
    let writes = vec![originated(1, &gs), relayed(2, &gs), relayed(3, &ke)];
    assert!(round(&mut worker, writes).is_err());
    assert!(
        woken(&to_ke),
        "the relayed copy for ncb.ke left before the fsync"
    );
    assert!(
        !woken(&to_gs),
        "gs's copies waited for the fsync: one of them is originated here"
    );
    assert!(to_ke.take().is_empty() && to_gs.take().is_empty());
}
