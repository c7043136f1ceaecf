//! The key-value layer the store worker uses: sled, plus the operations committed since the
//! last checkpoint, which are durable in the custody log (`log.rs`) and held in memory until
//! a checkpoint applies them to sled.
//!
//! Most custody is short: a relay stores a copy and drops it a few milliseconds later when
//! the next hop has it. A copy that is stored and dropped between two checkpoints never
//! reaches sled at all; only what is still there at the checkpoint does.
//!
//! A checkpoint runs on a thread of its own, so that commits never wait for sled: it takes
//! the pending changes (they stay readable, as the `frozen` layer, until it is done), the log
//! switches to its other file, and the thread applies the changes to sled, flushes sled and
//! syncs the store's filesystem (see [`make_durable`]), then does the same for the number
//! of the last log record they cover (key
//! [`META_LOG_SEQ`]). The next checkpoint starts only after that, so a log file is
//! rewritten only when all it holds is in sled. At start-up the records after that number are
//! replayed. Reads see sled, then the frozen changes, then the pending ones on top.

use std::cmp::Ordering;
use std::collections::{btree_map, BTreeMap};
use std::fs::File;
use std::iter::Peekable;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use sled::{Db, IVec};

use super::error::{Corruption, Entry, Failure, Table};
use super::keys::SEEN;
use super::log::Log;
pub use super::log::Op;
use super::queue_runs::{self, RunWrites};
use super::seen_parts::{self, Packer, Part, MAX_PARTS_PER_PREFIX};
use super::values::{self, Pointer, ValueFiles, ValueLog, ValueSizes};
use super::{StoreError, StoreSizes};

/// sled key of the number of the last log record a checkpoint applied.
pub const META_LOG_SEQ: &[u8] = b"mlog";

/// Changes held in memory that start a checkpoint, however little of the log they fill: a
/// removal is a short record, and a hub draining a million copies for a post held 114 MB
/// of them for half a 32 MiB file (issue 15, heaptrack at the drain's peak). Commits wait
/// for the running checkpoint at twice this, as at a full file: with the frozen changes, at
/// most about 100,000 changes, some 25 MB.
const CHECKPOINT_CHANGES: usize = 32_768;

/// A pending change to one key.
enum Pending {
    /// `in_sled`: the key may exist in sled (or in the frozen layer), so removing it must
    /// leave a removal for the checkpoint.
    Put {
        // Shared with the log record it came from: staging copies nothing, nor does
        // a read that hands it on (a record for the next hop, an inbox message).
        value: Bytes,
        in_sled: bool,
    },
    Removed,
}

type Changes = BTreeMap<IVec, Pending>;

/// What a checkpoint thread hands back: what it wrote with, and the value files no pointer
/// names any more (or why it failed).
type Checkpointed = (SledFiles, Result<Vec<u32>, StoreError>);
static NO_CHANGES: Changes = BTreeMap::new();

/// What a checkpoint writes besides sled: the storage directory, open (a checkpoint syncs
/// the filesystem that holds it), and the value files.
struct SledFiles {
    dir: File,
    values: ValueLog,
}

pub struct Kv {
    db: Db,
    /// Taken by the running checkpoint, returned when it ends.
    files: Option<SledFiles>,
    log: Log,
    /// Records sled points to (`values.rs`).
    values: Arc<ValueFiles>,
    /// Number of the last log record written.
    seq: u64,
    pending: Changes,
    /// Changes the running checkpoint is moving into sled.
    frozen: Option<Arc<Changes>>,
    running: Option<JoinHandle<Checkpointed>>,
    /// Set when a checkpoint failed: the store takes no more custody.
    failed: Option<Failure>,
}

