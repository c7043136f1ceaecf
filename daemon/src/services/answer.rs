//! The answer of a pure check (`nominal.check`, `dna.check`), as values: what the requester
//! is sent and which records it named, for their owners' notifications. The caller adds the
//! envelope and sends both.
//!
//! Response fields are a flat map whose limits proto/src/limits.rs sets (at most
//! [`MAX_MAP_ENTRIES`] entries). A check keeps to [`MAX_CHECK_FIELDS`] of them, leaving the
//! rest to the node that answers (issue 13 item 3: how fresh a replica's answer is), and
//! clips each value to [`MAX_VALUE_LEN`] bytes so that any application can show it.

use std::collections::BTreeMap;

use bluehelm_proto::limits::{MAX_DETAIL_LEN, MAX_MAP_ENTRIES};
use bluehelm_proto::ResponseStatus;

/// Fields the answering node may add to a check's own (freshness, source).
pub const RESERVED_FIELDS: usize = 8;
/// Most fields a check's answer fills.
pub const MAX_CHECK_FIELDS: usize = MAX_MAP_ENTRIES - RESERVED_FIELDS;
/// Longest field value: a name, a key, a line of instructions. Longer values (a record's
/// instructions may be 2 KiB) are cut; the owner has the rest.
pub const MAX_VALUE_LEN: usize = 256;

/// A record the answer names, for its owner's hit notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The record's key (`<owner>/<id>`).
    pub key: String,
    pub owner_bureau: String,
    /// One line for people (the record's `describe()`).
    pub record: String,
}

/// What a check answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: ResponseStatus,
    /// At most [`MAX_CHECK_FIELDS`] entries, values at most [`MAX_VALUE_LEN`] bytes.
    pub fields: BTreeMap<String, String>,
    /// One line, at most `MAX_DETAIL_LEN` bytes.
    pub detail: String,
    /// The records that matched, best first; empty unless the status is a hit.
    pub named: Vec<Named>,
}

impl Answer {
    /// A request the check cannot read; `detail` says why.
    pub fn error(detail: String) -> Self {
        Self {
            status: ResponseStatus::Error,
            fields: BTreeMap::new(),
            detail: one_line(&detail, MAX_DETAIL_LEN),
            named: Vec::new(),
        }
    }
}

/// The best `max` findings of a stream, best first, and how many were offered: memory is
/// bounded by `max` however many candidates a check is given. Findings that rank alike keep
/// the order they were offered in.
#[derive(Debug)]
pub(super) struct Best<T> {
    kept: Vec<T>,
    max: usize,
    /// How many findings were offered, kept or not.
    pub(super) offered: usize,
}

impl<T> Best<T> {
    pub(super) fn new(max: usize) -> Self {
        Self {
            kept: Vec::with_capacity(max.saturating_add(1)),
            max,
            offered: 0,
        }
    }

    /// Offers `item`; `ranks_before(a, b)` says whether `a` is strictly better than `b`.
    pub(super) fn offer(&mut self, item: T, ranks_before: impl Fn(&T, &T) -> bool) {
        self.offered += 1;
        let at = self.kept.partition_point(|kept| !ranks_before(&item, kept));
        if at < self.max {
            self.kept.insert(at, item);
            self.kept.truncate(self.max);
        }
    }

    pub(super) fn into_vec(self) -> Vec<T> {
        self.kept
    }
}

/// Response fields as a check fills them: each value on one line and clipped. A check's
/// layout keeps to [`MAX_CHECK_FIELDS`] (its tests fill it to the top).
#[derive(Debug, Default)]
pub(super) struct Fields(BTreeMap<String, String>);

impl Fields {
    pub(super) fn put(&mut self, name: String, value: &str) {
        self.0.insert(name, one_line(value, MAX_VALUE_LEN));
    }

    pub(super) fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
}

/// `text` without control characters, cut to at most `max` bytes on a character boundary.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars().map(|c| if c.is_control() { ' ' } else { c }) {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}
