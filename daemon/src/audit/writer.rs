//! The audit writer thread: numbers and chains entries, appends them in batches, and signs
//! checkpoints. Appends are not fsynced one by one (the log is evidence, not custody: a crash
//! may lose the last unsynced lines, never rewrite one); a checkpoint is signed only after
//! the entries it covers are fsynced, so a checkpoint never vouches for a line the disk may
//! not have.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bluehelm_pki::Signer;

use super::read::{CHECKPOINTS_FILE, LOG_FILE};
use super::AuditError;
use crate::custody::now_ms;
use crate::engine::audit::{unhex, Chain, Entry, SignedCheckpoint, MAX_LINE};

/// Batches of entries appended in one write at most.
const BATCH: usize = 256;
/// How long the writer lets entries gather after the first one wakes it: one wake-up and one
/// write per few milliseconds instead of one per entry (a wake-up per entry cost the relay
/// more than the hashing and formatting did).
const GATHER: Duration = Duration::from_millis(2);

/// Entries to write (one custody batch's), or `None`: write what is queued, sign a last
/// checkpoint and stop.
pub(super) type Command = Option<Vec<Entry>>;

/// The open log and where its chain stands.
pub(super) struct LogFile {
    file: File,
    path: PathBuf,
    checkpoints: PathBuf,
    chain: Chain,
    node: String,
}

impl LogFile {
    /// Opens the log for appending and finds its last entry. A last line cut short by a
    /// crash during a write is removed (it was never whole, so never checkpointed).
    pub(super) fn open(storage: &Path, node: &str) -> Result<Self, AuditError> {
        let path = storage.join(LOG_FILE);
        let open_err = |source| AuditError::Open {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(open_err)?;
        let chain = resume(&mut file, &path, node)?;
        Ok(Self {
            file,
            checkpoints: storage.join(CHECKPOINTS_FILE),
            path,
            chain,
            node: node.to_owned(),
        })
    }
}

/// The chain as the file's last whole line leaves it.
fn resume(file: &mut File, path: &Path, node: &str) -> Result<Chain, AuditError> {
    let tail_err = |problem: &str| AuditError::Tail {
        path: path.to_owned(),
        problem: problem.to_owned(),
    };
    let io_err = |source| AuditError::Open {
        path: path.to_owned(),
        source,
    };
    let len = file.metadata().map_err(io_err)?.len();
    if len == 0 {
        return Ok(Chain::new(node));
    }
    let window = len.min(2 * MAX_LINE as u64 + 2);
    file.seek(SeekFrom::Start(len - window)).map_err(io_err)?;
    let mut tail = Vec::with_capacity(window as usize);
    file.take(window).read_to_end(&mut tail).map_err(io_err)?;
    let mut whole = tail.len();
    if tail.last() != Some(&b'\n') {
        let Some(cut) = tail.iter().rposition(|b| *b == b'\n') else {
            if window < len {
                return Err(tail_err("no line end in its last bytes"));
            }
            tracing::warn!(log = %path.display(), "the audit log held only a line cut short by a crash: starting it again");
            file.set_len(0).map_err(io_err)?;
            return Ok(Chain::new(node));
        };
        whole = cut + 1;
        let keep = len - (tail.len() - whole) as u64;
        tracing::warn!(log = %path.display(), bytes = len - keep,
            "the audit log ended in a line cut short by a crash: removed it");
        file.set_len(keep).map_err(io_err)?;
    }
    let body = &tail[..whole - 1];
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let last = std::str::from_utf8(&body[start..]).map_err(|_| tail_err("not UTF-8"))?;
    let (hash, json) = last
        .split_once(' ')
        .ok_or_else(|| tail_err("no hash before the entry"))?;
    let hash = unhex(hash)
        .and_then(|h| <[u8; 32]>::try_from(h).ok())
        .ok_or_else(|| tail_err("bad hash"))?;
    let entry: Entry = serde_json::from_str(json).map_err(|e| tail_err(&e.to_string()))?;
    Ok(Chain::resume(entry.seq, hash))
}

pub(super) struct Writer {
    log: LogFile,
    /// The node's signer in force, shared with the node: a reload that renews the
    /// certificate and key swaps it, and the next checkpoint is signed with the new one.
    /// gs checks a checkpoint against the certificate of the envelope that carries it,
    /// which the node signs with the signer in force, so an old key here would get every
    /// later checkpoint dropped there; `audit verify` checks each line with the certificate
    /// on it, so a log whose checkpoints change certificate midway verifies.
    signer: Arc<ArcSwap<Signer>>,
    every: Duration,
    to_hub: tokio::sync::mpsc::Sender<SignedCheckpoint>,
    /// Entries appended since the last checkpoint.
    unchecked: u64,
}

impl Writer {
    pub(super) fn new(
        log: LogFile,
        signer: Arc<ArcSwap<Signer>>,
        every: Duration,
        to_hub: tokio::sync::mpsc::Sender<SignedCheckpoint>,
    ) -> Self {
        Self {
            log,
            signer,
            every,
            to_hub,
            unchecked: 0,
        }
    }

    pub(super) fn run(mut self, commands: Receiver<Command>) {
        let mut next_checkpoint = Instant::now() + self.every;
        let mut text = String::new();
        loop {
            let wait = next_checkpoint.saturating_duration_since(Instant::now());
            let first = match commands.recv_timeout(wait) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(None),
            };
            if matches!(first, Some(Some(_))) {
                std::thread::sleep(GATHER);
            }
            let mut closing = false;
            let mut batch = first
                .into_iter()
                .chain(std::iter::from_fn(|| commands.try_recv().ok()));
            for _ in 0..BATCH {
                match batch.next() {
                    Some(Some(entries)) => {
                        for entry in entries {
                            text.push_str(&self.log.chain.append(entry));
                            self.unchecked += 1;
                        }
                    }
                    Some(None) => {
                        closing = true;
                        break;
                    }
                    None => break,
                }
            }
            if !text.is_empty() {
                if let Err(err) = self.log.file.write_all(text.as_bytes()) {
                    tracing::error!(log = %self.log.path.display(), error = %err,
                        "cannot append to the audit log: entries lost");
                }
                text.clear();
            }
            if closing || Instant::now() >= next_checkpoint {
                self.checkpoint();
                next_checkpoint = Instant::now() + self.every;
            }
            if closing {
                return;
            }
        }
    }

    /// Fsyncs what was appended and signs where the log stands, if it moved.
    fn checkpoint(&mut self) {
        if self.unchecked == 0 {
            return;
        }
        if let Err(err) = self.log.file.sync_data() {
            tracing::error!(log = %self.log.path.display(), error = %err,
                "cannot fsync the audit log: no checkpoint signed");
            return;
        }
        self.unchecked = 0;
        let checkpoint = self.log.chain.checkpoint(now_ms());
        // Loaded once: the certificate on the line and the key that signs it are one pair.
        let signer = self.signer.load();
        let signed = SignedCheckpoint::new(
            &self.log.node,
            &checkpoint,
            signer.certificate_der(),
            |message| signer.sign_checkpoint(message),
        );
        if let Err(err) = append_synced(&self.log.checkpoints, &signed.to_line()) {
            tracing::error!(file = %self.log.checkpoints.display(), error = %err,
                "cannot keep a signed audit checkpoint");
        }
        // Full: the hub is far behind; the next checkpoint covers this one's entries.
        let _ = self.to_hub.try_send(signed);
    }
}

pub(super) fn append_synced(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_data()
}
