//! Failover in the ledger (issue 15, item 7): a queued copy moves from a silent next hop's
//! queue to its alternate's in one round, leaves only once that round is durable, and is in
//! exactly one of the two queues across a crash.

use super::*;

/// ncb.fr with messages 1 and 2 it wrote queued for gs.
fn fr_with_copies_for_gs() -> (SimNode, Vec<Queued>) {
    let mut fr = SimNode::new("ncb.fr");
    for n in [1, 2] {
        let m = record("ncb.fr", n, Precedence::Routine, FAR);
        fr.commit(vec![originated(m, Hop::Next(id("gs")))]).unwrap();
    }
    fr.take_handed(&id("gs"));
    let queued = fr.store.queued(&id("gs"));
    (fr, queued)
}

fn reroute(copy: &Queued, to: &str) -> Write {
    Write::Reroute {
        key: copy.key.clone(),
        to: id(to),
        message: copy.message.clone(),
    }
}

#[test]
fn a_rerouted_copy_leaves_one_queue_for_the_other_durably_and_once() {
    let (mut fr, queued) = fr_with_copies_for_gs();
    let staged = fr.stage(vec![queued.iter().map(|q| reroute(q, "gs-b")).collect()]);
    assert!(
        fr.take_handed(&id("gs-b")).is_empty(),
        "not before the move is durable"
    );
    assert_eq!(
        fr.persist(staged),
        Ok(vec![vec![WriteOutcome::Removed, WriteOutcome::Removed]])
    );
    assert_eq!(ids(&fr.take_handed(&id("gs-b"))), vec![1, 2]);
    fr.crash();
    assert!(fr.store.queued(&id("gs")).is_empty());
    let moved = fr.store.queued(&id("gs-b"));
    assert_eq!(ids(&moved), vec![1, 2], "in their order");
    assert_eq!(
        (fr.ledger.depth(&id("gs")), fr.ledger.depth(&id("gs-b"))),
        (0, 2)
    );
    assert!(
        moved[0].key.seq() > queued[1].key.seq(),
        "new sequence numbers"
    );
    // Moved already: a second move finds nothing.
    assert_eq!(
        fr.commit(vec![reroute(&queued[0], "gs-b")]),
        Ok(vec![WriteOutcome::Missing])
    );
    assert_eq!(fr.store.queued(&id("gs-b")).len(), 2);
}

#[test]
fn a_copy_the_primary_took_meanwhile_is_not_moved() {
    let (mut fr, queued) = fr_with_copies_for_gs();
    fr.commit(vec![Write::Forget(queued[0].key.clone())])
        .unwrap();
    assert_eq!(
        fr.commit(queued.iter().map(|q| reroute(q, "gs-b")).collect()),
        Ok(vec![WriteOutcome::Missing, WriteOutcome::Removed])
    );
    assert_eq!(ids(&fr.store.queued(&id("gs-b"))), vec![2]);
}

#[test]
fn a_move_lost_in_a_failed_round_leaves_the_copy_where_it_was() {
    let (mut fr, queued) = fr_with_copies_for_gs();
    fr.fail_next_persist = true;
    assert!(fr.commit(vec![reroute(&queued[0], "gs-b")]).is_err());
    assert!(fr.take_handed(&id("gs-b")).is_empty());
    fr.crash();
    assert_eq!(ids(&fr.store.queued(&id("gs"))), vec![1, 2]);
    assert!(fr.store.queued(&id("gs-b")).is_empty());
}
