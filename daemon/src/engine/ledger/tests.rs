//! The ledger in virtual time, over a store in memory (`memory.rs`): no disk, no sockets, no
//! clock. Each test names the rule it proves.

use std::collections::BTreeMap;

use bluehelm_proto::{MessageId, MessageRef, NodeId, NonDeliveryReason, Precedence, RefusalReason};

use super::memory::{record, SimNode, Staged};
use super::*;

mod quarantine;
mod reroute;

const FAR: i64 = i64::MAX;

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn custody(message: StoredMessage, hop: Hop, provenance: Provenance) -> Custody {
    Custody {
        message,
        copies: BTreeMap::from([(hop, vec![])]),
        report: None,
        provenance,
    }
}

/// Custody of a message this node writes, for `hop`.
fn originated(message: StoredMessage, hop: Hop) -> Write {
    Write::Accept(custody(message, hop, Provenance::Originated))
}

/// Custody of a message `from` offers, for `hop`, with a delivery report if `report`.
fn relayed(message: &StoredMessage, hop: Hop, from: &str, report: Option<Custody>) -> Write {
    let message = StoredMessage {
        hops: message.hops + 1,
        ..message.clone()
    };
    Write::Accept(Custody {
        report: report.map(Box::new),
        ..custody(message, hop, Provenance::Relayed { from: id(from) })
    })
}

/// A report this node writes about a message, queued for `hop`: a fresh id each time, as
/// the node makes one per receipt.
fn report_of(me: &str, n: u8, hop: &str) -> Custody {
    custody(
        record(me, n, Precedence::Routine, FAR),
        Hop::Next(id(hop)),
        Provenance::Originated,
    )
}

fn ids(copies: &[Queued]) -> Vec<u8> {
    copies
        .iter()
        .map(|q| q.message.message.id.as_bytes()[0])
        .collect()
}

#[test]
fn duplicate_is_acknowledged_not_stored() {
    let mut gs = SimNode::new("gs");
    let m = record("ncb.fr", 1, Precedence::Routine, FAR);
    let to_ke = || relayed(&m, Hop::Next(id("ncb.ke")), "ncb.fr", None);
    assert_eq!(gs.commit(vec![to_ke()]), Ok(vec![WriteOutcome::Stored]));
    assert_eq!(gs.commit(vec![to_ke()]), Ok(vec![WriteOutcome::Duplicate]));
    assert_eq!(gs.store.queued(&id("ncb.ke")).len(), 1);
    assert_eq!(gs.ledger.depth(&id("ncb.ke")), 1);
}

#[test]
fn the_same_message_twice_in_one_round_is_stored_and_reported_once() {
    let mut ke = SimNode::new("ncb.ke");
    let m = record("ncb.fr", 1, Precedence::Routine, FAR);
    // Two callers (two streams) in one round, each with its own delivery report.
    let first = relayed(&m, Hop::Local, "gs", Some(report_of("ncb.ke", 101, "gs")));
    let second = relayed(&m, Hop::Local, "gs", Some(report_of("ncb.ke", 102, "gs")));
    let outcomes = ke.round(vec![vec![first], vec![second]]).unwrap();
    assert_eq!(
        outcomes,
        vec![vec![WriteOutcome::Stored], vec![WriteOutcome::Duplicate]]
    );
    assert_eq!(ke.store.inbox().len(), 1);
    assert_eq!(ids(&ke.store.queued(&id("gs"))), vec![101], "one report");
}

#[test]
fn a_message_offered_again_after_a_crash_lost_an_unfsynced_round_is_stored_and_reported_once() {
    let mut gs = SimNode::new("gs");
    let mut ke = SimNode::new("ncb.ke");
    let m = record("ncb.fr", 1, Precedence::Routine, FAR);
    gs.commit(vec![relayed(&m, Hop::Next(id("ncb.ke")), "ncb.fr", None)])
        .unwrap();
    let offered = gs.store.queued(&id("ncb.ke"));
    let report = Some(report_of("ncb.ke", 101, "gs"));
    assert_eq!(
        ke.commit(vec![relayed(&offered[0].message, Hop::Local, "gs", report)]),
        Ok(vec![WriteOutcome::Stored])
    );
    // gs drops its copy in a round with no fsync, and the machine dies before the next.
    assert_eq!(
        gs.commit(vec![Write::Forget(offered[0].key.clone())]),
        Ok(vec![WriteOutcome::Removed])
    );
    gs.crash();
    let again = gs.store.queued(&id("ncb.ke"));
    assert_eq!(again.len(), 1, "the lost Forget left the copy queued");
    let report = Some(report_of("ncb.ke", 102, "gs"));
    assert_eq!(
        ke.commit(vec![relayed(&again[0].message, Hop::Local, "gs", report)]),
        Ok(vec![WriteOutcome::Duplicate])
    );
    assert_eq!(ke.store.inbox().len(), 1);
    assert_eq!(ids(&ke.store.queued(&id("gs"))), vec![101], "one report");
}