impl Kv {
    /// Opens sled and the log in `dir` and replays the log records no checkpoint applied;
    /// log files and cache of the default sizes ([`StoreSizes::default`]). The store opens with the
    /// configured sizes ([`Kv::open_sized`]); tests open with this.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_sized(dir, StoreSizes::default())
    }

    /// [`Kv::open`] with log files of `sizes.log_file_bytes` (`[limits] custody_log_file_mib`)
    /// and a sled cache of `sizes.cache_bytes` (`[limits] store_cache_mib`).
    /// A checkpoint starts once half a file is written: it has the other half's worth of
    /// commits' time to finish before commits wait for it, so memory holds at most about two
    /// files' worth of changes.
    pub fn open_sized(dir: &Path, sizes: StoreSizes) -> Result<Self, StoreError> {
        Self::open_with(dir, sizes, ValueSizes::default())
    }

    /// [`Kv::open_sized`] with value files of `value_sizes` (tests make them small, to roll
    /// them over and compact them).
    fn open_with(
        dir: &Path,
        sizes: StoreSizes,
        value_sizes: ValueSizes,
    ) -> Result<Self, StoreError> {
        super::private::prepare(dir)?;
        // sled's data file: sled locks it, and says only "WouldBlock" when it cannot.
        super::in_use::check(dir, &dir.join("db"))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(sizes.cache_bytes)
            // Durability is ours: the custody log, and checkpoints that flush and fsync.
            .flush_every_ms(None)
            .open()?;
        // A failed open leaves sled open: its `Drop` flushes until every dirty page is
        // written, which on a full or failed disk never ends (see `close`), and the start
        // would hang instead of failing. One handle forgotten keeps that drop from running.
        let keep_open = db.clone();
        match Self::load(dir, db, sizes.log_file_bytes, value_sizes) {
            Ok(kv) => Ok(kv),
            Err(err) => {
                std::mem::forget(keep_open);
                Err(err)
            }
        }
    }

    /// The rest of [`Kv::open`], once sled is open: the log, its replay, a checkpoint.
    fn load(
        dir: &Path,
        db: Db,
        log_file_bytes: u64,
        value_sizes: ValueSizes,
    ) -> Result<Self, StoreError> {
        let checkpointed = db.contains_key(META_LOG_SEQ)?;
        let values = ValueLog::open(dir, &db, value_sizes, checkpointed).map_err(|e| {
            StoreError::io(
                format!("cannot open the value files in {}", dir.display()),
                e,
            )
        })?;
        let files = SledFiles {
            dir: File::open(dir).map_err(|e| {
                StoreError::io(
                    format!("cannot open the storage directory {}", dir.display()),
                    e,
                )
            })?,
            values,
        };
        let (log, records) = Log::open(dir, log_file_bytes).map_err(|e| {
            StoreError::io(
                format!("cannot open the custody log in {}", dir.display()),
                e,
            )
        })?;
        let applied = match db.get(META_LOG_SEQ)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                StoreError::corrupt(
                    Entry::new(Table::Meta, META_LOG_SEQ),
                    Corruption::BadCounter(v.len()),
                )
            })?),
            None => 0,
        };
        let mut kv = Self {
            db,
            values: files.values.files(),
            files: Some(files),
            log,
            seq: applied,
            pending: BTreeMap::new(),
            frozen: None,
            running: None,
            failed: None,
        };
        let mut replayed = 0;
        for record in records {
            if record.seq <= applied {
                continue;
            }
            if record.seq != kv.seq + 1 {
                return Err(StoreError::corrupt(
                    Entry::new(Table::Log, &record.seq.to_be_bytes()),
                    Corruption::LogGap { after: kv.seq },
                ));
            }
            kv.seq = record.seq;
            for op in record.ops {
                kv.stage(op);
            }
            replayed += 1;
        }
        if replayed > 0 {
            tracing::info!(records = replayed, "replayed the custody log");
        }
        // What was replayed goes to sled now, so both log files are free.
        kv.checkpoint()?;
        Ok(kv)
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        match self.change(key) {
            Some(Pending::Put { value, .. }) => Ok(Some(value.clone())),
            Some(Pending::Removed) => Ok(None),
            None => match queue_runs::get(&self.db, key)? {
                Some(value) => self.resolve(key, Bytes::from_owner(value)).map(Some),
                None => Ok(None),
            },
        }
    }

    /// A value as sled holds it, with a pointer replaced by the record it names.
    fn resolve(&self, key: &[u8], value: Bytes) -> Result<Bytes, StoreError> {
        if !values::separable(key) {
            return Ok(value);
        }
        match Pointer::decode(&value) {
            Some(pointer) => match self.values.read(&pointer) {
                Ok(record) => Ok(record),
                Err(err) => Err(values::read_error(key, err)),
            },
            None => Ok(value),
        }
    }

    pub fn contains_key(&self, key: &[u8]) -> Result<bool, StoreError> {
        match self.change(key) {
            Some(change) => Ok(matches!(change, Pending::Put { .. })),
            None => queue_runs::contains_key(&self.db, key),
        }
    }

    /// The newest change to `key` not yet in sled, if any.
    fn change(&self, key: &[u8]) -> Option<&Pending> {
        self.layers().into_iter().find_map(|layer| layer.get(key))
    }

    /// The in-memory layers, newest first.
    fn layers(&self) -> [&Changes; 2] {
        [&self.pending, self.frozen.as_deref().unwrap_or(&NO_CHANGES)]
    }

    /// Entries with keys from `start` up to, not including, `end` (no end: to the last key),
    /// in key order. Bounded on both layers, so removals pending beyond `end` cost nothing.
    pub fn range<'a>(
        &'a self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(IVec, Bytes), StoreError>> + 'a {
        // An empty range (start at or past end) must not reach BTreeMap::range, which panics.
        let end = end.map(|e| e.max(start));
        let bounds = || {
            (
                Bound::Included(start),
                end.map_or(Bound::Unbounded, Bound::Excluded),
            )
        };
        let sled = queue_runs::range(&self.db, start, end)
            .map(|entry| entry.map(|(key, value)| (key, Bytes::from_owner(value))));
        let frozen = self.frozen.as_deref().unwrap_or(&NO_CHANGES);
        let lower = Merge {
            lower: sled.peekable(),
            upper: frozen.range::<[u8], _>(bounds()).peekable(),
        };
        // Pointers are resolved once the layers are merged, so a record replaced or removed
        // in memory is never read: the layers hold whole records, never pointers.
        Merge {
            lower: lower.peekable(),
            upper: self.pending.range::<[u8], _>(bounds()).peekable(),
        }
        .map(|e| {
            let (key, value) = e?;
            let value = self.resolve(&key, value)?;
            Ok((key, value))
        })
    }

    /// Entries with keys from `start` on that start with `prefix`, in key order.
    pub fn scan_prefix_from<'a>(
        &'a self,
        prefix: &[u8],
        start: &[u8],
    ) -> impl Iterator<Item = Result<(IVec, Bytes), StoreError>> + 'a {
        let end = prefix_end(prefix);
        self.range(start.max(prefix), end.as_deref())
    }

    /// Entries whose keys start with `prefix`, in key order.
    pub fn scan_prefix<'a>(
        &'a self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(IVec, Bytes), StoreError>> + 'a {
        self.scan_prefix_from(prefix, prefix)
    }

    /// [`Kv::open`] with value files of `value_sizes`.
    #[cfg(test)]
    pub fn open_with_values(dir: &Path, value_sizes: ValueSizes) -> Result<Self, StoreError> {
        Self::open_with(dir, StoreSizes::default(), value_sizes)
    }

    /// Reads from value files so far.
    #[cfg(test)]
    pub fn value_file_reads(&self) -> u64 {
        self.values.file_reads()
    }

    /// sled itself, to see what a checkpoint put there.
    #[cfg(test)]
    pub fn sled(&self) -> &Db {
        &self.db
    }

    /// Makes the next checkpoint stop after `writes` sled writes, as a crash part way would.
    #[cfg(test)]
    pub fn stop_next_checkpoint_after(&mut self, writes: usize) {
        if let Some(files) = self.files.as_mut() {
            files.values.crash_after_writes = Some(writes);
        }
    }

    /// Makes the store fail as it does when a checkpoint fails in the background: the next
    /// commit finds out.
    #[cfg(test)]
    pub fn fail_checkpoint_for_test(&mut self) {
        let files = self.files.take().expect("no checkpoint is running");
        let failed =
            std::thread::spawn(move || (files, Err(StoreError::Failed(Failure::Injected))));
        while !failed.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.running = Some(failed);
    }

    /// Whether a failure has stopped the store (see `failed`). A checkpoint that failed in
    /// the background counts from the next commit on.
    pub fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Why the store failed, if it did (see `has_failed`).
    pub fn failure(&self) -> Option<Failure> {
        self.failed.clone()
    }

    /// Commits `ops` atomically: one log record, fsynced if `durable`. Without `durable` the
    /// record survives a crash of the process but not of the machine.
    pub fn commit(&mut self, ops: Vec<Op>, durable: bool) -> Result<(), StoreError> {
        // A checkpoint slower than the commits: wait for it once the current file is full,
        // rather than hold ever more changes in memory and grow the file.
        let full = self.log.written() >= self.log.file_bytes()
            || self.pending.len() >= 2 * CHECKPOINT_CHANGES;
        self.reap(full)?;
        if full && self.running.is_none() {
            self.start_checkpoint();
        }
        let written = self.log.append(self.seq + 1, &ops).and_then(|()| {
            if durable {
                self.log.sync()
            } else {
                Ok(())
            }
        });
        if let Err(err) = written {
            // Not safely retried: the record may be in the file, and after a failed fsync the
            // kernel may have dropped the pages it could not write. Only a restart, which
            // replays what the file holds, knows what is durable.
            let why = Failure::LogWrite(Arc::new(err));
            self.failed = Some(why.clone());
            return Err(StoreError::Failed(why));
        }
        self.seq += 1;
        for op in ops {
            self.stage(op);
        }
        let due = self.log.written() >= self.log.file_bytes() / 2
            || self.pending.len() >= CHECKPOINT_CHANGES;
        if due && self.running.is_none() {
            self.start_checkpoint();
        }
        Ok(())
    }

    fn stage(&mut self, op: Op) {
        match op {
            Op::Put { key, value, fresh } => {
                let value = Bytes::from(value);
                match self.pending.entry(IVec::from(key)) {
                    btree_map::Entry::Vacant(slot) => {
                        slot.insert(Pending::Put {
                            value,
                            in_sled: !fresh,
                        });
                    }
                    btree_map::Entry::Occupied(mut slot) => {
                        let in_sled = match slot.get() {
                            Pending::Put { in_sled, .. } => *in_sled,
                            Pending::Removed => true,
                        };
                        slot.insert(Pending::Put { value, in_sled });
                    }
                }
            }
            Op::Remove(key) => match self.pending.entry(IVec::from(key)) {
                btree_map::Entry::Vacant(slot) => {
                    slot.insert(Pending::Removed);
                }
                btree_map::Entry::Occupied(mut slot) => match slot.get() {
                    Pending::Put { in_sled: false, .. } => {
                        slot.remove();
                    }
                    _ => {
                        slot.insert(Pending::Removed);
                    }
                },
            },
        }
    }

    /// Hands the pending changes to a checkpoint thread; commits go on in the other log file.
    fn start_checkpoint(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let Some(files) = self.files.take() else {
            return; // one is running
        };
        if let Err(err) = self.log.switch() {
            self.files = Some(files);
            self.failed = Some(Failure::LogSwitch(Arc::new(err)));
            return;
        }
        let frozen = Arc::new(std::mem::take(&mut self.pending));
        let upto = self.seq;
        self.frozen = Some(frozen.clone());
        let db = self.db.clone();
        let thread = std::thread::Builder::new()
            .name("bluehelm-checkpoint".into())
            .spawn(move || {
                let mut files = files;
                let result = apply(&db, &frozen, upto, &mut files);
                (files, result)
            });
        match thread {
            Ok(handle) => self.running = Some(handle),
            Err(err) => self.failed = Some(Failure::CheckpointThread(Arc::new(err))),
        }
    }

    /// Collects a checkpoint that has ended (or waits for it, with `wait`). A failed one
    /// stops the store from taking custody: the frozen changes are only in the log, and the
    /// log file holding them must not be rewritten.
    fn reap(&mut self, wait: bool) -> Result<(), StoreError> {
        if let Some(handle) = self.running.take_if(|h| wait || h.is_finished()) {
            match handle.join() {
                Ok((files, result)) => {
                    self.files = Some(files);
                    match result {
                        Ok(dead) => {
                            self.values.delete(&dead);
                            free_elsewhere(self.frozen.take());
                        }
                        Err(err) => self.failed = Some(Failure::Checkpoint(Arc::new(err))),
                    }
                }
                Err(_) => self.failed = Some(Failure::CheckpointPanicked),
            }
        }
        match &self.failed {
            Some(why) => Err(StoreError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    /// Closes the store: a last checkpoint, then sled. After a failure sled is not closed:
    /// its `Drop` flushes until every dirty page is written, which on a full or failed disk
    /// never ends, and kept a node from stopping on SIGTERM (issue 10, defect 18). Nothing is
    /// lost: what was committed is in the custody log, and the next start replays it.
    pub fn close(mut self) -> Result<(), StoreError> {
        let closed = match &self.failed {
            // Not even a checkpoint: one may be stuck on the disk, and waiting for it would be.
            Some(why) => Err(StoreError::Failed(why.clone())),
            None => self.checkpoint(),
        };
        if closed.is_err() {
            // The checkpoint thread, if one is stuck, keeps its own handle; leave it be.
            std::mem::forget(self.db);
        }
        closed
    }

    /// Moves everything committed into sled, durably, and waits for it (start-up and
    /// shutdown).
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.reap(true)?;
        self.start_checkpoint();
        self.reap(true)
    }
}

/// The first key after every key that starts with `prefix` (none if there is no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A checkpoint: the changes, then the log position they reach, into sled; then sled made
/// durable. Key by key, not as one sled batch: a batch holds a lock that sled's readers (the
/// store thread) wait on for as long as it takes to apply. A crash part way leaves sled with
/// some of the changes and the previous log position, and start-up replays every record
/// after that position: the records put and remove whole values, in order, so replaying over
/// a partly applied checkpoint ends in the same state (but for dedup parts, which a replay
/// may write twice: below).
///
/// Message records go to value files first, synced, and sled gets pointers to them (see
/// `values.rs`); sparse value files are compacted. Dedup entries go to sled packed in parts
/// (`seen_parts.rs`), keyed by this checkpoint's log position: a replay over a partly
/// applied checkpoint writes the same parts again, or (reaching further) new ones beside
/// them, and an id in two parts is only found twice. Copies put fresh into the queue go to
/// sled in runs (`queue_runs.rs`); a removal, or a put that may find its key in sled (a
/// replay's), takes the copy out of its run first. Returns the value files no pointer names
/// any more, which the store thread deletes.
fn apply(
    db: &Db,
    changes: &Changes,
    upto: u64,
    files: &mut SledFiles,
) -> Result<Vec<u32>, StoreError> {
    // What sled gets for each key (`None`: a removal), and whether the key was put fresh.
    let mut writes = Vec::with_capacity(changes.len());
    let mut parts = Packer::new(upto);
    for (key, change) in changes {
        let stored = match change {
            Pending::Put { value, .. } if key.first() == Some(&SEEN) && parts.add(key, value) => {
                continue;
            }
            Pending::Put { value, .. } if values::separates(key, value) => {
                let pointer = files.values.append(value).map_err(values::write_error)?;
                Some(IVec::from(&pointer.encode()[..]))
            }
            Pending::Put { value, .. } => Some(IVec::from(&value[..])),
            Pending::Removed => None,
        };
        let fresh = matches!(change, Pending::Put { in_sled: false, .. });
        writes.push((key, stored, fresh));
    }
    // The records are durable before any pointer to them is.
    files.values.sync().map_err(values::write_error)?;
    let mut runs = RunWrites::default();
    for (key, stored, fresh) in writes {
        match &stored {
            Some(stored) if fresh && runs.add(db, &mut files.values, key, stored)? => continue,
            // A copy is in a run or under its own key, never both (`queue_runs.rs`).
            None if runs.take_out(db, &mut files.values, key)? => continue,
            Some(_) if !fresh => {
                runs.take_out(db, &mut files.values, key)?;
            }
            _ => {}
        }
        files.values.count_write()?;
        let old = match stored {
            Some(stored) => db.insert(key, stored)?,
            None => db.remove(key)?,
        };
        if let Some(old) = old {
            files.values.released(key, &old);
        }
    }
    runs.finish(db, &mut files.values)?;
    for (key, part) in parts.finish() {
        write_part(db, files, key, part)?;
    }
    files.values.compact(db)?;
    // The changes are durable before the position that says they are: this does not rely on
    // sled recovering its writes in order.
    make_durable(db, files)?;
    db.insert(META_LOG_SEQ, &upto.to_be_bytes())?;
    make_durable(db, files)?;
    Ok(files.values.take_dead())
}

/// Writes a dedup part, or its entries as loose `s` keys (with the part's latest expiry)
/// once its prefix holds [`MAX_PARTS_PER_PREFIX`] parts (`seen_parts.rs`).
fn write_part(
    db: &Db,
    files: &mut SledFiles,
    key: Vec<u8>,
    part: Vec<u8>,
) -> Result<(), StoreError> {
    let prefix = seen_parts::prefix_of_part(&key).unwrap_or(&key);
    let mut held = 0;
    for existing in db.scan_prefix(prefix).keys().take(MAX_PARTS_PER_PREFIX) {
        existing?;
        held += 1;
    }
    let decoded = Part::decode(&part).filter(|_| held >= MAX_PARTS_PER_PREFIX);
    if let Some((entries, expiry)) = decoded.and_then(|decoded| {
        let expiry = decoded.latest_expiry_ms().to_be_bytes();
        decoded.entry_keys(&key).map(|entries| (entries, expiry))
    }) {
        for entry in entries {
            files.values.count_write()?;
            db.insert(entry, &expiry[..])?;
        }
        return Ok(());
    }
    files.values.count_write()?;
    db.insert(key, part)?;
    Ok(())
}

/// sled's flush, then a sync of the filesystem holding the store (sled's flush uses
/// `sync_file_range`, which is no fsync). One `syncfs` covers sled's data file, any blob
/// files it wrote (values over a quarter of its 512 KiB segment, or nodes holding several
/// 32 KiB ones) and the directory entries, whatever sled names or removes meanwhile. It
/// replaces listing sled's `blobs/` folder and fsyncing each file, which failed with ENOENT
/// when sled removed a blob between the listing and the open, and stopped the store (issue
/// 10, defect 17). Since Linux 5.8 `syncfs` reports write-back errors of the filesystem.
fn make_durable(db: &Db, files: &SledFiles) -> Result<(), StoreError> {
    db.flush()?;
    sync_filesystem(&files.dir)
        .map_err(|e| StoreError::io("cannot sync the store's filesystem (syncfs)", e))
}

#[cfg(target_os = "linux")]
fn sync_filesystem(dir: &File) -> std::io::Result<()> {
    rustix::fs::syncfs(dir).map_err(std::io::Error::from)
}

/// `syncfs` is Linux's: elsewhere the first checkpoint (at start-up) fails and says why.
#[cfg(not(target_os = "linux"))]
fn sync_filesystem(dir: &File) -> std::io::Result<()> {
    let _ = dir;
    Err(std::io::Error::other(
        "the store syncs its files with syncfs, which only Linux has",
    ))
}

/// Entries of a lower layer merged with the changes of an upper one, which win.
struct Merge<'a, L: Iterator<Item = Result<(IVec, Bytes), StoreError>>> {
    lower: Peekable<L>,
    upper: Peekable<btree_map::Range<'a, IVec, Pending>>,
}

