//! In-memory indexes over the queued copies, rebuilt from the store when the node starts:
//! when each copy expires, and how many copies wait per next hop. Keeping them out of the
//! store saves two writes per message per hop; they are derived data, so nothing durable is
//! lost.

use std::collections::{BTreeMap, BTreeSet};

use bluehelm_proto::{NodeId, Precedence};

use super::QueueKey;

/// Copies queued for one next hop, per precedence class by rank.
pub type ClassDepths = [usize; 4];

/// A queued copy as the index names it, in 64 bits: the next hop by its place in
/// `QueueIndex::hops` (16 bits), the class's rank (2) and the sequence number (46). Where a
/// [`QueueKey`] is a heap buffer, and a slot of separate fields 16 bytes, this makes an entry
/// of either map 16 bytes: a hub holding a million copies for an offline post keeps two
/// entries per copy (issue 15, the drain's memory target). Sequence numbers count the copies a
/// node ever queued: 2^46 lasts 89 years at 25,000 a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Slot(u64);

const SEQ_BITS: u32 = 46;
const RANK_BITS: u32 = 2;
/// Next hops a node can ever have had copies for: its neighbours, far fewer.
const MAX_HOPS: usize = 1 << (64 - SEQ_BITS - RANK_BITS);

impl Slot {
    /// `None` past the bounds: no copy this node queued has such a slot.
    fn new(hop: usize, rank: u8, seq: u64) -> Option<Self> {
        (hop < MAX_HOPS && seq < 1 << SEQ_BITS && rank < 1 << RANK_BITS).then(|| {
            Self((hop as u64) << (SEQ_BITS + RANK_BITS) | u64::from(rank) << SEQ_BITS | seq)
        })
    }

    fn hop(self) -> usize {
        (self.0 >> (SEQ_BITS + RANK_BITS)) as usize
    }

    fn rank(self) -> u8 {
        (self.0 >> SEQ_BITS) as u8 & ((1 << RANK_BITS) - 1)
    }

    fn seq(self) -> u64 {
        self.0 & ((1 << SEQ_BITS) - 1)
    }
}

#[derive(Debug, Default)]
pub struct QueueIndex {
    by_time: BTreeSet<(i64, Slot)>,
    /// A B-tree rather than a hash map: copies come in sequence order, so its nodes fill
    /// (about 24 bytes a copy), and it never doubles its table at once as a hash map does
    /// (which would hold both tables, 50 MB, at the drain's peak).
    expires: BTreeMap<Slot, i64>,
    /// Every next hop that had a copy, with the copies queued for it per class by rank (the
    /// metrics show both, issue 15). A node has few neighbours: a short list found by the
    /// key's bytes costs no allocation per copy, which a map keyed by `NodeId` would.
    hops: Vec<(NodeId, ClassDepths)>,
}

impl QueueIndex {
    pub fn insert(&mut self, key: QueueKey, expires_at_ms: i64) {
        let slot = self.slot_of(&key);
        match self.expires.insert(slot, expires_at_ms) {
            None => self.hops[slot.hop()].1[usize::from(slot.rank())] += 1,
            Some(before) => {
                self.by_time.remove(&(before, slot));
            }
        }
        self.by_time.insert((expires_at_ms, slot));
    }

    /// Removes a copy; its expiry time, or `None` if it was not queued.
    pub fn remove(&mut self, key: &QueueKey) -> Option<i64> {
        let slot = self.find(key)?;
        let expires_at_ms = self.expires.remove(&slot)?;
        self.by_time.remove(&(expires_at_ms, slot));
        let depth = &mut self.hops[slot.hop()].1[usize::from(slot.rank())];
        *depth = depth.saturating_sub(1);
        Some(expires_at_ms)
    }

    /// Up to `limit` copies that expired at or before `now_ms`, soonest first.
    pub fn expired(&self, now_ms: i64, limit: usize) -> Vec<QueueKey> {
        self.by_time
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .map(|(_, slot)| self.key_of(*slot))
            .collect()
    }

    /// Copies queued for `hop`.
    pub fn depth(&self, hop: &NodeId) -> usize {
        self.hops
            .iter()
            .find(|(h, _)| h == hop)
            .map_or(0, |(_, d)| d.iter().sum())
    }

    /// Copies queued per next hop and class (hops that had copies once may show zero).
    pub fn depths(&self) -> impl Iterator<Item = (&NodeId, ClassDepths)> {
        self.hops.iter().map(|(hop, depth)| (hop, *depth))
    }

    /// The slot of `key`, its next hop added to `hops` if it is new.
    fn slot_of(&mut self, key: &QueueKey) -> Slot {
        let hop = match self.hop_of(key) {
            Some(hop) => hop,
            None => {
                self.hops.push((key.next_hop(), [0; 4]));
                self.hops.len() - 1
            }
        };
        // This node numbers the copies it queues from 1 (2^46 lasts 89 years at 25,000 a
        // second), and its next hops are its neighbours, certified by the network's CA.
        Slot::new(hop, rank_of(key), key.seq()).expect("fewer than 2^16 next hops and 2^46 copies")
    }

