//! The node's custody ledger: the rules about what this node holds and when a new copy may
//! leave, as a state machine with no IO in it (no sled, no tokio, no clock). The store thread (`store/keeper.rs`) drives it
//! and executes what it decides; the virtual-time tests (`ledger/tests.rs`) drive it against
//! a map in memory.
//!
//! It owns:
//! - sequence numbers: each new copy gets the next one, and none is ever given twice, also
//!   after a round that failed (its copies may have reached a link);
//! - the queue index (`index.rs`): when each queued copy expires, and how many wait per hop;
//! - what a duplicate is: an `Accept` of a message whose dedup entry exists, or that an
//!   earlier write of the same round accepted, stores nothing, reports nothing, and is
//!   acknowledged (`Duplicate`); an offer refused for a permanent reason that a duplicate
//!   excuses ([`refusal_excused_if_held`]) is acknowledged too if the message is held. Both
//!   are decided in the round that commits the other offers of their batch;
//! - cut-through: which new copies may go to their links before the round is durable, by
//!   where their message came from ([`Provenance`], not a hop count; [`RoundPlan::prepare`]),
//!   and which copies a failed round takes back;
//! - urgency within a round ([`goes_first`]);
//! - the expiry sweep ([`Ledger::sweep`]) and giving up on a copy ([`Write::GiveUp`]: one
//!   non-delivery report per copy, however many times it is given up).
//! - quarantine's moves (issue 14, item 3): a copy held ([`Write::Hold`] on arrival,
//!   [`Write::Quarantine`] out of a queue or the inbox) leaves the queue index and gets a
//!   sequence number in a keyspace of its own; [`Write::Release`] moves it back as a new
//!   copy, durable before it leaves; a second move of the same copy is `Missing`. Which
//!   messages are held is `engine::quarantine`'s to say, not the ledger's.
//! - failover's moves (issue 15, item 7): [`Write::Reroute`] takes a queued copy out of one
//!   next hop's queue and into another's in one round; which copies move, and where, is
//!   `engine::failover`'s to say.
//!
//! Inputs: [`Ledger::stage`] (one caller's writes; the staging asks the executor, through
//! [`Lookup`], whether a dedup, inbox or review entry exists), [`Ledger::close_round`],
//! [`Ledger::handle_round_committed`] with the round's result, and
//! [`Ledger::handle_store_failed`]. Outputs are values: the [`RoundPlan`] (what to persist,
//! whether it needs an fsync, the copies that may leave early) and the [`RoundDone`] (every
//! write's outcome, the copies to hand to links, those to take back, the hops and inbox to
//! wake).
//!
//! Lookups go through a trait rather than out as actions and back as answers: the store
//! thread that drives the ledger answers them from memory or sled at once, and staging one
//! round is one synchronous step of that thread, so an action round trip would only add a
//! state per pending write. The executor's one service to staging is "does this entry exist";
//! together with the round's own writes, which the ledger remembers, that is an atomic
//! insert-if-absent, since one thread stages, commits and applies each round in turn.

mod index;
mod queue_key;
mod round;
mod write;

#[cfg(test)]
pub(crate) mod memory;
#[cfg(test)]
mod tests;

use bluehelm_proto::{MessageId, MessageRef, NodeId, NonDeliveryReason, Precedence, RefusalReason};

use crate::engine::Hop;
pub use index::ClassDepths;
use index::QueueIndex;
pub use queue_key::{QueueKey, QUEUE};
pub use round::{Change, NotCommitted, RoundDone, RoundPlan, RoundWrites};
pub use write::{Custody, Place, Provenance, Queued, StoredMessage, Write, WriteOutcome};

use crate::engine::quarantine::HeldFor;

/// What staging asks of the store: whether an entry exists in what earlier rounds committed.
pub trait Lookup {
    type Error;
    /// Whether the message's dedup entry exists (this node holds or handled it).
    fn seen(&self, message: &MessageRef) -> Result<bool, Self::Error>;
    /// Whether the inbox holds the message with this sequence number.
    fn in_inbox(&self, seq: u64) -> Result<bool, Self::Error>;
    /// Whether the review queue holds this request.
    fn in_review(&self, id: &MessageId) -> Result<bool, Self::Error>;
    /// Whether quarantine holds a copy under this sequence number.
    fn in_quarantine(&self, id: u64) -> Result<bool, Self::Error>;
}

