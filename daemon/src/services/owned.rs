//! What the records named by their owner's reference share (persons and DNA profiles, issue
//! 13 items 1, 4 and 5): the `id` column, the store key `<owner>/<id>`, and the `action`
//! column that says whether a row adds or replaces a record or withdraws one.
//!
//! The importer (`import::prepare`) reads the action with [`withdraws`] and names the
//! withdrawn record by its key columns (`records::kinds::key_of_row`), which on this version
//! knows only SLTD and SMV keys: a person or DNA withdrawal is refused there.

#[cfg(test)]
mod tests;

use super::record::{self, Row};

/// The optional column that says what a row does: empty or `upsert` adds or replaces the
/// record, `withdraw` removes the record the row's key names.
pub const ACTION_COLUMN: &str = "action";

/// Longest owner's reference (`id`): a bureau's file number, not a text.
pub const MAX_ID_LEN: usize = 64;

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
pub(crate) fn id(row: &Row) -> Result<String, String> {
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

/// A value quoted in an error, cut short: an error message must not carry a whole column.
pub(super) fn clip(value: &str) -> String {
    value.chars().take(40).collect()
}
