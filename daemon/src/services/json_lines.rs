//! JSON lines as an import format (issue 13 item 1: "CSV or JSON lines"): one JSON object
//! per line, with the CSV's column names as field names. A line becomes a [`Row`], so a
//! record type validates a line exactly as it validates a CSV row.
//!
//! Values are strings; a number is read as the text it is written as (`"id": 1234`), and
//! `null` as an empty column. An unknown field name is refused, as an unknown CSV column is:
//! a typo must not silently drop a value.

use std::borrow::Cow;

use super::import::known_column;
use super::owned::ACTION_COLUMN;
use super::record::{Row, OPTIONAL_COLUMNS};

/// Longest line read: a record's columns are bounded one by one (at most a few KiB in all);
/// a longer line is refused before it is parsed.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// Reads one line as a row of `columns` (plus the optional `release_to` and `action`) and
/// hands it to `parse`.
pub fn with_row<T>(
    line: &str,
    columns: &'static [&'static str],
    parse: impl FnOnce(&Row) -> Result<T, String>,
) -> Result<T, String> {
    if line.len() > MAX_LINE_LEN {
        return Err(format!("the line is longer than {MAX_LINE_LEN} bytes"));
    }
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let mut values: Vec<(&'static str, Cow<'_, str>)> = Vec::with_capacity(object.len());
    for (name, value) in &object {
        let Some(column) = known_column(columns, name) else {
            return Err(format!(
                "unknown field {:?}; the fields are {} (and optionally {}, {ACTION_COLUMN})",
                super::owned::clip(name),
                columns.join(","),
                OPTIONAL_COLUMNS.join(",")
            ));
        };
        let text = match value {
            serde_json::Value::String(s) => Cow::Borrowed(s.as_str()),
            serde_json::Value::Number(n) => Cow::Owned(n.to_string()),
            serde_json::Value::Null => continue,
            _ => return Err(format!("{column} must be a string")),
        };
        values.push((column, text));
    }
    let row: Row = values.iter().map(|(c, v)| (*c, v.as_ref())).collect();
    parse(&row)
}
