//! Value files: where checkpoints put message records (the queue's and the inbox's values),
//! sled holding only a short pointer to each.
//!
//! Why: a copy queued for longer than a checkpoint interval (a deep queue at an origin or a
//! hub, every copy of a drain) went into sled's tree and out again, and sled rewrites and
//! splits leaves that hold 2 KB values: the checkpoint threads took a quarter to a third of
//! the relay's CPU (`perf`, docs/performance.md). Appending a record to a file costs a copy;
//! sled then handles a 21-byte pointer.
//!
//! Rules that keep a pointer from ever naming bytes that are not there:
//! - A checkpoint appends its records and fdatasyncs the files (and the folder, for a new
//!   file) *before* it puts the pointers into sled. A pointer sled has, durable or not, names
//!   durable bytes.
//! - Files are only appended to, and a file is deleted only when a finished checkpoint (sled
//!   flushed and the filesystem synced) left no pointer into it, by the store thread, which
//!   is the only reader: no read can be between a pointer and its file.
//! - Start-up counts the pointers sled holds (the only place pointers live: the custody log
//!   and the in-memory layers hold whole values), deletes the files none names, and appends
//!   to a new file, never to one a crash may have left torn.
//!
//! Compaction: a file stays while any of its records is queued, so a post offline for days
//! would keep every file written meanwhile. When the files hold more than twice their live
//! records plus [`ValueSizes::compact_slack`] (128 MiB), a checkpoint copies the live records of files less than
//! half live to the current file and points sled at the copies (same rules as above).
//!
//! Format: a file starts with [`MAGIC`]; records follow with no framing. A pointer is
//! [`POINTER_TAG`], file number (u32), offset (u64), length (u32) and the CRC-32 of the
//! record (u32), big-endian: 21 bytes. A record's first byte is its version (1), never
//! [`POINTER_TAG`], so a value in sled is one or the other; stores written before value
//! files hold records inline and read as before.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use sled::{Db, IVec};

use super::error::{Corruption, Entry, Table};
use super::keys::INBOX;
use super::private::{DIR_MODE, FILE_MODE};
use super::queue_runs::{self, Run};
use super::StoreError;
use crate::engine::ledger::QUEUE;
use read_ahead::ReadAhead;

/// Records at least this long go to value files; shorter ones stay in sled.
pub const MIN_SEPARATED: usize = 512;
/// When value files roll over and when they are compacted; tests make them small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueSizes {
    /// A new file is started once the current one holds this much.
    pub file_bytes: u64,
    /// Files may hold this much more than twice their live records before a compaction.
    pub compact_slack: u64,
}

impl Default for ValueSizes {
    fn default() -> Self {
        Self {
            file_bytes: 64 * 1024 * 1024,
            compact_slack: 128 * 1024 * 1024,
        }
    }
}

const MAGIC: &[u8; 8] = b"BHVAL\x00\x00\x01";
const POINTER_TAG: u8 = 0xFE;
const POINTER_LEN: usize = 21;
/// The longest record a pointer may name: a message is at most one frame
/// ([`bluehelm_proto::framing::HARD_MAX_FRAME`]), its record a little more. A damaged pointer
/// naming more is refused before anything is allocated for it.
const MAX_RECORD_BYTES: u32 = 2 * bluehelm_proto::framing::HARD_MAX_FRAME as u32;
/// Records one checkpoint's compaction copies at most.
const COMPACT_BYTES_PER_CHECKPOINT: u64 = 64 * 1024 * 1024;
/// Bytes buffered before a write to the file.
const BUFFER_BYTES: usize = 1024 * 1024;
const FOLDER: &str = "values";
const SUFFIX: &str = ".bhv";

/// Whether values under `key` may go to value files: those of the queue and the inbox, which
/// are message records.
pub fn separable(key: &[u8]) -> bool {
    matches!(key.first(), Some(&QUEUE) | Some(&INBOX))
}

/// Whether a checkpoint puts `value` of `key` in a value file.
pub fn separates(key: &[u8], value: &[u8]) -> bool {
    separable(key) && value.len() >= MIN_SEPARATED
}

