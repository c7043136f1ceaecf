//! One commit round: what the ledger staged, what the store is to persist, which copies may
//! leave before the round is durable, and what the round's result means for its callers and
//! for the links.

use foldhash::{HashMap, HashSet};

use bluehelm_proto::{MessageId, MessageRef, NodeId, Precedence};

use super::index::QueueIndex;
use super::{QueueKey, Queued, StoredMessage, WriteOutcome};
use crate::engine::quarantine::{HeldFor, Rule};

/// A change to persist other than taking custody of copies and dropping them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Remove the inbox message with this sequence number.
    AckInbox(u64),
    Note {
        id: MessageId,
        value: Vec<u8>,
    },
    Reference {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Review {
        id: MessageId,
        value: Vec<u8>,
    },
    Unreview(MessageId),
    Notice {
        notice_ref: String,
        value: Vec<u8>,
    },
    Identity {
        node: NodeId,
        value: Vec<u8>,
    },
    /// Put a copy in quarantine under `id` (a sequence number), with where it was going.
    Hold {
        id: u64,
        to: HeldFor,
        message: StoredMessage,
    },
    /// Remove held copy `id` (released or dropped).
    Unhold(u64),
    /// Keep a quarantine rule.
    Rule(Rule),
}

/// The round was not made durable: nothing in it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotCommitted;

/// One round, from staging to its result. See [`super::Ledger::close_round`].
#[derive(Debug, Default)]
pub struct RoundPlan {
    /// Per staged call, its writes' outcomes if the round commits.
    pub(super) outcomes: Vec<Vec<WriteOutcome>>,
    /// Dedup entries to put: message and expiry time.
    pub(super) seen: HashMap<MessageRef, i64>,
    /// New queued copies, in sequence order, with their next hop (after `prepare`, only the
    /// ones that wait for the round to be durable).
    pub(super) copies: Vec<(NodeId, Queued)>,
    /// New inbox messages and their sequence numbers.
    pub(super) inbox: Vec<(u64, StoredMessage)>,
    /// Queued copies dropped, and (same index) their expiry times, to put back in the index
    /// if the round fails.
    pub(super) forgotten: Vec<QueueKey>,
    pub(super) forgotten_expiry: Vec<i64>,
    pub(super) changes: Vec<Change>,
    /// The next sequence number, if it moved since the store last held it.
    pub(super) next_seq: Option<u64>,
    /// Next hops and classes that get a copy this node originates.
    pub(super) originated: Vec<(NodeId, Precedence)>,
    /// Next hops that get copies.
    pub(super) woken: Vec<NodeId>,
    /// Inbox entries and review entries this round removes (a second removal is `Missing`).
    pub(super) acked: HashSet<u64>,
    pub(super) unreviewed: HashSet<MessageId>,
    /// Held copies this round releases or drops (a second removal is `Missing`).
    pub(super) unheld: HashSet<u64>,
    pub(super) needs_fsync: bool,
    /// A lookup failed while staging: the round is never persisted.
    pub(super) aborted: bool,
    /// Copies may leave before the round is durable.
    pub(super) early_allowed: bool,
    /// Copies that left early (key and expiry time), taken back if the round fails.
    pub(super) early: Option<Vec<(QueueKey, i64)>>,
}

/// What a round writes, for the store to encode (see [`RoundPlan::prepare`]).
pub struct RoundWrites<'a>(&'a mut RoundPlan);

impl RoundWrites<'_> {
    /// Dedup entries to put (new: none existed), with the message's expiry time.
    pub fn seen(&self) -> impl Iterator<Item = (&MessageRef, i64)> {
        self.0.seen.iter().map(|(message, at)| (message, *at))
    }

    /// Copies to queue (new keys).
    pub fn queued(&self) -> impl Iterator<Item = &Queued> {
        self.0.copies.iter().map(|(_, queued)| queued)
    }

    /// Messages to put in the inbox (new sequence numbers).
    pub fn inbox(&self) -> &[(u64, StoredMessage)] {
        &self.0.inbox
    }

    /// Queued copies to remove.
    pub fn dequeued(&self) -> &[QueueKey] {
        &self.0.forgotten
    }

    /// The other changes, in the order they were staged. They leave the plan (their values
    /// need not be copied to be encoded).
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.0.changes)
    }

    /// The next sequence number to record, if it moved.
    pub fn next_seq(&self) -> Option<u64> {
        self.0.next_seq
    }
}

impl RoundPlan {
    /// Whether the round must be fsynced before it is reported done.
    pub fn needs_fsync(&self) -> bool {
        self.needs_fsync
    }

