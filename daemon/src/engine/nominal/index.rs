//! The nominal index (issue 13, item 4): which recorded persons a query scores, so that
//! `nominal.check` over a million persons reads thousands of entries, not a million.
//!
//! Pure: it says which keys a person is filed under, which keys a query scans and in what
//! order, and what an entry holds. The store keeps the index as sorted keys
//! `<blocking key> 0x00 <record key>` -> [`Entry`] (see [`entry_key`]), so a query is a few
//! prefix scans, and the replica's resident memory does not grow with the database.
//!
//! # Blocking
//! A name is reduced to its consonant code ([`phonetic::code`]), which is the same whatever
//! the script it came back from, its case and its diacritics (`fold` did those). A person
//! is filed under:
//! - `n:<code>` for the family name and for the given names (each a whole, word breaks
//!   ignored): found by either name alone, whatever the other says;
//! - `p:<code>+<code>`, the two codes in sorted order, so that swapped names file and find
//!   the same key; and the same pair with one letter deleted from either code (the deletion
//!   neighbourhood of distance 1). A query makes the same keys, so a name whose code differs by
//!   one insertion, deletion, substitution or transposition still shares a pair key: a typo in
//!   a consonant, while a typo in a vowel does not change the code at all.
//!
//! - `y:<code>:<year>` for each name and the year of birth, when the date of birth has one:
//!   found by either name alone when the other has two typos in its consonants, however
//!   common the intact name is ("Mary", born 1969, is a few hundred persons in a million).
//!
//! A pair key is narrow (a family name and a given name together), so a common name costs
//! little; the `y:` keys catch what the pairs miss when the query has a year of birth, and
//! the `n:` keys when the intact name is rare enough to scan.
//!
//! # The cap on common keys
//! The store keeps a count per blocking key ([`count_key`]: the empty record key, which sorts
//! before the key's entries). A query reads the counts of its keys, then [`plan`] scans them
//! rarest first while the total stays within [`SCAN_BUDGET`], and skips a key whose count is
//! past [`KEY_CAP`] (a very common name: "Mohamed" alone, or a one-consonant code). It always
//! scans its rarest key, up to [`SCAN_BUDGET`] entries of it. The skipped keys are counted
//! in the node's debug log.
//!
//! # What it costs
//! Over the synthetic population ([`super::synthetic`], seed 13) a person makes about 12
//! entries (2 `n:`, 2 `y:`, and 1 + the two codes' lengths `p:`); at 1,000,000 persons,
//! 12.4 million entries under 4.1 million keys. A query reads 1,000 entries on average, 2,950
//! at the 99th percentile, never more than [`SCAN_BUDGET`], and reaches one of the recorded
//! person's keys whole in 998 to 1,000 queries of 1,000 of every variant kind
//! (`scan_counts_at_a_million` in the tests, which prints other budgets too: at 6,000 and
//! 3,000 a query reads twice as much and reaches no more; at 2,000 and 1,000, 967 of 1,000
//! queries with two typos). The deletion pair keys are 60% of the entries: without them (5.0 entries a
//! person) every query that has a year of birth is still found, but a query without one and
//! with a typo in the other name of a common name is not.

mod entry;
#[cfg(test)]
mod tests;

pub use entry::{Entry, EntryError};

use super::{fold, phonetic, Person};

/// Most entries one query reads. Reading one from sled and scoring it costs about 8 to 13
/// microseconds at a million persons, so this keeps the 50 ms p99 of issue 13 with room.
pub const SCAN_BUDGET: u64 = 3_000;
/// A key with more entries than this is too common to tell anyone apart: a query skips it,
/// unless it is the query's rarest.
pub const KEY_CAP: u64 = 1_500;
/// Separates the blocking key from the record key; no blocking key contains it.
pub const SEPARATOR: u8 = 0x00;

/// Longest code a key holds: a name's first 16 consonants tell it apart, and a longer one
/// (bad input, or a list of names in one field) makes no more keys.
const MAX_CODE: usize = 16;
const NAME: &str = "n:";
const PAIR: &str = "p:";
const YEAR: &str = "y:";

