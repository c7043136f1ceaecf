//! The store as an executor: it makes a round durable (one custody log record, fsynced,
//! later checkpointed into sled: `overlay.rs`, `log.rs`), answers staging's lookups, and
//! serves reads. It decides nothing about custody: what a round writes comes from the ledger
//! (`engine::ledger`), already decided; here it only becomes keys and bytes (`keys.rs`,
//! `record.rs`).

use std::path::Path;

use bluehelm_proto::{MessageId, MessageRef, NodeId, Precedence};
use bytes::Bytes;

use super::error::{Corruption, Entry, StoreError, Table};
use super::keys::{self, QueueKey};
use super::overlay::{Kv, Op};
use super::seen_filter::SeenFilter;
use super::seen_parts::{self, Part};
use super::StoreSizes;
use super::{HeldEntry, InboxEntry, Place, Queued, ReviewEntry, StoredMessage};
use crate::engine::ledger::{Change, Ledger, Lookup, RoundWrites};
use crate::engine::quarantine::{HeldFor, Rule, Rules};
use crate::engine::register::Entry as NoticeEntry;
use crate::engine::release::Member;

/// One queue read returns at most about this many bytes of records (at least one record):
/// bounds what a link holds in memory between reading its queue and writing it out.
pub(super) const MAX_READ_BYTES: usize = 4 * 1024 * 1024;

/// Dedup keys read into the prefilter per step while it fills: a step takes the store
/// thread about a millisecond, between rounds.
const FILL_STEP_KEYS: usize = 2048;

/// Notes are kept for the longest lifetime a message may have, plus a day of clock skew.
const NOTE_RETENTION_MS: i64 = crate::engine::custody::MAX_LIFETIME_MS + 24 * 3600 * 1000;

pub(super) struct Storage {
    kv: Kv,
    /// Where the next sweep of the dedup table starts: each sweep looks at a bounded number
    /// of entries, and the next one carries on after them, so every entry is looked at.
    purge_from: Option<Vec<u8>>,
    /// Answers most dedup lookups of new messages without sled (`seen_filter.rs`).
    seen_filter: SeenFilter,
}

impl Storage {
    /// Opens the store in `dir`, with custody log files and a cache of `sizes`.
    pub(super) fn open(dir: &Path, sizes: StoreSizes) -> Result<Self, StoreError> {
        Ok(Self {
            kv: Kv::open_sized(dir, sizes)?,
            purge_from: None,
            seen_filter: SeenFilter::filling_from(vec![keys::SEEN]),
        })
    }