/// Where a record is: file, offset, length, and its CRC-32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pointer {
    pub file: u32,
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl Pointer {
    pub fn encode(&self) -> [u8; POINTER_LEN] {
        let mut out = [0; POINTER_LEN];
        out[0] = POINTER_TAG;
        out[1..5].copy_from_slice(&self.file.to_be_bytes());
        out[5..13].copy_from_slice(&self.offset.to_be_bytes());
        out[13..17].copy_from_slice(&self.len.to_be_bytes());
        out[17..21].copy_from_slice(&self.crc.to_be_bytes());
        out
    }

    /// The pointer `value` is, if it is one (a value of a [`separable`] key).
    pub fn decode(value: &[u8]) -> Option<Self> {
        if value.len() != POINTER_LEN || value[0] != POINTER_TAG {
            return None;
        }
        let u32_at = |at: usize| u32::from_be_bytes(value[at..at + 4].try_into().unwrap());
        Some(Self {
            file: u32_at(1),
            offset: u64::from_be_bytes(value[5..13].try_into().unwrap()),
            len: u32_at(13),
            crc: u32_at(17),
        })
    }
}

/// Why a record could not be read from its value file.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("its value file {0} is missing")]
    MissingFile(u32),
    #[error("reading it from value file {file} failed: {error}")]
    Read { file: u32, error: io::Error },
    #[error("its record in value file {0} fails its checksum")]
    Checksum(u32),
    #[error("its pointer names {0} bytes, more than any record has")]
    TooLong(u32),
    #[error("its record lies past the end of value file {0}")]
    Truncated(u32),
}

/// The open value files, shared by the store thread (reads) and the checkpoint thread (new
/// files).
pub struct ValueFiles {
    dir: PathBuf,
    open: RwLock<HashMap<u32, Arc<File>>>,
    ahead: ReadAhead,
}

impl ValueFiles {
    /// The record `pointer` names. Records read in the order they lie in their file come
    /// from one read per window (`values/read_ahead.rs`).
    pub fn read(&self, pointer: &Pointer) -> Result<Bytes, ValueError> {
        if pointer.len > MAX_RECORD_BYTES {
            return Err(ValueError::TooLong(pointer.len));
        }
        if let Some(record) = self.ahead.cached(pointer) {
            if crc32fast::hash(&record) == pointer.crc {
                return Ok(record);
            }
            // A window is never trusted over the file: the record is read on its own.
            return self.read_from_file(pointer, true);
        }
        // A window read ahead is never the only witness of a bad record, nor does a bad
        // block past the record fail it: whatever goes wrong, the record is read alone.
        self.read_from_file(pointer, false)
            .or_else(|_| self.read_from_file(pointer, true))
    }

    /// Reads from the files so far (windows and records alone).
    #[cfg(test)]
    pub fn file_reads(&self) -> u64 {
        self.ahead.file_reads()
    }

    fn read_from_file(&self, pointer: &Pointer, alone: bool) -> Result<Bytes, ValueError> {
        let file = self
            .open
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pointer.file)
            .cloned()
            .ok_or(ValueError::MissingFile(pointer.file))?;
        let record =
            self.ahead
                .read(&file, pointer, alone)
                .map_err(|error| match error.kind() {
                    io::ErrorKind::UnexpectedEof => ValueError::Truncated(pointer.file),
                    _ => ValueError::Read {
                        file: pointer.file,
                        error,
                    },
                })?;
        if crc32fast::hash(&record) != pointer.crc {
            return Err(ValueError::Checksum(pointer.file));
        }
        Ok(record)
    }

    /// Deletes files no pointer names any more (see [`ValueLog::take_dead`]). Called by the
    /// store thread, the only reader, so no read is between a pointer and its file. A file
    /// that cannot be deleted is left to the next start-up, which deletes unnamed files.
    pub fn delete(&self, files: &[u32]) {
        if files.is_empty() {
            return;
        }
        let mut open = self.open.write().unwrap_or_else(|e| e.into_inner());
        for file in files {
            open.remove(file);
            self.ahead.forget(*file);
            let path = file_path(&self.dir, *file);
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %err, "cannot delete a value file no record needs; the next start deletes it");
            }
        }
    }

    fn insert(&self, id: u32, file: Arc<File>) {
        self.open
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, file);
    }
}

fn file_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}{SUFFIX}"))
}

/// How much of a file is still named by sled.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    live_records: u64,
    live_bytes: u64,
    /// Bytes written to the file, its header included.
    size: u64,
}

/// The file taking records.
struct Current {
    id: u32,
    file: Arc<File>,
    /// Where the next record goes (buffered bytes included).
    end: u64,
    /// Bytes not yet written to the file; they start at `end - buffer.len()`.
    buffer: Vec<u8>,
}

/// A run a compaction rewrote: its key, the run with the copies' new pointers, and the
/// pointers they replaced.
struct MovedRun {
    key: IVec,
    run: Run,
    old: Vec<IVec>,
}