#[test]
fn a_permanent_refusal_of_a_message_held_is_acknowledged_as_a_duplicate() {
    let mut gs = SimNode::new("gs");
    let held = record("ncb.fr", 1, Precedence::Routine, FAR);
    let new = record("ncb.fr", 2, Precedence::Routine, FAR);
    gs.commit(vec![relayed(
        &held,
        Hop::Next(id("ncb.ke")),
        "ncb.fr",
        None,
    )])
    .unwrap();
    let refused = |m: &StoredMessage, reason| Write::Refused {
        message: m.message.clone(),
        reason,
    };
    let outcomes = gs
        .commit(vec![
            // Offered again after its lifetime, or past its hop limit: it was delivered.
            refused(&held, RefusalReason::Expired),
            refused(&held, RefusalReason::HopLimit),
            // Not held: the refusal stands.
            refused(&new, RefusalReason::Expired),
            // Bytes that do not verify are not the message held, whatever they name.
            refused(&held, RefusalReason::BadSignature),
            refused(&held, RefusalReason::Malformed),
            // A temporary refusal stands: the sender retries, then it is a duplicate.
            refused(&held, RefusalReason::QuotaExceeded),
        ])
        .unwrap();
    use WriteOutcome::{Duplicate, Refused};
    assert_eq!(
        outcomes,
        vec![Duplicate, Duplicate, Refused, Refused, Refused, Refused]
    );
    // A message accepted earlier in the same round counts as held.
    let outcomes = gs
        .round(vec![
            vec![relayed(&new, Hop::Next(id("ncb.ke")), "ncb.fr", None)],
            vec![refused(&new, RefusalReason::NoRoute)],
        ])
        .unwrap();
    assert_eq!(outcomes, vec![vec![WriteOutcome::Stored], vec![Duplicate]]);
    assert_eq!(
        gs.store.queued(&id("ncb.ke")).len(),
        2,
        "nothing stored twice"
    );
}

#[test]
fn a_relayed_copy_leaves_before_the_fsync_and_an_originated_one_after() {
    let mut gs = SimNode::new("gs");
    let (ke, mi) = (id("ncb.ke"), id("mission.unmiss"));
    let relayed_msg = record("ncb.fr", 1, Precedence::Routine, FAR);
    let own = record("gs", 2, Precedence::Routine, FAR);
    let staged = gs.stage(vec![
        vec![relayed(&relayed_msg, Hop::Next(ke.clone()), "ncb.fr", None)],
        vec![originated(own, Hop::Next(mi.clone()))],
    ]);
    assert_eq!(
        ids(&gs.take_handed(&ke)),
        vec![1],
        "cut through before the fsync"
    );
    assert!(gs.take_handed(&mi).is_empty(), "originated: not before");
    assert!(gs.store.queued(&ke).is_empty(), "nothing is durable yet");
    gs.persist(staged).unwrap();
    assert_eq!(ids(&gs.take_handed(&mi)), vec![2], "after the fsync");
    assert!(gs.take_handed(&ke).is_empty(), "handed over once");
}

