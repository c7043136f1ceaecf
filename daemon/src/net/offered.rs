//! The bookkeeping of one send loop, without IO: which queued copies it has offered its peer
//! and not yet had answered, where its next queue read starts, and which copies it must not
//! offer again. Copies come from two sources, queue reads (in arrival order, from a cursor)
//! and the store's hand-off (new copies, at once; see `Store::hand_off`), and both may
//! return the same copy.

use std::collections::{HashMap, HashSet};

use bluehelm_proto::MessageRef;

use crate::store::{QueueKey, Queued};

/// Most copies remembered as answered but perhaps still queued: beyond it, a copy may be
/// offered twice, and the peer acknowledges it as a duplicate.
const ANSWERED_MAX: usize = 4096;

#[derive(Debug)]
pub struct Offered {
    in_flight: HashMap<MessageRef, QueueKey>,
    /// Handed-off copies the peer accepted that a queue read may still return: their
    /// `Forget` may not have reached the store yet, and the cursor has not passed them.
    answered: HashSet<QueueKey>,
    /// Where the next queue read starts (after this sequence number).
    cursor: Option<u64>,
    /// The highest sequence number any queue read returned (a refusal rewinds `cursor`, not
    /// this).
    read_up_to: Option<u64>,
    /// Whether the queue may hold copies the reads have not returned yet. Until the first
    /// read says otherwise, it may.
    backlog: bool,
}

impl Default for Offered {
    fn default() -> Self {
        Self {
            in_flight: HashMap::new(),
            answered: HashSet::new(),
            cursor: None,
            read_up_to: None,
            backlog: true,
        }
    }
}

