//! In-memory indexes over the queued copies, rebuilt from the store when the node starts:
//! when each copy expires, and how many copies wait per next hop. Keeping them out of the
//! store saves two writes per message per hop; they are derived data, so nothing durable is
//! lost.

use std::collections::{BTreeSet, HashMap};

use bluehelm_proto::{NodeId, Precedence};

use super::QueueKey;

/// Copies queued for one next hop, per precedence class by rank.
pub type ClassDepths = [usize; 4];

/// A queued copy as the index names it: the next hop by its place in `QueueIndex::hops`,
/// the class's rank and the sequence number. Sixteen bytes and no allocation, where a
/// [`QueueKey`] is a heap buffer: a hub holding a million copies for an offline post keeps
/// two entries per copy (issue 15, the drain's memory target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Slot {
    hop: u32,
    rank: u8,
    seq: u64,
}

#[derive(Debug, Default)]
pub struct QueueIndex {
    by_time: BTreeSet<(i64, Slot)>,
    expires: HashMap<Slot, i64>,
    /// Every next hop that had a copy, with the copies queued for it per class by rank (the
    /// metrics show both, issue 15). A node has few neighbours: a short list found by the
    /// key's bytes costs no allocation per copy, which a map keyed by `NodeId` would.
    hops: Vec<(NodeId, ClassDepths)>,
}

impl QueueIndex {
    pub fn insert(&mut self, key: QueueKey, expires_at_ms: i64) {
        let slot = self.slot_of(&key);
        if self.expires.insert(slot, expires_at_ms).is_none() {
            self.hops[slot.hop as usize].1[usize::from(slot.rank)] += 1;
        }
        self.by_time.insert((expires_at_ms, slot));
    }

    /// Removes a copy; its expiry time, or `None` if it was not queued.
    pub fn remove(&mut self, key: &QueueKey) -> Option<i64> {
        let slot = self.find(key)?;
        let expires_at_ms = self.expires.remove(&slot)?;
        self.by_time.remove(&(expires_at_ms, slot));
        let depth = &mut self.hops[slot.hop as usize].1[usize::from(slot.rank)];
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
                // A node links to at most `limits.max_peers` neighbours, far below u32::MAX.
                u32::try_from(self.hops.len() - 1).expect("fewer than 2^32 next hops")
            }
        };
        Slot {
            hop,
            rank: rank_of(key),
            seq: key.seq(),
        }
    }

    /// The slot of `key` if its next hop ever had a copy.
    fn find(&self, key: &QueueKey) -> Option<Slot> {
        Some(Slot {
            hop: self.hop_of(key)?,
            rank: rank_of(key),
            seq: key.seq(),
        })
    }

    fn hop_of(&self, key: &QueueKey) -> Option<u32> {
        let hop = key.hop_bytes();
        self.hops
            .iter()
            .position(|(h, _)| h.as_str().as_bytes() == hop)
            .and_then(|at| u32::try_from(at).ok())
    }

    fn key_of(&self, slot: Slot) -> QueueKey {
        let precedence = Precedence::from_rank(slot.rank).unwrap_or(Precedence::Routine);
        QueueKey::new(&self.hops[slot.hop as usize].0, precedence, slot.seq)
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
}