    /// The slot of `key` if its next hop ever had a copy.
    fn find(&self, key: &QueueKey) -> Option<Slot> {
        Slot::new(self.hop_of(key)?, rank_of(key), key.seq())
    }

    fn hop_of(&self, key: &QueueKey) -> Option<usize> {
        let hop = key.hop_bytes();
        self.hops
            .iter()
            .position(|(h, _)| h.as_str().as_bytes() == hop)
    }

    fn key_of(&self, slot: Slot) -> QueueKey {
        let precedence = Precedence::from_rank(slot.rank()).unwrap_or(Precedence::Routine);
        QueueKey::new(&self.hops[slot.hop()].0, precedence, slot.seq())
    }
}

/// A key's class rank, 0 to 3: a key always carries a valid one (`QueueKey::new` takes a
/// `Precedence`).
fn rank_of(key: &QueueKey) -> u8 {
    key.precedence().map_or(3, |p| p.rank())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluehelm_proto::Precedence;

    #[test]
    fn tracks_expiry_and_depth() {
        let hop: NodeId = "gs".parse().unwrap();
        let mut index = QueueIndex::default();
        let a = QueueKey::new(&hop, Precedence::Routine, 1);
        let b = QueueKey::new(&hop, Precedence::Flash, 2);
        index.insert(a.clone(), 500);
        index.insert(b.clone(), 100);
        assert_eq!(index.depth(&hop), 2);
        assert_eq!(index.depths().next(), Some((&hop, [1, 0, 0, 1])));
        assert_eq!(index.expired(99, 10), Vec::<QueueKey>::new());
        assert_eq!(index.expired(500, 10), vec![b.clone(), a.clone()]);
        assert_eq!(index.remove(&b), Some(100));
        assert_eq!(index.remove(&b), None);
        assert_eq!(index.expired(1_000, 10), vec![a]);
        assert_eq!(index.depth(&hop), 1);
    }

    #[test]
    fn keys_of_several_hops_come_back_whole_and_unknown_ones_are_not_found() {
        let gs: NodeId = "gs".parse().unwrap();
        let post: NodeId = "mission.unmiss".parse().unwrap();
        let mut index = QueueIndex::default();
        let a = QueueKey::new(&gs, Precedence::Immediate, 7);
        let b = QueueKey::new(&post, Precedence::Priority, 7);
        index.insert(a.clone(), 10);
        index.insert(b.clone(), 20);
        index.insert(b.clone(), 20);
        assert_eq!(index.depth(&post), 1, "the same copy twice counts once");
        assert_eq!(index.expired(20, 10), vec![a.clone(), b.clone()]);
        let stranger: NodeId = "ncb.zz".parse().unwrap();
        assert_eq!(
            index.remove(&QueueKey::new(&stranger, Precedence::Flash, 7)),
            None
        );
        assert_eq!(
            index.remove(&QueueKey::new(&gs, Precedence::Flash, 7)),
            None
        );
        assert_eq!(index.remove(&a), Some(10));
        assert_eq!(index.depth(&gs), 0);
        assert_eq!(index.expired(i64::MAX, 10), vec![b]);
    }

    #[test]
    fn a_copy_indexed_again_with_another_expiry_expires_only_at_the_new_one() {
        let gs: NodeId = "gs".parse().unwrap();
        let mut index = QueueIndex::default();
        let a = QueueKey::new(&gs, Precedence::Routine, 3);
        index.insert(a.clone(), 20);
        index.insert(a.clone(), 30);
        assert_eq!(index.depth(&gs), 1);
        assert_eq!(index.expired(25, 10), Vec::<QueueKey>::new());
        assert_eq!(index.expired(30, 10), vec![a.clone()]);
        assert_eq!(index.remove(&a), Some(30));
        assert_eq!(index.expired(i64::MAX, 10), Vec::<QueueKey>::new());
    }

    #[test]
    fn a_slot_keeps_hop_rank_and_sequence_apart_up_to_its_bounds() {
        let last_seq = (1 << SEQ_BITS) - 1;
        for (hop, rank, seq) in [(0, 0, 0), (MAX_HOPS - 1, 3, last_seq), (1, 2, 1 << 40)] {
            let slot = Slot::new(hop, rank, seq).unwrap();
            assert_eq!((slot.hop(), slot.rank(), slot.seq()), (hop, rank, seq));
        }
        assert_eq!(Slot::new(MAX_HOPS, 0, 1), None);
        assert_eq!(Slot::new(0, 0, last_seq + 1), None);
        assert_eq!(Slot::new(0, 4, 1), None);
        // A key no copy can have is simply not queued.
        let gs: NodeId = "gs".parse().unwrap();
        let mut index = QueueIndex::default();
        index.insert(QueueKey::new(&gs, Precedence::Routine, last_seq), 5);
        assert_eq!(
            index.remove(&QueueKey::new(&gs, Precedence::Routine, u64::MAX)),
            None
        );
        assert_eq!(
            index.remove(&QueueKey::new(&gs, Precedence::Routine, last_seq)),
            Some(5)
        );
    }
}
