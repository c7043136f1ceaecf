//! The custody log: where a commit becomes durable. Each commit round appends one record of
//! its key-value operations and fdatasyncs the file; sled receives the same operations later,
//! in a checkpoint (`overlay.rs`). Two files take turns: while a checkpoint moves what one
//! holds into sled, commits go on in the other.
//!
//! Why a log of our own: on this kind of disk an fdatasync after a write that grows a file
//! must also commit the file's new size through the filesystem journal, and costs ten times
//! an fdatasync of a write into blocks that already exist. sled's data file grows as it
//! pleases; each log file is written with zeros to its configured size (`[limits]
//! custody_log_file_mib`, [`DEFAULT_FILE_BYTES`] by default) when it is created and is then
//! overwritten from its start each time it takes its turn, so a commit normally costs one
//! `pwrite` and one fdatasync of blocks the file already has.
//!
//! Record: `len: u32 LE | seq: u64 LE | crc32(seq ‖ payload): u32 LE | payload`. Records are
//! numbered without gaps. Reading stops at the first record that is torn, fails its checksum
//! or does not carry the next number: after a checkpoint the log is rewritten from offset 0,
//! so what follows the newest records is either zeros or older records with lower numbers.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Capacity of the encoding buffer kept between rounds.
const BUFFER_KEPT: usize = 1024 * 1024;
/// Size of a new log file unless the config says otherwise, written with zeros so that later
/// writes do not grow the file. A checkpoint starts once half a file is written (`overlay.rs`).
pub const DEFAULT_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// The smallest file size a config may ask for: twice the largest round's record. A round
/// takes commands up to about 8 MiB of writes (`MAX_ROUND_BYTES` of the store's thread); a
/// single larger command is a frame of offers, at most `[limits] max_frame_bytes`, which the
/// config checks against half the file size too. A checkpoint starts once half a file is
/// written, so the round that crosses that mark still fits in the file instead of making it
/// grow (an fsync that grows a file costs ten times one that does not, see above).
pub const MIN_FILE_BYTES: u64 = 16 * 1024 * 1024;
const HEADER: usize = 4 + 8 + 4;
/// Start of a file's turn: magic, then the turn's salt.
const MAGIC: &[u8; 8] = b"BHLOG\x00\x00\x01";
const FILE_HEADER: u64 = 16;

/// One change to one key, as the store worker stages it and the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `fresh`: the caller knows the key is not in the store (a new sequence number, a
    /// message id not seen before), so removing it before a checkpoint leaves no trace. Not
    /// recorded: a replayed put is never fresh.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        fresh: bool,
    },
    Remove(Vec<u8>),
}

const TAG_PUT: u8 = 1;
const TAG_REMOVE: u8 = 2;

/// A record read back at start-up.
#[derive(Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub seq: u64,
    pub ops: Vec<Op>,
}

/// The two log files and where the next record goes.
pub struct Log {
    files: [File; 2],
    /// The size files are zero-filled to: the most a file takes before a commit waits for
    /// the checkpoint that frees the other one.
    file_bytes: u64,
    /// The file taking records now.
    current: usize,
    /// Where the next record goes in it.
    end: u64,
    /// The current turn's salt.
    salt: u64,
    /// Whether the current file's turn has begun (its header written). A turn begins with
    /// its first record, never sooner: until then the file's older records may still be
    /// needed (at start-up, until the replayed records are checkpointed).
    turn_begun: bool,
    /// Reused encoding buffer.
    buffer: Vec<u8>,
}

impl Log {
    /// Opens the two log files in `dir` (creating missing ones, and zero-filling each to
    /// `file_bytes` if it is shorter; a longer one keeps its size) and returns the log with
    /// the records both hold, in number order. Writing starts at offset 0 of the first file:
    /// the caller replays what it needs and checkpoints before it appends.
    pub fn open(dir: &Path, file_bytes: u64) -> io::Result<(Self, Vec<LogRecord>)> {
        let (first, mut records) = open_file(&dir.join("custody.0.log"), file_bytes)?;
        let (second, more) = open_file(&dir.join("custody.1.log"), file_bytes)?;
        records.extend(more);
        records.sort_by_key(|r| r.seq);
        let log = Self {
            files: [first, second],
            file_bytes,
            current: 0,
            end: FILE_HEADER,
            salt: 0,
            turn_begun: false,
            buffer: Vec::new(),
        };
        Ok((log, records))
    }

