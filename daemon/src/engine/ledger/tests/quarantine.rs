//! Quarantine in the ledger (issue 14, item 3): a move out of the queue or the inbox into a
//! keyspace of its own, and back on release; never lost across a crash once acknowledged.

use super::*;
use crate::engine::quarantine::HeldFor;

/// gs with message 1 from mission.x queued for ncb.ke.
fn gs_with_a_copy_for_ke() -> (SimNode, Vec<Queued>) {
    let mut gs = SimNode::new("gs");
    let m = record("mission.x", 1, Precedence::Routine, FAR);
    gs.commit(vec![relayed(
        &m,
        Hop::Next(id("ncb.ke")),
        "mission.x",
        None,
    )])
    .unwrap();
    let queued = gs.store.queued(&id("ncb.ke"));
    (gs, queued)
}

#[test]
fn a_queued_copy_moves_into_quarantine_and_back_on_release() {
    let (mut gs, queued) = gs_with_a_copy_for_ke();
    let quarantine = Write::Quarantine {
        from: Place::Queued(queued[0].key.clone()),
        message: queued[0].message.clone(),
    };
    assert_eq!(gs.commit(vec![quarantine]), Ok(vec![WriteOutcome::Stored]));
    assert!(gs.store.queued(&id("ncb.ke")).is_empty());
    assert_eq!(gs.ledger.depth(&id("ncb.ke")), 0);
    gs.crash();
    let held = gs.store.held();
    assert_eq!(held.len(), 1, "held durably");
    let (n, to, message) = held[0].clone();
    assert_eq!(to, HeldFor::Hop(id("ncb.ke")));
    let release = || Write::Release {
        id: n,
        to: to.clone(),
        message: message.clone(),
    };
    assert_eq!(gs.commit(vec![release()]), Ok(vec![WriteOutcome::Removed]));
    assert_eq!(gs.commit(vec![release()]), Ok(vec![WriteOutcome::Missing]));
    assert!(gs.store.held().is_empty());
    let back = gs.store.queued(&id("ncb.ke"));
    assert_eq!(ids(&back), vec![1]);
    assert_eq!(gs.ledger.depth(&id("ncb.ke")), 1);
    assert!(
        back[0].key.seq() > queued[0].key.seq(),
        "a new sequence number"
    );
}

#[test]
fn a_copy_forgotten_before_the_move_is_not_held() {
    let (mut gs, queued) = gs_with_a_copy_for_ke();
    gs.commit(vec![Write::Forget(queued[0].key.clone())])
        .unwrap();
    let quarantine = Write::Quarantine {
        from: Place::Queued(queued[0].key.clone()),
        message: queued[0].message.clone(),
    };
    assert_eq!(gs.commit(vec![quarantine]), Ok(vec![WriteOutcome::Missing]));
    assert!(gs.store.held().is_empty());
}

#[test]
fn an_inbox_message_is_held_then_dropped() {
    let mut ke = SimNode::new("ncb.ke");
    let m = record("mission.x", 1, Precedence::Routine, FAR);
    ke.commit(vec![relayed(&m, Hop::Local, "gs", None)])
        .unwrap();
    let (seq, message) = ke.store.inbox()[0].clone();
    let quarantine = || Write::Quarantine {
        from: Place::Inbox(seq),
        message: message.clone(),
    };
    assert_eq!(
        ke.commit(vec![quarantine()]),
        Ok(vec![WriteOutcome::Stored])
    );
    assert_eq!(
        ke.commit(vec![quarantine()]),
        Ok(vec![WriteOutcome::Missing])
    );
    assert!(ke.store.inbox().is_empty());
    assert_eq!(
        ke.commit(vec![Write::AckInbox(seq)]),
        Ok(vec![WriteOutcome::Missing])
    );
    let (n, to, _) = ke.store.held()[0].clone();
    assert_eq!(to, HeldFor::Inbox);
    assert_eq!(
        ke.commit(vec![Write::DropHeld(n)]),
        Ok(vec![WriteOutcome::Removed])
    );
    assert_eq!(
        ke.commit(vec![Write::DropHeld(n)]),
        Ok(vec![WriteOutcome::Missing])
    );
    assert!(ke.store.held().is_empty() && ke.store.inbox().is_empty());
}

#[test]
fn an_arrival_held_is_in_custody_but_goes_nowhere() {
    let mut gs = SimNode::new("gs");
    let m = record("mission.x", 1, Precedence::Flash, FAR);
    let hold = || match relayed(&m, Hop::Next(id("ncb.ke")), "mission.x", None) {
        Write::Accept(custody) => Write::Hold(custody),
        _ => unreachable!(),
    };
    assert_eq!(gs.commit(vec![hold()]), Ok(vec![WriteOutcome::Stored]));
    assert_eq!(gs.commit(vec![hold()]), Ok(vec![WriteOutcome::Duplicate]));
    assert!(
        gs.take_handed(&id("ncb.ke")).is_empty(),
        "nothing handed off"
    );
    assert!(gs.store.queued(&id("ncb.ke")).is_empty());
    gs.crash();
    assert_eq!(gs.store.held().len(), 1, "durable once acknowledged");
    let (n, to, message) = gs.store.held()[0].clone();
    gs.commit(vec![Write::Release { id: n, to, message }])
        .unwrap();
    assert_eq!(
        ids(&gs.take_handed(&id("ncb.ke"))),
        vec![1],
        "handed off once durable"
    );
}