#[test]
fn relayed_copies_wait_with_an_originated_copy_for_the_same_hop_and_class() {
    let mut gs = SimNode::new("gs");
    let ke = id("ncb.ke");
    let own = record("gs", 1, Precedence::Routine, FAR);
    let other = record("ncb.fr", 2, Precedence::Routine, FAR);
    let flash = record("ncb.fr", 3, Precedence::Flash, FAR);
    let staged = gs.stage(vec![vec![
        originated(own, Hop::Next(ke.clone())),
        relayed(&other, Hop::Next(ke.clone()), "ncb.fr", None),
        relayed(&flash, Hop::Next(ke.clone()), "ncb.fr", None),
    ]]);
    assert_eq!(
        ids(&gs.take_handed(&ke)),
        vec![3],
        "only the other class leaves early"
    );
    gs.persist(staged).unwrap();
    let late = gs.take_handed(&ke);
    assert_eq!(ids(&late), vec![1, 2], "in sequence order, after the fsync");
    assert!(late[0].key.seq() < late[1].key.seq());
}

#[test]
fn a_failed_round_takes_its_early_copies_back_and_never_reuses_their_numbers() {
    let mut gs = SimNode::new("gs");
    let ke = id("ncb.ke");
    let first = record("ncb.fr", 1, Precedence::Routine, FAR);
    gs.commit(vec![relayed(&first, Hop::Next(ke.clone()), "ncb.fr", None)])
        .unwrap();
    gs.take_handed(&ke);

    let second = record("ncb.fr", 2, Precedence::Routine, FAR);
    gs.fail_next_persist = true;
    let staged: Staged = gs.stage(vec![vec![relayed(
        &second,
        Hop::Next(ke.clone()),
        "ncb.fr",
        None,
    )]]);
    let lost_seq = gs.handed[0].1.key.seq();
    assert!(gs.persist(staged).is_err());
    assert!(
        gs.take_handed(&ke).is_empty(),
        "the failed round's copy was taken back"
    );
    assert_eq!(gs.ledger.depth(&ke), 1, "only the first is queued");
    assert_eq!(gs.store.queued(&ke).len(), 1);

    // The store has failed: nothing leaves early any more.
    let third = record("ncb.fr", 3, Precedence::Routine, FAR);
    let staged = gs.stage(vec![vec![relayed(
        &third,
        Hop::Next(ke.clone()),
        "ncb.fr",
        None,
    )]]);
    assert!(
        gs.handed.is_empty(),
        "a failed store passes nothing on early"
    );
    gs.persist(staged).unwrap();
    let late = gs.take_handed(&ke);
    assert!(
        late[0].key.seq() > lost_seq,
        "the failed round's number may have reached a link: never reused"
    );
}

#[test]
fn a_copy_that_expires_in_the_queue_is_given_up_once_with_one_report() {
    let mut gs = SimNode::new("gs");
    let ke = id("ncb.ke");
    let m = record("ncb.fr", 1, Precedence::Routine, 5_000);
    gs.commit(vec![relayed(&m, Hop::Next(ke.clone()), "ncb.fr", None)])
        .unwrap();
    assert!(gs.ledger.sweep(4_999, 10).is_empty());
    let due = gs.ledger.sweep(5_000, 10);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].reason, NonDeliveryReason::Expired);
    let give_up = |n| Write::GiveUp {
        key: due[0].key.clone(),
        report: Some(Box::new(report_of("gs", n, "ncb.fr"))),
    };
    assert_eq!(
        gs.commit(vec![give_up(201)]),
        Ok(vec![WriteOutcome::Removed])
    );
    assert!(
        gs.ledger.sweep(10_000, 10).is_empty(),
        "the index forgot it"
    );
    assert_eq!(gs.ledger.depth(&ke), 0);
    // The link's permanent refusal of the same copy, racing the sweep: no second report.
    assert_eq!(
        gs.commit(vec![give_up(202)]),
        Ok(vec![WriteOutcome::Missing])
    );
    assert_eq!(ids(&gs.store.queued(&id("ncb.fr"))), vec![201]);
    assert!(gs.store.queued(&ke).is_empty());
}

/// Steps of a message's way from ncb.fr through gs to ncb.ke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// ncb.fr takes custody of a message it writes, for gs.
    Originate,
    /// gs stages ncb.fr's offer (its copy for ncb.ke may leave early).
    RelayReceives,
    /// ncb.ke stages gs's copy: one that left gs early, or one read from its queue.
    DestinationReceives,
    DestinationPersists,
    RelayPersists,
    /// ncb.fr hears gs's acceptance and drops its copy.
    OriginHears,
    /// gs hears ncb.ke's acceptance and drops its copy.
    RelayHears,
}

