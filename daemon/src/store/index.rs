//! In-memory indexes over the queued copies, rebuilt from disk when the store opens: when each
//! copy expires, and how many copies wait per next hop. Keeping them out of sled saves two
//! writes per message per hop; they are derived data, so nothing durable is lost.

use std::collections::{BTreeSet, HashMap};

use bluehelm_proto::NodeId;

use super::keys::QueueKey;

#[derive(Debug, Default)]
pub struct QueueIndex {
    by_time: BTreeSet<(i64, QueueKey)>,
    expires: HashMap<QueueKey, i64>,
    depths: HashMap<NodeId, usize>,
}

impl QueueIndex {
    pub fn insert(&mut self, key: QueueKey, expires_at_ms: i64) {
        if self.expires.insert(key.clone(), expires_at_ms).is_none() {
            *self.depths.entry(key.next_hop()).or_default() += 1;
        }
        self.by_time.insert((expires_at_ms, key));
    }

    /// Removes a copy; false if it was not queued.
    pub fn remove(&mut self, key: &QueueKey) -> bool {
        let Some(expires_at_ms) = self.expires.remove(key) else {
            return false;
        };
        self.by_time.remove(&(expires_at_ms, key.clone()));
        let hop = key.next_hop();
        if let Some(depth) = self.depths.get_mut(&hop) {
            *depth = depth.saturating_sub(1);
        }
        true
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

    pub fn depths(&self) -> &HashMap<NodeId, usize> {
        &self.depths
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
        assert_eq!(index.depths()[&hop], 2);
        assert_eq!(index.expired(99, 10), Vec::<QueueKey>::new());
        assert_eq!(index.expired(500, 10), vec![b.clone(), a.clone()]);
        assert!(index.remove(&b));
        assert!(!index.remove(&b));
        assert_eq!(index.expired(1_000, 10), vec![a]);
        assert_eq!(index.depths()[&hop], 1);
    }
}
