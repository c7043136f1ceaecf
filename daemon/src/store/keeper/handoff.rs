//! Copies handed straight from the store thread to the link that sends them, so that a link
//! that has caught up with its queue offers a new copy without waiting for a read through the
//! store thread (and, for a copy relayed from a neighbour, without waiting for its fsync: the
//! ledger decides which, `RoundPlan::prepare`). The queue holds every copy too, and the link
//! still reads it after each take; a hand-off only saves time. These buffers belong to the
//! thread that drives the ledger and the store (`keeper.rs`), not to the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bluehelm_proto::{NodeId, Precedence};
use tokio::sync::Notify;

use crate::store::{QueueKey, Queued};

/// Most copies, and bytes of them, held per next hop and precedence class: what a link that
/// takes none (its peer is slow, or a higher class holds it back) costs in memory.
pub(in crate::store) const HELD_MAX: usize = 64;
pub(in crate::store) const HELD_BYTES: usize = 256 * 1024;

/// Copies waiting for their links, per next hop and class whose send loop is running.
#[derive(Default)]
pub(in crate::store) struct HandOffs {
    held: Mutex<HashMap<(NodeId, Precedence), Held>>,
}

#[derive(Default)]
struct Held {
    /// In sequence order, and always a prefix of what was queued for the hop and class since
    /// the link last took: once full, nothing more is added until it takes them.
    copies: Vec<Queued>,
    bytes: usize,
    full: bool,
    /// Send loops registered for this hop and class (two links to one peer may overlap).
    links: usize,
    /// Wakes a registered send loop when copies arrive.
    arrived: Arc<Notify>,
}

impl HandOffs {
    fn lock(&self) -> MutexGuard<'_, HashMap<(NodeId, Precedence), Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds `copies` (in sequence order) for the links that take them, and takes back
    /// `forgotten` copies, which are no longer queued.
    pub(in crate::store) fn put(&self, copies: Vec<(NodeId, Queued)>, forgotten: &[QueueKey]) {
        if copies.is_empty() && forgotten.is_empty() {
            return;
        }
        let mut held = self.lock();
        if held.is_empty() {
            return;
        }
        for key in forgotten {
            let Some(precedence) = key.precedence() else {
                continue;
            };
            if let Some(h) = held.get_mut(&(key.next_hop(), precedence)) {
                if let Some(at) = h.copies.iter().position(|q| &q.key == key) {
                    let gone = h.copies.remove(at);
                    h.bytes -= gone.message.signed.len();
                }
            }
        }
        for (hop, queued) in copies {
            let Some(h) = held.get_mut(&(hop, queued.message.precedence)) else {
                continue;
            };
            let size = queued.message.signed.len();
            if h.full || h.copies.len() >= HELD_MAX || h.bytes + size > HELD_BYTES {
                // The queue read finds this one and those after it.
                h.full = true;
                continue;
            }
            h.bytes += size;
            h.copies.push(queued);
            h.arrived.notify_one();
        }
    }

    fn take(&self, hop: &NodeId, precedence: Precedence) -> Vec<Queued> {
        let mut held = self.lock();
        let Some(h) = held.get_mut(&(hop.clone(), precedence)) else {
            return Vec::new();
        };
        h.bytes = 0;
        h.full = false;
        std::mem::take(&mut h.copies)
    }
}

/// A send loop's registration for the copies of one next hop and class (see
/// [`crate::store::Store::hand_off`]). Dropping it ends the hand-off when no other loop holds
/// one, and frees what was held.
pub struct HandOff {
    offs: Arc<HandOffs>,
    hop: NodeId,
    precedence: Precedence,
    arrived: Arc<Notify>,
}

impl HandOff {
    pub(in crate::store) fn register(
        offs: Arc<HandOffs>,
        hop: NodeId,
        precedence: Precedence,
    ) -> Self {
        let arrived = {
            let mut held = offs.lock();
            let h = held.entry((hop.clone(), precedence)).or_default();
            h.links += 1;
            h.arrived.clone()
        };
        Self {
            offs,
            hop,
            precedence,
            arrived,
        }
    }

    /// Resolves when copies have arrived since the last time it resolved (perhaps taken
    /// already).
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// The copies queued since the last call, in sequence order: the first copies queued
    /// since then, or all of them. Each is handed to one taker once; the queue keeps them
    /// until they are forgotten.
    pub fn take(&self) -> Vec<Queued> {
        self.offs.take(&self.hop, self.precedence)
    }
}

impl Drop for HandOff {
    fn drop(&mut self) {
        let mut held = self.offs.lock();
        let key = (self.hop.clone(), self.precedence);
        if let Some(h) = held.get_mut(&key) {
            h.links = h.links.saturating_sub(1);
            if h.links == 0 {
                held.remove(&key);
            }
        }
    }
}