/// The writing side: owned by whichever thread runs the checkpoint.
pub struct ValueLog {
    files: Arc<ValueFiles>,
    sizes: ValueSizes,
    usage: BTreeMap<u32, Usage>,
    current: Option<Current>,
    next_id: u32,
    /// Files written since the last sync, the current one excepted.
    unsynced: Vec<Arc<File>>,
    /// Files a compaction found a record it could not read in: left as they are, so that
    /// one damaged record neither stops the store nor makes every checkpoint scan again.
    damaged: HashSet<u32>,
    /// Test hook: fail after this many more sled writes, as a crash part way would stop.
    #[cfg(test)]
    pub crash_after_writes: Option<usize>,
}

impl ValueLog {
    /// Opens the value files of the store in `dir`: counts the pointers `db` holds, deletes the
    /// files none names and opens the others for reading. `checkpointed`: whether sled holds a
    /// checkpoint's log position; if not, sled is new, and value files beside it mean that it
    /// is not the sled they were written with (restored or lost): refused, not deleted.
    pub fn open(
        storage: &Path,
        db: &Db,
        sizes: ValueSizes,
        checkpointed: bool,
    ) -> io::Result<Self> {
        let dir = storage.join(FOLDER);
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&dir)?;
            // The folder's name must be durable before any pointer into it is.
            File::open(storage)?.sync_all()?;
        }
        let mut usage: BTreeMap<u32, Usage> = BTreeMap::new();
        let mut next_id: u32 = 0;
        let mut count = |value: &[u8]| {
            if let Some(pointer) = Pointer::decode(value) {
                let u = usage.entry(pointer.file).or_default();
                u.live_records += 1;
                u.live_bytes += u64::from(pointer.len);
                // Never reuse the number of a file a pointer names, even a missing one.
                next_id = next_id.max(pointer.file.saturating_add(1));
            }
        };
        for tag in [QUEUE, INBOX] {
            for entry in db.scan_prefix([tag]) {
                let (_, value) = entry.map_err(io::Error::other)?;
                count(&value);
            }
        }
        // A run that does not decode stops the start: the files it names must not go.
        for entry in queue_runs::runs(db) {
            let (_, run) = entry.map_err(io::Error::other)?;
            run.entries().iter().for_each(|(_, value)| count(value));
        }
        let files = Arc::new(ValueFiles {
            dir: dir.clone(),
            open: RwLock::new(HashMap::new()),
            ahead: ReadAhead::default(),
        });
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(SUFFIX))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            next_id = next_id.max(id.saturating_add(1));
            if !checkpointed {
                return Err(io::Error::other(format!(
                    "{} holds value files but sled has never been checkpointed: sled is not the one they were written with; restore the whole storage directory from one backup",
                    dir.display()
                )));
            }
            match usage.get_mut(&id) {
                Some(u) => {
                    let file = File::open(&path)?;
                    u.size = file.metadata()?.len();
                    files.insert(id, Arc::new(file));
                }
                None => std::fs::remove_file(&path)?,
            }
        }
        // A pointer to a file that is not there fails when it is read, naming the file.
        let open = files.open.read().unwrap_or_else(|e| e.into_inner());
        usage.retain(|id, _| open.contains_key(id));
        drop(open);
        Ok(Self {
            files,
            sizes,
            usage,
            current: None,
            next_id,
            unsynced: Vec::new(),
            damaged: HashSet::new(),
            #[cfg(test)]
            crash_after_writes: None,
        })
    }

    /// The files, for reading.
    pub fn files(&self) -> Arc<ValueFiles> {
        self.files.clone()
    }

    /// Appends `record`; it is durable after the next [`ValueLog::sync`].
    pub fn append(&mut self, record: &[u8]) -> io::Result<Pointer> {
        let len = u32::try_from(record.len()).map_err(io::Error::other)?;
        if self
            .current
            .as_ref()
            .is_none_or(|c| c.end >= self.sizes.file_bytes)
        {
            self.start_file()?;
        }
        let current = self.current.as_mut().expect("a file was just started");
        let pointer = Pointer {
            file: current.id,
            offset: current.end,
            len,
            crc: crc32fast::hash(record),
        };
        current.buffer.extend_from_slice(record);
        current.end += u64::from(len);
        if current.buffer.len() >= BUFFER_BYTES {
            write_buffer(current)?;
        }
        let u = self.usage.entry(pointer.file).or_default();
        u.live_records += 1;
        u.live_bytes += u64::from(len);
        u.size = current.end;
        Ok(pointer)
    }

    /// Makes every record appended so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        for file in self.unsynced.drain(..) {
            file.sync_data()?;
        }
        if let Some(current) = &mut self.current {
            write_buffer(current)?;
            current.file.sync_data()?;
        }
        Ok(())
    }

    /// A value sled no longer holds under `key` (replaced or removed): if it was a pointer,
    /// its record is no longer live. Only values of [`separable`] keys can be pointers: a
    /// note that happens to look like one must not free a file.
    pub fn released(&mut self, key: &[u8], old: &[u8]) {
        if !separable(key) {
            return;
        }
        let Some(pointer) = Pointer::decode(old) else {
            return;
        };
        if let Some(u) = self.usage.get_mut(&pointer.file) {
            u.live_records = u.live_records.saturating_sub(1);
            u.live_bytes = u.live_bytes.saturating_sub(u64::from(pointer.len));
        }
    }

    /// Files no pointer names, the current one excepted; forgotten here. Called after the
    /// checkpoint that released them is durable; the store thread deletes them
    /// ([`ValueFiles::delete`]).
    pub fn take_dead(&mut self) -> Vec<u32> {
        let current = self.current.as_ref().map(|c| c.id);
        let dead: Vec<u32> = self
            .usage
            .iter()
            .filter(|(id, u)| u.live_records == 0 && Some(**id) != current)
            .map(|(id, _)| *id)
            .collect();
        for id in &dead {
            self.usage.remove(id);
        }
        dead
    }

    /// The files to compact, if the files hold too much besides their live records: those
    /// less than half live, the current one excepted.
    /// Files already dead (deleted at the end of the checkpoint) and damaged ones do not count.
    fn victims(&self) -> HashSet<u32> {
        let counted = || {
            self.usage
                .iter()
                .filter(|(id, u)| u.live_records > 0 && !self.damaged.contains(id))
        };
        let (size, live) = counted().fold((0, 0), |(s, l), (_, u)| (s + u.size, l + u.live_bytes));
        if size <= 2 * live + self.sizes.compact_slack {
            return HashSet::new();
        }
        let current = self.current.as_ref().map(|c| c.id);
        counted()
            .filter(|(id, u)| Some(**id) != current && u.live_bytes * 2 < u.size)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Counts a sled write for the test hook that stops a checkpoint part way.
    pub fn count_write(&mut self) -> Result<(), StoreError> {
        #[cfg(test)]
        if let Some(left) = self.crash_after_writes.as_mut() {
            if *left == 0 {
                return Err(StoreError::io(
                    "stopped part way by a test",
                    io::Error::other("injected"),
                ));
            }
            *left -= 1;
        }
        Ok(())
    }

    /// Copies the live records of sparse files (see [`ValueLog::victims`]) to the current
    /// file, syncs them, then points sled at the copies. Only the checkpoint thread writes to
    /// sled, so nothing changes a pointer between the scan and the update.
    pub fn compact(&mut self, db: &Db) -> Result<(), StoreError> {
        let victims = self.victims();
        if victims.is_empty() {
            return Ok(());
        }
        let mut moved = Vec::new();
        let mut bytes = 0;
        'scan: for tag in [QUEUE, INBOX] {
            for entry in db.scan_prefix([tag]) {
                let (key, value) = entry?;
                let Some(old) = Pointer::decode(&value) else {
                    continue;
                };
                let Some(new) = self.copy_out(&key, &old, &victims)? else {
                    continue;
                };
                moved.push((key, value, new));
                bytes += u64::from(old.len);
                // The rest waits for the next checkpoint: commits may be waiting on this one.
                if bytes >= COMPACT_BYTES_PER_CHECKPOINT {
                    break 'scan;
                }
            }
        }
        let moved_runs = if bytes < COMPACT_BYTES_PER_CHECKPOINT {
            self.move_out_of_runs(db, &victims, &mut bytes)?
        } else {
            Vec::new()
        };
        self.sync().map_err(write_error)?;
        for (key, old, new) in &moved {
            self.count_write()?;
            db.insert(key, &new.encode()[..])?;
            self.released(key, old);
        }
        for moved in &moved_runs {
            self.count_write()?;
            db.insert(&moved.key, moved.run.encode())?;
            for old in &moved.old {
                self.released(&[QUEUE], old);
            }
        }
        tracing::info!(
            records = moved.len()
                + moved_runs
                    .iter()
                    .map(|moved| moved.old.len())
                    .sum::<usize>(),
            bytes,
            "value files compacted: live records copied out of sparse files"
        );
        Ok(())
    }

    /// A compaction's copy of the record `pointer` names (under `key`) to the current file, if
    /// it is in one of `victims`. A record that cannot be read is left where it is, logged,
    /// and its file is not compacted again.
    fn copy_out(
        &mut self,
        key: &[u8],
        pointer: &Pointer,
        victims: &HashSet<u32>,
    ) -> Result<Option<Pointer>, StoreError> {
        if !victims.contains(&pointer.file) || self.damaged.contains(&pointer.file) {
            return Ok(None);
        }
        match self.files.read(pointer) {
            Ok(record) => self.append(&record).map(Some).map_err(write_error),
            Err(err) => {
                tracing::error!(error = %read_error(key, err), file = pointer.file, "a value file holds a damaged record: it is not compacted, and reading that record fails");
                self.damaged.insert(pointer.file);
                Ok(None)
            }
        }
    }

    /// [`ValueLog::compact`]'s copies of the records that runs name in `victims`.
    fn move_out_of_runs(
        &mut self,
        db: &Db,
        victims: &HashSet<u32>,
        bytes: &mut u64,
    ) -> Result<Vec<MovedRun>, StoreError> {
        let mut moved = Vec::new();
        for entry in queue_runs::runs(db) {
            let (key, mut run) = match entry {
                Ok(run) => run,
                // As a damaged record: left as it is, and reading it fails, naming it.
                Err(err @ StoreError::Corrupt { .. }) => {
                    tracing::error!(error = %err, "a queue run does not decode: it is not compacted");
                    continue;
                }
                Err(err) => return Err(err),
            };
            let mut old = Vec::new();
            for value in run.values_mut() {
                let Some(pointer) = Pointer::decode(value) else {
                    continue;
                };
                let Some(new) = self.copy_out(&key, &pointer, victims)? else {
                    continue;
                };
                old.push(std::mem::replace(value, IVec::from(&new.encode()[..])));
                *bytes += u64::from(pointer.len);
            }
            if !old.is_empty() {
                moved.push(MovedRun { key, run, old });
            }
            if *bytes >= COMPACT_BYTES_PER_CHECKPOINT {
                break;
            }
        }
        Ok(moved)
    }

    fn start_file(&mut self) -> io::Result<()> {
        if let Some(mut old) = self.current.take() {
            write_buffer(&mut old)?;
            self.unsynced.push(old.file);
        }
        let id = self.next_id;
        self.next_id = self
            .next_id
            .checked_add(1)
            .ok_or_else(|| io::Error::other("value file numbers are exhausted"))?;
        let path = file_path(&self.files.dir, id);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)?;
        file.write_all_at(MAGIC, 0)?;
        file.sync_data()?;
        // The file's name must be durable before any pointer to it is.
        File::open(&self.files.dir)?.sync_all()?;
        let file = Arc::new(file);
        self.files.insert(id, file.clone());
        self.usage.insert(
            id,
            Usage {
                size: MAGIC.len() as u64,
                ..Usage::default()
            },
        );
        self.current = Some(Current {
            id,
            file,
            end: MAGIC.len() as u64,
            buffer: Vec::with_capacity(BUFFER_BYTES),
        });
        Ok(())
    }
}

fn write_buffer(current: &mut Current) -> io::Result<()> {
    if current.buffer.is_empty() {
        return Ok(());
    }
    let at = current.end - current.buffer.len() as u64;
    current.file.write_all_at(&current.buffer, at)?;
    current.buffer.clear();
    Ok(())
}

/// What the store says when a record cannot be read from its value file: a missing file or a
/// checksum that fails is a corrupt entry (key and table named), a failed read an I/O error.
pub fn read_error(key: &[u8], error: ValueError) -> StoreError {
    let table = if matches!(key.first(), Some(&QUEUE) | Some(&queue_runs::RUN)) {
        Table::Queue
    } else {
        Table::Inbox
    };
    match error {
        ValueError::Read { file, error } => StoreError::io(
            format!("cannot read a record from value file {file}"),
            error,
        ),
        other => StoreError::corrupt(Entry::new(table, key), Corruption::Value(other)),
    }
}

/// What the store says when a checkpoint cannot write a value file.
pub fn write_error(error: io::Error) -> StoreError {
    StoreError::io(
        "cannot write a value file (check the storage directory's disk)",
        error,
    )
}

mod read_ahead;

#[cfg(test)]
mod tests;
