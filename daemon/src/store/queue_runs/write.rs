//! A checkpoint's writes to runs: new runs from the copies it puts fresh, and copies taken out
//! of the runs that hold them.

use sled::{Db, IVec};

use super::read::run_holding;
use super::{key_with, split, Run, MAX_ENTRY_VALUE, MAX_RUN_BYTES, MAX_RUN_ENTRIES, RUN};
use crate::engine::ledger::QUEUE;
use crate::store::values::ValueLog;
use crate::store::StoreError;

/// Copies of one next hop and precedence class, in ascending order, not yet written.
struct Building {
    middle: Vec<u8>,
    run: Run,
    bytes: usize,
}

/// A run read to take copies out of, written back when the checkpoint moves on.
struct Editing {
    key: IVec,
    middle: Vec<u8>,
    from: u64,
    run: Run,
    changed: bool,
}

/// One checkpoint's run writes. Changes must come in key order (the checkpoint's are);
/// [`RunWrites::finish`] writes what is left.
#[derive(Default)]
pub struct RunWrites {
    building: Option<Building>,
    editing: Option<Editing>,
}

impl RunWrites {
    /// Adds a copy put fresh to the run being built, if runs take it: a queue key, and what
    /// sled would hold for it shorter than a record that goes to a value file. Whether it
    /// was added (if not, it goes under its own key).
    pub fn add(
        &mut self,
        db: &Db,
        files: &mut ValueLog,
        key: &[u8],
        value: &IVec,
    ) -> Result<bool, StoreError> {
        let Some((middle, seq)) = split(QUEUE, key).filter(|_| value.len() < MAX_ENTRY_VALUE)
        else {
            return Ok(false);
        };
        let size = super::ENTRY_HEADER + value.len();
        let same = self.building.as_ref().is_some_and(|b| {
            b.middle == middle
                && b.run.entries.len() < MAX_RUN_ENTRIES
                && b.bytes + size <= MAX_RUN_BYTES
                && b.run.last_seq().is_some_and(|last| last < seq)
        });
        if !same {
            self.write_built(db, files)?;
        }
        let building = self.building.get_or_insert_with(|| Building {
            middle: middle.to_vec(),
            run: Run {
                entries: Vec::with_capacity(MAX_RUN_ENTRIES),
            },
            bytes: 1,
        });
        building.run.entries.push((seq, value.clone()));
        building.bytes += size;
        Ok(true)
    }

    /// Takes `key`'s copy out of the run holding it, if one does (a removal, or a put that
    /// will go under the key itself), and releases its record. Whether a run held it.
    pub fn take_out(
        &mut self,
        db: &Db,
        files: &mut ValueLog,
        key: &[u8],
    ) -> Result<bool, StoreError> {
        let Some((middle, seq)) = split(QUEUE, key) else {
            return Ok(false);
        };
        let covers = |e: &Editing| {
            e.middle == middle && e.from <= seq && e.run.last_seq().is_some_and(|l| l >= seq)
        };
        if !self.editing.as_ref().is_some_and(covers) {
            self.write_edited(db, files)?;
            let Some((run_key, run)) = run_holding(db, middle, seq)? else {
                return Ok(false);
            };
            let from = split(RUN, &run_key).map_or(0, |(_, from)| from);
            self.editing = Some(Editing {
                key: run_key,
                middle: middle.to_vec(),
                from,
                run,
                changed: false,
            });
        }
        let editing = self.editing.as_mut().expect("set above");
        match editing.run.remove(seq) {
            Some(old) => {
                editing.changed = true;
                files.released(key, &old);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Writes the run being built and the run being edited.
    pub fn finish(&mut self, db: &Db, files: &mut ValueLog) -> Result<(), StoreError> {
        self.write_built(db, files)?;
        self.write_edited(db, files)
    }

    fn write_built(&mut self, db: &Db, files: &mut ValueLog) -> Result<(), StoreError> {
        let Some(building) = self.building.take() else {
            return Ok(());
        };
        let (Some(&(first, _)), Some(last)) =
            (building.run.entries.first(), building.run.last_seq())
        else {
            return Ok(());
        };
        let key = key_with(RUN, &building.middle, first);
        let overlaps = run_holding(db, &building.middle, first)?.is_some()
            || db
                .range(key.clone()..=key_with(RUN, &building.middle, last))
                .next()
                .is_some();
        if !overlaps {
            files.count_write()?;
            db.insert(key, building.run.encode())?;
            return Ok(());
        }
        // Not expected (sequence numbers only grow), but a run must never overlap another:
        // the copies go under their own keys, out of any run that holds them.
        tracing::warn!(
            "queue copies put fresh fall among those of a run already written; stored one by one"
        );
        for (seq, value) in building.run.entries {
            let copy = key_with(QUEUE, &building.middle, seq);
            self.take_out(db, files, &copy)?;
            files.count_write()?;
            if let Some(old) = db.insert(&copy, value)? {
                files.released(&copy, &old);
            }
        }
        Ok(())
    }

    fn write_edited(&mut self, db: &Db, files: &mut ValueLog) -> Result<(), StoreError> {
        let Some(editing) = self.editing.take() else {
            return Ok(());
        };
        if !editing.changed {
            return Ok(());
        }
        files.count_write()?;
        if editing.run.is_empty() {
            db.remove(&editing.key)?;
        } else {
            db.insert(&editing.key, editing.run.encode())?;
        }
        Ok(())
    }
}