/// With cut-through: gs's copy reaches ncb.ke before gs's round is durable.
const CUT_THROUGH: [Step; 7] = [
    Step::Originate,
    Step::RelayReceives,
    Step::DestinationReceives,
    Step::DestinationPersists,
    Step::RelayPersists,
    Step::OriginHears,
    Step::RelayHears,
];

/// Without: gs forwards from its queue once durable (no link to ncb.ke was running).
const STORE_AND_FORWARD: [Step; 7] = [
    Step::Originate,
    Step::RelayReceives,
    Step::RelayPersists,
    Step::OriginHears,
    Step::DestinationReceives,
    Step::DestinationPersists,
    Step::RelayHears,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Origin,
    Relay,
    Destination,
}

/// Three nodes, the rounds they have staged, and the acceptances on the wire.
struct Chain {
    fr: SimNode,
    gs: SimNode,
    ke: SimNode,
    gs_round: Option<(Staged, Vec<QueueKey>)>,
    ke_round: Option<(Staged, Vec<QueueKey>)>,
    /// Acceptances on their way to ncb.fr (of its keys) and to gs (of its keys).
    to_fr: Vec<QueueKey>,
    to_gs: Vec<QueueKey>,
    /// Delivery reports get fresh ids.
    reports: u8,
}

impl Chain {
    fn new() -> Self {
        Self {
            fr: SimNode::new("ncb.fr"),
            gs: SimNode::new("gs"),
            ke: SimNode::new("ncb.ke"),
            gs_round: None,
            ke_round: None,
            to_fr: Vec::new(),
            to_gs: Vec::new(),
            reports: 100,
        }
    }

    /// What `at` writes when `from` offers `copy`.
    fn receipt(&mut self, at: Who, from: &str, copy: &Queued) -> Write {
        match at {
            Who::Destination => {
                self.reports += 1;
                let report = report_of("ncb.ke", self.reports, "gs");
                relayed(&copy.message, Hop::Local, from, Some(report))
            }
            _ => relayed(&copy.message, Hop::Next(id("ncb.ke")), from, None),
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Originate => {
                let m = record("ncb.fr", 1, Precedence::Routine, FAR);
                self.fr
                    .commit(vec![originated(m, Hop::Next(id("gs")))])
                    .unwrap();
                self.fr.handed.clear(); // no link to gs yet: gs reads the queue below
            }
            Step::RelayReceives => {
                let offers = self.fr.store.queued(&id("gs"));
                let writes = offers
                    .iter()
                    .map(|q| self.receipt(Who::Relay, "ncb.fr", q))
                    .collect();
                let staged = self.gs.stage(vec![writes]);
                self.gs_round = Some((staged, offers.into_iter().map(|q| q.key).collect()));
            }
            Step::DestinationReceives => {
                // A copy handed over early, or, without one, what gs's queue holds.
                let mut offers = self.gs.take_handed(&id("ncb.ke"));
                if offers.is_empty() {
                    offers = self.gs.store.queued(&id("ncb.ke"));
                }
                let writes = offers
                    .iter()
                    .map(|q| self.receipt(Who::Destination, "gs", q))
                    .collect();
                let staged = self.ke.stage(vec![writes]);
                self.ke_round = Some((staged, offers.into_iter().map(|q| q.key).collect()));
            }
            Step::DestinationPersists => {
                if let Some((staged, keys)) = self.ke_round.take() {
                    if self.ke.persist(staged).is_ok() {
                        self.to_gs.extend(keys);
                    }
                }
            }
            Step::RelayPersists => {
                if let Some((staged, keys)) = self.gs_round.take() {
                    if self.gs.persist(staged).is_ok() {
                        self.to_fr.extend(keys);
                    }
                }
            }
            Step::OriginHears => {
                let forget = self.to_fr.drain(..).map(Write::Forget).collect();
                self.fr.commit(forget).unwrap();
            }
            Step::RelayHears => {
                let forget = self.to_gs.drain(..).map(Write::Forget).collect();
                self.gs.commit(forget).unwrap();
            }
        }
    }

