//! Reading sled with the copies in runs seen under their own keys.

use std::cmp::Ordering;
use std::iter::Peekable;

use sled::{Db, IVec};

use super::{key_with, split, Run, RUN};
use crate::engine::ledger::QUEUE;
use crate::store::StoreError;

type Item = Result<(IVec, IVec), StoreError>;

/// The run whose sequence numbers cover `seq` among the runs of `middle` (hop_len, hop,
/// rank), with its key: the last run starting at or before `seq`, if it reaches it.
pub(super) fn run_holding(
    db: &Db,
    middle: &[u8],
    seq: u64,
) -> Result<Option<(IVec, Run)>, StoreError> {
    let first = key_with(RUN, middle, 0);
    let last = key_with(RUN, middle, seq);
    let Some(found) = db.range(first..=last).next_back() else {
        return Ok(None);
    };
    let (key, value) = found?;
    // Most lookups find a run that ends before `seq` (a copy under its own key, or gone):
    // its last copy is read without decoding it. One that does not read decodes, and says why.
    if Run::last_seq_in(&value).is_some_and(|last| last < seq) {
        return Ok(None);
    }
    let run = Run::decode(&key, &value)?;
    Ok(run
        .last_seq()
        .is_some_and(|l| l >= seq)
        .then_some((key, run)))
}

/// What sled holds under `key`, the copies in runs included.
pub fn get(db: &Db, key: &[u8]) -> Result<Option<IVec>, StoreError> {
    if key.first() == Some(&RUN) {
        return Ok(None);
    }
    if let Some(value) = db.get(key)? {
        return Ok(Some(value));
    }
    let Some((middle, seq)) = split(QUEUE, key) else {
        return Ok(None);
    };
    Ok(run_holding(db, middle, seq)?.and_then(|(_, run)| run.get(seq).cloned()))
}

pub fn contains_key(db: &Db, key: &[u8]) -> Result<bool, StoreError> {
    Ok(get(db, key)?.is_some())
}

/// Every run in sled, decoded, with its key.
pub fn runs(db: &Db) -> impl Iterator<Item = Result<(IVec, Run), StoreError>> + '_ {
    db.scan_prefix([RUN]).map(|entry| {
        let (key, value) = entry?;
        let run = Run::decode(&key, &value)?;
        Ok((key, run))
    })
}

/// sled's entries with keys from `start` up to, not including, `end` (none: to the last),
/// in key order, the copies in runs under their own keys and no run itself.
pub fn range<'a>(
    db: &'a Db,
    start: &[u8],
    end: Option<&[u8]>,
) -> Box<dyn Iterator<Item = Item> + 'a> {
    let below_runs = [RUN];
    let queue_start = [QUEUE];
    let queue_end = [QUEUE + 1];
    let before = plain(db, start, Some(min_end(end, &below_runs)));
    let queue_lo = start.max(&queue_start[..]);
    let queue_hi = min_end(end, &queue_end);
    let after = plain(db, start.max(&queue_end[..]), end);
    if queue_lo >= queue_hi {
        return Box::new(before.chain(after));
    }
    let queue = Sorted {
        plain: plain(db, queue_lo, Some(queue_hi)).peekable(),
        runs: in_runs(db, queue_lo, queue_hi).peekable(),
    };
    Box::new(before.chain(queue).chain(after))
}

fn min_end<'b>(end: Option<&'b [u8]>, limit: &'b [u8]) -> &'b [u8] {
    end.map_or(limit, |end| end.min(limit))
}

/// sled's own entries in `[start, end)` (empty if `start` is not below `end`).
fn plain<'a>(db: &'a Db, start: &[u8], end: Option<&[u8]>) -> impl Iterator<Item = Item> + 'a {
    let iter = match end {
        Some(end) if start >= end => None,
        Some(end) => Some(db.range(start.to_vec()..end.to_vec())),
        None => Some(db.range(start.to_vec()..)),
    };
    iter.into_iter()
        .flatten()
        .map(|entry| entry.map_err(StoreError::from))
}

/// The copies held in runs with queue keys in `[lo, hi)`, both within the queue's keys: the
/// run that starts before `lo` and reaches into the range, then the runs starting in it.
fn in_runs<'a>(db: &'a Db, lo: &[u8], hi: &[u8]) -> impl Iterator<Item = Item> + 'a {
    let as_run = |key: &[u8]| {
        let mut run_key = key.to_vec();
        run_key[0] = RUN;
        run_key
    };
    let runs_lo = as_run(lo);
    // `hi` is a queue key, or the end of the queue's keys.
    let runs_hi = if hi[0] == QUEUE {
        as_run(hi)
    } else {
        vec![QUEUE]
    };
    // The run before the range reaches into it only if its last copy is at or after `lo`:
    // most often it is another class's, or ends before, and is not decoded.
    let earlier = db
        .range(vec![RUN]..runs_lo.clone())
        .next_back()
        .filter(|entry| match entry {
            Ok((key, value)) => match (split(RUN, key), Run::last_seq_in(value)) {
                (Some((middle, _)), Some(last)) => key_with(QUEUE, middle, last).as_slice() >= lo,
                _ => true,
            },
            Err(_) => true,
        });
    let (lo, hi) = (lo.to_vec(), hi.to_vec());
    earlier
        .into_iter()
        .chain(db.range(runs_lo..runs_hi))
        .flat_map(move |entry| -> Vec<Item> {
            let decoded = entry
                .map_err(StoreError::from)
                .and_then(|(key, value)| Run::decode(&key, &value).map(|run| (key, run)));
            match decoded {
                Ok((key, run)) => run
                    .into_copies(&key)
                    .filter(|(copy, _)| copy.as_ref() >= &lo[..] && copy.as_ref() < &hi[..])
                    .map(Ok)
                    .collect(),
                Err(err) => vec![Err(err)],
            }
        })
}

/// Two sorted streams of entries merged; on a key in both (which the checkpoint never
/// writes), the one under its own key is read.
struct Sorted<P: Iterator<Item = Item>, R: Iterator<Item = Item>> {
    plain: Peekable<P>,
    runs: Peekable<R>,
}

impl<P: Iterator<Item = Item>, R: Iterator<Item = Item>> Iterator for Sorted<P, R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let order = match (self.plain.peek(), self.runs.peek()) {
            (None, None) => return None,
            (Some(Err(_)), _) | (Some(_), None) => Ordering::Less,
            (None, Some(_)) | (_, Some(Err(_))) => Ordering::Greater,
            (Some(Ok((p, _))), Some(Ok((r, _)))) => p.as_ref().cmp(r.as_ref()),
        };
        match order {
            Ordering::Less => self.plain.next(),
            Ordering::Greater => self.runs.next(),
            Ordering::Equal => {
                self.runs.next();
                self.plain.next()
            }
        }
    }
}
