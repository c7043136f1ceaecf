//! The dedup table as sled holds it: a checkpoint packs the dedup entries it moves into
//! parts, one sled value per origin and quarter second of message ids (at most
//! [`MAX_PART_IDS`] ids each), instead of one sled key per message.
//!
//! Why: sled inserting one small key per message was nearly all of a hub's checkpoint
//! thread (`insert_inner` 61 %, `split_node` 29 % of it; `perf`, docs/performance.md), a
//! quarter of the hub's CPU. A busy origin's quarter second is now one sled write where it
//! was hundreds (an origin that sends rarely still costs one write per message).
//!
//! Ids are the origin's choice: one that gave all its ids the same time would pile parts
//! under one prefix, and every lookup of a message offered again reads them all. Once a
//! prefix holds [`MAX_PARTS_PER_PREFIX`] parts, a checkpoint writes its further entries
//! there as loose `s` keys, found by one point lookup each.
//!
//! Dedup entries are committed as before: `s` keys in the custody log and in the in-memory
//! layers (`keys.rs`, `overlay.rs`); only a checkpoint packs them, and sled gets no `s` key
//! any more. A store written before parts keeps its `s` keys, read and purged as before.
//! Parts are read only when the prefilter (`seen_filter.rs`) cannot say that a message is
//! new: for messages offered again, and for its rare false positives.
//!
//! An entry lives as long as its part, which is dropped once the latest expiry in it has
//! passed. An entry kept past its own expiry still tells the truth: this node took custody
//! of that message. (A message offered after its lifetime is refused, or acknowledged as a
//! duplicate when it is known here.)
//!
//! Format, big-endian:
//! - key: `t`, origin length (u8), origin, the first [`TIME_PREFIX`] bytes of the ids (their
//!   milliseconds divided by 256), the log position of the checkpoint that wrote it (u64), a
//!   part number within that checkpoint (u32). A checkpoint replayed after a crash up to the
//!   same position writes the same parts under the same keys; one replayed further writes
//!   new parts beside them, and an id in two parts is only found twice.
//! - value: the latest expiry of its entries (i64, Unix ms), then the message ids (16 bytes
//!   each) in ascending order.
//!
//! `s` and `t` are adjacent tags, so the whole dedup table, loose entries and parts, is the
//! one key range from [`SEEN`] up to [`END`].

use super::keys::SEEN;

/// Table tag of dedup parts.
pub const PARTS: u8 = b't';
/// The first key after the dedup table (`s` entries, then `t` parts).
pub const END: [u8; 1] = [PARTS + 1];
/// Ids a part holds at most: a part is 16 KiB, read whole when a lookup needs it.
pub const MAX_PART_IDS: usize = 1024;
/// Parts under one prefix (origin and quarter second) at most; further entries stay loose.
/// An origin sending 25,000 messages a second fills 7.
pub const MAX_PARTS_PER_PREFIX: usize = 16;
/// Leading bytes of a message id that a part's key names: a millisecond timestamp's top 40
/// bits, so one part covers 256 ms of one origin's ids.
pub const TIME_PREFIX: usize = 5;
const ID: usize = 16;
const LATEST: usize = 8;
/// Key bytes after the origin: time prefix, checkpoint, part number.
const KEY_SUFFIX: usize = TIME_PREFIX + 8 + 4;

/// A dedup entry's key split into its `s` tag, origin length and origin, and its id; none
/// for a key of another shape.
fn split_entry(seen_key: &[u8]) -> Option<(&[u8], &[u8])> {
    let origin_len = usize::from(*seen_key.get(1)?);
    if seen_key[0] != SEEN || seen_key.len() != 2 + origin_len + ID {
        return None;
    }
    Some(seen_key.split_at(2 + origin_len))
}

/// The prefix every part that may hold the dedup entry `seen_key` starts with; none for a
/// key that is no dedup entry.
pub fn prefix_for(seen_key: &[u8]) -> Option<Vec<u8>> {
    let (head, id) = split_entry(seen_key)?;
    let mut prefix = Vec::with_capacity(head.len() + TIME_PREFIX);
    prefix.push(PARTS);
    prefix.extend_from_slice(&head[1..]);
    prefix.extend_from_slice(&id[..TIME_PREFIX]);
    Some(prefix)
}

/// The prefix of the part stored under `part_key` (what [`prefix_for`] gives for its ids);
/// none for a key of another shape.
pub fn prefix_of_part(part_key: &[u8]) -> Option<&[u8]> {
    let origin_len = usize::from(*part_key.get(1)?);
    if part_key[0] != PARTS || part_key.len() != 2 + origin_len + KEY_SUFFIX {
        return None;
    }
    Some(&part_key[..2 + origin_len + TIME_PREFIX])
}

/// A part as sled holds it, checked for shape.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    latest_expiry_ms: i64,
    ids: &'a [u8],
}