    /// Writes a new salt at the start of the current file; records follow it.
    fn begin_turn(&mut self) -> io::Result<()> {
        let salt = rand::random();
        let mut header = [0u8; FILE_HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..].copy_from_slice(&u64::to_le_bytes(salt));
        self.files[self.current].write_all_at(&header, 0)?;
        self.salt = salt;
        self.end = FILE_HEADER;
        self.turn_begun = true;
        Ok(())
    }

    /// The size the files were zero-filled to (at least).
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// Bytes written to the current file in this turn.
    pub fn written(&self) -> u64 {
        self.end - FILE_HEADER
    }

    /// Writes one record after the last one. Not durable until [`Log::sync`].
    pub fn append(&mut self, seq: u64, ops: &[Op]) -> io::Result<()> {
        if !self.turn_begun {
            self.begin_turn()?;
        }
        encode_record(self.salt, seq, ops, &mut self.buffer);
        self.files[self.current].write_all_at(&self.buffer, self.end)?;
        self.end += self.buffer.len() as u64;
        if self.buffer.capacity() > 4 * BUFFER_KEPT {
            // After an unusually large round, give the memory back.
            self.buffer = Vec::with_capacity(BUFFER_KEPT);
        }
        Ok(())
    }

    /// Makes every record written so far durable.
    pub fn sync(&self) -> io::Result<()> {
        self.files[self.current].sync_data()
    }

    /// Hands the turn to the other file, from its offset 0. Call only when every record in
    /// that file is in sled durably: its records get overwritten. They have lower numbers
    /// than the new ones, so reading never takes them for new ones. The current file is
    /// synced first, so that records written without a sync cannot go missing in front of
    /// the other file's records after a power cut (the numbers must have no gap).
    pub fn switch(&mut self) -> io::Result<()> {
        self.sync()?;
        self.current ^= 1;
        self.end = FILE_HEADER;
        self.turn_begun = false;
        Ok(())
    }
}

fn open_file(path: &Path, file_bytes: u64) -> io::Result<(File, Vec<LogRecord>)> {
    let exists = path.exists();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        // Message bodies: private from the start (issue 10, defect 2).
        .mode(super::private::FILE_MODE)
        .open(path)?;
    let len = file.metadata()?.len();
    if len < file_bytes {
        // New, its zero-filling was cut short, or the configured size grew: fill it up, so
        // commits overwrite blocks.
        zero_fill(&file, len, file_bytes)?;
    }
    if !exists {
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
    }
    let len = file.metadata()?.len();
    let records = read_records(&file, len)?;
    Ok((file, records))
}

