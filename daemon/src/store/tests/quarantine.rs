//! Quarantine on real sled (issue 14, item 3): rules and held copies survive a reopen, and a
//! released copy is queued again exactly once.

use super::*;
use crate::engine::quarantine::{HeldFor, Rule, Rules};

#[tokio::test]
async fn held_copies_and_rules_survive_a_reopen_and_release_queues_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .commit(vec![
            to(
                Hop::Next(id("gs")),
                record(1, Precedence::Routine, i64::MAX),
            ),
            to(Hop::Local, record(2, Precedence::Routine, i64::MAX)),
        ])
        .await
        .unwrap();
    let rule = Rule {
        node: id("ncb.fr"),
        since_ms: 0,
    };
    store
        .commit(vec![Write::QuarantineRule(rule.clone())])
        .await
        .unwrap();
    let rules: Rules = [rule.clone()].into_iter().collect();
    let caught = store.caught(rules.clone()).await.unwrap();
    assert_eq!(caught.len(), 2);
    let moves = caught
        .into_iter()
        .map(|(from, message)| Write::Quarantine { from, message })
        .collect();
    assert_eq!(
        store.commit(moves).await.unwrap(),
        vec![WriteOutcome::Stored, WriteOutcome::Stored]
    );
    assert_eq!(store.depth(&id("gs")), 0);
    assert!(store.inbox(None, 10).await.unwrap().is_empty());
    assert!(
        store.caught(rules).await.unwrap().is_empty(),
        "nothing left to catch"
    );
    store.shutdown().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.rules().await.unwrap().iter().collect::<Vec<_>>(),
        vec![rule]
    );
    let held = store.held().await.unwrap();
    assert_eq!(held.len(), 2);
    let to_gs = held
        .iter()
        .find(|h| h.to == HeldFor::Hop(id("gs")))
        .unwrap()
        .clone();
    let to_inbox = held
        .iter()
        .find(|h| h.to == HeldFor::Inbox)
        .unwrap()
        .clone();
    assert_eq!(to_gs.message.message.id, MessageId::from([1; 16]));
    assert_eq!(
        store.depth(&id("gs")),
        0,
        "a held copy is not queued after a reopen"
    );
    let release = Write::Release {
        id: to_gs.id,
        to: to_gs.to.clone(),
        message: to_gs.message.clone(),
    };
    assert_eq!(
        store.commit(vec![release.clone(), release]).await.unwrap(),
        vec![WriteOutcome::Removed, WriteOutcome::Missing]
    );
    assert_eq!(
        store
            .commit(vec![Write::DropHeld(to_inbox.id)])
            .await
            .unwrap(),
        vec![WriteOutcome::Removed]
    );
    store.shutdown().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert!(store.held().await.unwrap().is_empty());
    assert!(store.inbox(None, 10).await.unwrap().is_empty(), "dropped");
    let queued = store
        .queued(&id("gs"), Precedence::Routine, None, 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "released once");
    assert_eq!(queued[0].message.message.id, MessageId::from([1; 16]));
    store.shutdown().await.unwrap();
}
