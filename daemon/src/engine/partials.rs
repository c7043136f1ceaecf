//! Large copies in parts (issue 15, item 6): what a receiver keeps of copies it got only
//! part of, so that after a link drop the sender sends only the rest, and where a sender
//! starts again.
//!
//! What is kept is a cache, never custody: a copy counts only once it is whole, its digest
//! matches and it verifies like any Transfer (docs/protocol.md 7.6). Parts are kept in
//! memory, bounded per peer and in total, and dropped after [`KEEP_FOR`] and when the node
//! restarts: a restart costs a resend from zero, never a wrong or a lost message.

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use bluehelm_proto::limits::MAX_HELD_PARTS;
use bluehelm_proto::{HeldPart, MessageRef, NodeId, PartDigest, Precedence, TransferPart};

/// A copy whose encoded Transfer is longer than this goes in parts. 256 KiB takes about a
/// second on a 2 Mbit/s satellite link: below that, starting over costs little.
pub const PART_THRESHOLD: usize = 256 * 1024;
/// Bytes of a copy per part: a drop loses at most about this much of a transfer, and the
/// ~100 bytes a part repeats (reference, digest, lengths) cost under 0.2 %.
pub const PART_LEN: usize = 64 * 1024;
/// Parts kept are dropped this long after their copy last grew: a sender that has not come
/// back in a day may have given the copy up, or sent it another way.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// Bytes kept for one peer: two copies at the hard frame cap (16 MiB), eight at 4 MiB.
pub const PEER_BYTES: usize = 32 * 1024 * 1024;
/// Bytes kept for all peers together.
pub const TOTAL_BYTES: usize = 128 * 1024 * 1024;
/// Copies kept in all, whatever their size, so that the bookkeeping stays small.
pub const TOTAL_COPIES: usize = 8 * 1024;
/// How often expired copies are looked for: each part need not scan every copy.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How much a receiver keeps. The defaults are the constants above; tests shrink them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub peer_bytes: usize,
    pub total_bytes: usize,
    pub peer_copies: usize,
    pub total_copies: usize,
    pub keep_for: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            peer_bytes: PEER_BYTES,
            total_bytes: TOTAL_BYTES,
            peer_copies: MAX_HELD_PARTS,
            total_copies: TOTAL_COPIES,
            keep_for: KEEP_FOR,
        }
    }
}

/// What became of a part.
#[derive(Debug, PartialEq, Eq)]
pub enum PartOutcome {
    /// Kept (or already held); more parts are to come.
    Kept,
    /// The copy is whole: these are its bytes, to check against the digest and decode.
    Whole(Vec<u8>),
    /// Dropped: it does not follow what is held (earlier bytes were dropped, or there is no
    /// room). More parts are to come.
    Dropped,
    /// The last part of a copy whose earlier bytes are not all held: the receiver answers
    /// the copy with a temporary refusal, and the sender sends it again from the start.
    Incomplete,
}

/// A part no honest sender sends: the link closes with a protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartError {
    /// The whole copy would be larger than the frame cap: it could not be sent as one frame.
    #[error("a copy of {total} bytes sent in parts is larger than the frame cap of {max}")]
    TooLarge { total: u32, max: usize },
    /// Parts of one copy (same message, same digest) disagree on its length.
    #[error("parts of one copy of {message} say {was} and then {now} bytes in all")]
    LengthChanged {
        message: MessageRef,
        was: u32,
        now: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    peer: NodeId,
    message: MessageRef,
}

#[derive(Debug)]
struct Copy {
    digest: PartDigest,
    class: Precedence,
    total: u32,
    /// Bytes `0..bytes.len()` of the copy; its capacity is `total`, reserved at the first
    /// part and counted against the bounds from then on.
    bytes: Vec<u8>,
    touched: Instant,
}

/// The parts a receiver holds, from all its peers.
#[derive(Debug)]
pub struct Partials {
    bounds: Bounds,
    copies: HashMap<Key, Copy>,
    /// Sum of `total` over the copies, per peer and in all.
    peer_bytes: HashMap<NodeId, usize>,
    total_bytes: usize,
    last_sweep: Option<Instant>,
}

impl Default for Partials {
    fn default() -> Self {
        Self::new(Bounds::default())
    }
}

impl Partials {
    pub fn new(bounds: Bounds) -> Self {
        Partials {
            bounds,
            copies: HashMap::new(),
            peer_bytes: HashMap::new(),
            total_bytes: 0,
            last_sweep: None,
        }
    }

    /// Bytes reserved for the copies held, in all.
    pub fn bytes(&self) -> usize {
        self.total_bytes
    }

    /// Copies held, in all.
    pub fn copies(&self) -> usize {
        self.copies.len()
    }