    /// The ledger of what the store holds: the next sequence number and every queued copy.
    pub(super) fn ledger(&self) -> Result<Ledger, StoreError> {
        let next_seq = match self.kv.get(keys::META_NEXT_SEQ)? {
            Some(v) => Some(u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                StoreError::corrupt(
                    Entry::new(Table::Meta, keys::META_NEXT_SEQ),
                    Corruption::BadCounter(v.len()),
                )
            })?)),
            None => None,
        };
        // Streamed into the ledger, not collected first: with a million copies queued, a list
        // of their keys took the hub past its memory target at a restart.
        let mut unreadable = None;
        let queued = self.kv.scan_prefix(&[keys::QUEUE]).map_while(|entry| {
            match entry.and_then(|(key, value)| queued_entry(&key, &value)) {
                Ok(copy) => Some((copy.key, copy.message.expires_at_ms)),
                Err(err) => {
                    unreadable = Some(err);
                    None
                }
            }
        });
        let ledger = Ledger::recover(next_seq, queued);
        match unreadable {
            Some(err) => Err(err),
            None => Ok(ledger),
        }
    }

    /// A round's writes as key-value operations for the custody log.
    pub(super) fn encode(mut writes: RoundWrites<'_>) -> Vec<Op> {
        let mut ops = Vec::new();
        for (message, expires_at_ms) in writes.seen() {
            ops.push(Op::Put {
                key: keys::seen_key(message),
                value: expires_at_ms.to_be_bytes().to_vec(),
                fresh: true,
            });
        }
        for (seq, copy) in writes.inbox() {
            ops.push(Op::Put {
                key: keys::inbox_key(*seq).to_vec(),
                value: copy.encode(),
                fresh: true,
            });
        }
        for queued in writes.queued() {
            ops.push(Op::Put {
                key: queued.key.as_bytes().to_vec(),
                value: queued.message.encode(),
                fresh: true,
            });
        }
        for key in writes.dequeued() {
            ops.push(Op::Remove(key.as_bytes().to_vec()));
        }
        for change in writes.take_changes() {
            ops.push(match change {
                Change::AckInbox(seq) => Op::Remove(keys::inbox_key(seq).to_vec()),
                Change::Note { id, value } => Op::Put {
                    key: keys::note_key(&id).to_vec(),
                    value,
                    fresh: false,
                },
                Change::Reference { key, value } => Op::Put {
                    key: keys::reference_key(&key),
                    value,
                    fresh: false,
                },
                Change::Review { id, value } => Op::Put {
                    key: keys::review_key(&id).to_vec(),
                    value,
                    fresh: false,
                },
                Change::Unreview(id) => Op::Remove(keys::review_key(&id).to_vec()),
                Change::Notice { notice_ref, value } => Op::Put {
                    key: keys::notice_key(&notice_ref),
                    value,
                    fresh: false,
                },
                Change::Identity { node, value } => Op::Put {
                    key: keys::identity_key(&node),
                    value,
                    fresh: false,
                },
                Change::Hold { id, to, message } => {
                    let mut value = Vec::with_capacity(message.signed.len() + 128);
                    to.encode(&mut value);
                    value.extend_from_slice(&message.encode());
                    Op::Put {
                        key: keys::held_key(id).to_vec(),
                        value,
                        fresh: true,
                    }
                }
                Change::Unhold(id) => Op::Remove(keys::held_key(id).to_vec()),
                Change::Rule(rule) => Op::Put {
                    key: keys::rule_key(&rule.node),
                    value: rule.since_ms.to_be_bytes().to_vec(),
                    fresh: false,
                },
            });
        }
        if let Some(next_seq) = writes.next_seq() {
            ops.push(Op::Put {
                key: keys::META_NEXT_SEQ.to_vec(),
                value: next_seq.to_be_bytes().to_vec(),
                fresh: false,
            });
        }
        ops
    }

    /// Makes `ops` durable as one log record (fsynced if `fsync`). A round with nothing to
    /// write writes nothing, but still fails once the store has failed.
    pub(super) fn persist(&mut self, ops: Vec<Op>, fsync: bool) -> Result<(), StoreError> {
        if ops.is_empty() {
            return match self.kv.failure() {
                Some(failure) => Err(StoreError::Failed(failure)),
                None => Ok(()),
            };
        }
        for op in &ops {
            if let Op::Put { key, .. } = op {
                if key.first() == Some(&keys::SEEN) {
                    self.seen_filter.insert(key);
                }
            }
        }
        self.kv.commit(ops, fsync)
    }

    /// Gives up on the prefilter after a failed filling step: every dedup lookup then goes
    /// to sled, as without it, and the store's own reads report the error.
    pub(super) fn abandon_seen_filter(&mut self) {
        self.seen_filter.abandon();
    }

    /// Whether the dedup prefilter is still reading the store's dedup keys.
    pub(super) fn seen_filter_filling(&self) -> bool {
        self.seen_filter.fill_position().is_some()
    }

    /// Reads the next dedup keys into the prefilter (nothing once it is complete): loose
    /// entries, and the ids of parts (`seen_parts.rs`).
    pub(super) fn fill_seen_filter(&mut self) -> Result<(), StoreError> {
        let Some(from) = self.seen_filter.fill_position().map(<[u8]>::to_vec) else {
            return Ok(());
        };
        let mut keys = Vec::with_capacity(FILL_STEP_KEYS);
        let mut last_read = None;
        let mut ended = true;
        for entry in self.kv.range(&from, Some(&seen_parts::END)) {
            if keys.len() >= FILL_STEP_KEYS {
                ended = false;
                break;
            }
            let (key, value) = entry?;
            match key.first() {
                Some(&keys::SEEN) => keys.push(key.to_vec()),
                _ => keys.extend(seen_part(&key, &value)?.entry_keys(&key).ok_or_else(|| {
                    StoreError::corrupt(Entry::new(Table::Seen, &key), Corruption::BadKey)
                })?),
            }
            last_read = Some(key);
        }
        self.seen_filter
            .fill_from(keys, last_read.as_deref(), ended);
        Ok(())
    }

    /// Whether a failure has stopped the store from taking custody.
    pub(super) fn has_failed(&self) -> bool {
        self.kv.has_failed()
    }

    pub(super) fn close(self) -> Result<(), StoreError> {
        self.kv.close()
    }

    pub(super) fn queued(
        &self,
        hop: &NodeId,
        precedence: Precedence,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Queued>, StoreError> {
        let prefix = keys::queue_prefix(hop, Some(precedence));
        let start = match after_seq {
            Some(seq) => QueueKey::new(hop, precedence, seq.saturating_add(1))
                .as_bytes()
                .to_vec(),
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut entries = self.kv.scan_prefix_from(&prefix, &start);
        // Bounds checked before the next entry is read: a record in a value file costs a read.
        while out.len() < limit && bytes < MAX_READ_BYTES {
            let Some(entry) = entries.next() else {
                break;
            };
            let (key, value) = entry?;
            bytes += value.len();
            out.push(queued_entry(&key, &value)?);
        }
        Ok(out)
    }

    /// The queued copy `key`, if it is still queued.
    pub(super) fn copy(&self, key: &QueueKey) -> Result<Option<Queued>, StoreError> {
        match self.kv.get(key.as_bytes())? {
            Some(value) => Ok(Some(queued_entry(key.as_bytes(), &value)?)),
            None => Ok(None),
        }
    }

    pub(super) fn inbox(
        &self,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let start = keys::inbox_key(after_seq.map_or(0, |s| s.saturating_add(1)));
        let mut out = Vec::new();
        for entry in self.kv.scan_prefix_from(&[keys::INBOX], &start) {
            let (key, value) = entry?;
            let Some(seq) = keys::inbox_seq(&key) else {
                break;
            };
            if out.len() >= limit {
                break;
            }
            out.push(InboxEntry {
                seq,
                message: StoredMessage::decode(&value)
                    .map_err(|problem| StoreError::corrupt(Entry::inbox(seq), problem))?,
            });
        }
        Ok(out)
    }

    pub(super) fn reviews(&self) -> Result<Vec<ReviewEntry>, StoreError> {
        let mut out = Vec::new();
        for entry in self.kv.scan_prefix(&[keys::REVIEW]) {
            let (key, value) = entry?;
            let id = MessageId::from_bytes(&key[1..]).map_err(|_| {
                StoreError::corrupt(Entry::new(Table::Review, &key), Corruption::BadKey)
            })?;
            out.push((id, value.to_vec()));
        }
        Ok(out)
    }

    /// The notice register's entries, in reference order.
    pub(super) fn notices(&self) -> Result<Vec<NoticeEntry>, StoreError> {
        let mut out = Vec::new();
        for entry in self.kv.scan_prefix(&[keys::NOTICE]) {
            let (key, value) = entry?;
            let corrupt =
                |problem| StoreError::corrupt(Entry::new(Table::Notice, &key[1..]), problem);
            let notice = NoticeEntry::decode(&value).map_err(|e| corrupt(Corruption::Notice(e)))?;
            if key[1..] != *notice.notice_ref.as_bytes() {
                return Err(corrupt(Corruption::BadKey));
            }
            out.push(notice);
        }
        Ok(out)
    }

    /// The directory of certified identities, in node order.
    pub(super) fn identities(&self) -> Result<Vec<(NodeId, Member)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.kv.scan_prefix(&[keys::IDENTITY]) {
            let (key, value) = entry?;
            let corrupt = |problem| StoreError::corrupt(Entry::new(Table::Identity, &key), problem);
            let node = node_of(&key).ok_or_else(|| corrupt(Corruption::BadKey))?;
            let member = Member::decode(&value).ok_or_else(|| corrupt(Corruption::BadIdentity))?;
            out.push((node, member));
        }
        Ok(out)
    }

    /// The copies held in quarantine, in the order they were held.
    pub(super) fn held(&self) -> Result<Vec<HeldEntry>, StoreError> {
        let mut out = Vec::new();
        for entry in self.kv.scan_prefix(&[keys::HELD]) {
            let (key, value) = entry?;
            out.push(held_entry(&key, &value)?);
        }
        Ok(out)
    }

    /// The held copy `id`, if it is still held.
    pub(super) fn held_one(&self, id: u64) -> Result<Option<HeldEntry>, StoreError> {
        let key = keys::held_key(id);
        match self.kv.get(&key)? {
            Some(value) => Ok(Some(held_entry(&key, &value)?)),
            None => Ok(None),
        }
    }

    /// The quarantine rules kept.
    pub(super) fn rules(&self) -> Result<Rules, StoreError> {
        let mut out = Vec::new();
        for entry in self.kv.scan_prefix(&[keys::RULE]) {
            let (key, value) = entry?;
            let corrupt = |problem| StoreError::corrupt(Entry::new(Table::Rule, &key), problem);
            let node = node_of(&key).ok_or_else(|| corrupt(Corruption::BadKey))?;
            let since_ms = keys::decode_time(&value)
                .ok_or_else(|| corrupt(Corruption::BadCounter(value.len())))?;
            out.push(Rule { node, since_ms });
        }
        Ok(out.into_iter().collect())
    }

    /// The copies this node holds (queued or in the inbox) that `rules` catch (the rules
    /// decide: `engine::quarantine`).
    pub(super) fn caught(&self, rules: &Rules) -> Result<Vec<(Place, StoredMessage)>, StoreError> {
        let mut out = Vec::new();
        if rules.is_empty() {
            return Ok(out);
        }
        for entry in self.kv.scan_prefix(&[keys::QUEUE]) {
            let (key, value) = entry?;
            let copy = queued_entry(&key, &value)?;
            if rules.catches(&copy.message.message.origin, &copy.message.message.id) {
                out.push((Place::Queued(copy.key), copy.message));
            }
        }
        for entry in self.inbox(None, usize::MAX)? {
            if rules.catches(&entry.message.message.origin, &entry.message.message.id) {
                out.push((Place::Inbox(entry.seq), entry.message));
            }
        }
        Ok(out)
    }

    pub(super) fn note(&self, id: &MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.kv.get(&keys::note_key(id))?.map(|v| v.to_vec()))
    }

    pub(super) fn reference(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.kv.get(&keys::reference_key(key))?.map(|v| v.to_vec()))
    }

    pub(super) fn seen_all(&self, messages: &[MessageRef]) -> Result<Vec<bool>, StoreError> {
        messages.iter().map(|m| self.seen(m)).collect()
    }

    /// Drops expired dedup entries, and the API's notes on messages older than any message
    /// can live (their reports and late responses can no longer arrive). Returns how many
    /// entries and notes went (a part's ids each count).
    pub(super) fn purge_seen(&mut self, now_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let mut ops = Vec::new();
        let mut purged = 0;
        let from = self.purge_from.take().unwrap_or_else(|| vec![keys::SEEN]);
        let mut looked_at = 0;
        for entry in self.kv.range(&from, Some(&seen_parts::END)) {
            let (key, value) = entry?;
            if looked_at >= limit {
                self.purge_from = Some(key.to_vec());
                break;
            }
            // A part counts as the entries it holds. One that does not decode stays, as a
            // loose entry that does not, and lookups that need it report it.
            let (entries, expires) = match key.first() {
                Some(&keys::SEEN) => (1, keys::decode_time(&value)),
                _ => match Part::decode(&value) {
                    Some(part) => (part.len(), Some(part.latest_expiry_ms())),
                    None => {
                        tracing::warn!(entry = %Entry::new(Table::Seen, &key),
                            "a dedup part does not decode: kept, and lookups that need it fail");
                        (1, None)
                    }
                },
            };
            looked_at += entries.max(1);
            if expires.is_some_and(|expires| expires < now_ms) {
                ops.push(Op::Remove(key.to_vec()));
                purged += entries;
            }
        }
        let notes_before = now_ms.saturating_sub(NOTE_RETENTION_MS);
        for entry in self.kv.scan_prefix(&[keys::NOTE]).take(limit) {
            let (key, _) = entry?;
            let id = MessageId::from_bytes(&key[1..]).map_err(|_| {
                StoreError::corrupt(Entry::new(Table::Note, &key), Corruption::BadKey)
            })?;
            if i64::try_from(id.timestamp_ms()).unwrap_or(i64::MAX) >= notes_before {
                // Ids are time-ordered: every later note is younger.
                break;
            }
            ops.push(Op::Remove(key.to_vec()));
            purged += 1;
        }
        if !ops.is_empty() {
            self.kv.commit(ops, true)?;
        }
        if self.purge_from.is_none() && self.seen_filter.refill_if_crowded(vec![keys::SEEN]) {
            tracing::debug!(
                "dedup prefilter more than half set after a full purge pass: filling it again"
            );
        }
        Ok(purged)
    }

    /// Makes the store fail as it does when a checkpoint fails in the background.
    #[cfg(test)]
    pub(super) fn fail_checkpoint_for_test(&mut self) {
        self.kv.fail_checkpoint_for_test();
    }
}

