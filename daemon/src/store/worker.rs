//! The thread that owns the store: applies writes in groups, makes each group durable with
//! one custody log record and one fsync, then answers reads (so no read ever returns a write
//! that is not yet durable). Reads of FLASH queues and of the inbox go before the round's
//! commits, and FLASH commits before the others (`is_urgent`). New copies are also handed
//! straight to their running links (`handoff.rs`): copies of relayed messages before the
//! round's fsync (cut-through), unless the store has failed or the same next hop and class
//! get a copy originated here in the round; the others after it (`commit_round`).

use std::collections::HashSet;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use super::index::QueueIndex;
use super::keys::{self, QueueKey};
use super::overlay::{Kv, Op};
use super::{
    Command, Custody, InboxEntry, Queued, Shared, StoreError, StoredMessage, Write, WriteOutcome,
};
use crate::engine::Hop;
use bluehelm_proto::{NodeId, Precedence};

/// Most commands served in one round: bounds the latency a large group adds.
const MAX_ROUND: usize = 4096;
/// About the most bytes of writes committed in one round (one round may exceed it with a
/// single command): bounds the log record, the encoding buffer and one fsync's work.
const MAX_ROUND_BYTES: usize = 8 * 1024 * 1024;
/// One queue read returns at most about this many bytes of records (at least one record):
/// bounds what a link holds in memory between reading its queue and writing it out.
pub(super) const MAX_READ_BYTES: usize = 4 * 1024 * 1024;

pub(super) fn spawn(
    dir: &Path,
    log_file_bytes: u64,
    shared: Arc<Shared>,
) -> Result<Sender<Command>, StoreError> {
    let mut worker = Worker {
        kv: Kv::open_with_log_size(dir, log_file_bytes)?,
        shared,
        index: QueueIndex::default(),
        next_seq: 0,
        inbox_version: 0,
        purge_from: None,
    };
    worker.recover()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("bluehelm-store".into())
        .spawn(move || worker.run(rx))
        .map_err(|e| StoreError::io("cannot start the store thread", e))?;
    Ok(tx)
}

struct Worker {
    kv: Kv,
    shared: Arc<Shared>,
    index: QueueIndex,
    next_seq: u64,
    inbox_version: u64,
    /// Where the next sweep of the dedup table starts: each sweep looks at a bounded number
    /// of entries, and the next one carries on after them, so every entry is looked at.
    purge_from: Option<Vec<u8>>,
}

type CommitReply = tokio::sync::oneshot::Sender<Result<Vec<WriteOutcome>, StoreError>>;

