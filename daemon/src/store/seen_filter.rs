//! An in-memory prefilter in front of the dedup lookup (issue 16, item 2): a Bloom filter
//! of every dedup key the store holds. Nearly every message a relay is offered is new, and
//! without it each one cost a miss in sled (the overlay's two maps, then sled's tree): 3 %
//! of a `throughput` run's CPU in `Kv::contains_key` on the store threads.
//!
//! It may say "perhaps held" of a key that is not (a false positive: the store then asks
//! sled, as before); it never says "surely new" of a key the store holds. That rests on two
//! rules:
//! - every dedup key the store writes is inserted before the write ([`SeenFilter::insert`]);
//! - the keys already in the store when it opened are read into it in steps
//!   ([`SeenFilter::fill_from`]; loose entries and the ids of checkpoints' parts alike), and
//!   until the last step it answers "perhaps" to
//!   everything. A key written while it fills is inserted by the first rule, whichever side
//!   of the fill's position it falls on.
//!
//! Removals (the purge of expired entries) leave their bits set: only more false
//! positives. When a full purge pass finds the filter more than half set, it is emptied and
//! filled again from what the store holds then.

use std::hash::BuildHasher;

use foldhash::quality::RandomState;

/// Blocks of 512 bits (a cache line each) in the filter: 4 MiB of memory. With [`PROBES`]
/// probes a key, all in one block, about 0.05 % false positives at a million dedup entries,
/// 3 % at four million, and still a saving at ten.
const BLOCKS_LOG2: u32 = 16;
/// 64-bit words per block: 512 bits, one cache line.
const BLOCK_WORDS: usize = 8;
/// Bits set and tested per key.
const PROBES: u32 = 4;
/// Share of set bits above which a filter is emptied and filled again (false positives
/// near 6 %).
const REFILL_ABOVE: f64 = 0.5;

/// Where the filling stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fill {
    /// Keys from the store are still being read in; the next step starts at this key.
    From(Vec<u8>),
    /// Every key the store held when filling began is in; every one written since too.
    Complete,
    /// Filling failed (the store could not be read): the filter answers "perhaps" to
    /// everything, and dedup works as without it.
    Abandoned,
}

pub struct SeenFilter {
    words: Vec<u64>,
    fill: Fill,
    /// Keyed per process: an origin that chose message ids to collide could only cause
    /// false positives anyway, but need not be able to aim them. foldhash's quality variant
    /// (made for filters like this one) rather than SipHash, which cost more than the probes.
    hasher: RandomState,
}

impl SeenFilter {
    /// An empty filter that has yet to read the store's keys, starting at `first_key`
    /// (the dedup table's prefix).
    pub fn filling_from(first_key: Vec<u8>) -> Self {
        Self {
            words: vec![0; BLOCK_WORDS << BLOCKS_LOG2],
            fill: Fill::From(first_key),
            hasher: RandomState::default(),
        }
    }