/// Staging's lookups: what earlier rounds committed (the log's records on top of sled).
impl Lookup for Storage {
    type Error = StoreError;

    fn seen(&self, message: &MessageRef) -> Result<bool, StoreError> {
        let (key, len) = keys::seen_key_buf(message);
        let key = &key[..len];
        if self.seen_filter.surely_absent(key) {
            return Ok(false);
        }
        // Committed since the last checkpoint (or loose, from before parts), then packed.
        Ok(self.kv.contains_key(key)? || packed(&self.kv, key)?)
    }

    fn in_inbox(&self, seq: u64) -> Result<bool, StoreError> {
        self.kv.contains_key(&keys::inbox_key(seq))
    }

    fn in_review(&self, id: &MessageId) -> Result<bool, StoreError> {
        self.kv.contains_key(&keys::review_key(id))
    }

    fn in_quarantine(&self, id: u64) -> Result<bool, StoreError> {
        self.kv.contains_key(&keys::held_key(id))
    }
}

/// Whether a checkpoint packed the dedup entry `seen_key` into a part (`seen_parts.rs`).
pub(super) fn packed(kv: &Kv, seen_key: &[u8]) -> Result<bool, StoreError> {
    let Some(prefix) = seen_parts::prefix_for(seen_key) else {
        return Ok(false);
    };
    let id = &seen_key[seen_key.len() - MessageId::LEN..];
    // A part that cannot be read is reported only if no other part holds the id.
    let mut unreadable = None;
    for entry in kv.scan_prefix(&prefix) {
        let (part_key, value) = entry?;
        match seen_part(&part_key, &value) {
            Ok(part) if part.holds(id) => return Ok(true),
            Ok(_) => {}
            Err(err) => unreadable = Some(err),
        }
    }
    unreadable.map_or(Ok(false), Err)
}

