//! The one storage interface of a node: custody of queued messages, the local inbox, and the
//! dedup table. Its durability rule lives here and nowhere else: a write is reported done only
//! after it is in the custody log and the log file has been fsynced. Writes that arrive
//! together share one log record and one fsync (group commit). sled holds everything, but
//! receives committed writes later, in checkpoints that run on their own thread and end with
//! sled's flush and an fsync of its files (sled's own flush uses `sync_file_range`, which is
//! no fsync); see `overlay.rs` and `log.rs`.
//!
//! Three parts: the custody rules are the ledger's (`engine::ledger`, pure); the store proper
//! (`storage.rs`) is its executor, which makes rounds durable and serves reads; the store
//! thread (`keeper.rs`) drives both and hands new copies to running links. sled calls block,
//! so they run on that one dedicated thread; async code talks to it through [`Store`], a
//! cheap handle, over a bounded channel.

mod error;
pub(crate) mod in_use;
mod keeper;
mod keys;
mod log;
mod overlay;
pub mod private;
mod queue_runs;
mod record;
mod seen_filter;
mod seen_parts;
mod sizes;
mod storage;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bluehelm_proto::{MessageId, NodeId, NonDeliveryReason, Precedence};

use crate::engine::release::Member;
use crate::metrics::histogram::{HistogramReading, LatencyHistogram};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};

pub use crate::engine::ledger::{
    ClassDepths, Custody, Place, Provenance, QueueKey, Queued, StoredMessage, Write, WriteOutcome,
};
use crate::engine::quarantine::{HeldFor, Rules};
pub use error::{Corruption, Entry, Failure, NotTaken, StoreError, Table};
pub use keeper::HandOff;
/// Custody log file sizes (`[limits] custody_log_file_mib`): the default and the least.
pub use log::{DEFAULT_FILE_BYTES as DEFAULT_LOG_FILE_BYTES, MIN_FILE_BYTES as MIN_LOG_FILE_BYTES};
pub use sizes::{
    StoreSizes, DEFAULT_CACHE_BYTES as DEFAULT_STORE_CACHE_BYTES,
    MIN_CACHE_BYTES as MIN_STORE_CACHE_BYTES,
};

/// Commands waiting for the store thread, at most: one full round (`keeper::MAX_ROUND`).
/// A caller that finds the queue full waits for room without blocking its thread.
const COMMAND_QUEUE: usize = 4096;

/// A notice request awaiting review: its message id and its signed envelope as received
/// (see [`Write::Review`]).
pub type ReviewEntry = (MessageId, Vec<u8>);

/// A message in the local inbox.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    pub seq: u64,
    pub message: StoredMessage,
}

/// A copy held in quarantine (issue 14, item 3): its number there, where it was going, and
/// the copy.
#[derive(Debug, Clone)]
pub struct HeldEntry {
    pub id: u64,
    pub to: HeldFor,
    pub message: StoredMessage,
}