/// A message refused for a permanent reason (expired, hop limit, no route, ...) that this
/// node already holds or handled is acknowledged as a duplicate instead: it was delivered,
/// and a refusal would make its sender report a non-delivery. Not after a bad signature, an
/// untrusted signer or malformed bytes: those are not the message held, whatever reference
/// they carry. Temporary refusals stand: the sender retries, and then it is a duplicate.
pub fn refusal_excused_if_held(reason: RefusalReason) -> bool {
    reason.is_permanent()
        && !matches!(
            reason,
            RefusalReason::BadSignature | RefusalReason::UntrustedSigner | RefusalReason::Malformed
        )
}

/// A request to the store thread, as far as its turn within a round goes.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    Commit(&'a [Write]),
    QueueRead(Precedence),
    InboxRead,
    /// Any other read.
    Other,
}

/// Whether a request goes ahead of the rest of its round: a read of a FLASH queue or of the
/// inbox, or a commit that takes custody of a FLASH message. Urgent reads see what earlier
/// rounds made durable, not the writes of their own round, so that a FLASH copy can leave, or
/// a delivered message reach its application, without waiting for the round's fsync (a FLASH
/// copy whose `Forget` is in the same round may be offered again; the next hop acknowledges
/// it as a duplicate). Urgent commits get a round and an fsync of their own, so that they do
/// not wait for the bytes of a ROUTINE flood to reach the disk. A link's commits keep their
/// order because FLASH and the other classes travel on separate streams; local callers await
/// each commit before the next.
pub fn goes_first(request: Request<'_>) -> bool {
    match request {
        Request::Commit(writes) => writes.iter().any(Write::takes_flash),
        Request::QueueRead(precedence) => precedence == Precedence::Flash,
        Request::InboxRead => true,
        Request::Other => false,
    }
}

/// A queued copy to give up on, and why: the expiry sweep's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiveUp {
    pub key: QueueKey,
    pub reason: NonDeliveryReason,
}

/// The ledger of one node. See the module documentation.
#[derive(Debug)]
pub struct Ledger {
    /// The next sequence number to give.
    next_seq: u64,
    /// The next sequence number as the store holds it.
    persisted_seq: u64,
    index: QueueIndex,
    /// The store takes no more custody: nothing may leave before a round is durable.
    store_failed: bool,
    /// The round being staged.
    open: RoundPlan,
}

impl Ledger {
    /// The ledger of a store that holds `next_seq` (none in a new store) and the queued
    /// copies `queued` (key and expiry time).
    pub fn recover(
        next_seq: Option<u64>,
        queued: impl IntoIterator<Item = (QueueKey, i64)>,
    ) -> Self {
        let next_seq = next_seq.unwrap_or(1);
        let mut index = QueueIndex::default();
        for (key, expires_at_ms) in queued {
            index.insert(key, expires_at_ms);
        }
        Self {
            next_seq,
            persisted_seq: next_seq,
            index,
            store_failed: false,
            open: RoundPlan::default(),
        }
    }