/// The dedup part stored under `key`.
fn seen_part<'a>(key: &[u8], value: &'a [u8]) -> Result<Part<'a>, StoreError> {
    Part::decode(value)
        .ok_or_else(|| StoreError::corrupt(Entry::new(Table::Seen, key), Corruption::BadSeenPart))
}

/// The node id after a key's table tag (`d`, `u`).
fn node_of(key: &[u8]) -> Option<NodeId> {
    std::str::from_utf8(key.get(1..)?).ok()?.parse().ok()
}

fn held_entry(key: &[u8], value: &Bytes) -> Result<HeldEntry, StoreError> {
    let entry = || Entry::new(Table::Held, key);
    let id = keys::held_id(key).ok_or_else(|| StoreError::corrupt(entry(), Corruption::BadKey))?;
    let (to, record) = HeldFor::decode(value)
        .ok_or_else(|| StoreError::corrupt(entry(), Corruption::BadHeldFor))?;
    Ok(HeldEntry {
        id,
        to,
        message: StoredMessage::decode(&value.slice_ref(record))
            .map_err(|problem| StoreError::corrupt(entry(), problem))?,
    })
}

fn queued_entry(key: &[u8], value: &Bytes) -> Result<Queued, StoreError> {
    let entry = || Entry::new(Table::Queue, key);
    Ok(Queued {
        key: QueueKey::from_bytes(key)
            .ok_or_else(|| StoreError::corrupt(entry(), Corruption::BadKey))?,
        message: StoredMessage::decode(value)
            .map_err(|problem| StoreError::corrupt(entry(), problem))?,
    })
}