enum Command {
    Commit(
        Vec<Write>,
        oneshot::Sender<Result<Vec<WriteOutcome>, StoreError>>,
    ),
    Queued {
        hop: NodeId,
        precedence: Precedence,
        after_seq: Option<u64>,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<Queued>, StoreError>>,
    },
    Inbox {
        after_seq: Option<u64>,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<InboxEntry>, StoreError>>,
    },
    Expired {
        now_ms: i64,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<(Queued, NonDeliveryReason)>, StoreError>>,
    },
    PurgeSeen {
        now_ms: i64,
        limit: usize,
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
    Seen {
        messages: Vec<bluehelm_proto::MessageRef>,
        reply: oneshot::Sender<Result<Vec<bool>, StoreError>>,
    },
    Note {
        id: MessageId,
        reply: oneshot::Sender<Result<Option<Vec<u8>>, StoreError>>,
    },
    Reference {
        key: Vec<u8>,
        reply: oneshot::Sender<Result<Option<Vec<u8>>, StoreError>>,
    },
    Reviews {
        reply: oneshot::Sender<Result<Vec<ReviewEntry>, StoreError>>,
    },
    Notices {
        reply: oneshot::Sender<Result<Vec<crate::engine::register::Entry>, StoreError>>,
    },
    Identities {
        reply: oneshot::Sender<Result<Vec<(NodeId, Member)>, StoreError>>,
    },
    Held {
        reply: oneshot::Sender<Result<Vec<HeldEntry>, StoreError>>,
    },
    HeldOne {
        id: u64,
        reply: oneshot::Sender<Result<Option<HeldEntry>, StoreError>>,
    },
    Rules {
        reply: oneshot::Sender<Result<Rules, StoreError>>,
    },
    Caught {
        rules: Rules,
        reply: oneshot::Sender<Result<Vec<(Place, StoredMessage)>, StoreError>>,
    },
    Shutdown(oneshot::Sender<Result<(), StoreError>>),
}

/// Counters and wake-ups the worker publishes for the async side.
struct Shared {
    /// Copies queued per next hop, per class by rank.
    depths: Mutex<HashMap<NodeId, ClassDepths>>,
    /// Set by the store thread once a failure stops it from taking custody (`/healthz`).
    failed: AtomicBool,
    /// How long each round's fsync took (`bluehelm_fsync_latency_seconds`).
    fsync_latency: LatencyHistogram,
    hop_changes: Mutex<HashMap<NodeId, watch::Sender<u64>>>,
    inbox_changes: watch::Sender<u64>,
    /// New copies for the links that are running (see [`Store::hand_off`]).
    hand_offs: Arc<keeper::HandOffs>,
}

impl Shared {
    fn hop_sender(&self, hop: &NodeId) -> watch::Sender<u64> {
        let mut map = self.hop_changes.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(hop.clone())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }
}

/// Handle to a node's store. Cloning is cheap; the database closes when the last handle and
/// the worker's queue are gone.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl Store {
    /// About the most bytes of records one queue read returns.
    pub const READ_BYTES: usize = storage::MAX_READ_BYTES;