impl Worker {
    /// Rebuilds the in-memory counters from what is on disk.
    fn recover(&mut self) -> Result<(), StoreError> {
        self.next_seq = match self.kv.get(keys::META_NEXT_SEQ)? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("bad sequence counter".into()))?,
            ),
            None => 1,
        }
        // After a failed round: its numbers may have reached a link, and must not name
        // another copy.
        .max(self.next_seq);
        let mut index = QueueIndex::default();
        for entry in self.kv.scan_prefix(&[keys::QUEUE]) {
            let (key, value) = entry?;
            let queued = queued_entry(&key, &value)?;
            index.insert(queued.key, queued.message.expires_at_ms);
        }
        self.index = index;
        self.publish_depths();
        Ok(())
    }

    fn run(mut self, rx: Receiver<Command>) {
        let mut stopped = None;
        // A command that did not fit in the last round goes first in the next.
        let mut carried: Option<Command> = None;
        while let Some(first) = carried.take().or_else(|| rx.recv().ok()) {
            let mut bytes = command_bytes(&first);
            let mut round = vec![first];
            while round.len() < MAX_ROUND && bytes < MAX_ROUND_BYTES {
                match rx.try_recv() {
                    Ok(cmd) => {
                        let size = command_bytes(&cmd);
                        if bytes + size > MAX_ROUND_BYTES {
                            carried = Some(cmd);
                            break;
                        }
                        bytes += size;
                        round.push(cmd);
                    }
                    Err(_) => break,
                }
            }
            let (commits, reads): (Vec<_>, Vec<_>) = round
                .into_iter()
                .partition(|c| matches!(c, Command::Commit(..)));
            // FLASH traffic and deliveries first (see `is_urgent`).
            let (urgent_reads, reads): (Vec<_>, Vec<_>) = reads.into_iter().partition(is_urgent);
            for read in urgent_reads {
                self.serve(read);
            }
            let (urgent, commits): (Vec<_>, Vec<_>) = commits.into_iter().partition(is_urgent);
            self.commit_round(urgent);
            self.commit_round(commits);
            for read in reads {
                match read {
                    Command::Shutdown(reply) => stopped = Some(reply),
                    read => self.serve(read),
                }
            }
            if stopped.is_some() {
                break;
            }
        }
        // Answered once sled is closed (or, after a failure, left unflushed: see `Kv::close`).
        let closed = self.kv.close();
        if let Err(err) = &closed {
            tracing::error!(error = %err, "the store did not close cleanly");
        }
        if let Some(reply) = stopped {
            let _ = reply.send(closed);
        }
    }

    fn commit_round(&mut self, commits: Vec<Command>) {
        if commits.is_empty() {
            return;
        }
        let mut round = Round::default();
        let mut replies: Vec<(CommitReply, Result<Vec<WriteOutcome>, StoreError>)> = Vec::new();
        for cmd in commits {
            let Command::Commit(writes, reply) = cmd else {
                continue;
            };
            round.needs_fsync |= writes.iter().any(Write::needs_fsync);
            let outcomes: Result<Vec<_>, _> = writes
                .into_iter()
                .map(|w| self.stage(w, &mut round))
                .collect();
            replies.push((reply, outcomes));
        }
        // A command that failed part way (a read of the store failed) may have staged some of
        // its writes: commit none of the round, and let recovery rebuild the counters.
        let staged = match replies
            .iter()
            .find_map(|(_, outcome)| outcome.as_ref().err())
        {
            Some(err) => Err(StoreError::NotTaken(format!(
                "reading the store to stage a write failed: {err}"
            ))),
            None => Ok(()),
        };
        round.ops.push(Op::Put {
            key: keys::META_NEXT_SEQ.to_vec(),
            value: self.next_seq.to_be_bytes().to_vec(),
            fresh: false,
        });
        let Round {
            ops,
            needs_fsync,
            mut fresh,
            originated,
            forgotten,
            hops_woken,
            inbox_added,
            ..
        } = round;
        // Cut-through: copies of relayed messages may leave before the round is durable.
        // Custody is not acknowledged to the previous hop until it is, so if the round is lost
        // the previous hop offers the message again, and the next hop, which may hold it
        // already, acknowledges it as a duplicate. Not for a next hop and class that also get
        // a copy this node originates in this round (that one must wait for the fsync, and a
        // link takes copies in sequence order), nor once the store has failed (it takes no
        // more custody, so it must not pass anything on).
        let mut early = Vec::new();
        let mut forgotten_left: &[QueueKey] = &forgotten;
        if staged.is_ok() && !self.kv.has_failed() {
            let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut fresh)
                .into_iter()
                .partition(|(hop, q)| !originated.contains(&(hop.clone(), q.message.precedence)));
            early = now.iter().map(|(_, q)| q.key.clone()).collect();
            self.shared.hand_offs.put(now, &forgotten);
            forgotten_left = &[];
            fresh = later;
        }
        let durable = staged.and_then(|()| self.kv.commit(ops, needs_fsync));
        match durable {
            Ok(()) => {
                self.shared.hand_offs.put(fresh, forgotten_left);
                self.publish(&hops_woken, inbox_added);
                for (reply, outcome) in replies {
                    let _ = reply.send(outcome);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "store commit failed; custody not taken");
                // Take back the copies no link has taken yet.
                self.shared.hand_offs.put(Vec::new(), &early);
                // Nothing in this round may be acknowledged. Rebuild the counters and the
                // queue index from what the store holds: staging changed them.
                if let Err(e) = self.recover() {
                    tracing::error!(error = %e, "store recovery failed");
                }
                for (reply, _) in replies {
                    let why = match &err {
                        StoreError::NotTaken(why) => why.clone(),
                        other => other.to_string(),
                    };
                    let _ = reply.send(Err(StoreError::NotTaken(why)));
                }
            }
        }
    }

    fn publish_depths(&self) {
        let mut depths = self.shared.depths.lock().unwrap_or_else(|p| p.into_inner());
        depths.clone_from(self.index.depths());
    }

    fn publish(&mut self, woken: &HashSet<NodeId>, inbox: bool) {
        self.publish_depths();
        for hop in woken {
            self.shared
                .hop_sender(hop)
                .send_modify(|v| *v = v.wrapping_add(1));
        }
        if inbox {
            self.inbox_version += 1;
            self.shared.inbox_changes.send_replace(self.inbox_version);
        }
    }

    fn stage(&mut self, write: Write, round: &mut Round) -> Result<WriteOutcome, StoreError> {
        match write {
            Write::Accept(custody) => self.stage_accept(custody, round),
            Write::Forget(key) => {
                // The index mirrors the queue: a key it does not hold is not queued.
                if !self.index.remove(&key) {
                    return Ok(WriteOutcome::Missing);
                }
                round.forgotten.push(key.clone());
                round.ops.push(Op::Remove(key.as_bytes().to_vec()));
                Ok(WriteOutcome::Removed)
            }
            Write::AckInbox(seq) => {
                let key = keys::inbox_key(seq);
                if !round.removed.insert(key.to_vec()) || !self.kv.contains_key(&key)? {
                    return Ok(WriteOutcome::Missing);
                }
                round.ops.push(Op::Remove(key.to_vec()));
                Ok(WriteOutcome::Removed)
            }
            Write::Note { id, value } => {
                round.ops.push(Op::Put {
                    key: note_key(&id).to_vec(),
                    value,
                    fresh: false,
                });
                Ok(WriteOutcome::Stored)
            }
            Write::Reference { key, value } => {
                round.ops.push(Op::Put {
                    key: reference_key(&key),
                    value,
                    fresh: false,
                });
                Ok(WriteOutcome::Stored)
            }
            Write::Review { id, value } => {
                round.ops.push(Op::Put {
                    key: keys::review_key(&id).to_vec(),
                    value,
                    fresh: false,
                });
                Ok(WriteOutcome::Stored)
            }
            Write::Unreview(id) => {
                let key = keys::review_key(&id);
                if !round.removed.insert(key.to_vec()) || !self.kv.contains_key(&key)? {
                    return Ok(WriteOutcome::Missing);
                }
                round.ops.push(Op::Remove(key.to_vec()));
                Ok(WriteOutcome::Removed)
            }
        }
    }

    fn stage_accept(
        &mut self,
        custody: Custody,
        round: &mut Round,
    ) -> Result<WriteOutcome, StoreError> {
        let Custody {
            message: record,
            copies,
            report,
        } = custody;
        let seen = keys::seen_key(&record.message);
        if round.seen.contains(&seen) || self.kv.contains_key(&seen)? {
            return Ok(WriteOutcome::Duplicate);
        }
        round.ops.push(Op::Put {
            key: seen.clone(),
            value: record.expires_at_ms.to_be_bytes().to_vec(),
            fresh: true,
        });
        round.seen.insert(seen);
        for (hop, recipients) in copies {
            let seq = self.next_seq;
            self.next_seq += 1;
            match hop {
                Hop::Local => {
                    let copy = StoredMessage {
                        recipients: Vec::new(),
                        ..record.clone()
                    };
                    round.ops.push(Op::Put {
                        key: keys::inbox_key(seq).to_vec(),
                        value: copy.encode(),
                        fresh: true,
                    });
                    round.inbox_added = true;
                }
                Hop::Next(next) => {
                    let key = QueueKey::new(&next, record.precedence, seq);
                    let copy = StoredMessage {
                        recipients,
                        ..record.clone()
                    };
                    round.ops.push(Op::Put {
                        key: key.as_bytes().to_vec(),
                        value: copy.encode(),
                        fresh: true,
                    });
                    self.index.insert(key.clone(), record.expires_at_ms);
                    round.hops_woken.insert(next.clone());
                    // A neighbour's copy has hops > 0; one this node originates has none.
                    if record.hops == 0 {
                        round.originated.insert((next.clone(), record.precedence));
                    }
                    round.fresh.push((next, Queued { key, message: copy }));
                }
            }
        }
        if let Some(report) = report {
            self.stage_accept(*report, round)?;
        }
        Ok(WriteOutcome::Stored)
    }

    fn serve(&mut self, cmd: Command) {
        match cmd {
            Command::Commit(..) | Command::Shutdown(_) => {}
            Command::Queued {
                hop,
                precedence,
                after_seq,
                limit,
                reply,
            } => {
                let _ = reply.send(self.queued(&hop, precedence, after_seq, limit));
            }
            Command::Inbox {
                after_seq,
                limit,
                reply,
            } => {
                let _ = reply.send(self.inbox(after_seq, limit));
            }
            Command::Expired {
                now_ms,
                limit,
                reply,
            } => {
                let _ = reply.send(self.expired(now_ms, limit));
            }
            Command::PurgeSeen {
                now_ms,
                limit,
                reply,
            } => {
                let _ = reply.send(self.purge_seen(now_ms, limit));
            }
            Command::Note { id, reply } => {
                let value = self.kv.get(&note_key(&id));
                let _ = reply.send(value.map(|v| v.map(|v| v.to_vec())));
            }
            Command::Reference { key, reply } => {
                let value = self.kv.get(&reference_key(&key));
                let _ = reply.send(value.map(|v| v.map(|v| v.to_vec())));
            }
            Command::Reviews { reply } => {
                let _ = reply.send(self.reviews());
            }
            Command::Seen { messages, reply } => {
                let seen = messages
                    .iter()
                    .map(|m| self.kv.contains_key(&keys::seen_key(m)))
                    .collect();
                let _ = reply.send(seen);
            }
        }
    }

    fn queued(
        &self,
        hop: &NodeId,
        precedence: bluehelm_proto::Precedence,
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
        for entry in self.kv.scan_prefix_from(&prefix, &start) {
            let (key, value) = entry?;
            if out.len() >= limit || bytes >= MAX_READ_BYTES {
                break;
            }
            bytes += value.len();
            out.push(queued_entry(&key, &value)?);
        }
        Ok(out)
    }

    fn inbox(&self, after_seq: Option<u64>, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
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
                message: StoredMessage::decode(&value)?,
            });
        }
        Ok(out)
    }

    fn reviews(&self) -> Result<Vec<(bluehelm_proto::MessageId, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.kv.scan_prefix(&[keys::REVIEW]) {
            let (key, value) = entry?;
            let id = bluehelm_proto::MessageId::from_bytes(&key[1..])
                .map_err(|_| StoreError::Corrupt("bad review key".into()))?;
            out.push((id, value.to_vec()));
        }
        Ok(out)
    }

    fn expired(&self, now_ms: i64, limit: usize) -> Result<Vec<Queued>, StoreError> {
        let mut out = Vec::new();
        for key in self.index.expired(now_ms, limit) {
            if let Some(value) = self.kv.get(key.as_bytes())? {
                out.push(queued_entry(key.as_bytes(), &value)?);
            }
        }
        Ok(out)
    }

    /// Drops expired dedup entries, and the API's notes on messages older than any message
    /// can live (their reports and late responses can no longer arrive).
    fn purge_seen(&mut self, now_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let mut ops = Vec::new();
        let from = self.purge_from.take().unwrap_or_else(|| vec![keys::SEEN]);
        for (looked_at, entry) in self.kv.scan_prefix_from(&[keys::SEEN], &from).enumerate() {
            let (key, value) = entry?;
            if looked_at == limit {
                self.purge_from = Some(key.to_vec());
                break;
            }
            if keys::decode_time(&value).is_some_and(|expires| expires < now_ms) {
                ops.push(Op::Remove(key.to_vec()));
            }
        }
        let notes_before = now_ms.saturating_sub(NOTE_RETENTION_MS);
        for entry in self.kv.scan_prefix(&[NOTE]).take(limit) {
            let (key, _) = entry?;
            let id = bluehelm_proto::MessageId::from_bytes(&key[1..])
                .map_err(|_| StoreError::Corrupt("bad note key".into()))?;
            if i64::try_from(id.timestamp_ms()).unwrap_or(i64::MAX) >= notes_before {
                // Ids are time-ordered: every later note is younger.
                break;
            }
            ops.push(Op::Remove(key.to_vec()));
        }
        let purged = ops.len();
        if purged > 0 {
            self.kv.commit(ops, true)?;
        }
        Ok(purged)
    }
}