    /// Notes a dedup key the store is about to write.
    pub fn insert(&mut self, key: &[u8]) {
        for bit in self.probes(key) {
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Whether the store surely does not hold `key`: only once filling is complete, and
    /// only when one of its bits is clear.
    pub fn surely_absent(&self, key: &[u8]) -> bool {
        self.fill == Fill::Complete
            && self
                .probes(key)
                .any(|bit| self.words[bit / 64] & (1 << (bit % 64)) == 0)
    }

    /// Where the next filling step starts, if filling is not complete.
    pub fn fill_position(&self) -> Option<&[u8]> {
        match &self.fill {
            Fill::From(key) => Some(key),
            Fill::Complete | Fill::Abandoned => None,
        }
    }

    /// Gives up filling: from now on every lookup goes to the store.
    pub fn abandon(&mut self) {
        self.fill = Fill::Abandoned;
    }

    /// One filling step: `keys` are the dedup keys of the store's next entries from
    /// [`Self::fill_position`] on, the last of which is stored under `last_read` (a part's
    /// key holds many: `seen_parts.rs`); `ended` says they reach the end of the table. The
    /// next step starts just after `last_read`.
    pub fn fill_from<K: AsRef<[u8]>>(
        &mut self,
        keys: impl IntoIterator<Item = K>,
        last_read: Option<&[u8]>,
        ended: bool,
    ) {
        for key in keys {
            self.insert(key.as_ref());
        }
        self.fill = match (ended, last_read) {
            (true, _) => Fill::Complete,
            (false, Some(key)) => Fill::From(just_after(key)),
            (false, None) => self.fill.clone(),
        };
    }

    /// After a full purge pass: a filter more than half set is emptied, to be filled again
    /// from `first_key` on. Says whether it was.
    pub fn refill_if_crowded(&mut self, first_key: Vec<u8>) -> bool {
        if self.fill != Fill::Complete || self.share_set() <= REFILL_ABOVE {
            return false;
        }
        self.words.fill(0);
        self.fill = Fill::From(first_key);
        true
    }

    fn share_set(&self) -> f64 {
        let set: u64 = self.words.iter().map(|w| u64::from(w.count_ones())).sum();
        set as f64 / (self.words.len() * 64) as f64
    }

    /// The key's bits, all in one block: a lookup costs one cache miss, not one a probe
    /// (with the probes spread over 4 MiB, the store thread spent longer waiting for memory
    /// than the sled lookup it saved). One 64-bit hash: 16 bits pick the block, 9 bits each
    /// probe's bit in it.
    fn probes(&self, key: &[u8]) -> impl Iterator<Item = usize> {
        let hash = self.hasher.hash_one(key);
        let block = (hash & ((1 << BLOCKS_LOG2) - 1)) as usize * BLOCK_WORDS * 64;
        (0..PROBES).map(move |i| block + ((hash >> (BLOCKS_LOG2 + 9 * i)) & 511) as usize)
    }
}

/// The smallest key after `key`.
fn just_after(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> Vec<u8> {
        let mut key = b"s\x06ncb.fr".to_vec();
        key.extend_from_slice(&n.to_be_bytes());
        key
    }

    fn filled(keys: &[Vec<u8>]) -> SeenFilter {
        let mut filter = SeenFilter::filling_from(b"s".to_vec());
        filter.fill_from(keys, None, true);
        filter
    }

    #[test]
    fn a_key_held_is_never_surely_absent() {
        let held: Vec<_> = (0..50_000).map(key).collect();
        let mut filter = filled(&held[..25_000]);
        for k in &held[25_000..] {
            filter.insert(k);
        }
        assert!(held.iter().all(|k| !filter.surely_absent(k)));
    }

    #[test]
    fn new_keys_are_nearly_all_surely_absent() {
        let held: Vec<_> = (0..100_000).map(key).collect();
        let filter = filled(&held);
        let false_positives = (100_000..200_000)
            .filter(|n| !filter.surely_absent(&key(*n)))
            .count();
        // 100,000 keys in 2^16 blocks of 512 bits, 4 probes: about 1 in 10^6 expected.
        assert!(false_positives < 10, "{false_positives} false positives");
    }

    #[test]
    fn until_filling_ends_nothing_is_surely_absent() {
        let mut filter = SeenFilter::filling_from(b"s".to_vec());
        assert!(!filter.surely_absent(&key(1)));
        filter.fill_from([key(1), key(2)], Some(&key(2)), false);
        assert_eq!(filter.fill_position(), Some(just_after(&key(2)).as_slice()));
        assert!(
            !filter.surely_absent(&key(3)),
            "the store may hold keys not read yet"
        );
        filter.fill_from(Vec::<Vec<u8>>::new(), None, false);
        assert_eq!(filter.fill_position(), Some(just_after(&key(2)).as_slice()));
        filter.fill_from([key(7)], Some(&key(7)), true);
        assert_eq!(filter.fill_position(), None);
        assert!(filter.surely_absent(&key(3)));
        assert!(!filter.surely_absent(&key(7)));
    }

    #[test]
    fn an_abandoned_filter_sends_every_lookup_to_the_store() {
        let mut filter = SeenFilter::filling_from(b"s".to_vec());
        filter.fill_from([key(1)], Some(&key(1)), false);
        filter.abandon();
        assert_eq!(filter.fill_position(), None, "no more filling steps");
        assert!(!filter.surely_absent(&key(3)));
        assert!(!filter.refill_if_crowded(b"s".to_vec()));
    }

    #[test]
    fn the_next_step_starts_after_the_last_key_read_and_before_any_longer_one() {
        let after = just_after(&key(5));
        assert!(after.as_slice() > key(5).as_slice());
        let mut longer = key(5);
        longer.push(0);
        assert!(after <= longer);
        assert!(after.as_slice() < key(6).as_slice());
    }

    #[test]
    fn a_crowded_filter_is_emptied_and_filled_again_and_a_sparse_one_kept() {
        let mut filter = filled(&(0..1_000).map(key).collect::<Vec<_>>());
        assert!(!filter.refill_if_crowded(b"s".to_vec()));
        assert!(filter.surely_absent(&key(5_000)));
        // Past half the bits set, as after millions of keys since purged.
        let half = filter.words.len() / 2 + 1;
        filter.words[..half].fill(u64::MAX);
        assert!(filter.refill_if_crowded(b"s".to_vec()));
        assert_eq!(filter.fill_position(), Some(b"s".as_slice()));
        assert!(
            !filter.surely_absent(&key(5_000)),
            "filling again: ask the store"
        );
        assert!(filter.words.iter().all(|w| *w == 0));
    }
}