    /// Opens (or creates) the store in `dir`, with custody log files of the default size.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_sized(dir, StoreSizes::default())
    }

    /// [`Store::open`] with custody log files and a sled cache of `sizes`.
    pub fn open_sized(dir: &Path, sizes: StoreSizes) -> Result<Self, StoreError> {
        let (inbox_changes, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            depths: Mutex::new(HashMap::new()),
            failed: AtomicBool::new(false),
            fsync_latency: LatencyHistogram::default(),
            hop_changes: Mutex::new(HashMap::new()),
            inbox_changes,
            hand_offs: Arc::default(),
        });
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        keeper::spawn(dir, sizes, shared.clone(), rx)?;
        Ok(Self { tx, shared })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Applies the writes atomically; the future resolves once they are durable (see
    /// [`Write::needs_fsync`] for the exceptions). The writes are queued when this is called,
    /// not when the future is first polled, so commits from one caller are applied in call
    /// order, unless the store thread's queue is full: then the future waits for room when
    /// it is polled. A caller that does not await each commit before the next and needs
    /// their order uses [`Store::enqueue`].
    pub fn commit(
        &self,
        writes: Vec<Write>,
    ) -> impl std::future::Future<Output = Result<Vec<WriteOutcome>, StoreError>> + Send + 'static
    {
        let (reply, answer) = oneshot::channel();
        let waiting = match self.tx.try_send(Command::Commit(writes, reply)) {
            Ok(()) => Ok(None),
            Err(TrySendError::Full(command)) => Ok(Some((self.tx.clone(), command))),
            Err(TrySendError::Closed(_)) => Err(StoreError::Closed),
        };
        async move {
            if let Some((tx, command)) = waiting? {
                tx.send(command).await.map_err(|_| StoreError::Closed)?;
            }
            answer.await.map_err(|_| StoreError::Closed)?
        }
    }

    /// Queues the writes at the store thread, waiting (without blocking the thread) while its
    /// queue is full; the [`Committing`] resolves once they are durable. Commits queued one
    /// after the other are applied in that order.
    pub async fn enqueue(&self, writes: Vec<Write>) -> Result<Committing, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Commit(writes, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(Committing(answer))
    }

    /// Copies queued for `hop` in one precedence class, in arrival order, after `after_seq`:
    /// at most `limit` of them and about 4 MiB ([`Store::READ_BYTES`]), at least one.
    pub async fn queued(
        &self,
        hop: &NodeId,
        precedence: Precedence,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Queued>, StoreError> {
        let hop = hop.clone();
        self.ask(|reply| Command::Queued {
            hop,
            precedence,
            after_seq,
            limit,
            reply,
        })
        .await
    }

    /// Inbox messages in arrival order after `after_seq`.
    pub async fn inbox(
        &self,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        self.ask(|reply| Command::Inbox {
            after_seq,
            limit,
            reply,
        })
        .await
    }

    /// Queued copies whose message expired at or before `now_ms`.
    pub async fn expired(&self, now_ms: i64, limit: usize) -> Result<Vec<Queued>, StoreError> {
        let due = self.give_ups_due(now_ms, limit).await?;
        Ok(due.into_iter().map(|(queued, _)| queued).collect())
    }

    /// Queued copies to give up on at `now_ms` and why (the ledger's expiry sweep): each is
    /// for [`Write::GiveUp`].
    pub async fn give_ups_due(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Queued, NonDeliveryReason)>, StoreError> {
        self.ask(|reply| Command::Expired {
            now_ms,
            limit,
            reply,
        })
        .await
    }

    /// Whether this node holds or has handled each message (its dedup entry exists).
    pub async fn seen(
        &self,
        messages: Vec<bluehelm_proto::MessageRef>,
    ) -> Result<Vec<bool>, StoreError> {
        self.ask(|reply| Command::Seen { messages, reply }).await
    }

    /// The local API's note on a message (see [`Write::Note`]), if any.
    pub async fn note(&self, id: MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        self.ask(|reply| Command::Note { id, reply }).await
    }

    /// A reference database record (see [`Write::Reference`]), if any. Served by the store
    /// thread, so a lookup never blocks an async worker.
    pub async fn reference(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        self.ask(|reply| Command::Reference { key, reply }).await
    }

    /// The notice requests awaiting review (see [`Write::Review`]), oldest id first.
    pub async fn reviews(&self) -> Result<Vec<ReviewEntry>, StoreError> {
        self.ask(|reply| Command::Reviews { reply }).await
    }

    /// The notice register's entries as stored (see `Write::Notice`), read at start.
    pub async fn notices(&self) -> Result<Vec<crate::engine::register::Entry>, StoreError> {
        self.ask(|reply| Command::Notices { reply }).await
    }

    /// The directory of certified identities as stored (see `Write::Identity`), read at
    /// start.
    pub async fn identities(&self) -> Result<Vec<(NodeId, Member)>, StoreError> {
        self.ask(|reply| Command::Identities { reply }).await
    }

    /// The copies held in quarantine, oldest first.
    pub async fn held(&self) -> Result<Vec<HeldEntry>, StoreError> {
        self.ask(|reply| Command::Held { reply }).await
    }

    /// Held copy `id`, if it is still held.
    pub async fn held_one(&self, id: u64) -> Result<Option<HeldEntry>, StoreError> {
        self.ask(|reply| Command::HeldOne { id, reply }).await
    }

    /// The quarantine rules kept (see `Write::QuarantineRule`), read at start.
    pub async fn rules(&self) -> Result<Rules, StoreError> {
        self.ask(|reply| Command::Rules { reply }).await
    }

    /// The queued copies and inbox messages that `rules` catch, each for a
    /// `Write::Quarantine`.
    pub async fn caught(&self, rules: Rules) -> Result<Vec<(Place, StoredMessage)>, StoreError> {
        self.ask(|reply| Command::Caught { rules, reply }).await
    }

    /// Drops dedup entries of messages that expired before `now_ms`; returns how many.
    pub async fn purge_seen(&self, now_ms: i64, limit: usize) -> Result<usize, StoreError> {
        self.ask(|reply| Command::PurgeSeen {
            now_ms,
            limit,
            reply,
        })
        .await
    }

    /// Messages queued for `hop` right now.
    pub fn depth(&self, hop: &NodeId) -> usize {
        let depths = self.shared.depths.lock().unwrap_or_else(|p| p.into_inner());
        depths.get(hop).map_or(0, |d| d.iter().sum())
    }

    /// Queue depth per next hop.
    pub fn depths(&self) -> BTreeMap<NodeId, usize> {
        self.class_depths()
            .into_iter()
            .map(|(hop, d)| (hop, d.iter().sum()))
            .collect()
    }

    /// Queue depth per next hop and class (by rank, `Precedence::ALL`'s order).
    pub fn class_depths(&self) -> BTreeMap<NodeId, ClassDepths> {
        let depths = self.shared.depths.lock().unwrap_or_else(|p| p.into_inner());
        depths.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Queue depth for `hop` per class (by rank).
    pub fn hop_class_depths(&self, hop: &NodeId) -> ClassDepths {
        let depths = self.shared.depths.lock().unwrap_or_else(|p| p.into_inner());
        depths.get(hop).copied().unwrap_or_default()
    }

    /// Whether a failure has stopped the store from taking custody (it says why to each
    /// writer; this is for health checks).
    pub fn has_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// How long the store's fsyncs took.
    pub fn fsync_latency(&self) -> HistogramReading {
        self.shared.fsync_latency.read()
    }

    /// Registers a send loop for the copies queued for `hop` in one precedence class: from
    /// now until the registration is dropped, the store thread hands each new copy to it
    /// (a bounded number at a time), so that a link that has caught up with its queue offers
    /// it without waiting for a queue read. A copy this node originates is handed over once
    /// durable; a copy relayed from a neighbour as soon as it is staged, before its fsync
    /// (cut-through: its sender keeps its own copy until this node's custody is durable, and
    /// the next hop acknowledges a second offer as a duplicate), unless the store has failed
    /// or the round also queues an originated copy for the same hop and class. If the round
    /// fails, copies not yet taken are taken back. Handed-off copies stay queued until
    /// forgotten, so queue reads return them too.
    pub fn hand_off(&self, hop: &NodeId, precedence: Precedence) -> HandOff {
        HandOff::register(self.shared.hand_offs.clone(), hop.clone(), precedence)
    }

    /// Changes whenever something is queued for `hop`.
    pub fn hop_changes(&self, hop: &NodeId) -> watch::Receiver<u64> {
        self.shared.hop_sender(hop).subscribe()
    }

    /// Longest wait for the store to close (its final checkpoint included): a disk that
    /// stopped answering must not keep a node from stopping (issue 10, defect 18). A healthy
    /// final checkpoint moves at most two custody log files (64 MiB) into sled.
    pub const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

    /// Stops the storage thread after the commands already sent, and returns once the
    /// database is checkpointed and closed, or [`Store::CLOSE_TIMEOUT`] has passed. An error
    /// says the store had failed, or could not checkpoint or close: what was committed is in
    /// the custody log all the same. Later calls on any handle fail with `Closed`.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        // Within the time limit too: a store stuck on its disk leaves its queue full.
        let closing = async {
            if self.tx.send(Command::Shutdown(reply)).await.is_err() {
                return Ok(()); // already closed
            }
            done.await.map_err(|_| StoreError::Closed)?
        };
        match tokio::time::timeout(Self::CLOSE_TIMEOUT, closing).await {
            Ok(closed) => closed,
            Err(_) => Err(StoreError::CloseTimedOut(Self::CLOSE_TIMEOUT)),
        }
    }

    /// Changes whenever a message enters the inbox.
    pub fn inbox_changes(&self) -> watch::Receiver<u64> {
        self.shared.inbox_changes.subscribe()
    }
}

/// A commit queued at the store thread ([`Store::enqueue`]): resolves to its outcomes once it
/// is durable, or to why it is not.
pub struct Committing(oneshot::Receiver<Result<Vec<WriteOutcome>, StoreError>>);

impl std::future::Future for Committing {
    type Output = Result<Vec<WriteOutcome>, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|answer| answer.map_err(|_| StoreError::Closed)?)
    }
}

#[cfg(test)]
mod tests;