    /// Stages one caller's writes in the open round; their outcomes come with the round's
    /// result ([`RoundDone::outcomes`], one entry per call, in call order). A lookup that
    /// fails dooms the whole round: it is not persisted, and nothing in it is taken.
    pub fn stage<L: Lookup>(&mut self, lookup: &L, writes: Vec<Write>) -> Result<(), L::Error> {
        self.open.needs_fsync |= writes.iter().any(Write::needs_fsync);
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            match self.stage_one(lookup, write) {
                Ok(outcome) => outcomes.push(outcome),
                Err(err) => {
                    self.open.aborted = true;
                    self.open.outcomes.push(outcomes);
                    return Err(err);
                }
            }
        }
        self.open.outcomes.push(outcomes);
        Ok(())
    }

    /// Ends the open round: what to persist, and the copies that may leave before it is
    /// durable. Hand it back with its result to [`Ledger::handle_round_committed`] before
    /// staging the next round.
    pub fn close_round(&mut self) -> RoundPlan {
        let mut plan = std::mem::take(&mut self.open);
        if self.next_seq != self.persisted_seq {
            plan.next_seq = Some(self.next_seq);
        }
        // A failed store takes no more custody, so it passes nothing on early; a round whose
        // staging failed is never persisted.
        plan.early_allowed = !plan.aborted && !self.store_failed;
        plan
    }

    /// The round is durable (`Ok`) or not (`Err`: nothing in it was taken, and the ledger
    /// forgets it, but not the sequence numbers it gave).
    pub fn handle_round_committed(
        &mut self,
        plan: RoundPlan,
        result: Result<(), NotCommitted>,
    ) -> RoundDone {
        match result {
            Ok(()) => {
                if let Some(next_seq) = plan.next_seq {
                    self.persisted_seq = next_seq;
                }
                plan.committed(&mut self.index)
            }
            Err(NotCommitted) => plan.failed(&mut self.index),
        }
    }

    /// The store has failed: it takes no more custody until the node restarts.
    pub fn handle_store_failed(&mut self) {
        self.store_failed = true;
    }

    /// Queued copies that expired at or before `now_ms`, soonest first, at most `limit`:
    /// each is to be given up with reason `Expired` ([`Write::GiveUp`]).
    pub fn sweep(&self, now_ms: i64, limit: usize) -> Vec<GiveUp> {
        self.index
            .expired(now_ms, limit)
            .into_iter()
            .map(|key| GiveUp {
                key,
                reason: NonDeliveryReason::Expired,
            })
            .collect()
    }

    /// Copies queued for `hop`.
    pub fn depth(&self, hop: &NodeId) -> usize {
        self.index.depth(hop)
    }

    /// Copies queued per next hop and class (by rank).
    pub fn depths(&self) -> impl Iterator<Item = (&NodeId, index::ClassDepths)> {
        self.index.depths()
    }

    /// The next sequence number to give.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn stage_one<L: Lookup>(&mut self, lookup: &L, write: Write) -> Result<WriteOutcome, L::Error> {
        let round = &mut self.open;
        Ok(match write {
            Write::Accept(custody) => return self.stage_accept(lookup, custody, false),
            Write::Hold(custody) => return self.stage_accept(lookup, custody, true),
            Write::Quarantine { from, message } => {
                let (moved, to) = match from {
                    Place::Queued(key) => {
                        let hop = key.next_hop();
                        (
                            self.dequeue(key) == WriteOutcome::Removed,
                            HeldFor::Hop(hop),
                        )
                    }
                    Place::Inbox(seq) => {
                        let round = &mut self.open;
                        let there = round.acked.insert(seq) && lookup.in_inbox(seq)?;
                        if there {
                            round.changes.push(Change::AckInbox(seq));
                        }
                        (there, HeldFor::Inbox)
                    }
                };
                if !moved {
                    return Ok(WriteOutcome::Missing);
                }
                self.hold(to, message);
                WriteOutcome::Stored
            }
            Write::Release { id, to, message } => {
                if !self.unhold(lookup, id)? {
                    return Ok(WriteOutcome::Missing);
                }
                // Back where it was going, as a new copy: durable before it leaves (it is
                // treated as originated here, so it is never passed on before the fsync).
                let hop = match to {
                    HeldFor::Inbox => Hop::Local,
                    HeldFor::Hop(hop) => Hop::Next(hop),
                };
                let recipients = message.recipients.clone();
                self.stage_copy(hop, recipients, message, true);
                WriteOutcome::Removed
            }
            Write::Reroute { key, to, message } => {
                if self.dequeue(key) != WriteOutcome::Removed {
                    return Ok(WriteOutcome::Missing);
                }
                // As a release: treated as originated here, so that it never leaves before
                // the round that moved it is durable.
                let recipients = message.recipients.clone();
                self.stage_copy(Hop::Next(to), recipients, message, true);
                WriteOutcome::Removed
            }
            Write::DropHeld(id) => {
                if self.unhold(lookup, id)? {
                    WriteOutcome::Removed
                } else {
                    WriteOutcome::Missing
                }
            }
            Write::QuarantineRule(rule) => {
                round.changes.push(Change::Rule(rule));
                WriteOutcome::Stored
            }
            Write::Refused { message, reason } => {
                let held = refusal_excused_if_held(reason)
                    && (round.seen.contains_key(&message) || lookup.seen(&message)?);
                if held {
                    WriteOutcome::Duplicate
                } else {
                    WriteOutcome::Refused
                }
            }
            Write::Forget(key) => self.dequeue(key),
            Write::GiveUp { key, report } => {
                let outcome = self.dequeue(key);
                if let (WriteOutcome::Removed, Some(report)) = (outcome, report) {
                    self.stage_accept(lookup, *report, false)?;
                }
                outcome
            }
            Write::AckInbox(seq) => {
                if !round.acked.insert(seq) || !lookup.in_inbox(seq)? {
                    WriteOutcome::Missing
                } else {
                    round.changes.push(Change::AckInbox(seq));
                    WriteOutcome::Removed
                }
            }
            Write::Note { id, value } => {
                round.changes.push(Change::Note { id, value });
                WriteOutcome::Stored
            }
            Write::Reference { key, value } => {
                round.changes.push(Change::Reference { key, value });
                WriteOutcome::Stored
            }
            Write::Review { id, value } => {
                round.changes.push(Change::Review { id, value });
                WriteOutcome::Stored
            }
            Write::Notice { notice_ref, value } => {
                round.changes.push(Change::Notice { notice_ref, value });
                WriteOutcome::Stored
            }
            Write::Identity { node, value } => {
                round.changes.push(Change::Identity { node, value });
                WriteOutcome::Stored
            }
            Write::Unreview(id) => {
                if !round.unreviewed.insert(id) || !lookup.in_review(&id)? {
                    WriteOutcome::Missing
                } else {
                    round.changes.push(Change::Unreview(id));
                    WriteOutcome::Removed
                }
            }
        })
    }

    /// Drops a queued copy. The index mirrors the queue: a key it does not hold is not queued.
    fn dequeue(&mut self, key: QueueKey) -> WriteOutcome {
        match self.index.remove(&key) {
            Some(expires_at_ms) => {
                self.open.forget(key, expires_at_ms);
                WriteOutcome::Removed
            }
            None => WriteOutcome::Missing,
        }
    }

    /// Puts `message` in quarantine under a new sequence number.
    fn hold(&mut self, to: HeldFor, message: StoredMessage) {
        let id = self.next_seq;
        self.next_seq += 1;
        self.open.changes.push(Change::Hold { id, to, message });
    }

    /// Removes held copy `id`; whether it was held.
    fn unhold<L: Lookup>(&mut self, lookup: &L, id: u64) -> Result<bool, L::Error> {
        if !self.open.unheld.insert(id) || !lookup.in_quarantine(id)? {
            return Ok(false);
        }
        self.open.changes.push(Change::Unhold(id));
        Ok(true)
    }

    /// Takes custody of a new message (`Accept`), or holds every copy of it (`Hold`).
    fn stage_accept<L: Lookup>(
        &mut self,
        lookup: &L,
        custody: Custody,
        held: bool,
    ) -> Result<WriteOutcome, L::Error> {
        let Custody {
            message: record,
            mut copies,
            report,
            provenance,
        } = custody;
        if self.open.seen.contains_key(&record.message) || lookup.seen(&record.message)? {
            return Ok(WriteOutcome::Duplicate);
        }
        self.open
            .seen
            .insert(record.message.clone(), record.expires_at_ms);
        if held {
            for (hop, recipients) in copies {
                let to = match hop {
                    Hop::Local => HeldFor::Inbox,
                    Hop::Next(next) => HeldFor::Hop(next),
                };
                let message = StoredMessage {
                    recipients,
                    ..record.clone()
                };
                self.hold(to, message);
            }
            return Ok(WriteOutcome::Stored);
        }
        let originated = provenance == Provenance::Originated;
        // Most messages have one copy: the last copy takes the record itself, the others a
        // clone. Copies are numbered in hop order.
        let last = copies.pop_last();
        for (hop, recipients) in copies {
            self.stage_copy(hop, recipients, record.clone(), originated);
        }
        if let Some((hop, recipients)) = last {
            self.stage_copy(hop, recipients, record, originated);
        }
        if let Some(report) = report {
            self.stage_accept(lookup, *report, false)?;
        }
        Ok(WriteOutcome::Stored)
    }

    fn stage_copy(
        &mut self,
        hop: Hop,
        recipients: Vec<NodeId>,
        record: StoredMessage,
        originated: bool,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        match hop {
            Hop::Local => self.open.inbox.push((
                seq,
                StoredMessage {
                    recipients: Vec::new(),
                    ..record
                },
            )),
            Hop::Next(next) => {
                let copy = StoredMessage {
                    recipients,
                    ..record
                };
                self.open.queue(next, seq, copy, originated);
            }
        }
    }
}
