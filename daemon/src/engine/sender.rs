//! The send side of one link as a state machine without IO: what to read from this node's
//! queue for the peer, what to offer, what to forget once the peer holds it, when to back
//! off, and when to give up on a copy. The link's task (`net/link/send.rs`) feeds it what
//! happened (`handle_*`) and carries out what it asks for ([`Sender::poll_action`]); time
//! comes in as an argument, and so does the randomness of the backoff. Its rules:
//!
//! - Per precedence class at most [`SEND_WINDOW`] copies are offered and unanswered, and a
//!   queue read returns at most [`READ_BATCH`] of them. At most one read per class is
//!   outstanding.
//! - A class offers nothing while a more urgent class is busy (has copies queued that the
//!   reads have not reached, or offered and unanswered): FLASH > IMMEDIATE > PRIORITY >
//!   ROUTINE. A queue that built up while the link was down drains FLASH first, and a FLASH
//!   copy queued during a ROUTINE drain stops the ROUTINE reads until it is answered.
//! - While urgent traffic flows on the link (a FLASH or IMMEDIATE offer within the last
//!   [`URGENT_QUIET`]), PRIORITY and ROUTINE keep at most [`BULK_WINDOW_NEAR_URGENT`] copies
//!   in flight instead of [`SEND_WINDOW`]: the next urgent copy then waits behind that much
//!   bulk work at the peer (its verification, its store's rounds), not a full window of it.
//! - Each time something happens to a class (copies queued or handed off, an answer, the end
//!   of a pause) it takes what the store handed off and then reads its queue from its
//!   cursor: handed-off copies are offered at once only when the class has read its queue to
//!   the end, so that nothing overtakes a copy still queued; a copy beyond the hand-off's
//!   bound is left to the read. A read that returned copies is followed by another.
//! - A short read means the queue is empty, unless it stopped at a bound (the pump says).
//! - Each copy is offered once while it is in flight or answered ([`offered`]).
//! - A temporary refusal pauses the class with exponential backoff ([`REFUSAL_BACKOFF`]) and
//!   rewinds its reads to the refused copy, which is offered again in its turn; refusals
//!   answered while the class is paused are the same round's and take no further step (each
//!   still waits that step's delay from its own refusal); an acceptance resets the backoff. A permanent refusal gives the copy up ([`Action::GiveUp`]) once.
//! - The peer may end the answer side of an idle offer stream; with offers unanswered on it
//!   that is a protocol violation ([`SendError`]) (docs/protocol.md 7.2).

mod offered;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bluehelm_proto::{MessageRef, NonDeliveryReason, Precedence, Refusal};

use super::backoff::Backoff;
use super::custody::{on_refusal, RefusalAction};
use offered::Offered;

/// Copies of one precedence class offered but not yet answered, per link. Bounds what a
/// silent peer costs us, and covers the bandwidth-delay product of two fsyncs.
pub const SEND_WINDOW: usize = 1024;
/// Copies a PRIORITY or ROUTINE class keeps in flight while urgent traffic flows on the link
/// (see the module documentation): one read, half a receive batch at the peer. With it,
/// `flash-under-backlog` FLASH p99 fell from a median 17.6 to 9.5 ms at the same drain rate
/// (5 pairs, docs/performance.md "The bulk window near urgent traffic").
pub const BULK_WINDOW_NEAR_URGENT: usize = 128;
/// How long after its last FLASH or IMMEDIATE offer a link counts as carrying urgent traffic.
pub const URGENT_QUIET: Duration = Duration::from_secs(1);
/// Most copies read from the store at a time: one read holds the store thread, and every
/// commit waits behind it (a FLASH one too).
pub const READ_BATCH: usize = 128;
/// Retry timing after a temporary refusal.
pub const REFUSAL_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    max: Duration::from_secs(60),
};

/// A copy queued for the peer, as the store returns it. The machine keeps only its sequence
/// number and message reference; the copy itself passes through to [`Action::Offer`].
pub trait QueuedCopy {
    /// Its sequence number in the queue: arrival order, never reused.
    fn seq(&self) -> u64;
    /// The message it is a copy of: answers name it.
    fn message(&self) -> &MessageRef;
}

/// What the link must do next, polled with [`Sender::poll_action`].
#[derive(Debug, PartialEq)]
pub enum Action<C> {
    /// Take the copies the store holds for this class (`HandOff::take`) and pass them,
    /// even none, to [`Sender::handle_handed_off`] before polling again.
    Take { class: Precedence },
    /// Read this class's queue: at most `limit` copies after sequence number `after` (from
    /// the start if `None`), in order. The result goes to [`Sender::handle_read`].
    Read {
        class: Precedence,
        after: Option<u64>,
        limit: usize,
    },
    /// Offer these copies, in this order, on the class's offer stream (opening one if it has
    /// none).
    Offer { class: Precedence, copies: Vec<C> },
    /// The peer holds these copies now: drop them from the queue.
    Forget { class: Precedence, seqs: Vec<u64> },
    /// The peer refused this copy for good: drop it and tell its origin why.
    GiveUp {
        class: Precedence,
        seq: u64,
        reason: NonDeliveryReason,
        detail: String,
    },
    /// The peer ended the class's answer stream with nothing unanswered: end ours too; the
    /// next offer opens a new stream (docs/protocol.md 7.2).
    CloseStream { class: Precedence },
}

