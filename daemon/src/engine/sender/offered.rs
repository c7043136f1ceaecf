//! The bookkeeping of one precedence class of a link, without IO: which queued copies it has
//! offered its peer and not yet had answered, where its next queue read starts, and which
//! copies it must not offer again. Copies come from two sources, queue reads (in arrival
//! order, from a cursor) and the store's hand-off (new copies, at once; see
//! `Store::hand_off`), and both may return the same copy. Copies are named by their sequence
//! number in the queue: the next hop and the class are the same for all of them.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use bluehelm_proto::MessageRef;

use super::QueuedCopy;

/// Most copies remembered as answered but perhaps still queued: beyond it, a copy may be
/// offered twice, and the peer acknowledges it as a duplicate. (Given-up copies are always
/// remembered: offering one again would report its non-delivery twice. They are rare.)
pub(super) const ANSWERED_MAX: usize = 4096;

#[derive(Debug)]
pub(super) struct Offered {
    in_flight: HashMap<MessageRef, u64>,
    /// Copies the peer accepted (or this node gave up on) that a queue read may still return:
    /// their `Forget` may not have reached the store yet, and a read may still cover them.
    answered: HashSet<u64>,
    /// Where the next queue read starts (after this sequence number).
    cursor: Option<u64>,
    /// The highest sequence number any queue read returned (a refusal rewinds `cursor`, not
    /// this).
    read_up_to: Option<u64>,
    /// Whether the queue may hold copies the reads have not returned yet. Until the first
    /// read says otherwise, it may.
    backlog: bool,
    /// While a queue read is outstanding: where it started.
    reading: Option<Option<u64>>,
    /// Where refusals to retry that came while a read was outstanding rewound the cursor to:
    /// applied again once the read's result is in, as if the read had finished first.
    rewound: Option<Option<u64>>,
}

impl Default for Offered {
    fn default() -> Self {
        Self {
            in_flight: HashMap::new(),
            answered: HashSet::new(),
            cursor: None,
            read_up_to: None,
            backlog: true,
            reading: None,
            rewound: None,
        }
    }
}

impl Offered {
    /// Copies offered and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    #[cfg(test)]
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    pub fn backlog(&self) -> bool {
        self.backlog
    }

    /// Whether a queue read is outstanding.
    pub fn reading(&self) -> bool {
        self.reading.is_some()
    }

    /// A queue read starts: returns where (after which sequence number). Its result goes to
    /// [`Offered::read`].
    pub fn begin_read(&mut self) -> Option<u64> {
        self.reading = Some(self.cursor);
        self.cursor
    }

    /// Of the copies the store handed off, those to offer now (at most `room`). With a
    /// backlog, none: the queue reads keep arrival order and will return them.
    pub fn handed_off<C: QueuedCopy>(&mut self, mut fresh: Vec<C>, room: usize) -> Vec<C> {
        if self.backlog {
            return Vec::new();
        }
        // Those a queue read returned already are the read's to offer: they may have been
        // answered and forgotten since.
        fresh.retain(|q| self.unread(q.seq()));
        fresh.truncate(room);
        self.offer(fresh)
    }

    /// Of a queue read's copies (in sequence order), those to offer now. `backlog`: the read
    /// stopped at its bound, so the queue may hold more.
    pub fn read<C: QueuedCopy>(&mut self, batch: Vec<C>, backlog: bool) -> Vec<C> {
        let after = self.reading.take().unwrap_or(self.cursor);
        self.backlog = backlog;
        // The read returned every copy still queued from `after` up to its last one (to the
        // end if it did not stop at its bound): answered copies in that range that it did
        // not return have been forgotten. Sequence numbers are never reused.
        let covered = if backlog {
            batch.last().map(|q| q.seq())
        } else {
            Some(u64::MAX)
        };
        if !self.answered.is_empty() {
            let returned = |seq: u64| batch.binary_search_by_key(&seq, |q| q.seq()).is_ok();
            self.answered.retain(|&seq| {
                let in_range = after.is_none_or(|a| seq > a) && covered.is_some_and(|c| seq <= c);
                !in_range || returned(seq)
            });
        }
        if let Some(last) = batch.last() {
            self.cursor = Some(last.seq());
            self.read_up_to = self.read_up_to.max(self.cursor);
        }
        let offers = match self.rewound.take() {
            // A refusal to retry came while this read was out: its copies wait for their
            // turn, after the refused copy, when the pause ends (offered now, they would
            // overtake it, and a refused copy the read returned would go out at once).
            Some(to) => {
                self.cursor = self.cursor.min(to);
                self.backlog = true;
                Vec::new()
            }
            None => self.offer(batch),
        };
        self.forget_out_of_reach();
        offers
    }

    /// The peer took custody of these: the sequence numbers of the copies to forget, and
    /// which of `refs` they are (the others were not in flight).
    pub fn accepted(&mut self, refs: &[MessageRef]) -> (Vec<u64>, Vec<MessageRef>) {
        let mut matched = Vec::with_capacity(refs.len());
        let seqs: Vec<u64> = refs
            .iter()
            .filter_map(|r| {
                let seq = self.in_flight.remove(r)?;
                matched.push(r.clone());
                Some(seq)
            })
            .collect();
        if !seqs.is_empty() {
            let reach = self.reach();
            for &seq in &seqs {
                if within(reach, seq) && self.answered.len() < ANSWERED_MAX {
                    self.answered.insert(seq);
                }
            }
        }
        (seqs, matched)
    }