impl<'a> Part<'a> {
    /// The part `value`; none unless it is an expiry followed by at most [`MAX_PART_IDS`]
    /// ids in ascending order (a lookup's binary search would miss ids out of order).
    pub fn decode(value: &'a [u8]) -> Option<Self> {
        if value.len() < LATEST || (value.len() - LATEST) % ID != 0 {
            return None;
        }
        let (latest, ids) = value.split_at(LATEST);
        let ascending = ids
            .chunks_exact(ID)
            .zip(ids.chunks_exact(ID).skip(1))
            .all(|(a, b)| a < b);
        if ids.len() > MAX_PART_IDS * ID || !ascending {
            return None;
        }
        Some(Self {
            latest_expiry_ms: i64::from_be_bytes(latest.try_into().ok()?),
            ids,
        })
    }

    /// The latest expiry of the entries it holds: the part may go once that has passed.
    pub fn latest_expiry_ms(&self) -> i64 {
        self.latest_expiry_ms
    }

    pub fn len(&self) -> usize {
        self.ids.len() / ID
    }

    /// Whether it holds message id `id` (binary search: ids are written in order).
    pub fn holds(&self, id: &[u8]) -> bool {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.ids[mid * ID..(mid + 1) * ID].cmp(id) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// The dedup keys of its entries (for the prefilter, and to write them loose);
    /// `part_key` is its key. None for a key of another shape.
    pub fn entry_keys(&self, part_key: &[u8]) -> Option<impl Iterator<Item = Vec<u8>> + 'a> {
        let prefix = prefix_of_part(part_key)?;
        let head: Vec<u8> = [SEEN]
            .into_iter()
            .chain(prefix[1..prefix.len() - TIME_PREFIX].iter().copied())
            .collect();
        Some(self.ids.chunks_exact(ID).map(move |id| {
            let mut key = Vec::with_capacity(head.len() + ID);
            key.extend_from_slice(&head);
            key.extend_from_slice(id);
            key
        }))
    }
}

/// Packs a checkpoint's dedup entries, given in key order, into parts.
pub struct Packer {
    checkpoint: u64,
    done: Vec<(Vec<u8>, Vec<u8>)>,
    open: Option<OpenPart>,
    /// Parts started so far in this checkpoint: the next part's number.
    started: u32,
}

struct OpenPart {
    /// The key up to the time prefix ([`prefix_for`]).
    prefix: Vec<u8>,
    number: u32,
    latest_expiry_ms: i64,
    ids: Vec<u8>,
}

impl OpenPart {
    fn finish(self, checkpoint: u64) -> (Vec<u8>, Vec<u8>) {
        let mut key = self.prefix;
        key.extend_from_slice(&checkpoint.to_be_bytes());
        key.extend_from_slice(&self.number.to_be_bytes());
        let mut value = Vec::with_capacity(LATEST + self.ids.len());
        value.extend_from_slice(&self.latest_expiry_ms.to_be_bytes());
        value.extend_from_slice(&self.ids);
        (key, value)
    }
}

impl Packer {
    /// A packer for the checkpoint that reaches log position `checkpoint`.
    pub fn new(checkpoint: u64) -> Self {
        Self {
            checkpoint,
            done: Vec::new(),
            open: None,
            started: 0,
        }
    }

    /// Packs the dedup entry `seen_key` with `value` (its expiry, i64 Unix ms). False if
    /// either is not of a dedup entry's shape: the caller then writes it as it is.
    pub fn add(&mut self, seen_key: &[u8], value: &[u8]) -> bool {
        let (Some(prefix), Ok(expiry)) = (prefix_for(seen_key), <[u8; 8]>::try_from(value)) else {
            return false;
        };
        let expiry = i64::from_be_bytes(expiry);
        let id = &seen_key[seen_key.len() - ID..];
        let fits = self.open.as_ref().is_some_and(|open| {
            open.prefix == prefix
                && open.ids.len() < MAX_PART_IDS * ID
                && open
                    .ids
                    .rchunks_exact(ID)
                    .next()
                    .is_some_and(|last| last < id)
        });
        if !fits {
            self.close_open();
            self.open = Some(OpenPart {
                prefix,
                number: self.started,
                latest_expiry_ms: expiry,
                ids: Vec::with_capacity(ID * 64),
            });
            self.started += 1;
        }
        let open = self.open.as_mut().expect("a part was opened above");
        open.latest_expiry_ms = open.latest_expiry_ms.max(expiry);
        open.ids.extend_from_slice(id);
        true
    }

    fn close_open(&mut self) {
        if let Some(open) = self.open.take() {
            self.done.push(open.finish(self.checkpoint));
        }
    }

    /// The parts: keys and values for sled.
    pub fn finish(mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.close_open();
        self.done
    }
}

#[cfg(test)]
#[path = "seen_parts/tests.rs"]
mod tests;
