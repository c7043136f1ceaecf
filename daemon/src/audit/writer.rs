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

use super::read::{log_files, rotated_name, CHECKPOINTS_FILE, LOG_FILE};
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
    /// Bytes in `file`: past the configured size it is set aside (rotated).
    bytes: u64,
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
        let chain = match resume(&mut file, &path)? {
            Some(chain) => chain,
            // A new file: the chain goes on from the last file set aside, if any.
            None => match set_aside_last(storage)? {
                Some(last) => {
                    let mut older = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&last)
                        .map_err(|source| AuditError::Open {
                            path: last.clone(),
                            source,
                        })?;
                    resume(&mut older, &last)?.unwrap_or_else(|| Chain::new(node))
                }
                None => Chain::new(node),
            },
        };
        let bytes = file.metadata().map_err(open_err)?.len();
        Ok(Self {
            file,
            bytes,
            checkpoints: storage.join(CHECKPOINTS_FILE),
            path,
            chain,
            node: node.to_owned(),
        })
    }

    /// Sets the file aside as `audit.log.<last entry>` and starts a new `audit.log`, the
    /// chain going on across. Call with every entry fsynced and checkpointed.
    fn rotate(&mut self) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let aside = dir.join(rotated_name(self.chain.last_seq()));
        std::fs::rename(&self.path, &aside)?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        File::open(dir)?.sync_all()?;
        self.file = file;
        self.bytes = 0;
        Ok(())
    }
}

/// The last file of the log set aside, if any.
fn set_aside_last(storage: &Path) -> Result<Option<PathBuf>, AuditError> {
    let files = log_files(storage).map_err(|err| AuditError::Tail {
        path: storage.to_owned(),
        problem: err.to_string(),
    })?;
    let current = storage.join(LOG_FILE);
    Ok(files.into_iter().rev().find(|f| *f != current))
}

/// The chain as the file's last whole line leaves it; `None` for a file without one.
fn resume(file: &mut File, path: &Path) -> Result<Option<Chain>, AuditError> {
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
        return Ok(None);
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
            return Ok(None);
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
    Ok(Some(Chain::resume(entry.seq, hash)))
}

pub(super) struct Writer {
    log: LogFile,
    /// The node's signer in force, shared with the node: a reload that renews the
    /// certificate and key swaps it, and the next checkpoint is signed with the new one.
    /// Each checkpoint carries the certificate that signed it, which gs and `audit verify`
    /// check it with, so a log whose checkpoints change certificate midway verifies, and a
    /// checkpoint signed just before a renewal is kept at gs (`checkpoints.rs`).
    signer: Arc<ArcSwap<Signer>>,
    every: Duration,
    /// Past this many bytes the file is set aside and a new one started (0: never).
    rotate_bytes: u64,
    to_hub: tokio::sync::mpsc::Sender<SignedCheckpoint>,
    /// Entries appended since the last checkpoint.
    unchecked: u64,
}

impl Writer {
    pub(super) fn new(
        log: LogFile,
        signer: Arc<ArcSwap<Signer>>,
        every: Duration,
        rotate_bytes: u64,
        to_hub: tokio::sync::mpsc::Sender<SignedCheckpoint>,
    ) -> Self {
        Self {
            log,
            signer,
            every,
            rotate_bytes,
            to_hub,
            unchecked: 0,
        }
    }

    pub(super) fn run(mut self, commands: Receiver<Command>) {
        let mut next_checkpoint = Instant::now() + self.every;
        let mut text = String::new();
        let mut json = String::new();
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
                            self.log.chain.append_to(entry, &mut json, &mut text);
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
                match self.log.file.write_all(text.as_bytes()) {
                    Ok(()) => self.log.bytes += text.len() as u64,
                    Err(err) => tracing::error!(log = %self.log.path.display(), error = %err,
                        "cannot append to the audit log: entries lost"),
                }
                text.clear();
            }
            if self.rotate_bytes > 0 && self.log.bytes >= self.rotate_bytes {
                // A checkpoint of the last entry first: it is what a reader starts from if
                // the files before the new one are moved away.
                self.checkpoint();
                next_checkpoint = Instant::now() + self.every;
                self.rotate();
            } else if closing || Instant::now() >= next_checkpoint {
                self.checkpoint();
                next_checkpoint = Instant::now() + self.every;
            }
            if closing {
                return;
            }
        }
    }

    /// Sets the full file aside, once a checkpoint covers all of it; if anything fails the
    /// same file goes on, and the next write tries again.
    fn rotate(&mut self) {
        if self.unchecked > 0 {
            return; // the checkpoint failed: its error is logged
        }
        match self.log.rotate() {
            Ok(()) => tracing::info!(log = %self.log.path.display(),
                last_entry = self.log.chain.last_seq(), "audit log file set aside, a new one started"),
            Err(err) => tracing::error!(log = %self.log.path.display(), error = %err,
                "cannot set the full audit log file aside: it goes on growing"),
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