    /// The peer refused this copy. If it is to be offered again later, the next read starts
    /// at it; if not (this node gives up on it), it is remembered like an accepted copy
    /// until its `Forget` has surely reached the store. Returns its sequence number, or
    /// `None` if it was not in flight.
    pub fn refused(&mut self, message: &MessageRef, retry: bool) -> Option<u64> {
        let seq = self.in_flight.remove(message)?;
        if retry {
            // The queue holds a copy the reads must return again, in its turn.
            self.backlog = true;
            let before = seq.checked_sub(1);
            self.cursor = match (self.cursor, before) {
                (Some(c), Some(b)) => Some(c.min(b)),
                _ => None,
            };
            if self.reading.is_some() {
                self.rewound = Some(self.rewound.map_or(before, |r| r.min(before)));
            }
        } else if within(self.reach(), seq) {
            self.answered.insert(seq);
        }
        Some(seq)
    }

    fn unread(&self, seq: u64) -> bool {
        self.read_up_to.is_none_or(|seen| seq > seen)
    }

    /// The lowest point any later queue read can start after (`None`: the start of the
    /// queue). Reads start at the cursor, or at the read outstanding; a refusal to retry
    /// rewinds the cursor to just before a copy in flight, and copies offered later come
    /// from beyond a read's start. So a copy at or below this is never returned again.
    fn reach(&self) -> Option<u64> {
        let lowest_in_flight = self.in_flight.values().min().map(|s| s.checked_sub(1));
        let mut reach = self.cursor;
        for candidate in [self.reading, self.rewound, lowest_in_flight]
            .into_iter()
            .flatten()
        {
            reach = reach.min(candidate);
        }
        reach
    }

    /// Drops answered copies no later read can return.
    fn forget_out_of_reach(&mut self) {
        if self.answered.is_empty() {
            return;
        }
        let reach = self.reach();
        self.answered.retain(|&seq| within(reach, seq));
    }

    /// Marks copies in flight, skipping those in flight or answered already.
    fn offer<C: QueuedCopy>(&mut self, batch: Vec<C>) -> Vec<C> {
        let mut out = Vec::with_capacity(batch.len());
        for queued in batch {
            let message = queued.message();
            if self.in_flight.contains_key(message) || self.answered.contains(&queued.seq()) {
                continue;
            }
            self.in_flight.insert(message.clone(), queued.seq());
            out.push(queued);
        }
        out
    }
}

/// Whether a read starting after `reach` can return copy `seq`.
fn within(reach: Option<u64>, seq: u64) -> bool {
    reach.is_none_or(|r| seq > r)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{copy, refs, seqs, TestCopy};
    use super::*;

    /// A class that has read its queue to the end (copies 1 and 2, both answered).
    fn caught_up() -> Offered {
        let mut offered = Offered::default();
        let read = offered.read(vec![copy(1), copy(2)], false);
        assert_eq!(offered.accepted(&refs(&read)).0.len(), 2);
        offered
    }

    #[test]
    fn a_handed_off_copy_answered_before_its_forget_is_not_offered_again_by_a_read() {
        let mut offered = caught_up();
        let fresh = offered.handed_off(vec![copy(3), copy(4)], 100);
        assert_eq!(seqs(&fresh), vec![3, 4]);
        assert_eq!(offered.accepted(&refs(&fresh[..1])).0.len(), 1);
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
        assert!(offered.read(Vec::<TestCopy>::new(), false).is_empty());
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
        let seq = offered.refused(read[1].message(), true).unwrap();
        assert_eq!(seq, 6);
        assert_eq!(offered.cursor(), Some(5));
        assert!(
            offered.handed_off(vec![copy(8)], 100).is_empty(),
            "newer copies wait until the refused one is read again"
        );
        // A refusal for good does not.
        offered.refused(read[2].message(), false).unwrap();
        assert_eq!(offered.cursor(), Some(5));
        assert!(offered.refused(read[2].message(), true).is_none());
        // A handed-off copy beyond the reads leaves the cursor where it is.
        assert!(offered.read(vec![copy(6)], false).len() == 1);
        let fresh = offered.handed_off(vec![copy(8)], 100);
        offered.refused(fresh[0].message(), true).unwrap();
        assert_eq!(offered.cursor(), Some(6));
    }

    #[test]
    fn what_is_remembered_as_answered_is_bounded() {
        let mut offered = caught_up();
        let fresh: Vec<TestCopy> = (3..3 + ANSWERED_MAX as u64 + 10).map(copy).collect();
        let fresh = offered.handed_off(fresh, usize::MAX);
        offered.accepted(&refs(&fresh));
        assert_eq!(offered.answered.len(), ANSWERED_MAX);
    }

    #[test]
    fn a_refusal_while_a_read_is_outstanding_still_rewinds_the_reads() {
        let mut offered = Offered::default();
        let read = offered.read(vec![copy(1), copy(2)], true);
        assert_eq!(offered.begin_read(), Some(2));
        // The refusal of 1 comes before the result of the read of 3 and 4.
        offered.refused(read[0].message(), true).unwrap();
        let more = offered.read(vec![copy(3), copy(4)], false);
        assert!(
            more.is_empty(),
            "3 and 4 wait for their turn, after 1: {more:?}"
        );
        assert_eq!(offered.cursor(), Some(0), "the next read starts at 1 again");
        assert!(offered.backlog());
    }

    #[test]
    fn a_copy_answered_while_a_read_that_covers_it_is_outstanding_is_not_offered_again() {
        let mut offered = caught_up();
        let fresh = offered.handed_off(vec![copy(3)], 100);
        assert_eq!(offered.begin_read(), Some(2));
        // The read was served before 3's `Forget`; its answer arrives first.
        offered.accepted(&refs(&fresh));
        assert!(offered.read(vec![copy(3)], false).is_empty());
    }
}
