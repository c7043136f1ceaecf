//! The node's audit log (issue 14, item 5): the IO shell around `engine::audit`. Custody,
//! the inbox and the services hand entries to an [`AuditLog`]; one thread numbers, chains
//! and appends them to `<storage>/audit.log`, in batches, off the custody path, and signs a
//! checkpoint from time to time (`audit-checkpoints.log`, and a copy sent to gs, which
//! keeps it in `audit-checkpoints-<node>.log`). Reading the files back (`audit verify`,
//! `trace`, `queries`) is `read.rs`.

mod checkpoints;
mod read;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bluehelm_pki::Signer;

use crate::config::AuditConfig;
use crate::engine::audit::{Entry, SignedCheckpoint};

pub use checkpoints::{keep_received, send_to_hub, CHECKPOINT_SERVICE};
pub use read::{
    entries, received_checkpoints_file, verify_log, LogVerified, ReadError, CHECKPOINTS_FILE,
    LOG_FILE,
};

/// Batches of entries waiting for the writer (a batch is what one custody step decided: at
/// most a few hundred entries). A full queue makes the recording task wait (it never drops
/// an entry): this bounds the queue's memory.
const QUEUE: usize = 1024;

/// Why the audit log cannot be opened. The node does not start without it: an audit trail
/// with a hole is what it must not have.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open the audit log {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the audit log {path} ends in an entry that does not parse ({problem}): run `bluehelm audit verify` and move the file aside if it was tampered with")]
    Tail { path: PathBuf, problem: String },
    #[error("cannot start the audit writer thread: {0}")]
    Thread(std::io::Error),
}

/// Where the node records what it does. Cloning is cheap; every clone writes to the same
/// log. A disabled log (`[audit] enabled = false`) records nothing.
#[derive(Clone)]
pub struct AuditLog {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queue: SyncSender<writer::Command>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl AuditLog {
    /// A log that records nothing.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Opens (or creates) `<storage>/audit.log` and starts its writer. Signed checkpoints
    /// are made every `settings.checkpoint_every`, at close and before a file is set aside
    /// (past `settings.rotate_bytes`), each with the signer `signer` holds at that
    /// moment (the node's, which a reload may replace), and each is also sent on
    /// `checkpoints`.
    pub fn open(
        storage: &Path,
        signer: Arc<ArcSwap<Signer>>,
        settings: AuditConfig,
        checkpoints: tokio::sync::mpsc::Sender<SignedCheckpoint>,
    ) -> Result<Self, AuditError> {
        let file = writer::LogFile::open(storage, signer.load().node().as_str())?;
        let (queue, commands) = sync_channel(QUEUE);
        let writer = writer::Writer::new(
            file,
            signer,
            settings.checkpoint_every,
            settings.rotate_bytes,
            checkpoints,
        );
        let thread = std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || writer.run(commands))
            .map_err(AuditError::Thread)?;
        Ok(Self {
            inner: Some(Arc::new(Inner {
                queue,
                thread: Mutex::new(Some(thread)),
            })),
        })
    }

    /// Records one entry.
    pub fn record(&self, entry: Entry) {
        self.send(Some(vec![entry]));
    }

    /// Records entries in order, as one batch.
    pub fn record_all(&self, entries: impl IntoIterator<Item = Entry>) {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if !entries.is_empty() {
            self.send(Some(entries));
        }
    }

    /// Whether entries are kept.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    fn send(&self, command: writer::Command) {
        let Some(inner) = &self.inner else { return };
        if inner.queue.send(command).is_err() {
            tracing::error!("the audit writer has stopped: an entry was not recorded");
        }
    }

    /// Writes what is queued, signs a last checkpoint and stops the writer; waits for it.
    /// Entries recorded afterwards are lost (and logged as such).
    pub fn close(&self) {
        let Some(inner) = &self.inner else { return };
        let _ = inner.queue.send(None);
        // A poisoned lock means a thread panicked while joining: nothing left to wait for.
        let thread = inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the audit writer panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests;
