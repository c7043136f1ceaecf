//! Queue runs: a checkpoint puts the queued copies it moves into sled as runs, one sled value
//! per up to [`MAX_RUN_ENTRIES`] copies of one next hop and precedence class, instead of one
//! sled key per copy.
//!
//! Why: a copy queued for longer than a checkpoint interval (an origin or a hub holding a
//! backlog) cost a sled insert when a checkpoint moved it and a sled removal when it left,
//! and sled copies a leaf, serializes and allocates on every write: the checkpoint threads
//! of the origin and the hub took 12-15 % of the relay's CPU in `throughput` (`perf`,
//! docs/performance.md), nearly all of it in `sled::Tree::insert`. A run costs one insert
//! for hundreds of copies, and their removals rewrite it once per checkpoint.
//!
//! Layout. A run's key is the queue key of its first copy with the table tag `p` instead of
//! `q`: `p` hop_len hop rank seq. Its value is [`VERSION`], then for each copy, in ascending
//! sequence order: sequence number (u64), length (u16), and what sled would hold under the
//! copy's own key (a value-file pointer, or a short record), big-endian. A copy's key is
//! its run's key with `q` and the copy's sequence number.
//!
//! Rules:
//! - Only copies put fresh (a new sequence number, so on no key in sled) go into runs, and
//!   one run holds copies of one checkpoint. Sequence numbers grow with the log, so runs never
//!   overlap: a run covers the sequence numbers from its key's to its last copy's, and no
//!   other run has one of them. A checkpoint checks that before it writes a run, and writes
//!   the copies under their own keys if it would not hold.
//! - A copy is in a run or under its own key, never both. A removal, or a put of a key that
//!   may be in sled (every put a log replay makes), takes the copy out of its run first;
//!   removals arrive in key order, so each run touched is read and rewritten once per
//!   checkpoint, and deleted once empty. A run keeps its key when its first copies leave.
//! - A crash part way through a checkpoint leaves some runs written; the replay puts the same
//!   copies again as puts that may be in sled, which take them out of those runs.
//! - Reads (`get`, `contains_key`, `range`) see the copies in runs as if each were under its
//!   own key; raw `p` keys are never returned.

mod read;
mod write;

#[cfg(test)]
mod tests;

use sled::IVec;

pub use read::{contains_key, get, range, runs};
pub use write::RunWrites;

use super::error::{Corruption, Entry, Table};
use super::StoreError;
use crate::engine::ledger::QUEUE;

/// Table tag of queue runs. It sorts just before the queue's `q`.
pub const RUN: u8 = b'p';
/// Copies one run holds at most: with value-file pointers, some 8 KiB.
pub const MAX_RUN_ENTRIES: usize = 256;
/// Bytes of copies one run holds at most, so that a run of short inline records stays a
/// small sled value (sled writes values over 128 KiB to files of their own).
const MAX_RUN_BYTES: usize = 12 * 1024;
/// The longest value a run takes: records this long or longer go to value files, and what
/// sled would hold for them is a pointer.
const MAX_ENTRY_VALUE: usize = super::values::MIN_SEPARATED;
const VERSION: u8 = 1;
/// Sequence number and length before each copy's value.
const ENTRY_HEADER: usize = 10;

/// The part of a queue (or run) key between its tag and its sequence number (hop_len, hop,
/// rank), and the sequence number, if `key` has the queue key's shape with tag `tag`.
fn split(tag: u8, key: &[u8]) -> Option<(&[u8], u64)> {
    let (&first, rest) = key.split_first()?;
    let hop_len = *rest.first()? as usize;
    if first != tag || rest.len() != 1 + hop_len + 1 + 8 {
        return None;
    }
    let (middle, seq) = rest.split_at(rest.len() - 8);
    Some((middle, u64::from_be_bytes(seq.try_into().ok()?)))
}

fn key_with(tag: u8, middle: &[u8], seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + middle.len() + 8);
    key.push(tag);
    key.extend_from_slice(middle);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// One run, decoded: its copies' sequence numbers and stored values, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    entries: Vec<(u64, IVec)>,
}