impl<L: Iterator<Item = Result<(IVec, Bytes), StoreError>>> Iterator for Merge<'_, L> {
    type Item = Result<(IVec, Bytes), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.lower.peek(), self.upper.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) | (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(Ok((l, _))), Some((u, _))) => l.as_ref().cmp(u.as_ref()),
            };
            if order == Ordering::Less {
                return self.lower.next();
            }
            if order == Ordering::Equal {
                self.lower.next();
            }
            let (key, change) = self.upper.next()?;
            if let Pending::Put { value, .. } = change {
                return Some(Ok((key.clone(), value.clone())));
            }
        }
    }
}

/// Frees a checkpoint's changes on a thread of its own. They are the last reference to a map
/// of a whole checkpoint's keys and values, and freeing it took the store thread 1-7 ms, which
/// every commit waiting behind it (a FLASH one too) paid.
fn free_elsewhere(changes: Option<Arc<Changes>>) {
    if let Some(changes) = changes {
        // If no thread can start, the closure and the changes are freed here. Not joined:
        // it only frees memory, and the process may exit before it has.
        let _ = std::thread::Builder::new()
            .name("bluehelm-free".into())
            .spawn(move || drop(changes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str, fresh: bool) -> Op {
        Op::Put {
            key: k.into(),
            value: v.into(),
            fresh,
        }
    }

    fn remove(k: &str) -> Op {
        Op::Remove(k.into())
    }

    fn all(kv: &Kv, start: &str) -> Vec<(String, String)> {
        kv.range(start.as_bytes(), None)
            .filter(|e| !e.as_ref().is_ok_and(|(k, _)| k.as_ref() == META_LOG_SEQ))
            .map(|e| {
                let (k, v) = e.unwrap();
                (
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_see_sled_with_the_pending_changes_on_top() {
        let dir = tempfile::tempdir().unwrap();
        let mut kv = Kv::open(dir.path()).unwrap();
        kv.commit(vec![put("b", "1", true), put("d", "1", true)], true)
            .unwrap();
        kv.checkpoint().unwrap();
        kv.commit(
            vec![
                put("a", "2", true),
                remove("b"),
                put("c", "2", true),
                put("d", "2", false),
            ],
            true,
        )
        .unwrap();
        assert_eq!(all(&kv, ""), pairs(&[("a", "2"), ("c", "2"), ("d", "2")]));
        assert_eq!(all(&kv, "b"), pairs(&[("c", "2"), ("d", "2")]));
        let bounded: Vec<_> = kv.range(b"a", Some(b"d")).map(|e| e.unwrap().0).collect();
        assert_eq!(bounded, [IVec::from("a"), IVec::from("c")]);
        let from: Vec<_> = kv
            .scan_prefix_from(b"", b"b")
            .map(|e| e.unwrap().0)
            .collect();
        assert_eq!(from.first(), Some(&IVec::from("c")));
        assert!(!kv.contains_key(b"b").unwrap());
        assert_eq!(kv.get(b"d").unwrap().unwrap().as_ref(), b"2");
        let prefixed: Vec<_> = kv.scan_prefix(b"c").map(|e| e.unwrap().0).collect();
        assert_eq!(prefixed, [IVec::from("c")]);
    }

    #[test]
    fn prefix_ends_are_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(b"q"), Some(b"r".to_vec()));
        assert_eq!(prefix_end(&[b'q', 0xff]), Some(b"r".to_vec()));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn a_fresh_key_stored_and_removed_between_checkpoints_never_reaches_sled() {
        let dir = tempfile::tempdir().unwrap();
        let mut kv = Kv::open(dir.path()).unwrap();
        kv.commit(vec![put("q1", "message", true)], true).unwrap();
        kv.commit(vec![remove("q1")], false).unwrap();
        assert!(kv.pending.is_empty());
        // A key that may be in sled leaves a removal for the checkpoint.
        kv.commit(vec![put("n", "note", false)], true).unwrap();
        kv.commit(vec![remove("n")], true).unwrap();
        assert!(matches!(
            kv.pending.get(b"n".as_ref()),
            Some(Pending::Removed)
        ));
    }

    #[test]
    fn many_short_changes_start_a_checkpoint_before_the_log_is_half_full() {
        let dir = tempfile::tempdir().unwrap();
        let mut kv = Kv::open(dir.path()).unwrap();
        let key = |n: usize| format!("s{n:07}");
        let commit_round = |kv: &mut Kv, committed: &mut usize| {
            let ops = (0..1024)
                .map(|i| put(&key(*committed + i), "", false))
                .collect();
            kv.commit(ops, false).unwrap();
            *committed += 1024;
        };
        let mut committed = 0;
        while kv.running.is_none() {
            commit_round(&mut kv, &mut committed);
        }
        assert!(
            committed <= CHECKPOINT_CHANGES,
            "a checkpoint started after {committed} changes"
        );
        assert!(
            kv.log.written() < kv.log.file_bytes() / 2,
            "the changes are short: {} of {} bytes written",
            kv.log.written(),
            kv.log.file_bytes()
        );
        let mut most_pending = 0;
        for _ in 0..(4 * CHECKPOINT_CHANGES / 1024) {
            commit_round(&mut kv, &mut committed);
            most_pending = most_pending.max(kv.pending.len());
        }
        assert!(
            most_pending <= 2 * CHECKPOINT_CHANGES,
            "{most_pending} changes held in memory besides a running checkpoint's"
        );
        kv.reap(true).unwrap();
        assert!(
            kv.db.contains_key(key(0)).unwrap(),
            "checkpointed into sled"
        );
    }

    #[test]
    fn commits_survive_a_reopen_without_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut kv = Kv::open(dir.path()).unwrap();
            kv.commit(vec![put("a", "1", true), put("b", "1", true)], true)
                .unwrap();
            kv.checkpoint().unwrap();
            kv.commit(vec![remove("a"), put("c", "3", true)], true)
                .unwrap();
            kv.commit(vec![put("b", "2", false)], false).unwrap();
            // Dropped without a checkpoint, as if the process had been killed.
        }
        let kv = Kv::open(dir.path()).unwrap();
        assert!(!kv.contains_key(b"a").unwrap());
        assert_eq!(kv.get(b"b").unwrap().unwrap().as_ref(), b"2");
        assert_eq!(kv.get(b"c").unwrap().unwrap().as_ref(), b"3");
        assert!(kv.pending.is_empty(), "replayed records were checkpointed");
    }

    #[test]
    fn checkpoints_do_not_depend_on_the_files_in_sleds_blob_folder() {
        // sled writes large values to files in `blobs/` and removes them on its own, so a
        // file listed there may be gone when it is opened (issue 10, defect 17). A dangling
        // link stands for such a file, every time.
        let dir = tempfile::tempdir().unwrap();
        let mut kv = Kv::open(dir.path()).unwrap();
        let blobs = dir.path().join("blobs");
        std::os::unix::fs::symlink(blobs.join("removed"), blobs.join("4242")).unwrap();
        let value = |round: usize, n: usize| vec![(round * 64 + n) as u8; 32 * 1024];
        // 32 KiB values put, rewritten and removed through several checkpoints: sled writes
        // blobs and removes the ones it no longer needs. Not under a message table's keys,
        // whose records go to value files instead (`values.rs`).
        for round in 0..6 {
            let mut ops: Vec<Op> = (0..64)
                .map(|n| Op::Put {
                    key: format!("r{round}-{n:02}").into_bytes(),
                    value: value(round, n),
                    fresh: false,
                })
                .collect();
            if round > 0 {
                ops.extend(
                    (0..64)
                        .step_by(2)
                        .map(|n| Op::Remove(format!("r{}-{n:02}", round - 1).into_bytes())),
                );
            }
            kv.commit(ops, true).unwrap();
            kv.checkpoint().unwrap();
        }
        drop(kv);
        // Start-up ends with a checkpoint too.
        let kv = Kv::open(dir.path()).unwrap();
        assert_eq!(
            kv.get(b"r5-63").unwrap().unwrap().as_ref(),
            value(5, 63).as_slice()
        );
        assert!(kv.get(b"r4-00").unwrap().is_none());
        assert!(kv.get(b"r4-01").unwrap().is_some());
    }

    #[test]
    fn commits_go_on_while_a_checkpoint_runs_and_all_of_it_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let megabyte = |n: u8| vec![n; 1024 * 1024];
        let key = |n: u8| format!("k{n:02}").into_bytes();
        {
            let mut kv = Kv::open(dir.path()).unwrap();
            // Past the checkpoint threshold: a checkpoint starts in the background.
            for n in 0..20 {
                kv.commit(
                    vec![Op::Put {
                        key: key(n),
                        value: megabyte(n),
                        fresh: true,
                    }],
                    true,
                )
                .unwrap();
            }
            // Changes on top of the frozen layer: removals of frozen keys must stick.
            for n in (0..20).step_by(2) {
                kv.commit(vec![Op::Remove(key(n))], true).unwrap();
            }
            let listed: Vec<Vec<u8>> = kv
                .scan_prefix(b"k")
                .map(|e| e.unwrap().0.to_vec())
                .collect();
            let odd: Vec<Vec<u8>> = (1..20).step_by(2).map(key).collect();
            assert_eq!(listed, odd);
            kv.reap(true).unwrap();
            assert!(
                kv.db.contains_key(key(1)).unwrap(),
                "the background checkpoint put the first 16 MiB into sled"
            );
            // Dropped without a final checkpoint, as if the process had been killed.
        }
        let kv = Kv::open(dir.path()).unwrap();
        for n in 0..20 {
            let value = kv.get(&key(n)).unwrap();
            if n % 2 == 0 {
                assert!(value.is_none(), "k{n} was removed");
            } else {
                assert_eq!(value.unwrap().as_ref(), megabyte(n).as_slice());
            }
        }
    }
}