/// Errors of the send side. Each is the peer's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The peer ended an answer stream while offers on it were unanswered: those answers
    /// would never come. The copies stay queued; the next link offers them again.
    #[error("the peer ended the {class} answer stream with {unanswered} offers unanswered")]
    AnswerStreamEnded {
        class: Precedence,
        unanswered: usize,
    },
}

/// The state of one class.
#[derive(Debug)]
struct Class {
    offered: Offered,
    /// No offers until then (a temporary refusal).
    paused_until: Option<Instant>,
    /// Temporary refusals since the last acceptance: the backoff's exponent.
    refusals: u32,
    /// Something happened since the class last took and read: it should do so again.
    wake: bool,
    /// An [`Action::Take`] is out, waiting for [`Sender::handle_handed_off`].
    taking: bool,
}

impl Default for Class {
    fn default() -> Self {
        Self {
            offered: Offered::default(),
            paused_until: None,
            refusals: 0,
            // A new link looks at every queue.
            wake: true,
            taking: false,
        }
    }
}

impl Class {
    /// Whether it holds back the less urgent classes.
    fn busy(&self) -> bool {
        self.offered.backlog() || self.offered.in_flight() > 0
    }
}

/// The send side of one link: all four precedence classes. `C` is the queued copy.
#[derive(Debug)]
pub struct Sender<C> {
    /// Indexed by rank: FLASH first.
    classes: [Class; 4],
    actions: VecDeque<Action<C>>,
    /// Until then the link carries urgent traffic: the bulk classes' window is smaller.
    urgent_until: Option<Instant>,
}

impl<C> Default for Sender<C> {
    fn default() -> Self {
        Self {
            classes: Default::default(),
            actions: VecDeque::new(),
            urgent_until: None,
        }
    }
}

/// Whether the class of this rank is FLASH or IMMEDIATE.
fn is_urgent(rank: usize) -> bool {
    rank < index(Precedence::Priority)
}

fn index(class: Precedence) -> usize {
    usize::from(class.rank())
}