    /// `who` dies with its machine: its staged round, its links and what they carried are
    /// gone; it restarts from its store.
    fn crash(&mut self, who: Who) {
        match who {
            Who::Origin => {
                self.fr.crash();
                self.to_fr.clear();
            }
            Who::Relay => {
                self.gs.crash();
                self.gs_round = None;
                self.to_fr.clear();
                self.to_gs.clear();
            }
            Who::Destination => {
                self.ke.crash();
                self.ke_round = None;
                self.to_gs.clear();
            }
        }
    }

    /// The links come back: rounds in progress finish, then each node offers what it still
    /// queues until every queue is empty.
    fn settle(&mut self) {
        self.step(Step::DestinationPersists);
        self.step(Step::RelayPersists);
        self.step(Step::OriginHears);
        self.step(Step::RelayHears);
        for _ in 0..5 {
            if self.fr.store.queued(&id("gs")).is_empty()
                && self.gs.store.queued(&id("ncb.ke")).is_empty()
            {
                return;
            }
            self.gs.handed.clear();
            self.step(Step::RelayReceives);
            self.step(Step::RelayPersists);
            self.step(Step::OriginHears);
            self.step(Step::DestinationReceives);
            self.step(Step::DestinationPersists);
            self.step(Step::RelayHears);
        }
        panic!("the queues did not drain");
    }
}

/// Runs `steps` with a crash of `who` after the first `crash_after` of them, then lets the
/// network settle, and checks that the message reached ncb.ke's inbox exactly once, with one
/// delivery report, and that no copy is left behind.
fn deliver(steps: &[Step], crash_after: usize, who: Who) {
    let mut chain = Chain::new();
    for step in &steps[..crash_after] {
        chain.step(*step);
    }
    chain.crash(who);
    chain.settle();
    let context = format!("crash of {who:?} after {:?}", &steps[..crash_after]);
    let inbox = chain.ke.store.inbox();
    let delivered: Vec<MessageRef> = inbox.iter().map(|(_, m)| m.message.clone()).collect();
    assert_eq!(
        delivered,
        vec![MessageRef {
            origin: id("ncb.fr"),
            id: MessageId::from([1; 16])
        }],
        "{context}"
    );
    assert_eq!(
        chain.ke.store.queued(&id("gs")).len(),
        1,
        "one delivery report: {context}"
    );
    assert!(chain.fr.store.all_queued().is_empty(), "{context}");
    assert!(chain.gs.store.all_queued().is_empty(), "{context}");
}

/// Crash points: after each step, the first (the origin's own commit) included.
fn every_crash(who: Who) {
    for steps in [CUT_THROUGH, STORE_AND_FORWARD] {
        for crash_after in 1..=steps.len() {
            deliver(&steps, crash_after, who);
        }
    }
}

#[test]
fn a_relay_that_crashes_at_any_step_delivers_exactly_once_and_loses_nothing() {
    every_crash(Who::Relay);
}

#[test]
fn a_destination_that_crashes_at_any_step_delivers_exactly_once_and_loses_nothing() {
    every_crash(Who::Destination);
}

#[test]
fn an_origin_that_crashes_at_any_step_delivers_exactly_once_and_loses_nothing() {
    every_crash(Who::Origin);
}

#[test]
fn flash_custody_flash_queue_reads_and_inbox_reads_go_first_in_a_round() {
    let flash = record("ncb.fr", 1, Precedence::Flash, FAR);
    let routine = record("ncb.fr", 2, Precedence::Routine, FAR);
    let take = |m: &StoredMessage| vec![relayed(m, Hop::Local, "gs", None)];
    assert!(goes_first(Request::Commit(&take(&flash))));
    assert!(!goes_first(Request::Commit(&take(&routine))));
    // A give-up whose non-delivery report is FLASH takes custody of a FLASH message.
    let key = QueueKey::new(&id("gs"), Precedence::Flash, 1);
    let report = custody(
        flash.clone(),
        Hop::Next(id("ncb.fr")),
        Provenance::Originated,
    );
    let give_up = Write::GiveUp {
        key: key.clone(),
        report: Some(Box::new(report)),
    };
    assert!(goes_first(Request::Commit(&[give_up])));
    assert!(!goes_first(Request::Commit(&[Write::Forget(key)])));
    assert!(goes_first(Request::QueueRead(Precedence::Flash)));
    assert!(!goes_first(Request::QueueRead(Precedence::Immediate)));
    assert!(goes_first(Request::InboxRead));
    assert!(!goes_first(Request::Other));
}