    /// The first half of persisting: `encode` sees everything the round writes; then the
    /// copies that may go to their links before the round is durable leave the plan
    /// (cut-through), in sequence order. `None` when nothing may leave early.
    ///
    /// A copy of a message relayed from a neighbour may: custody is not acknowledged to the
    /// previous hop until the round is durable, so if the round is lost the previous hop
    /// offers the message again, and the next hop, which may hold it already, acknowledges it
    /// as a duplicate. A copy this node originates may not (nobody else holds it), nor any
    /// copy for a next hop and class that also get one originated here in this round (a link
    /// takes copies in sequence order, so they wait together), nor anything once the store
    /// has failed (it takes no more custody, so it must not pass anything on).
    pub fn prepare<T>(
        &mut self,
        encode: impl FnOnce(RoundWrites<'_>) -> T,
    ) -> (T, Option<Vec<(NodeId, Queued)>>) {
        let encoded = encode(RoundWrites(self));
        if !self.early_allowed || self.early.is_some() {
            return (encoded, None);
        }
        let originated = &self.originated;
        let (early, late): (Vec<_>, Vec<_>) = std::mem::take(&mut self.copies)
            .into_iter()
            .partition(|(hop, queued)| {
                !originated
                    .iter()
                    .any(|(h, p)| h == hop && *p == queued.message.precedence)
            });
        self.copies = late;
        self.early = Some(
            early
                .iter()
                .map(|(_, q)| (q.key.clone(), q.message.expires_at_ms))
                .collect(),
        );
        (encoded, Some(early))
    }

    /// Copies this round drops: whoever holds them for a link gives them back.
    pub fn forgotten(&self) -> &[QueueKey] {
        &self.forgotten
    }

    pub(super) fn forget(&mut self, key: QueueKey, expires_at_ms: i64) {
        self.forgotten.push(key);
        self.forgotten_expiry.push(expires_at_ms);
    }

    pub(super) fn queue(&mut self, next: NodeId, seq: u64, copy: StoredMessage, originated: bool) {
        let key = QueueKey::new(&next, copy.precedence, seq);
        if !self.woken.contains(&next) {
            self.woken.push(next.clone());
        }
        if originated
            && !self
                .originated
                .iter()
                .any(|(h, p)| *h == next && *p == copy.precedence)
        {
            self.originated.push((next.clone(), copy.precedence));
        }
        self.copies.push((next, Queued { key, message: copy }));
    }

    /// The round is durable: index its copies, and say what to hand off and whom to wake.
    pub(super) fn committed(self, index: &mut QueueIndex) -> RoundDone {
        let take_back = match self.early {
            Some(early) => {
                for (key, expires_at_ms) in early {
                    index.insert(key, expires_at_ms);
                }
                // Given back with the early copies already.
                Vec::new()
            }
            None => self.forgotten,
        };
        for (_, queued) in &self.copies {
            index.insert(queued.key.clone(), queued.message.expires_at_ms);
        }
        RoundDone {
            outcomes: Ok(self.outcomes),
            hand_off: self.copies,
            take_back,
            woken: self.woken,
            inbox: !self.inbox.is_empty(),
        }
    }

    /// The round is lost: what it dropped is queued again, and the copies that left early
    /// are taken back. Its sequence numbers stay used.
    pub(super) fn failed(self, index: &mut QueueIndex) -> RoundDone {
        for (key, expires_at_ms) in self.forgotten.into_iter().zip(self.forgotten_expiry) {
            index.insert(key, expires_at_ms);
        }
        RoundDone {
            outcomes: Err(NotCommitted),
            hand_off: Vec::new(),
            take_back: self
                .early
                .unwrap_or_default()
                .into_iter()
                .map(|(key, _)| key)
                .collect(),
            woken: Vec::new(),
            inbox: false,
        }
    }
}

/// What a round's result means.
#[derive(Debug)]
pub struct RoundDone {
    /// Per staged call, in order, its writes' outcomes; or the round was not committed and
    /// none of them was taken.
    pub outcomes: Result<Vec<Vec<WriteOutcome>>, NotCommitted>,
    /// Copies to hand to their links now, in sequence order.
    pub hand_off: Vec<(NodeId, Queued)>,
    /// Copies to take back from the links that have not taken them yet: no longer queued,
    /// or never durable.
    pub take_back: Vec<QueueKey>,
    /// Next hops that got copies.
    pub woken: Vec<NodeId>,
    /// Whether the inbox got messages.
    pub inbox: bool,
}