impl Run {
    /// Decodes the run stored under `key`; a value that is not one is a corrupt queue entry,
    /// named by its key.
    pub fn decode(key: &[u8], value: &[u8]) -> Result<Self, StoreError> {
        let corrupt =
            || StoreError::corrupt(Entry::new(Table::Queue, key), Corruption::BadQueueRun);
        let (_, from) = split(RUN, key).ok_or_else(corrupt)?;
        let Some((&VERSION, mut rest)) = value.split_first() else {
            return Err(corrupt());
        };
        let mut entries: Vec<(u64, IVec)> = Vec::with_capacity(rest.len() / (ENTRY_HEADER + 21));
        while !rest.is_empty() {
            if rest.len() < ENTRY_HEADER {
                return Err(corrupt());
            }
            let seq = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
            let len = usize::from(u16::from_be_bytes([rest[8], rest[9]]));
            let after = match entries.last() {
                Some((last, _)) => last.checked_add(1).ok_or_else(corrupt)?,
                None => from,
            };
            if seq < after || rest.len() < ENTRY_HEADER + len {
                return Err(corrupt());
            }
            entries.push((seq, IVec::from(&rest[ENTRY_HEADER..ENTRY_HEADER + len])));
            rest = &rest[ENTRY_HEADER + len..];
        }
        if entries.is_empty() {
            return Err(corrupt());
        }
        Ok(Self { entries })
    }

    /// The sequence number of the last copy in the encoded run `value`, found without
    /// decoding it (`None` if it does not decode that far: [`Run::decode`] says why).
    fn last_seq_in(value: &[u8]) -> Option<u64> {
        let (&VERSION, mut rest) = value.split_first()? else {
            return None;
        };
        let mut last = None;
        while rest.len() >= ENTRY_HEADER {
            let len = usize::from(u16::from_be_bytes([rest[8], rest[9]]));
            last = Some(u64::from_be_bytes(rest[..8].try_into().expect("8 bytes")));
            rest = rest.get(ENTRY_HEADER + len..)?;
        }
        last
    }

    pub fn encode(&self) -> Vec<u8> {
        let bytes: usize = self
            .entries
            .iter()
            .map(|(_, v)| ENTRY_HEADER + v.len())
            .sum();
        let mut out = Vec::with_capacity(1 + bytes);
        out.push(VERSION);
        for (seq, value) in &self.entries {
            out.extend_from_slice(&seq.to_be_bytes());
            let len = u16::try_from(value.len()).expect("run entries are short (RunWrites::add)");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(value);
        }
        out
    }

    /// The stored value of the copy with sequence number `seq`, if the run holds it.
    pub fn get(&self, seq: u64) -> Option<&IVec> {
        let at = self.entries.binary_search_by_key(&seq, |(s, _)| *s).ok()?;
        Some(&self.entries[at].1)
    }

    /// Takes the copy with sequence number `seq` out, returning its stored value.
    fn remove(&mut self, seq: u64) -> Option<IVec> {
        let at = self.entries.binary_search_by_key(&seq, |(s, _)| *s).ok()?;
        Some(self.entries.remove(at).1)
    }

    fn last_seq(&self) -> Option<u64> {
        self.entries.last().map(|(seq, _)| *seq)
    }

    pub fn entries(&self) -> &[(u64, IVec)] {
        &self.entries
    }

    /// The stored values, to update in place (a compaction's new pointers).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut IVec> {
        self.entries.iter_mut().map(|(_, value)| value)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The queue key of each copy, with its stored value, given the run's key.
    pub fn into_copies(self, run_key: &[u8]) -> impl Iterator<Item = (IVec, IVec)> + '_ {
        let middle = split(RUN, run_key).map_or(&[][..], |(middle, _)| middle);
        self.entries
            .into_iter()
            .map(move |(seq, value)| (IVec::from(key_with(QUEUE, middle, seq)), value))
    }
}
