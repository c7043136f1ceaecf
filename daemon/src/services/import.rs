//! Turning an import file into record changes (`bluehelm db import`): CSV with a header
//! naming the documented columns (in any order; unknown columns are refused, so a typo is not
//! silently ignored), or JSON lines (one object per line, the same names). Each bad row is
//! reported with its line number and the good rows are kept. A row whose `action` is
//! `withdraw` withdraws the record its key columns name.

use std::collections::BTreeMap;

use bluehelm_proto::{Database, NodeId, ReleaseList};

use super::dna_record::{DnaRecord, DNA_COLUMNS};
use super::person::{PersonRecord, PERSON_COLUMNS};
use super::record::{Row, SltdRecord, SmvRecord, OPTIONAL_COLUMNS, SLTD_COLUMNS, SMV_COLUMNS};
use super::{json_lines, owned};
use crate::records::kinds;

/// Most bad rows reported one by one; past this, they are only counted.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// Columns every database takes besides its own: `action` (`upsert`, the default, or
/// `withdraw`; read by `owned::withdraws`).
const ACTION: &str = owned::ACTION_COLUMN;

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line of the file where the row starts (a CSV header is line 1).
    pub line: u64,
    pub message: String,
}

/// One good row: a record to create or replace, or one to withdraw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The line of the file it came from.
    pub line: u64,
    /// The record's key in its database (`kinds`).
    pub key: String,
    pub owner: NodeId,
    /// The record as JSON; `None` for a withdrawal.
    pub record: Option<Vec<u8>>,
    pub release_to: Option<ReleaseList>,
}

/// What an import file holds.
#[derive(Debug, Default)]
pub struct Parsed {
    pub items: Vec<Prepared>,
    /// Bad rows, at most [`MAX_REPORTED_ERRORS`] of them.
    pub errors: Vec<RowError>,
    /// All bad rows.
    pub bad_rows: u64,
}

/// Why a file cannot be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The header line is missing, unreadable, or does not name the documented columns.
    #[error("header (line 1): {0}")]
    Header(String),
}

impl Parsed {
    fn bad(&mut self, line: u64, message: String) {
        self.bad_rows += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(RowError { line, message });
        }
    }

    fn row(&mut self, line: u64, result: Result<Prepared, String>) {
        match result {
            Ok(item) => self.items.push(Prepared { line, ..item }),
            Err(message) => self.bad(line, message),
        }
    }
}

fn columns(database: Database) -> &'static [&'static str] {
    match database {
        Database::Sltd => SLTD_COLUMNS,
        Database::Smv => SMV_COLUMNS,
        Database::Persons => PERSON_COLUMNS,
        Database::Dna => DNA_COLUMNS,
    }
}

/// Parses a whole file for `database`: JSON lines if its first non-blank byte is `{`, else
/// CSV. Every row's owner must be `me`: a node signs only its own records.
pub fn parse(database: Database, bytes: &[u8], me: &NodeId) -> Result<Parsed, ImportError> {
    let columns = columns(database);
    let json = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace() && **b != 0xef && **b != 0xbb && **b != 0xbf)
        == Some(&b'{');
    if json {
        Ok(parse_json_lines(database, columns, bytes, me))
    } else {
        parse_csv(database, columns, bytes, me)
    }
}

/// The column a header or field `name` stands for: one of `columns`, an optional column, or
/// the action.
pub(super) fn known_column(columns: &'static [&'static str], name: &str) -> Option<&'static str> {
    columns
        .iter()
        .chain(OPTIONAL_COLUMNS)
        .chain(&[ACTION])
        .find(|c| **c == name)
        .copied()
}

fn parse_json_lines(
    database: Database,
    columns: &'static [&'static str],
    bytes: &[u8],
    me: &NodeId,
) -> Parsed {
    let mut parsed = Parsed::default();
    for (line_no, line) in (1u64..).zip(bytes.split(|b| *b == b'\n')) {
        let text = match std::str::from_utf8(line) {
            // A byte-order mark is what some editors start a file with.
            Ok(text) => text.trim().trim_start_matches('\u{feff}'),
            Err(_) => {
                parsed.bad(line_no, "not UTF-8".into());
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let result = json_lines::with_row(text, columns, |row| prepare(database, row, me));
        parsed.row(line_no, result);
    }
    parsed
}

fn parse_csv(
    database: Database,
    columns: &'static [&'static str],
    bytes: &[u8],
    me: &NodeId,
) -> Result<Parsed, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| ImportError::Header(e.to_string()))?
        .clone();
    let mut index: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}');
        let Some(column) = known_column(columns, name) else {
            return Err(ImportError::Header(format!(
                "unknown column {name:?}; the columns are {} (and optionally {}, action)",
                columns.join(","),
                OPTIONAL_COLUMNS.join(",")
            )));
        };
        if index.insert(column, i).is_some() {
            return Err(ImportError::Header(format!(
                "column {name:?} appears twice"
            )));
        }
    }
    let missing: Vec<&str> = columns
        .iter()
        .filter(|c| !index.contains_key(*c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::Header(format!(
            "missing column(s) {}; the columns are {}",
            missing.join(","),
            columns.join(",")
        )));
    }

    let mut parsed = Parsed::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map_or(line, |p| p.line());
                parsed.bad(line, format!("unreadable row: {err}"));
                // A broken quote or bad UTF-8 does not stop the rows after it.
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            parsed.bad(
                line,
                format!("{} fields, the header has {}", record.len(), header.len()),
            );
            continue;
        }
        let row: Row = index
            .iter()
            .map(|(column, i)| (*column, record.get(*i).unwrap_or("")))
            .collect();
        parsed.row(line, prepare(database, &row, me));
    }
    Ok(parsed)
}

/// One row: its action, its key and (unless withdrawn) its record.
fn prepare(database: Database, row: &Row, me: &NodeId) -> Result<Prepared, String> {
    let withdraw = owned::withdraws(row)?;
    let owner = row.get("owner_bureau").map(|o| o.trim()).unwrap_or("");
    if owner != me.as_str() {
        return Err(format!(
            "owner_bureau {owner:?}: a node imports only its own records, which it signs; import this row at {owner}'s node (this node is {me})"
        ));
    }
    if withdraw {
        let key = kinds::key_of_row(database, row)?;
        return Ok(Prepared {
            line: 0,
            key,
            owner: me.clone(),
            record: None,
            release_to: None,
        });
    }
    let (key, release_to, json) = match database {
        Database::Sltd => {
            let r = SltdRecord::from_row(row)?;
            (kinds::sltd_key(&r), r.release_to.clone(), to_json(&r))
        }
        Database::Smv => {
            let r = SmvRecord::from_row(row)?;
            (kinds::smv_key(&r), r.release_to.clone(), to_json(&r))
        }
        Database::Persons => {
            let r = PersonRecord::from_row(row)?;
            (r.key(), r.release_to.clone(), to_json(&r))
        }
        Database::Dna => {
            let r = DnaRecord::from_row(row)?;
            (r.key(), r.release_to.clone(), to_json(&r))
        }
    };
    let release_to = (!release_to.is_empty())
        .then(|| release_to.parse::<ReleaseList>())
        .transpose()
        .map_err(|e| format!("release_to: {e}"))?;
    Ok(Prepared {
        line: 0,
        key,
        owner: me.clone(),
        record: Some(json),
        release_to,
    })
}

fn to_json<T: serde::Serialize>(record: &T) -> Vec<u8> {
    // A record of strings always serializes.
    serde_json::to_vec(record).unwrap_or_default()
}

#[cfg(test)]
mod tests;
