//! Copies decided but not yet committed, per next hop, over every link's batches: a queue
//! quota counts them with what the store holds. Without it, each of several batches decided
//! while the others were being written saw the same depth, and a queue could pass its quota
//! by a few batches per link (issue 15, item 8: a slow consumer).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bluehelm_proto::NodeId;

/// Copies per next hop in batches decided and not yet committed.
#[derive(Debug, Default, Clone)]
pub struct InFlight(Arc<Mutex<HashMap<NodeId, usize>>>);

impl InFlight {
    /// Copies for `hop` in other batches now.
    pub fn get(&self, hop: &NodeId) -> usize {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(hop).copied().unwrap_or(0)
    }

    /// Counts `staged` as in flight until the returned guard is dropped (the batch's commit
    /// ended, or the batch was dropped with its link).
    pub fn hold(&self, staged: HashMap<NodeId, usize>) -> InFlightGuard {
        if !staged.is_empty() {
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            for (hop, n) in &staged {
                *map.entry(hop.clone()).or_insert(0) += n;
            }
        }
        InFlightGuard {
            in_flight: self.clone(),
            staged,
        }
    }
}

/// A batch's copies, counted in flight while it lives.
#[derive(Debug)]
pub struct InFlightGuard {
    in_flight: InFlight,
    staged: HashMap<NodeId, usize>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let mut map = self
            .in_flight
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (hop, n) in &self.staged {
            if let Some(count) = map.get_mut(hop) {
                *count = count.saturating_sub(*n);
                if *count == 0 {
                    map.remove(hop);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_counts_while_its_guard_lives() {
        let in_flight = InFlight::default();
        let hop: NodeId = "gs".parse().unwrap();
        let a = in_flight.hold(HashMap::from([(hop.clone(), 128)]));
        let b = in_flight.hold(HashMap::from([(hop.clone(), 5)]));
        assert_eq!(in_flight.get(&hop), 133);
        drop(a);
        assert_eq!(in_flight.get(&hop), 5);
        drop(b);
        assert_eq!(in_flight.get(&hop), 0);
    }
}
