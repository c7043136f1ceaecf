//! Reading records of a value file that are read in the order they were written with one
//! read per window, not one per record.
//!
//! A queue that outgrew memory is read back in order, and its records lie one after the
//! other in their value file (a checkpoint writes them in key order; a queue run's copies
//! are adjacent). An origin whose application submits faster than the link sends read
//! every record with a read of its own: a system call, a buffer and a copy each (`perf`,
//! issue 16). Once two reads follow each other in a file, the next reads a window ahead and
//! the records after it are copied out of that window. Copied, not sliced: a slice would keep
//! the whole window alive for as long as its copy waits to be sent, and at a hub serving many
//! peers most of a window is other peers' records.
//!
//! Value files are only appended to, and a number is never used for another file, so bytes
//! read once stay what the file holds. The caller checks each record's CRC all the same, and
//! reads it directly if a record from the window does not match.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use super::Pointer;

/// Bytes read ahead at once: some twenty 3 KiB records.
pub const WINDOW: usize = 64 * 1024;

#[derive(Default)]
pub struct ReadAhead {
    state: Mutex<State>,
    /// Reads from files, windows or records alone (the tests count them).
    file_reads: AtomicU64,
}

#[derive(Default)]
struct State {
    window: Option<Window>,
    /// File and offset where the last read ended: a read that starts there is sequential.
    last_end: Option<(u32, u64)>,
}

struct Window {
    file: u32,
    start: u64,
    bytes: Bytes,
}

impl ReadAhead {
    /// The record `pointer` names, if the window holds it.
    pub fn cached(&self, pointer: &Pointer) -> Option<Bytes> {
        let mut state = self.state();
        let window = state.window.as_ref()?;
        let start = usize::try_from(pointer.offset.checked_sub(window.start)?).ok()?;
        let end = start.checked_add(pointer.len as usize)?;
        if window.file != pointer.file || end > window.bytes.len() {
            return None;
        }
        let record = Bytes::copy_from_slice(&window.bytes[start..end]);
        state.last_end = Some((pointer.file, end_of(pointer)?));
        Some(record)
    }

    /// Reads the record `pointer` names from `file`: a window from it if the last read
    /// ended where it starts, the record alone otherwise (or if `alone`).
    pub fn read(&self, file: &File, pointer: &Pointer, alone: bool) -> io::Result<Bytes> {
        let len = pointer.len as usize;
        let end = (
            pointer.file,
            end_of(pointer).ok_or(io::ErrorKind::InvalidInput)?,
        );
        let sequential = self.state().last_end == Some((pointer.file, pointer.offset));
        self.file_reads.fetch_add(1, Ordering::Relaxed);
        if !alone && sequential && len < WINDOW {
            let mut buf = vec![0; WINDOW];
            let read = read_up_to(file, &mut buf, pointer.offset)?;
            if read < len {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.truncate(read);
            let record = Bytes::copy_from_slice(&buf[..len]);
            let bytes = Bytes::from(buf);
            let mut state = self.state();
            state.window = Some(Window {
                file: pointer.file,
                start: pointer.offset,
                bytes,
            });
            state.last_end = Some(end);
            return Ok(record);
        }
        let mut record = vec![0; len];
        file.read_exact_at(&mut record, pointer.offset)?;
        self.state().last_end = Some(end);
        Ok(Bytes::from(record))
    }

    /// `file` is deleted: its window, if any, goes.
    pub fn forget(&self, file: u32) {
        let mut state = self.state();
        if state.window.as_ref().is_some_and(|w| w.file == file) {
            state.window = None;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    pub fn file_reads(&self) -> u64 {
        self.file_reads.load(Ordering::Relaxed)
    }
}

/// Where the record `pointer` names ends in its file; `None` past any file's end.
fn end_of(pointer: &Pointer) -> Option<u64> {
    pointer.offset.checked_add(u64::from(pointer.len))
}

/// Fills `buf` from `offset` as far as the file goes; how many bytes it read.
fn read_up_to(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        let at = offset
            .checked_add(read as u64)
            .ok_or(io::ErrorKind::InvalidInput)?;
        match file.read_at(&mut buf[read..], at) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}
