//! The one storage interface of a node: custody of queued messages, the local inbox, and the
//! dedup table. Its durability rule lives here and nowhere else: a write is reported done only
//! after it is in the custody log and the log file has been fsynced. Writes that arrive
//! together share one log record and one fsync (group commit). sled holds everything, but
//! receives committed writes later, in checkpoints that run on their own thread and end with
//! sled's flush and an fsync of its files (sled's own flush uses `sync_file_range`, which is
//! no fsync); see `overlay.rs` and `log.rs`.
//!
//! sled calls block, so they run on one dedicated thread that owns the database; async code
//! talks to it through [`Store`], a cheap handle.

mod handoff;
mod in_use;
mod index;
mod keys;
mod log;
mod overlay;
pub mod private;
mod record;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use bluehelm_proto::{MessageId, NodeId, Precedence};
use tokio::sync::{oneshot, watch};

use crate::engine::Hop;
pub use handoff::HandOff;
pub use keys::QueueKey;
/// Custody log file sizes (`[limits] custody_log_file_mib`): the default and the least.
pub use log::{DEFAULT_FILE_BYTES as DEFAULT_LOG_FILE_BYTES, MIN_FILE_BYTES as MIN_LOG_FILE_BYTES};
pub use record::StoredMessage;

/// Errors of the store. Local faults: the node cannot take custody until they are fixed.
/// Each names what failed (issue 10, defect 17): a file operation says which, and a commit
/// refused because the store failed is no "corrupt record".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed: check the storage directory's disk space and permissions.
    #[error("storage error: {0}; check disk space and permissions of the storage directory")]
    Sled(#[from] sled::Error),
    /// A file operation of the store failed; `what` says which.
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    /// Another process has the storage directory open: two nodes must not share one.
    #[error(
        "the storage directory {} is in use by {}: stop that node, or give this one its own `storage` directory",
        dir.display(),
        holder.map_or("another process".to_string(), |pid| format!("process {pid}"))
    )]
    InUse {
        dir: std::path::PathBuf,
        /// The process holding it, when it can be told.
        holder: Option<u32>,
    },
    /// A stored record could not be read back.
    #[error("corrupt record in the store: {0}")]
    Corrupt(String),
    /// A write to the custody log or a checkpoint (moving committed changes from the log into
    /// sled) failed; the store takes no more custody until the node restarts.
    #[error("the store failed and takes no more custody: {0}; free space or repair the storage directory's disk, then restart the node (see docs/operations.md)")]
    Failed(String),
    /// This commit was not made durable, so custody was not taken; the reason follows.
    #[error("custody not taken: {0}")]
    NotTaken(String),
    /// The storage thread has stopped (the node is shutting down or it crashed).
    #[error("the store has shut down")]
    Closed,
    /// The store did not close within [`Store::CLOSE_TIMEOUT`] (its disk is stuck): what
    /// was committed is in the custody log, which the next start replays.
    #[error("the store did not close within {0:?}; committed messages are in the custody log and the next start replays them: check the storage directory's disk")]
    CloseTimedOut(std::time::Duration),
}

impl StoreError {
    /// An I/O error of the operation `what` (lower-case, says what was being done).
    pub fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        StoreError::Io {
            what: what.into(),
            error,
        }
    }
}

/// Taking custody of one message: its record and where its copies go.
#[derive(Debug, Clone)]
pub struct Custody {
    pub message: StoredMessage,
    /// One copy per hop: queued for a neighbour, or put in the inbox.
    pub copies: BTreeMap<Hop, Vec<NodeId>>,
    /// A report (a delivery report) to take custody of in the same commit, only if this
    /// message is new: a duplicate must not be reported twice.
    pub report: Option<Box<Custody>>,
}

/// One change to the store.
#[derive(Debug, Clone)]
pub enum Write {
    /// Store the copies and remember the message for deduplication, unless it was seen.
    Accept(Custody),
    /// The next hop took custody of a queued copy (or it expired): drop it. Not fsynced on
    /// its own: if it is lost in a crash, the copy is offered again and the next hop, which
    /// remembers the message, acknowledges it as a duplicate. It becomes durable with the
    /// next durable commit.
    Forget(QueueKey),
    /// The local application has the inbox message with this sequence number.
    AckInbox(u64),
    /// The local API's note on a message this node sent (its outcome, from reports), kept
    /// under key `a` + message id. The value is the API's own encoding (see `api/notes.rs`).
    Note { id: MessageId, value: Vec<u8> },
    /// A record of a reference database served by the node (`crate::services`), kept under
    /// key `r` + `key`. Key and value are the services' own encoding; writing a key again
    /// replaces its record.
    Reference { key: Vec<u8>, value: Vec<u8> },
    /// A notice request held for review at the hub, under key `v` + message id. The value
    /// is the request's signed envelope as received (`SignedEnvelope::encode_to_vec`).
    Review { id: MessageId, value: Vec<u8> },
    /// The request left the review queue (approved or refused).
    Unreview(MessageId),
}

