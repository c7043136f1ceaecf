//! The store thread: a thin shell that drives the ledger (`engine::ledger`, which decides)
//! and the store (`storage.rs`, which executes). It serves commands in rounds: the commits
//! that arrived together are staged in the ledger, persisted as one custody log record with
//! one fsync (group commit), and answered; then the round's reads are served, so no read
//! ever returns a write that is not yet durable. The ledger says which requests go first
//! (FLASH traffic and deliveries, `ledger::goes_first`) and which new copies may go to their
//! links before the fsync (cut-through); this thread hands them over (`handoff.rs`) and wakes
//! the links and the inbox's readers.

pub(super) mod handoff;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use bluehelm_proto::{NodeId, NonDeliveryReason};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::Receiver;

pub use handoff::HandOff;
pub(super) use handoff::HandOffs;

use super::storage::Storage;
use super::StoreSizes;
use super::{Command, NotTaken, Queued, Shared, StoreError, Write, WriteOutcome};
use crate::engine::ledger::{self, Ledger, NotCommitted, Request};

/// Most commands served in one round: bounds the latency a large group adds.
pub(super) const MAX_ROUND: usize = 4096;
/// About the most bytes of writes committed in one round (one round may exceed it with a
/// single command): bounds the log record, the encoding buffer and one fsync's work.
const MAX_ROUND_BYTES: usize = 8 * 1024 * 1024;

/// Opens the store in `dir` and starts its thread, serving `commands`.
pub(super) fn spawn(
    dir: &Path,
    sizes: StoreSizes,
    shared: Arc<Shared>,
    commands: Receiver<Command>,
) -> Result<(), StoreError> {
    let keeper = Keeper::open(dir, sizes, shared)?;
    // Not joined: `Store::shutdown` waits for the thread's answer to `Command::Shutdown`,
    // sent once the log and sled are closed; after it the thread only returns.
    std::thread::Builder::new()
        .name("bluehelm-store".into())
        .spawn(move || keeper.run(commands))
        .map_err(|e| StoreError::io("cannot start the store thread", e))?;
    Ok(())
}

type CommitReply = tokio::sync::oneshot::Sender<Result<Vec<WriteOutcome>, StoreError>>;

struct Keeper {
    storage: Storage,
    ledger: Ledger,
    shared: Arc<Shared>,
    inbox_version: u64,
}

impl Keeper {
    fn open(dir: &Path, sizes: StoreSizes, shared: Arc<Shared>) -> Result<Self, StoreError> {
        let storage = Storage::open(dir, sizes)?;
        let ledger = storage.ledger()?;
        let keeper = Self {
            storage,
            ledger,
            shared,
            inbox_version: 0,
        };
        keeper.publish_depths();
        Ok(keeper)
    }