    /// Takes a part `peer` sent on its `class` stream. `max_total` is this node's frame cap.
    pub fn add(
        &mut self,
        now: Instant,
        peer: &NodeId,
        class: Precedence,
        part: TransferPart,
        max_total: usize,
    ) -> Result<PartOutcome, PartError> {
        self.sweep(now);
        let total = part.total_len;
        if !usize::try_from(total).is_ok_and(|t| t <= max_total) {
            return Err(PartError::TooLarge {
                total,
                max: max_total,
            });
        }
        let key = Key {
            peer: peer.clone(),
            message: part.message,
        };
        // A different copy of the same message (another digest) never mixes with the old
        // one: the old one goes.
        if let Some(held) = self.copies.get(&key) {
            if held.digest != part.digest {
                self.remove(&key);
            } else if held.total != total {
                return Err(PartError::LengthChanged {
                    message: key.message,
                    was: held.total,
                    now: total,
                });
            }
        }
        let offset = part.offset as usize;
        let end = offset + part.data.len();
        let last = end == total as usize;
        let have = self.copies.get(&key).map_or(0, |c| c.bytes.len());
        if offset > have {
            // A gap: what came before was dropped here. The rest cannot help.
            if last {
                self.remove(&key);
                return Ok(PartOutcome::Incomplete);
            }
            return Ok(PartOutcome::Dropped);
        }
        if !self.copies.contains_key(&key) {
            if !self.make_room(&key, total as usize) {
                return Ok(if last {
                    PartOutcome::Incomplete
                } else {
                    PartOutcome::Dropped
                });
            }
            self.insert(
                key.clone(),
                Copy {
                    digest: part.digest,
                    class,
                    total,
                    bytes: Vec::with_capacity(total as usize),
                    touched: now,
                },
            );
        }
        let copy = self
            .copies
            .get_mut(&key)
            .expect("present: found or inserted just above");
        copy.touched = now;
        // Bytes already held are not taken again: an overlap adds only what is new.
        if end > have {
            copy.bytes.extend_from_slice(&part.data[have - offset..]);
        }
        if copy.bytes.len() < total as usize {
            return Ok(PartOutcome::Kept);
        }
        let whole = self.remove(&key).map(|c| c.bytes).unwrap_or_default();
        Ok(PartOutcome::Whole(whole))
    }

    /// What is held of copies `peer` began on its `class` stream: the first answer on each
    /// new offer stream.
    pub fn held(&mut self, now: Instant, peer: &NodeId, class: Precedence) -> Vec<HeldPart> {
        self.sweep(now);
        let mut held: Vec<(Instant, HeldPart)> = self
            .copies
            .iter()
            .filter(|(key, copy)| {
                key.peer == *peer && copy.class == class && !copy.bytes.is_empty()
            })
            .map(|(key, copy)| {
                let part = HeldPart {
                    message: key.message.clone(),
                    digest: copy.digest,
                    held_len: u32::try_from(copy.bytes.len()).unwrap_or(u32::MAX),
                };
                (copy.touched, part)
            })
            .collect();
        held.sort_by_key(|(touched, _)| std::cmp::Reverse(*touched));
        held.truncate(MAX_HELD_PARTS);
        held.into_iter().map(|(_, part)| part).collect()
    }

    /// Makes room for a new copy of `total` bytes for `key.peer`: drops that peer's
    /// least recently grown copies, then anyone's. False when it cannot fit at all.
    fn make_room(&mut self, key: &Key, total: usize) -> bool {
        let b = self.bounds;
        if total > b.peer_bytes || total > b.total_bytes {
            return false;
        }
        loop {
            let peer_bytes = self.peer_bytes.get(&key.peer).copied().unwrap_or(0);
            let peer_copies = self.copies.keys().filter(|k| k.peer == key.peer).count();
            let over_peer = peer_bytes + total > b.peer_bytes || peer_copies + 1 > b.peer_copies;
            let over_all =
                self.total_bytes + total > b.total_bytes || self.copies.len() + 1 > b.total_copies;
            if !over_peer && !over_all {
                return true;
            }
            let victim = self
                .copies
                .iter()
                .filter(|(k, _)| !over_peer || k.peer == key.peer)
                .min_by_key(|(_, c)| c.touched)
                .map(|(k, _)| k.clone());
            match victim {
                Some(victim) => {
                    self.remove(&victim);
                }
                None => return false,
            }
        }
    }

    fn insert(&mut self, key: Key, copy: Copy) {
        let total = copy.total as usize;
        *self.peer_bytes.entry(key.peer.clone()).or_default() += total;
        self.total_bytes += total;
        self.copies.insert(key, copy);
    }

    fn remove(&mut self, key: &Key) -> Option<Copy> {
        let copy = self.copies.remove(key)?;
        let total = copy.total as usize;
        self.total_bytes -= total;
        if let Some(bytes) = self.peer_bytes.get_mut(&key.peer) {
            *bytes -= total;
            if *bytes == 0 {
                self.peer_bytes.remove(&key.peer);
            }
        }
        Some(copy)
    }

    /// Drops copies that have not grown for `keep_for`, at most once a [`SWEEP_EVERY`].
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|last| now.saturating_duration_since(last) < SWEEP_EVERY)
        {
            return;
        }
        self.last_sweep = Some(now);
        let keep_for = self.bounds.keep_for;
        let stale: Vec<Key> = self
            .copies
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.touched) >= keep_for)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.remove(&key);
        }
    }
}

/// Where a sender starts a copy of `total` bytes with `digest`: after the bytes the
/// receiver said it holds of that very copy, else at 0. A receiver that holds all of it
/// (it cannot: it would have taken it) or names another digest gets the whole.
pub fn resume_from(
    held: &[HeldPart],
    message: &MessageRef,
    digest: &PartDigest,
    total: usize,
) -> usize {
    held.iter()
        .find(|h| h.message == *message && h.digest == *digest)
        .map(|h| h.held_len as usize)
        .filter(|&have| have < total)
        .unwrap_or(0)
}

/// The byte ranges of the parts of a copy of `total` bytes, from `start`.
pub fn part_ranges(start: usize, total: usize) -> impl Iterator<Item = Range<usize>> {
    (start..total)
        .step_by(PART_LEN)
        .map(move |from| from..(from + PART_LEN).min(total))
}

#[cfg(test)]
mod tests;