impl<C: QueuedCopy> Sender<C> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next thing to do, most urgent class first; `None` until something happens.
    pub fn poll_action(&mut self) -> Option<Action<C>> {
        if let Some(action) = self.actions.pop_front() {
            return Some(action);
        }
        for (rank, &class) in Precedence::ALL.iter().enumerate() {
            if self.may_look(rank) {
                let state = &mut self.classes[rank];
                state.wake = false;
                state.taking = true;
                return Some(Action::Take { class });
            }
        }
        None
    }

    /// When [`Sender::handle_timeout`] is next due (the end of a pause, or of urgent
    /// traffic), if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.classes
            .iter()
            .filter_map(|c| c.paused_until)
            .chain(self.urgent_until)
            .min()
    }

    /// Time passed: pauses that ended let their classes offer again, and once urgent
    /// traffic has been quiet for [`URGENT_QUIET`] the bulk classes fill their whole window.
    pub fn handle_timeout(&mut self, now: Instant) {
        for class in &mut self.classes {
            if class.paused_until.is_some_and(|t| now >= t) {
                class.paused_until = None;
                class.wake = true;
            }
        }
        if self.urgent_until.is_some_and(|t| now >= t) {
            self.urgent_until = None;
            for class in &mut self.classes {
                class.wake = true;
            }
        }
    }

    /// The link wrote an [`Action::Offer`] of this class at `now`: a FLASH or IMMEDIATE one
    /// starts (or extends) a time of urgent traffic.
    pub fn handle_offered(&mut self, class: Precedence, now: Instant) {
        if is_urgent(index(class)) {
            let until = now + URGENT_QUIET;
            self.urgent_until = Some(self.urgent_until.map_or(until, |t| t.max(until)));
        }
    }

    /// How many copies the class of this rank may have in flight now.
    fn window(&self, rank: usize) -> usize {
        if self.urgent_until.is_some() && !is_urgent(rank) {
            BULK_WINDOW_NEAR_URGENT
        } else {
            SEND_WINDOW
        }
    }

    /// Copies were queued for the peer (in any class).
    pub fn handle_queue_changed(&mut self) {
        for class in &mut self.classes {
            class.wake = true;
        }
    }

    /// The store handed off copies of this class: a later [`Action::Take`] collects them.
    pub fn handle_hand_off_arrived(&mut self, class: Precedence) {
        self.classes[index(class)].wake = true;
    }

    /// The copies an [`Action::Take`] collected, in sequence order. Offers those it may offer
    /// at once, then reads the queue.
    pub fn handle_handed_off(&mut self, class: Precedence, copies: Vec<C>) {
        let window = self.window(index(class));
        let state = &mut self.classes[index(class)];
        if !std::mem::take(&mut state.taking) {
            // Not asked for: the queue holds them, and the reads return them.
            return;
        }
        // The window may have shrunk below what is in flight (urgent traffic began).
        let room = window.saturating_sub(state.offered.in_flight());
        let fresh = state.offered.handed_off(copies, room);
        if !fresh.is_empty() {
            self.actions.push_back(Action::Offer {
                class,
                copies: fresh,
            });
        }
        let room = window
            .saturating_sub(state.offered.in_flight())
            .min(READ_BATCH);
        if room == 0 {
            // A read of nothing stops at its bound: the queue may hold more.
            state.offered.read(Vec::<C>::new(), true);
            return;
        }
        let after = state.offered.begin_read();
        self.actions.push_back(Action::Read {
            class,
            after,
            limit: room,
        });
    }

    /// The result of this class's [`Action::Read`]: copies in sequence order, and whether
    /// the read stopped at a bound (its limit, or the store's byte bound) rather than at the
    /// end of the queue.
    pub fn handle_read(&mut self, class: Precedence, batch: Vec<C>, stopped_at_bound: bool) {
        let state = &mut self.classes[index(class)];
        if !state.offered.reading() {
            return;
        }
        let read_some = !batch.is_empty();
        let offers = state.offered.read(batch, stopped_at_bound);
        if read_some {
            // Read on: there may be more, and window room.
            state.wake = true;
        }
        if !offers.is_empty() {
            self.actions.push_back(Action::Offer {
                class,
                copies: offers,
            });
        }
    }

    /// The peer took custody of these messages (refs it was not offered are ignored).
    /// Returns the ones it was offered: custody has moved on to the peer.
    pub fn handle_accepted(&mut self, class: Precedence, refs: &[MessageRef]) -> Vec<MessageRef> {
        let state = &mut self.classes[index(class)];
        state.refusals = 0;
        state.wake = true;
        let (seqs, matched) = state.offered.accepted(refs);
        if !seqs.is_empty() {
            self.actions.push_back(Action::Forget { class, seqs });
        }
        matched
    }

    /// The peer refused a message. `jitter` in [0, 1) spreads the retries of many nodes
    /// apart. Returns what this node does about it, or `None` if the message was not in
    /// flight (the refusal is ignored).
    pub fn handle_refused(
        &mut self,
        now: Instant,
        class: Precedence,
        refusal: &Refusal,
        jitter: f64,
    ) -> Option<RefusalAction> {
        let state = &mut self.classes[index(class)];
        state.wake = true;
        let action = on_refusal(refusal.reason);
        let retry = matches!(action, RefusalAction::RetryLater);
        let seq = state.offered.refused(&refusal.message, retry)?;
        match action {
            // The refusals of one round of offers are one signal (a peer whose queue is
            // full refuses the whole batch): the first raises the exponent; the rest,
            // answered while its pause runs, wait as long from their own refusal at the
            // same step. One step per copy made a refused batch of 128 a 60 s stall.
            RefusalAction::RetryLater => {
                let paused = state.paused_until.filter(|until| now < *until);
                let step = match paused {
                    Some(_) => state.refusals.saturating_sub(1),
                    None => {
                        state.refusals = state.refusals.saturating_add(1);
                        state.refusals - 1
                    }
                };
                let until = now + REFUSAL_BACKOFF.delay(step, jitter);
                state.paused_until = Some(paused.map_or(until, |p| p.max(until)));
            }
            RefusalAction::GiveUp(reason) => self.actions.push_back(Action::GiveUp {
                class,
                seq,
                reason,
                detail: refusal.detail.clone(),
            }),
        }
        Some(action)
    }

    /// The peer ended the answer side of this class's offer stream.
    pub fn handle_stream_ended(&mut self, class: Precedence) -> Result<(), SendError> {
        let state = &mut self.classes[index(class)];
        let unanswered = state.offered.in_flight();
        if unanswered > 0 {
            return Err(SendError::AnswerStreamEnded { class, unanswered });
        }
        state.wake = true;
        self.actions.push_back(Action::CloseStream { class });
        Ok(())
    }

    /// Copies of this class offered and not yet answered.
    pub fn in_flight(&self, class: Precedence) -> usize {
        self.classes[index(class)].offered.in_flight()
    }

    /// Until when this class pauses after a temporary refusal, if it does.
    pub fn paused_until(&self, class: Precedence) -> Option<Instant> {
        self.classes[index(class)].paused_until
    }

    /// Whether this class holds back the less urgent ones: it may have copies queued that
    /// its reads have not reached, or has copies unanswered.
    pub fn busy(&self, class: Precedence) -> bool {
        self.classes[index(class)].busy()
    }

    /// Whether the class of this rank takes and reads now: something happened, nothing is
    /// outstanding, it is not paused, has window room, and no more urgent class is busy.
    fn may_look(&self, rank: usize) -> bool {
        let state = &self.classes[rank];
        state.wake
            && !state.taking
            && !state.offered.reading()
            && state.paused_until.is_none()
            && state.offered.in_flight() < self.window(rank)
            && !self.classes[..rank].iter().any(Class::busy)
    }
}