    fn run(mut self, mut commands: Receiver<Command>) {
        let mut stopped = None;
        // A command that did not fit in the last round goes first in the next.
        let mut carried: Option<Command> = None;
        while let Some(first) = carried.take().or_else(|| self.next_command(&mut commands)) {
            let mut bytes = command_bytes(&first);
            let mut round = vec![first];
            while round.len() < MAX_ROUND && bytes < MAX_ROUND_BYTES {
                match commands.try_recv() {
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
            // FLASH traffic and deliveries first (see `ledger::goes_first`).
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
            // One step per round even under load, so that the filling ends.
            self.fill_seen_filter();
        }
        // Answered once sled is closed (or, after a failure, left unflushed: see `Kv::close`).
        let closed = self.storage.close();
        if let Err(err) = &closed {
            tracing::error!(error = %err, "the store did not close cleanly");
        }
        if let Some(reply) = stopped {
            let _ = reply.send(closed);
        }
    }

    /// The next command; while the dedup prefilter fills, a filling step whenever none
    /// is waiting.
    fn next_command(&mut self, commands: &mut Receiver<Command>) -> Option<Command> {
        while self.storage.seen_filter_filling() {
            match commands.try_recv() {
                Ok(cmd) => return Some(cmd),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => self.fill_seen_filter(),
            }
        }
        commands.blocking_recv()
    }

    fn fill_seen_filter(&mut self) {
        if let Err(err) = self.storage.fill_seen_filter() {
            tracing::warn!(error = %err, "cannot read the dedup table into its prefilter: dedup lookups go to the store");
            self.storage.abandon_seen_filter();
        }
    }

    /// Stages, persists and answers one round of commits.
    fn commit_round(&mut self, commits: Vec<Command>) {
        if commits.is_empty() {
            return;
        }
        let mut replies: Vec<CommitReply> = Vec::with_capacity(commits.len());
        let mut staged = Ok(());
        for cmd in commits {
            let Command::Commit(writes, reply) = cmd else {
                continue;
            };
            // After a failed lookup the round is lost: the rest need not be staged.
            if staged.is_ok() {
                staged = self.ledger.stage(&self.storage, writes);
            }
            replies.push(reply);
        }
        let mut plan = self.ledger.close_round();
        let durable = match staged {
            Err(err) => Err(NotTaken::Lookup(Arc::new(err))),
            Ok(()) => {
                let (ops, early) = plan.prepare(Storage::encode);
                if let Some(early) = early {
                    self.shared.hand_offs.put(early, plan.forgotten());
                }
                let fsync = plan.needs_fsync();
                let started = std::time::Instant::now();
                let persisted = self.storage.persist(ops, fsync);
                if fsync {
                    self.shared.fsync_latency.observe(started.elapsed());
                }
                persisted.map_err(|err| NotTaken::Commit(Arc::new(err)))
            }
        };
        if self.storage.has_failed() {
            self.ledger.handle_store_failed();
            self.shared
                .failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let result = durable.as_ref().map(|_| ()).map_err(|_| NotCommitted);
        let done = self.ledger.handle_round_committed(plan, result);
        self.shared.hand_offs.put(done.hand_off, &done.take_back);
        match durable {
            Ok(()) => {
                self.publish(&done.woken, done.inbox);
                // A round handed back as committed always has its outcomes.
                let outcomes = done.outcomes.unwrap_or_default();
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(why) => {
                tracing::error!(error = %why, "store commit failed; custody not taken");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::NotTaken(why.clone())));
                }
            }
        }
    }

    fn publish_depths(&self) {
        let mut depths = self.shared.depths.lock().unwrap_or_else(|p| p.into_inner());
        for (hop, depth) in self.ledger.depths() {
            match depths.get_mut(hop) {
                Some(published) => *published = depth,
                None => {
                    depths.insert(hop.clone(), depth);
                }
            }
        }
    }

    fn publish(&mut self, woken: &[NodeId], inbox: bool) {
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

    fn serve(&mut self, cmd: Command) {
        let storage = &mut self.storage;
        match cmd {
            Command::Commit(..) | Command::Shutdown(_) => {}
            Command::Queued {
                hop,
                precedence,
                after_seq,
                limit,
                reply,
            } => {
                let _ = reply.send(storage.queued(&hop, precedence, after_seq, limit));
            }
            Command::Inbox {
                after_seq,
                limit,
                reply,
            } => {
                let _ = reply.send(storage.inbox(after_seq, limit));
            }
            Command::Expired {
                now_ms,
                limit,
                reply,
            } => {
                let due = self.ledger.sweep(now_ms, limit);
                let _ = reply.send(give_ups(storage, due));
            }
            Command::PurgeSeen {
                now_ms,
                limit,
                reply,
            } => {
                let _ = reply.send(storage.purge_seen(now_ms, limit));
            }
            Command::Note { id, reply } => {
                let _ = reply.send(storage.note(&id));
            }
            Command::Reference { key, reply } => {
                let _ = reply.send(storage.reference(&key));
            }
            Command::Reviews { reply } => {
                let _ = reply.send(storage.reviews());
            }
            Command::Notices { reply } => {
                let _ = reply.send(storage.notices());
            }
            Command::Identities { reply } => {
                let _ = reply.send(storage.identities());
            }
            Command::Seen { messages, reply } => {
                let _ = reply.send(storage.seen_all(&messages));
            }
            Command::Held { reply } => {
                let _ = reply.send(storage.held());
            }
            Command::HeldOne { id, reply } => {
                let _ = reply.send(storage.held_one(id));
            }
            Command::Rules { reply } => {
                let _ = reply.send(storage.rules());
            }
            Command::Caught { rules, reply } => {
                let _ = reply.send(storage.caught(&rules));
            }
        }
    }
}

/// The copies the ledger gives up on, read from the store, each with its reason.
fn give_ups(
    storage: &Storage,
    due: Vec<ledger::GiveUp>,
) -> Result<Vec<(Queued, NonDeliveryReason)>, StoreError> {
    let mut out = Vec::with_capacity(due.len());
    for give_up in due {
        if let Some(queued) = storage.copy(&give_up.key)? {
            out.push((queued, give_up.reason));
        }
    }
    Ok(out)
}

/// See [`ledger::goes_first`].
fn is_urgent(command: &Command) -> bool {
    ledger::goes_first(match command {
        Command::Queued { precedence, .. } => Request::QueueRead(*precedence),
        Command::Inbox { .. } => Request::InboxRead,
        Command::Commit(writes, _) => Request::Commit(writes),
        _ => Request::Other,
    })
}

/// About how many bytes a command adds to a round's log record.
fn command_bytes(command: &Command) -> usize {
    let Command::Commit(writes, _) = command else {
        return 0;
    };
    writes.iter().map(Write::approx_bytes).sum()
}