impl Write {
    /// About how many bytes it writes (for bounding a commit round).
    pub fn approx_bytes(&self) -> usize {
        match self {
            Write::Accept(custody) => {
                let copies = custody.copies.len().max(1);
                let report = custody
                    .report
                    .as_ref()
                    .map_or(0, |r| r.message.signed.len());
                copies * (custody.message.signed.len() + 64) + report
            }
            Write::Note { value, .. }
            | Write::Reference { value, .. }
            | Write::Review { value, .. } => value.len() + 32,
            Write::Forget(_) | Write::AckInbox(_) | Write::Unreview(_) => 48,
        }
    }

    /// Whether the commit must be fsynced before it is reported done.
    pub fn needs_fsync(&self) -> bool {
        !matches!(self, Write::Forget(_))
    }
}

/// What one write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Stored,
    /// An `Accept` of a message this node had already seen: nothing was stored.
    Duplicate,
    /// A `Forget` or `AckInbox` of something already gone.
    Missing,
    Removed,
}

/// A notice request awaiting review: its message id and its signed envelope as received
/// (see [`Write::Review`]).
pub type ReviewEntry = (MessageId, Vec<u8>);

/// A queued copy with its key.
#[derive(Debug, Clone)]
pub struct Queued {
    pub key: QueueKey,
    pub message: StoredMessage,
}

/// A message in the local inbox.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    pub seq: u64,
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
        reply: oneshot::Sender<Result<Vec<Queued>, StoreError>>,
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
    Shutdown(oneshot::Sender<Result<(), StoreError>>),
}

/// Counters and wake-ups the worker publishes for the async side.
struct Shared {
    depths: Mutex<HashMap<NodeId, usize>>,
    hop_changes: Mutex<HashMap<NodeId, watch::Sender<u64>>>,
    inbox_changes: watch::Sender<u64>,
    /// New copies for the links that are running (see [`Store::hand_off`]).
    hand_offs: Arc<handoff::HandOffs>,
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
    tx: std::sync::mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl Store {
    /// About the most bytes of records one queue read returns.
    pub const READ_BYTES: usize = worker::MAX_READ_BYTES;

    /// Opens (or creates) the store in `dir`, with custody log files of the default size.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_log_size(dir, DEFAULT_LOG_FILE_BYTES)
    }

    /// [`Store::open`] with custody log files of `log_file_bytes` (see `log.rs`).
    pub fn open_with_log_size(dir: &Path, log_file_bytes: u64) -> Result<Self, StoreError> {
        let (inbox_changes, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            depths: Mutex::new(HashMap::new()),
            hop_changes: Mutex::new(HashMap::new()),
            inbox_changes,
            hand_offs: Arc::default(),
        });
        let tx = worker::spawn(dir, log_file_bytes, shared.clone())?;
        Ok(Self { tx, shared })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Applies the writes atomically; the future resolves once they are durable (see
    /// [`Write::needs_fsync`] for the one exception). The writes
    /// are queued when this is called, not when the future is first polled, so commits from
    /// one caller are applied in call order.
    pub fn commit(
        &self,
        writes: Vec<Write>,
    ) -> impl std::future::Future<Output = Result<Vec<WriteOutcome>, StoreError>> + Send + 'static
    {
        let (reply, answer) = oneshot::channel();
        let sent = self.tx.send(Command::Commit(writes, reply));
        async move {
            sent.map_err(|_| StoreError::Closed)?;
            answer.await.map_err(|_| StoreError::Closed)?
        }
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
        depths.get(hop).copied().unwrap_or(0)
    }

    /// Queue depth per next hop.
    pub fn depths(&self) -> BTreeMap<NodeId, usize> {
        let depths = self.shared.depths.lock().unwrap_or_else(|p| p.into_inner());
        depths.iter().map(|(k, v)| (k.clone(), *v)).collect()
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
        if self.tx.send(Command::Shutdown(reply)).is_err() {
            return Ok(()); // already closed
        }
        match tokio::time::timeout(Self::CLOSE_TIMEOUT, done).await {
            Ok(Ok(closed)) => closed,
            Ok(Err(_)) => Err(StoreError::Closed),
            Err(_) => Err(StoreError::CloseTimedOut(Self::CLOSE_TIMEOUT)),
        }
    }

    /// Changes whenever a message enters the inbox.
    pub fn inbox_changes(&self) -> watch::Receiver<u64> {
        self.shared.inbox_changes.subscribe()
    }
}

#[cfg(test)]
mod tests;