/// Whether a command goes ahead of the rest of its round: a read of a FLASH queue or of the
/// inbox, or a commit that takes custody of a FLASH message. Urgent reads see what earlier
/// rounds made durable, not the writes of their own round, so that a FLASH copy can leave, or
/// a delivered message reach its application, without waiting for the round's fsync (a FLASH
/// copy whose `Forget` is in the same round may be offered again; the next hop acknowledges
/// it as a duplicate). Urgent commits get a log record and an fsync of their own, so that they
/// do not wait for the bytes of a ROUTINE flood to reach the disk. A link's commits keep their
/// order because FLASH and the other classes travel on separate streams; local callers await
/// each commit before the next.
fn is_urgent(command: &Command) -> bool {
    match command {
        Command::Queued { precedence, .. } => *precedence == Precedence::Flash,
        Command::Inbox { .. } => true,
        Command::Commit(writes, _) => writes.iter().any(|w| {
            matches!(w, Write::Accept(custody) if custody.message.precedence == Precedence::Flash)
        }),
        _ => false,
    }
}

/// About how many bytes a command adds to a round's log record.
fn command_bytes(command: &Command) -> usize {
    let Command::Commit(writes, _) = command else {
        return 0;
    };
    writes.iter().map(Write::approx_bytes).sum()
}