impl Offered {
    /// Copies offered and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    pub fn backlog(&self) -> bool {
        self.backlog
    }

    /// Of the copies the store handed off, those to offer now (at most `room`). With a
    /// backlog, none: the queue reads keep arrival order and will return them.
    pub fn handed_off(&mut self, mut fresh: Vec<Queued>, room: usize) -> Vec<Queued> {
        if self.backlog {
            return Vec::new();
        }
        // Those a queue read returned already are the read's to offer: they may have been
        // answered and forgotten since.
        fresh.retain(|q| self.unread(&q.key));
        fresh.truncate(room);
        self.offer(fresh)
    }

    /// Of a queue read's copies, those to offer now. `backlog`: the read stopped at its
    /// bound, so the queue may hold more.
    pub fn read(&mut self, batch: Vec<Queued>, backlog: bool) -> Vec<Queued> {
        self.backlog = backlog;
        if let Some(last) = batch.last() {
            self.cursor = Some(last.key.seq());
            self.read_up_to = self.read_up_to.max(self.cursor);
        }
        let offers = self.offer(batch);
        if backlog {
            let read_up_to = self.read_up_to;
            self.answered
                .retain(|k| read_up_to.is_none_or(|seen| k.seq() > seen));
        } else {
            // The read returned every copy still queued after the cursor: those it did not
            // return have been forgotten.
            self.answered.clear();
        }
        offers
    }

    /// The peer took custody of these: the keys of the copies to forget.
    pub fn accepted(&mut self, refs: &[MessageRef]) -> Vec<QueueKey> {
        let keys: Vec<QueueKey> = refs
            .iter()
            .filter_map(|r| self.in_flight.remove(r))
            .collect();
        for key in &keys {
            if self.unread(key) && self.answered.len() < ANSWERED_MAX {
                self.answered.insert(key.clone());
            }
        }
        keys
    }

    /// The peer refused this copy; if it is to be offered again later, the next read starts
    /// at it. Returns its key, or `None` if it was not in flight.
    pub fn refused(&mut self, message: &MessageRef, retry: bool) -> Option<QueueKey> {
        let key = self.in_flight.remove(message)?;
        if retry {
            // The queue holds a copy the reads must return again, in its turn.
            self.backlog = true;
            let before = key.seq().checked_sub(1);
            self.cursor = match (self.cursor, before) {
                (Some(c), Some(b)) => Some(c.min(b)),
                _ => None,
            };
        }
        Some(key)
    }

    fn unread(&self, key: &QueueKey) -> bool {
        self.read_up_to.is_none_or(|seen| key.seq() > seen)
    }

    /// Marks copies in flight, skipping those in flight or answered already.
    fn offer(&mut self, batch: Vec<Queued>) -> Vec<Queued> {
        let mut out = Vec::with_capacity(batch.len());
        for queued in batch {
            let message = &queued.message.message;
            if self.in_flight.contains_key(message) || self.answered.contains(&queued.key) {
                continue;
            }
            self.in_flight.insert(message.clone(), queued.key.clone());
            out.push(queued);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use bluehelm_proto::{MessageId, NodeId, Precedence};

    use super::*;
    use crate::store::StoredMessage;

    fn copy(seq: u64) -> Queued {
        let hop: NodeId = "ncb.ke".parse().unwrap();
        let mut id = [0; 16];
        id[..8].copy_from_slice(&seq.to_be_bytes());
        Queued {
            key: QueueKey::new(&hop, Precedence::Routine, seq),
            message: StoredMessage {
                message: MessageRef {
                    origin: "ncb.fr".parse().unwrap(),
                    id: MessageId::from(id),
                },
                precedence: Precedence::Routine,
                expires_at_ms: 0,
                hops: 1,
                recipients: vec![],
                signed: vec![],
                accepted_at_ms: 0,
            },
        }
    }

    fn seqs(copies: &[Queued]) -> Vec<u64> {
        copies.iter().map(|q| q.key.seq()).collect()
    }

    fn refs(copies: &[Queued]) -> Vec<MessageRef> {
        copies.iter().map(|q| q.message.message.clone()).collect()
    }

    /// A loop that has read its queue to the end (copies 1 and 2, both answered).
    fn caught_up() -> Offered {
        let mut offered = Offered::default();
        let read = offered.read(vec![copy(1), copy(2)], false);
        assert_eq!(offered.accepted(&refs(&read)).len(), 2);
        offered
    }

    #[test]
    fn a_handed_off_copy_answered_before_its_forget_is_not_offered_again_by_a_read() {
        let mut offered = caught_up();
        let fresh = offered.handed_off(vec![copy(3), copy(4)], 100);
        assert_eq!(seqs(&fresh), vec![3, 4]);
        assert_eq!(offered.accepted(&refs(&fresh[..1])).len(), 1);
        // The read runs before copy 3's `Forget` reached the store.
        let read = offered.read(vec![copy(3), copy(4)], false);
        assert!(read.is_empty(), "3 was answered, 4 is in flight: {read:?}");
        assert_eq!(offered.cursor(), Some(4));
        assert_eq!(offered.in_flight(), 1);
    }

    #[test]
    fn a_read_to_the_end_forgets_what_was_answered() {
        let mut offered = caught_up();
        let fresh = offered.handed_off(vec![copy(3)], 100);
        offered.accepted(&refs(&fresh));
        // The `Forget` of 3 was applied first: the read finds nothing.
        assert!(offered.read(vec![], false).is_empty());
        assert!(offered.answered.is_empty());
        assert_eq!(offered.cursor(), Some(2));
    }

    #[test]
    fn with_a_backlog_the_hand_off_waits_for_the_reads() {
        let mut offered = Offered::default();
        assert!(
            offered.handed_off(vec![copy(1)], 100).is_empty(),
            "before the first read"
        );
        let read = offered.read(vec![copy(1), copy(2)], true);
        assert_eq!(seqs(&read), vec![1, 2]);
        assert!(offered.handed_off(vec![copy(9)], 100).is_empty());
        assert!(offered.backlog());
    }

    #[test]
    fn a_handed_off_copy_a_read_returned_already_is_left_to_the_read() {
        let mut offered = Offered::default();
        let read = offered.read(vec![copy(1)], false);
        offered.accepted(&refs(&read));
        // The store handed 1 off too; it has been answered and may be forgotten.
        let fresh = offered.handed_off(vec![copy(1), copy(2), copy(3)], 1);
        assert_eq!(seqs(&fresh), vec![2], "1 was read; room for one");
    }

    #[test]
    fn a_refusal_to_retry_rewinds_the_reads_to_the_refused_copy() {
        let mut offered = Offered::default();
        let read = offered.read(vec![copy(5), copy(6), copy(7)], false);
        assert_eq!(read.len(), 3);
        let key = offered.refused(&read[1].message.message, true).unwrap();
        assert_eq!(key.seq(), 6);
        assert_eq!(offered.cursor(), Some(5));
        assert!(
            offered.handed_off(vec![copy(8)], 100).is_empty(),
            "newer copies wait until the refused one is read again"
        );
        // A refusal for good does not.
        offered.refused(&read[2].message.message, false).unwrap();
        assert_eq!(offered.cursor(), Some(5));
        assert!(offered.refused(&read[2].message.message, true).is_none());
        // A handed-off copy beyond the reads leaves the cursor where it is.
        assert!(offered.read(vec![copy(6)], false).len() == 1);
        let fresh = offered.handed_off(vec![copy(8)], 100);
        offered.refused(&fresh[0].message.message, true).unwrap();
        assert_eq!(offered.cursor(), Some(6));
    }

    #[test]
    fn what_is_remembered_as_answered_is_bounded() {
        let mut offered = caught_up();
        let fresh: Vec<Queued> = (3..3 + ANSWERED_MAX as u64 + 10).map(copy).collect();
        let fresh = offered.handed_off(fresh, usize::MAX);
        offered.accepted(&refs(&fresh));
        assert_eq!(offered.answered.len(), ANSWERED_MAX);
    }
}