fn zero_fill(file: &File, from: u64, len: u64) -> io::Result<()> {
    let zeros = vec![0u8; 1024 * 1024];
    let mut at = from;
    while at < len {
        let n = zeros.len().min((len - at) as usize);
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_all()
}

fn checksum(salt: u64, seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

fn encode_record(salt: u64, seq: u64, ops: &[Op], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; HEADER]);
    for op in ops {
        match op {
            Op::Put { key, value, .. } => {
                out.push(TAG_PUT);
                put_bytes(out, key);
                put_bytes(out, value);
            }
            Op::Remove(key) => {
                out.push(TAG_REMOVE);
                put_bytes(out, key);
            }
        }
    }
    let payload_len = u32::try_from(out.len() - HEADER).expect("a commit round below 4 GiB");
    let crc = checksum(salt, seq, &out[HEADER..]);
    out[0..4].copy_from_slice(&payload_len.to_le_bytes());
    out[4..12].copy_from_slice(&seq.to_le_bytes());
    out[12..16].copy_from_slice(&crc.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a key or value below 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The records of the file's last turn that carry consecutive numbers and check out.
fn read_records(file: &File, len: u64) -> io::Result<Vec<LogRecord>> {
    let mut records: Vec<LogRecord> = Vec::new();
    let mut start = [0u8; FILE_HEADER as usize];
    if len < FILE_HEADER {
        return Ok(records);
    }
    file.read_exact_at(&mut start, 0)?;
    if &start[..8] != MAGIC {
        return Ok(records); // never had a turn (zeros) or not ours
    }
    let salt = u64::from_le_bytes(start[8..].try_into().expect("8"));
    let mut at = FILE_HEADER;
    let mut header = [0u8; HEADER];
    while at + HEADER as u64 <= len {
        file.read_exact_at(&mut header, at)?;
        let payload_len = u64::from(u32::from_le_bytes(header[0..4].try_into().expect("4")));
        let seq = u64::from_le_bytes(header[4..12].try_into().expect("8"));
        let crc = u32::from_le_bytes(header[12..16].try_into().expect("4"));
        let expected = records.last().map(|r| r.seq + 1);
        // Zeros (never written), a torn header or an older generation's record: the end.
        if seq == 0 || expected.is_some_and(|e| e != seq) {
            break;
        }
        // Bounded by the file: a corrupt length cannot make us allocate more than it holds.
        if payload_len > len - at - HEADER as u64 {
            break;
        }
        let mut payload = vec![0u8; payload_len as usize];
        file.read_exact_at(&mut payload, at + HEADER as u64)?;
        if checksum(salt, seq, &payload) != crc {
            break;
        }
        let Some(ops) = decode_ops(&payload) else {
            break;
        };
        records.push(LogRecord { seq, ops });
        at += HEADER as u64 + payload_len;
    }
    Ok(records)
}

fn decode_ops(mut payload: &[u8]) -> Option<Vec<Op>> {
    let mut ops = Vec::new();
    while let Some((&tag, rest)) = payload.split_first() {
        payload = rest;
        let key = take_bytes(&mut payload)?;
        ops.push(match tag {
            TAG_PUT => Op::Put {
                key,
                value: take_bytes(&mut payload)?,
                fresh: false,
            },
            TAG_REMOVE => Op::Remove(key),
            _ => return None,
        });
    }
    Some(ops)
}

fn take_bytes(input: &mut &[u8]) -> Option<Vec<u8>> {
    let (len, rest) = input.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return None;
    }
    let (bytes, rest) = rest.split_at(len);
    *input = rest;
    Some(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Op {
        Op::Put {
            key: k.into(),
            value: v.into(),
            fresh: false,
        }
    }

    fn remove(k: &str) -> Op {
        Op::Remove(k.into())
    }

    fn seqs(records: &[LogRecord]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    fn file(dir: &Path, n: usize) -> std::path::PathBuf {
        dir.join(format!("custody.{n}.log"))
    }

    #[test]
    fn new_log_files_are_preallocated_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (log, records) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert!(records.is_empty());
        assert_eq!(log.written(), 0);
        for n in 0..2 {
            assert_eq!(
                std::fs::metadata(file(dir.path(), n)).unwrap().len(),
                DEFAULT_FILE_BYTES
            );
        }
    }

    #[test]
    fn files_are_filled_to_the_configured_size_and_never_shrunk() {
        let dir = tempfile::tempdir().unwrap();
        let small = 2 * 1024 * 1024;
        let sizes = |dir: &Path| {
            (0..2)
                .map(|n| std::fs::metadata(file(dir, n)).unwrap().len())
                .collect::<Vec<_>>()
        };
        let (mut log, _) = Log::open(dir.path(), small).unwrap();
        assert_eq!(log.file_bytes(), small);
        assert_eq!(sizes(dir.path()), [small, small]);
        log.append(1, &[put("a", "1")]).unwrap();
        log.sync().unwrap();
        drop(log);
        // A larger size in the config: both files are filled up, and keep their records.
        let (log, records) = Log::open(dir.path(), 2 * small).unwrap();
        assert_eq!(seqs(&records), [1]);
        assert_eq!(sizes(dir.path()), [2 * small, 2 * small]);
        drop(log);
        // A smaller one: the files keep the blocks they have.
        let (log, records) = Log::open(dir.path(), small).unwrap();
        assert_eq!(seqs(&records), [1]);
        assert_eq!(log.file_bytes(), small);
        assert_eq!(sizes(dir.path()), [2 * small, 2 * small]);
    }

    #[test]
    fn records_read_back_in_order_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        log.append(1, &[put("a", "1"), put("b", "2")]).unwrap();
        log.append(2, &[remove("a")]).unwrap();
        log.append(3, &[]).unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, records) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert_eq!(
            records,
            vec![
                LogRecord {
                    seq: 1,
                    ops: vec![put("a", "1"), put("b", "2")]
                },
                LogRecord {
                    seq: 2,
                    ops: vec![remove("a")]
                },
                LogRecord {
                    seq: 3,
                    ops: vec![]
                },
            ]
        );
    }

    #[test]
    fn records_of_both_files_come_back_in_number_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        log.append(1, &[put("a", "1")]).unwrap();
        log.append(2, &[put("b", "1")]).unwrap();
        log.switch().unwrap();
        log.append(3, &[put("c", "1")]).unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, records) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert_eq!(seqs(&records), [1, 2, 3]);
    }

    #[test]
    fn a_file_rewritten_in_a_later_turn_shows_only_its_new_records() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        for seq in 1..=10 {
            log.append(seq, &[put("key", &"x".repeat(100))]).unwrap();
        }
        log.switch().unwrap();
        log.append(11, &[put("k", "1")]).unwrap();
        log.switch().unwrap();
        log.append(12, &[put("k", "short")]).unwrap();
        log.append(13, &[remove("k")]).unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, records) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert_eq!(seqs(&records), [11, 12, 13]);
    }

    #[test]
    fn a_torn_or_corrupt_record_ends_its_file_there() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        log.append(1, &[put("a", "1")]).unwrap();
        let second = FILE_HEADER + log.written();
        log.append(2, &[put("b", "2")]).unwrap();
        log.append(3, &[put("c", "3")]).unwrap();
        drop(log);
        // Flip one byte of the second record's payload.
        let path = file(dir.path(), 0);
        let f = OpenOptions::new()
            .write(true)
            .read(true)
            .open(&path)
            .unwrap();
        let mut byte = [0u8];
        f.read_exact_at(&mut byte, second + HEADER as u64 + 2)
            .unwrap();
        f.write_all_at(&[byte[0] ^ 0x40], second + HEADER as u64 + 2)
            .unwrap();
        let (_, records) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert_eq!(seqs(&records), [1]);

        // A length that points past the end of the file is a torn record, not an allocation.
        f.write_all_at(&u32::MAX.to_le_bytes(), FILE_HEADER)
            .unwrap();
        let (_, records) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert!(records.is_empty());
    }

    #[test]
    fn a_record_larger_than_the_preallocation_grows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        let big = Op::Put {
            key: b"big".to_vec(),
            value: vec![7u8; DEFAULT_FILE_BYTES as usize],
            fresh: false,
        };
        log.append(1, std::slice::from_ref(&big)).unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, records) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].ops, [big]);
    }

    #[test]
    fn a_record_written_without_the_turns_salt_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        log.append(1, &[put("a", "1")]).unwrap();
        let after = FILE_HEADER + log.written();
        log.sync().unwrap();
        drop(log);
        // What a message crafted to look like the next record would put there: right length,
        // right number, a checksum over any salt but this turn's.
        let mut forged = Vec::new();
        encode_record(0, 2, &[remove("a")], &mut forged);
        let f = OpenOptions::new()
            .write(true)
            .open(file(dir.path(), 0))
            .unwrap();
        f.write_all_at(&forged, after).unwrap();
        let (_, records) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert_eq!(seqs(&records), [1]);
    }

    #[test]
    fn a_file_cut_short_while_being_zero_filled_is_completed() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), 1);
        std::fs::write(&path, [0u8; 4096]).unwrap();
        let _ = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), DEFAULT_FILE_BYTES);
    }

    #[test]
    fn opening_again_before_any_new_record_keeps_the_old_ones() {
        // A node that crashes while replaying at start-up must find the same records again.
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        log.append(1, &[put("a", "1")]).unwrap();
        log.switch().unwrap();
        log.append(2, &[put("b", "2")]).unwrap();
        log.sync().unwrap();
        drop(log);
        let (mut log, first) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        log.switch().unwrap();
        drop(log);
        let (_, again) = Log::open(dir.path(), DEFAULT_FILE_BYTES).unwrap();
        assert_eq!(seqs(&first), [1, 2]);
        assert_eq!(seqs(&again), [1, 2]);
    }
}