fn queued_entry(key: &[u8], value: &[u8]) -> Result<Queued, StoreError> {
    Ok(Queued {
        key: QueueKey::from_bytes(key)
            .ok_or_else(|| StoreError::Corrupt("bad queue key".into()))?,
        message: StoredMessage::decode(value)?,
    })
}

/// Table tag of the local API's notes (`Write::Note`).
const NOTE: u8 = b'a';
/// Notes are kept for the longest lifetime a message may have, plus a day of clock skew.
const NOTE_RETENTION_MS: i64 = crate::engine::custody::MAX_LIFETIME_MS + 24 * 3600 * 1000;

/// Key of the local API's note on a message: `a` + message id (see `Write::Note`).
fn note_key(id: &bluehelm_proto::MessageId) -> [u8; 17] {
    let mut key = [NOTE; 17];
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// Key of a reference database record: `r` + the services' key (see `Write::Reference`).
/// `r` sorts after the queue (`q`) and before the dedup table (`s`); every scan of those
/// checks its own prefix, so records never mix with them.
fn reference_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 1);
    out.push(keys::REFERENCE);
    out.extend_from_slice(key);
    out
}

/// Everything staged in one commit round.
#[derive(Default)]
struct Round {
    ops: Vec<Op>,
    seen: HashSet<Vec<u8>>,
    removed: HashSet<Vec<u8>>,
    hops_woken: HashSet<NodeId>,
    /// Copies queued in this round, in sequence order, for their links (see `commit_round`).
    fresh: Vec<(NodeId, Queued)>,
    /// The next hops and classes of those that are of a message this node originates.
    originated: HashSet<(NodeId, Precedence)>,
    /// Copies dropped in this round, taken back from the hand-off.
    forgotten: Vec<QueueKey>,
    inbox_added: bool,
    needs_fsync: bool,
}

#[cfg(test)]
mod tests;
