//! In-memory indexes over the queued copies, rebuilt from the store when the node starts:
//! when each copy expires, and how many copies wait per next hop. Keeping them out of the
//! store saves two writes per message per hop; they are derived data, so nothing durable is
//! lost.

use std::collections::{BTreeSet, HashMap};

use bluehelm_proto::NodeId;

use super::QueueKey;

/// Copies queued for one next hop, per precedence, indexed by `Precedence::rank` (FLASH
/// first): what an operator's `queue list` shows without reading the queue.
pub type ClassDepths = [usize; 4];

#[derive(Debug, Default)]
pub struct QueueIndex {
    by_time: BTreeSet<(i64, QueueKey)>,
    expires: HashMap<QueueKey, i64>,
    /// Copies queued per next hop and precedence (by rank). A node has few neighbours: a
    /// short list found by the key's bytes costs no allocation per copy, which a map keyed by
    /// `NodeId` would.
    depths: Vec<(NodeId, ClassDepths)>,
}

impl QueueIndex {
    pub fn insert(&mut self, key: QueueKey, expires_at_ms: i64) {
        if self.expires.insert(key.clone(), expires_at_ms).is_none() {
            if let Some(depth) = self.depth_of(&key) {
                *depth += 1;
            }
        }
        self.by_time.insert((expires_at_ms, key));
    }

    /// Removes a copy; its expiry time, or `None` if it was not queued.
    pub fn remove(&mut self, key: &QueueKey) -> Option<i64> {
        let expires_at_ms = self.expires.remove(key)?;
        // Borrowed keys cannot be looked up in a set of tuples: take the entry out by value.
        let entry = (expires_at_ms, key.clone());
        self.by_time.remove(&entry);
        if let Some(depth) = self.depth_of(key) {
            *depth = depth.saturating_sub(1);
        }
        Some(expires_at_ms)
    }

    /// Up to `limit` copies that expired at or before `now_ms`, soonest first.
    pub fn expired(&self, now_ms: i64, limit: usize) -> Vec<QueueKey> {
        self.by_time
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .map(|(_, key)| key.clone())
            .collect()
    }

    /// Copies queued for `hop`.
    pub fn depth(&self, hop: &NodeId) -> usize {
        self.depths
            .iter()
            .find(|(h, _)| h == hop)
            .map_or(0, |(_, d)| d.iter().sum())
    }

    /// Copies queued per next hop (hops that had copies once may show zero).
    pub fn depths(&self) -> impl Iterator<Item = (&NodeId, usize)> {
        self.depths
            .iter()
            .map(|(hop, depth)| (hop, depth.iter().sum()))
    }

    /// Copies queued per next hop and precedence (hops that had copies once may show zeros).
    pub fn class_depths(&self) -> impl Iterator<Item = (&NodeId, ClassDepths)> {
        self.depths.iter().map(|(hop, depth)| (hop, *depth))
    }

    /// The counter of `key`'s hop and class; `None` for a key without a valid precedence,
    /// which the store never writes.
    fn depth_of(&mut self, key: &QueueKey) -> Option<&mut usize> {
        let rank = usize::from(key.precedence()?.rank());
        let hop = key.hop_bytes();
        let at = match self
            .depths
            .iter()
            .position(|(h, _)| h.as_str().as_bytes() == hop)
        {
            Some(at) => at,
            None => {
                self.depths.push((key.next_hop(), [0; 4]));
                self.depths.len() - 1
            }
        };
        self.depths[at].1.get_mut(rank)
    }
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
        assert_eq!(
            index.class_depths().collect::<Vec<_>>(),
            vec![(&hop, [1, 0, 0, 1])]
        );
        assert_eq!(index.expired(99, 10), Vec::<QueueKey>::new());
        assert_eq!(index.expired(500, 10), vec![b.clone(), a.clone()]);
        assert_eq!(index.remove(&b), Some(100));
        assert_eq!(index.remove(&b), None);
        assert_eq!(index.expired(1_000, 10), vec![a]);
        assert_eq!(index.depth(&hop), 1);
    }
}
