//! Errors of the store, typed by what failed (issue 11): a corrupt entry says which table
//! and key and what was wrong with it; a failure that stops the store says which step failed;
//! a commit not taken says why. All are local faults: the node cannot take custody until
//! they are fixed.

use std::sync::Arc;

/// Errors of the store. Each names what failed (issue 10, defect 17): a file operation says
/// which, and a commit refused because the store failed is no "corrupt record".
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
    /// A stored entry could not be read back.
    #[error("corrupt {entry} in the store: {problem}")]
    Corrupt { entry: Entry, problem: Corruption },
    /// A write to the custody log or a checkpoint (moving committed changes from the log into
    /// sled) failed; the store takes no more custody until the node restarts.
    #[error("the store failed and takes no more custody: {0}; free space or repair the storage directory's disk, then restart the node (see docs/operations.md)")]
    Failed(Failure),
    /// This commit was not made durable, so custody was not taken; the reason follows.
    #[error("custody not taken: {0}")]
    NotTaken(NotTaken),
    /// The storage thread has stopped (the node is shutting down or it crashed).
    #[error("the store has shut down")]
    Closed,
    /// The store did not close within [`crate::store::Store::CLOSE_TIMEOUT`] (its disk is
    /// stuck): what was committed is in the custody log, which the next start replays.
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

    /// The entry `entry` is corrupt: `problem`.
    pub fn corrupt(entry: Entry, problem: Corruption) -> Self {
        StoreError::Corrupt { entry, problem }
    }
}

/// The table of a stored entry (see `keys.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Queue,
    Inbox,
    Seen,
    Note,
    Reference,
    Review,
    /// The notice register (`n`).
    Notice,
    /// The directory of certified identities (`d`).
    Identity,
    /// Copies held in quarantine (`x`).
    Held,
    /// Quarantine rules (`u`).
    Rule,
    /// The store's own counters (`mseq`, `mlog`).
    Meta,
    /// A record of the custody log.
    Log,
}

/// Which stored entry: its table and key (for the log, the record number, big-endian).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub table: Table,
    pub key: Vec<u8>,
}

impl Entry {
    pub fn new(table: Table, key: &[u8]) -> Self {
        Self {
            table,
            key: key.to_vec(),
        }
    }

    /// The inbox message with sequence number `seq`.
    pub fn inbox(seq: u64) -> Self {
        Self::new(Table::Inbox, &super::keys::inbox_key(seq))
    }
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = match self.table {
            Table::Queue => "queue entry",
            Table::Inbox => "inbox entry",
            Table::Seen => "dedup entry",
            Table::Note => "note",
            Table::Reference => "reference record",
            Table::Review => "review entry",
            Table::Notice => "notice register entry",
            Table::Identity => "directory entry",
            Table::Held => "quarantined copy",
            Table::Rule => "quarantine rule",
            Table::Meta => "counter",
            Table::Log => "custody log record",
        };
        write!(f, "{table} ")?;
        if self.table == Table::Log {
            let mut seq = [0u8; 8];
            let n = self.key.len().min(8);
            seq[8 - n..].copy_from_slice(&self.key[..n]);
            return write!(f, "{}", u64::from_be_bytes(seq));
        }
        // Keys are mostly printable (node ids); the rest is shown in hex.
        for byte in &self.key {
            if byte.is_ascii_graphic() {
                write!(f, "{}", char::from(*byte))?;
            } else {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// What was wrong with a stored entry.
#[derive(Debug, thiserror::Error)]
pub enum Corruption {
    #[error("unknown record version {0}")]
    UnknownVersion(u8),
    #[error("bad precedence rank {0}")]
    BadPrecedence(u8),
    #[error("truncated record")]
    Truncated,
    #[error("bad message id")]
    BadMessageId,
    #[error("bad node id")]
    BadNodeId,
    #[error("malformed key")]
    BadKey,
    #[error("a counter must be 8 bytes, not {0}")]
    BadCounter(usize),
    #[error("it follows record {after}: records are missing; restore the storage directory from a backup")]
    LogGap { after: u64 },
    /// A message's signed envelope, verified when it arrived, no longer decodes.
    #[error("its signed envelope does not decode: {0}")]
    Envelope(#[from] bluehelm_proto::DecodeError),
    /// A reference database record does not decode as the services wrote it.
    #[error("it does not decode: {0}")]
    Json(#[from] serde_json::Error),
    /// A notice register entry is not the publication it was written as.
    #[error("{0}")]
    Notice(#[from] crate::engine::register::EntryError),
    /// A directory entry is not a role, a country and a mission the CA's rules allow.
    #[error("it is not a certified identity (role, country, mission)")]
    BadIdentity,
    /// A record in a value file (`values.rs`) cannot be read back: its file is missing, it
    /// lies past the file's end, its pointer names too much, or it fails its checksum.
    #[error("{0}")]
    Value(super::values::ValueError),
    /// A quarantined copy does not say where it was going.
    #[error("it does not say where the copy was going")]
    BadHeldFor,
    /// A dedup part (`seen_parts.rs`) is not an expiry followed by whole message ids.
    #[error("it is not an expiry followed by message ids")]
    BadSeenPart,
    /// A queue run (`queue_runs.rs`) is not copies in ascending order from its key's on.
    #[error("it is not a run of queued copies in ascending order")]
    BadQueueRun,
}

/// Why the store failed and takes no more custody.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// Appending to the custody log or its fdatasync failed. Not safely retried: the record
    /// may be in the file, and after a failed fsync the kernel may have dropped the pages it
    /// could not write.
    #[error("custody log write failed: {0}")]
    LogWrite(Arc<std::io::Error>),
    /// Syncing the log file before a checkpoint switched files failed.
    #[error("cannot sync the custody log: {0}")]
    LogSwitch(Arc<std::io::Error>),
    #[error("cannot start a checkpoint thread: {0}")]
    CheckpointThread(Arc<std::io::Error>),
    #[error("the checkpoint thread panicked")]
    CheckpointPanicked,
    /// Moving committed changes into sled, or making them durable there, failed.
    #[error("{0}")]
    Checkpoint(Arc<StoreError>),
    /// The field databases' storage (`records/`, issue 13) failed; the text says how.
    #[error("{0}")]
    Records(String),
    /// Injected by a test.
    #[cfg(test)]
    #[error("injected by a test")]
    Injected,
}

/// Why a commit was not made durable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotTaken {
    /// Its round's commit failed (most often [`StoreError::Failed`]).
    #[error("{0}")]
    Commit(Arc<StoreError>),
    /// Reading the store to stage a write of its round failed.
    #[error("reading the store to stage a write failed: {0}")]
    Lookup(Arc<StoreError>),
}