/// The keys a recorded person is filed under, without duplicates.
pub fn blocking_keys(person: &Person<'_>) -> Vec<String> {
    let family = key_code(person.family_name);
    let given = key_code(&person.given_names.join(" "));
    let year = person
        .date_of_birth
        .get(..4)
        .filter(|y| y.bytes().all(|b| b.is_ascii_digit()));
    let mut keys = Vec::new();
    for code in [&family, &given] {
        if !code.is_empty() {
            keys.push(format!("{NAME}{code}"));
            if let Some(year) = year {
                keys.push(format!("{YEAR}{code}:{year}"));
            }
        }
    }
    if !person.given_names.is_empty() && (!family.is_empty() || !given.is_empty()) {
        keys.push(pair(&family, &given));
        for shorter in deletions(&family) {
            keys.push(pair(&shorter, &given));
        }
        for shorter in deletions(&given) {
            keys.push(pair(&family, &shorter));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The keys to scan for a query: the same as a record's, so that two persons share a key
/// when their names' codes are equal, swapped, or one edit apart. Unordered: [`plan`] orders
/// them by how many entries they hold.
pub fn query_keys(query: &Person<'_>) -> Vec<String> {
    blocking_keys(query)
}

/// The key of one index entry: `<blocking key> 0x00 <record key>`.
pub fn entry_key(blocking_key: &str, record_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(blocking_key.len() + 1 + record_key.len());
    key.extend_from_slice(blocking_key.as_bytes());
    key.push(SEPARATOR);
    key.extend_from_slice(record_key);
    key
}

/// What a scan of `blocking_key` starts from: its count row, then its entries.
pub fn scan_prefix(blocking_key: &str) -> Vec<u8> {
    entry_key(blocking_key, &[])
}

/// The row holding how many entries `blocking_key` has (a `u64`, big-endian): the empty
/// record key, which sorts first under [`scan_prefix`], so a reader can skip it there.
pub fn count_key(blocking_key: &str) -> Vec<u8> {
    scan_prefix(blocking_key)
}

/// The record key of an entry key, `None` for a count row or a key of another blocking key.
pub fn record_key<'k>(blocking_key: &str, key: &'k [u8]) -> Option<&'k [u8]> {
    let rest = key.strip_prefix(blocking_key.as_bytes())?;
    let record = rest.strip_prefix(&[SEPARATOR])?;
    (!record.is_empty()).then_some(record)
}

/// One key to scan, and how many of its entries to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub key: String,
    pub limit: u64,
}

/// Which keys a query scans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Rarest first.
    pub scans: Vec<Scan>,
    /// Keys left out (too common, or past the budget): the answer may be incomplete.
    pub skipped: Vec<String>,
}

impl Plan {
    /// How many entries the plan reads at most.
    pub fn entries(&self) -> u64 {
        self.scans.iter().map(|s| s.limit).sum()
    }
}

/// Orders a query's keys rarest first and keeps what fits: every key within [`KEY_CAP`]
/// while the total stays within [`SCAN_BUDGET`], and always the rarest key (a name that
/// common is still a name asked about), read up to [`SCAN_BUDGET`] entries. Keys with no
/// entries are dropped.
pub fn plan(counted: Vec<(String, u64)>) -> Plan {
    plan_within(counted, SCAN_BUDGET, KEY_CAP)
}

/// [`plan`] with another budget and cap, to measure what they cost and catch.
pub fn plan_within(mut counted: Vec<(String, u64)>, budget: u64, key_cap: u64) -> Plan {
    counted.retain(|(_, count)| *count > 0);
    counted.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mut plan = Plan::default();
    let mut total = 0u64;
    for (n, (key, count)) in counted.into_iter().enumerate() {
        if n == 0 {
            let limit = count.min(budget);
            total = limit;
            plan.scans.push(Scan { key, limit });
        } else if count <= key_cap && total + count <= budget {
            total += count;
            plan.scans.push(Scan { key, limit: count });
        } else {
            plan.skipped.push(key);
        }
    }
    plan
}

fn key_code(name: &str) -> String {
    let mut code = phonetic::code(&fold(name));
    code.truncate(MAX_CODE);
    code
}

fn pair(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("{PAIR}{first}+{second}")
}

/// The code with one letter left out, each way (codes are ASCII).
fn deletions(code: &str) -> Vec<String> {
    (0..code.len())
        .map(|at| {
            let mut shorter = String::with_capacity(code.len());
            shorter.push_str(&code[..at]);
            shorter.push_str(&code[at + 1..]);
            shorter
        })
        .collect()
}
