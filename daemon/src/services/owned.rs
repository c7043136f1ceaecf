//! What the records named by their owner's reference share (persons and DNA profiles, issue
//! 13 items 1, 4 and 5): the `id` column, the store key `<owner>/<id>`, and the `action`
//! column that says whether a row adds or replaces a record or withdraws one.
//!
//! A withdrawal needs only the columns that make the key: the owner withdraws what it
//! recorded, and nothing else on the row is read (issue 13 item 1: "withdrawals included").

#[cfg(test)]
mod tests;

use super::record::{self, Row};

/// The optional column that says what a row does: empty or `upsert` adds or replaces the
/// record, `withdraw` removes the record the row's key names.
pub const ACTION_COLUMN: &str = "action";

/// Longest owner's reference (`id`): a bureau's file number, not a text.
pub const MAX_ID_LEN: usize = 64;

/// What one row or line of an import asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<R> {
    /// Add the record, or replace the one under the same key.
    Upsert(R),
    /// Remove the record under `key` (the form the record type's `key()` gives).
    Withdraw { key: String },
}

/// Whether the row is a withdrawal (`action` = `withdraw`, in any case); an empty or
/// missing `action`, or `upsert`, is not.
pub fn withdraws(row: &Row) -> Result<bool, String> {
    let value = row.get(ACTION_COLUMN).copied().unwrap_or("").trim();
    if value.is_empty() || value.eq_ignore_ascii_case("upsert") {
        Ok(false)
    } else if value.eq_ignore_ascii_case("withdraw") {
        Ok(true)
    } else {
        Err(format!(
            "action {:?} is not upsert or withdraw (empty: upsert)",
            clip(value)
        ))
    }
}

/// The owner's reference: ASCII letters, digits, `-`, `.` and `/`, at most [`MAX_ID_LEN`]
/// bytes, as written (references are case-sensitive at their owner).
pub(super) fn id(row: &Row) -> Result<String, String> {
    let value = record::text(row, "id", true, MAX_ID_LEN)?;
    match value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/')))
    {
        Some(c) => Err(format!(
            "id {:?} contains {c:?}: a reference is letters, digits, '-', '.' and '/'",
            clip(&value)
        )),
        None => Ok(value),
    }
}

/// The key of the record `owner` recorded as `id`. Unambiguous although an id may hold
/// `/`: a node id never does.
pub fn key(owner: &str, id: &str) -> String {
    format!("{owner}/{id}")
}

/// The key a row names: its owner bureau and its reference, both checked.
pub(super) fn key_of(row: &Row) -> Result<String, String> {
    let id = id(row)?;
    Ok(key(&record::owner(row)?, &id))
}

/// A row as an [`Action`]: a withdrawal reads only the key (see the module doc); anything
/// else is a record that `parse` reads in full.
pub(super) fn action_of<R>(
    row: &Row,
    parse: impl FnOnce(&Row) -> Result<R, String>,
) -> Result<Action<R>, String> {
    if withdraws(row)? {
        Ok(Action::Withdraw { key: key_of(row)? })
    } else {
        parse(row).map(Action::Upsert)
    }
}

/// A value quoted in an error, cut short: an error message must not carry a whole column.
pub(super) fn clip(value: &str) -> String {
    value.chars().take(40).collect()
}
